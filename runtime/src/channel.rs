//! Memory channels (Trio's `open_memory_channel`), built on the public `lowlevel` API.
//!
//! One [`State`] per channel holds the buffer, the open-handle counts and two FIFO queues of
//! parked tasks. Every handle ([`MemorySender`], [`MemoryReceiver`], each clone) is a
//! [`Handle`] with its own `closed` flag, so closing one clone wakes only the tasks blocked on
//! that clone, as in Trio.
//!
//! Waiters are [`park_slot`]s. Cancellation aborts a slot the moment its scope is cancelled, so
//! an aborted waiter simply refuses the next hand-off ([`Unparker::unpark`] returns the value)
//! and the value goes to the next waiter: nothing is lost and nothing is delivered twice. A
//! blocked sender's value lives in a cell shared with its queue entry; a receiver takes it only
//! after waking the sender succeeded, and a sender that was cancelled or woken with an error
//! takes it back from the same cell.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use futures::{Sink, Stream};

use crate::error::{Cancelled, ClosedResource};
use crate::lowlevel::WaitQueue;
use crate::lowlevel::{ParkSlot, WaitDescription, cancel_shielded_checkpoint, checkpoint_if_cancelled, park_slot};

// ===== Capacity =====

/// How many values a channel buffers before [`MemorySender::send`] blocks — or, for a
/// [`CapacityLimiter`](crate::CapacityLimiter), how many tokens it holds.
///
/// A plain number converts into `Capacity::Bounded`, so `open_memory_channel::<T>(0)` is a
/// rendezvous channel and `open_memory_channel::<T>(16)` buffers sixteen values; unbounded
/// must be asked for by name (Trio spells it `math.inf`).
///
/// # Examples
///
/// ```
/// use trio::Capacity;
///
/// assert_eq!(Capacity::from(3), Capacity::Bounded(3));
/// let (tx, _rx) = trio::open_memory_channel::<u8>(Capacity::Unbounded);
/// assert_eq!(tx.statistics().max_buffer_size, Capacity::Unbounded);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capacity {
    /// At most this many.
    Bounded(usize),
    /// No limit.
    Unbounded,
}

impl Capacity {
    /// The limit as a number, `usize::MAX` for [`Capacity::Unbounded`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Capacity::Bounded(2).limit(), 2);
    /// assert_eq!(trio::Capacity::Unbounded.limit(), usize::MAX);
    /// ```
    pub fn limit(self) -> usize {
        match self {
            Capacity::Bounded(n) => n,
            Capacity::Unbounded => usize::MAX,
        }
    }
}

impl From<usize> for Capacity {
    fn from(n: usize) -> Capacity {
        Capacity::Bounded(n)
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capacity::Bounded(n) => write!(f, "{n}"),
            Capacity::Unbounded => f.write_str("unbounded"),
        }
    }
}

// ===== open_memory_channel =====

/// Opens a channel for passing values between tasks of a run (Trio's `open_memory_channel`).
///
/// Returns the sending and the receiving half — data flows left to right. `capacity` is how
/// many values the channel buffers: `0` gives a rendezvous channel where every `send` waits
/// for a receiver, [`Capacity::Unbounded`] a channel whose `send` never blocks. If in doubt,
/// use 0: a buffer delays backpressure.
///
/// Both halves can be [cloned](MemorySender::try_clone) for many producers and consumers;
/// [closing](MemorySender::close) or dropping every sender ends the stream for receivers once
/// the buffer is drained, and closing every receiver makes further sends fail.
///
/// Channels can be created outside a run; using them needs one.
///
/// # Examples
///
/// A producer and a consumer, with the idiomatic receive loop:
///
/// ```
/// trio::run(async {
///     let (tx, rx) = trio::open_memory_channel::<u32>(0);
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             for i in 0..3 {
///                 tx.send(i).await?;
///             }
///             Ok(()) // `tx` is dropped here, which closes it
///         });
///         let mut got = Vec::new();
///         while let Some(value) = rx.recv().await? {
///             got.push(value);
///         }
///         assert_eq!(got, [0, 1, 2]);
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[doc(alias = "channel")]
#[doc(alias = "mpsc")]
#[track_caller]
pub fn open_memory_channel<T: 'static>(capacity: impl Into<Capacity>) -> (MemorySender<T>, MemoryReceiver<T>) {
    let capacity = capacity.into();
    let chan = Rc::new(RefCell::new(State {
        capacity,
        buffer: VecDeque::new(),
        peak: 0,
        open_senders: 1,
        open_receivers: 1,
        send_waiters: WaitQueue::new(),
        recv_waiters: WaitQueue::new(),
        next_handle: 2,
        created_at: Location::caller(),
        name: None,
    }));
    let tx = MemorySender { handle: Rc::new(Handle::new(chan.clone(), 0)), flushing: None };
    let rx = MemoryReceiver { handle: Rc::new(Handle::new(chan, 1)), next: None };
    (tx, rx)
}

// ===== statistics =====

/// A snapshot of a channel's state, from [`MemorySender::statistics`] or
/// [`MemoryReceiver::statistics`] (Trio's `MemoryChannelStatistics`, plus `peak_buffer_used`).
///
/// # Examples
///
/// ```
/// let (tx, rx) = trio::open_memory_channel::<&str>(4);
/// tx.try_send("a").unwrap();
/// let _rx2 = rx.try_clone().unwrap();
/// let stats = rx.statistics();
/// assert_eq!(stats.current_buffer_used, 1);
/// assert_eq!(stats.max_buffer_size, trio::Capacity::Bounded(4));
/// assert_eq!(stats.open_send_channels, 1);
/// assert_eq!(stats.open_receive_channels, 2);
/// assert_eq!(stats.tasks_waiting_send, 0);
/// assert_eq!(stats.tasks_waiting_receive, 0);
/// assert_eq!(stats.peak_buffer_used, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MemoryChannelStatistics {
    /// Values in the buffer now.
    pub current_buffer_used: usize,
    /// The capacity the channel was opened with.
    pub max_buffer_size: Capacity,
    /// Open sending handles (clones included).
    pub open_send_channels: usize,
    /// Open receiving handles (clones included).
    pub open_receive_channels: usize,
    /// Tasks blocked in [`MemorySender::send`], over all clones.
    pub tasks_waiting_send: usize,
    /// Tasks blocked in [`MemoryReceiver::recv`], over all clones.
    pub tasks_waiting_receive: usize,
    /// The most values the buffer has held at once.
    pub peak_buffer_used: usize,
}

// ===== MemorySender =====

/// The sending half of a memory channel; see [`open_memory_channel`].
///
/// Dropping a sender closes it. Clone it with [`try_clone`](MemorySender::try_clone) (or
/// `Clone`) to give each producer its own handle: receivers see the end of the channel only
/// once every clone is closed.
///
/// `MemorySender` also implements [`futures::Sink`]: `start_send` stores the value and
/// `poll_flush` runs [`send`](MemorySender::send) for it, so at most one value is in flight.
/// A failed flush returns the value inside its [`SendError`]; a value not yet flushed when the
/// sender is dropped is dropped with it.
///
/// # Examples
///
/// Two producers, each with its own handle; the receiver sees the end once both are gone:
///
/// ```
/// use futures::SinkExt;
///
/// trio::run(async {
///     let (tx, rx) = trio::open_memory_channel::<u32>(0);
///     trio::open_nursery(|nursery| async move {
///         let tx2 = tx.clone();
///         nursery.start_soon(async move {
///             tx.send(1).await?; // `tx` is dropped (closed) when the task ends
///             Ok(())
///         });
///         nursery.start_soon(async move {
///             let mut sink = tx2;
///             sink.send(2).await?; // through `futures::Sink`
///             Ok(())
///         });
///         let mut got = Vec::new();
///         while let Some(value) = rx.recv().await? {
///             got.push(value);
///         }
///         got.sort();
///         assert_eq!(got, [1, 2]);
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct MemorySender<T> {
    handle: Rc<Handle<T>>,
    /// The send started by `Sink::start_send`, driven by `poll_flush`.
    flushing: Option<LocalFuture<Result<(), SendError<T>>>>,
}

impl<T: 'static> MemorySender<T> {
    /// Sends `value`, waiting until a receiver takes it or the buffer has room (Trio's
    /// `send`). Many tasks may send at once; blocked senders are served first come, first
    /// served.
    ///
    /// The checks happen in Trio's order: this handle closed, then no receiver left, then a
    /// direct hand-off to the receiver that has waited longest, then the buffer.
    ///
    /// # Errors
    ///
    /// Every error hands `value` back: [`SendError::Closed`] if this handle is closed (also
    /// when it is closed while the send waits), [`SendError::Broken`] if every receiver is
    /// closed (also while waiting), [`SendError::Cancelled`] if an enclosing scope was
    /// cancelled.
    ///
    /// # Cancellation
    ///
    /// A checkpoint when it returns `Ok`. Cancellation is atomic: a cancelled send did not
    /// send. If the future is dropped while it waits, the value is dropped unsent.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let (tx, rx) = trio::open_memory_channel::<String>(1);
    ///     tx.send("hello".to_string()).await.unwrap();
    ///     drop(rx);
    ///     let err = tx.send("lost?".to_string()).await.unwrap_err();
    ///     assert!(matches!(err, trio::SendError::Broken(_)));
    ///     assert_eq!(err.into_inner(), "lost?"); // never lost
    /// });
    /// ```
    #[track_caller]
    pub fn send(&self, value: T) -> impl Future<Output = Result<(), SendError<T>>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            self.handle.send(value).await
        }
    }

    /// Sends `value` if that is possible without waiting (Trio's `send_nowait`).
    ///
    /// # Errors
    ///
    /// As [`send`](MemorySender::send), plus [`TrySendError::WouldBlock`] when no receiver
    /// waits and the buffer is full. Every error hands `value` back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u8>(1);
    /// assert!(tx.try_send(1).is_ok());
    /// let err = tx.try_send(2).unwrap_err();
    /// assert!(matches!(err, trio::TrySendError::WouldBlock(2)));
    /// ```
    #[doc(alias = "send_nowait")]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.handle.try_send(value)
    }

    /// Another handle to the same channel (Trio's `clone`). Closing one handle does not
    /// close the other; receivers see the end of the channel only when every sender is closed.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`] if this handle is already closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u8>(2);
    /// let tx2 = tx.try_clone().unwrap();
    /// tx.close();
    /// assert!(tx.try_clone().is_err());
    /// assert!(tx2.try_send(1).is_ok());
    /// assert_eq!(tx2.statistics().open_send_channels, 1);
    /// ```
    pub fn try_clone(&self) -> Result<MemorySender<T>, ClosedResource> {
        Ok(MemorySender { handle: Rc::new(self.handle.clone_sender()?), flushing: None })
    }
}

impl<T> MemorySender<T> {
    /// Names the channel — both ends, every clone — for people reading about it: deadlock
    /// reports read "MemoryReceiver::recv on the memory channel \`jobs\` created at …", and
    /// `Debug` shows it. Call it on either end; naming again replaces the name.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u32>(0);
    /// let tx = tx.named("jobs");
    /// assert_eq!(tx.name().as_deref(), Some("jobs"));
    /// assert_eq!(rx.name().as_deref(), Some("jobs"));
    /// assert!(format!("{rx:?}").contains("jobs"));
    /// ```
    pub fn named(self, name: impl Into<Rc<str>>) -> MemorySender<T> {
        self.handle.chan.borrow_mut().name = Some(name.into());
        self
    }

    /// The channel's name, given with [`named`](MemorySender::named) on either end, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u32>(0);
    /// assert_eq!(tx.name(), None);
    /// ```
    pub fn name(&self) -> Option<Rc<str>> {
        self.handle.chan.borrow().name.clone()
    }

    /// Closes this handle (Trio's `close`): tasks blocked in `send` on it fail with
    /// [`SendError::Closed`], later sends on it fail the same way, and once every sender is
    /// closed, receivers get `None` after draining the buffer. Closing twice does nothing.
    /// Dropping the handle closes it too.
    ///
    /// # Cancellation
    ///
    /// Synchronous: not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u8>(1);
    /// tx.try_send(7).unwrap();
    /// tx.close();
    /// assert!(matches!(tx.try_send(8), Err(trio::TrySendError::Closed(8))));
    /// assert_eq!(rx.try_recv(), Ok(Some(7)));
    /// assert_eq!(rx.try_recv(), Ok(None)); // the end of the channel
    /// ```
    pub fn close(&self) {
        self.handle.close_sender();
    }

    /// `true` once this handle has been closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u8>(0);
    /// assert!(!tx.is_closed());
    /// tx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.handle.closed.get()
    }

    /// A snapshot of the channel's state; see [`MemoryChannelStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u8>(0);
    /// assert_eq!(tx.statistics().open_send_channels, 1);
    /// ```
    pub fn statistics(&self) -> MemoryChannelStatistics {
        self.handle.chan.borrow().statistics()
    }
}

impl<T: 'static> Clone for MemorySender<T> {
    /// Another handle to the same channel; see [`MemorySender::try_clone`].
    ///
    /// # Panics
    ///
    /// If this handle is closed: use `try_clone` to get an error instead.
    #[track_caller]
    fn clone(&self) -> MemorySender<T> {
        match self.try_clone() {
            Ok(sender) => sender,
            Err(_) => panic!("clone() called on a closed MemorySender; clone before closing, or use try_clone()"),
        }
    }
}

impl<T> Drop for MemorySender<T> {
    fn drop(&mut self) {
        self.flushing = None;
        self.handle.close_sender();
    }
}

impl<T> fmt::Debug for MemorySender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.handle.debug("MemorySender", f)
    }
}

impl<T: 'static> Sink<T> for MemorySender<T> {
    type Error = SendError<T>;

    /// Finishes the value in flight, if any.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        self.poll_flush(cx)
    }

    /// Stores `item`; the next `poll_flush` (or `poll_ready`) sends it.
    ///
    /// # Panics
    ///
    /// If a value is still in flight: call `poll_ready` first, as `Sink` requires.
    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), SendError<T>> {
        let this = self.get_mut();
        assert!(this.flushing.is_none(), "Sink::start_send called before poll_ready finished the previous send");
        let handle = this.handle.clone();
        this.flushing = Some(Box::pin(async move { handle.send(item).await }));
        Ok(())
    }

    /// Runs the send of the value in flight to completion.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        let this = self.get_mut();
        let Some(flushing) = this.flushing.as_mut() else { return Poll::Ready(Ok(())) };
        let result = ready!(flushing.as_mut().poll(cx));
        this.flushing = None;
        Poll::Ready(result)
    }

    /// Flushes, then closes this handle (also when the flush failed).
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        let result = ready!(self.as_mut().poll_flush(cx));
        self.handle.close_sender();
        Poll::Ready(result)
    }
}

// ===== MemoryReceiver =====

/// The receiving half of a memory channel; see [`open_memory_channel`].
///
/// Dropping a receiver closes it. When the last receiver is closed, the buffer is discarded
/// and senders fail with [`SendError::Broken`].
///
/// `MemoryReceiver` also implements [`futures::Stream`] with items
/// `Result<T, RecvError>`: the stream ends (`None`) at the end of the channel, and a
/// cancellation arrives as an `Err(RecvError::Cancelled)` item rather than as a silent end.
/// Such an error item comes again at every poll while the scope stays cancelled (or the handle
/// closed), as a receive would fail again: stop at the first `Err` — an adapter that skips
/// errors, such as `filter_map(Result::ok)`, would loop for ever on a cancelled receiver.
///
/// # Examples
///
/// Reading the channel as a [`futures::Stream`]:
///
/// ```
/// use futures::StreamExt;
///
/// trio::run(async {
///     let (tx, mut rx) = trio::open_memory_channel::<&str>(trio::Capacity::Unbounded);
///     tx.try_send("a").unwrap();
///     tx.try_send("b").unwrap();
///     drop(tx); // the end of the channel, once the buffer is drained
///     let mut got = Vec::new();
///     while let Some(item) = rx.next().await {
///         got.push(item.unwrap());
///     }
///     assert_eq!(got, ["a", "b"]);
/// });
/// ```
pub struct MemoryReceiver<T> {
    handle: Rc<Handle<T>>,
    /// The receive started by `Stream::poll_next`.
    next: Option<LocalFuture<Result<Option<T>, RecvError>>>,
}

impl<T: 'static> MemoryReceiver<T> {
    /// Receives the next value, waiting for one if needed (Trio's `receive`). Returns
    /// `Ok(None)` once every sender is closed and the buffer is drained, so the loop is
    /// `while let Some(value) = rx.recv().await? { .. }`.
    ///
    /// Many tasks may receive at once: the first to wait gets the first value. A sender
    /// blocked on a full buffer has its value appended behind the buffered ones.
    ///
    /// # Errors
    ///
    /// [`RecvError::Closed`] if this handle is closed (also while waiting),
    /// [`RecvError::Cancelled`] if an enclosing scope was cancelled.
    ///
    /// # Cancellation
    ///
    /// A checkpoint when it returns `Ok`. Cancellation is atomic: a cancelled receive took
    /// nothing from the channel. If the future is dropped after a value was handed to it, the
    /// value goes back to the front of the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let (tx, rx) = trio::open_memory_channel::<u8>(2);
    ///     tx.send(1).await.unwrap();
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, Ok(Some(1)));
    ///     assert_eq!(rx.recv().await, Ok(None));
    /// });
    /// ```
    #[doc(alias = "receive")]
    #[track_caller]
    pub fn recv(&self) -> impl Future<Output = Result<Option<T>, RecvError>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            self.handle.recv().await
        }
    }

    /// Receives a value if one is ready (Trio's `receive_nowait`): `Ok(None)` at the end of
    /// the channel.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::WouldBlock`] if nothing is ready and a sender is still open,
    /// [`TryRecvError::Closed`] if this handle is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u8>(1);
    /// assert_eq!(rx.try_recv(), Err(trio::TryRecvError::WouldBlock));
    /// tx.try_send(5).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(Some(5)));
    /// ```
    #[doc(alias = "receive_nowait")]
    pub fn try_recv(&self) -> Result<Option<T>, TryRecvError> {
        self.handle.try_recv()
    }

    /// Another handle to the same channel (Trio's `clone`). Each value goes to exactly one
    /// receiver; this does not copy the stream.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`] if this handle is already closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u8>(2);
    /// let rx2 = rx.try_clone().unwrap();
    /// tx.try_send(1).unwrap();
    /// drop(rx);
    /// assert_eq!(rx2.try_recv(), Ok(Some(1)));
    /// ```
    pub fn try_clone(&self) -> Result<MemoryReceiver<T>, ClosedResource> {
        Ok(MemoryReceiver { handle: Rc::new(self.handle.clone_receiver()?), next: None })
    }
}

impl<T> MemoryReceiver<T> {
    /// Names the channel — both ends, every clone — for people reading about it: deadlock
    /// reports read "MemoryReceiver::recv on the memory channel \`jobs\` created at …", and
    /// `Debug` shows it. Call it on either end; naming again replaces the name.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u32>(0);
    /// let rx = rx.named("jobs");
    /// assert_eq!(tx.name().as_deref(), Some("jobs"));
    /// assert_eq!(rx.name().as_deref(), Some("jobs"));
    /// assert!(format!("{rx:?}").contains("jobs"));
    /// ```
    pub fn named(self, name: impl Into<Rc<str>>) -> MemoryReceiver<T> {
        self.handle.chan.borrow_mut().name = Some(name.into());
        self
    }

    /// The channel's name, given with [`named`](MemoryReceiver::named) on either end, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u32>(0);
    /// assert_eq!(tx.name(), None);
    /// ```
    pub fn name(&self) -> Option<Rc<str>> {
        self.handle.chan.borrow().name.clone()
    }

    /// Closes this handle (Trio's `close`): tasks blocked in `recv` on it fail with
    /// [`RecvError::Closed`], and once every receiver is closed the buffer is discarded and
    /// senders fail with [`SendError::Broken`]. Closing twice does nothing. Dropping the
    /// handle closes it too.
    ///
    /// # Cancellation
    ///
    /// Synchronous: not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u8>(1);
    /// tx.try_send(1).unwrap();
    /// rx.close();
    /// assert_eq!(tx.statistics().current_buffer_used, 0); // discarded
    /// assert!(matches!(tx.try_send(2), Err(trio::TrySendError::Broken(2))));
    /// ```
    pub fn close(&self) {
        self.handle.close_receiver();
    }

    /// `true` once this handle has been closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = trio::open_memory_channel::<u8>(0);
    /// rx.close();
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.handle.closed.get()
    }

    /// A snapshot of the channel's state; see [`MemoryChannelStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = trio::open_memory_channel::<u8>(0);
    /// assert_eq!(rx.statistics().open_receive_channels, 1);
    /// ```
    pub fn statistics(&self) -> MemoryChannelStatistics {
        self.handle.chan.borrow().statistics()
    }
}

impl<T: 'static> Clone for MemoryReceiver<T> {
    /// Another handle to the same channel; see [`MemoryReceiver::try_clone`].
    ///
    /// # Panics
    ///
    /// If this handle is closed: use `try_clone` to get an error instead.
    #[track_caller]
    fn clone(&self) -> MemoryReceiver<T> {
        match self.try_clone() {
            Ok(receiver) => receiver,
            Err(_) => panic!("clone() called on a closed MemoryReceiver; clone before closing, or use try_clone()"),
        }
    }
}

impl<T> Drop for MemoryReceiver<T> {
    fn drop(&mut self) {
        // First the receive in flight, so a value handed to it goes back to the channel.
        self.next = None;
        self.handle.close_receiver();
    }
}

impl<T> fmt::Debug for MemoryReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.handle.debug("MemoryReceiver", f)
    }
}

impl<T: 'static> Stream for MemoryReceiver<T> {
    type Item = Result<T, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T, RecvError>>> {
        let this = self.get_mut();
        let next = this.next.get_or_insert_with(|| {
            let handle = this.handle.clone();
            Box::pin(async move { handle.recv().await })
        });
        let result = ready!(next.as_mut().poll(cx));
        this.next = None;
        Poll::Ready(result.transpose())
    }
}

// ===== errors =====

/// Why [`MemorySender::send`] failed. Every variant holds the value that was not sent.
///
/// `SendError` converts into [`trio::Error`](crate::Error) with `?`, whatever the value's type
/// (an `Rc` too): the value is dropped and the error becomes [`Cancelled`], [`ClosedResource`]
/// or [`BrokenResource`](crate::BrokenResource), so a `Cancelled` one is still recognised as a
/// cancellation by the scope that caught it. Take the value back with
/// [`into_inner`](SendError::into_inner) *before* `?` if you need it. With the `anyhow` feature,
/// `?` also converts it into an `anyhow::Error`, and into `Box<dyn std::error::Error>` always.
///
/// It deliberately does not implement `std::error::Error`: that impl would make `?` into
/// `trio::Error` go through the conversion for every standard error, which needs the value to
/// be `Send + Sync`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = trio::open_memory_channel::<u8>(0);
/// drop(rx);
/// trio::run(async move {
///     match tx.send(1).await {
///         Err(trio::SendError::Broken(value)) => assert_eq!(value, 1),
///         other => panic!("unexpected {other:?}"),
///     }
/// });
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum SendError<T> {
    /// An enclosing cancel scope was cancelled before the value was delivered.
    Cancelled(T),
    /// This handle was closed (Trio's `ClosedResourceError`).
    Closed(T),
    /// Every receiver is closed (Trio's `BrokenResourceError`).
    Broken(T),
}

impl<T> SendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::SendError::Closed(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::Cancelled(v) | SendError::Closed(v) | SendError::Broken(v) => v,
        }
    }

    /// A reference to the value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(*trio::SendError::Broken(3).get_ref(), 3);
    /// ```
    pub fn get_ref(&self) -> &T {
        match self {
            SendError::Cancelled(v) | SendError::Closed(v) | SendError::Broken(v) => v,
        }
    }

    /// `true` for [`SendError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::SendError::Cancelled(()).is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, SendError::Cancelled(_))
    }

    /// Drops the value and converts the reason into a [`trio::Error`](crate::Error) holding
    /// [`Cancelled`], [`ClosedResource`] or [`BrokenResource`](crate::BrokenResource) — for
    /// values that are not `Send + Sync` and so cannot travel inside an `Error`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let err = trio::SendError::Cancelled(Rc::new(1)).into_error();
    /// assert!(err.is_cancelled());
    /// let err = trio::SendError::Closed(Rc::new(1)).into_error();
    /// assert!(err.is::<trio::ClosedResource>());
    /// ```
    pub fn into_error(self) -> crate::Error {
        match self {
            SendError::Cancelled(_) => Cancelled::new().into(),
            SendError::Closed(_) => ClosedResource::with_message(SEND_CLOSED).into(),
            SendError::Broken(_) => crate::BrokenResource::with_message(SEND_BROKEN).into(),
        }
    }
}

const SEND_CANCELLED: &str = "send was cancelled; the value was not sent and is in the error";
const SEND_CLOSED: &str = "send on a closed MemorySender; send through a handle you have not closed";
const SEND_BROKEN: &str = "every MemoryReceiver of this channel is closed; nothing will receive the value";
const WOULD_BLOCK_SEND: &str = "the channel is full and no receiver is waiting; use send() to wait";

static CANCELLED: Cancelled = Cancelled::new();

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Cancelled(_) => f.write_str("SendError::Cancelled(..)"),
            SendError::Closed(_) => f.write_str("SendError::Closed(..)"),
            SendError::Broken(_) => f.write_str("SendError::Broken(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Cancelled(_) => SEND_CANCELLED,
            SendError::Closed(_) => SEND_CLOSED,
            SendError::Broken(_) => SEND_BROKEN,
        })
    }
}

/// `?` in code that returns [`trio::Result`](crate::Result), for a value of any type.
///
/// ```
/// use std::rc::Rc;
///
/// trio::run(async {
///     let (tx, rx) = trio::open_memory_channel::<Rc<u8>>(1);
///     drop(rx);
///     let result: trio::Result<()> = async {
///         tx.send(Rc::new(1)).await?; // an `Rc` is neither Send nor Sync
///         Ok(())
///     }
///     .await;
///     assert!(result.unwrap_err().is::<trio::BrokenResource>());
/// });
/// ```
impl<T> From<SendError<T>> for crate::Error {
    fn from(error: SendError<T>) -> crate::Error {
        error.into_error()
    }
}

impl<T> From<SendError<T>> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(error: SendError<T>) -> Self {
        error.into_error().into()
    }
}

impl<T> From<SendError<T>> for Box<dyn StdError + 'static> {
    fn from(error: SendError<T>) -> Self {
        error.into_error().into()
    }
}

#[cfg(feature = "anyhow")]
impl<T> From<SendError<T>> for anyhow::Error {
    fn from(error: SendError<T>) -> Self {
        error.into_error().into()
    }
}

/// Why [`MemorySender::try_send`] failed. Every variant holds the value that was not sent.
///
/// # Examples
///
/// ```
/// let (tx, _rx) = trio::open_memory_channel::<u8>(0);
/// match tx.try_send(9) {
///     Err(trio::TrySendError::WouldBlock(value)) => assert_eq!(value, 9),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// No receiver is waiting and the buffer is full (Trio's `WouldBlock`).
    WouldBlock(T),
    /// This handle was closed (Trio's `ClosedResourceError`).
    Closed(T),
    /// Every receiver is closed (Trio's `BrokenResourceError`).
    Broken(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::TrySendError::WouldBlock(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::WouldBlock(v) | TrySendError::Closed(v) | TrySendError::Broken(v) => v,
        }
    }

    /// A reference to the value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(*trio::TrySendError::Closed(3).get_ref(), 3);
    /// ```
    pub fn get_ref(&self) -> &T {
        match self {
            TrySendError::WouldBlock(v) | TrySendError::Closed(v) | TrySendError::Broken(v) => v,
        }
    }

    /// Drops the value and converts the reason into a [`trio::Error`](crate::Error) holding
    /// [`WouldBlock`](crate::WouldBlock), [`ClosedResource`] or
    /// [`BrokenResource`](crate::BrokenResource) — what `?` does.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trio::TrySendError::WouldBlock(1).into_error();
    /// assert!(err.is::<trio::WouldBlock>());
    /// assert_eq!(err.to_string(), "the channel is full and no receiver is waiting; use send() to wait");
    /// ```
    pub fn into_error(self) -> crate::Error {
        match self {
            TrySendError::WouldBlock(_) => crate::WouldBlock::with_message(WOULD_BLOCK_SEND).into(),
            TrySendError::Closed(_) => ClosedResource::with_message(SEND_CLOSED).into(),
            TrySendError::Broken(_) => crate::BrokenResource::with_message(SEND_BROKEN).into(),
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::WouldBlock(_) => f.write_str("TrySendError::WouldBlock(..)"),
            TrySendError::Closed(_) => f.write_str("TrySendError::Closed(..)"),
            TrySendError::Broken(_) => f.write_str("TrySendError::Broken(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::WouldBlock(_) => WOULD_BLOCK_SEND,
            TrySendError::Closed(_) => SEND_CLOSED,
            TrySendError::Broken(_) => SEND_BROKEN,
        })
    }
}

/// `?` in code that returns [`trio::Result`](crate::Result), for a value of any type: the value
/// is dropped and the error becomes [`WouldBlock`](crate::WouldBlock), [`ClosedResource`] or
/// [`BrokenResource`](crate::BrokenResource) (see [`SendError`] for why this is not a standard
/// error).
///
/// ```
/// use std::rc::Rc;
///
/// let (tx, _rx) = trio::open_memory_channel::<Rc<u8>>(0);
/// let result: trio::Result<()> = (|| {
///     tx.try_send(Rc::new(1))?; // nobody waits and there is no buffer
///     Ok(())
/// })();
/// assert!(result.unwrap_err().is::<trio::WouldBlock>());
/// ```
impl<T> From<TrySendError<T>> for crate::Error {
    fn from(error: TrySendError<T>) -> crate::Error {
        error.into_error()
    }
}

impl<T> From<TrySendError<T>> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(error: TrySendError<T>) -> Self {
        error.into_error().into()
    }
}

impl<T> From<TrySendError<T>> for Box<dyn StdError + 'static> {
    fn from(error: TrySendError<T>) -> Self {
        error.into_error().into()
    }
}

#[cfg(feature = "anyhow")]
impl<T> From<TrySendError<T>> for anyhow::Error {
    fn from(error: TrySendError<T>) -> Self {
        error.into_error().into()
    }
}

/// Why [`MemoryReceiver::recv`] failed. (The end of the channel is not an error: `recv`
/// returns `Ok(None)`.)
///
/// Converts into [`trio::Error`](crate::Error) with `?`; a `Cancelled` one is still
/// recognised as a cancellation.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let (_tx, rx) = trio::open_memory_channel::<u8>(0);
///     rx.close();
///     assert_eq!(rx.recv().await, Err(trio::RecvError::Closed));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// An enclosing cancel scope was cancelled; nothing was taken from the channel.
    Cancelled,
    /// This handle was closed (Trio's `ClosedResourceError`).
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvError::Cancelled => "receive was cancelled; nothing was taken from the channel",
            RecvError::Closed => RECV_CLOSED,
        })
    }
}

const RECV_CLOSED: &str = "receive on a closed MemoryReceiver; receive through a handle you have not closed";

impl StdError for RecvError {
    /// [`Cancelled`] for a cancelled receive, so `trio::Error::is_cancelled` recognises it.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            RecvError::Cancelled => Some(&CANCELLED),
            RecvError::Closed => None,
        }
    }
}

/// Why [`MemoryReceiver::try_recv`] failed. (The end of the channel is `Ok(None)`.)
///
/// # Examples
///
/// ```
/// let (_tx, rx) = trio::open_memory_channel::<u8>(0);
/// assert_eq!(rx.try_recv(), Err(trio::TryRecvError::WouldBlock));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// Nothing is ready and a sender is still open (Trio's `WouldBlock`).
    WouldBlock,
    /// This handle was closed (Trio's `ClosedResourceError`).
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::WouldBlock => "nothing to receive yet; use recv() to wait",
            TryRecvError::Closed => RECV_CLOSED,
        })
    }
}

impl StdError for TryRecvError {}

// ===== private: shared state =====

type Chan<T> = Rc<RefCell<State<T>>>;

/// The operation a `Sink` or `Stream` has in flight.
type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

struct State<T> {
    capacity: Capacity,
    /// Invariant: `buffer.len() <= capacity.limit()`, except after a dropped receive put its value back.
    /// Invariant: if a live receiver waits, `buffer` is empty (it would have taken a value).
    buffer: VecDeque<T>,
    peak: usize,
    open_senders: usize,
    /// Invariant: when this reaches 0, `buffer` and `send_waiters` are emptied and stay empty.
    open_receivers: usize,
    /// Blocked senders, oldest first.
    send_waiters: WaitQueue<SendWake, SendWaiter<T>>,
    /// Blocked receivers, oldest first, each with the id of the handle it waits on.
    recv_waiters: WaitQueue<RecvWake<T>, u64>,
    next_handle: u64,
    /// Where `open_memory_channel` was called: blocked sends and receives name it in reports.
    created_at: &'static Location<'static>,
    /// The name given with `named` on either end, shown next to `created_at`.
    name: Option<Rc<str>>,
}

struct SendWaiter<T> {
    /// Shared with the blocked `send`. Invariant: `Some` until a receiver takes it, which it
    /// does only after waking the sender with `SendWake::Sent` succeeded.
    value: Rc<Cell<Option<T>>>,
    handle: u64,
}

/// What a blocked sender is woken with.
enum SendWake {
    Sent,
    Closed,
    Broken,
}

/// What a blocked receiver is woken with.
enum RecvWake<T> {
    Value(T),
    End,
    Closed,
}

impl<T> State<T> {
    fn statistics(&self) -> MemoryChannelStatistics {
        MemoryChannelStatistics {
            current_buffer_used: self.buffer.len(),
            max_buffer_size: self.capacity,
            open_send_channels: self.open_senders,
            open_receive_channels: self.open_receivers,
            tasks_waiting_send: self.send_waiters.len(),
            tasks_waiting_receive: self.recv_waiters.len(),
            peak_buffer_used: self.peak,
        }
    }

    fn push_buffer(&mut self, value: T) {
        self.buffer.push_back(value);
        self.peak = self.peak.max(self.buffer.len());
    }

    /// Hands `value` to the receiver that has waited longest; gives it back if none waits.
    fn hand_to_receiver(&mut self, value: T) -> Result<(), T> {
        match self.recv_waiters.unpark_one_with(RecvWake::Value(value)) {
            Ok(_) => Ok(()),
            Err(RecvWake::Value(value)) => Err(value),
            Err(_) => unreachable!("unpark returns the value it was given"),
        }
    }

    /// Takes the value of the sender that has waited longest and wakes it.
    fn take_from_sender(&mut self) -> Option<T> {
        let waiter = self.send_waiters.unpark_one_with(SendWake::Sent).ok()?;
        Some(waiter.value.take().expect("a blocked sender keeps its value until it is woken"))
    }
}

/// One open-or-closed handle of a channel.
struct Handle<T> {
    chan: Chan<T>,
    /// Distinguishes this handle's waiters from its clones'.
    id: u64,
    /// Invariant: once true it stays true, and the handle is no longer counted as open.
    closed: Cell<bool>,
}

impl<T> Handle<T> {
    fn new(chan: Chan<T>, id: u64) -> Handle<T> {
        Handle { chan, id, closed: Cell::new(false) }
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct(name);
        if let Ok(state) = self.chan.try_borrow()
            && let Some(name) = &state.name
        {
            s.field("name", name);
        }
        s.field("closed", &self.closed.get());
        if let Ok(state) = self.chan.try_borrow() {
            s.field("statistics", &state.statistics());
        }
        s.finish()
    }

    fn clone_handle(
        &self,
        count: impl FnOnce(&mut State<T>) -> &mut usize,
        what: &str,
    ) -> Result<Handle<T>, ClosedResource> {
        if self.closed.get() {
            return Err(ClosedResource::with_message(format!(
                "cannot clone a closed {what}; clone it before closing it"
            )));
        }
        let mut state = self.chan.borrow_mut();
        *count(&mut state) += 1;
        let id = state.next_handle;
        state.next_handle += 1;
        Ok(Handle::new(self.chan.clone(), id))
    }

    fn clone_sender(&self) -> Result<Handle<T>, ClosedResource> {
        self.clone_handle(|s| &mut s.open_senders, "MemorySender")
    }

    fn clone_receiver(&self) -> Result<Handle<T>, ClosedResource> {
        self.clone_handle(|s| &mut s.open_receivers, "MemoryReceiver")
    }

    fn close_sender(&self) {
        if self.closed.replace(true) {
            return;
        }
        let mut state = self.chan.borrow_mut();
        let mine = state.send_waiters.take_where(|w| w.handle == self.id);
        state.open_senders -= 1;
        let receivers = if state.open_senders == 0 {
            debug_assert!(state.send_waiters.is_empty());
            state.recv_waiters.take_all()
        } else {
            Vec::new()
        };
        drop(state);
        for (unparker, _) in mine {
            let _ = unparker.unpark(SendWake::Closed);
        }
        for (unparker, _) in receivers {
            let _ = unparker.unpark(RecvWake::End);
        }
    }

    fn close_receiver(&self) {
        if self.closed.replace(true) {
            return;
        }
        let mut state = self.chan.borrow_mut();
        let mine = state.recv_waiters.take_where(|&handle| handle == self.id);
        state.open_receivers -= 1;
        let (senders, discarded) = if state.open_receivers == 0 {
            debug_assert!(state.recv_waiters.is_empty());
            (state.send_waiters.take_all(), std::mem::take(&mut state.buffer))
        } else {
            (Vec::new(), VecDeque::new())
        };
        drop(state);
        for (unparker, _) in mine {
            let _ = unparker.unpark(RecvWake::Closed);
        }
        for (unparker, _) in senders {
            let _ = unparker.unpark(SendWake::Broken);
        }
        // Dropped last: a value's destructor may use this channel.
        drop(discarded);
    }

    fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.closed.get() {
            return Err(TrySendError::Closed(value));
        }
        let mut state = self.chan.borrow_mut();
        if state.open_receivers == 0 {
            return Err(TrySendError::Broken(value));
        }
        let value = match state.hand_to_receiver(value) {
            Ok(()) => return Ok(()),
            Err(value) => value,
        };
        if state.buffer.len() < state.capacity.limit() {
            state.push_buffer(value);
            Ok(())
        } else {
            Err(TrySendError::WouldBlock(value))
        }
    }

    fn try_recv(&self) -> Result<Option<T>, TryRecvError> {
        if self.closed.get() {
            return Err(TryRecvError::Closed);
        }
        let mut state = self.chan.borrow_mut();
        if let Some(value) = state.take_from_sender() {
            // The sender's value goes behind the buffered ones.
            return Ok(Some(match state.buffer.pop_front() {
                None => value,
                Some(front) => {
                    state.buffer.push_back(value);
                    front
                }
            }));
        }
        if let Some(value) = state.buffer.pop_front() {
            return Ok(Some(value));
        }
        if state.open_senders == 0 {
            return Ok(None);
        }
        Err(TryRecvError::WouldBlock)
    }

    /// Puts back a value a receive took but could not return (its future was dropped): to
    /// the oldest waiting receiver, else to the front of the buffer. Dropped if no receiver
    /// is left, as the buffer would have been.
    fn give_back(&self, value: T) {
        let Ok(mut state) = self.chan.try_borrow_mut() else { return };
        if state.open_receivers == 0 {
            drop(state);
            drop(value);
            return;
        }
        if let Err(value) = state.hand_to_receiver(value) {
            state.buffer.push_front(value);
            state.peak = state.peak.max(state.buffer.len());
        }
    }
}

impl<T: 'static> Handle<T> {
    /// A wait on this channel, naming it. No `woken_only_through`: any handle — and the
    /// channel has many, wherever their owners put them — can wake it.
    fn describe(&self, what: &'static str) -> WaitDescription {
        let state = self.chan.borrow();
        WaitDescription::from(what).on_instance("memory channel", state.created_at).named(state.name.clone())
    }

    async fn send(&self, value: T) -> Result<(), SendError<T>> {
        if checkpoint_if_cancelled().await.is_err() {
            return Err(SendError::Cancelled(value));
        }
        let value = match self.try_send(value) {
            Ok(()) => {
                cancel_shielded_checkpoint().await;
                return Ok(());
            }
            Err(TrySendError::WouldBlock(value)) => value,
            Err(TrySendError::Closed(value)) => return Err(SendError::Closed(value)),
            Err(TrySendError::Broken(value)) => return Err(SendError::Broken(value)),
        };
        let what = self.describe("MemorySender::send");
        let (slot, unparker) = park_slot::<SendWake>(what);
        let cell = Rc::new(Cell::new(Some(value)));
        self.chan.borrow_mut().send_waiters.push_with(unparker, SendWaiter { value: cell.clone(), handle: self.id });
        let cell = DropValue(cell);
        let woken = slot.await;
        let value = cell.0.take();
        match woken {
            Ok(SendWake::Sent) => {
                debug_assert!(value.is_none());
                Ok(())
            }
            Ok(SendWake::Closed) => Err(SendError::Closed(value.expect("a closed sender gets its value back"))),
            Ok(SendWake::Broken) => Err(SendError::Broken(value.expect("a broken sender gets its value back"))),
            Err(_) => Err(SendError::Cancelled(value.expect("a cancelled sender gets its value back"))),
        }
    }

    async fn recv(&self) -> Result<Option<T>, RecvError> {
        if checkpoint_if_cancelled().await.is_err() {
            return Err(RecvError::Cancelled);
        }
        match self.try_recv() {
            Ok(None) => {
                cancel_shielded_checkpoint().await;
                return Ok(None);
            }
            Ok(Some(value)) => {
                let mut held = Held { handle: self, value: Some(value) };
                cancel_shielded_checkpoint().await;
                return Ok(held.value.take());
            }
            Err(TryRecvError::Closed) => return Err(RecvError::Closed),
            Err(TryRecvError::WouldBlock) => {}
        }
        let what = self.describe("MemoryReceiver::recv");
        let (slot, unparker) = park_slot::<RecvWake<T>>(what);
        self.chan.borrow_mut().recv_waiters.push_with(unparker, self.id);
        let mut parked = Parked { handle: self, slot };
        match (&mut parked.slot).await {
            Ok(RecvWake::Value(value)) => Ok(Some(value)),
            Ok(RecvWake::End) => Ok(None),
            Ok(RecvWake::Closed) => Err(RecvError::Closed),
            Err(_) => Err(RecvError::Cancelled),
        }
    }
}

// ===== private: drop guards =====

/// Drops a blocked sender's value when its future is dropped, outside any channel borrow.
struct DropValue<T>(Rc<Cell<Option<T>>>);

impl<T> Drop for DropValue<T> {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

/// A received value on its way out through the final schedule point.
struct Held<'a, T> {
    handle: &'a Handle<T>,
    value: Option<T>,
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            self.handle.give_back(value);
        }
    }
}

/// A parked receive: a value handed to it after its future was dropped goes back.
struct Parked<'a, T: 'static> {
    handle: &'a Handle<T>,
    slot: ParkSlot<RecvWake<T>>,
}

impl<T: 'static> Drop for Parked<'_, T> {
    fn drop(&mut self) {
        if let Some(RecvWake::Value(value)) = self.slot.take_unparked() {
            self.handle.give_back(value);
        }
    }
}
