//! Seeded schedule exploration: run a test under many schedules, and when one fails, print how
//! to replay it in one line, save it so the next run tries it first, and shrink it to the
//! fewest deviations from the default order.
//!
//! Every choice the runtime makes that could differ between runs — which runnable task steps
//! next, which of several timers due at the same instant fires first — is one decision in one
//! stream, made by a seeded [policy](crate::policy). A schedule is therefore fully described by
//! its seed (with its policy), or by the list of decisions that deviated from the default
//! order (a [`Schedule`]).

mod regressions;
mod shrink;
pub mod trace;

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::str::FromStr;
use std::time::Duration;

use trio::abc::SchedulePolicy;
use trio::{Builder, RunErrorKind};

use crate::clock::MockClock;
use crate::policy::{Fifo, InjectCancel, Pct, Random, Replay, Schedule};
pub use crate::runner::ClockFixture;
use crate::runner::{self, Fixtures, TestResult};
use trace::{Recording, RunSummary, Trace, TraceInstrument, TraceLog};

/// Default number of task steps one schedule may take before it counts as a livelock.
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::{DEFAULT_MAX_STEPS, Explore};
///
/// // Plenty for a test; an exploration of short tests can fail a livelock sooner.
/// assert_eq!(DEFAULT_MAX_STEPS, 1_000_000);
/// let quick = Explore::new("short_test").max_steps(DEFAULT_MAX_STEPS / 100);
/// # let _ = quick;
/// ```
pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;

// ===== policy names =====

/// Which policy explores the schedules.
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::PolicyKind;
///
/// // The names `TRIO_POLICY` and `#[trio_test(policy = …)]` accept.
/// assert_eq!("pct:2".parse(), Ok(PolicyKind::Pct { depth: 2 }));
/// assert_eq!("pct".parse(), Ok(PolicyKind::Pct { depth: 3 }));
/// assert_eq!(PolicyKind::Mixed.to_string(), "mixed");
/// assert!("pct:0".parse::<PolicyKind>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyKind {
    /// Trio's FIFO batch order: one schedule, nothing explored.
    Fifo,
    /// A uniformly random runnable task at every decision.
    Random,
    /// PCT with this bug depth.
    Pct {
        /// The bug depth `d`: `d - 1` priority change points per schedule.
        depth: u32,
    },
    /// Random, PCT with depth 2 and PCT with depth 3, in turn, schedule by schedule: the
    /// default for exploration. No single policy is best for every bug (a random walk rarely
    /// holds one task back for long; PCT rarely interleaves finely), and taking turns costs at
    /// most a factor of three against the best one. A failure names the policy its schedule
    /// ran under.
    Mixed,
}

impl PolicyKind {
    fn build(self, steps_estimate: u64) -> Box<dyn SchedulePolicy> {
        match self {
            PolicyKind::Fifo => Box::new(Fifo),
            PolicyKind::Random | PolicyKind::Mixed => Box::new(Random::new()),
            PolicyKind::Pct { depth } => Box::new(Pct::new(depth, steps_estimate)),
        }
    }

    /// The policy schedule `index` runs under (only `Mixed` varies).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::PolicyKind;
    ///
    /// let turns: Vec<PolicyKind> = (0..4).map(|i| PolicyKind::Mixed.for_schedule(i)).collect();
    /// assert_eq!(
    ///     turns,
    ///     [PolicyKind::Random, PolicyKind::Pct { depth: 2 }, PolicyKind::Pct { depth: 3 }, PolicyKind::Random]
    /// );
    /// assert_eq!(PolicyKind::Random.for_schedule(1), PolicyKind::Random); // only Mixed varies
    /// ```
    pub fn for_schedule(self, index: u64) -> PolicyKind {
        match self {
            PolicyKind::Mixed => match index % 3 {
                0 => PolicyKind::Random,
                1 => PolicyKind::Pct { depth: 2 },
                _ => PolicyKind::Pct { depth: 3 },
            },
            other => other,
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyKind::Fifo => f.write_str("fifo"),
            PolicyKind::Random => f.write_str("random"),
            PolicyKind::Pct { depth } => write!(f, "pct:{depth}"),
            PolicyKind::Mixed => f.write_str("mixed"),
        }
    }
}

impl FromStr for PolicyKind {
    type Err = String;

    /// `fifo`, `random`, `mixed`, `pct` (depth 3) or `pct:<depth>`.
    fn from_str(s: &str) -> Result<PolicyKind, String> {
        match s.trim() {
            "fifo" => Ok(PolicyKind::Fifo),
            "random" => Ok(PolicyKind::Random),
            "mixed" => Ok(PolicyKind::Mixed),
            "pct" => Ok(PolicyKind::Pct { depth: 3 }),
            other => match other.strip_prefix("pct:").map(str::parse::<u32>) {
                Some(Ok(depth)) if depth >= 1 => Ok(PolicyKind::Pct { depth }),
                _ => Err(format!("unknown policy {other:?}: use mixed, random, pct, pct:<depth> or fifo")),
            },
        }
    }
}

// ===== configuration =====

/// How to explore a test: how many schedules, under which policy, and what to do on failure.
///
/// Every setting can be overridden from the environment, so a failure can be replayed or an
/// exploration widened without touching the code; the environment wins over the code.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use trio_testkit::explore::{Explore, PolicyKind};
///
/// // Two tasks increment a counter with a checkpoint between read and write: a lost update.
/// let failure = Explore::new("lost_update")
///     .schedules(200)
///     .policy(PolicyKind::Random)
///     .persist(false)
///     .run(|| async {
///         let counter = Rc::new(Cell::new(0));
///         trio::open_nursery(|nursery| {
///             let counter = counter.clone();
///             async move {
///                 for _ in 0..2 {
///                     let counter = counter.clone();
///                     nursery.start_soon(async move {
///                         let seen = counter.get();
///                         trio::checkpoint().await?;
///                         counter.set(seen + 1);
///                         Ok(())
///                     });
///                 }
///                 Ok(())
///             }
///         })
///         .await
///         .unwrap();
///         assert_eq!(counter.get(), 2, "an update was lost");
///     })
///     .unwrap_err();
/// assert!(failure.to_string().contains("an update was lost"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Explore {
    name: String,
    /// `TRIO_SCHEDULES`
    schedules: u64,
    first_schedule: u64,
    /// Set by `schedule_range`: a shard's range is not resized by `TRIO_SCHEDULES`.
    ranged: bool,
    /// `TRIO_POLICY`
    policy: PolicyKind,
    /// `TRIO_SEED` (replays exactly one schedule)
    seed: Option<u64>,
    clock: Option<ClockFixture>,
    nursery: bool,
    max_steps: u64,
    timeout: Duration,
    shrink: bool,
    persist: bool,
    /// `TRIO_CHECK_DETERMINISM`
    check_determinism: bool,
    inject_cancellations: Option<u64>,
    source: &'static Location<'static>,
    seed_from_name: bool,
    only_seed: Option<u64>,
    replay: Option<Schedule>,
    regressions_file: Option<std::path::PathBuf>,
}

impl Explore {
    /// Exploration of the test called `name` (used in reports, replay lines and the
    /// regressions file; `#[trio_test]` passes the test's path). Defaults: 100 schedules under
    /// [`PolicyKind::Mixed`], a seed derived from the name, an autojump `MockClock` per schedule,
    /// shrinking on, failing schedules saved.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let explore = Explore::new("my_crate::tests::works");
    /// assert_eq!(explore.name(), "my_crate::tests::works");
    /// let summary = explore.run(|| async {
    ///     // An autojump clock: an hour of sleep takes no real time.
    ///     trio::sleep(std::time::Duration::from_secs(3600)).await.unwrap();
    ///     assert_eq!(trio::current_time(), trio::Instant::from_secs(3600));
    /// });
    /// assert!(summary.is_ok());
    /// ```
    #[track_caller]
    pub fn new(name: impl Into<String>) -> Explore {
        Explore {
            name: name.into(),
            schedules: 100,
            first_schedule: 0,
            ranged: false,
            policy: PolicyKind::Mixed,
            seed: None,
            clock: Some(ClockFixture::Autojump),
            nursery: false,
            max_steps: DEFAULT_MAX_STEPS,
            timeout: runner::DEFAULT_TIMEOUT,
            shrink: true,
            persist: true,
            check_determinism: false,
            inject_cancellations: None,
            source: Location::caller(),
            seed_from_name: false,
            only_seed: None,
            replay: None,
            regressions_file: None,
        }
    }

    /// How many schedules to run (env `TRIO_SCHEDULES`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let summary = Explore::new("five").schedules(5).run(|| trio::checkpoint()).unwrap();
    /// assert_eq!(summary.runs, 5);
    /// ```
    pub fn schedules(mut self, schedules: u64) -> Explore {
        self.schedules = schedules;
        self
    }

    /// Runs schedules `range.start .. range.end` of the exploration only (what the harness
    /// uses to split one exploration into shards).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let shard = Explore::new("sharded").schedule_range(10..15);
    /// assert_eq!(shard.schedule_count(), 5);
    /// assert_eq!(shard.run(|| trio::checkpoint()).unwrap().runs, 5);
    /// ```
    pub fn schedule_range(mut self, range: std::ops::Range<u64>) -> Explore {
        self.first_schedule = range.start;
        self.schedules = range.end.saturating_sub(range.start);
        self.ranged = true;
        self
    }

    /// The policy (env `TRIO_POLICY`: `mixed`, `random`, `pct`, `pct:<depth>`, `fifo`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::{Explore, PolicyKind};
    ///
    /// // Two tasks can run in two orders.
    /// let two_tasks = || async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async {});
    ///         nursery.start_soon(async {});
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// };
    /// let fifo = Explore::new("fifo").schedules(20).policy(PolicyKind::Fifo).run(two_tasks).unwrap();
    /// assert_eq!(fifo.distinct, 1); // FIFO explores nothing
    /// let random = Explore::new("random").schedules(20).policy(PolicyKind::Random).run(two_tasks).unwrap();
    /// assert_eq!(random.distinct, 2);
    /// ```
    pub fn policy(mut self, policy: PolicyKind) -> Explore {
        self.policy = policy;
        self
    }

    /// The base seed; schedule `i` runs under a seed derived from it. Without one, the seed is
    /// derived from the test's name. (Env `TRIO_SEED` is different: it runs exactly one
    /// schedule, under exactly that seed — the replay of a reported failure.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::explore::{Explore, PolicyKind, schedule_seed};
    ///
    /// let seeds = Rc::new(RefCell::new(Vec::new()));
    /// let s = seeds.clone();
    /// Explore::new("seeded")
    ///     .seed(42)
    ///     .schedules(3)
    ///     .policy(PolicyKind::Random)
    ///     .run(move || {
    ///         let s = s.clone();
    ///         async move { s.borrow_mut().push(trio::lowlevel::current_seed()) }
    ///     })
    ///     .unwrap();
    /// assert_eq!(*seeds.borrow(), [42, schedule_seed(42, 1), schedule_seed(42, 2)]);
    /// ```
    pub fn seed(mut self, seed: u64) -> Explore {
        self.seed = Some(seed);
        self
    }

    /// The clock of each schedule: a fresh autojump `MockClock` (the default), a frozen one,
    /// or `None` for the real clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// // The real clock: `trio::SystemClock` starts at an offset of at least 10,000 s.
    /// Explore::new("real_time")
    ///     .schedules(1)
    ///     .clock(None)
    ///     .run(|| async { assert!(trio::current_time() >= trio::Instant::from_secs(10_000)) })
    ///     .unwrap();
    ///
    /// // The default: a mock clock that starts at zero.
    /// Explore::new("mock_time")
    ///     .schedules(1)
    ///     .run(|| async { assert_eq!(trio::current_time(), trio::Instant::ZERO) })
    ///     .unwrap();
    /// ```
    pub fn clock(mut self, clock: impl Into<Option<ClockFixture>>) -> Explore {
        self.clock = clock.into();
        self
    }

    /// Wraps each schedule in a nursery passed as the `nursery` fixture.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// Explore::new("with_nursery")
    ///     .schedules(3)
    ///     .nursery()
    ///     .run_with_fixtures(&|fixtures| async move {
    ///         // A background task; the nursery is cancelled once the test returns.
    ///         fixtures.nursery().start_soon(async {
    ///             trio::sleep_forever().await?;
    ///             Ok(())
    ///         });
    ///         trio::checkpoint().await.unwrap();
    ///     })
    ///     .unwrap();
    /// ```
    pub fn nursery(mut self) -> Explore {
        self.nursery = true;
        self
    }

    /// Task steps one schedule may take before it fails as a livelock.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::{Explore, FailureKind};
    ///
    /// let failure = Explore::new("spins")
    ///     .schedules(1)
    ///     .max_steps(1_000)
    ///     .persist(false)
    ///     .run(|| async {
    ///         loop {
    ///             trio::checkpoint().await.unwrap(); // waits for something that never happens
    ///         }
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::StepLimit);
    /// ```
    pub fn max_steps(mut self, steps: u64) -> Explore {
        self.max_steps = steps;
        self
    }

    /// Real time one schedule may take before the watchdog fails it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_testkit::explore::{Explore, FailureKind};
    ///
    /// let failure = Explore::new("hangs")
    ///     .schedules(1)
    ///     .timeout(Duration::from_millis(20))
    ///     .shrink(false)
    ///     .persist(false)
    ///     .run(|| async {
    ///         // A foreign future that never completes.
    ///         trio::cancellable(std::future::pending::<()>()).await.ok();
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::Watchdog);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Explore {
        self.timeout = timeout;
        self
    }

    /// Whether to shrink a failing schedule (default on).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::explore::{Explore, PolicyKind};
    ///
    /// // Fails unless four tasks run in the order they were started.
    /// let in_order = || async {
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let l = log.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         for i in 0..4 {
    ///             let l = l.clone();
    ///             nursery.start_soon(async move { l.borrow_mut().push(i) });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(*log.borrow(), [0, 1, 2, 3]);
    /// };
    /// let explore = Explore::new("in_order").schedules(50).policy(PolicyKind::Random).persist(false);
    /// let unshrunk = explore.clone().shrink(false).run(in_order).unwrap_err();
    /// assert!(unshrunk.shrunk.is_none());
    /// let shrunk = explore.run(in_order).unwrap_err();
    /// assert_eq!(shrunk.minimal_schedule().len(), 1); // one deviation is enough to fail
    /// ```
    pub fn shrink(mut self, shrink: bool) -> Explore {
        self.shrink = shrink;
        self
    }

    /// Whether to save failing schedules to the regressions file and replay it first (default
    /// on).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let failure = Explore::new("always_fails")
    ///     .schedules(1)
    ///     .persist(false) // nothing written to trio-regressions/
    ///     .run(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// assert_eq!(failure.saved_to, None);
    /// ```
    pub fn persist(mut self, persist: bool) -> Explore {
        self.persist = persist;
        self
    }

    /// Also runs the first schedule twice more and fails if the traces differ (env
    /// `TRIO_CHECK_DETERMINISM=1`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use trio_testkit::explore::{Explore, FailureKind, PolicyKind};
    ///
    /// static RUNS: AtomicUsize = AtomicUsize::new(0);
    ///
    /// let failure = Explore::new("leaky")
    ///     .schedules(1)
    ///     .policy(PolicyKind::Random)
    ///     .check_determinism(true)
    ///     .persist(false)
    ///     .run(|| async {
    ///         // State carried over from the previous run changes what this run does.
    ///         let tasks = RUNS.fetch_add(1, Ordering::Relaxed) % 2 + 1;
    ///         trio::open_nursery(|nursery| async move {
    ///             for _ in 0..tasks {
    ///                 nursery.start_soon(async {});
    ///             }
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::Nondeterminism);
    /// ```
    pub fn check_determinism(mut self, check: bool) -> Explore {
        self.check_determinism = check;
        self
    }

    /// Cancellation injection: after the schedules, runs the test once more for every task and
    /// every `k` up to `bound`, cancelling the innermost scope around the task's `k`-th cancel
    /// point — as if a timeout had fired exactly there. Finds code that loses values or breaks
    /// invariants when cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::time::Duration;
    /// use trio_testkit::explore::Explore;
    ///
    /// let failure = Explore::new("not_cancel_safe")
    ///     .schedules(1)
    ///     .inject_cancellations(5)
    ///     .persist(false)
    ///     .run(|| async {
    ///         let stock = Cell::new(10);
    ///         trio::move_on_after(Duration::from_secs(60), async {
    ///             let taken = stock.take();
    ///             trio::checkpoint().await?; // cancelled here, the stock is lost
    ///             stock.set(taken);
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///         assert_eq!(stock.get(), 10, "items lost");
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failure.origin, "cancellation injection");
    /// assert_eq!(failure.schedule.injection(), Some((1, 1))); // task 1, its first cancel point
    /// ```
    pub fn inject_cancellations(mut self, bound: u64) -> Explore {
        self.inject_cancellations = Some(bound);
        self
    }

    pub(crate) fn source(mut self, source: &'static Location<'static>) -> Explore {
        self.source = source;
        self
    }

    /// The seed was derived from the name: the report suggests pinning it.
    pub(crate) fn seed_from_name(mut self, derived: bool) -> Explore {
        self.seed_from_name = derived;
        self
    }

    /// Runs exactly one schedule, under exactly this seed: what `TRIO_SEED` does, and what a
    /// report's "replay this schedule" line runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio_testkit::explore::Explore;
    ///
    /// let seen = Rc::new(Cell::new(0));
    /// let s = seen.clone();
    /// let summary = Explore::new("one_seed")
    ///     .schedules(100)
    ///     .only_seed(1234)
    ///     .run(move || {
    ///         let s = s.clone();
    ///         async move { s.set(trio::lowlevel::current_seed()) }
    ///     })
    ///     .unwrap();
    /// assert_eq!(summary.runs, 1);
    /// assert_eq!(seen.get(), 1234);
    /// ```
    pub fn only_seed(mut self, seed: u64) -> Explore {
        self.only_seed = Some(seed);
        self
    }

    /// Replays exactly this schedule (what `TRIO_REPLAY` does).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::explore::Explore;
    ///
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// let o = order.clone();
    /// Explore::new("replayed")
    ///     .replay("v1:1=t3".parse().unwrap()) // at the first choice, run task 3
    ///     .run(move || {
    ///         let o = o.clone();
    ///         async move {
    ///             trio::open_nursery(|nursery| async move {
    ///                 for name in ["a", "b"] {
    ///                     let o = o.clone();
    ///                     nursery.start_soon_named(name, async move { o.borrow_mut().push(name) }); // tasks 2 and 3
    ///                 }
    ///                 Ok(())
    ///             })
    ///             .await
    ///             .unwrap();
    ///         }
    ///     })
    ///     .unwrap();
    /// assert_eq!(*order.borrow(), ["b", "a"]);
    /// ```
    pub fn replay(mut self, schedule: Schedule) -> Explore {
        self.replay = Some(schedule);
        self
    }

    /// Where to keep failing schedules, instead of `trio-regressions/<test file>.txt` in the
    /// crate.
    ///
    /// # Examples
    ///
    /// A failing schedule is saved, and the next exploration replays it first:
    ///
    /// ```
    /// use trio_testkit::explore::{Explore, PolicyKind};
    ///
    /// let path = std::env::temp_dir().join(format!("trio-regressions-doc-{}.txt", std::process::id()));
    /// let explore = Explore::new("saved").schedules(1).policy(PolicyKind::Random).regressions_file(&path);
    /// let fails = || async { panic!("boom") };
    ///
    /// let first = explore.run(fails).unwrap_err();
    /// assert_eq!(first.origin, "exploration");
    /// assert!(std::fs::read_to_string(&path).unwrap().contains("saved policy=random"));
    ///
    /// let again = explore.run(fails).unwrap_err();
    /// assert_eq!(again.origin, "the regressions file");
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn regressions_file(mut self, path: impl Into<std::path::PathBuf>) -> Explore {
        self.regressions_file = Some(path.into());
        self
    }

    /// The test's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio_testkit::explore::Explore::new("tests::lock").name(), "tests::lock");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many schedules it runs, after environment overrides.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// // Unless `TRIO_SCHEDULES` says otherwise:
    /// if std::env::var_os("TRIO_SCHEDULES").is_none() {
    ///     assert_eq!(Explore::new("t").schedule_count(), 100);
    ///     assert_eq!(Explore::new("t").schedules(7).schedule_count(), 7);
    /// }
    /// ```
    pub fn schedule_count(&self) -> u64 {
        self.clone().with_env().schedules
    }

    fn base_seed(&self) -> u64 {
        self.seed.unwrap_or_else(|| runner::seed_from_name(&self.name))
    }

    /// Applies `TRIO_SCHEDULES`, `TRIO_POLICY` and `TRIO_CHECK_DETERMINISM`.
    fn with_env(mut self) -> Explore {
        if let Some(n) = env_var("TRIO_SCHEDULES").filter(|_| !self.ranged) {
            match n.parse() {
                Ok(n) => self.schedules = n,
                Err(_) => panic!("TRIO_SCHEDULES={n:?} is not a number of schedules"),
            }
        }
        if let Some(p) = env_var("TRIO_POLICY") {
            self.policy = p.parse().unwrap_or_else(|e| panic!("TRIO_POLICY: {e}"));
        }
        if env_var("TRIO_CHECK_DETERMINISM").is_some_and(|v| v != "0") {
            self.check_determinism = true;
        }
        self
    }

    /// Runs the exploration with a test that takes no fixtures.
    ///
    /// # Errors
    ///
    /// The first failing schedule, shrunk, with its replay line; see [`Failure`].
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
    pub fn run<F, Fut>(&self, test: F) -> Result<Summary, Box<Failure>>
    where
        F: Fn() -> Fut,
        Fut: Future,
        Fut::Output: TestResult,
    {
        self.run_with_fixtures(&|_fixtures| test())
    }

    /// Runs the exploration; `test` receives the fixtures the configuration asks for.
    ///
    /// # Errors
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
    pub fn run_with_fixtures<F, Fut>(&self, test: &F) -> Result<Summary, Box<Failure>>
    where
        F: Fn(Fixtures) -> Fut,
        Fut: Future,
        Fut::Output: TestResult,
    {
        let config = self.clone().with_env();
        let engine = Engine { config: &config, test };
        engine.explore()
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Schedule `index`'s seed: the base seed for schedule 0 (so a test that runs one schedule
/// runs under exactly its seed), well mixed for the others so neighbouring schedules are
/// unrelated.
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::schedule_seed;
///
/// assert_eq!(schedule_seed(7, 0), 7); // schedule 0 runs under the base seed itself
/// assert_ne!(schedule_seed(7, 1), schedule_seed(7, 2));
/// assert_eq!(schedule_seed(7, 5), schedule_seed(7, 5)); // whichever shard runs it
/// ```
pub fn schedule_seed(base: u64, index: u64) -> u64 {
    if index == 0 {
        return base;
    }
    let mut z = base ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `test` under many schedules and panics with a report on the first failure: the
/// function behind `#[trio_test(schedules = N)]`, for use without the macro.
///
/// # Panics
///
/// When a schedule fails, with the [`Failure`] report as message.
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
    F: Fn() -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    match config.run(test) {
        Ok(summary) => summary,
        Err(failure) => panic!("{failure}"),
    }
}

// ===== outcomes =====

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
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Schedules run (regression replays and determinism re-runs included).
    pub runs: u64,
    /// Distinct schedules among them (by trace fingerprint).
    pub distinct: usize,
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        })
    }
}

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
    /// How many schedules the exploration ran in all.
    pub schedules_run: u64,
    /// The failing schedule as deviations from the default order (`TRIO_REPLAY` replays it).
    pub schedule: Schedule,
    /// Everything that happened in the failing run.
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
        writeln!(f, "  virtual time at failure: {}", last_time(&self.trace))?;
        writeln!(f, "failure:\n{}", self.message.trim_end())?;
        let decisions = self.trace.decisions().count();
        if decisions > 0 {
            writeln!(f, "last scheduling decisions:")?;
            write!(f, "{}", self.trace.describe_last_decisions(12))?;
        }
        match &self.shrunk {
            Some(shrunk) if shrunk.schedule.len() < shrunk.from => {
                writeln!(
                    f,
                    "shrunk from {} to {} deviation(s) from the default order in {} runs; the minimal schedule:",
                    shrunk.from,
                    shrunk.schedule.len(),
                    shrunk.runs
                )?;
                write!(f, "{}", shrunk.trace.describe_steps(40))?;
            }
            _ if decisions > 0 => {
                writeln!(f, "the schedule ({} deviation(s) from the default order):", self.schedule.len())?;
                write!(f, "{}", self.trace.describe_steps(40))?;
            }
            _ => {}
        }
        writeln!(f, "replay this schedule:   {}", self.replay_seed_command())?;
        if decisions > 0 {
            writeln!(f, "replay the minimal one: {}", self.replay_schedule_command())?;
        }
        if let Some(path) = &self.saved_to {
            writeln!(f, "saved to {path} — commit it: saved schedules are replayed first on every run")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

fn last_time(trace: &Trace) -> trio::Instant {
    trace
        .events()
        .iter()
        .rev()
        .find_map(|e| match e {
            trace::Event::Step { time, .. } | trace::Event::Idle { time } => Some(*time),
            trace::Event::Decision(d) => Some(d.time),
            _ => None,
        })
        .unwrap_or(trio::Instant::ZERO)
}

/// How to re-run just this test: `cargo test [-p pkg] [--test target] -- name --exact`.
#[derive(Debug, Clone)]
struct ReplayCommand {
    package: Option<String>,
    target: Option<String>,
    test: String,
}

impl ReplayCommand {
    fn new(config: &Explore) -> ReplayCommand {
        let package = std::env::var("CARGO_PKG_NAME").ok();
        let file = config.source.file().replace('\\', "/");
        let target = if file.contains("tests/") && !file.contains("/src/") {
            file.rsplit('/').next().and_then(|f| f.strip_suffix(".rs")).map(|s| format!("--test {s}"))
        } else if file.contains("examples/") {
            None
        } else {
            Some("--lib".to_string())
        };
        // libtest names a test by its path inside the test crate: drop the crate's own name.
        let test = match config.name.split_once("::") {
            Some((_, rest)) => rest.to_string(),
            None => config.name.clone(),
        };
        ReplayCommand { package, target, test }
    }

    fn command(&self, env: &str) -> String {
        let mut cmd = format!("{env} cargo test");
        if let Some(p) = &self.package {
            cmd.push_str(&format!(" -p {p}"));
        }
        if let Some(t) = &self.target {
            cmd.push_str(&format!(" {t}"));
        }
        cmd.push_str(&format!(" -- {} --exact", self.test));
        cmd
    }
}

// ===== the engine =====

/// One run's result.
pub(crate) struct RunOutcome {
    pub(crate) failure: Option<(FailureKind, String)>,
    /// Every event, for a fully recorded run; empty otherwise.
    pub(crate) trace: Trace,
    pub(crate) summary: RunSummary,
}

/// How much of a run to record: exploration records only the summary (decisions, deviations,
/// a hash); a failing schedule is then re-run in full for the report.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    Summary,
    Full,
}

struct Engine<'a, F> {
    config: &'a Explore,
    test: &'a F,
}

impl<F, Fut> Engine<'_, F>
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    /// Runs the test once under `policy` and `seed`.
    fn run_once(&self, policy: Box<dyn SchedulePolicy>, seed: u64, recorded: Recorded) -> RunOutcome {
        let summary = RunSummary::default();
        let log = (recorded == Recorded::Full).then(TraceLog::default);
        let clock = self.config.clock.map(|kind| match kind {
            ClockFixture::Mock => MockClock::new(),
            ClockFixture::Autojump => MockClock::autojump(),
        });
        let mut builder = Builder::new()
            .seed(seed)
            .max_steps(self.config.max_steps)
            .watchdog(self.config.timeout)
            .policy(Recording { inner: policy, summary: summary.clone(), log: log.clone() })
            .main_task(self.config.name.clone(), self.config.source);
        if let Some(log) = &log {
            builder = builder.instrument(TraceInstrument(log.clone()));
        }
        if let Some(clock) = &clock {
            builder = builder.clock(clock.clone());
        }
        let fixtures = Fixtures::new(clock);
        let result = runner::quietly(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                builder.try_run(runner::run_body(fixtures, self.config.nursery, self.test))
            }))
        });
        let failure = match result {
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
            Err(payload) => Some((FailureKind::Panic, runner::describe_panic(payload.as_ref()))),
        };
        let trace = log.map(|log| log.take()).unwrap_or_default();
        RunOutcome { failure, trace, summary }
    }

    /// Runs a schedule that failed cheaply once more, fully recorded, for the report. The
    /// same seed and policy give the same run; if they do not, that is the failure.
    fn failing_run(
        &self,
        make_policy: impl Fn() -> Box<dyn SchedulePolicy>,
        seed: u64,
        first: (FailureKind, String),
    ) -> ((FailureKind, String), Trace) {
        let again = self.run_once(make_policy(), seed, Recorded::Full);
        match again.failure {
            Some(failure) if failure.0 == first.0 => (failure, again.trace),
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
                ((FailureKind::Nondeterminism, message), again.trace)
            }
        }
    }

    fn explore(&self) -> Result<Summary, Box<Failure>> {
        let config = self.config;
        let mut summary = Summary { runs: 0, distinct: 0 };
        let mut fingerprints = std::collections::BTreeSet::new();

        // An exact schedule to replay?
        let replay = match env_var("TRIO_REPLAY") {
            Some(text) => Some(text.parse::<Schedule>().unwrap_or_else(|e| panic!("TRIO_REPLAY: {e}"))),
            None => config.replay.clone(),
        };
        if let Some(schedule) = replay {
            let seed = config.base_seed();
            let make = || -> Box<dyn SchedulePolicy> { Box::new(Replay::new(schedule.clone())) };
            let outcome = self.run_once(make(), seed, Recorded::Summary);
            return match outcome.failure {
                None => Ok(Summary { runs: 1, distinct: 1 }),
                Some(first) => {
                    let (failure, trace) = self.failing_run(make, seed, first);
                    Err(self.failure(failure, trace, PolicyKind::Fifo, seed, None, 1, "TRIO_REPLAY"))
                }
            };
        }

        // The regressions file first: every schedule that failed before.
        if config.persist {
            for entry in regressions::load(config) {
                let make = || -> Box<dyn SchedulePolicy> { Box::new(Replay::new(entry.schedule.clone())) };
                let outcome = self.run_once(make(), entry.seed, Recorded::Summary);
                summary.runs += 1;
                if let Some(first) = outcome.failure {
                    let (failure, trace) = self.failing_run(make, entry.seed, first);
                    let mut failure = self.failure(
                        failure,
                        trace,
                        entry.policy,
                        entry.seed,
                        None,
                        summary.runs,
                        "the regressions file",
                    );
                    failure.saved_to = Some(regressions::display_path(config));
                    return Err(failure);
                }
            }
        }

        // One exact seed, or the exploration.
        let only_seed = match env_var("TRIO_SEED") {
            Some(seed) => Some(parse_seed(&seed).unwrap_or_else(|| panic!("TRIO_SEED={seed:?} is not a seed"))),
            None => config.only_seed,
        };
        let seeds: Vec<(Option<u64>, u64)> = match only_seed {
            Some(seed) => vec![(None, seed)],
            None => (config.first_schedule..config.first_schedule + config.schedules)
                .map(|i| (Some(i), schedule_seed(config.base_seed(), i)))
                .collect(),
        };
        let steps_estimate = self.steps_estimate();
        let make = || config.policy.for_schedule(0).build(steps_estimate);
        for (index, seed) in seeds {
            let policy = config.policy.for_schedule(index.unwrap_or(0));
            let make_this = || policy.build(steps_estimate);
            let outcome = self.run_once(make_this(), seed, Recorded::Summary);
            summary.runs += 1;
            fingerprints.insert(outcome.summary.fingerprint());
            if let Some(first) = outcome.failure {
                let origin = if index.is_some() { "exploration" } else { "TRIO_SEED" };
                let (failure, trace) = self.failing_run(make_this, seed, first);
                let mut failure = self.failure(failure, trace, policy, seed, index, summary.runs, origin);
                self.shrink_and_save(&mut failure);
                return Err(failure);
            }
            if config.check_determinism && summary.runs == 1 {
                self.check_determinism(policy, steps_estimate, seed)?;
                summary.runs += 3;
            }
        }

        if let Some(bound) = config.inject_cancellations {
            let seed = schedule_seed(config.base_seed(), config.first_schedule);
            let baseline = self.run_once(make(), seed, Recorded::Full);
            summary.runs += 1;
            for (task, points) in baseline.trace.cancel_points() {
                for k in 1..=points.min(bound) {
                    let injecting = || -> Box<dyn SchedulePolicy> {
                        Box::new(InjectCancel { inner: make(), task: task.as_u64(), cancel_point: k })
                    };
                    let outcome = self.run_once(injecting(), seed, Recorded::Summary);
                    summary.runs += 1;
                    fingerprints.insert(outcome.summary.fingerprint());
                    if let Some(first) = outcome.failure {
                        let (failure, trace) = self.failing_run(injecting, seed, first);
                        let mut failure = self.failure(
                            failure,
                            trace,
                            config.policy,
                            seed,
                            None,
                            summary.runs,
                            "cancellation injection",
                        );
                        failure.schedule.inject_cancel(task, k);
                        self.save(&mut failure);
                        return Err(failure);
                    }
                }
            }
        }
        summary.distinct = fingerprints.len();
        Ok(summary)
    }

    /// PCT places its change points among the first `k` decisions, where `k` must bound the
    /// length of a run. Measure a run under the default order and leave room for longer ones:
    /// other schedules can take more decisions than the default one (a change point that would
    /// have to fall after the measured length could otherwise never be placed), but too much room
    /// wastes change points after the run has ended. `n + n/2 + 2` did best on the bug zoo.
    /// Deterministic, so a seed replays under the same `k`.
    fn steps_estimate(&self) -> u64 {
        match self.config.policy {
            PolicyKind::Pct { .. } | PolicyKind::Mixed => {
                let outcome = self.run_once(Box::new(Fifo), self.config.base_seed(), Recorded::Summary);
                let n = outcome.summary.decisions();
                n + n / 2 + 2
            }
            _ => 1,
        }
    }

    /// Runs `seed` three times, fully recorded, and fails on the first event that differs.
    fn check_determinism(&self, policy: PolicyKind, steps: u64, seed: u64) -> Result<(), Box<Failure>> {
        let first = self.run_once(policy.build(steps), seed, Recorded::Full);
        for _ in 0..2 {
            let again = self.run_once(policy.build(steps), seed, Recorded::Full);
            if let Some((index, a, b)) = first.trace.first_difference(&again.trace) {
                let message = format!(
                    "two runs of seed {seed} differ at event {index}:\n  first run:  {}\n  second run: {}\n\
                     something outside the runtime's control decided the order: HashMap iteration \
                     order (RandomState), the wall clock, thread timing, or global state carried \
                     between runs",
                    a.map_or("(trace ended)".to_string(), |e| format!("{e:?}")),
                    b.map_or("(trace ended)".to_string(), |e| format!("{e:?}")),
                );
                return Err(self.failure(
                    (FailureKind::Nondeterminism, message),
                    again.trace,
                    policy,
                    seed,
                    Some(0),
                    3,
                    "the determinism check",
                ));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments, reason = "assembles the report from every piece of the run")]
    fn failure(
        &self,
        (kind, message): (FailureKind, String),
        trace: Trace,
        policy: PolicyKind,
        seed: u64,
        schedule_index: Option<u64>,
        schedules_run: u64,
        origin: &'static str,
    ) -> Box<Failure> {
        let schedule = schedule_of(&trace);
        Box::new(Failure {
            test: self.config.name.clone(),
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
            seed_from_name: self.config.seed_from_name,
            saved_to: None,
            replay: ReplayCommand::new(self.config),
        })
    }

    fn shrink_and_save(&self, failure: &mut Failure) {
        if self.config.shrink && failure.kind != FailureKind::Nondeterminism {
            failure.shrunk = shrink::shrink(self, failure);
        }
        self.save(failure);
    }

    fn save(&self, failure: &mut Failure) {
        if self.config.persist {
            failure.saved_to = regressions::save(self.config, failure);
        }
    }
}

/// The deviations of a recorded run, as a replayable schedule.
pub(crate) fn schedule_of(trace: &Trace) -> Schedule {
    let mut schedule = Schedule::new();
    for d in trace.deviations() {
        schedule.insert(d.number, d.pick_of(d.index));
    }
    for event in trace.events() {
        if let trace::Event::InjectedCancel { task, cancel_point } = event {
            schedule.inject_cancel(*task, *cancel_point);
        }
    }
    schedule
}

fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
