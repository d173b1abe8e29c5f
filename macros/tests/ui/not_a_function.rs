use trio_testkit::trio_test;

#[trio_test]
struct NotAFunction;

fn main() {}
