//! The traps: the only code that suspends a task.
//!
//! A blocking operation is a [`ParkSlot`] (the waiting side, a future) paired with an
//! [`Unparker`] (the waking side, kept by the primitive). Parking registers the slot with the
//! task's current cancel status; when that status becomes cancelled the runtime aborts the slot
//! *synchronously* — exactly when Trio calls a task's `abort_fn` — so a primitive that tries to
//! hand a value to an aborted waiter gets the value back from [`Unparker::unpark`] and gives it
//! to the next one. Nothing is lost, nothing is delivered twice.
//!
//! Checkpoints ([`checkpoint`], [`cancel_shielded_checkpoint`], [`checkpoint_if_cancelled`])
//! yield through the task's waker and check the cancel status on the way back.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::runtime::Runtime;
use crate::error::Cancelled;

// ===== WaitRecord =====

/// What the runtime needs from a registered wait: abort it on cancellation, and describe it.
pub(crate) trait WaitRecord {
    /// If still waiting, mark the wait aborted and wake its waker.
    fn abort(&self);
    fn is_waiting(&self) -> bool;
    /// Whether the wait is parked with a waker that wakes the same task as `waker`.
    fn holds_waker_of(&self, waker: &Waker) -> bool;
    fn describe(&self) -> String;
    /// The description in a deadlock report, where nothing will ever run again: it may add
    /// that nothing can ever wake the wait.
    fn describe_in_deadlock(&self) -> String {
        self.describe()
    }
}

/// A list of registered waits, pruned of finished ones as it grows (amortised O(1) per push).
/// The first wait is kept inline: most tasks and statuses have at most one live wait, and then
/// registering one allocates nothing.
#[derive(Default)]
pub(crate) struct WaitList {
    first: Option<Rc<dyn WaitRecord>>,
    rest: Vec<Rc<dyn WaitRecord>>,
    prune_at: usize,
}

impl WaitList {
    pub(crate) fn push(&mut self, wait: Rc<dyn WaitRecord>) {
        if self.first.as_ref().is_none_or(|w| !w.is_waiting()) {
            self.first = Some(wait);
            return;
        }
        if self.rest.len() >= self.prune_at {
            self.rest.retain(|w| w.is_waiting());
            self.prune_at = (self.rest.len() * 2).max(8);
        }
        self.rest.push(wait);
    }

    pub(crate) fn take(&mut self) -> Vec<Rc<dyn WaitRecord>> {
        self.prune_at = 0;
        let mut all = std::mem::take(&mut self.rest);
        all.extend(self.first.take());
        all
    }

    pub(crate) fn extend(&mut self, waits: Vec<Rc<dyn WaitRecord>>) {
        for w in waits {
            if w.is_waiting() {
                self.push(w);
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Rc<dyn WaitRecord>> {
        self.first.iter().chain(self.rest.iter())
    }

    pub(crate) fn any_waiting(&self) -> bool {
        self.iter().any(|w| w.is_waiting())
    }

    /// How many of the parked waits hold a waker that wakes the same task as `waker`.
    pub(crate) fn wakers_held(&self, waker: &Waker) -> usize {
        self.iter().filter(|w| w.holds_waker_of(waker)).count()
    }

    pub(crate) fn live_descriptions(&self) -> Vec<String> {
        self.iter().filter(|w| w.is_waiting()).map(|w| w.describe()).collect()
    }

    /// [`live_descriptions`](WaitList::live_descriptions) for a deadlock report (a run stopped
    /// with every task blocked on the runtime, no deadline pending and nothing outside awaited).
    pub(crate) fn deadlock_descriptions(&self) -> Vec<String> {
        self.iter().filter(|w| w.is_waiting()).map(|w| w.describe_in_deadlock()).collect()
    }

    pub(crate) fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
        self.prune_at = 0;
    }
}

// ===== WaitCell =====

enum CellState<T> {
    /// Created, not yet polled.
    Fresh,
    /// Parked; the waker to wake on unpark or abort.
    Waiting(Waker),
    /// Unparked with a value the slot has not taken yet.
    Ready(T),
    /// Aborted by cancellation; the slot will return `Err(Cancelled)`.
    Aborted,
    /// The slot returned, or was dropped.
    Done,
}

/// What a wait is for, as deadlock reports describe it; formatted only when a report asks.
pub(crate) enum What {
    Text(Cow<'static, str>),
    /// Waiting for a resource that `holder` held when the wait began.
    HeldBy {
        what: &'static str,
        holder: super::task::WeakTask,
    },
    /// A nursery waiting for its children.
    Children(&'static std::panic::Location<'static>),
    /// `start` waiting for its task to call `started()`.
    Started(super::task::WeakTask),
    /// A sleep that ends at this instant, or never.
    Sleep(Option<super::clock::Instant>),
    /// A wait for a file descriptor, with what the descriptor is when known.
    #[cfg(unix)]
    Io(super::io::Direction, std::os::fd::RawFd, Option<super::io::IoLabel>),
}

/// The instance a wait is on: its kind ("Event"), where it was created, and the name its user
/// gave it, if any.
#[derive(Clone)]
pub(crate) struct Origin {
    kind: &'static str,
    created_at: &'static std::panic::Location<'static>,
    name: Option<Rc<str>>,
}

/// The object through which alone a wait can be woken (see
/// [`WaitDescription::woken_only_through`]): its address, and the verb for waking it ("set").
#[derive(Clone, Copy)]
struct Home {
    address: usize,
    verb: &'static str,
}

impl What {
    /// The description, naming the instance waited on if `origin` says which.
    fn describe_on(&self, origin: Option<&Origin>) -> String {
        let on = |what: &str| match origin {
            Some(Origin { kind, created_at, name: Some(name) }) => {
                format!("{what} on the {kind} `{name}` created at {created_at}")
            }
            Some(Origin { kind, created_at, name: None }) => format!("{what} on the {kind} created at {created_at}"),
            None => what.to_string(),
        };
        match self {
            What::Text(text) => on(text),
            What::HeldBy { what, holder } => match holder.upgrade() {
                Some(holder) => {
                    format!("{} (held by task {} `{}` when this wait began)", on(what), holder.id(), holder.name())
                }
                None => format!("{} (held by task {} when this wait began)", on(what), holder.id),
            },
            What::Children(origin) => format!("waiting for the children of the nursery opened at {origin}"),
            What::Started(task) => match task.upgrade() {
                Some(task) => format!("waiting for task `{}` to call started()", task.name()),
                None => format!("waiting for task {} to call started()", task.id),
            },
            What::Sleep(Some(deadline)) => format!("sleep until {deadline}"),
            What::Sleep(None) => "sleep_forever".to_string(),
            #[cfg(unix)]
            What::Io(direction, fd, label) => match label {
                Some(label) => format!("{} on fd {fd} ({})", direction.wait_name(), label()),
                None => format!("{} on fd {fd}", direction.wait_name()),
            },
        }
    }
}

/// What a blocking wait is for, as deadlock reports and [`Task::waiting_on`](super::task::Task::waiting_on)
/// describe it: text (`"Lock::acquire"`, or a `String`), or made with
/// [`held_by`](WaitDescription::held_by), and optionally naming the instance waited on with
/// [`on_instance`](WaitDescription::on_instance), so that two waits on two different events read
/// differently. Nothing is formatted until a report asks, so a description that names tasks
/// or places costs nothing on the waiting path.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{WaitDescription, park_slot};
///
/// let (_slot, unparker) = park_slot::<()>("a reply"); // from text
/// assert_eq!(unparker.what(), "a reply");
///
/// trio::run(async {
///     let me = trio::lowlevel::current_task();
///     let (_slot, unparker) = park_slot::<()>(WaitDescription::held_by("Lock::acquire", &me));
///     assert!(unparker.what().starts_with("Lock::acquire (held by task 1 "));
/// });
/// ```
pub struct WaitDescription {
    what: What,
    /// The kind of instance waited on and where it was created.
    origin: Option<(&'static str, &'static std::panic::Location<'static>)>,
    /// The instance's name; shown only with `origin`.
    name: Option<Rc<str>>,
    home: Option<Home>,
}

impl WaitDescription {
    /// The same description, naming the instance waited on: reports read
    /// "`what` on the `kind` created at `file:line:column`". Primitives record where they were
    /// created (a `#[track_caller]` constructor) and pass it here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::Location;
    /// use trio::lowlevel::{WaitDescription, park_slot};
    ///
    /// let created_at = Location::caller();
    /// let what = WaitDescription::from("Gate::wait").on_instance("Gate", created_at);
    /// let (_slot, unparker) = park_slot::<()>(what);
    /// assert_eq!(unparker.what(), format!("Gate::wait on the Gate created at {created_at}"));
    /// ```
    pub fn on_instance(
        self,
        kind: &'static str,
        created_at: &'static std::panic::Location<'static>,
    ) -> WaitDescription {
        WaitDescription { origin: Some((kind, created_at)), ..self }
    }

    /// The same description, with the name the instance's user gave it: reports read
    /// "`what` on the `kind` \`name\` created at `file:line:column`". Primitives made with a
    /// `named` builder (such as [`Event::named`](crate::Event::named)) pass their name here.
    /// Without [`on_instance`](WaitDescription::on_instance) the name is not shown.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::Location;
    /// use trio::lowlevel::{WaitDescription, park_slot};
    ///
    /// let created_at = Location::caller();
    /// let what = WaitDescription::from("Gate::wait").on_instance("Gate", created_at).named(Some("front".into()));
    /// let (_slot, unparker) = park_slot::<()>(what);
    /// assert_eq!(unparker.what(), format!("Gate::wait on the Gate `front` created at {created_at}"));
    /// ```
    pub fn named(self, name: Option<Rc<str>>) -> WaitDescription {
        WaitDescription { name, ..self }
    }

    /// Promises that only code holding `object` can wake this wait (by `verb`: "set",
    /// "release", "notify"), so that a deadlock report can tell when nothing ever will: if
    /// `object` lies inside the waiting task's own future when the run deadlocks, no other
    /// task can reach it — a spawned task's future is `'static`, so no other task can borrow
    /// from it — and the report adds "nothing can ever `verb` it". Only a deadlock report
    /// says so: elsewhere ([`Task::waiting_on`](super::task::Task::waiting_on), a watchdog's
    /// report) another branch of the same task may still wake the wait.
    ///
    /// The rule is sound only if the promise holds: everything that can wake the wait must be
    /// reachable through `object` alone (not through an `Rc` it shares with others, and not
    /// through an exit hook or a timer). A primitive that later moves the wait to another
    /// queue calls [`Unparker::clear_woken_only_through`]. The rule never fires for waits in
    /// the main task, whose future `run` polls in place, nor for an object behind an `Rc` or a
    /// `Box` (it lies outside the task's future even when only the waiting task holds it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::Location;
    /// use trio::RunErrorKind;
    /// use trio::lowlevel::{WaitDescription, WaitQueue};
    ///
    /// /// A gate only its own `open` can open.
    /// struct Gate(WaitQueue<()>, &'static Location<'static>);
    ///
    /// let error = trio::Builder::new()
    ///     .try_run(async {
    ///         trio::open_nursery(|nursery| async move {
    ///             nursery.start_soon(async {
    ///                 let gate = Gate(WaitQueue::new(), Location::caller());
    ///                 let what = WaitDescription::from("Gate::wait")
    ///                     .on_instance("Gate", gate.1)
    ///                     .woken_only_through(&gate, "open");
    ///                 gate.0.park(what).await?; // nobody else can reach `gate`
    ///                 Ok(())
    ///             });
    ///             Ok(())
    ///         })
    ///         .await
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(error.kind(), RunErrorKind::Deadlock);
    /// assert!(error.to_string().contains("nothing can ever open it"));
    /// ```
    pub fn woken_only_through<O: ?Sized>(self, object: &O, verb: &'static str) -> WaitDescription {
        let address = (object as *const O).cast::<u8>() as usize;
        WaitDescription { home: Some(Home { address, verb }), ..self }
    }

    /// A wait for a resource that `holder` holds now: reports read
    /// "`what` (held by task 3 `worker` when this wait began)". The name is looked up only when
    /// a report is made.
    ///
    /// # Examples
    ///
    /// See [`WaitDescription`].
    pub fn held_by(what: &'static str, holder: &super::task::Task) -> WaitDescription {
        WaitDescription::of(What::HeldBy { what, holder: super::task::WeakTask::new(holder) })
    }
}

impl From<&'static str> for WaitDescription {
    fn from(text: &'static str) -> WaitDescription {
        WaitDescription::of(What::Text(Cow::Borrowed(text)))
    }
}

impl From<String> for WaitDescription {
    fn from(text: String) -> WaitDescription {
        WaitDescription::of(What::Text(Cow::Owned(text)))
    }
}

impl From<Cow<'static, str>> for WaitDescription {
    fn from(text: Cow<'static, str>) -> WaitDescription {
        WaitDescription::of(What::Text(text))
    }
}

impl fmt::Debug for WaitDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WaitDescription").field(&self.what.describe_on(self.origin().as_ref())).finish()
    }
}

impl WaitDescription {
    /// The instance waited on, with its name.
    fn origin(&self) -> Option<Origin> {
        self.origin.map(|(kind, created_at)| Origin { kind, created_at, name: self.name.clone() })
    }

    fn of(what: What) -> WaitDescription {
        WaitDescription { what, origin: None, name: None, home: None }
    }
}

struct WaitCell<T> {
    state: RefCell<CellState<T>>,
    what: What,
    /// The instance waited on, when the description names one.
    origin: Option<Origin>,
    /// The object through which alone the wait can be woken, if its maker promised one.
    home: Cell<Option<Home>>,
    /// The waiting task's future, as an address range `(start, len)`; recorded when a wait
    /// with a `home` parks. Invariant: a spawned task's future never moves (see `FutureSlot`),
    /// so the range stays true while the wait lives.
    future: Cell<Option<(usize, usize)>>,
    /// Where the wait was made, for traces (overridden by the trio call around it, if any).
    site: Cell<Option<&'static std::panic::Location<'static>>>,
    /// Waits for something outside the runtime; autojump and deadlock detection hold off.
    /// Only changed before the first poll.
    external: Cell<bool>,
    /// Registered with the cancel status (most waits); nursery and `start` waits are not.
    /// Only changed before the first poll.
    abortable: Cell<bool>,
}

impl<T> WaitCell<T> {
    /// Leaves the `Waiting` state: keeps the external-wait count exact.
    fn left_waiting(&self) {
        if self.external.get() {
            Runtime::with_opt(|rt| rt.external_wait_finished());
        }
    }
}

impl<T> WaitRecord for WaitCell<T> {
    fn abort(&self) {
        let mut state = self.state.borrow_mut();
        if let CellState::Waiting(_) = &*state {
            let CellState::Waiting(waker) = std::mem::replace(&mut *state, CellState::Aborted) else { unreachable!() };
            drop(state);
            self.left_waiting();
            waker.wake();
        }
    }

    fn is_waiting(&self) -> bool {
        matches!(&*self.state.borrow(), CellState::Waiting(_))
    }

    fn holds_waker_of(&self, waker: &Waker) -> bool {
        matches!(&*self.state.borrow(), CellState::Waiting(held) if held.will_wake(waker))
    }

    fn describe(&self) -> String {
        self.what.describe_on(self.origin.as_ref())
    }

    /// Adds "nothing can ever `verb` it" when the wait's home lies inside the waiting task's
    /// own future. Only in a deadlock: while the run goes on, another branch of the same task
    /// (a `join!`) may still wake it.
    fn describe_in_deadlock(&self) -> String {
        let mut text = self.describe();
        if let (Some(home), Some((start, len))) = (self.home.get(), self.future.get())
            && (start..start + len).contains(&home.address)
        {
            let kind = self.origin.as_ref().map_or("object", |origin| origin.kind);
            text.push_str(&format!(
                "; nothing can ever {} it: the {kind} lives inside this task's own future, so no other task can reach it",
                home.verb
            ));
        }
        text
    }
}

// ===== ParkSlot / Unparker =====

/// Creates a blocking wait: a [`ParkSlot`] to await and an [`Unparker`] to wake it with a
/// value (the Rust shape of Trio's `wait_task_rescheduled` / `reschedule`).
///
/// `what` describes the wait in deadlock reports ("Lock::acquire", "receiving on a channel").
///
/// # Examples
///
/// A one-shot hand-off between two tasks, built from nothing else:
///
/// ```
/// use trio::lowlevel;
///
/// trio::run(async {
///     let (slot, unparker) = lowlevel::park_slot::<u32>("a hand-off");
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             unparker.unpark(42).expect("the receiver is still waiting");
///         });
///         assert_eq!(slot.await?, 42);
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn park_slot<T: 'static>(what: impl Into<WaitDescription>) -> (ParkSlot<T>, Unparker<T>) {
    let what = what.into();
    let (origin, home) = (what.origin(), what.home);
    let what = what.what;
    let (slot, unparker) = new_slot(what, origin, false, true);
    slot.cell.site.set(Some(std::panic::Location::caller()));
    slot.cell.home.set(home);
    (slot, unparker)
}

pub(crate) fn make_slot<T: 'static>(what: What, external: bool, abortable: bool) -> (ParkSlot<T>, Unparker<T>) {
    new_slot(what, None, external, abortable)
}

fn new_slot<T: 'static>(
    what: What,
    origin: Option<Origin>,
    external: bool,
    abortable: bool,
) -> (ParkSlot<T>, Unparker<T>) {
    let cell = Rc::new(WaitCell {
        state: RefCell::new(CellState::Fresh),
        what,
        origin,
        home: Cell::new(None),
        future: Cell::new(None),
        site: Cell::new(None),
        external: Cell::new(external),
        abortable: Cell::new(abortable),
    });
    (ParkSlot { cell: cell.clone(), polled: false }, Unparker { cell })
}

/// The waiting side of a blocking wait; see [`park_slot`].
///
/// Awaiting it parks the current task until [`Unparker::unpark`] hands it a value
/// (`Ok(value)`), or until the task's cancel scope is cancelled (`Err(Cancelled)`). Awaiting it
/// is always a schedule point and a cancel point, even when the scope was already cancelled; a
/// slot unparked before its first poll yields once and then returns its value (the hand-off
/// already happened, so it wins over a cancellation). Dropping a slot that was never polled
/// makes its unparker refuse values from then on.
///
/// # Cancellation
///
/// Cancellation aborts the wait at the moment the scope is cancelled: from then on
/// [`Unparker::unpark`] refuses and returns its value. If the slot is dropped after it was
/// unparked but before it was polled, the value is dropped with it unless the owner took it
/// back with [`ParkSlot::take_unparked`] — primitives do that in their `Drop`.
///
/// # Examples
///
/// A waiter cancelled while parked: the unparker gets its value back, so it can hand it to
/// someone else.
///
/// ```
/// use trio::lowlevel::park_slot;
///
/// trio::run(async {
///     let (slot, unparker) = park_slot::<String>("a message");
///     let scope = trio::CancelScope::new();
///     let handle = scope.clone();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             let outcome = scope.run(async { Ok(slot.await?) }).await?;
///             assert_eq!(outcome, None); // cancelled, nothing received
///             Ok(())
///         });
///         trio::lowlevel::wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
///         handle.cancel(); // aborts the wait at once
///         assert_eq!(unparker.unpark("hi".to_string()), Err("hi".to_string()));
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct ParkSlot<T> {
    cell: Rc<WaitCell<T>>,
    /// Set on the first poll: every slot yields at least once.
    polled: bool,
}

impl<T: 'static> ParkSlot<T> {
    /// Marks the wait as one on something outside the runtime (a thread, real I/O, a foreign
    /// future): while it is pending, autojump does not jump and the run is never declared
    /// deadlocked. Call it before the first poll.
    ///
    /// # Panics
    ///
    /// If the slot was already polled.
    ///
    /// # Examples
    ///
    /// A slot nobody unparks: an ordinary one is a deadlock, an external one a wait on the outside
    /// world — here cut short by the watchdog.
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::RunErrorKind;
    /// use trio::lowlevel::park_slot;
    ///
    /// let plain = trio::Builder::new().try_run(async {
    ///     let (slot, _unparker) = park_slot::<()>("never unparked");
    ///     slot.await.ok();
    /// });
    /// assert_eq!(plain.unwrap_err().kind(), RunErrorKind::Deadlock);
    ///
    /// let external = trio::Builder::new().watchdog(Duration::from_millis(20)).try_run(async {
    ///     let (slot, _unparker) = park_slot::<()>("a reply from another process");
    ///     slot.external().await.ok();
    /// });
    /// assert!(matches!(external.unwrap_err().kind(), RunErrorKind::Watchdog(_)));
    /// ```
    pub fn external(self) -> ParkSlot<T> {
        self.assert_fresh();
        self.cell.external.set(true);
        self
    }

    /// Records `location` as where this wait was made, for traces.
    pub(crate) fn at(self, location: &'static std::panic::Location<'static>) -> ParkSlot<T> {
        self.cell.site.set(Some(location));
        self
    }

    #[track_caller]
    fn assert_fresh(&self) {
        assert!(
            matches!(&*self.cell.state.borrow(), CellState::Fresh),
            "a ParkSlot's kind can only be changed before it is first polled"
        );
    }

    /// Takes a value that was handed over but not yet returned by `poll` — for a primitive's
    /// `Drop`, so a value handed to a waiter that went away is not lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::park_slot;
    ///
    /// let (mut slot, unparker) = park_slot::<u32>("a value");
    /// unparker.unpark(5).unwrap();
    /// // The waiter goes away before it ever looked: take the value back.
    /// assert_eq!(slot.take_unparked(), Some(5));
    /// assert_eq!(slot.take_unparked(), None);
    /// ```
    pub fn take_unparked(&mut self) -> Option<T> {
        let mut state = self.cell.state.borrow_mut();
        if let CellState::Ready(_) = &*state {
            let CellState::Ready(value) = std::mem::replace(&mut *state, CellState::Done) else { unreachable!() };
            return Some(value);
        }
        None
    }

    /// `true` while the slot is parked and waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::park_slot;
    ///
    /// trio::run(async {
    ///     let (mut slot, unparker) = park_slot::<u32>("a value");
    ///     assert!(!slot.is_waiting()); // not polled yet
    ///     assert!(futures::poll!(&mut slot).is_pending());
    ///     assert!(slot.is_waiting());
    ///     unparker.unpark(1).unwrap();
    ///     assert!(!slot.is_waiting());
    ///     assert_eq!(slot.await, Ok(1));
    /// });
    /// ```
    pub fn is_waiting(&self) -> bool {
        self.cell.is_waiting()
    }
}

impl<T: 'static> Future for ParkSlot<T> {
    type Output = Result<T, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Cancelled>> {
        let this = self.get_mut();
        let first_poll = !std::mem::replace(&mut this.polled, true);
        let cell = &this.cell;
        let mut state = cell.state.borrow_mut();
        match std::mem::replace(&mut *state, CellState::Done) {
            CellState::Fresh => {
                drop(state);
                Runtime::with(|rt| rt.park(cell.clone(), cx.waker(), cell.abortable.get(), cell.external.get()));
                Poll::Pending
            }
            CellState::Ready(value) if first_poll => {
                // Unparked before it was ever polled: still a schedule point and a cancel point,
                // like every wait. The value was handed over, so it is returned even if the
                // scope is cancelled by now.
                *state = CellState::Ready(value);
                drop(state);
                Runtime::with(|rt| {
                    rt.schedule_point_at(cell.site.get());
                    rt.current_cancel_point();
                });
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            CellState::Waiting(waker) => {
                let waker = if waker.will_wake(cx.waker()) { waker } else { cx.waker().clone() };
                *state = CellState::Waiting(waker);
                Poll::Pending
            }
            CellState::Ready(value) => Poll::Ready(Ok(value)),
            CellState::Aborted => Poll::Ready(Err(Runtime::with(Runtime::cancelled_here))),
            CellState::Done => panic!("a ParkSlot was polled after it completed"),
        }
    }
}

impl<T> Drop for ParkSlot<T> {
    fn drop(&mut self) {
        let mut state = self.cell.state.borrow_mut();
        match &*state {
            CellState::Waiting(_) => {
                *state = CellState::Done;
                drop(state);
                self.cell.left_waiting();
            }
            // Never polled: nobody will take a value, so the unparker must refuse one.
            CellState::Fresh => *state = CellState::Done,
            _ => {}
        }
    }
}

impl<T> fmt::Debug for ParkSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParkSlot")
            .field("what", &self.cell.describe())
            .field("waiting", &self.cell.is_waiting())
            .finish()
    }
}

impl Runtime {
    /// First poll of a slot: count the cancel and schedule point, then either abort at once
    /// (already cancelled) or register the wait.
    fn park<T: 'static>(&self, cell: Rc<WaitCell<T>>, waker: &Waker, abortable: bool, external: bool) {
        self.schedule_point_at(cell.site.get());
        let cancelled = self.current_cancel_point();
        if abortable && cancelled {
            *cell.state.borrow_mut() = CellState::Aborted;
            waker.wake_by_ref();
            return;
        }
        *cell.state.borrow_mut() = CellState::Waiting(waker.clone());
        if external {
            self.external_wait_started();
        }
        if abortable {
            self.with_current_status(|status| status.register_wait(cell.clone()));
        }
        self.with_current_task(|task| {
            if cell.home.get().is_some() {
                cell.future.set(Some(task.future_range()));
            }
            task.0.waits.borrow_mut().push(cell)
        });
    }
}

/// The waking side of a blocking wait; see [`park_slot`].
///
/// # Examples
///
/// ```
/// use trio::lowlevel::park_slot;
///
/// trio::run(async {
///     let (slot, unparker) = park_slot::<&str>("a reply");
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             assert_eq!(slot.await?, "pong");
///             Ok(())
///         });
///         trio::lowlevel::wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
///         assert_eq!(unparker.what(), "a reply");
///         unparker.unpark("pong").unwrap();
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct Unparker<T> {
    cell: Rc<WaitCell<T>>,
}

impl<T> Unparker<T> {
    /// A second handle to the same wait, for the runtime's own bookkeeping.
    #[cfg(unix)]
    pub(crate) fn handle(&self) -> Unparker<T> {
        Unparker { cell: self.cell.clone() }
    }

    /// Whether `other` wakes the same wait.
    pub(crate) fn same_wait(&self, other: &Unparker<T>) -> bool {
        Rc::ptr_eq(&self.cell, &other.cell)
    }

    /// Wakes the waiting task with `value`. Returns the value back if the wait was aborted by
    /// cancellation, already unparked, or dropped — hand it to someone else.
    ///
    /// An unpark before the slot's first poll is kept: the slot then returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::park_slot;
    ///
    /// let (slot, unparker) = park_slot::<u8>("a byte");
    /// assert_eq!(unparker.unpark(1), Ok(())); // kept until the slot is polled
    /// assert_eq!(unparker.unpark(2), Err(2)); // already unparked: handed back
    /// trio::run(async move { assert_eq!(slot.await, Ok(1)) });
    /// ```
    pub fn unpark(&self, value: T) -> Result<(), T> {
        let mut state = self.cell.state.borrow_mut();
        match &*state {
            CellState::Fresh => {
                *state = CellState::Ready(value);
                Ok(())
            }
            CellState::Waiting(_) => {
                let CellState::Waiting(waker) = std::mem::replace(&mut *state, CellState::Ready(value)) else {
                    unreachable!()
                };
                drop(state);
                self.cell.left_waiting();
                waker.wake();
                Ok(())
            }
            _ => Err(value),
        }
    }

    /// `true` if the waiter is (or, not yet polled, will be) waiting: an unpark now would be
    /// accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::park_slot;
    ///
    /// let (slot, unparker) = park_slot::<u8>("a byte");
    /// assert!(unparker.is_waiting()); // not polled yet, but an unpark would be accepted
    /// unparker.unpark(1).unwrap();
    /// assert!(!unparker.is_waiting());
    /// drop(slot);
    /// ```
    pub fn is_waiting(&self) -> bool {
        matches!(&*self.cell.state.borrow(), CellState::Waiting(_) | CellState::Fresh)
    }

    /// Withdraws the promise made with [`WaitDescription::woken_only_through`]: from now on
    /// something else may wake this wait — say, a condition variable moved it to its lock's
    /// queue — so deadlock reports no longer say that nothing can wake it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{WaitDescription, park_slot};
    ///
    /// let gate = ();
    /// let (_slot, unparker) = park_slot::<()>(WaitDescription::from("Gate::wait").woken_only_through(&gate, "open"));
    /// unparker.clear_woken_only_through(); // moved to a queue others can reach
    /// assert_eq!(unparker.what(), "Gate::wait");
    /// ```
    pub fn clear_woken_only_through(&self) {
        self.cell.home.set(None);
    }

    /// What the wait was described as.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_slot, unparker) = trio::lowlevel::park_slot::<()>("Lock::acquire");
    /// assert_eq!(unparker.what(), "Lock::acquire");
    /// ```
    pub fn what(&self) -> String {
        self.cell.describe()
    }
}

impl<T> fmt::Debug for Unparker<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unparker").field("what", &self.cell.describe()).field("waiting", &self.is_waiting()).finish()
    }
}

// ===== WaitQueue =====

/// Dead entries are pruned when a queue grows to twice its live length, and never below this.
const PRUNE_MIN: usize = 16;

/// The queue behind a [`WaitQueue`]: unparkers with a payload each, oldest first.
///
/// An entry whose wait ended without an unpark (aborted by cancellation, or its slot dropped)
/// stays queued until it reaches the front or the queue prunes itself, and every method skips
/// it. Pruning runs when the queue has grown to twice its live length at the previous pruning,
/// so a push costs amortised O(1) however many waits are cancelled.
struct Waiters<T, P> {
    queue: VecDeque<(Unparker<T>, P)>,
    prune_at: usize,
}

impl<T, P> Waiters<T, P> {
    fn new() -> Waiters<T, P> {
        Waiters { queue: VecDeque::new(), prune_at: PRUNE_MIN }
    }

    fn push(&mut self, unparker: Unparker<T>, payload: P) {
        if self.queue.len() >= self.prune_at {
            self.queue.retain(|(u, _)| u.is_waiting());
            self.prune_at = (self.queue.len() * 2).max(PRUNE_MIN);
        }
        self.queue.push_back((unparker, payload));
    }

    /// Removes and returns the oldest entry still waiting, without waking it.
    fn pop(&mut self) -> Option<(Unparker<T>, P)> {
        while let Some(entry) = self.queue.pop_front() {
            if entry.0.is_waiting() {
                return Some(entry);
            }
        }
        None
    }

    /// Entries still waiting.
    fn len(&self) -> usize {
        self.queue.iter().filter(|(u, _)| u.is_waiting()).count()
    }

    /// `true` if no entry is waiting.
    fn is_empty(&self) -> bool {
        !self.queue.iter().any(|(u, _)| u.is_waiting())
    }
}

/// A FIFO of waiters: the building block of every fair primitive. Each waiter may carry a
/// payload `P` (the task it belongs to, the value a sender waits to deliver, …); plain queues
/// use `()`.
///
/// Waiters whose wait was aborted by cancellation stay in the queue until they reach the front
/// (or until the queue prunes itself), but they are skipped: [`WaitQueue::unpark_one`] always
/// hands its value to the oldest waiter that is still waiting, and [`WaitQueue::len`] counts only
/// those. Wakers are woken outside the queue's borrow, so a waker may use the queue.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::WaitQueue;
///
/// trio::run(async {
///     let queue = std::rc::Rc::new(WaitQueue::<&str>::new());
///     let q = queue.clone();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             let got = q.park("waiting for a greeting").await?;
///             assert_eq!(got, "hello");
///             Ok(())
///         });
///         trio::lowlevel::wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
///         assert_eq!(queue.len(), 1);
///         assert_eq!(queue.unpark_one("hello"), Ok(()));
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct WaitQueue<T, P = ()> {
    waiters: RefCell<Waiters<T, P>>,
}

impl<T: 'static> WaitQueue<T> {
    /// Parks the current task at the back of the queue until [`WaitQueue::unpark_one`] (or
    /// [`WaitQueue::unpark_all_with`]) reaches it. See [`ParkSlot`] for cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use trio::lowlevel::WaitQueue;
    ///
    /// trio::run(async {
    ///     let queue = Rc::new(WaitQueue::<u32>::new());
    ///     let q = queue.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("waiter", async move {
    ///             assert_eq!(q.park("a number").await?, 7);
    ///             Ok(())
    ///         });
    ///         trio::lowlevel::wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
    ///         let waiter = nursery.child_tasks().pop().unwrap();
    ///         assert_eq!(waiter.waiting_on(), ["a number"]);
    ///         queue.unpark_one(7).unwrap();
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn park(&self, what: impl Into<WaitDescription>) -> ParkSlot<T> {
        self.park_with(what, ())
    }

    /// Puts an unparker at the back of the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{WaitQueue, park_slot};
    ///
    /// let queue = WaitQueue::<&str>::new();
    /// let (slot, unparker) = park_slot("a name");
    /// queue.push(unparker);
    /// assert_eq!(queue.len(), 1);
    /// queue.unpark_one("ada").unwrap();
    /// trio::run(async move { assert_eq!(slot.await, Ok("ada")) });
    /// ```
    pub fn push(&self, unparker: Unparker<T>) {
        self.push_with(unparker, ());
    }

    /// Hands `value` to the oldest waiter still waiting. `Err(value)` if there is none.
    ///
    /// # Examples
    ///
    /// Cancelled waiters are skipped:
    ///
    /// ```
    /// use trio::CancelScope;
    /// use trio::lowlevel::WaitQueue;
    ///
    /// trio::run(async {
    ///     let queue = WaitQueue::<u32>::new();
    ///     let (first, second) = (queue.park("first"), queue.park("second"));
    ///     let scope = CancelScope::new();
    ///     scope.cancel();
    ///     assert_eq!(scope.run(async { Ok(first.await?) }).await.unwrap(), None);
    ///     assert_eq!(queue.unpark_one(1), Ok(())); // goes to `second`
    ///     assert_eq!(second.await, Ok(1));
    ///     assert_eq!(queue.unpark_one(2), Err(2)); // nobody left
    /// });
    /// ```
    pub fn unpark_one(&self, value: T) -> Result<(), T> {
        self.unpark_one_with(value)
    }

    /// Removes and returns the oldest waiter still waiting, without waking it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// let queue = WaitQueue::<u32>::new();
    /// let _slot = queue.park("a number");
    /// let unparker = queue.pop().unwrap();
    /// assert!(queue.is_empty());
    /// assert_eq!(unparker.what(), "a number");
    /// assert!(queue.pop().is_none());
    /// ```
    pub fn pop(&self) -> Option<Unparker<T>> {
        self.pop_with().map(|(unparker, ())| unparker)
    }
}

impl<T: 'static, P> WaitQueue<T, P> {
    /// [`park`](WaitQueue::park) with a payload, which [`unpark_one_with`](WaitQueue::unpark_one_with)
    /// and friends hand back: the task that parked, the value a sender waits to deliver.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// let queue = WaitQueue::<u32, &str>::new();
    /// let _slot = queue.park_with("a number", "first in line");
    /// assert_eq!(queue.unpark_one_with(1), Ok("first in line"));
    /// ```
    #[track_caller]
    pub fn park_with(&self, what: impl Into<WaitDescription>, payload: P) -> ParkSlot<T> {
        let (slot, unparker) = park_slot(what);
        self.push_with(unparker, payload);
        slot
    }
}

impl<T, P> WaitQueue<T, P> {
    /// An empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = trio::lowlevel::WaitQueue::<u8>::new();
    /// assert!(queue.is_empty());
    /// assert_eq!(queue.unpark_one(1), Err(1)); // nobody to hand it to
    /// ```
    pub fn new() -> WaitQueue<T, P> {
        WaitQueue { waiters: RefCell::new(Waiters::new()) }
    }

    /// Puts an unparker with its payload at the back of the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{WaitQueue, park_slot};
    ///
    /// let queue = WaitQueue::<u8, char>::new();
    /// let (_slot, unparker) = park_slot("a byte");
    /// queue.push_with(unparker, 'a');
    /// assert_eq!(queue.pop_with().map(|(_, payload)| payload), Some('a'));
    /// ```
    pub fn push_with(&self, unparker: Unparker<T>, payload: P) {
        self.waiters.borrow_mut().push(unparker, payload);
    }

    /// Hands `value` to the oldest waiter still waiting and returns its payload; `Err(value)`
    /// if there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// let queue = WaitQueue::<u32, u8>::new();
    /// assert_eq!(queue.unpark_one_with(5), Err(5));
    /// let _slot = queue.park_with("a number", 9);
    /// assert_eq!(queue.unpark_one_with(5), Ok(9));
    /// ```
    pub fn unpark_one_with(&self, mut value: T) -> Result<P, T> {
        // Woken outside the borrow: a waker that uses this queue must not find it borrowed.
        while let Some((unparker, payload)) = self.pop_with() {
            match unparker.unpark(value) {
                Ok(()) => return Ok(payload),
                Err(back) => value = back,
            }
        }
        Err(value)
    }

    /// Removes and returns the oldest waiter still waiting, with its payload, without waking it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// let queue = WaitQueue::<u32, u8>::new();
    /// let _slot = queue.park_with("a number", 3);
    /// let (unparker, payload) = queue.pop_with().unwrap();
    /// assert_eq!((unparker.what().as_str(), payload), ("a number", 3));
    /// ```
    pub fn pop_with(&self) -> Option<(Unparker<T>, P)> {
        self.waiters.borrow_mut().pop()
    }

    /// Wakes every waiter, each with its own value from `make`. Returns how many were woken.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// trio::run(async {
    ///     let queue = WaitQueue::<u32>::new();
    ///     let slots = [queue.park("a"), queue.park("b"), queue.park("c")];
    ///     let mut next = 0;
    ///     let woken = queue.unpark_all_with(|| {
    ///         next += 1;
    ///         next
    ///     });
    ///     assert_eq!(woken, 3);
    ///     assert!(queue.is_empty());
    ///     let [a, b, c] = slots;
    ///     assert_eq!((a.await, b.await, c.await), (Ok(1), Ok(2), Ok(3)));
    /// });
    /// ```
    pub fn unpark_all_with(&self, mut make: impl FnMut() -> T) -> usize {
        self.take_all().into_iter().filter(|(w, _)| w.unpark(make()).is_ok()).count()
    }

    /// Removes every entry, live or not, oldest first, without waking any.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// let queue = WaitQueue::<u32, u8>::new();
    /// let _a = queue.park_with("a", 1);
    /// let _b = queue.park_with("b", 2);
    /// let taken: Vec<u8> = queue.take_all().into_iter().map(|(_, payload)| payload).collect();
    /// assert_eq!(taken, [1, 2]);
    /// assert!(queue.is_empty());
    /// ```
    pub fn take_all(&self) -> Vec<(Unparker<T>, P)> {
        std::mem::take(&mut self.waiters.borrow_mut().queue).into()
    }

    /// Removes the entries whose payload matches, oldest first, without waking them; the rest
    /// keep their order.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// let queue = WaitQueue::<u32, u8>::new();
    /// let _slots: Vec<_> = (1..=4).map(|i| queue.park_with("a number", i)).collect();
    /// let even: Vec<u8> = queue.take_where(|p| p % 2 == 0).into_iter().map(|(_, p)| p).collect();
    /// assert_eq!(even, [2, 4]);
    /// assert_eq!(queue.len(), 2);
    /// ```
    pub fn take_where(&self, mut matches: impl FnMut(&P) -> bool) -> Vec<(Unparker<T>, P)> {
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.queue.iter().any(|(_, p)| matches(p)) {
            return Vec::new();
        }
        let (taken, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut waiters.queue).into_iter().partition(|(_, p)| matches(p));
        waiters.queue = kept.into();
        taken
    }

    /// Waiters still waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// let queue = WaitQueue::<u32>::new();
    /// let _a = queue.park("a");
    /// let _b = queue.park("b");
    /// assert_eq!(queue.len(), 2);
    /// queue.unpark_one(1).unwrap();
    /// assert_eq!(queue.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// `true` if no waiter is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::WaitQueue;
    ///
    /// let queue = WaitQueue::<u32>::new();
    /// assert!(queue.is_empty());
    /// let _slot = queue.park("a");
    /// assert!(!queue.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.waiters.borrow().is_empty()
    }
}

impl<T, P> Default for WaitQueue<T, P> {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl<T, P> fmt::Debug for WaitQueue<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.waiters.try_borrow() {
            Ok(waiters) => f.debug_struct("WaitQueue").field("waiting", &waiters.len()).finish(),
            Err(_) => f.debug_struct("WaitQueue").finish_non_exhaustive(),
        }
    }
}

// ===== where tasks yield =====

/// Where a task last yielded, and the trio call it is inside: what traces print for each step.
/// Locations are `&'static` pointers, so recording them allocates nothing.
#[derive(Default)]
pub(crate) struct TaskSites {
    /// The location of the task's last schedule point: the trio call that yielded (as its
    /// caller wrote it), or the schedule point itself outside any.
    last: Cell<Option<&'static std::panic::Location<'static>>>,
    /// The outermost public trio call the task is inside now, if any: its schedule points are
    /// reported at the caller's line, not at the primitive's own.
    operation: Cell<Option<&'static std::panic::Location<'static>>>,
}

/// Marks the current task as inside the public trio call made at a location until dropped
/// (the outermost call wins; inner calls leave it alone).
pub(crate) struct OperationSite(Option<super::task::Task>);

impl OperationSite {
    /// Marks the current task of `rt` (if code runs in one) as inside the call at `location`.
    /// The caller already holds the runtime: one thread-local access per operation in all.
    pub(crate) fn enter_in(rt: &Runtime, location: &'static std::panic::Location<'static>) -> OperationSite {
        let Ok(current) = rt.current_task.try_borrow() else { return OperationSite(None) };
        match &*current {
            // Only the outermost call marks the task, and only it holds a handle to unmark it.
            Some(task) if task.0.sites.operation.get().is_none() => {
                task.0.sites.operation.set(Some(location));
                OperationSite(Some(task.clone()))
            }
            _ => OperationSite(None),
        }
    }
}

impl Drop for OperationSite {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.0.sites.operation.set(None);
        }
    }
}

impl Runtime {
    /// A schedule point of the current task at `location` (or at the trio call around it).
    fn schedule_point_at(&self, location: Option<&'static std::panic::Location<'static>>) {
        self.with_current_task(|task| {
            // The bookkeeping once: each access through `Task` works out its offset again.
            let core = &task.0.core;
            core.schedule_points.set(core.schedule_points.get() + 1);
            core.sites.last.set(core.sites.operation.get().or(location));
        });
    }
}

impl super::task::Task {
    /// The address range `(start, len)` of the task's own future: empty for the main task, whose
    /// future `run` polls in place. Only this task can reach what lies inside it: spawned
    /// futures are `'static`, so no other task can borrow from it.
    fn future_range(&self) -> (usize, usize) {
        let body: &dyn super::task::TaskBody = &self.0.body;
        ((body as *const dyn super::task::TaskBody).cast::<u8>() as usize, std::mem::size_of_val(body))
    }

    /// Where the task last yielded to the scheduler: the line of the trio call that yielded —
    /// `checkpoint()`, a sleep, a channel or lock operation, as the caller wrote it — or `None`
    /// before its first schedule point (and for the runtime's own waits, such as a nursery
    /// waiting for its children). Traces print it for every step.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let task = trio::lowlevel::current_task();
    ///     assert_eq!(task.last_schedule_point(), None);
    ///     let line = line!() + 1;
    ///     trio::checkpoint().await.unwrap();
    ///     let at = task.last_schedule_point().unwrap();
    ///     assert_eq!((at.file(), at.line()), (file!(), line));
    /// });
    /// ```
    pub fn last_schedule_point(&self) -> Option<&'static std::panic::Location<'static>> {
        self.0.sites.last.get()
    }

    /// The line of the public trio call the task is inside now (the outermost one, as its
    /// caller wrote it), or `None` outside any. A network provider reads it to say where the
    /// user opened a connection or a listener — `trio::net::open_tcp_stream` and
    /// `open_tcp_listeners` are such calls — so that waits on the result name that line.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     // Not inside any trio call here.
    ///     assert_eq!(trio::lowlevel::current_task().operation_site(), None);
    /// });
    /// ```
    pub fn operation_site(&self) -> Option<&'static std::panic::Location<'static>> {
        self.0.sites.operation.get()
    }
}

// ===== checkpoints =====

/// A schedule point and a cancel point: yields to the scheduler, then returns
/// `Err(Cancelled)` if the surrounding cancel scope is cancelled.
///
/// This is Trio's `trio.lowlevel.checkpoint()` (also `trio.sleep(0)`).
///
/// # Cancellation
///
/// The point of it: returns `Err(Cancelled)` inside a cancelled scope, every time it is called
/// there (cancellation is level-triggered).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     for _ in 0..3 {
///         trio::checkpoint().await.unwrap(); // let other tasks run
///     }
/// });
/// ```
#[track_caller]
pub fn checkpoint() -> Checkpoint {
    Checkpoint { yielded: false, check_cancel: true, location: std::panic::Location::caller() }
}

/// A schedule point that is not a cancel point: yields, and never returns `Cancelled`
/// (Trio's `cancel_shielded_checkpoint`).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     trio::lowlevel::cancel_shielded_checkpoint().await;
/// });
/// ```
#[track_caller]
pub fn cancel_shielded_checkpoint() -> CancelShieldedCheckpoint {
    CancelShieldedCheckpoint {
        inner: Checkpoint { yielded: false, check_cancel: false, location: std::panic::Location::caller() },
    }
}

/// A cancel point that is a schedule point only when cancelled: returns `Ok(())` at once if
/// the scope is not cancelled, and otherwise yields and returns `Err(Cancelled)`
/// (Trio's `checkpoint_if_cancelled`).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     trio::lowlevel::checkpoint_if_cancelled().await.unwrap();
/// });
/// ```
#[track_caller]
pub fn checkpoint_if_cancelled() -> impl Future<Output = Result<(), Cancelled>> {
    let location = std::panic::Location::caller();
    async move {
        let cancelled = Runtime::with_at(location, |rt| rt.current_cancel_point());
        if cancelled {
            Checkpoint { yielded: false, check_cancel: true, location }.await?;
            unreachable!("a checkpoint in a cancelled scope returns Cancelled");
        }
        Ok(())
    }
}

/// The future returned by [`checkpoint`].
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let task = trio::lowlevel::current_task();
///     let before = task.schedule_points();
///     let point: trio::lowlevel::Checkpoint = trio::checkpoint();
///     point.await.unwrap();
///     assert_eq!(task.schedule_points(), before + 1);
/// });
/// ```
#[derive(Debug)]
#[must_use = "a checkpoint does nothing unless awaited"]
pub struct Checkpoint {
    yielded: bool,
    check_cancel: bool,
    /// Where the checkpoint was made: a poll outside a run panics naming it.
    location: &'static std::panic::Location<'static>,
}

impl Checkpoint {
    /// Records `location` as where this checkpoint is, for traces and misuse panics.
    pub(crate) fn at(mut self, location: &'static std::panic::Location<'static>) -> Checkpoint {
        self.location = location;
        self
    }
}

impl Future for Checkpoint {
    type Output = Result<(), Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Cancelled>> {
        if !self.yielded {
            self.yielded = true;
            Runtime::with_at(self.location, |rt| {
                rt.schedule_point_at(Some(self.location));
                rt.wake_current(cx.waker());
            });
            return Poll::Pending;
        }
        if !self.check_cancel {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(Runtime::with_at(self.location, |rt| {
            if rt.current_cancel_point() { Err(rt.cancelled_here()) } else { Ok(()) }
        }))
    }
}

/// The future returned by [`cancel_shielded_checkpoint`].
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let scope = trio::CancelScope::new();
///     scope.cancel();
///     scope
///         .run(async {
///             let point: trio::lowlevel::CancelShieldedCheckpoint = trio::lowlevel::cancel_shielded_checkpoint();
///             point.await; // yields, but does not report the cancellation
///             assert!(trio::checkpoint().await.is_err()); // an ordinary checkpoint does
///             Ok(())
///         })
///         .await
///         .unwrap();
/// });
/// ```
#[derive(Debug)]
#[must_use = "a checkpoint does nothing unless awaited"]
pub struct CancelShieldedCheckpoint {
    inner: Checkpoint,
}

impl CancelShieldedCheckpoint {
    /// Records `location` as where this checkpoint is, for traces and misuse panics.
    pub(crate) fn at(self, location: &'static std::panic::Location<'static>) -> CancelShieldedCheckpoint {
        CancelShieldedCheckpoint { inner: self.inner.at(location) }
    }
}

impl Future for CancelShieldedCheckpoint {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.inner).poll(cx).map(|_| ())
    }
}

// ===== wait_task_rescheduled / reschedule =====

/// What an abort callback of [`wait_task_rescheduled`] reports (Trio's `trio.lowlevel.Abort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// The wait is undone: the task is woken with `Err(Cancelled)`.
    Succeeded,
    /// The wait could not be undone: the task stays blocked until someone calls
    /// [`reschedule`] for it.
    Failed,
}

enum TrapState {
    Fresh,
    Waiting(Waker),
    Rescheduled,
    Aborted,
    Done,
}

/// The wait of one `wait_task_rescheduled` call.
pub(crate) struct Trap {
    state: RefCell<TrapState>,
    abort: RefCell<Option<Box<dyn FnOnce() -> Abort>>>,
}

impl Trap {
    fn run_abort(&self) -> bool {
        let abort = self.abort.borrow_mut().take();
        matches!(abort.map(|f| f()), Some(Abort::Succeeded))
    }
}

impl WaitRecord for Trap {
    fn abort(&self) {
        // The callback is user code: no borrow may be held while it runs.
        let waiting = matches!(&*self.state.borrow(), TrapState::Waiting(_));
        if !waiting || !self.run_abort() {
            return;
        }
        let previous = std::mem::replace(&mut *self.state.borrow_mut(), TrapState::Aborted);
        if let TrapState::Waiting(waker) = previous {
            waker.wake();
        }
    }

    fn is_waiting(&self) -> bool {
        matches!(&*self.state.borrow(), TrapState::Waiting(_))
    }

    fn holds_waker_of(&self, waker: &Waker) -> bool {
        matches!(&*self.state.borrow(), TrapState::Waiting(held) if held.will_wake(waker))
    }

    fn describe(&self) -> String {
        "wait_task_rescheduled".to_string()
    }
}

/// Blocks the current task until another task calls [`reschedule`] for it (Trio's
/// `wait_task_rescheduled`): the lowest-level way to build a primitive, as in Trio. Prefer
/// [`park_slot`], which carries a value and composes with `join!`; this is for porting code
/// written against Trio's low-level API.
///
/// If the task's cancel scope is cancelled while it waits — or already is — `abort` is called
/// at once: return [`Abort::Succeeded`] after undoing whatever would have rescheduled the task,
/// and the wait returns `Err(Cancelled)`; return [`Abort::Failed`] if that can no longer be
/// undone, and the task stays blocked until [`reschedule`].
///
/// # Panics
///
/// If the task is already waiting in another `wait_task_rescheduled` (one per task, as in
/// Trio), or outside a task.
///
/// # Cancellation
///
/// Always a schedule point and a cancel point; see `abort` above.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio::lowlevel::{Abort, reschedule, wait_task_rescheduled};
///
/// trio::run(async {
///     // A one-slot "wake me" registry, as a Trio primitive would keep.
///     let waiter: Rc<RefCell<Option<trio::lowlevel::Task>>> = Rc::default();
///     let w = waiter.clone();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             *w.borrow_mut() = Some(trio::lowlevel::current_task());
///             let w2 = w.clone();
///             wait_task_rescheduled(move || {
///                 w2.borrow_mut().take(); // cancelled: forget the registration
///                 Abort::Succeeded
///             })
///             .await?;
///             Ok(())
///         });
///         trio::lowlevel::wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
///         let task = waiter.borrow_mut().take().expect("the child registered");
///         reschedule(&task);
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn wait_task_rescheduled(abort: impl FnOnce() -> Abort + 'static) -> WaitTaskRescheduled {
    WaitTaskRescheduled {
        trap: Rc::new(Trap { state: RefCell::new(TrapState::Fresh), abort: RefCell::new(Some(Box::new(abort))) }),
        task: None,
        location: std::panic::Location::caller(),
    }
}

/// Wakes `task` from [`wait_task_rescheduled`] (Trio's `reschedule`). Synchronous.
///
/// # Panics
///
/// If `task` is not waiting in `wait_task_rescheduled` (Trio raises the same error): either it
/// was never blocked there, or it was already rescheduled, or its wait was aborted.
///
/// # Examples
///
/// See [`wait_task_rescheduled`].
#[track_caller]
pub fn reschedule(task: &super::task::Task) {
    let trap = Runtime::with(|rt| rt.traps.borrow().get(&task.key()).cloned());
    let waker = trap.and_then(|trap| {
        // Not in the `match` scrutinee: that borrow would last through the arms.
        let previous = std::mem::replace(&mut *trap.state.borrow_mut(), TrapState::Rescheduled);
        match previous {
            TrapState::Waiting(waker) => Some(waker),
            other => {
                *trap.state.borrow_mut() = other;
                None
            }
        }
    });
    match waker {
        Some(waker) => waker.wake(),
        None => panic!(
            "reschedule: task {} `{}` is not waiting in wait_task_rescheduled (it was never blocked there, was already rescheduled, or its wait was aborted)",
            task.id(),
            task.name()
        ),
    }
}

/// The future returned by [`wait_task_rescheduled`].
#[must_use = "a wait does nothing unless awaited"]
pub struct WaitTaskRescheduled {
    trap: Rc<Trap>,
    /// The task, once registered.
    task: Option<super::task::TaskKey>,
    /// Where the wait was made, for traces.
    location: &'static std::panic::Location<'static>,
}

impl fmt::Debug for WaitTaskRescheduled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitTaskRescheduled").field("waiting", &self.trap.is_waiting()).finish()
    }
}

impl Future for WaitTaskRescheduled {
    type Output = Result<(), Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Cancelled>> {
        let this = &mut *self;
        let state = std::mem::replace(&mut *this.trap.state.borrow_mut(), TrapState::Done);
        match state {
            TrapState::Fresh => {
                let key = Runtime::with(|rt| {
                    rt.schedule_point_at(Some(this.location));
                    let cancelled = rt.current_cancel_point();
                    let key = rt.with_current_task(|t| t.key());
                    let previous = rt.traps.borrow_mut().insert(key, this.trap.clone());
                    assert!(
                        previous.is_none(),
                        "a task can wait in only one wait_task_rescheduled at a time, as in Trio; use park_slot to wait on several things"
                    );
                    *this.trap.state.borrow_mut() = TrapState::Waiting(cx.waker().clone());
                    let record: Rc<dyn WaitRecord> = this.trap.clone();
                    rt.with_current_task(|task| task.0.waits.borrow_mut().push(record.clone()));
                    if cancelled {
                        WaitRecord::abort(&*this.trap);
                    } else {
                        rt.with_current_status(|status| status.register_wait(record));
                    }
                    key
                });
                this.task = Some(key);
                Poll::Pending
            }
            TrapState::Waiting(waker) => {
                let waker = if waker.will_wake(cx.waker()) { waker } else { cx.waker().clone() };
                *this.trap.state.borrow_mut() = TrapState::Waiting(waker);
                Poll::Pending
            }
            TrapState::Rescheduled => {
                this.unregister();
                Poll::Ready(Ok(()))
            }
            TrapState::Aborted => {
                this.unregister();
                Poll::Ready(Err(Runtime::with(Runtime::cancelled_here)))
            }
            TrapState::Done => panic!("a WaitTaskRescheduled was polled after it completed"),
        }
    }
}

impl WaitTaskRescheduled {
    fn unregister(&mut self) {
        if let Some(key) = self.task.take() {
            Runtime::with_opt(|rt| {
                rt.traps.borrow_mut().remove(&key);
            });
        }
    }
}

impl Drop for WaitTaskRescheduled {
    fn drop(&mut self) {
        if matches!(&*self.trap.state.borrow(), TrapState::Waiting(_)) {
            *self.trap.state.borrow_mut() = TrapState::Done;
        }
        self.unregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_skip_ended_waits_and_prune_them_as_the_queue_grows() {
        let queue = WaitQueue::<u32, usize>::new();
        let mut live = Vec::new();
        for i in 0..1000 {
            let slot = queue.park_with("a number", i);
            if i % 100 == 0 {
                live.push(slot); // one in a hundred stays waiting; the rest end at once
            }
        }
        assert_eq!(queue.len(), 10);
        // Bounded by twice the live count at the last pruning, plus what came after it.
        let kept = queue.waiters.borrow().queue.len();
        assert!(kept <= 2 * PRUNE_MIN + 100, "{kept} entries kept");
        assert_eq!(queue.unpark_one_with(7), Ok(0));
        assert_eq!(queue.pop_with().map(|(_, i)| i), Some(100));
        let rest = queue.take_where(|i| i % 200 == 0);
        assert_eq!(rest.into_iter().map(|(_, i)| i).collect::<Vec<_>>(), [200, 400, 600, 800]);
        assert_eq!(queue.len(), 4);
        drop(live);
        assert!(queue.is_empty());
        assert_eq!(queue.unpark_one_with(9), Err(9));
    }
}
