//! `Sequencer`: blocks run in number order across tasks, a number can be used once, and a
//! task cancelled (or dropped) while waiting breaks the sequence for everyone with
//! `BrokenResource` instead of a `Cancelled` a scope would swallow. After the `trio.testing`
//! tests of Trio.

use std::cell::RefCell;
use std::pin::pin;
use std::rc::Rc;

use trio::{BrokenResource, CancelScope, RuntimeError};
use trio_testkit::{Sequencer, assert_checkpoints, trio_test, wait_all_tasks_blocked};

type Record = Rc<RefCell<Vec<(&'static str, usize)>>>;

async fn f1(seq: Sequencer, record: Record) -> trio::Result<()> {
    for position in [1, 3, 4] {
        let _block = seq.block(position).await?;
        record.borrow_mut().push(("f1", position));
    }
    Ok(())
}

async fn f2(seq: Sequencer, record: Record) -> trio::Result<()> {
    for position in [0, 2] {
        let _block = seq.block(position).await?;
        record.borrow_mut().push(("f2", position));
    }
    Ok(())
}

#[trio_test]
async fn blocks_run_in_number_order() -> trio::Result<()> {
    let seq = Sequencer::new();
    let record: Record = Rc::default();
    trio::open_nursery(|nursery| {
        let (seq, record) = (seq.clone(), record.clone());
        async move {
            nursery.start_soon(f1(seq.clone(), record.clone()));
            nursery.start_soon(f2(seq.clone(), record.clone()));
            let _block = seq.block(5).await?;
            wait_all_tasks_blocked().await?;
            assert_eq!(*record.borrow(), [("f2", 0), ("f1", 1), ("f2", 2), ("f1", 3), ("f1", 4)]);
            Ok(())
        }
    })
    .await
}

/// A block lasts until its guard is dropped, across checkpoints.
#[trio_test]
async fn a_block_lasts_until_its_guard_is_dropped() -> trio::Result<()> {
    let seq = Sequencer::new();
    let record: Record = Rc::default();
    trio::open_nursery(|nursery| {
        let (seq, record) = (seq.clone(), record.clone());
        async move {
            let (s, r) = (seq.clone(), record.clone());
            nursery.start_soon(async move {
                let _block = s.block(1).await?;
                r.borrow_mut().push(("second", 1));
                Ok(())
            });
            let block = seq.block(0).await?;
            for _ in 0..5 {
                trio::checkpoint().await?;
            }
            record.borrow_mut().push(("first", 0));
            drop(block);
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), [("first", 0), ("second", 1)]);
    Ok(())
}

#[trio_test]
async fn a_number_can_be_used_once() -> trio::Result<()> {
    let seq = Sequencer::new();
    drop(seq.block(0).await?);
    let error = seq.block(0).await.unwrap_err();
    assert!(error.is::<RuntimeError>(), "{error:?}");
    assert!(error.to_string().contains("block 0 was already used"), "{error}");
    Ok(())
}

/// A cancelled waiter breaks the sequencer: it and the other waiter get `BrokenResource`, and
/// so does a late arrival. Block 0, which never waited, still runs.
#[trio_test]
async fn a_cancelled_waiter_breaks_it_for_everyone() -> trio::Result<()> {
    let seq = Sequencer::new();
    let record = Rc::new(RefCell::new(Vec::new()));
    trio::open_nursery(|nursery| {
        let (seq, record) = (seq.clone(), record.clone());
        async move {
            for i in [1, 2] {
                let (seq, record) = (seq.clone(), record.clone());
                nursery.start_soon(async move {
                    let scope = CancelScope::new();
                    if i == 1 {
                        scope.cancel();
                    }
                    let outcome = scope.run(async { Ok(seq.block(i).await.map(drop)) }).await?;
                    let error = outcome.expect("the scope has nothing to catch").unwrap_err();
                    assert!(error.is::<BrokenResource>(), "{error:?}");
                    record.borrow_mut().push(format!("seq({i}) broken: {error}"));
                    Ok(())
                });
            }
            drop(seq.block(0).await?);
            Ok(())
        }
    })
    .await?;
    let cancelled = "the sequencer is broken: the task waiting for block 1 was cancelled";
    assert_eq!(*record.borrow(), [format!("seq(1) broken: {cancelled}"), format!("seq(2) broken: {cancelled}")]);
    assert!(seq.is_broken());

    let late = seq.block(3).await.unwrap_err();
    assert!(late.is::<BrokenResource>());
    Ok(())
}

/// A `block` future dropped while it waits breaks the sequencer too: its block can never run.
#[trio_test]
async fn a_dropped_waiter_breaks_it() -> trio::Result<()> {
    let seq = Sequencer::new();
    {
        let mut waiting = pin!(seq.block(1));
        assert!(futures::poll!(waiting.as_mut()).is_pending());
    }
    assert!(seq.is_broken());
    let error = seq.block(2).await.unwrap_err();
    assert!(error.to_string().contains("the task waiting for block 1 stopped waiting"), "{error}");
    Ok(())
}

/// A block whose predecessor never comes is a deadlock, and the report says what it waits for.
#[trio_test]
#[should_panic(expected = "Sequencer::block(1), waiting for block 0 to end")]
async fn a_missing_block_is_a_reported_deadlock() {
    let _ = Sequencer::new().block(1).await;
}

/// `block` always checkpoints, whether it waits or not.
#[trio_test]
async fn block_checkpoints() -> trio::Result<()> {
    let seq = Sequencer::new();
    drop(assert_checkpoints(seq.block(0)).await?);
    drop(assert_checkpoints(seq.block(1)).await?);
    Ok(())
}

#[trio_test]
async fn debug_shows_the_state() -> trio::Result<()> {
    let seq = Sequencer::new();
    let block = seq.block(0).await?;
    assert_eq!(format!("{block:?}"), "SequencerBlock { position: 0 }");
    assert_eq!(format!("{seq:?}"), "Sequencer { claimed: {0}, waiting: [], broken: None }");
    Ok(())
}
