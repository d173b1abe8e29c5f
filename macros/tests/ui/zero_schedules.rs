use trio_testkit::trio_test;

#[trio_test(schedules = 0)]
async fn zero_schedules() {}

fn main() {}
