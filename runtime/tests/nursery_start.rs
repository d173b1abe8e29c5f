//! `Nursery::start` and `TaskStatus::started`, with Trio's rules: errors before `started`
//! come out unwrapped, exiting without `started` is an error, a pending `start` keeps the target
//! nursery open, and `start` in a cancelled caller leaves the task where it is.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{Log, at, run_auto, secs};
use trio::{CancelScope, Error, RuntimeError, TaskStatus};

async fn sleep_then_start(seconds: u64, task_status: TaskStatus<u64>) -> trio::Result<()> {
    trio::sleep(secs(seconds)).await?;
    task_status.started(seconds);
    trio::sleep(secs(seconds)).await?;
    Ok(())
}

#[test]
fn start_waits_for_started_then_the_nursery_waits_for_the_task() {
    run_auto(async {
        for seconds in [1, 2] {
            let t0 = trio::current_time();
            trio::open_nursery(|nursery| async move {
                assert_eq!(nursery.child_count(), 0);
                let got = nursery.start(move |ts| sleep_then_start(seconds, ts)).await?;
                assert_eq!(got, seconds);
                assert_eq!(trio::current_time() - t0, secs(seconds));
                assert_eq!(nursery.child_count(), 1);
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(trio::current_time() - t0, secs(2 * seconds));
        }
        // An ignored status lets the function be called directly.
        let t0 = trio::current_time();
        sleep_then_start(3, TaskStatus::ignored()).await.unwrap();
        assert_eq!(trio::current_time() - t0, secs(6));
    });
}

#[test]
fn an_error_before_started_comes_out_of_start_unwrapped() {
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            let err = nursery
                .start(|_ts: TaskStatus<()>| async { Err(Error::new(std::io::Error::other("oops"))) })
                .await
                .unwrap_err();
            assert!(err.as_group().is_none(), "not wrapped in a group: {err:?}");
            assert_eq!(err.downcast_ref::<std::io::Error>().unwrap().to_string(), "oops");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn exiting_without_started_is_an_error() {
    trio::run(async {
        trio::open_nursery(|nursery| async move {
            let err = nursery.start(|_ts: TaskStatus<u8>| async {}).await.unwrap_err();
            let runtime_error = err.downcast_ref::<RuntimeError>().expect("a RuntimeError");
            assert!(runtime_error.to_string().contains("exited without calling"), "{runtime_error}");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_panic_before_started_resumes_in_the_caller() {
    let result = std::panic::catch_unwind(|| {
        trio::run(async {
            trio::open_nursery(|nursery| async move {
                let _ = nursery.start(|_ts: TaskStatus<()>| async { panic!("starting failed") }).await;
                Ok(())
            })
            .await
        })
    });
    assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"starting failed"));
}

#[test]
fn an_error_after_started_goes_to_the_target_nursery() {
    let err = run_auto(async {
        trio::open_nursery(|nursery| async move {
            nursery
                .start_named("worker", |ts: TaskStatus| async move {
                    ts.started(());
                    trio::sleep(secs(1)).await?;
                    Err(Error::msg("later failure"))
                })
                .await?;
            Ok(())
        })
        .await
        .unwrap_err()
    });
    let group = err.as_group().expect("the nursery reports it");
    assert_eq!(group.entries()[0].task(), "worker");
}

#[test]
fn before_started_the_task_runs_in_the_callers_scopes_and_after_in_the_nursery() {
    run_auto(async {
        let log = Log::default();
        let l = log.clone();
        trio::open_nursery(|nursery| async move {
            // The caller's scope times out while the task is still starting: the task is
            // cancelled, because it runs inside the caller's scopes until started().
            let l2 = l.clone();
            let n = nursery.clone();
            let out = trio::move_on_after(secs(1), async move {
                n.start(|ts: TaskStatus| async move {
                    let r = trio::sleep(secs(5)).await;
                    l2.push(format!("slow starter cancelled={}", r.is_err()));
                    r?;
                    ts.started(());
                    Ok(())
                })
                .await
            })
            .await?;
            assert_eq!(out, None);

            // Once started, it has left the caller's scopes: their timeout no longer reaches it.
            let l3 = l.clone();
            trio::move_on_after(secs(1), async move {
                nursery
                    .start(|ts: TaskStatus| async move {
                        ts.started(());
                        let r = trio::sleep(secs(5)).await;
                        l3.push(format!("started task cancelled={} at {}", r.is_err(), trio::current_time()));
                        Ok(())
                    })
                    .await
            })
            .await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(log.take(), ["slow starter cancelled=true", "started task cancelled=false at 6s"]);
    });
}

#[test]
fn scopes_entered_before_started_move_with_the_task() {
    run_auto(async {
        let target_cancelled = Rc::new(Cell::new(false));
        let flag = target_cancelled.clone();
        trio::open_nursery(|nursery| async move {
            let n = nursery.clone();
            nursery
                .start(|ts: TaskStatus| async move {
                    // a scope entered before started(): after the move it hangs off the target
                    CancelScope::new()
                        .run(async move {
                            ts.started(());
                            let r = trio::sleep_forever().await;
                            flag.set(r.is_err());
                            r?;
                            Ok(())
                        })
                        .await?;
                    Ok(())
                })
                .await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert!(target_cancelled.get(), "cancelling the target nursery reached the moved scope");
    });
}

#[test]
fn start_in_a_cancelled_caller_leaves_the_task_under_start() {
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            // started() is a no-op; the task then hits a checkpoint and start() is Cancelled.
            let scope = CancelScope::new();
            scope.cancel();
            let n = nursery.clone();
            let out = scope
                .run(async move {
                    n.start(|ts: TaskStatus<&'static str>| async move {
                        ts.started("hi");
                        trio::checkpoint().await?;
                        Ok(())
                    })
                    .await?;
                    Ok(())
                })
                .await?;
            assert_eq!(out, None);

            // Without a checkpoint the task completes and start() returns its value.
            let scope = CancelScope::new();
            scope.cancel();
            let n = nursery.clone();
            let out = scope
                .run(async move {
                    let v = n
                        .start(|ts: TaskStatus<u32>| async move {
                            ts.started(7);
                        })
                        .await?;
                    Ok(v)
                })
                .await?;
            assert_eq!(out, Some(7));
            assert!(!scope.cancelled_caught());

            // An error after a no-op started() still comes out of start().
            let scope = CancelScope::new();
            scope.cancel();
            let n = nursery.clone();
            let err = scope
                .run(async move {
                    n.start(|ts: TaskStatus| async move {
                        ts.started(());
                        Err(Error::msg("whoops"))
                    })
                    .await
                })
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), "whoops");
            assert_eq!(nursery.child_count(), 0, "nothing moved into the nursery");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_pending_start_keeps_the_target_nursery_open() {
    run_auto(async {
        let closed_at = Rc::new(Cell::new(None));
        let c = closed_at.clone();
        trio::open_nursery(|outer| async move {
            let c2 = c.clone();
            trio::open_nursery(|target| async move {
                // A child that finishes at 0.5 s: without the pending start below, the target
                // would close then.
                target.start_soon(async {
                    trio::sleep(Duration::from_millis(500)).await?;
                    Ok(())
                });
                let t = target.clone();
                outer.start_soon(async move {
                    t.start(|ts: TaskStatus| async move {
                        trio::sleep(secs(1)).await?;
                        ts.started(());
                        trio::sleep(secs(1)).await?;
                        Ok(())
                    })
                    .await?;
                    assert_eq!(trio::current_time(), at(1));
                    Ok(())
                });
                Ok(())
            })
            .await?;
            c2.set(Some(trio::current_time()));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(closed_at.get(), Some(at(2)));
    });
}

#[test]
fn start_on_a_closed_nursery_fails_at_once() {
    run_auto(async {
        let mut keep = None;
        trio::open_nursery(|nursery| {
            keep = Some(nursery.clone());
            async { Ok(()) }
        })
        .await
        .unwrap();
        let t0 = trio::current_time();
        let err = keep.unwrap().start(|ts| sleep_then_start(7, ts)).await.unwrap_err();
        assert!(err.is::<RuntimeError>());
        assert!(err.to_string().contains("closed to new arrivals"), "{err}");
        assert_eq!(trio::current_time(), t0);
    });
}

#[test]
fn dropping_a_pending_start_drops_the_starting_task() {
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            let start = Box::pin(nursery.start(|ts: TaskStatus| async move {
                trio::sleep(secs(10)).await?;
                ts.started(());
                Ok(())
            }));
            let timeout = Box::pin(trio::sleep(secs(1)));
            match futures::future::select(start, timeout).await {
                futures::future::Either::Right((_, start)) => drop(start),
                futures::future::Either::Left(_) => panic!("the start cannot finish first"),
            }
            assert_eq!(trio::lowlevel::current_statistics().tasks_living, 1);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(trio::current_time(), at(1), "the nursery did not wait for the dropped task");
    });
}

/// A task that opens a nursery and reports it through `started`, so another task can start
/// things in it.
async fn setup_nursery(task_status: TaskStatus<trio::Nursery>) -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        task_status.started(nursery);
        trio::sleep_forever().await?;
        Ok(())
    })
    .await
}

/// Starts two sleeping children, waits until they sleep, runs `before_started`, then reports
/// started — moving itself, with its sleeping children, into the target nursery.
async fn sleeping_children(before_started: impl FnOnce(), task_status: TaskStatus) -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
        nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
        trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
        before_started();
        task_status.started(());
        Ok(())
    })
    .await
}

#[test]
fn moving_sleeping_tasks_into_a_cancelled_nursery_aborts_their_sleep() {
    // Cancel the target just before started(): the moved children are aborted on arrival.
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            let target = nursery.start(setup_nursery).await?;
            let scope = target.cancel_scope();
            target.start(move |ts| sleeping_children(move || scope.cancel(), ts)).await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(trio::current_time(), at(0), "nothing slept: the cancellation reached them");
    });
    // Cancel the target just after started(): the same, from the other side.
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            let target = nursery.start(setup_nursery).await?;
            target.start(|ts| sleeping_children(|| {}, ts)).await?;
            target.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(trio::current_time(), at(0));
    });
}

#[test]
fn a_started_task_can_start_another_before_reporting() {
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            let n = nursery.clone();
            let got = nursery
                .start(move |outer: TaskStatus<u32>| async move {
                    let inner = n.start(|inner: TaskStatus<u32>| async move {
                        inner.started(1);
                        trio::sleep(secs(1)).await?;
                        Ok(())
                    });
                    let one = inner.await?;
                    outer.started(one + 1);
                    trio::sleep(secs(2)).await?;
                    Ok(())
                })
                .await?;
            assert_eq!(got, 2);
            assert_eq!(nursery.child_count(), 2);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(trio::current_time(), at(2));
    });
}
