//! Hangs become reports: the watchdog on a livelock (tasks that keep running), on a waker only
//! the task itself holds, on a foreign future inside a cancelled scope; and misuse that panics
//! at the caller's line.

mod common;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use trio::RunErrorKind;

/// Two tasks that spin on `checkpoint()` forever: after the main task's first step the step
/// count stays odd at every batch start, so a check on `steps % 4096` would never fire.
#[test]
fn the_watchdog_catches_a_livelock_whatever_the_rhythm_of_steps() {
    let limit = Duration::from_millis(30);
    let err = trio::Builder::new()
        .watchdog(limit)
        // A backstop, so that a watchdog that never fires fails this test instead of hanging
        // it; far more steps than 30 ms can run.
        .max_steps(3_000_000)
        .try_run(async {
            trio::open_nursery(|nursery| async move {
                for name in ["spinner-a", "spinner-b"] {
                    nursery.start_soon_named(name, async {
                        loop {
                            if trio::checkpoint().await.is_err() {
                                return;
                            }
                        }
                    });
                }
                Ok(())
            })
            .await
            .ok();
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Watchdog(limit), "{err}");
    let message = err.to_string();
    assert!(message.contains("kept running"), "says tasks keep running: {message}");
    assert!(message.contains("`spinner-a`") && message.contains("`spinner-b`"), "names them: {message}");
    assert!(!message.contains("outside the runtime that never completes"), "{message}");
}

#[test]
fn a_waker_only_the_task_itself_holds_is_named_in_the_watchdog_report() {
    let limit = Duration::from_millis(20);
    let err = trio::Builder::new()
        .watchdog(limit)
        .try_run(async {
            // Both ends in one task: the receiver's waker is held by the channel, which only
            // this task's future holds. Nothing can ever wake it.
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            let _ = rx.await;
            drop(tx);
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Watchdog(limit));
    let message = err.to_string();
    assert!(message.contains("no task runnable"), "{message}");
    assert!(message.contains("only the task itself holds"), "{message}");
    assert!(message.contains("by the task's own future"), "the task's line says it too: {message}");
}

#[test]
fn the_watchdog_report_names_cancellable_for_a_foreign_future_in_a_cancelled_scope() {
    let limit = Duration::from_millis(20);
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let err = trio::Builder::new()
        .watchdog(limit)
        .try_run(async move {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("stuck", async move {
                    let scope = trio::CancelScope::new();
                    scope.cancel();
                    // Awaited directly: it cannot see the cancellation.
                    scope.run(async move { Ok(rx.await.ok()) }).await?;
                    Ok(())
                });
                Ok(())
            })
            .await
            .ok();
        })
        .unwrap_err();
    drop(tx);
    assert_eq!(err.kind(), RunErrorKind::Watchdog(limit));
    let message = err.to_string();
    assert!(message.contains("task 2 `stuck`"), "{message}");
    assert!(message.contains("trio::cancellable"), "{message}");
}

// ===== misuse =====

/// Runs `f`, expecting a panic; returns its message.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload.downcast::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

/// Polls `future` once outside any run.
fn poll_outside<F: std::future::Future>(future: F) {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = future.as_mut().poll(&mut cx);
}

#[test]
fn primitives_outside_a_run_panic_at_the_callers_line() {
    let here = |line: u32| format!("{}:{line}", file!());
    let (tx, rx) = trio::open_memory_channel::<u8>(1);
    let lock = trio::Lock::new();
    let event = trio::Event::new();
    let cases: Vec<(u32, String)> = vec![
        (line!(), panic_message(|| poll_outside(trio::checkpoint()))),
        (line!(), panic_message(|| poll_outside(trio::lowlevel::cancel_shielded_checkpoint()))),
        (line!(), panic_message(|| poll_outside(trio::lowlevel::checkpoint_if_cancelled()))),
        (line!(), panic_message(|| poll_outside(rx.recv()))),
        (line!(), panic_message(|| poll_outside(tx.send(1)))),
        (line!(), panic_message(|| poll_outside(lock.lock()))),
        (line!(), panic_message(|| poll_outside(event.wait()))),
        (line!(), panic_message(|| poll_outside(trio::sleep_until(trio::Instant::from_secs(1))))),
        (line!(), panic_message(|| poll_outside(trio::sleep_forever()))),
        (line!(), panic_message(|| poll_outside(trio::CancelScope::new().run(async { Ok(()) })))),
        (line!(), panic_message(|| poll_outside(trio::cancellable(async {})))),
    ];
    for (line, message) in cases {
        assert!(message.contains("outside of trio::run"), "line {line}: {message}");
        assert!(message.contains(&here(line)), "names the caller's line {line}: {message}");
    }
}

#[test]
fn a_second_clock_is_refused() {
    let message = panic_message(|| {
        let _ = trio::Builder::new().clock(common::ManualClock::new()).clock(common::ManualClock::new());
    });
    assert!(message.contains("Builder::clock was called twice"), "{message}");
}

#[test]
fn a_lock_order_deadlock_report_names_who_holds_each_lock() {
    let err = trio::Builder::new()
        .clock(common::ManualClock::autojumping())
        .try_run(async {
            let first = std::rc::Rc::new(trio::Lock::new());
            let second = std::rc::Rc::new(trio::Lock::new());
            trio::open_nursery(|nursery| async move {
                for (name, a, b) in [("ab", first.clone(), second.clone()), ("ba", second, first)] {
                    nursery.start_soon_named(name, async move {
                        let _a = a.lock().await?;
                        trio::sleep(Duration::from_secs(1)).await?;
                        let _b = b.lock().await?;
                        Ok(())
                    });
                }
                Ok(())
            })
            .await
            .ok();
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Deadlock);
    let ab = err.report().tasks.iter().find(|t| t.name == "ab").unwrap();
    let ba = err.report().tasks.iter().find(|t| t.name == "ba").unwrap();
    assert_eq!(ab.waiting_on.len(), 1);
    assert!(ab.waiting_on[0].contains(&format!("held by task {} `ba`", ba.id)), "{:?}", ab.waiting_on);
    assert!(ba.waiting_on[0].contains(&format!("held by task {} `ab`", ab.id)), "{:?}", ba.waiting_on);
}

#[test]
fn a_mock_clock_jump_past_the_range_of_instant_panics_instead_of_meaning_never() {
    let clock = trio_testkit::MockClock::new();
    clock.jump(Duration::from_secs(10));
    let message = panic_message(|| clock.jump(Duration::MAX));
    assert!(message.contains("past the range of trio::Instant"), "{message}");
    let message = panic_message(|| clock.jump(Duration::from_nanos(u64::MAX)));
    assert!(message.contains("no sleep would end"), "{message}");
    assert_eq!(clock.current_time(), trio::Instant::from_secs(10), "the clock did not move");
    clock.jump(Duration::from_secs(5));
    assert_eq!(clock.current_time(), trio::Instant::from_secs(15));
}
