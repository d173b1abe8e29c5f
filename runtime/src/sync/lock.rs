//! [`Lock`] and [`StrictFifoLock`]: mutual exclusion owned by a task, with the guard and the
//! core that [`Condition`](crate::Condition) shares.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;

use crate::error::{BrokenResource, RuntimeError, SyncError, WouldBlock};
use crate::lowlevel::{
    ParkSlot, ParkingLot, Task, WaitDescription, cancel_shielded_checkpoint, checkpoint_if_cancelled, current_task,
};
use crate::parking_lot::Wake;

// ===== Lock and StrictFifoLock =====

/// A mutual-exclusion lock owned by a task (Trio's `trio.Lock`).
///
/// Not re-entrant, and only the owner may release it. Fair: a release hands the lock straight
/// to the task that has waited longest.
///
/// Two ways to use it:
/// - [`lock`](Lock::lock) returns a [`LockGuard`] that releases on drop — the usual Rust way,
///   like Trio's `async with lock:`. A guard dropped while its task unwinds from a panic
///   releases too, as Trio's `async with` does on an exception.
/// - [`acquire`](Lock::acquire) / [`release`](Lock::release), Trio's explicit pair. If the
///   owner task exits without releasing, the lock is **broken**: every waiter and every later
///   acquire fails with [`SyncError::Broken`] (Trio #3035). The lock breaks as the owner
///   exits, before its nursery hears of it (a task-exit hook, as Trio's run loop does it), and
///   the tasks already waiting are woken with the error at once.
///
/// A `Lock` protects no data of its own; pair it with a `RefCell` for that, or use it to
/// serialise a sequence of awaits.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// trio::run(async {
///     let lock = Rc::new(trio::Lock::new());
///     trio::open_nursery(|nursery| async move {
///         for _ in 0..3 {
///             let lock = lock.clone();
///             nursery.start_soon(async move {
///                 let _guard = lock.lock().await?;
///                 trio::checkpoint().await?; // nobody else is inside
///                 Ok(())
///             });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct Lock {
    pub(super) core: Rc<LockCore>,
}

/// A [`Lock`] that guarantees tasks acquire it in strict first-come, first-served order
/// (Trio's `trio.StrictFIFOLock`).
///
/// Today every lock of this crate is strictly FIFO; choosing this type documents that your
/// code relies on it (for example, to send chunks in the order a state machine produced them)
/// and keeps relying on it if [`Lock`] ever stops being strict. The API and the rules are
/// those of [`Lock`].
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let lock = trio::StrictFifoLock::new();
///     let guard = lock.lock().await.unwrap();
///     assert!(lock.locked());
///     drop(guard);
///     assert!(!lock.locked());
/// });
/// ```
pub struct StrictFifoLock {
    core: Rc<LockCore>,
}

/// Holds a [`Lock`] (or [`StrictFifoLock`]) and releases it when dropped.
///
/// The guard releases on behalf of the task that acquired the lock. If that task no longer
/// owns it when the guard drops (a [`Condition::wait`](crate::sync::Condition::wait) was dropped halfway, or the lock was
/// released by hand), the drop does nothing.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let lock = trio::Lock::new();
///     {
///         let _guard = lock.lock().await.unwrap();
///         assert!(lock.locked());
///     }
///     assert!(!lock.locked());
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    core: &'a LockCore,
    task: Task,
    /// `false` once handed over to the explicit acquire/release API.
    armed: bool,
}

/// A snapshot of a [`Lock`] (Trio's `LockStatistics`).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let lock = trio::Lock::new();
///     lock.acquire().await.unwrap();
///     let stats = lock.statistics();
///     assert!(stats.locked);
///     assert_eq!(stats.owner, Some(trio::lowlevel::current_task()));
///     assert_eq!(stats.tasks_waiting, 0);
/// #   lock.release().unwrap();
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStatistics {
    /// `true` while a task holds the lock (or held it when it exited, breaking it).
    pub locked: bool,
    /// The task holding the lock.
    pub owner: Option<Task>,
    /// Tasks blocked acquiring the lock.
    pub tasks_waiting: usize,
}

macro_rules! lock_api {
    ($ty:ident, $name:literal) => {
        impl $ty {
            /// An unlocked lock.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert!(!trio::", $name, "::new().locked());")]
            /// ```
            #[track_caller]
            pub fn new() -> $ty {
                $ty { core: Rc::new(LockCore::new($name)) }
            }

            /// The same lock with a name: deadlock reports read
            #[doc = concat!("\"", $name, "::acquire on the ", $name, " \\`state\\` created at …\",")]
            /// and `Debug` shows it.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let lock = trio::", $name, "::new().named(\"state\");")]
            /// assert_eq!(lock.name(), Some("state"));
            /// assert!(format!("{lock:?}").contains("state"));
            /// ```
            pub fn named(mut self, name: impl Into<Rc<str>>) -> $ty {
                let name = name.into();
                match Rc::get_mut(&mut self.core) {
                    Some(core) => core.lot.set_name(name),
                    // Already shared with a `Condition`: name it unless it has a name.
                    None => self.core.lot.name_if_unnamed(name),
                }
                self
            }

            /// The name given with [`named`]($ty::named), if any.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert_eq!(trio::", $name, "::new().name(), None);")]
            /// ```
            pub fn name(&self) -> Option<&str> {
                self.core.lot.name()
            }

            /// `true` while a task holds the lock. A broken lock stays locked.
            ///
            /// # Examples
            ///
            /// ```
            /// trio::run(async {
            #[doc = concat!("    let lock = trio::", $name, "::new();")]
            ///     let _guard = lock.lock().await.unwrap();
            ///     assert!(lock.locked());
            /// });
            /// ```
            pub fn locked(&self) -> bool {
                self.core.locked()
            }

            /// Acquires the lock without waiting (Trio's `acquire_nowait`). Pair with
            /// [`release`](Self::release), or use [`try_lock`](Self::try_lock) for a guard.
            ///
            /// # Errors
            ///
            /// [`SyncError::WouldBlock`] if another task holds it (or tasks are queued for it),
            /// [`SyncError::Misuse`] if this task already holds it, [`SyncError::Broken`] if
            /// its owner exited without releasing it.
            ///
            /// # Panics
            ///
            /// Outside a task of a run.
            ///
            /// # Examples
            ///
            /// ```
            /// trio::run(async {
            #[doc = concat!("    let lock = trio::", $name, "::new();")]
            ///     lock.try_acquire().unwrap();
            ///     assert!(lock.try_acquire().unwrap_err().is_misuse());
            ///     lock.release().unwrap();
            /// });
            /// ```
            #[doc(alias = "acquire_nowait")]
            #[track_caller]
            pub fn try_acquire(&self) -> Result<(), SyncError> {
                self.core.try_acquire_for(&current_task())
            }

            /// Acquires the lock, waiting for it if needed (Trio's `acquire`). The task then
            /// owns it until it calls [`release`](Self::release); if it exits first, the lock
            /// breaks. Prefer [`lock`](Self::lock), whose guard cannot forget to release.
            ///
            /// # Errors
            ///
            /// [`SyncError::Cancelled`] if an enclosing scope is cancelled,
            /// [`SyncError::Misuse`] if this task already holds it, [`SyncError::Broken`] if
            /// its owner exited without releasing it (also while waiting).
            ///
            /// # Panics
            ///
            /// Outside a task of a run.
            ///
            /// # Cancellation
            ///
            /// A checkpoint when it returns `Ok`. A cancelled acquire did not acquire; a
            /// future dropped after the lock was handed to it passes the lock on.
            ///
            /// # Examples
            ///
            /// ```
            /// trio::run(async {
            #[doc = concat!("    let lock = trio::", $name, "::new();")]
            ///     lock.acquire().await.unwrap();
            ///     assert!(lock.locked());
            ///     lock.release().unwrap();
            ///     assert!(!lock.locked());
            /// });
            /// ```
            #[track_caller]
            pub fn acquire(&self) -> impl Future<Output = Result<(), SyncError>> {
                let location = Location::caller();
                async move {
                    let _site = crate::lowlevel::enter_operation(location);
                    self.core.lock().await.map(LockGuard::disarm)
                }
            }

            /// Releases the lock, handing it to the task that has waited longest (Trio's
            /// `release`).
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
            #[doc = concat!("    let lock = trio::", $name, "::new();")]
            ///     assert!(lock.release().is_err()); // not held
            /// });
            /// ```
            #[track_caller]
            pub fn release(&self) -> Result<(), RuntimeError> {
                self.core.release_for(&current_task())
            }

            /// Acquires the lock, waiting if needed, and returns a guard that releases it on
            /// drop (Trio's `async with lock:`).
            ///
            /// # Errors
            ///
            /// As [`acquire`](Self::acquire).
            ///
            /// # Panics
            ///
            /// Outside a task of a run.
            ///
            /// # Cancellation
            ///
            /// As [`acquire`](Self::acquire).
            ///
            /// # Examples
            ///
            /// ```
            /// trio::run(async {
            #[doc = concat!("    let lock = trio::", $name, "::new();")]
            ///     let guard = lock.lock().await.unwrap();
            ///     drop(guard);
            ///     assert!(!lock.locked());
            /// });
            /// ```
            #[track_caller]
            pub fn lock(&self) -> impl Future<Output = Result<LockGuard<'_>, SyncError>> {
                let location = Location::caller();
                async move {
                    let _site = crate::lowlevel::enter_operation(location);
                    self.core.lock().await
                }
            }

            /// Acquires the lock without waiting and returns a guard.
            ///
            /// # Errors
            ///
            /// As [`try_acquire`](Self::try_acquire).
            ///
            /// # Panics
            ///
            /// Outside a task of a run.
            ///
            /// # Examples
            ///
            /// ```
            /// trio::run(async {
            #[doc = concat!("    let lock = trio::", $name, "::new();")]
            ///     let guard = lock.try_lock().unwrap();
            ///     assert!(lock.locked());
            ///     drop(guard);
            /// });
            /// ```
            #[track_caller]
            pub fn try_lock(&self) -> Result<LockGuard<'_>, SyncError> {
                let task = current_task();
                self.core.try_acquire_for(&task)?;
                Ok(LockGuard { core: &self.core, task, armed: true })
            }

            /// A snapshot; see [`LockStatistics`].
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let stats = trio::", $name, "::new().statistics();")]
            /// assert!(!stats.locked);
            /// ```
            pub fn statistics(&self) -> LockStatistics {
                self.core.statistics()
            }
        }

        impl Default for $ty {
            #[track_caller]
            fn default() -> $ty {
                $ty::new()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut s = f.debug_struct($name);
                if let Some(name) = self.name() {
                    s.field("name", &name);
                }
                s.field("statistics", &self.core.statistics()).finish()
            }
        }
    };
}

lock_api!(Lock, "Lock");
lock_api!(StrictFifoLock, "StrictFifoLock");

impl LockGuard<'_> {
    /// Leaves the lock held with no guard: the explicit API takes over.
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if self.armed && self.core.is_owned_by(&self.task) {
            self.core.release_owned(&self.task);
        }
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").field("kind", &self.core.kind).field("task", &self.task.id()).finish()
    }
}

/// The state shared by [`Lock`], [`StrictFifoLock`] and [`Condition`].
/// The outcome of one attempt to take a lock.
enum Attempt {
    Acquired,
    Busy,
    Reentrant,
    Broken,
    /// The task has exited: asked from its exit hook or an instrument's `task_exited`.
    Exited,
}

pub(super) struct LockCore {
    /// Tasks waiting for the lock; the owner is registered as its breaker.
    pub(super) lot: ParkingLot,
    /// Invariant: when `None`, `lot` has no live waiter (a release hands the lock over).
    owner: RefCell<Option<Task>>,
    kind: &'static str,
}

impl LockCore {
    #[track_caller]
    pub(super) fn new(kind: &'static str) -> LockCore {
        LockCore { lot: ParkingLot::owned_by(kind, Location::caller()), owner: RefCell::new(None), kind }
    }

    pub(super) fn locked(&self) -> bool {
        self.lot.is_broken(); // notices an owner that exited
        self.owner.borrow().is_some()
    }

    pub(super) fn is_owned_by(&self, task: &Task) -> bool {
        self.owner.borrow().as_ref() == Some(task)
    }

    pub(super) fn statistics(&self) -> LockStatistics {
        let tasks_waiting = self.lot.len();
        LockStatistics { locked: self.owner.borrow().is_some(), owner: self.owner.borrow().clone(), tasks_waiting }
    }

    pub(super) fn broken(&self) -> SyncError {
        let owner = self.owner.borrow();
        let who = match &*owner {
            Some(task) => format!("task {} `{}`", task.id(), task.name()),
            None => "its owner".to_string(),
        };
        SyncError::Broken(BrokenResource::with_message(format!(
            "{who} exited while holding this {kind} without releasing it, so the {kind} is broken for good; \
             release before exiting (or hold it through a guard) and use a new {kind}",
            kind = self.kind
        )))
    }

    pub(super) fn try_acquire_for(&self, task: &Task) -> Result<(), SyncError> {
        match self.attempt(task) {
            Attempt::Acquired => Ok(()),
            Attempt::Broken => Err(self.broken()),
            Attempt::Exited => Err(SyncError::Broken(BrokenResource::with_message(format!(
                "task {} `{}` has exited (this runs in its exit hook), so it cannot own this {kind}: it \
                 could never release it",
                task.id(),
                task.name(),
                kind = self.kind
            )))),
            Attempt::Reentrant => Err(SyncError::Misuse(RuntimeError::with_message(format!(
                "this task already holds this {kind}, which is not re-entrant; release it before acquiring it again",
                kind = self.kind
            )))),
            Attempt::Busy => Err(SyncError::WouldBlock(WouldBlock::with_message(format!(
                "another task holds this {}; use acquire() or lock() to wait for it",
                self.kind
            )))),
        }
    }

    /// One attempt to take the lock for `task`, without building an error (the waiting paths
    /// try first and only park if the lock is busy).
    fn attempt(&self, task: &Task) -> Attempt {
        if self.lot.is_broken() {
            return Attempt::Broken;
        }
        if task.has_exited() {
            // An exit hook or instrument of the task: as owner it would break the lock at once.
            return Attempt::Exited;
        }
        let attempt = match &*self.owner.borrow() {
            Some(holder) if holder == task => Attempt::Reentrant,
            None if !self.lot.has_waiters() => Attempt::Acquired,
            _ => Attempt::Busy,
        };
        if let Attempt::Acquired = attempt {
            *self.owner.borrow_mut() = Some(task.clone());
            self.add_owner_as_breaker(task);
        }
        attempt
    }

    pub(super) async fn lock(&self) -> Result<LockGuard<'_>, SyncError> {
        checkpoint_if_cancelled().await?;
        let task = current_task();
        match self.attempt(&task) {
            Attempt::Acquired => {
                let guard = LockGuard { core: self, task, armed: true };
                cancel_shielded_checkpoint().await;
                return Ok(guard);
            }
            Attempt::Busy => {}
            Attempt::Broken | Attempt::Reentrant | Attempt::Exited => {
                return Err(self.try_acquire_for(&task).unwrap_err());
            }
        }
        let what = if self.kind == "Lock" { "Lock::acquire" } else { "StrictFifoLock::acquire" };
        // Name the holder, so a lock-order deadlock report says who holds what (formatted only
        // if a report is made).
        let what = match &*self.owner.borrow() {
            Some(holder) => WaitDescription::held_by(what, holder),
            None => what.into(),
        };
        let slot = self.lot.enqueue(task.clone(), what).map_err(|_| self.broken())?;
        self.wait_for_handoff(slot, task).await
    }

    /// Waits in the lot until a release hands the lock to `task`.
    async fn wait_for_handoff(&self, slot: ParkSlot<Wake>, task: Task) -> Result<LockGuard<'_>, SyncError> {
        let mut waiting = Handoff { slot, on_drop: Some(|| self.release_owned(&task)) };
        match (&mut waiting.slot).await {
            Ok(Ok(())) => Ok(LockGuard { core: self, task: task.clone(), armed: true }),
            Ok(Err(_)) => Err(self.broken()),
            Err(cancelled) => Err(SyncError::Cancelled(cancelled)),
        }
    }

    pub(super) fn release_for(&self, task: &Task) -> Result<(), RuntimeError> {
        self.lot.is_broken(); // notices an owner that exited
        if !self.is_owned_by(task) {
            return Err(RuntimeError::with_message(format!(
                "can't release a {kind} this task does not hold; only the task that acquired it may release it",
                kind = self.kind
            )));
        }
        self.release_owned(task);
        Ok(())
    }

    /// Releases on behalf of `task`, the owner: hand the lock to the longest waiter.
    pub(super) fn release_owned(&self, task: &Task) {
        debug_assert!(self.is_owned_by(task));
        let _ = self.lot.remove_breaker(task);
        let next = self.lot.unpark_one();
        *self.owner.borrow_mut() = next.clone();
        if let Some(next) = &next {
            self.add_owner_as_breaker(next);
        }
    }

    /// Makes the exit of `owner` break the lock. An owner that has already exited (which a
    /// live acquire cannot be) breaks it at once.
    fn add_owner_as_breaker(&self, owner: &Task) {
        if self.lot.add_breaker(owner).is_err() {
            self.lot.break_lot(Some(owner));
        }
    }
}

/// A parked acquire: if its future is dropped after the resource was handed to it, `on_drop`
/// gives the resource back.
pub(super) struct Handoff<T: 'static, F: FnOnce()> {
    pub(super) slot: ParkSlot<Result<(), T>>,
    pub(super) on_drop: Option<F>,
}

impl<T: 'static, F: FnOnce()> Drop for Handoff<T, F> {
    fn drop(&mut self) {
        if let Some(Ok(())) = self.slot.take_unparked()
            && let Some(give_back) = self.on_drop.take()
        {
            give_back();
        }
    }
}
