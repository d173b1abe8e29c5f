//! The entry queue: how other threads get back into a run (Trio's `TrioToken` and
//! `run_sync_soon`, `_core/_entry_queue.py`).
//!
//! A [`TrioToken`] is a `Send + Sync` handle on one run. [`TrioToken::run_sync_soon`] queues
//! a callback in the run's [`Shared`] state and wakes the loop the way a wake from another
//! thread does; the loop runs queued callbacks, first in first out, each time it looks at the
//! injection queue — also while the run is idle. Once the run's loop has ended the queue is
//! closed: callbacks already queued still run, later ones are refused with [`RunFinished`].
//!
//! A token held anywhere but in the run itself is something that can wake the run from
//! outside: while one exists, the run neither autojumps nor reports a deadlock (the rule that
//! holds for a waker held by another thread). Clones are counted exactly, and dropping the
//! last outside clone wakes the loop so that it looks again.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::nursery::panic_message;
use super::runtime::Runtime;
use super::task::Shared;
use crate::error::RunFinished;

/// A callback queued with [`TrioToken::run_sync_soon`].
pub(crate) type EntryJob = Box<dyn FnOnce() + Send>;

/// The callbacks waiting to run, and whether the run still takes new ones.
#[derive(Default)]
pub(crate) struct EntryQueue {
    /// Oldest first.
    jobs: VecDeque<EntryJob>,
    /// Set once the run's loop has ended. Invariant: no job is pushed after it is set, and the
    /// jobs queued before it was set all run (`Runtime::close_entry_queue`).
    closed: bool,
}

impl fmt::Debug for EntryQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntryQueue").field("jobs", &self.jobs.len()).field("closed", &self.closed).finish()
    }
}

impl EntryQueue {
    /// Open and empty again, as a new run's (its memory kept).
    pub(crate) fn reset(&mut self) {
        self.jobs.clear();
        self.closed = false;
    }
}

// ===== TrioToken =====

/// A handle on one run that other threads use to get back into it (Trio's
/// `trio.lowlevel.TrioToken`). Get it with [`current_trio_token`] inside the run; it is
/// `Send + Sync`, cheap to clone, and equal only to tokens of the same run.
///
/// While a token is held outside the run (by another thread, a struct, a task's variable),
/// the run treats it as a wait outside the runtime: something may still call
/// [`run_sync_soon`](TrioToken::run_sync_soon). So it neither autojumps a mock clock nor
/// reports a deadlock, and `wait_all_tasks_blocked` waits. Drop tokens you no longer need.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
///
/// trio::run(async {
///     let token = trio::lowlevel::current_trio_token();
///     assert_eq!(token, trio::lowlevel::current_trio_token()); // one token per run
///     let (tx, rx) = futures::channel::oneshot::channel();
///     let thread = std::thread::spawn(move || {
///         // Runs `tx.send` on the run's thread, soon.
///         token.run_sync_soon(move || tx.send(7).unwrap()).unwrap();
///     });
///     assert_eq!(trio::cancellable(rx).await.unwrap(), Ok(7));
///     thread.join().unwrap();
/// });
/// ```
pub struct TrioToken {
    shared: Arc<Shared>,
}

impl TrioToken {
    /// Runs `callback` on the run's thread soon (Trio's `run_sync_soon`): safe to call from any
    /// thread, including the run's own. Callbacks run in the order they were queued, between
    /// task steps — even while every task is blocked.
    ///
    /// A callback runs outside any task: it may set events, unpark waiters, use channels'
    /// non-blocking methods and spawn system tasks, but [`current_task`](crate::lowlevel::current_task)
    /// panics there. A callback that panics stops the run, as a failing system task does (Trio
    /// converts the exception into `TrioInternalError`).
    ///
    /// Not for signal handlers: it takes a lock.
    ///
    /// # Cancellation
    ///
    /// Synchronous: not a checkpoint. The callback itself cannot be cancelled.
    ///
    /// # Errors
    ///
    /// [`RunFinished`] once the run's loop has ended; `callback` is dropped. A call that
    /// returns `Ok` is guaranteed to run before [`trio::run`](crate::run) returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let token = trio::run(async {
    ///     let token = trio::lowlevel::current_trio_token();
    ///     let log = Arc::new(Mutex::new(Vec::new()));
    ///     let (done_tx, done_rx) = futures::channel::oneshot::channel();
    ///     let (thread_token, thread_log) = (token.clone(), log.clone());
    ///     let thread = std::thread::spawn(move || {
    ///         for i in 0..3 {
    ///             let log = thread_log.clone();
    ///             thread_token.run_sync_soon(move || log.lock().unwrap().push(i)).unwrap();
    ///         }
    ///         thread_token.run_sync_soon(move || done_tx.send(()).unwrap()).unwrap();
    ///     });
    ///     trio::cancellable(done_rx).await.unwrap().unwrap();
    ///     assert_eq!(*log.lock().unwrap(), [0, 1, 2]); // in the order they were queued
    ///     thread.join().unwrap();
    ///     token
    /// });
    /// // The run has ended.
    /// assert!(token.run_sync_soon(|| ()).is_err());
    /// ```
    pub fn run_sync_soon(&self, callback: impl FnOnce() + Send + 'static) -> Result<(), RunFinished> {
        {
            let mut queue = self.shared.entries.lock().unwrap_or_else(|e| e.into_inner());
            if queue.closed {
                return Err(RunFinished::new());
            }
            queue.jobs.push_back(Box::new(callback));
        }
        self.shared.wake_loop();
        Ok(())
    }
}

impl Clone for TrioToken {
    fn clone(&self) -> TrioToken {
        TrioToken::new(self.shared.clone())
    }
}

impl Drop for TrioToken {
    fn drop(&mut self) {
        // The last token outside the run: the loop may be waiting only because of it, so it
        // must look again.
        if self.shared.tokens_outside.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.wake_loop();
        }
    }
}

impl PartialEq for TrioToken {
    fn eq(&self, other: &TrioToken) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for TrioToken {}

impl Hash for TrioToken {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.shared.runtime_id.hash(state);
    }
}

impl fmt::Debug for TrioToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrioToken").finish_non_exhaustive()
    }
}

impl TrioToken {
    fn new(shared: Arc<Shared>) -> TrioToken {
        shared.tokens_outside.fetch_add(1, Ordering::AcqRel);
        TrioToken { shared }
    }
}

/// The current run's [`TrioToken`] (Trio's `trio.lowlevel.current_trio_token`).
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// let (a, b) = (trio::run(async { trio::lowlevel::current_trio_token() }), trio::run(async {
///     trio::lowlevel::current_trio_token()
/// }));
/// assert_ne!(a, b); // each run has its own
/// ```
#[track_caller]
pub fn current_trio_token() -> TrioToken {
    Runtime::with(|rt| TrioToken::new(rt.shared().clone()))
}

// ===== the loop's side =====

impl Shared {
    /// Tokens held outside the run.
    pub(crate) fn tokens_outside(&self) -> usize {
        self.tokens_outside.load(Ordering::Acquire)
    }

    /// Callbacks queued and not yet run.
    pub(crate) fn entry_queue_len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).jobs.len()
    }
}

impl Runtime {
    /// Runs the callbacks queued so far — not those they queue (Trio runs a bounded batch too).
    /// Returns whether any ran.
    pub(crate) fn run_entry_jobs(&self) -> bool {
        let jobs = std::mem::take(&mut self.shared().entries.lock().unwrap_or_else(|e| e.into_inner()).jobs);
        let any = !jobs.is_empty();
        for job in jobs {
            self.run_entry_job(job);
        }
        any
    }

    /// Closes the queue once the loop has ended and runs what was queued before.
    pub(crate) fn close_entry_queue(&self) {
        let jobs = {
            let mut queue = self.shared().entries.lock().unwrap_or_else(|e| e.into_inner());
            queue.closed = true;
            std::mem::take(&mut queue.jobs)
        };
        for job in jobs {
            self.run_entry_job(job);
        }
    }

    fn run_entry_job(&self, job: EntryJob) {
        if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(job)) {
            self.note_system_failure(format!(
                "a TrioToken::run_sync_soon callback panicked: {}",
                panic_message(payload.as_ref())
            ));
        }
    }
}
