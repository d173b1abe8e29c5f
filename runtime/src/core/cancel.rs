//! Cancel scopes (where a cancellation comes from) and cancel statuses (how it propagates).
//!
//! As in Trio, the two are kept apart. A [`CancelScope`] is the user's handle: deadline, shield,
//! `cancel()`. A `CancelStatus` is the node of the propagation tree that an *active* scope owns:
//! it knows its parent status, its child statuses and the waits registered under it, and caches
//! whether it is effectively cancelled. Changing a scope recalculates its status; a status that
//! becomes cancelled aborts its waits and recurses into its children.
//!
//! Rust adds one wrinkle: one task may poll several scopes side by side (`join!`). So the
//! "current status" is not a per-task stack but whatever the innermost scope future being polled
//! installed; after polling its body a scope restores its status's *current* parent, which is
//! what lets `started()` re-parent a task's statuses from one nursery to another.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::clock::Instant;
use super::runtime::Runtime;
use super::wait::{WaitList, WaitRecord};
use crate::error::{CancelCause, CancelSource, Error, Result, TooSlow};

// ===== CancelStatus =====

pub(crate) struct CancelStatus {
    /// The scope that owns this status; `None` for the root and for a `start` call's private
    /// status, which only pass their parent's state through.
    scope: Option<Rc<ScopeState>>,
    parent: RefCell<Option<Rc<CancelStatus>>>,
    children: RefCell<Vec<Weak<CancelStatus>>>,
    /// Invariant: equals `scope.cancel_called || (!scope.shield && parent.effectively_cancelled)`
    /// (for a scopeless status, the parent's value). Recomputed by `recalculate`.
    effectively_cancelled: Cell<bool>,
    /// Why this status is cancelled: its own scope's cause if that scope was cancelled when
    /// the status became cancelled, else the parent's (as Trio inherits `_cancel_reason`).
    /// Invariant: `Some` only while `effectively_cancelled` (it may be `None` then for a
    /// status whose scope was cancelled by an unknown source).
    cause: RefCell<Option<Arc<CancelCause>>>,
    waits: RefCell<WaitList>,
}

impl CancelStatus {
    pub(crate) fn root() -> Rc<CancelStatus> {
        Rc::new(CancelStatus {
            scope: None,
            parent: RefCell::new(None),
            children: RefCell::new(Vec::new()),
            effectively_cancelled: Cell::new(false),
            cause: RefCell::new(None),
            waits: RefCell::new(WaitList::default()),
        })
    }

    pub(crate) fn new_child(parent: &Rc<CancelStatus>, scope: Option<Rc<ScopeState>>) -> Rc<CancelStatus> {
        let status = Rc::new(CancelStatus {
            scope,
            parent: RefCell::new(Some(parent.clone())),
            children: RefCell::new(Vec::new()),
            effectively_cancelled: Cell::new(false),
            cause: RefCell::new(None),
            waits: RefCell::new(WaitList::default()),
        });
        if status.compute() {
            status.effectively_cancelled.set(true);
            *status.cause.borrow_mut() = status.inherited_cause();
        }
        parent.add_child(&status);
        status
    }

    /// The cause to record when this status becomes cancelled.
    fn inherited_cause(&self) -> Option<Arc<CancelCause>> {
        if let Some(scope) = &self.scope
            && scope.cancel_called.get()
        {
            return scope.cause.borrow().clone();
        }
        self.parent.borrow().as_ref().and_then(|p| p.cause.borrow().clone())
    }

    /// How many statuses lie above this one (for messages; O(depth)).
    pub(crate) fn depth(self: &Rc<CancelStatus>) -> usize {
        let mut depth = 0;
        let mut node = self.parent();
        while let Some(status) = node {
            depth += 1;
            node = status.parent();
        }
        depth
    }

    /// Why this status is cancelled, if it is and the cause is known.
    pub(crate) fn cause(&self) -> Option<Arc<CancelCause>> {
        self.cause.borrow().clone()
    }

    fn add_child(&self, child: &Rc<CancelStatus>) {
        let mut children = self.children.borrow_mut();
        if children.len() >= 16 && children.len().is_power_of_two() {
            children.retain(|c| c.strong_count() > 0);
        }
        children.push(Rc::downgrade(child));
    }

    fn compute(&self) -> bool {
        let parent_cancelled = self.parent.borrow().as_ref().is_some_and(|p| p.effectively_cancelled.get());
        match &self.scope {
            None => parent_cancelled,
            Some(scope) => scope.cancel_called.get() || (!scope.shield.get() && parent_cancelled),
        }
    }

    pub(crate) fn effectively_cancelled(&self) -> bool {
        self.effectively_cancelled.get()
    }

    pub(crate) fn parent(&self) -> Option<Rc<CancelStatus>> {
        self.parent.borrow().clone()
    }

    /// Whether a cancellation of the parent reaches this status (Trio's
    /// `parent_cancellation_is_visible_to_us`).
    fn parent_cancellation_visible(&self) -> bool {
        let shielded = self.scope.as_ref().is_some_and(|s| s.shield.get());
        !shielded && self.parent.borrow().as_ref().is_some_and(|p| p.effectively_cancelled.get())
    }

    /// Whether a cancellation arriving at this scope's exit is this scope's to catch: it was
    /// cancelled, and the cancellation did not also come from outside.
    pub(crate) fn catches_cancellation(&self) -> bool {
        self.scope.as_ref().is_some_and(|s| s.cancel_called.get()) && !self.parent_cancellation_visible()
    }

    /// The scope of this status or of the nearest ancestor that has one.
    pub(crate) fn innermost_scope(self: &Rc<CancelStatus>) -> Option<Rc<ScopeState>> {
        if let Some(scope) = &self.scope {
            return Some(scope.clone());
        }
        let mut node = self.parent();
        while let Some(status) = node {
            if let Some(scope) = &status.scope {
                return Some(scope.clone());
            }
            node = status.parent();
        }
        None
    }

    pub(crate) fn register_wait(&self, wait: Rc<dyn WaitRecord>) {
        self.waits.borrow_mut().push(wait);
    }

    /// Brings this status and its descendants up to date after a change of a scope's
    /// `cancel_called` or `shield` (or of the parent): a status that becomes cancelled aborts
    /// its waits. Depth-first with an explicit stack, as Trio does, so a deep tree of scopes
    /// cannot overflow the thread's stack.
    pub(crate) fn recalculate(self: &Rc<CancelStatus>) {
        let mut todo = vec![self.clone()];
        while let Some(status) = todo.pop() {
            let new = status.compute();
            if new == status.effectively_cancelled.get() {
                continue;
            }
            status.effectively_cancelled.set(new);
            if new {
                *status.cause.borrow_mut() = status.inherited_cause();
                let waits = status.waits.borrow_mut().take();
                for wait in waits {
                    wait.abort();
                }
            } else {
                *status.cause.borrow_mut() = None;
            }
            todo.extend(status.children.borrow().iter().filter_map(Weak::upgrade));
        }
        debug_assert_eq!(self.effectively_cancelled.get(), self.compute(), "recalculate left a status stale");
    }

    /// Removes this status from its parent's children (the scope exited).
    pub(crate) fn detach(self: &Rc<CancelStatus>) {
        if let Some(parent) = self.parent.borrow().as_ref() {
            let me = Rc::downgrade(self);
            parent.children.borrow_mut().retain(|c| !Weak::ptr_eq(c, &me) && c.strong_count() > 0);
        }
    }

    /// Moves every child status and every registered wait of `self` to `new_parent`.
    pub(crate) fn move_contents_to(self: &Rc<CancelStatus>, new_parent: &Rc<CancelStatus>) {
        let children: Vec<Rc<CancelStatus>> =
            self.children.borrow_mut().drain(..).filter_map(|c| c.upgrade()).collect();
        for child in children {
            *child.parent.borrow_mut() = Some(new_parent.clone());
            new_parent.add_child(&child);
            child.recalculate();
        }
        let waits = self.waits.borrow_mut().take();
        if new_parent.effectively_cancelled() {
            for wait in waits {
                wait.abort();
            }
        } else {
            new_parent.waits.borrow_mut().extend(waits);
        }
    }

    /// The earliest deadline that applies here: outward through scopes until a shield.
    pub(crate) fn effective_deadline(self: &Rc<CancelStatus>) -> Option<Instant> {
        if self.effectively_cancelled() {
            return Some(Instant::ZERO);
        }
        let mut deadline: Option<Instant> = None;
        let mut node = Some(self.clone());
        while let Some(status) = node {
            if let Some(scope) = &status.scope {
                if let Some(d) = scope.deadline.get() {
                    deadline = Some(deadline.map_or(d, |cur| cur.min(d)));
                }
                if scope.shield.get() {
                    break;
                }
            }
            node = status.parent();
        }
        deadline
    }
}

// ===== ScopeState =====

pub(crate) struct ScopeState {
    /// The tie-break between equal deadlines: the scope's number in its run, taken from the
    /// run's counter when the scope is made inside a run, or on entry (never an address, never
    /// a process-wide counter). Invariant: `Some` once the scope was entered.
    seq: Cell<Option<u64>>,
    /// Where the scope was made (for a nursery: where it was opened); reports name it.
    pub(crate) location: &'static Location<'static>,
    pub(crate) deadline: Cell<Option<Instant>>,
    /// A timeout not yet resolved into a deadline. Invariant: `None` once entered, and never
    /// `Some` together with `deadline` before entry.
    relative: Cell<Option<Duration>>,
    pub(crate) shield: Cell<bool>,
    /// Never reverts once set.
    pub(crate) cancel_called: Cell<bool>,
    /// Why `cancel_called` was set. Invariant: `Some` iff `cancel_called`.
    cause: RefCell<Option<Arc<CancelCause>>>,
    cancelled_caught: Cell<bool>,
    /// Set by `run()` (or by a nursery): a scope is entered at most once.
    claimed: Cell<bool>,
    /// Set when the body starts running in the scope (its timeout has then become a deadline).
    entered: Cell<bool>,
    /// The status while the scope is active, `None` before entry and after exit.
    status: RefCell<Option<Rc<CancelStatus>>>,
    /// The key of this scope's entry in the runtime's timer heap, while one is registered.
    /// Invariant: `Some` iff the scope is active, not cancelled and has a deadline (then the
    /// key is `(deadline, seq)`).
    pub(crate) timer: Cell<Option<(Instant, u64)>>,
}

impl ScopeState {
    fn new(location: &'static Location<'static>) -> ScopeState {
        let mut seq = None;
        Runtime::with_opt(|rt| seq = Some(rt.next_seq()));
        ScopeState {
            seq: Cell::new(seq),
            location,
            deadline: Cell::new(None),
            relative: Cell::new(None),
            shield: Cell::new(false),
            cancel_called: Cell::new(false),
            cause: RefCell::new(None),
            cancelled_caught: Cell::new(false),
            claimed: Cell::new(false),
            entered: Cell::new(false),
            status: RefCell::new(None),
            timer: Cell::new(None),
        }
    }

    /// The scope's number in its run (see `seq`): `None` only for a scope made outside a
    /// run and not entered yet.
    pub(crate) fn number(&self) -> Option<u64> {
        self.seq.get()
    }

    /// Cancels the scope (idempotent: the first cause sticks, as in Trio).
    pub(crate) fn cancel(
        self: &Rc<ScopeState>,
        source: CancelSource,
        reason: Option<Cow<'static, str>>,
        task: Option<String>,
    ) {
        if self.cancel_called.get() {
            return;
        }
        *self.cause.borrow_mut() = Some(Arc::new(CancelCause { source, reason, scope: Some(self.location), task }));
        self.cancel_called.set(true);
        self.update_timer();
        let status = self.status.borrow().clone();
        if let Some(status) = status {
            status.recalculate();
        }
    }

    /// Whether the scope's deadline has passed while it is unentered or active; if so, it is
    /// cancelled now (Trio's `cancel_called` does the same), so the answer never reverts.
    fn check_deadline(self: &Rc<ScopeState>) {
        if self.cancel_called.get() || (self.entered.get() && self.status.borrow().is_none()) {
            return;
        }
        let Some(deadline) = self.deadline.get() else { return };
        let mut passed = false;
        Runtime::with_opt(|rt| passed = deadline <= rt.now());
        if passed {
            self.cancel(CancelSource::Deadline, None, None);
        }
    }

    // ----- the deadline and the run's timer heap: the whole handshake lives here -----

    /// Keeps the runtime's timer heap in step with the deadline: registered while the scope is
    /// active, not yet cancelled, and has a deadline (as Trio does). A moved deadline pushes a
    /// new entry; the old one is dead by `timer`'s value and leaves the heap lazily.
    fn update_timer(self: &Rc<ScopeState>) {
        let want = if self.status.borrow().is_some() && !self.cancel_called.get() {
            self.deadline.get().map(|d| (d, self.seq.get().expect("an active scope has its number")))
        } else {
            None
        };
        if want == self.timer.get() {
            return;
        }
        let had_timer = self.timer.replace(want).is_some();
        Runtime::with_opt(|rt| {
            let mut timers = rt.timers.borrow_mut();
            if had_timer {
                timers.forget();
            }
            if let Some(key) = want {
                timers.push_scope(key, self);
            }
        });
    }

    /// The run's timer for this scope's deadline fired.
    pub(crate) fn deadline_fired(self: &Rc<ScopeState>) {
        self.timer.set(None);
        self.cancel(CancelSource::Deadline, None, None);
    }

    /// Enters the scope under `parent`: resolves a relative deadline, creates the status,
    /// registers the deadline, and cancels at once if the deadline has already passed.
    pub(crate) fn enter(self: &Rc<ScopeState>, parent: &Rc<CancelStatus>, rt: &Runtime) -> Rc<CancelStatus> {
        self.entered.set(true);
        if self.seq.get().is_none() {
            // Made outside the run: numbered on entry.
            self.seq.set(Some(rt.next_seq()));
        }
        if let Some(relative) = self.relative.take() {
            // Too far in the future to represent means "no deadline", never an overflow panic.
            self.deadline.set(rt.now().checked_add(relative));
        }
        let status = CancelStatus::new_child(parent, Some(self.clone()));
        *self.status.borrow_mut() = Some(status.clone());
        if let Some(deadline) = self.deadline.get()
            && deadline <= rt.now()
        {
            self.cancel(CancelSource::Deadline, None, None);
        }
        self.update_timer();
        status
    }

    /// Leaves the scope: unregisters the deadline and detaches the status.
    pub(crate) fn exit(self: &Rc<ScopeState>) {
        let status = self.status.borrow_mut().take();
        self.update_timer();
        if let Some(status) = status {
            status.detach();
        }
        debug_assert!(self.timer.get().is_none(), "an exited scope keeps no timer");
    }

    /// A scope entered at once under `parent` (a nursery's), made at `location`.
    pub(crate) fn new_entered(
        parent: &Rc<CancelStatus>,
        location: &'static Location<'static>,
    ) -> (Rc<ScopeState>, Rc<CancelStatus>) {
        let state = Rc::new(ScopeState::new(location));
        state.claimed.set(true);
        state.entered.set(true);
        let status = CancelStatus::new_child(parent, Some(state.clone()));
        *state.status.borrow_mut() = Some(status.clone());
        (state, status)
    }

    pub(crate) fn set_cancelled_caught(&self) {
        self.cancelled_caught.set(true);
    }
}

// ===== CancelScope =====

/// A region of code that can be cancelled: by [`cancel`](CancelScope::cancel), by a deadline,
/// or by an enclosing scope — unless [shielded](CancelScope::set_shield). Trio's `CancelScope`.
///
/// A `CancelScope` is a cheap handle (`Clone`): keep one to cancel the scope or move its
/// deadline from anywhere — another task included — while [`run`](CancelScope::run) executes
/// the body inside it.
///
/// Cancellation is level-triggered: once the scope is cancelled, every checkpoint inside it
/// returns `Err(Cancelled)`, not just the first. When the `Cancelled` error reaches the end of
/// the body, the scope catches it if it is the outermost cancelled scope of an unshielded chain,
/// and `run` returns `Ok(None)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::CancelScope;
///
/// trio::run(async {
///     let scope = CancelScope::with_timeout(Duration::from_millis(10));
///     let outcome = scope
///         .run(async {
///             trio::sleep(Duration::from_secs(3600)).await?;
///             Ok("slept an hour")
///         })
///         .await
///         .unwrap();
///     assert_eq!(outcome, None); // the deadline cancelled the sleep
///     assert!(scope.cancelled_caught());
/// });
/// ```
#[derive(Clone)]
#[doc(alias = "CancellationToken")]
pub struct CancelScope {
    pub(crate) state: Rc<ScopeState>,
}

impl CancelScope {
    /// A scope with no deadline, not shielded.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     assert_eq!(scope.deadline(), None);
    ///     assert!(!scope.shield());
    ///     let outcome = scope.run(async { Ok("finished") }).await.unwrap();
    ///     assert_eq!(outcome, Some("finished")); // nothing cancelled it
    ///     assert!(!scope.cancelled_caught());
    /// });
    /// ```
    #[track_caller]
    pub fn new() -> CancelScope {
        CancelScope { state: Rc::new(ScopeState::new(Location::caller())) }
    }

    /// A scope cancelled at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trio::run(async {
    ///     let deadline = trio::current_time() + Duration::from_millis(2);
    ///     let scope = trio::CancelScope::with_deadline(deadline);
    ///     assert_eq!(scope.deadline(), Some(deadline));
    ///     let outcome = scope.run(async { Ok(trio::sleep_forever().await?) }).await.unwrap();
    ///     assert_eq!(outcome, None);
    ///     assert!(trio::current_time() >= deadline);
    /// });
    /// ```
    #[track_caller]
    pub fn with_deadline(deadline: Instant) -> CancelScope {
        let scope = CancelScope::new();
        scope.state.deadline.set(Some(deadline));
        scope
    }

    /// A scope cancelled `timeout` after it is entered (Trio's `relative_deadline`). A timeout
    /// too large to add to the current time means no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trio::run(async {
    ///     let scope = trio::CancelScope::with_timeout(Duration::from_millis(2));
    ///     assert_eq!(scope.relative_deadline(), Some(Duration::from_millis(2)));
    ///     assert_eq!(scope.deadline(), None); // not entered yet
    ///     let probe = scope.clone();
    ///     let entered_at = trio::current_time();
    ///     scope
    ///         .run(async move {
    ///             // Entering turned the timeout into a deadline.
    ///             assert!(probe.deadline().unwrap() >= entered_at + Duration::from_millis(2));
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn with_timeout(timeout: Duration) -> CancelScope {
        let scope = CancelScope::new();
        scope.state.relative.set(Some(timeout));
        scope
    }

    /// A shielded scope: cancellations from outside do not reach its body.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let outer = trio::CancelScope::new();
    ///     outer.cancel();
    ///     outer
    ///         .run(async {
    ///             let inner = trio::CancelScope::shielded();
    ///             inner.run(async { Ok(trio::checkpoint().await?) }).await?; // not cancelled
    ///             assert!(trio::checkpoint().await.is_err()); // outside the shield it is
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn shielded() -> CancelScope {
        let scope = CancelScope::new();
        scope.state.shield.set(true);
        scope
    }

    /// Runs `body` inside this scope.
    ///
    /// Returns `Ok(Some(value))` if the body finished, `Ok(None)` if this scope caught the
    /// cancellation that ended it, and `Err(e)` for any other error — including a cancellation
    /// that belongs to an enclosing scope, which `?` should carry outward.
    ///
    /// # Panics
    ///
    /// If this scope was already entered: a scope runs at most one body (Trio raises
    /// `RuntimeError`). Panics, too, outside [`trio::run`](crate::run), and when the future is
    /// polled outside the scope or task where it was first polled — say, first inside a
    /// timeout and then after it, or in another task (Trio's "cancel scope stack corrupted").
    ///
    /// # Cancellation
    ///
    /// Entering and leaving a scope is not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     // The body finished: its value.
    ///     let scope = trio::CancelScope::new();
    ///     assert_eq!(scope.run(async { Ok(1) }).await.unwrap(), Some(1));
    ///
    ///     // This scope was cancelled: it catches the cancellation.
    ///     let scope = trio::CancelScope::new();
    ///     scope.cancel();
    ///     assert_eq!(scope.run(async { trio::checkpoint().await?; Ok(2) }).await.unwrap(), None);
    ///
    ///     // Any other error passes through.
    ///     let scope = trio::CancelScope::new();
    ///     let err = scope.run(async { Err::<(), _>(trio::Error::msg("boom")) }).await.unwrap_err();
    ///     assert_eq!(err.to_string(), "boom");
    /// });
    /// ```
    #[track_caller]
    pub fn run<F, T>(&self, body: F) -> ScopeRun<F>
    where
        F: Future<Output = Result<T>>,
    {
        if self.state.claimed.replace(true) {
            panic!(
                "this CancelScope was already entered: each scope runs one body; create a new \
                 CancelScope (or clone the handle before the first run to control it)"
            );
        }
        ScopeRun { scope: self.state.clone(), active: None, location: Location::caller(), body }
    }

    /// Cancels the scope: every checkpoint inside it now returns `Err(Cancelled)`, and tasks
    /// blocked inside it wake at once. Idempotent. Synchronous: never a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     let handle = scope.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async move {
    ///             let outcome = scope.run(async { Ok(trio::sleep_forever().await?) }).await?;
    ///             assert_eq!(outcome, None);
    ///             Ok(())
    ///         });
    ///         trio::lowlevel::wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
    ///         handle.cancel(); // wakes the sleeping child
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn cancel(&self) {
        self.state.cancel(CancelSource::Explicit, None, current_task_name());
    }

    /// [`cancel`](CancelScope::cancel), recording why (Trio's `cancel(reason=...)`): every
    /// [`Cancelled`](crate::Cancelled) the cancellation produces carries the reason, and
    /// reports show it. If the scope was already cancelled, the first cause stays.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     scope.cancel_with_reason("shutting down the worker");
    ///     let seen = scope.run(async { Ok(trio::checkpoint().await) }).await.unwrap().unwrap();
    ///     let cancelled = seen.unwrap_err();
    ///     assert_eq!(cancelled.reason(), Some("shutting down the worker"));
    ///     assert!(cancelled.to_string().ends_with(": shutting down the worker"));
    /// });
    /// ```
    pub fn cancel_with_reason(&self, reason: impl Into<Cow<'static, str>>) {
        self.state.cancel(CancelSource::Explicit, Some(reason.into()), current_task_name());
    }

    /// `true` once [`cancel`](CancelScope::cancel) was called or the deadline passed. Never
    /// reverts. As in Trio, it reads the clock: a scope that is not entered yet or is active,
    /// whose deadline has passed, is cancelled at that moment (no scheduling step needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = trio::CancelScope::new();
    /// assert!(!scope.cancel_called());
    /// scope.cancel();
    /// scope.cancel(); // idempotent
    /// assert!(scope.cancel_called());
    ///
    /// trio::run(async {
    ///     let scope = trio::CancelScope::with_deadline(trio::current_time());
    ///     assert!(scope.cancel_called()); // the deadline has passed
    /// });
    /// ```
    pub fn cancel_called(&self) -> bool {
        self.state.check_deadline();
        self.state.cancel_called.get()
    }

    /// `true` if this scope caught a cancellation when its body ended.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let outer = trio::CancelScope::new();
    ///     let inner = trio::CancelScope::new();
    ///     let (o, i) = (outer.clone(), inner.clone());
    ///     outer
    ///         .run(async move {
    ///             i.run(async move {
    ///                 o.cancel(); // the outer scope is cancelled, not the inner one
    ///                 trio::checkpoint().await?;
    ///                 Ok(())
    ///             })
    ///             .await?;
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     assert!(outer.cancelled_caught());
    ///     assert!(!inner.cancelled_caught()); // the cancellation passed through it
    /// });
    /// ```
    pub fn cancelled_caught(&self) -> bool {
        self.state.cancelled_caught.get()
    }

    /// The absolute deadline, if any. Before entry, a scope made with
    /// [`with_timeout`](CancelScope::with_timeout) has none yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let scope = trio::CancelScope::with_deadline(trio::Instant::from_secs(10));
    /// assert_eq!(scope.deadline(), Some(trio::Instant::from_secs(10)));
    /// assert_eq!(trio::CancelScope::with_timeout(Duration::from_secs(1)).deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline.get()
    }

    /// Sets or clears the deadline. Takes effect at once on a running scope: a deadline in the
    /// past cancels it at the next scheduling step, waking any task blocked inside.
    ///
    /// # Panics
    ///
    /// If the scope still holds a timeout (made with `with_timeout` and not yet entered): a
    /// scope has a deadline or a timeout, not both.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     let handle = scope.clone();
    ///     let outcome = scope
    ///         .run(async move {
    ///             // Move the deadline to now: the next checkpoint is cancelled.
    ///             handle.set_deadline(trio::current_time());
    ///             trio::sleep(Duration::from_secs(3600)).await?;
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(outcome, None);
    ///
    ///     let scope = trio::CancelScope::with_deadline(trio::Instant::ZERO);
    ///     scope.set_deadline(None); // cleared before entry: never cancelled
    ///     assert_eq!(scope.run(async { trio::checkpoint().await?; Ok(1) }).await.unwrap(), Some(1));
    /// });
    /// ```
    #[track_caller]
    pub fn set_deadline(&self, deadline: impl Into<Option<Instant>>) {
        if self.state.relative.get().is_some() {
            panic!(
                "this CancelScope has a timeout that is not resolved yet: a scope takes a deadline or a timeout, not both; set the deadline after the scope is entered, or use CancelScope::with_deadline"
            );
        }
        self.state.deadline.set(deadline.into());
        self.state.update_timer();
    }

    /// The time the scope has left (Trio's `relative_deadline`).
    ///
    /// Before entry, the timeout of a scope made with [`with_timeout`](CancelScope::with_timeout)
    /// (`None` for a scope with an absolute deadline or none: Trio raises `RuntimeError` for
    /// the first). Once entered, the time from now until the deadline — zero if it has passed,
    /// `None` if there is no deadline.
    ///
    /// # Panics
    ///
    /// For a scope that was entered, outside [`trio::run`](crate::run): the answer needs the
    /// run's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let scope = trio::CancelScope::with_timeout(Duration::from_secs(5));
    /// assert_eq!(scope.relative_deadline(), Some(Duration::from_secs(5)));
    /// assert_eq!(trio::CancelScope::new().relative_deadline(), None);
    ///
    /// trio::run(async move {
    ///     let probe = scope.clone();
    ///     scope
    ///         .run(async move {
    ///             // Entered: the time left, which counts down with the clock.
    ///             assert!(probe.relative_deadline().unwrap() <= Duration::from_secs(5));
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn relative_deadline(&self) -> Option<Duration> {
        if !self.state.entered.get() {
            return self.state.relative.get();
        }
        let deadline = self.state.deadline.get()?;
        Some(Runtime::with_at(Location::caller(), |rt| deadline - rt.now()))
    }

    /// Sets the timeout (Trio's `relative_deadline` setter). Before entry, the scope's deadline
    /// becomes `timeout` after it is entered; once entered, the deadline becomes `timeout`
    /// from now, as [`set_deadline`](CancelScope::set_deadline) would set it (`None`: no
    /// deadline).
    ///
    /// # Panics
    ///
    /// If the scope was not entered yet and has an absolute deadline (a scope takes a deadline
    /// or a timeout, not both); for an entered scope, outside [`trio::run`](crate::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     scope.set_relative_deadline(Some(Duration::from_millis(1)));
    ///     assert_eq!(scope.relative_deadline(), Some(Duration::from_millis(1)));
    ///     let outcome = scope.run(async { Ok(trio::sleep_forever().await?) }).await.unwrap();
    ///     assert_eq!(outcome, None); // the timeout ran out
    ///
    ///     // Inside the scope, the new timeout counts from now.
    ///     let scope = trio::CancelScope::with_timeout(Duration::from_secs(3600));
    ///     let probe = scope.clone();
    ///     let outcome = scope
    ///         .run(async move {
    ///             probe.set_relative_deadline(Some(Duration::from_millis(1)));
    ///             trio::sleep_forever().await?;
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(outcome, None);
    /// });
    /// ```
    #[track_caller]
    pub fn set_relative_deadline(&self, timeout: Option<Duration>) {
        if self.state.entered.get() {
            // Too far in the future to represent means "no deadline", as on entry.
            let deadline =
                timeout.and_then(|timeout| Runtime::with_at(Location::caller(), |rt| rt.now().checked_add(timeout)));
            self.set_deadline(deadline);
            return;
        }
        if timeout.is_some() && self.state.deadline.get().is_some() {
            panic!("this CancelScope already has a deadline: a scope takes a deadline or a timeout, not both");
        }
        self.state.relative.set(timeout);
    }

    /// `true` if the scope is shielded.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::CancelScope::shielded().shield());
    /// let scope = trio::CancelScope::new();
    /// assert!(!scope.shield());
    /// scope.set_shield(true);
    /// assert!(scope.shield());
    /// ```
    pub fn shield(&self) -> bool {
        self.state.shield.get()
    }

    /// Shields or unshields the scope. Takes effect at once: unshielding inside a cancelled
    /// outer scope wakes tasks blocked in this one with `Cancelled`.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let outer = trio::CancelScope::new();
    ///     outer.cancel();
    ///     outer
    ///         .run(async {
    ///             let inner = trio::CancelScope::shielded();
    ///             let handle = inner.clone();
    ///             inner
    ///                 .run(async move {
    ///                     trio::checkpoint().await?; // shielded: fine
    ///                     handle.set_shield(false);
    ///                     assert!(trio::checkpoint().await.is_err()); // the outer cancellation arrives
    ///                     Ok(())
    ///                 })
    ///                 .await?;
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    pub fn set_shield(&self, shield: bool) {
        if self.state.shield.replace(shield) == shield {
            return;
        }
        let status = self.state.status.borrow().clone();
        if let Some(status) = status {
            status.recalculate();
        }
    }

    /// `true` while a body runs inside the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     let probe = scope.clone();
    ///     assert!(!scope.is_active());
    ///     scope
    ///         .run(async move {
    ///             assert!(probe.is_active());
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     assert!(!scope.is_active());
    /// });
    /// ```
    pub fn is_active(&self) -> bool {
        self.state.status.borrow().is_some()
    }
}

impl Default for CancelScope {
    #[track_caller]
    fn default() -> Self {
        CancelScope::new()
    }
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelScope")
            .field("deadline", &self.state.deadline.get())
            .field("relative_deadline", &self.state.relative.get())
            .field("shield", &self.state.shield.get())
            .field("cancel_called", &self.state.cancel_called.get())
            .field("cancelled_caught", &self.state.cancelled_caught.get())
            .field("active", &self.is_active())
            .field("opened_at", &format_args!("{}", self.state.location))
            .finish()
    }
}

/// The current task's name, for the cause of an explicit `cancel`.
fn current_task_name() -> Option<String> {
    let mut name = None;
    Runtime::with_opt(|rt| name = rt.current_task().map(|task| task.name().to_string()));
    name
}

// ===== ScopeRun =====

/// Keeps a scope entered; leaving (normally or by drop) exits it.
struct ActiveScope {
    scope: Rc<ScopeState>,
    status: Rc<CancelStatus>,
}

impl Drop for ActiveScope {
    fn drop(&mut self) {
        self.scope.exit();
    }
}

pin_project! {
    /// The future returned by [`CancelScope::run`] and the `move_on_*` functions.
    ///
    /// Entering the scope happens on the first poll, not when the future is made.
    ///
    /// # Cancellation
    ///
    /// Entering and leaving the scope are not checkpoints. Dropping the future before it finishes
    /// drops the body and exits the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     let probe = scope.clone();
    ///     let run: trio::ScopeRun<_> = scope.run(async move {
    ///         assert!(probe.is_active());
    ///         Ok(5)
    ///     });
    ///     assert!(!scope.is_active()); // not polled yet
    ///     assert_eq!(run.await.unwrap(), Some(5));
    /// });
    /// ```
    #[must_use = "a cancel scope does nothing unless awaited"]
    pub struct ScopeRun<F> {
        scope: Rc<ScopeState>,
        active: Option<ActiveScope>,
        // Where `run` was called, for the panic outside a run.
        location: &'static Location<'static>,
        #[pin]
        body: F,
    }
}

impl<F> fmt::Debug for ScopeRun<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeRun").field("scope", &CancelScope { state: self.scope.clone() }).finish_non_exhaustive()
    }
}

impl<F, T> Future for ScopeRun<F>
where
    F: Future<Output = Result<T>>,
{
    type Output = Result<Option<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Option<T>>> {
        let this = self.project();
        let status = match this.active {
            Some(active) => active.status.clone(),
            None => {
                let status = Runtime::with_at(this.location, |rt| {
                    let parent = rt.current_status();
                    this.scope.enter(&parent, rt)
                });
                *this.active = Some(ActiveScope { scope: this.scope.clone(), status: status.clone() });
                status
            }
        };
        let result = match in_status(&status, || this.body.poll(cx)) {
            Poll::Pending => {
                Runtime::with_opt(|rt| rt.note_pending_in(&status));
                return Poll::Pending;
            }
            Poll::Ready(result) => result,
        };
        let catches = status.catches_cancellation();
        let active = this.active.take();
        drop(active);
        Poll::Ready(match result {
            Ok(value) => Ok(Some(value)),
            Err(error) if catches => match error.without_cancellations() {
                (true, None) => {
                    this.scope.set_cancelled_caught();
                    Ok(None)
                }
                (removed, Some(rest)) => {
                    if removed {
                        this.scope.set_cancelled_caught();
                    }
                    Err(rest)
                }
                (false, None) => unreachable!("an error is never empty"),
            },
            Err(error) => Err(error),
        })
    }
}

/// Polls `f` with `status` as the current cancel status, restoring its parent afterwards (also
/// if `f` panics).
///
/// # Panics
///
/// If `status`'s parent is not the current status: the scope's future is being polled
/// somewhere other than where it was entered (Trio's "cancel scope stack corrupted").
pub(crate) fn in_status<R>(status: &Rc<CancelStatus>, f: impl FnOnce() -> R) -> R {
    struct Restore<'a>(&'a Rc<CancelStatus>);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            Runtime::with_opt(|rt| rt.set_current_status(self.0.parent()));
        }
    }
    Runtime::with(|rt| {
        rt.check_stack();
        let nested =
            rt.with_current_status(|current| status.parent.borrow().as_ref().is_some_and(|p| Rc::ptr_eq(p, current)));
        if !nested {
            misnested(status);
        }
        rt.set_current_status(Some(status.clone()));
    });
    let _restore = Restore(status);
    f()
}

/// A scope's (or nursery's) future polled outside the code that entered it: cancellations
/// would follow where it was entered, not where it runs. Trio raises `RuntimeError`.
#[cold]
fn misnested(status: &CancelStatus) -> ! {
    let opened = status.scope.as_ref().map_or_else(|| "<unknown>".to_string(), |scope| scope.location.to_string());
    panic!(
        "cancel scope stack corrupted: the scope opened at {opened} is being polled outside the \
         scope or task it was entered in (its cancellations would follow where it was entered, not \
         where it runs); a CancelScope::run, move_on_*, fail_* or open_nursery future must finish \
         inside the code that first polled it: do not poll it first inside a timeout or another \
         scope and then outside (a `FuturesUnordered` polled under a timeout), and do not move it \
         to another task; to run bodies side by side, start them in a nursery"
    );
}

// ===== move_on / fail =====

/// Runs `body`, cancelling it if it takes longer than `timeout`; `Ok(None)` if it was cut
/// short (Trio's `move_on_after`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let result = trio::move_on_after(Duration::from_millis(5), async {
///         trio::sleep(Duration::from_secs(10)).await?;
///         Ok("done")
///     })
///     .await
///     .unwrap();
///     assert_eq!(result, None);
/// });
/// ```
#[track_caller]
#[doc(alias = "timeout")]
pub fn move_on_after<F, T>(timeout: Duration, body: F) -> ScopeRun<F>
where
    F: Future<Output = Result<T>>,
{
    CancelScope::with_timeout(timeout).run(body)
}

/// Runs `body`, cancelling it at `deadline`; `Ok(None)` if it was cut short (Trio's
/// `move_on_at`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let deadline = trio::current_time() + Duration::from_secs(60);
///     let result = trio::move_on_at(deadline, async { Ok(1 + 1) }).await.unwrap();
///     assert_eq!(result, Some(2));
/// });
/// ```
#[track_caller]
pub fn move_on_at<F, T>(deadline: Instant, body: F) -> ScopeRun<F>
where
    F: Future<Output = Result<T>>,
{
    CancelScope::with_deadline(deadline).run(body)
}

/// Runs `body`, failing with [`TooSlow`] if it takes longer than `timeout` (Trio's
/// `fail_after`).
///
/// # Errors
///
/// [`TooSlow`] (inside [`Error`]) if the deadline cancelled the body; the body's own errors
/// otherwise.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let err = trio::fail_after(Duration::from_millis(5), async {
///         trio::sleep_forever().await?;
///         Ok(())
///     })
///     .await
///     .unwrap_err();
///     assert!(err.is::<trio::TooSlow>());
/// });
/// ```
#[track_caller]
#[doc(alias = "timeout")]
pub fn fail_after<F, T>(timeout: Duration, body: F) -> impl Future<Output = Result<T>>
where
    F: Future<Output = Result<T>>,
{
    let run = move_on_after(timeout, body);
    async move { run.await?.ok_or_else(|| Error::new(TooSlow)) }
}

/// Runs `body`, failing with [`TooSlow`] if it is not done by `deadline` (Trio's `fail_at`).
///
/// # Errors
///
/// As [`fail_after`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let deadline = trio::current_time() + Duration::from_secs(1);
///     assert_eq!(trio::fail_at(deadline, async { Ok(7) }).await.unwrap(), 7);
/// });
/// ```
#[track_caller]
pub fn fail_at<F, T>(deadline: Instant, body: F) -> impl Future<Output = Result<T>>
where
    F: Future<Output = Result<T>>,
{
    let run = move_on_at(deadline, body);
    async move { run.await?.ok_or_else(|| Error::new(TooSlow)) }
}

/// The deadline that applies to the current code: the earliest deadline of the enclosing
/// scopes out to the nearest shield. `None` if there is none; [`Instant::ZERO`] (Trio's `-inf`)
/// if the code is already cancelled.
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     assert_eq!(trio::current_effective_deadline(), None);
///     let deadline = trio::current_time() + Duration::from_secs(5);
///     trio::move_on_at(deadline, async {
///         assert_eq!(trio::current_effective_deadline(), Some(deadline));
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn current_effective_deadline() -> Option<Instant> {
    let location = Location::caller();
    Runtime::with_at(location, |rt| rt.current_status().effective_deadline())
}
