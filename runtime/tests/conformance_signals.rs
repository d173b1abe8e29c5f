//! `open_signal_receiver` checked against Trio's rules: arrival order across kinds, nested
//! receivers (the newest one catches, the one under it catches again once it closes, and
//! pending signals move down exactly once), duplicate and partly invalid lists, and the
//! receiver being usable off the main thread (a documented deviation).
//!
//! Signals are process-wide: the tests take a lock and never leave a signal pending with
//! nothing listening (its default action would end the test process).

#![cfg(unix)]

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use trio::Builder;
use trio::signal::{SIGINT, SIGUSR1, SIGUSR2, SIGWINCH, SignalReceiver, open_signal_receiver, raise};

static SIGNALS: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SIGNALS.lock().unwrap_or_else(|e| e.into_inner())
}

fn bounded() -> Builder {
    Builder::new().watchdog(Duration::from_secs(30))
}

/// Waits (checkpointing) until `condition` holds: the signal thread works on its own time.
async fn until(mut condition: impl FnMut() -> bool) {
    while !condition() {
        trio::sleep(Duration::from_millis(1)).await.unwrap();
    }
}

/// Raises `signal` and waits until `receiver` has it pending.
async fn raise_into(receiver: &SignalReceiver, signal: i32) {
    let before = receiver.pending();
    raise(signal).unwrap();
    until(|| receiver.pending() > before).await;
}

#[test]
fn different_signals_come_out_in_arrival_order() {
    let _serial = serial();
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR1, SIGUSR2]).unwrap();
        raise_into(&signals, SIGUSR2).await;
        raise_into(&signals, SIGUSR1).await;
        assert_eq!(signals.next().await.unwrap(), SIGUSR2, "the first to arrive, not the lowest");
        assert_eq!(signals.next().await.unwrap(), SIGUSR1);
        assert_eq!(signals.pending(), 0);
    });
}

/// Coalescing only lasts while the signal is pending: once read, a repeat is reported again.
#[test]
fn a_repeat_after_a_read_is_reported_again() {
    let _serial = serial();
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR1]).unwrap();
        for _ in 0..3 {
            raise_into(&signals, SIGUSR1).await;
            assert_eq!(signals.next().await.unwrap(), SIGUSR1);
        }
        assert_eq!(signals.pending(), 0);
    });
}

/// A batch `USR2 USR1 USR2 USR1 WINCH` is reported as `USR2 USR1 WINCH`: each number once,
/// in the order of first arrival (not by number).
#[test]
fn a_pending_batch_reports_each_signal_once_in_first_arrival_order() {
    let _serial = serial();
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR1, SIGUSR2, SIGWINCH]).unwrap();
        raise_into(&signals, SIGUSR2).await;
        raise_into(&signals, SIGUSR1).await;
        raise(SIGUSR2).unwrap();
        raise(SIGUSR1).unwrap();
        raise(SIGWINCH).unwrap(); // a marker: the signal thread passes signals on in order
        until(|| signals.pending() == 3).await;
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(signals.next().await.unwrap());
        }
        assert_eq!(got, [SIGUSR2, SIGUSR1, SIGWINCH]);
        assert_eq!(signals.pending(), 0);
    });
}

#[test]
fn a_signal_not_in_the_list_is_not_reported() {
    let _serial = serial();
    bounded().run(async {
        let usr1 = open_signal_receiver(&[SIGUSR1]).unwrap();
        let mut usr2 = open_signal_receiver(&[SIGUSR2]).unwrap();
        raise(SIGUSR2).unwrap();
        assert_eq!(usr2.next().await.unwrap(), SIGUSR2);
        assert_eq!(usr1.pending(), 0);
    });
}

/// Trio installs each receiver's handler over the one before, so with two receivers of one
/// signal open only the newer one is told.
#[test]
fn with_nested_receivers_only_the_newest_gets_the_signal() {
    let _serial = serial();
    bounded().run(async {
        let mut outer = open_signal_receiver(&[SIGUSR1, SIGWINCH]).unwrap();
        let mut inner = open_signal_receiver(&[SIGUSR1]).unwrap();
        raise(SIGUSR1).unwrap();
        raise(SIGWINCH).unwrap(); // a marker behind it that only `outer` catches
        assert_eq!(outer.next().await.unwrap(), SIGWINCH, "the outer receiver was told SIGUSR1 too");
        assert_eq!(outer.pending(), 0);
        assert_eq!(inner.next().await.unwrap(), SIGUSR1);
    });
}

/// Closing the newer receiver restores the older one's handling, as Trio restores the
/// previous handler.
#[test]
fn closing_the_newer_receiver_hands_the_signal_back_to_the_older() {
    let _serial = serial();
    bounded().run(async {
        let mut outer = open_signal_receiver(&[SIGUSR2]).unwrap();
        let inner = open_signal_receiver(&[SIGUSR2]).unwrap();
        drop(inner);
        raise(SIGUSR2).unwrap();
        assert_eq!(outer.next().await.unwrap(), SIGUSR2);
    });
}

/// What the newer receiver had pending when it closed is re-raised once and lands in the
/// older receiver once — not twice, as it would if both had been told in the first place.
#[test]
fn signals_pending_at_close_reach_the_older_receiver_exactly_once() {
    let _serial = serial();
    bounded().run(async {
        let mut outer = open_signal_receiver(&[SIGUSR1, SIGUSR2]).unwrap();
        let inner = open_signal_receiver(&[SIGUSR1]).unwrap();
        raise_into(&inner, SIGUSR1).await;
        drop(inner);
        assert_eq!(outer.next().await.unwrap(), SIGUSR1);
        // USR2 as a marker behind anything else that might still come.
        raise(SIGUSR2).unwrap();
        until(|| outer.pending() > 0).await;
        assert_eq!(outer.next().await.unwrap(), SIGUSR2);
        assert_eq!(outer.pending(), 0, "SIGUSR1 came a second time");
    });
}

/// Only the signals a receiver catches pass to an older one when it closes; the newer one's
/// other signals keep going to it.
#[test]
fn a_newer_receiver_takes_over_only_its_own_signals() {
    let _serial = serial();
    bounded().run(async {
        let mut both = open_signal_receiver(&[SIGUSR1, SIGUSR2]).unwrap();
        let mut usr2 = open_signal_receiver(&[SIGUSR2]).unwrap();
        raise(SIGUSR2).unwrap();
        assert_eq!(usr2.next().await.unwrap(), SIGUSR2);
        raise(SIGUSR1).unwrap();
        assert_eq!(both.next().await.unwrap(), SIGUSR1);
        assert_eq!(both.pending(), 0);
    });
}

/// Trio accepts a signal listed twice (and restores its handler once); here it is caught once
/// and reported once.
#[test]
fn a_signal_listed_twice_is_caught_once() {
    let _serial = serial();
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR1, SIGUSR1, SIGUSR2, SIGUSR1]).unwrap();
        assert_eq!(signals.signals(), [SIGUSR1, SIGUSR2]);
        raise_into(&signals, SIGUSR1).await;
        assert_eq!(signals.pending(), 1);
        assert_eq!(signals.next().await.unwrap(), SIGUSR1);
    });
}

/// Trio restores every handler when one signal of the list is invalid; here the whole call
/// fails before catching anything, so an older receiver of the good signal keeps getting it.
#[test]
fn a_list_with_one_invalid_signal_catches_none_of_them() {
    let _serial = serial();
    bounded().run(async {
        let mut older = open_signal_receiver(&[SIGUSR1]).unwrap();
        for bad in [0, 1000, trio::signal::SIGKILL] {
            let err = open_signal_receiver(&[SIGUSR1, bad]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
        }
        raise(SIGUSR1).unwrap();
        assert_eq!(older.next().await.unwrap(), SIGUSR1);
    });
}

#[test]
fn opening_a_receiver_is_not_a_checkpoint() {
    let _serial = serial();
    bounded().run(async {
        let scope = trio::CancelScope::new();
        scope.cancel();
        let out = scope
            .run(async {
                let signals = open_signal_receiver(&[SIGUSR1]).unwrap();
                Ok(signals.signals().len())
            })
            .await
            .unwrap();
        assert_eq!(out, Some(1), "the cancelled scope was never noticed");
        assert!(!scope.cancelled_caught());
    });
}

/// Taking a signal that was already pending still lets other tasks run (a schedule point).
#[test]
fn taking_a_pending_signal_is_a_schedule_point() {
    let _serial = serial();
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR2]).unwrap();
        raise_into(&signals, SIGUSR2).await;
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                flag.set(true);
                Ok(())
            });
            assert_eq!(signals.next().await.unwrap(), SIGUSR2);
            assert!(ran.get(), "next() did not yield to the other task");
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// A deviation listed in `docs/design.md`: Python only allows signal handling on the main
/// thread; here a run on any thread may open a receiver.
#[test]
fn a_receiver_works_off_the_main_thread() {
    let _serial = serial();
    let got = std::thread::Builder::new()
        .name("not-main".into())
        .spawn(|| {
            bounded().run(async {
                let mut signals = open_signal_receiver(&[SIGUSR1]).unwrap();
                raise(SIGUSR1).unwrap();
                signals.next().await.unwrap()
            })
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(got, SIGUSR1);
}

/// Receivers of two runs at once: the newest receiver in the process gets the signal, whichever
/// run it belongs to (Trio's handlers are process-wide too); when it closes, the other run's
/// receiver gets signals again.
#[test]
fn receivers_of_two_runs_follow_the_same_newest_first_rule() {
    let _serial = serial();
    let (opened_tx, opened_rx) = std::sync::mpsc::channel::<()>();
    let (closed_tx, closed_rx) = std::sync::mpsc::channel::<()>();
    let other = bounded().run(async move {
        let mut mine = open_signal_receiver(&[SIGUSR2]).unwrap();
        // The other run opens its receiver after this one: it is the newest.
        let other = std::thread::spawn(move || {
            bounded().run(async move {
                let mut signals = open_signal_receiver(&[SIGUSR2]).unwrap();
                opened_tx.send(()).unwrap();
                let got = signals.next().await.unwrap();
                drop(signals);
                closed_tx.send(()).unwrap();
                got
            })
        });
        trio::to_thread::run_sync(move || opened_rx.recv().unwrap()).await.unwrap();
        raise(SIGUSR2).unwrap();
        trio::to_thread::run_sync(move || closed_rx.recv().unwrap()).await.unwrap();
        assert_eq!(mine.pending(), 0, "the older receiver was told too");
        raise(SIGUSR2).unwrap();
        assert_eq!(mine.next().await.unwrap(), SIGUSR2);
        other
    });
    assert_eq!(other.join().unwrap(), SIGUSR2);
}

/// Closing a receiver stops only that receiver: the first receiver of each run once had the
/// same id, and closing one in another run silently unhooked this one.
#[test]
fn closing_a_receiver_of_another_run_leaves_this_one_catching() {
    let _serial = serial();
    bounded().run(async {
        let mut mine = open_signal_receiver(&[SIGUSR1]).unwrap();
        trio::to_thread::run_sync(|| {
            std::thread::spawn(|| {
                bounded().run(async {
                    drop(open_signal_receiver(&[SIGUSR1]).unwrap());
                })
            })
            .join()
            .unwrap()
        })
        .await
        .unwrap();
        raise(SIGUSR1).unwrap();
        assert_eq!(mine.next().await.unwrap(), SIGUSR1);
    });
}

/// Trio's no-starvation rule: with two signals raised again and again, reads alternate
/// between them instead of reporting the same one over and over.
#[test]
fn two_signals_that_keep_arriving_are_reported_in_turn() {
    let _serial = serial();
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR1, SIGUSR2]).unwrap();
        let mut got = Vec::new();
        for _ in 0..6 {
            raise(SIGUSR1).unwrap();
            raise(SIGUSR2).unwrap();
            until(|| signals.pending() == 2).await;
            got.push(signals.next().await.unwrap());
        }
        while signals.pending() > 0 {
            signals.next().await.unwrap();
        }
        assert!(got.windows(2).all(|w| w[0] != w[1]), "{got:?}");
    });
}

/// A signal raised just before the newer receiver closes — before the run even had the chance
/// to queue it — still reaches the older one, once (Trio re-delivers to the previous handler).
#[test]
fn a_signal_racing_the_close_reaches_the_older_receiver_once() {
    let _serial = serial();
    bounded().run(async {
        let mut outer = open_signal_receiver(&[SIGUSR1, SIGWINCH]).unwrap();
        let inner = open_signal_receiver(&[SIGUSR1]).unwrap();
        raise(SIGUSR1).unwrap();
        drop(inner); // no checkpoint in between
        assert_eq!(outer.next().await.unwrap(), SIGUSR1);
        raise(SIGWINCH).unwrap(); // a marker behind any second copy
        until(|| outer.pending() > 0).await;
        assert_eq!(outer.next().await.unwrap(), SIGWINCH, "SIGUSR1 came twice");
    });
}

/// A receiver of `SIGINT` takes Ctrl-C over, as Trio's receiver replaces its Ctrl-C handler:
/// the signal is reported and the run is not cancelled.
#[test]
fn a_sigint_receiver_takes_ctrl_c_away_from_the_run() {
    let _serial = serial();
    let result = bounded().keyboard_interrupt(true).try_run(async {
        let mut signals = open_signal_receiver(&[SIGINT]).unwrap();
        raise(SIGINT).unwrap();
        assert_eq!(signals.next().await.unwrap(), SIGINT);
        trio::sleep(Duration::from_millis(5)).await.unwrap();
        assert_eq!(trio::current_effective_deadline(), None, "the run was cancelled");
    });
    assert!(result.is_ok(), "{:?}", result.err());
}

/// Once the `SIGINT` receiver closes, Ctrl-C cancels the run again.
#[test]
fn after_the_sigint_receiver_closes_ctrl_c_cancels_again() {
    let _serial = serial();
    let err = bounded()
        .keyboard_interrupt(true)
        .try_run(async {
            drop(open_signal_receiver(&[SIGINT]).unwrap());
            raise(SIGINT).unwrap();
            trio::sleep(Duration::from_secs(60)).await.unwrap_err();
        })
        .unwrap_err();
    assert_eq!(err.kind(), trio::RunErrorKind::KeyboardInterrupt);
}
