//! Waiting until the run has nothing left to do (Trio's `wait_all_tasks_blocked`).

use std::time::Duration;

use trio::Cancelled;

/// Waits until every other task is blocked: nothing is runnable and nothing outside the runtime
/// is pending (Trio's `trio.testing.wait_all_tasks_blocked()`).
///
/// The usual way to let the tasks a test started reach the point where they wait, before the
/// test pokes them. Several waiters wake together, woken in the order they started waiting. A
/// task waiting here wins over autojump: the [`MockClock`](crate::MockClock) does not jump
/// while it waits (for the one exception, with a cushion, see
/// [`wait_all_tasks_blocked_with_cushion`]).
///
/// # Errors
///
/// [`Cancelled`] if an enclosing scope is cancelled while it waits.
///
/// # Cancellation
///
/// An ordinary blocking wait: always a checkpoint; nothing is lost when it is cancelled.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// trio::run(async {
///     let steps = Rc::new(Cell::new(0));
///     trio::open_nursery(|nursery| {
///         let steps = steps.clone();
///         async move {
///             nursery.start_soon(async move {
///                 for _ in 0..10 {
///                     steps.set(steps.get() + 1);
///                     trio::checkpoint().await?;
///                 }
///                 Ok(())
///             });
///             trio_testkit::wait_all_tasks_blocked().await?;
///             Ok(())
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(steps.get(), 10); // the busy task ran to the end first
/// });
/// ```
pub async fn wait_all_tasks_blocked() -> Result<(), Cancelled> {
    trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await
}

/// Waits until every other task is blocked and the run has stayed idle for `cushion` of
/// **real** time (Trio's `wait_all_tasks_blocked(cushion)`).
///
/// Waiters with the smallest cushion wake first, all together (woken in the order they started
/// waiting); the others' cushions then count again from the next moment the run is idle. A
/// waiter whose cushion is longer than the real time to the next deadline waits for that
/// deadline to pass first.
///
/// # Errors
///
/// [`Cancelled`] if an enclosing scope is cancelled while it waits.
///
/// # Cancellation
///
/// As [`wait_all_tasks_blocked`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     trio_testkit::wait_all_tasks_blocked_with_cushion(Duration::from_millis(1)).await.unwrap();
/// });
/// ```
pub async fn wait_all_tasks_blocked_with_cushion(cushion: Duration) -> Result<(), Cancelled> {
    trio::lowlevel::wait_all_tasks_blocked(cushion).await
}
