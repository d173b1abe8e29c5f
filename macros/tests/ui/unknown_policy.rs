use trio_testkit::trio_test;

#[trio_test(policy = "lifo")]
async fn unknown_policy() {}

fn main() {}
