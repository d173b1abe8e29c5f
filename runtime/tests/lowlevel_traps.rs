//! `wait_task_rescheduled` / `reschedule` and Trio's abort protocol: an abort that succeeds
//! ends the wait with `Cancelled`, one that fails leaves the task blocked until rescheduled.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::{Log, run_auto};
use trio::CancelScope;
use trio::lowlevel::{Abort, Task, current_task, reschedule, wait_all_tasks_blocked, wait_task_rescheduled};

type Slot = Rc<RefCell<Option<Task>>>;

#[test]
fn reschedule_wakes_the_waiting_task() {
    let log = Log::default();
    let l = log.clone();
    trio::run(async move {
        let slot: Slot = Rc::default();
        let s = slot.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                *s.borrow_mut() = Some(current_task());
                let r = wait_task_rescheduled(|| Abort::Succeeded).await;
                l.push(format!("woken: {r:?}"));
            });
            wait_all_tasks_blocked(Duration::ZERO).await?;
            let task = slot.borrow_mut().take().unwrap();
            assert_eq!(task.waiting_on(), ["wait_task_rescheduled"]);
            reschedule(&task);
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.take(), ["woken: Ok(())"]);
}

#[test]
fn a_succeeded_abort_ends_the_wait_with_cancelled() {
    run_auto(async {
        let aborted = Rc::new(Cell::new(false));
        let a = aborted.clone();
        let out = trio::move_on_after(Duration::from_secs(1), async move {
            wait_task_rescheduled(move || {
                a.set(true);
                Abort::Succeeded
            })
            .await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(out, None);
        assert!(aborted.get());
    });
}

#[test]
fn a_failed_abort_leaves_the_task_blocked_until_rescheduled() {
    run_auto(async {
        let slot: Slot = Rc::default();
        let log = Log::default();
        let (s, l, outer_log) = (slot.clone(), log.clone(), log.clone());
        trio::open_nursery(|nursery| async move {
            let scope = CancelScope::new();
            let handle = scope.clone();
            nursery.start_soon(async move {
                let l2 = l.clone();
                let out = scope
                    .run(async move {
                        *s.borrow_mut() = Some(current_task());
                        let r = wait_task_rescheduled(move || {
                            l2.push("abort called");
                            Abort::Failed
                        })
                        .await;
                        l.push(format!("wait returned {r:?}"));
                        r?;
                        Ok(())
                    })
                    .await?;
                assert_eq!(out, Some(()), "the wait finished normally, so nothing was caught");
                Ok(())
            });
            wait_all_tasks_blocked(Duration::ZERO).await?;
            handle.cancel();
            wait_all_tasks_blocked(Duration::ZERO).await?;
            assert_eq!(outer_log.snapshot(), ["abort called"], "still blocked after a failed abort");
            reschedule(&slot.borrow_mut().take().unwrap());
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(log.take(), ["abort called", "wait returned Ok(())"]);
    });
}

#[test]
fn waiting_in_a_cancelled_scope_aborts_at_once() {
    trio::run(async {
        let scope = CancelScope::new();
        scope.cancel();
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let task = current_task();
        let (s0, c0) = (task.schedule_points(), task.cancel_points());
        let out = scope
            .run(async move {
                wait_task_rescheduled(move || {
                    c.set(c.get() + 1);
                    Abort::Succeeded
                })
                .await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, None);
        assert_eq!(calls.get(), 1);
        assert!(task.schedule_points() > s0 && task.cancel_points() > c0, "a schedule point and a cancel point");
    });
}

#[test]
#[should_panic(expected = "is not waiting in wait_task_rescheduled")]
fn rescheduling_a_task_that_is_not_waiting_panics() {
    trio::run(async {
        reschedule(&current_task());
    });
}

#[test]
#[should_panic(expected = "only one wait_task_rescheduled at a time")]
fn one_wait_per_task() {
    trio::run(async {
        let a = wait_task_rescheduled(|| Abort::Succeeded);
        let b = wait_task_rescheduled(|| Abort::Succeeded);
        let _ = futures::future::select(Box::pin(a), Box::pin(b)).await;
    });
}
