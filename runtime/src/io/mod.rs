//! Byte streams, as in Trio: the traits of `trio.abc` ([`SendStream`], [`ReceiveStream`],
//! [`Stream`], [`HalfCloseableStream`], [`Listener`], [`AsyncResource`]), [`StapledStream`],
//! the [`StreamError`] every operation fails with, [`ConflictDetector`] for implementations,
//! and adapters to and from `futures::io` ([`AsyncReadWrite`], [`IoStream`]).
//!
//! The rules every stream keeps (the testkit's `check_*_stream` suites check them on any
//! implementation):
//!
//! - every operation that returns normally was a checkpoint;
//! - `send_all` on one stream from two tasks at once is [`StreamError::Busy`] (so is
//!   `receive_some`);
//! - use after `aclose` is [`StreamError::Closed`], and so is closing a stream another task is
//!   blocked on: that task wakes with `Closed`;
//! - a peer that went away is [`StreamError::Broken`];
//! - `aclose` always closes, even when cancelled;
//! - `receive_some` returns 1 to `max_bytes` bytes, or nothing at the end of the stream.
//!
//! # Examples
//!
//! ```
//! use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
//! use trio_testkit::streams::memory_stream_pair;
//!
//! trio::run(async {
//!     let (client, server) = memory_stream_pair();
//!     trio::open_nursery(|nursery| async move {
//!         nursery.start_soon(async move {
//!             // An echo server: send back everything until the end of the stream.
//!             loop {
//!                 let data = server.receive_some(1024).await?;
//!                 if data.is_empty() {
//!                     return server.send_eof().await.map_err(Into::into);
//!                 }
//!                 server.send_all(&data).await?;
//!             }
//!         });
//!         client.send_all(b"ping").await?;
//!         client.send_eof().await?;
//!         assert_eq!(client.receive_some(1024).await?, b"ping");
//!         assert_eq!(client.receive_some(1024).await?, b"");
//!         Ok(())
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```

mod compat;
mod conflict;
mod error;
mod stapled;
mod traits;

pub use compat::{AsyncReadWrite, IoStream};
pub use conflict::{ConflictDetector, ConflictGuard};
pub use error::{OsError, StreamError, StreamResult};
pub use stapled::StapledStream;
pub use traits::{
    AsyncResource, DEFAULT_RECEIVE_SIZE, HalfCloseableStream, IoFuture, Listener, ReceiveStream, SendStream, Stream,
    aclose_forcefully,
};
