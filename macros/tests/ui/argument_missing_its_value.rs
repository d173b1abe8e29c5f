use trio_testkit::trio_test;

#[trio_test(seed)]
async fn argument_missing_its_value() {}

fn main() {}
