//! The course's testing section, as tests: `double_sleep` tested on the real clock and on the
//! autojump clock (which reads exactly 6 s afterwards, with no real waiting), a mock clock moved
//! by hand, and `assert_checkpoints` catching `broken_double_sleep`, which returns without ever
//! reaching a checkpoint.
//!
//! `#[trio_test]` is pytest-trio's `@pytest.mark.trio`, and its `autojump_clock` and
//! `mock_clock` parameters are pytest-trio's fixtures of the same names. `#[trio_tests]` on a
//! module is pytest-trio's trio mode: the course's tests after the first are written with it.

use std::time::Duration;

use trio::{Instant, Nursery};
use trio_testkit::{MockClock, assert_checkpoints, trio_test, trio_tests, wait_all_tasks_blocked};

/// The course's function: sleeps `2 * x` seconds and returns how long that was. `x` is a float,
/// as in Python, where the broken version below only works for a fractional `x`.
async fn double_sleep(x: f64) -> trio::Result<f64> {
    let sleep_for = 2.0 * x;
    println!("started! sleeping now...");
    trio::sleep(Duration::from_secs_f64(sleep_for)).await?;
    println!("exiting!");
    Ok(sleep_for)
}

/// The course's broken version: it only sleeps — and so only checkpoints — when `sleep_for` has
/// a fractional part, which it never has for a whole `x`.
async fn broken_double_sleep(x: f64) -> trio::Result<f64> {
    let sleep_for = 2.0 * x;
    println!("started! sleeping now...");

    if sleep_for % 2.0 != 0.0 {
        // This will work only if x is a fractional number
        trio::sleep(Duration::from_secs_f64(sleep_for)).await?;
    }

    println!("exiting!");
    Ok(sleep_for)
}

// ===== creating a test =====

/// "Creating a test": on the real clock, as in the course, so it takes six real seconds.
#[trio_test]
#[ignore = "sleeps six seconds of real time, as in the course; test_double_sleep_autojump is the fast twin"]
async fn test_double_sleep() -> trio::Result<()> {
    assert_eq!(double_sleep(3.0).await?, 6.0);
    Ok(())
}

// ===== trio mode =====

/// The rest of the course's tests in trio mode (pytest-trio's `trio_mode = true`): every
/// `#[test] async fn` in the module is a trio test, here all on the autojump clock, so no test
/// has to ask for it.
#[trio_tests(autojump)]
mod course {
    use super::*;

    // ===== mock clocks =====

    /// "Mock clocks": the same test with the autojump clock takes no real time, and the clock
    /// then reads exactly the six seconds slept. (It asks for the clock only to read it.)
    #[test]
    async fn test_double_sleep_autojump(autojump_clock: MockClock) -> trio::Result<()> {
        assert_eq!(double_sleep(3.0).await?, 6.0);
        assert_eq!(trio::current_time(), Instant::from_secs(6));
        assert_eq!(autojump_clock.current_time(), Instant::from_secs(6));
        Ok(())
    }

    /// The course's note on `mock_clock`, for more control: the clock moves only when the test
    /// jumps it, so the test can look at the sleeper in the middle of its sleep. (Asking for
    /// `mock_clock` replaces the module's autojump clock.)
    #[test]
    async fn test_double_sleep_mock_clock(mock_clock: MockClock, nursery: Nursery) -> trio::Result<()> {
        let (done_tx, done_rx) = trio::open_memory_channel(1);
        nursery.start_soon(async move {
            let slept = double_sleep(3.0).await?;
            done_tx.send(slept).await?;
            Ok(())
        });
        wait_all_tasks_blocked().await?; // the sleeper has started its sleep
        mock_clock.jump(Duration::from_secs(5));
        wait_all_tasks_blocked().await?;
        assert_eq!(done_rx.try_recv(), Err(trio::TryRecvError::WouldBlock)); // one second to go
        mock_clock.jump(Duration::from_secs(1));
        assert_eq!(done_rx.recv().await?, Some(6.0));
        assert_eq!(trio::current_time(), Instant::from_secs(6));
        Ok(())
    }

    // ===== checking checkpoints =====

    /// The correct function checkpoints, so it passes the check.
    #[test]
    async fn test_double_sleep_checkpoints() -> trio::Result<()> {
        assert_eq!(assert_checkpoints(double_sleep(3.0)).await?, 6.0);
        Ok(())
    }

    /// Without the check, the broken function passes: its result is right.
    #[test]
    async fn test_broken_double_sleep_unchecked() -> trio::Result<()> {
        assert_eq!(broken_double_sleep(3.0).await?, 6.0);
        Ok(())
    }

    /// With `assert_checkpoints` around the call, as the course suggests, the test fails: the
    /// function returned without a checkpoint.
    #[test]
    #[should_panic(expected = "expected the body to execute a checkpoint (a cancel point and a schedule point), \
                               but it returned normally after 0 cancel points and 0 schedule points")]
    async fn test_broken_double_sleep() -> trio::Result<()> {
        assert_eq!(assert_checkpoints(broken_double_sleep(3.0)).await?, 6.0);
        Ok(())
    }

    /// With a fractional `x` the broken function does sleep, so the check passes — the bug
    /// hides on one path only, which is why a test should run the check on every path.
    #[test]
    async fn test_broken_double_sleep_fractional() -> trio::Result<()> {
        assert_eq!(assert_checkpoints(broken_double_sleep(0.75)).await?, 1.5);
        assert_eq!(trio::current_time(), Instant::from_millis(1500));
        Ok(())
    }
}
