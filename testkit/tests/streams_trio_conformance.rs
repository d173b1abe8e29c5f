//! Trio's stream rules, checked one by one against `StapledStream`, the memory and lockstep
//! streams and the generic `check_*_stream` suites — the rules Trio's own tests
//! (`test_highlevel_generic.py`, `test_testing.py`, `_check_streams.py`) and the `trio.abc`
//! documentation state that the other stream tests here do not already pin down.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream};
use trio::io::{IoFuture, StreamError, StreamResult, aclose_forcefully};
use trio::{CancelScope, RunErrorKind, StapledStream};
use trio_testkit::streams::{
    LockstepSendStream, MemoryReceiveStream, MemorySendStream, MemoryStream, StreamCheckFailure, StreamMaker,
    check_half_closeable_stream, check_one_way_stream, check_two_way_stream, lockstep_stream_one_way_pair,
    memory_stream_one_way_pair, memory_stream_pair, memory_stream_pump,
};
use trio_testkit::{MockClock, assert_checkpoints, trio_test, wait_all_tasks_blocked};

/// Runs `first` and `second` in two tasks of one nursery and returns how many failed with
/// `Busy`; any other failure is returned as it is.
async fn busy_count(
    first: impl std::future::Future<Output = StreamResult<()>> + 'static,
    second: impl std::future::Future<Output = StreamResult<()>> + 'static,
) -> usize {
    let count = Rc::new(Cell::new(0));
    let (c1, c2) = (count.clone(), count.clone());
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            match first.await {
                Err(error) if error.is_busy() => c1.set(c1.get() + 1),
                other => other?,
            }
            Ok(())
        });
        nursery.start_soon(async move {
            match second.await {
                Err(error) if error.is_busy() => c2.set(c2.get() + 1),
                other => other?,
            }
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
    count.get()
}

// ===== StapledStream (test_highlevel_generic.py) =====

/// What a recording half saw.
type Record = Rc<RefCell<Vec<String>>>;

struct RecordSend(Record, Option<&'static str>);
struct RecordReceive(Record, Option<&'static str>);

impl AsyncResource for RecordSend {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.0.borrow_mut().push("send aclose".into());
            match self.1 {
                Some(message) => Err(StreamError::broken(message)),
                None => Ok(()),
            }
        })
    }
}

impl SendStream for RecordSend {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(async move {
            self.0.borrow_mut().push(format!("send_all {}", String::from_utf8_lossy(data)));
            Ok(())
        })
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.0.borrow_mut().push("wait_send_all_might_not_block".into());
            Ok(())
        })
    }
}

impl AsyncResource for RecordReceive {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.0.borrow_mut().push("receive aclose".into());
            match self.1 {
                Some(message) => Err(StreamError::broken(message)),
                None => Ok(()),
            }
        })
    }
}

impl ReceiveStream for RecordReceive {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(async move {
            self.0.borrow_mut().push(format!("receive_some {max_bytes}"));
            Ok(Vec::new())
        })
    }
}

fn take(record: &Record) -> Vec<String> {
    std::mem::take(&mut *record.borrow_mut())
}

/// Each call goes to exactly one half, unchanged: `max_bytes` passes through as given, and
/// `send_eof` is the send half's `aclose` (the receive half is not touched).
#[trio_test]
async fn stapled_stream_hands_each_call_to_one_half_unchanged() {
    let (sent, received): (Record, Record) = Default::default();
    let stapled = StapledStream::new(RecordSend(sent.clone(), None), RecordReceive(received.clone(), None));
    stapled.send_all(b"foo").await.unwrap();
    stapled.wait_send_all_might_not_block().await.unwrap();
    assert_eq!(take(&sent), ["send_all foo", "wait_send_all_might_not_block"]);
    stapled.send_eof().await.unwrap();
    assert_eq!(take(&sent), ["send aclose"]);
    assert!(take(&received).is_empty());
    stapled.receive_some(1234).await.unwrap();
    assert_eq!(take(&received), ["receive_some 1234"]);
    assert!(take(&sent).is_empty());
    stapled.aclose().await.unwrap();
    assert_eq!((take(&sent), take(&received)), (vec!["send aclose".into()], vec!["receive aclose".into()]));
}

/// Both halves are closed even when both closes fail; one of the two errors comes out.
#[trio_test]
async fn stapled_aclose_closes_both_halves_when_both_fail() {
    let record: Record = Default::default();
    let stapled = StapledStream::new(
        RecordSend(record.clone(), Some("send error")),
        RecordReceive(record.clone(), Some("recv error")),
    );
    let error = stapled.aclose().await.unwrap_err();
    assert!(error.is_broken(), "{error}");
    assert!(["send error", "recv error"].contains(&error.to_string().as_str()), "{error}");
    assert_eq!(take(&record), ["send aclose", "receive aclose"]);
}

// ===== MemorySendStream (test_MemorySendStream) =====

/// The send-all hook runs after `send_all` has buffered its data: the hook can take it out.
#[trio_test]
async fn the_send_all_hook_runs_after_the_data_is_buffered() {
    let stream = Rc::new(MemorySendStream::new());
    let seen = Rc::new(RefCell::new(None));
    let (weak, s) = (Rc::downgrade(&stream), seen.clone());
    stream.set_send_all_hook(move || {
        let stream = weak.upgrade().expect("the stream is alive while it sends");
        *s.borrow_mut() = Some(stream.get_data_nowait(None).map_err(drop));
        async { Ok(()) }
    });
    assert_checkpoints(stream.send_all(b"abc")).await.unwrap();
    assert_eq!(seen.take(), Some(Ok(b"abc".to_vec())));
}

/// Two `send_all`s at once: exactly one is `Busy`, and the other's data is sent.
#[trio_test]
async fn of_two_concurrent_memory_send_alls_one_is_busy_and_the_other_sends() {
    let stream = Rc::new(MemorySendStream::new());
    let (a, b) = (stream.clone(), stream.clone());
    let busy = busy_count(async move { a.send_all(b"xxx").await }, async move { b.send_all(b"xxx").await }).await;
    assert_eq!(busy, 1);
    stream.close();
    assert_eq!(stream.get_data(None).await.unwrap(), b"xxx");
    assert_eq!(stream.get_data(None).await.unwrap(), b"");
}

/// `wait_send_all_might_not_block` and `send_all` share one conflict detector.
#[trio_test]
async fn memory_wait_send_all_might_not_block_and_send_all_at_once_is_busy() {
    let stream = Rc::new(MemorySendStream::new());
    let (a, b) = (stream.clone(), stream.clone());
    let busy =
        busy_count(async move { a.wait_send_all_might_not_block().await }, async move { b.send_all(b"x").await }).await;
    assert_eq!(busy, 1);
}

/// `wait_send_all_might_not_block` checkpoints, runs its hook, and fails with `Closed` once
/// the stream is closed.
#[trio_test]
async fn memory_wait_send_all_might_not_block_runs_its_hook_and_fails_after_close() {
    let stream = MemorySendStream::new();
    assert_checkpoints(stream.wait_send_all_might_not_block()).await.unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    stream.set_wait_send_all_might_not_block_hook(move || {
        c.set(c.get() + 1);
        async { Ok(()) }
    });
    stream.wait_send_all_might_not_block().await.unwrap();
    assert_eq!(calls.get(), 1);
    assert!(stream.get_data_nowait(None).is_err(), "waiting sends nothing");
    stream.close();
    assert!(stream.wait_send_all_might_not_block().await.unwrap_err().is_closed());
    assert_eq!(calls.get(), 1, "the hook does not run on a closed stream");
}

/// The close hook runs on every close, not only the first.
#[trio_test]
async fn the_send_close_hook_runs_on_every_close() {
    let stream = MemorySendStream::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    stream.set_close_hook(move || c.set(c.get() + 1));
    aclose_forcefully(&stream).await.unwrap();
    stream.close();
    assert_eq!(calls.get(), 2);
}

/// What the send-all hook returns is what `send_all` returns (its data stays buffered: it was
/// put before the hook ran); on a closed stream `send_all` fails before the hook runs.
#[trio_test]
async fn the_send_all_hooks_error_is_send_alls_and_a_closed_stream_skips_the_hook() {
    let stream = MemorySendStream::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    stream.set_send_all_hook(move || {
        c.set(c.get() + 1);
        async { Err(StreamError::broken("the wire was cut")) }
    });
    let error = stream.send_all(b"abc").await.unwrap_err();
    assert!(error.is_broken() && error.to_string() == "the wire was cut", "{error}");
    assert_eq!(stream.get_data_nowait(None).unwrap(), b"abc");
    stream.close();
    assert!(stream.send_all(b"late").await.unwrap_err().is_closed());
    assert_eq!(calls.get(), 1);
}

/// `get_data` checkpoints also when data is there already, and takes data across the chunks
/// it was sent in: at most `max_bytes`, or everything for `None`.
#[trio_test]
async fn get_data_checkpoints_with_data_there_and_takes_across_sends() {
    let stream = MemorySendStream::new();
    stream.send_all(b"def").await.unwrap();
    stream.send_all(b"ghi").await.unwrap();
    assert_eq!(assert_checkpoints(stream.get_data(Some(1))).await.unwrap(), b"d");
    assert_eq!(assert_checkpoints(stream.get_data(Some(4))).await.unwrap(), b"efgh");
    stream.send_all(b"jk").await.unwrap();
    assert_eq!(assert_checkpoints(stream.get_data(None)).await.unwrap(), b"ijk");
}

/// Closing the stream wakes a task blocked in `get_data` with the end (empty data).
#[trio_test]
async fn closing_a_memory_send_stream_wakes_a_blocked_get_data_with_the_end() {
    let stream = Rc::new(MemorySendStream::new());
    let s = stream.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            assert_eq!(assert_checkpoints(s.get_data(None)).await?, b"");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        stream.close();
        Ok(())
    })
    .await
    .unwrap();
}

/// Trio's byte queue fetches under one conflict detector, `get_nowait` included: a
/// `get_data_nowait` while another task is in `get_data` does not take the data that woke it
/// (Trio: `BusyResourceError`; here a panic, as `get_data_nowait` returns only `WouldBlock`).
#[trio_test]
async fn get_data_nowait_cannot_take_the_data_a_blocked_get_data_was_woken_for() {
    let stream = Rc::new(MemorySendStream::new());
    let s = stream.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            assert_eq!(s.get_data(None).await?, b"abc");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        stream.send_all(b"abc").await?; // wakes the getter, which has not run yet
        let stealing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stream.get_data_nowait(None)));
        let message = *stealing.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("another task is already fetching data"), "{message}");
        Ok(())
    })
    .await
    .unwrap();
}

/// `get_data` returns data or the end, never an empty chunk on an open stream: the empty put
/// of `wait_send_all_might_not_block` wakes it, and it waits on. (Trio's queue trips an
/// assertion here.)
#[trio_test]
async fn a_blocked_get_data_waits_on_through_wait_send_all_might_not_block() {
    let stream = Rc::new(MemorySendStream::new());
    let s = stream.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            assert_eq!(s.get_data(None).await?, b"data");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        stream.wait_send_all_might_not_block().await?;
        wait_all_tasks_blocked().await?;
        stream.send_all(b"data").await?;
        Ok(())
    })
    .await
    .unwrap();
}

/// The pump, like `send_all`'s hook, is `Busy` while another task fetches from the send
/// stream (Trio: the `BusyResourceError` of its `get_nowait`).
#[trio_test]
async fn pumping_while_another_task_is_in_get_data_is_busy() {
    let send = Rc::new(MemorySendStream::new());
    let receive = MemoryReceiveStream::new();
    let s = send.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            assert_eq!(s.get_data(None).await?, b"abc");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        send.send_all(b"abc").await?;
        assert!(memory_stream_pump(&send, &receive, None).unwrap_err().is_busy());
        Ok(())
    })
    .await
    .unwrap();
}

/// A pump of at most 0 bytes is an invalid argument (Trio: `ValueError`) — not an empty chunk
/// that reads as the end of the stream.
#[trio_test]
async fn pumping_zero_bytes_is_invalid_and_does_not_end_the_stream() {
    let (send, receive) = (MemorySendStream::new(), MemoryReceiveStream::new());
    send.send_all(b"abc").await.unwrap();
    let error = memory_stream_pump(&send, &receive, Some(0)).unwrap_err();
    assert!(matches!(error, StreamError::InvalidArgument(_)), "{error}");
    assert!(memory_stream_pump(&send, &receive, None).unwrap());
    assert_eq!(receive.receive_some(10).await.unwrap(), b"abc", "the stream did not end");
    receive.put_data(b"more").unwrap();
}

#[test]
#[should_panic(expected = "max_bytes must be at least 1")]
fn get_data_nowait_of_zero_bytes_panics() {
    trio::run(async {
        let stream = MemorySendStream::new();
        stream.send_all(b"abc").await.unwrap();
        let _ = stream.get_data_nowait(Some(0));
    });
}

// ===== MemoryReceiveStream (test_MemoryReceiveStream, test_MemoryRecvStream_closing) =====

/// The receive-some hook runs before data is taken, so what it adds comes in the same call.
#[trio_test]
async fn the_receive_some_hook_runs_before_data_is_taken() {
    let stream = Rc::new(MemoryReceiveStream::new());
    let weak = Rc::downgrade(&stream);
    stream.set_receive_some_hook(move || {
        weak.upgrade().expect("alive").put_data(b"xxx").unwrap();
        async { Ok(()) }
    });
    stream.put_data(b"yyy").unwrap();
    assert_eq!(stream.receive_some(10).await.unwrap(), b"yyyxxx");
    assert_eq!(stream.receive_some(10).await.unwrap(), b"xxx");
    stream.put_data(b"zzz").unwrap();
    stream.clear_receive_some_hook();
    assert_eq!(stream.receive_some(10).await.unwrap(), b"zzz");
}

/// What the receive-some hook returns as an error is what `receive_some` returns, and nothing
/// is taken; on a closed stream `receive_some` fails before the hook runs.
#[trio_test]
async fn the_receive_some_hooks_error_is_receive_somes_and_a_closed_stream_skips_the_hook() {
    let stream = MemoryReceiveStream::new();
    stream.put_data(b"kept").unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    stream.set_receive_some_hook(move || {
        c.set(c.get() + 1);
        async { Err(StreamError::broken("no route")) }
    });
    assert!(stream.receive_some(10).await.unwrap_err().is_broken());
    stream.clear_receive_some_hook();
    assert_eq!(stream.receive_some(10).await.unwrap(), b"kept");
    let c = calls.clone();
    stream.set_receive_some_hook(move || {
        c.set(c.get() + 1);
        async { Ok(()) }
    });
    stream.close();
    assert!(stream.receive_some(10).await.unwrap_err().is_closed());
    assert_eq!(calls.get(), 1);
}

/// `put_eof` twice is fine; the end is returned again and again; data after it is `Closed`.
#[trio_test]
async fn put_eof_is_idempotent_and_the_end_repeats() {
    let stream = MemoryReceiveStream::new();
    stream.put_data(b"def").unwrap();
    stream.put_eof();
    stream.put_eof();
    assert_eq!(assert_checkpoints(stream.receive_some(10)).await.unwrap(), b"def");
    for _ in 0..2 {
        assert_eq!(assert_checkpoints(stream.receive_some(10)).await.unwrap(), b"");
    }
    assert!(stream.put_data(b"---").unwrap_err().is_closed());
}

/// A closed receive stream is `Closed`, not at its end, even with nothing buffered; closing
/// again is fine and runs the close hook again.
#[trio_test]
async fn an_empty_closed_receive_stream_is_closed_not_ended() {
    let stream = MemoryReceiveStream::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    stream.set_close_hook(move || c.set(c.get() + 1));
    stream.close();
    assert!(stream.receive_some(10).await.unwrap_err().is_closed());
    stream.close();
    assert_checkpoints(stream.aclose()).await.unwrap();
    assert_eq!(calls.get(), 3);
    assert!(stream.put_data(b"123").unwrap_err().is_closed());
}

/// `receive_some(0)` is checked where Trio's memory stream checks it, after the stream's own
/// checks: `Busy` while another task receives, `Closed` once closed, else `InvalidArgument`.
#[trio_test]
async fn memory_receive_some_zero_is_busy_or_closed_before_it_is_invalid() {
    let stream = Rc::new(MemoryReceiveStream::new());
    let s = stream.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            assert!(s.receive_some(10).await.unwrap_err().is_closed());
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        assert!(stream.receive_some(0).await.unwrap_err().is_busy());
        stream.close();
        Ok(())
    })
    .await
    .unwrap();
    let stream = MemoryReceiveStream::new();
    assert!(matches!(stream.receive_some(0).await, Err(StreamError::InvalidArgument(_))));
    stream.close();
    assert!(stream.receive_some(0).await.unwrap_err().is_closed());
}

// ===== memory_stream_one_way_pair / memory_stream_pair (test_memory_stream_*) =====

/// Data moves on `send_all` (the send hook pumps), so a receiver blocked before the send
/// wakes; and it moves on close (the close hook pumps), so a blocked receiver sees the end —
/// after `aclose` and after the synchronous `close` alike.
#[trio_test]
async fn a_one_way_pair_wakes_a_blocked_receiver_on_send_and_on_close() {
    let (send, receive) = memory_stream_one_way_pair();
    let receive = Rc::new(receive);
    for (data, expected) in [(Some(&b"abc"[..]), &b"abc"[..]), (None, &b""[..])] {
        let r = receive.clone();
        let send = &send;
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert_eq!(r.receive_some(10).await?, expected);
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            match data {
                Some(data) => send.send_all(data).await?,
                None => send.aclose().await?,
            }
            Ok(())
        })
        .await
        .unwrap();
    }
    let (send, receive) = memory_stream_one_way_pair();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            assert_eq!(receive.receive_some(10).await?, b"");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        send.close();
        Ok(())
    })
    .await
    .unwrap();
}

/// With the send hook cleared, a receiver waits even though data was sent; once a hook pumps
/// again, the stalled data and the new data arrive together.
#[trio_test]
async fn a_stalled_pair_delivers_old_and_new_data_together_once_pumping_again() {
    let (send, receive) = memory_stream_one_way_pair();
    let (send, receive) = (Rc::new(send), Rc::new(receive));
    send.clear_send_all_hook();
    send.send_all(b"456").await.unwrap();
    let scope = CancelScope::new();
    let (r, handle) = (receive.clone(), scope.clone());
    let outcome = scope
        .run(trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let got = r.receive_some(10).await?;
                panic!("nothing arrives while the pair is stalled, but {got:?} did");
                #[allow(unreachable_code, reason = "names the block's type for `?`")]
                trio::Result::Ok(())
            });
            wait_all_tasks_blocked().await?;
            handle.cancel();
            Ok(())
        }))
        .await
        .unwrap();
    assert_eq!(outcome, None, "the blocked receiver was cancelled");
    let (s, r) = (Rc::downgrade(&send), Rc::downgrade(&receive));
    send.set_send_all_hook(move || {
        let outcome = match (s.upgrade(), r.upgrade()) {
            (Some(s), Some(r)) => memory_stream_pump(&s, &r, None).map(drop),
            _ => Ok(()),
        };
        std::future::ready(outcome)
    });
    send.send_all(b"789").await.unwrap();
    assert_eq!(receive.receive_some(10).await.unwrap(), b"456789");
}

/// A memory `send_all` cancelled before it starts sends nothing (its two checkpoints come
/// first, as in Trio): the receiver sees only what is sent afterwards.
#[trio_test]
async fn a_memory_send_all_cancelled_at_its_start_sends_nothing() {
    let (left, right): (MemoryStream, MemoryStream) = memory_stream_pair();
    let scope = CancelScope::new();
    scope.cancel();
    let outcome = scope.run(async { Ok(left.send_all(b"lost").await?) }).await.unwrap();
    assert_eq!(outcome, None);
    left.send_all(b"kept").await.unwrap();
    assert_eq!(right.receive_some(100).await.unwrap(), b"kept");
}

/// Closing one end of a pair is the end of the stream for the other end, and the other end's
/// sending fails with `Broken` (its peer is gone) — for memory and lockstep pairs alike.
#[trio_test]
async fn closing_one_end_of_a_pair_ends_the_peers_stream_and_breaks_its_sending() {
    let (left, right) = memory_stream_pair();
    left.aclose().await.unwrap();
    assert_eq!(right.receive_some(10).await.unwrap(), b"");
    assert!(right.send_all(b"x").await.unwrap_err().is_broken());
    let (left, right) = trio_testkit::streams::lockstep_stream_pair();
    left.aclose().await.unwrap();
    assert_eq!(right.receive_some(10).await.unwrap(), b"");
    assert!(right.send_all(b"x").await.unwrap_err().is_broken());
}

// ===== lockstep streams (_LockstepByteQueue) =====

/// A `send_all` blocked until its data is taken fails with `Broken` when the receiver closes
/// with the data (or part of it) still untaken.
#[trio_test]
async fn closing_the_lockstep_receiver_breaks_a_blocked_send_all() {
    for take_first in [0, 1] {
        let (send, receive) = lockstep_stream_one_way_pair();
        let receive = Rc::new(receive);
        let r = receive.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let error = send.send_all(b"ab").await.unwrap_err();
                assert!(error.is_broken(), "{error}");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            if take_first == 1 {
                assert_eq!(r.receive_some(1).await?, b"a");
            }
            receive.aclose().await?;
            Ok(())
        })
        .await
        .unwrap();
    }
}

/// A closed sender is `Closed` before a closed receiver is `Broken`; a receiver whose sender
/// closed gets the end, again and again.
#[trio_test]
async fn a_closed_lockstep_sender_is_closed_even_when_the_receiver_is_gone() {
    let (send, receive) = lockstep_stream_one_way_pair();
    send.close();
    assert_eq!(receive.receive_some(10).await.unwrap(), b"");
    assert_eq!(receive.receive_some(10).await.unwrap(), b"");
    receive.close();
    assert!(send.send_all(b"x").await.unwrap_err().is_closed());
    assert!(send.wait_send_all_might_not_block().await.unwrap_err().is_closed());
}

/// Once the receiver is gone, `wait_send_all_might_not_block` returns at once (after a
/// checkpoint): the next `send_all` reports the breakage.
#[trio_test]
async fn lockstep_wait_send_all_might_not_block_returns_once_the_receiver_is_gone() {
    let (send, receive) = lockstep_stream_one_way_pair();
    receive.close();
    assert_checkpoints(send.wait_send_all_might_not_block()).await.unwrap();
    assert!(send.send_all(b"x").await.unwrap_err().is_broken());
}

/// Trio's lockstep `send_all` puts its data before its first checkpoint, so even one cancelled
/// at once leaves the data for the receiver (the stream is in an unknown state, as Trio's
/// `send_all` contract allows).
#[trio_test]
async fn a_cancelled_lockstep_send_all_leaves_its_data_for_the_receiver() {
    let (send, receive) = lockstep_stream_one_way_pair();
    let scope = CancelScope::new();
    scope.cancel();
    let outcome = scope.run(async { Ok(send.send_all(b"x").await?) }).await.unwrap();
    assert_eq!(outcome, None);
    assert_eq!(receive.receive_some(10).await.unwrap(), b"x");
}

// ===== the check suites catch broken streams =====

fn run<T>(body: impl std::future::Future<Output = T>) -> T {
    trio::Builder::new().clock(MockClock::autojump()).run(body)
}

/// A memory send stream that stays open for `send_all` after `aclose`.
struct SendsAfterClose {
    inner: MemorySendStream,
    closed: Cell<bool>,
}

impl AsyncResource for SendsAfterClose {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.closed.set(true);
        self.inner.aclose()
    }
}

impl SendStream for SendsAfterClose {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        if self.closed.get() {
            return Box::pin(async {
                trio::checkpoint().await?;
                Ok(())
            });
        }
        self.inner.send_all(data)
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        self.inner.wait_send_all_might_not_block()
    }
}

type HalfBuggyPair = StapledStream<SendsAfterClose, MemoryReceiveStream>;

/// A two-way pair that is correct from left to right and buggy from right to left.
fn buggy_in_reverse() -> (StapledStream<MemorySendStream, MemoryReceiveStream>, HalfBuggyPair) {
    let (s1, r1) = memory_stream_one_way_pair();
    let (s2, r2) = memory_stream_one_way_pair();
    (StapledStream::new(s1, r2), StapledStream::new(SendsAfterClose { inner: s2, closed: Cell::new(false) }, r1))
}

/// `check_two_way_stream` runs the one-way checks in both directions: a bug only in the
/// second stream's sending is caught, which the left-to-right checks alone miss.
#[test]
fn the_two_way_checks_catch_a_bug_in_the_reverse_direction_only() {
    run(async {
        let maker = StreamMaker::new(|| async { Ok(buggy_in_reverse()) }).duplex_test_size(1 << 12);
        check_one_way_stream(&maker, None).await.unwrap();
        let failure = check_two_way_stream(&maker, None).await.unwrap_err();
        assert_eq!(failure.check(), "closing the receiver breaks the sender");
        assert!(failure.detail().contains("send_all(100 bytes) after aclose succeeded"), "{failure}");
    });
}

/// A sender whose graceful close resets the connection: the receiver loses what was sent.
struct ResetsOnClose {
    inner: MemorySendStream,
    peer: Rc<MemoryReceiveStream>,
}

impl AsyncResource for ResetsOnClose {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.peer.close();
        self.inner.aclose()
    }
}

impl SendStream for ResetsOnClose {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        self.inner.send_all(data)
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        self.inner.wait_send_all_might_not_block()
    }
}

#[test]
fn a_graceful_close_that_discards_sent_data_is_caught() {
    let failure = run(async {
        let maker = StreamMaker::new(|| async {
            let (send, receive) = memory_stream_one_way_pair();
            let receive = Rc::new(receive);
            Ok((ResetsOnClose { inner: send, peer: receive.clone() }, receive))
        });
        check_one_way_stream(&maker, None).await
    })
    .unwrap_err();
    assert_eq!(failure.check(), "data sent before a graceful close arrives, then the end");
    assert!(failure.detail().contains("receive_some(1) failed"), "{failure}");
}

/// A half-closeable stream whose second `send_eof` fails (Trio: it must silently succeed).
struct StrictEof {
    inner: MemoryStream,
    eof_sent: Cell<bool>,
}

impl AsyncResource for StrictEof {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.inner.aclose()
    }
}

impl SendStream for StrictEof {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        self.inner.send_all(data)
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        self.inner.wait_send_all_might_not_block()
    }
}

impl ReceiveStream for StrictEof {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        self.inner.receive_some(max_bytes)
    }
}

impl HalfCloseableStream for StrictEof {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            if self.eof_sent.replace(true) {
                trio::checkpoint().await?;
                return Err(StreamError::closed("the end was sent already"));
            }
            self.inner.send_eof().await
        })
    }
}

#[test]
fn a_send_eof_that_is_not_idempotent_is_caught() {
    let failure = run(async {
        let maker = StreamMaker::new(|| async {
            let (left, right) = memory_stream_pair();
            Ok((
                StrictEof { inner: left, eof_sent: Cell::new(false) },
                StrictEof { inner: right, eof_sent: Cell::new(false) },
            ))
        })
        .duplex_test_size(1 << 12);
        check_half_closeable_stream(&maker, None).await
    })
    .unwrap_err();
    assert_eq!(failure.check(), "send_eof");
    assert!(failure.detail().contains("a second send_eof() failed"), "{failure}");
}

/// A half-closeable stream whose `send_eof` closes both directions.
struct EofClosesBoth(MemoryStream);

impl AsyncResource for EofClosesBoth {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.0.aclose()
    }
}

impl SendStream for EofClosesBoth {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        self.0.send_all(data)
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        self.0.wait_send_all_might_not_block()
    }
}

impl ReceiveStream for EofClosesBoth {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        self.0.receive_some(max_bytes)
    }
}

impl HalfCloseableStream for EofClosesBoth {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        self.0.aclose()
    }
}

/// Trio's rule: after `send_eof` the stream still receives.
#[test]
fn a_send_eof_that_closes_both_directions_is_caught() {
    let failure = run(async {
        let maker = StreamMaker::new(|| async {
            let (left, right) = memory_stream_pair();
            Ok((EofClosesBoth(left), EofClosesBoth(right)))
        })
        .duplex_test_size(1 << 12);
        check_half_closeable_stream(&maker, None).await
    })
    .unwrap_err();
    assert_eq!(failure.check(), "send_eof");
    // The other side's reply finds this side's receiving closed.
    assert!(failure.detail().contains("send_all(b\"x\") failed"), "{failure}");
}

/// A lockstep sender that reports a close under a blocked `send_all` as `Broken` (Trio:
/// `Closed` — this task's own handle was closed, the peer did nothing).
struct WrongErrorWhenClosedUnderneath {
    inner: LockstepSendStream,
    closed: Cell<bool>,
}

impl AsyncResource for WrongErrorWhenClosedUnderneath {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.closed.set(true);
        self.inner.aclose()
    }
}

impl SendStream for WrongErrorWhenClosedUnderneath {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(async move {
            let open_at_start = !self.closed.get();
            match self.inner.send_all(data).await {
                Err(error) if error.is_closed() && open_at_start => Err(StreamError::broken("the stream broke")),
                other => other,
            }
        })
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        self.inner.wait_send_all_might_not_block()
    }
}

#[test]
fn a_blocked_send_all_woken_by_close_with_the_wrong_error_is_caught_with_a_clogged_maker() {
    let check = |clogged: bool| -> Result<(), StreamCheckFailure> {
        run(async move {
            let maker = StreamMaker::new(|| async {
                let (send, receive) = lockstep_stream_one_way_pair();
                Ok((WrongErrorWhenClosedUnderneath { inner: send, closed: Cell::new(false) }, receive))
            });
            check_one_way_stream(&maker, clogged.then_some(&maker)).await
        })
    };
    check(false).unwrap();
    let failure = check(true).unwrap_err();
    assert_eq!(failure.check(), "closing the sender wakes a blocked send_all with Closed");
    assert!(failure.detail().contains("expected Closed"), "{failure}");
}

/// A receiver that returns more than `max_bytes` when asked for more than `honest_up_to`
/// (Trio's contract: at most `max_bytes`, always).
struct IgnoresMaxBytes {
    inner: MemoryReceiveStream,
    honest_up_to: usize,
}

impl AsyncResource for IgnoresMaxBytes {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.inner.aclose()
    }
}

impl ReceiveStream for IgnoresMaxBytes {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        self.inner.receive_some(if max_bytes > self.honest_up_to { usize::MAX } else { max_bytes })
    }
}

fn greedy_pair(
    honest_up_to: usize,
) -> (StapledStream<MemorySendStream, IgnoresMaxBytes>, StapledStream<MemorySendStream, IgnoresMaxBytes>) {
    let (s1, r1) = memory_stream_one_way_pair();
    let (s2, r2) = memory_stream_one_way_pair();
    (
        StapledStream::new(s1, IgnoresMaxBytes { inner: r2, honest_up_to }),
        StapledStream::new(s2, IgnoresMaxBytes { inner: r1, honest_up_to }),
    )
}

/// The one-way checks send two bytes and ask for one at a time.
#[test]
fn a_receive_some_that_returns_more_than_max_bytes_is_caught() {
    let failure = run(async {
        let maker = StreamMaker::new(|| async {
            let (send, receive) = memory_stream_one_way_pair();
            Ok((send, IgnoresMaxBytes { inner: receive, honest_up_to: 0 }))
        });
        check_one_way_stream(&maker, None).await
    })
    .unwrap_err();
    assert_eq!(failure.check(), "receive_some checks max_bytes");
    assert!(failure.detail().contains("receive_some(1) returned b\"xy\", expected b\"x\""), "{failure}");
}

/// A stream honest for one byte but greedy beyond passes the one-way checks; the duplex
/// check, which asks for random sizes, catches it.
#[test]
fn the_duplex_check_catches_a_receive_some_greedy_only_for_large_sizes() {
    let failure = run(async {
        let maker = StreamMaker::new(|| async { Ok(greedy_pair(1)) }).duplex_test_size(1 << 16);
        check_two_way_stream(&maker, None).await
    })
    .unwrap_err();
    assert_eq!(failure.check(), "both directions at once, in random chunks");
    assert!(failure.detail().contains("more than max_bytes"), "{failure}");
}

/// A `wait_send_all_might_not_block` that never returns, though a receiver waits: the check
/// stops as a deadlock instead of hanging.
struct NeverMightNotBlock(MemorySendStream);

impl AsyncResource for NeverMightNotBlock {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.0.aclose()
    }
}

impl SendStream for NeverMightNotBlock {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        self.0.send_all(data)
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(async {
            trio::sleep_forever().await?;
            Ok(())
        })
    }
}

/// Trio's rule: `wait_send_all_might_not_block` must not return late — with a receiver
/// waiting on an empty stream, `send_all` could not block, so it must return.
#[test]
fn a_wait_send_all_might_not_block_that_returns_late_is_caught() {
    let err = trio::Builder::new()
        .try_run(async {
            let maker = StreamMaker::new(|| async {
                let (send, receive) = memory_stream_one_way_pair();
                Ok((NeverMightNotBlock(send), receive))
            });
            check_one_way_stream(&maker, None).await
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Deadlock, "{err}");
    let report = err.to_string();
    assert!(report.contains("sleep_forever"), "{report}");
    assert!(report.contains("MemoryReceiveStream::receive_some, waiting for data"), "the waiting receiver: {report}");
}

/// `StapledStream::send_eof` is the send half's `aclose`, which a lockstep sender does not
/// count as a use of its sending side: stapled lockstep streams pass the two-way checks but
/// not the clogged half-closeable ones (Trio's tests run them as two-way streams only).
#[test]
fn stapled_lockstep_streams_fail_the_clogged_send_eof_busy_check() {
    let failure = run(async {
        let maker =
            StreamMaker::new(|| async { Ok(trio_testkit::streams::lockstep_stream_pair()) }).duplex_test_size(1 << 12);
        check_two_way_stream(&maker, Some(&maker)).await.unwrap();
        check_half_closeable_stream(&maker, Some(&maker)).await
    })
    .unwrap_err();
    assert_eq!(failure.check(), "send_eof is Busy while send_all runs");
    assert!(failure.detail().contains("expected Busy"), "{failure}");
}

/// A small one-way stream onto a `MemoryReceiveStream`, with one bug.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bug {
    /// None: the stream is correct.
    None,
    /// `send_all` yields but never checks for cancellation.
    SendIsNoCancelPoint,
    /// The first `receive_some` returns empty: the end, before the end.
    SpuriousEnd,
    /// A second `aclose` of the receiver fails with `Closed`.
    CloseNotIdempotent,
}

struct BuggySend {
    peer: Rc<MemoryReceiveStream>,
    closed: Cell<bool>,
    bug: Bug,
}

struct BuggyReceive {
    inner: Rc<MemoryReceiveStream>,
    calls: Cell<usize>,
    closed: Cell<bool>,
    bug: Bug,
}

fn buggy_pair(bug: Bug) -> (BuggySend, BuggyReceive) {
    let receive = Rc::new(MemoryReceiveStream::new());
    (
        BuggySend { peer: receive.clone(), closed: Cell::new(false), bug },
        BuggyReceive { inner: receive, calls: Cell::new(0), closed: Cell::new(false), bug },
    )
}

impl AsyncResource for BuggySend {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.closed.set(true);
            self.peer.put_eof();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl SendStream for BuggySend {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(async move {
            if self.bug == Bug::SendIsNoCancelPoint {
                trio::lowlevel::cancel_shielded_checkpoint().await;
            } else {
                trio::checkpoint().await?;
            }
            if self.closed.get() {
                return Err(StreamError::closed("closed"));
            }
            self.peer.put_data(data).map_err(|_| StreamError::broken("the receiver was closed"))
        })
    }
    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            trio::checkpoint().await?;
            if self.closed.get() {
                return Err(StreamError::closed("closed"));
            }
            Ok(())
        })
    }
}

impl AsyncResource for BuggyReceive {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let again = self.closed.replace(true);
            self.inner.aclose().await?;
            if again && self.bug == Bug::CloseNotIdempotent {
                return Err(StreamError::closed("closed already"));
            }
            Ok(())
        })
    }
}

impl ReceiveStream for BuggyReceive {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(async move {
            self.calls.set(self.calls.get() + 1);
            if self.bug == Bug::SpuriousEnd && self.calls.get() == 1 && max_bytes > 0 {
                trio::checkpoint().await?;
                return Ok(Vec::new());
            }
            self.inner.receive_some(max_bytes).await
        })
    }
}

fn check_buggy(bug: Bug) -> Result<(), StreamCheckFailure> {
    run(async move {
        let maker = StreamMaker::new(move || async move { Ok(buggy_pair(bug)) });
        check_one_way_stream(&maker, None).await
    })
}

#[test]
fn the_small_stream_without_its_bug_passes_the_one_way_checks() {
    check_buggy(Bug::None).unwrap();
}

/// Trio's rule: an operation that returns normally was a cancel point *and* a schedule point.
/// A `send_all` that only yields is caught by the first check, and would not notice a
/// cancellation.
#[test]
fn a_send_all_that_is_no_cancel_point_is_caught() {
    let failure = check_buggy(Bug::SendIsNoCancelPoint).unwrap_err();
    assert_eq!(failure.check(), "send_all and receive_some");
    assert!(failure.detail().contains("send_all(b\"x\") returned without a checkpoint"), "{failure}");
}

/// Trio's rule: `receive_some` returns empty if, and only if, the stream has ended.
#[test]
fn a_receive_some_that_reports_the_end_too_early_is_caught() {
    let failure = check_buggy(Bug::SpuriousEnd).unwrap_err();
    assert_eq!(failure.check(), "send_all and receive_some");
    assert!(failure.detail().contains("receive_some(1) returned b\"\", expected b\"x\""), "{failure}");
}

/// Trio's rule: closing a closed resource silently succeeds.
#[test]
fn an_aclose_that_fails_the_second_time_is_caught() {
    let failure = check_buggy(Bug::CloseNotIdempotent).unwrap_err();
    assert_eq!(failure.check(), "closing the receiver breaks the sender");
    assert!(failure.detail().contains("aclose() failed"), "{failure}");
}
