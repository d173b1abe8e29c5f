//! Deadlock detection: a run where every task is blocked and nothing can wake them stops with a
//! report of every task (name, what it waits on, spawn site) instead of hanging.

mod common;

use common::{ManualClock, secs};
use trio::lowlevel::{WaitQueue, park_slot};
use trio::{Builder, RunErrorKind};

fn deadlock_report<F: std::future::Future>(future: F) -> String {
    let err = Builder::new().clock(ManualClock::autojumping()).try_run(future).err().expect("the run deadlocks");
    assert_eq!(err.kind(), RunErrorKind::Deadlock, "{err}");
    err.to_string()
}

#[test]
fn two_tasks_waiting_on_each_other() {
    let report = deadlock_report(async {
        let a = std::rc::Rc::new(WaitQueue::<()>::new());
        let b = std::rc::Rc::new(WaitQueue::<()>::new());
        trio::open_nursery(|nursery| async move {
            let (a1, b1) = (a.clone(), b.clone());
            nursery.start_soon_named("left", async move {
                a1.park("waiting for right to finish").await?;
                let _ = b1.unpark_one(());
                Ok(())
            });
            nursery.start_soon_named("right", async move {
                b.park("waiting for left to finish").await?;
                let _ = a.unpark_one(());
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert!(report.starts_with("deadlock: every task is blocked"), "{report}");
    assert!(report.contains("task 2 `left` (spawned at runtime/tests/deadlock.rs:"), "{report}");
    assert!(report.contains("waiting for right to finish"), "{report}");
    assert!(report.contains("task 3 `right`"), "{report}");
    assert!(report.contains("waiting for left to finish"), "{report}");
    assert!(report.contains("task 1 `"), "{report}");
    assert!(
        report.contains("waiting for the children of the nursery opened at runtime/tests/deadlock.rs:"),
        "{report}"
    );
    // children are indented under their parent
    let main_line = report.lines().position(|l| l.contains("task 1 `")).unwrap();
    let left_line = report.lines().position(|l| l.contains("task 2 `left`")).unwrap();
    assert!(left_line > main_line);
    assert!(report.lines().nth(left_line).unwrap().starts_with("    task 2"), "{report}");
}

#[test]
fn a_future_that_dropped_its_waker_is_a_deadlock() {
    let report = deadlock_report(async {
        std::future::pending::<()>().await;
    });
    assert!(report.contains("dropped its waker"), "{report}");
}

#[test]
fn a_slot_nobody_will_unpark_is_a_deadlock() {
    let report = deadlock_report(async {
        let (slot, unparker) = park_slot::<u8>("a value that never comes");
        drop(unparker);
        let _ = slot.await;
    });
    assert!(report.contains("a value that never comes"), "{report}");
    assert!(report.contains("tasks at virtual time 0s"), "{report}");
}

#[test]
fn a_pending_deadline_is_not_a_deadlock() {
    // With autojump the sleep ends; no deadlock.
    let done = Builder::new().clock(ManualClock::autojumping()).try_run(async {
        trio::sleep(secs(100)).await.unwrap();
        trio::current_time()
    });
    assert_eq!(done.unwrap(), common::at(100));
}

#[test]
fn a_frozen_clock_with_a_pending_deadline_is_reported_as_such() {
    let err = Builder::new()
        .clock(ManualClock::new())
        .try_run(async {
            trio::sleep(secs(1)).await.unwrap();
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Deadlock);
    assert!(err.to_string().contains("the clock is frozen"), "{err}");
}

#[test]
fn an_external_wait_is_not_a_deadlock() {
    let got = Builder::new().clock(ManualClock::autojumping()).run(async {
        let (tx, rx) = futures::channel::oneshot::channel::<&str>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            go_rx.recv().unwrap();
            tx.send("from a thread").unwrap();
        });
        // The thread answers only after the task is already waiting on it.
        trio::lowlevel::spawn_system_task(async move {
            trio::checkpoint().await.ok();
            go_tx.send(()).ok();
        });
        let got = trio::cancellable(rx).await.unwrap().unwrap();
        thread.join().unwrap();
        got
    });
    assert_eq!(got, "from a thread");
}

#[test]
#[should_panic(expected = "deadlock")]
fn run_panics_on_deadlock() {
    trio::run(async {
        trio::sleep_forever().await.ok();
    });
}
