//! `assert_checkpoints` and `assert_no_checkpoints`: does this code yield to the scheduler and
//! check for cancellation — or is it guaranteed not to?
//!
//! Both read the current task's counters ([`Task::cancel_points`] and
//! [`Task::schedule_points`]) before and after the body. A *checkpoint* is both a cancel point
//! and a schedule point; having only one of them is not enough (Trio's rule).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::panic::Location;

use trio::lowlevel::{Task, current_task};

/// Runs `body` and panics unless it executed a checkpoint: at least one cancel point *and* at
/// least one schedule point (Trio's `trio.testing.assert_checkpoints`). Returns the body's
/// output.
///
/// A body that fails — returns `Err`, or panics — is not checked: Trio's rule is that an async
/// function that *returns normally* always checkpoints, while one that fails may or may not.
///
/// # Panics
///
/// If the body returned normally without a checkpoint; the message says what was counted and
/// names the line that called `assert_checkpoints`. Outside a task of a run.
///
/// # Cancellation
///
/// Exactly the body's.
///
/// # Examples
///
/// ```
/// use trio_testkit::assert_checkpoints;
///
/// trio::run(async {
///     assert_checkpoints(trio::checkpoint()).await.unwrap();
/// });
/// ```
///
/// A function that forgets to checkpoint on one path is caught:
///
/// ```should_panic
/// use trio_testkit::assert_checkpoints;
///
/// async fn get_cached(hit: bool) -> trio::Result<u32> {
///     if !hit {
///         trio::checkpoint().await?; // pretend to fetch it
///     }
///     Ok(7) // a cache hit returns without a checkpoint
/// }
///
/// trio::run(async {
///     assert_checkpoints(get_cached(true)).await.unwrap(); // panics
/// });
/// ```
#[track_caller]
pub fn assert_checkpoints<F>(body: F) -> impl Future<Output = F::Output>
where
    F: Future,
    F::Output: Outcome,
{
    let check = try_assert_checkpoints(body);
    async move {
        match check.await {
            Ok(output) => output,
            Err(error) => panic!("{error}"),
        }
    }
}

/// Runs `body` and panics if it executed any cancel point or schedule point (Trio's
/// `trio.testing.assert_no_checkpoints`). Returns the body's output.
///
/// Unlike [`assert_checkpoints`], a body that returns `Err` is checked too: code that must not
/// yield must not yield on its error path either. A body that panics is not checked.
///
/// # Panics
///
/// If the body executed a cancel point or a schedule point; the message names the line that
/// called `assert_no_checkpoints`. Outside a task of a run.
///
/// # Cancellation
///
/// Exactly the body's.
///
/// # Examples
///
/// ```
/// use trio_testkit::assert_no_checkpoints;
///
/// trio::run(async {
///     let sum = assert_no_checkpoints(async { 1 + 1 }).await;
///     assert_eq!(sum, 2);
/// });
/// ```
#[track_caller]
pub fn assert_no_checkpoints<F: Future>(body: F) -> impl Future<Output = F::Output> {
    let check = try_assert_no_checkpoints(body);
    async move {
        match check.await {
            Ok(output) => output,
            Err(error) => panic!("{error}"),
        }
    }
}

/// [`assert_checkpoints`] that returns the failed check as an error instead of panicking.
///
/// # Errors
///
/// [`CheckpointError`] if the body returned normally without a checkpoint. The body's output
/// is dropped in that case.
///
/// # Panics
///
/// Outside a task of a run.
///
/// # Examples
///
/// ```
/// use trio_testkit::try_assert_checkpoints;
///
/// trio::run(async {
///     let error = try_assert_checkpoints(async { Ok::<_, trio::Error>(()) }).await.unwrap_err();
///     assert_eq!((error.cancel_points(), error.schedule_points()), (0, 0));
///     assert!(try_assert_checkpoints(trio::checkpoint()).await.is_ok());
/// });
/// ```
#[track_caller]
pub fn try_assert_checkpoints<F>(body: F) -> impl Future<Output = Result<F::Output, CheckpointError>>
where
    F: Future,
    F::Output: Outcome,
{
    let location = Location::caller();
    async move {
        let (output, counted) = measure(body).await;
        if output.is_failure() || (counted.cancel_points > 0 && counted.schedule_points > 0) {
            Ok(output)
        } else {
            Err(CheckpointError { expected: Expected::Checkpoint, counted, location })
        }
    }
}

/// [`assert_no_checkpoints`] that returns the failed check as an error instead of panicking.
///
/// # Errors
///
/// [`CheckpointError`] if the body executed a cancel point or a schedule point. The body's
/// output is dropped in that case.
///
/// # Panics
///
/// Outside a task of a run.
///
/// # Examples
///
/// ```
/// use trio_testkit::try_assert_no_checkpoints;
///
/// trio::run(async {
///     let error = try_assert_no_checkpoints(trio::lowlevel::cancel_shielded_checkpoint())
///         .await
///         .unwrap_err();
///     assert_eq!((error.cancel_points(), error.schedule_points()), (0, 1));
/// });
/// ```
#[track_caller]
pub fn try_assert_no_checkpoints<F: Future>(body: F) -> impl Future<Output = Result<F::Output, CheckpointError>> {
    let location = Location::caller();
    async move {
        let (output, counted) = measure(body).await;
        if counted.cancel_points == 0 && counted.schedule_points == 0 {
            Ok(output)
        } else {
            Err(CheckpointError { expected: Expected::NoCheckpoint, counted, location })
        }
    }
}

/// Whether the output of a body checked by [`assert_checkpoints`] is a failure, which exempts
/// it from the check.
///
/// Implemented for `()` (never a failure) and for `Result<T, E>` (`Err` is a failure). To
/// check a future with another output, wrap it: `async { Ok::<_, Infallible>(fut.await) }`.
///
/// # Examples
///
/// ```
/// use trio_testkit::Outcome;
///
/// assert!(Err::<(), _>("boom").is_failure());
/// assert!(!Ok::<_, ()>(6).is_failure());
/// assert!(!().is_failure());
/// ```
#[diagnostic::on_unimplemented(
    message = "assert_checkpoints cannot tell whether a body with output `{Self}` failed",
    label = "the body's output must be `()` or a `Result`",
    note = "a body that fails is exempt from the check; wrap other outputs: `async {{ Ok::<_, std::convert::Infallible>(body.await) }}`"
)]
pub trait Outcome {
    /// `true` if the body failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::Outcome;
    ///
    /// assert!(Err::<u8, &str>("no").is_failure());
    /// assert!(!Ok::<u8, &str>(1).is_failure());
    /// ```
    fn is_failure(&self) -> bool;
}

impl Outcome for () {
    fn is_failure(&self) -> bool {
        false
    }
}

impl<T, E> Outcome for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

/// A failed [`try_assert_checkpoints`] or [`try_assert_no_checkpoints`]: what was expected,
/// what the body did, and where the check was written.
///
/// # Examples
///
/// ```
/// use trio_testkit::try_assert_checkpoints;
///
/// trio::run(async {
///     let error = try_assert_checkpoints(async { Ok::<_, trio::Error>(()) }).await.unwrap_err();
///     assert!(error.to_string().contains("expected the body to execute a checkpoint"));
///     assert_eq!(error.location().file(), file!());
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointError {
    expected: Expected,
    counted: Counted,
    location: &'static Location<'static>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Checkpoint,
    NoCheckpoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counted {
    cancel_points: u64,
    schedule_points: u64,
}

impl CheckpointError {
    /// Cancel points the body executed.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::try_assert_checkpoints;
    ///
    /// trio::run(async {
    ///     // A cancel point without a schedule point is not a checkpoint.
    ///     let error = try_assert_checkpoints(trio::lowlevel::checkpoint_if_cancelled()).await.unwrap_err();
    ///     assert_eq!(error.cancel_points(), 1);
    ///     assert_eq!(error.schedule_points(), 0);
    /// });
    /// ```
    pub fn cancel_points(&self) -> u64 {
        self.counted.cancel_points
    }

    /// Schedule points the body executed.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::try_assert_checkpoints;
    ///
    /// trio::run(async {
    ///     let body = async {
    ///         trio::lowlevel::cancel_shielded_checkpoint().await;
    ///         trio::lowlevel::cancel_shielded_checkpoint().await;
    ///     };
    ///     let error = try_assert_checkpoints(body).await.unwrap_err();
    ///     assert_eq!(error.schedule_points(), 2);
    ///     assert_eq!(error.cancel_points(), 0);
    /// });
    /// ```
    pub fn schedule_points(&self) -> u64 {
        self.counted.schedule_points
    }

    /// Where the assertion was written.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::try_assert_no_checkpoints;
    ///
    /// trio::run(async {
    ///     let line = line!() + 1;
    ///     let error = try_assert_no_checkpoints(trio::checkpoint()).await.unwrap_err();
    ///     assert_eq!(error.location().line(), line);
    ///     assert_eq!(error.location().file(), file!());
    /// });
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// `true` for a failed [`try_assert_checkpoints`], `false` for a failed
    /// [`try_assert_no_checkpoints`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::{try_assert_checkpoints, try_assert_no_checkpoints};
    ///
    /// trio::run(async {
    ///     let missing = try_assert_checkpoints(async {}).await.unwrap_err();
    ///     assert!(missing.expected_checkpoint());
    ///     let unwanted = try_assert_no_checkpoints(trio::checkpoint()).await.unwrap_err();
    ///     assert!(!unwanted.expected_checkpoint());
    /// });
    /// ```
    pub fn expected_checkpoint(&self) -> bool {
        self.expected == Expected::Checkpoint
    }
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Counted { cancel_points, schedule_points } = self.counted;
        let counted = format!(
            "{cancel_points} cancel point{} and {schedule_points} schedule point{}",
            plural(cancel_points),
            plural(schedule_points)
        );
        match self.expected {
            Expected::Checkpoint => write!(
                f,
                "assert_checkpoints failed at {}: expected the body to execute a checkpoint (a cancel point and a \
                 schedule point), but it returned normally after {counted}; an async function that returns normally \
                 must checkpoint on every path (add `trio::checkpoint().await?` to the path that does not wait)",
                self.location
            ),
            Expected::NoCheckpoint => write!(
                f,
                "assert_no_checkpoints failed at {}: expected the body not to checkpoint, but it executed {counted}",
                self.location
            ),
        }
    }
}

impl StdError for CheckpointError {}

/// Awaits `body` and counts the cancel and schedule points the current task executed meanwhile.
async fn measure<F: Future>(body: F) -> (F::Output, Counted) {
    let task = current_task();
    let before = counters(&task);
    let output = body.await;
    let after = counters(&task);
    let counted = Counted {
        cancel_points: after.cancel_points - before.cancel_points,
        schedule_points: after.schedule_points - before.schedule_points,
    };
    (output, counted)
}

fn counters(task: &Task) -> Counted {
    Counted { cancel_points: task.cancel_points(), schedule_points: task.schedule_points() }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
