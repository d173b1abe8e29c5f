//! Unix signals in a run (Trio's `trio.open_signal_receiver`), and Ctrl-C.
//!
//! [`open_signal_receiver`] catches signals for as long as its [`SignalReceiver`] lives, and
//! hands them over one at a time with [`SignalReceiver::next`]. Ctrl-C (`SIGINT`) during
//! [`trio::run`](crate::run) on the main thread cancels the whole run instead (see
//! [`Builder::keyboard_interrupt`](crate::Builder::keyboard_interrupt)).
//!
//! One thread of the process waits for every signal trio has been asked about
//! (`signal-hook`'s iterator, which is async-signal-safe) and passes each on to the runs that
//! listen for it. A signal that arrives while nothing listens gets its default action, as if
//! trio had never handled it — so closing a receiver restores the signal's behaviour (for
//! signals whose disposition was the default; see `docs/design.md`).
//!
//! ```
//! use trio::signal::{SIGWINCH, open_signal_receiver};
//!
//! trio::run(async {
//!     let mut signals = open_signal_receiver(&[SIGWINCH]).unwrap();
//!     trio::signal::raise(SIGWINCH).unwrap(); // as if the terminal was resized
//!     assert_eq!(signals.next().await.unwrap(), SIGWINCH);
//! });
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use signal_hook::iterator::{Handle, Signals};

use crate::core::runtime::KiHandle;
use crate::error::Cancelled;
use crate::lowlevel::{RunVar, Unparker, cancel_shielded_checkpoint, checkpoint_if_cancelled, park_slot};
use crate::lowlevel::{TrioToken, current_trio_token};

/// Hangup: a terminal closed, or — by convention for daemons — "reload your configuration".
pub const SIGHUP: i32 = signal_hook::consts::SIGHUP;
/// Interrupt: Ctrl-C.
pub const SIGINT: i32 = signal_hook::consts::SIGINT;
/// Quit: Ctrl-\.
pub const SIGQUIT: i32 = signal_hook::consts::SIGQUIT;
/// Kill: cannot be caught.
pub const SIGKILL: i32 = signal_hook::consts::SIGKILL;
/// Terminate: the polite request to stop.
pub const SIGTERM: i32 = signal_hook::consts::SIGTERM;
/// User-defined signal 1.
pub const SIGUSR1: i32 = signal_hook::consts::SIGUSR1;
/// User-defined signal 2.
pub const SIGUSR2: i32 = signal_hook::consts::SIGUSR2;
/// A child process stopped or exited.
pub const SIGCHLD: i32 = signal_hook::consts::SIGCHLD;
/// The terminal window changed size.
pub const SIGWINCH: i32 = signal_hook::consts::SIGWINCH;

/// Starts catching `signals` in this run (Trio's `open_signal_receiver`): until the returned
/// receiver is dropped, each of them is queued for [`SignalReceiver::next`] instead of getting
/// its usual effect.
///
/// While a receiver is open the run counts as waiting for something outside it (a signal may
/// come), so it is never declared deadlocked and a mock clock does not autojump.
///
/// Receivers nest as Trio's handlers do: a signal goes to the newest open receiver that catches
/// it (in any run of the process), and to the one before once that closes. A receiver of
/// `SIGINT` takes Ctrl-C over: the run is not cancelled by it while the receiver is open.
///
/// # Errors
///
/// `InvalidInput` for an empty list, and for a signal that cannot be caught (`SIGKILL`,
/// `SIGSTOP`, and those `signal-hook` reserves: `SIGILL`, `SIGFPE`, `SIGSEGV`) or a number
/// that is no signal.
///
/// # Panics
///
/// Outside a run.
///
/// # Cancellation
///
/// Synchronous: not a checkpoint.
///
/// # Examples
///
/// ```
/// use trio::signal::{SIGHUP, SIGKILL, open_signal_receiver};
///
/// trio::run(async {
///     assert!(open_signal_receiver(&[SIGKILL]).is_err());
///     assert!(open_signal_receiver(&[]).is_err());
///     let receiver = open_signal_receiver(&[SIGHUP]).unwrap();
///     drop(receiver); // SIGHUP has its usual effect again
/// });
/// ```
#[track_caller]
pub fn open_signal_receiver(signals: &[i32]) -> io::Result<SignalReceiver> {
    crate::lowlevel::ensure_in_run(Location::caller());
    if signals.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "open_signal_receiver: no signals were given"));
    }
    let mut unique: Vec<i32> = signals.to_vec();
    unique.sort_unstable();
    unique.dedup();
    for &signal in &unique {
        check_catchable(signal)?;
    }
    let hub = hub()?;
    for &signal in &unique {
        hub.handle.add_signal(signal)?;
    }
    let registry = RECEIVERS.get_or_init(Default::default);
    let id = {
        let mut registry = registry.borrow_mut();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        registry.receivers.insert(id, Rc::new(ReceiverState::default()));
        id
    };
    let token = current_trio_token();
    {
        let mut listeners = hub.listeners.lock().unwrap_or_else(|e| e.into_inner());
        for &signal in &unique {
            listeners.entry(signal).or_default().push(Listener::Receiver { id, token: token.clone() });
        }
    }
    let state = registry.borrow().receivers.get(&id).cloned().expect("just inserted");
    Ok(SignalReceiver { id, signals: unique, state })
}

/// Sends `signal` to this process (the standard `raise`): for tests, and for re-delivering a
/// signal.
///
/// # Errors
///
/// The operating system's error (an invalid signal number).
///
/// # Examples
///
/// ```
/// use trio::signal::{SIGWINCH, open_signal_receiver, raise};
///
/// trio::run(async {
///     let mut signals = open_signal_receiver(&[SIGWINCH]).unwrap();
///     raise(SIGWINCH).unwrap();
///     assert_eq!(signals.next().await.unwrap(), SIGWINCH);
///     assert_eq!(signals.pending(), 0);
/// });
/// ```
pub fn raise(signal: i32) -> io::Result<()> {
    signal_hook::low_level::raise(signal)
}

/// Signals caught for this run (Trio's signal receiver), made by [`open_signal_receiver`].
/// Dropping it stops catching them; signals still pending then are delivered again to the
/// process, as Trio does, so none is lost — with their default action if nothing else listens.
///
/// A signal that arrives while the same signal is still pending here is merged with it (Trio
/// coalesces the same way): [`next`](SignalReceiver::next) says *that* it came, not how often.
///
/// # Examples
///
/// ```
/// use trio::signal::{SIGHUP, SIGWINCH, open_signal_receiver, raise};
///
/// trio::run(async {
///     let mut signals = open_signal_receiver(&[SIGWINCH, SIGHUP]).unwrap();
///     raise(SIGWINCH).unwrap();
///     assert_eq!(signals.next().await.unwrap(), SIGWINCH);
///     assert_eq!(signals.signals(), [SIGHUP, SIGWINCH]); // sorted
/// });
/// ```
pub struct SignalReceiver {
    id: u64,
    signals: Vec<i32>,
    state: Rc<ReceiverState>,
}

impl SignalReceiver {
    /// Waits for the next signal and returns its number, oldest first.
    ///
    /// # Errors
    ///
    /// `Err(Cancelled)` if cancelled; the signal stays pending.
    ///
    /// # Panics
    ///
    /// Outside a task of a run. (Two tasks cannot wait at once: `next` takes `&mut self`,
    /// where Trio checks at run time.)
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled call takes no signal.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::signal::{SIGUSR2, open_signal_receiver};
    ///
    /// trio::run(async {
    ///     let mut signals = open_signal_receiver(&[SIGUSR2]).unwrap();
    ///     let outcome = trio::move_on_after(Duration::from_millis(5), async {
    ///         signals.next().await?;
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(outcome, None); // nobody sent one
    /// });
    /// ```
    pub async fn next(&mut self) -> Result<i32, Cancelled> {
        checkpoint_if_cancelled().await?;
        let ready = self.state.pending.borrow_mut().pop_front();
        if let Some(signal) = ready {
            cancel_shielded_checkpoint().await;
            return Ok(signal);
        }
        loop {
            let (slot, unparker) = park_slot::<()>(format!("a signal ({})", names(&self.signals)));
            *self.state.waiter.borrow_mut() = Some(unparker);
            slot.await?;
            if let Some(signal) = self.state.pending.borrow_mut().pop_front() {
                return Ok(signal);
            }
        }
    }

    /// How many distinct signals wait to be taken.
    ///
    /// # Examples
    ///
    /// See [`raise`].
    pub fn pending(&self) -> usize {
        self.state.pending.borrow().len()
    }

    /// The signals this receiver catches, in ascending order.
    ///
    /// # Examples
    ///
    /// See [`SignalReceiver`].
    pub fn signals(&self) -> &[i32] {
        &self.signals
    }
}

impl Drop for SignalReceiver {
    fn drop(&mut self) {
        if let Some(hub) = HUB.get().and_then(|hub| hub.as_ref().ok()) {
            let mut listeners = hub.listeners.lock().unwrap_or_else(|e| e.into_inner());
            for signal in &self.signals {
                if let Some(list) = listeners.get_mut(signal) {
                    list.retain(|l| !matches!(l, Listener::Receiver { id, .. } if *id == self.id));
                }
            }
        }
        if crate::lowlevel::in_run()
            && let Some(registry) = RECEIVERS.get()
        {
            registry.borrow_mut().receivers.remove(&self.id);
        }
        // Trio re-delivers what is still pending, so a signal that arrived just before the
        // receiver closed is not lost.
        for signal in self.state.pending.borrow_mut().drain(..) {
            let _ = raise(signal);
        }
    }
}

impl fmt::Debug for SignalReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalReceiver")
            .field("signals", &self.signals)
            .field("pending", &*self.state.pending.borrow())
            .finish()
    }
}

// ===== per run =====

/// Receiver ids, unique in the process: the signal thread's listeners of every run are told
/// apart by them.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The run's open receivers, by id.
#[derive(Default)]
struct Receivers {
    receivers: BTreeMap<u64, Rc<ReceiverState>>,
}

static RECEIVERS: RunVar<Rc<RefCell<Receivers>>> = RunVar::new("trio::signal receivers");

#[derive(Default)]
struct ReceiverState {
    /// Distinct signals in the order they first arrived. Invariant: no duplicates.
    pending: RefCell<VecDeque<i32>>,
    /// The task waiting in `next`, if one is.
    waiter: RefCell<Option<Unparker<()>>>,
}

/// Runs on the run's thread: queue `signal` for receiver `id`.
fn deliver(id: u64, signal: i32) {
    let state = RECEIVERS.get().and_then(|registry| registry.borrow().receivers.get(&id).cloned());
    match state {
        Some(state) => {
            {
                let mut pending = state.pending.borrow_mut();
                if !pending.contains(&signal) {
                    pending.push_back(signal);
                }
            }
            if let Some(waiter) = state.waiter.borrow_mut().take() {
                let _ = waiter.unpark(());
            }
        }
        // Closed meanwhile: deliver it again, as a receiver closing with it pending would.
        None => {
            let _ = raise(signal);
        }
    }
}

// ===== the process's signal thread =====

/// Who listens for a signal.
enum Listener {
    /// An open receiver of some run.
    Receiver { id: u64, token: TrioToken },
    /// A run that turns Ctrl-C into a cancellation.
    KeyboardInterrupt { run: u64, handle: KiHandle },
}

struct Hub {
    handle: Handle,
    listeners: Mutex<BTreeMap<i32, Vec<Listener>>>,
}

static HUB: OnceLock<io::Result<Hub>> = OnceLock::new();

/// The process's signal thread, started on first use.
fn hub() -> io::Result<&'static Hub> {
    let hub = HUB.get_or_init(|| {
        let mut signals = Signals::new(Vec::<i32>::new())?;
        let handle = signals.handle();
        std::thread::Builder::new().name("trio signals".into()).spawn(move || {
            for signal in signals.forever() {
                dispatch(signal);
            }
        })?;
        Ok(Hub { handle, listeners: Mutex::new(BTreeMap::new()) })
    });
    hub.as_ref().map_err(|e| io::Error::new(e.kind(), e.to_string()))
}

/// On the signal thread: pass `signal` to whoever listens, or give it its default action.
///
/// As in Trio, where each receiver installs its handler over the one before, only the newest
/// open receiver gets the signal (the one under it gets signals again once it closes), and a
/// receiver of `SIGINT` takes Ctrl-C away from the runs that would be cancelled by it.
fn dispatch(signal: i32) {
    let Some(Ok(hub)) = HUB.get() else { return };
    let mut delivered = false;
    {
        let listeners = hub.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let listeners = listeners.get(&signal).map(Vec::as_slice).unwrap_or_default();
        for listener in listeners.iter().rev() {
            if let Listener::Receiver { id, token } = listener {
                let id = *id;
                if token.run_sync_soon(move || deliver(id, signal)).is_ok() {
                    delivered = true;
                    break;
                }
            }
        }
        if !delivered {
            for listener in listeners {
                if let Listener::KeyboardInterrupt { handle, .. } = listener {
                    handle.interrupt();
                    delivered = true;
                }
            }
        }
    }
    if !delivered {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }
}

/// Makes Ctrl-C cancel run `run` (through `handle`) until [`stop_keyboard_interrupt`].
pub(crate) fn start_keyboard_interrupt(run: u64, handle: KiHandle) -> io::Result<()> {
    let hub = hub()?;
    hub.handle.add_signal(SIGINT)?;
    hub.listeners
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(SIGINT)
        .or_default()
        .push(Listener::KeyboardInterrupt { run, handle });
    Ok(())
}

/// Ctrl-C no longer concerns run `run`.
pub(crate) fn stop_keyboard_interrupt(run: u64) {
    if let Some(Ok(hub)) = HUB.get()
        && let Some(list) = hub.listeners.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&SIGINT)
    {
        list.retain(|l| !matches!(l, Listener::KeyboardInterrupt { run: r, .. } if *r == run));
    }
}

/// Refuses what `signal-hook` would panic on: signals it forbids, and numbers out of range.
fn check_catchable(signal: i32) -> io::Result<()> {
    if signal_hook::consts::FORBIDDEN.contains(&signal) || !(1..=64).contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "open_signal_receiver: signal {signal} cannot be caught (SIGKILL, SIGSTOP, SIGILL, SIGFPE and SIGSEGV                  cannot, and numbers outside 1..=64 are not signals)"
            ),
        ));
    }
    Ok(())
}

/// `SIGHUP, SIGUSR1` — for reports.
fn names(signals: &[i32]) -> String {
    signals
        .iter()
        .map(|&s| match s {
            SIGHUP => "SIGHUP".to_string(),
            SIGINT => "SIGINT".to_string(),
            SIGQUIT => "SIGQUIT".to_string(),
            SIGTERM => "SIGTERM".to_string(),
            SIGUSR1 => "SIGUSR1".to_string(),
            SIGUSR2 => "SIGUSR2".to_string(),
            SIGCHLD => "SIGCHLD".to_string(),
            SIGWINCH => "SIGWINCH".to_string(),
            other => format!("signal {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
