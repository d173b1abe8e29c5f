//! The reactor: `wait_readable`, `wait_writable`, `notify_closing` on real descriptors (Unix
//! socket pairs), their Trio rules (busy, closed, cancellable, checkpoints), wakes from other
//! threads while the loop waits in the poller, reports that name the descriptor, and the mock
//! clock's rule that a pending OS wait is a wait outside the runtime.

#![cfg(unix)]

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use trio::lowlevel::{notify_closing, notify_not_readable, set_fd_label, wait_readable, wait_writable};
use trio::{BusyResource, Cancelled, ClosedResource, RunErrorKind};
use trio_testkit::{MockClock, assert_checkpoints};

/// A non-blocking socket pair.
fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A bounded run on the real clock: a broken reactor fails with the watchdog, never hangs.
fn run<F: std::future::Future>(future: F) -> F::Output {
    trio::Builder::new().watchdog(Duration::from_secs(20)).run(future)
}

/// Lets freshly started tasks run up to their first wait. (Not `wait_all_tasks_blocked`:
/// it rightly waits until no task waits on the OS.)
async fn let_others_run() -> Result<(), Cancelled> {
    for _ in 0..3 {
        trio::lowlevel::checkpoint().await?;
    }
    Ok(())
}

/// An instrument that hands the timeout of every idle wait to a closure.
struct OnIoWait<F: Fn(Option<Duration>)>(F);

impl<F: Fn(Option<Duration>)> trio::abc::Instrument for OnIoWait<F> {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        (self.0)(timeout);
    }
}

#[test]
fn wait_readable_returns_once_data_arrives() {
    run(async {
        let (mut a, mut b) = pair();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_readable(&b).await?;
                let mut buf = [0; 8];
                assert_eq!(b.read(&mut buf).unwrap(), 3);
                assert_eq!(&buf[..3], b"abc");
                Ok(())
            });
            let_others_run().await?;
            a.write_all(b"abc").unwrap();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn data_already_there_is_reported_at_once_even_after_an_earlier_event() {
    run(async {
        let (mut a, b) = pair();
        a.write_all(b"x").unwrap();
        // Not read in between: the descriptor stays readable (level-triggered meaning), so
        // every wait returns, although the poller reports only one edge.
        for _ in 0..3 {
            wait_readable(&b).await.unwrap();
        }
    });
}

#[test]
fn a_partial_read_still_leaves_the_descriptor_readable() {
    run(async {
        let (mut a, mut b) = pair();
        a.write_all(b"0123456789").unwrap();
        let mut got = Vec::new();
        while got.len() < 10 {
            wait_readable(&b).await.unwrap();
            let mut byte = [0; 1];
            match b.read(&mut byte) {
                Ok(n) => got.extend_from_slice(&byte[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => notify_not_readable(&b),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, b"0123456789");
    });
}

#[test]
fn the_would_block_hint_waits_for_the_next_edge() {
    run(async {
        let (mut a, mut b) = pair();
        let (tx, rx) = mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            rx.recv().unwrap();
            a.write_all(b"late").unwrap();
            a
        });
        assert!(b.read(&mut [0; 4]).is_err());
        notify_not_readable(&b);
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_readable(&b).await?;
                let mut buf = [0; 4];
                assert_eq!(b.read(&mut buf).unwrap(), 4);
                Ok(())
            });
            let_others_run().await?;
            tx.send(()).unwrap();
            Ok(())
        })
        .await
        .unwrap();
        drop(writer.join().unwrap());
    });
}

#[test]
fn wait_writable_returns_when_the_send_buffer_has_room_again() {
    run(async {
        let (a, mut b) = pair();
        let mut a = a;
        // Fill the send buffer.
        let chunk = [7u8; 65536];
        let mut sent = 0usize;
        loop {
            match a.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        trio::lowlevel::notify_not_writable(&a);
        let drained = Rc::new(RefCell::new(0usize));
        let count = drained.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_writable(&a).await?;
                Ok(())
            });
            let_others_run().await?;
            let mut buf = vec![0u8; 1 << 20];
            while *count.borrow() < sent {
                match b.read(&mut buf) {
                    Ok(n) => *count.borrow_mut() += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        notify_not_readable(&b);
                        wait_readable(&b).await?;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Ok(())
        })
        .await
        .unwrap();
        assert!(*drained.borrow() >= sent);
    });
}

#[test]
fn a_second_reader_of_one_descriptor_is_busy_and_the_first_is_unharmed() {
    run(async {
        let (mut a, b) = pair();
        let b = Rc::new(b);
        trio::open_nursery(|nursery| async move {
            let first = b.clone();
            nursery.start_soon(async move {
                wait_readable(&*first).await?;
                Ok(())
            });
            let_others_run().await?;
            let err = wait_readable(&*b).await.unwrap_err();
            let busy = err.downcast_ref::<BusyResource>().expect("BusyResource");
            assert!(busy.to_string().contains("already waiting"), "{busy}");
            // A writer in the other direction is fine.
            wait_writable(&*b).await?;
            a.write_all(b"!").unwrap();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn notify_closing_wakes_waiters_in_both_directions_with_closed_resource() {
    run(async {
        let (a, _b) = pair();
        let a = Rc::new(a);
        // Fill the send buffer so a writer blocks too.
        {
            let mut w = &*a;
            while w.write(&[0u8; 65536]).is_ok() {}
        }
        trio::lowlevel::notify_not_writable(&*a);
        let outcomes = Rc::new(RefCell::new(Vec::new()));
        trio::open_nursery(|nursery| {
            let (a, outcomes) = (a.clone(), outcomes.clone());
            async move {
                for writing in [false, true] {
                    let (a, outcomes) = (a.clone(), outcomes.clone());
                    nursery.start_soon(async move {
                        let result = if writing { wait_writable(&*a).await } else { wait_readable(&*a).await };
                        let err = result.unwrap_err();
                        outcomes.borrow_mut().push(err.downcast_ref::<ClosedResource>().is_some());
                    });
                }
                let_others_run().await?;
                notify_closing(&*a);
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(*outcomes.borrow(), [true, true]);
        // The descriptor can be waited on again afterwards (registered anew).
        wait_writable(&_b).await.unwrap();
    });
}

#[test]
fn a_cancelled_wait_loses_nothing_and_frees_the_descriptor_for_the_next_waiter() {
    run(async {
        let (mut a, mut b) = pair();
        let outcome = trio::move_on_after(Duration::from_millis(5), async {
            wait_readable(&b).await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(outcome, None, "cancelled by the timeout");
        // Not busy: the cancelled wait withdrew.
        a.write_all(b"z").unwrap();
        wait_readable(&b).await.unwrap();
        let mut buf = [0; 1];
        assert_eq!(b.read(&mut buf).unwrap(), 1);
    });
}

#[test]
fn a_wait_in_a_cancelled_scope_fails_at_once_with_cancelled() {
    run(async {
        let (a, _b) = pair();
        let scope = trio::CancelScope::new();
        scope.cancel();
        let result = scope
            .run(async {
                let err = wait_writable(&a).await.unwrap_err();
                assert!(err.downcast_ref::<Cancelled>().is_some() || err.is_cancelled());
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(result, Some(()));
    });
}

#[test]
fn waits_are_checkpoints() {
    run(async {
        let (a, _b) = pair();
        assert_checkpoints(wait_writable(&a)).await.unwrap();
    });
}

#[test]
fn a_descriptor_the_poller_cannot_watch_is_an_os_error() {
    run(async {
        let file = std::fs::File::open("Cargo.toml").unwrap();
        let err = wait_readable(&file).await.unwrap_err();
        let os = err.downcast_ref::<std::io::Error>().expect("the poller's error");
        assert_eq!(os.raw_os_error(), Some(libc_eperm()));
    });
}

/// `EPERM`, which epoll gives for regular files.
fn libc_eperm() -> i32 {
    1
}

#[test]
fn a_wake_from_another_thread_interrupts_the_poller() {
    run(async {
        let (_a, b) = pair();
        trio::open_nursery(|nursery| async move {
            // Makes the reactor and keeps the loop in the poller.
            nursery.start_soon(async move {
                wait_readable(&b).await.ok();
            });
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            std::thread::spawn(move || tx.send(5).unwrap());
            assert_eq!(trio::cancellable(rx).await?.unwrap(), 5);
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn reports_name_the_descriptor_and_its_label() {
    let err = trio::Builder::new()
        .watchdog(Duration::from_millis(100))
        .try_run(async {
            let (a, _b) = pair();
            let fd = std::os::fd::AsRawFd::as_raw_fd(&a);
            set_fd_label(&a, move || format!("test socket {fd}"));
            wait_readable(&a).await.ok();
        })
        .unwrap_err();
    assert!(matches!(err.kind(), RunErrorKind::Watchdog(_)));
    let text = err.to_string();
    assert!(text.contains("wait_readable on fd "), "{text}");
    assert!(text.contains("(test socket "), "{text}");
}

#[test]
fn a_pending_os_wait_is_no_deadlock() {
    // Nothing will ever arrive, but the run cannot know that: it waits (here until the
    // watchdog), it does not call it a deadlock.
    let err = trio::Builder::new()
        .watchdog(Duration::from_millis(50))
        .try_run(async {
            let (a, _b) = pair();
            wait_readable(&a).await.ok();
        })
        .unwrap_err();
    assert!(matches!(err.kind(), RunErrorKind::Watchdog(_)), "{err}");
}

/// On an autojump clock, a task blocked in the poller is a wait outside the runtime: the loop
/// waits for the OS instead of jumping the clock. The peer writes as soon as the loop starts
/// its first idle wait, so the reader finishes at virtual time zero; had the loop jumped, the
/// sleeper would have finished first and the first wait's timeout would be the threshold.
#[test]
fn autojump_does_not_jump_while_an_os_wait_is_pending() {
    let (mut a, b) = pair();
    let (tx, rx) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        rx.recv().unwrap();
        a.write_all(b"now").unwrap();
        a
    });
    let timeouts = Rc::new(RefCell::new(Vec::new()));
    let seen = timeouts.clone();
    let tx = RefCell::new(Some(tx));
    let order = trio::Builder::new()
        .clock(MockClock::autojump())
        .watchdog(Duration::from_secs(20))
        .instrument(OnIoWait(move |timeout| {
            seen.borrow_mut().push(timeout);
            if let Some(tx) = tx.borrow_mut().take() {
                tx.send(()).unwrap();
            }
        }))
        .run(async move {
            let order = Rc::new(RefCell::new(Vec::new()));
            let log = order.clone();
            trio::open_nursery(|nursery| async move {
                let reader_log = log.clone();
                nursery.start_soon(async move {
                    wait_readable(&b).await?;
                    reader_log.borrow_mut().push(("reader", trio::current_time()));
                    Ok(())
                });
                trio::sleep(Duration::from_secs(10)).await?;
                log.borrow_mut().push(("sleeper", trio::current_time()));
                Ok(())
            })
            .await
            .unwrap();
            order.take()
        });
    drop(writer.join().unwrap());
    assert_eq!(order, [("reader", trio::Instant::ZERO), ("sleeper", trio::Instant::from_secs(10))]);
    let first = timeouts.borrow()[0];
    assert!(first.is_none_or(|t| t > Duration::from_secs(1)), "the first wait was an autojump: {first:?}");
}

/// Likewise `wait_all_tasks_blocked` does not wake while a task waits in the poller.
#[test]
fn wait_all_tasks_blocked_waits_for_pending_os_waits() {
    let (mut a, b) = pair();
    let (tx, rx) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        rx.recv().unwrap();
        a.write_all(b"now").unwrap();
        a
    });
    let timeouts = Rc::new(RefCell::new(Vec::new()));
    let seen = timeouts.clone();
    let tx = RefCell::new(Some(tx));
    let order = trio::Builder::new()
        .clock(MockClock::new())
        .watchdog(Duration::from_secs(20))
        .instrument(OnIoWait(move |timeout| {
            seen.borrow_mut().push(timeout);
            if let Some(tx) = tx.borrow_mut().take() {
                tx.send(()).unwrap();
            }
        }))
        .run(async move {
            let order = Rc::new(RefCell::new(Vec::new()));
            let log = order.clone();
            trio::open_nursery(|nursery| async move {
                let reader_log = log.clone();
                nursery.start_soon(async move {
                    trio::lowlevel::checkpoint().await?;
                    wait_readable(&b).await?;
                    reader_log.borrow_mut().push("reader");
                    Ok(())
                });
                trio::lowlevel::checkpoint().await?;
                trio::lowlevel::checkpoint().await?;
                trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
                log.borrow_mut().push("idle");
                Ok(())
            })
            .await
            .unwrap();
            order.take()
        });
    drop(writer.join().unwrap());
    assert_eq!(order, ["reader", "idle"]);
    let first = timeouts.borrow()[0];
    assert!(
        first.is_none_or(|t| t > Duration::from_secs(1)),
        "the first wait was primed for the idle waiter: {first:?}"
    );
}

#[test]
fn current_statistics_count_an_os_wait_as_external() {
    run(async {
        let (a, _b) = pair();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_readable(&a).await.ok();
            });
            trio::lowlevel::checkpoint().await?;
            trio::lowlevel::checkpoint().await?;
            assert_eq!(trio::lowlevel::current_statistics().external_waits, 1);
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}
