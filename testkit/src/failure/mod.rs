//! The failure report: what failed, how, under which schedule, the story of that schedule, how
//! to replay it in one line, the result of shrinking it, and the regressions file it was saved
//! to.
//!
//! The third of the testkit's three layers: it depends on the configuration and the engine
//! (shrinking runs schedules), never the other way round.

mod regressions;
mod shrink;

use std::fmt;

use crate::config::{Explore, PolicyKind, ReplayCommand};
use crate::engine::trace::{DecisionKind, Event, Trace};
use crate::engine::{FailureKind, Fixtures, Runner, TestResult};
use crate::policy::{Pick, Schedule};

pub(crate) use regressions::{Entry as RegressionEntry, load as load_regressions};

/// A failing schedule, with everything needed to understand and replay it.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio_testkit::explore::{Explore, FailureKind, PolicyKind};
///
/// let failure = Explore::new("a_before_b")
///     .schedules(20)
///     .policy(PolicyKind::Random)
///     .persist(false)
///     .run(|| async {
///         let log = Rc::new(RefCell::new(Vec::new()));
///         let l = log.clone();
///         trio::open_nursery(|nursery| async move {
///             for name in ["a", "b"] {
///                 let l = l.clone();
///                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
///             }
///             Ok(())
///         })
///         .await
///         .unwrap();
///         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
///     })
///     .unwrap_err();
/// assert_eq!(failure.test, "a_before_b");
/// assert_eq!(failure.kind, FailureKind::Panic);
/// assert!(failure.message.contains("b ran first"));
/// assert_eq!(failure.policy, PolicyKind::Random);
/// assert_eq!(failure.schedule.to_string(), "v1:1=t3"); // task 3 (`b`) ran first
/// assert_eq!(failure.origin, "exploration");
/// // Display is the whole report: the failure, the schedule as a story, the replay lines.
/// assert!(failure.to_string().contains("TRIO_REPLAY=v1:1=t3"));
/// ```
#[derive(Debug, Clone)]
pub struct Failure {
    /// The test.
    pub test: String,
    /// How it failed.
    pub kind: FailureKind,
    /// The panic message, error, or run report.
    pub message: String,
    /// The policy that found it.
    pub policy: PolicyKind,
    /// The schedule's seed (`TRIO_SEED` replays it).
    pub seed: u64,
    /// Which schedule of the exploration (0-based); `None` for a replay or a regression.
    pub schedule_index: Option<u64>,
    /// Runs up to and including the failing one, in the order a single thread makes them
    /// (regression replays and determinism re-runs included): the same for any number of
    /// threads.
    pub schedules_run: u64,
    /// The failing schedule as deviations from the default order (`TRIO_REPLAY` replays it).
    pub schedule: Schedule,
    /// Everything that happened in the failing run. Empty for a watchdog failure: a run that
    /// may take the whole real-time limit is not run again to record it.
    pub trace: Trace,
    /// The result of shrinking, if shrinking ran and the failing schedule still failed when
    /// replayed; its schedule is no longer than [`schedule`](Failure::schedule), and shorter
    /// only if shrinking made it smaller.
    pub shrunk: Option<Shrunk>,
    /// Where it was found: exploration, the regressions file, or a replay.
    pub origin: &'static str,
    seed_from_name: bool,
    /// The regressions file it was saved to.
    pub saved_to: Option<String>,
    /// What went wrong on the way without stopping the test: regressions-file lines that do
    /// not parse, replay picks that did not apply. Also printed at the end of the report.
    pub warnings: Vec<String>,
    /// What the exploration covered up to and including the failing schedule: every run it
    /// counted (regression replays, explored schedules, injections; not the determinism
    /// check's re-runs, so a failing determinism check has none). Set by the exploration
    /// that found the failure.
    pub coverage: Option<crate::coverage::Coverage>,
    /// Where the failing schedule was written as a page ([`Explore::trace_html`],
    /// `TRIO_TRACE_HTML`).
    pub html_written_to: Option<std::path::PathBuf>,
    replay: ReplayCommand,
}

/// The result of shrinking a failing schedule.
///
/// # Examples
///
/// ```
/// # use std::cell::RefCell;
/// # use std::rc::Rc;
/// # use trio_testkit::explore::{Explore, PolicyKind};
/// // `failure`: an exploration of a test that fails unless four tasks run in the order they
/// // were started.
/// # let failure = Explore::new("in_order")
/// #     .schedules(50)
/// #     .policy(PolicyKind::Random)
/// #     .persist(false)
/// #     .run(|| async {
/// #         let log = Rc::new(RefCell::new(Vec::new()));
/// #         let l = log.clone();
/// #         trio::open_nursery(|nursery| async move {
/// #             for i in 0..4 {
/// #                 let l = l.clone();
/// #                 nursery.start_soon(async move { l.borrow_mut().push(i) });
/// #             }
/// #             Ok(())
/// #         })
/// #         .await
/// #         .unwrap();
/// #         assert_eq!(*log.borrow(), [0, 1, 2, 3]);
/// #     })
/// #     .unwrap_err();
/// let shrunk = failure.shrunk.as_ref().unwrap();
/// assert_eq!(shrunk.schedule.len(), 1);
/// assert!(shrunk.from >= shrunk.schedule.len());
/// assert!(shrunk.runs >= 1);
/// assert_eq!(shrunk.trace.deviations().count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest failing schedule found.
    pub schedule: Schedule,
    /// Its trace.
    pub trace: Trace,
    /// Deviations before shrinking.
    pub from: usize,
    /// Runs spent shrinking.
    pub runs: u64,
}

impl Shrunk {
    /// The minimal schedule in words: how many changes, and each of them — a task run ahead of
    /// the default (a preemption), a task held back over a span of decisions, a timer or
    /// option taken out of order, an injected cancellation — with task names from the trace.
    /// Decision numbers are the ones the report's story shows.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let shrunk = failure.shrunk.as_ref().unwrap();
    /// assert_eq!(shrunk.describe(), "1 change: task 3 `b` run ahead of task 2 `a` at decision 1 (a preemption)");
    /// ```
    pub fn describe(&self) -> String {
        let changes = describe_changes(&self.schedule, &self.trace);
        let head = self.count();
        if changes.is_empty() { head } else { format!("{head}: {}", changes.join("; ")) }
    }

    /// `2 changes`, `1 change and 1 injected cancellation`.
    fn count(&self) -> String {
        let mut head = plural(self.schedule.len(), "change");
        let injected = self.schedule.injections().count();
        if injected > 0 {
            head.push_str(&format!(" and {}", plural(injected, "injected cancellation")));
        }
        head
    }
}

/// `1 change`, `2 changes`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Each change of `schedule` in words, in decision order (injections last), named from the
/// trace of a run of it.
fn describe_changes(schedule: &Schedule, trace: &Trace) -> Vec<String> {
    let names = trace.task_names();
    let task = |id: u64| match names.iter().find(|(t, _)| t.as_u64() == id) {
        Some((_, name)) => format!("task {id} `{name}`"),
        None => format!("task {id}"),
    };
    let mut changes: Vec<(u64, String)> = Vec::new();
    for (n, pick) in schedule.picks() {
        let decision = trace.decisions().find(|d| d.number == n);
        let text = match (pick, decision.map(|d| &d.kind)) {
            (Pick::Task(t), Some(DecisionKind::Task { options })) if options[0].as_u64() != t => {
                format!("{} run ahead of {} at decision {n} (a preemption)", task(t), task(options[0].as_u64()))
            }
            (Pick::Task(t), _) => format!("{} run at decision {n}", task(t)),
            (Pick::Timer(i), _) => format!("due timer {i} fired first at decision {n}"),
            (Pick::Choice(i), Some(DecisionKind::Choice { what, .. })) => {
                format!("option {i} of `{what}` taken at decision {n}")
            }
            (Pick::Choice(i), _) => format!("option {i} taken at decision {n}"),
        };
        changes.push((n, text));
    }
    for (t, range) in schedule.holds() {
        let (from, to) = (*range.start(), *range.end());
        let span = if to == u64::MAX {
            format!("from decision {from} to the end of the run")
        } else if to == from {
            format!("at decision {from}")
        } else {
            format!("from decision {from} to decision {to}")
        };
        changes.push((from, format!("{} held back {span}", task(t))));
    }
    changes.sort_by_key(|(n, _)| *n);
    let injections =
        schedule.injections().map(|(t, point)| format!("cancellation injected at cancel point {point} of {}", task(t)));
    changes.into_iter().map(|(_, text)| text).chain(injections).collect()
}

impl Failure {
    /// The shell command that replays the failing schedule from its seed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let command = failure.replay_seed_command();
    /// assert!(command.starts_with(&format!("TRIO_SEED={} TRIO_POLICY=random cargo test", failure.seed)));
    /// assert!(command.ends_with("-- a_before_b --exact"));
    /// ```
    pub fn replay_seed_command(&self) -> String {
        self.replay.command(&format!("TRIO_SEED={} TRIO_POLICY={}", self.seed, self.policy))
    }

    /// The shell command that replays the (shrunk, if possible) schedule exactly.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let command = failure.replay_schedule_command();
    /// assert!(command.starts_with("TRIO_REPLAY=v1:1=t3 cargo test"));
    /// ```
    pub fn replay_schedule_command(&self) -> String {
        let schedule = self.shrunk.as_ref().map_or(&self.schedule, |s| &s.schedule);
        self.replay.command(&format!("TRIO_REPLAY={schedule}"))
    }

    /// The smallest known failing schedule.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails unless four tasks run in the order they
    /// // were started.
    /// # let failure = Explore::new("in_order")
    /// #     .schedules(50)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for i in 0..4 {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon(async move { l.borrow_mut().push(i) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), [0, 1, 2, 3]);
    /// #     })
    /// #     .unwrap_err();
    /// let minimal = failure.minimal_schedule();
    /// assert!(minimal.len() <= failure.schedule.len());
    /// assert_eq!(minimal.len(), 1);
    /// ```
    pub fn minimal_schedule(&self) -> &Schedule {
        self.shrunk.as_ref().map_or(&self.schedule, |s| &s.schedule)
    }
}

impl Failure {
    /// A failure of the test `config` describes, found by `origin`; `schedule` is what the
    /// failing run followed, `trace` its full recording (empty if it was not re-run).
    #[allow(clippy::too_many_arguments, reason = "assembles the report from every piece of the run")]
    pub(crate) fn new(
        config: &Explore,
        (kind, message): (FailureKind, String),
        trace: Trace,
        schedule: Schedule,
        policy: PolicyKind,
        seed: u64,
        schedule_index: Option<u64>,
        schedules_run: u64,
        origin: &'static str,
    ) -> Box<Failure> {
        Box::new(Failure {
            test: config.name.clone(),
            kind,
            message,
            policy,
            seed,
            schedule_index,
            schedules_run,
            schedule,
            trace,
            shrunk: None,
            origin,
            seed_from_name: config.seed_from_attribute_name(),
            saved_to: None,
            warnings: Vec::new(),
            coverage: None,
            html_written_to: None,
            replay: ReplayCommand::new(config),
        })
    }

    /// Shrinks the failing schedule (unless shrinking is off, or a re-run could cost the whole
    /// real-time limit or would not fail the same way), then saves it to the regressions file.
    pub(crate) fn shrink_and_save<F, Fut>(&mut self, runner: &Runner<'_, F>)
    where
        F: Fn(Fixtures) -> Fut,
        Fut: std::future::Future,
        Fut::Output: TestResult,
    {
        let config = runner.config();
        if config.shrink && !matches!(self.kind, FailureKind::Nondeterminism | FailureKind::Watchdog) {
            self.shrunk = shrink::shrink(runner, self);
        }
        self.save(config);
    }

    /// Appends the failing schedule to the regressions file, if the configuration keeps one.
    pub(crate) fn save(&mut self, config: &Explore) {
        if config.persists() {
            self.saved_to = regressions::save(config, self);
        }
    }

    /// Marks a failure found by replaying the regressions file.
    pub(crate) fn found_in_regressions(&mut self, config: &Explore) {
        self.saved_to = Some(regressions::display_path(config));
    }

    /// Whether the smallest known failing schedule is the default order itself.
    fn fails_in_default_order(&self) -> bool {
        let minimal = self.minimal_schedule();
        minimal.is_empty() && minimal.injection().is_none()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "test {} {}", self.test, self.kind)?;
        write!(f, "  schedule: policy {}, seed {}", self.policy, self.seed)?;
        match self.schedule_index {
            Some(i) if self.schedules_run > 1 || i > 0 => {
                writeln!(f, " (schedule {} explored, after {} run(s))", i + 1, self.schedules_run)?
            }
            Some(_) => writeln!(f)?,
            None => writeln!(f, " (from {})", self.origin)?,
        }
        if self.seed_from_name {
            writeln!(f, "  the seed comes from the test's name; pin it with #[trio_test(seed = {})]", self.seed)?;
        }
        if let Some((task, point)) = self.schedule.injection() {
            let names = self.trace.task_names();
            let name = names.iter().find(|(id, _)| id.as_u64() == task).map_or("?", |(_, n)| n.as_str());
            writeln!(f, "  cancellation injected at cancel point {point} of task {task} `{name}`")?;
        }
        if !self.trace.events().is_empty() {
            writeln!(f, "  virtual time at failure: {}", last_time(&self.trace))?;
        }
        writeln!(f, "failure:\n{}", self.message.trim_end())?;
        if self.kind == FailureKind::Watchdog && waits_on_a_bare_foreign_future(&self.message) {
            writeln!(
                f,
                "hint: a task is blocked on a future from outside trio that trio cannot cancel; wrap it in \
                 `trio::cancellable(...)` so that a timeout (move_on_after, fail_after) or a cancelled scope stops it"
            )?;
        }
        let decisions = self.trace.decisions().count();
        if decisions > 0 {
            writeln!(f, "last scheduling decisions:")?;
            write!(f, "{}", self.trace.describe_last_decisions(12))?;
        }
        let default_order = self.fails_in_default_order();
        match &self.shrunk {
            Some(shrunk) if default_order => {
                writeln!(f, "fails in the default order; no reordering needed:")?;
                write!(f, "{}", shrunk.trace.describe_steps(40))?;
            }
            Some(shrunk) if shrunk.schedule.is_empty() => {
                writeln!(f, "fails in the default order with the injected cancellation; no reordering needed:")?;
                for change in describe_changes(&shrunk.schedule, &shrunk.trace) {
                    writeln!(f, "  - {change}")?;
                }
                write!(f, "{}", shrunk.trace.describe_steps(40))?;
            }
            Some(shrunk) if shrunk.schedule.len() < shrunk.from || shrunk.schedule != self.schedule => {
                writeln!(
                    f,
                    "shrunk from {} deviation(s) from the default order to {} in {} runs:",
                    shrunk.from,
                    shrunk.count(),
                    shrunk.runs
                )?;
                for change in describe_changes(&shrunk.schedule, &shrunk.trace) {
                    writeln!(f, "  - {change}")?;
                }
                writeln!(f, "the minimal schedule:")?;
                write!(f, "{}", shrunk.trace.describe_steps(40))?;
            }
            _ if decisions > 0 && default_order => {
                writeln!(f, "fails in the default order; no reordering needed:")?;
                write!(f, "{}", self.trace.describe_steps(40))?;
            }
            _ if decisions > 0 => {
                writeln!(f, "the schedule ({} deviation(s) from the default order):", self.schedule.len())?;
                write!(f, "{}", self.trace.describe_steps(40))?;
            }
            _ => {}
        }
        // An unsatisfied requirement has no failing schedule to replay.
        if self.kind != FailureKind::Unsatisfied {
            writeln!(f, "replay this schedule:   {}", self.replay_seed_command())?;
            if decisions > 0 && default_order {
                writeln!(f, "replay the default order: {}", self.replay.command("TRIO_POLICY=fifo"))?;
            } else if decisions > 0 {
                writeln!(f, "replay the minimal one: {}", self.replay_schedule_command())?;
            }
        }
        if let Some(path) = &self.saved_to {
            writeln!(f, "saved to {path} — commit it: saved schedules are replayed first on every run")?;
        }
        if let Some(path) = &self.html_written_to {
            writeln!(f, "the schedule as a page: {}", path.display())?;
        }
        if let Some(coverage) = &self.coverage
            && (coverage.schedules > 1 || !coverage.assertions.is_empty())
        {
            writeln!(f, "coverage up to this failure:")?;
            write!(f, "{coverage}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Whether a run report lists a task blocked on a future from outside trio that is not wrapped
/// in `trio::cancellable` (the runtime says so when it is).
fn waits_on_a_bare_foreign_future(message: &str) -> bool {
    message.lines().any(|line| line.contains("a future from outside trio") && !line.contains("trio::cancellable"))
}

fn last_time(trace: &Trace) -> trio::Instant {
    trace
        .events()
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Step { time, .. } | Event::Idle { time } => Some(*time),
            Event::Decision(d) => Some(d.time),
            _ => None,
        })
        .unwrap_or(trio::Instant::ZERO)
}
