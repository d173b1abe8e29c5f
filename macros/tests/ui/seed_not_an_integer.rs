use trio_testkit::trio_test;

#[trio_test(seed = "42")]
async fn seed_not_an_integer() {}

fn main() {}
