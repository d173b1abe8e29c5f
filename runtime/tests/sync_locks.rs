//! `Lock`, `StrictFifoLock` and `Condition`: the behaviour of Trio's `test_sync.py` lock and
//! condition tests (ownership rules, hand-off, FIFO across 3 tasks x 5 rounds, notify order,
//! a cancelled wait re-acquiring), the guards, and an owner that exits holding the lock.

mod sync_util;

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::poll;
use sync_util::{assert_checkpoints, run};
use trio::lowlevel::{Task, current_task, wait_all_tasks_blocked};
use trio::{CancelScope, Condition, Event, Lock, StrictFifoLock, SyncError, open_nursery};

const ZERO: Duration = Duration::ZERO;

/// The lock API both lock types share, so each behaviour is tested on both.
trait LockLike: std::fmt::Debug + 'static {
    fn make() -> Self;
    fn locked(&self) -> bool;
    fn try_acquire(&self) -> Result<(), SyncError>;
    async fn acquire(&self) -> Result<(), SyncError>;
    fn release(&self) -> Result<(), trio::RuntimeError>;
    async fn lock(&self) -> Result<trio::LockGuard<'_>, SyncError>;
    fn statistics(&self) -> trio::LockStatistics;
    fn name() -> &'static str;
}

macro_rules! lock_like {
    ($ty:ident) => {
        impl LockLike for $ty {
            fn make() -> Self {
                $ty::new()
            }
            fn locked(&self) -> bool {
                $ty::locked(self)
            }
            fn try_acquire(&self) -> Result<(), SyncError> {
                $ty::try_acquire(self)
            }
            async fn acquire(&self) -> Result<(), SyncError> {
                $ty::acquire(self).await
            }
            fn release(&self) -> Result<(), trio::RuntimeError> {
                $ty::release(self)
            }
            async fn lock(&self) -> Result<trio::LockGuard<'_>, SyncError> {
                $ty::lock(self).await
            }
            fn statistics(&self) -> trio::LockStatistics {
                $ty::statistics(self)
            }
            fn name() -> &'static str {
                stringify!($ty)
            }
        }
    };
}

lock_like!(Lock);
lock_like!(StrictFifoLock);

macro_rules! for_both_locks {
    ($($test:ident => $body:ident;)*) => {
        mod lock {
            $(#[test] fn $test() { super::$body::<trio::Lock>(); })*
        }
        mod strict_fifo_lock {
            $(#[test] fn $test() { super::$body::<trio::StrictFifoLock>(); })*
        }
    };
}

for_both_locks! {
    ownership_rules => ownership_rules;
    statistics_name_the_owner_and_the_waiters => statistics_name_the_owner_and_the_waiters;
    only_one_task_is_ever_inside => only_one_task_is_ever_inside;
    fifo_across_three_tasks_and_five_rounds => fifo_across_three_tasks_and_five_rounds;
    try_acquire_blocks_acquire_until_release => try_acquire_blocks_acquire_until_release;
    release_hands_the_lock_to_the_oldest_waiter => release_hands_the_lock_to_the_oldest_waiter;
    an_owner_that_exits_breaks_later_acquires => an_owner_that_exits_breaks_later_acquires;
    an_owner_that_exits_breaks_the_waiters => an_owner_that_exits_breaks_the_waiters;
    a_guard_released_by_task_exit_does_not_break => a_guard_released_by_task_exit_does_not_break;
    a_dropped_acquire_passes_the_lock_on => a_dropped_acquire_passes_the_lock_on;
}

fn ownership_rules<L: LockLike>() {
    run(async {
        let l = L::make();
        assert!(!l.locked());
        {
            let _guard = assert_checkpoints(l.lock()).await.unwrap();
            assert!(l.locked());
            assert!(format!("{:?}", l.statistics()).contains("locked: true"));
        }
        assert!(!l.locked());
        l.try_acquire().unwrap();
        assert!(l.locked());
        l.release().unwrap();
        assert!(!l.locked());
        assert_checkpoints(l.acquire()).await.unwrap();
        assert!(l.locked());
        l.release().unwrap();

        l.try_acquire().unwrap();
        let err = l.try_acquire().unwrap_err();
        assert!(err.is_misuse(), "re-acquiring is an error: {err}");
        assert!(err.to_string().contains("not re-entrant"), "{err}");
        let err = l.acquire().await.unwrap_err();
        assert!(err.is_misuse(), "{err}");
        l.release().unwrap();
        let err = l.release().unwrap_err();
        assert!(err.to_string().contains("does not hold"), "{err}");
    });
}

fn statistics_name_the_owner_and_the_waiters<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let holder_task: Rc<RefCell<Option<Task>>> = Rc::default();
        let (l2, holder2) = (l.clone(), holder_task.clone());
        open_nursery(|nursery| async move {
            let holder = {
                let (l, holder_task) = (l2.clone(), holder2.clone());
                move || {
                    let (l, holder_task) = (l.clone(), holder_task.clone());
                    async move {
                        *holder_task.borrow_mut() = Some(current_task());
                        let _guard = l.lock().await?;
                        trio::sleep_forever().await?;
                        Ok(())
                    }
                }
            };
            assert!(!l2.locked());
            nursery.start_soon(holder());
            wait_all_tasks_blocked(ZERO).await?;
            assert!(l2.locked());
            assert!(l2.try_acquire().unwrap_err().is_would_block(), "someone else holds it");
            assert!(l2.release().is_err(), "cannot release someone else's lock");
            let stats = l2.statistics();
            assert!(stats.locked);
            assert_eq!(stats.owner, *holder2.borrow());
            assert_eq!(stats.tasks_waiting, 0);

            nursery.start_soon(holder());
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(l2.statistics().tasks_waiting, 1);
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        let stats = l.statistics();
        assert!(!stats.locked);
        assert_eq!(stats.owner, None);
        assert_eq!(stats.tasks_waiting, 0);
        assert!(format!("{:?}", &*l).contains(L::name()));
    });
}

fn only_one_task_is_ever_inside<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let inside = Rc::new(Cell::new(false));
        let acquires = Rc::new(Cell::new(0));
        let (l2, inside2, acquires2) = (l.clone(), inside.clone(), acquires.clone());
        open_nursery(|nursery| async move {
            for worker in 0..5 {
                let (l, inside, acquires) = (l2.clone(), inside2.clone(), acquires2.clone());
                nursery.start_soon(async move {
                    for round in 0..10 {
                        // Mix the guard and the explicit API.
                        let guard = if (worker + round) % 2 == 0 { Some(l.lock().await?) } else { None };
                        if guard.is_none() {
                            l.acquire().await?;
                        }
                        acquires.set(acquires.get() + 1);
                        assert!(!inside.replace(true));
                        trio::checkpoint().await?;
                        trio::checkpoint().await?;
                        assert!(inside.replace(false));
                        if guard.is_none() {
                            l.release()?;
                        }
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        assert!(!inside.get());
        assert_eq!(acquires.get(), 50);
        assert!(!l.locked());
    });
}

fn fifo_across_three_tasks_and_five_rounds<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let initial_order = Rc::new(RefCell::new(Vec::new()));
        let record = Rc::new(RefCell::new(Vec::new()));
        let (l2, initial2, record2) = (l.clone(), initial_order.clone(), record.clone());
        open_nursery(|nursery| async move {
            for name in 1..=3 {
                let (l, initial_order, record) = (l2.clone(), initial2.clone(), record2.clone());
                nursery.start_soon(async move {
                    initial_order.borrow_mut().push(name);
                    for _ in 0..5 {
                        let _guard = l.lock().await?;
                        record.borrow_mut().push(name);
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        let initial_order = initial_order.borrow().clone();
        let record = record.borrow().clone();
        assert_eq!(record.len(), 15);
        for round in record.chunks(3) {
            assert_eq!(round, initial_order, "every round repeats the first order: {record:?}");
        }
    });
}

fn try_acquire_blocks_acquire_until_release<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let record = Rc::new(RefCell::new(Vec::new()));
        let (l2, record2) = (l.clone(), record.clone());
        open_nursery(|nursery| async move {
            l2.try_acquire()?;
            let (l, record) = (l2.clone(), record2.clone());
            nursery.start_soon(async move {
                record.borrow_mut().push("started");
                drop(l.lock().await?);
                record.borrow_mut().push("finished");
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(*record2.borrow(), ["started"]);
            l2.release()?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*record.borrow(), ["started", "finished"]);
    });
}

fn release_hands_the_lock_to_the_oldest_waiter<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let l2 = l.clone();
        open_nursery(|nursery| async move {
            l2.acquire().await?;
            let waiter = Rc::new(RefCell::new(None));
            let (l, w) = (l2.clone(), waiter.clone());
            nursery.start_soon(async move {
                *w.borrow_mut() = Some(current_task());
                l.acquire().await?;
                l.release()?;
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            l2.release()?;
            // Handed over directly: the waiter owns it before it even runs ...
            assert_eq!(l2.statistics().owner, *waiter.borrow());
            // ... so the releasing task cannot take it back.
            assert!(l2.try_acquire().unwrap_err().is_would_block());
            Ok(())
        })
        .await
        .unwrap();
        assert!(!l.locked());
    });
}

fn an_owner_that_exits_breaks_later_acquires<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let l2 = l.clone();
        let owner = Rc::new(RefCell::new(None));
        let owner2 = owner.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                *owner2.borrow_mut() = Some(current_task());
                l2.acquire().await?;
                Ok(()) // ... and exits without releasing
            });
            Ok(())
        })
        .await
        .unwrap();
        let owner = owner.borrow().clone().unwrap();
        let err = l.acquire().await.unwrap_err();
        assert!(err.is_broken(), "{err}");
        let message = err.to_string();
        assert!(message.contains(&format!("task {} `{}`", owner.id(), owner.name())), "{message}");
        assert!(message.contains("without releasing"), "{message}");
        assert!(l.try_acquire().unwrap_err().is_broken());
        assert!(l.lock().await.unwrap_err().is_broken());
        assert!(l.locked(), "a broken lock stays locked");
        assert_eq!(l.statistics().owner, Some(owner));
    });
}

fn an_owner_that_exits_breaks_the_waiters<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let l2 = l.clone();
        let outcomes = Rc::new(RefCell::new(Vec::new()));
        let outcomes2 = outcomes.clone();
        open_nursery(|nursery| async move {
            let owner_may_exit = Rc::new(Event::new());
            let (l, exit) = (l2.clone(), owner_may_exit.clone());
            nursery.start_soon(async move {
                l.acquire().await?;
                exit.wait().await?;
                Ok(()) // exits holding the lock
            });
            wait_all_tasks_blocked(ZERO).await?;
            for _ in 0..2 {
                let (l, outcomes) = (l2.clone(), outcomes2.clone());
                nursery.start_soon(async move {
                    let result = l.acquire().await;
                    outcomes.borrow_mut().push(result.map_err(|e| e.is_broken()));
                });
            }
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(l2.statistics().tasks_waiting, 2);
            owner_may_exit.set();
            wait_all_tasks_blocked(ZERO).await?;
            // The owner's exit broke the lock at once: both waiters already woke, before
            // anyone touched the lock again.
            assert_eq!(*outcomes2.borrow(), [Err(true), Err(true)]);
            assert!(l2.locked());
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*outcomes.borrow(), [Err(true), Err(true)]);
        assert_eq!(l.statistics().tasks_waiting, 0);
    });
}

fn a_guard_released_by_task_exit_does_not_break<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let l2 = l.clone();
        open_nursery(|nursery| async move {
            let (l, l3) = (l2.clone(), l2.clone());
            nursery.start_soon(async move {
                let _guard = l.lock().await?;
                trio::checkpoint().await?;
                Ok(()) // the guard is dropped with the task's future
            });
            nursery.start_soon(async move {
                let _guard = l3.lock().await?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        assert!(!l.locked());
        drop(l.lock().await.unwrap());
    });
}

fn a_dropped_acquire_passes_the_lock_on<L: LockLike>() {
    run(async {
        let l = Rc::new(L::make());
        let l2 = l.clone();
        open_nursery(|nursery| async move {
            l2.acquire().await?;
            let parked = Rc::new(Event::new());
            let go = Rc::new(Event::new());
            let (l, parked2, go2) = (l2.clone(), parked.clone(), go.clone());
            nursery.start_soon(async move {
                {
                    let mut acquire = pin!(l.acquire());
                    assert!(poll!(acquire.as_mut()).is_pending());
                    parked2.set();
                    go2.wait().await?;
                    assert_eq!(l.statistics().owner, Some(current_task()), "the lock was handed over");
                } // ... and the acquire is dropped before it returned
                assert!(!l.locked());
                Ok(())
            });
            parked.wait().await?;
            l2.release()?;
            go.set();
            Ok(())
        })
        .await
        .unwrap();
        assert!(!l.locked());
    });
}

// ===== Condition =====

#[test]
fn condition_basics() {
    run(async {
        let lock = Lock::new();
        let c = Condition::with_lock(&lock);
        assert!(!lock.locked() && !c.locked());
        assert_checkpoints(c.acquire()).await.unwrap();
        assert!(lock.locked() && c.locked());
        lock.release().unwrap(); // it is the same lock

        let c = Condition::new();
        c.try_acquire().unwrap();
        assert!(c.locked());
        assert!(c.try_acquire().unwrap_err().is_misuse());
        c.release().unwrap();
        assert!(c.wait().await.unwrap_err().is_misuse(), "must hold the lock to wait");
        assert!(c.notify(1).is_err(), "must hold the lock to notify");
        assert!(c.notify_all().is_err(), "must hold the lock to notify");
        let guard = c.lock().await.unwrap();
        assert!(c.locked());
        drop(guard);
        assert!(!c.locked());
    });
}

#[test]
fn notify_wakes_waiters_in_order_and_they_take_the_lock_in_turn() {
    run(async {
        let c = Rc::new(Condition::new());
        let finished = Rc::new(RefCell::new(Vec::new()));
        let (c2, finished2) = (c.clone(), finished.clone());
        open_nursery(|nursery| async move {
            let waiter = |i: u32| {
                let (c, finished) = (c2.clone(), finished2.clone());
                async move {
                    let guard = c.lock().await?;
                    c.wait().await?;
                    drop(guard);
                    finished.borrow_mut().push(i);
                    Ok(())
                }
            };
            for i in 0..3 {
                nursery.start_soon(waiter(i));
                wait_all_tasks_blocked(ZERO).await?;
            }
            assert_eq!(c2.statistics().tasks_waiting, 3);
            {
                let _guard = c2.lock().await?;
                c2.notify(1)?;
                assert_eq!(c2.statistics().tasks_waiting, 2);
                assert_eq!(c2.statistics().lock_statistics.tasks_waiting, 1);
            }
            assert!(c2.locked(), "the lock was handed to the notified waiter");
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(*finished2.borrow(), [0]);
            {
                let _guard = c2.lock().await?;
                c2.notify_all()?;
            }
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(*finished2.borrow(), [0, 1, 2]);

            finished2.borrow_mut().clear();
            for i in 0..3 {
                nursery.start_soon(waiter(i));
                wait_all_tasks_blocked(ZERO).await?;
            }
            {
                let _guard = c2.lock().await?;
                c2.notify(2)?;
                let stats = c2.statistics();
                assert_eq!(stats.tasks_waiting, 1);
                assert_eq!(stats.lock_statistics.tasks_waiting, 2);
            }
            // Releasing handed the lock to the first notified waiter.
            assert_eq!(c2.statistics().lock_statistics.tasks_waiting, 1);
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(*finished2.borrow(), [0, 1]);
            let _guard = c2.lock().await?;
            c2.notify_all()?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*finished.borrow(), [0, 1, 2]);
    });
}

#[test]
fn a_cancelled_wait_still_holds_the_lock() {
    run(async {
        let c = Condition::new();
        let scope = CancelScope::new();
        let handle = scope.clone();
        let mut result = None;
        scope
            .run(async {
                let _guard = c.lock().await?;
                handle.cancel();
                result = Some(c.wait().await);
                assert!(c.locked(), "re-acquired before returning");
                assert_eq!(c.statistics().lock_statistics.owner, Some(current_task()));
                Ok(())
            })
            .await
            .unwrap();
        assert!(matches!(result, Some(Err(SyncError::Cancelled(_)))));
        assert!(!c.locked(), "the guard released it");
    });
}

#[test]
fn a_wait_cancelled_while_parked_waits_for_the_lock_under_a_shield() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            let scope = CancelScope::new();
            let handle = scope.clone();
            let c = c2.clone();
            nursery.start_soon(async move {
                let mut result = None;
                scope
                    .run(async {
                        let _guard = c.lock().await?;
                        result = Some(c.wait().await);
                        assert!(c.locked());
                        Ok(())
                    })
                    .await?;
                assert!(matches!(result, Some(Err(SyncError::Cancelled(_)))));
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            let guard = c2.lock().await?;
            handle.cancel(); // the waiter now needs the lock we hold
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(c2.statistics().lock_statistics.tasks_waiting, 1);
            assert_eq!(c2.statistics().tasks_waiting, 0);
            drop(guard);
            Ok(())
        })
        .await
        .unwrap();
        assert!(!c.locked());
    });
}

#[test]
fn a_cancelled_wait_consumes_no_notification() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        let woken = Rc::new(Cell::new(false));
        let woken2 = woken.clone();
        open_nursery(|nursery| async move {
            let scope = CancelScope::new();
            let handle = scope.clone();
            let c = c2.clone();
            nursery.start_soon(async move {
                scope
                    .run(async {
                        let _guard = c.lock().await?;
                        c.wait().await?;
                        Ok(())
                    })
                    .await?;
                Ok(())
            });
            let c = c2.clone();
            nursery.start_soon(async move {
                let _guard = c.lock().await?;
                c.wait().await?;
                woken2.set(true);
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            handle.cancel();
            wait_all_tasks_blocked(ZERO).await?;
            let _guard = c2.lock().await?;
            assert_eq!(c2.statistics().tasks_waiting, 1);
            c2.notify(1)?; // goes to the waiter that is still waiting
            Ok(())
        })
        .await
        .unwrap();
        assert!(woken.get());
    });
}

#[test]
fn wait_checkpoints() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_all_tasks_blocked(ZERO).await?;
                let _guard = c2.lock().await?;
                c2.notify_all()?;
                Ok(())
            });
            let _guard = c.lock().await?;
            assert_checkpoints(c.wait()).await?;
            assert!(c.locked());
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_notified_wait_on_a_lock_whose_owner_exits_is_broken() {
    run(async {
        let lock = Rc::new(Lock::new());
        let c = Rc::new(Condition::with_lock(&lock));
        let result = Rc::new(RefCell::new(None));
        let (lock2, c2, result2) = (lock.clone(), c.clone(), result.clone());
        open_nursery(|nursery| async move {
            let (c, result) = (c2.clone(), result2.clone());
            nursery.start_soon(async move {
                let _guard = c.lock().await?;
                *result.borrow_mut() = Some(c.wait().await);
                assert!(!c.locked() || c.statistics().lock_statistics.owner != Some(current_task()));
                Ok(()) // the guard does not own the lock: its drop does nothing
            });
            wait_all_tasks_blocked(ZERO).await?;
            let c = c2.clone();
            nursery.start_soon(async move {
                c.acquire().await?;
                c.notify_all()?; // the waiter now queues for the lock ...
                Ok(()) // ... which this task never releases
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert!(lock2.locked()); // using the lock notices the exit
            Ok(())
        })
        .await
        .unwrap();
        assert!(matches!(&*result.borrow(), Some(Err(SyncError::Broken(_)))));
        assert!(lock.try_acquire().unwrap_err().is_broken());
    });
}
