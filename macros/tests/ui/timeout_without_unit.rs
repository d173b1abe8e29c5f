use trio_testkit::trio_test;

#[trio_test(timeout = 30)]
async fn timeout_without_unit() {}

fn main() {}
