//! The stream layer of the runtime: `StapledStream`, `aclose_forcefully`, the traits as `dyn`
//! objects, and the `futures::io` adapters both ways — which pass Trio's conformance suite
//! under exploration when stacked on the testkit's memory streams.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Cursor};
use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream, Stream};
use trio::io::{AsyncReadWrite, IoStream, StreamError, aclose_forcefully};
use trio::{CancelScope, StapledStream};
use trio_testkit::streams::{
    MemoryReceiveStream, StreamMaker, check_half_closeable_stream, memory_stream_one_way_pair, memory_stream_pair,
};
use trio_testkit::{assert_checkpoints, trio_test};

// ===== StapledStream =====

#[trio_test]
async fn stapled_stream_sends_on_one_half_and_receives_on_the_other() {
    let (send, receive) = memory_stream_one_way_pair();
    let echo = StapledStream::new(send, receive);
    echo.send_all(b"x").await.unwrap();
    assert_eq!(echo.receive_some(10).await.unwrap(), b"x");
    echo.wait_send_all_might_not_block().await.unwrap();
    let (send, receive) = echo.into_inner();
    send.send_all(b"y").await.unwrap();
    assert_eq!(receive.receive_some(10).await.unwrap(), b"y");
}

#[trio_test]
async fn stapled_send_eof_closes_the_send_half_only() {
    let (left, right) = memory_stream_pair();
    assert_checkpoints(left.send_eof()).await.unwrap();
    assert!(left.send_stream.send_all(b"x").await.unwrap_err().is_closed());
    assert_eq!(right.receive_some(10).await.unwrap(), b"");
    right.send_all(b"back").await.unwrap();
    assert_eq!(left.receive_some(10).await.unwrap(), b"back");
}

/// Trio's `aclose` runs the second close in a `finally`: a cancelled first close does not
/// skip it.
#[trio_test]
async fn stapled_aclose_closes_both_halves_even_when_cancelled() {
    let (left, _right) = memory_stream_pair();
    let scope = CancelScope::new();
    scope.cancel();
    let outcome = scope.run(async { Ok(left.aclose().await?) }).await.unwrap();
    assert_eq!(outcome, None, "the cancellation was caught by the scope");
    assert!(left.send_all(b"x").await.unwrap_err().is_closed());
    assert!(left.receive_some(1).await.unwrap_err().is_closed());
}

/// A send half whose graceful close fails.
struct FailsToClose;

impl AsyncResource for FailsToClose {
    fn aclose(&self) -> trio::io::IoFuture<'_, ()> {
        Box::pin(async { Err(StreamError::broken("the goodbye could not be sent")) })
    }
}

impl SendStream for FailsToClose {
    fn send_all<'a>(&'a self, _data: &'a [u8]) -> trio::io::IoFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn wait_send_all_might_not_block(&self) -> trio::io::IoFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

#[trio_test]
async fn stapled_aclose_closes_the_receive_half_even_when_the_send_half_fails() {
    let receive = MemoryReceiveStream::new();
    receive.put_data(b"unread").unwrap();
    let stapled = StapledStream::new(FailsToClose, receive);
    assert!(stapled.aclose().await.unwrap_err().is_broken());
    assert!(stapled.receive_some(10).await.unwrap_err().is_closed());
}

// ===== aclose_forcefully =====

#[trio_test]
async fn aclose_forcefully_closes_at_once_and_checkpoints() {
    let (send, receive) = memory_stream_one_way_pair();
    assert_checkpoints(aclose_forcefully(&receive)).await.unwrap();
    assert!(receive.receive_some(1).await.unwrap_err().is_closed());
    assert!(send.send_all(b"x").await.unwrap_err().is_broken());
}

/// Its own scope catches the cancellation it made; one from a scope around it comes out.
#[trio_test]
async fn aclose_forcefully_reports_a_cancellation_from_outside() {
    let (_send, receive) = memory_stream_one_way_pair();
    let outer = CancelScope::new();
    outer.cancel();
    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    outer
        .run(async move {
            s.set(Some(aclose_forcefully(&receive).await));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(seen.take(), Some(Err(StreamError::Cancelled)));
}

// ===== the traits as objects =====

#[trio_test]
async fn streams_work_as_trait_objects_and_through_smart_pointers() {
    let (left, right) = memory_stream_pair();
    let left: Box<dyn HalfCloseableStream> = Box::new(left);
    let right: Rc<dyn Stream> = Rc::new(right);
    left.send_all(b"boxed").await.unwrap();
    assert_eq!(right.receive_some(100).await.unwrap(), b"boxed");
    let by_ref: &dyn ReceiveStream = &*left;
    right.send_all(b"rc").await.unwrap();
    assert_eq!(by_ref.receive_some(100).await.unwrap(), b"rc");
    left.send_eof().await.unwrap();
    assert_eq!(right.receive_some(100).await.unwrap(), b"");
    let as_resource: &dyn AsyncResource = &right;
    as_resource.aclose().await.unwrap();
}

// ===== AsyncReadWrite =====

#[trio_test]
async fn async_read_write_keeps_what_a_small_buffer_cannot_take() {
    let (left, right) = memory_stream_pair();
    left.send_all(b"abcdef").await.unwrap();
    let mut reader = AsyncReadWrite::new(right);
    let mut small = [0; 4];
    // The first read asked for 4 bytes; the stream had 6. Nothing is lost.
    assert_eq!(reader.read(&mut small).await.unwrap(), 4);
    assert_eq!(&small, b"abcd");
    let mut rest = [0; 2];
    reader.read_exact(&mut rest).await.unwrap();
    assert_eq!(&rest, b"ef");
    assert_eq!(reader.read(&mut []).await.unwrap(), 0, "an empty buffer reads nothing");
}

#[trio_test]
async fn async_read_write_reports_a_failed_send_on_flush() {
    let (send, receive) = memory_stream_one_way_pair();
    drop(receive);
    let mut writer = AsyncReadWrite::new(send);
    // The first write is accepted; its send fails; the failure comes out of the next call.
    let first = writer.write(b"x").await;
    let flushed = writer.flush().await;
    let error = first.and(flushed).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    assert!(error.get_ref().and_then(|e| e.downcast_ref::<StreamError>()).is_some_and(StreamError::is_broken));
}

#[trio_test]
async fn async_read_write_close_closes_the_stream_and_refuses_writes() {
    let (left, right) = memory_stream_pair();
    let mut writer = AsyncReadWrite::new(left);
    writer.write_all(b"bye").await.unwrap();
    writer.close().await.unwrap();
    writer.close().await.unwrap(); // idempotent
    assert_eq!(writer.write(b"more").await.unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    assert_eq!(right.receive_some(10).await.unwrap(), b"bye");
    assert_eq!(right.receive_some(10).await.unwrap(), b"");
}

/// A read cancelled through its scope is an error whose `StreamError` says so — not
/// `Interrupted`, which read loops would retry forever — and the data stays for the next read.
#[trio_test]
async fn a_cancelled_read_is_an_other_error_and_loses_nothing() {
    let (left, right) = memory_stream_pair();
    let mut reader = AsyncReadWrite::new(right);
    let scope = CancelScope::new();
    scope.cancel();
    let error = scope
        .run(async {
            let mut buf = [0; 4];
            Ok(reader.read(&mut buf).await)
        })
        .await
        .unwrap()
        .expect("the body returned its result")
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::Other);
    assert!(error.get_ref().and_then(|e| e.downcast_ref::<StreamError>()).is_some_and(StreamError::is_cancelled));
    left.send_all(b"kept").await.unwrap();
    let mut buf = [0; 4];
    reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"kept");
}

/// A read future dropped while it waits (it lost a race) leaves its receive in the adapter:
/// the next read finishes it, and no received byte is lost.
#[trio_test]
async fn a_dropped_read_is_resumed_by_the_next_one() {
    let (left, right) = memory_stream_pair();
    let mut reader = AsyncReadWrite::new(right);
    {
        let mut buf = [0; 8];
        let read = reader.read(&mut buf);
        futures::pin_mut!(read);
        assert!(futures::poll!(&mut read).is_pending());
    } // dropped while waiting
    left.send_all(b"late").await.unwrap();
    let mut buf = [0; 4];
    reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"late");
}

// ===== IoStream =====

/// The round trip — a trio stream seen as `futures::io`, seen as a trio stream — keeps all of
/// Trio's stream rules, in every schedule explored.
#[trio_test(schedules = 100)]
async fn io_stream_over_async_read_write_passes_the_half_closeable_checks() {
    let maker = StreamMaker::new(|| async {
        let (left, right) = memory_stream_pair();
        Ok((
            IoStream::on_trio(AsyncReadWrite::half_closing(left)),
            IoStream::on_trio(AsyncReadWrite::half_closing(right)),
        ))
    })
    .duplex_test_size(1 << 15);
    check_half_closeable_stream(&maker, None).await.unwrap();
}

#[trio_test]
async fn io_stream_reads_and_writes_a_foreign_cursor() {
    let stream = IoStream::new(Cursor::new(Vec::new()));
    assert_checkpoints(stream.send_all(b"written")).await.unwrap();
    let cursor = stream.into_inner().unwrap();
    assert_eq!(cursor.into_inner(), b"written");

    let stream = IoStream::new(Cursor::new(b"abc".to_vec()));
    assert_eq!(assert_checkpoints(stream.receive_some(2)).await.unwrap(), b"ab");
    assert!(matches!(stream.receive_some(0).await, Err(StreamError::InvalidArgument(_))));
    assert_eq!(stream.receive_some(10).await.unwrap(), b"c");
    assert_eq!(stream.receive_some(10).await.unwrap(), b"");
}

/// A reader that is never ready, and keeps the waker it was given (a foreign wait).
struct Never;

impl AsyncRead for Never {
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, _buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        Poll::Pending
    }
}

impl AsyncWrite for Never {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, _buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Pending
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Trio's rule: closing a stream another task is blocked on wakes that task with `Closed`.
#[trio_test(policy = "fifo")]
async fn closing_an_io_stream_wakes_a_task_blocked_on_the_foreign_reader_with_closed() {
    let stream = Rc::new(IoStream::new(Never));
    let s = stream.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let error = s.receive_some(10).await.unwrap_err();
            assert!(error.is_closed(), "{error}");
            Ok(())
        });
        // The child runs and blocks on the foreign reader within the next batch.
        trio::checkpoint().await?;
        trio::checkpoint().await?;
        assert_eq!(trio::lowlevel::current_statistics().external_waits, 1, "a wait outside the runtime");
        stream.aclose().await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[trio_test(policy = "fifo")]
async fn a_cancelled_io_stream_wait_is_abandoned() {
    let stream = Rc::new(IoStream::new(Never));
    let scope = CancelScope::new();
    let (s, handle) = (stream.clone(), scope.clone());
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let outcome = scope.run(async move { Ok(s.send_all(b"never written").await?) }).await?;
            assert_eq!(outcome, None, "cancelled");
            Ok(())
        });
        trio::checkpoint().await?;
        trio::checkpoint().await?;
        handle.cancel();
        Ok(())
    })
    .await
    .unwrap();
    // A cancellation does not break the stream.
    assert!(stream.wait_send_all_might_not_block().await.is_ok());
}

/// An I/O error breaks the stream for good.
#[trio_test]
async fn an_io_error_breaks_an_io_stream() {
    struct Failing;
    impl AsyncRead for Failing {
        fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, _buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer reset")))
        }
    }
    impl AsyncWrite for Failing {
        fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
    let stream = IoStream::new(Failing);
    let error = stream.receive_some(10).await.unwrap_err();
    assert!(error.is_broken() && error.to_string().contains("peer reset"), "{error}");
    assert!(stream.send_all(b"x").await.unwrap_err().is_broken(), "it stays broken");
}

// ===== AsyncReadWrite and cancel scopes =====

/// A send stream whose `send_all` takes a second of (autojumped) time inside a timeout of its
/// own, as a send-timeout wrapper would: its cancel scope must be polled where it was entered.
struct TimedSend {
    sent: Rc<std::cell::RefCell<Vec<u8>>>,
}

impl AsyncResource for TimedSend {
    fn aclose(&self) -> trio::io::IoFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

impl SendStream for TimedSend {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> trio::io::IoFuture<'a, ()> {
        Box::pin(async move {
            let slow = trio::fail_after(std::time::Duration::from_secs(10), async {
                trio::sleep(std::time::Duration::from_secs(1)).await?;
                Ok(())
            });
            match slow.await {
                Ok(()) => {
                    self.sent.borrow_mut().extend_from_slice(data);
                    Ok(())
                }
                Err(error) if error.is_cancelled() => Err(StreamError::Cancelled),
                Err(error) => Err(StreamError::broken(error.to_string())),
            }
        })
    }

    fn wait_send_all_might_not_block(&self) -> trio::io::IoFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// A write made inside a timeout finishes inside it; a flush made after it, outside, has
/// nothing left to do (it used to find the send still in flight and poll the stream's own
/// timeout outside the scope that entered it).
#[trio_test(autojump)]
async fn a_write_inside_a_timeout_is_done_there_and_a_flush_outside_is_fine() {
    let sent = Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut io = AsyncReadWrite::new(TimedSend { sent: sent.clone() });
    trio::fail_after(std::time::Duration::from_secs(5), async {
        io.write_all(b"request").await.map_err(trio::Error::new)?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(*sent.borrow(), b"request", "sent before the timeout's scope ended");
    io.flush().await.unwrap();
    io.close().await.unwrap();
}

/// A write dropped midway (it lost a race) cannot be finished from another cancel scope: the
/// next call there fails with `Broken`, since part of it may have gone out.
#[trio_test(autojump)]
async fn a_write_dropped_midway_fails_the_next_call_from_another_scope() {
    let sent = Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut io = AsyncReadWrite::new(TimedSend { sent: sent.clone() });
    trio::select! {
        _ = io.write_all(b"lost") => unreachable!("the send takes a second"),
        _ = trio::sleep(std::time::Duration::from_millis(10)) => {}
    }
    let next = trio::move_on_after(std::time::Duration::from_secs(5), async {
        Ok(io.write_all(b"next").await.map_err(trio::Error::new))
    });
    let error = next.await.unwrap().expect("not cancelled").unwrap_err();
    assert!(error.to_string().contains("abandoned midway"), "{error}");
    assert!(sent.borrow().is_empty());
}

/// A read dropped in one cancel scope and retried in another receives afresh there: the kept
/// receive is dropped (as if cancelled, which loses nothing), and every byte still arrives.
#[trio_test(autojump)]
async fn a_read_dropped_in_one_scope_is_received_afresh_in_another() {
    let (left, right) = memory_stream_pair();
    let mut reader = AsyncReadWrite::new(right);
    let mut buf = [0; 4];
    let got = trio::move_on_after(std::time::Duration::from_millis(10), async {
        reader.read(&mut buf).await.map_err(trio::Error::new)
    })
    .await
    .unwrap();
    assert_eq!(got, None, "nothing was sent yet: the read timed out");
    left.send_all(b"late").await.unwrap();
    reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"late");
}
