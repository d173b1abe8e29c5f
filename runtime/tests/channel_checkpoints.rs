//! Memory channels and the checkpoint rule: `send` and `recv` checkpoint on every path that
//! returns normally, and a cancelled call has no effect on the channel.

mod sync_util;

use std::rc::Rc;
use std::time::Duration;

use sync_util::{assert_checkpoints, in_cancelled_scope, run, secs};
use trio::lowlevel::wait_all_tasks_blocked;
use trio::{RecvError, SendError, TryRecvError, move_on_after, open_memory_channel, open_nursery};

const ZERO: Duration = Duration::ZERO;

// ===== checkpoints on success =====

#[test]
fn send_into_the_buffer_checkpoints() {
    run(async {
        let (s, _r) = open_memory_channel::<u8>(1);
        assert_checkpoints(s.send(1)).await.unwrap();
    });
}

#[test]
fn send_to_a_waiting_receiver_checkpoints() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { assert_eq!(r.recv().await, Ok(Some(1))) });
            wait_all_tasks_blocked(ZERO).await?;
            assert_checkpoints(s.send(1)).await?;
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn send_that_waits_checkpoints() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_all_tasks_blocked(ZERO).await.unwrap();
                assert_eq!(r.try_recv(), Ok(Some(1)));
            });
            assert_checkpoints(s.send(1)).await?;
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn recv_from_the_buffer_checkpoints() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(1);
        s.try_send(1).unwrap();
        assert_eq!(assert_checkpoints(r.recv()).await, Ok(Some(1)));
    });
}

#[test]
fn recv_from_a_blocked_sender_checkpoints() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(s.send(1).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(assert_checkpoints(r.recv()).await, Ok(Some(1)));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn recv_that_waits_checkpoints() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_all_tasks_blocked(ZERO).await?;
                s.try_send(1).unwrap();
                Ok(())
            });
            assert_eq!(assert_checkpoints(r.recv()).await, Ok(Some(1)));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn recv_at_the_end_of_the_channel_checkpoints() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        drop(s);
        assert_eq!(assert_checkpoints(r.recv()).await, Ok(None));
    });
}

#[test]
fn recv_that_waits_for_the_end_checkpoints() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_all_tasks_blocked(ZERO).await.unwrap();
                drop(s);
            });
            assert_eq!(assert_checkpoints(r.recv()).await, Ok(None));
            Ok(())
        })
        .await
        .unwrap();
    });
}

// ===== a cancelled call has no effect =====

#[test]
fn a_cancelled_send_with_room_in_the_buffer_does_not_send() {
    run(async {
        let (s, r) = open_memory_channel::<String>(1);
        let result = in_cancelled_scope(s.send("kept".into())).await;
        assert!(matches!(result, Err(SendError::Cancelled(v)) if v == "kept"));
        assert_eq!(s.statistics().current_buffer_used, 0);
        assert_eq!(r.try_recv(), Err(TryRecvError::WouldBlock));
    });
}

#[test]
fn a_cancelled_send_does_not_reach_a_waiting_receiver() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        let r = Rc::new(r);
        let r2 = r.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { assert_eq!(r2.recv().await, Ok(Some(2))) });
            wait_all_tasks_blocked(ZERO).await?;
            let result = in_cancelled_scope(s.send(1)).await;
            assert!(matches!(result, Err(SendError::Cancelled(1))));
            assert_eq!(s.statistics().tasks_waiting_receive, 1, "the receiver still waits");
            s.send(2).await?;
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_send_cancelled_while_blocked_leaves_the_channel_unchanged() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(1);
        s.try_send(1).unwrap();
        let t0 = trio::current_time();
        let mut result = None;
        move_on_after(secs(5), async {
            result = Some(s.send(2).await);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(trio::current_time() - t0, secs(5));
        assert!(matches!(result, Some(Err(SendError::Cancelled(2)))));
        let stats = s.statistics();
        assert_eq!((stats.current_buffer_used, stats.tasks_waiting_send), (1, 0));
        assert_eq!(r.try_recv(), Ok(Some(1)));
        assert_eq!(r.try_recv(), Err(TryRecvError::WouldBlock), "the cancelled value never arrives");
    });
}

#[test]
fn a_cancelled_recv_takes_nothing() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(1);
        s.try_send(1).unwrap();
        assert_eq!(in_cancelled_scope(r.recv()).await, Err(RecvError::Cancelled));
        assert_eq!(s.statistics().current_buffer_used, 1);
        assert_eq!(r.try_recv(), Ok(Some(1)));
    });
}

#[test]
fn a_cancelled_recv_does_not_release_a_blocked_sender() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        let s = Rc::new(s);
        let s2 = s.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(s2.send(1).await?) });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(in_cancelled_scope(r.recv()).await, Err(RecvError::Cancelled));
            assert_eq!(s.statistics().tasks_waiting_send, 1, "the sender still waits");
            assert_eq!(r.recv().await?, Some(1));
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_recv_cancelled_while_blocked_gets_nothing_later() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        let r = Rc::new(r);
        let r2 = r.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut result = None;
                move_on_after(secs(1), async {
                    result = Some(r2.recv().await);
                    Ok(())
                })
                .await
                .unwrap();
                assert_eq!(result, Some(Err(RecvError::Cancelled)));
            });
            wait_all_tasks_blocked(ZERO).await?;
            assert_eq!(s.statistics().tasks_waiting_receive, 1);
            trio::sleep(secs(2)).await?; // the receive times out
            assert_eq!(s.statistics().tasks_waiting_receive, 0);
            assert!(s.try_send(5).is_err(), "no receiver is waiting any more");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_cancelled_recv_at_the_end_of_the_channel_is_cancelled() {
    run(async {
        let (s, r) = open_memory_channel::<u8>(0);
        drop(s);
        assert_eq!(in_cancelled_scope(r.recv()).await, Err(RecvError::Cancelled));
        assert_eq!(r.recv().await, Ok(None));
    });
}
