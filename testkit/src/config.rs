//! The one configuration type of a test: [`Explore`], what `#[trio_test]` and hand-written
//! explorations build alike, and the `TRIO_*` environment overrides, applied in one place
//! ([`Explore::apply_env`]).
//!
//! This is the first of the testkit's three layers: configuration → engine (runs schedules) →
//! failure (reports). It depends on nothing above it.

use std::ffi::OsString;
use std::fmt;
use std::panic::Location;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::fixture::{AnyFixture, FixtureRef, Plan, any_fixture};
use crate::policy::{Pct, Schedule};

/// How long one schedule may take in real time before the watchdog stops it, unless the test
/// says otherwise (`#[trio_test(timeout = "…")]`, [`Explore::timeout`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio_testkit::explore::DEFAULT_TIMEOUT;
///
/// assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(60));
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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

/// How many schedules an exploration runs unless told otherwise ([`Explore::schedules`],
/// `TRIO_SCHEDULES`). A schedule of a small test takes a few microseconds, so a thousand cost
/// milliseconds, and they find bugs that need three ordering constraints to line up (see the
/// policy module's "Choosing a policy").
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::{DEFAULT_SCHEDULES, Explore};
///
/// assert_eq!(DEFAULT_SCHEDULES, 1_000);
/// if std::env::var_os("TRIO_SCHEDULES").is_none() {
///     assert_eq!(Explore::new("t").schedule_count(), DEFAULT_SCHEDULES);
/// }
/// ```
pub const DEFAULT_SCHEDULES: u64 = 1_000;

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
/// assert!("pct:4000000000".parse::<PolicyKind>().is_err()); // depth at most Pct::MAX_DEPTH
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
        /// The bug depth `d`: `d - 1` priority change points per schedule (1 to
        /// [`Pct::MAX_DEPTH`]).
        depth: u32,
    },
    /// Partial order sampling ([`Pos`](crate::policy::Pos)): random priorities per step,
    /// re-drawn for the task that ran and the tasks it woke.
    Pos,
    /// A uniform random walk over interleavings ([`Surw`](crate::policy::Surw)): a task is
    /// picked with probability proportional to the steps it has left, as measured on a run in
    /// the default order.
    Surw,
    /// Random, SURW, POS and PCT with depth 3 in turn, schedule by schedule, in a cycle of
    /// ten: one Random, four SURW, four POS, one PCT 3 — the default. No single policy is best
    /// for every bug (a random walk keeps tasks level and rarely lets a long task race ahead;
    /// PCT rarely interleaves finely; SURW is slow on bugs where a short task must race
    /// ahead). Per schedule the mix fails with the weighted mean of its policies' chances, so
    /// it never beats the best of them on a given bug; the weights are the ones that keep the
    /// worst ratio to the best single policy smallest over the nineteen bugs measured in
    /// `docs/PERFORMANCE.md` (at most 2.8×, where equal turns of the four needed 3.9×). A failure names
    /// the policy its schedule ran under.
    Mixed,
}

impl PolicyKind {
    /// The policy schedule `index` runs under (only `Mixed` varies).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::PolicyKind;
    ///
    /// let turns: Vec<PolicyKind> = (0..6).map(|i| PolicyKind::Mixed.for_schedule(i)).collect();
    /// assert_eq!(
    ///     turns,
    ///     [
    ///         PolicyKind::Random,
    ///         PolicyKind::Surw,
    ///         PolicyKind::Pos,
    ///         PolicyKind::Surw,
    ///         PolicyKind::Pos,
    ///         PolicyKind::Pct { depth: 3 }
    ///     ]
    /// );
    /// assert_eq!(PolicyKind::Random.for_schedule(1), PolicyKind::Random); // only Mixed varies
    /// ```
    pub fn for_schedule(self, index: u64) -> PolicyKind {
        match self {
            PolicyKind::Mixed => MIXED_TURNS[(index % MIXED_TURNS.len() as u64) as usize],
            other => other,
        }
    }
}

/// The turns of [`PolicyKind::Mixed`], schedule by schedule.
pub(crate) const MIXED_TURNS: [PolicyKind; 10] = [
    PolicyKind::Random,
    PolicyKind::Surw,
    PolicyKind::Pos,
    PolicyKind::Surw,
    PolicyKind::Pos,
    PolicyKind::Pct { depth: 3 },
    PolicyKind::Surw,
    PolicyKind::Pos,
    PolicyKind::Surw,
    PolicyKind::Pos,
];

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyKind::Fifo => f.write_str("fifo"),
            PolicyKind::Random => f.write_str("random"),
            PolicyKind::Pct { depth } => write!(f, "pct:{depth}"),
            PolicyKind::Pos => f.write_str("pos"),
            PolicyKind::Surw => f.write_str("surw"),
            PolicyKind::Mixed => f.write_str("mixed"),
        }
    }
}

impl FromStr for PolicyKind {
    type Err = String;

    /// `fifo`, `random`, `mixed`, `pos`, `surw`, `pct` (depth 3) or `pct:<depth>` with a depth
    /// from 1 to [`Pct::MAX_DEPTH`].
    fn from_str(s: &str) -> Result<PolicyKind, String> {
        const NAMES: &str = "use mixed, random, pct, pct:<depth>, pos, surw or fifo";
        match s.trim() {
            "fifo" => Ok(PolicyKind::Fifo),
            "random" => Ok(PolicyKind::Random),
            "mixed" => Ok(PolicyKind::Mixed),
            "pos" => Ok(PolicyKind::Pos),
            "surw" => Ok(PolicyKind::Surw),
            "pct" => Ok(PolicyKind::Pct { depth: 3 }),
            other => match other.strip_prefix("pct:").map(str::trim) {
                Some(depth) if !depth.is_empty() && depth.bytes().all(|b| b.is_ascii_digit()) => {
                    match depth.parse::<u32>() {
                        Ok(depth) if (1..=Pct::MAX_DEPTH).contains(&depth) => Ok(PolicyKind::Pct { depth }),
                        _ => Err(format!(
                            "PCT depth {depth} in {other:?} is out of range: {NAMES}, with a depth from 1 to {} \
                             (2 to 4 finds most bugs)",
                            Pct::MAX_DEPTH
                        )),
                    }
                }
                _ => Err(format!("unknown policy {other:?}: {NAMES}")),
            },
        }
    }
}

// ===== clocks =====

/// Which clock fixture a test asked for.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio_testkit::explore::{ClockFixture, Explore};
///
/// // A frozen clock moves only when the test jumps it.
/// Explore::new("frozen")
///     .schedules(1)
///     .clock(ClockFixture::Mock)
///     .run_with_fixtures(&|fixtures| async move {
///         fixtures.clock().jump(Duration::from_secs(5));
///         assert_eq!(trio::current_time(), trio::Instant::from_secs(5));
///     })
///     .unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockFixture {
    /// `mock_clock`: frozen, no autojump.
    Mock,
    /// `autojump_clock` (or the `autojump` argument): frozen, autojump threshold zero.
    Autojump,
}

/// The clock setting before the defaults are filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClockChoice {
    /// An exploration gets an autojump clock; a single-schedule `#[trio_test]` the real clock.
    Default,
    Chosen(Option<ClockFixture>),
}

// ===== the configuration =====

/// The configuration of a test: how many schedules, under which policy and seed, with which
/// clock and limits, and what to do on failure. `#[trio_test]` builds one from its arguments
/// and fixtures; an exploration without the macro builds one by hand. It then runs with
/// [`run`](Explore::run) (on every core) or [`run_local`](Explore::run_local) (on this thread).
///
/// Every setting can be overridden from the environment, so a failure can be replayed or an
/// exploration widened without touching the code; the environment wins over the code:
///
/// | setting | environment | default |
/// | --- | --- | --- |
/// | [`schedules`](Explore::schedules) | `TRIO_SCHEDULES=N` (N ≥ 1) | [`DEFAULT_SCHEDULES`] (`#[trio_test]`: 1) |
/// | [`policy`](Explore::policy) | `TRIO_POLICY=mixed\|random\|pct\|pct:D\|pos\|surw\|fifo` | mixed |
/// | [`only_seed`](Explore::only_seed) | `TRIO_SEED=N` or `0x…` | explore |
/// | [`replay`](Explore::replay) | `TRIO_REPLAY=v1:…` | explore |
/// | [`check_determinism`](Explore::check_determinism) | `TRIO_CHECK_DETERMINISM=1\|0\|true\|false\|yes\|no` | off |
/// | [`threads`](Explore::threads) | `TRIO_THREADS=N` (N ≥ 1) | the available cores |
/// | [`trace_html`](Explore::trace_html) | `TRIO_TRACE_HTML=path` | no page |
///
/// A value that does not parse (`TRIO_SCHEDULES=0`, `TRIO_POLICY=pct:4000000000`,
/// `TRIO_CHECK_DETERMINISM=maybe`, a value that is not UTF-8) stops the test with a message
/// that names the variable and says what it accepts. An empty value counts as unset.
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
    pub(crate) name: String,
    /// Where the test is: its replay command and regressions file are derived from it.
    pub(crate) source: &'static Location<'static>,
    /// Built by `#[trio_test]`: its defaults apply, and a report suggests pinning the seed with
    /// the attribute.
    pub(crate) attribute: bool,
    /// `TRIO_SCHEDULES`
    pub(crate) schedules: u64,
    pub(crate) first_schedule: u64,
    /// Set by `schedule_range`: a shard's range is not resized by `TRIO_SCHEDULES`.
    pub(crate) ranged: bool,
    /// `TRIO_POLICY`
    pub(crate) policy: PolicyKind,
    /// The base seed; `None`: derived from the name.
    pub(crate) seed: Option<u64>,
    /// `TRIO_SEED`: exactly one schedule, under exactly this seed.
    pub(crate) only_seed: Option<u64>,
    /// `TRIO_REPLAY`: exactly this schedule.
    pub(crate) replay: Option<Schedule>,
    clock: ClockChoice,
    /// Who chose the clock, when a test or fixture asked for one: `.clock()` or a fixture.
    clock_chosen_by: Option<String>,
    pub(crate) nursery: bool,
    /// The `net` fixture: a fresh [`SimNet`](crate::sim::SimNet) installed in every schedule's run.
    pub(crate) net: bool,
    /// The user fixtures the test asks for, and the fixtures they need, dependencies first.
    pub(crate) plan: Plan,
    roots: Vec<AnyFixture>,
    pub(crate) max_steps: u64,
    pub(crate) timeout: Duration,
    pub(crate) shrink: bool,
    /// `None`: on, except for a single-schedule `#[trio_test]`.
    persist: Option<bool>,
    /// `TRIO_CHECK_DETERMINISM`
    pub(crate) check_determinism: bool,
    pub(crate) inject_cancellations: Option<u64>,
    /// `TRIO_THREADS`; `None`: the available cores.
    threads: Option<usize>,
    /// Where the value of `threads` came from, for the message when it cannot be honoured.
    threads_from: Option<&'static str>,
    pub(crate) regressions_file: Option<PathBuf>,
    /// Fail the exploration when a `sometimes!` it evaluated never came true.
    pub(crate) require_sometimes: bool,
    /// Messages of assertions that must fire in some schedule.
    pub(crate) required_assertions: Vec<String>,
    /// `TRIO_TRACE_HTML`: where to write the failing schedule as a page.
    pub(crate) trace_html: Option<PathBuf>,
}

impl Explore {
    /// Exploration of the test called `name` (used in reports, replay lines and the
    /// regressions file; `#[trio_test]` passes the test's path). Defaults:
    /// [`DEFAULT_SCHEDULES`] (1,000) schedules under
    /// [`PolicyKind::Mixed`], a seed derived from the name, an autojump `MockClock` per schedule,
    /// shrinking on, failing schedules saved, every available core.
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
            source: Location::caller(),
            attribute: false,
            schedules: DEFAULT_SCHEDULES,
            first_schedule: 0,
            ranged: false,
            policy: PolicyKind::Mixed,
            seed: None,
            only_seed: None,
            replay: None,
            clock: ClockChoice::Chosen(Some(ClockFixture::Autojump)),
            clock_chosen_by: None,
            nursery: false,
            net: false,
            plan: Plan::default(),
            roots: Vec::new(),
            max_steps: DEFAULT_MAX_STEPS,
            timeout: DEFAULT_TIMEOUT,
            shrink: true,
            persist: Some(true),
            check_determinism: false,
            inject_cancellations: None,
            threads: None,
            threads_from: None,
            regressions_file: None,
            require_sometimes: false,
            required_assertions: Vec::new(),
            trace_html: None,
        }
    }

    /// The configuration `#[trio_test]` starts from: one schedule; the real clock unless the
    /// test asks for a clock fixture or explores; failing schedules saved only when exploring.
    #[track_caller]
    pub(crate) fn for_attribute(name: impl Into<String>) -> Explore {
        let mut config = Explore::new(name);
        config.attribute = true;
        config.schedules = 1;
        config.clock = ClockChoice::Default;
        config.persist = None;
        config
    }

    /// How many schedules to run (env `TRIO_SCHEDULES`). At least one: zero stops the run with
    /// an error.
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

    /// The policy (env `TRIO_POLICY`: `mixed`, `random`, `pct`, `pct:<depth>`, `pos`, `surw`,
    /// `fifo`). PCT places its change points within the length of a run, and SURW weighs tasks
    /// by their steps, both measured first: an exploration that uses either (so also `mixed`,
    /// from two schedules on) runs the test once more, in the default order.
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

    /// The base seed; schedule `i` runs under [`schedule_seed(base, i)`](schedule_seed).
    /// Without one, the seed is derived from the test's name. (Env `TRIO_SEED` is different:
    /// it runs exactly one schedule, under exactly that seed — see [`only_seed`](Explore::only_seed).)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use trio_testkit::explore::{Explore, PolicyKind, schedule_seed};
    ///
    /// let seeds = Mutex::new(Vec::new());
    /// Explore::new("seeded")
    ///     .seed(42)
    ///     .schedules(3)
    ///     .policy(PolicyKind::Random)
    ///     .run(|| {
    ///         seeds.lock().unwrap().push(trio::lowlevel::current_seed());
    ///         trio::checkpoint()
    ///     })
    ///     .unwrap();
    /// let mut seeds = seeds.into_inner().unwrap();
    /// seeds.sort_by_key(|&seed| [42, schedule_seed(42, 1), schedule_seed(42, 2)].iter().position(|&s| s == seed));
    /// assert_eq!(seeds, [42, schedule_seed(42, 1), schedule_seed(42, 2)]);
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
        self.clock = ClockChoice::Chosen(clock.into());
        self.clock_chosen_by = Some("the test".to_string());
        self
    }

    /// Gives each schedule's run a fresh simulated network, installed before the test starts
    /// and passed as the `net` fixture ([`Fixtures::net`](crate::explore::Fixtures::net)).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::Listener;
    /// use trio_testkit::explore::Explore;
    ///
    /// Explore::new("on_a_network")
    ///     .schedules(3)
    ///     .net()
    ///     .run_with_fixtures(&|fixtures| async move {
    ///         let net = fixtures.net();
    ///         let listener = net.add_host("db").listen(5432).unwrap();
    ///         let _client = trio::net::open_tcp_stream("db", 5432).await.unwrap();
    ///         let _server_side = listener.accept().await.unwrap();
    ///     })
    ///     .unwrap();
    /// ```
    pub fn net(mut self) -> Explore {
        self.net = true;
        self
    }

    /// Asks for a user fixture (a [`#[trio_fixture]`](crate::trio_fixture)): every schedule
    /// sets it up — with every fixture it needs — before the test, and tears it down after;
    /// [`Fixtures::get`](crate::explore::Fixtures::get) hands the test its value. The clock
    /// and network the fixtures ask for become the run's.
    ///
    /// # Panics
    ///
    /// At the caller, with a message naming the fixtures: if the fixtures depend on each other
    /// in a cycle, or ask for a clock other than the one the test (or another fixture) asks
    /// for.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    /// use trio_testkit::trio_fixture;
    ///
    /// #[trio_fixture]
    /// async fn limit() -> usize {
    ///     3
    /// }
    ///
    /// Explore::new("with_a_fixture")
    ///     .schedules(2)
    ///     .fixture(limit)
    ///     .run_with_fixtures(&|fixtures| async move {
    ///         assert_eq!(fixtures.get(limit), 3);
    ///     })
    ///     .unwrap();
    /// ```
    #[track_caller]
    pub fn fixture<T>(mut self, fixture: impl FixtureRef<T>) -> Explore {
        self.roots.push(any_fixture(fixture));
        let plan = match Plan::new(&self.roots) {
            Ok(plan) => plan,
            Err(cycle) => panic!("{cycle}"),
        };
        for fixture in plan.fixtures() {
            if fixture.net() {
                self.net = true;
            }
            let Some(wanted) = fixture.clock() else { continue };
            let by = format!("fixture `{}`", fixture.path());
            match (self.clock, &self.clock_chosen_by) {
                (ClockChoice::Chosen(current), Some(other)) if current != Some(wanted) && *other != by => {
                    let name = |clock: Option<ClockFixture>| match clock {
                        Some(ClockFixture::Mock) => "mock_clock",
                        Some(ClockFixture::Autojump) => "autojump_clock (or the `autojump` argument)",
                        None => "the real clock",
                    };
                    panic!(
                        "too many clocks spoil the broth: {by} asks for {}, but {other} asks for {}, and a run \
                         has exactly one clock; make them ask for the same one",
                        name(Some(wanted)),
                        name(current)
                    );
                }
                _ => {
                    self.clock = ClockChoice::Chosen(Some(wanted));
                    self.clock_chosen_by = Some(by);
                }
            }
        }
        self.plan = plan;
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

    /// Real time one schedule may take before the watchdog fails it (default
    /// [`DEFAULT_TIMEOUT`]). A schedule stopped by the watchdog is neither re-run nor shrunk:
    /// each run could cost the whole limit again.
    ///
    /// A task that never yields (a loop with no `.await`) keeps the runtime from ever checking
    /// the watchdog. A watcher thread catches that too: once such a run has gone on for the
    /// limit plus half of it (at least one second more), it prints what it knows — the test,
    /// the schedule, the task that is running, the live tasks — and aborts the process, the
    /// only way to stop a thread that never gives control back.
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
    ///     .persist(false)
    ///     .run(|| async {
    ///         // A foreign future that never completes.
    ///         trio::cancellable(std::future::pending::<()>()).await.ok();
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::Watchdog);
    /// assert!(failure.shrunk.is_none());
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
    /// on; for `#[trio_test]`, on when it explores). A saved schedule that passes is followed
    /// by eight runs that replay a prefix of it and continue at random, to catch a bug next to
    /// the one it once found.
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
        self.persist = Some(persist);
        self
    }

    /// Also runs the first schedule three times, fully recorded, and fails on the first event
    /// that differs (env `TRIO_CHECK_DETERMINISM=1`).
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

    /// Cancellation injection: runs the test once more for every task and every `k` up to
    /// `bound`, cancelling the innermost scope around the task's `k`-th cancel point — as if a
    /// timeout had fired exactly there. Finds code that loses values or breaks invariants when
    /// cancelled.
    ///
    /// A baseline run (schedule 0's seed and policy) lists the tasks and their cancel points;
    /// the injection runs then take turns with the ordinary schedules — schedule, injection,
    /// schedule, injection — until one kind runs out, so a cancel-safety bug is found within
    /// the first runs instead of after the whole budget. Every injection runs, whatever the
    /// budget: the runs total the schedules, the injections and the baseline.
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

    /// How many worker threads explore the schedules (env `TRIO_THREADS`; default: the
    /// available cores). Each thread runs its own runtimes; schedule `i` runs under the same
    /// seed whichever thread runs it, and the failure reported is always the one of the lowest
    /// failing schedule, so the outcome and every line of a report are the same for any number
    /// of threads. [`run_local`](Explore::run_local) always uses one.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let lock_workload = || async {
    ///     let lock = std::rc::Rc::new(trio::Lock::new());
    ///     trio::open_nursery(|nursery| async move {
    ///         for _ in 0..3 {
    ///             let lock = lock.clone();
    ///             nursery.start_soon(async move {
    ///                 let _guard = lock.lock().await?;
    ///                 trio::checkpoint().await?;
    ///                 Ok(())
    ///             });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// };
    /// let one = Explore::new("locks").schedules(200).threads(1).run(lock_workload).unwrap();
    /// let two = Explore::new("locks").schedules(200).threads(2).run(lock_workload).unwrap();
    /// assert_eq!(one, two); // the same schedules, the same summary
    /// ```
    pub fn threads(mut self, threads: usize) -> Explore {
        self.threads = Some(threads);
        self.threads_from = Some("threads");
        self
    }

    /// Fails the exploration when a [`trio::sometimes!`] that some schedule evaluated never
    /// came true in any schedule: the case it names (a full queue, an injected fault) never
    /// happened, so a passing test proved less than it claims. The failure lists each such
    /// assertion; its [`kind`](crate::explore::Failure::kind) is
    /// [`FailureKind::Unsatisfied`](crate::explore::FailureKind::Unsatisfied). A `sometimes!`
    /// that no schedule reached is unknown to the exploration: name it with
    /// [`require_assertion`](Explore::require_assertion) to require it.
    ///
    /// Requirements are not checked when exactly one schedule is replayed (`TRIO_SEED`,
    /// `TRIO_REPLAY`: the case may need another schedule), nor in one shard of a sharded
    /// exploration ([`schedule_range`](Explore::schedule_range): another shard may see it).
    ///
    /// `#[trio_test(require_sometimes)]` sets it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::{Explore, FailureKind};
    ///
    /// let failure = Explore::new("never_full")
    ///     .schedules(20)
    ///     .require_sometimes(true)
    ///     .run(|| async {
    ///         let (tx, _rx) = trio::open_memory_channel::<u8>(4);
    ///         tx.send(1).await.unwrap();
    ///         trio::sometimes!(tx.statistics().current_buffer_used == 4, "the buffer fills up");
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::Unsatisfied);
    /// assert!(failure.message.contains("\"the buffer fills up\""));
    /// assert!(failure.message.contains("never true"));
    /// ```
    pub fn require_sometimes(mut self, require: bool) -> Explore {
        self.require_sometimes = require;
        self
    }

    /// Fails the exploration unless an assertion with this message fired in some schedule: a
    /// [`trio::reachable!`] was reached, a [`trio::sometimes!`] came true, an
    /// [`trio::always!`] was evaluated. Unlike [`require_sometimes`](Explore::require_sometimes)
    /// it also catches an assertion that no schedule reached. May be given several times.
    /// `#[trio_test(require_assertion = "message")]` (or a list, `= ["one", "two"]`) sets it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::{Explore, FailureKind};
    ///
    /// async fn fetch(attempt_fails: bool) -> u32 {
    ///     if attempt_fails {
    ///         trio::reachable!("the client retries");
    ///     }
    ///     7
    /// }
    ///
    /// // The test never makes an attempt fail, so the retry path is never tested.
    /// let failure = Explore::new("retries")
    ///     .schedules(5)
    ///     .require_assertion("the client retries")
    ///     .run(|| async { assert_eq!(fetch(false).await, 7) })
    ///     .unwrap_err();
    /// assert_eq!(failure.kind, FailureKind::Unsatisfied);
    /// assert!(failure.message.contains("no schedule reached"));
    ///
    /// Explore::new("retries")
    ///     .schedules(5)
    ///     .require_assertion("the client retries")
    ///     .run(|| async { assert_eq!(fetch(true).await, 7) })
    ///     .unwrap();
    /// ```
    pub fn require_assertion(mut self, message: impl Into<String>) -> Explore {
        self.required_assertions.push(message.into());
        self
    }

    /// Writes the failing schedule, if the exploration fails, as one self-contained HTML page
    /// at `path` (env `TRIO_TRACE_HTML`): a lane per task, grouped by the nursery it runs in,
    /// with virtual time, checkpoints, deviations from the default order and injected
    /// faults marked, the shrunk schedule beside the original. See
    /// [`Failure::to_html`](crate::explore::Failure::to_html).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let path = std::env::temp_dir().join(format!("trio-trace-doc-{}.html", std::process::id()));
    /// let failure = Explore::new("fails_at_once")
    ///     .schedules(1)
    ///     .persist(false)
    ///     .trace_html(&path)
    ///     .run(|| async { panic!("boom") })
    ///     .unwrap_err();
    /// let page = std::fs::read_to_string(&path).unwrap();
    /// assert!(page.starts_with("<!DOCTYPE html>"));
    /// assert_eq!(failure.html_written_to.as_deref(), Some(path.as_path()));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn trace_html(mut self, path: impl Into<PathBuf>) -> Explore {
        self.trace_html = Some(path.into());
        self
    }

    /// Sets where the test is, for its replay command and regressions file (what
    /// `#[trio_test]` does; [`Explore::new`] takes its caller's location).
    pub(crate) fn source(mut self, source: &'static Location<'static>) -> Explore {
        self.source = source;
        self
    }

    /// Runs exactly one schedule, under exactly this seed: what `TRIO_SEED` does, and what a
    /// report's "replay this schedule" line runs. The regressions file is not replayed first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use trio_testkit::explore::Explore;
    ///
    /// let seen = AtomicU64::new(0);
    /// let summary = Explore::new("one_seed")
    ///     .schedules(100)
    ///     .only_seed(1234)
    ///     .run(|| async { seen.store(trio::lowlevel::current_seed(), Ordering::Relaxed) })
    ///     .unwrap();
    /// assert_eq!(summary.runs, 1);
    /// assert_eq!(seen.load(Ordering::Relaxed), 1234);
    /// ```
    pub fn only_seed(mut self, seed: u64) -> Explore {
        self.only_seed = Some(seed);
        self
    }

    /// Replays exactly this schedule (what `TRIO_REPLAY` does); the regressions file is not
    /// replayed first. Replay is tolerant — a pick whose task is not runnable at its decision
    /// falls back to the default order — but not silent: picks that did not apply end up in
    /// the [`Summary::warnings`](crate::explore::Summary::warnings) (or the failure's), and on
    /// standard error.
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
    /// // The closure holds an `Rc`, so it cannot be shared with worker threads: `run_local`.
    /// let summary = Explore::new("replayed")
    ///     .replay("v1:1=t3".parse().unwrap()) // at the first choice, run task 3
    ///     .run_local(move || {
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
    /// assert!(summary.warnings.is_empty()); // the pick applied
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
    pub fn regressions_file(mut self, path: impl Into<PathBuf>) -> Explore {
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
    /// # Panics
    ///
    /// If an environment override does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// // Unless `TRIO_SCHEDULES` says otherwise:
    /// if std::env::var_os("TRIO_SCHEDULES").is_none() {
    ///     assert_eq!(Explore::new("t").schedule_count(), 1_000);
    ///     assert_eq!(Explore::new("t").schedules(7).schedule_count(), 7);
    /// }
    /// ```
    #[track_caller]
    pub fn schedule_count(&self) -> u64 {
        self.resolve().schedules
    }

    /// How many worker threads an exploration with [`run`](Explore::run) uses at most, after
    /// environment overrides (`TRIO_THREADS`).
    ///
    /// # Panics
    ///
    /// If an environment override does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// if std::env::var_os("TRIO_THREADS").is_none() {
    ///     assert_eq!(Explore::new("t").threads(3).thread_count(), 3);
    ///     // By default, every available core.
    ///     let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    ///     assert_eq!(Explore::new("t").thread_count(), cores);
    /// }
    /// ```
    #[track_caller]
    pub fn thread_count(&self) -> usize {
        self.resolve().threads.unwrap_or(1)
    }

    /// Whether the determinism check runs, after environment overrides
    /// (`TRIO_CHECK_DETERMINISM`).
    ///
    /// # Panics
    ///
    /// If an environment override does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// if std::env::var_os("TRIO_CHECK_DETERMINISM").is_none() {
    ///     assert!(!Explore::new("t").checks_determinism());
    ///     assert!(Explore::new("t").check_determinism(true).checks_determinism());
    /// }
    /// ```
    #[track_caller]
    pub fn checks_determinism(&self) -> bool {
        self.resolve().check_determinism
    }

    /// Applies the `TRIO_*` overrides given as `(name, value)` pairs, as if they were the
    /// environment — what [`run`](Explore::run) does with the real environment, in the same
    /// place and by the same rules. Names that are not trio's are ignored.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the first variable whose value does not parse, and what it
    /// accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::{Explore, PolicyKind};
    ///
    /// let widened = Explore::new("t").apply_env([("TRIO_SCHEDULES", "500"), ("TRIO_THREADS", "3")]).unwrap();
    /// if std::env::var_os("TRIO_SCHEDULES").is_none() && std::env::var_os("TRIO_THREADS").is_none() {
    ///     assert_eq!(widened.schedule_count(), 500);
    ///     assert_eq!(widened.thread_count(), 3);
    /// }
    ///
    /// let error = Explore::new("t").apply_env([("TRIO_SCHEDULES", "0")]).unwrap_err();
    /// assert!(error.to_string().starts_with("TRIO_SCHEDULES: 0 schedules explore nothing"));
    /// let error = Explore::new("t").apply_env([("TRIO_POLICY", "pct:4000000000")]).unwrap_err();
    /// assert!(error.to_string().contains("out of range"));
    /// ```
    pub fn apply_env<K, V>(self, vars: impl IntoIterator<Item = (K, V)>) -> Result<Explore, SettingsError>
    where
        K: AsRef<str>,
        V: Into<OsString>,
    {
        let vars: Vec<(String, OsString)> = vars.into_iter().map(|(k, v)| (k.as_ref().to_string(), v.into())).collect();
        self.with_env_from(&|name| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    /// The base seed: the explicit one, or a stable hash of the name. Schedule `i` runs under
    /// [`schedule_seed(base, i)`](schedule_seed).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::__private::seed_from_name;
    /// use trio_testkit::explore::Explore;
    ///
    /// assert_eq!(Explore::new("demo::t").base_seed(), seed_from_name("demo::t"));
    /// assert_eq!(Explore::new("demo::t").seed(5).base_seed(), 5);
    /// ```
    pub fn base_seed(&self) -> u64 {
        self.seed.unwrap_or_else(|| seed_from_name(&self.name))
    }

    /// Whether the base seed came from the name of a `#[trio_test]`: a report then suggests
    /// pinning it in the attribute.
    pub(crate) fn seed_from_attribute_name(&self) -> bool {
        self.attribute && self.seed.is_none()
    }

    /// The clock fixture of every schedule, once resolved.
    pub(crate) fn clock_fixture(&self) -> Option<ClockFixture> {
        match self.clock {
            ClockChoice::Chosen(clock) => clock,
            ClockChoice::Default => None,
        }
    }

    /// Whether failing schedules are saved and the regressions file replayed, once resolved.
    pub(crate) fn persists(&self) -> bool {
        self.persist.unwrap_or(true)
    }

    /// Worker threads, once resolved.
    pub(crate) fn worker_threads(&self) -> usize {
        self.threads.unwrap_or(1)
    }

    /// Who asked for more than one thread, if anyone did explicitly (for the note printed when
    /// a test that cannot be shared between threads runs on one).
    pub(crate) fn threads_requested_by(&self) -> Option<&'static str> {
        self.threads.filter(|&n| n > 1).and(self.threads_from)
    }

    /// The configuration with every default filled in and the process environment applied:
    /// what the engine runs.
    ///
    /// # Panics
    ///
    /// With the [`SettingsError`]'s message, at the caller, if a setting is invalid.
    #[track_caller]
    pub(crate) fn resolve(&self) -> Explore {
        match self.with_env_from(&|name| std::env::var_os(name)) {
            Ok(config) => config,
            Err(error) => panic!("{error}"),
        }
    }

    /// The one place the defaults are filled in and the environment is applied.
    fn with_env_from(&self, var: &dyn Fn(&str) -> Option<OsString>) -> Result<Explore, SettingsError> {
        let mut config = self.clone();
        // Defaults that depend on whether the code explores (the environment widening a test
        // does not change its clock: a test written for real time keeps it).
        let exploring = config.schedules > 1 || config.inject_cancellations.is_some();
        if config.clock == ClockChoice::Default {
            config.clock = ClockChoice::Chosen(exploring.then_some(ClockFixture::Autojump));
        }
        if config.persist.is_none() {
            config.persist = Some(exploring);
        }

        let text = |name: &'static str| -> Result<Option<String>, SettingsError> {
            match var(name) {
                None => Ok(None),
                Some(value) => match value.into_string() {
                    Ok(value) if value.trim().is_empty() => Ok(None),
                    Ok(value) => Ok(Some(value.trim().to_string())),
                    Err(raw) => Err(SettingsError::env(
                        name,
                        format!("the value {:?} is not valid UTF-8", raw.to_string_lossy()),
                    )),
                },
            }
        };

        if let Some(value) = text("TRIO_SCHEDULES")? {
            let schedules = match value.parse::<u64>() {
                Ok(0) => {
                    return Err(SettingsError::env(
                        "TRIO_SCHEDULES",
                        "0 schedules explore nothing: set at least 1, or unset it to run the test's own number".into(),
                    ));
                }
                Ok(n) => n,
                Err(_) => {
                    return Err(SettingsError::env(
                        "TRIO_SCHEDULES",
                        format!("{value:?} is not a number of schedules (such as 1000)"),
                    ));
                }
            };
            // A shard of the harness keeps its range: the harness already split the total.
            if !config.ranged {
                config.schedules = schedules;
            }
        }
        if let Some(value) = text("TRIO_POLICY")? {
            config.policy = value.parse().map_err(|message| SettingsError::env("TRIO_POLICY", message))?;
        }
        if let Some(value) = text("TRIO_SEED")? {
            config.only_seed = Some(parse_seed(&value).ok_or_else(|| {
                SettingsError::env(
                    "TRIO_SEED",
                    format!("{value:?} is not a seed: write a decimal number, or 0x and hex digits"),
                )
            })?);
        }
        if let Some(value) = text("TRIO_REPLAY")? {
            let schedule = value
                .parse()
                .map_err(|e: crate::policy::ScheduleParseError| SettingsError::env("TRIO_REPLAY", e.to_string()))?;
            config.replay = Some(schedule);
        }
        if let Some(value) = text("TRIO_CHECK_DETERMINISM")? {
            config.check_determinism = parse_switch(&value).ok_or_else(|| {
                SettingsError::env(
                    "TRIO_CHECK_DETERMINISM",
                    format!("{value:?} is not a switch: use 1, 0, true, false, yes or no"),
                )
            })?;
        }
        if let Some(value) = text("TRIO_TRACE_HTML")? {
            config.trace_html = Some(PathBuf::from(value));
        }
        if let Some(value) = text("TRIO_THREADS")? {
            match value.parse::<usize>() {
                Ok(n) if n >= 1 => {
                    config.threads = Some(n);
                    config.threads_from = Some("TRIO_THREADS");
                }
                _ => {
                    return Err(SettingsError::env(
                        "TRIO_THREADS",
                        format!("{value:?} is not a number of worker threads: use 1 or more"),
                    ));
                }
            }
        }

        // What the code asked for must make sense too.
        if config.schedules == 0 {
            return Err(SettingsError::code("schedules", "an exploration runs at least one schedule".into()));
        }
        if config.threads == Some(0) {
            return Err(SettingsError::code("threads", "an exploration needs at least one thread".into()));
        }
        if let PolicyKind::Pct { depth } = config.policy
            && !(1..=Pct::MAX_DEPTH).contains(&depth)
        {
            return Err(SettingsError::code(
                "policy",
                format!("PCT depth {depth} is out of range: use 1 to {}", Pct::MAX_DEPTH),
            ));
        }
        if config.max_steps == 0 {
            return Err(SettingsError::code("max_steps", "a schedule needs at least one step".into()));
        }
        if config.timeout.is_zero() {
            return Err(SettingsError::code("timeout", "the real-time limit must be longer than zero".into()));
        }
        if config.threads.is_none() {
            config.threads = Some(available_cores());
        }
        Ok(config)
    }
}

/// A setting that cannot be used: an environment override that does not parse, or a value in
/// the code out of range.
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::Explore;
///
/// let config = Explore::new("t").apply_env([("TRIO_CHECK_DETERMINISM", "false")]).unwrap();
/// assert!(!config.checks_determinism()); // `false` turns it off
/// let error = Explore::new("t").apply_env([("TRIO_CHECK_DETERMINISM", "maybe")]).unwrap_err();
/// assert_eq!(error.setting(), "TRIO_CHECK_DETERMINISM");
/// assert_eq!(
///     error.to_string(),
///     "TRIO_CHECK_DETERMINISM: \"maybe\" is not a switch: use 1, 0, true, false, yes or no"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    setting: &'static str,
    message: String,
}

impl SettingsError {
    /// An environment variable whose value does not parse; `message` names the value.
    fn env(setting: &'static str, message: String) -> SettingsError {
        SettingsError { setting, message: format!("{setting}: {message}") }
    }

    /// A value in the code out of range.
    fn code(setting: &'static str, message: String) -> SettingsError {
        SettingsError { setting, message: format!("Explore::{setting}: {message}") }
    }

    /// The environment variable (`TRIO_SCHEDULES`) or the setting in the code (`schedules`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let error = Explore::new("t").apply_env([("TRIO_THREADS", "none")]).unwrap_err();
    /// assert_eq!(error.setting(), "TRIO_THREADS");
    /// let error = Explore::new("t").schedules(0).apply_env([("TRIO_SEED", "1")]).unwrap_err();
    /// assert_eq!(error.setting(), "schedules");
    /// ```
    pub fn setting(&self) -> &str {
        self.setting
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettingsError {}

/// The cores this process may use, asked once (the answer reads files under `/proc` on Linux).
fn available_cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

// ===== seeds =====

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
/// assert_eq!(schedule_seed(7, 5), schedule_seed(7, 5)); // whichever thread or shard runs it
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

/// A stable 64-bit hash of a test's name (FNV-1a): the same seed on every run, machine and
/// Rust version, unlike `std`'s `DefaultHasher`.
///
/// # Examples
///
/// ```
/// use trio_testkit::__private::seed_from_name;
///
/// assert_eq!(seed_from_name("a::b"), seed_from_name("a::b"));
/// assert_ne!(seed_from_name("a::b"), seed_from_name("a::c"));
/// ```
pub fn seed_from_name(name: &str) -> u64 {
    fnv1a(FNV_OFFSET, name.as_bytes())
}

/// FNV-1a's starting value.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues an FNV-1a hash over `bytes`: stable across runs, machines and Rust versions.
pub(crate) fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A seed as `TRIO_SEED` and the regressions file write it: decimal, or hex after `0x`.
pub(crate) fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => text.replace('_', "").parse().ok(),
    }
}

/// An on/off switch: `1`, `0`, `true`, `false`, `yes`, `no` (any case).
fn parse_switch(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

// ===== how to re-run the test =====

/// How to re-run just this test: `cargo test [-p pkg] [--test target] -- name --exact`,
/// derived from the test's name and source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplayCommand {
    package: Option<String>,
    target: Option<String>,
    test: String,
}

impl ReplayCommand {
    pub(crate) fn new(config: &Explore) -> ReplayCommand {
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

    /// The command with `env` (`TRIO_SEED=… TRIO_POLICY=…`) in front.
    pub(crate) fn command(&self, env: &str) -> String {
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
