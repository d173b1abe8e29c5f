//! `Event`, `Semaphore`, `CapacityLimiter` and `lowlevel::ParkingLot`: the behaviour of
//! Trio's `test_sync.py` and `test_parking_lot.py` (edge cases, fairness, changing the
//! total, breaking and re-parking), plus the guards.

mod sync_util;

use std::cell::RefCell;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::poll;
use sync_util::{assert_checkpoints, run};
use trio::lowlevel::{ParkingLot, current_task, wait_all_tasks_blocked};
use trio::{Borrower, Capacity, CapacityLimiter, Event, Semaphore, SyncError, open_nursery};

const ZERO: Duration = Duration::ZERO;

// ===== Event =====

#[test]
fn event_wakes_every_waiter_in_order() {
    run(async {
        let e = Event::new();
        assert!(!e.is_set());
        assert_eq!(e.statistics().tasks_waiting, 0);
        e.set();
        assert!(e.is_set());
        assert_checkpoints(e.wait()).await.unwrap();

        let e = Rc::new(Event::new());
        let record = Rc::new(RefCell::new(Vec::new()));
        let (e2, record2) = (e.clone(), record.clone());
        open_nursery(|nursery| async move {
            for i in 0..3 {
                let (e, record) = (e2.clone(), record2.clone());
                nursery.start_soon(async move {
                    record.borrow_mut().push(format!("sleeping {i}"));
                    e.wait().await?;
                    record.borrow_mut().push(format!("woken {i}"));
                    Ok(())
                });
            }
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(record2.borrow().len(), 3);
            assert_eq!(e2.statistics().tasks_waiting, 3);
            e2.set();
            e2.set(); // a second set changes nothing
            assert_eq!(e2.statistics().tasks_waiting, 0);
            wait_all_tasks_blocked(ZERO).await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*record.borrow(), ["sleeping 0", "sleeping 1", "sleeping 2", "woken 0", "woken 1", "woken 2"]);
    });
}

// ===== Semaphore =====

#[test]
fn semaphore_counts_and_hands_units_to_waiters() {
    run(async {
        let s = Semaphore::new(1);
        assert_eq!((s.value(), s.max_value()), (1, None));
        s.release().unwrap();
        assert_eq!(s.value(), 2);
        assert_eq!(s.statistics().tasks_waiting, 0);
        s.try_acquire().unwrap();
        assert_eq!(s.value(), 1);
        assert_checkpoints(s.acquire()).await.unwrap();
        assert_eq!(s.value(), 0);
        let err = s.try_acquire().unwrap_err();
        assert!(err.to_string().contains("use acquire() to wait"), "{err}");

        s.release().unwrap();
        {
            let _permit = assert_checkpoints(s.acquire_permit()).await.unwrap();
            assert_eq!(s.value(), 0);
        }
        assert_eq!(s.value(), 1);
        s.try_acquire().unwrap();

        let s = Rc::new(s);
        let record = Rc::new(RefCell::new(Vec::new()));
        let (s2, record2) = (s.clone(), record.clone());
        open_nursery(|nursery| async move {
            let (s, record) = (s2.clone(), record2.clone());
            nursery.start_soon(async move {
                record.borrow_mut().push("started");
                s.acquire().await?;
                record.borrow_mut().push("finished");
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(*record2.borrow(), ["started"]);
            assert_eq!(s2.value(), 0);
            s2.release()?;
            // Fairness: the unit went straight to the waiter.
            assert_eq!(s2.value(), 0);
            assert!(s2.try_acquire().is_err());
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*record.borrow(), ["started", "finished"]);
    });
}

#[test]
fn a_bounded_semaphore_refuses_too_many_releases() {
    let s = Semaphore::with_max_value(1, 1);
    assert_eq!(s.max_value(), Some(1));
    let err = s.release().unwrap_err();
    assert!(err.to_string().starts_with("semaphore released too many times"), "{err}");
    assert_eq!(s.value(), 1);
    s.try_acquire().unwrap();
    assert_eq!(s.value(), 0);
    s.release().unwrap();
    assert_eq!(s.value(), 1);
    assert_eq!(s.statistics().max_value, Some(1));
}

#[test]
#[should_panic(expected = "max_value (1) must be >= initial_value (2)")]
fn a_semaphore_bound_below_its_initial_value_panics() {
    let _ = Semaphore::with_max_value(2, 1);
}

#[test]
fn a_permit_releases_on_drop() {
    let s = Semaphore::new(2);
    let a = s.try_acquire_permit().unwrap();
    let b = s.try_acquire_permit().unwrap();
    assert!(s.try_acquire_permit().is_err());
    drop(a);
    assert_eq!(s.value(), 1);
    drop(b);
    assert_eq!(s.value(), 2);
}

#[test]
fn semaphore_waiters_are_served_in_order() {
    run(async {
        let s = Rc::new(Semaphore::new(0));
        let order = Rc::new(RefCell::new(Vec::new()));
        let (s2, order2) = (s.clone(), order.clone());
        open_nursery(|nursery| async move {
            for i in 0..4 {
                let (s, order) = (s2.clone(), order2.clone());
                nursery.start_soon(async move {
                    s.acquire().await?;
                    order.borrow_mut().push(i);
                    Ok(())
                });
                wait_all_tasks_blocked(ZERO).await?;
            }
            assert_eq!(s2.statistics().tasks_waiting, 4);
            for _ in 0..4 {
                s2.release()?;
                wait_all_tasks_blocked(ZERO).await?;
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*order.borrow(), [0, 1, 2, 3]);
    });
}

#[test]
fn a_dropped_semaphore_acquire_gives_the_unit_back() {
    run(async {
        let s = Rc::new(Semaphore::new(0));
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            let parked = Rc::new(Event::new());
            let go = Rc::new(Event::new());
            let (s, parked2, go2) = (s2.clone(), parked.clone(), go.clone());
            nursery.start_soon(async move {
                {
                    let mut acquire = pin!(s.acquire());
                    assert!(poll!(acquire.as_mut()).is_pending());
                    parked2.set();
                    go2.wait().await?;
                }
                assert_eq!(s.value(), 1, "the unit handed to the dropped acquire came back");
                Ok(())
            });
            parked.wait().await?;
            s2.release()?;
            assert_eq!(s2.value(), 0, "handed to the parked acquire");
            go.set();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(s.value(), 1);
    });
}

// ===== CapacityLimiter =====

#[test]
fn capacity_limiter_edge_cases() {
    run(async {
        let c = CapacityLimiter::new(2);
        assert!(format!("{c:?}").contains("CapacityLimiter"));
        assert_eq!(c.total_tokens(), Capacity::Bounded(2));
        assert_eq!(c.borrowed_tokens(), 0);
        assert_eq!(c.available_tokens(), Capacity::Bounded(2));
        assert!(c.release().is_err());
        assert_eq!(c.borrowed_tokens(), 0);
        c.try_acquire().unwrap();
        assert_eq!(c.borrowed_tokens(), 1);
        assert_eq!(c.available_tokens(), Capacity::Bounded(1));

        let stats = c.statistics();
        assert_eq!(stats.borrowed_tokens, 1);
        assert_eq!(stats.total_tokens, Capacity::Bounded(2));
        assert_eq!(stats.borrowers, [Borrower::current_task()]);
        assert_eq!(stats.tasks_waiting, 0);

        // A borrower cannot hold two tokens.
        assert!(c.try_acquire().unwrap_err().is_misuse());
        assert_eq!(c.borrowed_tokens(), 1);
        assert!(c.acquire().await.unwrap_err().is_misuse());
        assert_eq!(c.borrowed_tokens(), 1);

        // But it can borrow on behalf of someone else.
        let someone = Borrower::unique();
        assert_checkpoints(c.acquire_on_behalf_of(&someone)).await.unwrap();
        assert_eq!(c.borrowed_tokens(), 2);
        assert!(c.try_acquire_on_behalf_of(&Borrower::unique()).unwrap_err().is_would_block());
        assert_eq!(c.statistics().borrowers, [Borrower::current_task(), someone.clone()]);

        c.release_on_behalf_of(&Borrower::task(&current_task())).unwrap();
        assert_eq!(c.statistics().borrowers, std::slice::from_ref(&someone));
        c.release_on_behalf_of(&someone).unwrap();
        assert_eq!(c.borrowed_tokens(), 0);
        {
            let _token = assert_checkpoints(c.acquire_token()).await.unwrap();
            assert_eq!(c.borrowed_tokens(), 1);
        }
        assert_eq!(c.borrowed_tokens(), 0);
        let err = c.release_on_behalf_of(&someone).unwrap_err();
        assert!(err.to_string().contains("isn't holding any"), "{err}");

        let c = Rc::new(c);
        let c2 = c.clone();
        let (v1, v2, v3) = (Borrower::unique(), Borrower::unique(), Borrower::unique());
        let (v1b, v3b) = (v1.clone(), v3.clone());
        open_nursery(|nursery| async move {
            c2.acquire_on_behalf_of(&v1b).await?;
            c2.acquire_on_behalf_of(&v2).await?;
            let (c, v3) = (c2.clone(), v3b.clone());
            nursery.start_soon(async move { Ok(c.acquire_on_behalf_of(&v3).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(c2.borrowed_tokens(), 2);
            assert_eq!(c2.statistics().tasks_waiting, 1);
            c2.release_on_behalf_of(&v2)?;
            // Fairness: the token went straight to the waiter.
            assert_eq!(c2.borrowed_tokens(), 2);
            assert!(c2.try_acquire().unwrap_err().is_would_block());
            Ok(())
        })
        .await
        .unwrap();
        c.release_on_behalf_of(&v3).unwrap();
        c.release_on_behalf_of(&v1).unwrap();
        assert_eq!(c.borrowed_tokens(), 0);
    });
}

#[test]
fn an_unbounded_limiter_never_runs_out() {
    run(async {
        let c = CapacityLimiter::new(Capacity::Unbounded);
        assert_eq!(c.total_tokens(), Capacity::Unbounded);
        assert_eq!(c.available_tokens(), Capacity::Unbounded);
        assert!(c.release().is_err());
        c.try_acquire().unwrap();
        for _ in 0..100 {
            c.try_acquire_on_behalf_of(&Borrower::unique()).unwrap();
        }
        assert_eq!(c.borrowed_tokens(), 101);
        assert_eq!(c.available_tokens(), Capacity::Unbounded);
    });
}

#[test]
fn changing_the_total_wakes_waiters_or_lets_holders_finish() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(2));
        let c2 = c.clone();
        let b: Vec<Borrower> = (0..5).map(|_| Borrower::unique()).collect();
        open_nursery(|nursery| async move {
            for borrower in &b {
                let (c, borrower) = (c2.clone(), borrower.clone());
                nursery.start_soon(async move { Ok(c.acquire_on_behalf_of(&borrower).await?) });
                wait_all_tasks_blocked(ZERO).await?;
            }
            assert_eq!(c2.statistics().borrowers, b[..2]);
            assert_eq!(c2.statistics().tasks_waiting, 3);
            c2.set_total_tokens(4);
            assert_eq!(c2.statistics().borrowers, b[..4]);
            assert_eq!(c2.statistics().tasks_waiting, 1);
            c2.set_total_tokens(1);
            assert_eq!(c2.borrowed_tokens(), 4);
            assert_eq!(c2.total_tokens(), Capacity::Bounded(1));
            assert_eq!(c2.available_tokens(), Capacity::Bounded(0));
            for borrower in &b[..3] {
                c2.release_on_behalf_of(borrower)?;
            }
            assert_eq!(c2.statistics().borrowers, b[3..4]);
            assert_eq!(c2.statistics().tasks_waiting, 1);
            c2.release_on_behalf_of(&b[3])?;
            assert_eq!(c2.statistics().borrowers, b[4..]);
            assert_eq!(c2.statistics().tasks_waiting, 0);
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_cancelled_limiter_acquire_leaves_nothing_behind() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        c.acquire().await.unwrap();
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            let c = c2.clone();
            nursery.start_soon(async move { Ok(c.acquire().await?) });
            wait_all_tasks_blocked(ZERO).await?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(c.statistics().tasks_waiting, 0);
        c.release().unwrap();
        assert_eq!(c.borrowed_tokens(), 0, "the cancelled acquire did not get the token");
    });
}

#[test]
fn a_borrower_that_queued_twice_is_refused_on_wake_up() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        let c2 = c.clone();
        let job = Borrower::unique();
        let holder = Borrower::unique();
        let results = Rc::new(RefCell::new(Vec::new()));
        let results2 = results.clone();
        open_nursery(|nursery| async move {
            c2.try_acquire_on_behalf_of(&holder)?;
            for _ in 0..2 {
                let (c, job, results) = (c2.clone(), job.clone(), results2.clone());
                nursery.start_soon(async move {
                    let result = c.acquire_on_behalf_of(&job).await;
                    results.borrow_mut().push(result.map_err(|e| e.is_misuse()));
                });
                wait_all_tasks_blocked(ZERO).await?;
            }
            c2.set_total_tokens(3);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*results.borrow(), [Ok(()), Err(true)]);
        assert_eq!(c.borrowed_tokens(), 2);
    });
}

#[test]
fn a_dropped_limiter_acquire_gives_the_token_back() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            c2.acquire().await?;
            let parked = Rc::new(Event::new());
            let go = Rc::new(Event::new());
            let (c, parked2, go2) = (c2.clone(), parked.clone(), go.clone());
            nursery.start_soon(async move {
                {
                    let mut acquire = pin!(c.acquire());
                    assert!(poll!(acquire.as_mut()).is_pending());
                    parked2.set();
                    go2.wait().await?;
                }
                assert_eq!(c.borrowed_tokens(), 0, "the token handed to the dropped acquire came back");
                Ok(())
            });
            parked.wait().await?;
            c2.release()?;
            assert_eq!(c2.borrowed_tokens(), 1, "handed to the parked acquire");
            go.set();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(c.borrowed_tokens(), 0);
    });
}

// ===== every lock-like primitive excludes and is fair =====

#[test]
fn semaphore_and_limiter_of_one_serve_three_tasks_in_a_fixed_order() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let limiter = Rc::new(CapacityLimiter::new(1));
        for use_limiter in [false, true] {
            let record = Rc::new(RefCell::new(Vec::new()));
            let initial = Rc::new(RefCell::new(Vec::new()));
            let (sem, limiter, record2, initial2) = (sem.clone(), limiter.clone(), record.clone(), initial.clone());
            open_nursery(|nursery| async move {
                for name in 1..=3 {
                    let (sem, limiter, record, initial) =
                        (sem.clone(), limiter.clone(), record2.clone(), initial2.clone());
                    nursery.start_soon(async move {
                        initial.borrow_mut().push(name);
                        for _ in 0..5 {
                            if use_limiter {
                                let _token = limiter.acquire_token().await?;
                                record.borrow_mut().push(name);
                            } else {
                                let _permit = sem.acquire_permit().await?;
                                record.borrow_mut().push(name);
                            }
                        }
                        Ok(())
                    });
                }
                Ok(())
            })
            .await
            .unwrap();
            for round in record.borrow().chunks(3) {
                assert_eq!(round, *initial.borrow());
            }
        }
    });
}

// ===== ParkingLot =====

#[test]
fn parking_lot_unparks_in_order_and_counts() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        let record = Rc::new(RefCell::new(Vec::new()));
        let (lot2, record2) = (lot.clone(), record.clone());
        open_nursery(|nursery| async move {
            let mut tasks = Vec::new();
            for i in 0..3 {
                let (lot, record) = (lot2.clone(), record2.clone());
                nursery.start_soon(async move {
                    record.borrow_mut().push(format!("sleep {i}"));
                    lot.park().await?;
                    record.borrow_mut().push(format!("wake {i}"));
                    Ok(())
                });
                wait_all_tasks_blocked(ZERO).await?;
                tasks.push(lot2.statistics().tasks_waiting);
            }
            assert_eq!(tasks, [1, 2, 3]);
            assert_eq!(lot2.len(), 3);
            let woken = lot2.unpark(2);
            assert_eq!(woken.len(), 2);
            assert!(woken[0].id() < woken[1].id());
            assert_eq!(lot2.len(), 1);
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(lot2.unpark_all().len(), 1);
            assert!(lot2.unpark(5).is_empty());
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*record.borrow(), ["sleep 0", "sleep 1", "sleep 2", "wake 0", "wake 1", "wake 2"]);
    });
}

#[test]
fn parking_lot_repark_moves_waiters_in_order() {
    run(async {
        let (lot1, lot2) = (Rc::new(ParkingLot::new()), Rc::new(ParkingLot::new()));
        let record = Rc::new(RefCell::new(Vec::new()));
        let (a, b, record2) = (lot1.clone(), lot2.clone(), record.clone());
        open_nursery(|nursery| async move {
            for i in 0..3 {
                let (lot, record) = (a.clone(), record2.clone());
                nursery.start_soon(async move {
                    lot.park().await?;
                    record.borrow_mut().push(i);
                    Ok(())
                });
                wait_all_tasks_blocked(ZERO).await?;
            }
            a.repark(&b, 1);
            assert_eq!((a.len(), b.len()), (2, 1));
            a.repark_all(&b);
            assert_eq!((a.len(), b.len()), (0, 3));
            assert!(a.unpark_all().is_empty());
            b.unpark(1);
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(*record2.borrow(), [0]);
            b.repark_all(&b); // onto itself: the order is kept
            b.unpark_all();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*record.borrow(), [0, 1, 2]);
    });
}

#[test]
fn a_broken_lot_fails_its_parkers_now_and_later() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        let (lot2, results) = (lot.clone(), Rc::new(RefCell::new(Vec::new())));
        let results2 = results.clone();
        open_nursery(|nursery| async move {
            for _ in 0..2 {
                let (lot, results) = (lot2.clone(), results2.clone());
                nursery.start_soon(async move {
                    let r = lot.park().await;
                    results.borrow_mut().push(r);
                });
            }
            wait_all_tasks_blocked(ZERO).await?;
            lot2.break_lot(None);
            assert_eq!(lot2.len(), 0);
            assert!(lot2.unpark_all().is_empty());
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(results.borrow().len(), 2);
        for r in results.borrow().iter() {
            let err = r.clone().unwrap_err();
            assert!(err.is_broken());
            assert!(err.to_string().contains("broken by task"), "{err}");
        }
        assert!(lot.is_broken());
        assert_eq!(lot.broken_by(), [current_task()]);
        assert!(lot.park().await.unwrap_err().is_broken());
        lot.break_lot(Some(&current_task()));
        assert_eq!(lot.broken_by().len(), 2, "breaking again only records the task");
    });
}

#[test]
fn reparking_into_a_broken_lot_breaks_the_moved_waiters() {
    run(async {
        let (from, to) = (Rc::new(ParkingLot::new()), Rc::new(ParkingLot::new()));
        to.break_lot(None);
        let result = Rc::new(RefCell::new(None));
        let (from2, result2) = (from.clone(), result.clone());
        open_nursery(|nursery| async move {
            let lot = from2.clone();
            nursery.start_soon(async move {
                *result2.borrow_mut() = Some(lot.park().await);
            });
            wait_all_tasks_blocked(ZERO).await?;
            from2.repark_all(&to);
            Ok(())
        })
        .await
        .unwrap();
        assert!(matches!(&*result.borrow(), Some(Err(SyncError::Broken(_)))));
    });
}

#[test]
fn a_breaker_task_that_exits_breaks_the_lot() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        let lot2 = lot.clone();
        let me = current_task();
        lot.add_breaker(&me).unwrap();
        lot.remove_breaker(&me).unwrap();
        assert!(lot.remove_breaker(&me).is_err());
        let breaker = Rc::new(RefCell::new(None));
        let breaker2 = breaker.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let task = current_task();
                lot2.add_breaker(&task).unwrap();
                *breaker2.borrow_mut() = Some(task);
            });
            Ok(())
        })
        .await
        .unwrap();
        assert!(lot.is_broken());
        assert_eq!(lot.broken_by(), [breaker.borrow().clone().unwrap()]);
    });
}

#[test]
fn park_checkpoints() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        let lot2 = lot.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_all_tasks_blocked(ZERO).await?;
                lot2.unpark_all();
                Ok(())
            });
            assert_checkpoints(lot.park()).await?;
            Ok(())
        })
        .await
        .unwrap();
    });
}
