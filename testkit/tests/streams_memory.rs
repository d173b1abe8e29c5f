//! The memory and lockstep streams beyond what the conformance suites check: their hooks,
//! pumping, the buffer they fetch from, and what closing does to each end.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use trio::abc::{ReceiveStream, SendStream};
use trio_testkit::streams::{
    MemoryReceiveStream, MemorySendStream, lockstep_stream_one_way_pair, memory_stream_one_way_pair,
    memory_stream_pair, memory_stream_pump,
};
use trio_testkit::{MockClock, assert_checkpoints, trio_test, wait_all_tasks_blocked};

#[trio_test]
async fn get_data_waits_for_data_and_checkpoints() {
    let stream = Rc::new(MemorySendStream::new());
    let s = stream.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            assert_eq!(assert_checkpoints(s.get_data(None)).await?, b"late");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        stream.send_all(b"late").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[trio_test]
async fn two_tasks_fetching_at_once_get_busy() {
    let stream = Rc::new(MemorySendStream::new());
    let s = stream.clone();
    let outcome = trio::open_nursery(|nursery| async move {
        let s2 = s.clone();
        nursery.start_soon(async move { Ok(s2.get_data(None).await.map(drop)?) });
        nursery.start_soon(async move { Ok(s.get_data(None).await.map(drop)?) });
        Ok(())
    })
    .await;
    let error = outcome.unwrap_err();
    assert!(error.as_group().unwrap().find::<trio::StreamError>().unwrap().is_busy(), "{error}");
}

#[trio_test]
async fn get_data_rejects_zero_and_nowait_would_block() {
    let stream = MemorySendStream::new();
    assert!(matches!(stream.get_data(Some(0)).await, Err(trio::StreamError::InvalidArgument(_))));
    assert!(stream.get_data_nowait(None).is_err());
    stream.send_all(b"abc").await.unwrap();
    assert_eq!(stream.get_data_nowait(Some(1)).unwrap(), b"a");
    assert_eq!(stream.get_data_nowait(None).unwrap(), b"bc");
}

#[trio_test]
async fn the_pump_moves_at_most_max_bytes_and_then_the_end() {
    let send = MemorySendStream::new();
    let receive = MemoryReceiveStream::new();
    assert!(!memory_stream_pump(&send, &receive, None).unwrap(), "nothing to move");
    send.send_all(b"abc").await.unwrap();
    assert!(memory_stream_pump(&send, &receive, Some(2)).unwrap());
    assert_eq!(receive.receive_some(10).await.unwrap(), b"ab");
    send.close();
    assert!(memory_stream_pump(&send, &receive, None).unwrap());
    assert!(memory_stream_pump(&send, &receive, None).unwrap(), "the end moves too");
    assert_eq!(receive.receive_some(10).await.unwrap(), b"c");
    assert_eq!(receive.receive_some(10).await.unwrap(), b"");
    receive.close();
    let other = MemorySendStream::new();
    other.send_all(b"x").await.unwrap();
    assert!(memory_stream_pump(&other, &receive, None).unwrap_err().is_broken());
}

/// Hooks can be swapped at any time: a stall, then data again.
#[trio_test]
async fn clearing_the_send_all_hook_stalls_the_pair() {
    let (send, receive) = memory_stream_one_way_pair();
    send.clear_send_all_hook();
    send.send_all(b"held").await.unwrap();
    let receive = Rc::new(receive);
    let r = receive.clone();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            *g.borrow_mut() = Some(r.receive_some(10).await?);
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        assert!(got.borrow().is_none(), "nothing arrives while the hook is cleared");
        memory_stream_pump(&send, &receive, None)?;
        Ok(())
    })
    .await
    .unwrap();
}

/// Trio's trickle example: one byte per second, on the autojump clock.
#[trio_test]
async fn a_trickling_pair_delivers_one_byte_per_second(_autojump_clock: MockClock) {
    let (left, right) = memory_stream_pair();
    let left = Rc::new(left);
    let right = Rc::new(right);
    let (l, r) = (Rc::downgrade(&left), Rc::downgrade(&right));
    left.send_stream.set_send_all_hook(move || {
        let (l, r) = (l.clone(), r.clone());
        async move {
            while let (Some(l), Some(r)) = (l.upgrade(), r.upgrade()) {
                if !memory_stream_pump(&l.send_stream, &r.receive_stream, Some(1))? {
                    break;
                }
                trio::sleep(Duration::from_secs(1)).await?;
            }
            Ok(())
        }
    });
    let start = trio::current_time();
    let times = Rc::new(RefCell::new(Vec::new()));
    let t = times.clone();
    let r2 = right.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            for _ in 0..3 {
                let byte = r2.receive_some(10).await?;
                t.borrow_mut().push((byte, trio::current_time() - start));
            }
            Ok(())
        });
        left.send_all(b"123").await?;
        Ok(())
    })
    .await
    .unwrap();
    let secs: Vec<(Vec<u8>, u64)> = times.borrow().iter().map(|(b, d)| (b.clone(), d.as_secs())).collect();
    assert_eq!(secs, [(b"1".to_vec(), 0), (b"2".to_vec(), 1), (b"3".to_vec(), 2)]);
}

#[trio_test]
async fn dropping_the_sender_ends_the_stream_and_dropping_the_receiver_breaks_it() {
    let (send, receive) = memory_stream_one_way_pair();
    send.send_all(b"last").await.unwrap();
    drop(send);
    assert_eq!(receive.receive_some(10).await.unwrap(), b"last");
    assert_eq!(receive.receive_some(10).await.unwrap(), b"");

    let (send, receive) = lockstep_stream_one_way_pair();
    drop(receive);
    assert!(send.send_all(b"x").await.unwrap_err().is_broken());
}

#[trio_test]
async fn closing_a_receive_stream_discards_its_buffer() {
    let stream = MemoryReceiveStream::new();
    stream.put_data(b"unread").unwrap();
    stream.close();
    assert!(stream.put_data(b"more").unwrap_err().is_closed());
    assert!(stream.receive_some(10).await.unwrap_err().is_closed());
}

/// A lockstep sender returns only when everything it sent was received.
#[trio_test(policy = "fifo")]
async fn lockstep_send_all_waits_for_the_receiver() {
    let (send, receive) = lockstep_stream_one_way_pair();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            send.send_all(b"ab").await?;
            l1.borrow_mut().push("sent");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        l2.borrow_mut().push("receiving");
        assert_eq!(receive.receive_some(1).await?, b"a");
        wait_all_tasks_blocked().await?;
        l2.borrow_mut().push("half received");
        assert_eq!(receive.receive_some(1).await?, b"b");
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(*log.borrow(), ["receiving", "half received", "sent"]);
}
