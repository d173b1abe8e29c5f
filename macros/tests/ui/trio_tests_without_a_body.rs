use trio_testkit::trio_tests;

#[trio_tests(autojump)]
fn not_a_module() {}

fn main() {}
