use trio_testkit::trio_test;

#[trio_test(schedules = 100, depth = 3)]
async fn depth_needs_the_pct_policy() {}

fn main() {}
