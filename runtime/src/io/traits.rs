//! The stream traits of Trio's `trio.abc`: [`AsyncResource`], [`SendStream`],
//! [`ReceiveStream`], [`Stream`], [`HalfCloseableStream`] and [`Listener`].
//!
//! Every method takes `&self` and returns a boxed future ([`IoFuture`]), so the traits work both
//! as generic bounds and as `dyn` objects, and a stream can be shared between tasks (`Rc<S>`)
//! — which is what makes Trio's rules checkable at all: a second task calling `send_all` while
//! the first is still in it gets [`StreamError::Busy`], and closing a stream that another task
//! is blocked on wakes that task with [`StreamError::Closed`].

use std::future::Future;
use std::pin::Pin;

use super::error::{StreamError, StreamResult};
use crate::CancelScope;

/// The future a stream or listener operation returns: boxed, so the traits are object-safe, and
/// not `Send`, since trio runs on one thread.
///
/// # Examples
///
/// ```
/// use trio::io::IoFuture;
///
/// fn ready() -> IoFuture<'static, u8> {
///     Box::pin(async { Ok(7) })
/// }
/// trio::run(async { assert_eq!(ready().await, Ok(7)) });
/// ```
pub type IoFuture<'a, T> = Pin<Box<dyn Future<Output = StreamResult<T>> + 'a>>;

/// The size [`ReceiveStream::receive_some`] callers use when they have no better idea (Trio's
/// `SocketStream` default, 64 KiB).
///
/// # Examples
///
/// ```
/// assert_eq!(trio::io::DEFAULT_RECEIVE_SIZE, 65_536);
/// ```
pub const DEFAULT_RECEIVE_SIZE: usize = 65_536;

/// Something that must be closed (Trio's `trio.abc.AsyncResource`).
///
/// # Contract
///
/// - [`aclose`](AsyncResource::aclose) closes the resource, *always* — also when it is
///   cancelled, in which case it closes forcefully (without any graceful shutdown) and then
///   returns [`StreamError::Cancelled`]. It is idempotent: closing twice is fine.
/// - It is a checkpoint.
/// - Dropping a resource should close it too (Rust's convention; the project's streams do).
///
/// # Examples
///
/// ```
/// use trio::abc::AsyncResource;
/// use trio_testkit::streams::memory_stream_pair;
///
/// trio::run(async {
///     let (left, _right) = memory_stream_pair();
///     left.aclose().await.unwrap();
///     left.aclose().await.unwrap(); // idempotent
/// });
/// ```
pub trait AsyncResource {
    /// Closes the resource. Any task blocked on it wakes with [`StreamError::Closed`].
    ///
    /// # Errors
    ///
    /// [`StreamError::Cancelled`] if the enclosing scope is cancelled — the resource is closed
    /// anyway, forcefully. A resource with a graceful shutdown may report
    /// [`StreamError::Broken`] if that failed; it is closed then too.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Cancelling it never leaves the resource open.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{AsyncResource, SendStream};
    /// use trio_testkit::streams::memory_stream_one_way_pair;
    ///
    /// trio::run(async {
    ///     let (send, _receive) = memory_stream_one_way_pair();
    ///     send.aclose().await.unwrap();
    ///     assert!(send.send_all(b"late").await.unwrap_err().is_closed());
    /// });
    /// ```
    fn aclose(&self) -> IoFuture<'_, ()>;
}

/// A stream you can send bytes on (Trio's `trio.abc.SendStream`).
///
/// # Contract
///
/// - Every method is a checkpoint when it returns normally.
/// - [`send_all`](SendStream::send_all) and
///   [`wait_send_all_might_not_block`](SendStream::wait_send_all_might_not_block) are
///   exclusive: a call while another task is in either of them (or in
///   [`send_eof`](HalfCloseableStream::send_eof)) fails with [`StreamError::Busy`].
/// - After [`aclose`](AsyncResource::aclose) — or when another task closes the stream while
///   one of them waits — they fail with [`StreamError::Closed`].
/// - When the receiving side is gone, sending eventually fails with [`StreamError::Broken`],
///   and keeps failing so.
///
/// # Examples
///
/// A function that works with any send stream:
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::streams::memory_stream_one_way_pair;
///
/// async fn greet(stream: &dyn SendStream) -> trio::Result<()> {
///     stream.send_all(b"hello").await?;
///     Ok(())
/// }
///
/// trio::run(async {
///     let (send, receive) = memory_stream_one_way_pair();
///     greet(&send).await.unwrap();
///     assert_eq!(receive.receive_some(100).await.unwrap(), b"hello");
/// });
/// ```
pub trait SendStream: AsyncResource {
    /// Sends all of `data`, waiting for the other side (flow control) as long as it takes.
    /// Empty data is allowed and means nothing special.
    ///
    /// # Errors
    ///
    /// [`StreamError::Busy`] if another task is sending on this stream;
    /// [`StreamError::Closed`] if this stream was closed (also while waiting);
    /// [`StreamError::Broken`] if the receiving side is gone; [`StreamError::Cancelled`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint. As in Trio, a cancelled `send_all` may have sent a prefix of `data`; the
    /// stream is then in an unknown state and should be closed. (The testkit's memory streams
    /// and the simulated network send nothing when cancelled before the data was taken.)
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio_testkit::streams::memory_stream_one_way_pair;
    ///
    /// trio::run(async {
    ///     let (send, receive) = memory_stream_one_way_pair();
    ///     send.send_all(b"").await.unwrap(); // nothing special
    ///     send.send_all(b"data").await.unwrap();
    ///     assert_eq!(receive.receive_some(100).await.unwrap(), b"data");
    /// });
    /// ```
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()>;

    /// Waits until a [`send_all`](SendStream::send_all) call might not block — a hint for
    /// protocols that want to compose their data at the last moment. It may return early.
    ///
    /// # Errors
    ///
    /// As [`send_all`](SendStream::send_all); a stream whose receiver is gone may return
    /// `Ok` (the next `send_all` reports it) or [`StreamError::Broken`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint; nothing is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// use trio_testkit::streams::memory_stream_one_way_pair;
    ///
    /// trio::run(async {
    ///     let (send, _receive) = memory_stream_one_way_pair();
    ///     send.wait_send_all_might_not_block().await.unwrap(); // unbounded buffer: at once
    /// });
    /// ```
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()>;
}

/// A stream you can receive bytes from (Trio's `trio.abc.ReceiveStream`).
///
/// # Contract
///
/// - [`receive_some`](ReceiveStream::receive_some) is a checkpoint when it returns normally.
/// - It returns between 1 and `max_bytes` bytes, or an empty `Vec` at the end of the stream
///   (and again on every later call).
/// - A call while another task is in `receive_some` fails with [`StreamError::Busy`].
/// - After [`aclose`](AsyncResource::aclose) — or when another task closes the stream while
///   one waits in `receive_some` — it fails with [`StreamError::Closed`].
/// - `max_bytes == 0` is [`StreamError::InvalidArgument`] (Trio: `ValueError`): an empty
///   result would be mistaken for the end of the stream.
///
/// # Examples
///
/// Reading until the end of a stream:
///
/// ```
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// use trio_testkit::streams::memory_stream_one_way_pair;
///
/// async fn read_to_end(stream: &dyn ReceiveStream) -> trio::Result<Vec<u8>> {
///     let mut all = Vec::new();
///     loop {
///         let chunk = stream.receive_some(trio::io::DEFAULT_RECEIVE_SIZE).await?;
///         if chunk.is_empty() {
///             return Ok(all);
///         }
///         all.extend_from_slice(&chunk);
///     }
/// }
///
/// trio::run(async {
///     let (send, receive) = memory_stream_one_way_pair();
///     send.send_all(b"one, ").await.unwrap();
///     send.send_all(b"two").await.unwrap();
///     send.aclose().await.unwrap();
///     assert_eq!(read_to_end(&receive).await.unwrap(), b"one, two");
/// });
/// ```
pub trait ReceiveStream: AsyncResource {
    /// Waits for data and returns at most `max_bytes` of it; empty at the end of the stream.
    ///
    /// # Errors
    ///
    /// [`StreamError::InvalidArgument`] for `max_bytes == 0`; [`StreamError::Busy`],
    /// [`StreamError::Closed`], [`StreamError::Broken`], [`StreamError::Cancelled`] as above.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled call took nothing: the data is there for the next call.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio_testkit::streams::memory_stream_one_way_pair;
    ///
    /// trio::run(async {
    ///     let (send, receive) = memory_stream_one_way_pair();
    ///     send.send_all(b"abc").await.unwrap();
    ///     assert_eq!(receive.receive_some(2).await.unwrap(), b"ab");
    ///     assert_eq!(receive.receive_some(2).await.unwrap(), b"c");
    ///     assert!(receive.receive_some(0).await.is_err()); // would look like the end
    /// });
    /// ```
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>>;
}

/// A stream in both directions (Trio's `trio.abc.Stream`). Implemented for every type that is
/// both a [`SendStream`] and a [`ReceiveStream`].
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream, Stream};
/// use trio_testkit::streams::memory_stream_pair;
///
/// async fn echo_once(stream: &dyn Stream) -> trio::Result<()> {
///     let data = stream.receive_some(1024).await?;
///     stream.send_all(&data).await?;
///     Ok(())
/// }
///
/// trio::run(async {
///     let (client, server) = memory_stream_pair();
///     client.send_all(b"ping").await.unwrap();
///     echo_once(&server).await.unwrap();
///     assert_eq!(client.receive_some(1024).await.unwrap(), b"ping");
/// });
/// ```
pub trait Stream: SendStream + ReceiveStream {}

impl<T: SendStream + ReceiveStream + ?Sized> Stream for T {}

/// A two-way stream whose sending half can be closed alone (Trio's
/// `trio.abc.HalfCloseableStream`), like TCP's `shutdown(SHUT_WR)`.
///
/// # Contract
///
/// - [`send_eof`](HalfCloseableStream::send_eof) is a checkpoint, idempotent, and exclusive
///   with `send_all` and `wait_send_all_might_not_block` ([`StreamError::Busy`]).
/// - After it, `send_all` fails with [`StreamError::Closed`]; receiving still works, and the
///   other side's `receive_some` returns empty once it has read everything sent before.
///
/// # Examples
///
/// ```
/// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
/// use trio_testkit::streams::memory_stream_pair;
///
/// trio::run(async {
///     let (client, server) = memory_stream_pair();
///     client.send_all(b"request").await.unwrap();
///     client.send_eof().await.unwrap(); // "that is all I will send"
///     assert_eq!(server.receive_some(100).await.unwrap(), b"request");
///     assert_eq!(server.receive_some(100).await.unwrap(), b""); // the end
///     server.send_all(b"response").await.unwrap(); // the other direction still works
///     assert_eq!(client.receive_some(100).await.unwrap(), b"response");
/// });
/// ```
pub trait HalfCloseableStream: Stream {
    /// Sends an end-of-file: the other side reads everything sent so far, then the end.
    ///
    /// # Errors
    ///
    /// [`StreamError::Busy`] while another task sends; [`StreamError::Closed`] after
    /// [`aclose`](AsyncResource::aclose); [`StreamError::Broken`]; [`StreamError::Cancelled`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{HalfCloseableStream, SendStream};
    /// use trio_testkit::streams::memory_stream_pair;
    ///
    /// trio::run(async {
    ///     let (client, _server) = memory_stream_pair();
    ///     client.send_eof().await.unwrap();
    ///     client.send_eof().await.unwrap(); // idempotent
    ///     assert!(client.send_all(b"x").await.unwrap_err().is_closed());
    /// });
    /// ```
    fn send_eof(&self) -> IoFuture<'_, ()>;
}

/// Accepts incoming connections (Trio's `trio.abc.Listener`): a server's socket.
///
/// # Contract
///
/// - [`accept`](Listener::accept) is a checkpoint when it returns normally.
/// - After [`aclose`](AsyncResource::aclose) — or when another task closes the listener while
///   one waits in `accept` — it fails with [`StreamError::Closed`].
///
/// # Examples
///
/// ```
/// use trio::abc::{Listener, SendStream};
///
/// /// Answers every connection with a greeting, until cancelled.
/// async fn greeter<L: Listener>(listener: &L) -> trio::Result<()>
/// where
///     L::Stream: SendStream,
/// {
///     loop {
///         let stream = listener.accept().await?;
///         stream.send_all(b"hello\n").await?;
///     }
/// }
/// ```
pub trait Listener: AsyncResource {
    /// What a connection is.
    type Stream;

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// [`StreamError::Closed`] if the listener was closed (also while waiting);
    /// [`StreamError::Cancelled`]; a provider may report others.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled accept takes no connection.
    ///
    /// # Examples
    ///
    /// See [`Listener`].
    fn accept(&self) -> IoFuture<'_, Self::Stream>;
}

// ===== forwarding impls =====

macro_rules! forward {
    ($($ptr:ty),*) => {$(
        impl<T: AsyncResource + ?Sized> AsyncResource for $ptr {
            fn aclose(&self) -> IoFuture<'_, ()> {
                (**self).aclose()
            }
        }

        impl<T: SendStream + ?Sized> SendStream for $ptr {
            fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
                (**self).send_all(data)
            }

            fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
                (**self).wait_send_all_might_not_block()
            }
        }

        impl<T: ReceiveStream + ?Sized> ReceiveStream for $ptr {
            fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
                (**self).receive_some(max_bytes)
            }
        }

        impl<T: HalfCloseableStream + ?Sized> HalfCloseableStream for $ptr {
            fn send_eof(&self) -> IoFuture<'_, ()> {
                (**self).send_eof()
            }
        }

        impl<T: Listener + ?Sized> Listener for $ptr {
            type Stream = T::Stream;

            fn accept(&self) -> IoFuture<'_, T::Stream> {
                (**self).accept()
            }
        }
    )*};
}

forward!(std::rc::Rc<T>, Box<T>, &T);

// ===== helpers =====

/// Closes `resource` at once, without waiting for a graceful shutdown (Trio's
/// `aclose_forcefully`): [`aclose`](AsyncResource::aclose) inside an already-cancelled scope,
/// which every resource must honour by closing anyway.
///
/// # Errors
///
/// [`StreamError::Cancelled`] if a scope *around* this call is cancelled (the resource is
/// closed regardless); an error other than a cancellation that `aclose` reports.
///
/// # Cancellation
///
/// A checkpoint that cannot block.
///
/// # Examples
///
/// ```
/// use trio::abc::ReceiveStream;
/// use trio_testkit::streams::memory_stream_one_way_pair;
///
/// trio::run(async {
///     let (_send, receive) = memory_stream_one_way_pair();
///     trio::io::aclose_forcefully(&receive).await.unwrap();
///     assert!(receive.receive_some(10).await.unwrap_err().is_closed());
/// });
/// ```
pub async fn aclose_forcefully<R: AsyncResource + ?Sized>(resource: &R) -> StreamResult<()> {
    let scope = CancelScope::new();
    scope.cancel();
    // The body's `Cancelled` is caught by this scope, unless a scope around it is cancelled
    // too: then the outer one owns it, as in Trio, and it comes out of here.
    match scope.run(async { Ok(resource.aclose().await?) }).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_cancelled() => Err(StreamError::Cancelled),
        Err(error) => match error.downcast::<StreamError>() {
            Ok(error) => Err(error),
            Err(other) => Err(StreamError::broken(other.to_string())),
        },
    }
}
