//! Memory channels: the behaviour of Trio's `test_channel.py` (basics, closing, cloning,
//! statistics, fairness, rendezvous), Trio's order of checks, values handed back by every
//! failed send, errors through `?`, and the `Stream` / `Sink` adapters.

mod sync_util;

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::{SinkExt, StreamExt, poll};
use sync_util::{assert_checkpoints, in_cancelled_scope, run, secs};
use trio::lowlevel::wait_all_tasks_blocked;
use trio::{
    CancelScope, Capacity, MemorySender, RecvError, SendError, TryRecvError, TrySendError, move_on_after,
    open_memory_channel, open_nursery,
};

const ZERO: Duration = Duration::ZERO;

#[test]
fn basics_with_a_buffer_of_two() {
    run(async {
        let (s, r) = open_memory_channel::<Option<&str>>(2);
        s.try_send(Some("1")).unwrap();
        assert_checkpoints(s.send(Some("2"))).await.unwrap();
        assert!(matches!(s.try_send(None), Err(TrySendError::WouldBlock(None))));

        assert_eq!(assert_checkpoints(r.recv()).await, Ok(Some(Some("1"))));
        assert_eq!(r.try_recv(), Ok(Some(Some("2"))));
        assert_eq!(r.try_recv(), Err(TryRecvError::WouldBlock));

        s.try_send(Some("last")).unwrap();
        s.close();
        assert!(matches!(s.send(Some("too late")).await, Err(SendError::Closed(Some("too late")))));
        assert!(matches!(s.try_send(Some("too late")), Err(TrySendError::Closed(Some("too late")))));
        assert!(s.try_clone().is_err());
        s.close(); // closing twice is fine

        assert_eq!(r.try_recv(), Ok(Some(Some("last"))));
        assert_eq!(r.recv().await, Ok(None));
        r.close();
        assert_eq!(r.recv().await, Err(RecvError::Closed));
        assert_eq!(r.try_recv(), Err(TryRecvError::Closed));
        r.close();
    });
}

#[test]
fn a_receive_cancelled_by_a_timeout_does_not_make_the_next_send_block() {
    run(async {
        let (s, r) = open_memory_channel::<&str>(1);
        let t0 = trio::current_time();
        let outcome = move_on_after(secs(10), async {
            r.recv().await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(outcome, None);
        assert_eq!(trio::current_time() - t0, secs(10));
        assert_eq!(s.statistics().tasks_waiting_receive, 0);

        s.send("Test for PR #553").await.unwrap();
        assert_eq!(trio::current_time() - t0, secs(10), "the send did not wait");
        assert_eq!(s.statistics().current_buffer_used, 1, "the cancelled receive took nothing");
        assert_eq!(r.try_recv(), Ok(Some("Test for PR #553")));
    });
}

#[test]
fn many_producers_each_with_a_clone() {
    run(async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let got = open_nursery(|nursery| async move {
            for i in 0..10 {
                let tx = tx.try_clone()?;
                nursery.start_soon(async move {
                    for j in 3 * i..3 * (i + 1) {
                        tx.send(j).await?;
                    }
                    Ok(())
                });
            }
            drop(tx);
            let mut got = Vec::new();
            while let Some(value) = rx.recv().await? {
                got.push(value);
            }
            Ok(Some(got))
        })
        .await
        .unwrap();
        let mut got = got.unwrap();
        got.sort();
        assert_eq!(got, (0..30).collect::<Vec<_>>());
    });
}

#[test]
fn many_consumers_share_the_values_fairly() {
    run(async {
        let received = Rc::new(RefCell::new(Vec::new()));
        let consumers = Rc::new(RefCell::new(std::collections::BTreeSet::new()));
        let (r2, c2) = (received.clone(), consumers.clone());
        open_nursery(|nursery| async move {
            let (tx, rx) = open_memory_channel::<u32>(1);
            for i in 0..5 {
                let (rx, received, consumers) = (rx.try_clone()?, r2.clone(), c2.clone());
                nursery.start_soon(async move {
                    while let Some(value) = rx.recv().await? {
                        consumers.borrow_mut().insert(i);
                        received.borrow_mut().push(value);
                    }
                    Ok(())
                });
            }
            drop(rx);
            wait_all_tasks_blocked(ZERO).await?;
            for i in 0..10 {
                tx.send(i).await?;
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*consumers.borrow(), (0..5).collect());
        let mut received = received.borrow().clone();
        received.sort();
        assert_eq!(received, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn closing_a_sender_fails_its_blocked_sends_and_ends_the_channel() {
    run(async {
        let (s, r) = open_memory_channel::<String>(0);
        let s = Rc::new(s);
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let err = s2.send("blocked".to_string()).await.unwrap_err();
                assert!(matches!(&err, SendError::Closed(v) if v == "blocked"));
            });
            wait_all_tasks_blocked(ZERO).await?;
            s.close();
            // ... and it stays closed
            assert!(matches!(s.try_send("x".into()), Err(TrySendError::Closed(_))));
            assert!(matches!(s.send("x".into()).await, Err(SendError::Closed(_))));
            Ok(())
        })
        .await
        .unwrap();
        // ... and receivers see the end of the channel
        assert_eq!(r.try_recv(), Ok(None));
        assert_eq!(r.recv().await, Ok(None));
    });
}

#[test]
fn closing_the_receiver_breaks_blocked_and_later_sends() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        open_nursery(|nursery| async move {
            let s = Rc::new(s);
            let s2 = s.clone();
            nursery.start_soon(async move {
                assert!(matches!(s2.send(1).await, Err(SendError::Broken(1))));
            });
            wait_all_tasks_blocked(ZERO).await?;
            r.close();
            wait_all_tasks_blocked(ZERO).await?;
            assert!(matches!(s.try_send(2), Err(TrySendError::Broken(2))));
            assert!(matches!(s.send(3).await, Err(SendError::Broken(3))));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn closing_a_receiver_fails_its_blocked_receives() {
    run(async {
        let (_s, r) = open_memory_channel::<u32>(0);
        let r = Rc::new(r);
        let (r1, r2) = (r.clone(), r.clone());
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert_eq!(r2.recv().await, Err(RecvError::Closed));
            });
            wait_all_tasks_blocked(ZERO).await?;
            r1.close();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(r.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(r.recv().await, Err(RecvError::Closed));
    });
}

#[test]
fn receivers_stay_usable_until_the_last_clone_closes() {
    let (s, r) = open_memory_channel::<()>(10);
    let r2 = r.try_clone().unwrap();
    let r3 = r.try_clone().unwrap();
    s.try_send(()).unwrap();
    r.close();
    drop(r2);
    assert!(r.try_clone().is_err());
    s.try_send(()).unwrap(); // r3 is still open
    assert_eq!(s.statistics().current_buffer_used, 2);
    drop(r3);
    assert!(matches!(s.try_send(()), Err(TrySendError::Broken(()))));
    assert_eq!(s.statistics().current_buffer_used, 0, "the last receiver discards the buffer");
}

#[test]
fn closing_one_sender_clone_only_fails_the_sends_on_that_clone() {
    run(async {
        let (s1, r) = open_memory_channel::<&str>(0);
        let s2 = s1.try_clone().unwrap();
        let s1 = Rc::new(s1);
        let s1b = s1.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert!(matches!(s1b.send("nope").await, Err(SendError::Closed("nope"))));
            });
            nursery.start_soon(async move {
                s2.send("ok").await.unwrap();
            });
            wait_all_tasks_blocked(ZERO).await?;
            s1.close();
            assert_eq!(r.recv().await?, Some("ok"));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn closing_one_receiver_clone_only_fails_the_receives_on_that_clone() {
    run(async {
        let (s, r1) = open_memory_channel::<&str>(0);
        let r2 = r1.try_clone().unwrap();
        let r1 = Rc::new(r1);
        let r1b = r1.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert_eq!(r1b.recv().await, Err(RecvError::Closed));
            });
            nursery.start_soon(async move {
                assert_eq!(r2.recv().await, Ok(Some("ok")));
            });
            wait_all_tasks_blocked(ZERO).await?;
            r1.close();
            s.send("ok").await?;
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn an_unbounded_channel_never_blocks_a_sender() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(Capacity::Unbounded);
        for i in 0..1000 {
            s.try_send(i).unwrap();
        }
        drop(s);
        let mut got = Vec::new();
        while let Some(v) = r.recv().await.unwrap() {
            got.push(v);
        }
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(r.statistics().max_buffer_size, Capacity::Unbounded);
        assert_eq!(r.statistics().peak_buffer_used, 1000);
    });
}

#[test]
fn statistics_follow_the_buffer_the_handles_and_the_waiters() {
    run(async {
        let (s, r) = open_memory_channel::<()>(2);
        assert_eq!(s.statistics(), r.statistics());
        let stats = s.statistics();
        assert_eq!(stats.current_buffer_used, 0);
        assert_eq!(stats.max_buffer_size, Capacity::Bounded(2));
        assert_eq!(stats.open_send_channels, 1);
        assert_eq!(stats.open_receive_channels, 1);
        assert_eq!(stats.tasks_waiting_send, 0);
        assert_eq!(stats.tasks_waiting_receive, 0);
        assert_eq!(stats.peak_buffer_used, 0);

        s.try_send(()).unwrap();
        assert_eq!(s.statistics().current_buffer_used, 1);

        let s2 = s.try_clone().unwrap();
        assert_eq!(s.statistics().open_send_channels, 2);
        s.close();
        assert_eq!(s2.statistics().open_send_channels, 1);

        let r2 = r.try_clone().unwrap();
        assert_eq!(s2.statistics().open_receive_channels, 2);
        r2.close();
        assert_eq!(s2.statistics().open_receive_channels, 1);

        let s2 = Rc::new(s2);
        let s3 = s2.clone();
        open_nursery(|nursery| async move {
            s3.try_send(()).unwrap(); // fills the buffer
            assert_eq!(s3.statistics().current_buffer_used, 2);
            for _ in 0..2 {
                let s = s3.clone();
                nursery.start_soon(async move {
                    let _ = s.send(()).await;
                });
            }
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(s3.statistics().tasks_waiting_send, 2);
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(s2.statistics().tasks_waiting_send, 0);
        assert_eq!(s2.statistics().peak_buffer_used, 2);

        while r.try_recv() == Ok(Some(())) {}
        let r = Rc::new(r);
        let r3 = r.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let _ = r3.recv().await;
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(s2.statistics().tasks_waiting_receive, 1);
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(r.statistics().tasks_waiting_receive, 0);
        assert_eq!(r.statistics().current_buffer_used, 0);
        assert_eq!(r.statistics().peak_buffer_used, 2);
    });
}

#[test]
fn fairness_with_a_buffer_of_one() {
    run(async {
        // With nobody waiting, a task can take back what it just sent.
        let (s, r) = open_memory_channel::<u32>(1);
        s.try_send(1).unwrap();
        assert_eq!(r.try_recv(), Ok(Some(1)));
        s.try_send(2).unwrap();
        assert_eq!(r.try_recv(), Ok(Some(2)));

        // But a blocked receiver owns the next value, even though we run first.
        let result = Rc::new(Cell::new(None));
        let r = Rc::new(r);
        let (r2, result2) = (r.clone(), result.clone());
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                result2.set(r2.recv().await?);
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            s.try_send(2).unwrap();
            assert_eq!(r.try_recv(), Err(TryRecvError::WouldBlock));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(result.get(), Some(2));

        // And a freed slot belongs to the blocked sender, not to the next try_send.
        let (s, r) = open_memory_channel::<u32>(1);
        s.try_send(1).unwrap();
        assert!(matches!(s.try_send(0), Err(TrySendError::WouldBlock(0))));
        let s = Rc::new(s);
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(s2.send(2).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(r.try_recv(), Ok(Some(1)));
            assert!(matches!(s.try_send(3), Err(TrySendError::WouldBlock(3))));
            assert_eq!(r.recv().await?, Some(2));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_rendezvous_channel_hands_values_over_directly() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        assert_eq!(r.try_recv(), Err(TryRecvError::WouldBlock));
        assert!(matches!(s.try_send(1), Err(TrySendError::WouldBlock(1))));
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(assert_checkpoints(s.send(1)).await?) });
            assert_eq!(assert_checkpoints(r.recv()).await?, Some(1));
            assert_eq!(r.try_recv(), Err(TryRecvError::WouldBlock));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn send_checks_a_closed_handle_before_missing_receivers() {
    let (s, r) = open_memory_channel::<u32>(1);
    drop(r);
    assert!(matches!(s.try_send(1), Err(TrySendError::Broken(1))));
    s.close();
    assert!(matches!(s.try_send(1), Err(TrySendError::Closed(1))));
}

#[test]
fn a_blocked_senders_value_goes_behind_the_buffered_ones() {
    run(async {
        let (s, r) = open_memory_channel::<&str>(2);
        s.try_send("a").unwrap();
        s.try_send("b").unwrap();
        let s = Rc::new(s);
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(s2.send("c").await?) });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(s.statistics().tasks_waiting_send, 1);
            assert_eq!(r.try_recv(), Ok(Some("a")));
            // "c" moved into the buffer behind "b" and its sender was woken.
            assert_eq!(s.statistics().tasks_waiting_send, 0);
            assert_eq!(s.statistics().current_buffer_used, 2);
            assert_eq!(r.try_recv(), Ok(Some("b")));
            assert_eq!(r.try_recv(), Ok(Some("c")));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn blocked_senders_and_receivers_are_served_first_come_first_served() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let order = Rc::new(RefCell::new(Vec::new()));
        let r = Rc::new(r);
        let (r2, order2) = (r.clone(), order.clone());
        open_nursery(|nursery| async move {
            for i in 0..4 {
                let (r, order) = (r2.clone(), order2.clone());
                nursery.start_soon(async move {
                    let v = r.recv().await?.unwrap();
                    order.borrow_mut().push((i, v));
                    Ok(())
                });
                wait_all_tasks_blocked(ZERO).await?;
            }
            for v in 10..14 {
                s.try_send(v).unwrap();
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*order.borrow(), [(0, 10), (1, 11), (2, 12), (3, 13)]);

        let (s, r) = open_memory_channel::<u32>(0);
        let s = Rc::new(s);
        open_nursery(|nursery| async move {
            for i in 0..4 {
                let s = s.clone();
                nursery.start_soon(async move { Ok(s.send(i).await?) });
                wait_all_tasks_blocked(ZERO).await?;
            }
            for i in 0..4 {
                assert_eq!(r.try_recv(), Ok(Some(i)));
            }
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn closing_the_last_sender_ends_blocked_receivers_after_the_buffer_drains() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(2);
        let r = Rc::new(r);
        let r2 = r.clone();
        open_nursery(|nursery| async move {
            let s2 = s.try_clone()?;
            nursery.start_soon(async move {
                assert_eq!(r2.recv().await, Ok(None));
            });
            wait_all_tasks_blocked(ZERO).await?;
            s.close();
            assert_eq!(r.statistics().tasks_waiting_receive, 1, "one sender is still open");
            s2.close();
            Ok(())
        })
        .await
        .unwrap();

        let (s, r) = open_memory_channel::<u32>(2);
        s.try_send(1).unwrap();
        drop(s);
        assert_eq!(r.recv().await, Ok(Some(1)));
        assert_eq!(r.recv().await, Ok(None));
    });
}

struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn closing_the_last_receiver_discards_the_buffer() {
    let drops = Rc::new(Cell::new(0));
    let (s, r) = open_memory_channel::<DropCounter>(3);
    for _ in 0..3 {
        assert!(s.try_send(DropCounter(drops.clone())).is_ok());
    }
    assert_eq!(drops.get(), 0);
    r.close();
    assert_eq!(drops.get(), 3);
    assert_eq!(s.statistics().current_buffer_used, 0);
    assert_eq!(s.statistics().peak_buffer_used, 3);
}

/// Runs a closure when dropped.
struct OnDrop(Option<Box<dyn FnOnce()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

#[test]
fn a_discarded_values_destructor_may_use_the_channel() {
    let (s, r) = open_memory_channel::<OnDrop>(1);
    let s = Rc::new(s);
    let seen = Rc::new(Cell::new(None));
    let (s2, seen2) = (s.clone(), seen.clone());
    assert!(
        s.try_send(OnDrop(Some(Box::new(move || {
            seen2.set(Some(s2.statistics().open_receive_channels));
            assert!(matches!(s2.try_send(OnDrop(None)), Err(TrySendError::Broken(_))));
        }))))
        .is_ok()
    );
    drop(r);
    assert_eq!(seen.get(), Some(0));
}

#[test]
fn every_failed_send_hands_its_value_back() {
    run(async {
        let (s, r) = open_memory_channel::<Box<String>>(0);
        // cancelled
        let err = in_cancelled_scope(s.send(Box::new("cancelled".into()))).await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(*err.into_inner(), "cancelled");
        // cancelled while blocked
        let scope = CancelScope::with_timeout(secs(1));
        let mut result = None;
        scope
            .run(async {
                result = Some(s.send(Box::new("timed out".into())).await);
                Ok(())
            })
            .await
            .unwrap();
        assert!(matches!(result, Some(Err(SendError::Cancelled(v))) if *v == "timed out"));
        // would block
        assert!(matches!(s.try_send(Box::new("full".into())), Err(TrySendError::WouldBlock(v)) if *v == "full"));
        // broken
        drop(r);
        assert!(matches!(s.send(Box::new("broken".into())).await, Err(SendError::Broken(v)) if *v == "broken"));
        // closed
        s.close();
        assert!(matches!(s.send(Box::new("closed".into())).await, Err(SendError::Closed(v)) if *v == "closed"));
        assert!(matches!(s.try_send(Box::new("closed".into())), Err(TrySendError::Closed(v)) if *v == "closed"));
    });
}

#[test]
fn channel_errors_travel_through_question_mark() {
    run(async {
        // A cancelled send is still a cancellation after `?`: the scope catches it.
        let (s, _r) = open_memory_channel::<String>(0);
        let scope = CancelScope::new();
        scope.cancel();
        let caught = scope
            .run(async {
                s.send("x".to_string()).await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(caught, None);
        assert!(scope.cancelled_caught());

        // Same for a receive blocked when the deadline passes.
        let (_s, r) = open_memory_channel::<String>(0);
        let caught = move_on_after(secs(1), async {
            r.recv().await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(caught, None);

        // Other errors become Trio's resource errors; the value is dropped by `?` (take it
        // back with `into_inner` first).
        let (s, r) = open_memory_channel::<String>(0);
        drop(r);
        let result: trio::Result<()> = async {
            s.send("x".to_string()).await?;
            Ok(())
        }
        .await;
        let error = result.unwrap_err();
        assert!(!error.is_cancelled());
        assert!(error.is::<trio::BrokenResource>());
        let (s, r) = open_memory_channel::<String>(0);
        drop(r);
        match s.send("x".to_string()).await {
            Err(SendError::Broken(v)) => assert_eq!(v, "x"),
            other => panic!("unexpected {other:?}"),
        }

        let (_s, r) = open_memory_channel::<String>(0);
        r.close();
        let result: trio::Result<()> = async {
            r.recv().await?;
            Ok(())
        }
        .await;
        assert_eq!(result.unwrap_err().downcast_ref::<RecvError>(), Some(&RecvError::Closed));

        // Values that cannot cross threads convert through into_error.
        let (s, r) = open_memory_channel::<Rc<u8>>(0);
        drop(r);
        let error = s.send(Rc::new(1)).await.map_err(SendError::into_error).unwrap_err();
        assert!(error.is::<trio::BrokenResource>());
    });
}

#[test]
fn error_messages_say_what_to_do() {
    let (s, r) = open_memory_channel::<u8>(0);
    assert!(s.try_send(1).unwrap_err().to_string().contains("use send() to wait"));
    assert!(r.try_recv().unwrap_err().to_string().contains("use recv() to wait"));
    s.close();
    let message = s.try_send(1).unwrap_err().to_string();
    assert!(message.starts_with("send on a closed MemorySender"), "{message}");
    let message = s.try_clone().unwrap_err().to_string();
    assert!(message.contains("clone it before closing it"), "{message}");
}

#[test]
#[should_panic(expected = "clone() called on a closed MemorySender")]
fn cloning_a_closed_sender_panics() {
    let (s, _r) = open_memory_channel::<u8>(0);
    s.close();
    let _ = s.clone();
}

#[test]
#[should_panic(expected = "clone() called on a closed MemoryReceiver")]
fn cloning_a_closed_receiver_panics() {
    let (_s, r) = open_memory_channel::<u8>(0);
    r.close();
    let _ = r.clone();
}

#[test]
fn clone_and_drop_count_handles() {
    let (s, r) = open_memory_channel::<u8>(0);
    let s2 = s.clone();
    let r2 = r.clone();
    assert_eq!(s.statistics().open_send_channels, 2);
    assert_eq!(s.statistics().open_receive_channels, 2);
    drop(s2);
    drop(r2);
    assert_eq!(s.statistics().open_send_channels, 1);
    assert_eq!(r.statistics().open_receive_channels, 1);
    assert!(format!("{s:?}").contains("MemorySender"));
    assert!(format!("{r:?}").contains("MemoryReceiver"));
}

#[test]
fn the_receiver_is_a_stream_that_reports_cancellation() {
    run(async {
        let (s, mut r) = open_memory_channel::<u32>(Capacity::Unbounded);
        for i in 0..5 {
            s.try_send(i).unwrap();
        }
        let scope = CancelScope::new();
        scope.cancel();
        let mut item = None;
        scope
            .run(async {
                item = Some(r.next().await);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(item, Some(Some(Err(RecvError::Cancelled))), "cancellation is an item, not the end");
        drop(s);
        let got: Vec<u32> = (&mut r).map(|item| item.unwrap()).collect().await;
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(r.next().await, None);
    });
}

#[test]
fn the_sender_is_a_sink_that_hands_values_back() {
    run(async {
        let (mut s, r) = open_memory_channel::<String>(1);
        SinkExt::send(&mut s, "a".to_string()).await.unwrap();
        assert_eq!(r.try_recv(), Ok(Some("a".to_string())));

        // Full channel, cancelled scope: the error carries the value.
        SinkExt::send(&mut s, "b".to_string()).await.unwrap();
        let result = in_cancelled_scope(SinkExt::send(&mut s, "c".to_string())).await;
        assert!(matches!(result, Err(SendError::Cancelled(v)) if v == "c"));

        // Closing the sink flushes and closes the handle.
        SinkExt::close(&mut s).await.unwrap();
        assert!(s.is_closed());
        assert_eq!(r.recv().await, Ok(Some("b".to_string())));
        assert_eq!(r.recv().await, Ok(None));

        let (mut s, r) = open_memory_channel::<String>(1);
        drop(r);
        assert!(matches!(SinkExt::send(&mut s, "d".to_string()).await, Err(SendError::Broken(v)) if v == "d"));
    });
}

#[test]
fn a_receive_dropped_after_a_hand_off_puts_the_value_back() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let r2 = r.try_clone().unwrap();
        {
            let mut receive = pin!(r.recv());
            assert!(poll!(receive.as_mut()).is_pending());
            assert_eq!(s.statistics().tasks_waiting_receive, 1);
            s.try_send(7).unwrap(); // handed to the parked receive ...
            assert_eq!(s.statistics().tasks_waiting_receive, 0);
        } // ... which is dropped before it returned the value
        assert_eq!(s.statistics().current_buffer_used, 1);
        assert_eq!(r2.try_recv(), Ok(Some(7)));
    });
}

#[test]
fn a_receive_dropped_during_its_final_yield_puts_the_value_back_in_front() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(2);
        s.try_send(1).unwrap();
        s.try_send(2).unwrap();
        {
            let mut receive = pin!(r.recv());
            assert!(poll!(receive.as_mut()).is_pending()); // took 1, now yielding
            assert_eq!(s.statistics().current_buffer_used, 1);
        }
        assert_eq!(r.try_recv(), Ok(Some(1)));
        assert_eq!(r.try_recv(), Ok(Some(2)));
    });
}

#[test]
fn a_send_dropped_while_blocked_sends_nothing() {
    run(async {
        let drops = Rc::new(Cell::new(0));
        let (s, r) = open_memory_channel::<DropCounter>(0);
        {
            let mut send = pin!(s.send(DropCounter(drops.clone())));
            assert!(poll!(send.as_mut()).is_pending());
            assert_eq!(s.statistics().tasks_waiting_send, 1);
        }
        assert_eq!(drops.get(), 1, "the unsent value was dropped with the future");
        assert_eq!(s.statistics().tasks_waiting_send, 0);
        assert!(matches!(r.try_recv(), Err(TryRecvError::WouldBlock)));
    });
}

#[test]
fn channels_can_be_created_outside_a_run() {
    let (s, r): (MemorySender<u8>, _) = open_memory_channel(1);
    s.try_send(1).unwrap();
    assert_eq!(r.try_recv(), Ok(Some(1)));
}

#[test]
fn sink_poll_ready_stays_pending_on_a_full_channel_until_a_receive_makes_room() {
    run(async {
        let (mut tx, rx) = open_memory_channel::<u32>(1);
        tx.try_send(1).unwrap(); // the buffer is full
        async fn ready(tx: &mut MemorySender<u32>) -> std::task::Poll<Result<(), SendError<u32>>> {
            futures::future::poll_fn(|cx| std::task::Poll::Ready(tx.poll_ready_unpin(cx))).await
        }
        assert!(ready(&mut tx).await.is_ready(), "nothing in flight yet");
        tx.start_send_unpin(2).unwrap(); // in flight, but there is no room
        assert!(ready(&mut tx).await.is_pending(), "the value in flight cannot be sent");
        assert!(ready(&mut tx).await.is_pending(), "asking again without waiting changes nothing");
        assert_eq!(rx.try_recv().unwrap(), Some(1));
        assert!(matches!(ready(&mut tx).await, std::task::Poll::Ready(Ok(()))), "room: the value went out");
        assert_eq!(rx.try_recv().unwrap(), Some(2));
    });
}

#[test]
fn the_errors_of_send_and_recv_say_what_happened() {
    run(async {
        let (tx, rx) = open_memory_channel::<u32>(0);
        let cancelled = in_cancelled_scope(tx.send(1)).await.unwrap_err();
        assert!(cancelled.is_cancelled());
        assert_eq!(cancelled.to_string(), "send was cancelled; the value was not sent and is in the error");
        let err = in_cancelled_scope(rx.recv()).await.unwrap_err();
        assert_eq!(err, RecvError::Cancelled);
        assert_eq!(err.to_string(), "receive was cancelled; nothing was taken from the channel");

        let other = tx.clone();
        tx.close();
        let closed = tx.send(2).await.unwrap_err();
        assert!(!closed.is_cancelled(), "closed is no cancellation");
        assert_eq!(closed.to_string(), "send on a closed MemorySender; send through a handle you have not closed");
        rx.close();
        let broken = other.send(3).await.unwrap_err();
        assert!(!broken.is_cancelled(), "broken is no cancellation");
        assert_eq!(
            broken.to_string(),
            "every MemoryReceiver of this channel is closed; nothing will receive the value"
        );
        let err = rx.recv().await.unwrap_err();
        assert_eq!(err.to_string(), "receive on a closed MemoryReceiver; receive through a handle you have not closed");
    });
}

#[test]
fn capacities_and_send_errors_print_what_they_are() {
    assert_eq!(Capacity::Bounded(3).to_string(), "3");
    assert_eq!(Capacity::Unbounded.to_string(), "unbounded");
    // Debug never prints the value (it need not be Debug), only the reason.
    assert_eq!(format!("{:?}", SendError::Cancelled(1)), "SendError::Cancelled(..)");
    assert_eq!(format!("{:?}", SendError::Closed(1)), "SendError::Closed(..)");
    assert_eq!(format!("{:?}", SendError::Broken(1)), "SendError::Broken(..)");
    assert_eq!(format!("{:?}", TrySendError::WouldBlock(1)), "TrySendError::WouldBlock(..)");
    assert_eq!(format!("{:?}", TrySendError::Closed(1)), "TrySendError::Closed(..)");
    assert_eq!(format!("{:?}", TrySendError::Broken(1)), "TrySendError::Broken(..)");
}
