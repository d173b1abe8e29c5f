use trio_testkit::trio_test;

#[trio_test(timeout = "0s")]
async fn zero_timeout() {}

fn main() {}
