//! `trio::run` itself: return values, misuse panics, system tasks, statistics, the batch rule,
//! the scheduling-policy and instrument hooks, and wakes from other threads.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{Log, Recorder, run_auto, secs};
use trio::abc::SchedulePolicy;
use trio::lowlevel::{RunnableTasks, TimerInfo};

#[test]
fn run_returns_the_main_output_and_may_borrow() {
    let local = String::from("borrowed");
    let out = trio::run(async {
        trio::checkpoint().await.unwrap();
        local.len()
    });
    assert_eq!(out, 8);
}

#[test]
#[should_panic(expected = "cannot be nested")]
fn nested_run_panics_with_advice() {
    trio::run(async {
        trio::run(async {});
    });
}

#[test]
fn primitives_outside_a_run_panic_with_advice() {
    fn message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(f).unwrap_err();
        payload.downcast_ref::<String>().cloned().unwrap_or_default()
    }
    let m = message(|| {
        trio::current_time();
    });
    assert!(m.contains("outside of trio::run") && m.contains("run_loop.rs"), "{m}");
    let m = message(|| {
        drop(trio::sleep(secs(1)));
    });
    assert!(m.contains("outside of trio::run"), "{m}");
    let m = message(|| {
        trio::current_effective_deadline();
    });
    assert!(m.contains("outside of trio::run"), "{m}");
    let m = message(|| {
        trio::lowlevel::current_task();
    });
    assert!(m.contains("outside of trio::run"), "{m}");
    let m = message(|| {
        futures::executor::block_on(trio::open_nursery(|_| async { Ok(()) })).unwrap();
    });
    assert!(m.contains("outside of trio::run"), "{m}");
    let m = message(|| {
        futures::executor::block_on(trio::checkpoint()).unwrap();
    });
    assert!(m.contains("outside of trio::run"), "{m}");
}

#[test]
fn a_panic_in_the_main_task_resumes_from_run() {
    let result = std::panic::catch_unwind(|| {
        trio::run(async {
            trio::checkpoint().await.unwrap();
            panic!("main failed");
        })
    });
    assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"main failed"));
}

#[test]
fn system_tasks_are_cancelled_when_main_finishes() {
    let log = Log::default();
    let l = log.clone();
    trio::run(async move {
        trio::lowlevel::spawn_system_task(async move {
            let r = trio::sleep_forever().await;
            l.push(format!("system task cancelled={}", r.is_err()));
            r?;
            Ok(())
        });
        trio::checkpoint().await.unwrap();
    });
    assert_eq!(log.take(), ["system task cancelled=true"]);
}

#[test]
#[should_panic(expected = "system task")]
fn a_failing_system_task_fails_the_run() {
    trio::run(async {
        trio::lowlevel::spawn_system_task(async { Err(trio::Error::msg("broken")) });
        trio::sleep(Duration::from_millis(1)).await.unwrap();
    });
}

#[test]
fn statistics() {
    run_auto(async {
        let stats = trio::lowlevel::current_statistics();
        assert_eq!(stats.tasks_living, 1);
        assert_eq!(stats.tasks_runnable, 0);
        assert_eq!(stats.next_deadline, None);
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async { Ok(trio::sleep(secs(3)).await?) });
            nursery.start_soon(async {});
            let stats = trio::lowlevel::current_statistics();
            assert_eq!(stats.tasks_living, 3);
            assert_eq!(stats.tasks_runnable, 2);
            trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            let stats = trio::lowlevel::current_statistics();
            assert_eq!(stats.tasks_living, 2);
            assert_eq!(stats.next_deadline, Some(common::at(3)));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn tasks_woken_during_a_batch_run_in_the_next_batch() {
    let log = Log::default();
    let l = log.clone();
    trio::run(async move {
        trio::open_nursery(|nursery| async move {
            for name in ["a", "b"] {
                let l = l.clone();
                nursery.start_soon(async move {
                    l.push(format!("{name}1"));
                    trio::checkpoint().await?; // back in the queue, behind the rest of the batch
                    l.push(format!("{name}2"));
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.take(), ["a1", "b1", "a2", "b2"]);
}

/// Picks the last runnable task: the reverse of Trio's order.
struct Last(Rc<RefCell<Vec<usize>>>);

impl SchedulePolicy for Last {
    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        self.0.borrow_mut().push(runnable.len());
        runnable.len() - 1
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        due.len() - 1
    }
}

#[test]
fn the_policy_decides_the_order() {
    let asked = Rc::new(RefCell::new(Vec::new()));
    let log = Log::default();
    let l = log.clone();
    trio::Builder::new().policy(Last(asked.clone())).clock(common::ManualClock::autojumping()).run(async move {
        trio::open_nursery(|nursery| async move {
            for name in ["a", "b", "c"] {
                let l = l.clone();
                nursery.start_soon(async move {
                    l.push(name);
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        // Timers due at the same instant fire in the order the policy picks, too.
        let l2 = log.clone();
        trio::open_nursery(|nursery| async move {
            for name in ["x", "y", "z"] {
                let l = l2.clone();
                nursery.start_soon(async move {
                    trio::sleep(secs(1)).await?;
                    l.push(name);
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(log_take(&log), ["c", "b", "a", "z", "y", "x"]);
    });
    assert!(!asked.borrow().is_empty());
}

fn log_take(log: &Log) -> Vec<String> {
    log.take()
}

#[test]
fn equal_deadlines_fire_in_creation_order_by_default() {
    let log = Log::default();
    let l = log.clone();
    run_auto(async move {
        trio::open_nursery(|nursery| async move {
            for name in ["x", "y", "z"] {
                let l = l.clone();
                nursery.start_soon(async move {
                    trio::sleep(secs(1)).await?;
                    l.push(name);
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.take(), ["x", "y", "z"]);
}

#[test]
fn instruments_see_every_event_in_order() {
    let recorder = Recorder::default();
    trio::Builder::new().instrument(recorder.clone()).clock(common::ManualClock::autojumping()).run(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("child", async { Ok(trio::sleep(secs(1)).await?) });
            Ok(())
        })
        .await
        .unwrap();
    });
    let events = recorder.events();
    assert_eq!(events.first().map(String::as_str), Some("before_run"));
    assert_eq!(events.last().map(String::as_str), Some("after_run"));
    assert!(events.contains(&"spawned 2 child".to_string()), "{events:#?}");
    assert!(events.contains(&"step 2 at 1s".to_string()), "{events:#?}");
    assert!(events.contains(&"exited 2".to_string()), "{events:#?}");
    assert!(events.iter().any(|e| e.starts_with("io_wait")), "{events:#?}");
    let spawned = events.iter().position(|e| e == "spawned 2 child").unwrap();
    let first_step = events.iter().position(|e| e.starts_with("step 2")).unwrap();
    let exited = events.iter().position(|e| e == "exited 2").unwrap();
    assert!(spawned < first_step && first_step < exited);
}

#[test]
fn a_wake_from_another_thread_reaches_the_loop() {
    let got = trio::run(async {
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let handle = std::thread::spawn(move || {
            tx.send(5).unwrap();
        });
        let got = trio::cancellable(rx).await.unwrap().unwrap();
        handle.join().unwrap();
        got
    });
    assert_eq!(got, 5);
}

#[test]
fn a_foreign_future_without_cancellable_is_also_woken() {
    // No wrapper: the task just awaits a foreign future whose waker went to another thread.
    let got = run_auto(async {
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            go_rx.recv().unwrap();
            tx.send(9).unwrap();
        });
        let got = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                // Even with autojump and a pending deadline, time must not skip while the
                // foreign future is outstanding.
                trio::sleep(secs(60)).await?;
                Ok(())
            });
            go_tx.send(()).unwrap();
            let v = rx.await.unwrap();
            assert_eq!(trio::current_time(), trio::Instant::ZERO, "autojump waited for the foreign future");
            nursery.cancel_scope().cancel();
            Ok(Some(v))
        })
        .await
        .unwrap();
        handle.join().unwrap();
        got
    });
    assert_eq!(got, Some(9));
}

#[test]
fn waker_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    trio::run(async {
        std::future::poll_fn(|cx| {
            assert_send_sync(cx.waker());
            std::task::Poll::Ready(())
        })
        .await;
    });
}

#[test]
fn step_limit_turns_a_livelock_into_a_report() {
    let err = trio::Builder::new()
        .max_steps(100)
        .try_run(async {
            loop {
                trio::checkpoint().await.unwrap();
            }
        })
        .unwrap_err();
    assert_eq!(err.kind(), trio::RunErrorKind::StepLimit(100));
    assert!(err.to_string().contains("step limit of 100"), "{err}");
}

#[test]
fn the_watchdog_stops_a_run_blocked_outside_the_runtime() {
    let err = trio::Builder::new()
        .watchdog(Duration::from_millis(50))
        .try_run(async {
            let (_tx, rx) = futures::channel::oneshot::channel::<()>();
            let _ = trio::cancellable(rx).await;
        })
        .unwrap_err();
    assert_eq!(err.kind(), trio::RunErrorKind::Watchdog(Duration::from_millis(50)));
    let report = err.to_string();
    assert!(report.contains("a future from outside trio (trio::cancellable)"), "{report}");
}

/// Injects a cancellation at one cancel point of one task.
struct InjectAt {
    task: u64,
    point: u64,
}

impl SchedulePolicy for InjectAt {
    fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
        0
    }

    fn inject_cancel(&mut self, task: &trio::lowlevel::Task, cancel_point: u64) -> bool {
        task.id().as_u64() == self.task && cancel_point == self.point
    }
}

#[test]
fn a_policy_can_inject_a_cancellation_at_a_chosen_cancel_point() {
    let log = Log::default();
    let l = log.clone();
    trio::Builder::new().policy(InjectAt { task: 2, point: 3 }).run(async move {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let out = trio::move_on_after(secs(100), async {
                    for i in 1..=5 {
                        trio::checkpoint().await?; // cancel points 1..=5
                        l.push(format!("checkpoint {i} passed"));
                    }
                    Ok(())
                })
                .await?;
                l.push(format!("scope caught the injected cancellation: {}", out.is_none()));
                trio::checkpoint().await?; // outside the cancelled scope: fine
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(
        log.take(),
        ["checkpoint 1 passed", "checkpoint 2 passed", "scope caught the injected cancellation: true"]
    );
}

#[test]
fn exit_hooks_run_when_the_task_exits_and_can_be_cancelled() {
    let log = Log::default();
    let l = log.clone();
    trio::run(async move {
        trio::open_nursery(|nursery| async move {
            let l2 = l.clone();
            nursery.start_soon(async move {
                let me = trio::lowlevel::current_task();
                let l3 = l2.clone();
                me.on_exit(move |task| l3.push(format!("task {} exited", task.id())));
                let l4 = l2.clone();
                let cancelled = me.on_exit(move |_| l4.push("never"));
                assert!(me.cancel_exit_hook(cancelled));
                assert!(!me.cancel_exit_hook(cancelled));
                trio::checkpoint().await?;
                l2.push("returning");
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.take(), ["returning", "task 2 exited"]);
}

#[test]
fn a_report_taken_by_a_task_shows_it_running() {
    trio::run(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("sleeper", async { Ok(trio::sleep_forever().await?) });
            trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            let report = trio::lowlevel::current_report();
            let me = report.tasks.iter().find(|t| t.id.as_u64() == 1).unwrap();
            assert!(me.running && me.waiting_on.is_empty(), "{report}");
            let sleeper = report.tasks.iter().find(|t| t.name == "sleeper").unwrap();
            assert!(!sleeper.running);
            assert_eq!(sleeper.waiting_on, ["sleep_forever"]);
            assert!(report.to_string().contains("`sleeper` (spawned at"), "{report}");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}
