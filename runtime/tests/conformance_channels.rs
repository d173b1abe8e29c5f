//! Memory channels checked against Trio's rules beyond those of `test_channel.py` that
//! `channel_basics.rs` already ports: rendezvous and buffer timing, FIFO service across clones
//! and around cancelled waiters, closing clones while other tasks are blocked, outcomes that a
//! hand-off fixes before a later cancel or close, the order of the cancellation check, handle
//! counting, and the schedule point in every send and receive.

mod sync_util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use sync_util::{in_cancelled_scope, run, secs};
use trio::lowlevel::wait_all_tasks_blocked;
use trio::{
    CancelScope, Capacity, RecvError, SendError, TryRecvError, TrySendError, current_time, move_on_after,
    open_memory_channel, open_nursery, sleep,
};

const ZERO: Duration = Duration::ZERO;

/// Runs `future` in `scope` and returns its output (`None` if the scope caught a cancellation
/// before the body finished).
async fn in_scope<F: std::future::Future>(scope: CancelScope, future: F) -> Option<F::Output> {
    let mut output = None;
    scope
        .run(async {
            output = Some(future.await);
            Ok(())
        })
        .await
        .expect("the body returns Ok");
    output
}

// ===== rendezvous and buffering =====

#[test]
fn a_rendezvous_send_returns_only_once_a_receiver_has_taken_the_value() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let sent_at = Rc::new(Cell::new(None));
        let (sent_at2, sent_at3) = (sent_at.clone(), sent_at.clone());
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                s.send(1).await?;
                sent_at2.set(Some(current_time()));
                Ok(())
            });
            sleep(secs(5)).await?;
            assert_eq!(sent_at3.get(), None, "nobody has received yet");
            assert_eq!(r.recv().await?, Some(1));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(sent_at.get().unwrap().since_zero(), secs(5));
    });
}

#[test]
fn a_rendezvous_receive_waits_for_a_sender() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                sleep(secs(3)).await?;
                s.send(9).await?;
                Ok(())
            });
            assert_eq!(r.recv().await?, Some(9));
            assert_eq!(current_time().since_zero(), secs(3));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_blocked_rendezvous_sender_holds_its_value_outside_the_buffer() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(s.send(4).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            let stats = r.statistics();
            assert_eq!(stats.max_buffer_size, Capacity::Bounded(0));
            assert_eq!(stats.current_buffer_used, 0);
            assert_eq!(stats.tasks_waiting_send, 1);
            assert_eq!(r.try_recv(), Ok(Some(4)));
            let stats = r.statistics();
            assert_eq!((stats.current_buffer_used, stats.tasks_waiting_send, stats.peak_buffer_used), (0, 0, 0));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_send_beyond_the_buffer_waits_until_a_receive_frees_a_slot() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(2);
        let r = Rc::new(r);
        let r2 = r.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                sleep(secs(4)).await?;
                assert_eq!(r2.recv().await?, Some(0));
                Ok(())
            });
            s.send(0).await?;
            s.send(1).await?;
            assert_eq!(current_time().since_zero(), ZERO, "two values fit in the buffer");
            s.send(2).await?;
            assert_eq!(current_time().since_zero(), secs(4), "the third waited for a receive");
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(r.try_recv(), Ok(Some(1)));
        assert_eq!(r.try_recv(), Ok(Some(2)));
    });
}

#[test]
fn a_value_for_a_waiting_receiver_bypasses_the_buffer_at_any_capacity() {
    for capacity in [Capacity::Bounded(1), Capacity::Bounded(3), Capacity::Unbounded] {
        run(async {
            let (s, r) = open_memory_channel::<u32>(capacity);
            open_nursery(|nursery| async move {
                let stats = s.statistics();
                nursery.start_soon(async move { assert_eq!(r.recv().await, Ok(Some(1))) });
                wait_all_tasks_blocked(ZERO).await?;
                assert_eq!(s.statistics().tasks_waiting_receive, 1);
                s.try_send(1).unwrap();
                let after = s.statistics();
                assert_eq!(after.tasks_waiting_receive, 0, "{capacity}: handed over at once");
                assert_eq!(after.current_buffer_used, 0, "{capacity}: never entered the buffer");
                assert_eq!(after.peak_buffer_used, stats.peak_buffer_used);
                Ok(())
            })
            .await
            .unwrap();
        });
    }
}

// ===== FIFO service =====

#[test]
fn blocked_senders_on_different_clones_are_served_in_arrival_order() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let senders: Vec<_> = (0..3).map(|_| s.try_clone().unwrap()).collect();
        drop(s);
        open_nursery(|nursery| async move {
            // Arrival order 0, 1, 2, 3, 4, 5 over clones 0, 1, 2, 0, 1, 2.
            for value in 0..6 {
                let s = senders[value as usize % 3].try_clone()?;
                nursery.start_soon(async move { Ok(s.send(value).await?) });
                wait_all_tasks_blocked(ZERO).await?;
            }
            drop(senders);
            assert_eq!(r.statistics().tasks_waiting_send, 6);
            for value in 0..6 {
                assert_eq!(r.recv().await?, Some(value));
            }
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn blocked_receivers_on_different_clones_are_served_in_arrival_order() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let order = Rc::new(RefCell::new(Vec::new()));
        let order2 = order.clone();
        open_nursery(|nursery| async move {
            let receivers: Vec<_> = (0..3).map(|_| r.try_clone().unwrap()).collect();
            drop(r);
            for task in 0..6 {
                let (r, order) = (receivers[task % 3].try_clone()?, order2.clone());
                nursery.start_soon(async move {
                    let value = r.recv().await?.unwrap();
                    order.borrow_mut().push((task, value));
                    Ok(())
                });
                wait_all_tasks_blocked(ZERO).await?;
            }
            assert_eq!(s.statistics().tasks_waiting_receive, 6);
            for value in 100..106 {
                s.send(value).await?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let mut order = order.borrow().clone();
        order.sort();
        assert_eq!(order, (0..6).map(|task| (task, 100 + task as u32)).collect::<Vec<_>>());
    });
}

#[test]
fn a_sender_cancelled_in_the_queue_leaves_the_others_in_order() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let s = Rc::new(s);
        let scopes: Vec<CancelScope> = (0..4).map(|_| CancelScope::new()).collect();
        let cancelled = Rc::new(Cell::new(None));
        let cancelled2 = cancelled.clone();
        let scope1 = scopes[1].clone();
        open_nursery(|nursery| async move {
            for (value, scope) in scopes.into_iter().enumerate() {
                let (s, cancelled) = (s.clone(), cancelled2.clone());
                nursery.start_soon(async move {
                    if let Some(Err(err)) = in_scope(scope, s.send(value as u32)).await {
                        cancelled.set(Some(err.into_inner()));
                    }
                });
                wait_all_tasks_blocked(ZERO).await?;
            }
            scope1.cancel();
            assert_eq!(r.statistics().tasks_waiting_send, 3, "the cancelled sender left the queue at once");
            assert_eq!(r.recv().await?, Some(0));
            assert_eq!(r.recv().await?, Some(2));
            assert_eq!(r.recv().await?, Some(3));
            assert_eq!(r.try_recv(), Err(TryRecvError::WouldBlock));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(cancelled.get(), Some(1), "the cancelled send handed its own value back");
    });
}

#[test]
fn a_receiver_cancelled_in_the_queue_leaves_the_others_in_order() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let r = Rc::new(r);
        let got = Rc::new(RefCell::new(Vec::new()));
        let got2 = got.clone();
        let scopes: Vec<CancelScope> = (0..4).map(|_| CancelScope::new()).collect();
        let scope2 = scopes[2].clone();
        open_nursery(|nursery| async move {
            for (task, scope) in scopes.into_iter().enumerate() {
                let (r, got) = (r.clone(), got2.clone());
                nursery.start_soon(async move {
                    let outcome = in_scope(scope, r.recv()).await;
                    got.borrow_mut().push((task, outcome));
                });
                wait_all_tasks_blocked(ZERO).await?;
            }
            scope2.cancel();
            assert_eq!(s.statistics().tasks_waiting_receive, 3);
            for value in 10..13 {
                s.try_send(value).unwrap();
            }
            assert_eq!(s.statistics().current_buffer_used, 0, "all three went to waiting receivers");
            Ok(())
        })
        .await
        .unwrap();
        let mut got = got.borrow().clone();
        got.sort_by_key(|(task, _)| *task);
        assert_eq!(
            got,
            [
                (0, Some(Ok(Some(10)))),
                (1, Some(Ok(Some(11)))),
                (2, Some(Err(RecvError::Cancelled))),
                (3, Some(Ok(Some(12)))),
            ]
        );
    });
}

// ===== closing while others are blocked =====

#[test]
fn closing_a_sender_clone_withdraws_only_its_own_blocked_values() {
    run(async {
        let (s1, r) = open_memory_channel::<&str>(1);
        let s2 = s1.try_clone().unwrap();
        s1.try_send("buffered").unwrap();
        let s1 = Rc::new(s1);
        let s1b = s1.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert!(matches!(s1b.send("from s1").await, Err(SendError::Closed("from s1"))));
            });
            wait_all_tasks_blocked(ZERO).await?;
            nursery.start_soon(async move { Ok(s2.send("from s2").await?) });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(r.statistics().tasks_waiting_send, 2);
            s1.close();
            assert_eq!(r.statistics().tasks_waiting_send, 1, "the close took effect before anyone ran");
            assert_eq!(r.statistics().open_send_channels, 1);
            assert_eq!(r.recv().await?, Some("buffered"));
            assert_eq!(r.recv().await?, Some("from s2"));
            assert_eq!(r.recv().await?, None, "s2 closed when its task ended");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn closing_the_last_sender_fails_its_blocked_send_but_keeps_the_buffer() {
    run(async {
        let (s, r) = open_memory_channel::<&str>(1);
        s.try_send("buffered").unwrap();
        let s = Rc::new(s);
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert!(matches!(s2.send("blocked").await, Err(SendError::Closed("blocked"))));
            });
            wait_all_tasks_blocked(ZERO).await?;
            s.close();
            let stats = r.statistics();
            assert_eq!((stats.open_send_channels, stats.tasks_waiting_send, stats.current_buffer_used), (0, 0, 1));
            assert_eq!(r.recv().await?, Some("buffered"));
            assert_eq!(r.recv().await?, None, "the blocked value was never delivered");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn closing_the_last_sender_ends_receivers_blocked_on_every_clone() {
    run(async {
        let (s1, r) = open_memory_channel::<u32>(0);
        let s2 = s1.try_clone().unwrap();
        let ended = Rc::new(Cell::new(0));
        let ended2 = ended.clone();
        open_nursery(|nursery| async move {
            for _ in 0..3 {
                let (r, ended) = (r.try_clone()?, ended2.clone());
                nursery.start_soon(async move {
                    assert_eq!(r.recv().await, Ok(None));
                    ended.set(ended.get() + 1);
                });
            }
            drop(r);
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(s1.statistics().tasks_waiting_receive, 3);
            s1.close();
            assert_eq!(s2.statistics().tasks_waiting_receive, 3, "s2 is still open");
            s2.close();
            assert_eq!(s2.statistics().tasks_waiting_receive, 0, "all woken by the last close");
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(ended.get(), 3);
    });
}

#[test]
fn closing_the_last_receiver_breaks_senders_blocked_on_every_clone() {
    run(async {
        let (s, r1) = open_memory_channel::<u32>(0);
        let r2 = r1.try_clone().unwrap();
        let broken = Rc::new(RefCell::new(Vec::new()));
        let broken2 = broken.clone();
        open_nursery(|nursery| async move {
            for value in 0..3 {
                let (s, broken) = (s.try_clone()?, broken2.clone());
                nursery.start_soon(async move {
                    match s.send(value).await {
                        Err(SendError::Broken(v)) => broken.borrow_mut().push(v),
                        _ => panic!("expected Broken"),
                    }
                });
            }
            wait_all_tasks_blocked(ZERO).await?;
            r1.close();
            assert_eq!(s.statistics().tasks_waiting_send, 3, "r2 is still open");
            r2.close();
            assert_eq!(s.statistics().tasks_waiting_send, 0, "all woken by the last close");
            Ok(())
        })
        .await
        .unwrap();
        let mut broken = broken.borrow().clone();
        broken.sort();
        assert_eq!(broken, [0, 1, 2], "each blocked send handed back its own value");
    });
}

#[test]
fn closing_a_receiver_clone_leaves_blocked_senders_for_the_others() {
    run(async {
        let (s, r1) = open_memory_channel::<u32>(0);
        let r2 = r1.try_clone().unwrap();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(s.send(5).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            r1.close();
            assert_eq!(r2.statistics().tasks_waiting_send, 1);
            assert_eq!(r2.recv().await?, Some(5));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_closed_receiver_handle_fails_even_with_values_buffered() {
    run(async {
        let (s, r1) = open_memory_channel::<u32>(2);
        let r2 = r1.try_clone().unwrap();
        s.try_send(1).unwrap();
        s.try_send(2).unwrap();
        r1.close();
        assert_eq!(r1.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(r1.recv().await, Err(RecvError::Closed));
        assert_eq!(r2.statistics().current_buffer_used, 2, "the values wait for the open clone");
        assert_eq!(r2.try_recv(), Ok(Some(1)));
        assert_eq!(r2.recv().await, Ok(Some(2)));
    });
}

#[test]
fn a_closed_receiver_stream_reports_closed_not_the_end() {
    run(async {
        let (_s, mut r) = open_memory_channel::<u32>(1);
        r.close();
        assert_eq!(r.next().await, Some(Err(RecvError::Closed)));
    });
}

#[test]
fn a_cancelled_producer_closes_its_clone_as_it_unwinds() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let got = open_nursery(|nursery| async move {
            let stuck = s.try_clone()?;
            nursery.start_soon(async move {
                let outcome = move_on_after(secs(5), async move {
                    stuck.send(999).await?;
                    Ok(())
                })
                .await?;
                assert_eq!(outcome, None, "nobody received in time");
                Ok(())
            });
            nursery.start_soon(async move {
                sleep(secs(10)).await?;
                for value in 0..3 {
                    s.send(value).await?;
                }
                Ok(())
            });
            sleep(secs(6)).await?;
            assert_eq!(r.statistics().open_send_channels, 1, "the timed-out producer's clone is closed");
            let mut got = Vec::new();
            while let Some(value) = r.recv().await? {
                got.push(value);
            }
            Ok(Some(got))
        })
        .await
        .unwrap();
        assert_eq!(got, Some(vec![0, 1, 2]));
    });
}

// ===== a hand-off fixes the outcome =====

#[test]
fn a_value_handed_to_a_blocked_receiver_survives_a_later_cancel() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let scope = CancelScope::new();
        let handle = scope.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert_eq!(in_scope(scope, r.recv()).await, Some(Ok(Some(7))));
            });
            wait_all_tasks_blocked(ZERO).await?;
            s.try_send(7).unwrap();
            handle.cancel(); // before the receiver has run again
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_value_taken_from_a_blocked_sender_counts_as_sent_despite_a_later_cancel() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let scope = CancelScope::new();
        let handle = scope.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let outcome = in_scope(scope, s.send(7)).await;
                assert!(matches!(outcome, Some(Ok(()))), "the value was received, so the send succeeded");
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(r.try_recv(), Ok(Some(7)));
            handle.cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_value_taken_from_a_blocked_sender_counts_as_sent_even_if_its_handle_closes_next() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let s = Rc::new(s);
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert!(matches!(s2.send(3).await, Ok(())));
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(r.try_recv(), Ok(Some(3)));
            s.close();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_value_handed_to_a_blocked_receiver_survives_closing_its_handle_next() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let r = Rc::new(r);
        let r2 = r.clone();
        let keep_open = r.try_clone().unwrap();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert_eq!(r2.recv().await, Ok(Some(3)));
            });
            wait_all_tasks_blocked(ZERO).await?;
            s.try_send(3).unwrap();
            r.close();
            Ok(())
        })
        .await
        .unwrap();
        // The sender is gone too by now: nothing was put back, so the channel simply ends.
        assert_eq!(keep_open.try_recv(), Ok(None), "delivered once, not put back");
    });
}

#[test]
fn the_end_of_the_channel_wins_over_a_later_cancel() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let scope = CancelScope::new();
        let handle = scope.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert_eq!(in_scope(scope, r.recv()).await, Some(Ok(None)));
            });
            wait_all_tasks_blocked(ZERO).await?;
            s.close();
            handle.cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_close_wins_over_a_later_cancel() {
    run(async {
        let (s, _r) = open_memory_channel::<u32>(0);
        let s = Rc::new(s);
        let s2 = s.clone();
        let scope = CancelScope::new();
        let handle = scope.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let outcome = in_scope(scope, s2.send(1)).await;
                assert!(matches!(outcome, Some(Err(SendError::Closed(1)))));
            });
            wait_all_tasks_blocked(ZERO).await?;
            s.close();
            handle.cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_broken_channel_wins_over_closing_the_blocked_senders_handle_next() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let s = Rc::new(s);
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert!(matches!(s2.send(1).await, Err(SendError::Broken(1))));
            });
            wait_all_tasks_blocked(ZERO).await?;
            r.close();
            s.close();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_closed_receive_stays_closed_when_the_last_sender_closes_next() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(0);
        let r = Rc::new(r);
        let r2 = r.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert_eq!(r2.recv().await, Err(RecvError::Closed));
            });
            wait_all_tasks_blocked(ZERO).await?;
            r.close();
            s.close();
            Ok(())
        })
        .await
        .unwrap();
    });
}

// ===== the cancellation check comes first =====

#[test]
fn a_cancelled_scope_is_reported_before_a_closed_or_broken_channel() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(1);
        let s2 = s.try_clone().unwrap();
        s.close();
        assert!(matches!(in_cancelled_scope(s.send(1)).await, Err(SendError::Cancelled(1))));
        r.close();
        assert!(matches!(in_cancelled_scope(s2.send(2)).await, Err(SendError::Cancelled(2))));
        assert_eq!(in_cancelled_scope(r.recv()).await, Err(RecvError::Cancelled));
        // Outside the cancelled scope the same calls fail for the channel's reason.
        assert!(matches!(s.send(1).await, Err(SendError::Closed(1))));
        assert!(matches!(s2.send(2).await, Err(SendError::Broken(2))));
        assert_eq!(r.recv().await, Err(RecvError::Closed));
    });
}

// ===== handles and statistics =====

#[test]
fn closing_twice_or_dropping_after_close_counts_a_handle_once() {
    let (s, r) = open_memory_channel::<u32>(0);
    let (s2, r2) = (s.try_clone().unwrap(), r.try_clone().unwrap());
    s2.close();
    s2.close();
    r2.close();
    r2.close();
    assert_eq!((s.statistics().open_send_channels, s.statistics().open_receive_channels), (1, 1));
    drop(s2);
    drop(r2);
    assert_eq!((s.statistics().open_send_channels, s.statistics().open_receive_channels), (1, 1));
    assert!(matches!(s.try_send(1), Err(TrySendError::WouldBlock(1))), "still open, not broken");
    assert_eq!(r.try_recv(), Err(TryRecvError::WouldBlock), "still open, not ended");
}

#[test]
fn a_closed_handle_still_reports_the_channels_statistics() {
    let (s, r) = open_memory_channel::<u32>(3);
    let s2 = s.try_clone().unwrap();
    s.try_send(1).unwrap();
    s.close();
    let stats = s.statistics();
    assert_eq!(stats, s2.statistics());
    assert_eq!((stats.current_buffer_used, stats.open_send_channels, stats.open_receive_channels), (1, 1, 1));
    r.close();
    assert_eq!(r.statistics().open_receive_channels, 0);
    assert_eq!(r.statistics().current_buffer_used, 0);
}

#[test]
fn clones_made_after_the_other_side_closed_see_the_end_or_a_broken_channel() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(1);
        s.try_send(1).unwrap();
        drop(s);
        let late = r.try_clone().unwrap();
        assert_eq!(late.statistics().open_receive_channels, 2);
        assert_eq!(late.recv().await, Ok(Some(1)));
        assert_eq!(late.recv().await, Ok(None));
        assert_eq!(r.recv().await, Ok(None), "the end is reported again to every clone");
        assert_eq!(r.try_recv(), Ok(None));

        let (s, r) = open_memory_channel::<u32>(1);
        drop(r);
        let late = s.try_clone().unwrap();
        assert_eq!(late.statistics().open_send_channels, 2);
        assert!(matches!(late.send(2).await, Err(SendError::Broken(2))));
        assert!(matches!(late.try_send(3), Err(TrySendError::Broken(3))));
    });
}

// ===== every send and receive is a schedule point =====

#[test]
fn a_consumer_keeps_up_with_a_producer_on_an_unbounded_channel() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(Capacity::Unbounded);
        let r = Rc::new(r);
        let r2 = r.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut expected = 0;
                while let Some(value) = r2.recv().await? {
                    assert_eq!(value, expected);
                    expected += 1;
                }
                assert_eq!(expected, 100);
                Ok(())
            });
            wait_all_tasks_blocked(ZERO).await?;
            for value in 0..100 {
                s.send(value).await?; // never blocks, but lets the consumer run
            }
            Ok(())
        })
        .await
        .unwrap();
        let peak = r.statistics().peak_buffer_used;
        assert!(peak <= 2, "the buffer grew to {peak}: a send that never yields starves the consumer");
    });
}

#[test]
fn a_consumer_draining_a_full_buffer_lets_other_tasks_run_between_receives() {
    run(async {
        let (s, r) = open_memory_channel::<u32>(Capacity::Unbounded);
        for value in 0..50 {
            s.try_send(value).unwrap();
        }
        drop(s);
        let ticks = Rc::new(Cell::new(0));
        let done = Rc::new(Cell::new(false));
        let (ticks2, done2) = (ticks.clone(), done.clone());
        let ticks_while_draining = open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                while !done2.get() {
                    trio::checkpoint().await?;
                    ticks2.set(ticks2.get() + 1);
                }
                Ok(())
            });
            let mut count = 0;
            while r.recv().await?.is_some() {
                count += 1;
            }
            assert_eq!(count, 50);
            done.set(true);
            Ok(Some(ticks.get()))
        })
        .await
        .unwrap()
        .unwrap();
        assert!(ticks_while_draining >= 25, "the other task ran only {ticks_while_draining} times during 50 receives");
    });
}
