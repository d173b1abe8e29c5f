//! `Cancelled` records why: a deadline, an explicit `cancel` (with an optional reason), a failing
//! sibling in a nursery, run shutdown; and where the cancelled scope was opened. A foreign
//! future awaited directly inside a cancelled scope is reported instead of hanging.

mod common;

use std::time::Duration;

use trio::abc::SchedulePolicy;
use trio::lowlevel::{RunnableTasks, Task};
use trio::{CancelSource, Cancelled, RunErrorKind};

use common::{run_auto, secs};

/// Runs `body` inside `scope` and hands back the `Cancelled` its first checkpoint returned.
async fn first_cancellation(scope: trio::CancelScope) -> Cancelled {
    scope.run(async { Ok(trio::sleep_forever().await) }).await.unwrap().unwrap().unwrap_err()
}

#[test]
fn a_deadline_is_named_with_the_scopes_location() {
    run_auto(async {
        let line = line!() + 1;
        let scope = trio::CancelScope::with_timeout(secs(1));
        let cancelled = first_cancellation(scope).await;
        assert_eq!(cancelled.source(), CancelSource::Deadline);
        let location = cancelled.scope_location().unwrap();
        assert_eq!((location.file(), location.line()), (file!(), line));
        assert_eq!(
            cancelled.to_string(),
            format!("cancelled by the deadline of the scope opened at {}:{line}:21", file!())
        );
        assert!(format!("{cancelled:?}").contains("deadline"), "Debug shows it too: {cancelled:?}");
    });
}

#[test]
fn move_on_after_names_its_callers_line() {
    run_auto(async {
        let line = line!() + 1;
        let seen = trio::move_on_after(secs(1), async { Ok(trio::sleep_forever().await) }).await.unwrap();
        let cancelled = seen.unwrap().unwrap_err();
        assert_eq!(cancelled.scope_location().unwrap().line(), line);
    });
}

#[test]
fn an_explicit_cancel_names_the_task_and_the_reason() {
    run_auto(async {
        let scope = trio::CancelScope::new();
        let handle = scope.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("canceller", async move {
                handle.cancel_with_reason("the operator pressed stop");
                Ok(())
            });
            let cancelled = first_cancellation(scope).await;
            assert_eq!(cancelled.source(), CancelSource::Explicit);
            assert_eq!(cancelled.reason(), Some("the operator pressed stop"));
            assert_eq!(cancelled.source_task(), Some("canceller"));
            let text = cancelled.to_string();
            assert!(text.starts_with("cancelled by an explicit cancel() of the scope opened at"), "{text}");
            assert!(text.ends_with("(called in task `canceller`): the operator pressed stop"), "{text}");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn the_first_cause_sticks() {
    run_auto(async {
        let scope = trio::CancelScope::new();
        scope.cancel_with_reason("first");
        scope.cancel_with_reason("second");
        scope.set_deadline(trio::current_time());
        let cancelled = first_cancellation(scope).await;
        assert_eq!((cancelled.source(), cancelled.reason()), (CancelSource::Explicit, Some("first")));
    });
}

#[test]
fn a_failing_sibling_is_named() {
    run_auto(async {
        let line = line!() + 1;
        let err = trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("doomed", async { Err(trio::Error::msg("boom")) });
            let cancelled = trio::sleep_forever().await.unwrap_err();
            assert_eq!(cancelled.source(), CancelSource::Nursery);
            assert_eq!(cancelled.source_task(), Some("doomed"));
            assert_eq!(cancelled.scope_location().unwrap().line(), line);
            assert!(
                cancelled.to_string().starts_with("cancelled because task `doomed` failed in the nursery opened at")
            );
            Err::<(), _>(cancelled.into())
        })
        .await
        .unwrap_err();
        assert_eq!(err.as_group().unwrap().len(), 1, "only the real failure is reported: {err:?}");
    });
}

#[test]
fn a_cancellation_from_an_outer_scope_keeps_its_cause_through_inner_scopes() {
    run_auto(async {
        let outer = trio::CancelScope::with_timeout(secs(1));
        let seen = outer
            .run(async {
                let inner = trio::CancelScope::new(); // never cancelled itself
                inner.run(async { Ok(trio::sleep_forever().await) }).await
            })
            .await
            .unwrap();
        // The inner scope did not catch; the outer one saw the body's value.
        let cancelled = seen.unwrap().unwrap().unwrap_err();
        assert_eq!(cancelled.source(), CancelSource::Deadline);
    });
}

#[test]
fn a_nursery_of_only_cancellations_passes_the_cause_on() {
    run_auto(async {
        let outer = trio::CancelScope::new();
        outer.cancel_with_reason("outer");
        let seen = outer
            .run(async {
                let result = trio::open_nursery(|nursery| async move {
                    nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
                    Ok(())
                })
                .await;
                Ok(result)
            })
            .await
            .unwrap()
            .unwrap();
        let err = seen.unwrap_err();
        let cancelled = err.downcast_ref::<Cancelled>().expect("a plain Cancelled");
        assert_eq!(cancelled.reason(), Some("outer"));
    });
}

#[test]
fn shutdown_is_the_source_for_system_tasks() {
    let (tx, rx) = std::sync::mpsc::channel();
    run_auto(async move {
        trio::lowlevel::spawn_system_task(async move {
            let cancelled = trio::sleep_forever().await.unwrap_err();
            tx.send((cancelled.source(), cancelled.to_string())).unwrap();
            Ok(())
        });
        trio::checkpoint().await.unwrap();
    });
    let (source, text) = rx.recv().unwrap();
    assert_eq!(source, CancelSource::Shutdown);
    assert!(text.contains("shutting down"), "{text}");
}

#[test]
fn hand_made_cancellations_compare_equal_and_stay_cancellations() {
    assert_eq!(Cancelled::new(), Cancelled::default());
    assert_eq!(Cancelled::new().source(), CancelSource::Unknown);
    assert_eq!(Cancelled::new().to_string(), "cancelled");
    run_auto(async {
        let scope = trio::CancelScope::new();
        scope.cancel();
        let a = first_cancellation(scope.clone()).await;
        assert_ne!(a, Cancelled::new(), "a recorded cause differs from none");
        assert!(trio::Error::from(a.clone()).is_cancelled());
        let b = a.clone();
        assert_eq!(a, b);
    });
}

#[test]
fn a_send_error_says_cancelled_only_when_cancelled() {
    // SendError::is_cancelled must be false for Closed and Broken.
    assert!(trio::SendError::Cancelled(1).is_cancelled());
    assert!(!trio::SendError::Closed(1).is_cancelled());
    assert!(!trio::SendError::Broken(1).is_cancelled());
}

// ===== a foreign future awaited directly in a cancelled scope =====

#[test]
fn a_foreign_future_that_ignores_cancellation_fails_the_run_after_the_grace_period() {
    let grace = Duration::from_millis(20);
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let err = trio::Builder::new()
        .cancel_grace(Some(grace))
        .try_run(async move {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("ignores-cancel", async move {
                    trio::move_on_after(Duration::from_millis(1), async move { Ok(rx.await.ok()) }).await?;
                    Ok(())
                });
                Ok(())
            })
            .await
            .ok();
        })
        .unwrap_err();
    drop(tx);
    assert_eq!(err.kind(), RunErrorKind::Uncancellable(grace));
    let message = err.to_string();
    assert!(message.contains("task 2 `ignores-cancel`"), "{message}");
    assert!(message.contains("trio::cancellable"), "{message}");
}

#[test]
fn a_foreign_future_that_completes_within_the_grace_period_is_fine() {
    let (tx, rx) = futures::channel::oneshot::channel::<u8>();
    let sender = std::thread::spawn(move || {
        // Completes the foreign future from another thread; the run waits for it.
        tx.send(7).unwrap();
    });
    let value = trio::Builder::new().cancel_grace(Some(Duration::from_secs(30))).run(async move {
        let scope = trio::CancelScope::new();
        scope.cancel();
        scope.run(async move { Ok(rx.await.ok()) }).await.unwrap()
    });
    sender.join().unwrap();
    // The body ran to its end (nothing inside checkpointed), so the scope returned its value.
    assert_eq!(value, Some(Some(7)));
}

// ===== cancellation injection never cancels a shielded (internal) scope =====

/// Injects a cancellation at every cancel point of every task.
struct InjectEverywhere {
    offered: std::rc::Rc<std::cell::Cell<u64>>,
}

impl SchedulePolicy for InjectEverywhere {
    fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
        0
    }

    fn inject_cancel(&mut self, _task: &Task, _cancel_point: u64) -> bool {
        self.offered.set(self.offered.get() + 1);
        true
    }
}

#[test]
fn injection_never_reaches_into_a_shielded_scope() {
    let offered = std::rc::Rc::new(std::cell::Cell::new(0));
    let policy = InjectEverywhere { offered: offered.clone() };
    let (outcome, shielded_ok) =
        trio::Builder::new().clock(common::ManualClock::autojumping()).policy(policy).run(async {
            let shielded_ok = trio::CancelScope::shielded()
                .run(async {
                    trio::checkpoint().await?;
                    trio::sleep(secs(1)).await?;
                    Ok(())
                })
                .await
                .is_ok();
            let outcome = trio::move_on_after(secs(60), async { Ok(trio::checkpoint().await?) }).await.unwrap();
            (outcome, shielded_ok)
        });
    assert!(shielded_ok, "nothing outside can cancel a shielded body");
    assert_eq!(outcome, None, "an unshielded scope is still injected");
    assert!(offered.get() >= 1);
}

#[test]
fn a_condition_wait_cancelled_by_injection_still_holds_the_lock() {
    // Injection at the cancel points of Condition::wait cancels the user's scope around it, and
    // wait re-acquires the lock in its shielded scope, which injection must leave alone.
    let offered = std::rc::Rc::new(std::cell::Cell::new(0));
    let policy = InjectEverywhere { offered: offered.clone() };
    trio::Builder::new().clock(common::ManualClock::autojumping()).policy(policy).run(async {
        let cond = std::rc::Rc::new(trio::Condition::new());
        trio::open_nursery(|nursery| {
            let cond = cond.clone();
            async move {
                let c = cond.clone();
                nursery.start_soon(async move {
                    let _ = trio::move_on_after(secs(5), async {
                        let _guard = c.lock().await?;
                        let waited = c.wait().await;
                        assert!(
                            c.statistics().lock_statistics.owner.is_some(),
                            "wait returns holding the lock: {waited:?}"
                        );
                        Ok(())
                    })
                    .await;
                    Ok(())
                });
                Ok(())
            }
        })
        .await
        .unwrap();
    });
    assert!(offered.get() >= 1);
}
