//! `assert_checkpoints` and `assert_no_checkpoints`: a checkpoint is a cancel point *and* a
//! schedule point, half of one does not count either way, failed bodies are exempt from
//! `assert_checkpoints` only, and the failure says what was expected and where. After the
//! `trio.testing` tests of Trio.

use trio::lowlevel::{cancel_shielded_checkpoint, checkpoint_if_cancelled};
use trio_testkit::{
    assert_checkpoints, assert_no_checkpoints, trio_test, try_assert_checkpoints, try_assert_no_checkpoints,
};

async fn both_halves() -> Result<(), trio::Cancelled> {
    checkpoint_if_cancelled().await?;
    cancel_shielded_checkpoint().await;
    Ok(())
}

async fn nothing() -> trio::Result<u32> {
    Ok(1 + 1)
}

#[trio_test]
async fn a_checkpoint_passes() -> trio::Result<()> {
    assert_checkpoints(trio::checkpoint()).await?;
    assert_checkpoints(both_halves()).await?;
    assert_eq!(assert_checkpoints(async { trio::checkpoint().await.map(|()| 5) }).await?, 5);
    Ok(())
}

#[trio_test]
async fn no_checkpoint_is_caught() {
    let error = try_assert_checkpoints(nothing()).await.unwrap_err();
    assert!(error.expected_checkpoint());
    assert_eq!((error.cancel_points(), error.schedule_points()), (0, 0));
}

/// A cancel point alone, or a schedule point alone, is not a checkpoint.
#[trio_test]
async fn half_a_checkpoint_is_caught() {
    let error = try_assert_checkpoints(checkpoint_if_cancelled()).await.unwrap_err();
    assert_eq!((error.cancel_points(), error.schedule_points()), (1, 0));
    let error = try_assert_checkpoints(async {
        cancel_shielded_checkpoint().await;
    })
    .await
    .unwrap_err();
    assert_eq!((error.cancel_points(), error.schedule_points()), (0, 1));
}

/// A body that fails may or may not have checkpointed: it is not checked.
#[trio_test]
async fn a_failed_body_is_exempt() {
    let result = assert_checkpoints(async { Err::<(), _>(trio::Error::msg("failed fast")) }).await;
    assert_eq!(result.unwrap_err().to_string(), "failed fast");
}

/// A body that panics is not checked either: its own panic comes through.
#[trio_test]
#[should_panic(expected = "the body's own panic")]
async fn a_panicking_body_keeps_its_panic() {
    let fails = true;
    assert_checkpoints(async {
        if fails {
            panic!("the body's own panic");
        }
    })
    .await;
}

#[trio_test]
#[should_panic(expected = "assert_checkpoints failed at")]
async fn assert_checkpoints_panics() {
    let _ = assert_checkpoints(nothing()).await;
}

#[trio_test]
async fn the_failure_names_the_call_site() {
    let line = line!() + 1;
    let error = try_assert_checkpoints(nothing()).await.unwrap_err();
    assert_eq!(error.location().file(), file!());
    assert_eq!(error.location().line(), line);
    let message = error.to_string();
    assert!(message.starts_with(&format!("assert_checkpoints failed at {}:{line}:", file!())), "{message}");
    assert!(message.contains("expected the body to execute a checkpoint"), "{message}");
}

#[trio_test]
async fn no_checkpoint_passes_assert_no_checkpoints() {
    assert_eq!(assert_no_checkpoints(async { 1 + 1 }).await, 2);
    assert_eq!(assert_no_checkpoints(nothing()).await.unwrap(), 2);
}

/// A checkpoint, either half of one, or both halves all fail `assert_no_checkpoints`.
#[trio_test]
async fn any_yield_is_caught_by_assert_no_checkpoints() {
    let error = try_assert_no_checkpoints(trio::checkpoint()).await.unwrap_err();
    assert!(!error.expected_checkpoint());
    assert_eq!((error.cancel_points(), error.schedule_points()), (1, 1));
    let error = try_assert_no_checkpoints(checkpoint_if_cancelled()).await.unwrap_err();
    assert_eq!((error.cancel_points(), error.schedule_points()), (1, 0));
    let error = try_assert_no_checkpoints(cancel_shielded_checkpoint()).await.unwrap_err();
    assert_eq!((error.cancel_points(), error.schedule_points()), (0, 1));
    let error = try_assert_no_checkpoints(both_halves()).await.unwrap_err();
    assert_eq!((error.cancel_points(), error.schedule_points()), (1, 1));
}

/// Code that must not yield must not yield on its error path either.
#[trio_test]
async fn assert_no_checkpoints_checks_failed_bodies_too() {
    let failed_after_yielding = async {
        trio::checkpoint().await?;
        Err::<(), _>(trio::Error::msg("then failed"))
    };
    assert!(try_assert_no_checkpoints(failed_after_yielding).await.is_err());
}

#[trio_test]
#[should_panic(expected = "assert_no_checkpoints failed at")]
async fn assert_no_checkpoints_panics() {
    let _ = assert_no_checkpoints(trio::checkpoint()).await;
}

/// Only the current task's points count: the parent's one wait for its child, not the
/// child's three checkpoints.
#[trio_test]
async fn counts_only_the_current_task() {
    let error = try_assert_no_checkpoints(trio::open_nursery(|nursery| async move {
        nursery.start_soon(async {
            for _ in 0..3 {
                trio::checkpoint().await?;
            }
            Ok(())
        });
        Ok(())
    }))
    .await
    .unwrap_err();
    assert_eq!((error.cancel_points(), error.schedule_points()), (1, 1));
}
