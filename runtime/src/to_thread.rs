//! Running blocking code on worker threads without blocking the run (Trio's `trio.to_thread`).
//!
//! [`run_sync`] hands a closure to a worker thread and waits for its result while the other
//! tasks keep running. From inside the thread, [`from_thread`](crate::from_thread) calls back
//! into the run.
//!
//! ```
//! trio::run(async {
//!     let sum = trio::to_thread::run_sync(|| (1..=100u64).sum::<u64>()).await.unwrap();
//!     assert_eq!(sum, 5050);
//! });
//! ```
//!
//! A job on a thread is a wait *outside* the runtime: while one runs, a mock clock does not
//! autojump, `wait_all_tasks_blocked` does not wake, and the run is never declared deadlocked
//! (Trio's issue #456, fixed). A job that was abandoned on cancellation counts until its thread
//! really finishes.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::error::Cancelled;
use crate::error::SyncError;
use crate::lowlevel::{RunVar, Unparker, checkpoint_if_cancelled, park_slot, spawn_system_task};
use crate::lowlevel::{TrioToken, current_trio_token};
use crate::sync::{Borrower, CapacityLimiter};
use crate::thread_cache;

/// How many threads [`run_sync`] runs at once by default (Trio's `DEFAULT_LIMIT`).
const DEFAULT_LIMIT: usize = 40;

/// The name of a worker thread unless [`RunSync::thread_name`] gives another.
const DEFAULT_THREAD_NAME: &str = "trio.to_thread.run_sync";

static DEFAULT_LIMITER: RunVar<Rc<CapacityLimiter>> = RunVar::new("trio::to_thread default limiter");
static JOBS: RunVar<Rc<Jobs>> = RunVar::new("trio::to_thread jobs");

/// The [`CapacityLimiter`] that [`run_sync`] uses unless given another: one per run, with 40
/// tokens (Trio's `current_default_thread_limiter`). Change its size with
/// [`set_total_tokens`](CapacityLimiter::set_total_tokens).
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let limiter = trio::to_thread::current_default_thread_limiter();
///     assert_eq!(limiter.total_tokens(), trio::Capacity::Bounded(40));
///     limiter.set_total_tokens(2); // at most two threads at once from now on
/// });
/// ```
#[track_caller]
pub fn current_default_thread_limiter() -> Rc<CapacityLimiter> {
    DEFAULT_LIMITER.get_or_init(|| Rc::new(CapacityLimiter::new(DEFAULT_LIMIT)))
}

/// Runs `f` on a worker thread and waits for what it returns (Trio's `to_thread.run_sync`).
///
/// Returns a [`RunSync`] to `.await`; its methods set the options first:
/// [`abandon_on_cancel`](RunSync::abandon_on_cancel), [`limiter`](RunSync::limiter) and
/// [`thread_name`](RunSync::thread_name).
///
/// Threads come from a cache: a thread that finished a job waits 10 s for another job that
/// asks for the same thread name before it exits.
///
/// # Errors
///
/// `Err(Cancelled)` if the call was cancelled before the thread started, or — with
/// `abandon_on_cancel(true)` — while it ran.
///
/// # Panics
///
/// A panic in `f` resumes in the calling task, with its original payload (Trio re-raises the
/// thread's exception). Also panics outside a run, and if the operating system refuses to
/// start a thread.
///
/// # Cancellation
///
/// A cancel point first: if the scope is already cancelled, nothing runs. Waiting for a token
/// of the limiter is a checkpoint too; cancelled there, nothing ran. Once the thread runs:
///
/// - by default the call cannot be cancelled (no thread can be stopped from outside): it waits
///   for the thread and returns its result, and the next checkpoint sees the cancellation.
///   The thread can notice with [`from_thread::check_cancelled`](crate::from_thread::check_cancelled);
/// - with `abandon_on_cancel(true)` it returns `Err(Cancelled)` at once. The thread runs on;
///   what it returns (or a panic) is dropped, and its limiter token goes back when it
///   really finishes.
///
/// A normal return has always executed a checkpoint.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let name = trio::to_thread::run_sync(|| std::thread::current().name().map(str::to_string))
///         .thread_name("resize-images")
///         .await
///         .unwrap();
///     assert_eq!(name.as_deref(), Some("resize-images"));
///
///     // A job that would block for a long time, abandoned when its deadline passes.
///     let (_keep, never) = std::sync::mpsc::channel::<()>();
///     let outcome = trio::move_on_after(Duration::from_millis(10), async move {
///         trio::to_thread::run_sync(move || never.recv().ok()).abandon_on_cancel(true).await?;
///         Ok(())
///     })
///     .await
///     .unwrap();
///     assert_eq!(outcome, None);
/// });
/// ```
#[track_caller]
pub fn run_sync<F, T>(f: F) -> RunSync<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    RunSync { f, abandon_on_cancel: false, limiter: None, thread_name: None, location: Location::caller() }
}

/// A [`run_sync`] call: set its options, then `.await` it.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// trio::run(async {
///     let one_at_a_time = Rc::new(trio::CapacityLimiter::new(1));
///     let call = trio::to_thread::run_sync(|| 6 * 7)
///         .limiter(one_at_a_time.clone())
///         .thread_name("answer")
///         .abandon_on_cancel(false);
///     assert_eq!(call.await.unwrap(), 42);
///     assert_eq!(one_at_a_time.borrowed_tokens(), 0); // given back before the call returned
/// });
/// ```
#[must_use = "a RunSync does nothing until it is awaited"]
pub struct RunSync<F> {
    f: F,
    abandon_on_cancel: bool,
    limiter: Option<Rc<CapacityLimiter>>,
    thread_name: Option<String>,
    location: &'static Location<'static>,
}

impl<F> RunSync<F> {
    /// Whether a cancellation abandons the thread (default `false`). See [`run_sync`]'s
    /// `# Cancellation`.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     let handle = scope.clone();
    ///     let (release, wait) = std::sync::mpsc::channel::<()>();
    ///     let outcome = scope
    ///         .run(async move {
    ///             let job = trio::to_thread::run_sync(move || wait.recv().ok()).abandon_on_cancel(true);
    ///             handle.cancel(); // cancelled before the job starts: the thread never runs
    ///             job.await?;
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(outcome, None);
    ///     drop(release);
    /// });
    /// ```
    pub fn abandon_on_cancel(mut self, abandon: bool) -> RunSync<F> {
        self.abandon_on_cancel = abandon;
        self
    }

    /// The limiter to take a token from while the thread runs, instead of
    /// [`current_default_thread_limiter`]. The token is given back when the thread finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// trio::run(async {
    ///     let limiter = Rc::new(trio::CapacityLimiter::new(3));
    ///     let seen = trio::to_thread::run_sync(|| ()).limiter(limiter.clone()).await;
    ///     assert!(seen.is_ok());
    ///     assert_eq!(limiter.borrowed_tokens(), 0);
    /// });
    /// ```
    pub fn limiter(mut self, limiter: Rc<CapacityLimiter>) -> RunSync<F> {
        self.limiter = Some(limiter);
        self
    }

    /// The name of the thread that runs the job (default `trio.to_thread.run_sync`), as
    /// `std::thread::current().name()` shows it there. Threads are cached by name.
    ///
    /// # Panics
    ///
    /// If `name` contains a NUL byte (the operating system cannot take it).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let name = trio::to_thread::run_sync(|| std::thread::current().name().unwrap().to_string())
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(name, "trio.to_thread.run_sync");
    /// });
    /// ```
    #[track_caller]
    pub fn thread_name(mut self, name: impl Into<String>) -> RunSync<F> {
        let name = name.into();
        assert!(!name.contains('\0'), "to_thread::run_sync: the thread name {name:?} contains a NUL byte; remove it");
        self.thread_name = Some(name);
        self
    }
}

impl<F, T> IntoFuture for RunSync<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = Result<T, Cancelled>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, Cancelled>>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(host(self))
    }
}

impl<F> fmt::Debug for RunSync<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunSync")
            .field("abandon_on_cancel", &self.abandon_on_cancel)
            .field("limiter", &self.limiter)
            .field("thread_name", &self.thread_name.as_deref().unwrap_or(DEFAULT_THREAD_NAME))
            .field("called_at", &format_args!("{}", self.location))
            .finish_non_exhaustive()
    }
}

// ===== the calling task's side =====

/// The task waiting in `run_sync`: waits for messages from its thread, runs the calls the
/// thread makes with `from_thread`, and returns the job's outcome.
async fn host<F, T>(spec: RunSync<F>) -> Result<T, Cancelled>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let RunSync { f, abandon_on_cancel: abandon, limiter, thread_name, location } = spec;
    crate::lowlevel::ensure_in_run(location);
    checkpoint_if_cancelled().await?;
    let limiter = limiter.unwrap_or_else(current_default_thread_limiter);
    let borrower = Borrower::unique();
    limiter.acquire_on_behalf_of(&borrower).await.map_err(|error| match error {
        SyncError::Cancelled(cancelled) => cancelled,
        other => unreachable!("a fresh borrower only waits or is cancelled: {other}"),
    })?;

    let jobs = JOBS.get_or_init(Default::default);
    let id = jobs.next.get();
    jobs.next.set(id + 1);
    let mailbox = Rc::new(Mailbox::default());
    jobs.entries
        .borrow_mut()
        .insert(id, JobEntry { limiter: limiter.clone(), borrower: borrower.clone(), host: Some(mailbox.clone()) });
    let _guard = HostGuard { jobs: jobs.clone(), id, mailbox: mailbox.clone() };

    let shared = Arc::new(JobShared::default());
    let context = WorkerContext { token: current_trio_token(), job: id, abandon, shared: shared.clone() };
    let name = thread_name.unwrap_or_else(|| DEFAULT_THREAD_NAME.to_string());
    if let Err(error) = thread_cache::start_thread_soon(&name, Box::new(move || run_job(context, f))) {
        jobs.entries.borrow_mut().remove(&id);
        let _ = limiter.release_on_behalf_of(&borrower);
        panic!("to_thread::run_sync (called at {location}) could not start a thread: {error}");
    }

    let what = format!("worker thread `{name}` (to_thread::run_sync at {location})");
    // Set once a cancellation reached a job that is not abandoned: the wait goes on, shielded.
    let mut cancelled = false;
    loop {
        let Some(message) = mailbox.pop() else {
            let (slot, unparker) = park_slot::<()>(what.clone());
            let slot = slot.external();
            *mailbox.waiter.borrow_mut() = Some(unparker);
            let woke = if cancelled {
                match crate::CancelScope::shielded().run(async move { Ok(slot.await?) }).await {
                    Ok(_) => Ok(()),
                    Err(_) => unreachable!("nothing cancels a shielded scope nobody else holds"),
                }
            } else {
                slot.await
            };
            if let Err(cancellation) = woke {
                *shared.cancelled.lock().unwrap_or_else(|e| e.into_inner()) = Some(cancellation.clone());
                if abandon {
                    return Err(cancellation);
                }
                cancelled = true;
            }
            continue;
        };
        match message {
            Message::Done(Ok(value)) => {
                return Ok(*value.downcast::<T>().expect("a job's outcome has the job's own type"));
            }
            Message::Done(Err(payload)) => std::panic::resume_unwind(payload),
            Message::Call(call) => call().await,
        }
    }
}

/// Runs on the worker thread; returns how to deliver the outcome.
fn run_job<F, T>(context: WorkerContext, f: F) -> thread_cache::Deliver
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let token = context.token.clone();
    let job = context.job;
    WORKER.with(|worker| *worker.borrow_mut() = Some(context));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(f)).map(|value| Box::new(value) as Box<dyn Any + Send>);
    let context = WORKER.with(|worker| worker.borrow_mut().take());
    drop(context);
    Box::new(move || {
        // After the run ended nobody is left to tell: the outcome is dropped here.
        let _ = token.run_sync_soon(move || deliver(job, Message::Done(outcome)));
    })
}

/// Stops a job's mailbox from taking messages once its task no longer waits (it returned,
/// was abandoned on cancellation, or its future was dropped).
struct HostGuard {
    jobs: Rc<Jobs>,
    id: u64,
    mailbox: Rc<Mailbox>,
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        if let Some(entry) = self.jobs.entries.borrow_mut().get_mut(&self.id) {
            entry.host = None;
        }
        // Calls the thread made that the task will not run now go to system tasks, so the
        // thread still gets its answer.
        let pending = std::mem::take(&mut *self.mailbox.messages.borrow_mut());
        for message in pending {
            if let Message::Call(call) = message
                && crate::lowlevel::in_run()
            {
                run_in_system_task(call);
            }
        }
    }
}

// ===== state shared with the run and with the threads =====

/// What a worker thread sends to the run.
pub(crate) enum Message {
    /// The job's outcome: what the closure returned, or its panic.
    Done(std::thread::Result<Box<dyn Any + Send>>),
    /// A `from_thread` call to run in the waiting task.
    Call(Call),
}

/// A `from_thread` call: made on the thread, turned into a future on the run's thread. The
/// future sends the answer back itself.
pub(crate) type Call = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// The run's thread jobs that have not finished.
#[derive(Default)]
struct Jobs {
    /// The id the next job gets.
    next: Cell<u64>,
    /// By job id. Invariant: an entry exists from the moment the job's limiter token is taken
    /// until its `Done` message arrives (then the token goes back).
    entries: RefCell<BTreeMap<u64, JobEntry>>,
}

struct JobEntry {
    limiter: Rc<CapacityLimiter>,
    borrower: Borrower,
    /// The waiting task's mailbox; `None` once it no longer waits.
    host: Option<Rc<Mailbox>>,
}

/// Messages for the waiting task, and how to wake it.
#[derive(Default)]
struct Mailbox {
    messages: RefCell<VecDeque<Message>>,
    /// The task's current wait, if it is parked.
    waiter: RefCell<Option<Unparker<()>>>,
}

impl Mailbox {
    fn pop(&self) -> Option<Message> {
        self.messages.borrow_mut().pop_front()
    }

    fn push(&self, message: Message) {
        self.messages.borrow_mut().push_back(message);
        if let Some(waiter) = self.waiter.borrow_mut().take() {
            // Refused only if the wait was just aborted: the task finds the message next time.
            let _ = waiter.unpark(());
        }
    }
}

/// Runs on the run's thread: hands `message` to the task waiting for job `job`, or — if it no
/// longer waits — deals with it here.
pub(crate) fn deliver(job: u64, message: Message) {
    let Some(jobs) = JOBS.get() else { return };
    match message {
        Message::Done(outcome) => {
            let Some(entry) = jobs.entries.borrow_mut().remove(&job) else { return };
            // The token goes back before the task sees the result (as in Trio).
            let _ = entry.limiter.release_on_behalf_of(&entry.borrower);
            if let Some(mailbox) = entry.host {
                mailbox.push(Message::Done(outcome));
            }
        }
        Message::Call(call) => {
            let host = jobs.entries.borrow().get(&job).and_then(|entry| entry.host.clone());
            match host {
                Some(mailbox) => mailbox.push(Message::Call(call)),
                None => run_in_system_task(call),
            }
        }
    }
}

/// Runs a `from_thread` call in a system task of its own. Once the run's loop has ended the
/// system nursery takes no new task: the call is dropped, which tells the thread the run
/// finished (`RunFinished`), as Trio does when its system nursery is closed.
pub(crate) fn run_in_system_task(call: Call) {
    if crate::lowlevel::system_nursery_closed() {
        drop(call);
        return;
    }
    spawn_system_task(call());
}

/// Shared by a job's task and its thread.
#[derive(Default)]
pub(crate) struct JobShared {
    /// The cancellation delivered to the waiting task, if one was (for `check_cancelled`).
    pub(crate) cancelled: Mutex<Option<Cancelled>>,
}

/// What a worker thread knows while it runs a job.
pub(crate) struct WorkerContext {
    /// The run the job came from.
    pub(crate) token: TrioToken,
    pub(crate) job: u64,
    pub(crate) abandon: bool,
    pub(crate) shared: Arc<JobShared>,
}

thread_local! {
    /// Set on a worker thread while it runs a job.
    static WORKER: RefCell<Option<WorkerContext>> = const { RefCell::new(None) };
}

/// Runs `f` with the context of the job this thread runs, if it runs one.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&WorkerContext>) -> R) -> R {
    WORKER.with(|worker| f(worker.borrow().as_ref()))
}
