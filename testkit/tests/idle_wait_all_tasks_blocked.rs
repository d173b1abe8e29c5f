//! `wait_all_tasks_blocked` with and without a cushion: it waits for busy tasks, wakes
//! waiters together, is cancellable, lets a test see sleepers that a jump released, and wakes
//! cushions in order. After the `trio.testing` tests of Trio.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use trio_testkit::{
    MockClock, assert_checkpoints, trio_test, wait_all_tasks_blocked, wait_all_tasks_blocked_with_cushion,
};

type Record = Rc<RefCell<Vec<&'static str>>>;

fn record() -> Record {
    Rc::new(RefCell::new(Vec::new()))
}

/// A busy task that checkpoints ten times keeps the run from being idle; both waiters wake
/// only after it is done.
#[trio_test]
async fn waits_until_busy_tasks_are_done() -> trio::Result<()> {
    let record = record();
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            let r = record.clone();
            nursery.start_soon(async move {
                for _ in 0..10 {
                    trio::checkpoint().await?;
                }
                r.borrow_mut().push("busy bee exhausted");
                Ok(())
            });
            for _ in 0..2 {
                let r = record.clone();
                nursery.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    r.borrow_mut().push("quiet at last!");
                    Ok(())
                });
            }
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), ["busy bee exhausted", "quiet at last!", "quiet at last!"]);
    Ok(())
}

/// Waiting is an ordinary cancellable wait.
#[trio_test]
async fn waiting_can_be_cancelled() -> trio::Result<()> {
    let record = record();
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            nursery.start_soon(async move {
                if wait_all_tasks_blocked().await.is_err() {
                    record.borrow_mut().push("ok");
                }
            });
            nursery.cancel_scope().cancel();
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), ["ok"]);
    Ok(())
}

/// After `jump`, the next wait lets the released sleeper run first.
#[trio_test]
async fn sees_sleepers_released_by_a_jump(mock_clock: MockClock) -> trio::Result<()> {
    let record = record();
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            let r = record.clone();
            nursery.start_soon(async move {
                r.borrow_mut().push("tt start");
                trio::sleep(Duration::from_secs(5)).await?;
                r.borrow_mut().push("tt finished");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            assert_eq!(*record.borrow(), ["tt start"]);
            mock_clock.jump(Duration::from_secs(10));
            wait_all_tasks_blocked().await?;
            assert_eq!(*record.borrow(), ["tt start", "tt finished"]);
            Ok(())
        }
    })
    .await
}

/// On the real clock: a task sleeping 1 ms at a time keeps waking up, so waiters whose cushion
/// is longer than those gaps wait until it is done, and then the smaller cushions go first.
#[trio_test]
async fn cushions_wake_in_order() -> trio::Result<()> {
    let record = record();
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            let r = record.clone();
            nursery.start_soon(async move {
                r.borrow_mut().push("blink start");
                for _ in 0..3 {
                    trio::sleep(Duration::from_millis(1)).await?;
                }
                r.borrow_mut().push("blink end");
                Ok(())
            });
            let r = record.clone();
            nursery.start_soon(async move {
                wait_all_tasks_blocked().await?;
                r.borrow_mut().push("wait_no_cushion end");
                Ok(())
            });
            for _ in 0..2 {
                let r = record.clone();
                nursery.start_soon(async move {
                    wait_all_tasks_blocked_with_cushion(Duration::from_millis(2)).await?;
                    r.borrow_mut().push("wait_small_cushion end");
                    Ok(())
                });
            }
            let r = record.clone();
            nursery.start_soon(async move {
                wait_all_tasks_blocked_with_cushion(Duration::from_millis(3)).await?;
                r.borrow_mut().push("wait_big_cushion end");
                Ok(())
            });
            Ok(())
        }
    })
    .await?;
    assert_eq!(
        *record.borrow(),
        [
            "blink start",
            "wait_no_cushion end",
            "blink end",
            "wait_small_cushion end",
            "wait_small_cushion end",
            "wait_big_cushion end",
        ]
    );
    Ok(())
}

/// Both waits are checkpoints.
#[trio_test]
async fn waits_checkpoint() -> trio::Result<()> {
    assert_checkpoints(wait_all_tasks_blocked()).await?;
    assert_checkpoints(wait_all_tasks_blocked_with_cushion(Duration::ZERO)).await?;
    Ok(())
}
