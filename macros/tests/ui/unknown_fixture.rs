use trio_testkit::trio_test;

#[trio_test]
async fn unknown_fixture(clock: u32, nursry: u32) {
    let _ = (clock, nursry);
}

fn main() {}
