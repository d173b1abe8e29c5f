//! Deadlock reports name the instance a task waits on by the name its user gave it, and say
//! when nothing can ever wake the wait: the primitive lies inside the waiting task's own
//! future, where no other task can reach it.

mod common;

use std::rc::Rc;
use std::time::Duration;

use common::ManualClock;
use trio::{Builder, RunErrorKind};

fn deadlock_report<F: std::future::Future>(future: F) -> String {
    let err = Builder::new().try_run(future).err().expect("the run deadlocks");
    assert_eq!(err.kind(), RunErrorKind::Deadlock, "{err}");
    err.to_string()
}

/// The report's line for the task named `task`.
fn line_of_task<'a>(report: &'a str, task: &str) -> &'a str {
    let needle = format!("`{task}`");
    report.lines().find(|l| l.contains(&needle)).unwrap_or_else(|| panic!("task `{task}` is not listed in\n{report}"))
}

const NEVER_SET: &str = "nothing can ever set it";

// ===== names =====

#[test]
fn two_events_made_on_the_same_line_are_told_apart_by_name() {
    let report = deadlock_report(async {
        let events: Vec<Rc<trio::Event>> =
            ["config loaded", "cache warm"].into_iter().map(|name| Rc::new(trio::Event::new().named(name))).collect();
        trio::open_nursery(|nursery| async move {
            for (task, event) in ["waits-config", "waits-cache"].into_iter().zip(events) {
                nursery.start_soon_named(task, async move { Ok(event.wait().await?) });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    let config = line_of_task(&report, "waits-config");
    let cache = line_of_task(&report, "waits-cache");
    assert!(config.contains("Event::wait on the Event `config loaded` created at runtime/tests/"), "{report}");
    assert!(cache.contains("Event::wait on the Event `cache warm` created at runtime/tests/"), "{report}");
}

#[test]
fn an_unnamed_event_reads_as_before() {
    let report = deadlock_report(async {
        let event = Rc::new(trio::Event::new());
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("waiter", async move { Ok(event.wait().await?) });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert!(line_of_task(&report, "waiter").contains("Event::wait on the Event created at "), "{report}");
}

#[test]
fn every_primitive_shows_its_name_in_waits() {
    let report = deadlock_report(async {
        let lock = Rc::new(trio::Lock::new().named("the lock"));
        let fifo = Rc::new(trio::StrictFifoLock::new().named("the fifo lock"));
        let semaphore = Rc::new(trio::Semaphore::new(0).named("the semaphore"));
        let condition = Rc::new(trio::Condition::new().named("the condition"));
        let limiter = Rc::new(trio::CapacityLimiter::new(1).named("the limiter"));
        let (tx, _rx_kept) = trio::open_memory_channel::<u8>(0);
        let tx = tx.named("the sending channel");
        let (_tx_kept, rx) = trio::open_memory_channel::<u8>(0);
        let rx = rx.named("the receiving channel");
        let lot = Rc::new(trio::lowlevel::ParkingLot::new().named("the lot"));
        lock.acquire().await.unwrap();
        fifo.acquire().await.unwrap();
        limiter.acquire().await.unwrap();
        trio::open_nursery(|nursery| async move {
            let (l, f) = (lock.clone(), fifo.clone());
            nursery.start_soon_named("locker", async move { Ok(l.acquire().await?) });
            nursery.start_soon_named("fifo", async move { Ok(f.acquire().await?) });
            nursery.start_soon_named("sem", async move { Ok(semaphore.acquire().await?) });
            nursery.start_soon_named("cond", async move {
                let _guard = condition.lock().await?;
                Ok(condition.wait().await?)
            });
            nursery.start_soon_named("limited", async move { Ok(limiter.acquire().await?) });
            nursery.start_soon_named("sender", async move {
                tx.send(1).await.map_err(|e| e.into_error())?;
                Ok(())
            });
            nursery.start_soon_named("receiver", async move { Ok(rx.recv().await.map(drop)?) });
            nursery.start_soon_named("parker", async move { Ok(lot.park().await?) });
            Ok(())
        })
        .await
        .unwrap();
    });
    for (task, expected) in [
        ("locker", "Lock::acquire on the Lock `the lock` created at "),
        ("fifo", "StrictFifoLock::acquire on the StrictFifoLock `the fifo lock` created at "),
        ("sem", "Semaphore::acquire on the Semaphore `the semaphore` created at "),
        ("cond", "Condition::wait on the Condition `the condition` created at "),
        ("limited", "CapacityLimiter::acquire on the CapacityLimiter `the limiter` created at "),
        ("sender", "MemorySender::send on the memory channel `the sending channel` created at "),
        ("receiver", "MemoryReceiver::recv on the memory channel `the receiving channel` created at "),
        ("parker", "ParkingLot::park on the ParkingLot `the lot` created at "),
    ] {
        assert!(line_of_task(&report, task).contains(expected), "no `{expected}` for `{task}` in\n{report}");
    }
}

#[test]
fn a_channel_named_through_one_end_is_named_at_both() {
    let report = deadlock_report(async {
        let (tx, rx) = trio::open_memory_channel::<u8>(0);
        let rx = rx.named("jobs");
        let tx2 = tx.clone();
        drop(tx);
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("consumer", async move { Ok(rx.recv().await.map(drop)?) });
            nursery.start_soon_named("idle-producer", async move {
                trio::sleep_forever().await?;
                drop(tx2);
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert!(line_of_task(&report, "consumer").contains("on the memory channel `jobs` created at "), "{report}");
}

#[test]
fn debug_shows_the_name() {
    let (tx, rx) = trio::open_memory_channel::<u8>(1);
    let tx = tx.named("jobs");
    for (debug, name) in [
        (format!("{:?}", trio::Event::new().named("ready")), "ready"),
        (format!("{:?}", trio::Lock::new().named("state")), "state"),
        (format!("{:?}", trio::StrictFifoLock::new().named("queue")), "queue"),
        (format!("{:?}", trio::Semaphore::new(1).named("slots")), "slots"),
        (format!("{:?}", trio::CapacityLimiter::new(1).named("pool")), "pool"),
        (format!("{:?}", trio::Condition::new().named("changed")), "changed"),
        (format!("{tx:?}"), "jobs"),
        (format!("{rx:?}"), "jobs"),
    ] {
        assert!(debug.contains(&format!("{name:?}")), "{name} not in {debug}");
    }
}

// ===== nothing can ever wake it =====

#[test]
fn an_event_only_its_waiter_can_reach_can_never_be_set() {
    let report = deadlock_report(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("lonely", async {
                let ready = trio::Event::new().named("ready");
                ready.wait().await?; // nobody else was ever given `ready`
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    let line = line_of_task(&report, "lonely");
    assert!(line.contains("Event::wait on the Event `ready` created at "), "{report}");
    assert!(
        line.contains(
            "nothing can ever set it: the Event lives inside this task's own future, so no other task can reach it"
        ),
        "{report}"
    );
}

#[test]
fn an_event_another_task_holds_is_not_said_to_be_unsettable() {
    let report = deadlock_report(async {
        let ready = Rc::new(trio::Event::new());
        let setter = ready.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("waiter", async move { Ok(ready.wait().await?) });
            nursery.start_soon_named("setter", async move {
                trio::sleep_forever().await?; // could set it, were it ever woken
                setter.set();
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert!(line_of_task(&report, "waiter").contains("Event::wait on the Event created at "), "{report}");
    assert!(!report.contains(NEVER_SET), "{report}");
}

#[test]
fn an_event_behind_an_rc_is_never_claimed_even_with_no_other_holder() {
    // The rule sees addresses, not reference counts: an `Rc` the waiter alone holds lives
    // outside its future, so the report stays silent rather than guess.
    let report = deadlock_report(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("waiter", async {
                let ready = Rc::new(trio::Event::new());
                ready.wait().await?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert!(line_of_task(&report, "waiter").contains("Event::wait on the Event created at "), "{report}");
    assert!(!report.contains(NEVER_SET), "{report}");
}

#[test]
fn the_main_task_never_gets_the_claim() {
    // `run` polls the main future in place, outside any task allocation the rule can see.
    let report = deadlock_report(async {
        let ready = trio::Event::new();
        ready.wait().await.unwrap();
    });
    assert!(report.contains("Event::wait on the Event created at "), "{report}");
    assert!(!report.contains(NEVER_SET), "{report}");
}

#[test]
fn a_semaphore_and_a_condition_only_the_waiter_can_reach_say_so_with_their_verbs() {
    let report = deadlock_report(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("sem", async {
                let slots = trio::Semaphore::new(0);
                slots.acquire().await?;
                Ok(())
            });
            nursery.start_soon_named("cond", async {
                let changed = trio::Condition::new();
                changed.acquire().await?;
                changed.wait().await?;
                Ok(())
            });
            nursery.start_soon_named("lot", async {
                let lot = trio::lowlevel::ParkingLot::new();
                lot.park().await?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert!(line_of_task(&report, "sem").contains("nothing can ever release it: the Semaphore lives"), "{report}");
    assert!(line_of_task(&report, "cond").contains("nothing can ever notify it: the Condition lives"), "{report}");
    assert!(line_of_task(&report, "lot").contains("nothing can ever unpark it: the ParkingLot lives"), "{report}");
}

#[test]
fn a_notified_condition_waits_on_its_lock_and_loses_the_claim() {
    // Once notified, the waiter queues for the lock, which code outside the condition can
    // release: the report must not say nothing can wake it.
    let report = deadlock_report(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("both", async {
                let changed = trio::Condition::new();
                changed.acquire().await?;
                let notify_and_hold = async {
                    trio::lowlevel::wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
                    changed.acquire().await?; // the waiter released it
                    changed.notify_all()?; // the waiter now queues for the lock we hold
                    trio::sleep_forever().await?;
                    Ok::<_, trio::Error>(())
                };
                let (waited, held) = futures::join!(changed.wait(), notify_and_hold);
                waited?;
                held?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    let line = line_of_task(&report, "both");
    assert!(line.contains("Condition::wait on the Condition created at "), "{report}");
    assert!(!line.contains("nothing can ever"), "{report}");
}

#[test]
fn a_lot_with_a_breaker_can_be_woken_by_its_exit_and_is_not_claimed() {
    // The breaker is the main task, blocked in its nursery: were it ever to exit, the lot would
    // break and wake the parker. Both orders: breaker first, and breaker added while parked.
    let report = deadlock_report(async {
        let main = trio::lowlevel::current_task();
        trio::open_nursery(|nursery| async move {
            let breaker = main.clone();
            nursery.start_soon_named("breaker-first", async move {
                let lot = trio::lowlevel::ParkingLot::new();
                lot.add_breaker(&breaker)?;
                lot.park().await?;
                Ok(())
            });
            nursery.start_soon_named("breaker-later", async move {
                let lot = trio::lowlevel::ParkingLot::new();
                let add_breaker = async {
                    trio::checkpoint().await?; // the park below has queued by now
                    lot.add_breaker(&main)?;
                    trio::sleep_forever().await?;
                    Ok::<_, trio::Error>(())
                };
                let (parked, added) = futures::join!(lot.park(), add_breaker);
                parked?;
                added?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    for task in ["breaker-first", "breaker-later"] {
        let line = line_of_task(&report, task);
        assert!(line.contains("ParkingLot::park on the ParkingLot created at "), "{report}");
        assert!(!line.contains("nothing can ever"), "{report}");
    }
}

#[test]
fn while_the_run_goes_on_the_claim_is_not_made() {
    // Another branch of the same task may still set the event: only a deadlock, which stops
    // every task for good, makes "nothing can ever set it" true.
    trio::run(async {
        let go = Rc::new(trio::Event::new());
        let go_in_child = go.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("both", async move {
                let ready = trio::Event::new();
                let set_later = async {
                    go_in_child.wait().await?;
                    ready.set();
                    Ok::<_, trio::Error>(())
                };
                let (waited, set) = futures::join!(ready.wait(), set_later);
                waited?;
                set?;
                Ok(())
            });
            trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            let both = nursery.child_tasks().pop().expect("the child is running");
            let waits = both.waiting_on();
            assert!(waits.iter().any(|w| w.starts_with("Event::wait on the Event created at ")), "{waits:?}");
            assert!(!waits.iter().any(|w| w.contains("nothing can ever")), "{waits:?}");
            go.set(); // ... and the other branch does set it
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_deadlock_on_a_frozen_clock_makes_no_claim() {
    // A sleep is pending on a clock that does not move: the run stops, but moving the clock
    // would let the same task's other branch set the event.
    let err = Builder::new()
        .clock(ManualClock::new())
        .try_run(async {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("both", async {
                    let ready = trio::Event::new();
                    let set_later = async {
                        trio::sleep(Duration::from_secs(1)).await?;
                        ready.set();
                        Ok::<_, trio::Error>(())
                    };
                    let (waited, set) = futures::join!(ready.wait(), set_later);
                    waited?;
                    set?;
                    Ok(())
                });
                Ok(())
            })
            .await
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Deadlock, "{err}");
    let report = err.to_string();
    assert!(report.contains("the clock is frozen"), "{report}");
    assert!(line_of_task(&report, "both").contains("Event::wait on the Event created at "), "{report}");
    assert!(!report.contains("nothing can ever"), "{report}");
}

#[test]
fn a_watchdog_report_makes_no_claim() {
    // Stopped by the watchdog while a foreign wait is outstanding, a task might still be woken.
    let err = Builder::new()
        .watchdog(Duration::from_millis(20))
        .try_run(async {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("lonely", async {
                    let ready = trio::Event::new();
                    ready.wait().await?;
                    Ok(())
                });
                nursery.start_soon_named("outside", async {
                    let (slot, _unparker) = trio::lowlevel::park_slot::<()>("a reply from another process");
                    slot.external().await?;
                    Ok(())
                });
                Ok(())
            })
            .await
        })
        .unwrap_err();
    assert!(matches!(err.kind(), RunErrorKind::Watchdog(_)), "{err}");
    let report = err.to_string();
    assert!(line_of_task(&report, "lonely").contains("Event::wait on the Event created at "), "{report}");
    assert!(!report.contains("nothing can ever"), "{report}");
}

/// A future completed by another thread, joined in one task with a trio wait: the task's
/// waker is held outside the run, so the report must not claim that nothing can wake it.
fn completed_by_a_thread(delay: std::time::Duration) -> impl std::future::Future<Output = ()> {
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    let state: Arc<Mutex<(bool, Option<Waker>)>> = Arc::new(Mutex::new((false, None)));
    let in_thread = state.clone();
    let mut start = Some(move || {
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let mut s = in_thread.lock().unwrap();
            s.0 = true;
            if let Some(waker) = s.1.take() {
                waker.wake();
            }
        });
    });
    std::future::poll_fn(move |cx| {
        if let Some(start) = start.take() {
            start();
        }
        let mut s = state.lock().unwrap();
        if s.0 {
            Poll::Ready(())
        } else {
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    })
}

#[test]
fn a_task_whose_waker_another_thread_holds_gets_no_claim() {
    // The thread holds the waker for ten minutes: the run cannot tell that apart from a
    // deadlock (a task with a live trio wait is not counted as waiting outside the run), but
    // the report must not say that nothing can ever set the event.
    let report = deadlock_report(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("waiter", async {
                let event = trio::Event::new();
                let (waited, ()) = futures::join!(event.wait(), async {
                    completed_by_a_thread(std::time::Duration::from_secs(600)).await;
                    event.set();
                });
                waited?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert!(line_of_task(&report, "waiter").contains("Event::wait on the Event created at "), "{report}");
    assert!(!report.contains(NEVER_SET), "{report}");
}
