//! A cache of worker threads (Trio's `_core/_thread_cache.py`): a thread that finished its
//! work waits a while for more before it exits, so a burst of `to_thread` calls does not pay
//! for a new OS thread each time.
//!
//! Threads are kept by name. A thread's name is set when it is spawned and Rust cannot change
//! it later, so work that asks for a name only goes to an idle thread of that name (or a new
//! one): `std::thread::current().name()` inside the work is always the name it asked for.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Work for a thread. It must not unwind: callers catch panics inside it. What it returns
/// delivers its result; the thread calls that after it has joined the idle threads, so that
/// work started in reaction to the result can go to this same thread (as in Trio).
pub(crate) type Work = Box<dyn FnOnce() -> Deliver + Send>;

/// Hands a finished job's result over.
pub(crate) type Deliver = Box<dyn FnOnce() + Send>;

/// How long an idle thread waits for more work before it exits (Trio: 10 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A thread waiting for work.
struct Idle {
    /// Tells this wait from the thread's later ones.
    id: u64,
    name: String,
    /// Where to hand it work. Invariant: while the entry is in `IDLE`, its thread receives on
    /// the other end; a thread that leaves the list on its own takes its entry out first.
    work: mpsc::Sender<Work>,
}

/// Idle threads, the most recently idle last.
static IDLE: Mutex<Vec<Idle>> = Mutex::new(Vec::new());

/// Numbers for idle waits (identity only).
static NEXT_IDLE: AtomicU64 = AtomicU64::new(0);

/// Runs `work` on a thread named `name`: an idle cached one if there is one, else a new one.
///
/// # Errors
///
/// The OS refused to start a thread; `work` was dropped.
pub(crate) fn start_thread_soon(name: &str, work: Work) -> io::Result<()> {
    let idle = {
        let mut idle = lock_idle();
        idle.iter().rposition(|w| w.name == name).map(|i| idle.remove(i))
    };
    let work = match idle {
        // The thread left the list only through us, so it is receiving.
        Some(thread) => match thread.work.send(work) {
            Ok(()) => return Ok(()),
            Err(mpsc::SendError(work)) => work,
        },
        None => work,
    };
    let owned = name.to_string();
    std::thread::Builder::new().name(owned.clone()).spawn(move || worker(owned, work)).map(drop)
}

fn lock_idle() -> std::sync::MutexGuard<'static, Vec<Idle>> {
    IDLE.lock().unwrap_or_else(|e| e.into_inner())
}

fn worker(name: String, mut work: Work) {
    loop {
        let deliver = work();
        let (sender, receiver) = mpsc::channel();
        let id = NEXT_IDLE.fetch_add(1, Ordering::Relaxed);
        lock_idle().push(Idle { id, name: name.clone(), work: sender });
        deliver();
        work = match receiver.recv_timeout(IDLE_TIMEOUT) {
            Ok(next) => next,
            Err(RecvTimeoutError::Timeout) => {
                let mut idle = lock_idle();
                if let Some(i) = idle.iter().position(|w| w.id == id) {
                    idle.remove(i);
                    return;
                }
                drop(idle);
                // Someone took this thread off the list just now: its work is on the way.
                match receiver.recv() {
                    Ok(next) => next,
                    Err(_) => return,
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
    }
}
