use trio_testkit::trio_test;

#[trio_test(schedules = 100, threads = 0)]
async fn zero_threads() {}

fn main() {}
