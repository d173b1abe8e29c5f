//! The checkpoint rule: every `pub async fn` of the runtime that returns normally has executed
//! a schedule point and a cancel point (with Trio's documented exceptions), and a cancelled
//! call returns `Cancelled` at its cancel point.

mod common;

use std::future::Future;
use std::time::Duration;

use common::{run_auto, secs};
use trio::lowlevel::{Task, cancel_shielded_checkpoint, checkpoint_if_cancelled, current_task};
use trio::{CancelScope, TaskStatus};

fn counts(task: &Task) -> (u64, u64) {
    (task.schedule_points(), task.cancel_points())
}

/// Awaits `f` and returns how many schedule and cancel points it executed.
async fn measure<F: Future>(f: F) -> (F::Output, u64, u64) {
    let task = current_task();
    let (s0, c0) = counts(&task);
    let out = f.await;
    let (s1, c1) = counts(&task);
    (out, s1 - s0, c1 - c0)
}

#[test]
fn checkpoint_is_both() {
    trio::run(async {
        let (r, s, c) = measure(trio::checkpoint()).await;
        r.unwrap();
        assert_eq!((s, c), (1, 1));
    });
}

#[test]
fn checkpoint_if_cancelled_is_a_cancel_point_only_unless_cancelled() {
    trio::run(async {
        let (r, s, c) = measure(checkpoint_if_cancelled()).await;
        r.unwrap();
        assert_eq!((s, c), (0, 1));
        let scope = CancelScope::new();
        scope.cancel();
        scope
            .run(async {
                let (r, s, _) = measure(checkpoint_if_cancelled()).await;
                assert!(r.is_err());
                assert!(s >= 1, "a cancelled checkpoint_if_cancelled yields");
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn cancel_shielded_checkpoint_is_a_schedule_point_only() {
    trio::run(async {
        let ((), s, c) = measure(cancel_shielded_checkpoint()).await;
        assert_eq!((s, c), (1, 0));
    });
}

#[test]
fn sleeps_are_checkpoints() {
    run_auto(async {
        let (r, s, c) = measure(trio::sleep(secs(1))).await;
        r.unwrap();
        assert!(s >= 1 && c >= 1);
        let (r, s, c) = measure(trio::sleep(Duration::ZERO)).await;
        r.unwrap();
        assert_eq!((s, c), (1, 1), "sleep(0) is exactly a checkpoint");
        let past = trio::current_time() - secs(1);
        let (r, s, c) = measure(trio::sleep_until(past)).await;
        r.unwrap();
        assert_eq!((s, c), (1, 1));
    });
}

#[test]
fn waiting_for_idle_is_a_checkpoint() {
    trio::run(async {
        let (r, s, c) = measure(trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO)).await;
        r.unwrap();
        assert!(s >= 1 && c >= 1);
    });
}

#[test]
fn start_is_a_checkpoint() {
    trio::run(async {
        trio::open_nursery(|nursery| async move {
            let (r, s, _) = measure(nursery.start(|ts: TaskStatus<u8>| async move { ts.started(1) })).await;
            assert_eq!(r?, 1);
            assert!(s >= 1);
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn cancellable_is_a_checkpoint_even_when_the_future_is_ready() {
    trio::run(async {
        let (r, s, c) = measure(trio::cancellable(async { 3 })).await;
        assert_eq!(r.unwrap(), 3);
        assert!(s >= 1 && c >= 1);
    });
}

#[test]
fn cancelled_operations_return_cancelled() {
    run_auto(async {
        let scope = CancelScope::new();
        scope.cancel();
        scope
            .run(async {
                assert!(trio::checkpoint().await.is_err());
                assert!(trio::sleep(secs(1)).await.is_err());
                assert!(trio::sleep(Duration::ZERO).await.is_err());
                assert!(trio::sleep_until(trio::Instant::ZERO).await.is_err());
                assert!(trio::sleep_forever().await.is_err());
                assert!(trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await.is_err());
                assert!(trio::cancellable(std::future::pending::<()>()).await.is_err());
                assert!(trio::cancellable(async { 1 }).await.is_err(), "a cancel point before polling");
                let (slot, unparker) = trio::lowlevel::park_slot::<u8>("test");
                assert!(slot.await.is_err());
                assert_eq!(unparker.unpark(5), Err(5), "the value comes back: nobody is waiting");
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(trio::current_time(), trio::Instant::ZERO, "no sleep actually slept");
    });
}

#[test]
fn an_unpark_racing_a_cancel_never_loses_the_value() {
    // Cancel, then unpark in the same step: the waiter was already aborted, so the value is
    // refused and can go to the next waiter — Trio's abort-at-cancel-time semantics.
    run_auto(async {
        let queue = std::rc::Rc::new(trio::lowlevel::WaitQueue::<u32>::new());
        let scope = CancelScope::new();
        let handle = scope.clone();
        let q = queue.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let out = scope.run(async { Ok(q.park("first").await?) }).await?;
                assert_eq!(out, None, "the first waiter was cancelled");
                Ok(())
            });
            let q2 = queue.clone();
            nursery.start_soon(async move {
                trio::checkpoint().await?;
                assert_eq!(q2.park("second").await?, 7);
                Ok(())
            });
            trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            assert_eq!(queue.len(), 2);
            handle.cancel();
            assert_eq!(queue.len(), 1, "the cancelled waiter left the queue at once");
            queue.unpark_one(7).expect("the second waiter takes it");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_slot_unparked_before_its_first_poll_still_checkpoints() {
    trio::run(async {
        let (slot, unparker) = trio::lowlevel::park_slot::<u8>("early");
        unparker.unpark(3).unwrap();
        let (r, s, c) = measure(slot).await;
        assert_eq!(r, Ok(3));
        assert!(s >= 1 && c >= 1, "schedule points {s}, cancel points {c}");
        // In a cancelled scope the hand-off already happened: the value still wins.
        let (slot, unparker) = trio::lowlevel::park_slot::<u8>("early, cancelled");
        unparker.unpark(4).unwrap();
        let scope = CancelScope::new();
        scope.cancel();
        let got = scope.run(async { Ok(slot.await?) }).await.unwrap();
        assert_eq!(got, Some(4));
    });
}

#[test]
fn an_unparker_refuses_values_once_its_slot_is_dropped_unpolled() {
    let (slot, unparker) = trio::lowlevel::park_slot::<u8>("never polled");
    drop(slot);
    assert!(!unparker.is_waiting());
    assert_eq!(unparker.unpark(9), Err(9), "the value comes back instead of being lost");
}
