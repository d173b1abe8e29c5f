//! In-memory streams with an unbounded buffer and hooks (Trio's `MemorySendStream`,
//! `MemoryReceiveStream`, `memory_stream_pump`, `memory_stream_one_way_pair`,
//! `memory_stream_pair`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use trio::StapledStream;
use trio::abc::{AsyncResource, ReceiveStream, SendStream};
use trio::io::{ConflictDetector, IoFuture, StreamError, StreamResult};
use trio::lowlevel::{WaitDescription, WaitQueue};

/// A hook called from inside a stream operation; what it returns is what the operation returns.
type AsyncHook = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = StreamResult<()>>>>>;
/// A hook called when a stream closes.
type SyncHook = Rc<dyn Fn()>;

fn async_hook<F, Fut>(hook: F) -> AsyncHook
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = StreamResult<()>> + 'static,
{
    Rc::new(move || Box::pin(hook()))
}

const ZERO_MAX_BYTES: &str =
    "max_bytes must be at least 1: an empty result means the end of the stream, so asking for none is a bug";

// ===== ByteQueue =====

/// Trio's `_UnboundedByteQueue`: closing it is like closing the send side of a channel — `put`
/// fails from then on, and `get` drains what is left and then returns empty.
struct ByteQueue {
    data: RefCell<super::Chunks>,
    closed: Cell<bool>,
    waiters: WaitQueue<()>,
    fetching: ConflictDetector,
    /// What a task waiting in `get` waits for, in deadlock reports.
    what: &'static str,
    /// The stream the queue belongs to and where it was made, for the same reports.
    owner: (&'static str, &'static Location<'static>),
}

impl ByteQueue {
    fn new(what: &'static str, owner: (&'static str, &'static Location<'static>)) -> ByteQueue {
        ByteQueue {
            data: RefCell::new(super::Chunks::default()),
            closed: Cell::new(false),
            waiters: WaitQueue::new(),
            fetching: ConflictDetector::new("another task is already fetching data"),
            what,
            owner,
        }
    }

    fn close(&self) {
        self.closed.set(true);
        self.waiters.unpark_all_with(|| ());
    }

    fn close_and_wipe(&self) {
        self.data.borrow_mut().clear();
        self.close();
    }

    fn put(&self, data: Vec<u8>) -> StreamResult<()> {
        if self.closed.get() {
            return Err(StreamError::closed("virtual connection closed"));
        }
        self.data.borrow_mut().push(data);
        self.waiters.unpark_all_with(|| ());
        Ok(())
    }

    /// At most `max_bytes`, or everything buffered for `None` (Trio's semantics).
    fn take(&self, max_bytes: Option<usize>) -> Vec<u8> {
        debug_assert!(self.closed.get() || !self.data.borrow().is_empty());
        let mut data = self.data.borrow_mut();
        match max_bytes {
            Some(max) => data.take(max),
            None => data.take_all(),
        }
    }

    /// Takes data without waiting: `Ok(None)` if there is none yet. Like `get`, it fetches
    /// under the conflict detector — a task woken in `get` owns the data it was woken for.
    fn try_get(&self, max_bytes: Option<usize>) -> StreamResult<Option<Vec<u8>>> {
        let _guard = self.fetching.enter()?;
        if max_bytes == Some(0) {
            return Err(StreamError::invalid_argument(ZERO_MAX_BYTES));
        }
        if !self.closed.get() && self.data.borrow().is_empty() {
            return Ok(None);
        }
        Ok(Some(self.take(max_bytes)))
    }

    async fn get(&self, max_bytes: Option<usize>) -> StreamResult<Vec<u8>> {
        self.get_inner(max_bytes, false).await
    }

    /// `get`, with a checkpoint only when it has to wait (if `checkpointed`: the caller has
    /// just executed one, so taking data at once still returns after a checkpoint).
    async fn get_inner(&self, max_bytes: Option<usize>, checkpointed: bool) -> StreamResult<Vec<u8>> {
        let _guard = self.fetching.enter()?;
        if max_bytes == Some(0) {
            return Err(StreamError::invalid_argument(ZERO_MAX_BYTES));
        }
        if !self.closed.get() && self.data.borrow().is_empty() {
            let (kind, created_at) = self.owner;
            // A wake-up may bring nothing (an empty `put`, which `wait_send_all_might_not_block`
            // makes): wait on, rather than return an empty chunk that reads as the end.
            while !self.closed.get() && self.data.borrow().is_empty() {
                self.waiters.park(WaitDescription::from(self.what).on_instance(kind, created_at)).await?;
            }
        } else if !checkpointed {
            trio::checkpoint().await?;
        }
        Ok(self.take(max_bytes))
    }
}

// ===== MemorySendStream =====

struct SendInner {
    conflict: ConflictDetector,
    outgoing: ByteQueue,
    send_all_hook: RefCell<Option<AsyncHook>>,
    wait_send_all_might_not_block_hook: RefCell<Option<AsyncHook>>,
    close_hook: RefCell<Option<SyncHook>>,
}

impl SendInner {
    fn close(&self) {
        self.outgoing.close();
        let hook = self.close_hook.borrow().clone();
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// An in-memory [`SendStream`] (Trio's `trio.testing.MemorySendStream`): `send_all` appends
/// to an unbounded buffer and then calls the send-all hook, if any; a test (or a hook) takes the
/// data out with [`get_data`](MemorySendStream::get_data).
///
/// Each operation runs two checkpoints before it acts, so that a second task using the stream
/// at the same time is more likely to be caught ([`StreamError::Busy`]). Dropping the stream
/// closes it.
///
/// # Examples
///
/// ```
/// use trio::abc::SendStream;
/// use trio_testkit::streams::MemorySendStream;
///
/// trio::run(async {
///     let stream = MemorySendStream::new();
///     stream.send_all(b"hello").await.unwrap();
///     assert_eq!(stream.get_data(None).await.unwrap(), b"hello");
/// });
/// ```
pub struct MemorySendStream {
    inner: Rc<SendInner>,
}

impl MemorySendStream {
    /// A stream with no hooks.
    ///
    /// # Examples
    ///
    /// See [`MemorySendStream`].
    #[track_caller]
    pub fn new() -> MemorySendStream {
        MemorySendStream {
            inner: Rc::new(SendInner {
                conflict: ConflictDetector::new("another task is using this stream"),
                outgoing: ByteQueue::new(
                    "MemorySendStream::get_data, waiting for data",
                    ("MemorySendStream", Location::caller()),
                ),
                send_all_hook: RefCell::new(None),
                wait_send_all_might_not_block_hook: RefCell::new(None),
                close_hook: RefCell::new(None),
            }),
        }
    }

    /// Sets the hook `send_all` calls after buffering its data (Trio's `send_all_hook`).
    /// Whatever it returns, `send_all` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio::abc::SendStream;
    /// use trio_testkit::streams::MemorySendStream;
    ///
    /// trio::run(async {
    ///     let stream = MemorySendStream::new();
    ///     let calls = Rc::new(Cell::new(0));
    ///     let counter = calls.clone();
    ///     stream.set_send_all_hook(move || {
    ///         counter.set(counter.get() + 1);
    ///         async { Ok(()) }
    ///     });
    ///     stream.send_all(b"x").await.unwrap();
    ///     assert_eq!(calls.get(), 1);
    /// });
    /// ```
    pub fn set_send_all_hook<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = StreamResult<()>> + 'static,
    {
        *self.inner.send_all_hook.borrow_mut() = Some(async_hook(hook));
    }

    /// Removes the send-all hook: data then stays in the buffer — a stalled connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio_testkit::streams::memory_stream_one_way_pair;
    ///
    /// trio::run(async {
    ///     let (send, receive) = memory_stream_one_way_pair();
    ///     send.clear_send_all_hook(); // nothing is pumped any more
    ///     send.send_all(b"stuck").await.unwrap();
    ///     assert_eq!(send.get_data_nowait(None).unwrap(), b"stuck");
    /// });
    /// ```
    pub fn clear_send_all_hook(&self) {
        *self.inner.send_all_hook.borrow_mut() = None;
    }

    /// Sets the hook `wait_send_all_might_not_block` calls (Trio's
    /// `wait_send_all_might_not_block_hook`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// use trio_testkit::streams::MemorySendStream;
    ///
    /// trio::run(async {
    ///     let stream = MemorySendStream::new();
    ///     stream.set_wait_send_all_might_not_block_hook(|| async { Err(trio::StreamError::broken("no room")) });
    ///     assert!(stream.wait_send_all_might_not_block().await.unwrap_err().is_broken());
    /// });
    /// ```
    pub fn set_wait_send_all_might_not_block_hook<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = StreamResult<()>> + 'static,
    {
        *self.inner.wait_send_all_might_not_block_hook.borrow_mut() = Some(async_hook(hook));
    }

    /// Removes the `wait_send_all_might_not_block` hook.
    ///
    /// # Examples
    ///
    /// ```
    /// let stream = trio_testkit::streams::MemorySendStream::new();
    /// stream.clear_wait_send_all_might_not_block_hook();
    /// ```
    pub fn clear_wait_send_all_might_not_block_hook(&self) {
        *self.inner.wait_send_all_might_not_block_hook.borrow_mut() = None;
    }

    /// Sets the hook [`close`](MemorySendStream::close) and `aclose` call (Trio's
    /// `close_hook`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio_testkit::streams::MemorySendStream;
    ///
    /// let stream = MemorySendStream::new();
    /// let closed = Rc::new(Cell::new(false));
    /// let flag = closed.clone();
    /// stream.set_close_hook(move || flag.set(true));
    /// stream.close();
    /// assert!(closed.get());
    /// ```
    pub fn set_close_hook(&self, hook: impl Fn() + 'static) {
        *self.inner.close_hook.borrow_mut() = Some(Rc::new(hook));
    }

    /// Removes the close hook.
    ///
    /// # Examples
    ///
    /// ```
    /// let stream = trio_testkit::streams::MemorySendStream::new();
    /// stream.clear_close_hook();
    /// ```
    pub fn clear_close_hook(&self) {
        *self.inner.close_hook.borrow_mut() = None;
    }

    /// Marks the stream closed, then calls the close hook. Synchronous; idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// use trio_testkit::streams::MemorySendStream;
    ///
    /// trio::run(async {
    ///     let stream = MemorySendStream::new();
    ///     stream.close();
    ///     assert!(stream.send_all(b"x").await.unwrap_err().is_closed());
    /// });
    /// ```
    pub fn close(&self) {
        self.inner.close();
    }

    /// Takes data out of the buffer, waiting until there is some (or the stream is closed).
    /// `None` takes everything buffered; `Some(n)` at most `n` bytes.
    ///
    /// # Errors
    ///
    /// Empty data (not an error) once the stream is closed and drained;
    /// [`StreamError::Busy`] if another task is already fetching;
    /// [`StreamError::InvalidArgument`] for `Some(0)`; [`StreamError::Cancelled`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled call takes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// use trio_testkit::streams::MemorySendStream;
    ///
    /// trio::run(async {
    ///     let stream = MemorySendStream::new();
    ///     stream.send_all(b"abc").await.unwrap();
    ///     assert_eq!(stream.get_data(Some(2)).await.unwrap(), b"ab");
    ///     stream.close();
    ///     assert_eq!(stream.get_data(None).await.unwrap(), b"c");
    ///     assert_eq!(stream.get_data(None).await.unwrap(), b"");
    /// });
    /// ```
    pub async fn get_data(&self, max_bytes: Option<usize>) -> StreamResult<Vec<u8>> {
        self.inner.outgoing.get(max_bytes).await
    }

    /// Takes data out of the buffer without waiting.
    ///
    /// # Errors
    ///
    /// [`trio::WouldBlock`] if nothing is buffered and the stream is open.
    ///
    /// # Panics
    ///
    /// For `Some(0)` (Trio: `ValueError`; an empty result would read as the end), and while
    /// another task waits in [`get_data`](MemorySendStream::get_data) (Trio:
    /// `BusyResourceError`): that task owns the data that arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// let stream = trio_testkit::streams::MemorySendStream::new();
    /// assert!(stream.get_data_nowait(None).is_err());
    /// stream.close();
    /// assert_eq!(stream.get_data_nowait(None).unwrap(), b"");
    /// ```
    #[track_caller]
    pub fn get_data_nowait(&self, max_bytes: Option<usize>) -> Result<Vec<u8>, trio::WouldBlock> {
        match self.inner.outgoing.try_get(max_bytes) {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(trio::WouldBlock::with_message("no data is buffered yet")),
            Err(error) => panic!("MemorySendStream::get_data_nowait: {error}"),
        }
    }

    fn run_hook(hook: &RefCell<Option<AsyncHook>>) -> Option<Pin<Box<dyn Future<Output = StreamResult<()>>>>> {
        let hook = hook.borrow().clone();
        hook.map(|hook| hook())
    }
}

impl Default for MemorySendStream {
    #[track_caller]
    fn default() -> Self {
        MemorySendStream::new()
    }
}

impl Drop for MemorySendStream {
    fn drop(&mut self) {
        self.inner.close();
    }
}

impl fmt::Debug for MemorySendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySendStream")
            .field("buffered", &self.inner.outgoing.data.borrow().len())
            .field("closed", &self.inner.outgoing.closed.get())
            .finish()
    }
}

impl AsyncResource for MemorySendStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl SendStream for MemorySendStream {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(async move {
            let _guard = self.inner.conflict.enter()?;
            // Two checkpoints: a second task using the stream meanwhile is more likely caught.
            trio::checkpoint().await?;
            trio::checkpoint().await?;
            self.inner.outgoing.put(data.to_vec())?;
            match MemorySendStream::run_hook(&self.inner.send_all_hook) {
                Some(hook) => hook.await,
                None => Ok(()),
            }
        })
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let _guard = self.inner.conflict.enter()?;
            trio::checkpoint().await?;
            trio::checkpoint().await?;
            self.inner.outgoing.put(Vec::new())?; // fails if closed
            match MemorySendStream::run_hook(&self.inner.wait_send_all_might_not_block_hook) {
                Some(hook) => hook.await,
                None => Ok(()),
            }
        })
    }
}

// ===== MemoryReceiveStream =====

struct ReceiveInner {
    conflict: ConflictDetector,
    incoming: ByteQueue,
    closed: Cell<bool>,
    receive_some_hook: RefCell<Option<AsyncHook>>,
    close_hook: RefCell<Option<SyncHook>>,
}

impl ReceiveInner {
    fn close(&self) {
        self.closed.set(true);
        self.incoming.close_and_wipe();
        let hook = self.close_hook.borrow().clone();
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// An in-memory [`ReceiveStream`] (Trio's `trio.testing.MemoryReceiveStream`):
/// `receive_some` calls the receive-some hook, if any, then takes data from an unbounded
/// buffer that a test (or a hook) fills with [`put_data`](MemoryReceiveStream::put_data) and
/// ends with [`put_eof`](MemoryReceiveStream::put_eof).
///
/// Closing it discards what is buffered. Dropping it closes it.
///
/// # Examples
///
/// ```
/// use trio::abc::ReceiveStream;
/// use trio_testkit::streams::MemoryReceiveStream;
///
/// trio::run(async {
///     let stream = MemoryReceiveStream::new();
///     stream.put_data(b"hello").unwrap();
///     stream.put_eof();
///     assert_eq!(stream.receive_some(100).await.unwrap(), b"hello");
///     assert_eq!(stream.receive_some(100).await.unwrap(), b"");
/// });
/// ```
pub struct MemoryReceiveStream {
    inner: Rc<ReceiveInner>,
}

impl MemoryReceiveStream {
    /// A stream with no hooks and nothing buffered.
    ///
    /// # Examples
    ///
    /// See [`MemoryReceiveStream`].
    #[track_caller]
    pub fn new() -> MemoryReceiveStream {
        MemoryReceiveStream {
            inner: Rc::new(ReceiveInner {
                conflict: ConflictDetector::new("another task is using this stream"),
                incoming: ByteQueue::new(
                    "MemoryReceiveStream::receive_some, waiting for data",
                    ("MemoryReceiveStream", Location::caller()),
                ),
                closed: Cell::new(false),
                receive_some_hook: RefCell::new(None),
                close_hook: RefCell::new(None),
            }),
        }
    }

    /// Sets the hook `receive_some` calls before it takes data (Trio's `receive_some_hook`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use trio::abc::ReceiveStream;
    /// use trio_testkit::streams::MemoryReceiveStream;
    ///
    /// trio::run(async {
    ///     let stream = Rc::new(MemoryReceiveStream::new());
    ///     let weak = Rc::downgrade(&stream);
    ///     // Data appears only when someone asks for it.
    ///     stream.set_receive_some_hook(move || {
    ///         if let Some(stream) = weak.upgrade() {
    ///             stream.put_data(b"on demand").unwrap();
    ///         }
    ///         async { Ok(()) }
    ///     });
    ///     assert_eq!(stream.receive_some(100).await.unwrap(), b"on demand");
    /// });
    /// ```
    pub fn set_receive_some_hook<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = StreamResult<()>> + 'static,
    {
        *self.inner.receive_some_hook.borrow_mut() = Some(async_hook(hook));
    }

    /// Removes the receive-some hook.
    ///
    /// # Examples
    ///
    /// ```
    /// let stream = trio_testkit::streams::MemoryReceiveStream::new();
    /// stream.clear_receive_some_hook();
    /// ```
    pub fn clear_receive_some_hook(&self) {
        *self.inner.receive_some_hook.borrow_mut() = None;
    }

    /// Sets the hook [`close`](MemoryReceiveStream::close) and `aclose` call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let stream = trio_testkit::streams::MemoryReceiveStream::new();
    /// let closed = Rc::new(Cell::new(false));
    /// let flag = closed.clone();
    /// stream.set_close_hook(move || flag.set(true));
    /// drop(stream); // dropping closes
    /// assert!(closed.get());
    /// ```
    pub fn set_close_hook(&self, hook: impl Fn() + 'static) {
        *self.inner.close_hook.borrow_mut() = Some(Rc::new(hook));
    }

    /// Removes the close hook.
    ///
    /// # Examples
    ///
    /// ```
    /// let stream = trio_testkit::streams::MemoryReceiveStream::new();
    /// stream.clear_close_hook();
    /// ```
    pub fn clear_close_hook(&self) {
        *self.inner.close_hook.borrow_mut() = None;
    }

    /// Discards what is buffered, marks the stream closed, then calls the close hook; a task
    /// blocked in `receive_some` wakes with [`StreamError::Closed`]. Synchronous; idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// use trio_testkit::streams::MemoryReceiveStream;
    ///
    /// trio::run(async {
    ///     let stream = MemoryReceiveStream::new();
    ///     stream.put_data(b"lost").unwrap();
    ///     stream.close();
    ///     assert!(stream.receive_some(10).await.unwrap_err().is_closed());
    /// });
    /// ```
    pub fn close(&self) {
        self.inner.close();
    }

    /// Appends `data` to the buffer.
    ///
    /// # Errors
    ///
    /// [`StreamError::Closed`] after [`put_eof`](MemoryReceiveStream::put_eof) or
    /// [`close`](MemoryReceiveStream::close).
    ///
    /// # Examples
    ///
    /// ```
    /// let stream = trio_testkit::streams::MemoryReceiveStream::new();
    /// stream.put_data(b"ok").unwrap();
    /// stream.put_eof();
    /// assert!(stream.put_data(b"late").unwrap_err().is_closed());
    /// ```
    pub fn put_data(&self, data: &[u8]) -> StreamResult<()> {
        self.inner.incoming.put(data.to_vec())
    }

    /// Ends the stream: once the buffer is drained, `receive_some` returns empty.
    ///
    /// # Examples
    ///
    /// See [`MemoryReceiveStream`].
    pub fn put_eof(&self) {
        self.inner.incoming.close();
    }
}

impl Default for MemoryReceiveStream {
    #[track_caller]
    fn default() -> Self {
        MemoryReceiveStream::new()
    }
}

impl Drop for MemoryReceiveStream {
    fn drop(&mut self) {
        self.inner.close();
    }
}

impl fmt::Debug for MemoryReceiveStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReceiveStream")
            .field("buffered", &self.inner.incoming.data.borrow().len())
            .field("eof", &self.inner.incoming.closed.get())
            .field("closed", &self.inner.closed.get())
            .finish()
    }
}

impl AsyncResource for MemoryReceiveStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl ReceiveStream for MemoryReceiveStream {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(async move {
            // `max_bytes` is checked by the fetch below, where Trio checks it: after `Busy`,
            // the checkpoints, `Closed` and the hook.
            let _guard = self.inner.conflict.enter()?;
            trio::checkpoint().await?;
            trio::checkpoint().await?;
            if self.inner.closed.get() {
                return Err(StreamError::closed("receive_some on a closed MemoryReceiveStream"));
            }
            let hook = self.inner.receive_some_hook.borrow().clone();
            if let Some(hook) = hook {
                hook().await?;
            }
            // `incoming` being closed means the end of the stream; `closed` means this handle
            // was closed (which also closes `incoming` to wake us), so check it again. (Trio's
            // `get` checkpoints a third time when data is there; two are enough, and a third
            // would let a writer outrun its reader by a chunk every few.)
            let data = self.inner.incoming.get_inner(Some(max_bytes), true).await?;
            if self.inner.closed.get() {
                return Err(StreamError::closed("the MemoryReceiveStream was closed while receive_some waited"));
            }
            Ok(data)
        })
    }
}

// ===== pumping and pairs =====

/// Moves data from `send`'s buffer into `receive`'s (Trio's `memory_stream_pump`): at most
/// `max_bytes` (all of it for `None`), or the end of the stream once `send` is closed and
/// drained. Returns whether anything moved.
///
/// # Errors
///
/// [`StreamError::Broken`] if `receive` is closed; [`StreamError::InvalidArgument`] for
/// `Some(0)`; [`StreamError::Busy`] while another task waits in `send`'s
/// [`get_data`](MemorySendStream::get_data).
///
/// # Examples
///
/// A stream where data trickles through one byte per second:
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::MockClock;
/// use trio_testkit::streams::{MemoryReceiveStream, MemorySendStream, memory_stream_pump};
///
/// let clock = MockClock::autojump();
/// trio::Builder::new().clock(clock).run(async {
///     let send = Rc::new(MemorySendStream::new());
///     let receive = Rc::new(MemoryReceiveStream::new());
///     let (s, r) = (Rc::downgrade(&send), Rc::downgrade(&receive));
///     send.set_send_all_hook(move || {
///         let (s, r) = (s.clone(), r.clone());
///         async move {
///             while let (Some(s), Some(r)) = (s.upgrade(), r.upgrade()) {
///                 if !memory_stream_pump(&s, &r, Some(1))? {
///                     break;
///                 }
///                 trio::sleep(Duration::from_secs(1)).await?;
///             }
///             Ok(())
///         }
///     });
///     send.send_all(b"abc").await.unwrap();
///     assert_eq!(trio::current_time(), trio::Instant::from_secs(3));
///     assert_eq!(receive.receive_some(10).await.unwrap(), b"abc");
/// });
/// ```
pub fn memory_stream_pump(
    send: &MemorySendStream,
    receive: &MemoryReceiveStream,
    max_bytes: Option<usize>,
) -> StreamResult<bool> {
    pump(&send.inner, &receive.inner, max_bytes)
}

fn pump(send: &SendInner, receive: &ReceiveInner, max_bytes: Option<usize>) -> StreamResult<bool> {
    let Some(data) = send.outgoing.try_get(max_bytes)? else { return Ok(false) };
    let outcome = if data.is_empty() {
        receive.incoming.close();
        Ok(())
    } else {
        receive.incoming.put(data)
    };
    match outcome {
        Ok(()) => Ok(true),
        Err(_) => Err(StreamError::broken("the MemoryReceiveStream was closed")),
    }
}

/// A connected one-way pair with an unbounded buffer (Trio's `memory_stream_one_way_pair`):
/// the send stream's send-all and close hooks pump everything into the receive stream at once.
/// Rearrange the hooks to simulate stalls or trickles.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::streams::memory_stream_one_way_pair;
///
/// trio::run(async {
///     let (send, receive) = memory_stream_one_way_pair();
///     send.send_all(b"x").await.unwrap();
///     assert_eq!(receive.receive_some(1).await.unwrap(), b"x");
///     drop(receive);
///     assert!(send.send_all(b"y").await.unwrap_err().is_broken()); // the receiver is gone
/// });
/// ```
#[track_caller]
pub fn memory_stream_one_way_pair() -> (MemorySendStream, MemoryReceiveStream) {
    let send = MemorySendStream::new();
    let receive = MemoryReceiveStream::new();
    let (s, r): (Weak<SendInner>, Weak<ReceiveInner>) = (Rc::downgrade(&send.inner), Rc::downgrade(&receive.inner));
    let pump_now = move || -> StreamResult<()> {
        match (s.upgrade(), r.upgrade()) {
            (Some(s), Some(r)) => pump(&s, &r, None).map(|_| ()),
            // The receiving handle was dropped: it closed itself first.
            (_, None) => Err(StreamError::broken("the MemoryReceiveStream was closed")),
            (None, Some(_)) => Ok(()),
        }
    };
    let pump_on_send = pump_now.clone();
    send.set_send_all_hook(move || std::future::ready(pump_on_send()));
    send.set_close_hook(move || {
        let _ = pump_now();
    });
    (send, receive)
}

/// A connected two-way pair with unbounded buffers (Trio's `memory_stream_pair`): two
/// [`memory_stream_one_way_pair`]s stapled together.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::streams::memory_stream_pair;
///
/// trio::run(async {
///     let (left, right) = memory_stream_pair();
///     left.send_all(b"123").await.unwrap();
///     assert_eq!(right.receive_some(10).await.unwrap(), b"123");
///     right.send_all(b"456").await.unwrap();
///     assert_eq!(left.receive_some(10).await.unwrap(), b"456");
/// });
/// ```
#[track_caller]
pub fn memory_stream_pair() -> (MemoryStream, MemoryStream) {
    let (send1, receive1) = memory_stream_one_way_pair();
    let (send2, receive2) = memory_stream_one_way_pair();
    (StapledStream::new(send1, receive2), StapledStream::new(send2, receive1))
}

/// One end of a [`memory_stream_pair`].
///
/// # Examples
///
/// ```
/// use trio_testkit::streams::{MemoryStream, memory_stream_pair};
///
/// let (left, _right): (MemoryStream, MemoryStream) = memory_stream_pair();
/// left.send_stream.clear_send_all_hook(); // stall the left-to-right direction
/// ```
pub type MemoryStream = StapledStream<MemorySendStream, MemoryReceiveStream>;
