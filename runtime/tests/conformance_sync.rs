//! Conformance with Trio's synchronisation primitives (`trio/_sync.py`, its `test_sync.py` and
//! `_core/_tests/test_parking_lot.py`), for the rules the other `sync_*` tests leave out:
//! Trio's generic lock tests run over the semaphore, the limiter and three locks built from
//! memory channels; cancelled waiters leaving the middle of a queue; a wake-up that already
//! happened winning over a later cancellation; the lock's owner and non-owners; a
//! `StrictFifoLock` keeping the order in which tasks queued across random schedules; a
//! `CapacityLimiter` with zero or unbounded tokens and borrowers other than the caller; the
//! queue a `Condition` waiter joins when notified, cancelled or releasing; which error comes
//! first when several apply; and the breakers of a `ParkingLot`.

mod sync_util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use sync_util::{in_cancelled_scope, run};
use trio::lowlevel::{ParkingLot, Task, current_task, wait_all_tasks_blocked};
use trio::{
    Borrower, CancelScope, Capacity, CapacityLimiter, Condition, Event, Lock, MemoryReceiver, MemorySender, Nursery,
    Semaphore, StrictFifoLock, SyncError, TaskStatus, TryRecvError, TrySendError, open_memory_channel, open_nursery,
};

const ZERO: Duration = Duration::ZERO;

// ===== Trio's generic lock tests, over every lock-like type they are not yet run on =====

/// What Trio's generic lock tests ask of a lock-like object: take without waiting (`false`
/// if it would block), take waiting, give back — all on behalf of the current task.
trait LockLike: 'static {
    fn try_take(&self) -> bool;
    async fn take(&self) -> trio::Result<()>;
    fn give(&self);
}

impl LockLike for Semaphore {
    fn try_take(&self) -> bool {
        self.try_acquire().is_ok()
    }
    async fn take(&self) -> trio::Result<()> {
        Ok(self.acquire().await?)
    }
    fn give(&self) {
        self.release().unwrap();
    }
}

impl LockLike for CapacityLimiter {
    fn try_take(&self) -> bool {
        match self.try_acquire() {
            Ok(()) => true,
            Err(e) if e.is_would_block() => false,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    async fn take(&self) -> trio::Result<()> {
        Ok(self.acquire().await?)
    }
    fn give(&self) {
        self.release().unwrap();
    }
}

/// A lock made of a bounded channel holding `capacity - 1` values: taking it is sending one
/// more, giving it back is receiving one.
struct SendToTake(MemorySender<()>, MemoryReceiver<()>);

impl SendToTake {
    fn new(capacity: usize) -> SendToTake {
        let (tx, rx) = open_memory_channel(capacity);
        for _ in 0..capacity - 1 {
            tx.try_send(()).unwrap();
        }
        SendToTake(tx, rx)
    }
}

impl LockLike for SendToTake {
    fn try_take(&self) -> bool {
        match self.0.try_send(()) {
            Ok(()) => true,
            Err(TrySendError::WouldBlock(())) => false,
            Err(_) => panic!("the channel is open"),
        }
    }
    async fn take(&self) -> trio::Result<()> {
        Ok(self.0.send(()).await?)
    }
    fn give(&self) {
        assert_eq!(self.1.try_recv(), Ok(Some(())));
    }
}

/// A lock made of a channel holding one value when free: taking it is receiving the value,
/// giving it back is sending it again.
struct RecvToTake(MemorySender<()>, MemoryReceiver<()>);

impl RecvToTake {
    fn new() -> RecvToTake {
        let (tx, rx) = open_memory_channel(10);
        tx.try_send(()).unwrap();
        RecvToTake(tx, rx)
    }
}

impl LockLike for RecvToTake {
    fn try_take(&self) -> bool {
        match self.1.try_recv() {
            Ok(Some(())) => true,
            Err(TryRecvError::WouldBlock) => false,
            other => panic!("unexpected {other:?}"),
        }
    }
    async fn take(&self) -> trio::Result<()> {
        assert_eq!(self.1.recv().await?, Some(()));
        Ok(())
    }
    fn give(&self) {
        self.0.try_send(()).unwrap();
    }
}

/// A lock made of a rendezvous channel: a flag says it is held; a task that finds it held
/// sends, and a release that finds a sender waiting receives from it, which hands the lock
/// over; a release that finds nobody clears the flag.
struct Rendezvous(MemorySender<()>, MemoryReceiver<()>, Cell<bool>);

impl Rendezvous {
    fn new() -> Rendezvous {
        let (tx, rx) = open_memory_channel(0);
        Rendezvous(tx, rx, Cell::new(false))
    }
}

impl LockLike for Rendezvous {
    fn try_take(&self) -> bool {
        assert!(!self.2.get(), "only used while free");
        self.2.set(true);
        true
    }
    async fn take(&self) -> trio::Result<()> {
        if self.2.get() {
            self.0.send(()).await?;
        } else {
            self.2.set(true);
            trio::checkpoint().await?;
        }
        Ok(())
    }
    fn give(&self) {
        match self.1.try_recv() {
            Ok(Some(())) => {}
            Err(TryRecvError::WouldBlock) => {
                assert!(self.2.get());
                self.2.set(false);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Five workers take the lock ten times each and yield twice inside: never two inside.
fn generic_exclusion<L: LockLike>(make: impl FnOnce() -> L) {
    run(async {
        let lock = Rc::new(make());
        let inside = Rc::new(Cell::new(false));
        let acquires = Rc::new(Cell::new(0));
        let (lock2, inside2, acquires2) = (lock.clone(), inside.clone(), acquires.clone());
        open_nursery(|nursery| async move {
            for _ in 0..5 {
                let (lock, inside, acquires) = (lock2.clone(), inside2.clone(), acquires2.clone());
                nursery.start_soon(async move {
                    for _ in 0..10 {
                        lock.take().await?;
                        acquires.set(acquires.get() + 1);
                        assert!(!inside.replace(true), "two tasks inside at once");
                        trio::checkpoint().await?;
                        trio::checkpoint().await?;
                        assert!(inside.replace(false));
                        lock.give();
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
    });
}

/// Three tasks take the lock five times each: after the first round, every round repeats the
/// order of the first.
fn generic_fifo_fairness<L: LockLike>(make: impl FnOnce() -> L) {
    run(async {
        let lock = Rc::new(make());
        let initial = Rc::new(RefCell::new(Vec::new()));
        let record = Rc::new(RefCell::new(Vec::new()));
        let (lock2, initial2, record2) = (lock.clone(), initial.clone(), record.clone());
        open_nursery(|nursery| async move {
            for name in 1..=3 {
                let (lock, initial, record) = (lock2.clone(), initial2.clone(), record2.clone());
                nursery.start_soon(async move {
                    initial.borrow_mut().push(name);
                    for _ in 0..5 {
                        lock.take().await?;
                        record.borrow_mut().push(name);
                        lock.give();
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        let record = record.borrow();
        assert_eq!(record.len(), 15);
        for round in record.chunks(3) {
            assert_eq!(round, *initial.borrow(), "every round repeats the first: {record:?}");
        }
    });
}

/// A lock taken without waiting blocks a waiting take until it is given back.
fn generic_try_take_blocks_take<L: LockLike>(make: impl FnOnce() -> L) {
    run(async {
        let lock = Rc::new(make());
        let record = Rc::new(RefCell::new(Vec::new()));
        let (lock2, record2) = (lock.clone(), record.clone());
        open_nursery(|nursery| async move {
            assert!(lock2.try_take());
            let (lock, record) = (lock2.clone(), record2.clone());
            nursery.start_soon(async move {
                record.borrow_mut().push("started");
                lock.take().await?;
                lock.give();
                record.borrow_mut().push("finished");
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(*record2.borrow(), ["started"]);
            lock2.give();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*record.borrow(), ["started", "finished"]);
    });
}

macro_rules! generic_lock_tests {
    ($($module:ident => $make:expr;)*) => {
        $(
            mod $module {
                use super::*;

                #[test]
                fn exclusion() {
                    generic_exclusion($make);
                }

                #[test]
                fn fifo_fairness() {
                    generic_fifo_fairness($make);
                }

                #[test]
                fn try_take_blocks_take() {
                    generic_try_take_blocks_take($make);
                }
            }
        )*
    };
}

generic_lock_tests! {
    generic_semaphore_of_one => || Semaphore::new(1);
    generic_capacity_limiter_of_one => || CapacityLimiter::new(1);
    generic_channel_send_to_take_10 => || SendToTake::new(10);
    generic_channel_send_to_take_1 => || SendToTake::new(1);
    generic_channel_recv_to_take => RecvToTake::new;
    generic_channel_rendezvous => Rendezvous::new;
}

// ===== cancelled waiters leave the middle of a queue =====

/// Starts three tasks that each call `wait` (in a scope of their own) in turn, cancels the
/// second, checks that `waiting()` counts two, then calls `give` twice: the first and the
/// third must be served, in that order, and the second must have seen its cancellation.
async fn cancel_the_middle_waiter<W, Fut>(
    wait: W,
    waiting: impl Fn() -> usize,
    give: impl Fn(),
) -> Vec<(u32, &'static str)>
where
    W: Fn() -> Fut,
    Fut: Future<Output = bool> + 'static,
{
    let record = Rc::new(RefCell::new(Vec::new()));
    let record2 = record.clone();
    open_nursery(|nursery| async move {
        let mut scopes = Vec::new();
        for i in 1..=3 {
            let scope = CancelScope::new();
            scopes.push(scope.clone());
            let (record, op) = (record2.clone(), wait());
            nursery.start_soon(async move {
                let mut ok = None;
                scope
                    .run(async {
                        ok = Some(op.await);
                        Ok(())
                    })
                    .await?;
                record.borrow_mut().push((i, if ok == Some(true) { "served" } else { "cancelled" }));
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
        }
        assert_eq!(waiting(), 3);
        scopes[1].cancel();
        wait_all_tasks_blocked(ZERO).await?;
        assert_eq!(waiting(), 2, "the cancelled waiter left the queue");
        give();
        wait_all_tasks_blocked(ZERO).await?;
        give();
        wait_all_tasks_blocked(ZERO).await?;
        assert_eq!(waiting(), 0);
        Ok(())
    })
    .await
    .unwrap();
    record.take()
}

/// The two lock types, so a test runs on both.
trait AnyLock: 'static {
    fn make() -> Self;
    async fn acquire(&self) -> Result<(), SyncError>;
    fn release(&self) -> Result<(), trio::RuntimeError>;
    fn tasks_waiting(&self) -> usize;
}

macro_rules! any_lock {
    ($($ty:ident),*) => {$(
        impl AnyLock for $ty {
            fn make() -> Self {
                $ty::new()
            }
            async fn acquire(&self) -> Result<(), SyncError> {
                $ty::acquire(self).await
            }
            fn release(&self) -> Result<(), trio::RuntimeError> {
                $ty::release(self)
            }
            fn tasks_waiting(&self) -> usize {
                $ty::statistics(self).tasks_waiting
            }
        }
    )*};
}

any_lock!(Lock, StrictFifoLock);

fn a_cancelled_waiter_leaves_the_middle_of_a_lock_queue<L: AnyLock>() {
    run(async {
        let lock = Rc::new(L::make());
        lock.acquire().await.unwrap();
        let lock2 = lock.clone();
        let held = Cell::new(true);
        let record = cancel_the_middle_waiter(
            || {
                let lock = lock2.clone();
                async move {
                    let ok = lock.acquire().await.is_ok();
                    if ok {
                        lock.release().unwrap(); // hands it to the next live waiter
                    }
                    ok
                }
            },
            || lock.tasks_waiting(),
            || {
                if held.replace(false) {
                    lock.release().unwrap();
                }
            },
        )
        .await;
        assert_eq!(record, [(2, "cancelled"), (1, "served"), (3, "served")]);
    });
}

#[test]
fn a_cancelled_lock_waiter_leaves_the_middle_of_the_queue() {
    a_cancelled_waiter_leaves_the_middle_of_a_lock_queue::<Lock>();
}

#[test]
fn a_cancelled_strict_fifo_lock_waiter_leaves_the_middle_of_the_queue() {
    a_cancelled_waiter_leaves_the_middle_of_a_lock_queue::<StrictFifoLock>();
}

#[test]
fn a_cancelled_semaphore_waiter_leaves_the_middle_of_the_queue() {
    run(async {
        let s = Rc::new(Semaphore::new(0));
        let s2 = s.clone();
        let record = cancel_the_middle_waiter(
            || {
                let s = s2.clone();
                async move { s.acquire().await.is_ok() }
            },
            || s.statistics().tasks_waiting,
            || s.release().unwrap(),
        )
        .await;
        assert_eq!(record, [(2, "cancelled"), (1, "served"), (3, "served")]);
        assert_eq!(s.value(), 0, "both units went to live waiters");
    });
}

#[test]
fn a_cancelled_limiter_waiter_leaves_the_middle_of_the_queue() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        let me = Borrower::unique();
        c.try_acquire_on_behalf_of(&me).unwrap();
        let c2 = c.clone();
        let served: Rc<RefCell<Vec<Borrower>>> = Rc::default();
        let served2 = served.clone();
        let record = cancel_the_middle_waiter(
            || {
                let (c, served) = (c2.clone(), served2.clone());
                async move {
                    let who = Borrower::unique();
                    let ok = c.acquire_on_behalf_of(&who).await.is_ok();
                    if ok {
                        served.borrow_mut().push(who);
                    }
                    ok
                }
            },
            || c.statistics().tasks_waiting,
            || {
                let holder = c.statistics().borrowers[0].clone();
                c.release_on_behalf_of(&holder).unwrap();
            },
        )
        .await;
        assert_eq!(record, [(2, "cancelled"), (1, "served"), (3, "served")]);
        assert_eq!(c.statistics().borrowers, [served.borrow()[1].clone()]);
    });
}

#[test]
fn a_cancelled_parker_leaves_the_middle_of_the_lot() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        let lot2 = lot.clone();
        let record = cancel_the_middle_waiter(
            || {
                let lot = lot2.clone();
                async move { lot.park().await.is_ok() }
            },
            || lot.len(),
            || assert_eq!(lot.unpark(1).len(), 1, "unpark(1) skips the cancelled parker"),
        )
        .await;
        assert_eq!(record, [(2, "cancelled"), (1, "served"), (3, "served")]);
    });
}

#[test]
fn a_parker_cancelled_after_a_repark_leaves_the_new_lot() {
    run(async {
        let (lot1, lot2) = (Rc::new(ParkingLot::new()), Rc::new(ParkingLot::new()));
        let (a, b) = (lot1.clone(), lot2.clone());
        let record = Rc::new(RefCell::new(Vec::new()));
        let record2 = record.clone();
        open_nursery(|nursery| async move {
            let mut scopes = Vec::new();
            for i in 1..=3 {
                let scope = CancelScope::new();
                scopes.push(scope.clone());
                let (lot, record) = (a.clone(), record2.clone());
                nursery.start_soon(async move {
                    let mut result = None;
                    scope
                        .run(async {
                            result = Some(lot.park().await);
                            Ok(())
                        })
                        .await?;
                    let outcome = match result {
                        Some(Ok(())) => "woken",
                        Some(Err(e)) if e.is_cancelled() => "cancelled",
                        _ => "other",
                    };
                    record.borrow_mut().push((i, outcome));
                    Ok(())
                });
                wait_all_tasks_blocked(ZERO).await?;
            }
            a.repark(&b, 1);
            assert_eq!((a.len(), b.len()), (2, 1));
            assert_eq!(b.unpark_all().len(), 1);
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(*record2.borrow(), [(1, "woken")]);
            a.repark_all(&b);
            assert_eq!((a.len(), b.len()), (0, 2));
            scopes[1].cancel();
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(b.len(), 1, "the cancelled parker left the lot it was moved to");
            assert_eq!(b.unpark_all().len(), 1);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*record.borrow(), [(1, "woken"), (2, "cancelled"), (3, "woken")]);
    });
}

// ===== a wake-up that happened wins over a later cancellation =====

/// Runs `wait` in a child inside a scope of its own; once it blocks, calls `wake` and at once
/// (no checkpoint between) cancels the child's scope. Returns what `wait` returned: Trio's
/// operations are atomic with respect to cancellation, so a wait already woken succeeds.
async fn woken_then_cancelled<Fut: Future<Output = bool> + 'static>(wait: Fut, wake: impl FnOnce()) -> Option<bool> {
    let result = Rc::new(Cell::new(None));
    let result2 = result.clone();
    open_nursery(|nursery| async move {
        let scope = CancelScope::new();
        let handle = scope.clone();
        nursery.start_soon(async move {
            let mut ok = None;
            scope
                .run(async {
                    ok = Some(wait.await);
                    Ok(())
                })
                .await?;
            result2.set(ok);
            Ok(())
        });
        wait_all_tasks_blocked(ZERO).await?;
        wake();
        handle.cancel();
        Ok(())
    })
    .await
    .unwrap();
    result.get()
}

#[test]
fn a_lock_handed_over_then_cancelled_is_still_acquired() {
    run(async {
        let lock = Rc::new(Lock::new());
        lock.acquire().await.unwrap();
        let (l, l2) = (lock.clone(), lock.clone());
        let got = woken_then_cancelled(
            async move {
                let ok = l.acquire().await.is_ok();
                assert!(l.statistics().owner == Some(current_task()) || !ok);
                if ok {
                    l.release().unwrap();
                }
                ok
            },
            move || l2.release().unwrap(),
        )
        .await;
        assert_eq!(got, Some(true));
        assert!(!lock.locked(), "not leaked");
    });
}

#[test]
fn a_semaphore_unit_handed_over_then_cancelled_is_still_taken() {
    run(async {
        let s = Rc::new(Semaphore::new(0));
        let (s1, s2) = (s.clone(), s.clone());
        let got = woken_then_cancelled(async move { s1.acquire().await.is_ok() }, move || s2.release().unwrap()).await;
        assert_eq!(got, Some(true));
        assert_eq!(s.value(), 0, "the unit went to the waiter, not back to the counter");
    });
}

#[test]
fn a_limiter_token_handed_over_then_cancelled_is_still_borrowed() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        let (first, second) = (Borrower::unique(), Borrower::unique());
        c.try_acquire_on_behalf_of(&first).unwrap();
        let (c1, c2, who) = (c.clone(), c.clone(), second.clone());
        let got = woken_then_cancelled(async move { c1.acquire_on_behalf_of(&who).await.is_ok() }, move || {
            c2.release_on_behalf_of(&first).unwrap()
        })
        .await;
        assert_eq!(got, Some(true));
        assert_eq!(c.statistics().borrowers, [second]);
    });
}

#[test]
fn an_event_set_then_cancelled_wait_still_returns_normally() {
    run(async {
        let e = Rc::new(Event::new());
        let (e1, e2) = (e.clone(), e.clone());
        let got = woken_then_cancelled(async move { e1.wait().await.is_ok() }, move || e2.set()).await;
        assert_eq!(got, Some(true));
    });
}

#[test]
fn a_notified_condition_wait_then_cancelled_returns_normally_holding_the_lock() {
    run(async {
        let c = Rc::new(Condition::new());
        let (c1, c2) = (c.clone(), c.clone());
        let got = woken_then_cancelled(
            async move {
                let _guard = c1.lock().await.unwrap();
                let ok = c1.wait().await.is_ok();
                assert_eq!(c1.statistics().lock_statistics.owner, Some(current_task()));
                ok
            },
            move || {
                // Notify, then release: the release hands the lock to the notified waiter.
                c2.try_acquire().unwrap();
                c2.notify(1).unwrap();
                c2.release().unwrap();
            },
        )
        .await;
        assert_eq!(got, Some(true));
        assert!(!c.locked());
    });
}

// ===== Lock =====

#[test]
fn a_lock_handed_over_breaks_when_its_new_owner_exits() {
    run(async {
        let lock = Rc::new(Lock::new());
        lock.try_acquire().unwrap();
        let child: Rc<RefCell<Option<Task>>> = Rc::default();
        let (lock2, child2) = (lock.clone(), child.clone());
        open_nursery(|nursery| async move {
            let (l, child) = (lock2.clone(), child2.clone());
            nursery.start_soon(async move {
                *child.borrow_mut() = Some(current_task());
                l.acquire().await?;
                Ok(()) // exits holding the lock it was handed
            });
            wait_all_tasks_blocked(ZERO).await?;
            lock2.release()?; // hands the lock to the child
            assert_eq!(lock2.statistics().owner, *child2.borrow());
            Ok(())
        })
        .await
        .unwrap();
        let child = child.borrow().clone().unwrap();
        assert!(child.has_exited());
        let err = lock.acquire().await.unwrap_err();
        assert!(err.is_broken(), "{err}");
        assert!(err.to_string().contains(&format!("task {}", child.id())), "names the new owner: {err}");
        assert_eq!(lock.statistics().owner, Some(child));
    });
}

#[test]
fn the_owner_cannot_reacquire_even_with_tasks_queued() {
    run(async {
        let lock = Rc::new(Lock::new());
        let lock2 = lock.clone();
        open_nursery(|nursery| async move {
            lock2.acquire().await?;
            let l = lock2.clone();
            nursery.start_soon(async move {
                l.acquire().await?;
                l.release()?;
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            // Re-entry is misuse, not "would block", even though a task is queued.
            assert!(lock2.try_acquire().unwrap_err().is_misuse());
            assert!(lock2.acquire().await.unwrap_err().is_misuse());
            assert_eq!(lock2.statistics().tasks_waiting, 1, "the queue is untouched");
            assert_eq!(lock2.statistics().owner, Some(current_task()));
            lock2.release()?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(!lock.locked());
    });
}

#[test]
fn a_release_by_a_task_that_does_not_own_the_lock_changes_nothing() {
    run(async {
        let lock = Rc::new(Lock::new());
        let lock2 = lock.clone();
        let owner = current_task();
        lock.acquire().await.unwrap();
        open_nursery(|nursery| async move {
            let l = lock2.clone();
            nursery.start_soon(async move {
                l.acquire().await?;
                l.release()?;
                Ok(())
            });
            let (l, owner2) = (lock2.clone(), owner.clone());
            nursery.start_soon(async move {
                wait_all_tasks_blocked(ZERO).await?;
                let err = l.release().unwrap_err();
                assert!(err.to_string().contains("does not hold"), "{err}");
                // The waiter was not woken and the owner still owns it.
                assert_eq!(l.statistics().owner, Some(owner2));
                assert_eq!(l.statistics().tasks_waiting, 1);
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            wait_all_tasks_blocked(ZERO).await?;
            lock2.release()?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(!lock.locked());
    });
}

/// Picks any runnable task at random (xorshift), so a test sees many interleavings.
struct RandomPolicy(u64);

impl trio::abc::SchedulePolicy for RandomPolicy {
    fn pick_task(&mut self, runnable: &trio::lowlevel::RunnableTasks<'_>) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % runnable.len() as u64) as usize
    }
}

#[test]
fn a_strict_fifo_lock_serves_chunks_in_the_order_they_were_made() {
    // Trio's use case: tasks take the next chunk from a shared state machine and queue for the
    // lock in the same scheduling step; whatever the schedule, chunks go out in order.
    for seed in 1..=40u64 {
        let sent = trio::Builder::new()
            .clock(sync_util::AutojumpClock::default())
            .policy(RandomPolicy(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1))
            .run(async {
                let lock = Rc::new(StrictFifoLock::new());
                let next_chunk = Rc::new(Cell::new(0u32));
                let sent = Rc::new(RefCell::new(Vec::new()));
                let sent2 = sent.clone();
                open_nursery(|nursery| async move {
                    for _ in 0..4 {
                        let (lock, next_chunk, sent) = (lock.clone(), next_chunk.clone(), sent2.clone());
                        nursery.start_soon(async move {
                            for _ in 0..5 {
                                trio::checkpoint().await?;
                                let chunk = next_chunk.replace(next_chunk.get() + 1);
                                let _guard = lock.lock().await?; // no await between: same step
                                trio::checkpoint().await?; // sending takes a while
                                sent.borrow_mut().push(chunk);
                            }
                            Ok(())
                        });
                    }
                    Ok(())
                })
                .await
                .unwrap();
                sent.take()
            });
        assert_eq!(sent, (0..20).collect::<Vec<_>>(), "seed {seed}");
    }
}

// ===== Semaphore =====

#[test]
fn any_task_may_release_a_semaphore() {
    run(async {
        let s = Rc::new(Semaphore::new(0));
        let s2 = s.clone();
        let done = Rc::new(Cell::new(false));
        let done2 = done.clone();
        open_nursery(|nursery| async move {
            let s = s2.clone();
            nursery.start_soon(async move {
                s.acquire().await?;
                done2.set(true);
                Ok(())
            });
            let s = s2.clone();
            // A task that never acquired gives the unit the waiter gets.
            nursery.start_soon(async move {
                wait_all_tasks_blocked(ZERO).await?;
                s.release()?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        assert!(done.get());
        assert_eq!(s.value(), 0);
    });
}

#[test]
fn a_release_to_a_waiter_never_checks_the_bound() {
    run(async {
        // Bounded at zero: no release can raise the counter, but one can still serve a waiter.
        let s = Rc::new(Semaphore::with_max_value(0, 0));
        assert!(s.release().is_err());
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            let s = s2.clone();
            nursery.start_soon(async move { Ok(s.acquire().await?) });
            wait_all_tasks_blocked(ZERO).await?;
            s2.release()?;
            assert_eq!(s2.statistics().tasks_waiting, 0);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(s.value(), 0);
    });
}

// ===== CapacityLimiter =====

#[test]
fn a_limiter_may_have_zero_tokens() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(5));
        let c2 = c.clone();
        let b: Vec<Borrower> = (0..8).map(|_| Borrower::unique()).collect();
        let b2 = b.clone();
        open_nursery(|nursery| async move {
            let (c, b) = (c2, b2);
            c.set_total_tokens(0);
            assert_eq!(c.available_tokens(), Capacity::Bounded(0));
            for borrower in &b[..5] {
                let (c, borrower) = (c.clone(), borrower.clone());
                nursery.start_soon(async move { Ok(c.acquire_on_behalf_of(&borrower).await?) });
                wait_all_tasks_blocked(ZERO).await?;
            }
            assert!(c.statistics().borrowers.is_empty());
            assert_eq!(c.statistics().tasks_waiting, 5);
            c.set_total_tokens(5);
            assert_eq!(c.statistics().borrowers, b[..5]);
            assert_eq!(c.statistics().tasks_waiting, 0);
            for borrower in &b[..5] {
                c.release_on_behalf_of(borrower)?;
            }

            // At zero nobody gets in, not even without waiting.
            c.set_total_tokens(0);
            assert!(c.try_acquire().unwrap_err().is_would_block());
            let (c3, borrower) = (c.clone(), b[5].clone());
            nursery.start_soon(async move { Ok(c3.acquire_on_behalf_of(&borrower).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(c.statistics().tasks_waiting, 1);
            c.set_total_tokens(1);
            assert_eq!(c.statistics().borrowers, b[5..6]);
            c.release_on_behalf_of(&b[5])?;

            // Shrinking to zero while a token is borrowed lets the holder finish.
            c.acquire_on_behalf_of(&b[6]).await?;
            let (c3, borrower) = (c.clone(), b[7].clone());
            nursery.start_soon(async move { Ok(c3.acquire_on_behalf_of(&borrower).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            c.set_total_tokens(0);
            c.release_on_behalf_of(&b[6])?;
            assert!(c.statistics().borrowers.is_empty(), "no token for the waiter at zero");
            assert_eq!(c.statistics().tasks_waiting, 1);
            c.set_total_tokens(1);
            assert_eq!(c.statistics().borrowers, b[7..8]);
            c.release_on_behalf_of(&b[7])?;
            Ok(())
        })
        .await
        .unwrap();
        let fresh = CapacityLimiter::new(0);
        assert_eq!(fresh.total_tokens(), Capacity::Bounded(0));
        assert_eq!(fresh.available_tokens(), Capacity::Bounded(0));
    });
}

#[test]
fn growing_a_limiter_to_unbounded_admits_every_waiter() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        c.try_acquire_on_behalf_of(&Borrower::unique()).unwrap();
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            for _ in 0..4 {
                let c = c2.clone();
                nursery.start_soon(async move { Ok(c.acquire_on_behalf_of(&Borrower::unique()).await?) });
            }
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(c2.statistics().tasks_waiting, 4);
            c2.set_total_tokens(Capacity::Unbounded);
            assert_eq!(c2.statistics().tasks_waiting, 0, "woken at once");
            assert_eq!(c2.borrowed_tokens(), 5);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(c.available_tokens(), Capacity::Unbounded);
    });
}

#[test]
fn a_token_borrowed_for_another_task_is_that_tasks_to_release() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(2));
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            let (c, may_release) = (c2.clone(), Rc::new(Event::new()));
            let go = may_release.clone();
            let (tx, rx) = open_memory_channel::<Task>(1);
            nursery.start_soon(async move {
                tx.send(current_task()).await?;
                go.wait().await?;
                c.release()?; // it never called acquire, but the token is its own
                Ok(())
            });
            let other = rx.recv().await?.unwrap();
            c2.acquire_on_behalf_of(&Borrower::task(&other)).await?;
            assert_eq!(c2.statistics().borrowers, [Borrower::task(&other)]);
            assert!(c2.release().is_err(), "the acquiring task holds nothing");
            // The borrower is the other task: it cannot borrow a second token now.
            assert!(c2.try_acquire_on_behalf_of(&Borrower::task(&other)).unwrap_err().is_misuse());
            may_release.set();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(c.borrowed_tokens(), 0);
    });
}

#[test]
fn borrowing_twice_is_misuse_even_when_no_token_is_free() {
    run(async {
        let c = CapacityLimiter::new(1);
        c.try_acquire().unwrap();
        assert_eq!(c.available_tokens(), Capacity::Bounded(0));
        assert!(c.try_acquire().unwrap_err().is_misuse(), "not WouldBlock");
        assert!(c.acquire().await.unwrap_err().is_misuse(), "fails at once instead of waiting");
        assert_eq!(c.statistics().tasks_waiting, 0);
        let job = Borrower::unique();
        c.set_total_tokens(2);
        c.try_acquire_on_behalf_of(&job).unwrap();
        assert!(c.acquire_on_behalf_of(&job).await.unwrap_err().is_misuse());
        assert_eq!(c.borrowed_tokens(), 2);
    });
}

#[test]
fn releasing_for_a_borrower_that_is_only_waiting_is_an_error() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        let (holder, waiter) = (Borrower::unique(), Borrower::unique());
        c.try_acquire_on_behalf_of(&holder).unwrap();
        let c2 = c.clone();
        let waiter2 = waiter.clone();
        open_nursery(|nursery| async move {
            let (c, w) = (c2.clone(), waiter2.clone());
            nursery.start_soon(async move { Ok(c.acquire_on_behalf_of(&w).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            let err = c2.release_on_behalf_of(&waiter2).unwrap_err();
            assert!(err.to_string().contains("isn't holding any"), "{err}");
            assert_eq!(c2.statistics().tasks_waiting, 1, "still queued");
            c2.release_on_behalf_of(&holder)?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(c.statistics().borrowers, [waiter]);
    });
}

// ===== Condition =====

#[test]
fn a_notified_waiter_queues_behind_tasks_already_waiting_for_the_lock() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        let order = Rc::new(RefCell::new(Vec::new()));
        let order2 = order.clone();
        open_nursery(|nursery| async move {
            let (c, order) = (c2.clone(), order2.clone());
            nursery.start_soon(async move {
                let _guard = c.lock().await?;
                c.wait().await?;
                order.borrow_mut().push("notified waiter");
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            c2.acquire().await?;
            let (c, order) = (c2.clone(), order2.clone());
            nursery.start_soon(async move {
                let _guard = c.lock().await?;
                order.borrow_mut().push("lock waiter");
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            c2.notify(1)?;
            let stats = c2.statistics();
            assert_eq!((stats.tasks_waiting, stats.lock_statistics.tasks_waiting), (0, 2));
            c2.release()?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*order.borrow(), ["lock waiter", "notified waiter"]);
    });
}

#[test]
fn a_waiter_cancelled_after_notify_requeues_for_the_lock_at_the_back() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        let order = Rc::new(RefCell::new(Vec::new()));
        let order2 = order.clone();
        open_nursery(|nursery| async move {
            let scope = CancelScope::new();
            let handle = scope.clone();
            let (c, order) = (c2.clone(), order2.clone());
            nursery.start_soon(async move {
                let mut result = None;
                scope
                    .run(async {
                        let _guard = c.lock().await?;
                        result = Some(c.wait().await);
                        assert_eq!(c.statistics().lock_statistics.owner, Some(current_task()));
                        order.borrow_mut().push("cancelled waiter");
                        Ok(())
                    })
                    .await?;
                assert!(matches!(result, Some(Err(SyncError::Cancelled(_)))));
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            c2.acquire().await?;
            c2.notify(1)?; // first in the lock's queue ...
            let (c, order) = (c2.clone(), order2.clone());
            nursery.start_soon(async move {
                let _guard = c.lock().await?;
                order.borrow_mut().push("lock waiter");
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            handle.cancel(); // ... until cancelled: it queues again, behind the lock waiter
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(c2.statistics().lock_statistics.tasks_waiting, 2);
            c2.release()?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*order.borrow(), ["lock waiter", "cancelled waiter"]);
    });
}

#[test]
fn a_cancelled_wait_whose_lock_breaks_while_requeued_reports_the_breakage() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        let result = Rc::new(RefCell::new(None));
        let result2 = result.clone();
        open_nursery(|nursery| async move {
            let scope = CancelScope::new();
            let handle = scope.clone();
            let (c, result) = (c2.clone(), result2.clone());
            nursery.start_soon(async move {
                scope
                    .run(async {
                        c.acquire().await?;
                        *result.borrow_mut() = Some(c.wait().await);
                        Ok(())
                    })
                    .await?;
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            let (c, go) = (c2.clone(), Rc::new(Event::new()));
            let exit = go.clone();
            nursery.start_soon(async move {
                c.acquire().await?;
                exit.wait().await?;
                Ok(()) // exits holding the lock
            });
            wait_all_tasks_blocked(ZERO).await?;
            handle.cancel(); // the waiter now re-acquires under a shield ...
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(c2.statistics().lock_statistics.tasks_waiting, 1);
            go.set(); // ... and the holder exits without releasing
            Ok(())
        })
        .await
        .unwrap();
        let result = result.borrow();
        let err = result.as_ref().expect("the wait returned").as_ref().unwrap_err();
        assert!(err.is_broken(), "the breakage replaces the cancellation: {err}");
    });
}

#[test]
fn notify_moves_at_most_n_waiters_and_zero_moves_none() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            for _ in 0..3 {
                let c = c2.clone();
                nursery.start_soon(async move {
                    let _guard = c.lock().await?;
                    c.wait().await?;
                    Ok(())
                });
            }
            wait_all_tasks_blocked(ZERO).await?;
            let _guard = c2.lock().await?;
            c2.notify(0)?;
            assert_eq!(c2.statistics().tasks_waiting, 3);
            c2.notify(2)?;
            assert_eq!(c2.statistics().tasks_waiting, 1);
            assert_eq!(c2.statistics().lock_statistics.tasks_waiting, 2);
            c2.notify(10)?;
            assert_eq!(c2.statistics().tasks_waiting, 0);
            assert_eq!(c2.statistics().lock_statistics.tasks_waiting, 3);
            Ok(())
        })
        .await
        .unwrap();
        assert!(!c.locked());
    });
}

#[test]
fn waiting_while_another_task_holds_the_lock_is_an_error_and_releases_nothing() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            c2.acquire().await?;
            let c = c2.clone();
            nursery.start_soon(async move {
                assert!(c.wait().await.unwrap_err().is_misuse());
                assert!(c.notify(1).is_err());
                assert!(c.notify_all().is_err());
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(c2.statistics().lock_statistics.owner, Some(current_task()), "still ours");
            assert_eq!(c2.statistics().tasks_waiting, 0);
            c2.release()?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(!c.locked());
    });
}

#[test]
fn wait_hands_the_lock_straight_to_the_longest_lock_waiter() {
    run(async {
        let c = Rc::new(Condition::new());
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            c2.acquire().await?;
            let lock_waiter: Rc<RefCell<Option<Task>>> = Rc::default();
            let (c, who) = (c2.clone(), lock_waiter.clone());
            nursery.start_soon(async move {
                *who.borrow_mut() = Some(current_task());
                let _guard = c.lock().await?;
                c.notify_all()?;
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(c2.statistics().lock_statistics.tasks_waiting, 1);
            // The second future runs right after the wait parked, before the lock waiter ran.
            let (woken, owner_while_waiting) =
                futures::join!(c2.wait(), async { c2.statistics().lock_statistics.owner });
            woken?;
            assert_eq!(owner_while_waiting, *lock_waiter.borrow(), "handed over by the wait's release");
            assert_eq!(c2.statistics().lock_statistics.owner, Some(current_task()), "held again");
            c2.release()?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(!c.locked());
    });
}

// ===== which error comes first =====

#[test]
fn cancellation_is_checked_before_misuse_and_breakage_but_not_by_condition_wait() {
    run(async {
        // Re-acquiring a held lock or token: the cancel point comes first.
        let lock = Lock::new();
        lock.acquire().await.unwrap();
        assert!(in_cancelled_scope(lock.acquire()).await.unwrap_err().is_cancelled());
        lock.release().unwrap();
        let c = CapacityLimiter::new(2);
        c.acquire().await.unwrap();
        assert!(in_cancelled_scope(c.acquire()).await.unwrap_err().is_cancelled());

        // A broken lock: cancelled first too.
        let broken = Rc::new(Lock::new());
        let b = broken.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(b.acquire().await?) }); // exits holding it
            Ok(())
        })
        .await
        .unwrap();
        assert!(in_cancelled_scope(broken.acquire()).await.unwrap_err().is_cancelled());
        assert!(broken.acquire().await.unwrap_err().is_broken());

        // Condition::wait checks the lock before anything else.
        let cond = Condition::new();
        assert!(in_cancelled_scope(cond.wait()).await.unwrap_err().is_misuse());
    });
}

#[test]
fn parking_in_a_broken_lot_fails_at_once_even_when_cancelled() {
    run(async {
        let lot = ParkingLot::new();
        lot.break_lot(None);
        let task = current_task();
        let (cancel0, schedule0) = (task.cancel_points(), task.schedule_points());
        assert!(in_cancelled_scope(lot.park()).await.unwrap_err().is_broken(), "Broken, not Cancelled");
        assert!(lot.park().await.unwrap_err().is_broken());
        assert_eq!((task.cancel_points(), task.schedule_points()), (cancel0, schedule0), "no checkpoint");
    });
}

// ===== ParkingLot breakers =====

/// Starts a task that reports itself and sleeps until cancelled.
async fn sleeper(nursery: &Nursery) -> Task {
    nursery
        .start(|status: TaskStatus<Task>| async move {
            status.started(current_task());
            trio::sleep_forever().await?;
            Ok(())
        })
        .await
        .unwrap()
}

#[test]
fn a_task_may_be_a_breaker_of_one_lot_several_times() {
    run(async {
        let lot = ParkingLot::new();
        let me = current_task();
        lot.add_breaker(&me).unwrap();
        lot.add_breaker(&me).unwrap();
        lot.remove_breaker(&me).unwrap();
        lot.remove_breaker(&me).unwrap();
        assert!(lot.remove_breaker(&me).is_err(), "each add is undone once");
        assert!(!lot.is_broken());
    });
}

#[test]
fn each_registration_still_held_at_exit_breaks_the_lot_once() {
    run(async {
        let (twice, removed) = (Rc::new(ParkingLot::new()), Rc::new(ParkingLot::new()));
        let (t2, r2) = (twice.clone(), removed.clone());
        let child = open_nursery(|nursery| async move {
            let child = sleeper(&nursery).await;
            t2.add_breaker(&child)?;
            t2.add_breaker(&child)?;
            r2.add_breaker(&child)?;
            r2.remove_breaker(&child)?;
            nursery.cancel_scope().cancel();
            Ok(Some(child))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(twice.broken_by(), [child.clone(), child], "added twice, recorded twice");
        assert!(!removed.is_broken(), "a removed breaker's exit breaks nothing");
    });
}

#[test]
fn a_breaker_of_a_broken_lot_adds_itself_to_broken_by_when_it_exits() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        lot.break_lot(None);
        let lot2 = lot.clone();
        let child = open_nursery(|nursery| async move {
            let child = sleeper(&nursery).await;
            lot2.add_breaker(&child).unwrap();
            nursery.cancel_scope().cancel();
            Ok(Some(child))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(lot.broken_by(), [current_task(), child.clone()]);

        // Breaking with a task that already exited is fine too.
        let other = ParkingLot::new();
        other.break_lot(Some(&child));
        assert_eq!(other.broken_by(), [child]);
    });
}

#[test]
fn every_breaker_that_exits_is_recorded() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        let lot2 = lot.clone();
        let children = open_nursery(|nursery| async move {
            let mut children = Vec::new();
            for _ in 0..3 {
                let child = sleeper(&nursery).await;
                lot2.add_breaker(&child).unwrap();
                children.push(child);
            }
            nursery.cancel_scope().cancel();
            Ok(Some(children))
        })
        .await
        .unwrap()
        .unwrap();
        let mut broken_by = lot.broken_by();
        broken_by.sort_by_key(Task::id);
        assert_eq!(broken_by, children);
    });
}

#[test]
fn an_exited_task_cannot_become_a_breaker() {
    run(async {
        let child = open_nursery(|nursery| async move {
            let child = sleeper(&nursery).await;
            nursery.cancel_scope().cancel();
            Ok(Some(child))
        })
        .await
        .unwrap()
        .unwrap();
        assert!(child.has_exited());
        let lot = ParkingLot::new();
        let err = lot.add_breaker(&child).unwrap_err();
        assert!(err.to_string().contains("exited"), "{err}");
        assert!(!lot.is_broken(), "refused, so nothing broke");
        assert!(lot.remove_breaker(&child).is_err(), "and it was not registered");
    });
}

#[test]
fn breaking_a_lot_in_the_name_of_a_parked_task_wakes_it_broken() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        let lot2 = lot.clone();
        let result = Rc::new(RefCell::new(None));
        let result2 = result.clone();
        open_nursery(|nursery| async move {
            let lot = lot2.clone();
            let parked = nursery
                .start(|status: TaskStatus<Task>| async move {
                    status.started(current_task());
                    *result2.borrow_mut() = Some(lot.park().await);
                })
                .await?;
            wait_all_tasks_blocked(ZERO).await?;
            lot2.break_lot(Some(&parked));
            assert_eq!(lot2.broken_by(), [parked]);
            Ok(())
        })
        .await
        .unwrap();
        assert!(matches!(&*result.borrow(), Some(Err(SyncError::Broken(_)))));
    });
}

#[test]
fn a_breaker_exiting_wakes_tasks_parked_in_the_lot() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        let lot2 = lot.clone();
        let result = Rc::new(RefCell::new(None));
        let result2 = result.clone();
        open_nursery(|nursery| async move {
            let scope = CancelScope::new();
            let handle = scope.clone();
            let lot = lot2.clone();
            nursery.start_soon(async move {
                lot.add_breaker(&current_task()).unwrap();
                scope
                    .run(async {
                        trio::sleep_forever().await?;
                        Ok(())
                    })
                    .await?;
                Ok(()) // exits, still a breaker
            });
            wait_all_tasks_blocked(ZERO).await?;
            let lot = lot2.clone();
            nursery.start_soon(async move {
                *result2.borrow_mut() = Some(lot.park().await);
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(lot2.len(), 1);
            handle.cancel();
            Ok(())
        })
        .await
        .unwrap();
        let result = result.borrow();
        let err = result.as_ref().unwrap().as_ref().unwrap_err();
        assert!(err.is_broken() && err.to_string().contains("broken by task"), "{err}");
    });
}

/// An exit hook runs in the exiting task's context; a `try_acquire` there must not make the
/// dead task the owner (it could never release, and the lock would break at once): it is
/// refused with `Broken`, and the lock stays free for the others.
#[test]
fn an_exit_hook_cannot_take_a_lock_for_its_exited_task() {
    let outcome = Rc::new(RefCell::new(None));
    let seen = outcome.clone();
    run(async move {
        let lock = Rc::new(Lock::new());
        let in_hook = lock.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                current_task().on_exit(move |_| *seen.borrow_mut() = Some(in_hook.try_acquire()));
            });
            Ok(())
        })
        .await
        .unwrap();
        assert!(!lock.locked(), "the dead task does not own it");
        lock.try_acquire().expect("the lock is free and unbroken");
        lock.release().unwrap();
    });
    let outcome = outcome.borrow_mut().take().expect("the hook ran");
    assert!(matches!(outcome, Err(SyncError::Broken(_))), "{outcome:?}");
}

/// A task dropped with its nursery (the nursery's future was dropped before it finished) while
/// holding a lock through a guard: its future goes first, so the guard releases the lock, as a
/// task that finishes would — the lock is not broken for an owner that let go of it.
#[test]
fn a_task_dropped_with_its_nursery_releases_its_guard_before_its_exit_breaks_anything() {
    run(async {
        let lock = Rc::new(Lock::new());
        let held = Rc::new(Event::new());
        let (l, h) = (lock.clone(), held.clone());
        let nursery = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let _guard = l.lock().await.unwrap();
                h.set();
                trio::sleep_forever().await?;
                Ok(())
            });
            Ok(())
        });
        // Run the nursery until the child holds the lock, then drop the nursery future.
        trio::select! {
            _ = nursery => unreachable!("the child sleeps for ever"),
            _ = held.wait() => {}
        }
        assert!(!lock.locked(), "the dropped task's guard released the lock");
        lock.try_acquire().expect("free, and not broken");
        lock.release().unwrap();
    });
}
