//! [`StapledStream`]: two one-way streams as one two-way stream.

use super::error::StreamError;
use super::traits::{AsyncResource, HalfCloseableStream, IoFuture, ReceiveStream, SendStream};

/// Staples a [`SendStream`] and a [`ReceiveStream`] together into one two-way stream (Trio's
/// `trio.StapledStream`). Sending goes to `send_stream`, receiving comes from
/// `receive_stream`.
///
/// [`send_eof`](HalfCloseableStream::send_eof) closes `send_stream` (Trio calls the send
/// stream's own `send_eof` when it has one; Rust cannot ask a generic type that, so staple a
/// half-closeable stream's halves yourself if you need its `send_eof`). `aclose` closes both,
/// the second even when closing the first failed or was cancelled.
///
/// # Examples
///
/// A silly way to make a stream that echoes back whatever is written to it:
///
/// ```
/// use trio::StapledStream;
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::streams::memory_stream_one_way_pair;
///
/// trio::run(async {
///     let (send, receive) = memory_stream_one_way_pair();
///     let echo = StapledStream::new(send, receive);
///     echo.send_all(b"x").await.unwrap();
///     assert_eq!(echo.receive_some(10).await.unwrap(), b"x");
/// });
/// ```
#[derive(Debug)]
pub struct StapledStream<S, R> {
    /// Where `send_all`, `wait_send_all_might_not_block` and `send_eof` go.
    pub send_stream: S,
    /// Where `receive_some` comes from.
    pub receive_stream: R,
}

impl<S: SendStream, R: ReceiveStream> StapledStream<S, R> {
    /// Staples `send_stream` and `receive_stream`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::streams::memory_stream_one_way_pair;
    ///
    /// let (send, receive) = memory_stream_one_way_pair();
    /// let stapled = trio::StapledStream::new(send, receive);
    /// let (_send, _receive) = stapled.into_inner();
    /// ```
    pub fn new(send_stream: S, receive_stream: R) -> StapledStream<S, R> {
        StapledStream { send_stream, receive_stream }
    }

    /// The two halves back.
    ///
    /// # Examples
    ///
    /// See [`StapledStream::new`].
    pub fn into_inner(self) -> (S, R) {
        (self.send_stream, self.receive_stream)
    }
}

impl<S: SendStream, R: ReceiveStream> AsyncResource for StapledStream<S, R> {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let sent = self.send_stream.aclose().await;
            let received = self.receive_stream.aclose().await;
            match (sent, received) {
                (Ok(()), other) => other,
                (Err(StreamError::Cancelled), Err(other)) if !other.is_cancelled() => Err(other),
                (Err(first), _) => Err(first),
            }
        })
    }
}

impl<S: SendStream, R: ReceiveStream> SendStream for StapledStream<S, R> {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        self.send_stream.send_all(data)
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        self.send_stream.wait_send_all_might_not_block()
    }
}

impl<S: SendStream, R: ReceiveStream> ReceiveStream for StapledStream<S, R> {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        self.receive_stream.receive_some(max_bytes)
    }
}

impl<S: SendStream, R: ReceiveStream> HalfCloseableStream for StapledStream<S, R> {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        self.send_stream.aclose()
    }
}
