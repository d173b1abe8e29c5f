//! [`ConflictDetector`]: catches two tasks using one side of a stream at once.

use std::cell::Cell;
use std::fmt;

use super::error::StreamError;

/// Detects concurrent use of something only one task may use at a time, such as the sending
/// side of a stream (Trio's internal `ConflictDetector`). Holding its guard marks it in use;
/// a second [`enter`](ConflictDetector::enter) meanwhile fails with [`StreamError::Busy`].
///
/// Stream implementations hold one guard per direction for the whole operation, across its
/// awaits; dropping the operation's future releases it.
///
/// # Examples
///
/// ```
/// use trio::io::ConflictDetector;
///
/// let sending = ConflictDetector::new("another task is already sending on this stream");
/// let guard = sending.enter().unwrap();
/// let err = sending.enter().unwrap_err();
/// assert!(err.is_busy());
/// assert_eq!(err.to_string(), "another task is already sending on this stream");
/// drop(guard);
/// assert!(sending.enter().is_ok());
/// ```
pub struct ConflictDetector {
    held: Cell<bool>,
    message: &'static str,
}

impl ConflictDetector {
    /// A free detector; `message` is the [`StreamError::Busy`] message.
    ///
    /// # Examples
    ///
    /// ```
    /// let detector = trio::io::ConflictDetector::new("another task is already receiving");
    /// assert!(!detector.is_held());
    /// ```
    pub const fn new(message: &'static str) -> ConflictDetector {
        ConflictDetector { held: Cell::new(false), message }
    }

    /// Marks it in use until the guard is dropped.
    ///
    /// # Errors
    ///
    /// [`StreamError::Busy`] if it is in use already.
    ///
    /// # Examples
    ///
    /// ```
    /// let detector = trio::io::ConflictDetector::new("busy");
    /// let _guard = detector.enter().unwrap();
    /// assert!(detector.is_held());
    /// ```
    pub fn enter(&self) -> Result<ConflictGuard<'_>, StreamError> {
        if self.held.replace(true) {
            return Err(StreamError::busy(self.message));
        }
        Ok(ConflictGuard { detector: self })
    }

    /// `true` while a guard is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let detector = trio::io::ConflictDetector::new("busy");
    /// assert!(!detector.is_held());
    /// ```
    pub fn is_held(&self) -> bool {
        self.held.get()
    }
}

impl fmt::Debug for ConflictDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConflictDetector").field("held", &self.held.get()).finish()
    }
}

/// Marks a [`ConflictDetector`] in use while alive.
///
/// # Examples
///
/// ```
/// let detector = trio::io::ConflictDetector::new("busy");
/// {
///     let _guard: trio::io::ConflictGuard<'_> = detector.enter().unwrap();
/// }
/// assert!(!detector.is_held());
/// ```
pub struct ConflictGuard<'a> {
    detector: &'a ConflictDetector,
}

impl Drop for ConflictGuard<'_> {
    fn drop(&mut self) {
        self.detector.held.set(false);
    }
}

impl fmt::Debug for ConflictGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConflictGuard").finish_non_exhaustive()
    }
}
