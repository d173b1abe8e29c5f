//! proptest inside a run: a strategy whose values are schedules, and a runner for one
//! property-test case on a fresh run under such a schedule. proptest then shrinks the input
//! *and* the schedule of a failing case together.
//!
//! Behind the `proptest` feature: `trio-testkit = { version = "…", features = ["proptest"] }`.
//!
//! A [`ScheduleChoices`] is a list of small numbers, one per scheduling decision of the run:
//! at decision `n`, take option `choices[n - 1]` (modulo the number of options; 0 is the
//! default order), past the end of the list the default. proptest shrinks it as it shrinks any
//! list — toward fewer entries, and each entry to zero first, that is toward the default
//! order — so a
//! failing case ends with its input minimal and its schedule down to the deviations the
//! failure needs. The report of a failing case prints the schedule the run followed as a
//! `TRIO_REPLAY` line: set it, and every case of the property runs under exactly that
//! schedule (proptest replays the failing input first from its regressions file).
//!
//! # Examples
//!
//! A model test of a memory channel: a producer sends a generated list of values through a
//! channel of generated capacity while a consumer receives them, under a generated schedule;
//! the consumer must see exactly what was sent, in order.
//!
//! ```
//! use proptest::prelude::*;
//! use trio_testkit::explore::Explore;
//! use trio_testkit::prop::{run_case, schedules};
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(32))]
//!     // #[test] (in a test file)
//!     fn channel_delivers_in_order(values in prop::collection::vec(any::<u8>(), 0..20),
//!                                  capacity in 0usize..4,
//!                                  schedule in schedules()) {
//!         let config = Explore::new("channel_delivers_in_order");
//!         run_case(&config, &schedule, &|_fixtures| {
//!             let values = values.clone();
//!             async move {
//!                 let (tx, rx) = trio::open_memory_channel::<u8>(capacity);
//!                 let sent = values.clone();
//!                 let received = trio::open_nursery(|nursery| async move {
//!                     nursery.start_soon(async move {
//!                         for value in sent {
//!                             tx.send(value).await?;
//!                         }
//!                         Ok(()) // dropping `tx` closes the channel
//!                     });
//!                     let mut received = Vec::new();
//!                     while let Some(value) = rx.recv().await? {
//!                         received.push(value);
//!                     }
//!                     Ok(Some(received))
//!                 })
//!                 .await
//!                 .unwrap()
//!                 .unwrap();
//!                 assert_eq!(received, values);
//!             }
//!         })?;
//!     }
//! }
//! # fn main() { channel_delivers_in_order(); }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::{Just, Strategy};
use proptest::prop_oneof;
use proptest::test_runner::TestCaseError;

use crate::config::{Explore, ReplayCommand};
use crate::engine::{Fixtures, PolicySpec, Recorded, Runner, TestResult, panics};
use crate::policy::Schedule;

/// How many decisions a drawn schedule covers by default; decisions past it take the default
/// order.
pub const DEFAULT_DECISIONS: usize = 256;

/// A schedule as proptest draws and shrinks it: option `choices[n - 1]` at decision `n`
/// (modulo the options there; 0 is the default order), the default past the end.
///
/// # Examples
///
/// ```
/// use trio_testkit::prop::ScheduleChoices;
///
/// let default_order = ScheduleChoices::new(vec![]);
/// assert_eq!(format!("{default_order:?}"), "ScheduleChoices([])");
/// assert_eq!(ScheduleChoices::new(vec![0, 0, 1]).choices(), [0, 0, 1]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ScheduleChoices {
    choices: Arc<[u8]>,
}

impl ScheduleChoices {
    /// The schedule that takes option `choices[n - 1]` at decision `n`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::prop::ScheduleChoices;
    ///
    /// assert_eq!(ScheduleChoices::new(vec![2]).choices(), [2]);
    /// ```
    pub fn new(choices: Vec<u8>) -> ScheduleChoices {
        ScheduleChoices { choices: choices.into() }
    }

    /// The choices, decision by decision.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::prop::ScheduleChoices;
    ///
    /// assert!(ScheduleChoices::new(vec![]).choices().is_empty());
    /// ```
    pub fn choices(&self) -> &[u8] {
        &self.choices
    }
}

impl fmt::Debug for ScheduleChoices {
    /// Only up to the last non-default choice: the rest is the default order anyway.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.choices.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
        write!(f, "ScheduleChoices({:?})", &self.choices[..end])
    }
}

/// The strategy for schedules of up to [`DEFAULT_DECISIONS`] decisions.
///
/// # Examples
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let drawn = trio_testkit::prop::schedules().new_tree(&mut runner).unwrap().current();
/// assert!(drawn.choices().len() <= trio_testkit::prop::DEFAULT_DECISIONS);
/// ```
pub fn schedules() -> impl Strategy<Value = ScheduleChoices> {
    schedules_of(DEFAULT_DECISIONS)
}

/// The strategy for schedules of up to `decisions` decisions (the rest in the default order).
///
/// # Examples
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let drawn = trio_testkit::prop::schedules_of(8).new_tree(&mut runner).unwrap().current();
/// assert!(drawn.choices().len() <= 8);
/// ```
pub fn schedules_of(decisions: usize) -> impl Strategy<Value = ScheduleChoices> {
    // Half the decisions take the default; the others a random option. A union shrinks to its
    // first alternative first, so each choice a failure does not need becomes the default.
    let choice = prop_oneof![Just(0u8), 1u8..=u8::MAX];
    vec(choice, 0..=decisions).prop_map(ScheduleChoices::new)
}

/// Runs one property-test case: `test` on a fresh run under `config` (its clock, fixtures,
/// limits; not its schedule count or policy) following `schedule`. With `TRIO_REPLAY` set, the
/// case follows that schedule instead.
///
/// # Errors
///
/// A [`TestCaseError::Fail`] if the run failed — a panic, an error, a deadlock, the step
/// budget, the watchdog — whose message says how, and gives the schedule the run followed as
/// a `TRIO_REPLAY` line. proptest then shrinks the case (input and schedule) and reports the
/// smallest failing one with its own message.
///
/// # Panics
///
/// If a setting of `config` is invalid (as [`Explore::run`]).
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::Explore;
/// use trio_testkit::prop::{ScheduleChoices, run_case};
///
/// let config = Explore::new("two_tasks");
/// let test = |_fixtures| async {
///     let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
///     let l = log.clone();
///     trio::open_nursery(|nursery| async move {
///         for name in ["a", "b"] {
///             let l = l.clone();
///             nursery.start_soon(async move { l.borrow_mut().push(name) });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
///     assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
/// };
/// assert!(run_case(&config, &ScheduleChoices::new(vec![]), &test).is_ok()); // the default order
/// let error = run_case(&config, &ScheduleChoices::new(vec![1]), &test).unwrap_err();
/// assert!(error.to_string().contains("b ran first"));
/// assert!(error.to_string().contains("TRIO_REPLAY=v1:1=t3"));
/// ```
#[track_caller]
pub fn run_case<F, Fut>(config: &Explore, schedule: &ScheduleChoices, test: &F) -> Result<(), TestCaseError>
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    panics::install_panic_note();
    let config = config.clone().source(std::panic::Location::caller()).resolve();
    let policy = match &config.replay {
        Some(replay) => PolicySpec::Replay(replay.clone()),
        None => PolicySpec::Choices(schedule.choices.clone()),
    };
    let runner = Runner::new(&config, test, 1);
    let outcome = runner.run(&policy, config.base_seed(), Recorded::Summary);
    let Some((kind, message)) = outcome.failure else { return Ok(()) };
    let followed: Schedule = outcome.summary.schedule();
    let replay = ReplayCommand::new(&config).command(&format!("TRIO_REPLAY={followed}"));
    Err(TestCaseError::fail(format!(
        "the run {kind} under the schedule {followed} ({} deviation(s) from the default order):\n{message}\n\
         replay this schedule (with proptest's saved input): {replay}",
        followed.len()
    )))
}
