use trio_testkit::trio_test;

#[trio_test(schedules = 10, require_sometimes = true)]
async fn require_sometimes_with_a_value() {}

fn main() {}
