//! The low-level API: what channels, sync primitives and the testkit are built from (Trio's
//! `trio.lowlevel`).
//!
//! The central piece is [`park_slot`]: a blocking wait that cancellation aborts at the moment
//! the scope is cancelled, paired with an [`Unparker`] that hands the waiter a value — or gets
//! the value back if the waiter is gone. [`WaitQueue`] is a fair FIFO of them.

use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use crate::core::clock::Clock;
use crate::core::nursery::TaskResult;
use crate::core::runtime::Runtime;
use crate::core::task::default_task_name;
use crate::error::Cancelled;

#[doc(hidden)]
pub use crate::assertions::{__always_failed, __assertion_hit};
pub use crate::assertions::{AssertionHook, AssertionKind, AssertionSite, set_assertion_hook};

pub use crate::core::entry::{TrioToken, current_trio_token};
#[cfg(unix)]
pub use crate::core::io::{
    may_be_readable, may_be_writable, notify_closing, notify_not_readable, notify_not_writable, set_fd_label,
    wait_readable, wait_writable,
};
pub use crate::core::local::RunVar;
pub use crate::core::policy::{Choice, Fifo, RunnableTasks, TimerInfo, TimerKind};
pub use crate::core::runtime::{RunReport, RunStatistics, TaskReport};
pub use crate::core::task::{ExitHook, Task, TaskId};
pub use crate::core::wait::{
    Abort, CancelShieldedCheckpoint, Checkpoint, ParkSlot, Unparker, WaitDescription, WaitQueue, WaitTaskRescheduled,
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, park_slot, reschedule, wait_task_rescheduled,
};
pub use crate::parking_lot::{ParkingLot, ParkingLotStatistics};

/// A number from the current run's sequence (the one that orders tied timers), or `None`
/// outside a run: for identities that may reach output, so they never depend on what else ran
/// in the process.
pub(crate) fn run_number() -> Option<u64> {
    let mut number = None;
    Runtime::with_opt(|rt| number = Some(rt.next_seq()));
    number
}

/// Panics, naming `location`, unless called inside a run: the first step of every public
/// `async fn`, so that misuse outside a run points at the caller's line.
#[track_caller]
pub(crate) fn ensure_in_run(location: &'static Location<'static>) {
    if !in_run() {
        Runtime::with_at(location, |_| ());
    }
}

/// [`ensure_in_run`], then marks the current task as inside the public call made at
/// `location` until the guard drops: its schedule points are traced at that line.
#[track_caller]
pub(crate) fn enter_operation(location: &'static Location<'static>) -> crate::core::wait::OperationSite {
    Runtime::with_at(location, |rt| crate::core::wait::OperationSite::enter_in(rt, location))
}

/// The task this code runs in.
///
/// # Panics
///
/// Outside a task of a run.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon_named("child", async {
///             let me = trio::lowlevel::current_task();
///             assert_eq!(me.name(), "child");
///             assert_eq!(me.parent(), Some(trio::lowlevel::current_root_task().id()));
///         });
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn current_task() -> Task {
    Runtime::with(|rt| rt.current_task_or_panic())
}

/// The task this code runs in, or `None` outside a task: outside a run, or in a policy or
/// clock callback, a [`TrioToken::run_sync_soon`] callback, or an instrument hook other than
/// `before_task_step`, `after_task_step` and `task_exited` (those run in the task's context —
/// except `task_exited` for a task dropped with its nursery, which runs in the context of
/// the code that dropped it, or none).
/// Never panics: safe in a panic hook.
///
/// # Examples
///
/// ```
/// assert!(trio::lowlevel::try_current_task().is_none()); // outside a run
///
/// trio::run(async {
///     let task = trio::lowlevel::try_current_task().unwrap();
///     assert_eq!(task, trio::lowlevel::current_task());
/// });
/// ```
pub fn try_current_task() -> Option<Task> {
    if !Runtime::is_inside() {
        return None;
    }
    Runtime::with(|rt| rt.current_task())
}

/// The run's main task.
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let main = trio::lowlevel::current_task();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             assert_eq!(trio::lowlevel::current_root_task(), main);
///         });
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn current_root_task() -> Task {
    Runtime::with(|rt| rt.root_task().expect("a run always has a main task"))
}

/// The run's clock (Trio's `current_clock`): a handle to the one given to
/// [`Builder::clock`](crate::Builder::clock), or to the run's
/// [`SystemClock`](crate::SystemClock), which [`current_time`](crate::current_time) reads.
/// The handle forwards everything but `start_clock`, which does nothing: the run has started
/// the clock already. (So, unlike Trio's, two calls do not return the same object.)
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::abc::Clock;
///
/// trio::run(async {
///     let clock = trio::lowlevel::current_clock();
///     assert!(clock.current_time() <= trio::current_time());
///     // The deadline has passed: no need to sleep.
///     assert_eq!(clock.deadline_to_sleep_time(trio::Instant::ZERO), Some(Duration::ZERO));
/// });
/// ```
#[track_caller]
pub fn current_clock() -> Rc<dyn Clock> {
    Rc::new(RunClock(Runtime::with(|rt| rt.clock())))
}

/// The run's clock as [`current_clock`] hands it out: reading it and its autojump go to the
/// clock itself, but starting it again does nothing — the run started it, and a `SystemClock`
/// started twice would move the run's time backwards (Trio's `SystemClock.start_clock` is a
/// no-op for the same reason).
struct RunClock(Rc<dyn Clock>);

impl Clock for RunClock {
    fn start_clock(&self) {}

    fn current_time(&self) -> crate::Instant {
        self.0.current_time()
    }

    fn deadline_to_sleep_time(&self, deadline: crate::Instant) -> Option<std::time::Duration> {
        self.0.deadline_to_sleep_time(deadline)
    }

    fn autojump_threshold(&self) -> Option<std::time::Duration> {
        self.0.autojump_threshold()
    }

    fn autojump(&self, deadline: crate::Instant) {
        self.0.autojump(deadline);
    }
}

/// Numbers about the current run.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let stats = trio::lowlevel::current_statistics();
///     assert_eq!(stats.tasks_living, 1);
///     assert_eq!(stats.next_deadline, None);
/// });
/// ```
#[track_caller]
pub fn current_statistics() -> RunStatistics {
    Runtime::with(|rt| rt.statistics())
}

/// A snapshot of every task of the run and what it waits on — the same report a deadlock
/// prints.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon_named("sleeper", async {
///             trio::sleep_forever().await?;
///             Ok(())
///         });
///         trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
///         let report = trio::lowlevel::current_report();
///         let sleeper = report.tasks.iter().find(|t| t.name == "sleeper").unwrap();
///         assert_eq!(sleeper.waiting_on, ["sleep_forever"]);
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn current_report() -> RunReport {
    Runtime::with(|rt| rt.snapshot())
}

/// The seed the run was started with.
///
/// # Examples
///
/// ```
/// trio::Builder::new().seed(1234).run(async {
///     assert_eq!(trio::lowlevel::current_seed(), 1234);
/// });
/// trio::run(async { assert_eq!(trio::lowlevel::current_seed(), 0) }); // the default
/// ```
#[track_caller]
pub fn current_seed() -> u64 {
    Runtime::with(|rt| rt.seed())
}

/// `true` inside a run on this thread.
///
/// # Examples
///
/// ```
/// assert!(!trio::lowlevel::in_run());
/// trio::run(async { assert!(trio::lowlevel::in_run()) });
/// ```
pub fn in_run() -> bool {
    Runtime::is_inside()
}

/// Starts a task that belongs to the run rather than to a nursery (Trio's
/// `spawn_system_task`). System tasks are cancelled when the main task finishes, and the run
/// waits for them; an error or panic in one makes [`run`](crate::run) panic. The cancel scopes
/// around the call do not reach the task.
///
/// # Panics
///
/// Outside a run, and once the run is over — its main task and system tasks have exited, so
/// nothing would run the task (Trio: "closed to new arrivals"); for instance in a
/// [`TrioToken::run_sync_soon`] callback run as the run ends.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     trio::lowlevel::spawn_system_task(async {
///         trio::sleep_forever().await?;
///         Ok(())
///     });
/// }); // returns: the system task is cancelled when main finishes
/// ```
#[track_caller]
pub fn spawn_system_task<F>(future: F) -> Task
where
    F: Future + 'static,
    F::Output: TaskResult,
{
    let location = Location::caller();
    let name = default_task_name::<F>();
    let future = async move { future.await.into_task_result() };
    Runtime::with_at(location, |rt| rt.spawn_system(future, name, location))
}

/// Where code runs as far as cancellation goes: the innermost cancel status (the root one
/// outside any task). A future that enters a cancel scope must be polled where it was first
/// polled; an adapter that keeps such a future between calls (`io::AsyncReadWrite`) notes the
/// context it started in and polls it again only there.
#[derive(Clone)]
pub(crate) struct CancelContext(Rc<crate::core::cancel::CancelStatus>);

impl CancelContext {
    /// The context of the code running now, or `None` outside a run.
    pub(crate) fn current() -> Option<CancelContext> {
        let mut context = None;
        Runtime::with_opt(|rt| context = Some(CancelContext(rt.current_status())));
        context
    }

    /// Whether code runs in this context now. The context is held, so its status cannot be
    /// freed and another one take its place.
    pub(crate) fn is_current(&self) -> bool {
        let mut current = false;
        Runtime::with_opt(|rt| current = rt.with_current_status(|now| Rc::ptr_eq(now, &self.0)));
        current
    }
}

/// Whether the current run's loop has ended, so that [`spawn_system_task`] would panic: for the
/// runtime's own callbacks that answer another thread instead.
pub(crate) fn system_nursery_closed() -> bool {
    Runtime::with(Runtime::system_closed)
}

/// Waits until every other task is blocked — nothing runnable, nothing outside the runtime
/// pending — and the run has stayed that way for `cushion` of real time (Trio's
/// `wait_all_tasks_blocked`). Waiters with the smallest cushion wake first, together.
///
/// While a task waits here, autojump does not jump: idle waiters win, as in Trio.
///
/// # Cancellation
///
/// An ordinary blocking wait: returns `Err(Cancelled)` when cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn wait_all_tasks_blocked(cushion: Duration) -> impl Future<Output = Result<(), Cancelled>> {
    let location = Location::caller();
    async move {
        crate::lowlevel::ensure_in_run(location);
        struct Remove((Duration, u64));
        impl Drop for Remove {
            fn drop(&mut self) {
                let key = self.0;
                Runtime::with_opt(|rt| rt.remove_idle_waiter(key));
            }
        }
        let (slot, key) = Runtime::with(|rt| {
            let (slot, unparker) = rt.new_idle_slot();
            (slot, rt.add_idle_waiter(cushion, unparker))
        });
        let _remove = Remove(key);
        slot.await
    }
}

/// Asks the run to choose one of `options` (numbered from 0) — a decision of the run's one
/// decision stream, like which task runs next. Option 0 is the default: what happens under the
/// default policy, and in plain `trio::run`, every time.
///
/// This is how a simulation makes its random choices (which fault hits a message, how much
/// jitter it gets) so that exploration varies them, a trace shows them, replay reproduces them
/// and shrinking drops those a failure does not need. `what` says what the choice is about, for
/// traces. With fewer than two options nothing is asked and 0 is returned.
///
/// Synchronous; never a checkpoint.
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// // Under the default policy every choice is the default.
/// let picks = trio::run(async { (0..5).map(|_| trio::lowlevel::choose(3, "latency bucket")).collect::<Vec<_>>() });
/// assert_eq!(picks, [0, 0, 0, 0, 0]);
/// ```
#[track_caller]
pub fn choose(options: usize, what: &str) -> usize {
    Runtime::with(|rt| rt.choose(&Choice::new(options, None, what)))
}

/// [`choose`] among options with relative weights: a random policy picks option `i` with
/// probability `weights[i] / sum(weights)`. Option 0 is still the default.
///
/// # Panics
///
/// Outside a run, or if the weights add up to zero.
///
/// # Examples
///
/// ```
/// // A one-in-a-hundred fault: under the default policy, never.
/// let dropped = trio::run(async { trio::lowlevel::choose_weighted(&[99, 1], "drop this segment?") == 1 });
/// assert!(!dropped);
/// ```
#[track_caller]
pub fn choose_weighted(weights: &[u32], what: &str) -> usize {
    assert!(weights.iter().any(|&w| w > 0), "choose_weighted({weights:?}, {what:?}): the weights must not all be zero");
    Runtime::with(|rt| rt.choose(&Choice::new(weights.len(), Some(weights), what)))
}
