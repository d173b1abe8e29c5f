//! A `harness = false` test entry point for large explorations: each test's schedules are split
//! into ranges, and every range is its own trial, so `cargo nextest run --partition hash:M/N`
//! spreads one exploration over N CI machines with no extra infrastructure.
//!
//! Behind the `harness` feature (off by default: it brings libtest-mimic and its command-line
//! parser), usually enabled for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! trio-testkit = { version = "0.1", features = ["harness"] }
//! ```
//!
//! ```toml
//! # Cargo.toml
//! [[test]]
//! name = "explore"
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/explore.rs
//! use trio_testkit::explore::Explore;
//! use trio_testkit::harness::Harness;
//!
//! fn main() {
//!     Harness::from_args()
//!         .explore(Explore::new("explore::counter").schedules(100_000), 10_000, || async {
//!             trio::checkpoint().await.unwrap();
//!         })
//!         .run();
//! }
//! ```
//!
//! `cargo test --test explore -- --list` shows the trials (`explore::counter::schedules_000000_010000`,
//! …); `TRIO_SCHEDULES` changes the total, and so the number of trials. A failing trial prints
//! the usual report, whose replay line runs just that test.

use std::future::Future;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::TestResult;
use crate::explore::Explore;

/// Collects explorations as trials and runs them with libtest's command line.
///
/// # Examples
///
/// ```
/// use libtest_mimic::Arguments;
/// use trio_testkit::explore::Explore;
/// use trio_testkit::harness::Harness;
///
/// let harness = Harness::with_args(Arguments { quiet: true, ..Arguments::default() })
///     .explore(Explore::new("counter").schedules(30), 10, || trio::checkpoint());
/// assert_eq!(harness.trial_names().len(), 3); // 30 schedules, 10 per trial
/// let conclusion = harness.run_to_conclusion();
/// assert_eq!(conclusion.num_passed, 3);
/// ```
#[derive(Debug)]
#[must_use = "a Harness does nothing until run"]
pub struct Harness {
    args: Arguments,
    trials: Vec<Trial>,
}

impl Harness {
    /// A harness reading the test binary's command line (filters, `--list`, `--exact`, …).
    ///
    /// # Examples
    ///
    /// `no_run`: the harness reads the command line of the test binary it is the `main` of.
    ///
    /// ```no_run
    /// // tests/explore.rs, a `harness = false` test target
    /// use trio_testkit::explore::Explore;
    /// use trio_testkit::harness::Harness;
    ///
    /// fn main() {
    ///     Harness::from_args()
    ///         .explore(Explore::new("explore::lock").schedules(10_000), 1_000, || async {
    ///             let lock = trio::Lock::new();
    ///             let _guard = lock.lock().await.unwrap();
    ///         })
    ///         .run();
    /// }
    /// ```
    pub fn from_args() -> Harness {
        Harness { args: Arguments::from_args(), trials: Vec::new() }
    }

    /// A harness with explicit arguments (for testing the harness itself).
    ///
    /// # Examples
    ///
    /// ```
    /// use libtest_mimic::Arguments;
    /// use trio_testkit::explore::Explore;
    /// use trio_testkit::harness::Harness;
    ///
    /// // As `cargo test -- --exact shard::schedules_000010_000020` would run it: one trial of two.
    /// let args = Arguments {
    ///     filter: Some("shard::schedules_000010_000020".to_string()),
    ///     exact: true,
    ///     quiet: true,
    ///     ..Arguments::default()
    /// };
    /// let conclusion = Harness::with_args(args)
    ///     .explore(Explore::new("shard").schedules(20), 10, || trio::checkpoint())
    ///     .run_to_conclusion();
    /// assert_eq!((conclusion.num_passed, conclusion.num_filtered_out), (1, 1));
    /// ```
    pub fn with_args(args: Arguments) -> Harness {
        Harness { args, trials: Vec::new() }
    }

    /// Adds `config`'s exploration of `test`, as one trial per `shard` schedules.
    ///
    /// # Panics
    ///
    /// If `shard` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use libtest_mimic::Arguments;
    /// use trio_testkit::explore::Explore;
    /// use trio_testkit::harness::Harness;
    ///
    /// let harness = Harness::with_args(Arguments::default())
    ///     .explore(Explore::new("big").schedules(25), 10, || trio::checkpoint())
    ///     .explore(Explore::new("small").schedules(5), 10, || trio::checkpoint());
    /// assert_eq!(
    ///     harness.trial_names(),
    ///     [
    ///         "big::schedules_000000_000010",
    ///         "big::schedules_000010_000020",
    ///         "big::schedules_000020_000025",
    ///         "small::schedules_000000_000005",
    ///     ]
    /// );
    /// ```
    pub fn explore<F, Fut>(mut self, config: Explore, shard: u64, test: F) -> Harness
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future,
        Fut::Output: TestResult,
    {
        assert!(shard > 0, "a shard holds at least one schedule");
        let test = Arc::new(test);
        let total = config.schedule_count();
        let width = total.to_string().len().max(6);
        let mut start = 0;
        while start < total {
            let end = (start + shard).min(total);
            let name = format!("{}::schedules_{start:0width$}_{end:0width$}", config.name());
            let config = config.clone().schedule_range(start..end);
            let test = test.clone();
            self.trials.push(Trial::test(name, move || match config.run(|| test()) {
                Ok(_) => Ok(()),
                Err(failure) => Err(Failed::from(failure.to_string())),
            }));
            start = end;
        }
        self
    }

    /// The trials collected so far, by name.
    ///
    /// # Examples
    ///
    /// ```
    /// use libtest_mimic::Arguments;
    /// use trio_testkit::explore::Explore;
    /// use trio_testkit::harness::Harness;
    ///
    /// let harness = Harness::with_args(Arguments::default());
    /// assert!(harness.trial_names().is_empty());
    /// let harness = harness.explore(Explore::new("t").schedules(3), 100, || trio::checkpoint());
    /// assert_eq!(harness.trial_names(), ["t::schedules_000000_000003"]);
    /// ```
    pub fn trial_names(&self) -> Vec<String> {
        self.trials.iter().map(|t| t.name().to_string()).collect()
    }

    /// Runs the trials and exits the process with libtest's status.
    ///
    /// # Examples
    ///
    /// `no_run`: it ends the process.
    ///
    /// ```no_run
    /// use trio_testkit::explore::Explore;
    /// use trio_testkit::harness::Harness;
    ///
    /// fn main() {
    ///     Harness::from_args().explore(Explore::new("explore::ok").schedules(100), 50, || trio::checkpoint()).run();
    /// }
    /// ```
    pub fn run(self) -> ! {
        libtest_mimic::run(&self.args, self.trials).exit()
    }

    /// Runs the trials and returns the conclusion instead of exiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use libtest_mimic::Arguments;
    /// use trio_testkit::explore::Explore;
    /// use trio_testkit::harness::Harness;
    ///
    /// let conclusion = Harness::with_args(Arguments { quiet: true, ..Arguments::default() })
    ///     .explore(Explore::new("fails").schedules(4).persist(false), 2, || async { panic!("boom") })
    ///     .run_to_conclusion();
    /// assert!(conclusion.has_failed());
    /// assert_eq!(conclusion.num_failed, 2); // both trials
    /// ```
    pub fn run_to_conclusion(self) -> libtest_mimic::Conclusion {
        libtest_mimic::run(&self.args, self.trials)
    }
}
