//! The conformance suites catch broken streams: a small in-memory stream that is correct
//! unless told to have one bug, and for each bug the check that must fail on it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream};
use trio::io::{ConflictDetector, IoFuture, StreamError};
use trio::lowlevel::WaitQueue;
use trio::{RunErrorKind, StapledStream};
use trio_testkit::MockClock;
use trio_testkit::streams::{
    LockstepReceiveStream, LockstepSendStream, StreamCheckFailure, StreamMaker, check_half_closeable_stream,
    check_one_way_stream, lockstep_stream_one_way_pair,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    None,
    SendSkipsCheckpoint,
    ReceiveNotExclusive,
    ReceiveZeroIsEmpty,
    SendAfterCloseSucceeds,
    CancelledAcloseLeavesOpen,
    ReceiveDropsWhatDoesNotFit,
    ClosedReceiverNotNoticed,
    CloseDoesNotWakeReceiver,
    ReceiveAfterCloseSucceeds,
    EofDoesNotStopSending,
}

/// One direction: a buffer, the end-of-stream flag and who closed what.
struct Pipe {
    data: RefCell<VecDeque<u8>>,
    eof: Cell<bool>,
    sender_closed: Cell<bool>,
    receiver_closed: Cell<bool>,
    waiters: WaitQueue<()>,
    sending: ConflictDetector,
    receiving: ConflictDetector,
    bug: Bug,
}

struct Sender(Rc<Pipe>);
struct Receiver(Rc<Pipe>);

fn pipe(bug: Bug) -> (Sender, Receiver) {
    let pipe = Rc::new(Pipe {
        data: RefCell::new(VecDeque::new()),
        eof: Cell::new(false),
        sender_closed: Cell::new(false),
        receiver_closed: Cell::new(false),
        waiters: WaitQueue::new(),
        sending: ConflictDetector::new("busy sending"),
        receiving: ConflictDetector::new("busy receiving"),
        bug,
    });
    (Sender(pipe.clone()), Receiver(pipe))
}

impl Pipe {
    fn wake(&self) {
        self.waiters.unpark_all_with(|| ());
    }
}

impl AsyncResource for Sender {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            if self.0.bug == Bug::CancelledAcloseLeavesOpen {
                trio::checkpoint().await?;
            }
            self.0.sender_closed.set(true);
            self.0.eof.set(true);
            self.0.wake();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl SendStream for Sender {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(async move {
            let p = &self.0;
            let _guard = p.sending.enter()?;
            if p.bug != Bug::SendSkipsCheckpoint {
                trio::checkpoint().await?;
            }
            if p.sender_closed.get() {
                if p.bug != Bug::SendAfterCloseSucceeds {
                    return Err(StreamError::closed("closed"));
                }
            } else if p.eof.get() && p.bug != Bug::EofDoesNotStopSending {
                return Err(StreamError::closed("eof sent"));
            }
            if p.receiver_closed.get() && p.bug != Bug::ClosedReceiverNotNoticed {
                return Err(StreamError::broken("receiver closed"));
            }
            if !p.receiver_closed.get() {
                p.data.borrow_mut().extend(data);
                p.wake();
            }
            Ok(())
        })
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let _guard = self.0.sending.enter()?;
            trio::checkpoint().await?;
            if self.0.sender_closed.get() {
                return Err(StreamError::closed("closed"));
            }
            Ok(())
        })
    }
}

impl AsyncResource for Receiver {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.0.receiver_closed.set(true);
            self.0.data.borrow_mut().clear();
            if self.0.bug != Bug::CloseDoesNotWakeReceiver {
                self.0.wake();
            }
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl ReceiveStream for Receiver {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(async move {
            let p = &self.0;
            if max_bytes == 0 {
                if p.bug == Bug::ReceiveZeroIsEmpty {
                    trio::checkpoint().await?;
                    return Ok(Vec::new());
                }
                return Err(StreamError::invalid_argument("max_bytes must be at least 1"));
            }
            let _guard = if p.bug == Bug::ReceiveNotExclusive { None } else { Some(p.receiving.enter()?) };
            let mut parked = false;
            loop {
                if p.receiver_closed.get() && p.bug != Bug::ReceiveAfterCloseSucceeds {
                    return Err(StreamError::closed("closed"));
                }
                if !p.data.borrow().is_empty() || p.eof.get() || p.receiver_closed.get() {
                    break;
                }
                p.waiters.park("a buggy receive").await?;
                parked = true;
            }
            if !parked {
                trio::checkpoint().await?;
            }
            let mut data = p.data.borrow_mut();
            let n = max_bytes.min(data.len());
            let got: Vec<u8> = data.drain(..n).collect();
            if p.bug == Bug::ReceiveDropsWhatDoesNotFit {
                data.clear();
            }
            Ok(got)
        })
    }
}

/// Both directions, with `send_eof`.
struct Duplex {
    send: Sender,
    receive: Receiver,
}

impl AsyncResource for Duplex {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let a = self.send.aclose().await;
            let b = self.receive.aclose().await;
            a.and(b)
        })
    }
}

impl SendStream for Duplex {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        self.send.send_all(data)
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        self.send.wait_send_all_might_not_block()
    }
}

impl ReceiveStream for Duplex {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        self.receive.receive_some(max_bytes)
    }
}

impl HalfCloseableStream for Duplex {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let _guard = self.send.0.sending.enter()?;
            if self.send.0.sender_closed.get() {
                return Err(StreamError::closed("closed"));
            }
            self.send.0.eof.set(true);
            self.send.0.wake();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

fn duplex_pair(bug: Bug) -> (Duplex, Duplex) {
    let (s1, r1) = pipe(bug);
    let (s2, r2) = pipe(bug);
    (Duplex { send: s1, receive: r2 }, Duplex { send: s2, receive: r1 })
}

/// A lockstep sender whose `wait_send_all_might_not_block` returns at once.
struct Impatient(LockstepSendStream, Cell<bool>);

impl AsyncResource for Impatient {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.1.set(true);
        self.0.aclose()
    }
}

impl SendStream for Impatient {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        self.0.send_all(data)
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            if self.1.get() {
                return Err(StreamError::closed("closed"));
            }
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

fn run<T>(body: impl Future<Output = T>) -> T {
    trio::Builder::new().clock(MockClock::autojump()).run(body)
}

use std::future::Future;

fn one_way(bug: Bug) -> Result<(), StreamCheckFailure> {
    run(async move {
        let maker = StreamMaker::new(move || async move { Ok(pipe(bug)) });
        check_one_way_stream(&maker, None).await
    })
}

fn half_closeable(bug: Bug) -> Result<(), StreamCheckFailure> {
    run(async move {
        let maker = StreamMaker::new(move || async move { Ok(duplex_pair(bug)) }).duplex_test_size(1 << 14);
        check_half_closeable_stream(&maker, None).await
    })
}

#[test]
fn the_stream_without_bugs_passes_every_check() {
    one_way(Bug::None).unwrap();
    half_closeable(Bug::None).unwrap();
}

#[test]
fn a_send_all_without_a_checkpoint_is_caught() {
    let failure = one_way(Bug::SendSkipsCheckpoint).unwrap_err();
    assert_eq!(failure.check(), "send_all and receive_some");
    assert!(failure.detail().contains("without a checkpoint"), "{failure}");
}

#[test]
fn a_receive_some_two_tasks_can_enter_is_caught() {
    let failure = one_way(Bug::ReceiveNotExclusive).unwrap_err();
    assert_eq!(failure.check(), "concurrent receive_some is Busy");
    assert!(failure.detail().contains("neither call failed with Busy"), "{failure}");
}

#[test]
fn receive_some_zero_returning_the_end_is_caught() {
    let failure = one_way(Bug::ReceiveZeroIsEmpty).unwrap_err();
    assert_eq!(failure.check(), "receive_some checks max_bytes");
    assert!(failure.detail().contains("expected InvalidArgument"), "{failure}");
}

#[test]
fn sending_after_close_is_caught() {
    let failure = one_way(Bug::SendAfterCloseSucceeds).unwrap_err();
    assert_eq!(failure.check(), "closing the receiver breaks the sender");
    assert!(failure.detail().contains("after aclose failed with `receiver closed`"), "{failure}");
    assert!(failure.detail().contains("expected Closed"), "{failure}");
}

/// `aclose_forcefully` is `aclose` in a cancelled scope, so the first check that closes
/// forcefully and then sends catches it.
#[test]
fn a_cancelled_aclose_that_leaves_the_stream_open_is_caught() {
    let failure = one_way(Bug::CancelledAcloseLeavesOpen).unwrap_err();
    assert_eq!(failure.check(), "a forcefully closed sender ends the stream");
    assert!(failure.detail().contains("send_all after aclose_forcefully succeeded"), "{failure}");
}

/// The one-way checks send two bytes and receive them one at a time: the second `receive_some`
/// waits for a byte that was dropped, and the run stops as a deadlock whose report names that
/// wait, instead of hanging.
#[test]
fn a_receive_that_loses_bytes_is_a_deadlock_naming_the_blocked_receive() {
    let err = trio::Builder::new()
        .clock(MockClock::autojump())
        .try_run(async {
            let maker = StreamMaker::new(|| async { Ok(duplex_pair(Bug::ReceiveDropsWhatDoesNotFit)) })
                .duplex_test_size(1 << 14);
            check_half_closeable_stream(&maker, None).await
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Deadlock);
    assert!(err.to_string().contains("a buggy receive"), "{err}");
}

#[test]
fn a_sender_that_never_notices_the_closed_receiver_is_caught() {
    let failure = one_way(Bug::ClosedReceiverNotNoticed).unwrap_err();
    assert_eq!(failure.check(), "closing the receiver breaks the sender");
    assert!(failure.detail().contains("kept succeeding"), "{failure}");
}

#[test]
fn receiving_after_close_is_caught() {
    let failure = one_way(Bug::ReceiveAfterCloseSucceeds).unwrap_err();
    assert_eq!(failure.check(), "closing the receiver breaks the sender");
    assert!(failure.detail().contains("receive_some on the closed receiver"), "{failure}");
}

#[test]
fn sending_after_send_eof_is_caught() {
    let failure = half_closeable(Bug::EofDoesNotStopSending).unwrap_err();
    assert_eq!(failure.check(), "send_eof");
    assert!(failure.detail().contains("send_all after send_eof succeeded"), "{failure}");
}

/// A close that does not wake the blocked receiver leaves it blocked forever: the run stops as
/// a deadlock that names the wait, instead of hanging.
#[test]
fn a_close_that_does_not_wake_a_blocked_receiver_is_a_deadlock_naming_the_wait() {
    let err = trio::Builder::new()
        .clock(MockClock::autojump())
        .try_run(async {
            let maker = StreamMaker::new(|| async { Ok(pipe(Bug::CloseDoesNotWakeReceiver)) });
            check_one_way_stream(&maker, None).await
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Deadlock);
    assert!(err.to_string().contains("a buggy receive"), "{err}");
}

#[test]
fn a_wait_send_all_might_not_block_that_does_not_wait_is_caught_with_a_clogged_maker() {
    let failure = run(async {
        let maker = StreamMaker::new(|| async {
            let (send, receive): (LockstepSendStream, LockstepReceiveStream) = lockstep_stream_one_way_pair();
            Ok((Impatient(send, Cell::new(false)), receive))
        });
        check_one_way_stream(&maker, Some(&maker)).await
    })
    .unwrap_err();
    assert_eq!(failure.check(), "wait_send_all_might_not_block waits for a receiver");
}

/// Without the clogged maker, that bug goes unnoticed (Trio's suite is the same).
#[test]
fn the_clogged_checks_only_run_with_a_clogged_maker() {
    run(async {
        let maker = StreamMaker::new(|| async {
            let (send, receive) = lockstep_stream_one_way_pair();
            Ok((Impatient(send, Cell::new(false)), receive))
        });
        check_one_way_stream(&maker, None).await.unwrap();
    });
}

/// `StapledStream`'s `send_eof` closes the send half.
#[test]
fn a_stapled_pair_of_buggy_pipes_is_still_checked() {
    let outcome = run(async {
        let maker = StreamMaker::new(|| async {
            let (s1, r1) = pipe(Bug::SendAfterCloseSucceeds);
            let (s2, r2) = pipe(Bug::None);
            Ok((StapledStream::new(s1, r2), StapledStream::new(s2, r1)))
        })
        .duplex_test_size(1024);
        check_half_closeable_stream(&maker, None).await
    });
    let failure = outcome.unwrap_err();
    assert_eq!(failure.check(), "closing the receiver breaks the sender");
    assert!(failure.detail().contains("expected Closed"), "{failure}");
}
