use trio_testkit::trio_test;

#[trio_test(autojump_clock)]
async fn fixture_as_argument() {}

fn main() {}
