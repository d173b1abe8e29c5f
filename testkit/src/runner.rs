//! The engine behind `#[trio_test]`: builds the run a test asked for (clock, policy, seed,
//! watchdog), hands the test its fixtures, and turns every way a run can fail into a test
//! failure with a useful message.
//!
//! The macro only writes a [`TestConfig`] and calls [`run_test`]; everything else lives here,
//! so the macro stays small and the behaviour is ordinary, testable Rust.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::sync::Once;
use std::time::Duration;

use trio::Nursery;

use std::panic::Location;

use crate::clock::MockClock;
use crate::explore::{Explore, PolicyKind};

/// How long a test may take in real time before the watchdog stops it, unless it says
/// otherwise with `#[trio_test(timeout = "…")]`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Which clock fixture a test asked for.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio_testkit::__private::ClockFixture;
/// use trio_testkit::explore::Explore;
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

/// The scheduling policy a test asked for.
///
/// # Examples
///
/// ```
/// use trio_testkit::__private::{PolicyChoice, TestConfig, run_test};
///
/// // What `#[trio_test(policy = "fifo")]` asks for: children run in the order they were started.
/// run_test(TestConfig::new("demo::fifo").policy(PolicyChoice::Fifo), |_fixtures| async {
///     let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
///     let log = order.clone();
///     trio::open_nursery(|nursery| async move {
///         for i in 0..3 {
///             let log = log.clone();
///             nursery.start_soon(async move { log.borrow_mut().push(i) });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
///     assert_eq!(*order.borrow(), [0, 1, 2]);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyChoice {
    /// `policy = "fifo"`: the runtime's deterministic batch order.
    Fifo,
    /// `policy = "random"`, the default: [`Random`](crate::policy::Random) seeded with the test's seed.
    Random,
    /// `policy = "pct"` with `depth = D` (default 3): [`Pct`](crate::policy::Pct).
    Pct(u32),
    /// `policy = "mixed"`: Random and PCT in turn (the default when exploring).
    Mixed,
}

impl PolicyChoice {
    fn kind(self) -> PolicyKind {
        match self {
            PolicyChoice::Fifo => PolicyKind::Fifo,
            PolicyChoice::Random => PolicyKind::Random,
            PolicyChoice::Pct(depth) => PolicyKind::Pct { depth },
            PolicyChoice::Mixed => PolicyKind::Mixed,
        }
    }
}

/// Everything `#[trio_test]` learned from the attribute and the function's parameters.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio_testkit::__private::{ClockFixture, TestConfig};
///
/// let config = TestConfig::new("demo::sleeps")
///     .clock(ClockFixture::Autojump)
///     .seed(7)
///     .timeout(Duration::from_secs(5));
/// assert_eq!(config.effective_seed(), 7);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TestConfig {
    name: &'static str,
    clock: Option<ClockFixture>,
    nursery: bool,
    seed: Option<u64>,
    policy: Option<PolicyChoice>,
    timeout: Option<Duration>,
    schedules: Option<u64>,
    check_determinism: bool,
    inject_cancellations: Option<u64>,
}

impl TestConfig {
    /// A test called `name` (its module path and function name) with every default: the
    /// system clock, no nursery, the Random policy seeded from `name`, a 60 s watchdog.
    pub const fn new(name: &'static str) -> TestConfig {
        TestConfig {
            name,
            clock: None,
            nursery: false,
            seed: None,
            policy: None,
            timeout: None,
            schedules: None,
            check_determinism: false,
            inject_cancellations: None,
        }
    }

    /// Installs a mock clock and passes it to the test.
    pub const fn clock(mut self, clock: ClockFixture) -> TestConfig {
        self.clock = Some(clock);
        self
    }

    /// Opens a nursery around the test and passes it in; it is cancelled when the test returns.
    pub const fn nursery(mut self) -> TestConfig {
        self.nursery = true;
        self
    }

    /// Runs under this seed instead of the one derived from the name.
    pub const fn seed(mut self, seed: u64) -> TestConfig {
        self.seed = Some(seed);
        self
    }

    /// Runs under this policy instead of Random.
    pub const fn policy(mut self, policy: PolicyChoice) -> TestConfig {
        self.policy = Some(policy);
        self
    }

    /// Stops the test after this much real time instead of [`DEFAULT_TIMEOUT`].
    pub const fn timeout(mut self, timeout: Duration) -> TestConfig {
        self.timeout = Some(timeout);
        self
    }

    /// Explores this many schedules (`#[trio_test(schedules = N)]`), each on a fresh runtime
    /// with a fresh autojump clock unless the test asked for `mock_clock`.
    pub const fn schedules(mut self, schedules: u64) -> TestConfig {
        self.schedules = Some(schedules);
        self
    }

    /// Runs the first schedule three times and fails if the traces differ.
    pub const fn check_determinism(mut self) -> TestConfig {
        self.check_determinism = true;
        self
    }

    /// Cancellation injection up to the `bound`-th cancel point of every task.
    pub const fn inject_cancellations(mut self, bound: u64) -> TestConfig {
        self.inject_cancellations = Some(bound);
        self
    }

    /// The seed the run uses: the explicit one, or a stable hash of the test's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::__private::{TestConfig, seed_from_name};
    ///
    /// assert_eq!(TestConfig::new("demo::t").effective_seed(), seed_from_name("demo::t"));
    /// assert_eq!(TestConfig::new("demo::t").seed(5).effective_seed(), 5);
    /// ```
    pub fn effective_seed(&self) -> u64 {
        self.seed.unwrap_or_else(|| seed_from_name(self.name))
    }

    /// The exploration this test asked for (one schedule unless it said otherwise).
    fn exploration(&self, source: &'static Location<'static>) -> Explore {
        let exploring = self.schedules.is_some_and(|n| n > 1) || self.inject_cancellations.is_some();
        let mut explore = Explore::new(self.name)
            .source(source)
            .schedules(self.schedules.unwrap_or(1))
            .seed(self.effective_seed())
            .seed_from_name(self.seed.is_none())
            // One schedule runs under Random; an exploration takes turns between policies.
            .policy(self.policy.unwrap_or(if exploring { PolicyChoice::Mixed } else { PolicyChoice::Random }).kind())
            .timeout(self.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .check_determinism(self.check_determinism)
            // A single schedule failing is an ordinary test failure: nothing to save.
            .persist(exploring);
        explore = match self.clock {
            Some(clock) => explore.clock(Some(clock)),
            None if exploring => explore.clock(Some(ClockFixture::Autojump)),
            None => explore.clock(None),
        };
        if self.nursery {
            explore = explore.nursery();
        }
        if let Some(bound) = self.inject_cancellations {
            explore = explore.inject_cancellations(bound);
        }
        explore
    }
}

/// The fixtures a test asked for, handed to the test function by the code `#[trio_test]`
/// generates.
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
#[derive(Debug)]
pub struct Fixtures {
    clock: Option<MockClock>,
    nursery: Option<Nursery>,
}

impl Fixtures {
    pub(crate) fn new(clock: Option<MockClock>) -> Fixtures {
        Fixtures { clock, nursery: None }
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

/// Runs one test: what the function generated by `#[trio_test]` calls.
///
/// `test` receives the fixtures and returns the test's future; it is called once per schedule.
/// The run uses the clock, policy, seed and watchdog from `config`, and explores as many
/// schedules as it asks for (environment overrides: `TRIO_SEED`, `TRIO_SCHEDULES`,
/// `TRIO_POLICY`, `TRIO_REPLAY`, `TRIO_CHECK_DETERMINISM`).
///
/// # Panics
///
/// This is how the test fails: when the test returns an error, when a task panics, when the
/// run deadlocks or livelocks, and when the watchdog fires — always with a report that says
/// how to replay the failing schedule.
///
/// # Examples
///
/// What `#[trio_test] async fn sleeps(autojump_clock: MockClock)` expands to, roughly:
///
/// ```
/// use std::time::Duration;
/// use trio_testkit::__private::{ClockFixture, TestConfig, run_test};
///
/// run_test(TestConfig::new("demo::sleeps").clock(ClockFixture::Autojump), |fixtures| {
///     let autojump_clock = fixtures.clock();
///     async move {
///         trio::sleep(Duration::from_secs(30)).await?;
///         assert_eq!(autojump_clock.current_time(), trio::Instant::from_secs(30));
///         Ok::<_, trio::Error>(())
///     }
/// });
/// ```
#[track_caller]
pub fn run_test<F, Fut>(config: TestConfig, test: F)
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    install_panic_note();
    let explore = config.exploration(Location::caller());
    if let Err(failure) = explore.run_with_fixtures(&test) {
        panic!("{failure}");
    }
}

/// The main task: the test, inside the `nursery` fixture if it asked for one.
pub(crate) async fn run_body<F, Fut>(mut fixtures: Fixtures, with_nursery: bool, test: F) -> Option<String>
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

// ===== naming the task that panicked =====

thread_local! {
    /// Set while the explorer runs schedules: failing schedules must not each print a panic.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Where the last panic on this thread happened, for the report.
    static LAST_PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with panic messages suppressed (they are reported, once, by the explorer).
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    install_panic_note();
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            QUIET.with(|q| q.set(self.0));
        }
    }
    let _restore = Restore(QUIET.with(|q| q.replace(true)));
    f()
}

/// The panic's message, where it happened, and which task it happened in.
pub(crate) fn describe_panic(payload: &(dyn std::any::Any + Send)) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<a panic with a non-string payload>".to_string()
    };
    match LAST_PANIC_AT.with(|l| l.borrow_mut().take()) {
        Some(at) => format!(
            "{message}
(panicked at {at})"
        ),
        None => message,
    }
}

/// Chains a panic hook that, after the usual message, names the trio task that panicked — the
/// runtime carries a child's panic to the test's main task unchanged, so without this the
/// output would not say which task it came from. It only speaks for runs started by
/// [`run_test`], and never panics itself.
fn install_panic_note() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let task = trio::lowlevel::try_current_task();
            if QUIET.try_with(std::cell::Cell::get).unwrap_or(false) {
                let mut at = info.location().map(|l| l.to_string()).unwrap_or_else(|| "an unknown place".into());
                if let Some(task) = task.filter(|task| task.parent().is_some()) {
                    at.push_str(&format!(", in trio task `{}` spawned at {}", task.name(), task.spawn_location()));
                }
                let _ = LAST_PANIC_AT.try_with(|l| *l.borrow_mut() = Some(at));
                return;
            }
            previous(info);
            if let Some(task) = task.filter(|task| task.parent().is_some()) {
                eprintln!(
                    "note: the panic above happened in trio task `{}` (spawned at {})",
                    task.name(),
                    task.spawn_location()
                );
            }
        }));
    });
}
