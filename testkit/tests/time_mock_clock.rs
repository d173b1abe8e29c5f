//! `MockClock`: its arithmetic (rates, jumps, rebasing on every rate change), and autojump in
//! the run loop — exact landings on deadlines, its interplay with `wait_all_tasks_blocked`,
//! thresholds changed during a run, and no jumping while something outside the runtime is
//! pending (beyond Trio: its issue #456). After Trio's `test_mock_clock.py`.

use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use futures::channel::oneshot;
use trio::Instant;
use trio::abc::{Clock, Instrument};
use trio_testkit::{MockClock, trio_test, wait_all_tasks_blocked, wait_all_tasks_blocked_with_cushion};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn at(s: f64) -> Instant {
    Instant::from_secs_f64(s)
}

/// Rate, jump and `deadline_to_sleep_time`, with a real clock the test controls.
#[test]
fn mock_clock_arithmetic() {
    let real = Rc::new(Cell::new(Duration::from_secs(123)));
    let clock = MockClock::with_real_clock({
        let real = real.clone();
        move || real.get()
    });
    let _ = format!("{clock:?}");
    assert_eq!(clock.rate(), 0.0);
    assert_eq!(clock.current_time(), Instant::ZERO);

    clock.jump(secs(1.2));
    assert_eq!(clock.current_time(), at(1.2));
    assert_eq!(clock.deadline_to_sleep_time(at(1.1)), Some(Duration::ZERO));
    assert_eq!(clock.deadline_to_sleep_time(at(1.2)), Some(Duration::ZERO));
    assert_eq!(clock.deadline_to_sleep_time(at(1.3)), None, "a frozen clock never reaches a deadline by itself");

    let refused = std::panic::catch_unwind(AssertUnwindSafe(|| clock.set_rate(-1.0)));
    assert!(refused.is_err());
    assert_eq!(clock.rate(), 0.0);

    clock.set_rate(2.0);
    assert_eq!(clock.current_time(), at(1.2), "changing the rate keeps the reading");
    real.set(real.get() + secs(1.0));
    assert_eq!(clock.current_time(), at(3.2));
    assert_eq!(clock.deadline_to_sleep_time(at(3.1)), Some(Duration::ZERO));
    assert_eq!(clock.deadline_to_sleep_time(at(3.2)), Some(Duration::ZERO));
    assert_eq!(clock.deadline_to_sleep_time(at(4.2)), Some(secs(0.5)));

    clock.set_rate(0.5);
    assert_eq!(clock.current_time(), at(3.2));
    assert_eq!(clock.deadline_to_sleep_time(at(3.1)), Some(Duration::ZERO));
    assert_eq!(clock.deadline_to_sleep_time(at(3.2)), Some(Duration::ZERO));
    assert_eq!(clock.deadline_to_sleep_time(at(4.2)), Some(secs(2.0)));

    clock.jump(secs(0.8));
    assert_eq!(clock.current_time(), at(4.0));
    real.set(real.get() + secs(1.0));
    assert_eq!(clock.current_time(), at(4.5));

    clock.set_rate(0.0);
    real.set(real.get() + secs(100.0));
    assert_eq!(clock.current_time(), at(4.5), "at rate zero real time does not matter");
}

/// A running clock follows the real one (here, the system's).
#[test]
fn mock_clock_with_a_rate_follows_real_time() {
    let clock = MockClock::new();
    clock.set_rate(3.0);
    assert_eq!(clock.rate(), 3.0);
    assert!(clock.current_time() < Instant::from_secs(10));
}

#[test]
#[should_panic(expected = "MockClock rate must be >= 0 and finite")]
fn negative_rate_is_refused() {
    MockClock::new().set_rate(-1.0);
}

#[test]
#[should_panic(expected = "MockClock rate must be >= 0 and finite")]
fn nan_rate_is_refused() {
    MockClock::new().set_rate(f64::NAN);
}

#[test]
fn defaults_and_setters() {
    let clock = MockClock::default();
    assert_eq!(clock.autojump_threshold(), None);
    clock.set_autojump_threshold(Duration::ZERO);
    assert_eq!(clock.autojump_threshold(), Some(Duration::ZERO));
    clock.set_autojump_threshold(None);
    assert_eq!(clock.autojump_threshold(), None);
    assert_eq!(MockClock::autojump().autojump_threshold(), Some(Duration::ZERO));
    let shared = clock.clone();
    shared.jump(Duration::from_secs(5));
    assert_eq!(clock.current_time(), Instant::from_secs(5), "clones share one clock");
}

/// Sleeps of 0, 10, …, 90 s each land exactly on their deadline, in well under a second of
/// real time; then the threshold changes during the run and takes effect at once.
#[trio_test]
async fn autojump_lands_on_every_deadline(mock_clock: MockClock) -> trio::Result<()> {
    assert_eq!(mock_clock.autojump_threshold(), None);
    mock_clock.set_autojump_threshold(Duration::ZERO);

    let real_start = std::time::Instant::now();
    let mut virtual_start = trio::current_time();
    for i in 0..10 {
        trio::sleep(Duration::from_secs(10 * i)).await?;
        assert_eq!(trio::current_time(), virtual_start + Duration::from_secs(10 * i));
        virtual_start = trio::current_time();
    }
    assert_eq!(trio::current_time(), Instant::from_secs(450));
    assert!(real_start.elapsed() < Duration::from_secs(1), "slept 450 s in {:?}", real_start.elapsed());

    // Idle waiters wake before the threshold triggers, so time does not move.
    mock_clock.set_autojump_threshold(Duration::from_millis(20));
    let t = trio::current_time();
    wait_all_tasks_blocked().await?;
    assert_eq!(trio::current_time(), t);
    wait_all_tasks_blocked_with_cushion(Duration::from_millis(10)).await?;
    assert_eq!(trio::current_time(), t);

    // A huge threshold, then zero: if the change did not take effect at once, the sleep
    // below would take hours of real time.
    mock_clock.set_autojump_threshold(Duration::from_secs(10_000));
    wait_all_tasks_blocked().await?;
    mock_clock.set_autojump_threshold(Duration::ZERO);
    trio::sleep(Duration::from_secs(100_000)).await?;
    assert_eq!(trio::current_time(), t + Duration::from_secs(100_000));
    Ok(())
}

/// Only the installed clock's threshold matters.
#[trio_test]
async fn another_clock_does_not_interfere(mock_clock: MockClock) -> trio::Result<()> {
    mock_clock.set_autojump_threshold(Duration::from_millis(20));
    let other = MockClock::new();
    other.set_autojump_threshold(Duration::from_millis(1));
    // With the other clock's 1 ms threshold in effect this would never wake: the clock would
    // keep jumping first. The installed 20 ms threshold lets the 15 ms cushion win.
    wait_all_tasks_blocked_with_cushion(Duration::from_millis(15)).await?;
    assert_eq!(trio::current_time(), Instant::ZERO);
    trio::sleep(Duration::from_secs(100_000)).await?;
    assert_eq!(trio::current_time(), Instant::from_secs(100_000));
    Ok(())
}

/// A threshold set before the run starts is picked up.
#[test]
fn autojump_threshold_set_before_the_run() {
    let clock = MockClock::new();
    clock.set_autojump_threshold(Duration::from_millis(100));
    clock.set_autojump_threshold(Duration::from_millis(1));
    let real_start = std::time::Instant::now();
    trio::Builder::new().clock(clock.clone()).run(async {
        trio::sleep(Duration::from_secs(10_000)).await.unwrap();
    });
    assert!(real_start.elapsed() < Duration::from_secs(1));
    assert_eq!(clock.current_time(), Instant::from_secs(10_000));
}

/// A zero cushion waiter wakes before the autojump; the sleeper only wakes once the clock
/// jumps, which happens when nobody waits for idleness any more.
#[trio_test]
async fn autojump_and_wait_all_tasks_blocked_without_cushion(autojump_clock: MockClock) -> trio::Result<()> {
    let record = Rc::new(RefCell::new(Vec::new()));
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            let r = record.clone();
            nursery.start_soon(async move {
                trio::sleep(Duration::from_secs(100)).await?;
                r.borrow_mut().push("yawn");
                Ok(())
            });
            let r = record.clone();
            nursery.start_soon(async move {
                wait_all_tasks_blocked().await?;
                r.borrow_mut().push("waiter woke");
                trio::sleep(Duration::from_secs(1000)).await?;
                r.borrow_mut().push("waiter done");
                Ok(())
            });
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), ["waiter woke", "yawn", "waiter done"]);
    assert_eq!(autojump_clock.current_time(), Instant::from_secs(1000));
    Ok(())
}

/// A waiter with a cushion also wins over autojump: it wakes after its cushion of real idle
/// time, before the clock jumps to the sleeper's deadline.
#[trio_test]
async fn autojump_and_wait_all_tasks_blocked_with_cushion(_autojump_clock: MockClock) -> trio::Result<()> {
    let record = Rc::new(RefCell::new(Vec::new()));
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            let r = record.clone();
            nursery.start_soon(async move {
                trio::sleep(Duration::from_secs(100)).await?;
                r.borrow_mut().push("yawn");
                Ok(())
            });
            let r = record.clone();
            nursery.start_soon(async move {
                wait_all_tasks_blocked_with_cushion(Duration::from_millis(5)).await?;
                assert_eq!(trio::current_time(), Instant::ZERO);
                r.borrow_mut().push("waiter done");
                Ok(())
            });
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), ["waiter done", "yawn"]);
    Ok(())
}

/// The clock lands exactly on a cancel scope's deadline too, never past it, and timers due at
/// the same instant all fire there.
#[trio_test(autojump)]
async fn autojump_stops_at_scope_deadlines() -> trio::Result<()> {
    let outcome = trio::move_on_after(Duration::from_secs(5), async {
        trio::sleep(Duration::from_secs(3600)).await?;
        Ok(())
    })
    .await?;
    assert_eq!(outcome, None);
    assert_eq!(trio::current_time(), Instant::from_secs(5));

    let woke = Rc::new(RefCell::new(Vec::new()));
    trio::open_nursery(|nursery| {
        let woke = woke.clone();
        async move {
            for (name, wake_at) in [("a", 7), ("b", 9), ("c", 7)] {
                let woke = woke.clone();
                nursery.start_soon(async move {
                    trio::sleep_until(Instant::from_secs(wake_at)).await?;
                    woke.borrow_mut().push((name, trio::current_time()));
                    Ok(())
                });
            }
            Ok(())
        }
    })
    .await?;
    let mut woke = woke.take();
    woke.sort();
    assert_eq!(woke, [("a", Instant::from_secs(7)), ("b", Instant::from_secs(9)), ("c", Instant::from_secs(7))]);
    Ok(())
}

/// A clock with a rate follows real time inside a run: a real millisecond is a virtual second.
#[test]
fn running_clock_wakes_sleepers_in_real_time() {
    let clock = MockClock::new();
    clock.set_rate(1000.0);
    trio::Builder::new().clock(clock.clone()).run(async {
        trio::sleep(Duration::from_secs(2)).await.unwrap();
        assert!(trio::current_time() >= Instant::from_secs(2));
    });
}

/// A frozen clock with a pending sleep and no autojump can never wake it: the run stops at
/// once and says why.
#[trio_test]
#[should_panic(expected = "the clock is frozen")]
async fn frozen_clock_deadlock_is_reported(_mock_clock: MockClock) {
    let _ = trio::sleep(Duration::from_secs(1)).await;
}

// ===== no jumping while the outside world is pending =====

/// Tells a helper thread when the run loop parks with no timeout: every task is blocked and
/// the loop waits for the outside world.
struct SignalWhenParked {
    parked: RefCell<Option<mpsc::Sender<()>>>,
}

impl Instrument for SignalWhenParked {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        if timeout.is_none()
            && let Some(parked) = self.parked.borrow_mut().take()
        {
            parked.send(()).unwrap();
        }
    }
}

/// A thread that completes `tx` once the run has parked waiting for it.
fn complete_when_parked(tx: oneshot::Sender<u32>) -> (SignalWhenParked, std::thread::JoinHandle<()>) {
    let (parked_tx, parked_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        parked_rx.recv().unwrap();
        tx.send(7).unwrap();
    });
    (SignalWhenParked { parked: RefCell::new(Some(parked_tx)) }, thread)
}

/// While a task waits in `trio::cancellable` on a foreign future, a sleeper's deadline is
/// pending and every other task is blocked — Trio would jump. Here the clock waits for the
/// foreign future, and only jumps once it is done.
#[test]
fn autojump_waits_for_a_cancellable_foreign_future() {
    let (tx, rx) = oneshot::channel::<u32>();
    let (instrument, thread) = complete_when_parked(tx);
    let clock = MockClock::autojump();
    let times = trio::Builder::new().clock(clock).instrument(instrument).run(async move {
        let slept_until = Rc::new(Cell::new(None));
        let got_at = trio::open_nursery(|nursery| {
            let slept_until = slept_until.clone();
            async move {
                nursery.start_soon(async move {
                    trio::sleep(Duration::from_secs(10)).await?;
                    slept_until.set(Some(trio::current_time()));
                    Ok(())
                });
                let value = trio::cancellable(rx).await?.expect("the thread sends a value");
                assert_eq!(value, 7);
                Ok(Some(trio::current_time()))
            }
        })
        .await
        .unwrap();
        (got_at, slept_until.get())
    });
    thread.join().unwrap();
    assert_eq!(times, (Some(Instant::ZERO), Some(Instant::from_secs(10))));
}

/// The same for a task that awaits a foreign future directly (its waker is held by the
/// channel, so something outside the runtime can still wake it).
#[test]
fn autojump_waits_for_a_task_blocked_on_a_foreign_future() {
    let (tx, rx) = oneshot::channel::<u32>();
    let (instrument, thread) = complete_when_parked(tx);
    let clock = MockClock::autojump();
    let got_at = trio::Builder::new().clock(clock.clone()).instrument(instrument).run(async move {
        let got_at = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async {
                trio::sleep(Duration::from_secs(10)).await?;
                Ok(())
            });
            assert_eq!(rx.await.ok(), Some(7));
            Ok(Some(trio::current_time()))
        })
        .await
        .unwrap();
        got_at.unwrap()
    });
    thread.join().unwrap();
    assert_eq!(got_at, Instant::ZERO);
    assert_eq!(clock.current_time(), Instant::from_secs(10));
}

/// Control for the two tests above: with nothing outside pending, the clock jumps at once.
#[trio_test]
async fn autojump_jumps_when_only_trio_waits_are_pending(_autojump_clock: MockClock) -> trio::Result<()> {
    let (slot, _unparker) = trio::lowlevel::park_slot::<()>("never unparked");
    let outcome = trio::move_on_after(Duration::from_secs(10), async {
        slot.await?;
        Ok(())
    })
    .await?;
    assert_eq!(outcome, None);
    assert_eq!(trio::current_time(), Instant::from_secs(10));
    Ok(())
}
