//! The "Testing" section of the Trio course (module 2), translated to Rust: `double_sleep`
//! under the default clock and under `autojump_clock`, and `assert_checkpoints` catching the
//! broken version that only sleeps for odd durations.

use std::time::Duration;

use trio::Instant;
use trio_testkit::{MockClock, assert_checkpoints, trio_test};

async fn double_sleep(x: u64) -> trio::Result<u64> {
    let sleep_for = 2 * x;
    println!("started! sleeping now...");
    trio::sleep(Duration::from_millis(sleep_for)).await?;
    println!("exiting!");
    Ok(sleep_for)
}

async fn double_sleep_secs(x: u64) -> trio::Result<u64> {
    let sleep_for = 2 * x;
    println!("started! sleeping now...");
    trio::sleep(Duration::from_secs(sleep_for)).await?;
    println!("exiting!");
    Ok(sleep_for)
}

/// The course's version sleeps only when `sleep_for` is odd, which for a whole `x` it never is:
/// it returns the right value without ever checkpointing.
async fn broken_double_sleep(x: u64) -> trio::Result<u64> {
    let sleep_for = 2 * x;
    println!("started! sleeping now...");
    if !sleep_for.is_multiple_of(2) {
        trio::sleep(Duration::from_secs(sleep_for)).await?;
    }
    println!("exiting!");
    Ok(sleep_for)
}

/// "Creating a test": on the real clock (milliseconds here, so the suite stays fast).
#[trio_test]
async fn test_double_sleep() -> trio::Result<()> {
    assert_eq!(double_sleep(3).await?, 6);
    Ok(())
}

/// "Mock clocks": six virtual seconds, no real waiting, and the clock reads exactly 6 s.
#[trio_test]
async fn test_double_sleep_autojump(_autojump_clock: MockClock) -> trio::Result<()> {
    assert_eq!(double_sleep_secs(3).await?, 6);
    assert_eq!(trio::current_time(), Instant::from_secs(6));
    Ok(())
}

/// The correct function passes the checkpoint check.
#[trio_test]
async fn test_double_sleep_checkpoints(_autojump_clock: MockClock) -> trio::Result<()> {
    assert_eq!(assert_checkpoints(double_sleep_secs(3)).await?, 6);
    Ok(())
}

/// Without the check the broken function passes…
#[trio_test]
async fn test_broken_double_sleep_unchecked() -> trio::Result<()> {
    assert_eq!(broken_double_sleep(3).await?, 6);
    Ok(())
}

/// …and `assert_checkpoints` catches it, saying what it expected and where.
#[trio_test]
#[should_panic(expected = "expected the body to execute a checkpoint (a cancel point and a schedule point), \
                           but it returned normally after 0 cancel points and 0 schedule points")]
async fn test_broken_double_sleep() {
    let _ = assert_checkpoints(broken_double_sleep(3)).await;
}

/// The failure names the line of the `assert_checkpoints` call.
#[trio_test]
#[should_panic(expected = "course_testing.rs:")]
async fn test_broken_double_sleep_names_the_line() {
    let _ = assert_checkpoints(broken_double_sleep(3)).await;
}
