//! [`Semaphore`]: a counter tasks decrement, waiting at zero (Trio's `trio.Semaphore`).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::Location;

use super::lock::Handoff;
use crate::error::{Cancelled, RuntimeError, WouldBlock};
use crate::lowlevel::{ParkingLot, WaitDescription, cancel_shielded_checkpoint, checkpoint_if_cancelled, current_task};

/// A counter that [`acquire`](Semaphore::acquire) decrements, waiting while it is zero, and
/// [`release`](Semaphore::release) increments (Trio's `trio.Semaphore`).
///
/// Anyone may release, not only a task that acquired. With a `max_value`, releasing past it
/// is an error (a bounded semaphore). To limit how many tasks do something at once,
/// [`CapacityLimiter`](crate::sync::CapacityLimiter) is usually the better tool: it checks who holds what.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let sem = trio::Semaphore::new(2);
///     let a = sem.acquire_permit().await.unwrap();
///     let _b = sem.acquire_permit().await.unwrap();
///     assert_eq!(sem.value(), 0);
///     drop(a);
///     assert_eq!(sem.value(), 1);
/// });
/// ```
pub struct Semaphore {
    /// Invariant: if a live task waits in `lot`, `value` is 0.
    value: Cell<usize>,
    max_value: Option<usize>,
    lot: ParkingLot,
}

/// One unit of a [`Semaphore`], released when dropped.
///
/// If the release fails because the semaphore is already at its `max_value` (someone else
/// released too many times), the drop ignores it.
///
/// # Examples
///
/// ```
/// let sem = trio::Semaphore::new(1);
/// let permit = sem.try_acquire_permit().unwrap();
/// assert_eq!(sem.value(), 0);
/// drop(permit);
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "the unit goes back as soon as the permit is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    armed: bool,
}

/// A snapshot of a [`Semaphore`] (Trio's statistics have only `tasks_waiting`).
///
/// # Examples
///
/// ```
/// let stats = trio::Semaphore::with_max_value(1, 3).statistics();
/// assert_eq!((stats.value, stats.max_value, stats.tasks_waiting), (1, Some(3), 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SemaphoreStatistics {
    /// Tasks blocked in [`Semaphore::acquire`].
    pub tasks_waiting: usize,
    /// The counter.
    pub value: usize,
    /// The bound, if any.
    pub max_value: Option<usize>,
}

impl Semaphore {
    /// The same Semaphore with a name: deadlock reports read
    /// "Semaphore::acquire on the Semaphore \`slots\` created at …", and `Debug` shows it.
    ///
    /// # Examples
    ///
    /// ```
    /// let x = trio::Semaphore::new(2).named("slots");
    /// assert_eq!(x.name(), Some("slots"));
    /// assert!(format!("{x:?}").contains("slots"));
    /// ```
    pub fn named(mut self, name: impl Into<std::rc::Rc<str>>) -> Semaphore {
        self.lot.set_name(name.into());
        self
    }

    /// The name given with [`named`](Semaphore::named), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Semaphore::new(1).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.lot.name()
    }

    /// A semaphore whose counter starts at `initial_value`, with no upper bound.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Semaphore::new(3).value(), 3);
    /// ```
    #[track_caller]
    pub fn new(initial_value: usize) -> Semaphore {
        Semaphore {
            value: Cell::new(initial_value),
            max_value: None,
            lot: ParkingLot::owned_by("Semaphore", Location::caller()),
        }
    }

    /// A bounded semaphore: [`release`](Semaphore::release) fails rather than take the
    /// counter past `max_value`.
    ///
    /// # Panics
    ///
    /// If `max_value < initial_value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trio::Semaphore::with_max_value(1, 1);
    /// assert!(sem.release().is_err()); // would exceed max_value
    /// ```
    #[track_caller]
    pub fn with_max_value(initial_value: usize, max_value: usize) -> Semaphore {
        assert!(
            max_value >= initial_value,
            "Semaphore::with_max_value: max_value ({max_value}) must be >= initial_value ({initial_value})"
        );
        Semaphore {
            value: Cell::new(initial_value),
            max_value: Some(max_value),
            lot: ParkingLot::owned_by("Semaphore", Location::caller()),
        }
    }

    /// The counter.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Semaphore::new(0).value(), 0);
    /// ```
    pub fn value(&self) -> usize {
        self.value.get()
    }

    /// The bound given to [`with_max_value`](Semaphore::with_max_value), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Semaphore::new(0).max_value(), None);
    /// ```
    pub fn max_value(&self) -> Option<usize> {
        self.max_value
    }

    /// Decrements the counter if it is positive (Trio's `acquire_nowait`).
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the counter is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trio::Semaphore::new(1);
    /// assert!(sem.try_acquire().is_ok());
    /// assert!(sem.try_acquire().is_err());
    /// ```
    #[doc(alias = "acquire_nowait")]
    pub fn try_acquire(&self) -> Result<(), WouldBlock> {
        match self.value.get() {
            0 => Err(WouldBlock::with_message("the semaphore's value is zero; use acquire() to wait")),
            n => {
                debug_assert!(!self.lot.has_waiters());
                self.value.set(n - 1);
                Ok(())
            }
        }
    }

    /// Decrements the counter, waiting while it is zero (Trio's `acquire`). Waiters are served
    /// first come, first served.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if an enclosing scope is cancelled.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// A checkpoint when it returns `Ok`. A cancelled acquire did not decrement; a future
    /// dropped after a release handed it the unit releases it again.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let sem = trio::Semaphore::new(1);
    ///     sem.acquire().await.unwrap();
    ///     assert_eq!(sem.value(), 0);
    /// });
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> impl Future<Output = Result<(), Cancelled>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            self.acquire_permit().await.map(SemaphorePermit::disarm)
        }
    }

    /// Increments the counter, or hands the unit straight to the task that has waited
    /// longest (Trio's `release`).
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if the counter is at `max_value`: the semaphore was released more
    /// often than acquired.
    ///
    /// # Cancellation
    ///
    /// Synchronous: not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trio::Semaphore::new(0);
    /// sem.release().unwrap();
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn release(&self) -> Result<(), RuntimeError> {
        if self.lot.unpark_one().is_some() {
            return Ok(());
        }
        let value = self.value.get();
        if self.max_value == Some(value) {
            return Err(RuntimeError::with_message(format!(
                "semaphore released too many times: its value is already max_value ({value}); \
                 release only units you acquired"
            )));
        }
        self.value.set(value + 1);
        Ok(())
    }

    /// Acquires one unit and returns a permit that releases it on drop (Trio's
    /// `async with semaphore:`).
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if an enclosing scope is cancelled.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let sem = trio::Semaphore::new(1);
    ///     let permit = sem.acquire_permit().await.unwrap();
    ///     drop(permit);
    ///     assert_eq!(sem.value(), 1);
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_permit(&self) -> impl Future<Output = Result<SemaphorePermit<'_>, Cancelled>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            checkpoint_if_cancelled().await?;
            if self.try_acquire().is_ok() {
                let permit = SemaphorePermit { sem: self, armed: true };
                cancel_shielded_checkpoint().await;
                return Ok(permit);
            }
            // Only a release through `self` (or a permit borrowing it) wakes the lot.
            let what = WaitDescription::from("Semaphore::acquire").woken_only_through(self, "release");
            let slot = self.lot.enqueue(current_task(), what).expect("a Semaphore's lot is never broken");
            let mut waiting = Handoff {
                slot,
                on_drop: Some(|| {
                    let _ = self.release();
                }),
            };
            match (&mut waiting.slot).await {
                Ok(_) => Ok(SemaphorePermit { sem: self, armed: true }),
                Err(cancelled) => Err(cancelled),
            }
        }
    }

    /// Acquires one unit without waiting and returns a permit.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the counter is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trio::Semaphore::new(0);
    /// assert!(sem.try_acquire_permit().is_err());
    /// ```
    pub fn try_acquire_permit(&self) -> Result<SemaphorePermit<'_>, WouldBlock> {
        self.try_acquire()?;
        Ok(SemaphorePermit { sem: self, armed: true })
    }

    /// A snapshot; see [`SemaphoreStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Semaphore::new(2).statistics().value, 2);
    /// ```
    pub fn statistics(&self) -> SemaphoreStatistics {
        SemaphoreStatistics { tasks_waiting: self.lot.len(), value: self.value.get(), max_value: self.max_value }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Semaphore");
        if let Some(name) = self.name() {
            s.field("name", &name);
        }
        s.field("statistics", &self.statistics()).finish()
    }
}

impl SemaphorePermit<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.sem.release();
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
