use trio_testkit::trio_test;

#[trio_test]
#[test]
async fn extra_test_attribute() {}

fn main() {}
