//! Error types: the catch-all [`Error`], cancellation, timeouts, groups and resource errors.
//!
//! Cancellation is a value in this crate: a checkpoint inside a cancelled scope returns
//! `Err(Cancelled)`, `?` carries it outward, and the cancel scope that owns the cancellation
//! recognises it — also after `?` converted it into an [`Error`], inside an [`ErrorGroup`] that
//! holds nothing else, or as the `source()` of another error.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// `Result<T, trio::Error>`, the return type of nursery bodies, children and scope bodies.
///
/// # Examples
///
/// ```
/// async fn half(n: u32) -> trio::Result<u32> {
///     trio::checkpoint().await?;
///     if n % 2 == 1 {
///         return Err(trio::Error::msg("odd number"));
///     }
///     Ok(n / 2)
/// }
///
/// trio::run(async {
///     assert_eq!(half(8).await.unwrap(), 4);
///     assert_eq!(half(7).await.unwrap_err().to_string(), "odd number");
/// });
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

// ===== Error =====

/// Any error, with Trio's cancellation and group semantics built in.
///
/// `?` converts every `std::error::Error + Send + Sync + 'static` into an `Error`; the original
/// comes back with [`downcast_ref`](Error::downcast_ref). Like `anyhow::Error`, `Error` itself
/// does not implement `std::error::Error` (that would make the blanket conversion overlap with
/// `From<T> for T`); use [`Error::into_std`] when you need a boxed standard error.
///
/// # Examples
///
/// ```
/// use trio::{Cancelled, Error};
///
/// let err: Error = std::io::Error::other("disk on fire").into();
/// assert!(err.downcast_ref::<std::io::Error>().is_some());
/// assert!(!err.is_cancelled());
///
/// let err: Error = Cancelled::new().into();
/// assert!(err.is_cancelled());
/// ```
pub struct Error {
    inner: BoxError,
}

impl Error {
    /// Wraps any standard error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::Error::new(std::fmt::Error);
    /// assert!(err.is::<std::fmt::Error>());
    /// assert_eq!(err.to_string(), "an error occurred when formatting an argument");
    /// ```
    pub fn new<E: StdError + Send + Sync + 'static>(error: E) -> Error {
        Error { inner: Box::new(error) }
    }

    /// An error that is only a message.
    ///
    /// ```
    /// let err = trio::Error::msg("the answer was not 42");
    /// assert_eq!(err.to_string(), "the answer was not 42");
    /// ```
    pub fn msg(message: impl fmt::Display) -> Error {
        Error::new(Message(message.to_string()))
    }

    /// Returns the wrapped error as `E` if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    ///
    /// let err: trio::Error = io::Error::new(io::ErrorKind::NotFound, "no such file").into();
    /// let io_err = err.downcast_ref::<io::Error>().unwrap();
    /// assert_eq!(io_err.kind(), io::ErrorKind::NotFound);
    /// assert!(err.downcast_ref::<std::fmt::Error>().is_none());
    /// ```
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// Returns `true` if the wrapped error is an `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err: trio::Error = trio::WouldBlock::new().into();
    /// assert!(err.is::<trio::WouldBlock>());
    /// assert!(!err.is::<trio::Cancelled>());
    /// ```
    pub fn is<E: StdError + 'static>(&self) -> bool {
        self.inner.is::<E>()
    }

    /// Takes the wrapped error out as `E`, or gives `self` back.
    ///
    /// # Examples
    ///
    /// ```
    /// let err: trio::Error = trio::ClosedResource::new().into();
    /// let err = err.downcast::<trio::TooSlow>().unwrap_err(); // not a TooSlow: handed back
    /// let closed = err.downcast::<trio::ClosedResource>().unwrap();
    /// assert_eq!(closed, trio::ClosedResource::new());
    /// ```
    pub fn downcast<E: StdError + 'static>(self) -> std::result::Result<E, Error> {
        match self.inner.downcast::<E>() {
            Ok(e) => Ok(*e),
            Err(inner) => Err(Error { inner }),
        }
    }

    /// `true` if this error is a cancellation: a [`Cancelled`], an error whose `source()` chain
    /// contains one, or an [`ErrorGroup`] whose entries are all cancellations.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::fmt;
    ///
    /// // An error that wraps a cancellation still counts as one.
    /// #[derive(Debug)]
    /// struct Wrapper(trio::Cancelled);
    /// impl fmt::Display for Wrapper {
    ///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    ///         f.write_str("wrapped")
    ///     }
    /// }
    /// impl std::error::Error for Wrapper {
    ///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
    ///         Some(&self.0)
    ///     }
    /// }
    ///
    /// assert!(trio::Error::new(trio::Cancelled::new()).is_cancelled());
    /// assert!(trio::Error::new(Wrapper(trio::Cancelled::new())).is_cancelled());
    /// assert!(!trio::Error::msg("boom").is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        is_cancellation(&*self.inner)
    }

    /// The group, if this error is an [`ErrorGroup`].
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async { Err(trio::Error::msg("first")) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     assert_eq!(err.as_group().map(|group| group.len()), Some(1));
    ///     assert!(trio::Error::msg("not a group").as_group().is_none());
    /// });
    /// ```
    pub fn as_group(&self) -> Option<&ErrorGroup> {
        self.downcast_ref::<ErrorGroup>()
    }

    /// The wrapped error as a standard boxed error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::Error::new(trio::TooSlow);
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into_std();
    /// assert!(boxed.is::<trio::TooSlow>());
    /// ```
    pub fn into_std(self) -> Box<dyn StdError + Send + Sync + 'static> {
        self.inner
    }

    /// Borrows the wrapped error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::Error::msg("top");
    /// let std_err = err.as_std();
    /// assert_eq!(std_err.to_string(), "top");
    /// assert!(std_err.source().is_none());
    /// ```
    pub fn as_std(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }

    /// Removes every cancellation from this error: returns whether anything was removed, and
    /// what remains (`None` if the error was only a cancellation; a group keeps its other
    /// entries, and a nested group loses its cancellations too, as Trio's `split` does).
    pub(crate) fn without_cancellations(self) -> (bool, Option<Error>) {
        if self.is_cancelled() {
            return (true, None);
        }
        match self.inner.downcast::<ErrorGroup>() {
            Ok(group) => {
                let mut group = *group;
                let mut removed = false;
                group.entries = std::mem::take(&mut group.entries)
                    .into_iter()
                    .filter_map(|GroupEntry { task, error }| {
                        let (removed_here, rest) = error.without_cancellations();
                        removed |= removed_here;
                        rest.map(|error| GroupEntry { task, error })
                    })
                    .collect();
                // Invariant: a group that was not all cancellations keeps an entry.
                debug_assert!(!group.entries.is_empty(), "a group of only cancellations is a cancellation");
                (removed, Some(Error::new(group)))
            }
            Err(inner) => (false, Some(Error { inner })),
        }
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Error {
        Error::new(error)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return fmt::Debug::fmt(&*self.inner, f);
        }
        write!(f, "{}", self.inner)?;
        let mut source = self.inner.source();
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl AsRef<dyn StdError + Send + Sync + 'static> for Error {
    fn as_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }
}

impl From<Error> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(error: Error) -> Self {
        error.inner
    }
}

impl From<Error> for Box<dyn StdError + 'static> {
    fn from(error: Error) -> Self {
        error.inner
    }
}

fn is_cancellation(error: &(dyn StdError + 'static)) -> bool {
    if error.is::<Cancelled>() {
        return true;
    }
    #[cfg(feature = "anyhow")]
    if let Some(wrapped) = error.downcast_ref::<anyhow_interop::FromAnyhow>() {
        return wrapped.0.chain().any(|e| e.is::<Cancelled>() || is_cancellation_shallow(e));
    }
    if let Some(group) = error.downcast_ref::<ErrorGroup>() {
        return !group.entries.is_empty() && group.entries.iter().all(|e| e.error.is_cancelled());
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<Cancelled>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A group of only cancellations, without walking `source()` (for errors seen through anyhow's
/// chain, which walks it already).
#[cfg(feature = "anyhow")]
fn is_cancellation_shallow(error: &(dyn StdError + 'static)) -> bool {
    error
        .downcast_ref::<ErrorGroup>()
        .is_some_and(|g| !g.entries.is_empty() && g.entries.iter().all(|e| e.error.is_cancelled()))
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

// ===== Cancelled =====

/// The operation was cancelled by an enclosing [`CancelScope`](crate::CancelScope).
///
/// Checkpoints return it; `?` propagates it; the scope that was cancelled catches it. You
/// rarely create one yourself: let it travel outward.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let scope = trio::CancelScope::new();
/// let handle = scope.clone();
/// let caught = scope
///     .run(async move {
///         handle.cancel();
///         trio::checkpoint().await?; // returns Err(Cancelled) …
///         println!("… so this line never runs");
///         Ok(())
///     })
///     .await;
/// assert!(matches!(caught, Ok(None)));
/// assert!(scope.cancelled_caught());
/// # });
/// ```
/// A `Cancelled` says why it happened: [`source`](Cancelled::source) (a deadline, an explicit
/// `cancel`, a failing sibling, run shutdown), the [`reason`](Cancelled::reason) given to
/// [`CancelScope::cancel_with_reason`](crate::CancelScope::cancel_with_reason), and where the
/// cancelled scope was opened. `Display` and `Debug` show all of it. A `Cancelled` is one
/// pointer: cheap to make, clone and compare.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::CancelSource;
///
/// trio::run(async {
///     let outcome = trio::move_on_after(Duration::from_millis(1), async {
///         let cancelled = trio::sleep_forever().await.unwrap_err();
///         assert_eq!(cancelled.source(), CancelSource::Deadline);
///         assert!(cancelled.to_string().starts_with("cancelled by the deadline of the scope opened at"));
///         Err(cancelled.into()) // let it travel on: the scope catches it
///     })
///     .await
///     .unwrap();
///     assert_eq!(outcome, None::<()>);
/// });
/// ```
#[derive(Clone, Default)]
pub struct Cancelled {
    cause: Option<Arc<CancelCause>>,
}

/// Why a scope was cancelled (Trio's `CancelReason`); shared by every `Cancelled` it produces.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CancelCause {
    pub(crate) source: CancelSource,
    pub(crate) reason: Option<Cow<'static, str>>,
    /// Where the cancelled scope was opened.
    pub(crate) scope: Option<&'static Location<'static>>,
    /// The task that called `cancel`, or the sibling whose failure cancelled the nursery.
    pub(crate) task: Option<String>,
}

/// Where a cancellation came from (Trio's `Cancelled.source`).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let scope = trio::CancelScope::new();
///     scope.cancel();
///     // The body hands the error back as its value, to look at it.
///     let seen = scope.run(async { Ok(trio::checkpoint().await) }).await.unwrap().unwrap();
///     assert_eq!(seen.unwrap_err().source(), trio::CancelSource::Explicit);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelSource {
    /// The scope's deadline passed.
    Deadline,
    /// Someone called [`CancelScope::cancel`](crate::CancelScope::cancel) (or
    /// `cancel_with_reason`), or an exploring policy injected a cancellation.
    Explicit,
    /// A task of the nursery failed (returned an error or panicked), which cancels the nursery.
    Nursery,
    /// The main task finished and the run is cancelling its system tasks.
    Shutdown,
    /// Ctrl-C (`SIGINT`) arrived, and the run cancels everything (Trio's `KeyboardInterrupt`;
    /// see [`Builder::keyboard_interrupt`](crate::Builder::keyboard_interrupt)).
    KeyboardInterrupt,
    /// Made by hand with [`Cancelled::new`], or the source is not known.
    Unknown,
}

impl Cancelled {
    /// A cancellation with no recorded source ([`CancelSource::Unknown`]). Normally only the
    /// runtime makes these, with their source.
    ///
    /// # Examples
    ///
    /// ```
    /// let cancelled = trio::Cancelled::new();
    /// assert_eq!(cancelled.to_string(), "cancelled");
    /// assert_eq!(cancelled.source(), trio::CancelSource::Unknown);
    /// assert!(trio::Error::from(cancelled).is_cancelled());
    /// ```
    pub const fn new() -> Cancelled {
        Cancelled { cause: None }
    }

    pub(crate) fn with_cause(cause: Option<Arc<CancelCause>>) -> Cancelled {
        Cancelled { cause }
    }

    /// Where the cancellation came from.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trio::run(async {
    ///     let seen = trio::move_on_after(Duration::from_secs(1), async {
    ///         Ok(trio::sleep_forever().await.unwrap_err())
    ///     });
    ///     // The deadline cancels the sleep; the body hands the error back as its value.
    ///     let cancelled = seen.await.unwrap().unwrap();
    ///     assert_eq!(cancelled.source(), trio::CancelSource::Deadline);
    /// });
    /// ```
    pub fn source(&self) -> CancelSource {
        self.cause.as_ref().map_or(CancelSource::Unknown, |c| c.source)
    }

    /// The reason passed to [`CancelScope::cancel_with_reason`](crate::CancelScope::cancel_with_reason).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     scope.cancel_with_reason("the user pressed stop");
    ///     let seen = scope.run(async { Ok(trio::checkpoint().await) }).await.unwrap().unwrap();
    ///     assert_eq!(seen.unwrap_err().reason(), Some("the user pressed stop"));
    /// });
    /// ```
    pub fn reason(&self) -> Option<&str> {
        self.cause.as_ref().and_then(|c| c.reason.as_deref())
    }

    /// Where the cancelled scope was opened (the nursery, for [`CancelSource::Nursery`]).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new(); // this line
    ///     let line = line!() - 1;
    ///     scope.cancel();
    ///     let seen = scope.run(async { Ok(trio::checkpoint().await) }).await.unwrap().unwrap();
    ///     assert_eq!(seen.unwrap_err().scope_location().unwrap().line(), line);
    /// });
    /// ```
    pub fn scope_location(&self) -> Option<&'static Location<'static>> {
        self.cause.as_ref().and_then(|c| c.scope)
    }

    /// The task behind the cancellation: the one that called `cancel`, or the sibling whose
    /// failure cancelled the nursery (Trio's `source_task`).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("failing", async { Err(trio::Error::msg("boom")) });
    ///         let cancelled = trio::sleep_forever().await.unwrap_err();
    ///         assert_eq!(cancelled.source(), trio::CancelSource::Nursery);
    ///         assert_eq!(cancelled.source_task(), Some("failing"));
    ///         Err::<(), _>(cancelled.into())
    ///     })
    ///     .await;
    ///     assert!(err.is_err()); // the child's error
    /// });
    /// ```
    pub fn source_task(&self) -> Option<&str> {
        self.cause.as_ref().and_then(|c| c.task.as_deref())
    }
}

impl PartialEq for Cancelled {
    fn eq(&self, other: &Cancelled) -> bool {
        match (&self.cause, &other.cause) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for Cancelled {}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            None => f.write_str("Cancelled"),
            Some(_) => write!(f, "Cancelled({self})"),
        }
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(cause) = &self.cause else { return f.write_str("cancelled") };
        let scope = |f: &mut fmt::Formatter<'_>, what: &str| match cause.scope {
            Some(location) => write!(f, " {what} opened at {location}"),
            None => write!(f, " {what}"),
        };
        match cause.source {
            CancelSource::Deadline => {
                f.write_str("cancelled by the deadline of")?;
                scope(f, "the scope")?;
            }
            CancelSource::Explicit => {
                f.write_str("cancelled by an explicit cancel() of")?;
                scope(f, "the scope")?;
                if let Some(task) = &cause.task {
                    write!(f, " (called in task `{task}`)")?;
                }
            }
            CancelSource::Nursery => {
                match &cause.task {
                    Some(task) => write!(f, "cancelled because task `{task}` failed in")?,
                    None => f.write_str("cancelled because a task failed in")?,
                }
                scope(f, "the nursery")?;
            }
            CancelSource::Shutdown => f.write_str("cancelled: the main task finished and the run is shutting down")?,
            CancelSource::KeyboardInterrupt => f.write_str("cancelled by KeyboardInterrupt: Ctrl-C (SIGINT)")?,
            CancelSource::Unknown => f.write_str("cancelled")?,
        }
        if let Some(reason) = &cause.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

impl StdError for Cancelled {}

// ===== TooSlow =====

/// A [`fail_after`](crate::fail_after) / [`fail_at`](crate::fail_at) deadline expired
/// (Trio's `TooSlowError`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let err = trio::fail_after(Duration::from_millis(1), async {
///         trio::sleep(Duration::from_secs(60)).await?;
///         Ok(())
///     })
///     .await
///     .unwrap_err();
///     assert!(err.is::<trio::TooSlow>());
///     assert!(!err.is_cancelled()); // a TooSlow is a failure, not a cancellation
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TooSlow;

impl fmt::Display for TooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline expired before the operation completed")
    }
}

impl StdError for TooSlow {}

// ===== resource errors =====

macro_rules! resource_error {
    ($(#[$doc:meta])* $name:ident, $default:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            message: std::borrow::Cow<'static, str>,
        }

        impl $name {
            /// The error with its default message.
            ///
            /// # Examples
            ///
            /// ```
            /// assert_eq!(trio::WouldBlock::new().to_string(), "the operation would block");
            /// assert_eq!(trio::ClosedResource::new(), trio::ClosedResource::default());
            /// ```
            pub fn new() -> $name {
                $name { message: std::borrow::Cow::Borrowed($default) }
            }

            /// The error with a message that says what happened.
            ///
            /// # Examples
            ///
            /// ```
            /// let err = trio::BrokenResource::with_message("the receiver was dropped");
            /// assert_eq!(err.to_string(), "the receiver was dropped");
            /// assert_ne!(err, trio::BrokenResource::new());
            /// ```
            pub fn with_message(message: impl Into<std::borrow::Cow<'static, str>>) -> $name {
                $name { message: message.into() }
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.message)
            }
        }

        impl StdError for $name {}
    };
}

resource_error!(
    /// This handle was closed, by this task or another (Trio's `ClosedResourceError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u8>(1);
    /// tx.close();
    /// let err = tx.try_clone().unwrap_err();
    /// assert!(trio::Error::new(err).is::<trio::ClosedResource>());
    /// ```
    ClosedResource,
    "this resource was closed"
);
resource_error!(
    /// The other side of the resource went away, or it broke (Trio's `BrokenResourceError`).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let (tx, rx) = trio::open_memory_channel::<u8>(1);
    ///     drop(rx);
    ///     let err = tx.send(1).await.unwrap_err().into_error();
    ///     assert!(err.is::<trio::BrokenResource>());
    /// });
    /// ```
    BrokenResource,
    "this resource is broken"
);
resource_error!(
    /// Two tasks tried to use a resource that allows one at a time (Trio's `BusyResourceError`).
    ///
    /// # Examples
    ///
    /// ```
    /// // A resource that allows one user at a time reports the second as busy.
    /// let in_use = std::cell::Cell::new(false);
    /// let claim = || -> Result<(), trio::BusyResource> {
    ///     if in_use.replace(true) { Err(trio::BusyResource::new()) } else { Ok(()) }
    /// };
    /// assert!(claim().is_ok());
    /// assert_eq!(claim().unwrap_err().to_string(), "another task is already using this resource");
    /// ```
    BusyResource,
    "another task is already using this resource"
);
resource_error!(
    /// The operation would have to wait (Trio's `WouldBlock`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trio::Semaphore::new(0);
    /// let err: trio::WouldBlock = sem.try_acquire().unwrap_err();
    /// assert!(trio::Error::new(err).is::<trio::WouldBlock>());
    /// ```
    WouldBlock,
    "the operation would block"
);
resource_error!(
    /// An API was used in a way Trio forbids (Trio's `RuntimeError`), such as a
    /// [`start`](crate::Nursery::start)ed task that returned without calling `started`.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         let result = nursery.start(|_task_status: trio::TaskStatus<()>| async { Ok(()) }).await;
    ///         assert!(result.unwrap_err().is::<trio::RuntimeError>()); // it never called `started`
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    RuntimeError,
    "runtime error"
);

resource_error!(
    /// The run this call wanted to reach has ended (Trio's `RunFinishedError`): from
    /// [`TrioToken::run_sync_soon`](crate::lowlevel::TrioToken::run_sync_soon) and
    /// [`from_thread`](crate::from_thread) once the run's loop is over.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = trio::run(async { trio::lowlevel::current_trio_token() });
    /// let err: trio::RunFinished = token.run_sync_soon(|| ()).unwrap_err();
    /// assert_eq!(err.to_string(), "the run has finished");
    /// ```
    RunFinished,
    "the run has finished"
);

// ===== ErrorGroup =====

/// Every failure of a nursery, together (Trio's `ExceptionGroup`).
///
/// Each entry names the task that failed. Cancellations caused by the nursery's own cancel
/// scope are removed before the group is returned; a group is never empty.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let result = trio::open_nursery(|nursery| async move {
///     nursery.start_soon_named("fails", async { Err(trio::Error::msg("boom")) });
///     Ok(())
/// })
/// .await;
/// let error = result.unwrap_err();
/// let group = error.as_group().expect("a nursery reports an ErrorGroup");
/// assert_eq!(group.len(), 1);
/// assert_eq!(group.entries()[0].task(), "fails");
/// assert_eq!(group.entries()[0].error().to_string(), "boom");
/// # });
/// ```
#[derive(Debug)]
pub struct ErrorGroup {
    entries: Vec<GroupEntry>,
    origin: String,
}

impl ErrorGroup {
    pub(crate) fn new(entries: Vec<GroupEntry>, origin: String) -> ErrorGroup {
        ErrorGroup { entries, origin }
    }

    /// The failures, in the order they happened.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("a", async { Err(trio::Error::msg("first")) });
    ///         nursery.start_soon_named("b", async { Err(trio::Error::msg("second")) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     let group = err.as_group().unwrap();
    ///     let tasks: Vec<&str> = group.entries().iter().map(|entry| entry.task()).collect();
    ///     assert_eq!(tasks, ["a", "b"]);
    /// });
    /// ```
    pub fn entries(&self) -> &[GroupEntry] {
        &self.entries
    }

    /// Takes the failures out.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async { Err(trio::Error::msg("boom")) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     let group = err.downcast::<trio::ErrorGroup>().unwrap();
    ///     let errors: Vec<trio::Error> = group.into_entries().into_iter().map(|e| e.into_error()).collect();
    ///     assert_eq!(errors.len(), 1);
    ///     assert_eq!(errors[0].to_string(), "boom");
    /// });
    /// ```
    pub fn into_entries(self) -> Vec<GroupEntry> {
        self.entries
    }

    /// How many failures.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         for i in 0..3 {
    ///             nursery.start_soon(async move { Err(trio::Error::msg(format!("child {i}"))) });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     assert_eq!(err.as_group().unwrap().len(), 3);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always `false` for a group a nursery returned; here for completeness.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async { Err(trio::Error::msg("boom")) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     assert!(!err.as_group().unwrap().is_empty());
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where the nursery that produced this group was opened.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async { Err(trio::Error::msg("boom")) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     // `file:line:column` of the `open_nursery` call
    ///     assert!(err.as_group().unwrap().origin().starts_with(file!()));
    /// });
    /// ```
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The first entry whose error is an `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async { Err(trio::Error::msg("boom")) });
    ///         nursery.start_soon(async { Err(trio::BusyResource::new().into()) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     let group = err.as_group().unwrap();
    ///     assert_eq!(group.find::<trio::BusyResource>(), Some(&trio::BusyResource::new()));
    ///     assert!(group.find::<trio::WouldBlock>().is_none());
    /// });
    /// ```
    pub fn find<E: StdError + 'static>(&self) -> Option<&E> {
        self.entries.iter().find_map(|e| e.error.downcast_ref::<E>())
    }
}

impl fmt::Display for ErrorGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.len();
        write!(f, "{n} error{} in the nursery opened at {}", if n == 1 { "" } else { "s" }, self.origin)?;
        for entry in &self.entries {
            write!(f, "\n  task `{}`: {}", entry.task, entry.error)?;
        }
        Ok(())
    }
}

impl StdError for ErrorGroup {}

/// One failure in an [`ErrorGroup`]: which task, and its error.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let err = trio::open_nursery(|nursery| async move {
///         nursery.start_soon_named("worker", async { Err(trio::TooSlow.into()) });
///         Ok(())
///     })
///     .await
///     .unwrap_err();
///     let entry = &err.as_group().unwrap().entries()[0];
///     assert_eq!(entry.task(), "worker");
///     assert!(entry.error().is::<trio::TooSlow>());
/// });
/// ```
#[derive(Debug)]
pub struct GroupEntry {
    task: String,
    error: Error,
}

impl GroupEntry {
    pub(crate) fn new(task: String, error: Error) -> GroupEntry {
        GroupEntry { task, error }
    }

    /// The name of the task that failed (the nursery body shows as `<task> (nursery body)`).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("uploader", async { Err(trio::Error::msg("boom")) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     assert_eq!(err.as_group().unwrap().entries()[0].task(), "uploader");
    /// });
    /// ```
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The error.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async { Err(trio::WouldBlock::new().into()) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     let entry = &err.as_group().unwrap().entries()[0];
    ///     assert!(entry.error().is::<trio::WouldBlock>());
    /// });
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Takes the error out.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let err = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async { Err(trio::Error::msg("boom")) });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     let group = err.downcast::<trio::ErrorGroup>().unwrap();
    ///     let entry = group.into_entries().pop().unwrap();
    ///     let error: trio::Error = entry.into_error();
    ///     assert_eq!(error.to_string(), "boom");
    /// });
    /// ```
    pub fn into_error(self) -> Error {
        self.error
    }
}

// ===== anyhow =====

/// With the `anyhow` feature, `trio::Error` and `anyhow::Error` convert into each other and a
/// cancellation stays a cancellation: a cancel scope still catches a `Cancelled` that travelled
/// through `anyhow::Error`, and `anyhow`'s `chain()` still finds it.
///
/// `?` turns a `trio::Error` into an `anyhow::Error`. The other way needs
/// [`Error::from_anyhow`] — a blanket `From<anyhow::Error>` would collide with the conversion
/// from every standard error should anyhow ever implement `std::error::Error`.
#[cfg(feature = "anyhow")]
mod anyhow_interop {
    use super::{Error, StdError};
    use std::fmt;

    /// An `anyhow::Error` carried inside a `trio::Error`.
    pub(super) struct FromAnyhow(pub(super) anyhow::Error);

    impl fmt::Debug for FromAnyhow {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&self.0, f)
        }
    }

    impl fmt::Display for FromAnyhow {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(&self.0, f)
        }
    }

    impl StdError for FromAnyhow {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.0.source()
        }
    }

    impl Error {
        /// Wraps an `anyhow::Error` (feature `anyhow`). An `anyhow::Error` made from a
        /// `trio::Error` becomes that error again; a cancellation anywhere in its chain still
        /// counts as a cancellation.
        ///
        /// ```
        /// trio::run(async {
        ///     async fn uses_anyhow() -> anyhow::Result<()> {
        ///         trio::checkpoint().await?; // Cancelled → anyhow::Error
        ///         Ok(())
        ///     }
        ///     let scope = trio::CancelScope::new();
        ///     scope.cancel();
        ///     let caught = scope
        ///         .run(async { uses_anyhow().await.map_err(trio::Error::from_anyhow) })
        ///         .await
        ///         .unwrap();
        ///     assert_eq!(caught, None); // the scope recognised its cancellation
        /// });
        /// ```
        pub fn from_anyhow(error: anyhow::Error) -> Error {
            match error.downcast::<IntoAnyhow>() {
                Ok(IntoAnyhow(inner)) => inner,
                Err(error) => Error::new(FromAnyhow(error)),
            }
        }
    }

    /// A `trio::Error` carried inside an `anyhow::Error`; its `source()` is the wrapped error,
    /// so `anyhow`'s `chain()` and `downcast_ref` see a `Cancelled` inside.
    struct IntoAnyhow(Error);

    impl fmt::Debug for IntoAnyhow {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&self.0, f)
        }
    }

    impl fmt::Display for IntoAnyhow {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(&self.0, f)
        }
    }

    impl StdError for IntoAnyhow {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(self.0.as_std())
        }
    }

    impl From<Error> for anyhow::Error {
        fn from(error: Error) -> anyhow::Error {
            match error.inner.downcast::<FromAnyhow>() {
                Ok(wrapped) => wrapped.0,
                Err(inner) => anyhow::Error::new(IntoAnyhow(Error { inner })),
            }
        }
    }
}

// ===== SyncError =====

/// Why an operation on a synchronisation primitive failed. Each method lists the variants it
/// can return under `# Errors`.
///
/// Converts into [`trio::Error`](crate::Error) with `?`, and a `Cancelled` one is still
/// recognised as a cancellation there.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let lock = trio::Lock::new();
///     lock.acquire().await.unwrap();
///     let err = lock.try_acquire().unwrap_err();
///     assert!(matches!(err, trio::SyncError::Misuse(_))); // not re-entrant
///     lock.release().unwrap();
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// An enclosing cancel scope was cancelled; nothing was acquired.
    Cancelled(Cancelled),
    /// The non-blocking variant would have had to wait.
    WouldBlock(WouldBlock),
    /// The primitive is broken: the task that held it exited without releasing it.
    Broken(BrokenResource),
    /// The call breaks a rule of the primitive (Trio's `RuntimeError`), such as re-acquiring
    /// a lock the task already holds.
    Misuse(RuntimeError),
}

impl SyncError {
    /// `true` for [`SyncError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::SyncError::Cancelled(trio::Cancelled::new()).is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, SyncError::Cancelled(_))
    }

    /// `true` for [`SyncError::WouldBlock`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::SyncError::WouldBlock(trio::WouldBlock::new()).is_would_block());
    /// ```
    pub fn is_would_block(&self) -> bool {
        matches!(self, SyncError::WouldBlock(_))
    }

    /// `true` for [`SyncError::Broken`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::SyncError::Broken(trio::BrokenResource::new()).is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self, SyncError::Broken(_))
    }

    /// `true` for [`SyncError::Misuse`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::SyncError::Misuse(trio::RuntimeError::new()).is_misuse());
    /// ```
    pub fn is_misuse(&self) -> bool {
        matches!(self, SyncError::Misuse(_))
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Cancelled(e) => fmt::Display::fmt(e, f),
            SyncError::WouldBlock(e) => fmt::Display::fmt(e, f),
            SyncError::Broken(e) => fmt::Display::fmt(e, f),
            SyncError::Misuse(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl StdError for SyncError {
    /// The [`Cancelled`] of a cancelled operation, so `trio::Error::is_cancelled` sees it.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SyncError::Cancelled(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Cancelled> for SyncError {
    fn from(e: Cancelled) -> SyncError {
        SyncError::Cancelled(e)
    }
}
