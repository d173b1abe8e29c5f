//! [`StreamError`]: how a stream or listener operation fails.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use crate::error::{BrokenResource, BusyResource, Cancelled, ClosedResource};

/// `Result<T, StreamError>`, what every stream and listener operation returns.
///
/// # Examples
///
/// ```
/// use trio::io::StreamResult;
///
/// fn check(max_bytes: usize) -> StreamResult<usize> {
///     if max_bytes == 0 {
///         return Err(trio::StreamError::invalid_argument("max_bytes must be at least 1"));
///     }
///     Ok(max_bytes)
/// }
/// assert!(check(0).is_err());
/// ```
pub type StreamResult<T> = Result<T, StreamError>;

/// Why an operation on a stream or a listener failed: Trio's resource errors, as one type.
///
/// Which variant tells a caller what to do: `Cancelled` belongs to a cancel scope (`?` carries it
/// there, and `trio::Error::is_cancelled` recognises it after the conversion); `Closed` is a
/// bug in this program (the handle was closed, here or by another task); `Broken` means the
/// other side went away or the stream is in an unknown state — close it; `Busy` is two tasks
/// using one stream direction at once, also a bug.
///
/// # Examples
///
/// ```
/// use trio::StreamError;
///
/// let err: StreamError = trio::ClosedResource::new().into();
/// assert!(err.is_closed());
/// let err: StreamError = trio::Cancelled::new().into();
/// assert!(err.is_cancelled());
/// assert!(trio::Error::from(err).is_cancelled()); // still recognised after `?`
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// An enclosing cancel scope was cancelled.
    Cancelled,
    /// This handle was closed — by this task, or by another one while the operation waited
    /// (Trio's `ClosedResourceError`).
    Closed(ClosedResource),
    /// The other side vanished, or the stream broke and is in an unknown state (Trio's
    /// `BrokenResourceError`). Close it; it stays broken.
    Broken(BrokenResource),
    /// Another task is already using this direction of the stream (Trio's
    /// `BusyResourceError`).
    Busy(BusyResource),
    /// An argument Trio rejects with `ValueError`, such as `receive_some(0)`.
    InvalidArgument(Cow<'static, str>),
    /// The operating system refused an operation that leaves the resource usable — a
    /// listener's `accept` out of file descriptors (`EMFILE`), say (Trio lets the `OSError`
    /// through). Errors that break a stream are [`StreamError::Broken`] instead.
    Os(OsError),
}

static CANCELLED: Cancelled = Cancelled::new();

impl StreamError {
    /// A [`StreamError::Closed`] with a message saying what was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::StreamError::closed("send_all on a closed stream");
    /// assert_eq!(err.to_string(), "send_all on a closed stream");
    /// ```
    pub fn closed(message: impl Into<Cow<'static, str>>) -> StreamError {
        StreamError::Closed(ClosedResource::with_message(message))
    }

    /// A [`StreamError::Broken`] with a message saying what broke.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::StreamError::broken("the receiving side was closed");
    /// assert!(err.is_broken());
    /// ```
    pub fn broken(message: impl Into<Cow<'static, str>>) -> StreamError {
        StreamError::Broken(BrokenResource::with_message(message))
    }

    /// A [`StreamError::Busy`] with a message saying what the other task does.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::StreamError::busy("another task is already sending on this stream");
    /// assert!(err.is_busy());
    /// ```
    pub fn busy(message: impl Into<Cow<'static, str>>) -> StreamError {
        StreamError::Busy(BusyResource::with_message(message))
    }

    /// A [`StreamError::InvalidArgument`].
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::StreamError::invalid_argument("max_bytes must be at least 1");
    /// assert!(matches!(err, trio::StreamError::InvalidArgument(_)));
    /// ```
    pub fn invalid_argument(message: impl Into<Cow<'static, str>>) -> StreamError {
        StreamError::InvalidArgument(message.into())
    }

    /// `true` for [`StreamError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::StreamError::Cancelled.is_cancelled());
    /// assert!(!trio::StreamError::closed("x").is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, StreamError::Cancelled)
    }

    /// `true` for [`StreamError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::StreamError::closed("x").is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, StreamError::Closed(_))
    }

    /// `true` for [`StreamError::Broken`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::StreamError::broken("x").is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self, StreamError::Broken(_))
    }

    /// `true` for [`StreamError::Busy`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::StreamError::busy("x").is_busy());
    /// ```
    pub fn is_busy(&self) -> bool {
        matches!(self, StreamError::Busy(_))
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Cancelled => f.write_str("the stream operation was cancelled"),
            StreamError::Closed(e) => fmt::Display::fmt(e, f),
            StreamError::Broken(e) => fmt::Display::fmt(e, f),
            StreamError::Busy(e) => fmt::Display::fmt(e, f),
            StreamError::InvalidArgument(message) => f.write_str(message),
            StreamError::Os(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl StdError for StreamError {
    /// The resource error inside, and [`Cancelled`] for a cancellation, so
    /// `trio::Error::is_cancelled` recognises it.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            StreamError::Cancelled => Some(&CANCELLED),
            StreamError::Closed(e) => Some(e),
            StreamError::Broken(e) => Some(e),
            StreamError::Busy(e) => Some(e),
            StreamError::InvalidArgument(_) => None,
            StreamError::Os(error) => Some(error),
        }
    }
}

impl From<Cancelled> for StreamError {
    fn from(_: Cancelled) -> StreamError {
        StreamError::Cancelled
    }
}

impl From<ClosedResource> for StreamError {
    fn from(error: ClosedResource) -> StreamError {
        StreamError::Closed(error)
    }
}

impl From<BrokenResource> for StreamError {
    fn from(error: BrokenResource) -> StreamError {
        StreamError::Broken(error)
    }
}

impl From<BusyResource> for StreamError {
    fn from(error: BusyResource) -> StreamError {
        StreamError::Busy(error)
    }
}

impl From<StreamError> for std::io::Error {
    /// For the `futures::io` adapters: `Closed` is `NotConnected`, `Broken` is `BrokenPipe`,
    /// `Busy` is `ResourceBusy`, `InvalidArgument` is `InvalidInput`, and a cancellation is
    /// `Other` — not `Interrupted`, which I/O loops retry, and a retried cancellation fails
    /// again forever. The [`StreamError`] is inside, so [`get_ref`](std::io::Error::get_ref)
    /// finds it.
    fn from(error: StreamError) -> std::io::Error {
        use std::io::ErrorKind;
        let kind = match &error {
            StreamError::Cancelled => ErrorKind::Other,
            StreamError::Closed(_) => ErrorKind::NotConnected,
            StreamError::Broken(_) => ErrorKind::BrokenPipe,
            StreamError::Busy(_) => ErrorKind::ResourceBusy,
            StreamError::InvalidArgument(_) => ErrorKind::InvalidInput,
            StreamError::Os(error) => error.kind(),
        };
        std::io::Error::new(kind, error)
    }
}

/// An error the operating system reported, kept in a form that can be cloned and compared
/// (an [`std::io::Error`] is neither): its code, kind and message.
///
/// # Examples
///
/// ```
/// use trio::io::OsError;
///
/// let error = OsError::from(std::io::Error::from_raw_os_error(24));
/// assert_eq!(error.raw_os_error(), Some(24)); // EMFILE on Linux and macOS
/// assert!(error.to_string().contains("24"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsError {
    code: Option<i32>,
    kind: std::io::ErrorKind,
    message: String,
}

impl OsError {
    /// The operating system's error number, if there was one.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = trio::io::OsError::from(std::io::Error::other("no code"));
    /// assert_eq!(error.raw_os_error(), None);
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.code
    }

    /// The kind of error, as [`std::io::Error::kind`] gives it.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = trio::io::OsError::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
    /// assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
    /// ```
    pub fn kind(&self) -> std::io::ErrorKind {
        self.kind
    }
}

impl From<std::io::Error> for OsError {
    fn from(error: std::io::Error) -> OsError {
        OsError { code: error.raw_os_error(), kind: error.kind(), message: error.to_string() }
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for OsError {}
