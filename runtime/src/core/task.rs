//! Tasks: identity, the future, per-task bookkeeping and the waker.
//!
//! A spawned task is one allocation: a [`TaskCell`] holds the bookkeeping ([`TaskCore`]) and
//! the future itself, inline, reached through the [`TaskBody`] trait object. The waker is not
//! part of it: a task gets one when it is first polled, from the run's pool of wakers that
//! finished tasks gave back, so a task that finishes in its first poll costs no allocation for
//! its waker either.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use super::cancel::CancelStatus;
use super::nursery::ExitTarget;
use super::runtime::Runtime;
use super::wait::WaitList;
use crate::error::Error;

/// What a task ended with: its result, or the payload of the panic that ended it.
pub(crate) type Outcome = Result<Result<(), Error>, Box<dyn std::any::Any + Send>>;

// ===== TaskId =====

/// A task's identity: sequential within a run, starting at 1 for the main task.
///
/// Ids are never reused within a run and do not depend on addresses, so the same program under
/// the same seed gives every task the same id.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let main = trio::lowlevel::current_task().id();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             let me = trio::lowlevel::current_task().id();
///             assert!(me > main); // ids count up in spawn order
///             assert_eq!(me.to_string(), me.as_u64().to_string());
///         });
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The number behind the id.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     assert_eq!(trio::lowlevel::current_task().id().as_u64(), 1); // the main task
    /// });
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a task lives in the runtime's slab: index plus generation, so a stale waker for a
/// finished task never reaches the task that reused its slot.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) struct TaskKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

// ===== Task =====

/// A handle to a task: its id, name, where it was spawned, and its checkpoint counters
/// (Trio's `trio.lowlevel.Task`).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let me = trio::lowlevel::current_task();
///     assert_eq!(me.id().as_u64(), 1);
///     assert!(me.parent().is_none());
/// });
/// ```
#[derive(Clone)]
pub struct Task(pub(crate) Rc<TaskCell<dyn TaskBody>>);

/// A handle that does not keep its task alive: for what a task's own waits say about other
/// tasks (the holder of a lock, the task a `start` waits for). A strong handle there would
/// close a cycle — task → cancel status → its waits → the wait's description → task — and
/// every task on it would outlive its run.
#[derive(Clone)]
pub(crate) struct WeakTask {
    /// The task's id, which stays known after the task is gone.
    pub(crate) id: TaskId,
    task: std::rc::Weak<TaskCell<dyn TaskBody>>,
}

impl WeakTask {
    pub(crate) fn new(task: &Task) -> WeakTask {
        WeakTask { id: task.0.id, task: Rc::downgrade(&task.0) }
    }

    /// The task, if something still holds it.
    pub(crate) fn upgrade(&self) -> Option<Task> {
        self.task.upgrade().map(Task)
    }
}

/// A task's one allocation: its bookkeeping, then its future (unsized: `B` is the concrete
/// future's slot, erased to `dyn TaskBody` once the task is made).
pub(crate) struct TaskCell<B: ?Sized> {
    pub(crate) core: TaskCore,
    pub(crate) body: B,
}

/// The bookkeeping fields are reached as if `TaskCell` were a `TaskCore`.
impl<B: ?Sized> Deref for TaskCell<B> {
    type Target = TaskCore;

    fn deref(&self) -> &TaskCore {
        &self.core
    }
}

/// What the run loop does with a task's future, whatever its type.
pub(crate) trait TaskBody {
    /// Polls the future once. `None` if there is none to poll: the main task (its future is
    /// polled by `run` itself), a finished task, or a task whose future is being polled.
    fn poll_body(&self, cx: &mut Context<'_>) -> Option<Poll<Result<(), Error>>>;

    /// Whether the future is there to be polled.
    fn has_future(&self) -> bool;

    /// Drops the future where it lies, unless it is being polled right now (then the caller
    /// drops it once the poll has returned).
    fn drop_future(&self);
}

/// A spawned task's future, inline. Invariant: once the task is made the future never moves
/// — it is polled in place and dropped in place (`*slot = None`), never taken out — which is
/// what makes polling it through a pinned reference sound.
pub(crate) struct FutureSlot<F> {
    future: RefCell<Option<F>>,
}

impl<F> FutureSlot<F> {
    pub(crate) fn new(future: F) -> FutureSlot<F> {
        FutureSlot { future: RefCell::new(Some(future)) }
    }
}

impl<F: Future<Output = Result<(), Error>>> TaskBody for FutureSlot<F> {
    #[allow(unsafe_code, reason = "pinning a future that lives inside the task's own allocation")]
    fn poll_body(&self, cx: &mut Context<'_>) -> Option<Poll<Result<(), Error>>> {
        let mut slot = self.future.try_borrow_mut().ok()?;
        let future = slot.as_mut()?;
        // SAFETY: the future lives inside the task's `Rc` allocation, which never moves, and the
        // slot never moves it out: it is only polled here and dropped in place by `drop_future`
        // or with the allocation. So it stays at this address until it is dropped, which is
        // the guarantee `Pin` asks for.
        let future = unsafe { Pin::new_unchecked(future) };
        Some(future.poll(cx))
    }

    fn has_future(&self) -> bool {
        self.future.try_borrow().is_ok_and(|slot| slot.is_some())
    }

    fn drop_future(&self) {
        if let Ok(mut slot) = self.future.try_borrow_mut() {
            // Dropped in place (assignment drops the old value where it is), keeping the pin.
            *slot = None;
        }
    }
}

/// The main task's body: its future is polled in place by `run`.
pub(crate) struct NoFuture;

impl TaskBody for NoFuture {
    fn poll_body(&self, _cx: &mut Context<'_>) -> Option<Poll<Result<(), Error>>> {
        None
    }

    fn has_future(&self) -> bool {
        false
    }

    fn drop_future(&self) {}
}

pub(crate) struct TaskCore {
    /// The task's slot in the run's slab and the generation it was made with.
    pub(crate) key: TaskKey,
    /// Sequential per run, starting at 1 with the main task; never reused within a run.
    pub(crate) id: TaskId,
    /// Where the name comes from; the name itself is worked out the first time it is asked
    /// for (reports and instruments), not at every spawn.
    pub(crate) name_source: TaskName,
    /// The name, once worked out from `name_source`.
    pub(crate) name: std::cell::OnceCell<String>,
    /// Where the task was spawned (for the main task: where `run` was called).
    pub(crate) location: &'static Location<'static>,
    /// The task that started it; `None` for the main task.
    pub(crate) parent: Option<TaskId>,
    /// Invariant: true for exactly one task of a run, the first (`id` 1).
    pub(crate) is_main: bool,
    /// Invariant: `scheduled` is true exactly while the task's key is in the run queue.
    pub(crate) scheduled: Cell<bool>,
    /// Set once the task has exited or been dropped; a finished task is never polled again.
    pub(crate) finished: Cell<bool>,
    /// Set when the task's last poll returned `Pending` with no trio wait registered: it is
    /// blocked on a future from outside trio.
    pub(crate) foreign: Cell<bool>,
    /// The cancel status a poll of this task starts in: its nursery's, or a `start` call's
    /// private one until `started` moves it.
    pub(crate) base_status: RefCell<Rc<CancelStatus>>,
    /// Waits this task registered, for deadlock reports and foreign-wait detection.
    pub(crate) waits: RefCell<WaitList>,
    /// Where the task's outcome goes when it exits; `Detached` once it has gone there.
    pub(crate) exit: RefCell<ExitTarget>,
    /// The task's waker, lent to every poll: `None` until the first poll, while a poll has
    /// it out, and once the task has finished (the run then takes it back for reuse).
    pub(crate) waker: Cell<Option<TaskWakers>>,
    /// Cancel points executed so far (what `assert_checkpoints` reads; numbers injections).
    pub(crate) cancel_points: Cell<u64>,
    /// Schedule points executed so far.
    pub(crate) schedule_points: Cell<u64>,
    /// Where the task last yielded, and the trio call it is inside (for traces).
    pub(crate) sites: super::wait::TaskSites,
    /// Callbacks run when the task exits, by registration id.
    pub(crate) exit_hooks: RefCell<Vec<(u64, ExitCallback)>>,
    /// The task's slot among its nursery's children.
    pub(crate) nursery_slot: Cell<usize>,
    /// The id the next exit hook gets.
    pub(crate) next_exit_hook: Cell<u64>,
}

/// A task's exit hooks with their ids (registration order is id order).
pub(crate) type ExitHooks = Vec<(u64, ExitCallback)>;

pub(crate) enum ExitCallback {
    Once(Box<dyn FnOnce(&Task)>),
    Shared(Rc<dyn Fn(&Task)>),
}

impl ExitCallback {
    fn call(self, task: &Task) {
        match self {
            ExitCallback::Once(hook) => hook(task),
            ExitCallback::Shared(hook) => hook(task),
        }
    }
}

/// A registration made with [`Task::on_exit`]; pass it to [`Task::cancel_exit_hook`] to undo it.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let task = trio::lowlevel::current_task();
///     let hook: trio::lowlevel::ExitHook = task.on_exit(|_| unreachable!("undone before exit"));
///     assert!(task.cancel_exit_hook(hook));
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitHook(u64);

impl Task {
    /// The task's id.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let task = trio::lowlevel::current_task();
    ///     assert_eq!(task.id(), trio::lowlevel::current_root_task().id());
    /// });
    /// ```
    pub fn id(&self) -> TaskId {
        self.0.id
    }

    /// The task's name: given with `start_soon_named`, or derived from the spawned future's
    /// type (an `async fn child1` in module `demo` is named `demo::child1`), or, for async
    /// blocks, the enclosing function plus the spawn site.
    ///
    /// # Examples
    ///
    /// ```
    /// async fn worker() {
    ///     let task = trio::lowlevel::current_task();
    ///     assert!(task.name().ends_with("worker")); // `<module path>::worker`
    /// }
    ///
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(worker());
    ///         nursery.start_soon_named("janitor", async {
    ///             assert_eq!(trio::lowlevel::current_task().name(), "janitor");
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn name(&self) -> &str {
        self.0.name.get_or_init(|| match &self.0.name_source {
            TaskName::Given(name) => name.clone(),
            TaskName::FromType(type_name) => name_from_type(type_name, self.0.location),
        })
    }

    /// Where the task was spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         let line = line!() + 1;
    ///         nursery.start_soon(async {});
    ///         let child = nursery.child_tasks().pop().unwrap();
    ///         assert_eq!(child.spawn_location().line(), line);
    ///         assert_eq!(child.spawn_location().file(), file!());
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn spawn_location(&self) -> &'static Location<'static> {
        self.0.location
    }

    /// The task that opened the nursery this task runs in; `None` for the main task and system
    /// tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let main = trio::lowlevel::current_task();
    ///     assert_eq!(main.parent(), None);
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async move {
    ///             assert_eq!(trio::lowlevel::current_task().parent(), Some(main.id()));
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn parent(&self) -> Option<TaskId> {
        self.0.parent
    }

    /// How many cancel points the task has executed (checkpoints and blocking waits).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let task = trio::lowlevel::current_task();
    ///     let before = task.cancel_points();
    ///     trio::lowlevel::checkpoint_if_cancelled().await.unwrap(); // a cancel point only
    ///     assert_eq!(task.cancel_points(), before + 1);
    /// });
    /// ```
    pub fn cancel_points(&self) -> u64 {
        self.0.cancel_points.get()
    }

    /// How many schedule points the task has executed (times it yielded to the scheduler).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let task = trio::lowlevel::current_task();
    ///     let (cancel, schedule) = (task.cancel_points(), task.schedule_points());
    ///     trio::lowlevel::cancel_shielded_checkpoint().await; // a schedule point only
    ///     assert_eq!(task.schedule_points(), schedule + 1);
    ///     assert_eq!(task.cancel_points(), cancel);
    /// });
    /// ```
    pub fn schedule_points(&self) -> u64 {
        self.0.schedule_points.get()
    }

    /// `true` once the task has exited.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let child = trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async {});
    ///         let child = nursery.child_tasks().pop().unwrap();
    ///         assert!(!child.has_exited());
    ///         Ok(Some(child))
    ///     })
    ///     .await
    ///     .unwrap()
    ///     .unwrap();
    ///     assert!(child.has_exited());
    /// });
    /// ```
    pub fn has_exited(&self) -> bool {
        self.0.finished.get()
    }

    /// Descriptions of what the task is blocked on right now (empty if it is runnable or
    /// running, or blocked on a future from outside trio).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trio::run(async {
    ///     let event = std::rc::Rc::new(trio::Event::new());
    ///     let e = event.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async move {
    ///             e.wait().await?;
    ///             Ok(())
    ///         });
    ///         trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
    ///         let child = nursery.child_tasks().pop().unwrap();
    ///         assert_eq!(child.waiting_on().len(), 1);
    ///         assert!(trio::lowlevel::current_task().waiting_on().is_empty()); // running
    ///         event.set();
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn waiting_on(&self) -> Vec<String> {
        self.0.waits.borrow().live_descriptions()
    }

    /// Runs `hook` when the task exits — returns, fails, panics, or is dropped with its
    /// nursery — before its nursery hears of it. A task that has already exited runs the hook
    /// at once. This is how a lock breaks when its owner exits while holding it (Trio's
    /// `add_parking_lot_breaker`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// trio::run(async {
    ///     let saw = Rc::new(Cell::new(false));
    ///     let flag = saw.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async move {
    ///             trio::lowlevel::current_task().on_exit(move |_task| flag.set(true));
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert!(saw.get());
    /// });
    /// ```
    pub fn on_exit(&self, hook: impl FnOnce(&Task) + 'static) -> ExitHook {
        self.register_exit_hook(ExitCallback::Once(Box::new(hook)))
    }

    /// [`on_exit`](Task::on_exit) with a hook shared between registrations: registering it
    /// again (say, each time a lock is acquired) costs no allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio::lowlevel::Task;
    ///
    /// trio::run(async {
    ///     let exits = Rc::new(Cell::new(0));
    ///     let counter = exits.clone();
    ///     let hook: Rc<dyn Fn(&Task)> = Rc::new(move |_task| counter.set(counter.get() + 1));
    ///     trio::open_nursery(|nursery| async move {
    ///         for _ in 0..3 {
    ///             let hook = hook.clone();
    ///             nursery.start_soon(async move {
    ///                 trio::lowlevel::current_task().on_exit_shared(&hook);
    ///             });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(exits.get(), 3);
    /// });
    /// ```
    pub fn on_exit_shared(&self, hook: &Rc<dyn Fn(&Task)>) -> ExitHook {
        self.register_exit_hook(ExitCallback::Shared(hook.clone()))
    }

    fn register_exit_hook(&self, hook: ExitCallback) -> ExitHook {
        let id = self.0.next_exit_hook.get();
        self.0.next_exit_hook.set(id + 1);
        if self.0.finished.get() {
            hook.call(self);
        } else {
            let mut hooks = self.0.exit_hooks.borrow_mut();
            if hooks.capacity() == 0 {
                // A list a finished task of the run left, if there is one: hooks registered
                // and undone on every lock acquire then allocate nothing per task.
                Runtime::with_opt(|rt| {
                    if let Some(spare) = rt.spare_exit_hooks() {
                        *hooks = spare;
                    }
                });
            }
            hooks.push((id, hook));
        }
        ExitHook(id)
    }

    /// Undoes an [`on_exit`](Task::on_exit) registration. Returns `false` if it already ran or
    /// was undone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// trio::run(async {
    ///     let ran = Rc::new(Cell::new(false));
    ///     let flag = ran.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async move {
    ///             let task = trio::lowlevel::current_task();
    ///             let hook = task.on_exit(move |_| flag.set(true));
    ///             assert!(task.cancel_exit_hook(hook));
    ///             assert!(!task.cancel_exit_hook(hook)); // already undone
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert!(!ran.get());
    /// });
    /// ```
    pub fn cancel_exit_hook(&self, hook: ExitHook) -> bool {
        let mut hooks = self.0.exit_hooks.borrow_mut();
        match hooks.iter().position(|(id, _)| *id == hook.0) {
            Some(i) => {
                drop(hooks.swap_remove(i));
                true
            }
            None => false,
        }
    }

    /// Runs and clears the exit hooks (the task has just finished), and returns their list,
    /// empty, for another task to reuse.
    pub(crate) fn run_exit_hooks(&self) -> ExitHooks {
        let mut hooks = std::mem::take(&mut *self.0.exit_hooks.borrow_mut());
        hooks.sort_by_key(|(id, _)| *id);
        for (_, hook) in hooks.drain(..) {
            hook.call(self);
        }
        hooks
    }

    pub(crate) fn key(&self) -> TaskKey {
        self.0.key
    }
}

impl PartialEq for Task {
    fn eq(&self, other: &Task) -> bool {
        std::ptr::addr_eq(Rc::as_ptr(&self.0), Rc::as_ptr(&other.0))
    }
}

impl Eq for Task {}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.0.id)
            .field("name", &self.name())
            .field("spawned_at", &format_args!("{}", self.0.location))
            .finish()
    }
}

// ===== naming =====

/// Where a task's name comes from.
pub(crate) enum TaskName {
    /// Given with `start_soon_named` and friends.
    Given(String),
    /// The spawned future's type name (see [`name_from_type`]).
    FromType(&'static str),
}

/// The name source for a future of type `F`: cheap, the work happens in [`Task::name`].
pub(crate) fn default_task_name<F>() -> TaskName {
    TaskName::FromType(std::any::type_name::<F>())
}

/// Trio names a task after its function. The closest Rust has is the future's type name: an
/// `async fn` gives `path::to::function::{{closure}}`. Async blocks have no name of their own,
/// so they are named after the enclosing function and the spawn site.
pub(crate) fn name_from_type(full: &str, location: &Location<'_>) -> String {
    // Generic parameters are noise in a task name; cut them before looking for closures.
    let base = match full.find('<') {
        Some(i) => &full[..i],
        None => full,
    };
    let trimmed = base.strip_suffix("::{{closure}}").unwrap_or(base);
    if !trimmed.contains("{{closure}}") && trimmed != base {
        return trimmed.to_string();
    }
    let enclosing = match trimmed.find("::{{closure}}") {
        Some(i) => &trimmed[..i],
        None => trimmed,
    };
    let file = location.file().rsplit(['/', '\\']).next().unwrap_or(location.file());
    format!("{enclosing}@{file}:{}", location.line())
}

// ===== TaskWaker =====

/// State shared with other threads: the injection queue for wakes that arrive off the run's
/// thread, and the handle used to unpark it.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) runtime_id: u64,
    pub(crate) injected: Mutex<Vec<TaskKey>>,
    /// Set after a push to `injected` or `entries` (or to make the loop look again), so the
    /// loop only takes the locks when there is something.
    pub(crate) pending: std::sync::atomic::AtomicBool,
    pub(crate) thread: Thread,
    /// Callbacks from `TrioToken::run_sync_soon`, oldest first.
    pub(crate) entries: Mutex<super::entry::EntryQueue>,
    /// `TrioToken`s alive; the run holds none itself. Invariant: exact (each clone adds one,
    /// each drop takes one away).
    pub(crate) tokens_outside: std::sync::atomic::AtomicUsize,
    /// Set by the signal thread when Ctrl-C arrives for this run; the loop takes it.
    pub(crate) ki_pending: std::sync::atomic::AtomicBool,
    /// Set once the loop has cancelled the run for Ctrl-C: a second one is not ours to handle.
    pub(crate) ki_delivered: std::sync::atomic::AtomicBool,
    /// The reactor's waker, once the run has a reactor: from then on the loop waits in the
    /// poller, not parked, and a wake from another thread must go through it.
    #[cfg(unix)]
    pub(crate) io_waker: std::sync::OnceLock<mio::Waker>,
}

impl Shared {
    /// The shared state of a new run, owned by the current thread's loop.
    pub(crate) fn new(runtime_id: u64) -> Shared {
        Shared {
            runtime_id,
            injected: Mutex::new(Vec::new()),
            pending: std::sync::atomic::AtomicBool::new(false),
            thread: std::thread::current(),
            entries: Mutex::new(Default::default()),
            tokens_outside: std::sync::atomic::AtomicUsize::new(0),
            ki_pending: std::sync::atomic::AtomicBool::new(false),
            ki_delivered: std::sync::atomic::AtomicBool::new(false),
            #[cfg(unix)]
            io_waker: std::sync::OnceLock::new(),
        }
    }

    /// Back to the state of a new run, keeping the queues' memory. Only for state that the run
    /// and its pooled wakers alone hold (so nothing can push meanwhile) and that never had a
    /// reactor's waker.
    pub(crate) fn reset(&self) {
        self.injected.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.pending.store(false, Ordering::Relaxed);
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).reset();
        self.tokens_outside.store(0, Ordering::Relaxed);
        self.ki_pending.store(false, Ordering::Relaxed);
        self.ki_delivered.store(false, Ordering::Relaxed);
    }

    pub(crate) fn inject(&self, key: TaskKey) {
        self.injected.lock().unwrap_or_else(|e| e.into_inner()).push(key);
        self.wake_loop();
    }

    /// Makes the loop look at its queues: its current or next wait returns at once.
    pub(crate) fn wake_loop(&self) {
        use std::sync::atomic::{Ordering, fence};
        self.pending.store(true, Ordering::SeqCst);
        // Pairs with the fence in the loop between making the reactor and reading `pending`:
        // either the loop sees `pending`, or this sees the waker.
        fence(Ordering::SeqCst);
        #[cfg(unix)]
        if let Some(waker) = self.io_waker.get() {
            // Failing to wake an eventfd means the counter is full: a wake is pending anyway.
            let _ = waker.wake();
            return;
        }
        self.thread.unpark();
    }
}

/// The `Send + Sync` waker of one task. On the run's own thread a wake goes straight into the
/// run queue; from anywhere else it goes through the injection queue and unparks the loop.
///
/// Reused: when its task finishes and nobody else holds it, the run keeps it and lends it to a
/// later task, with that task's key.
#[derive(Debug)]
pub(crate) struct TaskWaker {
    /// The task's key, packed (`index | generation << 32`). Invariant: changed only while the
    /// run holds the only references (in its pool), so no wake can see a key change.
    key: AtomicU64,
    pub(crate) shared: Arc<Shared>,
}

impl TaskWaker {
    fn key(&self) -> TaskKey {
        let packed = self.key.load(Ordering::Relaxed);
        TaskKey { index: packed as u32, generation: (packed >> 32) as u32 }
    }
}

fn pack(key: TaskKey) -> u64 {
    u64::from(key.index) | (u64::from(key.generation) << 32)
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let key = self.key();
        if Runtime::schedule_if_current(self.shared.runtime_id, key) {
            return;
        }
        self.shared.inject(key);
    }
}

/// A task's waker with a handle on its shared state, whose reference count tells whether
/// anyone but the run holds the waker.
pub(crate) struct TaskWakers {
    state: Arc<TaskWaker>,
    pub(crate) waker: Waker,
}

impl TaskWakers {
    /// A new waker for the task with `key`.
    pub(crate) fn new(key: TaskKey, shared: &Arc<Shared>) -> TaskWakers {
        let state = Arc::new(TaskWaker { key: AtomicU64::new(pack(key)), shared: shared.clone() });
        TaskWakers { waker: Waker::from(state.clone()), state }
    }

    /// Whether a clone of the waker is held outside the run (by a wait, a foreign future,
    /// another thread). Invariant: the run's own two handles are the baseline.
    pub(crate) fn held_elsewhere(&self) -> bool {
        Arc::strong_count(&self.state) > 2
    }

    /// How many clones of the waker are held outside the run (see
    /// [`held_elsewhere`](TaskWakers::held_elsewhere)).
    pub(crate) fn clones_elsewhere(&self) -> usize {
        Arc::strong_count(&self.state).saturating_sub(2)
    }

    /// Readdresses a pooled waker to the task with `key`.
    pub(crate) fn readdress(&self, key: TaskKey) {
        debug_assert!(!self.held_elsewhere(), "only a waker nobody else holds is lent again");
        self.state.key.store(pack(key), Ordering::Relaxed);
    }
}
