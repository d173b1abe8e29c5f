use trio_testkit::trio_test;

#[trio_test]
#[case(1, 2)]
#[case(3)]
async fn adds(#[case] a: u32) {
    let _ = a;
}

fn main() {}
