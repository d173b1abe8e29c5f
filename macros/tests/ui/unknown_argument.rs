use trio_testkit::trio_test;

#[trio_test(flavor = "current_thread")]
async fn unknown_argument() {}

fn main() {}
