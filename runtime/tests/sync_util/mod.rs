//! Helpers shared by the channel and sync integration tests: an autojumping mock clock (so
//! timeouts cost no real time), a checkpoint counter and a pre-cancelled scope.

#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(unreachable_pub, reason = "shared by test crates through `mod sync_util`")]

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use trio::abc::Clock;
use trio::{CancelScope, Instant};

/// A virtual clock that starts at zero and, whenever every task is blocked, jumps straight to
/// the next deadline.
#[derive(Clone, Default)]
pub struct AutojumpClock {
    now: Rc<Cell<Instant>>,
}

impl Clock for AutojumpClock {
    fn current_time(&self) -> Instant {
        self.now.get()
    }

    fn deadline_to_sleep_time(&self, _deadline: Instant) -> Option<Duration> {
        None
    }

    fn autojump_threshold(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }

    fn autojump(&self, deadline: Instant) {
        if deadline > self.now.get() {
            self.now.set(deadline);
        }
    }
}

/// Runs `future` on a fresh run with an [`AutojumpClock`].
pub fn run<F: Future>(future: F) -> F::Output {
    trio::Builder::new().clock(AutojumpClock::default()).run(future)
}

/// Awaits `future` and asserts that it executed at least one cancel point and one schedule
/// point.
#[track_caller]
pub fn assert_checkpoints<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let location = std::panic::Location::caller();
    async move {
        let task = trio::lowlevel::current_task();
        let (cancel0, schedule0) = (task.cancel_points(), task.schedule_points());
        let output = future.await;
        assert!(
            task.cancel_points() > cancel0 && task.schedule_points() > schedule0,
            "expected a checkpoint at {location}: cancel points {cancel0} -> {}, schedule points {schedule0} -> {}",
            task.cancel_points(),
            task.schedule_points()
        );
        output
    }
}

/// Awaits `future` inside a cancel scope that is already cancelled, and returns its output.
pub async fn in_cancelled_scope<F: Future>(future: F) -> F::Output {
    let scope = CancelScope::new();
    scope.cancel();
    let mut output = None;
    scope
        .run(async {
            output = Some(future.await);
            Ok(())
        })
        .await
        .expect("the body returns Ok");
    output.expect("the body ran")
}

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
