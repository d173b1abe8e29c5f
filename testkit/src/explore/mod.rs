//! Seeded schedule exploration: run a test under many schedules, and when one fails, print how
//! to replay it in one line, save it so the next run tries it first, and shrink it to the
//! fewest deviations from the default order.
//!
//! Every choice the runtime makes that could differ between runs — which runnable task steps
//! next, which of several timers due at the same instant fires first — is one decision in one
//! stream, made by a seeded [policy](crate::policy). A schedule is therefore fully described by
//! its seed (with its policy), or by the list of decisions that deviated from the default
//! order (a [`Schedule`]).
//!
//! The pieces, each depending only on the ones before it:
//!
//! 1. **Configuration** — [`Explore`]: every setting of a test, what `#[trio_test]` builds, with
//!    the `TRIO_*` environment overrides applied in one place.
//! 2. **Engine** — runs schedules: one schedule is a fresh run built from the configuration, a
//!    seed and a policy, with the test and its [`Fixtures`]; it records a [trace]. Schedules are
//!    spread over worker threads ([`Explore::threads`]).
//! 3. **Failure** — [`Failure`]: what failed and how, the story of the schedule, the replay
//!    commands, the [`Shrunk`] schedule, the regressions file.
//!
//! This module drives them: the regressions file first (and a few schedules around each saved
//! one), then the schedules, with cancellation injection taking turns with them; on a
//! failure, the report.
//!
//! # Threads
//!
//! [`Explore::run`] spreads the schedules over worker threads. Each runs its own runtimes, so
//! the test's future need not be `Send` and may hold `Rc`s; only the closure that builds it is
//! shared between threads, so it must be `Sync` — a closure that captures nothing, or only
//! `Sync` values, as the one `#[trio_test]` generates always does. For a closure that captures
//! an `Rc` or a `Cell`, [`Explore::run_local`] runs every schedule on the calling thread. The
//! outcome is the same either way: schedule `i` always runs under the same seed, and the
//! failure reported is the lowest failing schedule's.

use std::fmt;
use std::future::Future;
use std::io::Write as _;

pub use crate::config::{
    ClockFixture, DEFAULT_MAX_STEPS, DEFAULT_SCHEDULES, DEFAULT_TIMEOUT, Explore, PolicyKind, SettingsError,
    schedule_seed,
};
pub use crate::coverage::{Coverage, Spread};
pub use crate::engine::trace;
pub use crate::engine::{FailureKind, Fixtures};
pub use crate::failure::{Failure, Shrunk};

use crate::config::MIXED_TURNS;
use crate::coverage::{CoverageBuilder, RunRecord};
use crate::engine::parallel::{self, Job, Sweep};
use crate::engine::trace::Trace;
use crate::engine::{PolicySpec, Recorded, Runner, TestResult, panics};
use crate::failure::load_regressions;
use crate::policy::Schedule;

/// What an exploration did when no schedule failed.
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::{Explore, PolicyKind};
///
/// let summary = Explore::new("no_choices")
///     .schedules(10)
///     .policy(PolicyKind::Random)
///     .run(|| trio::checkpoint()) // one task: nothing to choose
///     .unwrap();
/// assert_eq!(summary.runs, 10);
/// assert_eq!(summary.distinct, 1);
/// assert!(summary.warnings.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Schedules run (regression replays and determinism re-runs included).
    pub runs: u64,
    /// Distinct schedules among them (by trace fingerprint).
    pub distinct: usize,
    /// What went wrong on the way without failing the test: regressions-file lines that do not
    /// parse, replay picks that did not apply, a request for threads that could not be met.
    /// Each is also written to standard error as it happens.
    pub warnings: Vec<String>,
    /// What the schedules covered: interleavings, decisions, preemptions, whether the last
    /// schedules still found new interleavings, and what the assertion macros counted.
    pub coverage: Coverage,
}

/// The summary as `#[trio_test]` prints it after an exploration passes (shown by
/// `cargo test -- --show-output` or `--nocapture`).
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::Explore;
///
/// let summary = Explore::new("prints").schedules(10).run(|| trio::checkpoint()).unwrap();
/// let text = summary.to_string();
/// assert!(text.starts_with("explored 10 schedule(s)"));
/// assert!(text.contains("1 distinct interleavings in 10 schedule(s)"));
/// ```
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "explored {} schedule(s):", self.runs)?;
        write!(f, "{}", self.coverage)?;
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

impl Summary {
    fn of(runs: u64, coverage: &CoverageBuilder) -> Summary {
        let coverage = coverage.coverage();
        Summary { runs, distinct: coverage.distinct, warnings: Vec::new(), coverage }
    }
}

impl Explore {
    /// Runs the exploration with a test that takes no fixtures, on every core (see
    /// [`threads`](Explore::threads)). The closure is shared between the worker threads, so it
    /// must be `Sync`; the future it returns need not be `Send`. For a closure that captures
    /// an `Rc` or a `Cell`, use [`run_local`](Explore::run_local).
    ///
    /// # Errors
    ///
    /// The lowest failing schedule, shrunk, with its replay line; see [`Failure`].
    ///
    /// # Panics
    ///
    /// If a setting is invalid: an environment override that does not parse
    /// (`TRIO_SCHEDULES=0`), or a value out of range in the code — with a message that says
    /// which and what it accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let summary = Explore::new("passes")
    ///     .schedules(10)
    ///     .run(|| async {
    ///         let lock = trio::Lock::new();
    ///         let _guard = lock.lock().await?;
    ///         trio::checkpoint().await?;
    ///         Ok::<_, trio::Error>(())
    ///     })
    ///     .unwrap();
    /// assert_eq!(summary.runs, 10);
    /// ```
    #[track_caller]
    pub fn run<F, Fut>(&self, test: F) -> Result<Summary, Box<Failure>>
    where
        F: Fn() -> Fut + Sync,
        Fut: Future,
        Fut::Output: TestResult,
    {
        self.run_with_fixtures(&|_fixtures| test())
    }

    /// Runs the exploration on the calling thread only, for a test closure that cannot be
    /// shared between threads (it captures an `Rc`, a `Cell`, …). The outcome is the same as
    /// [`run`](Explore::run)'s; only slower on a machine with several cores. If more than one
    /// thread was asked for explicitly ([`threads`](Explore::threads), `TRIO_THREADS`), a
    /// warning says why it was not used.
    ///
    /// # Errors
    ///
    /// As [`Explore::run`].
    ///
    /// # Panics
    ///
    /// As [`Explore::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio_testkit::explore::{Explore, PolicyKind};
    ///
    /// let runs = Rc::new(Cell::new(0)); // not Sync: the closure below cannot be shared
    /// let r = runs.clone();
    /// let summary = Explore::new("counts_its_runs")
    ///     .policy(PolicyKind::Random) // (PCT would measure the default order once more)
    ///     .schedules(10)
    ///     .run_local(move || {
    ///         r.set(r.get() + 1);
    ///         trio::checkpoint()
    ///     })
    ///     .unwrap();
    /// assert_eq!(summary.runs, 10);
    /// assert_eq!(runs.get(), 10);
    /// ```
    #[track_caller]
    pub fn run_local<F, Fut>(&self, test: F) -> Result<Summary, Box<Failure>>
    where
        F: Fn() -> Fut,
        Fut: Future,
        Fut::Output: TestResult,
    {
        self.run_local_with_fixtures(&|_fixtures| test())
    }

    /// Runs the exploration on every core; `test` receives the fixtures the configuration asks
    /// for.
    ///
    /// # Errors
    ///
    /// As [`Explore::run`].
    ///
    /// # Panics
    ///
    /// As [`Explore::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_testkit::explore::Explore;
    ///
    /// Explore::new("uses_the_clock")
    ///     .schedules(3)
    ///     .run_with_fixtures(&|fixtures| async move {
    ///         let clock = fixtures.clock(); // the schedule's autojump clock
    ///         trio::sleep(Duration::from_secs(5)).await.unwrap();
    ///         assert_eq!(clock.current_time(), trio::Instant::from_secs(5));
    ///     })
    ///     .unwrap();
    /// ```
    #[track_caller]
    pub fn run_with_fixtures<F, Fut>(&self, test: &F) -> Result<Summary, Box<Failure>>
    where
        F: Fn(Fixtures) -> Fut + Sync,
        Fut: Future,
        Fut::Output: TestResult,
    {
        let config = self.resolve();
        Exploration::new(Runner::new(&config, test, 1), parallel::sweep_parallel).run()
    }

    /// Runs the exploration on the calling thread; `test` receives the fixtures the
    /// configuration asks for. See [`run_local`](Explore::run_local).
    ///
    /// # Errors
    ///
    /// As [`Explore::run`].
    ///
    /// # Panics
    ///
    /// As [`Explore::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use trio_testkit::explore::{Explore, PolicyKind};
    ///
    /// let sleeps = Cell::new(0);
    /// Explore::new("counts_sleeps")
    ///     .policy(PolicyKind::Random)
    ///     .schedules(3)
    ///     .run_local_with_fixtures(&|fixtures| {
    ///         sleeps.set(sleeps.get() + 1);
    ///         async move { fixtures.clock().jump(std::time::Duration::from_secs(1)) }
    ///     })
    ///     .unwrap();
    /// assert_eq!(sleeps.get(), 3);
    /// ```
    #[track_caller]
    pub fn run_local_with_fixtures<F, Fut>(&self, test: &F) -> Result<Summary, Box<Failure>>
    where
        F: Fn(Fixtures) -> Fut,
        Fut: Future,
        Fut::Output: TestResult,
    {
        let config = self.resolve();
        let mut exploration = Exploration::new(Runner::new(&config, test, 1), parallel::sweep_here);
        if let Some(by) = config.threads_requested_by() {
            exploration.warn(format!(
                "{by} asks for {} threads, but this exploration runs on one: its test closure is run with \
                 `run_local` (it cannot be shared between threads). A closure that captures only `Sync` \
                 values (no `Rc`, no `Cell`) can run with `run` on every core",
                config.worker_threads()
            ));
        }
        exploration.run()
    }
}

/// Runs `test` under many schedules on every core and panics with a report on the first
/// failure: the function behind `#[trio_test(schedules = N)]`, for use without the macro.
///
/// # Panics
///
/// When a schedule fails, with the [`Failure`] report as message; and as [`Explore::run`].
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::{Explore, explore};
///
/// explore(Explore::new("always_fine").schedules(50), || async {
///     trio::checkpoint().await.unwrap();
/// });
/// ```
#[track_caller]
pub fn explore<F, Fut>(config: Explore, test: F) -> Summary
where
    F: Fn() -> Fut + Sync,
    Fut: Future,
    Fut::Output: TestResult,
{
    match config.run(test) {
        Ok(summary) => {
            print_summary(&config, &summary);
            summary
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// Runs one `#[trio_test]`: what the function the attribute generates calls.
///
/// `test` receives the fixtures and returns the test's future; it is called once per schedule,
/// possibly on several threads (the closure the attribute generates captures nothing, so it
/// can be shared; the future stays on the thread that made it).
///
/// # Panics
///
/// This is how the test fails: when the test returns an error, when a task panics, when the
/// run deadlocks or livelocks, and when the watchdog fires — always with a report that says
/// how to replay the failing schedule. Also when a setting is invalid.
///
/// # Examples
///
/// What `#[trio_test] async fn sleeps(autojump_clock: MockClock)` expands to, roughly:
///
/// ```
/// use std::time::Duration;
/// use trio_testkit::__private::{ClockFixture, run_test, test_config};
///
/// run_test(test_config("demo::sleeps").clock(ClockFixture::Autojump), |fixtures| {
///     let autojump_clock = fixtures.clock();
///     async move {
///         trio::sleep(Duration::from_secs(30)).await?;
///         assert_eq!(autojump_clock.current_time(), trio::Instant::from_secs(30));
///         Ok::<_, trio::Error>(())
///     }
/// });
/// ```
#[track_caller]
pub fn run_test<F, Fut>(config: Explore, test: F)
where
    F: Fn(Fixtures) -> Fut + Sync,
    Fut: Future,
    Fut::Output: TestResult,
{
    panics::install_panic_note();
    let config = config.source(std::panic::Location::caller());
    match config.run_with_fixtures(&test) {
        Ok(summary) => print_summary(&config, &summary),
        Err(failure) => panic!("{failure}"),
    }
}

/// Prints the summary of a passing exploration where it says something: several schedules,
/// or assertions counted. To standard output, which the test harness shows for a passing test
/// only when asked (`--show-output`, `--nocapture`).
fn print_summary(config: &Explore, summary: &Summary) {
    if summary.runs > 1 || !summary.coverage.assertions.is_empty() {
        print!("test {}: {summary}", config.name);
    }
}

// ===== the driver =====

/// How a sweep over jobs runs: on this thread only, or on every core.
type SweepFn<F> = for<'r, 's> fn(&'r Runner<'s, F>, u64, &(dyn Fn(u64) -> Job + Sync)) -> Sweep;

/// One exploration: the runner of the calling thread, and how to sweep.
struct Exploration<'a, F> {
    runner: Runner<'a, F>,
    sweep: SweepFn<F>,
    warnings: Vec<String>,
}

impl<'a, F, Fut> Exploration<'a, F>
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    fn new(runner: Runner<'a, F>, sweep: SweepFn<F>) -> Exploration<'a, F> {
        Exploration { runner, sweep, warnings: Vec::new() }
    }

    fn config(&self) -> &'a Explore {
        self.runner.config()
    }

    /// Records a warning and writes it to standard error at once — past the test harness's
    /// output capture, so it shows even when the test passes.
    fn warn(&mut self, warning: String) {
        let _ = writeln!(std::io::stderr(), "warning: trio-testkit, test {}: {warning}", self.config().name);
        self.warnings.push(warning);
    }

    fn run(mut self) -> Result<Summary, Box<Failure>> {
        let result = self.explore();
        let warnings = std::mem::take(&mut self.warnings);
        match result {
            Ok(mut summary) => {
                summary.warnings = warnings;
                Ok(summary)
            }
            Err(mut failure) => {
                failure.warnings = warnings;
                if let Some(path) = &self.config().trace_html {
                    match failure.write_html(path) {
                        Ok(()) => failure.html_written_to = Some(path.clone()),
                        Err(error) => failure
                            .warnings
                            .push(format!("could not write the schedule's page to {}: {error}", path.display())),
                    }
                }
                Err(failure)
            }
        }
    }

    fn explore(&mut self) -> Result<Summary, Box<Failure>> {
        let mut coverage = CoverageBuilder::default();
        let result = self.explore_into(&mut coverage);
        match result {
            Ok(runs) => self.check_required(Summary::of(runs, &coverage)),
            Err(mut failure) => {
                failure.coverage = Some(coverage.coverage());
                Err(failure)
            }
        }
    }

    /// Fails a passing exploration whose required assertions never fired. Not checked when
    /// the run is one schedule asked for by seed or replay (the case may need another
    /// schedule), nor in a shard of the harness (the other shards may have seen it).
    fn check_required(&self, summary: Summary) -> Result<Summary, Box<Failure>> {
        let config = self.config();
        if config.only_seed.is_some() || config.replay.is_some() || config.ranged {
            return Ok(summary);
        }
        let unmet = crate::assertions::unmet(
            &summary.coverage.assertions,
            config.require_sometimes,
            &config.required_assertions,
        );
        if unmet.is_empty() {
            return Ok(summary);
        }
        let message = format!(
            "every schedule passed, but an assertion it requires never fired:\n{}\n\
             the case it names never happened in {} schedule(s): make the test reach it (more schedules, \
             a policy that preempts more, injected faults), or drop the requirement",
            unmet.iter().map(|line| format!("  {line}")).collect::<Vec<_>>().join("\n"),
            summary.runs
        );
        let mut failure = Failure::new(
            config,
            (FailureKind::Unsatisfied, message),
            Trace::default(),
            Schedule::new(),
            config.policy.for_schedule(config.first_schedule),
            config.base_seed(),
            None,
            summary.runs,
            "assertion coverage",
        );
        failure.coverage = Some(summary.coverage);
        Err(failure)
    }

    /// Runs the exploration, adding every counted run to `coverage` in schedule order; the
    /// number of runs made when it passes.
    fn explore_into(&mut self, coverage: &mut CoverageBuilder) -> Result<u64, Box<Failure>> {
        let config = self.config();
        // Exactly one schedule asked for: run that, nothing else.
        if let Some(schedule) = &config.replay {
            return self.replay(schedule.clone(), coverage);
        }
        // PCT and SURW need an estimate of a run's length, measured once under the default order.
        let pct_at = |i: u64| matches!(config.policy.for_schedule(i), PolicyKind::Pct { .. } | PolicyKind::Surw);
        let first = config.first_schedule;
        let uses_pct = match config.only_seed {
            Some(_) => pct_at(0),
            None => (first..first + config.schedules.min(MIXED_TURNS.len() as u64)).any(pct_at),
        };
        if uses_pct {
            self.runner.estimate_steps();
        }
        if let Some(seed) = config.only_seed {
            let kind = config.policy.for_schedule(0);
            let job = Job { policy: PolicySpec::Kind(kind), seed };
            let outcome = self.runner.run(&job.policy, seed, Recorded::Tasks);
            coverage.add(&RunRecord::new(0, &outcome));
            return match outcome.failure {
                None => Ok(1),
                Some(found) => {
                    let followed = outcome.summary.schedule();
                    Err(self.report(&job, found, followed, kind, None, 1, "TRIO_SEED"))
                }
            };
        }

        let mut runs = 0;

        // The regressions file first: every schedule that failed before.
        if config.persists() {
            let (entries, warnings) = load_regressions(config);
            for warning in warnings {
                self.warn(warning);
            }
            for entry in entries {
                let job = Job { policy: PolicySpec::Replay(entry.schedule.clone()), seed: entry.seed };
                let outcome = self.runner.run(&job.policy, job.seed, Recorded::Tasks);
                coverage.add(&RunRecord::new(runs, &outcome));
                runs += 1;
                if let Some(first) = outcome.failure {
                    let followed = outcome.summary.schedule();
                    let (failure, trace, schedule) = self.failing_run(&job, first, followed);
                    let mut failure = Failure::new(
                        config,
                        failure,
                        trace,
                        schedule,
                        entry.policy,
                        entry.seed,
                        None,
                        runs,
                        "the regressions file",
                    );
                    failure.found_in_regressions(config);
                    return Err(failure);
                }
                self.around(&entry, outcome.summary.decisions(), &mut runs, coverage)?;
            }
        }

        let base = config.base_seed();

        // The determinism check, on this thread: the first schedule three times, fully recorded.
        if config.check_determinism {
            let job =
                Job { policy: PolicySpec::Kind(config.policy.for_schedule(first)), seed: schedule_seed(base, first) };
            self.check_determinism(&job, first)?;
            runs += 3;
        }

        // Cancellation injection: a baseline run lists every (task, cancel point); one run per
        // pair then takes turns with the ordinary schedules (see `Slot`).
        let inject_kind = config.policy.for_schedule(first);
        let inject_seed = schedule_seed(base, first);
        let mut points: Vec<(u64, u64)> = Vec::new();
        if let Some(bound) = config.inject_cancellations {
            let baseline = self.runner.run(&PolicySpec::Kind(inject_kind), inject_seed, Recorded::Full);
            runs += 1;
            // A failing baseline is schedule `first` failing: the sweep finds it at once.
            points = baseline
                .trace
                .cancel_points()
                .into_iter()
                .flat_map(|(task, points)| (1..=points.min(bound)).map(move |k| (task.as_u64(), k)))
                .collect();
        }
        let plan = Plan { schedules: config.schedules, injections: points.len() as u64 };

        // The schedules and the injections, on every core.
        let job = |j: u64| match plan.slot(j) {
            Slot::Schedule(i) => Job {
                policy: PolicySpec::Kind(config.policy.for_schedule(first + i)),
                seed: schedule_seed(base, first + i),
            },
            Slot::Inject(n) => {
                let (task, cancel_point) = points[n as usize];
                Job { policy: PolicySpec::Inject { kind: inject_kind, task, cancel_point }, seed: inject_seed }
            }
        };
        let sweep = (self.sweep)(&self.runner, plan.total(), &job);
        coverage.add_all(&sweep.records);
        if let Some(found) = sweep.failure {
            runs += found.index + 1;
            let failing = job(found.index);
            let first_failure = (found.kind, found.message);
            return Err(match plan.slot(found.index) {
                Slot::Schedule(i) => {
                    let kind = config.policy.for_schedule(first + i);
                    let mut failure = self.report(
                        &failing,
                        first_failure,
                        found.schedule,
                        kind,
                        Some(first + i),
                        runs,
                        "exploration",
                    );
                    failure.shrink_and_save(&self.runner);
                    failure
                }
                Slot::Inject(_) => {
                    let mut failure = self.report(
                        &failing,
                        first_failure,
                        found.schedule,
                        inject_kind,
                        None,
                        runs,
                        "cancellation injection",
                    );
                    failure.shrink_and_save(&self.runner);
                    failure
                }
            });
        }
        runs += plan.total();
        Ok(runs)
    }

    /// A saved schedule that passes now: a few schedules that follow a prefix of it (the
    /// whole of it up to the last decision it changes, then shorter ones) and continue at
    /// random — the neighbourhood of a bug that was once there, where a related one may hide.
    /// The last decision it changes is its last pick or the end of its last hold, whichever
    /// comes later; a hold to the end of the run, or past it, ends at the run's last decision
    /// (`decisions`: how many the saved schedule's replay made). On this thread, in order,
    /// like the replays.
    fn around(
        &self,
        entry: &crate::failure::RegressionEntry,
        decisions: u64,
        runs: &mut u64,
        coverage: &mut CoverageBuilder,
    ) -> Result<(), Box<Failure>> {
        let picks = entry.schedule.picks().map(|(number, _)| number);
        let holds = entry.schedule.holds().map(|(_, span)| (*span.end()).min(decisions));
        let last = picks.chain(holds).max().unwrap_or(0);
        for j in 0..AROUND_A_REGRESSION {
            // In u128: a saved decision number may be anything up to u64::MAX.
            let scaled = u128::from(last) * u128::from(AROUND_A_REGRESSION - j) / u128::from(AROUND_A_REGRESSION);
            let cut = (scaled as u64).max(last.min(1));
            let job = Job {
                policy: PolicySpec::Around { schedule: entry.schedule.clone(), cut, kind: PolicyKind::Random },
                seed: schedule_seed(entry.seed, j + 1),
            };
            let outcome = self.runner.run(&job.policy, job.seed, Recorded::Summary);
            coverage.add(&RunRecord::new(*runs, &outcome));
            *runs += 1;
            if let Some(found) = outcome.failure {
                let followed = outcome.summary.schedule();
                let mut failure =
                    self.report(&job, found, followed, PolicyKind::Random, None, *runs, "around a saved schedule");
                failure.shrink_and_save(&self.runner);
                return Err(failure);
            }
        }
        Ok(())
    }

    /// `TRIO_REPLAY` or [`Explore::replay`]: exactly this schedule, and a warning for every
    /// change that did not apply — a pick whose task was not runnable or whose decision never
    /// came, a hold that never held its task back, an injection that never happened.
    fn replay(&mut self, schedule: Schedule, coverage: &mut CoverageBuilder) -> Result<u64, Box<Failure>> {
        let config = self.config();
        let seed = config.base_seed();
        let job = Job { policy: PolicySpec::Replay(schedule.clone()), seed };
        // Fully recorded: the tasks each decision passed over tell which holds applied.
        let outcome = self.runner.run(&job.policy, seed, Recorded::Full);
        coverage.add(&RunRecord::new(0, &outcome));
        let decisions = outcome.summary.decisions();
        let unreached: Vec<String> = schedule
            .picks()
            .filter(|(number, _)| *number > decisions)
            .map(|(number, pick)| format!("{number}={pick}"))
            .collect();
        let missed = outcome.diverged + unreached.len() as u64;
        let passed_over = outcome.trace.decisions().filter_map(|d| match &d.kind {
            trace::DecisionKind::Task { options } => Some((d.number, &options[..d.index.min(options.len())])),
            _ => None,
        });
        let holds_missed = schedule.holds_not_applied(passed_over);
        let injection_missed = schedule.injection().is_some() && outcome.summary.schedule().injection().is_none();
        if missed > 0 || !holds_missed.is_empty() || injection_missed {
            let mut parts = Vec::new();
            if missed > 0 {
                let mut part = format!("{missed} of its {} pick(s) could not be followed", schedule.picks().count());
                if !unreached.is_empty() {
                    part.push_str(&format!(
                        " ({} never came: the run made {decisions} decision(s))",
                        unreached.join(", ")
                    ));
                }
                parts.push(part);
            }
            if !holds_missed.is_empty() {
                parts.push(format!(
                    "{} of its {} hold(s) never held their task back ({}: in that span the task was never \
                     runnable ahead of the one that ran)",
                    holds_missed.len(),
                    schedule.holds().count(),
                    holds_missed.join(", ")
                ));
            }
            if injection_missed {
                parts.push("its cancellation injection never happened".to_string());
            }
            let warning = format!(
                "the replayed schedule {schedule} did not fully apply: {}; the run took the default order \
                 there, so it is not the recorded schedule — the test changed since it was recorded, or the \
                 schedule belongs to another test",
                parts.join(", and ")
            );
            self.warn(warning);
        }
        match outcome.failure {
            None => Ok(1),
            Some(first) => {
                let followed = outcome.summary.schedule();
                Err(self.report(&job, first, followed, PolicyKind::Fifo, None, 1, "TRIO_REPLAY"))
            }
        }
    }

    /// Runs a schedule that failed cheaply once more, fully recorded, for the report. The
    /// same seed and policy give the same run; if they do not, that is the failure. A watchdog
    /// failure is not run again: it could take the whole real-time limit once more.
    fn failing_run(
        &self,
        job: &Job,
        first: (FailureKind, String),
        followed: Schedule,
    ) -> ((FailureKind, String), Trace, Schedule) {
        if first.0 == FailureKind::Watchdog {
            return (first, Trace::default(), followed);
        }
        let again = self.runner.run(&job.policy, job.seed, Recorded::Full);
        let schedule = again.trace.schedule();
        match again.failure {
            Some(failure) if failure.0 == first.0 => (failure, again.trace, schedule),
            other => {
                let message = format!(
                    "the schedule failed ({}), but replaying it {}: something outside the \
                     runtime's control (HashMap order, the wall clock, global state) decides what \
                     the test does\nthe first failure:\n{}",
                    first.0,
                    match &other {
                        Some((kind, _)) => format!("failed differently ({kind})"),
                        None => "passed".to_string(),
                    },
                    first.1
                );
                ((FailureKind::Nondeterminism, message), again.trace, schedule)
            }
        }
    }

    /// The report of a failing job: re-run in full (unless the watchdog stopped it).
    #[allow(clippy::too_many_arguments, reason = "assembles the report from every piece of the run")]
    fn report(
        &self,
        job: &Job,
        first: (FailureKind, String),
        followed: Schedule,
        policy: PolicyKind,
        schedule_index: Option<u64>,
        runs: u64,
        origin: &'static str,
    ) -> Box<Failure> {
        let (failure, trace, schedule) = self.failing_run(job, first, followed);
        Failure::new(self.config(), failure, trace, schedule, policy, job.seed, schedule_index, runs, origin)
    }

    /// Runs `job` three times, fully recorded, and fails on the first event that differs.
    fn check_determinism(&self, job: &Job, index: u64) -> Result<(), Box<Failure>> {
        let first = self.runner.run(&job.policy, job.seed, Recorded::Full);
        for _ in 0..2 {
            let again = self.runner.run(&job.policy, job.seed, Recorded::Full);
            if let Some((event, a, b)) = first.trace.first_difference(&again.trace) {
                let message = format!(
                    "two runs of seed {} differ at event {event}:\n  first run:  {}\n  second run: {}\n\
                     something outside the runtime's control decided the order: HashMap iteration \
                     order (RandomState), the wall clock, thread timing, or global state carried \
                     between runs",
                    job.seed,
                    a.map_or("(trace ended)".to_string(), |e| format!("{e:?}")),
                    b.map_or("(trace ended)".to_string(), |e| format!("{e:?}")),
                );
                let PolicySpec::Kind(kind) = job.policy else { unreachable!("the check runs a policy") };
                let schedule = again.trace.schedule();
                return Err(Failure::new(
                    self.config(),
                    (FailureKind::Nondeterminism, message),
                    again.trace,
                    schedule,
                    kind,
                    job.seed,
                    Some(index),
                    3,
                    "the determinism check",
                ));
            }
        }
        Ok(())
    }
}

/// Schedules run around each saved schedule that passes: few, since every exploration pays
/// for them before its own schedules.
const AROUND_A_REGRESSION: u64 = 8;

// ===== interleaving injections with schedules =====

/// What job `j` of a sweep runs: ordinary schedules and cancellation injections take turns
/// (schedule, injection, schedule, injection, …) until one kind runs out, then the rest of the
/// other follow. An injection bug is then found after a few dozen runs rather than after the
/// whole budget of schedules, and an ordering bug at most twice as late as without injection.
/// A pure function of `j`, so a job is the same run whichever thread takes it.
#[derive(Debug, Clone, Copy)]
struct Plan {
    schedules: u64,
    injections: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Ordinary schedule `i` of the exploration (counted from its first).
    Schedule(u64),
    /// Injection `n` of the baseline's list.
    Inject(u64),
}

impl Plan {
    fn total(self) -> u64 {
        self.schedules + self.injections
    }

    fn slot(self, j: u64) -> Slot {
        let paired = self.schedules.min(self.injections);
        if j < 2 * paired {
            return if j.is_multiple_of(2) { Slot::Schedule(j / 2) } else { Slot::Inject(j / 2) };
        }
        let rest = paired + (j - 2 * paired);
        if self.schedules > paired { Slot::Schedule(rest) } else { Slot::Inject(rest) }
    }
}
