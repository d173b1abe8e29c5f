use trio_testkit::trio_test;

#[trio_test(schedules = 100, policy = "pct", depth = 4000000000)]
async fn depth_too_deep() {}

fn main() {}
