use trio_testkit::trio_test;

#[trio_test(timout = "5s")]
async fn misspelt_argument() {}

fn main() {}
