//! Calling back into a run from a worker thread (Trio's `trio.from_thread`).
//!
//! A thread started by [`to_thread::run_sync`](crate::to_thread::run_sync) knows its run:
//! [`run`] and [`run_sync`] block the thread until the run has executed the call and hand back
//! its result. They run in the task waiting in `to_thread::run_sync` — inside its cancel
//! scopes — unless the job was started with `abandon_on_cancel(true)`, whose task may be gone:
//! then, as for [`run_with_token`] and [`run_sync_with_token`] from any other thread, an async
//! call runs in a new system task and a sync call between task steps.
//!
//! ```
//! trio::run(async {
//!     let doubled = trio::to_thread::run_sync(|| {
//!         // On the worker thread: borrow the run for a moment.
//!         let now = trio::from_thread::run(|| async { trio::current_time() }).unwrap();
//!         let twice = trio::from_thread::run_sync(|| 2 * 21).unwrap();
//!         (now, twice)
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(doubled.1, 42);
//! });
//! ```

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use futures::FutureExt;

use crate::error::{Cancelled, RunFinished};
use crate::lowlevel::TrioToken;
use crate::to_thread::{Call, Message, deliver, run_in_system_task, with_worker};

/// Runs the future `f` makes on the run this worker thread came from, blocking the thread until
/// it completes, and returns its output (Trio's `from_thread.run`).
///
/// `f` is called on the run's thread, so the future may hold `Rc`s; only `f` and the output
/// cross threads.
///
/// # Errors
///
/// [`RunFinished`] if the run has ended (or ends before the future could run), or if the
/// `to_thread::run_sync` future waiting for this thread is dropped while the future runs in its
/// task (dropping is cancelling): the future is dropped too, and nothing waits for the thread.
///
/// # Panics
///
/// A panic in `f` or its future resumes here, on the thread. Also panics when called from a
/// thread that [`to_thread::run_sync`](crate::to_thread::run_sync) did not start (use
/// [`run_with_token`]), or from inside a run (blocking there would deadlock).
///
/// # Cancellation
///
/// The future runs in the task waiting in `to_thread::run_sync`, inside its cancel scopes:
/// if they are cancelled, the future's checkpoints fail with `Cancelled` and it returns
/// whatever it makes of that. For an `abandon_on_cancel(true)` job it runs in a system task
/// instead, cancelled only when the run shuts down.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let slept = trio::to_thread::run_sync(|| {
///         // On the worker thread: sleep in the run, on the run's clock.
///         trio::from_thread::run(|| async {
///             let start = trio::current_time();
///             trio::sleep(Duration::from_millis(1)).await?;
///             Ok::<_, trio::Cancelled>(trio::current_time() - start)
///         })
///         .unwrap()
///     })
///     .await
///     .unwrap()
///     .unwrap();
///     assert!(slept >= Duration::from_millis(1));
/// });
/// ```
#[track_caller]
pub fn run<F, Fut, T>(f: F) -> Result<T, RunFinished>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let route = worker_route("from_thread::run");
    let (reply, answer) = mpsc::sync_channel(1);
    let token = send(route, Payload::Async(async_call(f, reply)));
    receive(&token, answer)
}

/// Runs `f` on the run this worker thread came from, blocking the thread until it has run,
/// and returns what it returned (Trio's `from_thread.run_sync`).
///
/// # Errors
///
/// [`RunFinished`] if the run has ended.
///
/// # Panics
///
/// As [`run`].
///
/// # Cancellation
///
/// `f` is synchronous: nothing in it can be cancelled.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// static SEEN: trio::lowlevel::RunVar<Rc<Cell<u32>>> = trio::lowlevel::RunVar::new("seen");
///
/// trio::run(async {
///     let seen = SEEN.get_or_init(Default::default);
///     trio::to_thread::run_sync(|| {
///         for _ in 0..3 {
///             // Runs on the run's thread, so it reaches the run's own state.
///             trio::from_thread::run_sync(|| {
///                 let seen = SEEN.get().unwrap();
///                 seen.set(seen.get() + 1);
///             })
///             .unwrap();
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(seen.get(), 3);
/// });
/// ```
#[track_caller]
pub fn run_sync<F, T>(f: F) -> Result<T, RunFinished>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let route = worker_route("from_thread::run_sync");
    let (reply, answer) = mpsc::sync_channel(1);
    let payload = match route {
        // In the waiting task, as a call that completes when first polled.
        Route::Host { .. } => Payload::Async(async_call(move || std::future::ready(f()), reply)),
        Route::System(_) => Payload::Sync(sync_call(f, reply)),
    };
    let token = send(route, payload);
    receive(&token, answer)
}

/// [`run`] from any thread, given the run's [`TrioToken`]: the future runs in a new system
/// task (Trio's `from_thread.run(..., trio_token=token)`).
///
/// # Errors
///
/// [`RunFinished`] if the run has ended.
///
/// # Panics
///
/// A panic in `f` or its future resumes here; also panics when called from inside a run.
///
/// # Cancellation
///
/// The system task is cancelled only when the run shuts down (its main task finished).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let token = trio::lowlevel::current_trio_token();
///     let (done_tx, done_rx) = futures::channel::oneshot::channel();
///     std::thread::spawn(move || {
///         let name = trio::from_thread::run_with_token(&token, || async {
///             trio::lowlevel::current_task().name().to_string()
///         });
///         done_tx.send(name).unwrap();
///     });
///     // Wait without blocking the run's thread (never `join` here: the thread needs the run).
///     let name = trio::cancellable(done_rx).await.unwrap().unwrap().unwrap();
///     assert!(!name.is_empty());
/// });
/// ```
#[track_caller]
pub fn run_with_token<F, Fut, T>(token: &TrioToken, f: F) -> Result<T, RunFinished>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    not_in_a_run("from_thread::run_with_token");
    let (reply, answer) = mpsc::sync_channel(1);
    send(Route::System(token.clone()), Payload::Async(async_call(f, reply)));
    receive(token, answer)
}

/// [`run_sync`] from any thread, given the run's [`TrioToken`]: `f` runs between task steps,
/// as a [`TrioToken::run_sync_soon`] callback does.
///
/// # Errors
///
/// [`RunFinished`] if the run has ended.
///
/// # Panics
///
/// A panic in `f` resumes here; also panics when called from inside a run.
///
/// # Cancellation
///
/// `f` is synchronous: nothing in it can be cancelled.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let token = trio::lowlevel::current_trio_token();
///     let (done_tx, done_rx) = futures::channel::oneshot::channel();
///     std::thread::spawn(move || done_tx.send(trio::from_thread::run_sync_with_token(&token, || 1 + 1)));
///     let two = trio::cancellable(done_rx).await.unwrap().unwrap().unwrap();
///     assert_eq!(two, 2);
/// });
/// ```
#[track_caller]
pub fn run_sync_with_token<F, T>(token: &TrioToken, f: F) -> Result<T, RunFinished>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    not_in_a_run("from_thread::run_sync_with_token");
    let (reply, answer) = mpsc::sync_channel(1);
    send(Route::System(token.clone()), Payload::Sync(sync_call(f, reply)));
    receive(token, answer)
}

/// Whether the task waiting for this worker thread's job has been cancelled (Trio's
/// `from_thread.check_cancelled`): a thread that cannot be stopped from outside can poll this
/// to stop early.
///
/// Once a cancellation has reached the waiting task, this keeps returning it — even if a
/// shield was raised in between (Trio mentions the same).
///
/// # Errors
///
/// `Err(Cancelled)` once the `to_thread::run_sync` call was cancelled (with or without
/// `abandon_on_cancel`).
///
/// # Panics
///
/// When called from a thread that [`to_thread::run_sync`](crate::to_thread::run_sync) did not
/// start.
///
/// # Cancellation
///
/// Synchronous: it only reports.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trio::run(async {
///     let outcome = trio::move_on_after(Duration::from_millis(5), async {
///         let steps = trio::to_thread::run_sync(|| {
///             // Work in small steps, stopping once the caller is cancelled.
///             let mut steps = 0u64;
///             while trio::from_thread::check_cancelled().is_ok() {
///                 steps += 1;
///                 std::thread::yield_now();
///             }
///             steps
///         })
///         .await?;
///         Ok(steps)
///     })
///     .await
///     .unwrap();
///     // Not abandoned: the call waited for the thread and returned what it returned.
///     assert!(outcome.is_some());
/// });
/// ```
#[track_caller]
pub fn check_cancelled() -> Result<(), Cancelled> {
    let cancelled = with_worker(|worker| match worker {
        Some(worker) => Ok(worker.shared.cancelled.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        None => Err(()),
    });
    match cancelled {
        Ok(None) => Ok(()),
        Ok(Some(cancelled)) => Err(cancelled),
        Err(()) => panic!(
            "from_thread::check_cancelled was called from a thread that trio::to_thread::run_sync did not start: \
             only such a thread has a trio call to watch"
        ),
    }
}

// ===== helpers =====

/// Where a call from a worker thread goes.
enum Route {
    /// To the task waiting for the job.
    Host { token: TrioToken, job: u64 },
    /// To the run as a whole: a system task, or between task steps.
    System(TrioToken),
}

/// The route for a call from this worker thread.
#[track_caller]
fn worker_route(what: &str) -> Route {
    not_in_a_run(what);
    let route = with_worker(|worker| {
        worker.map(|worker| match worker.abandon {
            false => Route::Host { token: worker.token.clone(), job: worker.job },
            true => Route::System(worker.token.clone()),
        })
    });
    match route {
        Some(route) => route,
        None => panic!(
            "{what} was called from a thread that trio::to_thread::run_sync did not start, so it does not know \
             which run to call; pass the run's TrioToken (trio::lowlevel::current_trio_token()) to the \
             *_with_token variant"
        ),
    }
}

#[track_caller]
fn not_in_a_run(what: &str) {
    if crate::lowlevel::in_run() {
        panic!(
            "{what} blocks its thread until the run has made the call, so it cannot be called from inside a \
             run (that would deadlock); await the code directly instead"
        );
    }
}

/// What goes back to the thread: the output, or the panic.
type Reply<T> = mpsc::SyncSender<std::thread::Result<T>>;

/// A call that makes the future on the run's thread and sends its output (or panic) back.
fn async_call<F, Fut, T>(f: F, reply: Reply<T>) -> Call
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    Box::new(move || {
        Box::pin(async move {
            let outcome = AssertUnwindSafe(async move { f().await }).catch_unwind().await;
            let _ = reply.send(outcome);
        })
    })
}

/// A callback that runs `f` and sends what it returned (or its panic) back.
fn sync_call<F, T>(f: F, reply: Reply<T>) -> Box<dyn FnOnce() + Send>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Box::new(move || {
        let _ = reply.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
    })
}

/// A call on its way to the run.
enum Payload {
    /// A future to run in a task.
    Async(Call),
    /// A callback to run between task steps (only on a system route).
    Sync(Box<dyn FnOnce() + Send>),
}

/// Queues a call on its route: to the waiting task, a system task, or between task steps. If
/// the run has ended, the call is dropped, which the thread sees as the reply channel closing.
/// Returns the run's token.
fn send(route: Route, payload: Payload) -> TrioToken {
    let token = match &route {
        Route::Host { token, .. } | Route::System(token) => token.clone(),
    };
    let _ = match (route, payload) {
        (Route::System(token), Payload::Sync(callback)) => token.run_sync_soon(callback),
        (Route::System(token), Payload::Async(call)) => token.run_sync_soon(move || run_in_system_task(call)),
        (Route::Host { token, job }, Payload::Async(call)) => {
            token.run_sync_soon(move || deliver(job, Message::Call(call)))
        }
        (Route::Host { .. }, Payload::Sync(_)) => {
            unreachable!("sync calls to the waiting task are sent as async calls")
        }
    };
    token
}

/// Blocks for the answer: the value, the call's panic resumed here, or `RunFinished` if the
/// call was dropped unmade or unfinished — because the run ended, or because the
/// `to_thread::run_sync` future that was running it in its task was dropped (the run goes on,
/// but nothing waits for this thread any more).
fn receive<T>(token: &TrioToken, answer: mpsc::Receiver<std::thread::Result<T>>) -> Result<T, RunFinished> {
    match answer.recv() {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        // A run that still takes callbacks has not finished: the waiting task dropped the call.
        Err(mpsc::RecvError) => Err(match token.run_sync_soon(|| ()) {
            Err(_) => RunFinished::with_message("the run finished before it could make the call"),
            Ok(()) => RunFinished::with_message(
                "the call was dropped unfinished with the to_thread::run_sync future that ran it in its task; \
                 nothing waits for this thread's result any more",
            ),
        }),
    }
}
