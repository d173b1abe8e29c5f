//! `ParkingLot`: the fair wait queue every synchronisation primitive is built on (Trio's
//! `trio.lowlevel.ParkingLot`), itself built on [`park_slot`].
//!
//! Each parked task is an [`Unparker`](crate::lowlevel::Unparker) plus the [`Task`] it belongs to, so a lock can hand
//! itself to the task it wakes and a condition can move waiters onto its lock's lot. A waiter
//! whose wait was aborted by cancellation stays queued but refuses to be woken, and is skipped.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;

use crate::error::SyncError;
use crate::error::{BrokenResource, RuntimeError};
use crate::lowlevel::WaitQueue;
use crate::lowlevel::{ExitHook, ParkSlot, Task, WaitDescription, current_task, park_slot};

/// What a parked task is woken with: `Ok` by an unpark, `Err` when the lot breaks.
pub(crate) type Wake = Result<(), BrokenResource>;

/// A fair queue of parked tasks, with re-queueing and breaking (Trio's
/// `trio.lowlevel.ParkingLot`).
///
/// Tasks [`park`](ParkingLot::park) until another task [`unpark`](ParkingLot::unpark)s them,
/// longest-waiting first. Parked tasks can be moved to another lot without waking
/// ([`repark`](ParkingLot::repark), which is how [`Condition`](crate::Condition) hands its
/// waiters to its lock), and a lot can be [broken](ParkingLot::break_lot), which fails every
/// parked and every future parker with [`BrokenResource`].
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use trio::lowlevel::{ParkingLot, wait_all_tasks_blocked};
///
/// trio::run(async {
///     let lot = Rc::new(ParkingLot::new());
///     trio::open_nursery(|nursery| {
///         let lot = lot.clone();
///         async move {
///             for _ in 0..2 {
///                 let lot = lot.clone();
///                 nursery.start_soon(async move { Ok(lot.park().await?) });
///             }
///             wait_all_tasks_blocked(Duration::ZERO).await?;
///             assert_eq!(lot.len(), 2);
///             assert_eq!(lot.unpark_all().len(), 2);
///             Ok(())
///         }
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct ParkingLot {
    inner: Rc<RefCell<LotInner>>,
    /// Breaks the lot when a breaker exits; made once, registered with every breaker.
    breaker_hook: std::cell::OnceCell<BreakerHook>,
    /// What the lot belongs to ("ParkingLot", or the primitive built on it) and where that was
    /// created: every wait in the lot names it in reports.
    owner: (&'static str, &'static Location<'static>),
    /// The name the owner's user gave it, shown next to `owner` in reports and `Debug`.
    name: std::cell::OnceCell<Rc<str>>,
}

impl Default for ParkingLot {
    #[track_caller]
    fn default() -> ParkingLot {
        ParkingLot::owned_by("ParkingLot", Location::caller())
    }
}

/// The exit hook that breaks a lot, shared by all its breakers.
type BreakerHook = Rc<dyn Fn(&Task)>;

#[derive(Default)]
struct LotInner {
    /// The parked tasks, oldest first.
    parked: WaitQueue<Wake, Task>,
    /// Invariant: once non-empty, `parked` stays empty: every parker is refused.
    broken_by: Vec<Task>,
    /// Tasks whose exit breaks the lot, with the exit hook that does it.
    breakers: Vec<(Task, ExitHook)>,
    /// Set when `park` queues a wait that promises to be woken only through this lot; cleared
    /// when `add_breaker` withdraws the promises. Invariant: false ⇒ no parked wait promises,
    /// so a lock's hand-off (which adds a breaker each time) never walks its queue.
    promised: bool,
}

/// A snapshot of a [`ParkingLot`] (Trio's `ParkingLotStatistics`).
///
/// # Examples
///
/// ```
/// let lot = trio::lowlevel::ParkingLot::new();
/// assert_eq!(lot.statistics().tasks_waiting, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ParkingLotStatistics {
    /// Tasks parked in the lot now.
    pub tasks_waiting: usize,
}

impl ParkingLot {
    /// An empty lot.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::lowlevel::ParkingLot::new().is_empty());
    /// ```
    #[track_caller]
    pub fn new() -> ParkingLot {
        ParkingLot::owned_by("ParkingLot", Location::caller())
    }

    /// The lot of a primitive: its waits read "`what` on the `kind` created at `created_at`".
    pub(crate) fn owned_by(kind: &'static str, created_at: &'static Location<'static>) -> ParkingLot {
        ParkingLot {
            inner: Rc::default(),
            breaker_hook: std::cell::OnceCell::new(),
            owner: (kind, created_at),
            name: std::cell::OnceCell::new(),
        }
    }

    /// The same lot with a name: its waits read "ParkingLot::park on the ParkingLot \`name\`
    /// created at …" in deadlock reports, and `Debug` shows it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lot = trio::lowlevel::ParkingLot::new().named("door");
    /// assert_eq!(lot.name(), Some("door"));
    /// assert!(format!("{lot:?}").contains("door"));
    /// ```
    pub fn named(mut self, name: impl Into<Rc<str>>) -> ParkingLot {
        self.set_name(name.into());
        self
    }

    /// The name given with [`named`](ParkingLot::named), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::ParkingLot::new().name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.get().map(|name| &**name)
    }

    /// Parks the current task until an [`unpark`](ParkingLot::unpark) (or
    /// [`unpark_all`](ParkingLot::unpark_all)) reaches it.
    ///
    /// # Errors
    ///
    /// [`SyncError::Broken`] if the lot is broken, now or while parked;
    /// [`SyncError::Cancelled`] if an enclosing scope is cancelled.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// Always a blocking wait, so a checkpoint when it returns `Ok` (on a broken lot it fails
    /// at once, without one, as in Trio). A cancelled park leaves the lot as if it had never
    /// parked. If the future is dropped after an unpark reached it, that wake-up is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use std::time::Duration;
    /// # use trio::lowlevel::{ParkingLot, wait_all_tasks_blocked};
    /// trio::run(async {
    ///     let lot = Rc::new(ParkingLot::new());
    ///     let waker = lot.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async move {
    ///             wait_all_tasks_blocked(Duration::ZERO).await?;
    ///             waker.unpark(1);
    ///             Ok(())
    ///         });
    ///         lot.park().await?;
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn park(&self) -> impl Future<Output = Result<(), SyncError>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            // Woken only through `self` — unless a breaker's exit can break it, which
            // `enqueue` and `add_breaker` account for.
            let what = WaitDescription::from("ParkingLot::park").woken_only_through(self, "unpark");
            let slot = self.enqueue(current_task(), what).map_err(SyncError::Broken)?;
            self.inner.borrow_mut().promised = true;
            match slot.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(broken)) => Err(SyncError::Broken(broken)),
                Err(cancelled) => Err(SyncError::Cancelled(cancelled)),
            }
        }
    }

    /// Wakes up to `count` parked tasks, longest-waiting first, and returns them. Waking fewer
    /// (or none) is not an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let lot = trio::lowlevel::ParkingLot::new();
    /// assert!(lot.unpark(3).is_empty()); // nobody parked
    /// ```
    pub fn unpark(&self, count: usize) -> Vec<Task> {
        self.check_breakers();
        let mut woken = Vec::new();
        while woken.len() < count {
            match self.unpark_one() {
                Some(task) => woken.push(task),
                None => break,
            }
        }
        woken
    }

    /// Wakes every parked task and returns them, in the order they parked.
    ///
    /// # Examples
    ///
    /// ```
    /// let lot = trio::lowlevel::ParkingLot::new();
    /// assert!(lot.unpark_all().is_empty());
    /// ```
    pub fn unpark_all(&self) -> Vec<Task> {
        self.unpark(usize::MAX)
    }

    /// Moves up to `count` parked tasks, longest-waiting first, to the back of `new_lot`
    /// without waking them; they keep their order. Moving them into a broken lot wakes them
    /// with [`SyncError::Broken`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::rc::Rc;
    /// # use std::time::Duration;
    /// # use trio::lowlevel::{ParkingLot, wait_all_tasks_blocked};
    /// trio::run(async {
    ///     let (lot1, lot2) = (Rc::new(ParkingLot::new()), Rc::new(ParkingLot::new()));
    ///     let parked_on = lot1.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async move { Ok(parked_on.park().await?) });
    ///         wait_all_tasks_blocked(Duration::ZERO).await?;
    ///         lot1.repark(&lot2, 1);
    ///         assert_eq!((lot1.len(), lot2.len()), (0, 1));
    ///         lot2.unpark(1); // wakes the task that parked on lot1
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn repark(&self, new_lot: &ParkingLot, count: usize) {
        self.check_breakers();
        let moving: Vec<_> = {
            let inner = self.inner.borrow_mut();
            std::iter::from_fn(|| inner.parked.pop_with()).take(count).collect()
        };
        new_lot.check_breakers();
        let broken = new_lot.broken_error();
        for (unparker, task) in moving {
            match &broken {
                Some(error) => {
                    let _ = unparker.unpark(Err(error.clone()));
                }
                None => {
                    // The new lot's owner wakes it now, and may be reachable by anyone.
                    unparker.clear_woken_only_through();
                    new_lot.inner.borrow_mut().parked.push_with(unparker, task)
                }
            }
        }
    }

    /// Moves every parked task to `new_lot`; see [`repark`](ParkingLot::repark).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::lowlevel::ParkingLot;
    /// let (a, b) = (ParkingLot::new(), ParkingLot::new());
    /// a.repark_all(&b); // nothing parked: nothing moves
    /// assert!(b.is_empty());
    /// ```
    pub fn repark_all(&self, new_lot: &ParkingLot) {
        self.repark(new_lot, usize::MAX);
    }

    /// Breaks the lot, recording `task` (the current task if `None`) as the one that broke
    /// it: every parked task wakes with [`SyncError::Broken`], and every later
    /// [`park`](ParkingLot::park) fails the same way. Breaking a broken lot only records
    /// `task`.
    ///
    /// # Panics
    ///
    /// With `None`, outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let lot = trio::lowlevel::ParkingLot::new();
    ///     lot.break_lot(None);
    ///     assert!(lot.park().await.unwrap_err().is_broken());
    ///     assert_eq!(lot.broken_by()[0], trio::lowlevel::current_task());
    /// });
    /// ```
    #[track_caller]
    pub fn break_lot(&self, task: Option<&Task>) {
        let task = match task {
            Some(task) => task.clone(),
            None => current_task(),
        };
        let parked = {
            let mut inner = self.inner.borrow_mut();
            inner.broken_by.push(task);
            if inner.broken_by.len() > 1 {
                return;
            }
            inner.parked.take_all()
        };
        let error = self.broken_error().expect("the lot was just broken");
        for (unparker, _) in parked {
            let _ = unparker.unpark(Err(error.clone()));
        }
    }

    /// The tasks that broke the lot, first one first; empty while it is intact.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::lowlevel::ParkingLot::new().broken_by().is_empty());
    /// ```
    pub fn broken_by(&self) -> Vec<Task> {
        self.check_breakers();
        self.inner.borrow().broken_by.clone()
    }

    /// `true` once the lot is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trio::lowlevel::ParkingLot::new().is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.check_breakers();
        !self.inner.borrow().broken_by.is_empty()
    }

    /// Makes the exit of `task` break this lot, as a lock does for its owner (Trio's
    /// `add_parking_lot_breaker`): the moment `task` exits, every parked task wakes with
    /// [`BrokenResource`], and so will every later parker. A task may be added more than once
    /// (each [`remove_breaker`](ParkingLot::remove_breaker) undoes one), and to a lot that is
    /// already broken (its exit is then recorded in [`broken_by`](ParkingLot::broken_by)).
    ///
    /// # Errors
    ///
    /// [`BrokenResource`] if `task` has already exited (as in Trio): nothing is registered and
    /// the lot is left as it was. To break a lot in the name of an exited task, use
    /// [`break_lot`](ParkingLot::break_lot).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let lot = std::rc::Rc::new(trio::lowlevel::ParkingLot::new());
    ///     let in_child = lot.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async move {
    ///             in_child.add_breaker(&trio::lowlevel::current_task())?;
    ///             Ok(())
    ///         }); // ... and exits
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert!(lot.is_broken());
    /// });
    /// ```
    #[doc(alias = "add_parking_lot_breaker")]
    pub fn add_breaker(&self, task: &Task) -> Result<(), BrokenResource> {
        if task.has_exited() {
            return Err(BrokenResource::with_message(format!(
                "task {} `{}` has already exited, so it cannot become a breaker of this ParkingLot; \
                 add a task while it runs, or break the lot with break_lot",
                task.id(),
                task.name()
            )));
        }
        let hook = self.breaker_hook.get_or_init(|| {
            let lot = Rc::downgrade(&self.inner);
            let owner = self.owner;
            Rc::new(move |_task: &Task| {
                if let Some(inner) = lot.upgrade() {
                    ParkingLot::owned_by(owner.0, owner.1).with_inner(inner).check_breakers();
                }
            })
        });
        let hook = task.on_exit_shared(hook);
        self.forget_homes();
        self.inner.borrow_mut().breakers.push((task.clone(), hook));
        Ok(())
    }

    /// Undoes one [`add_breaker`](ParkingLot::add_breaker) for `task` (Trio's
    /// `remove_parking_lot_breaker`).
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if `task` is not a breaker of this lot.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let lot = trio::lowlevel::ParkingLot::new();
    ///     let me = trio::lowlevel::current_task();
    ///     assert!(lot.remove_breaker(&me).is_err());
    ///     lot.add_breaker(&me).unwrap();
    ///     assert!(lot.remove_breaker(&me).is_ok());
    /// });
    /// ```
    #[doc(alias = "remove_parking_lot_breaker")]
    pub fn remove_breaker(&self, task: &Task) -> Result<(), RuntimeError> {
        let mut inner = self.inner.borrow_mut();
        match inner.breakers.iter().position(|(t, _)| t == task) {
            Some(i) => {
                let (task, hook) = inner.breakers.remove(i);
                drop(inner);
                task.cancel_exit_hook(hook);
                Ok(())
            }
            None => Err(RuntimeError::with_message(format!(
                "task {} `{}` is not a breaker of this ParkingLot; remove only what add_breaker added",
                task.id(),
                task.name()
            ))),
        }
    }

    /// How many tasks are parked.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::ParkingLot::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.check_breakers();
        self.inner.borrow().parked.len()
    }

    /// `true` if no task is parked.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::lowlevel::ParkingLot::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.check_breakers();
        !self.has_waiters()
    }

    /// A snapshot; see [`ParkingLotStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::ParkingLot::new().statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> ParkingLotStatistics {
        ParkingLotStatistics { tasks_waiting: self.len() }
    }

    // ----- for the primitives of this crate -----

    /// Queues `task` and returns the slot it waits on, or the lot's error if it is broken.
    pub(crate) fn enqueue(
        &self,
        task: Task,
        what: impl Into<WaitDescription>,
    ) -> Result<ParkSlot<Wake>, BrokenResource> {
        self.check_breakers();
        if let Some(error) = self.broken_error() {
            return Err(error);
        }
        let (kind, created_at) = self.owner;
        let (slot, unparker) = park_slot(what.into().on_instance(kind, created_at).named(self.name.get().cloned()));
        if !self.inner.borrow().breakers.is_empty() {
            // A breaker's exit wakes the lot from outside it.
            unparker.clear_woken_only_through();
        }
        self.inner.borrow_mut().parked.push_with(unparker, task);
        Ok(slot)
    }

    /// Withdraws every parked wait's promise to be woken only through this lot: a breaker's
    /// exit can wake them now.
    fn forget_homes(&self) {
        let mut inner = self.inner.borrow_mut();
        if !std::mem::replace(&mut inner.promised, false) {
            return;
        }
        for (unparker, task) in inner.parked.take_all() {
            unparker.clear_woken_only_through();
            inner.parked.push_with(unparker, task);
        }
    }

    /// Names the lot (and so the primitive that owns it).
    pub(crate) fn set_name(&mut self, name: Rc<str>) {
        self.name = std::cell::OnceCell::from(name);
    }

    /// Names the lot if it has no name yet, through a shared reference.
    pub(crate) fn name_if_unnamed(&self, name: Rc<str>) {
        let _ = self.name.set(name);
    }

    fn with_inner(mut self, inner: Rc<RefCell<LotInner>>) -> ParkingLot {
        self.inner = inner;
        self
    }

    /// Wakes the longest-waiting task, if any, and returns it.
    pub(crate) fn unpark_one(&self) -> Option<Task> {
        self.inner.borrow_mut().parked.unpark_one_with(Ok(())).ok()
    }

    /// `true` if a live waiter is queued (no breaker check).
    pub(crate) fn has_waiters(&self) -> bool {
        !self.inner.borrow().parked.is_empty()
    }

    fn broken_error(&self) -> Option<BrokenResource> {
        let inner = self.inner.borrow();
        let task = inner.broken_by.first()?;
        Some(BrokenResource::with_message(format!(
            "this ParkingLot was broken by task {} `{}`; nothing can wait on it any more",
            task.id(),
            task.name()
        )))
    }

    /// Breaks the lot if one of its breakers has exited.
    fn check_breakers(&self) {
        let exited = {
            let mut inner = self.inner.borrow_mut();
            if inner.breakers.is_empty() {
                return;
            }
            match inner.breakers.iter().position(|(t, _)| t.has_exited()) {
                Some(i) => inner.breakers.remove(i).0,
                None => return,
            }
        };
        self.break_lot(Some(&exited));
    }
}

impl fmt::Debug for ParkingLot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_borrow() {
            Ok(inner) => {
                let mut s = f.debug_struct("ParkingLot");
                if let Some(name) = self.name() {
                    s.field("name", &name);
                }
                s.field("tasks_waiting", &inner.parked.len()).field("broken", &!inner.broken_by.is_empty()).finish()
            }
            Err(_) => f.debug_struct("ParkingLot").finish_non_exhaustive(),
        }
    }
}
