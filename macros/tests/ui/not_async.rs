use trio_testkit::trio_test;

#[trio_test]
fn not_async() {}

fn main() {}
