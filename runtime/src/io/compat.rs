//! Adapters between trio's streams and `futures::io`, both ways: [`AsyncReadWrite`] lets
//! ecosystem code (codecs, HTTP, TLS) read and write a trio stream, and [`IoStream`] makes a
//! `futures::io` reader/writer a trio stream.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::conflict::ConflictDetector;
use super::error::{StreamError, StreamResult};
use super::traits::{AsyncResource, HalfCloseableStream, IoFuture, ReceiveStream, SendStream};
use crate::cancellable::cancellable;
use crate::error::Cancelled;
use crate::lowlevel::{CancelContext, WaitQueue, cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled};

type Pending<T> = Pin<Box<dyn Future<Output = StreamResult<T>>>>;

// ===== AsyncReadWrite: a trio stream as futures::io =====

/// A trio stream seen as [`futures::io::AsyncRead`] (if it is a [`ReceiveStream`]) and
/// [`futures::io::AsyncWrite`] (if it is a [`SendStream`]), so ecosystem codecs and protocols
/// run over it.
///
/// - **Reading** calls `receive_some` with the caller's buffer size; bytes that do not fit a
///   smaller buffer on a later call are kept for the next read. The end of the stream reads
///   as `Ok(0)`.
/// - **Writing**: `poll_write` hands a copy of the buffer to `send_all` and reports it written
///   once the send has finished (so a write inside a timeout is done, or cancelled, inside
///   it); nothing is buffered, and `poll_flush` has nothing to wait for.
/// - **Closing** (`poll_close`) closes the stream with `aclose`, or with `send_eof` when made
///   by [`AsyncReadWrite::half_closing`].
/// - Errors become [`io::Error`]s (see the conversion from [`StreamError`]); a cancellation
///   is `ErrorKind::Other` with the `StreamError` inside.
///
/// An operation the caller stops polling (its future was dropped, say in a `select!`) is kept
/// and resumed by the next call of its kind made in the same cancel scope — the loop around a
/// `select!` — so no received bytes are lost; a write is resumed only by a write (after
/// `Pending` the caller retries with the same bytes, as `write_all` does). A cancel scope's
/// future must go on where it began, so a call made in another cancel scope does not resume
/// it: a kept read or close is dropped — as if cancelled, which loses nothing — and started
/// afresh, and a kept write makes the call fail with [`StreamError::Broken`]: part of it may
/// have been sent, and the stream should be closed, as after a cancelled `send_all`.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use trio::io::AsyncReadWrite;
/// use trio_testkit::streams::memory_stream_pair;
///
/// trio::run(async {
///     let (left, right) = memory_stream_pair();
///     let mut left = AsyncReadWrite::new(left);
///     let mut right = AsyncReadWrite::new(right);
///     left.write_all(b"hello world").await.unwrap();
///     left.close().await.unwrap();
///     let mut text = String::new();
///     right.read_to_string(&mut text).await.unwrap();
///     assert_eq!(text, "hello world");
/// });
/// ```
pub struct AsyncReadWrite<S> {
    stream: Rc<S>,
    reading: Option<Kept<Vec<u8>>>,
    /// Received bytes a smaller read buffer could not take; `leftover[taken..]` is unread.
    leftover: Vec<u8>,
    taken: usize,
    /// A send the caller stopped polling, and how many bytes it carries.
    writing: Option<(Kept<()>, usize)>,
    closing: Option<Kept<()>>,
    closed: bool,
    close_with: fn(Rc<S>) -> Pending<()>,
}

impl<S: AsyncResource + 'static> AsyncReadWrite<S> {
    /// Wraps `stream`; `poll_close` closes it with `aclose`.
    ///
    /// # Examples
    ///
    /// See [`AsyncReadWrite`].
    pub fn new(stream: S) -> AsyncReadWrite<S> {
        AsyncReadWrite::with_close(stream, |stream| Box::pin(async move { stream.aclose().await }))
    }

    fn with_close(stream: S, close_with: fn(Rc<S>) -> Pending<()>) -> AsyncReadWrite<S> {
        AsyncReadWrite {
            stream: Rc::new(stream),
            reading: None,
            leftover: Vec::new(),
            taken: 0,
            writing: None,
            closing: None,
            closed: false,
            close_with,
        }
    }

    /// The stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// use trio_testkit::streams::memory_stream_pair;
    ///
    /// trio::run(async {
    ///     let (left, _right) = memory_stream_pair();
    ///     let adapter = trio::io::AsyncReadWrite::new(left);
    ///     adapter.get_ref().send_all(b"direct").await.unwrap();
    /// });
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: HalfCloseableStream + 'static> AsyncReadWrite<S> {
    /// Wraps `stream`; `poll_close` sends an end-of-file with `send_eof`, and reading goes on
    /// — what a TCP client wants after writing its request.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::{AsyncReadExt, AsyncWriteExt};
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio::io::AsyncReadWrite;
    /// use trio_testkit::streams::memory_stream_pair;
    ///
    /// trio::run(async {
    ///     let (client, server) = memory_stream_pair();
    ///     let mut client = AsyncReadWrite::half_closing(client);
    ///     client.write_all(b"request").await.unwrap();
    ///     client.close().await.unwrap(); // send_eof: the server sees the end…
    ///     assert_eq!(server.receive_some(100).await.unwrap(), b"request");
    ///     assert_eq!(server.receive_some(100).await.unwrap(), b"");
    ///     server.send_all(b"response").await.unwrap(); // …and can still answer
    ///     let mut buf = [0; 8];
    ///     client.read_exact(&mut buf).await.unwrap();
    ///     assert_eq!(&buf, b"response");
    /// });
    /// ```
    pub fn half_closing(stream: S) -> AsyncReadWrite<S> {
        AsyncReadWrite::with_close(stream, |stream| Box::pin(async move { stream.send_eof().await }))
    }
}

/// An operation in flight and the cancel context it started in: it may enter cancel scopes,
/// which must be polled where they were entered, so it goes on only in that context.
struct Kept<T> {
    future: Pending<T>,
    context: Option<CancelContext>,
}

impl<T> Kept<T> {
    fn new(future: Pending<T>) -> Kept<T> {
        Kept { future, context: CancelContext::current() }
    }

    /// Whether the code polling now runs where the operation started (outside a run, where
    /// no operation can go on anyway, there is no context to compare).
    fn here(&self) -> bool {
        self.context.as_ref().is_none_or(CancelContext::is_current)
    }
}

impl<S> AsyncReadWrite<S> {
    /// Finishes a send the caller stopped polling, if one is kept: here, if it started here;
    /// from another cancel scope, it was abandoned midway and the stream's state is unknown.
    fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        let Some((kept, len)) = self.writing.as_mut() else { return Poll::Ready(Ok(None)) };
        if !kept.here() {
            self.writing = None;
            return Poll::Ready(Err(StreamError::broken(
                "a write on this AsyncReadWrite was abandoned midway (its future dropped, as by a \
                 cancellation) and this call runs in another cancel scope: part of it may have been \
                 sent, so the stream is in an unknown state; close it",
            )
            .into()));
        }
        let len = *len;
        let done = std::task::ready!(kept.future.as_mut().poll(cx));
        self.writing = None;
        done?;
        Poll::Ready(Ok(Some(len)))
    }
}

impl<S: ReceiveStream + 'static> AsyncRead for AsyncReadWrite<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.taken < this.leftover.len() {
            let n = buf.len().min(this.leftover.len() - this.taken);
            buf[..n].copy_from_slice(&this.leftover[this.taken..this.taken + n]);
            this.taken += n;
            return Poll::Ready(Ok(n));
        }
        if this.reading.as_ref().is_some_and(|kept| !kept.here()) {
            // Left by a read whose future was dropped, in another cancel scope: cancel it (a
            // cancelled receive loses nothing) and receive afresh here.
            this.reading = None;
        }
        let reading = this.reading.get_or_insert_with(|| {
            let stream = this.stream.clone();
            let max_bytes = buf.len();
            Kept::new(Box::pin(async move { stream.receive_some(max_bytes).await }))
        });
        let data = std::task::ready!(reading.future.as_mut().poll(cx));
        this.reading = None;
        let data = data?;
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        if n < data.len() {
            this.leftover = data;
            this.taken = n;
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: SendStream + 'static> AsyncWrite for AsyncReadWrite<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.closed || this.closing.is_some() {
            return Poll::Ready(Err(StreamError::closed("write after close on an AsyncReadWrite").into()));
        }
        // The retry of a write that returned `Pending`: its bytes are the kept send's.
        if let Some(len) = std::task::ready!(this.poll_written(cx))? {
            return Poll::Ready(Ok(len.min(buf.len())));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let stream = this.stream.clone();
        let data = buf.to_vec();
        let mut writing = Kept::new(Box::pin(async move { stream.send_all(&data).await }));
        match writing.future.as_mut().poll(cx) {
            Poll::Ready(done) => Poll::Ready(done.map(|()| buf.len()).map_err(io::Error::from)),
            Poll::Pending => {
                this.writing = Some((writing, buf.len()));
                Poll::Pending
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_written(cx).map_ok(|_| ())
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        std::task::ready!(this.poll_written(cx))?;
        if this.closing.as_ref().is_some_and(|kept| !kept.here()) {
            this.closing = None; // started in another cancel scope: close afresh here
        }
        let closing = this.closing.get_or_insert_with(|| Kept::new((this.close_with)(this.stream.clone())));
        let done = std::task::ready!(closing.future.as_mut().poll(cx));
        this.closing = None;
        this.closed = true;
        Poll::Ready(done.map_err(io::Error::from))
    }
}

impl<S> fmt::Debug for AsyncReadWrite<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncReadWrite")
            .field("reading", &self.reading.is_some())
            .field("buffered", &(self.leftover.len() - self.taken))
            .field("writing", &self.writing.is_some())
            .field("closed", &self.closed)
            .finish()
    }
}

// ===== IoStream: futures::io as a trio stream =====

/// A [`futures::io::AsyncRead`] + [`futures::io::AsyncWrite`] seen as a trio
/// [`HalfCloseableStream`], with Trio's rules added: every operation is a checkpoint, two tasks
/// sending (or receiving) at once get [`StreamError::Busy`], use after `aclose` is
/// [`StreamError::Closed`] — also for a task blocked in `receive_some` or `send_all` when
/// another task closes the stream — and an I/O error is [`StreamError::Broken`] (the stream
/// stays broken).
///
/// Who drives the reader/writer matters to trio:
///
/// - [`IoStream::new`]: something *outside* trio does (the operating system, a thread,
///   another library's reactor). A task waiting on it waits outside the runtime: autojump holds
///   off and no deadlock is declared while it waits, and cancellation abandons the wait.
/// - [`IoStream::on_trio`]: trio tasks do — say, a protocol layered over a trio stream through
///   [`AsyncReadWrite`]. Its waits are trio waits, so autojump, `wait_all_tasks_blocked` and
///   deadlock detection see through it.
///
/// `send_eof` is the writer's `poll_close`. `aclose` gives `poll_close` one try and drops the
/// reader/writer; it never blocks.
///
/// # Examples
///
/// ```
/// use futures::io::Cursor;
/// use trio::abc::ReceiveStream;
/// use trio::io::IoStream;
///
/// trio::run(async {
///     let stream = IoStream::new(Cursor::new(b"from a cursor".to_vec()));
///     assert_eq!(stream.receive_some(4).await.unwrap(), b"from");
///     assert_eq!(stream.receive_some(100).await.unwrap(), b" a cursor");
///     assert_eq!(stream.receive_some(100).await.unwrap(), b""); // the end
/// });
/// ```
pub struct IoStream<T> {
    /// `None` once closed.
    io: RefCell<Option<T>>,
    /// Driven from outside trio: its waits are external waits.
    external: bool,
    sending: ConflictDetector,
    receiving: ConflictDetector,
    /// Set by `send_eof`.
    eof_sent: Cell<bool>,
    /// Why it broke, once an I/O error happened.
    broken: RefCell<Option<String>>,
    /// Tasks blocked in an operation, woken by `aclose`.
    closing: WaitQueue<()>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> IoStream<T> {
    /// Wraps `io`, which something outside trio drives.
    ///
    /// # Examples
    ///
    /// See [`IoStream`].
    pub fn new(io: T) -> IoStream<T> {
        IoStream::with(io, true)
    }

    /// Wraps `io`, which trio tasks drive (its waits are trio waits).
    ///
    /// # Examples
    ///
    /// A trio stream seen through `futures::io` and back:
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio::io::{AsyncReadWrite, IoStream};
    /// use trio_testkit::streams::memory_stream_pair;
    ///
    /// trio::run(async {
    ///     let (left, right) = memory_stream_pair();
    ///     let left = IoStream::on_trio(AsyncReadWrite::new(left));
    ///     left.send_all(b"round trip").await.unwrap();
    ///     assert_eq!(right.receive_some(100).await.unwrap(), b"round trip");
    /// });
    /// ```
    pub fn on_trio(io: T) -> IoStream<T> {
        IoStream::with(io, false)
    }

    fn with(io: T, external: bool) -> IoStream<T> {
        IoStream {
            io: RefCell::new(Some(io)),
            external,
            sending: ConflictDetector::new("another task is already sending on this stream"),
            receiving: ConflictDetector::new("another task is already receiving on this stream"),
            eof_sent: Cell::new(false),
            broken: RefCell::new(None),
            closing: WaitQueue::new(),
        }
    }

    /// The reader/writer back, unless the stream was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let stream = trio::io::IoStream::new(futures::io::Cursor::new(vec![1, 2, 3]));
    /// assert_eq!(stream.into_inner().unwrap().into_inner(), [1, 2, 3]);
    /// ```
    pub fn into_inner(self) -> Option<T> {
        self.io.into_inner()
    }

    fn check_open(&self) -> StreamResult<()> {
        if self.io.borrow().is_none() {
            return Err(StreamError::closed("this stream was closed"));
        }
        if let Some(why) = &*self.broken.borrow() {
            return Err(StreamError::broken(format!("the stream broke earlier: {why}")));
        }
        Ok(())
    }

    /// Polls the wrapped reader/writer with `op` until it is ready, giving up when the stream is
    /// closed by another task (`Closed`) or the scope is cancelled (`Cancelled`). Always a
    /// checkpoint when it returns normally.
    async fn drive<R>(
        &self,
        what: &'static str,
        mut op: impl FnMut(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> StreamResult<R> {
        checkpoint_if_cancelled().await?;
        let ready_at_once = Cell::new(true);
        let poll_io = std::future::poll_fn(|cx| {
            let polled = match self.io.borrow_mut().as_mut() {
                Some(io) => op(Pin::new(io), cx).map(|result| result.map(Some)),
                None => Poll::Ready(Ok(None)),
            };
            if polled.is_pending() {
                ready_at_once.set(false);
            }
            polled
        });
        let outcome = if self.external {
            self.race(what, cancellable(poll_io)).await
        } else {
            self.race(what, async { Ok(poll_io.await) }).await
        };
        if outcome.is_ok() && ready_at_once.get() && !self.external {
            cancel_shielded_checkpoint().await;
        }
        outcome
    }

    /// Races the I/O against `aclose` from another task.
    async fn race<R>(
        &self,
        what: &'static str,
        io_op: impl Future<Output = Result<io::Result<Option<R>>, Cancelled>>,
    ) -> StreamResult<R> {
        use futures::future::Either;
        let closed = self.closing.park(what);
        let io_op = std::pin::pin!(io_op);
        match futures::future::select(io_op, closed).await {
            Either::Left((Ok(Ok(Some(value))), _)) => Ok(value),
            Either::Left((Ok(Ok(None)), _)) | Either::Right((Ok(()), _)) => {
                Err(StreamError::closed("this stream was closed by another task while it waited"))
            }
            Either::Left((Ok(Err(error)), _)) => {
                // A trio stream underneath reports its cancellation through the I/O error.
                if error.get_ref().and_then(|e| e.downcast_ref::<StreamError>()).is_some_and(StreamError::is_cancelled)
                {
                    return Err(StreamError::Cancelled);
                }
                *self.broken.borrow_mut() = Some(error.to_string());
                Err(StreamError::broken(format!("the stream broke: {error}")))
            }
            Either::Left((Err(_), _)) | Either::Right((Err(_), _)) => Err(StreamError::Cancelled),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncResource for IoStream<T> {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let io = self.io.borrow_mut().take();
            self.closing.unpark_all_with(|| ());
            if let Some(mut io) = io {
                // One try at a graceful close, then it is dropped.
                let mut tried = false;
                std::future::poll_fn(|cx| {
                    if !std::mem::replace(&mut tried, true) {
                        let _ = Pin::new(&mut io).poll_close(cx);
                    }
                    Poll::Ready(())
                })
                .await;
            }
            checkpoint().await?;
            Ok(())
        })
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> SendStream for IoStream<T> {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(async move {
            let _guard = self.sending.enter()?;
            self.check_open()?;
            if self.eof_sent.get() {
                return Err(StreamError::closed("send_all after send_eof"));
            }
            let mut rest = data;
            while !rest.is_empty() {
                let n = self.drive("send_all on an IoStream", |io, cx| io.poll_write(cx, rest)).await?;
                if n == 0 {
                    *self.broken.borrow_mut() = Some("the writer accepted no bytes".to_string());
                    return Err(StreamError::broken("the writer accepted no bytes"));
                }
                rest = &rest[n..];
            }
            self.drive("send_all on an IoStream (flushing)", |io, cx| io.poll_flush(cx)).await?;
            Ok(())
        })
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let _guard = self.sending.enter()?;
            self.check_open()?;
            checkpoint().await?;
            Ok(())
        })
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> ReceiveStream for IoStream<T> {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(async move {
            if max_bytes == 0 {
                return Err(StreamError::invalid_argument(
                    "receive_some(0): max_bytes must be at least 1 (an empty result means the end of the stream)",
                ));
            }
            let _guard = self.receiving.enter()?;
            self.check_open()?;
            let mut buf = vec![0; max_bytes.min(super::DEFAULT_RECEIVE_SIZE)];
            let n = self.drive("receive_some on an IoStream", |io, cx| io.poll_read(cx, &mut buf)).await?;
            buf.truncate(n);
            Ok(buf)
        })
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> HalfCloseableStream for IoStream<T> {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let _guard = self.sending.enter()?;
            self.check_open()?;
            if self.eof_sent.replace(true) {
                checkpoint().await?;
                return Ok(());
            }
            self.drive("send_eof on an IoStream", |io, cx| io.poll_close(cx)).await?;
            Ok(())
        })
    }
}

impl<T> fmt::Debug for IoStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoStream")
            .field("closed", &self.io.borrow().is_none())
            .field("eof_sent", &self.eof_sent.get())
            .field("broken", &self.broken.borrow().is_some())
            .finish()
    }
}
