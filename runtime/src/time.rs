//! Sleeping and reading the clock.
//!
//! All time comes from the run's [`Clock`](crate::abc::Clock): the real one by default, a
//! `MockClock` in tests, so a test that sleeps an hour takes microseconds under autojump.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::core::clock::Instant;
use crate::core::runtime::Runtime;
use crate::core::wait::{Checkpoint, ParkSlot, What, checkpoint, make_slot};
use crate::error::Cancelled;

/// The current time on the run's clock (Trio's `trio.current_time()`).
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let t0 = trio::current_time();
///     trio::sleep(Duration::from_millis(2)).await.unwrap();
///     assert!(trio::current_time() - t0 >= Duration::from_millis(2));
/// });
/// ```
#[track_caller]
pub fn current_time() -> Instant {
    Runtime::with(|rt| rt.now())
}

/// Sleeps for `duration` of the run's clock (Trio's `trio.sleep`). `sleep(Duration::ZERO)` is
/// a plain [`checkpoint`](crate::checkpoint); a duration too large to represent sleeps forever.
///
/// # Cancellation
///
/// Returns `Err(Cancelled)` as soon as an enclosing scope is cancelled; nothing else is lost.
/// Always a checkpoint.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     trio::sleep(Duration::from_millis(1)).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let location = Location::caller();
    let deadline = Runtime::with_at(location, |rt| rt.now().checked_add(duration));
    Sleep::new(deadline, location)
}

/// Sleeps until the run's clock reads `deadline` (Trio's `trio.sleep_until`). A deadline in
/// the past is a plain checkpoint.
///
/// # Cancellation
///
/// As [`sleep`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let wake_at = trio::current_time() + Duration::from_millis(1);
///     trio::sleep_until(wake_at).await.unwrap();
///     assert!(trio::current_time() >= wake_at);
/// });
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(Some(deadline), Location::caller())
}

/// Sleeps until cancelled (Trio's `trio.sleep_forever`). The only way out is `Err(Cancelled)`;
/// the output type is `Result<(), Cancelled>` rather than `Result<Infallible, _>` so the usual
/// `trio::sleep_forever().await?;` and `Ok(trio::sleep_forever().await?)` both type-check.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let outcome = trio::move_on_after(Duration::from_millis(1), async {
///         trio::sleep_forever().await?;
///         Ok(())
///     })
///     .await
///     .unwrap();
///     assert_eq!(outcome, None);
/// });
/// ```
#[track_caller]
pub fn sleep_forever() -> SleepForever {
    SleepForever { inner: Sleep::new(None, Location::caller()) }
}

enum State {
    Start,
    /// The deadline had passed: just a checkpoint.
    Yield(Checkpoint),
    Parked {
        slot: ParkSlot<()>,
        /// Whether the run's timers hold one for this sleep that it has not yet let go of.
        timer: bool,
    },
    Done,
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// A `Sleep` does nothing until it is polled: the timer is registered on the first poll, and the
/// deadline was fixed when the future was made.
///
/// # Cancellation
///
/// Awaiting it is a checkpoint. Cancelled, it returns `Err(Cancelled)`; dropped before it
/// completes, it removes its timer. Either way nothing is lost.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let t0 = trio::current_time();
///     let nap: trio::Sleep = trio::sleep(Duration::from_millis(2));
///     let wake_at = nap.deadline().unwrap();
///     assert!(wake_at - t0 >= Duration::from_millis(2));
///     nap.await.unwrap();
///     assert!(trio::current_time() >= wake_at);
/// });
/// ```
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Option<Instant>,
    state: State,
    /// Where the sleep was made: a poll outside a run panics naming it.
    location: &'static Location<'static>,
}

impl Sleep {
    fn new(deadline: Option<Instant>, location: &'static Location<'static>) -> Sleep {
        Sleep { deadline, state: State::Start, location }
    }

    /// When the sleep ends; `None` for a sleep that never ends by itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let wake_at = trio::Instant::from_secs(5);
    /// assert_eq!(trio::sleep_until(wake_at).deadline(), Some(wake_at));
    ///
    /// trio::run(async {
    ///     let before = trio::current_time();
    ///     let wake_at = trio::sleep(Duration::from_secs(1)).deadline().unwrap();
    ///     assert!(wake_at >= before + Duration::from_secs(1));
    ///     assert!(wake_at <= trio::current_time() + Duration::from_secs(1));
    ///     assert_eq!(trio::sleep(Duration::MAX).deadline(), None); // too far to represent: forever
    /// });
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn remove_timer(&mut self) {
        if let State::Parked { timer, .. } = &mut self.state
            && std::mem::take(timer)
        {
            Runtime::with_opt(Runtime::forget_timer);
        }
    }
}

impl Future for Sleep {
    type Output = Result<(), Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Cancelled>> {
        let this = &mut *self;
        if let State::Start = this.state {
            let (deadline, location) = (this.deadline, this.location);
            // One look-up of the runtime for the clock and the timer.
            this.state = Runtime::with_at(location, |rt| match deadline {
                Some(deadline) if deadline <= rt.now() => State::Yield(checkpoint().at(location)),
                Some(deadline) => {
                    let (slot, unparker) = make_slot(What::Sleep(Some(deadline)), false, true);
                    rt.add_sleep_timer(deadline, unparker);
                    State::Parked { slot: slot.at(location), timer: true }
                }
                None => State::Parked { slot: make_slot(What::Sleep(None), false, true).0.at(location), timer: false },
            });
        }
        let result = match &mut this.state {
            State::Yield(checkpoint) => Pin::new(checkpoint).poll(cx),
            State::Parked { slot, .. } => match Pin::new(slot).poll(cx) {
                // The timer fired. In Trio a sleep is a cancel scope with this deadline around
                // `sleep_forever`: when an enclosing scope is cancelled by the time the task
                // resumes (say, its deadline tied with this one and fired in the same tick, in
                // whichever order), the sleep's scope does not catch — the enclosing one does.
                // So the sleep ends normally only if the code here is not cancelled.
                Poll::Ready(Ok(())) => Poll::Ready(Runtime::with(|rt| {
                    if rt.with_current_status(|status| status.effectively_cancelled()) {
                        Err(rt.cancelled_here())
                    } else {
                        Ok(())
                    }
                })),
                other => other,
            },
            State::Start => unreachable!(),
            State::Done => panic!("a Sleep was polled after it completed"),
        };
        if result.is_ready() {
            this.remove_timer();
            this.state = State::Done;
        }
        result
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.remove_timer();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish_non_exhaustive()
    }
}

/// The future returned by [`sleep_forever`].
///
/// # Cancellation
///
/// Awaiting it is a checkpoint; it only ever returns `Err(Cancelled)`. Nothing is lost.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let scope = trio::CancelScope::new();
///     scope.cancel(); // the only way out
///     let outcome = scope
///         .run(async {
///             let forever: trio::SleepForever = trio::sleep_forever();
///             forever.await?;
///             Ok(())
///         })
///         .await
///         .unwrap();
///     assert_eq!(outcome, None);
///     assert!(scope.cancelled_caught());
/// });
/// ```
#[must_use = "a sleep does nothing unless awaited"]
#[derive(Debug)]
pub struct SleepForever {
    inner: Sleep,
}

impl Future for SleepForever {
    type Output = Result<(), Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Cancelled>> {
        let result = Pin::new(&mut self.inner).poll(cx);
        debug_assert!(!matches!(result, Poll::Ready(Ok(()))), "sleep_forever has no deadline");
        result
    }
}
