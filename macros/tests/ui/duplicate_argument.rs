use trio_testkit::trio_test;

#[trio_test(seed = 1, seed = 2)]
async fn duplicate_argument() {}

fn main() {}
