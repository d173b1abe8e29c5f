//! The engine: runs schedules. One schedule is one run of the runtime, built from the
//! configuration, a seed and a policy, with the test body and its fixtures as the main task;
//! what comes out is how it ended and what it recorded (a summary always, the whole trace on
//! request).
//!
//! The second of the testkit's three layers: it depends on the configuration only, never on
//! how failures are reported.
//!
//! - [`Runner`] runs schedules on one thread, all on one reused runtime (`trio::Runner`): each
//!   schedule reconfigures it (seed, policy, clock, instruments) and runs, and the runtime
//!   starts every run from the state a fresh one would have, keeping only its memory.
//! - [`parallel`] spreads a list of jobs over worker threads, one runner each, and finds the
//!   lowest failing job whatever the thread count.
//! - [`watch`] stops a run whose task never yields, which no code on the run's own thread can.

pub mod trace;

pub(crate) mod panics;
pub(crate) mod parallel;
pub(crate) mod watch;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;

use trio::abc::SchedulePolicy;
use trio::{Builder, Nursery, RunErrorKind};

use crate::assertions::{Counting, RunHits};
use crate::clock::MockClock;
use crate::config::{ClockFixture, Explore, PolicyKind};
use crate::fixture::{self, Builtins, FixtureRef, Plan, RunState};
use crate::policy::{Fifo, InjectCancel, Pct, Pos, Random, Replay, Schedule, Surw, TaskEstimates};
use crate::sim::SimNet;
use trace::{Recording, RunSummary, Trace, TraceInstrument, TraceLog};

// ===== what a test returns =====

/// What a `#[trio_test]` function may return: `()`, or `Result<(), E>` for any `E: Debug`
/// (an `Err` fails the test and prints the error).
///
/// # Examples
///
/// ```
/// use trio_testkit::TestResult;
///
/// assert_eq!(().into_failure(), None);
/// assert_eq!(Err::<(), _>("boom").into_failure().as_deref(), Some("\"boom\""));
/// ```
#[diagnostic::on_unimplemented(
    message = "a #[trio_test] function returns `()` or `Result<(), E>` with `E: Debug`, not `{Self}`",
    label = "this is not a test result",
    note = "check values with assert! inside the test instead of returning them"
)]
pub trait TestResult {
    /// `None` for a passing test; otherwise what to print.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::TestResult;
    ///
    /// assert_eq!(Ok::<(), String>(()).into_failure(), None);
    /// assert_eq!(Err::<(), _>(std::fmt::Error).into_failure().as_deref(), Some("Error"));
    /// ```
    fn into_failure(self) -> Option<String>;
}

impl TestResult for () {
    fn into_failure(self) -> Option<String> {
        None
    }
}

/// A test body that never returns normally (it always panics) is a test too. Stable Rust
/// cannot name `!` directly; a function pointer's return type can.
impl TestResult for <fn() -> ! as FnOutput>::Output {
    fn into_failure(self) -> Option<String> {
        self
    }
}

#[doc(hidden)]
pub trait FnOutput {
    type Output;
}

impl<R> FnOutput for fn() -> R {
    type Output = R;
}

impl<E: fmt::Debug> TestResult for Result<(), E> {
    fn into_failure(self) -> Option<String> {
        self.err().map(|error| format!("{error:?}"))
    }
}

// ===== fixtures =====

/// The fixtures a test asked for, handed to the test function by the code `#[trio_test]`
/// generates (and to the closure of [`Explore::run_with_fixtures`]).
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::Explore;
///
/// Explore::new("fixtures")
///     .schedules(1)
///     .nursery()
///     .run_with_fixtures(&|fixtures| async move {
///         let _clock = fixtures.clock(); // the default autojump clock
///         let _nursery = fixtures.nursery(); // asked for with `.nursery()`
///     })
///     .unwrap();
/// ```
pub struct Fixtures {
    clock: Option<MockClock>,
    nursery: Option<Nursery>,
    net: Option<SimNet>,
    /// The user fixtures of the run, once set up.
    state: Option<Rc<RunState>>,
}

impl fmt::Debug for Fixtures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixtures")
            .field("clock", &self.clock)
            .field("nursery", &self.nursery)
            .field("net", &self.net)
            .field("user_fixtures", &self.state.is_some())
            .finish()
    }
}

impl Fixtures {
    fn new(clock: Option<MockClock>, net: Option<SimNet>) -> Fixtures {
        Fixtures { clock, nursery: None, net, state: None }
    }

    /// The value of a user fixture the test asked for (with
    /// [`Explore::fixture`](crate::explore::Explore::fixture)), cloned.
    ///
    /// # Panics
    ///
    /// If the configuration did not ask for that fixture.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    /// use trio_testkit::trio_fixture;
    ///
    /// #[trio_fixture]
    /// async fn greeting() -> String {
    ///     "hello".to_string()
    /// }
    ///
    /// Explore::new("greets")
    ///     .schedules(1)
    ///     .fixture(greeting)
    ///     .run_with_fixtures(&|fixtures| async move {
    ///         assert_eq!(fixtures.get(greeting), "hello");
    ///     })
    ///     .unwrap();
    /// ```
    #[track_caller]
    pub fn get<T: Clone + 'static>(&self, fixture: impl FixtureRef<T>) -> T {
        let definition = fixture.definition();
        match &self.state {
            Some(state) => state.value(definition.any()),
            None => panic!(
                "fixture `{}` was not set up: the test's configuration does not ask for it \
                 (`Explore::fixture`)",
                definition.path()
            ),
        }
    }

    /// The run's simulated network (the `net` fixture): installed before the test started.
    ///
    /// # Panics
    ///
    /// If the test did not ask for it: a bug in `#[trio_test]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// Explore::new("net")
    ///     .schedules(1)
    ///     .net()
    ///     .run_with_fixtures(&|fixtures| async move {
    ///         assert_eq!(fixtures.net().main_host().name(), "main");
    ///     })
    ///     .unwrap();
    /// ```
    #[track_caller]
    pub fn net(&self) -> SimNet {
        self.net.clone().expect("#[trio_test] asked for a net fixture it did not configure")
    }

    /// The test's clock (`mock_clock` or `autojump_clock`).
    ///
    /// # Panics
    ///
    /// If the test did not ask for a clock: a bug in `#[trio_test]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_testkit::explore::Explore;
    ///
    /// Explore::new("autojump")
    ///     .schedules(1)
    ///     .run_with_fixtures(&|fixtures| async move {
    ///         let clock = fixtures.clock();
    ///         trio::sleep(Duration::from_secs(60)).await.unwrap();
    ///         assert_eq!(clock.current_time(), trio::Instant::from_secs(60));
    ///     })
    ///     .unwrap();
    /// ```
    #[track_caller]
    pub fn clock(&self) -> MockClock {
        self.clock.clone().expect("#[trio_test] asked for a clock fixture it did not configure")
    }

    /// The test's nursery.
    ///
    /// # Panics
    ///
    /// If the test did not ask for a nursery: a bug in `#[trio_test]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio_testkit::explore::Explore;
    ///
    /// Explore::new("background")
    ///     .schedules(1)
    ///     .nursery()
    ///     .run_with_fixtures(&|fixtures| async move {
    ///         let ticks = Rc::new(Cell::new(0));
    ///         let t = ticks.clone();
    ///         fixtures.nursery().start_soon(async move {
    ///             loop {
    ///                 t.set(t.get() + 1);
    ///                 if trio::sleep(std::time::Duration::from_secs(1)).await.is_err() {
    ///                     return; // cancelled once the test returned
    ///                 }
    ///             }
    ///         });
    ///         trio::sleep(std::time::Duration::from_millis(2_500)).await.unwrap();
    ///         assert_eq!(ticks.get(), 3);
    ///         // Returning cancels the background task.
    ///     })
    ///     .unwrap();
    /// ```
    #[track_caller]
    pub fn nursery(&self) -> Nursery {
        self.nursery.clone().expect("#[trio_test] asked for a nursery fixture it did not configure")
    }
}

// ===== how a run ended =====

/// How a schedule failed.
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::{Explore, FailureKind};
///
/// let failure = Explore::new("waits_forever")
///     .schedules(1)
///     .persist(false)
///     .run(|| async {
///         trio::Event::new().wait().await.ok(); // nobody sets it
///     })
///     .unwrap_err();
/// assert_eq!(failure.kind, FailureKind::Deadlock);
/// assert_eq!(failure.kind.to_string(), "deadlocked");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// A task panicked (a failed assertion).
    Panic,
    /// The test returned an error.
    Error,
    /// Every task blocked with nothing to wake them.
    Deadlock,
    /// The schedule exceeded the step budget: a livelock.
    StepLimit,
    /// The schedule exceeded its real-time limit.
    Watchdog,
    /// Two runs of the same seed produced different traces.
    Nondeterminism,
    /// Every schedule passed, but an assertion the configuration requires never fired: a
    /// `sometimes!` never came true ([`Explore::require_sometimes`]), or a required assertion
    /// was never reached ([`Explore::require_assertion`]).
    Unsatisfied,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Panic => "panicked",
            FailureKind::Error => "returned an error",
            FailureKind::Deadlock => "deadlocked",
            FailureKind::StepLimit => "exceeded its step budget (livelock?)",
            FailureKind::Watchdog => "exceeded its real-time limit",
            FailureKind::Nondeterminism => "is not deterministic",
            FailureKind::Unsatisfied => "passed, but never satisfied an assertion it requires",
        })
    }
}

/// How to build the policy of one run. Plain data, so a job can be handed to another thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicySpec {
    /// A concrete policy (never `Mixed`: the driver picks the schedule's turn).
    Kind(PolicyKind),
    /// Follow this schedule, the default order elsewhere.
    Replay(Schedule),
    /// `kind`, plus one cancellation injected at a task's cancel point.
    Inject { kind: PolicyKind, task: u64, cancel_point: u64 },
    /// Follow `schedule` up to decision `cut` (its picks and its injection), then `kind`: a
    /// schedule next to a saved one.
    Around { schedule: Schedule, cut: u64, kind: PolicyKind },
    /// At decision `n`, option `choices[n - 1]` modulo the options (the default past the end):
    /// a schedule drawn by proptest (`crate::prop`).
    #[cfg_attr(not(feature = "proptest"), allow(dead_code, reason = "only the proptest feature draws choices"))]
    Choices(std::sync::Arc<[u8]>),
}

/// One run's result.
pub(crate) struct RunOutcome {
    pub(crate) failure: Option<(FailureKind, String)>,
    /// Every event, for a fully recorded run; empty otherwise.
    pub(crate) trace: Trace,
    pub(crate) summary: RunSummary,
    /// For a replay: picks whose decision came but whose task was not runnable (or timer not
    /// due), so the default was taken.
    pub(crate) diverged: u64,
    /// What the assertion macros counted in the run.
    pub(crate) assertions: RunHits,
}

/// How much of a run to record: exploration records only the summary (decisions, deviations,
/// a hash); a failing schedule is then re-run in full for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The summary only: the cheapest run, for the many schedules of an exploration.
    Summary,
    /// The summary and the live tasks, for the [watcher](watch)'s report should a task never
    /// yield: a run that is one of a kind (a single schedule, a replay).
    Tasks,
    /// Every event, and the live tasks.
    Full,
}

/// Follows a list of choices: at decision `n`, option `choices[n - 1]` modulo the number of
/// options; the default order past the end of the list.
struct Choices {
    choices: std::sync::Arc<[u8]>,
    decisions: usize,
}

impl Choices {
    fn next(&mut self, options: usize) -> usize {
        let choice = self.choices.get(self.decisions).copied().unwrap_or(0);
        self.decisions += 1;
        usize::from(choice) % options.max(1)
    }
}

impl SchedulePolicy for Choices {
    fn start(&mut self, _seed: u64) {
        self.decisions = 0;
    }

    fn pick_task(&mut self, runnable: &trio::lowlevel::RunnableTasks<'_>) -> usize {
        self.next(runnable.len())
    }

    fn pick_timer(&mut self, due: &[trio::lowlevel::TimerInfo]) -> usize {
        self.next(due.len())
    }

    fn choose(&mut self, choice: &trio::lowlevel::Choice<'_>) -> usize {
        self.next(choice.len())
    }
}

/// Follows a saved schedule up to decision `cut`, then another policy: the prefix of a known
/// failure, explored on from there.
struct Around {
    prefix: Replay,
    cut: u64,
    decisions: u64,
    then: Box<dyn SchedulePolicy>,
}

impl Around {
    /// Whether the next decision still belongs to the prefix.
    fn in_prefix(&mut self) -> bool {
        self.decisions += 1;
        self.decisions <= self.cut
    }
}

impl SchedulePolicy for Around {
    fn start(&mut self, seed: u64) {
        self.decisions = 0;
        self.prefix.start(seed);
        self.then.start(seed);
    }

    fn pick_task(&mut self, runnable: &trio::lowlevel::RunnableTasks<'_>) -> usize {
        if self.in_prefix() { self.prefix.pick_task(runnable) } else { self.then.pick_task(runnable) }
    }

    fn pick_timer(&mut self, due: &[trio::lowlevel::TimerInfo]) -> usize {
        if self.in_prefix() { self.prefix.pick_timer(due) } else { self.then.pick_timer(due) }
    }

    fn choose(&mut self, choice: &trio::lowlevel::Choice<'_>) -> usize {
        if self.in_prefix() { self.prefix.choose(choice) } else { self.then.choose(choice) }
    }

    fn inject_cancel(&mut self, task: &trio::lowlevel::Task, cancel_point: u64) -> bool {
        self.prefix.inject_cancel(task, cancel_point)
    }
}

// ===== the runner =====

/// Runs schedules of one test on the current thread.
pub(crate) struct Runner<'a, F> {
    config: &'a Explore,
    test: &'a F,
    /// What the measured run tells PCT and SURW (see [`Runner::estimate_steps`]).
    steps_estimate: Estimates,
    watch: watch::Slot,
    /// The runtime every schedule of this thread runs on; made by the first.
    runtime: RefCell<Option<trio::Runner>>,
}

/// What one run in the default order measured, for the policies that need the length of a run
/// before it starts: PCT (decisions) and SURW (steps per task). The same for every schedule of
/// an exploration, so a schedule's seed replays it whichever thread runs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Estimates {
    /// PCT's bound on the decisions in a run.
    decisions: u64,
    /// SURW's steps per task id, with who spawned whom.
    task_steps: Arc<TaskEstimates>,
}

impl From<u64> for Estimates {
    fn from(decisions: u64) -> Estimates {
        Estimates { decisions, task_steps: Arc::default() }
    }
}

impl<'a, F, Fut> Runner<'a, F>
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    /// A runner for `test` under the resolved `config`.
    pub(crate) fn new(config: &'a Explore, test: &'a F, steps_estimate: impl Into<Estimates>) -> Runner<'a, F> {
        Runner {
            config,
            test,
            steps_estimate: steps_estimate.into(),
            watch: watch::Slot::new(config),
            runtime: RefCell::new(None),
        }
    }

    pub(crate) fn config(&self) -> &'a Explore {
        self.config
    }

    pub(crate) fn test(&self) -> &'a F {
        self.test
    }

    pub(crate) fn steps_estimate(&self) -> Estimates {
        self.steps_estimate.clone()
    }

    /// PCT places its change points among the first `k` decisions, where `k` must bound the
    /// length of a run. Measure a run under the default order and leave room for longer ones:
    /// other schedules can take more decisions than the default one (a change point that would
    /// have to fall after the measured length could otherwise never be placed), but too much
    /// room wastes change points after the run has ended. `n + n/2 + 2` did best on the bug
    /// zoo. SURW weighs tasks by the steps each took in the same run and by who spawned whom.
    /// Deterministic, so a seed replays under the same estimates.
    pub(crate) fn estimate_steps(&mut self) {
        let outcome = self.run(&PolicySpec::Kind(PolicyKind::Fifo), self.config.base_seed(), Recorded::Full);
        let n = outcome.summary.decisions();
        let mut task_steps = BTreeMap::new();
        let mut parents = BTreeMap::new();
        for event in outcome.trace.events() {
            match event {
                trace::Event::Step { task, .. } => *task_steps.entry(task.as_u64()).or_insert(0) += 1,
                trace::Event::Spawn { task, parent: Some(parent), .. } => {
                    parents.insert(task.as_u64(), parent.as_u64());
                }
                _ => {}
            }
        }
        let task_steps = Arc::new(TaskEstimates::new(task_steps, parents));
        self.steps_estimate = Estimates { decisions: n + n / 2 + 2, task_steps };
    }

    /// The policy `spec` describes, and for a replay, its count of picks it could not follow.
    fn build_policy(&self, spec: &PolicySpec) -> (Box<dyn SchedulePolicy>, Option<Rc<Cell<u64>>>) {
        let build = |kind: PolicyKind| -> Box<dyn SchedulePolicy> {
            match kind {
                PolicyKind::Fifo => Box::new(Fifo),
                PolicyKind::Random | PolicyKind::Mixed => Box::new(Random::new()),
                PolicyKind::Pct { depth } => Box::new(Pct::new(depth, self.steps_estimate.decisions)),
                PolicyKind::Pos => Box::new(Pos::new()),
                PolicyKind::Surw => Box::new(Surw::with_estimates(self.steps_estimate.task_steps.clone())),
            }
        };
        match spec {
            PolicySpec::Kind(kind) => (build(*kind), None),
            PolicySpec::Replay(schedule) => {
                let replay = Replay::new(schedule.clone());
                let divergences = replay.divergences();
                (Box::new(replay), Some(divergences))
            }
            PolicySpec::Inject { kind, task, cancel_point } => {
                (Box::new(InjectCancel { inner: build(*kind), task: *task, cancel_point: *cancel_point }), None)
            }
            PolicySpec::Choices(choices) => (Box::new(Choices { choices: choices.clone(), decisions: 0 }), None),
            PolicySpec::Around { schedule, cut, kind } => (
                Box::new(Around { prefix: Replay::new(schedule.clone()), cut: *cut, decisions: 0, then: build(*kind) }),
                None,
            ),
        }
    }

    /// Runs the test once under `policy` and `seed`.
    pub(crate) fn run(&self, policy: &PolicySpec, seed: u64, recorded: Recorded) -> RunOutcome {
        let config = self.config;
        let summary = RunSummary::default();
        let log = (recorded == Recorded::Full).then(TraceLog::default);
        let (policy_box, divergences) = self.build_policy(policy);
        let clock = config.clock_fixture().map(|kind| match kind {
            ClockFixture::Mock => MockClock::new(),
            ClockFixture::Autojump => MockClock::autojump(),
        });
        let mut builder = Builder::new()
            .seed(seed)
            .max_steps(config.max_steps)
            .watchdog(config.timeout)
            .policy(Recording { inner: policy_box, summary: summary.clone(), log: log.clone() })
            .main_task(config.name.clone(), config.source);
        if recorded != Recorded::Summary {
            // An instrument costs something at every task step: not for the many schedules of
            // an exploration, whose stuck run the watcher still reports, with its replay line.
            builder = builder.instrument(self.watch.board());
        }
        if let Some(log) = &log {
            builder = builder.instrument(TraceInstrument(log.clone()));
        }
        if let Some(clock) = &clock {
            builder = builder.clock(clock.clone());
        }
        let net = config.net.then(SimNet::new);
        let fixtures = Fixtures::new(clock, net);
        let counting = Counting::start();
        let result = {
            let _watched = self.watch.begin(seed, policy, recorded != Recorded::Summary);
            panics::quietly(|| {
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let main = run_main(fixtures, &config.plan, config.nursery, self.test);
                    match self.runtime.try_borrow_mut() {
                        Ok(mut runtime) => match runtime.as_mut() {
                            Some(runtime) => {
                                runtime.reconfigure(builder);
                                runtime.try_run(main)
                            }
                            None => runtime.insert(builder.build()).try_run(main),
                        },
                        // A schedule started from inside one of this runner's own runs: the
                        // runtime will refuse the nested run with its own message.
                        Err(_) => builder.try_run(main),
                    }
                }))
            })
        };
        let assertions = counting.finish();
        let mut failure = match result {
            Ok(Ok(None)) => None,
            Ok(Ok(Some(error))) => Some((FailureKind::Error, error)),
            Ok(Err(run_error)) => {
                let kind = match run_error.kind() {
                    RunErrorKind::Deadlock => FailureKind::Deadlock,
                    RunErrorKind::StepLimit(_) => FailureKind::StepLimit,
                    _ => FailureKind::Watchdog,
                };
                Some((kind, run_error.to_string()))
            }
            Err(payload) => Some((FailureKind::Panic, panics::describe_panic(payload.as_ref()))),
        };
        // A false `always!` panicked in its task; if the code under test caught that panic, the
        // schedule fails all the same.
        if failure.is_none()
            && let Some(site) = assertions.broken_always()
        {
            let message = format!(
                "assertion failed: always!({}): {} at {} (its panic was caught by the code under test)",
                site.condition(),
                site.message(),
                site.location()
            );
            failure = Some((FailureKind::Panic, message));
        }
        let trace = log.map(|log| log.take()).unwrap_or_default();
        let diverged = divergences.map_or(0, |d| d.get());
        RunOutcome { failure, trace, summary, diverged, assertions }
    }
}

/// The main task: the network installed, the user fixtures set up, the test, the tear-downs.
async fn run_main<F, Fut>(fixtures: Fixtures, plan: &Plan, with_nursery: bool, test: F) -> Option<String>
where
    F: FnOnce(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    if let Some(net) = &fixtures.net {
        net.install();
    }
    if plan.is_empty() {
        return run_body(fixtures, with_nursery, test).await;
    }
    let builtins = Builtins { clock: fixtures.clock.clone(), net: fixtures.net.clone() };
    fixture::run_with_fixtures(plan, builtins, move |state| {
        let mut fixtures = fixtures;
        fixtures.state = Some(state);
        run_body(fixtures, with_nursery, test)
    })
    .await
}

/// The test, inside the `nursery` fixture if it asked for one.
async fn run_body<F, Fut>(mut fixtures: Fixtures, with_nursery: bool, test: F) -> Option<String>
where
    F: FnOnce(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    if !with_nursery {
        return test(fixtures).await.into_failure().map(|error| format!("it returned an error: {error}"));
    }
    let mut failure = None;
    let failure_slot = &mut failure;
    let nursery_result = trio::open_nursery(move |nursery| async move {
        fixtures.nursery = Some(nursery.clone());
        let outcome = test(fixtures).await;
        // pytest-trio's rule: the nursery fixture is cancelled once the test is done.
        nursery.cancel_scope().cancel();
        *failure_slot = outcome.into_failure();
        Ok(())
    })
    .await;
    let background = nursery_result.err().map(|error| describe_nursery_failure(&error));
    match (failure, background) {
        (None, None) => None,
        (Some(error), None) => Some(format!("it returned an error: {error}")),
        (None, Some(background)) => Some(background),
        (Some(error), Some(background)) => Some(format!("it returned an error: {error}\nand {background}")),
    }
}

/// "a task in its nursery failed", naming each failed task.
fn describe_nursery_failure(error: &trio::Error) -> String {
    match error.as_group() {
        Some(group) => {
            let mut text =
                format!("{} in its nursery failed:", if group.len() == 1 { "a task" } else { "several tasks" });
            for entry in group.entries() {
                text.push_str(&format!("\n  task `{}`: {:?}", entry.task(), entry.error()));
            }
            text
        }
        None => format!("its nursery failed: {error:?}"),
    }
}
