//! The run loop: `trio::run`, the `Builder`, spawning, the timer map, idle detection and the
//! reports for deadlocks, step limits and the watchdog.
//!
//! One tick, as in Trio's `unrolled_run`:
//! 1. if nothing is runnable, decide how long to wait (next deadline, idle waiters, autojump)
//!    — or declare a deadlock — and park the thread that long;
//! 2. expire deadlines;
//! 3. if the run was idle and still is, wake `wait_all_tasks_blocked` waiters or autojump;
//! 4. run one batch: the tasks runnable at the start of the batch, in the order the
//!    [`SchedulePolicy`] picks. Tasks woken meanwhile wait for the next batch (unless an
//!    exploring policy picks them early).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use super::cancel::CancelStatus;
use super::clock::{Clock, Instant, RealInstant, SystemClock};
use super::instrument::Instrument;
use super::nursery::{ExitTarget, NurseryInner, panic_message};
use super::policy::{RunnableTasks, SchedulePolicy, TimerInfo, TimerKind};
use super::task::{
    FutureSlot, NoFuture, Outcome, Shared, Task, TaskBody, TaskCell, TaskCore, TaskId, TaskKey, TaskName, TaskWakers,
    name_from_type,
};
use super::timers::{TimerEntry, TimerKey, Timers};
use super::wait::{Unparker, WaitList, What, make_slot};
use crate::error::Error;
use crate::error::{CancelSource, Cancelled};

scoped_tls::scoped_thread_local!(static CONTEXT: Runtime);

static RUNTIME_IDS: AtomicU64 = AtomicU64::new(1);

// ===== Builder =====

/// Configures and starts a run: clock, instruments, scheduling policy, seed and limits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let answer = trio::Builder::new()
///     .seed(7)
///     .max_steps(10_000)
///     .run(async {
///         trio::sleep(Duration::from_millis(1)).await.unwrap();
///         42
///     });
/// assert_eq!(answer, 42);
/// ```
#[must_use = "a Builder does nothing until you call run or try_run"]
pub struct Builder {
    clock: Option<Rc<dyn Clock>>,
    instruments: Vec<Rc<dyn Instrument>>,
    policy: Option<Box<dyn SchedulePolicy>>,
    seed: u64,
    max_steps: Option<u64>,
    watchdog: Option<Duration>,
    cancel_grace: Option<Duration>,
    stack_budget: Option<usize>,
    main_task: Option<(String, &'static Location<'static>)>,
    /// `None`: Ctrl-C cancels the run if it runs on the main thread (the default).
    keyboard_interrupt: Option<bool>,
}

/// How much stack, by default, one task step may use through nested scopes and nurseries
/// before the run stops it with a clear panic (see [`Builder::stack_budget`]).
const DEFAULT_STACK_BUDGET: usize = 1536 * 1024;

/// How long, by default, a task may stay blocked on a foreign future inside a cancelled scope
/// before the run fails (see [`Builder::cancel_grace`]).
const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(10);

/// The watchdog reads the real clock once per this many task steps while tasks keep running.
const WATCHDOG_EVERY: u64 = 1024;

impl Builder {
    /// Defaults: [`SystemClock`], no instruments, the [`Fifo`](crate::lowlevel::Fifo) policy, seed 0, no limits.
    ///
    /// # Examples
    ///
    /// ```
    /// let output = trio::Builder::new().run(async {
    ///     assert_eq!(trio::lowlevel::current_seed(), 0);
    ///     "done"
    /// });
    /// assert_eq!(output, "done");
    /// ```
    pub fn new() -> Builder {
        Builder {
            clock: None,
            instruments: Vec::new(),
            policy: None,
            seed: 0,
            max_steps: None,
            watchdog: None,
            cancel_grace: Some(DEFAULT_CANCEL_GRACE),
            stack_budget: Some(DEFAULT_STACK_BUDGET),
            main_task: None,
            keyboard_interrupt: None,
        }
    }

    /// The clock the run reads time from.
    ///
    /// # Panics
    ///
    /// If a clock was already set: a run has one clock (Trio: "too many clocks spoil the
    /// broth"), and a second call silently replacing the first would hide a mistake.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// let clock = trio::SystemClock::with_offset(Duration::from_secs(1_000));
    /// trio::Builder::new().clock(clock).run(async {
    ///     assert!(trio::current_time() >= Instant::from_secs(1_000));
    /// });
    /// ```
    #[track_caller]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Builder {
        if self.clock.is_some() {
            panic!(
                "Builder::clock was called twice: a run has exactly one clock; keep one call (too many clocks spoil the broth)"
            );
        }
        self.clock = Some(Rc::new(clock));
        self
    }

    /// Adds an instrument; it sees every task and scheduling event of the run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// #[derive(Default)]
    /// struct Spawns(RefCell<Vec<String>>);
    ///
    /// impl trio::abc::Instrument for Spawns {
    ///     fn task_spawned(&self, task: &trio::lowlevel::Task) {
    ///         self.0.borrow_mut().push(task.name().to_string());
    ///     }
    /// }
    ///
    /// let spawns = Rc::new(Spawns::default());
    /// trio::Builder::new().instrument(spawns.clone()).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("helper", async {});
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert!(spawns.0.borrow().iter().any(|name| name == "helper"));
    /// ```
    pub fn instrument(mut self, instrument: impl Instrument + 'static) -> Builder {
        self.instruments.push(Rc::new(instrument));
        self
    }

    /// The policy that picks which runnable task steps next.
    ///
    /// # Examples
    ///
    /// A policy that always runs the task that became runnable last:
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::RunnableTasks;
    ///
    /// struct NewestFirst;
    ///
    /// impl SchedulePolicy for NewestFirst {
    ///     fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
    ///         runnable.batch_len() - 1
    ///     }
    /// }
    ///
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// let log = order.clone();
    /// trio::Builder::new().policy(NewestFirst).run(async move {
    ///     trio::open_nursery(|nursery| async move {
    ///         for i in 0..3 {
    ///             let log = log.clone();
    ///             nursery.start_soon(async move { log.borrow_mut().push(i) });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert_eq!(*order.borrow(), [2, 1, 0]); // the default order would be 0, 1, 2
    /// ```
    pub fn policy(mut self, policy: impl SchedulePolicy + 'static) -> Builder {
        self.policy = Some(Box::new(policy));
        self
    }

    /// The run's seed: handed to the policy and used for the [`SystemClock`]'s offset. Same
    /// seed, same policy, same program: the same schedule.
    ///
    /// # Examples
    ///
    /// ```
    /// // The same seed gives the system clock the same starting offset.
    /// let start = |seed| trio::Builder::new().seed(seed).run(async { trio::current_time() });
    /// let (a, b) = (start(9), start(9));
    /// assert!(a.max(b) - a.min(b) < std::time::Duration::from_secs(1));
    /// trio::Builder::new().seed(9).run(async { assert_eq!(trio::lowlevel::current_seed(), 9) });
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = seed;
        self
    }

    /// Fails the run with [`RunErrorKind::StepLimit`] after this many task steps — turns a
    /// livelock into a report instead of a hang.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::RunErrorKind;
    ///
    /// let err = trio::Builder::new()
    ///     .max_steps(100)
    ///     .try_run(async {
    ///         loop {
    ///             trio::checkpoint().await.unwrap(); // spins forever
    ///         }
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), RunErrorKind::StepLimit(100));
    /// ```
    pub fn max_steps(mut self, steps: u64) -> Builder {
        self.max_steps = Some(steps);
        self
    }

    /// Fails the run with [`RunErrorKind::Watchdog`] if it has taken this much *real* time —
    /// waiting, say, on a foreign future that never completes, or with tasks that keep running
    /// without end (a livelock; the report names them). Checked whenever the loop waits, and
    /// every 1,024 task steps while tasks run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::RunErrorKind;
    ///
    /// let limit = Duration::from_millis(20);
    /// let err = trio::Builder::new()
    ///     .watchdog(limit)
    ///     .try_run(async {
    ///         // A foreign future that never completes: not a deadlock, just a hang.
    ///         trio::cancellable(std::future::pending::<()>()).await.ok();
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), RunErrorKind::Watchdog(limit));
    /// ```
    pub fn watchdog(mut self, limit: Duration) -> Builder {
        self.watchdog = Some(limit);
        self
    }

    /// How long (real time) a task may stay blocked on a future from outside trio — awaited
    /// directly, not through [`trio::cancellable`](crate::cancellable) — after its cancel scope
    /// was cancelled, before the run fails with [`RunErrorKind::Uncancellable`] naming the
    /// task. Such a future cannot see the cancellation, so without this limit the run would
    /// hang without a word. `None` waits forever. Default: 10 seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::RunErrorKind;
    ///
    /// let (_keep_sender, never) = futures::channel::oneshot::channel::<()>();
    /// let err = trio::Builder::new()
    ///     .cancel_grace(Some(Duration::from_millis(10)))
    ///     .try_run(async move {
    ///         let scope = trio::CancelScope::new();
    ///         scope.cancel();
    ///         // Awaited directly, the oneshot cannot see the cancellation…
    ///         let _ = scope.run(async move { Ok(never.await.ok()) }).await;
    ///     })
    ///     .unwrap_err();
    /// // …so the run says so instead of hanging.
    /// assert_eq!(err.kind(), RunErrorKind::Uncancellable(Duration::from_millis(10)));
    /// assert!(err.to_string().contains("trio::cancellable"));
    /// ```
    pub fn cancel_grace(mut self, grace: Option<Duration>) -> Builder {
        self.cancel_grace = grace;
        self
    }

    /// How many bytes of stack one task step may use, measured where each cancel scope or
    /// nursery body is polled, before the task panics with a message saying so — instead of
    /// overflowing the thread's stack and aborting the process. Deeply nested scopes and
    /// nurseries are the user's own recursion of futures and need stack in proportion (a few
    /// KiB a level in debug builds). The default, 1.5 MiB, suits the 2 MiB threads `cargo
    /// test` runs tests on; on a thread with a bigger stack, raise it. `None` never checks.
    ///
    /// # Examples
    ///
    /// ```
    /// fn nest(depth: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = trio::Result<()>>>> {
    ///     Box::pin(async move {
    ///         if depth > 0 {
    ///             trio::CancelScope::new().run(nest(depth - 1)).await?;
    ///         }
    ///         Ok(())
    ///     })
    /// }
    ///
    /// let outcome = std::panic::catch_unwind(|| {
    ///     trio::Builder::new().stack_budget(Some(64 * 1024)).run(nest(100_000))
    /// });
    /// let payload = outcome.unwrap_err();
    /// let message = payload.downcast_ref::<String>().unwrap();
    /// assert!(message.contains("stack budget"));
    /// ```
    pub fn stack_budget(mut self, bytes: Option<usize>) -> Builder {
        self.stack_budget = bytes;
        self
    }

    /// Names the main task and says where it was "spawned", for reports and traces (by default
    /// it is named after the future's type and spawned where `run` was called).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::Location;
    ///
    /// let here = Location::caller();
    /// trio::Builder::new().main_task("entry", here).run(async move {
    ///     let main = trio::lowlevel::current_task();
    ///     assert_eq!(main.name(), "entry");
    ///     assert_eq!(main.spawn_location(), here);
    /// });
    /// ```
    pub fn main_task(mut self, name: impl Into<String>, location: &'static Location<'static>) -> Builder {
        self.main_task = Some((name.into(), location));
        self
    }

    /// Whether Ctrl-C (`SIGINT`) cancels the run (Trio's `KeyboardInterrupt`). By default it
    /// does when the run is on the process's main thread — as in Trio, which installs its
    /// handler only there — so runs on other threads (tests, say) leave Ctrl-C alone.
    /// `true` turns it on for any thread, `false` off. Unix only.
    ///
    /// When it is on and Ctrl-C arrives, every cancel scope of the run is cancelled with
    /// [`CancelSource::KeyboardInterrupt`]: every task unwinds through its scopes, and once
    /// they all have, [`try_run`](Builder::try_run) returns a
    /// [`RunErrorKind::KeyboardInterrupt`] error (and [`run`](Builder::run) panics with it),
    /// whatever the main task returned. A second Ctrl-C while the run unwinds gets the
    /// default action: the process ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::RunErrorKind;
    /// use trio::signal::{SIGINT, raise};
    ///
    /// let err = trio::Builder::new()
    ///     .keyboard_interrupt(true)
    ///     .try_run(async {
    ///         raise(SIGINT).unwrap(); // as if the user pressed Ctrl-C
    ///         let cancelled = trio::sleep(std::time::Duration::from_secs(60)).await.unwrap_err();
    ///         assert_eq!(cancelled.source(), trio::CancelSource::KeyboardInterrupt);
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), RunErrorKind::KeyboardInterrupt);
    /// ```
    pub fn keyboard_interrupt(mut self, enabled: bool) -> Builder {
        self.keyboard_interrupt = Some(enabled);
        self
    }

    /// Runs `future` as the main task until it and everything it started are done, and
    /// returns its output.
    ///
    /// # Panics
    ///
    /// On a deadlock, an exceeded step limit or the watchdog (with the report as message); if
    /// a task panics and nothing caught it (the panic resumes here); and when called inside
    /// another run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sum = trio::Builder::new().seed(3).run(async {
    ///     let mut sum = 0;
    ///     for i in 1..=3 {
    ///         trio::sleep(Duration::from_micros(10)).await.unwrap();
    ///         sum += i;
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 6);
    /// ```
    ///
    /// A deadlock panics with the report:
    ///
    /// ```should_panic
    /// trio::Builder::new().run(async {
    ///     trio::Event::new().wait().await.ok(); // nobody will set it
    /// });
    /// ```
    #[track_caller]
    pub fn run<F: Future>(self, future: F) -> F::Output {
        match self.try_run(future) {
            Ok(output) => output,
            Err(error) => panic!("{error}"),
        }
    }

    /// [`run`](Builder::run), reporting a deadlock, step limit or watchdog as an error.
    ///
    /// # Errors
    ///
    /// A [`RunError`] with the state of every task when the run was stopped.
    ///
    /// # Panics
    ///
    /// When called inside another run, and when a task panic reaches the main task.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::RunErrorKind;
    ///
    /// assert_eq!(trio::Builder::new().try_run(async { 1 }).unwrap(), 1);
    ///
    /// let err = trio::Builder::new()
    ///     .try_run(async {
    ///         trio::Event::new().wait().await.ok(); // nobody will set it
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), RunErrorKind::Deadlock);
    /// assert!(err.to_string().starts_with("deadlock"));
    /// ```
    #[track_caller]
    pub fn try_run<F: Future>(self, future: F) -> Result<F::Output, RunError> {
        self.build().try_run(future)
    }

    /// Builds a [`Runner`]: a runtime with these settings that can run one program after
    /// another, each run starting from the state a fresh runtime would have, while keeping the
    /// memory the earlier runs allocated (its task slab, run queue, timer heap, wakers). This
    /// is what makes many short runs cheap — the schedules of an exploration, say.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut runner = trio::Builder::new().seed(1).build();
    /// for i in 0..3 {
    ///     let got = runner.run(async move {
    ///         trio::sleep(Duration::from_micros(1)).await.unwrap();
    ///         i * 2
    ///     });
    ///     assert_eq!(got, i * 2);
    /// }
    /// ```
    pub fn build(self) -> Runner {
        Runner { runtime: Runtime::new(self), runs: 0 }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("custom_clock", &self.clock.is_some())
            .field("instruments", &self.instruments.len())
            .field("custom_policy", &self.policy.is_some())
            .field("seed", &self.seed)
            .field("max_steps", &self.max_steps)
            .field("watchdog", &self.watchdog)
            .field("cancel_grace", &self.cancel_grace)
            .field("stack_budget", &self.stack_budget)
            .field("main_task", &self.main_task)
            .field("keyboard_interrupt", &self.keyboard_interrupt)
            .finish()
    }
}

// ===== Runner =====

/// A runtime that runs one program after another: made by [`Builder::build`].
///
/// Every run starts from exactly the state a fresh runtime built from the same [`Builder`]
/// would start from — task ids from 1, the clock's start, the sequence numbers that order tied
/// timers, no [`RunVar`](crate::lowlevel::RunVar) set, no system task, the policy restarted
/// with the seed — so a run behaves the same, event for event, whatever ran on the runner
/// before, including a run that panicked, deadlocked or hit its step limit. What carries over
/// is memory only: the capacity of the task slab, run queue and timer heap, and the wakers of
/// finished tasks, which the next tasks reuse.
///
/// # Limitations
///
/// - A clock given with [`Builder::clock`] is the same object in every run: a
///   `MockClock` keeps the time the previous run left it at. Give each run its own clock with
///   [`reconfigure`](Runner::reconfigure). Without one, each run gets a fresh [`SystemClock`]
///   from the seed, as [`Builder::run`] does.
/// - Likewise instruments and the policy are shared by the runs; the policy's
///   [`start`](crate::abc::SchedulePolicy::start) is called with the seed at the start of every
///   run.
/// - A runner belongs to the thread that built it (it is neither `Send` nor `Sync`).
///
/// # Examples
///
/// ```
/// let mut runner = trio::Builder::new().build();
/// let first = runner.run(async { trio::lowlevel::current_task().id() });
/// let second = runner.run(async { trio::lowlevel::current_task().id() });
/// assert_eq!(first, second); // each run numbers its tasks from 1 again
/// ```
pub struct Runner {
    runtime: Runtime,
    /// Runs started so far.
    runs: u64,
}

impl Runner {
    /// Runs `future` as the main task until it and everything it started are done, and returns
    /// its output, as [`Builder::run`] does.
    ///
    /// # Panics
    ///
    /// As [`Builder::run`]: on a deadlock, step limit or watchdog, when a task panic reaches the
    /// main task, and when called inside another run. The runner stays usable afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = trio::Builder::new().build();
    /// assert_eq!(runner.run(async { 1 + 1 }), 2);
    /// assert_eq!(runner.run(async { "again" }), "again");
    /// ```
    #[track_caller]
    pub fn run<F: Future>(&mut self, future: F) -> F::Output {
        match self.try_run(future) {
            Ok(output) => output,
            Err(error) => panic!("{error}"),
        }
    }

    /// [`run`](Runner::run), reporting a deadlock, step limit or watchdog as an error.
    ///
    /// # Errors
    ///
    /// A [`RunError`] with the state of every task when the run was stopped.
    ///
    /// # Panics
    ///
    /// When called inside another run, and when a task panic reaches the main task.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = trio::Builder::new().build();
    /// let err = runner.try_run(trio::sleep_forever()).unwrap_err();
    /// assert_eq!(err.kind(), trio::RunErrorKind::Deadlock);
    /// assert_eq!(runner.try_run(async { 5 }).unwrap(), 5); // still usable
    /// ```
    #[track_caller]
    pub fn try_run<F: Future>(&mut self, future: F) -> Result<F::Output, RunError> {
        if CONTEXT.is_set() {
            panic!(
                "trio::run was called from inside another trio::run on the same thread; a run \
                 cannot be nested — await the future directly instead, or start it in a nursery"
            );
        }
        let main_task = match &self.runtime.main_task_setting {
            Some((name, location)) => (TaskName::Given(name.clone()), *location),
            None => main_name::<F>(Location::caller()),
        };
        if self.runs > 0 {
            self.prepare();
        }
        self.runs += 1;
        self.runtime.begin_run();
        // Pinned here, where it stays: the main future is never moved again (nor boxed).
        let main = std::pin::pin!(Some(future));
        let runtime = &self.runtime;
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| CONTEXT.set(runtime, || runtime.run_main(main, main_task))));
        // What the run left behind goes now, as it would with the runtime: `RunVar` values,
        // leftover timers and the like do not outlive their run.
        if self.runtime.clean.get() {
            self.runtime.release();
        }
        match result {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Replaces every setting (clock, instruments, policy, seed, limits, main task name) with
    /// `builder`'s, for the runs that follow. The memory the runner keeps stays.
    ///
    /// # Panics
    ///
    /// When called inside a run of this runner's thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut runner = trio::Builder::new().seed(1).build();
    /// assert_eq!(runner.run(async { trio::lowlevel::current_seed() }), 1);
    /// runner.reconfigure(trio::Builder::new().seed(2));
    /// assert_eq!(runner.run(async { trio::lowlevel::current_seed() }), 2);
    /// ```
    #[track_caller]
    pub fn reconfigure(&mut self, builder: Builder) {
        assert!(!CONTEXT.is_set(), "Runner::reconfigure was called inside a run; call it between runs");
        self.runtime.configure(builder);
    }

    /// Makes the runtime ready for the next run. A run that ended normally — returned,
    /// panicked in a task, deadlocked — was already reset when it ended; one stopped half-way
    /// (a panic out of an instrument, policy or clock) left state nobody vouches for, so the
    /// runner starts over from a runtime built from the same settings.
    fn prepare(&mut self) {
        if !self.runtime.clean.get() {
            let settings = self.runtime.take_settings();
            let broken = std::mem::replace(&mut self.runtime, Runtime::new(settings));
            drop(broken);
        }
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("runs", &self.runs)
            .field("seed", &self.runtime.seed)
            .field("custom_policy", &self.runtime.policy.is_some())
            .field("instruments", &self.runtime.instruments.len())
            .finish()
    }
}

/// Runs `future` as the main task on the current thread until it and every task it started
/// have finished, and returns its output (Trio's `trio.run`).
///
/// Uses the [`SystemClock`] and the deterministic [`Fifo`](crate::lowlevel::Fifo) policy; see [`Builder`] for the
/// rest.
///
/// # Panics
///
/// - When called from inside another run on the same thread.
/// - When the run deadlocks: every task is blocked and nothing can wake them. The message
///   lists every task and what it waits on.
/// - When a task panics and the panic reaches the main task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// async fn double_sleep(x: u64) -> trio::Result<u64> {
///     trio::sleep(Duration::from_millis(2 * x)).await?;
///     Ok(2 * x)
/// }
///
/// assert_eq!(trio::run(double_sleep(3)).unwrap(), 6);
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    Builder::new().run(future)
}

// ===== RunError =====

/// Why a run was stopped before its main task finished.
///
/// # Examples
///
/// ```
/// use trio::RunErrorKind;
///
/// let err = trio::Builder::new().max_steps(10).try_run(async {
///     loop {
///         trio::checkpoint().await.unwrap();
///     }
/// });
/// match err.unwrap_err().kind() {
///     RunErrorKind::StepLimit(steps) => assert_eq!(steps, 10),
///     other => panic!("expected a step limit, got {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunErrorKind {
    /// Every task was blocked, no deadline was pending and nothing outside the runtime could
    /// wake a task.
    Deadlock,
    /// The run took more task steps than [`Builder::max_steps`] allows.
    StepLimit(u64),
    /// The run took more real time than [`Builder::watchdog`] allows.
    Watchdog(Duration),
    /// A task stayed blocked on a future from outside trio, inside a cancelled scope, longer
    /// than [`Builder::cancel_grace`] allows: the future cannot see the cancellation.
    Uncancellable(Duration),
    /// Ctrl-C (`SIGINT`) cancelled the run, and every task has unwound (Trio's
    /// `KeyboardInterrupt`; see [`Builder::keyboard_interrupt`]).
    KeyboardInterrupt,
}

/// A run that was stopped, with the state of every task at that moment.
///
/// # Examples
///
/// ```
/// let err = trio::Builder::new()
///     .try_run(async {
///         trio::Event::new().wait().await.ok();
///     })
///     .unwrap_err();
/// assert_eq!(err.kind(), trio::RunErrorKind::Deadlock);
/// assert_eq!(err.report().tasks.len(), 1); // the main task
/// // Display gives the whole report, as the panic of `run` would.
/// assert!(err.to_string().contains("tasks at virtual time"));
/// ```
#[derive(Debug, Clone)]
pub struct RunError {
    kind: RunErrorKind,
    report: RunReport,
}

impl RunError {
    /// Why the run stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::Builder::new().try_run(trio::sleep_forever()).unwrap_err();
    /// assert_eq!(err.kind(), trio::RunErrorKind::Deadlock);
    /// ```
    pub fn kind(&self) -> RunErrorKind {
        self.kind
    }

    /// Every task alive when it stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::Builder::new()
    ///     .try_run(async {
    ///         trio::open_nursery(|nursery| async move {
    ///             nursery.start_soon_named("stuck", async {
    ///                 trio::sleep_forever().await?;
    ///                 Ok(())
    ///             });
    ///             Ok(())
    ///         })
    ///         .await
    ///         .ok();
    ///     })
    ///     .unwrap_err();
    /// let stuck = err.report().tasks.iter().find(|t| t.name == "stuck").unwrap();
    /// assert_eq!(stuck.waiting_on, ["sleep_forever"]);
    /// assert!(!stuck.runnable);
    /// ```
    pub fn report(&self) -> &RunReport {
        &self.report
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RunErrorKind::Deadlock => {
                write!(f, "deadlock: every task is blocked and nothing can wake them")?;
                if self.report.frozen_clock {
                    write!(
                        f,
                        " (a deadline is pending, but the clock is frozen: it does not advance by itself and autojump is off)"
                    )?;
                } else {
                    write!(f, " (no deadline is pending and nothing outside the runtime is awaited)")?;
                }
            }
            RunErrorKind::StepLimit(limit) => write!(
                f,
                "the run exceeded its step limit of {limit} task steps — a livelock? (raise Builder::max_steps if the program is just long)"
            )?,
            RunErrorKind::Watchdog(limit) => {
                write!(f, "the run exceeded its real-time limit of {limit:?}")?;
                let busy: Vec<&TaskReport> = self.report.tasks.iter().filter(|t| t.runnable || t.running).collect();
                if !busy.is_empty() {
                    write!(f, " while tasks kept running (a livelock?):")?;
                    for (i, task) in busy.iter().enumerate() {
                        let sep = if i == 0 { " " } else { ", " };
                        write!(f, "{sep}task {} `{}`", task.id, task.name)?;
                    }
                    write!(
                        f,
                        " kept being scheduled; each step ends in a checkpoint, but the condition they wait for never comes"
                    )?;
                } else {
                    write!(
                        f,
                        " with no task runnable: blocked on something outside the runtime that never completes \
                         (or on a future whose waker only the task itself holds, such as both ends of a channel in one task)"
                    )?;
                }
                self.write_uncancellable(f)?;
            }
            RunErrorKind::KeyboardInterrupt => {
                write!(f, "KeyboardInterrupt: Ctrl-C (SIGINT) cancelled the run, and every task has unwound")?;
            }
            RunErrorKind::Uncancellable(grace) => {
                write!(
                    f,
                    "a task stayed blocked on a future from outside trio for more than {grace:?} after its cancel scope was cancelled"
                )?;
                self.write_uncancellable(f)?;
            }
        }
        write!(f, "\n{}", self.report)
    }
}

impl RunError {
    /// Names the tasks blocked on a foreign future inside a cancelled scope, and the fix.
    fn write_uncancellable(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.report.uncancellable.is_empty() {
            return Ok(());
        }
        write!(f, "; cancelled but blocked on a future from outside trio, which cannot see the cancellation:")?;
        for (i, id) in self.report.uncancellable.iter().enumerate() {
            let name = self.report.tasks.iter().find(|t| t.id == *id).map_or("?", |t| t.name.as_str());
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}task {id} `{name}`")?;
        }
        write!(f, " — wrap the future in trio::cancellable(...) so the cancellation abandons it")
    }
}

impl std::error::Error for RunError {}

/// The tasks of a run at one moment: a tree by parent task.
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
///         assert_eq!(report.tasks.len(), 2);
///         assert!(report.steps > 0);
///         // Display draws the task tree.
///         assert!(report.to_string().contains("task 2 `sleeper`"));
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Virtual time when the report was taken.
    pub now: Instant,
    /// Task steps executed so far.
    pub steps: u64,
    /// Every live task, in id order.
    pub tasks: Vec<TaskReport>,
    frozen_clock: bool,
    /// Tasks blocked on a foreign future inside a cancelled scope.
    uncancellable: Vec<TaskId>,
}

/// One task in a [`RunReport`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let main = trio::lowlevel::current_task().id();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon_named("napper", async {
///             trio::sleep(Duration::from_secs(60)).await?;
///             Ok(())
///         });
///         trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
///         let report = trio::lowlevel::current_report();
///         let napper: &trio::lowlevel::TaskReport = report.tasks.iter().find(|t| t.name == "napper").unwrap();
///         assert_eq!(napper.parent, Some(main));
///         assert!(napper.spawned_at.starts_with(file!()));
///         assert!(napper.waiting_on[0].starts_with("sleep until"));
///         assert!(!napper.runnable);
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Debug, Clone)]
pub struct TaskReport {
    /// The task's id.
    pub id: TaskId,
    /// The task's name.
    pub name: String,
    /// Where it was spawned.
    pub spawned_at: String,
    /// The task that started it.
    pub parent: Option<TaskId>,
    /// What it waits on; empty if runnable.
    pub waiting_on: Vec<String>,
    /// Whether it was runnable.
    pub runnable: bool,
    /// Whether it was the task running right now (the one that asked for the report).
    pub running: bool,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tasks at virtual time {} after {} steps:", self.now, self.steps)?;
        let ids: BTreeSet<TaskId> = self.tasks.iter().map(|t| t.id).collect();
        let roots: Vec<&TaskReport> =
            self.tasks.iter().filter(|t| t.parent.is_none_or(|p| !ids.contains(&p))).collect();
        for root in roots {
            self.write_task(f, root, 1)?;
        }
        Ok(())
    }
}

impl RunReport {
    fn write_task(&self, f: &mut fmt::Formatter<'_>, task: &TaskReport, depth: usize) -> fmt::Result {
        let indent = "  ".repeat(depth);
        write!(f, "\n{indent}task {} `{}` (spawned at {}): ", task.id, task.name, task.spawned_at)?;
        if task.running {
            write!(f, "running")?;
        } else if task.runnable {
            write!(f, "runnable")?;
        } else if task.waiting_on.is_empty() {
            write!(f, "blocked")?;
        } else {
            write!(f, "{}", task.waiting_on.join("; "))?;
        }
        for child in self.tasks.iter().filter(|t| t.parent == Some(task.id)) {
            self.write_task(f, child, depth + 1)?;
        }
        Ok(())
    }
}

// ===== Ctrl-C =====

/// What the signal thread holds for a run that turns Ctrl-C into a cancellation: enough to
/// flag it and wake its loop, and nothing that keeps the run from ending or counts as a wait
/// outside it.
pub(crate) struct KiHandle(Arc<Shared>);

impl KiHandle {
    /// Ctrl-C arrived. `false` if the run already had one: the caller gives the signal its
    /// default action then.
    pub(crate) fn interrupt(&self) -> bool {
        if self.0.ki_delivered.load(Ordering::Acquire) {
            return false;
        }
        self.0.ki_pending.store(true, Ordering::Release);
        self.0.wake_loop();
        true
    }
}

// ===== Runtime =====

enum Primed {
    No,
    Idle(Duration),
    Autojump,
}

/// A task blocked on a future from outside trio (it returned `Pending` with no trio wait).
struct ForeignWait {
    /// The innermost cancel status it was polled in when it blocked.
    status: Rc<CancelStatus>,
    /// When the loop first saw that status cancelled while the task was still blocked.
    cancelled_since: Option<RealInstant>,
}

/// One run's state. Everything that can decide an order or reach a report is here, numbered
/// per run: nothing is shared with other runs of the process.
pub(crate) struct Runtime {
    /// Tells this run's wakers from other runs' (identity only: it never decides an order and
    /// never reaches a report or trace).
    id: u64,
    /// What wakers on other threads reach: the injection queue and the loop's thread.
    shared: Arc<Shared>,
    /// Live tasks by slot. Invariant: a slot holds a task iff that task has not finished, and
    /// the task's key names that slot with the task's generation.
    slab: RefCell<Vec<Option<Task>>>,
    /// Free slots of `slab`. Invariant: exactly the indices whose slot is `None`.
    free: RefCell<Vec<u32>>,
    /// The generation of the last task made; each task gets the next, so a stale key (a
    /// waker of a finished task) never matches a slot's new occupant.
    generation: Cell<u32>,
    /// Invariant: the number of `Some` slots in `slab`.
    live_tasks: Cell<usize>,
    /// Runnable tasks in the order they became runnable. Invariant: a key is here at most
    /// once, iff its task's `scheduled` flag is set (stale keys of finished tasks may remain;
    /// `step` skips them).
    runq: RefCell<VecDeque<TaskKey>>,
    /// Wakers of finished tasks that nobody else holds, lent to tasks at their first poll.
    /// Invariant: each holds one reference to `shared`, and no other reference to itself.
    waker_pool: RefCell<Vec<TaskWakers>>,
    /// Emptied exit-hook lists of finished tasks, for tasks that register hooks (a lock's
    /// holder does, on every acquire). At most `SPARE_EXIT_HOOK_LISTS`. Invariant: each empty.
    spare_exit_hooks: RefCell<Vec<super::task::ExitHooks>>,
    /// The task being stepped; `None` between steps.
    pub(super) current_task: RefCell<Option<Task>>,
    /// Which waker the current step polls with (its data and vtable pointers, compared, never
    /// followed): a schedule point handed that very waker re-queues the task directly. Null
    /// between steps.
    step_waker: Cell<(*const (), *const std::task::RawWakerVTable)>,
    /// The cancel status code runs in right now: the innermost scope future being polled
    /// installs its own and restores its parent (`in_status`). `None` between steps.
    current_status: RefCell<Option<Rc<CancelStatus>>>,
    /// The innermost status whose body returned `Pending` during the current step (first one
    /// recorded wins); where a task that blocks on a foreign future is waiting.
    pending_in: RefCell<Option<Rc<CancelStatus>>>,
    /// Sleeps and scope deadlines, earliest first; ties by the run's sequence numbers.
    pub(crate) timers: RefCell<Timers>,
    /// The buffers `expire_timers` reuses: the timers due at one instant, and their
    /// descriptions for the policy. Invariant: both empty outside `expire_timers`.
    timer_scratch: RefCell<(Vec<DueTimer>, Vec<TimerInfo>)>,
    /// Tasks waiting in `wait_task_rescheduled`, for `reschedule` to find.
    pub(crate) traps: RefCell<BTreeMap<TaskKey, Rc<super::wait::Trap>>>,
    /// `wait_all_tasks_blocked` waiters by (cushion, sequence number).
    idle_waiters: RefCell<BTreeMap<(Duration, u64), Unparker<()>>>,
    clock: Rc<dyn Clock>,
    /// No clock was configured: each run gets a fresh [`SystemClock`] from the seed.
    default_clock: bool,
    /// The configured policy; `None` is the default FIFO order, which needs no calls at all.
    policy: Option<RefCell<Box<dyn SchedulePolicy>>>,
    instruments: Vec<Rc<dyn Instrument>>,
    /// The next task id. Task ids are sequential per run, starting at 1 (the main task).
    next_task_id: Cell<u64>,
    /// The run's one counter for tie-breaks: timers (sleeps and scopes) and idle waiters take
    /// their numbers from it, so equal deadlines fire in creation order within the run.
    next_seq: Cell<u64>,
    /// Registered waits marked external that are still waiting.
    external_waits: Cell<usize>,
    /// Tasks that returned `Pending` without any trio wait: blocked on a foreign future.
    /// Entries of tasks that ran again or finished are dropped lazily.
    foreign_blocked: RefCell<BTreeMap<TaskKey, ForeignWait>>,
    /// The status of the main task and of the system nursery's scope; never cancelled.
    root_status: Rc<CancelStatus>,
    /// The system nursery, made on the first `spawn_system_task`.
    system: std::cell::OnceCell<Rc<NurseryInner>>,
    /// Invariant: the number of live tasks whose exit target is the system nursery.
    system_tasks: Cell<usize>,
    /// Set once the loop has ended: the system nursery takes no new tasks (Trio: "closed to new
    /// arrivals"), since nothing would ever run them.
    system_closed: Cell<bool>,
    /// The first failure of a system task; stops the run and panics in `run`.
    system_failure: RefCell<Option<String>>,
    main_task: RefCell<Option<Task>>,
    /// Task steps so far.
    steps: Cell<u64>,
    /// `steps` when the watchdog last read the real clock.
    watchdog_checked_at: Cell<u64>,
    seed: u64,
    max_steps: Option<u64>,
    watchdog: Option<Duration>,
    cancel_grace: Option<Duration>,
    stack_budget: Option<usize>,
    /// The address of a local of `step` while a task is stepped: how deep the task's poll
    /// has gone is measured from here (the stack grows down).
    stack_base: Cell<usize>,
    /// The main task's name and spawn location, if configured ([`Builder::main_task`]).
    main_task_setting: Option<(String, &'static Location<'static>)>,
    /// The Ctrl-C setting ([`Builder::keyboard_interrupt`]).
    keyboard_interrupt: Option<bool>,
    /// Set once a run has begun on the current settings: the next run needs a fresh root
    /// status (and a fresh default clock).
    used: bool,
    /// `false` from the start of a run until its teardown and reset are done: a runtime left
    /// unclean (a panic escaped half-way) is rebuilt before the next run, never reused.
    clean: Cell<bool>,
    /// Real time at the start of the run, for the watchdog.
    started: RealInstant,
    /// The values of `RunVar`s, dropped with the run.
    pub(crate) locals: super::local::RunLocals,
    /// The scope of `root_status` when Ctrl-C handling is on: shielded (so nothing outside
    /// reaches it and no policy injects into it), cancelled only by Ctrl-C.
    ki_scope: Option<Rc<super::cancel::ScopeState>>,
    /// The clock's reading when the run started, for run-relative `Debug` of instants.
    start_time: Cell<Instant>,
    /// The reactor, made on the first wait for a file descriptor; until then the loop parks
    /// its thread (a run without real I/O never makes one).
    #[cfg(unix)]
    reactor: std::cell::OnceCell<super::io::Reactor>,
    /// `steps` when the loop last polled the reactor, so busy runs still see I/O.
    #[cfg(unix)]
    io_polled_at: Cell<u64>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The Ctrl-C scope and the root status point at each other (see `renew_root_status`).
        if let Some(scope) = self.ki_scope.take() {
            scope.exit();
        }
    }
}

/// How many emptied exit-hook lists a runtime keeps for reuse.
const SPARE_EXIT_HOOK_LISTS: usize = 64;

/// While tasks keep running, the loop polls the reactor (without waiting) once this many task
/// steps have passed since it last did, so a busy run still notices I/O.
#[cfg(unix)]
const IO_POLL_EVERY: u64 = 64;

impl Runtime {
    fn new(builder: Builder) -> Runtime {
        let id = RUNTIME_IDS.fetch_add(1, Ordering::Relaxed);
        let (root_status, ki_scope) = root_status(builder.keyboard_interrupt);
        let default_clock = builder.clock.is_none();
        let clock = builder.clock.unwrap_or_else(|| Rc::new(SystemClock::new(builder.seed)));
        Runtime {
            id,
            shared: Arc::new(Shared::new(id)),
            slab: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            generation: Cell::new(0),
            live_tasks: Cell::new(0),
            runq: RefCell::new(VecDeque::new()),
            waker_pool: RefCell::new(Vec::new()),
            spare_exit_hooks: RefCell::new(Vec::new()),
            current_task: RefCell::new(None),
            step_waker: Cell::new((std::ptr::null(), std::ptr::null())),
            current_status: RefCell::new(None),
            pending_in: RefCell::new(None),
            timers: RefCell::new(Timers::default()),
            timer_scratch: RefCell::default(),
            traps: RefCell::new(BTreeMap::new()),
            idle_waiters: RefCell::new(BTreeMap::new()),
            clock,
            default_clock,
            policy: builder.policy.map(RefCell::new),
            instruments: builder.instruments,
            next_task_id: Cell::new(1),
            next_seq: Cell::new(0),
            external_waits: Cell::new(0),
            foreign_blocked: RefCell::new(BTreeMap::new()),
            root_status,
            system: std::cell::OnceCell::new(),
            system_tasks: Cell::new(0),
            system_closed: Cell::new(false),
            system_failure: RefCell::new(None),
            main_task: RefCell::new(None),
            steps: Cell::new(0),
            watchdog_checked_at: Cell::new(0),
            seed: builder.seed,
            max_steps: builder.max_steps,
            watchdog: builder.watchdog,
            cancel_grace: builder.cancel_grace,
            stack_budget: builder.stack_budget,
            main_task_setting: builder.main_task,
            keyboard_interrupt: builder.keyboard_interrupt,
            stack_base: Cell::new(0),
            started: RealInstant::now(),
            locals: Default::default(),
            ki_scope,
            start_time: Cell::new(Instant::ZERO),
            used: false,
            clean: Cell::new(true),
            #[cfg(unix)]
            reactor: std::cell::OnceCell::new(),
            #[cfg(unix)]
            io_polled_at: Cell::new(0),
        }
    }

    /// Replaces the settings with `builder`'s (between runs).
    fn configure(&mut self, builder: Builder) {
        self.default_clock = builder.clock.is_none();
        self.clock = builder.clock.unwrap_or_else(|| Rc::new(SystemClock::new(builder.seed)));
        self.policy = builder.policy.map(RefCell::new);
        self.instruments = builder.instruments;
        self.seed = builder.seed;
        self.max_steps = builder.max_steps;
        self.watchdog = builder.watchdog;
        self.cancel_grace = builder.cancel_grace;
        self.stack_budget = builder.stack_budget;
        self.main_task_setting = builder.main_task;
        self.keyboard_interrupt = builder.keyboard_interrupt;
        self.renew_root_status();
        self.used = false;
    }

    /// The settings back as a builder, leaving the runtime without them (to build a new one).
    fn take_settings(&mut self) -> Builder {
        Builder {
            clock: (!self.default_clock).then(|| self.clock.clone()),
            instruments: std::mem::take(&mut self.instruments),
            policy: self.policy.take().map(RefCell::into_inner),
            seed: self.seed,
            max_steps: self.max_steps,
            watchdog: self.watchdog,
            cancel_grace: self.cancel_grace,
            stack_budget: self.stack_budget,
            main_task: self.main_task_setting.take(),
            keyboard_interrupt: self.keyboard_interrupt,
        }
    }

    /// A fresh root status (and Ctrl-C scope) for the next run. The old Ctrl-C scope is left
    /// first: a scope and its status point at each other until then, and would outlive the run.
    fn renew_root_status(&mut self) {
        if let Some(scope) = self.ki_scope.take() {
            scope.exit();
        }
        (self.root_status, self.ki_scope) = root_status(self.keyboard_interrupt);
    }

    /// The start of every run: what a fresh runtime would make now, made again for a run after
    /// the first (the root cancel status, a default clock), and the policy told the seed.
    fn begin_run(&mut self) {
        if self.used {
            self.renew_root_status();
            if self.default_clock {
                self.clock = Rc::new(SystemClock::new(self.seed));
            }
        }
        self.used = true;
        if let Some(policy) = &mut self.policy {
            policy.get_mut().start(self.seed);
        }
        self.started = RealInstant::now();
    }

    /// After a run that ended cleanly: drops everything the run left (`RunVar` values, dead
    /// timers, the reactor, stale queue entries) and resets every per-run counter, keeping the
    /// allocations, so the next run starts as on a fresh runtime.
    fn release(&mut self) {
        // Should a drop below panic, the next run rebuilds the runtime instead of trusting it.
        self.clean.set(false);
        debug_assert_eq!(self.live_tasks.get(), 0, "the teardown retired every task");
        self.slab.get_mut().clear();
        self.free.get_mut().clear();
        self.live_tasks.set(0);
        self.runq.get_mut().clear();
        *self.current_task.get_mut() = None;
        self.step_waker.set((std::ptr::null(), std::ptr::null()));
        *self.current_status.get_mut() = None;
        *self.pending_in.get_mut() = None;
        self.timers.get_mut().clear();
        self.traps.get_mut().clear();
        self.idle_waiters.get_mut().clear();
        self.next_task_id.set(1);
        self.next_seq.set(0);
        self.external_waits.set(0);
        self.foreign_blocked.get_mut().clear();
        self.system = std::cell::OnceCell::new();
        self.system_tasks.set(0);
        self.system_closed.set(false);
        *self.system_failure.get_mut() = None;
        *self.main_task.get_mut() = None;
        self.steps.set(0);
        self.watchdog_checked_at.set(0);
        self.stack_base.set(0);
        self.locals.clear();
        self.start_time.set(Instant::ZERO);
        #[cfg(unix)]
        {
            self.reactor = std::cell::OnceCell::new();
            self.io_polled_at.set(0);
        }
        self.reset_shared();
        self.clean.set(true);
    }

    /// The state other threads reach, as a fresh run has it. Kept when nothing outside the
    /// runtime holds it (no waker or `TrioToken` of the last run survives, so nothing from
    /// that run can reach the next); otherwise replaced, under a new runtime id.
    fn reset_shared(&mut self) {
        #[cfg(unix)]
        let had_reactor = self.shared.io_waker.get().is_some();
        #[cfg(not(unix))]
        let had_reactor = false;
        // The run's own reference, and one per pooled waker.
        let ours = 1 + self.waker_pool.get_mut().len();
        if !had_reactor && Arc::strong_count(&self.shared) == ours {
            self.shared.reset();
        } else {
            self.id = RUNTIME_IDS.fetch_add(1, Ordering::Relaxed);
            self.shared = Arc::new(Shared::new(self.id));
            self.waker_pool.get_mut().clear();
        }
    }

    /// The run's reactor, made on first use.
    ///
    /// # Errors
    ///
    /// If the operating system refuses a poller (out of file descriptors, say).
    #[cfg(unix)]
    pub(crate) fn reactor(&self) -> std::io::Result<&super::io::Reactor> {
        if let Some(reactor) = self.reactor.get() {
            return Ok(reactor);
        }
        let (reactor, waker) = super::io::Reactor::new()?;
        let _ = self.shared.io_waker.set(waker);
        Ok(self.reactor.get_or_init(|| reactor))
    }

    /// The reactor if the run made one already.
    #[cfg(unix)]
    pub(crate) fn existing_reactor(&self) -> Option<&super::io::Reactor> {
        self.reactor.get()
    }

    /// Polls the reactor without waiting if tasks have kept running long enough since the last
    /// look, and someone waits for a descriptor.
    #[cfg(unix)]
    fn poll_io_if_due(&self) {
        let Some(reactor) = self.reactor.get() else { return };
        let steps = self.steps.get();
        if reactor.has_waiters() && steps - self.io_polled_at.get() >= IO_POLL_EVERY {
            self.io_polled_at.set(steps);
            if let Err(error) = reactor.poll(Some(Duration::ZERO)) {
                panic!("trio: polling the operating system for I/O failed: {error}");
            }
        }
    }

    // ----- access from the rest of the crate -----

    /// Runs `f` with the current runtime.
    ///
    /// # Panics
    ///
    /// Outside `trio::run`, with a message naming the caller.
    #[track_caller]
    pub(crate) fn with<R>(f: impl FnOnce(&Runtime) -> R) -> R {
        Runtime::with_at(Location::caller(), f)
    }

    pub(crate) fn with_at<R>(location: &Location<'_>, f: impl FnOnce(&Runtime) -> R) -> R {
        if !CONTEXT.is_set() {
            outside_run(location);
        }
        CONTEXT.with(f)
    }

    /// Runs `f` if inside a run; for code (drops, wakes) that may also run outside one.
    pub(crate) fn with_opt(f: impl FnOnce(&Runtime)) {
        if CONTEXT.is_set() {
            CONTEXT.with(f);
        }
    }

    /// The clock's reading when the current run started, if called inside one.
    pub(crate) fn start_time_if_inside() -> Option<Instant> {
        if CONTEXT.is_set() { Some(CONTEXT.with(|rt| rt.start_time.get())) } else { None }
    }

    /// `true` if called inside a run on this thread.
    pub(crate) fn is_inside() -> bool {
        CONTEXT.is_set()
    }

    /// A wake on the run's own thread goes straight to the run queue.
    pub(crate) fn schedule_if_current(runtime_id: u64, key: TaskKey) -> bool {
        CONTEXT.is_set()
            && CONTEXT.with(|rt| {
                if rt.id == runtime_id {
                    rt.schedule(key);
                    true
                } else {
                    false
                }
            })
    }

    pub(crate) fn current_task(&self) -> Option<Task> {
        self.current_task.try_borrow().ok().and_then(|t| t.clone())
    }

    #[track_caller]
    pub(crate) fn current_task_or_panic(&self) -> Task {
        match &*self.current_task.borrow() {
            Some(task) => task.clone(),
            None => panic!(
                "this trio operation must be called from inside a task, not from an instrument, policy or clock callback"
            ),
        }
    }

    pub(crate) fn current_status(&self) -> Rc<CancelStatus> {
        self.current_status.borrow().clone().unwrap_or_else(|| self.root_status.clone())
    }

    pub(crate) fn set_current_status(&self, status: Option<Rc<CancelStatus>>) {
        *self.current_status.borrow_mut() = status;
    }

    pub(crate) fn now(&self) -> Instant {
        self.clock.current_time()
    }

    /// The run's clock.
    pub(crate) fn clock(&self) -> Rc<dyn Clock> {
        self.clock.clone()
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn next_seq(&self) -> u64 {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        seq
    }

    /// What other threads reach: wakes, the entry queue, tokens.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops the run at the next look, panicking in `run` with `failure` (the first one wins).
    pub(crate) fn note_system_failure(&self, failure: String) {
        self.system_failure.borrow_mut().get_or_insert(failure);
    }

    pub(crate) fn external_wait_started(&self) {
        self.external_waits.set(self.external_waits.get() + 1);
    }

    pub(crate) fn external_wait_finished(&self) {
        self.external_waits.set(self.external_waits.get().saturating_sub(1));
    }

    /// `started()` moved `task` out of `from`: if it is running in `from` right now, it
    /// continues in `to`.
    pub(crate) fn status_moved(&self, task: &Task, from: &Rc<CancelStatus>, to: &Rc<CancelStatus>) {
        let is_current = self.current_task.borrow().as_ref() == Some(task);
        if is_current {
            let mut current = self.current_status.borrow_mut();
            if current.as_ref().is_some_and(|c| Rc::ptr_eq(c, from)) {
                *current = Some(to.clone());
            }
        }
    }

    /// Runs `f` with the current task, without cloning its handle.
    pub(crate) fn with_current_task<R>(&self, f: impl FnOnce(&Task) -> R) -> R {
        match &*self.current_task.borrow() {
            Some(task) => f(task),
            None => no_task(),
        }
    }

    /// Runs `f` with the current cancel status, without cloning its handle.
    pub(crate) fn with_current_status<R>(&self, f: impl FnOnce(&Rc<CancelStatus>) -> R) -> R {
        match &*self.current_status.borrow() {
            Some(status) => f(status),
            None => f(&self.root_status),
        }
    }

    /// Wakes the current task through `waker`, which a schedule point was polled with: onto
    /// the run queue at once when it is the waker the task's step polls with (what waking it
    /// would do, without the trip through the waker), otherwise through `waker` itself — a
    /// combinator that polls its futures with wakers of its own must hear which one woke.
    pub(crate) fn wake_current(&self, waker: &std::task::Waker) {
        let (data, vtable) = self.step_waker.get();
        if std::ptr::eq(waker.data(), data) && std::ptr::eq(waker.vtable(), vtable) {
            self.with_current_task(|task| {
                // What `schedule` does once it has found the task in the slab: a task that is
                // running is live (a finished one has left the slab) unless dropped meanwhile.
                let core: &TaskCore = &task.0.core;
                if !core.finished.get() && self.enqueue(core) {
                    for instrument in &self.instruments {
                        instrument.task_scheduled(task);
                    }
                }
            });
        } else {
            waker.wake_by_ref();
        }
    }

    /// A cancel point of the current task: counts it, lets the policy inject a cancellation
    /// here, and says whether the code here is now cancelled.
    ///
    /// An injected cancellation models one arriving from outside — a deadline or a `cancel()`
    /// — so it cancels the innermost scope around this point, unless that scope is shielded:
    /// nothing outside can reach the body of a shielded scope, and the runtime's own shielded
    /// regions (`Condition::wait` re-acquiring its lock) rely on that.
    pub(crate) fn current_cancel_point(&self) -> bool {
        let current = self.current_task.borrow();
        let Some(task) = current.as_ref() else { no_task() };
        let counter = &task.0.core.cancel_points;
        let point = counter.get() + 1;
        counter.set(point);
        let Some(policy) = &self.policy else {
            // The default policy never injects: no call, no clone.
            drop(current);
            return self.with_current_status(|s| s.effectively_cancelled());
        };
        // The policy sees the task borrowed, not cloned: it is user code, but it cannot step a
        // task, the only thing that replaces the current one.
        let injected = self.with_current_status(|status| {
            if status.effectively_cancelled() {
                return None;
            }
            let scope = status.innermost_scope().filter(|scope| !scope.shield.get())?;
            policy.borrow_mut().inject_cancel(task, point).then(|| (scope, task.name().to_string()))
        });
        drop(current);
        if let Some((scope, name)) = injected {
            scope.cancel(CancelSource::Explicit, Some("injected by the schedule policy".into()), Some(name));
        }
        self.with_current_status(|status| status.effectively_cancelled())
    }

    /// A choice a library asks for (`lowlevel::choose`): the policy's pick, or 0 — the default —
    /// without a policy or with a single option.
    pub(crate) fn choose(&self, choice: &super::policy::Choice<'_>) -> usize {
        match &self.policy {
            Some(policy) if choice.len() > 1 => {
                let pick = policy.borrow_mut().choose(choice);
                assert!(pick < choice.len(), "SchedulePolicy::choose returned {pick} for {} options", choice.len());
                pick
            }
            _ => 0,
        }
    }

    /// Panics, naming the limit, if the current task's poll has used more stack than its budget.
    pub(crate) fn check_stack(&self) {
        let Some(budget) = self.stack_budget else { return };
        let marker = 0u8;
        let used = self.stack_base.get().saturating_sub(std::ptr::addr_of!(marker) as usize);
        if used > budget {
            let depth = self.current_status().depth();
            panic!(
                "this task's poll used {used} bytes of stack, past its stack budget of {budget} bytes, at {depth} nested \
                 cancel scopes and nurseries: nesting needs stack in proportion (the futures are the program's own \
                 recursion); nest less, or run on a thread with a bigger stack and raise Builder::stack_budget"
            );
        }
    }

    /// The `Cancelled` to return here: it carries the cause of the current status.
    pub(crate) fn cancelled_here(&self) -> Cancelled {
        self.with_current_status(|status| Cancelled::with_cause(status.cause()))
    }

    /// A scope body returned `Pending` in `status`; the first (innermost) one of the step is
    /// where the task waits.
    pub(crate) fn note_pending_in(&self, status: &Rc<CancelStatus>) {
        let mut pending = self.pending_in.borrow_mut();
        if pending.is_none() && self.current_task.borrow().is_some() {
            *pending = Some(status.clone());
        }
    }

    // ----- timers -----

    pub(crate) fn add_sleep_timer(&self, deadline: Instant, unparker: Unparker<()>) {
        let key = (deadline, self.next_seq());
        self.timers.borrow_mut().push(key, TimerEntry::Sleep(unparker));
    }

    /// A sleep that registered a timer is over (it fired, was cancelled, or was dropped); its
    /// unparker already says so, and the entry leaves the heap lazily.
    pub(crate) fn forget_timer(&self) {
        self.timers.borrow_mut().forget();
    }

    /// The earliest live deadline, dropping dead entries on the way.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.borrow_mut().first().map(|key| key.0)
    }

    /// Fires every timer due at `now`. Timers due at the same instant fire in the order the
    /// policy picks (creation order by default). Returns whether anything fired.
    fn expire_timers(&self, now: Instant) -> bool {
        let mut fired = false;
        // The buffers of the last call, taken out (firing may reach the runtime) and put back
        // empty: no allocation per instant once they have grown.
        let (mut due, mut infos) = std::mem::take(&mut *self.timer_scratch.borrow_mut());
        debug_assert!(due.is_empty() && infos.is_empty(), "the last call left its buffers empty");
        loop {
            {
                let mut timers = self.timers.borrow_mut();
                let Some((deadline, _)) = timers.first() else { break };
                if deadline > now {
                    break;
                }
                timers.take_due_at(deadline, &mut due);
            }
            // Fire them in the order the policy picks: in creation order, without asking, under
            // the default policy (linear in the number due); otherwise one pick at a time from
            // the ones left, described once.
            match &self.policy {
                Some(policy) if due.len() > 1 => {
                    infos.extend(due.iter().map(|((deadline, seq), entry)| TimerInfo {
                        deadline: *deadline,
                        seq: *seq,
                        kind: match entry {
                            TimerEntry::Scope(_) => TimerKind::Deadline,
                            TimerEntry::Sleep(_) => TimerKind::Sleep,
                        },
                    }));
                    while !due.is_empty() {
                        let pick = if due.len() > 1 { policy.borrow_mut().pick_timer(&infos) } else { 0 };
                        assert!(
                            pick < due.len(),
                            "SchedulePolicy::pick_timer returned {pick} for {} timers",
                            due.len()
                        );
                        infos.remove(pick);
                        fired |= fire_timer(due.remove(pick).1);
                    }
                }
                _ => {
                    for (_, entry) in due.drain(..) {
                        fired |= fire_timer(entry);
                    }
                }
            }
        }
        *self.timer_scratch.borrow_mut() = (due, infos);
        fired
    }

    // ----- idle waiters -----

    pub(crate) fn add_idle_waiter(&self, cushion: Duration, unparker: Unparker<()>) -> (Duration, u64) {
        let key = (cushion, self.next_seq());
        self.idle_waiters.borrow_mut().insert(key, unparker);
        key
    }

    pub(crate) fn remove_idle_waiter(&self, key: (Duration, u64)) {
        self.idle_waiters.borrow_mut().remove(&key);
    }

    fn min_idle_cushion(&self) -> Option<Duration> {
        let mut waiters = self.idle_waiters.borrow_mut();
        loop {
            let (key, live) = {
                let (key, unparker) = waiters.first_key_value()?;
                (*key, unparker.is_waiting())
            };
            if live {
                return Some(key.0);
            }
            waiters.remove(&key);
        }
    }

    /// Wakes every idle waiter with the smallest cushion (Trio wakes them together).
    fn wake_idle_waiters(&self, cushion: Duration) {
        let woken: Vec<Unparker<()>> = {
            let mut waiters = self.idle_waiters.borrow_mut();
            let mut woken = Vec::new();
            while let Some(entry) = waiters.first_entry() {
                if entry.key().0 != cushion {
                    break;
                }
                woken.push(entry.remove());
            }
            woken
        };
        for unparker in woken {
            let _ = unparker.unpark(());
        }
    }

    // ----- tasks -----

    pub(crate) fn spawn_task<F>(
        &self,
        future: F,
        name: TaskName,
        location: &'static Location<'static>,
        base_status: Rc<CancelStatus>,
        exit: ExitTarget,
        parent: Option<TaskId>,
    ) -> Task
    where
        F: Future<Output = Result<(), Error>> + 'static,
    {
        let task = self.new_task(FutureSlot::new(future), name, location, base_status, exit, parent, false);
        self.schedule(task.key());
        task
    }

    #[allow(clippy::too_many_arguments, reason = "one private constructor with every field of a task")]
    fn new_task<B: TaskBody + 'static>(
        &self,
        body: B,
        name: TaskName,
        location: &'static Location<'static>,
        base_status: Rc<CancelStatus>,
        exit: ExitTarget,
        parent: Option<TaskId>,
        is_main: bool,
    ) -> Task {
        let id = TaskId(self.next_task_id.get());
        self.next_task_id.set(id.0 + 1);
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        let index = match self.free.borrow_mut().pop() {
            Some(index) => index,
            None => {
                let mut slab = self.slab.borrow_mut();
                slab.push(None);
                u32::try_from(slab.len() - 1).expect("fewer than 2^32 live tasks")
            }
        };
        let key = TaskKey { index, generation };
        if matches!(exit, ExitTarget::System) {
            self.system_tasks.set(self.system_tasks.get() + 1);
        }
        let core = TaskCore {
            key,
            id,
            name_source: name,
            name: std::cell::OnceCell::new(),
            location,
            parent,
            is_main,
            scheduled: Cell::new(false),
            finished: Cell::new(false),
            foreign: Cell::new(false),
            base_status: RefCell::new(base_status),
            waits: RefCell::new(WaitList::default()),
            exit: RefCell::new(exit),
            waker: Cell::new(None),
            cancel_points: Cell::new(0),
            schedule_points: Cell::new(0),
            sites: Default::default(),
            exit_hooks: RefCell::new(Vec::new()),
            nursery_slot: Cell::new(usize::MAX),
            next_exit_hook: Cell::new(0),
        };
        // One allocation: the bookkeeping and the future together.
        let task = Task(Rc::new(TaskCell { core, body }));
        self.slab.borrow_mut()[index as usize] = Some(task.clone());
        self.live_tasks.set(self.live_tasks.get() + 1);
        for instrument in &self.instruments {
            instrument.task_spawned(&task);
        }
        task
    }

    /// Whether the run's loop has ended, so that the system nursery takes no new task.
    pub(crate) fn system_closed(&self) -> bool {
        self.system_closed.get()
    }

    pub(crate) fn spawn_system<F>(&self, future: F, name: TaskName, location: &'static Location<'static>) -> Task
    where
        F: Future<Output = Result<(), Error>> + 'static,
    {
        assert!(
            !self.system_closed.get(),
            "spawn_system_task at {location}: the run's loop has ended (its tasks finished, or it stopped on a \
             deadlock, a failure or a limit), so the system nursery is closed to new arrivals and the task \
             would never run; spawn it while the run is still going"
        );
        let parent = self.main_task.borrow().as_ref().map(Task::id);
        let system = self.system.get_or_init(|| NurseryInner::new(&self.root_status, None, Location::caller()));
        let status = system.status.clone();
        self.spawn_task(future, name, location, status, ExitTarget::System, parent)
    }

    fn task_by_key(&self, key: TaskKey) -> Option<Task> {
        match self.slab.borrow().get(key.index as usize) {
            Some(Some(task)) if task.key() == key => Some(task.clone()),
            _ => None,
        }
    }

    pub(crate) fn schedule(&self, key: TaskKey) {
        let scheduled = {
            let slab = self.slab.borrow();
            match slab.get(key.index as usize).and_then(Option::as_ref).map(|task| (task, &task.0.core)) {
                Some((task, core)) if core.key == key => {
                    debug_assert!(!core.finished.get(), "a finished task has no slot to be scheduled from");
                    (self.enqueue(core) && !self.instruments.is_empty()).then(|| task.clone())
                }
                _ => None,
            }
        };
        if let Some(task) = scheduled {
            for instrument in &self.instruments {
                instrument.task_scheduled(&task);
            }
        }
    }

    /// Puts a live task on the run queue unless it is there already; `true` if it did.
    fn enqueue(&self, core: &TaskCore) -> bool {
        if core.scheduled.get() {
            return false;
        }
        core.scheduled.set(true);
        self.runq.borrow_mut().push_back(core.key);
        true
    }

    fn remove_from_slab(&self, task: &Task) {
        let key = task.key();
        let mut slab = self.slab.borrow_mut();
        if let Some(slot) = slab.get_mut(key.index as usize)
            && slot.as_ref().is_some_and(|t| t.key() == key)
        {
            *slot = None;
            self.free.borrow_mut().push(key.index);
            self.live_tasks.set(self.live_tasks.get() - 1);
        }
        debug_assert_eq!(
            self.live_tasks.get() + self.free.borrow().len(),
            slab.len(),
            "every slot is either live or free"
        );
    }

    /// Takes a task out of the run: marks it finished, frees its slot, runs its exit hooks,
    /// tells the instruments, and returns where its outcome would go. `None` if it already was.
    fn retire(&self, task: &Task) -> Option<ExitTarget> {
        if task.0.finished.replace(true) {
            return None;
        }
        self.remove_from_slab(task);
        if let Some(wakers) = task.0.waker.take() {
            self.recycle_waker(wakers);
        }
        task.0.waits.borrow_mut().clear();
        let spare = task.run_exit_hooks();
        if spare.capacity() > 0 {
            let mut pool = self.spare_exit_hooks.borrow_mut();
            if pool.len() < SPARE_EXIT_HOOK_LISTS {
                pool.push(spare);
            }
        }
        for instrument in &self.instruments {
            instrument.task_exited(task);
        }
        let exit = std::mem::replace(&mut *task.0.exit.borrow_mut(), ExitTarget::Detached);
        if let ExitTarget::System = exit {
            self.system_tasks.set(self.system_tasks.get() - 1);
        }
        Some(exit)
    }

    /// The task exited: report its outcome where it belongs.
    fn finish_task(&self, task: &Task, outcome: Outcome) {
        match self.retire(task) {
            Some(ExitTarget::Nursery(nursery)) => nursery.child_exited(task, outcome),
            Some(ExitTarget::Start(start)) => start.child_exited(outcome),
            Some(ExitTarget::System) => {
                let failure = match outcome {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) if error.is_cancelled() => None,
                    Ok(Err(error)) => Some(format!("system task `{}` failed: {error:?}", task.name())),
                    Err(payload) => {
                        Some(format!("system task `{}` panicked: {}", task.name(), panic_message(payload.as_ref())))
                    }
                };
                if let Some(failure) = failure {
                    self.note_system_failure(failure);
                }
            }
            Some(ExitTarget::Main | ExitTarget::Detached) | None => {}
        }
    }

    /// Drops a task without running it further (its nursery's future was dropped).
    pub(crate) fn drop_task(&self, task: &Task) {
        if task.0.finished.get() {
            return;
        }
        // The future goes first, as for a task that finishes: a guard inside it releases its
        // lock before the exit hooks would break the lock for an owner that is gone. (Not
        // while the task is being polled: `step` drops the future when the poll returns.)
        task.0.body.drop_future();
        self.retire(task);
    }

    /// The waker for a task's poll: the one it has, or one from the pool, or a new one.
    fn waker_for(&self, task: &Task) -> TaskWakers {
        if let Some(wakers) = task.0.waker.take() {
            return wakers;
        }
        match self.waker_pool.borrow_mut().pop() {
            Some(wakers) => {
                wakers.readdress(task.key());
                wakers
            }
            None => TaskWakers::new(task.key(), &self.shared),
        }
    }

    /// An emptied exit-hook list a finished task left, if any.
    pub(crate) fn spare_exit_hooks(&self) -> Option<super::task::ExitHooks> {
        let spare = self.spare_exit_hooks.borrow_mut().pop();
        debug_assert!(spare.as_ref().is_none_or(Vec::is_empty), "spare lists are empty");
        spare
    }

    /// A finished task's waker goes back to the pool, unless someone still holds it (a wake
    /// from there then finds the task gone; it is not lent again).
    fn recycle_waker(&self, wakers: TaskWakers) {
        if !wakers.held_elsewhere() {
            self.waker_pool.borrow_mut().push(wakers);
        }
    }

    /// Polls one task once.
    fn step<M: Future>(
        &self,
        key: TaskKey,
        main: &mut Pin<&mut Option<M>>,
        output: &mut Option<M::Output>,
    ) -> StepResult {
        let Some(task) = self.task_by_key(key) else { return StepResult::Continue };
        // The bookkeeping, reached once: through `Task`, every access would first work out
        // where the core sits behind the `dyn` body's alignment.
        let core: &TaskCore = &task.0.core;
        debug_assert!(core.scheduled.get(), "a task leaves the run queue only to be stepped");
        // The main task's future lives in `run`; a child's in its own allocation.
        if core.is_main {
            if main.is_none() {
                return StepResult::Continue;
            }
        } else if !task.0.body.has_future() {
            return StepResult::Continue;
        }
        core.scheduled.set(false);
        core.foreign.set(false);
        *self.pending_in.borrow_mut() = None;
        let marker = 0u8;
        self.stack_base.set(std::ptr::addr_of!(marker) as usize);
        *self.current_task.borrow_mut() = Some(task.clone());
        *self.current_status.borrow_mut() = Some(core.base_status.borrow().clone());
        for instrument in &self.instruments {
            instrument.before_task_step(&task);
        }
        let wakers = self.waker_for(&task);
        self.step_waker.set((wakers.waker.data(), wakers.waker.vtable()));
        let mut cx = Context::from_waker(&wakers.waker);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| match main.as_mut().as_pin_mut() {
            Some(future) if core.is_main => future.poll(&mut cx).map(|value| {
                *output = Some(value);
                Ok(())
            }),
            _ => task.0.body.poll_body(&mut cx).expect("checked above: the future is there"),
        }));
        *self.current_status.borrow_mut() = None;
        self.step_waker.set((std::ptr::null(), std::ptr::null()));
        let outcome = match result {
            Ok(Poll::Pending) => {
                self.end_step(&task);
                if core.finished.get() {
                    // Dropped with its nursery while it ran: drop the future now.
                    task.0.body.drop_future();
                    self.recycle_waker(wakers);
                } else {
                    core.waker.set(Some(wakers));
                }
                if !core.scheduled.get() && !core.finished.get() && !core.waits.borrow().any_waiting() {
                    core.foreign.set(true);
                    let status =
                        self.pending_in.borrow_mut().take().unwrap_or_else(|| core.base_status.borrow().clone());
                    self.foreign_blocked.borrow_mut().insert(key, ForeignWait { status, cancelled_since: None });
                }
                return StepResult::Continue;
            }
            Ok(Poll::Ready(result)) => Ok(result),
            Err(payload) => Err(payload),
        };
        // Done: the future goes before the task's exit is reported.
        task.0.body.drop_future();
        core.waker.set(Some(wakers));
        // As in Trio, a task's exit is part of its last step: `task_exited` (and the exit
        // hooks) run while it is still the current task, before `after_task_step`.
        if core.is_main {
            main.set(None);
            self.finish_task(&task, Ok(Ok(())));
            self.end_step(&task);
            return StepResult::MainDone(outcome.err());
        }
        self.finish_task(&task, outcome);
        self.end_step(&task);
        StepResult::Continue
    }

    /// Ends the step of `task`: the instruments hear of it while the task is still current
    /// (Trio runs `after_task_step` in the task's context), then it stops being current.
    fn end_step(&self, task: &Task) {
        for instrument in &self.instruments {
            instrument.after_task_step(task);
        }
        *self.current_task.borrow_mut() = None;
        self.steps.set(self.steps.get() + 1);
    }

    // ----- the loop -----

    fn run_main<F: Future>(
        &self,
        mut main: Pin<&mut Option<F>>,
        (name, location): (TaskName, &'static Location<'static>),
    ) -> Result<F::Output, RunError> {
        for instrument in &self.instruments {
            instrument.before_run();
        }
        self.clean.set(false);
        self.clock.start_clock();
        self.start_time.set(self.clock.current_time());
        let mut output = None;
        let main_task = self.new_task(NoFuture, name, location, self.root_status.clone(), ExitTarget::Main, None, true);
        *self.main_task.borrow_mut() = Some(main_task.clone());
        self.schedule(main_task.key());

        #[cfg(unix)]
        if self.ki_scope.is_some() {
            // Without the signal thread Ctrl-C keeps its default action; nothing else changes.
            let _ = crate::signal::start_keyboard_interrupt(self.id, KiHandle(self.shared.clone()));
        }
        let result = self.run_loop(&mut main, &mut output);
        self.system_closed.set(true);
        #[cfg(unix)]
        if self.ki_scope.is_some() {
            crate::signal::stop_keyboard_interrupt(self.id);
        }
        // Callbacks queued before the loop ended still run; later ones are refused.
        self.close_entry_queue();
        let result = match result {
            Ok(_) if self.shared.ki_delivered.load(Ordering::Acquire) => {
                Err(self.stop(RunErrorKind::KeyboardInterrupt, false))
            }
            other => other,
        };

        // Teardown: drop the main future first (its nurseries drop their children), then
        // anything left (system tasks, tasks of forgotten nurseries), in id order.
        main.set(None);
        let leftovers: Vec<Task> = self.slab.borrow().iter().flatten().cloned().collect();
        let mut leftovers = leftovers;
        leftovers.sort_by_key(Task::id);
        for task in leftovers {
            self.drop_task(&task);
        }
        for instrument in &self.instruments {
            instrument.after_run();
        }
        self.clean.set(true);
        match result {
            Ok(None) => {}
            Ok(Some(payload)) => std::panic::resume_unwind(payload),
            Err(error) => return Err(error),
        }
        if let Some(failure) = self.system_failure.borrow_mut().take() {
            panic!("{failure}");
        }
        Ok(output.expect("the main task finished"))
    }

    fn run_loop<M: Future>(
        &self,
        main: &mut Pin<&mut Option<M>>,
        output: &mut Option<M::Output>,
    ) -> Result<Option<Box<dyn std::any::Any + Send>>, RunError> {
        let mut main_done = false;
        loop {
            if main_done {
                if self.system_tasks.get() == 0 {
                    return Ok(None);
                }
                if let Some(system) = self.system.get() {
                    system.scope.cancel(CancelSource::Shutdown, None, None);
                }
            }
            if self.system_failure.borrow().is_some() {
                return Ok(None);
            }

            // 1. Wait if there is nothing to run.
            let mut primed = Primed::No;
            let mut events = self.drain_injected();
            if self.system_failure.borrow().is_some() {
                // A `run_sync_soon` callback just failed: stop before judging the run idle.
                return Ok(None);
            }
            if self.runq.borrow().is_empty() {
                let next_deadline = self.next_deadline();
                // Waits in the reactor are outside the runtime like any other (no autojump, no
                // deadlock), but the loop can look at them: an idle waiter wakes once the
                // poller had nothing for it during the cushion (Trio's rule), so I/O already
                // in flight is delivered first.
                let io_waits = self.io_waits();
                let beyond_io = self.external_waits.get() > io_waits
                    || self.shared.tokens_outside() > 0
                    || self.foreign_outstanding();
                let external = beyond_io || io_waits > 0;
                let mut timeout = next_deadline.and_then(|d| self.clock.deadline_to_sleep_time(d));
                let idle_cushion = self.min_idle_cushion();
                if !beyond_io
                    && let Some(cushion) = idle_cushion
                    && timeout.is_none_or(|t| cushion < t)
                {
                    primed = Primed::Idle(cushion);
                    timeout = Some(cushion);
                }
                if !external {
                    // As in Trio, a task waiting for idleness holds autojump off whatever its
                    // cushion: it will be woken without the clock jumping.
                    if idle_cushion.is_none()
                        && next_deadline.is_some()
                        && let Some(threshold) = self.clock.autojump_threshold()
                        && timeout.is_none_or(|t| threshold < t)
                    {
                        primed = Primed::Autojump;
                        timeout = Some(threshold);
                    }
                    if timeout.is_none() {
                        // Another thread may have woken a task after the drain above and then
                        // let go of its waker, so that nothing looked outstanding: its wake is
                        // queued by then. Look once more before judging the run deadlocked.
                        if self.drain_injected() || !self.runq.borrow().is_empty() {
                            continue;
                        }
                        return Err(self.stop(RunErrorKind::Deadlock, next_deadline.is_some()));
                    }
                }
                if external && let Some(left) = self.check_uncancellable()? {
                    timeout = Some(timeout.map_or(left, |t| t.min(left)));
                }
                self.wait_for_events(timeout)?;
                events |= self.drain_injected();
            } else {
                #[cfg(unix)]
                self.poll_io_if_due();
            }

            // 2. Expire deadlines.
            if !self.timers.borrow().is_empty() && self.expire_timers(self.clock.current_time()) {
                primed = Primed::No;
            }

            // 3. Still idle: wake idle waiters, or autojump.
            if !events && self.runq.borrow().is_empty() {
                match primed {
                    Primed::No => {}
                    Primed::Idle(cushion) => self.wake_idle_waiters(cushion),
                    Primed::Autojump => {
                        if let Some(deadline) = self.next_deadline() {
                            self.clock.autojump(deadline);
                        }
                    }
                }
            }

            // 4. Run one batch.
            let mut batch = self.runq.borrow().len();
            while batch > 0 {
                let key = {
                    let runq = self.runq.borrow();
                    let index = match &self.policy {
                        Some(policy) if runq.len() > 1 => {
                            let slab = self.slab.borrow();
                            let view = RunnableTasks::new(&runq, batch, &slab);
                            let index = policy.borrow_mut().pick_task(&view);
                            assert!(
                                index < runq.len(),
                                "SchedulePolicy::pick_task returned {index} for {} runnable tasks",
                                runq.len()
                            );
                            index
                        }
                        _ => 0,
                    };
                    drop(runq);
                    if index < batch {
                        batch -= 1;
                    }
                    let mut runq = self.runq.borrow_mut();
                    if index == 0 { runq.pop_front() } else { runq.remove(index) }.expect("index checked")
                };
                match self.step(key, main, output) {
                    StepResult::Continue => {}
                    StepResult::MainDone(Some(payload)) => return Ok(Some(payload)),
                    StepResult::MainDone(None) => main_done = true,
                }
                if let Some(limit) = self.max_steps
                    && self.steps.get() >= limit
                {
                    return Err(self.stop(RunErrorKind::StepLimit(limit), false));
                }
                if let Some(limit) = self.watchdog {
                    // On steps elapsed since the last look, so no rhythm of steps can skip it.
                    let steps = self.steps.get();
                    if steps - self.watchdog_checked_at.get() >= WATCHDOG_EVERY {
                        self.watchdog_checked_at.set(steps);
                        if self.started.elapsed() >= limit {
                            return Err(self.stop(RunErrorKind::Watchdog(limit), false));
                        }
                    }
                }
            }
        }
    }

    fn drain_injected(&self) -> bool {
        if !self.shared.pending.swap(false, Ordering::Acquire) {
            return false;
        }
        let keys = std::mem::take(&mut *self.shared.injected.lock().unwrap_or_else(|e| e.into_inner()));
        let any = !keys.is_empty();
        for key in keys {
            self.schedule(key);
        }
        let ki = self.shared.ki_pending.swap(false, Ordering::AcqRel) && self.deliver_keyboard_interrupt();
        self.run_entry_jobs() || any || ki
    }

    /// Ctrl-C: cancels every scope of the run, once.
    fn deliver_keyboard_interrupt(&self) -> bool {
        let Some(scope) = &self.ki_scope else { return false };
        if self.shared.ki_delivered.swap(true, Ordering::AcqRel) {
            return false;
        }
        scope.cancel(CancelSource::KeyboardInterrupt, None, None);
        true
    }

    /// How many tasks wait in the reactor.
    fn io_waits(&self) -> usize {
        #[cfg(unix)]
        if let Some(reactor) = self.reactor.get() {
            return reactor.waiting();
        }
        0
    }

    /// Whether a task blocked on a foreign future may still be woken: someone holds its waker.
    fn foreign_outstanding(&self) -> bool {
        let mut blocked = self.foreign_blocked.borrow_mut();
        let mut outstanding = false;
        blocked.retain(|key, _| match self.task_by_key(*key) {
            Some(task) if task.0.foreign.get() => {
                outstanding |= waker_held_elsewhere(&task);
                true
            }
            _ => false,
        });
        outstanding
    }

    /// Tasks blocked on a foreign future inside a cancelled scope cannot see the
    /// cancellation. Starts their grace period when first seen; fails the run once one has
    /// run out; otherwise says how long until the first one would.
    fn check_uncancellable(&self) -> Result<Option<Duration>, RunError> {
        let Some(grace) = self.cancel_grace else { return Ok(None) };
        let mut left: Option<Duration> = None;
        let mut expired = false;
        for (key, wait) in self.foreign_blocked.borrow_mut().iter_mut() {
            if !wait.status.effectively_cancelled() || self.task_by_key(*key).is_none_or(|t| !t.0.foreign.get()) {
                continue;
            }
            let since = *wait.cancelled_since.get_or_insert_with(RealInstant::now);
            let elapsed = since.elapsed();
            if elapsed >= grace {
                expired = true;
            } else {
                let rest = grace - elapsed;
                left = Some(left.map_or(rest, |l| l.min(rest)));
            }
        }
        if expired {
            return Err(self.stop(RunErrorKind::Uncancellable(grace), false));
        }
        Ok(left)
    }

    /// Foreign-blocked tasks whose cancel status is cancelled, in id order.
    fn uncancellable_tasks(&self) -> Vec<TaskId> {
        let mut ids: Vec<TaskId> = self
            .foreign_blocked
            .borrow()
            .iter()
            .filter(|(_, wait)| wait.status.effectively_cancelled())
            .filter_map(|(key, _)| self.task_by_key(*key))
            .filter(|task| task.0.foreign.get() && !task.0.scheduled.get())
            .map(|task| task.id())
            .collect();
        ids.sort();
        ids
    }

    /// Waits for at most `timeout` (forever if `None`), or until a wake arrives from another
    /// thread: in the reactor's poller once the run has one (then I/O events wake tasks too),
    /// otherwise parking the thread.
    fn wait_for_events(&self, timeout: Option<Duration>) -> Result<(), RunError> {
        let mut timeout = timeout;
        if let Some(limit) = self.watchdog {
            let elapsed = self.started.elapsed();
            if elapsed >= limit {
                return Err(self.stop(RunErrorKind::Watchdog(limit), false));
            }
            let left = limit - elapsed;
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        for instrument in &self.instruments {
            instrument.before_io_wait(timeout);
        }
        #[cfg(unix)]
        if let Some(reactor) = self.reactor.get() {
            // Pairs with the fence in `Shared::inject`: either the injector sees the reactor's
            // waker, or this sees `pending`.
            std::sync::atomic::fence(Ordering::SeqCst);
            let timeout = if self.shared.pending.load(Ordering::SeqCst) { Some(Duration::ZERO) } else { timeout };
            self.io_polled_at.set(self.steps.get());
            if let Err(error) = reactor.poll(timeout) {
                panic!("trio: waiting for I/O in the operating system's poller failed: {error}");
            }
            for instrument in &self.instruments {
                instrument.after_io_wait(timeout);
            }
            return Ok(());
        }
        if !self.shared.pending.load(Ordering::Acquire) {
            match timeout {
                Some(t) if t.is_zero() => {}
                Some(t) => std::thread::park_timeout(t),
                None => std::thread::park(),
            }
        }
        for instrument in &self.instruments {
            instrument.after_io_wait(timeout);
        }
        Ok(())
    }

    /// Builds the report for a run that is being stopped.
    fn stop(&self, kind: RunErrorKind, frozen_clock: bool) -> RunError {
        // Only a true deadlock stops every task for good: waits may then say nothing can wake them.
        let deadlocked = kind == RunErrorKind::Deadlock && !frozen_clock;
        RunError { kind, report: self.report(frozen_clock, deadlocked) }
    }

    fn report(&self, frozen_clock: bool, deadlocked: bool) -> RunReport {
        let running = self.current_task();
        let uncancellable = self.uncancellable_tasks();
        let mut tasks: Vec<Task> = self.slab.borrow().iter().flatten().cloned().collect();
        tasks.sort_by_key(Task::id);
        let tasks = tasks
            .iter()
            .map(|task| {
                let running = running.as_ref() == Some(task);
                let mut waiting_on = {
                    // A task whose waker someone else holds (a foreign future joined with a
                    // trio wait) may still be woken from there: then no wait claims that
                    // nothing can ever wake it.
                    let waits = task.0.waits.borrow();
                    if deadlocked && !waker_held_beyond_its_waits(task, &waits) {
                        waits.deadlock_descriptions()
                    } else {
                        waits.live_descriptions()
                    }
                };
                if waiting_on.is_empty() && !task.0.scheduled.get() && !running {
                    if uncancellable.contains(&task.id()) {
                        waiting_on.push(
                            "a future from outside trio, inside a cancelled scope: it cannot see the cancellation \
                             — wrap it in trio::cancellable(...)"
                                .to_string(),
                        );
                    } else if waker_held_elsewhere(task) {
                        waiting_on.push(
                            "a future from outside trio (its waker is held elsewhere: by another thread or object \
                             — or by the task's own future, and then nothing will ever wake it)"
                                .to_string(),
                        );
                    } else {
                        waiting_on.push(
                            "a future from outside trio that dropped its waker: nothing can ever wake it".to_string(),
                        );
                    }
                }
                TaskReport {
                    id: task.id(),
                    name: task.name().to_string(),
                    spawned_at: task.spawn_location().to_string(),
                    parent: task.parent(),
                    waiting_on,
                    runnable: task.0.scheduled.get(),
                    running,
                }
            })
            .collect();
        RunReport { now: self.clock.current_time(), steps: self.steps.get(), tasks, frozen_clock, uncancellable }
    }

    pub(crate) fn statistics(&self) -> RunStatistics {
        RunStatistics {
            tasks_living: self.live_tasks.get(),
            tasks_runnable: self.runq.borrow().len(),
            next_deadline: self.next_deadline(),
            external_waits: self.external_waits.get(),
            steps: self.steps.get(),
            run_sync_soon_queue_size: self.shared.entry_queue_len(),
            trio_tokens_held: self.shared.tokens_outside(),
        }
    }

    pub(crate) fn snapshot(&self) -> RunReport {
        self.report(false, false)
    }

    pub(crate) fn root_task(&self) -> Option<Task> {
        self.main_task.borrow().clone()
    }

    pub(crate) fn new_idle_slot(&self) -> (super::wait::ParkSlot<()>, Unparker<()>) {
        make_slot(What::Text("wait_all_tasks_blocked".into()), false, true)
    }
}

enum StepResult {
    Continue,
    MainDone(Option<Box<dyn std::any::Any + Send>>),
}

/// Numbers about the current run (Trio's `current_statistics()`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async {
///             trio::sleep(Duration::from_secs(60)).await?;
///             Ok(())
///         });
///         trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
///         let stats = trio::lowlevel::current_statistics();
///         assert_eq!(stats.tasks_living, 2);
///         assert_eq!(stats.tasks_runnable, 0);
///         assert!(stats.next_deadline.is_some());
///         assert_eq!(stats.external_waits, 0);
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunStatistics {
    /// Tasks alive, the main task included.
    pub tasks_living: usize,
    /// Tasks waiting to be stepped.
    pub tasks_runnable: usize,
    /// The earliest pending deadline or sleep.
    pub next_deadline: Option<Instant>,
    /// Waits on something outside the runtime still pending.
    pub external_waits: usize,
    /// Task steps so far.
    pub steps: u64,
    /// Callbacks queued with [`TrioToken::run_sync_soon`](crate::lowlevel::TrioToken::run_sync_soon)
    /// and not yet run (Trio's `run_sync_soon_queue_size`).
    pub run_sync_soon_queue_size: usize,
    /// [`TrioToken`](crate::lowlevel::TrioToken)s alive: while any is, something outside the run
    /// may still call into it.
    pub trio_tokens_held: usize,
}

/// A run's root cancel status and, with Ctrl-C handling on (by default: on the main thread),
/// the shielded scope that only Ctrl-C cancels.
fn root_status(keyboard_interrupt: Option<bool>) -> (Rc<CancelStatus>, Option<Rc<super::cancel::ScopeState>>) {
    let ki_enabled = cfg!(unix) && keyboard_interrupt.unwrap_or_else(|| std::thread::current().name() == Some("main"));
    if ki_enabled {
        let (scope, status) = super::cancel::ScopeState::new_entered(&CancelStatus::root(), Location::caller());
        scope.shield.set(true);
        (status, Some(scope))
    } else {
        (CancelStatus::root(), None)
    }
}

/// A timer taken out of the heap to fire.
type DueTimer = (TimerKey, TimerEntry);

/// Fires one due timer; `true` if it woke something (a sleep still waiting, a live scope).
fn fire_timer(entry: TimerEntry) -> bool {
    match entry {
        TimerEntry::Sleep(unparker) => unparker.unpark(()).is_ok(),
        TimerEntry::Scope(scope) => match scope.upgrade() {
            Some(scope) => {
                scope.deadline_fired();
                true
            }
            None => false,
        },
    }
}

/// The main task's default name: the future's type, or `main` for an async block.
fn main_name<F>(location: &'static Location<'static>) -> (TaskName, &'static Location<'static>) {
    let name = name_from_type(std::any::type_name::<F>(), location);
    (TaskName::Given(if name.contains('@') { "main".to_string() } else { name }), location)
}

/// Whether anyone but the runtime holds the task's waker (a task not polled yet has none).
fn waker_held_elsewhere(task: &Task) -> bool {
    let wakers = task.0.waker.take();
    let held = wakers.as_ref().is_some_and(TaskWakers::held_elsewhere);
    task.0.waker.set(wakers);
    held
}

/// Whether someone holds the task's waker besides the run and the task's own parked trio
/// waits: a foreign future, another thread, a combinator's waker.
fn waker_held_beyond_its_waits(task: &Task, waits: &super::wait::WaitList) -> bool {
    let wakers = task.0.waker.take();
    let held = wakers.as_ref().is_some_and(|w| w.clones_elsewhere() > waits.wakers_held(&w.waker));
    task.0.waker.set(wakers);
    held
}

#[track_caller]
fn no_task() -> ! {
    panic!("this trio operation must be called from inside a task, not from an instrument, policy or clock callback")
}

#[track_caller]
fn outside_run(location: &Location<'_>) -> ! {
    panic!(
        "trio: called outside of trio::run (at {location}): trio primitives only work inside a run; \
         wrap your code in trio::run(async {{ ... }}) or use #[trio_test]"
    );
}
