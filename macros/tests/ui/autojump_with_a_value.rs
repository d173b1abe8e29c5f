use trio_testkit::trio_test;

#[trio_test(autojump = "yes")]
async fn autojump_with_a_value() {}

fn main() {}
