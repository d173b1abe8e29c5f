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

use trio::abc::Instrument;
use trio::lowlevel::Task;
use trio::{Builder, Nursery};

use crate::clock::MockClock;
use crate::policy::{Fifo, Random};

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
    fn into_failure(self) -> Option<String>;
}

impl TestResult for () {
    fn into_failure(self) -> Option<String> {
        None
    }
}

impl<E: fmt::Debug> TestResult for Result<(), E> {
    fn into_failure(self) -> Option<String> {
        self.err().map(|error| format!("{error:?}"))
    }
}

/// Which clock fixture a test asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockFixture {
    /// `mock_clock`: frozen, no autojump.
    Mock,
    /// `autojump_clock` (or the `autojump` argument): frozen, autojump threshold zero.
    Autojump,
}

/// The scheduling policy a test asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyChoice {
    /// `policy = "fifo"`: the runtime's deterministic batch order.
    Fifo,
    /// `policy = "random"`, the default: [`Random`] seeded with the test's seed.
    Random,
}

impl PolicyChoice {
    fn name(self) -> &'static str {
        match self {
            PolicyChoice::Fifo => "fifo",
            PolicyChoice::Random => "random",
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
}

impl TestConfig {
    /// A test called `name` (its module path and function name) with every default: the
    /// system clock, no nursery, the Random policy seeded from `name`, a 60 s watchdog.
    pub const fn new(name: &'static str) -> TestConfig {
        TestConfig { name, clock: None, nursery: false, seed: None, policy: None, timeout: None }
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

    /// The seed the run uses: the explicit one, or a stable hash of the test's name.
    pub fn effective_seed(&self) -> u64 {
        self.seed.unwrap_or_else(|| seed_from_name(self.name))
    }

    fn schedule_note(&self) -> String {
        let policy = self.policy.unwrap_or(PolicyChoice::Random).name();
        let seed = self.effective_seed();
        match self.seed {
            Some(_) => format!("schedule: policy {policy}, seed {seed}"),
            None => format!(
                "schedule: policy {policy}, seed {seed} (derived from the test's name; \
                 pin it with #[trio_test(seed = {seed})])"
            ),
        }
    }
}

/// The fixtures a test asked for, handed to the test function by the code `#[trio_test]`
/// generates.
#[derive(Debug)]
pub struct Fixtures {
    clock: Option<MockClock>,
    nursery: Option<Nursery>,
}

impl Fixtures {
    /// The test's clock (`mock_clock` or `autojump_clock`).
    ///
    /// # Panics
    ///
    /// If the test did not ask for a clock: a bug in `#[trio_test]`.
    #[track_caller]
    pub fn clock(&self) -> MockClock {
        self.clock.clone().expect("#[trio_test] asked for a clock fixture it did not configure")
    }

    /// The test's nursery.
    ///
    /// # Panics
    ///
    /// If the test did not ask for a nursery: a bug in `#[trio_test]`.
    #[track_caller]
    pub fn nursery(&self) -> Nursery {
        self.nursery.clone().expect("#[trio_test] asked for a nursery fixture it did not configure")
    }
}

/// Runs one test: what the function generated by `#[trio_test]` calls.
///
/// `test` receives the fixtures and returns the test's future. The run uses the clock,
/// policy, seed and watchdog from `config`.
///
/// # Panics
///
/// This is how the test fails: when the test returns an error, when a task panics (the panic
/// passes through unchanged), when the run deadlocks (with the report of every task), and when
/// the watchdog fires (with the task tree).
#[track_caller]
pub fn run_test<F, Fut>(config: TestConfig, test: F)
where
    F: FnOnce(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    install_panic_note();
    let clock = config.clock.map(|kind| match kind {
        ClockFixture::Mock => MockClock::new(),
        ClockFixture::Autojump => MockClock::autojump(),
    });
    let mut builder = Builder::new()
        .seed(config.effective_seed())
        .watchdog(config.timeout.unwrap_or(DEFAULT_TIMEOUT))
        .instrument(PanicContext);
    builder = match config.policy.unwrap_or(PolicyChoice::Random) {
        PolicyChoice::Fifo => builder.policy(Fifo),
        PolicyChoice::Random => builder.policy(Random::new()),
    };
    if let Some(clock) = &clock {
        builder = builder.clock(clock.clone());
    }
    let fixtures = Fixtures { clock, nursery: None };
    match builder.try_run(run_body(fixtures, config.nursery, test)) {
        Ok(None) => {}
        Ok(Some(failure)) => panic!("test {} failed: {failure}\n{}", config.name, config.schedule_note()),
        Err(error) => panic!("test {} failed: {error}\n{}", config.name, config.schedule_note()),
    }
}

/// The main task: the test, inside the `nursery` fixture if it asked for one.
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
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    name.bytes().fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

// ===== naming the task that panicked =====

thread_local! {
    /// The task being stepped right now by a run started from [`run_test`] on this thread.
    static STEPPING: RefCell<Option<Task>> = const { RefCell::new(None) };
}

/// Records which task is being stepped, so the panic hook can name it.
struct PanicContext;

impl Instrument for PanicContext {
    fn before_task_step(&self, task: &Task) {
        STEPPING.with(|stepping| *stepping.borrow_mut() = Some(task.clone()));
    }

    fn after_task_step(&self, _task: &Task) {
        STEPPING.with(|stepping| *stepping.borrow_mut() = None);
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
            previous(info);
            let task = STEPPING.try_with(|stepping| stepping.try_borrow().ok().and_then(|t| t.clone())).ok().flatten();
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
