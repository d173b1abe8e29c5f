use trio_testkit::trio_test;

#[trio_test(schedules = 10, require_assertion = ["retries", 3])]
async fn require_assertion_not_a_string() {}

fn main() {}
