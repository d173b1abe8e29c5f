//! [`Condition`]: a condition variable over a lock (Trio's `trio.Condition`).

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;

use super::lock::{Lock, LockCore, LockGuard, LockStatistics};
use crate::error::{RuntimeError, SyncError};
use crate::lowlevel::{ParkingLot, WaitDescription, current_task};

/// A condition variable (Trio's `trio.Condition`): tasks holding its lock
/// [`wait`](Condition::wait) until another task [`notify`](Condition::notify)s them.
///
/// `wait` releases the lock while waiting and holds it again when it returns — even when it
/// returns because it was cancelled, so a guard around it stays truthful. Notified waiters
/// join the back of the lock's queue in the order they started waiting.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// trio::run(async {
///     let cond = Rc::new(trio::Condition::new());
///     let ready = Rc::new(Cell::new(false));
///     let (c, r) = (cond.clone(), ready.clone());
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             let _guard = c.lock().await?;
///             r.set(true);
///             c.notify_all()?;
///             Ok(())
///         });
///         let _guard = cond.lock().await?;
///         while !ready.get() {
///             cond.wait().await?;
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct Condition {
    lock: Rc<LockCore>,
    lot: ParkingLot,
}

/// A snapshot of a [`Condition`] (Trio's `ConditionStatistics`).
///
/// # Examples
///
/// ```
/// let stats = trio::Condition::new().statistics();
/// assert_eq!(stats.tasks_waiting, 0);
/// assert!(!stats.lock_statistics.locked);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConditionStatistics {
    /// Tasks blocked in [`Condition::wait`] (not yet notified).
    pub tasks_waiting: usize,
    /// The underlying lock's statistics.
    pub lock_statistics: LockStatistics,
}

impl Condition {
    /// A condition with a lock of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trio::Condition::new().locked());
    /// ```
    #[track_caller]
    pub fn new() -> Condition {
        Condition { lock: Rc::new(LockCore::new("Lock")), lot: ParkingLot::owned_by("Condition", Location::caller()) }
    }

    /// The same condition with a name: deadlock reports read
    /// "Condition::wait on the Condition \`changed\` created at …", and `Debug` shows it. A
    /// condition made with [`new`](Condition::new) gives the name to its own lock too.
    ///
    /// # Examples
    ///
    /// ```
    /// let changed = trio::Condition::new().named("changed");
    /// assert_eq!(changed.name(), Some("changed"));
    /// assert!(format!("{changed:?}").contains("changed"));
    /// ```
    pub fn named(mut self, name: impl Into<Rc<str>>) -> Condition {
        let name = name.into();
        if let Some(own_lock) = Rc::get_mut(&mut self.lock) {
            own_lock.lot.name_if_unnamed(name.clone());
        }
        self.lot.set_name(name);
        self
    }

    /// The name given with [`named`](Condition::named), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Condition::new().name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.lot.name()
    }

    /// A condition that uses `lock` (Trio's `Condition(lock)`): holding `lock` is holding the
    /// condition's lock.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let lock = trio::Lock::new();
    ///     let cond = trio::Condition::with_lock(&lock);
    ///     let _guard = lock.lock().await.unwrap();
    ///     assert!(cond.locked());
    ///     cond.notify(1).unwrap(); // allowed: this task holds the lock
    /// });
    /// ```
    #[track_caller]
    pub fn with_lock(lock: &Lock) -> Condition {
        Condition { lock: lock.core.clone(), lot: ParkingLot::owned_by("Condition", Location::caller()) }
    }

    /// `true` while a task holds the underlying lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trio::Condition::new().locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Acquires the underlying lock without waiting; see [`Lock::try_acquire`].
    ///
    /// # Errors
    ///
    /// As [`Lock::try_acquire`].
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let cond = trio::Condition::new();
    ///     cond.try_acquire().unwrap();
    ///     cond.release().unwrap();
    /// });
    /// ```
    #[doc(alias = "acquire_nowait")]
    #[track_caller]
    pub fn try_acquire(&self) -> Result<(), SyncError> {
        self.lock.try_acquire_for(&current_task())
    }

    /// Acquires the underlying lock; see [`Lock::acquire`].
    ///
    /// # Errors
    ///
    /// As [`Lock::acquire`].
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// As [`Lock::acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let cond = trio::Condition::new();
    ///     cond.acquire().await.unwrap();
    ///     assert!(cond.locked());
    ///     cond.release().unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> impl Future<Output = Result<(), SyncError>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            self.lock.lock().await.map(LockGuard::disarm)
        }
    }

    /// Releases the underlying lock; see [`Lock::release`].
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if the current task does not hold the lock.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     assert!(trio::Condition::new().release().is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn release(&self) -> Result<(), RuntimeError> {
        self.lock.release_for(&current_task())
    }

    /// Acquires the underlying lock and returns a guard that releases it on drop; see
    /// [`Lock::lock`].
    ///
    /// # Errors
    ///
    /// As [`Lock::acquire`].
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// As [`Lock::acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let cond = trio::Condition::new();
    ///     let guard = cond.lock().await.unwrap();
    ///     drop(guard);
    ///     assert!(!cond.locked());
    /// });
    /// ```
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = Result<LockGuard<'_>, SyncError>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            self.lock.lock().await
        }
    }

    /// Waits for a [`notify`](Condition::notify). The current task must hold the lock: `wait`
    /// releases it, parks, and returns once it holds the lock again.
    ///
    /// # Errors
    ///
    /// [`SyncError::Misuse`] if the current task does not hold the lock (nothing happens);
    /// [`SyncError::Cancelled`] if an enclosing scope is cancelled — returned only after the
    /// lock was re-acquired under a shield, which may take a while; [`SyncError::Broken`] if
    /// the lock broke while waiting for it (the lock is then not held).
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint. A cancelled wait holds the lock again and consumed no
    /// notification. If the future is dropped while waiting, the task does not get the lock
    /// back (a guard around it then releases nothing).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let cond = trio::Condition::new();
    ///     let err = cond.wait().await.unwrap_err();
    ///     assert!(err.is_misuse()); // must hold the lock
    /// });
    /// ```
    #[track_caller]
    pub fn wait(&self) -> impl Future<Output = Result<(), SyncError>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            let task = current_task();
            if !self.lock.is_owned_by(&task) {
                return Err(SyncError::Misuse(RuntimeError::with_message(
                    "must hold the Condition's lock to wait; acquire it (or lock()) first",
                )));
            }
            self.lock.release_owned(&task);
            // Until notified, only `notify` through `self` wakes the wait; `repark` withdraws
            // this when it moves the wait to the lock's lot.
            let what = WaitDescription::from("Condition::wait").woken_only_through(self, "notify");
            let slot = self.lot.enqueue(task.clone(), what).expect("a Condition's own lot is never broken");
            // Notified, the wait moves to the lock's lot; a release there hands us the lock.
            match slot.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(self.lock.broken()),
                Err(cancelled) => {
                    let mut reacquired = None;
                    let _ = crate::CancelScope::shielded()
                        .run(async {
                            reacquired = Some(self.lock.lock().await.map(LockGuard::disarm));
                            Ok(())
                        })
                        .await;
                    match reacquired {
                        Some(Err(error)) => Err(error),
                        _ => Err(SyncError::Cancelled(cancelled)),
                    }
                }
            }
        }
    }

    /// Wakes up to `n` waiting tasks, longest-waiting first: they join the queue for the lock
    /// and return from `wait` once they get it.
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if the current task does not hold the lock.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// Synchronous: not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let cond = trio::Condition::new();
    ///     assert!(cond.notify(1).is_err()); // must hold the lock
    ///     let _guard = cond.lock().await.unwrap();
    ///     cond.notify(1).unwrap(); // nobody waits: nothing happens
    /// });
    /// ```
    #[track_caller]
    pub fn notify(&self, n: usize) -> Result<(), RuntimeError> {
        self.check_holder("notify")?;
        self.lot.repark(&self.lock.lot, n);
        Ok(())
    }

    /// Wakes every waiting task; see [`notify`](Condition::notify).
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if the current task does not hold the lock.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let cond = trio::Condition::new();
    ///     let _guard = cond.lock().await.unwrap();
    ///     cond.notify_all().unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn notify_all(&self) -> Result<(), RuntimeError> {
        self.check_holder("notify")?;
        self.lot.repark_all(&self.lock.lot);
        Ok(())
    }

    /// A snapshot; see [`ConditionStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Condition::new().statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> ConditionStatistics {
        ConditionStatistics { tasks_waiting: self.lot.len(), lock_statistics: self.lock.statistics() }
    }

    #[track_caller]
    fn check_holder(&self, what: &str) -> Result<(), RuntimeError> {
        if self.lock.is_owned_by(&current_task()) {
            Ok(())
        } else {
            Err(RuntimeError::with_message(format!(
                "must hold the Condition's lock to {what}; acquire it (or lock()) first"
            )))
        }
    }
}

impl Default for Condition {
    #[track_caller]
    fn default() -> Condition {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Condition");
        if let Some(name) = self.name() {
            s.field("name", &name);
        }
        s.field("statistics", &self.statistics()).finish()
    }
}
