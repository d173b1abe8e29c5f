//! The checkpoint rule for every async method of the sync primitives: each one checkpoints
//! when it returns normally — on the fast path and after waiting — and a cancelled call has
//! no effect (nothing acquired, nothing consumed, no waiter left behind).

mod sync_util;

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use sync_util::{assert_checkpoints, in_cancelled_scope, run, secs};
use trio::lowlevel::{ParkingLot, wait_all_tasks_blocked};
use trio::{Borrower, CapacityLimiter, Condition, Event, Lock, Semaphore, StrictFifoLock, move_on_after, open_nursery};

const ZERO: Duration = Duration::ZERO;

/// Runs `blocked` in a child until it blocks, then `unblock` in the nursery body, and checks
/// that the child's call checkpointed.
async fn checkpoints_after_waiting<B, U>(blocked: B, unblock: U)
where
    B: Future<Output = ()> + 'static,
    U: FnOnce(),
{
    open_nursery(|nursery| async move {
        nursery.start_soon(assert_checkpoints(blocked));
        wait_all_tasks_blocked(ZERO).await?;
        unblock();
        Ok(())
    })
    .await
    .unwrap();
}

/// Awaits `call` (which returns the primitive's error) with a 1-second timeout while the
/// primitive is unavailable, and checks that it waited for the timeout.
async fn times_out_while_parked<F, T>(call: F)
where
    F: Future<Output = T>,
{
    let t0 = trio::current_time();
    move_on_after(secs(1), async {
        call.await;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(trio::current_time() - t0, secs(1), "the call should have blocked until the timeout");
}

// ===== Event =====

#[test]
fn event_wait_checkpoints_set_or_not() {
    run(async {
        let e = Rc::new(Event::new());
        e.set();
        assert_checkpoints(e.wait()).await.unwrap();
        let e = Rc::new(Event::new());
        let e2 = e.clone();
        checkpoints_after_waiting(async move { e2.wait().await.unwrap() }, || e.set()).await;
    });
}

#[test]
fn a_cancelled_event_wait_leaves_no_waiter() {
    run(async {
        let e = Rc::new(Event::new());
        assert!(in_cancelled_scope(e.wait()).await.is_err());
        let e2 = e.clone();
        times_out_while_parked(async move { e2.wait().await.unwrap_err() }).await;
        assert_eq!(e.statistics().tasks_waiting, 0);
        e.set();
        assert!(in_cancelled_scope(e.wait()).await.is_err(), "a set event still checks for cancellation");
    });
}

// ===== Lock, StrictFifoLock, Condition =====

#[test]
fn lock_acquire_and_lock_checkpoint_fast_and_slow() {
    run(async {
        let l = Rc::new(Lock::new());
        assert_checkpoints(l.acquire()).await.unwrap();
        let l2 = l.clone();
        checkpoints_after_waiting(
            async move {
                l2.acquire().await.unwrap();
                l2.release().unwrap();
            },
            || l.release().unwrap(),
        )
        .await;
        drop(assert_checkpoints(l.lock()).await.unwrap());
        l.acquire().await.unwrap();
        let l2 = l.clone();
        checkpoints_after_waiting(async move { drop(l2.lock().await.unwrap()) }, || l.release().unwrap()).await;

        let s = Rc::new(StrictFifoLock::new());
        assert_checkpoints(s.acquire()).await.unwrap();
        let s2 = s.clone();
        checkpoints_after_waiting(async move { drop(s2.lock().await.unwrap()) }, || s.release().unwrap()).await;
    });
}

#[test]
fn a_cancelled_lock_acquire_acquires_nothing() {
    run(async {
        let l = Rc::new(Lock::new());
        assert!(in_cancelled_scope(l.acquire()).await.unwrap_err().is_cancelled());
        assert!(!l.locked());
        assert!(in_cancelled_scope(l.lock()).await.unwrap_err().is_cancelled());
        assert!(!l.locked());

        let s = StrictFifoLock::new();
        assert!(in_cancelled_scope(s.acquire()).await.unwrap_err().is_cancelled());
        assert!(!s.locked());

        // Cancelled while waiting: the release later does not hand it the lock.
        let holder = Rc::new(Lock::new());
        let h2 = holder.clone();
        open_nursery(|nursery| async move {
            let h = h2.clone();
            nursery.start_soon(async move {
                h.acquire().await?;
                trio::sleep(secs(5)).await?;
                h.release()?;
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            let h = h2.clone();
            times_out_while_parked(async move { h.acquire().await.unwrap_err() }).await;
            assert_eq!(h2.statistics().tasks_waiting, 0);
            Ok(())
        })
        .await
        .unwrap();
        assert!(!holder.locked(), "the cancelled waiter was skipped");
    });
}

#[test]
fn condition_acquire_lock_and_wait_checkpoint() {
    run(async {
        let c = Rc::new(Condition::new());
        assert_checkpoints(c.acquire()).await.unwrap();
        c.release().unwrap();
        drop(assert_checkpoints(c.lock()).await.unwrap());
        let c2 = c.clone();
        open_nursery(|nursery| async move {
            let c = c2.clone();
            nursery.start_soon(async move {
                let _guard = c.lock().await?;
                assert_checkpoints(c.wait()).await?;
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            let _guard = c2.lock().await?;
            c2.notify(1)?;
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_cancelled_condition_call_has_no_effect() {
    run(async {
        let c = Condition::new();
        assert!(in_cancelled_scope(c.acquire()).await.unwrap_err().is_cancelled());
        assert!(!c.locked());
        assert!(in_cancelled_scope(c.lock()).await.unwrap_err().is_cancelled());
        assert!(!c.locked());
        // A cancelled wait returns holding the lock and leaves no waiter.
        let _guard = c.lock().await.unwrap();
        assert!(in_cancelled_scope(c.wait()).await.unwrap_err().is_cancelled());
        assert!(c.locked());
        assert_eq!(c.statistics().tasks_waiting, 0);
    });
}

// ===== Semaphore =====

#[test]
fn semaphore_acquire_and_permit_checkpoint_fast_and_slow() {
    run(async {
        let s = Rc::new(Semaphore::new(1));
        assert_checkpoints(s.acquire()).await.unwrap();
        let s2 = s.clone();
        checkpoints_after_waiting(async move { s2.acquire().await.unwrap() }, || s.release().unwrap()).await;
        s.release().unwrap();
        drop(assert_checkpoints(s.acquire_permit()).await.unwrap());
        s.acquire().await.unwrap();
        let s2 = s.clone();
        checkpoints_after_waiting(async move { drop(s2.acquire_permit().await.unwrap()) }, || s.release().unwrap())
            .await;
    });
}

#[test]
fn a_cancelled_semaphore_acquire_takes_nothing() {
    run(async {
        let s = Rc::new(Semaphore::new(1));
        assert!(in_cancelled_scope(s.acquire()).await.is_err());
        assert!(in_cancelled_scope(s.acquire_permit()).await.is_err());
        assert_eq!(s.value(), 1);
        s.acquire().await.unwrap();
        let s2 = s.clone();
        times_out_while_parked(async move { s2.acquire().await.unwrap_err() }).await;
        assert_eq!(s.statistics().tasks_waiting, 0);
        s.release().unwrap();
        assert_eq!(s.value(), 1, "the release was not handed to the cancelled acquire");
    });
}

// ===== CapacityLimiter =====

#[test]
fn limiter_acquires_checkpoint_fast_and_slow() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        assert_checkpoints(c.acquire()).await.unwrap();
        c.release().unwrap();
        let job = Borrower::unique();
        assert_checkpoints(c.acquire_on_behalf_of(&job)).await.unwrap();
        let c2 = c.clone();
        checkpoints_after_waiting(
            async move {
                c2.acquire().await.unwrap();
                c2.release().unwrap();
            },
            || c.release_on_behalf_of(&job).unwrap(),
        )
        .await;
        drop(assert_checkpoints(c.acquire_token()).await.unwrap());
        c.acquire().await.unwrap();
        let c2 = c.clone();
        checkpoints_after_waiting(async move { drop(c2.acquire_token().await.unwrap()) }, || c.release().unwrap())
            .await;
        c.acquire().await.unwrap();
        let (c2, other) = (c.clone(), Borrower::unique());
        checkpoints_after_waiting(
            async move {
                c2.acquire_on_behalf_of(&other).await.unwrap();
                c2.release_on_behalf_of(&other).unwrap();
            },
            || c.release().unwrap(),
        )
        .await;
    });
}

#[test]
fn a_cancelled_limiter_acquire_borrows_nothing() {
    run(async {
        let c = Rc::new(CapacityLimiter::new(1));
        assert!(in_cancelled_scope(c.acquire()).await.unwrap_err().is_cancelled());
        assert!(in_cancelled_scope(c.acquire_token()).await.unwrap_err().is_cancelled());
        assert!(in_cancelled_scope(c.acquire_on_behalf_of(&Borrower::unique())).await.unwrap_err().is_cancelled());
        assert_eq!(c.borrowed_tokens(), 0);
        c.acquire().await.unwrap();
        let c2 = c.clone();
        times_out_while_parked(async move { c2.acquire_on_behalf_of(&Borrower::unique()).await.unwrap_err() }).await;
        assert_eq!(c.statistics().tasks_waiting, 0);
        c.release().unwrap();
        assert_eq!(c.borrowed_tokens(), 0, "the token was not handed to the cancelled acquire");
    });
}

// ===== ParkingLot =====

#[test]
fn a_cancelled_park_leaves_the_lot_empty() {
    run(async {
        let lot = Rc::new(ParkingLot::new());
        assert!(in_cancelled_scope(lot.park()).await.unwrap_err().is_cancelled());
        let lot2 = lot.clone();
        times_out_while_parked(async move { lot2.park().await.unwrap_err() }).await;
        assert_eq!(lot.len(), 0);
        assert!(lot.unpark(1).is_empty(), "nobody to wake");
    });
}
