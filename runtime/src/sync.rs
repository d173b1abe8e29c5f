//! Synchronisation primitives (Trio's `_sync.py`), built on `lowlevel`: [`Event`], [`Lock`],
//! [`StrictFifoLock`], [`Semaphore`], [`CapacityLimiter`] and [`Condition`].
//!
//! All of them are fair: a release hands the resource straight to the task that has waited
//! longest, so a task that releases and immediately re-acquires goes to the back of the line.
//! All blocking methods follow Trio's idiom — a cancel point, then the non-blocking attempt,
//! then either a cancel-shielded schedule point or a park — so they checkpoint when they
//! succeed and have no effect when they are cancelled.
//!
//! Each blocking method has a guard twin where Rust users expect one ([`Lock::lock`],
//! [`Semaphore::acquire_permit`], [`CapacityLimiter::acquire_token`]). A future dropped after
//! the resource was handed to it gives the resource back, so dropping an acquire (say, the
//! losing branch of a `select!`) never leaks it.

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::channel::Capacity;
use crate::core::wait::Waiters;
use crate::error::{BrokenResource, Cancelled, RuntimeError, WouldBlock};
use crate::lowlevel::{
    ParkSlot, Task, TaskId, cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, current_task, park_slot,
};
use crate::parking_lot::{ParkingLot, Wake};

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

// ===== Event =====

/// A flag that starts unset and can be set once; tasks wait for it (Trio's `trio.Event`).
///
/// There is no `clear`: once an event has happened it cannot un-happen. For a series of
/// events, make a new `Event` for each (they are cheap), or use a channel.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// trio::run(async {
///     let ready = Rc::new(trio::Event::new());
///     let setter = ready.clone();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move { setter.set() });
///         ready.wait().await?;
///         assert!(ready.is_set());
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Default)]
pub struct Event {
    flag: Cell<bool>,
    /// Invariant: empty once `flag` is set.
    lot: ParkingLot,
}

/// A snapshot of an [`Event`] (Trio's `EventStatistics`).
///
/// # Examples
///
/// ```
/// assert_eq!(trio::Event::new().statistics().tasks_waiting, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EventStatistics {
    /// Tasks blocked in [`Event::wait`].
    pub tasks_waiting: usize,
}

impl Event {
    /// An unset event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trio::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// `true` once [`set`](Event::set) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = trio::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.flag.get()
    }

    /// Sets the flag and wakes every waiting task, in the order they started waiting.
    /// Setting a set event does nothing.
    ///
    /// # Cancellation
    ///
    /// Synchronous: not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = trio::Event::new();
    /// event.set();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        if !self.flag.replace(true) {
            self.lot.unpark_all();
        }
    }

    /// Waits until the event is set; returns at once (after a checkpoint) if it already is.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if an enclosing scope is cancelled — also when the event is already set.
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint. Nothing is lost if cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let event = trio::Event::new();
    ///     event.set();
    ///     event.wait().await.unwrap(); // still a checkpoint
    /// });
    /// ```
    #[track_caller]
    pub fn wait(&self) -> impl Future<Output = Result<(), Cancelled>> {
        let location = Location::caller();
        async move {
            crate::lowlevel::ensure_in_run(location);
            if self.flag.get() {
                return checkpoint().await;
            }
            let slot = self.lot.enqueue(current_task(), "Event::wait").expect("an Event's lot is never broken");
            match slot.await {
                Ok(_) => Ok(()),
                Err(cancelled) => Err(cancelled),
            }
        }
    }

    /// A snapshot; see [`EventStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Event::new().statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> EventStatistics {
        EventStatistics { tasks_waiting: self.lot.len() }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").field("set", &self.flag.get()).field("lot", &self.lot).finish()
    }
}

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
///   acquire fails with [`SyncError::Broken`] (Trio #3035). The runtime has no task-exit
///   hook, so the lock notices the owner's exit the next time it is used (acquired, released,
///   inspected); tasks already waiting are woken then. If nothing touches the lock again, the
///   waiters stay blocked and the run's deadlock report names the lock and its owner.
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
    core: Rc<LockCore>,
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
/// owns it when the guard drops (a [`Condition::wait`] was dropped halfway, or the lock was
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
            pub fn new() -> $ty {
                $ty { core: Rc::new(LockCore::new($name)) }
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
                    crate::lowlevel::ensure_in_run(location);
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
                    crate::lowlevel::ensure_in_run(location);
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
            fn default() -> $ty {
                $ty::new()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($name).field("statistics", &self.core.statistics()).finish()
            }
        }
    };
}

lock_api!(Lock, "Lock");
lock_api!(StrictFifoLock, "StrictFifoLock");

impl LockGuard<'_> {
    /// Leaves the lock held with no guard: the explicit API takes over.
    fn disarm(mut self) {
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
}

struct LockCore {
    /// Tasks waiting for the lock; the owner is registered as its breaker.
    lot: ParkingLot,
    /// Invariant: when `None`, `lot` has no live waiter (a release hands the lock over).
    owner: RefCell<Option<Task>>,
    kind: &'static str,
}

impl LockCore {
    fn new(kind: &'static str) -> LockCore {
        LockCore { lot: ParkingLot::new(), owner: RefCell::new(None), kind }
    }

    fn locked(&self) -> bool {
        self.lot.is_broken(); // notices an owner that exited
        self.owner.borrow().is_some()
    }

    fn is_owned_by(&self, task: &Task) -> bool {
        self.owner.borrow().as_ref() == Some(task)
    }

    fn statistics(&self) -> LockStatistics {
        let tasks_waiting = self.lot.len();
        LockStatistics { locked: self.owner.borrow().is_some(), owner: self.owner.borrow().clone(), tasks_waiting }
    }

    fn broken(&self) -> SyncError {
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

    fn try_acquire_for(&self, task: &Task) -> Result<(), SyncError> {
        match self.attempt(task) {
            Attempt::Acquired => Ok(()),
            Attempt::Broken => Err(self.broken()),
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
        let mut owner = self.owner.borrow_mut();
        match &*owner {
            Some(holder) if holder == task => Attempt::Reentrant,
            None if !self.lot.has_waiters() => {
                *owner = Some(task.clone());
                self.lot.add_breaker(task);
                Attempt::Acquired
            }
            _ => Attempt::Busy,
        }
    }

    async fn lock(&self) -> Result<LockGuard<'_>, SyncError> {
        checkpoint_if_cancelled().await?;
        let task = current_task();
        match self.attempt(&task) {
            Attempt::Acquired => {
                let guard = LockGuard { core: self, task, armed: true };
                cancel_shielded_checkpoint().await;
                return Ok(guard);
            }
            Attempt::Busy => {}
            Attempt::Broken | Attempt::Reentrant => return Err(self.try_acquire_for(&task).unwrap_err()),
        }
        let what = if self.kind == "Lock" { "Lock::acquire" } else { "StrictFifoLock::acquire" };
        // Name the holder, so a lock-order deadlock report says who holds what.
        let what = match &*self.owner.borrow() {
            Some(holder) => format!("{what} (held by task {} `{}` when this wait began)", holder.id(), holder.name()),
            None => what.to_string(),
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

    fn release_for(&self, task: &Task) -> Result<(), RuntimeError> {
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
    fn release_owned(&self, task: &Task) {
        debug_assert!(self.is_owned_by(task));
        let _ = self.lot.remove_breaker(task);
        let next = self.lot.unpark_one();
        if let Some(next) = &next {
            self.lot.add_breaker(next);
        }
        *self.owner.borrow_mut() = next;
    }
}

/// A parked acquire: if its future is dropped after the resource was handed to it, `on_drop`
/// gives the resource back.
struct Handoff<T: 'static, F: FnOnce()> {
    slot: ParkSlot<Result<(), T>>,
    on_drop: Option<F>,
}

impl<T: 'static, F: FnOnce()> Drop for Handoff<T, F> {
    fn drop(&mut self) {
        if let Some(Ok(())) = self.slot.take_unparked() {
            if let Some(give_back) = self.on_drop.take() {
                give_back();
            }
        }
    }
}

// ===== Condition =====

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
    pub fn new() -> Condition {
        Condition { lock: Rc::new(LockCore::new("Lock")), lot: ParkingLot::new() }
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
    pub fn with_lock(lock: &Lock) -> Condition {
        Condition { lock: lock.core.clone(), lot: ParkingLot::new() }
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
            crate::lowlevel::ensure_in_run(location);
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
            crate::lowlevel::ensure_in_run(location);
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
            crate::lowlevel::ensure_in_run(location);
            let task = current_task();
            if !self.lock.is_owned_by(&task) {
                return Err(SyncError::Misuse(RuntimeError::with_message(
                    "must hold the Condition's lock to wait; acquire it (or lock()) first",
                )));
            }
            self.lock.release_owned(&task);
            let slot =
                self.lot.enqueue(task.clone(), "Condition::wait").expect("a Condition's own lot is never broken");
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
    fn default() -> Condition {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition").field("statistics", &self.statistics()).finish()
    }
}

// ===== Semaphore =====

/// A counter that [`acquire`](Semaphore::acquire) decrements, waiting while it is zero, and
/// [`release`](Semaphore::release) increments (Trio's `trio.Semaphore`).
///
/// Anyone may release, not only a task that acquired. With a `max_value`, releasing past it
/// is an error (a bounded semaphore). To limit how many tasks do something at once,
/// [`CapacityLimiter`] is usually the better tool: it checks who holds what.
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
    /// A semaphore whose counter starts at `initial_value`, with no upper bound.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Semaphore::new(3).value(), 3);
    /// ```
    pub fn new(initial_value: usize) -> Semaphore {
        Semaphore { value: Cell::new(initial_value), max_value: None, lot: ParkingLot::new() }
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
        Semaphore { value: Cell::new(initial_value), max_value: Some(max_value), lot: ParkingLot::new() }
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
            crate::lowlevel::ensure_in_run(location);
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
            crate::lowlevel::ensure_in_run(location);
            checkpoint_if_cancelled().await?;
            if self.try_acquire().is_ok() {
                let permit = SemaphorePermit { sem: self, armed: true };
                cancel_shielded_checkpoint().await;
                return Ok(permit);
            }
            let slot =
                self.lot.enqueue(current_task(), "Semaphore::acquire").expect("a Semaphore's lot is never broken");
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
        f.debug_struct("Semaphore").field("statistics", &self.statistics()).finish()
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

// ===== CapacityLimiter =====

/// Who holds a [`CapacityLimiter`] token: a task (the default), or any token made with
/// [`Borrower::unique`] for work that is not a task (Trio accepts any object).
///
/// # Examples
///
/// ```
/// use trio::Borrower;
///
/// let a = Borrower::unique();
/// assert_eq!(a, a.clone());
/// assert_ne!(a, Borrower::unique());
/// trio::run(async {
///     let me = trio::lowlevel::current_task();
///     assert_eq!(Borrower::current_task(), Borrower::task(&me));
/// });
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Borrower(BorrowerId);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum BorrowerId {
    Task(TaskId),
    /// Made inside a run: numbered by the run, so the same program prints the same numbers.
    Token(u64),
    /// Made outside any run: numbered by a process-wide counter (identity only).
    OutsideToken(u64),
}

impl Borrower {
    /// A new borrower, equal only to its clones.
    ///
    /// Made inside a run, its number (shown by `Debug`) comes from the run, so it does not
    /// depend on what else ran in the process. Made outside any run, it can only be numbered by
    /// a process-wide counter; `Debug` says so.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_ne!(trio::Borrower::unique(), trio::Borrower::unique());
    /// let first_in_run = || trio::run(async { format!("{:?}", trio::Borrower::unique()) });
    /// assert_eq!(first_in_run(), first_in_run()); // the same in every run
    /// ```
    pub fn unique() -> Borrower {
        match crate::lowlevel::run_number() {
            Some(n) => Borrower(BorrowerId::Token(n)),
            None => {
                static NEXT: AtomicU64 = AtomicU64::new(1);
                Borrower(BorrowerId::OutsideToken(NEXT.fetch_add(1, Ordering::Relaxed)))
            }
        }
    }

    /// The borrower that stands for `task`.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let me = trio::lowlevel::current_task();
    ///     assert_eq!(trio::Borrower::task(&me), trio::Borrower::current_task());
    /// });
    /// ```
    pub fn task(task: &Task) -> Borrower {
        Borrower(BorrowerId::Task(task.id()))
    }

    /// The borrower that stands for the current task.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let _me = trio::Borrower::current_task();
    /// });
    /// ```
    #[track_caller]
    pub fn current_task() -> Borrower {
        Borrower::task(&current_task())
    }
}

impl fmt::Debug for Borrower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            BorrowerId::Task(id) => write!(f, "Borrower(task {id})"),
            BorrowerId::Token(n) => write!(f, "Borrower(token {n})"),
            BorrowerId::OutsideToken(n) => write!(f, "Borrower(token {n}, made outside a run)"),
        }
    }
}

/// A sack of tokens that limits how many borrowers use a resource at once (Trio's
/// `trio.CapacityLimiter`).
///
/// Each borrower — the current task by default, or an explicit [`Borrower`] with the
/// `*_on_behalf_of` methods — holds at most one token, and only a holder may give its token
/// back. [`set_total_tokens`](CapacityLimiter::set_total_tokens) changes the size of the
/// sack; growing it wakes waiters at once, shrinking it lets current holders finish.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// trio::run(async {
///     let limiter = Rc::new(trio::CapacityLimiter::new(2));
///     trio::open_nursery(|nursery| async move {
///         for _ in 0..5 {
///             let limiter = limiter.clone();
///             nursery.start_soon(async move {
///                 let _token = limiter.acquire_token().await?;
///                 assert!(limiter.borrowed_tokens() <= 2);
///                 trio::checkpoint().await?;
///                 Ok(())
///             });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct CapacityLimiter {
    state: RefCell<LimiterState>,
}

struct LimiterState {
    total: Capacity,
    /// Invariant: no duplicates. May exceed `total` after `set_total_tokens` shrank it.
    borrowers: Vec<Borrower>,
    /// Oldest first, each with the borrower it acquires for.
    /// Invariant: a live waiter exists only while `borrowers.len() >= total`.
    waiters: Waiters<Result<(), SyncError>, Borrower>,
}

/// A [`CapacityLimiter`] token held by the current task, given back when dropped.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let limiter = trio::CapacityLimiter::new(1);
///     let token = limiter.acquire_token().await.unwrap();
///     assert_eq!(limiter.available_tokens(), trio::Capacity::Bounded(0));
///     drop(token);
///     assert_eq!(limiter.available_tokens(), trio::Capacity::Bounded(1));
/// });
/// ```
#[must_use = "the token goes back as soon as it is dropped"]
pub struct LimiterToken<'a> {
    limiter: &'a CapacityLimiter,
    borrower: Borrower,
    armed: bool,
}

/// A snapshot of a [`CapacityLimiter`] (Trio's `CapacityLimiterStatistics`).
///
/// # Examples
///
/// ```
/// let stats = trio::CapacityLimiter::new(4).statistics();
/// assert_eq!(stats.total_tokens, trio::Capacity::Bounded(4));
/// assert_eq!((stats.borrowed_tokens, stats.tasks_waiting), (0, 0));
/// assert!(stats.borrowers.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapacityLimiterStatistics {
    /// Tokens held now.
    pub borrowed_tokens: usize,
    /// The size of the sack (may be below `borrowed_tokens` right after it shrank).
    pub total_tokens: Capacity,
    /// Who holds the tokens, in the order they got them.
    pub borrowers: Vec<Borrower>,
    /// Tasks blocked acquiring a token.
    pub tasks_waiting: usize,
}

impl CapacityLimiter {
    /// A limiter with `total_tokens` tokens: a number, or [`Capacity::Unbounded`].
    ///
    /// # Panics
    ///
    /// If `total_tokens` is 0 (Trio requires at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(40).total_tokens(), trio::Capacity::Bounded(40));
    /// ```
    #[track_caller]
    pub fn new(total_tokens: impl Into<Capacity>) -> CapacityLimiter {
        let total = checked_total(total_tokens.into());
        CapacityLimiter { state: RefCell::new(LimiterState { total, borrowers: Vec::new(), waiters: Waiters::new() }) }
    }

    /// The size of the sack.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::CapacityLimiter::new(trio::Capacity::Unbounded);
    /// assert_eq!(limiter.total_tokens(), trio::Capacity::Unbounded);
    /// ```
    pub fn total_tokens(&self) -> Capacity {
        self.state.borrow().total
    }

    /// Resizes the sack. Growing it wakes as many waiters as there are new free tokens, at
    /// once; shrinking it below what is borrowed lets the holders finish, and admits nobody
    /// until enough tokens came back.
    ///
    /// # Panics
    ///
    /// If `total_tokens` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::CapacityLimiter::new(1);
    /// limiter.set_total_tokens(3);
    /// assert_eq!(limiter.available_tokens(), trio::Capacity::Bounded(3));
    /// ```
    #[track_caller]
    pub fn set_total_tokens(&self, total_tokens: impl Into<Capacity>) {
        self.state.borrow_mut().total = checked_total(total_tokens.into());
        self.wake_waiters();
    }

    /// Tokens held now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(2).borrowed_tokens(), 0);
    /// ```
    pub fn borrowed_tokens(&self) -> usize {
        self.state.borrow().borrowers.len()
    }

    /// Tokens free now (zero while the sack is over-borrowed after shrinking).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(2).available_tokens(), trio::Capacity::Bounded(2));
    /// ```
    pub fn available_tokens(&self) -> Capacity {
        let state = self.state.borrow();
        match state.total {
            Capacity::Unbounded => Capacity::Unbounded,
            Capacity::Bounded(total) => Capacity::Bounded(total.saturating_sub(state.borrowers.len())),
        }
    }

    /// Borrows a token for the current task without waiting (Trio's `acquire_nowait`).
    ///
    /// # Errors
    ///
    /// [`SyncError::WouldBlock`] if no token is free (or tasks are queued for one),
    /// [`SyncError::Misuse`] if the task already holds one.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     limiter.try_acquire().unwrap();
    ///     assert!(limiter.try_acquire().unwrap_err().is_misuse());
    ///     limiter.release().unwrap();
    /// });
    /// ```
    #[doc(alias = "acquire_nowait")]
    #[track_caller]
    pub fn try_acquire(&self) -> Result<(), SyncError> {
        self.try_acquire_on_behalf_of(&Borrower::current_task())
    }

    /// Borrows a token for `borrower` without waiting (Trio's `acquire_on_behalf_of_nowait`).
    ///
    /// # Errors
    ///
    /// [`SyncError::WouldBlock`] if no token is free (or tasks are queued for one),
    /// [`SyncError::Misuse`] if `borrower` already holds one.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::CapacityLimiter::new(1);
    /// let job = trio::Borrower::unique();
    /// limiter.try_acquire_on_behalf_of(&job).unwrap();
    /// assert!(limiter.try_acquire_on_behalf_of(&trio::Borrower::unique()).unwrap_err().is_would_block());
    /// limiter.release_on_behalf_of(&job).unwrap();
    /// ```
    #[doc(alias = "acquire_on_behalf_of_nowait")]
    pub fn try_acquire_on_behalf_of(&self, borrower: &Borrower) -> Result<(), SyncError> {
        let mut state = self.state.borrow_mut();
        if state.borrowers.contains(borrower) {
            return Err(already_borrowing(borrower));
        }
        if state.borrowers.len() < state.total.limit() && state.waiters.is_empty() {
            state.borrowers.push(borrower.clone());
            Ok(())
        } else {
            Err(SyncError::WouldBlock(WouldBlock::with_message(
                "every token of this CapacityLimiter is borrowed; use acquire() to wait for one",
            )))
        }
    }

    /// Borrows a token for the current task, waiting for one if needed (Trio's `acquire`).
    ///
    /// # Errors
    ///
    /// [`SyncError::Cancelled`] if an enclosing scope is cancelled, [`SyncError::Misuse`] if
    /// the task already holds a token.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// A checkpoint when it returns `Ok`. A cancelled acquire borrowed nothing; a future
    /// dropped after a token was handed to it gives the token back.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     limiter.acquire().await.unwrap();
    ///     assert_eq!(limiter.borrowed_tokens(), 1);
    ///     limiter.release().unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> impl Future<Output = Result<(), SyncError>> {
        let location = Location::caller();
        async move {
            crate::lowlevel::ensure_in_run(location);
            self.acquire_token().await.map(LimiterToken::disarm)
        }
    }

    /// Borrows a token for `borrower`, waiting for one if needed (Trio's
    /// `acquire_on_behalf_of`).
    ///
    /// # Errors
    ///
    /// [`SyncError::Cancelled`] if an enclosing scope is cancelled, [`SyncError::Misuse`] if
    /// `borrower` already holds a token (also when that is discovered on wake-up).
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     let job = trio::Borrower::unique();
    ///     limiter.acquire_on_behalf_of(&job).await.unwrap();
    ///     assert_eq!(limiter.statistics().borrowers, vec![job.clone()]);
    ///     limiter.release_on_behalf_of(&job).unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_on_behalf_of(&self, borrower: &Borrower) -> impl Future<Output = Result<(), SyncError>> {
        let location = Location::caller();
        async move {
            crate::lowlevel::ensure_in_run(location);
            self.acquire_token_for(borrower.clone()).await.map(LimiterToken::disarm)
        }
    }

    /// Gives the current task's token back, handing it to the longest waiter (Trio's
    /// `release`).
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if the current task holds no token.
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
    ///     assert!(trio::CapacityLimiter::new(1).release().is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn release(&self) -> Result<(), RuntimeError> {
        self.release_on_behalf_of(&Borrower::current_task())
    }

    /// Gives `borrower`'s token back (Trio's `release_on_behalf_of`).
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if `borrower` holds no token.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::CapacityLimiter::new(1);
    /// assert!(limiter.release_on_behalf_of(&trio::Borrower::unique()).is_err());
    /// ```
    pub fn release_on_behalf_of(&self, borrower: &Borrower) -> Result<(), RuntimeError> {
        {
            let mut state = self.state.borrow_mut();
            let Some(i) = state.borrowers.iter().position(|b| b == borrower) else {
                return Err(RuntimeError::with_message(format!(
                    "{borrower:?} isn't holding any of this CapacityLimiter's tokens; release only what was acquired"
                )));
            };
            state.borrowers.remove(i);
        }
        self.wake_waiters();
        Ok(())
    }

    /// Borrows a token for the current task, waiting if needed, and returns it as a guard
    /// that gives it back on drop (Trio's `async with limiter:`).
    ///
    /// # Errors
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     let token = limiter.acquire_token().await.unwrap();
    ///     drop(token);
    ///     assert_eq!(limiter.borrowed_tokens(), 0);
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_token(&self) -> impl Future<Output = Result<LimiterToken<'_>, SyncError>> {
        let location = Location::caller();
        async move {
            crate::lowlevel::ensure_in_run(location);
            self.acquire_token_for(Borrower::current_task()).await
        }
    }

    /// Borrows a token for the current task without waiting and returns it as a guard.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](CapacityLimiter::try_acquire).
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     let _token = limiter.try_acquire_token().unwrap();
    ///     assert!(limiter.try_acquire_token().is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn try_acquire_token(&self) -> Result<LimiterToken<'_>, SyncError> {
        let borrower = Borrower::current_task();
        self.try_acquire_on_behalf_of(&borrower)?;
        Ok(LimiterToken { limiter: self, borrower, armed: true })
    }

    /// A snapshot; see [`CapacityLimiterStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(1).statistics().borrowed_tokens, 0);
    /// ```
    pub fn statistics(&self) -> CapacityLimiterStatistics {
        let state = self.state.borrow();
        CapacityLimiterStatistics {
            borrowed_tokens: state.borrowers.len(),
            total_tokens: state.total,
            borrowers: state.borrowers.clone(),
            tasks_waiting: state.waiters.len(),
        }
    }

    async fn acquire_token_for(&self, borrower: Borrower) -> Result<LimiterToken<'_>, SyncError> {
        checkpoint_if_cancelled().await?;
        match self.try_acquire_on_behalf_of(&borrower) {
            Ok(()) => {
                let token = LimiterToken { limiter: self, borrower, armed: true };
                cancel_shielded_checkpoint().await;
                return Ok(token);
            }
            Err(SyncError::WouldBlock(_)) => {}
            Err(error) => return Err(error),
        }
        let (slot, unparker) = park_slot("CapacityLimiter::acquire");
        self.state.borrow_mut().waiters.push(unparker, borrower.clone());
        let mut waiting = Handoff {
            slot,
            on_drop: Some(|| {
                let _ = self.release_on_behalf_of(&borrower);
            }),
        };
        let woken = (&mut waiting.slot).await;
        waiting.on_drop = None;
        match woken {
            Ok(Ok(())) => Ok(LimiterToken { limiter: self, borrower: borrower.clone(), armed: true }),
            Ok(Err(error)) => Err(error),
            Err(cancelled) => Err(SyncError::Cancelled(cancelled)),
        }
    }

    /// Hands free tokens to the longest waiters.
    fn wake_waiters(&self) {
        let mut state = self.state.borrow_mut();
        while state.borrowers.len() < state.total.limit() {
            let Some((unparker, borrower)) = state.waiters.pop() else { break };
            if state.borrowers.contains(&borrower) {
                let _ = unparker.unpark(Err(already_borrowing(&borrower)));
            } else if unparker.unpark(Ok(())).is_ok() {
                state.borrowers.push(borrower);
            }
        }
    }
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapacityLimiter").field("statistics", &self.statistics()).finish()
    }
}

impl LimiterToken<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for LimiterToken<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.limiter.release_on_behalf_of(&self.borrower);
        }
    }
}

impl fmt::Debug for LimiterToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterToken").field("borrower", &self.borrower).finish()
    }
}

#[track_caller]
fn checked_total(total: Capacity) -> Capacity {
    assert!(total != Capacity::Bounded(0), "CapacityLimiter: total_tokens must be at least 1");
    total
}

fn already_borrowing(borrower: &Borrower) -> SyncError {
    SyncError::Misuse(RuntimeError::with_message(format!(
        "{borrower:?} is already holding one of this CapacityLimiter's tokens; release it before acquiring another"
    )))
}
