//! The `anyhow` feature: errors cross between `trio::Error` and `anyhow::Error` both ways, and
//! a cancellation stays recognisable to the scope that owns it.

#![cfg(feature = "anyhow")]

use std::fmt;

use trio::{CancelScope, Cancelled, Error};

#[derive(Debug)]
struct Disk;

impl fmt::Display for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("disk on fire")
    }
}

impl std::error::Error for Disk {}

#[test]
fn a_scope_catches_a_cancellation_that_went_through_anyhow() {
    trio::run(async {
        async fn uses_anyhow() -> anyhow::Result<()> {
            trio::checkpoint().await?;
            Ok(())
        }
        let scope = CancelScope::new();
        scope.cancel();
        let out = scope.run(async { uses_anyhow().await.map_err(Error::from_anyhow) }).await.unwrap();
        assert_eq!(out, None);
        assert!(scope.cancelled_caught());
    });
}

#[test]
fn context_added_by_anyhow_does_not_hide_the_cancellation() {
    let err = anyhow::Error::new(Cancelled::new()).context("while fetching");
    assert!(Error::from_anyhow(err).is_cancelled());
    let err = anyhow::Error::new(Disk).context("while fetching");
    assert!(!Error::from_anyhow(err).is_cancelled());
}

#[test]
fn trio_errors_become_anyhow_errors_and_come_back() {
    fn trio_result() -> trio::Result<()> {
        Err(Error::new(Cancelled::new()))
    }
    fn anyhow_result() -> anyhow::Result<()> {
        trio_result()?;
        Ok(())
    }
    let err = anyhow_result().unwrap_err();
    assert!(err.chain().any(|e| e.is::<Cancelled>()), "anyhow's chain sees the cancellation");
    let back = Error::from_anyhow(err);
    assert!(back.is::<Cancelled>(), "the original trio::Error comes back unchanged");

    let err: anyhow::Error = Error::new(Disk).into();
    assert!(err.chain().any(|e| e.is::<Disk>()));
    assert_eq!(err.to_string(), "disk on fire");
}

#[test]
fn a_cancelled_send_of_a_value_that_is_not_send_travels_through_anyhow_and_is_caught() {
    trio::run(async {
        let (tx, _rx) = trio::open_memory_channel::<std::rc::Rc<u8>>(0);
        async fn send_with_anyhow(tx: &trio::MemorySender<std::rc::Rc<u8>>) -> anyhow::Result<()> {
            tx.send(std::rc::Rc::new(1)).await?; // an Rc: `?` must not need Send
            Ok(())
        }
        let scope = CancelScope::new();
        scope.cancel();
        let out = scope.run(async { send_with_anyhow(&tx).await.map_err(Error::from_anyhow) }).await.unwrap();
        assert_eq!(out, None, "the scope recognised its own cancellation");
    });
}
