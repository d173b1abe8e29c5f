use trio_testkit::trio_test;

#[trio_test(crate = "not a path")]
async fn crate_not_a_path() {}

fn main() {}
