//! `open_signal_receiver` (Trio's semantics: queued in arrival order, repeats coalesced while
//! pending, re-delivered when the receiver closes with them pending) and Ctrl-C cancelling a run
//! in-process (`Builder::keyboard_interrupt(true)`). The Ctrl-C of a whole program is tested in
//! `tests/ctrl_c.rs` at the root, on a child process.
//!
//! Signals are process-wide, so these tests take a lock and never leave a signal pending:
//! one arriving while nothing listens would get its default action and end the test process.

#![cfg(unix)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use trio::signal::{SIGINT, SIGKILL, SIGUSR1, SIGUSR2, open_signal_receiver, raise};
use trio::{Builder, CancelSource, RunErrorKind};

static SIGNALS: Mutex<()> = Mutex::new(());

fn bounded() -> Builder {
    Builder::new().watchdog(Duration::from_secs(30))
}

/// Waits (checkpointing) until `condition` holds: the signal thread works on its own time.
async fn until(mut condition: impl FnMut() -> bool) {
    while !condition() {
        trio::sleep(Duration::from_millis(1)).await.unwrap();
    }
}

#[test]
fn a_raised_signal_is_received() {
    let _one_at_a_time = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR1, SIGUSR2]).unwrap();
        raise(SIGUSR2).unwrap();
        assert_eq!(signals.next().await.unwrap(), SIGUSR2);
        raise(SIGUSR1).unwrap();
        assert_eq!(signals.next().await.unwrap(), SIGUSR1);
    });
}

/// A repeat of a signal that is still pending is merged with it; a different signal queues
/// behind it. (The signal thread passes signals on in order, so once the marker SIGUSR2 has
/// arrived, the repeated SIGUSR1 before it has been handled.)
#[test]
fn repeats_coalesce_while_pending() {
    let _one_at_a_time = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR1, SIGUSR2]).unwrap();
        raise(SIGUSR1).unwrap();
        until(|| signals.pending() == 1).await;
        raise(SIGUSR1).unwrap();
        raise(SIGUSR2).unwrap();
        until(|| signals.pending() == 2).await;
        assert_eq!(signals.next().await.unwrap(), SIGUSR1);
        assert_eq!(signals.next().await.unwrap(), SIGUSR2);
        assert_eq!(signals.pending(), 0, "the repeat was merged");
    });
}

#[test]
fn a_cancelled_next_takes_no_signal() {
    let _one_at_a_time = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
    bounded().run(async {
        let mut signals = open_signal_receiver(&[SIGUSR1]).unwrap();
        let outcome = trio::move_on_after(Duration::from_millis(5), async {
            signals.next().await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(outcome, None);
        raise(SIGUSR1).unwrap();
        until(|| signals.pending() == 1).await;
        let scope = trio::CancelScope::new();
        scope.cancel();
        let outcome = scope
            .run(async {
                signals.next().await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(outcome, None);
        assert_eq!(signals.pending(), 1, "still there");
        assert_eq!(signals.next().await.unwrap(), SIGUSR1);
    });
}

/// Trio re-delivers what is pending when a receiver closes, so a signal that came just before
/// is not lost: here a second receiver gets it.
#[test]
fn closing_a_receiver_redelivers_its_pending_signals() {
    let _one_at_a_time = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
    bounded().run(async {
        let first = open_signal_receiver(&[SIGUSR2]).unwrap();
        raise(SIGUSR2).unwrap();
        until(|| first.pending() == 1).await;
        let mut second = open_signal_receiver(&[SIGUSR2]).unwrap();
        drop(first);
        assert_eq!(second.next().await.unwrap(), SIGUSR2);
    });
}

#[test]
fn misuse_is_an_error() {
    bounded().run(async {
        let err = open_signal_receiver(&[]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        for bad in [SIGKILL, 0, -1, 1000] {
            let err = open_signal_receiver(&[bad]).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}: {err}");
        }
    });
}

/// A task waiting for a signal waits for the outside world: no deadlock report, however
/// long — here until the watchdog.
#[test]
fn waiting_for_a_signal_is_not_a_deadlock() {
    let _one_at_a_time = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
    let err = Builder::new()
        .watchdog(Duration::from_millis(50))
        .try_run(async {
            let mut signals = open_signal_receiver(&[SIGUSR1]).unwrap();
            signals.next().await.ok();
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Watchdog(Duration::from_millis(50)));
    assert!(err.to_string().contains("a signal (SIGUSR1)"), "{err}");
}

/// Ctrl-C cancels every scope of the run: each task unwinds with a `Cancelled` whose source
/// is `KeyboardInterrupt`, and the run ends with a `KeyboardInterrupt` error once all have.
#[test]
fn ctrl_c_cancels_every_task_and_ends_the_run_with_keyboard_interrupt() {
    let _one_at_a_time = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
    let unwound = Rc::new(RefCell::new(Vec::new()));
    let log = unwound.clone();
    let err = bounded()
        .keyboard_interrupt(true)
        .try_run(async move {
            trio::open_nursery(|nursery| async move {
                for name in ["a", "b"] {
                    let log = log.clone();
                    nursery.start_soon_named(name, async move {
                        let cancelled = trio::sleep(Duration::from_secs(60)).await.unwrap_err();
                        log.borrow_mut().push((name, cancelled.source()));
                        Err(cancelled.into())
                    });
                }
                trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
                raise(SIGINT)?;
                // Shielded work still finishes: a shield keeps out even Ctrl-C.
                trio::CancelScope::shielded()
                    .run(async {
                        trio::sleep(Duration::from_millis(1)).await?;
                        Ok(())
                    })
                    .await?;
                let cancelled = trio::sleep(Duration::from_secs(60)).await.unwrap_err();
                log.borrow_mut().push(("main", cancelled.source()));
                Err::<(), _>(cancelled.into())
            })
            .await
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::KeyboardInterrupt);
    assert!(err.to_string().starts_with("KeyboardInterrupt"), "{err}");
    let mut unwound = unwound.take();
    unwound.sort_by_key(|(name, _)| *name);
    assert_eq!(
        unwound,
        [
            ("a", CancelSource::KeyboardInterrupt),
            ("b", CancelSource::KeyboardInterrupt),
            ("main", CancelSource::KeyboardInterrupt)
        ]
    );
}
