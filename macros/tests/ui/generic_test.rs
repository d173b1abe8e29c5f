use trio_testkit::trio_test;

#[trio_test]
async fn generic_test<T: Default>() {
    let _ = T::default();
}

fn main() {}
