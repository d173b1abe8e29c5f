//! Streams with no buffer at all (Trio's `lockstep_stream_one_way_pair` and
//! `lockstep_stream_pair`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::Location;
use std::rc::Rc;

use trio::StapledStream;
use trio::abc::{AsyncResource, ReceiveStream, SendStream};
use trio::io::{ConflictDetector, IoFuture, StreamError, StreamResult};
use trio::lowlevel::{WaitDescription, WaitQueue};

/// Trio's `_LockstepByteQueue`: one slot of data that `send_all` fills and then waits to see
/// emptied by `receive_some`.
struct Lockstep {
    data: RefCell<Vec<u8>>,
    sender_closed: Cell<bool>,
    receiver_closed: Cell<bool>,
    receiver_waiting: Cell<bool>,
    waiters: WaitQueue<()>,
    sending: ConflictDetector,
    receiving: ConflictDetector,
    /// Where the pair was made: waits on it name it in deadlock reports.
    created_at: &'static Location<'static>,
}

impl Lockstep {
    fn something_happened(&self) {
        self.waiters.unpark_all_with(|| ());
    }

    /// Waits until `done` holds or either side is closed, then checkpoints.
    async fn wait_for(&self, what: &'static str, done: impl Fn(&Lockstep) -> bool) -> StreamResult<()> {
        while !done(self) && !self.sender_closed.get() && !self.receiver_closed.get() {
            self.waiters.park(WaitDescription::from(what).on_instance("lockstep stream", self.created_at)).await?;
        }
        trio::checkpoint().await?;
        Ok(())
    }

    fn close_sender(&self) {
        self.sender_closed.set(true);
        self.something_happened();
    }

    fn close_receiver(&self) {
        self.receiver_closed.set(true);
        self.something_happened();
    }

    async fn send_all(&self, data: &[u8]) -> StreamResult<()> {
        let _guard = self.sending.enter()?;
        if self.sender_closed.get() {
            return Err(StreamError::closed("send_all on a closed lockstep stream"));
        }
        if self.receiver_closed.get() {
            return Err(StreamError::broken("the lockstep stream's receiver was closed"));
        }
        self.data.borrow_mut().extend_from_slice(data);
        self.something_happened();
        self.wait_for("lockstep send_all, waiting for the receiver to take the data", |q| q.data.borrow().is_empty())
            .await?;
        if self.sender_closed.get() {
            return Err(StreamError::closed("the lockstep stream was closed while send_all waited"));
        }
        if !self.data.borrow().is_empty() && self.receiver_closed.get() {
            return Err(StreamError::broken("the lockstep stream's receiver was closed"));
        }
        Ok(())
    }

    async fn wait_send_all_might_not_block(&self) -> StreamResult<()> {
        let _guard = self.sending.enter()?;
        if self.sender_closed.get() {
            return Err(StreamError::closed("wait_send_all_might_not_block on a closed lockstep stream"));
        }
        if self.receiver_closed.get() {
            trio::checkpoint().await?;
            return Ok(());
        }
        self.wait_for("lockstep wait_send_all_might_not_block, waiting for a receiver", |q| q.receiver_waiting.get())
            .await?;
        if self.sender_closed.get() {
            return Err(StreamError::closed(
                "the lockstep stream was closed while wait_send_all_might_not_block waited",
            ));
        }
        Ok(())
    }

    async fn receive_some(&self, max_bytes: usize) -> StreamResult<Vec<u8>> {
        let _guard = self.receiving.enter()?;
        if max_bytes == 0 {
            return Err(StreamError::invalid_argument(
                "max_bytes must be at least 1: an empty result means the end of the stream",
            ));
        }
        if self.receiver_closed.get() {
            return Err(StreamError::closed("receive_some on a closed lockstep stream"));
        }
        self.receiver_waiting.set(true);
        self.something_happened();
        struct NotWaiting<'a>(&'a Cell<bool>);
        impl Drop for NotWaiting<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let waiting = NotWaiting(&self.receiver_waiting);
        self.wait_for("lockstep receive_some, waiting for data", |q| !q.data.borrow().is_empty()).await?;
        drop(waiting);
        if self.receiver_closed.get() {
            return Err(StreamError::closed("the lockstep stream was closed while receive_some waited"));
        }
        let mut data = self.data.borrow_mut();
        if data.is_empty() {
            debug_assert!(self.sender_closed.get());
            return Ok(Vec::new());
        }
        let n = max_bytes.min(data.len());
        let got: Vec<u8> = data.drain(..n).collect();
        drop(data);
        self.something_happened();
        Ok(got)
    }
}

/// The sending end of a [`lockstep_stream_one_way_pair`]. Dropping it closes it.
///
/// # Examples
///
/// ```
/// let (send, _receive) = trio_testkit::streams::lockstep_stream_one_way_pair();
/// send.close();
/// ```
pub struct LockstepSendStream {
    queue: Rc<Lockstep>,
}

/// The receiving end of a [`lockstep_stream_one_way_pair`]. Dropping it closes it.
///
/// # Examples
///
/// ```
/// let (_send, receive) = trio_testkit::streams::lockstep_stream_one_way_pair();
/// receive.close();
/// ```
pub struct LockstepReceiveStream {
    queue: Rc<Lockstep>,
}

impl LockstepSendStream {
    /// Closes the stream, synchronously.
    ///
    /// # Examples
    ///
    /// See [`LockstepSendStream`].
    pub fn close(&self) {
        self.queue.close_sender();
    }
}

impl LockstepReceiveStream {
    /// Closes the stream, synchronously.
    ///
    /// # Examples
    ///
    /// See [`LockstepReceiveStream`].
    pub fn close(&self) {
        self.queue.close_receiver();
    }
}

impl Drop for LockstepSendStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl Drop for LockstepReceiveStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for LockstepSendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockstepSendStream").field("closed", &self.queue.sender_closed.get()).finish()
    }
}

impl fmt::Debug for LockstepReceiveStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockstepReceiveStream").field("closed", &self.queue.receiver_closed.get()).finish()
    }
}

impl AsyncResource for LockstepSendStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl SendStream for LockstepSendStream {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(self.queue.send_all(data))
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(self.queue.wait_send_all_might_not_block())
    }
}

impl AsyncResource for LockstepReceiveStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl ReceiveStream for LockstepReceiveStream {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(self.queue.receive_some(max_bytes))
    }
}

/// A connected one-way pair with no buffer at all (Trio's `lockstep_stream_one_way_pair`):
/// each `send_all` waits until `receive_some` calls have taken all of its data. Useful to test
/// flow control at its most extreme, and as the "clogged" stream of the conformance checks.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::streams::lockstep_stream_one_way_pair;
///
/// trio::run(async {
///     let (send, receive) = lockstep_stream_one_way_pair();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             send.send_all(b"abc").await?; // returns once all three bytes were taken
///             Ok(())
///         });
///         assert_eq!(receive.receive_some(2).await?, b"ab");
///         assert_eq!(receive.receive_some(2).await?, b"c");
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn lockstep_stream_one_way_pair() -> (LockstepSendStream, LockstepReceiveStream) {
    let queue = Rc::new(Lockstep {
        data: RefCell::new(Vec::new()),
        sender_closed: Cell::new(false),
        receiver_closed: Cell::new(false),
        receiver_waiting: Cell::new(false),
        waiters: WaitQueue::new(),
        sending: ConflictDetector::new("another task is already sending"),
        receiving: ConflictDetector::new("another task is already receiving"),
        created_at: Location::caller(),
    });
    (LockstepSendStream { queue: queue.clone() }, LockstepReceiveStream { queue })
}

/// A connected two-way pair with no buffers (Trio's `lockstep_stream_pair`).
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::streams::lockstep_stream_pair;
///
/// trio::run(async {
///     let (left, right) = lockstep_stream_pair();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             left.send_all(b"hi").await?;
///             Ok(())
///         });
///         assert_eq!(right.receive_some(10).await?, b"hi");
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn lockstep_stream_pair() -> (LockstepStream, LockstepStream) {
    let (send1, receive1) = lockstep_stream_one_way_pair();
    let (send2, receive2) = lockstep_stream_one_way_pair();
    (StapledStream::new(send1, receive2), StapledStream::new(send2, receive1))
}

/// One end of a [`lockstep_stream_pair`].
///
/// # Examples
///
/// ```
/// use trio_testkit::streams::{LockstepStream, lockstep_stream_pair};
///
/// let (left, _right): (LockstepStream, LockstepStream) = lockstep_stream_pair();
/// left.send_stream.close(); // the halves are public, as in Trio
/// ```
pub type LockstepStream = StapledStream<LockstepSendStream, LockstepReceiveStream>;
