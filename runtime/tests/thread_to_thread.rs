//! `to_thread::run_sync`: the result comes back, a panic resumes in the caller, the limiter
//! bounds the threads, cancellation follows Trio (ignored by default, abandons with
//! `abandon_on_cancel`), threads are named and cached, and a running job is a wait outside the
//! runtime (no autojump, no `wait_all_tasks_blocked` wake-up; reports name it).
//!
//! Threads are ordered with channels, never with sleeps; every run is bounded by a watchdog.

use std::cell::RefCell;
use std::future::IntoFuture;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use futures::channel::oneshot;
use trio::abc::Instrument;
use trio::{Builder, CancelScope, CancelSource, CapacityLimiter, Instant, RunErrorKind, to_thread};
use trio_testkit::{MockClock, assert_checkpoints};

const LIMIT: Duration = Duration::from_secs(30);

fn bounded() -> Builder {
    Builder::new().watchdog(LIMIT)
}

#[test]
fn returns_what_the_closure_returns_from_another_thread() {
    bounded().run(async {
        let run_thread = std::thread::current().id();
        let (value, thread) = to_thread::run_sync(|| (6 * 7, std::thread::current().id())).await.unwrap();
        assert_eq!(value, 42);
        assert_ne!(thread, run_thread);
    });
}

#[test]
fn a_panic_in_the_thread_resumes_in_the_calling_task_with_its_message() {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        bounded().run(async {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("caller", async {
                    to_thread::run_sync(|| -> u32 { panic!("disk on fire: sector {}", 7) }).await.ok();
                });
                Ok(())
            })
            .await
            .ok();
        })
    }));
    let payload = outcome.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("disk on fire: sector 7"), "{message}");
}

#[test]
fn run_sync_is_a_checkpoint() {
    bounded().run(async {
        assert_checkpoints(async { to_thread::run_sync(|| ()).await.unwrap() }).await;
    });
}

#[test]
fn a_call_in_a_cancelled_scope_runs_nothing() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    bounded().run(async move {
        let scope = CancelScope::new();
        scope.cancel();
        let outcome = scope
            .run(async move {
                to_thread::run_sync(move || flag.store(true, Ordering::SeqCst)).await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(outcome, None);
    });
    assert!(!ran.load(Ordering::SeqCst), "the closure never ran");
}

/// Without `abandon_on_cancel` (Trio's default) a cancellation does not interrupt the call: it
/// waits for the thread and returns the result; the thread sees the cancellation through
/// `check_cancelled`; the next checkpoint fails and the scope catches it.
#[test]
fn without_abandon_a_cancelled_call_waits_for_the_thread_and_the_next_checkpoint_fails() {
    bounded().run(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let seen = Rc::new(RefCell::new(None));
        let record = seen.clone();
        let outcome = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                trio::cancellable(started_rx).await?.ok();
                handle.cancel();
                go_tx.send(()).unwrap();
                Ok(())
            });
            let outcome = scope
                .run(async move {
                    let source = to_thread::run_sync(move || {
                        started_tx.send(()).unwrap();
                        go_rx.recv().unwrap(); // the scope is cancelled by now
                        // The waiting task notes the cancellation when it next runs.
                        loop {
                            match trio::from_thread::check_cancelled() {
                                Ok(()) => std::thread::yield_now(),
                                Err(cancelled) => return cancelled.source(),
                            }
                        }
                    })
                    .await?;
                    *record.borrow_mut() = Some(source);
                    trio::checkpoint().await?;
                    Ok(())
                })
                .await
                .unwrap();
            Ok(Some(outcome))
        })
        .await
        .unwrap();
        assert_eq!(*seen.borrow(), Some(CancelSource::Explicit), "run_sync returned the thread's result");
        assert_eq!(outcome, Some(None), "then the checkpoint failed and the scope caught it");
    });
}

/// The same, looking at what `run_sync` itself returned.
#[test]
fn without_abandon_run_sync_returns_ok_even_though_its_scope_was_cancelled() {
    bounded().run(async {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let scope = CancelScope::new();
        let handle = scope.clone();
        let got = Rc::new(RefCell::new(None));
        let slot = got.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let _ = scope
                    .run(async move {
                        let value = to_thread::run_sync(move || {
                            started_tx.send(()).unwrap();
                            go_rx.recv().unwrap();
                            "finished"
                        })
                        .await;
                        *slot.borrow_mut() = Some(value);
                        Ok(())
                    })
                    .await;
                Ok(())
            });
            trio::cancellable(started_rx).await?.ok();
            handle.cancel();
            go_tx.send(()).unwrap();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*got.borrow(), Some(Ok("finished")));
    });
}

/// With `abandon_on_cancel(true)` the call returns `Cancelled` at once; the thread keeps
/// running, keeps its limiter token until it finishes, and its result is dropped then.
#[test]
fn abandon_on_cancel_returns_at_once_and_releases_the_token_when_the_thread_finishes() {
    struct CountDrops(Arc<AtomicUsize>);
    impl Drop for CountDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let thread_drops = drops.clone();
    bounded().run(async move {
        let limiter = Rc::new(CapacityLimiter::new(1));
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let scope = CancelScope::new();
        let handle = scope.clone();
        let job_limiter = limiter.clone();
        let outcome = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                trio::cancellable(started_rx).await?.ok();
                handle.cancel();
                Ok(())
            });
            let outcome = scope
                .run(async move {
                    to_thread::run_sync(move || {
                        started_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                        CountDrops(thread_drops)
                    })
                    .limiter(job_limiter)
                    .abandon_on_cancel(true)
                    .await?;
                    Ok(())
                })
                .await
                .unwrap();
            Ok(Some(outcome))
        })
        .await
        .unwrap();
        assert_eq!(outcome, Some(None), "the scope caught the cancellation");
        assert_eq!(limiter.borrowed_tokens(), 1, "the thread still runs, and holds its token");
        go_tx.send(()).unwrap();
        // A running thread is a wait outside the runtime: this returns once it is done.
        trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await.unwrap();
        assert_eq!(limiter.borrowed_tokens(), 0, "given back when the thread finished");
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the abandoned result was dropped, once");
}

#[test]
fn abandon_on_cancel_reports_the_scopes_cancellation() {
    bounded().run(async {
        let (_keep, never) = mpsc::channel::<()>();
        let scope = CancelScope::with_deadline(trio::current_time() + Duration::from_millis(1));
        let err = scope
            .run(async move {
                let err = to_thread::run_sync(move || never.recv().ok()).abandon_on_cancel(true).await.unwrap_err();
                assert_eq!(err.source(), CancelSource::Deadline);
                Err(err.into())
            })
            .await;
        assert_eq!(err.unwrap(), None::<()>);
    });
}

#[test]
fn the_default_limiter_has_forty_tokens_and_is_used_by_default() {
    bounded().run(async {
        let limiter = to_thread::current_default_thread_limiter();
        assert_eq!(limiter.total_tokens(), trio::Capacity::Bounded(40));
        assert!(Rc::ptr_eq(&limiter, &to_thread::current_default_thread_limiter()), "one per run");
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                to_thread::run_sync(move || {
                    started_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                })
                .await?;
                Ok(())
            });
            trio::cancellable(started_rx).await?.ok();
            assert_eq!(limiter.borrowed_tokens(), 1);
            go_tx.send(()).unwrap();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(to_thread::current_default_thread_limiter().borrowed_tokens(), 0);
    });
}

#[test]
fn a_limiter_of_one_runs_one_thread_at_a_time() {
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (running2, most2) = (running.clone(), most.clone());
    bounded().run(async move {
        let limiter = Rc::new(CapacityLimiter::new(1));
        trio::open_nursery(|nursery| async move {
            for _ in 0..4 {
                let (running, most, limiter) = (running2.clone(), most2.clone(), limiter.clone());
                nursery.start_soon(async move {
                    to_thread::run_sync(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .limiter(limiter)
                    .await?;
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(most.load(Ordering::SeqCst), 1);
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

/// Two jobs that wait for each other can only finish if they run at the same time.
#[test]
fn a_limiter_of_two_runs_two_threads_at_once() {
    bounded().run(async {
        let limiter = Rc::new(CapacityLimiter::new(2));
        let barrier = Arc::new(Barrier::new(2));
        trio::open_nursery(|nursery| async move {
            for _ in 0..2 {
                let (barrier, limiter) = (barrier.clone(), limiter.clone());
                nursery.start_soon(async move {
                    to_thread::run_sync(move || {
                        barrier.wait();
                    })
                    .limiter(limiter)
                    .await?;
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn threads_are_named_and_reused_from_the_cache() {
    bounded().run(async {
        // A name no other test uses, so no other job can take the idle thread in between.
        let name = "to-thread-cache-test";
        let first =
            to_thread::run_sync(|| (std::thread::current().id(), std::thread::current().name().map(String::from)))
                .thread_name(name)
                .await
                .unwrap();
        let second = to_thread::run_sync(|| std::thread::current().id()).thread_name(name).await.unwrap();
        assert_eq!(first.1.as_deref(), Some(name));
        assert_eq!(first.0, second, "the idle thread took the second job");
        let default = to_thread::run_sync(|| std::thread::current().name().map(String::from)).await.unwrap();
        assert_eq!(default.as_deref(), Some("trio.to_thread.run_sync"));
    });
}

#[test]
#[should_panic(expected = "contains a NUL byte")]
fn a_thread_name_with_a_nul_byte_panics_at_the_call() {
    let _ = to_thread::run_sync(|| ()).thread_name("bad\0name");
}

/// While a job runs, a sleeper's deadline is pending and every task is blocked — Trio's
/// autojump would jump (its issue #456). Here the clock waits for the thread.
#[test]
fn autojump_waits_for_a_running_thread() {
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let clock = MockClock::autojump();
    let (finished_at, slept_until) =
        bounded().clock(clock).instrument(SignalWhenParked::new(parked_tx)).run(async move {
            let slept_until = Rc::new(RefCell::new(None));
            let mark = slept_until.clone();
            let finished_at = trio::open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    trio::sleep(Duration::from_secs(10)).await?;
                    *mark.borrow_mut() = Some(trio::current_time());
                    Ok(())
                });
                // Returns only once the loop has parked with the job outstanding (no jump).
                to_thread::run_sync(move || parked_rx.recv().unwrap()).await?;
                Ok(Some(trio::current_time()))
            })
            .await
            .unwrap();
            (finished_at, slept_until.take())
        });
    assert_eq!(finished_at, Some(Instant::ZERO), "no virtual time passed while the thread ran");
    assert_eq!(slept_until, Some(Instant::from_secs(10)), "and the clock jumped once it was done");
}

/// `wait_all_tasks_blocked` does not wake while a thread runs (deviation 9 in design.md).
#[test]
fn wait_all_tasks_blocked_waits_for_a_running_thread() {
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    bounded().instrument(SignalWhenParked::new(parked_tx)).run(async move {
        let done = Rc::new(RefCell::new(false));
        let mark = done.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                to_thread::run_sync(move || parked_rx.recv().unwrap()).await?;
                *mark.borrow_mut() = true;
                Ok(())
            });
            trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            assert!(*done.borrow(), "woke only after the thread finished");
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// A run stuck waiting for a thread is not a deadlock; the watchdog's report names the job.
#[test]
fn a_report_names_the_thread_a_task_waits_for() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let err = Builder::new()
        .watchdog(Duration::from_millis(50))
        .try_run(async move {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("waits for a thread", async move {
                    to_thread::run_sync(move || release_rx.recv().ok()).thread_name("slow-disk").await?;
                    Ok(())
                });
                Ok(())
            })
            .await
            .ok();
        })
        .unwrap_err();
    release_tx.send(()).unwrap();
    assert_eq!(err.kind(), RunErrorKind::Watchdog(Duration::from_millis(50)));
    let task = err.report().tasks.iter().find(|t| t.name == "waits for a thread").unwrap();
    assert_eq!(task.waiting_on.len(), 1, "{err}");
    assert!(task.waiting_on[0].starts_with("worker thread `slow-disk` (to_thread::run_sync at "), "{err}");
    assert!(task.waiting_on[0].contains("thread_to_thread.rs"), "{err}");
}

/// A `run_sync` future dropped while its thread runs (deviation 4: dropping is cancellation)
/// loses nothing: the token goes back when the thread finishes.
#[test]
fn a_dropped_call_gives_its_token_back_when_the_thread_finishes() {
    bounded().run(async {
        let limiter = Rc::new(CapacityLimiter::new(1));
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let mut call = Box::pin(
            to_thread::run_sync(move || {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
            })
            .limiter(limiter.clone())
            .into_future(),
        );
        // Poll until the thread runs, then drop the call.
        let mut started_rx = started_rx;
        loop {
            assert!(futures::poll!(call.as_mut()).is_pending());
            if let Ok(Some(())) = started_rx.try_recv() {
                break;
            }
            trio::checkpoint().await.unwrap();
        }
        drop(call);
        assert_eq!(limiter.borrowed_tokens(), 1);
        go_tx.send(()).unwrap();
        trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await.unwrap();
        assert_eq!(limiter.borrowed_tokens(), 0);
    });
}

/// Tells a thread when the loop parks for long: only while something outside the runtime is
/// pending (the watchdog turns "forever" into its own limit).
struct SignalWhenParked {
    parked: RefCell<Option<mpsc::Sender<()>>>,
}

impl SignalWhenParked {
    fn new(parked: mpsc::Sender<()>) -> SignalWhenParked {
        SignalWhenParked { parked: RefCell::new(Some(parked)) }
    }
}

impl Instrument for SignalWhenParked {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        if timeout.is_none_or(|t| t > Duration::from_secs(1))
            && let Some(parked) = self.parked.borrow_mut().take()
        {
            let _ = parked.send(());
        }
    }
}
