//! `TrioToken` and `run_sync_soon` (Trio's entry queue): callbacks from other threads run on the
//! run's thread in FIFO order, also while the run is idle; a token held outside the run counts
//! as a wait outside the runtime; after the run, `RunFinished`. Every test is bounded by the
//! watchdog and orders threads with channels, never with sleeps.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use trio::abc::Instrument;
use trio::lowlevel::{RunVar, TrioToken, current_trio_token};
use trio::{Builder, Event, RunErrorKind};
use trio_testkit::MockClock;

/// Ends a test that hangs, with a report, instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(30);

fn bounded() -> Builder {
    Builder::new().watchdog(LIMIT)
}

static EVENT: RunVar<Rc<Event>> = RunVar::new("the event a callback sets");

#[test]
fn a_token_is_send_sync_clone_and_names_its_run() {
    fn assert_send_sync<T: Send + Sync + Clone + Eq + std::hash::Hash + std::fmt::Debug>() {}
    assert_send_sync::<TrioToken>();
    let (a, b) = bounded().run(async { (current_trio_token(), current_trio_token()) });
    assert_eq!(a, b);
    assert_eq!(a, a.clone());
    let other = bounded().run(async { current_trio_token() });
    assert_ne!(a, other);
}

#[test]
fn callbacks_from_another_thread_run_in_the_order_they_were_queued() {
    let order = bounded().run(async {
        let token = current_trio_token();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done_rx) = futures::channel::oneshot::channel::<std::thread::ThreadId>();
        let (thread_log, run_thread) = (log.clone(), std::thread::current().id());
        let thread = std::thread::spawn(move || {
            for i in 0..100 {
                let log = thread_log.clone();
                token.run_sync_soon(move || log.lock().unwrap().push(i)).unwrap();
            }
            token.run_sync_soon(move || done_tx.send(std::thread::current().id()).unwrap()).unwrap();
        });
        let ran_on = trio::cancellable(done_rx).await.unwrap().unwrap();
        assert_eq!(ran_on, run_thread, "callbacks run on the run's thread");
        thread.join().unwrap();
        log.lock().unwrap().clone()
    });
    assert_eq!(order, (0..100).collect::<Vec<_>>());
}

/// Every task waits on a trio primitive (no external wait), and only a thread holding the
/// token can wake them: the run must neither report a deadlock nor miss the callback.
#[test]
fn a_callback_wakes_a_run_where_every_task_is_blocked() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let parked = SignalWhenParked::new(go_tx);
    bounded().instrument(parked).run(async move {
        EVENT.set(Rc::new(Event::new()));
        let token = current_trio_token();
        let thread = std::thread::spawn(move || {
            go_rx.recv().unwrap(); // the run is parked, every task blocked
            token.run_sync_soon(|| EVENT.get().unwrap().set()).unwrap();
        });
        EVENT.get().unwrap().wait().await.unwrap();
        thread.join().unwrap();
    });
}

/// Control for the test above: with no token outside the run, the same wait is a deadlock.
#[test]
fn without_a_token_outside_the_same_wait_is_a_deadlock() {
    let err = bounded()
        .try_run(async {
            drop(current_trio_token()); // held for a moment only
            Event::new().wait().await.unwrap();
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Deadlock, "{err}");
}

/// A token that nobody will use is still something outside the run: the run waits (here
/// until its watchdog) rather than calling it a deadlock.
#[test]
fn a_held_token_keeps_the_run_from_reporting_a_deadlock() {
    let err = Builder::new()
        .watchdog(Duration::from_millis(50))
        .try_run(async {
            let _token = current_trio_token();
            Event::new().wait().await.unwrap();
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Watchdog(Duration::from_millis(50)), "{err}");
}

/// The loop waits with no timeout while only a token is outstanding; dropping that token on
/// another thread must wake it, or a mock clock would never jump again.
#[test]
fn dropping_the_last_token_outside_lets_autojump_go_on() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let parked = SignalWhenParked::new(go_tx);
    let clock = MockClock::autojump();
    let now = bounded().clock(clock).instrument(parked).run(async move {
        let token = current_trio_token();
        let thread = std::thread::spawn(move || {
            go_rx.recv().unwrap(); // parked without a timeout: the token holds the clock
            drop(token);
        });
        trio::sleep(Duration::from_secs(60)).await.unwrap();
        thread.join().unwrap();
        trio::current_time()
    });
    assert_eq!(now, trio::Instant::from_secs(60));
}

#[test]
fn run_sync_soon_after_the_run_is_refused() {
    let token = bounded().run(async { current_trio_token() });
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let err = token.run_sync_soon(move || flag.store(true, Ordering::SeqCst)).unwrap_err();
    assert_eq!(err, trio::RunFinished::new());
    assert!(!ran.load(Ordering::SeqCst));
}

/// Trio: "any call that doesn't raise RunFinishedError is guaranteed to be fully processed
/// before trio.run exits" — here a callback queued as the main task returns.
#[test]
fn a_callback_queued_before_the_run_ended_still_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    bounded().run(async move {
        current_trio_token().run_sync_soon(move || flag.store(true, Ordering::SeqCst)).unwrap();
    });
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn a_callback_from_the_runs_own_thread_runs_between_steps() {
    bounded().run(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        EVENT.set(Rc::new(Event::new()));
        current_trio_token().run_sync_soon(|| EVENT.get().unwrap().set()).unwrap();
        log.borrow_mut().push("queued");
        assert!(!EVENT.get().unwrap().is_set(), "not run synchronously");
        EVENT.get().unwrap().wait().await.unwrap();
        assert_eq!(*log.borrow(), ["queued"]);
    });
}

#[test]
fn a_panicking_callback_stops_the_run_with_its_message() {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        bounded().run(async {
            current_trio_token().run_sync_soon(|| panic!("callback exploded")).unwrap();
            trio::sleep_forever().await.ok();
        })
    }));
    let payload = outcome.unwrap_err();
    let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("run_sync_soon callback panicked: callback exploded"), "{message}");
}

#[test]
fn statistics_count_tokens_and_queued_callbacks() {
    bounded().run(async {
        let before = trio::lowlevel::current_statistics();
        assert_eq!((before.trio_tokens_held, before.run_sync_soon_queue_size), (0, 0));
        let token = current_trio_token();
        let clone = token.clone();
        token.run_sync_soon(|| ()).unwrap();
        let during = trio::lowlevel::current_statistics();
        assert_eq!((during.trio_tokens_held, during.run_sync_soon_queue_size), (2, 1));
        drop((token, clone));
        trio::checkpoint().await.unwrap();
        let after = trio::lowlevel::current_statistics();
        assert_eq!((after.trio_tokens_held, after.run_sync_soon_queue_size), (0, 0));
    });
}

/// An instrument that tells a thread when the loop parks with no timeout — only possible
/// when something outside the runtime is pending and nothing else can end the wait.
struct SignalWhenParked {
    parked: RefCell<Option<mpsc::Sender<()>>>,
}

impl SignalWhenParked {
    fn new(parked: mpsc::Sender<()>) -> SignalWhenParked {
        SignalWhenParked { parked: RefCell::new(Some(parked)) }
    }
}

impl Instrument for SignalWhenParked {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        // The watchdog turns "forever" into its own limit.
        if timeout.is_none_or(|t| t > Duration::from_secs(1))
            && let Some(parked) = self.parked.borrow_mut().take()
        {
            let _ = parked.send(());
        }
    }
}
