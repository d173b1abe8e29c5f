use trio_testkit::trio_test;

#[trio_test(timeout = "30 seconds")]
async fn bad_timeout() {}

fn main() {}
