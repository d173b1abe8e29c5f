//! Nurseries: where child tasks live, and the only way to start one.
//!
//! The nursery body runs inline in the parent task (so it may borrow); children are `'static`
//! tasks. When the body is done the parent waits — not abortably, as in Trio — until every
//! child has exited, then returns every failure together. A failing child cancels the nursery's
//! scope, and so its siblings and the body.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::cancel::{CancelScope, CancelStatus, ScopeState, in_status};
use super::runtime::Runtime;
use super::task::{Outcome, Task, TaskName, default_task_name};
use super::wait::{Unparker, What, cancel_shielded_checkpoint, make_slot};
use crate::error::{CancelSource, ClosedResource, Error, ErrorGroup, GroupEntry, Result, RuntimeError};

type PanicPayload = Box<dyn Any + Send>;

/// A nursery's failures when it closes: errors with who failed, and panics with task names.
pub(crate) type Failures = (Vec<(Failed, Error)>, Vec<(String, PanicPayload)>);

// ===== traits for task and body outputs =====

/// What a child task may return: `()` or `trio::Result<()>`.
///
/// An error fails the task: it cancels the task's nursery and comes back in the nursery's
/// [`ErrorGroup`].
///
/// # Examples
///
/// ```
/// use trio::TaskResult;
///
/// assert!(().into_task_result().is_ok());
/// let failed: trio::Result<()> = Err(trio::Error::msg("boom"));
/// assert_eq!(failed.into_task_result().unwrap_err().to_string(), "boom");
///
/// trio::run(async {
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async {}); // returns ()
///         nursery.start_soon(async { trio::checkpoint().await.map_err(trio::Error::from) }); // a Result
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
///
/// A function with an error type of its own runs as a task through `?`, which converts its
/// error into a [`trio::Error`](crate::Error) (see `docs/design.md` for why tasks do not accept
/// any `Result<(), E>` directly: `Ok(())` would stop inferring):
///
/// ```
/// #[derive(Debug)]
/// struct DiskFull;
/// impl std::fmt::Display for DiskFull {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("disk full")
///     }
/// }
/// impl std::error::Error for DiskFull {}
///
/// async fn writer() -> Result<(), DiskFull> {
///     trio::checkpoint().await.ok();
///     Err(DiskFull)
/// }
///
/// let result = trio::run(async {
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move { Ok(writer().await?) });
///         Ok(())
///     })
///     .await
/// });
/// let group = result.unwrap_err();
/// assert!(group.as_group().unwrap().find::<DiskFull>().is_some());
/// ```
#[diagnostic::on_unimplemented(
    message = "a trio task returns `()` or `trio::Result<()>`, not `{Self}`",
    label = "this future's output is not a task result",
    note = "for a task with an error type of its own, start `async move {{ Ok(task.await?) }}` instead (the error converts with `?` into `trio::Error`); for an `anyhow::Result<()>`, `async move {{ task.await.map_err(trio::Error::from_anyhow) }}`",
    note = "send values out through a channel, or return them from a nursery body"
)]
pub trait TaskResult: 'static {
    /// Converts into the task's result.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::TaskResult;
    ///
    /// assert!(().into_task_result().is_ok());
    /// let cancelled: trio::Result<()> = Err(trio::Cancelled::new().into());
    /// assert!(cancelled.into_task_result().unwrap_err().is_cancelled());
    /// ```
    fn into_task_result(self) -> Result<()>;
}

impl TaskResult for () {
    fn into_task_result(self) -> Result<()> {
        Ok(())
    }
}

impl TaskResult for Result<()> {
    fn into_task_result(self) -> Result<()> {
        self
    }
}

/// A task that never returns (it panics, or loops forever) is a task too:
/// `nursery.start_soon(async { panic!("boom") })`. Stable Rust cannot name `!` directly; a
/// function pointer's return type can.
#[allow(private_interfaces, reason = "`Never` only names `!`; nothing private leaks through it")]
impl TaskResult for Never {
    fn into_task_result(self) -> Result<()> {
        self
    }
}

pub(crate) trait FnOutput {
    type Output;
}

impl<R> FnOutput for fn() -> R {
    type Output = R;
}

/// The never type, `!`.
pub(crate) type Never = <fn() -> ! as FnOutput>::Output;

/// What a nursery body may produce: `()` or an `Option`.
///
/// A body that the nursery's own cancel scope cancelled (say, a child called
/// `nursery.cancel_scope().cancel()` while the body waited) produced no value, yet
/// [`open_nursery`] returns normally, as Trio's `async with` block does. So the value must have
/// a "nothing" form: `()`, or `None`. Return `Ok(Some(value))` from a body that computes one.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     // A body that computes a value returns it in `Some`.
///     let value = trio::open_nursery(|_nursery| async { Ok(Some(42)) }).await.unwrap();
///     assert_eq!(value, Some(42));
///
///     // Cancelled by its own nursery, the body has no value: `None`.
///     let value = trio::open_nursery(|nursery| async move {
///         nursery.cancel_scope().cancel();
///         trio::checkpoint().await?;
///         Ok(Some(42))
///     })
///     .await
///     .unwrap();
///     assert_eq!(value, None);
///     assert_eq!(<Option<u8> as trio::NurseryOutput>::cancelled(), None);
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "a nursery body returns `trio::Result<()>` or `trio::Result<Option<T>>`, not `trio::Result<{Self}>`",
    label = "wrap the value: `Ok(Some(value))`",
    note = "a body cancelled by the nursery's own scope has no value; `open_nursery` then returns `Ok(())` or `Ok(None)`"
)]
pub trait NurseryOutput: Sized {
    /// The value of a body that was cancelled by the nursery itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::NurseryOutput;
    ///
    /// assert_eq!(<Option<String> as NurseryOutput>::cancelled(), None);
    /// assert_eq!(<() as NurseryOutput>::cancelled(), ());
    /// ```
    fn cancelled() -> Self;
}

impl NurseryOutput for () {
    fn cancelled() {}
}

impl<T> NurseryOutput for Option<T> {
    fn cancelled() -> Option<T> {
        None
    }
}

// ===== exit routing =====

/// Where a task's outcome goes when it exits.
pub(crate) enum ExitTarget {
    Main,
    System,
    Nursery(Rc<NurseryInner>),
    Start(Rc<dyn StartExit>),
    /// Dropped, or already reported.
    Detached,
}

pub(crate) trait StartExit {
    fn child_exited(&self, outcome: Outcome);
    /// The nursery the task is being started into.
    fn target(&self) -> &Rc<NurseryInner>;
}

// ===== NurseryInner =====

pub(crate) struct NurseryInner {
    pub(crate) origin: &'static Location<'static>,
    /// The task that opened the nursery (its name labels the body's failures).
    parent: Option<Task>,
    pub(crate) scope: Rc<ScopeState>,
    pub(crate) status: Rc<CancelStatus>,
    /// Live children, each in the slot its `nursery_slot` names.
    children: RefCell<ChildSlab>,
    pending_starts: Cell<usize>,
    body_running: Cell<bool>,
    /// Set once the body is done and no child or pending `start` is left (Trio's `_closed`).
    closed: Cell<bool>,
    /// Failures so far; named (and made `Send`) only when they leave the nursery.
    errors: RefCell<Vec<(Failed, Error)>>,
    panics: RefCell<Vec<(String, PanicPayload)>>,
    parent_waiter: RefCell<Option<Unparker<()>>>,
}

impl NurseryInner {
    /// A nursery opened by `parent` (none for the system nursery), whose scope sits under
    /// `parent_status`.
    pub(crate) fn new(
        parent_status: &Rc<CancelStatus>,
        parent: Option<Task>,
        origin: &'static Location<'static>,
    ) -> Rc<NurseryInner> {
        let (scope, status) = ScopeState::new_entered(parent_status, origin);
        Rc::new(NurseryInner {
            origin,
            parent,
            scope,
            status,
            children: RefCell::new(ChildSlab::default()),
            pending_starts: Cell::new(0),
            body_running: Cell::new(true),
            closed: Cell::new(false),
            errors: RefCell::new(Vec::new()),
            panics: RefCell::new(Vec::new()),
            parent_waiter: RefCell::new(None),
        })
    }

    fn open(rt: &Runtime, origin: &'static Location<'static>) -> Rc<NurseryInner> {
        NurseryInner::new(&rt.current_status(), Some(rt.current_task_or_panic()), origin)
    }

    fn add_error(&self, task: Failed, error: Error) {
        // A cancellation coming out of a child is no failure of its own: it does not name a
        // culprit (the nursery is usually cancelled already, and then nothing changes).
        let culprit = if error.is_cancelled() { None } else { Some(task.name()) };
        self.errors.borrow_mut().push((task, error));
        self.scope.cancel(CancelSource::Nursery, None, culprit);
    }

    fn add_panic(&self, task: String, payload: PanicPayload) {
        self.scope.cancel(CancelSource::Nursery, None, Some(task.clone()));
        self.panics.borrow_mut().push((task, payload));
    }

    pub(crate) fn child_exited(&self, task: &Task, outcome: Outcome) {
        self.children.borrow_mut().remove(task);
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => self.add_error(Failed::Task(task.clone()), error),
            Err(payload) => self.add_panic(task.name().to_string(), payload),
        }
        self.check_closed();
    }

    /// Closes the nursery and wakes its parent once nothing can still add to it.
    fn check_closed(&self) {
        if self.body_running.get() || self.pending_starts.get() > 0 || !self.children.borrow().is_empty() {
            return;
        }
        self.closed.set(true);
        let waiter = self.parent_waiter.borrow_mut().take();
        if let Some(waiter) = waiter {
            let _ = waiter.unpark(());
        }
    }

    pub(crate) fn take_failures(&self) -> Failures {
        (std::mem::take(&mut *self.errors.borrow_mut()), std::mem::take(&mut *self.panics.borrow_mut()))
    }

    fn spawn<F>(
        self: &Rc<Self>,
        name: TaskName,
        location: &'static Location<'static>,
        future: F,
    ) -> Result<(), ClosedResource>
    where
        F: Future<Output = crate::Result<()>> + 'static,
    {
        if self.closed.get() {
            return Err(ClosedResource::with_message(format!(
                "the nursery opened at {} is closed to new arrivals",
                self.origin
            )));
        }
        let task = Runtime::with_at(location, |rt| {
            rt.spawn_task(
                future,
                name,
                location,
                self.status.clone(),
                ExitTarget::Nursery(self.clone()),
                self.parent.as_ref().map(Task::id),
            )
        });
        self.children.borrow_mut().insert(task);
        Ok(())
    }

    /// Drops every child task (the nursery's future was dropped before it finished).
    fn abandon(&self) {
        self.closed.set(true);
        let children: Vec<Task> = std::mem::take(&mut *self.children.borrow_mut()).into_tasks();
        for child in children {
            Runtime::with_opt(|rt| rt.drop_task(&child));
        }
        self.scope.exit();
    }

    pub(crate) fn child_count(&self) -> usize {
        self.children.borrow().len()
    }
}

/// Who failed, kept as a task until the failure leaves the nursery: most failures are
/// cancellations the nursery catches, and naming them would be wasted work.
pub(crate) enum Failed {
    Task(Task),
    /// The body of the nursery opened by this task (`None`: the system nursery).
    Body(Option<Task>),
}

impl Failed {
    fn name(&self) -> String {
        match self {
            Failed::Task(task) => task.name().to_string(),
            Failed::Body(parent) => format!("{} (nursery body)", parent.as_ref().map_or("<system>", Task::name)),
        }
    }
}

fn name_failures(errors: Vec<(Failed, Error)>) -> Vec<GroupEntry> {
    errors.into_iter().map(|(who, error)| GroupEntry::new(who.name(), error)).collect()
}

/// A nursery's live children: a slab, each child knowing its slot, so starting and finishing
/// a child are O(1).
#[derive(Default)]
pub(crate) struct ChildSlab {
    slots: Vec<Option<Task>>,
    free: Vec<usize>,
    len: usize,
}

impl ChildSlab {
    fn insert(&mut self, task: Task) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        task.0.nursery_slot.set(slot);
        self.slots[slot] = Some(task);
        self.len += 1;
    }

    fn remove(&mut self, task: &Task) {
        let slot = task.0.nursery_slot.get();
        if self.slots.get(slot).and_then(Option::as_ref) == Some(task) {
            self.slots[slot] = None;
            self.free.push(slot);
            self.len -= 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The children in the order they were started (by id).
    fn tasks(&self) -> Vec<Task> {
        let mut tasks: Vec<Task> = self.slots.iter().flatten().cloned().collect();
        tasks.sort_by_key(Task::id);
        tasks
    }

    fn into_tasks(self) -> Vec<Task> {
        self.tasks()
    }
}

// ===== Nursery =====

/// A handle to an open nursery: start children in it, or cancel it.
///
/// You get one from [`open_nursery`]. It is a cheap `Clone`, so children can start siblings.
/// Once the nursery has closed (its body finished and every child exited), starting another
/// child is a mistake: [`start_soon`](Nursery::start_soon) panics,
/// [`try_start_soon`](Nursery::try_start_soon) returns [`ClosedResource`].
///
/// # Examples
///
/// Children may start siblings through a clone of the handle:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// trio::run(async {
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let l = log.clone();
///     trio::open_nursery(|nursery| async move {
///         let handle = nursery.clone();
///         nursery.start_soon(async move {
///             l.borrow_mut().push("parent");
///             let l = l.clone();
///             handle.start_soon(async move { l.borrow_mut().push("sibling") });
///         });
///         Ok(())
///     })
///     .await
///     .unwrap();
///     assert_eq!(*log.borrow(), ["parent", "sibling"]);
/// });
/// ```
#[derive(Clone)]
pub struct Nursery {
    inner: Rc<NurseryInner>,
}

impl Nursery {
    /// Starts `future` as a child task. It begins running at the next scheduling step, not
    /// before `start_soon` returns. Never a checkpoint.
    ///
    /// The child's name comes from its type (an `async fn` is named after the function), or
    /// for an async block from the spawn site; use
    /// [`start_soon_named`](Nursery::start_soon_named) to choose one.
    ///
    /// # Panics
    ///
    /// If the nursery is closed to new arrivals.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// async fn child(n: u64) {
    ///     trio::sleep(Duration::from_millis(n)).await.ok();
    /// }
    ///
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(child(1));
    ///         nursery.start_soon(child(2));
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    #[doc(alias = "spawn")]
    #[doc(alias = "spawn_local")]
    pub fn start_soon<F>(&self, future: F)
    where
        F: Future + 'static,
        F::Output: TaskResult,
    {
        let location = Location::caller();
        let name = default_task_name::<F>();
        if let Err(error) = self.inner.spawn(name, location, wrap(future)) {
            panic!(
                "{error}: start_soon was called after the nursery's body finished and all its children exited; keep the nursery open (start from inside its body or from a child) or use try_start_soon"
            );
        }
    }

    /// [`start_soon`](Nursery::start_soon) with a name for the task.
    ///
    /// # Panics
    ///
    /// If the nursery is closed to new arrivals.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("fetcher", async {
    ///             assert_eq!(trio::lowlevel::current_task().name(), "fetcher");
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn start_soon_named<F>(&self, name: impl Into<String>, future: F)
    where
        F: Future + 'static,
        F::Output: TaskResult,
    {
        let location = Location::caller();
        if let Err(error) = self.inner.spawn(TaskName::Given(name.into()), location, wrap(future)) {
            panic!(
                "{error}: start_soon_named was called after the nursery's body finished and all its children exited; keep the nursery open or use try_start_soon"
            );
        }
    }

    /// [`start_soon`](Nursery::start_soon) that reports a closed nursery as an error.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`] if the nursery is closed to new arrivals.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let nursery = trio::open_nursery(|nursery| async move {
    ///         assert!(nursery.try_start_soon(async {}).is_ok());
    ///         Ok(Some(nursery.clone()))
    ///     })
    ///     .await
    ///     .unwrap()
    ///     .unwrap();
    ///     // The nursery closed when its body and children finished.
    ///     let err = nursery.try_start_soon(async {}).unwrap_err();
    ///     assert!(trio::Error::new(err).is::<trio::ClosedResource>());
    /// });
    /// ```
    #[track_caller]
    pub fn try_start_soon<F>(&self, future: F) -> std::result::Result<(), ClosedResource>
    where
        F: Future + 'static,
        F::Output: TaskResult,
    {
        let location = Location::caller();
        let name = default_task_name::<F>();
        self.inner.spawn(name, location, wrap(future))
    }

    /// Starts a task and waits until it reports that it is ready, returning the value it
    /// passes to [`TaskStatus::started`] (Trio's `nursery.start`).
    ///
    /// Until it calls `started`, the new task runs inside the cancel scopes of the *caller*
    /// of `start`; then it moves into this nursery. A pending `start` keeps this nursery open.
    ///
    /// # Errors
    ///
    /// - The task's own error, unwrapped, if it fails before calling `started`.
    /// - [`RuntimeError`] if it returns without calling `started`, or if the nursery is closed.
    ///
    /// # Panics
    ///
    /// A panic in the task before `started` resumes in the caller.
    ///
    /// # Cancellation
    ///
    /// Waiting is not itself abortable (as in Trio): cancelling the caller cancels the
    /// starting task, and `start` returns once it has exited.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::TaskStatus;
    ///
    /// async fn server(task_status: TaskStatus<u16>) -> trio::Result<()> {
    ///     let port = 8080; // bind a socket here
    ///     task_status.started(port);
    ///     trio::sleep_forever().await?;
    ///     Ok(())
    /// }
    ///
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         let port = nursery.start(server).await?;
    ///         assert_eq!(port, 8080);
    ///         nursery.cancel_scope().cancel();
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn start<F, Fut, V>(&self, f: F) -> impl Future<Output = Result<V>> + use<F, Fut, V>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + 'static,
        Fut::Output: TaskResult,
        V: 'static,
    {
        let location = Location::caller();
        let name = default_task_name::<Fut>();
        start_impl(self.inner.clone(), f, name, location)
    }

    /// [`start`](Nursery::start) with a name for the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::TaskStatus;
    ///
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         let port = nursery
    ///             .start_named("listener", |task_status: TaskStatus<u16>| async move {
    ///                 task_status.started(8080);
    ///                 trio::sleep_forever().await?;
    ///                 Ok(())
    ///             })
    ///             .await?;
    ///         assert_eq!(port, 8080);
    ///         let names: Vec<String> = nursery.child_tasks().iter().map(|t| t.name().to_string()).collect();
    ///         assert_eq!(names, ["listener"]);
    ///         nursery.cancel_scope().cancel();
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn start_named<N, F, Fut, V>(&self, name: N, f: F) -> impl Future<Output = Result<V>> + use<N, F, Fut, V>
    where
        N: Into<String>,
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + 'static,
        Fut::Output: TaskResult,
        V: 'static,
    {
        start_impl(self.inner.clone(), f, TaskName::Given(name.into()), Location::caller())
    }

    /// The nursery's cancel scope: cancel it to cancel the body and every child.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async {
    ///             trio::sleep_forever().await?; // until the nursery is cancelled
    ///             Ok(())
    ///         });
    ///         nursery.cancel_scope().cancel();
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap(); // the nursery caught its own cancellation
    /// });
    /// ```
    pub fn cancel_scope(&self) -> CancelScope {
        CancelScope { state: self.inner.scope.clone() }
    }

    /// Children still running.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         assert_eq!(nursery.child_count(), 0);
    ///         nursery.start_soon(async {});
    ///         nursery.start_soon(async {});
    ///         assert_eq!(nursery.child_count(), 2);
    ///         trio::checkpoint().await?; // both run and exit
    ///         assert_eq!(nursery.child_count(), 0);
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn child_count(&self) -> usize {
        self.inner.child_count()
    }

    /// The children still running, in the order they were started (Trio's `child_tasks`). A
    /// task still starting through [`start`](Nursery::start) is not among them until it calls
    /// `started`.
    ///
    /// ```
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("worker", async {});
    ///         let names: Vec<String> = nursery.child_tasks().iter().map(|t| t.name().to_string()).collect();
    ///         assert_eq!(names, ["worker"]);
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn child_tasks(&self) -> Vec<Task> {
        self.inner.children.borrow().tasks()
    }

    /// The task that opened the nursery (Trio's `parent_task`); `None` for the system nursery.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let me = trio::lowlevel::current_task();
    ///     trio::open_nursery(|nursery| async move {
    ///         assert_eq!(nursery.parent_task(), Some(me));
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn parent_task(&self) -> Option<Task> {
        self.inner.parent.clone()
    }

    /// `true` once the nursery no longer accepts children.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let nursery = trio::open_nursery(|nursery| async move {
    ///         assert!(!nursery.is_closed());
    ///         Ok(Some(nursery.clone()))
    ///     })
    ///     .await
    ///     .unwrap()
    ///     .unwrap();
    ///     assert!(nursery.is_closed());
    /// });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// A number that tells this nursery apart from every other nursery of the run: the same
    /// for the same nursery on every run of the same program under the same schedule (never an
    /// address). Numbers grow in the order nurseries are opened but are not consecutive (cancel
    /// scopes are numbered from the same counter). Traces use it to group a nursery's tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     trio::open_nursery(|outer| async move {
    ///         trio::open_nursery(|inner| async move {
    ///             assert!(inner.id() > outer.id()); // opened later
    ///             assert_eq!(inner.clone().id(), inner.id()); // a handle to the same nursery
    ///             Ok(())
    ///         })
    ///         .await
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        self.inner.scope.number().unwrap_or(0)
    }

    /// Where the nursery was opened (the `open_nursery` call).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let line = line!() + 1;
    ///     trio::open_nursery(|nursery| async move {
    ///         assert_eq!(nursery.opened_at().line(), line);
    ///         assert_eq!(nursery.opened_at().file(), file!());
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn opened_at(&self) -> &'static Location<'static> {
        self.inner.origin
    }
}

impl Task {
    /// The nursery the task runs in (Trio's `parent_nursery`); `None` for the main task,
    /// system tasks, and a task that has exited (its nursery has let go of it). A task started with [`Nursery::start`] belongs to the nursery it is
    /// started into from the moment it is spawned — unlike Trio, where it runs in a hidden
    /// nursery of the caller until it calls `started` — but is among that nursery's
    /// [`child_tasks`](Nursery::child_tasks) only once it has called
    /// [`started`](TaskStatus::started).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     assert!(trio::lowlevel::current_task().parent_nursery().is_none()); // the main task
    ///     trio::open_nursery(|nursery| async move {
    ///         let id = nursery.id();
    ///         nursery.start_soon(async move {
    ///             let mine = trio::lowlevel::current_task().parent_nursery().unwrap();
    ///             assert_eq!(mine.id(), id);
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn parent_nursery(&self) -> Option<Nursery> {
        match &*self.0.exit.borrow() {
            ExitTarget::Nursery(inner) => Some(Nursery { inner: inner.clone() }),
            ExitTarget::Start(start) => Some(Nursery { inner: start.target().clone() }),
            ExitTarget::Main | ExitTarget::System | ExitTarget::Detached => None,
        }
    }
}

impl fmt::Debug for Nursery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("opened_at", &format_args!("{}", self.inner.origin))
            .field("children", &self.inner.child_count())
            .field("closed", &self.inner.closed.get())
            .finish()
    }
}

/// A child's future as a task runs it: whatever it returns, as a task result. Not boxed: the
/// task keeps it inline.
async fn wrap<F>(future: F) -> crate::Result<()>
where
    F: Future + 'static,
    F::Output: TaskResult,
{
    future.await.into_task_result()
}

// ===== open_nursery =====

/// Opens a nursery, runs `body` with a handle to it, and waits for every child.
///
/// The body runs in the calling task and may borrow from it; children are `'static`.
/// Returns the body's value once the body and every child have finished.
///
/// # Errors
///
/// If the body or any child failed, an [`ErrorGroup`] with every failure, each naming its task
/// (a failure cancels the nursery, so the others are usually cancellations, which the nursery
/// drops). A cancellation from an enclosing scope comes back as plain [`Cancelled`](crate::Cancelled) for `?` to
/// carry outward.
///
/// # Panics
///
/// A panic in the body or a child cancels the nursery; once every child has exited, the panic
/// resumes here. Several panics, or a panic alongside errors, resume as one panic whose message
/// lists them all. Polling the future outside the scope or task where it was first polled
/// panics too, as [`CancelScope::run`] does.
///
/// # Cancellation
///
/// Opening a nursery is not a checkpoint; leaving it is a schedule point (it waits for the
/// children, or yields once if there are none). Waiting for the children cannot be aborted:
/// cancellation reaches the children instead. Dropping the future before it finishes drops
/// every child at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let sum = std::rc::Rc::new(std::cell::Cell::new(0));
///     trio::open_nursery(|nursery| {
///         let sum = sum.clone();
///         async move {
///             for i in 1..=3 {
///                 let sum = sum.clone();
///                 nursery.start_soon(async move { sum.set(sum.get() + i) });
///             }
///             Ok(())
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(sum.get(), 6);
/// });
/// ```
#[track_caller]
#[doc(alias = "JoinSet")]
#[doc(alias = "TaskGroup")]
#[doc(alias = "scope")]
pub fn open_nursery<F, Fut, T>(body: F) -> impl Future<Output = Result<T>>
where
    F: FnOnce(Nursery) -> Fut,
    Fut: Future<Output = Result<T>>,
    T: NurseryOutput,
{
    let origin = Location::caller();
    async move {
        let inner = Runtime::with_at(origin, |rt| NurseryInner::open(rt, origin));
        let points_at_open = inner.parent.as_ref().map(Task::schedule_points);
        let mut guard = NurseryGuard { inner: inner.clone(), armed: true };
        let body_name = || Failed::Body(inner.parent.clone());
        let outcome = CatchBody { status: inner.status.clone(), future: body(Nursery { inner: inner.clone() }) }.await;
        let mut value = None;
        match outcome {
            Ok(Ok(v)) => value = Some(v),
            Ok(Err(error)) => inner.add_error(body_name(), error),
            Err(payload) => inner.add_panic(body_name().name(), payload),
        }
        inner.body_running.set(false);
        inner.check_closed();
        if inner.closed.get() {
            // Leaving an empty nursery is a schedule point (as in Trio) — unless the body
            // already executed one, which keeps nested nurseries linear: otherwise each level
            // would yield on its way out and every yield re-polls the whole chain (O(depth²)).
            let yielded =
                points_at_open.is_some_and(|at_open| inner.parent.as_ref().map(Task::schedule_points) > Some(at_open));
            if !yielded {
                cancel_shielded_checkpoint().at(inner.origin).await;
            }
        } else {
            let (slot, unparker) = make_slot::<()>(What::Children(inner.origin), false, false);
            *inner.parent_waiter.borrow_mut() = Some(unparker);
            let _ = slot.at(inner.origin).await;
        }
        guard.armed = false;
        let catches = inner.status.catches_cancellation();
        inner.scope.exit();
        let (mut errors, panics) = inner.take_failures();
        if !panics.is_empty() {
            resume_panics(panics, name_failures(errors), inner.origin);
        }
        if catches {
            let mut removed = false;
            errors = errors
                .into_iter()
                .filter_map(|(who, error)| {
                    let (removed_here, rest) = error.without_cancellations();
                    removed |= removed_here;
                    rest.map(|error| (who, error))
                })
                .collect();
            if removed {
                inner.scope.set_cancelled_caught();
            }
        }
        if errors.is_empty() {
            return Ok(value.unwrap_or_else(T::cancelled));
        }
        if errors.iter().all(|(_, error)| error.is_cancelled()) {
            // Only cancellations: pass the first one on as it is, with its cause.
            let (_, first) = errors.swap_remove(0);
            return Err(first);
        }
        let errors = name_failures(errors);
        Err(ErrorGroup::new(errors, inner.origin.to_string()).into())
    }
}

struct NurseryGuard {
    inner: Rc<NurseryInner>,
    armed: bool,
}

impl Drop for NurseryGuard {
    fn drop(&mut self) {
        if self.armed {
            self.inner.abandon();
        }
    }
}

/// Resumes one panic as it was, or several (or a panic plus errors) as one combined panic.
fn resume_panics(mut panics: Vec<(String, PanicPayload)>, errors: Vec<GroupEntry>, origin: &Location<'_>) -> ! {
    if panics.len() == 1 && errors.iter().all(|entry| entry.error().is_cancelled()) {
        let (_, payload) = panics.pop().expect("one panic");
        std::panic::resume_unwind(payload);
    }
    let mut message = format!("{} task(s) panicked in the nursery opened at {origin}:", panics.len());
    for (task, payload) in &panics {
        message.push_str(&format!("\n  task `{task}` panicked: {}", panic_message(payload.as_ref())));
    }
    // Siblings the panic cancelled did not fail: only real failures are listed.
    for entry in errors.iter().filter(|entry| !entry.error().is_cancelled()) {
        message.push_str(&format!("\n  task `{}` failed: {}", entry.task(), entry.error()));
    }
    panic!("{message}");
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

pin_project! {
    /// Polls a nursery body inside the nursery's cancel status, catching a panic so the
    /// children can be cancelled and awaited before it resumes.
    struct CatchBody<F> {
        status: Rc<CancelStatus>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchBody<F> {
    type Output = std::result::Result<F::Output, PanicPayload>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let status = this.status;
        let future = this.future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| in_status(status, || future.poll(cx)))) {
            Ok(Poll::Pending) => {
                Runtime::with_opt(|rt| rt.note_pending_in(status));
                Poll::Pending
            }
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

// ===== start / TaskStatus =====

struct StartState<V> {
    target: Rc<NurseryInner>,
    /// The starting task's cancel status until `started`: a child of the caller's.
    private: Rc<CancelStatus>,
    task: RefCell<Option<Task>>,
    value: RefCell<Option<V>>,
    moved: Cell<bool>,
    exited: RefCell<Option<Outcome>>,
    caller: RefCell<Option<Unparker<()>>>,
    /// Invariant: the target's `pending_starts` counts this start exactly while `!resolved`.
    resolved: Cell<bool>,
}

impl<V> StartState<V> {
    fn resolve(&self) {
        if !self.resolved.replace(true) {
            self.target.pending_starts.set(self.target.pending_starts.get() - 1);
            self.target.check_closed();
        }
    }

    fn wake_caller(&self) {
        let caller = self.caller.borrow_mut().take();
        if let Some(caller) = caller {
            let _ = caller.unpark(());
        }
    }
}

impl<V> StartExit for StartState<V> {
    fn child_exited(&self, outcome: Outcome) {
        *self.exited.borrow_mut() = Some(outcome);
        self.private.detach();
        self.resolve();
        self.wake_caller();
    }

    fn target(&self) -> &Rc<NurseryInner> {
        &self.target
    }
}

/// Handed to a task started with [`Nursery::start`]; call [`started`](TaskStatus::started)
/// once the task is ready (Trio's `task_status`).
///
/// `started` takes the status by value, so calling it twice does not compile. A task that
/// returns without calling it makes `start` fail with [`RuntimeError`].
///
/// # Examples
///
/// ```
/// use trio::TaskStatus;
///
/// async fn service(task_status: TaskStatus) -> trio::Result<()> {
///     // … set up …
///     task_status.started(());
///     trio::sleep_forever().await?;
///     Ok(())
/// }
///
/// trio::run(async {
///     trio::open_nursery(|nursery| async move {
///         nursery.start(service).await?; // returns once the service is set up
///         assert_eq!(nursery.child_count(), 1);
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct TaskStatus<V = ()> {
    state: Option<Rc<StartState<V>>>,
}

impl<V: 'static> TaskStatus<V> {
    /// A status whose `started` does nothing, for calling a `start`-style function directly
    /// (Trio's `TASK_STATUS_IGNORED`).
    ///
    /// ```
    /// use trio::TaskStatus;
    ///
    /// async fn worker(task_status: TaskStatus) -> trio::Result<()> {
    ///     task_status.started(());
    ///     Ok(())
    /// }
    ///
    /// trio::run(async { worker(TaskStatus::ignored()).await.unwrap() });
    /// ```
    pub fn ignored() -> TaskStatus<V> {
        TaskStatus { state: None }
    }

    /// Reports that the task is ready: `start` returns `value`, and the task moves from the
    /// caller's cancel scopes into the target nursery. Synchronous; never a checkpoint.
    ///
    /// If the caller of `start` has been cancelled meanwhile, the task stays where it is (so
    /// the cancellation can finish it) and `start` returns the value once the task exits, as in
    /// Trio.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::TaskStatus;
    ///
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         let probe = nursery.clone();
    ///         let value = nursery
    ///             .start(|task_status: TaskStatus<&str>| async move {
    ///                 assert_eq!(probe.child_count(), 0); // still starting: not a child yet
    ///                 task_status.started("ready");
    ///                 assert_eq!(probe.child_count(), 1); // now it is
    ///                 Ok(())
    ///             })
    ///             .await?;
    ///         assert_eq!(value, "ready");
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn started(self, value: V) {
        let Some(state) = self.state else { return };
        *state.value.borrow_mut() = Some(value);
        if state.private.effectively_cancelled() {
            return;
        }
        let task = state.task.borrow().clone().expect("the started task is registered");
        let target = state.target.clone();
        *task.0.exit.borrow_mut() = ExitTarget::Nursery(target.clone());
        *task.0.base_status.borrow_mut() = target.status.clone();
        target.children.borrow_mut().insert(task.clone());
        state.private.move_contents_to(&target.status);
        Runtime::with(|rt| rt.status_moved(&task, &state.private, &target.status));
        state.private.detach();
        state.moved.set(true);
        state.resolve();
        state.wake_caller();
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus").field("ignored", &self.state.is_none()).finish()
    }
}

struct StartGuard<V> {
    state: Rc<StartState<V>>,
    armed: bool,
}

impl<V> Drop for StartGuard<V> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // The caller went away while the task was starting: the task belongs to the call.
        if !self.state.moved.get() {
            let task = self.state.task.borrow_mut().take();
            if let Some(task) = task {
                Runtime::with_opt(|rt| rt.drop_task(&task));
            }
            self.state.private.detach();
        }
        self.state.resolve();
    }
}

async fn start_impl<F, Fut, V>(
    target: Rc<NurseryInner>,
    f: F,
    name: TaskName,
    location: &'static Location<'static>,
) -> Result<V>
where
    F: FnOnce(TaskStatus<V>) -> Fut,
    Fut: Future + 'static,
    Fut::Output: TaskResult,
    V: 'static,
{
    if target.closed.get() {
        return Err(RuntimeError::with_message(format!(
            "the nursery opened at {} is closed to new arrivals",
            target.origin
        ))
        .into());
    }
    target.pending_starts.set(target.pending_starts.get() + 1);
    let (private, caller_id) = Runtime::with_at(location, |rt| {
        (CancelStatus::new_child(&rt.current_status(), None), rt.current_task_or_panic().id())
    });
    let state = Rc::new(StartState {
        target,
        private: private.clone(),
        task: RefCell::new(None),
        value: RefCell::new(None),
        moved: Cell::new(false),
        exited: RefCell::new(None),
        caller: RefCell::new(None),
        resolved: Cell::new(false),
    });
    let mut guard = StartGuard { state: state.clone(), armed: true };
    let future = wrap(f(TaskStatus { state: Some(state.clone()) }));
    let exit = ExitTarget::Start(state.clone());
    let task = Runtime::with(|rt| rt.spawn_task(future, name, location, private, exit, Some(caller_id)));
    let what = What::Started(super::task::WeakTask::new(&task));
    *state.task.borrow_mut() = Some(task);
    let (slot, unparker) = make_slot::<()>(what, false, false);
    *state.caller.borrow_mut() = Some(unparker);
    let _ = slot.await;
    guard.armed = false;
    if state.moved.get() {
        return Ok(state.value.borrow_mut().take().expect("started() stored a value"));
    }
    let outcome = state.exited.borrow_mut().take().expect("the starting task exited");
    match outcome {
        Err(payload) => std::panic::resume_unwind(payload),
        Ok(Err(error)) => Err(error),
        Ok(Ok(())) => match state.value.borrow_mut().take() {
            Some(value) => Ok(value),
            None => Err(RuntimeError::with_message("child exited without calling task_status.started()").into()),
        },
    }
}
