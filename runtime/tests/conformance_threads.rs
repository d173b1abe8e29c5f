//! Conformance of `to_thread` / `from_thread` with Trio's rules (its `test_threads.py` and the
//! docs of `trio.to_thread` / `trio.from_thread`), for the rules `thread_to_thread.rs`,
//! `thread_from_thread.rs` and `thread_token.rs` do not already check: how the limiter is
//! borrowed and when it can be waited on, what a cancellation does at each stage of a call,
//! where `from_thread` calls run (the waiting task, its scopes and shields, or a system task),
//! the thread's view through `check_cancelled`, re-entry, and the end of the run.
//!
//! Threads are ordered with channels, never with sleeps; every run is bounded by a watchdog.

use std::cell::{Cell, RefCell};
use std::future::{Future, IntoFuture};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::ThreadId;
use std::time::Duration;

use futures::FutureExt;
use futures::channel::oneshot;
use trio::lowlevel::{RunVar, current_task, current_trio_token, spawn_system_task, try_current_task};
use trio::to_thread::current_default_thread_limiter;
use trio::{Borrower, Builder, CancelScope, CancelSource, Capacity, CapacityLimiter, from_thread, to_thread};
use trio_testkit::assert_checkpoints;

const LIMIT: Duration = Duration::from_secs(30);

fn bounded() -> Builder {
    Builder::new().watchdog(LIMIT)
}

/// A scope the run's thread can reach from a `from_thread` closure (those must be `Send`).
static SCOPE: RunVar<CancelScope> = RunVar::new("the scope a worker thread cancels");
static LIMITER: RunVar<Rc<CapacityLimiter>> = RunVar::new("the limiter a worker thread inspects");

/// Runs `body` in a fresh cancel scope and cancels that scope from a sibling task once
/// `started` fires, so the cancellation reaches the body's task while it waits for its thread.
async fn cancel_once_started<T: 'static>(
    started: oneshot::Receiver<()>,
    body: impl Future<Output = trio::Result<T>> + 'static,
) -> Option<T> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            trio::cancellable(started).await?.ok();
            handle.cancel();
            Ok(())
        });
        Ok(Some(scope.run(body).await?))
    })
    .await
    .unwrap()
    .expect("nothing cancels the nursery itself")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ===== the limiter =====

/// Trio acquires the token before it starts the thread, with an ordinary (cancellable) wait:
/// cancelled there, the call fails and nothing ran — `abandon_on_cancel` only matters once the
/// thread runs.
#[test]
fn a_call_cancelled_while_it_waits_for_a_token_fails_and_runs_nothing_even_without_abandon() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    bounded().run(async move {
        let limiter = Rc::new(CapacityLimiter::new(1));
        limiter.acquire().await.unwrap(); // the main task holds the only token
        let scope = CancelScope::new();
        let handle = scope.clone();
        let outcome = Rc::new(RefCell::new(None));
        let (record, job_limiter, watch) = (outcome.clone(), limiter.clone(), limiter.clone());
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let got = scope
                    .run(async move {
                        to_thread::run_sync(move || flag.store(true, Ordering::SeqCst)).limiter(job_limiter).await?;
                        Ok(())
                    })
                    .await?;
                *record.borrow_mut() = Some(got);
                Ok(())
            });
            // No thread runs yet, so the run can see every task blocked.
            trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            assert_eq!(watch.statistics().tasks_waiting, 1, "the call queues on the limiter");
            handle.cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*outcome.borrow(), Some(None), "cancelled, and its scope caught it");
        assert_eq!(limiter.statistics().tasks_waiting, 0);
        assert_eq!(limiter.statistics().borrowers, vec![Borrower::current_task()]);
        limiter.release().unwrap();
    });
    assert!(!ran.load(Ordering::SeqCst), "the closure never ran");
}

/// Trio borrows the token on behalf of a placeholder for the thread, not the calling task: a
/// task that already holds a token of the limiter can still call with it.
#[test]
fn the_token_is_borrowed_for_the_thread_so_a_task_holding_one_can_call_with_the_same_limiter() {
    bounded().run(async {
        let limiter = Rc::new(CapacityLimiter::new(2));
        LIMITER.set(limiter.clone());
        limiter.acquire().await.unwrap();
        let (borrowed, task_holds) = to_thread::run_sync(|| {
            from_thread::run_sync(|| {
                let stats = LIMITER.get().unwrap().statistics();
                let me = Borrower::current_task();
                (stats.borrowed_tokens, stats.borrowers.iter().filter(|b| **b == me).count())
            })
            .unwrap()
        })
        .limiter(limiter.clone())
        .await
        .unwrap();
        assert_eq!(borrowed, 2, "the task's token and the thread's");
        assert_eq!(task_holds, 1, "the task holds only its own");
        assert_eq!(limiter.statistics().borrowers, vec![Borrower::current_task()]);
        limiter.release().unwrap();
    });
}

/// Trio's `current_default_thread_limiter` is a run-local value: a change lasts one run.
#[test]
fn the_default_limiter_belongs_to_its_run() {
    bounded().run(async { current_default_thread_limiter().set_total_tokens(1) });
    let total = bounded().run(async { current_default_thread_limiter().total_tokens() });
    assert_eq!(total, Capacity::Bounded(40));
}

/// Resizing the default limiter bounds every call that names no limiter: with one token, the
/// second call waits on the limiter until the first thread finished.
#[test]
fn a_resized_default_limiter_bounds_calls_that_name_no_limiter() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (first_log, second_log) = (log.clone(), log.clone());
    bounded().run(async move {
        let limiter = current_default_thread_limiter();
        limiter.set_total_tokens(1);
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                to_thread::run_sync(move || {
                    first_log.lock().unwrap().push("first starts");
                    started_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    first_log.lock().unwrap().push("first ends");
                })
                .await?;
                Ok(())
            });
            trio::cancellable(started_rx).await?.ok();
            nursery.start_soon(async move {
                to_thread::run_sync(move || second_log.lock().unwrap().push("second runs")).await?;
                Ok(())
            });
            // A thread runs, so wait_all_tasks_blocked would wait for it: poll instead.
            while limiter.statistics().tasks_waiting == 0 {
                trio::checkpoint().await?;
            }
            go_tx.send(()).unwrap();
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(*log.lock().unwrap(), ["first starts", "first ends", "second runs"]);
}

/// Trio gives the token back when the thread's outcome arrives, an exception as well as a value.
#[test]
fn a_job_that_panics_has_given_its_token_back_when_the_panic_resumes_in_the_task() {
    bounded().run(async {
        let limiter = Rc::new(CapacityLimiter::new(1));
        let call = to_thread::run_sync(|| -> u32 { panic!("the job failed") }).limiter(limiter.clone()).into_future();
        let payload = AssertUnwindSafe(call).catch_unwind().await.unwrap_err();
        assert_eq!(panic_message(&*payload), "the job failed");
        assert_eq!(limiter.borrowed_tokens(), 0);
    });
}

#[test]
fn an_abandoning_call_with_its_own_limiter_is_a_checkpoint() {
    bounded().run(async {
        let limiter = Rc::new(CapacityLimiter::new(1));
        assert_checkpoints(async {
            to_thread::run_sync(|| ()).limiter(limiter.clone()).abandon_on_cancel(true).await.unwrap();
        })
        .await;
    });
}

// ===== cancellation of the call =====

/// Trio's `to_thread.run_sync` has no checkpoint after the thread returns: a cancellation that
/// came while the (not abandoned) thread ran leaves the call returning the value, and the scope
/// has caught nothing when it ends right after. Here the thread cancels through the run.
#[test]
fn a_cancel_during_a_non_abandoned_call_lets_it_return_its_value_and_the_scope_catches_nothing() {
    bounded().run(async {
        let scope = CancelScope::new();
        SCOPE.set(scope.clone());
        let got = scope
            .run(async {
                let value = to_thread::run_sync(|| {
                    from_thread::run_sync(|| SCOPE.get().unwrap().cancel()).unwrap();
                    // Neither a sync call nor a future without a checkpoint can see it.
                    let sync = from_thread::run_sync(|| 5).unwrap();
                    let no_checkpoint = from_thread::run(|| async { 6 }).unwrap();
                    sync + no_checkpoint
                })
                .await?;
                Ok(value)
            })
            .await
            .unwrap();
        assert_eq!(got, Some(11));
        assert!(scope.cancel_called());
        assert!(!scope.cancelled_caught(), "no checkpoint ran after the thread returned");
    });
}

/// With `abandon_on_cancel`, the same cancellation abandons the call at once; the thread's
/// later calls run outside the gone task and still answer.
#[test]
fn with_abandon_a_cancel_made_from_the_thread_abandons_the_call_and_later_calls_still_answer() {
    bounded().run(async {
        let (answer_tx, answer_rx) = oneshot::channel();
        let scope = CancelScope::new();
        SCOPE.set(scope.clone());
        let got = scope
            .run(async move {
                to_thread::run_sync(move || {
                    from_thread::run_sync(|| SCOPE.get().unwrap().cancel()).unwrap();
                    answer_tx.send(from_thread::run_sync(|| 7)).unwrap();
                })
                .abandon_on_cancel(true)
                .await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(got, None);
        assert!(scope.cancelled_caught());
        let answer = trio::cancellable(answer_rx).await.unwrap().unwrap();
        assert_eq!(answer.ok(), Some(7));
    });
}

/// A `Cancelled` made by a call into the waiting task (Trio's "time bomb": cancel the scope,
/// then block) travels through the thread back to the task, and the cancelled scope catches it.
#[test]
fn a_cancellation_handed_back_through_the_thread_is_caught_by_the_cancelled_scope() {
    bounded().run(async {
        let scope = CancelScope::new();
        SCOPE.set(scope.clone());
        let seen = Rc::new(Cell::new(None));
        let record = seen.clone();
        let got = scope
            .run(async move {
                let inner = to_thread::run_sync(|| {
                    from_thread::run(|| async {
                        SCOPE.get().unwrap().cancel();
                        trio::sleep(Duration::from_secs(3600)).await
                    })
                    .unwrap()
                })
                .await?;
                record.set(inner.as_ref().err().map(|c| c.source()));
                inner?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(seen.get(), Some(CancelSource::Explicit), "the sleep in the waiting task was cancelled");
        assert_eq!(got, None);
        assert!(scope.cancelled_caught());
    });
}

/// Once the outcome has been handed to the waiting task, a cancellation that arrives before the
/// task runs does not discard it, even with `abandon_on_cancel` (Trio: a rescheduled task's
/// abort is never called).
#[test]
fn a_cancellation_after_the_outcome_arrived_does_not_discard_it() {
    bounded().run(async {
        let limiter = Rc::new(CapacityLimiter::new(1));
        let scope = CancelScope::new();
        let (handle, check) = (scope.clone(), scope.clone());
        let (watch, job_limiter) = (limiter.clone(), limiter.clone());
        let returned = Rc::new(Cell::new(false));
        let (mark, look) = (returned.clone(), returned.clone());
        let got = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                // The token goes back just before the outcome is handed over, between two
                // batches; this task, already runnable, then runs before the waiting one.
                while watch.borrowed_tokens() == 0 {
                    trio::checkpoint().await?;
                }
                while watch.borrowed_tokens() == 1 {
                    trio::checkpoint().await?;
                }
                assert!(!look.get(), "the waiting task has not run since the outcome arrived");
                handle.cancel();
                Ok(())
            });
            let got = scope
                .run(async move {
                    let got = to_thread::run_sync(|| "kept").limiter(job_limiter).abandon_on_cancel(true).await;
                    mark.set(true);
                    Ok(got)
                })
                .await?;
            Ok(Some(got))
        })
        .await
        .unwrap();
        assert_eq!(got, Some(Some(Ok("kept"))));
        assert!(check.cancel_called());
    });
}

/// An abandoned job that later panics is dropped like any other outcome: the run goes on
/// and the token comes back when the thread ends.
#[test]
fn an_abandoned_job_that_panics_later_leaves_the_run_alone_and_returns_its_token() {
    let finished = bounded().run(async {
        let limiter = Rc::new(CapacityLimiter::new(1));
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let job_limiter = limiter.clone();
        let got = cancel_once_started(started_rx, async move {
            to_thread::run_sync(move || -> u32 {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                panic!("an abandoned job failed");
            })
            .limiter(job_limiter)
            .abandon_on_cancel(true)
            .await?;
            Ok(())
        })
        .await;
        assert_eq!(got, None, "abandoned");
        assert_eq!(limiter.borrowed_tokens(), 1);
        go_tx.send(()).unwrap();
        trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await.unwrap();
        assert_eq!(limiter.borrowed_tokens(), 0);
        "finished"
    });
    assert_eq!(finished, "finished");
}

/// Trio's `test_run_in_worker_thread_abandoned`: the run ends before an abandoned thread does;
/// when the thread finishes, its outcome is dropped quietly and the thread lives on in the
/// cache for the next job of its name.
#[test]
fn an_abandoned_job_finishing_after_the_run_drops_its_outcome_on_its_thread_which_lives_on() {
    struct SignalDrop(mpsc::Sender<ThreadId>);
    impl Drop for SignalDrop {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }
    // A name no other test uses, so no other job can take the idle thread.
    const NAME: &str = "conformance-abandoned-after-run";
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (dropped_tx, dropped_rx) = mpsc::channel::<ThreadId>();
    let (id_tx, id_rx) = mpsc::channel::<ThreadId>();
    bounded().run(async move {
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let got = cancel_once_started(started_rx, async move {
            to_thread::run_sync(move || {
                id_tx.send(std::thread::current().id()).unwrap();
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                SignalDrop(dropped_tx)
            })
            .thread_name(NAME)
            .abandon_on_cancel(true)
            .await?;
            Ok(())
        })
        .await;
        assert_eq!(got, None);
    });
    let job_thread = id_rx.recv().unwrap();
    go_tx.send(()).unwrap();
    assert_eq!(dropped_rx.recv().unwrap(), job_thread, "dropped on the job's thread, once the run refused it");
    let next = bounded().run(async { to_thread::run_sync(|| std::thread::current().id()).thread_name(NAME).await });
    assert_eq!(next.unwrap(), job_thread, "the thread survived and took the next job");
}

// ===== where from_thread calls run =====

/// Trio hands the run's token to the thread (`test_trio_to_thread_run_sync_token`).
#[test]
fn a_worker_thread_calls_back_into_the_run_that_started_it() {
    bounded().run(async {
        let caller = current_trio_token();
        let seen = to_thread::run_sync(|| from_thread::run_sync(current_trio_token).unwrap()).await.unwrap();
        assert_eq!(seen, caller);
    });
}

/// A call from the worker runs inside the waiting task's scopes, so it sees their deadline; a
/// call with an explicit token runs in a system task, outside them (Trio: a token "avoids the
/// cancellation context" of the `to_thread` task).
#[test]
fn a_worker_call_sees_the_waiting_tasks_deadline_and_a_token_call_does_not() {
    bounded().run(async {
        let token = current_trio_token();
        let deadline = trio::current_time() + Duration::from_secs(3600);
        let seen = CancelScope::with_deadline(deadline)
            .run(async move {
                let seen = to_thread::run_sync(move || {
                    let in_task = from_thread::run(|| async { trio::current_effective_deadline() }).unwrap();
                    let by_token =
                        from_thread::run_with_token(&token, || async { trio::current_effective_deadline() }).unwrap();
                    (in_task, by_token)
                })
                .await?;
                Ok(seen)
            })
            .await
            .unwrap();
        assert_eq!(seen, Some((Some(deadline), None)));
    });
}

/// Once the waiting task is cancelled (not abandoned), a call into it fails at its checkpoint,
/// while a call with the run's token runs in another task that nothing cancelled; a sync call
/// with the token runs between task steps (our documented deviation: no task there).
#[test]
fn a_worker_call_with_an_explicit_token_escapes_the_waiting_tasks_cancellation() {
    bounded().run(async {
        let me = current_task().id().as_u64();
        let token = current_trio_token();
        let scope = CancelScope::new();
        SCOPE.set(scope.clone());
        let seen = scope
            .run(async move {
                let seen = to_thread::run_sync(move || {
                    from_thread::run_sync(|| SCOPE.get().unwrap().cancel()).unwrap();
                    let probe = || async { (current_task().id().as_u64(), trio::checkpoint().await.is_ok()) };
                    let in_task = from_thread::run(probe).unwrap();
                    let by_token = from_thread::run_with_token(&token, probe).unwrap();
                    let sync_by_token =
                        from_thread::run_sync_with_token(&token, || try_current_task().is_none()).unwrap();
                    (in_task, by_token, sync_by_token)
                })
                .await?;
                Ok(seen)
            })
            .await
            .unwrap()
            .expect("the value came back; no checkpoint followed");
        let (in_task, by_token, sync_by_token) = seen;
        assert_eq!(in_task, (me, false), "in the waiting task, cancelled");
        assert_ne!(by_token.0, me);
        assert!(by_token.1, "a system task, not cancelled");
        assert!(sync_by_token, "between task steps");
    });
}

/// A shield between the cancelled scope and the call hides the cancellation from the waiting
/// task: calls into it checkpoint fine, and `check_cancelled` stays quiet.
#[test]
fn under_a_shield_calls_and_check_cancelled_see_no_cancellation() {
    bounded().run(async {
        let outer = CancelScope::new();
        outer.cancel();
        let got = outer
            .run(async {
                CancelScope::shielded()
                    .run(async {
                        let seen = to_thread::run_sync(|| {
                            // Two round trips: the waiting task has parked again since the first.
                            let first = from_thread::run(|| async { trio::checkpoint().await.is_ok() }).unwrap();
                            let second = from_thread::run(|| async { trio::checkpoint().await.is_ok() }).unwrap();
                            (first, second, from_thread::check_cancelled().is_ok())
                        })
                        .await?;
                        Ok(seen)
                    })
                    .await
            })
            .await
            .unwrap();
        assert_eq!(got, Some(Some((true, true, true))));
    });
}

/// Trio's `test_recursive_to_thread`: from a worker, a call into the run can itself start a
/// worker thread.
#[test]
fn a_worker_can_start_another_worker_through_the_run() {
    bounded().run(async {
        let run_thread = std::thread::current().id();
        let (outer, inner) = to_thread::run_sync(|| {
            let inner = from_thread::run(|| to_thread::run_sync(|| std::thread::current().id()).into_future())
                .unwrap()
                .unwrap();
            (std::thread::current().id(), inner)
        })
        .await
        .unwrap();
        assert_ne!(outer, inner, "the first thread was blocked, so another one ran the inner job");
        assert_ne!(inner, run_thread);
    });
}

/// Trio's `test_reentry_doesnt_deadlock`: several tasks going back and forth between their
/// threads and the run at once all finish.
#[test]
fn tasks_going_back_and_forth_between_threads_and_the_run_all_finish() {
    let rounds = bounded().run(async {
        let rounds = Rc::new(Cell::new(0));
        let count = rounds.clone();
        trio::open_nursery(|nursery| async move {
            for _ in 0..4 {
                let count = count.clone();
                nursery.start_soon(async move {
                    for _ in 0..20 {
                        to_thread::run_sync(|| from_thread::run(|| async { trio::checkpoint().await }).unwrap())
                            .await??;
                        count.set(count.get() + 1);
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        rounds.get()
    });
    assert_eq!(rounds, 80);
}

/// Trio finds the run from a thread-local of the worker: a thread the job itself spawns is not
/// a worker thread and cannot call back without a token.
#[test]
fn a_thread_spawned_by_a_job_is_not_a_worker_thread() {
    bounded().run(async {
        let message = to_thread::run_sync(|| {
            let child = std::thread::spawn(|| from_thread::run_sync(|| ()));
            panic_message(&*child.join().unwrap_err())
        })
        .await
        .unwrap();
        assert!(message.contains("did not start"), "{message}");
    });
}

/// Trio's `test_do_in_trio_thread_from_trio_thread`: blocking on the run from inside it would
/// deadlock, so it is refused (here a panic, as design.md lists).
#[test]
#[should_panic(expected = "cannot be called from inside a run")]
fn from_thread_run_inside_the_run_panics_instead_of_deadlocking() {
    bounded().run(async {
        let _ = from_thread::run(|| async {});
    });
}

// ===== check_cancelled =====

/// Trio fills `check_cancelled`'s record whatever `abandon_on_cancel` says: an abandoned thread
/// can notice it was abandoned and stop early.
#[test]
fn check_cancelled_reports_the_cancellation_that_abandoned_the_call() {
    bounded().run(async {
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (seen_tx, seen_rx) = oneshot::channel();
        let got = cancel_once_started(started_rx, async move {
            to_thread::run_sync(move || {
                let before = from_thread::check_cancelled().is_ok();
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                let after = from_thread::check_cancelled().map_err(|c| c.source());
                seen_tx.send((before, after)).unwrap();
            })
            .abandon_on_cancel(true)
            .await?;
            Ok(())
        })
        .await;
        assert_eq!(got, None);
        go_tx.send(()).unwrap();
        let seen = trio::cancellable(seen_rx).await.unwrap().unwrap();
        assert_eq!(seen, (true, Err(CancelSource::Explicit)));
    });
}

/// Trio's note on `check_cancelled`: it keeps reporting a cancellation that a shield raised
/// later hides, although a checkpoint in the waiting task no longer sees it.
#[test]
fn check_cancelled_remembers_a_cancellation_that_a_later_shield_hides() {
    bounded().run(async {
        let (outer, inner) = (CancelScope::new(), CancelScope::new());
        let (outer_handle, inner_handle) = (outer.clone(), inner.clone());
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (noticed_tx, noticed_rx) = oneshot::channel::<()>();
        let (shielded_tx, shielded_rx) = mpsc::channel::<()>();
        let got = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                trio::cancellable(started_rx).await?.ok();
                outer_handle.cancel();
                trio::cancellable(noticed_rx).await?.ok();
                inner_handle.set_shield(true);
                shielded_tx.send(()).unwrap();
                Ok(())
            });
            let got = outer
                .run(async move {
                    inner
                        .run(async move {
                            let seen = to_thread::run_sync(move || {
                                started_tx.send(()).unwrap();
                                while from_thread::check_cancelled().is_ok() {
                                    std::thread::yield_now();
                                }
                                noticed_tx.send(()).unwrap();
                                shielded_rx.recv().unwrap();
                                let still_reported = from_thread::check_cancelled().is_err();
                                let checkpoint_ok =
                                    from_thread::run(|| async { trio::checkpoint().await.is_ok() }).unwrap();
                                (still_reported, checkpoint_ok)
                            })
                            .await?;
                            Ok(seen)
                        })
                        .await
                })
                .await?;
            Ok(Some(got))
        })
        .await
        .unwrap();
        assert_eq!(got, Some(Some(Some((true, true)))));
    });
}

// ===== the end of the run =====

/// Trio's `test_await_in_trio_thread_while_main_exits`: a call made with the token that is
/// still blocked when the main task returns is cancelled by the shutdown, and the thread gets
/// that outcome.
#[test]
fn a_token_call_still_blocked_when_the_main_task_returns_is_cancelled_by_the_shutdown() {
    let (answer_tx, answer_rx) = mpsc::channel();
    let thread = bounded().run(async move {
        let token = current_trio_token();
        let (entered_tx, entered_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let answer = from_thread::run_with_token(&token, move || async move {
                entered_tx.send(()).unwrap();
                trio::sleep_forever().await
            });
            answer_tx.send(answer.map(|r| r.map_err(|c| c.source()))).unwrap();
        });
        trio::cancellable(entered_rx).await.unwrap().unwrap();
        thread
    });
    thread.join().unwrap();
    assert_eq!(answer_rx.recv().unwrap().ok(), Some(Err(CancelSource::Shutdown)));
}

/// Trio's `test_from_thread_run_during_shutdown`, for a system task still running (shielded)
/// after the main task returned: its worker's calls reach it and complete cleanly, while a call
/// with the token starts a new system task in the already cancelled system nursery (Trio
/// answers `RunFinishedError` only once that nursery has closed; here, once the run's loop has
/// ended — see `a_worker_calling_back_as_the_run_ends_gets_run_finished_and_the_run_ends_cleanly`).
#[test]
fn during_shutdown_a_worker_reaches_its_shielded_task_and_a_token_call_starts_cancelled() {
    let (result_tx, result_rx) = mpsc::channel();
    bounded().run(async move {
        let token = current_trio_token();
        spawn_system_task(async move {
            let shutdown = trio::sleep_forever().await.unwrap_err(); // the main task has returned
            assert_eq!(shutdown.source(), CancelSource::Shutdown);
            let seen = CancelScope::shielded()
                .run(async move {
                    let seen = to_thread::run_sync(move || {
                        let probe = || async { trio::checkpoint().await.map_err(|c| c.source()) };
                        let in_task = from_thread::run(probe).unwrap();
                        let by_token = from_thread::run_with_token(&token, probe).unwrap();
                        (in_task, by_token)
                    })
                    .await?;
                    Ok(seen)
                })
                .await?;
            result_tx.send(seen).unwrap();
            Ok::<(), trio::Error>(())
        });
    });
    assert_eq!(result_rx.recv().unwrap(), Some((Ok(()), Err(CancelSource::Shutdown))));
}

/// A `to_thread::run_sync` future dropped while a `from_thread::run` call runs in its task
/// (dropping is cancelling, design.md) drops that call too: Trio has no such case. The thread
/// gets `RunFinished` saying so — nothing waits for it now, as for an abandoned job — and its
/// later calls run in system tasks, since the run goes on.
#[test]
fn a_call_running_in_a_dropped_waiting_future_ends_with_run_finished_and_later_calls_still_run() {
    let (answer_tx, answer_rx) = mpsc::channel();
    bounded().run(async move {
        let (entered_tx, mut entered_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let mut call = Box::pin(
            to_thread::run_sync(move || {
                let dropped = from_thread::run(move || async move {
                    entered_tx.send(()).unwrap();
                    trio::sleep_forever().await
                });
                let later = from_thread::run(|| async { trio::checkpoint().await.is_ok() });
                answer_tx.send((dropped.map_err(|e| e.to_string()), later.ok())).unwrap();
                done_tx.send(()).unwrap();
            })
            .into_future(),
        );
        // Poll the call by hand until its thread's call runs in it, then drop it.
        loop {
            assert!(futures::poll!(call.as_mut()).is_pending());
            if let Ok(Some(())) = entered_rx.try_recv() {
                break;
            }
            trio::checkpoint().await.unwrap();
        }
        drop(call);
        trio::cancellable(done_rx).await.unwrap().unwrap();
    });
    let (dropped, later) = answer_rx.recv().unwrap();
    let message = dropped.unwrap_err();
    assert!(message.contains("dropped unfinished with the to_thread::run_sync future"), "{message}");
    assert_eq!(later, Some(true), "the run went on, and the next call ran in a system task");
}

/// A system task cancelled by the shutdown while it waits for a job that is not abandoned
/// waits for the thread, as any such call does: the run ends only after the job's outcome
/// reached the task.
#[test]
fn the_shutdown_waits_for_a_job_a_system_task_did_not_abandon() {
    let (outcome_tx, outcome_rx) = mpsc::channel();
    bounded().run(async move {
        let (started_tx, started_rx) = oneshot::channel::<()>();
        spawn_system_task(async move {
            let value = to_thread::run_sync(move || {
                started_tx.send(()).unwrap();
                // Runs on until the shutdown has cancelled the waiting system task.
                while from_thread::check_cancelled().is_ok() {
                    std::thread::yield_now();
                }
                "done"
            })
            .await;
            let next = trio::checkpoint().await.map_err(|c| c.source());
            outcome_tx.send((value.ok(), next)).unwrap();
        });
        trio::cancellable(started_rx).await.unwrap().unwrap();
        // The main task returns while the job runs.
    });
    let outcome = outcome_rx.try_recv().expect("the task got its outcome before the run ended");
    assert_eq!(outcome, (Some("done"), Err(CancelSource::Shutdown)));
}

/// Trio checks that the worker thread is outside the async library (sniffio) and the call
/// back into the run is inside it.
#[test]
fn a_worker_thread_is_outside_the_run_and_its_calls_are_inside() {
    bounded().run(async {
        let seen = to_thread::run_sync(|| {
            let outside = (trio::lowlevel::in_run(), try_current_task().is_some());
            let inside = from_thread::run_sync(|| (trio::lowlevel::in_run(), try_current_task().is_some())).unwrap();
            (outside, inside)
        })
        .await
        .unwrap();
        assert_eq!(seen, ((false, false), (true, true)));
    });
}

/// Trio's `test_do_in_trio_thread`: with a token, a call that fails — sync or async — fails on
/// the calling thread, and the run goes on.
#[test]
fn with_a_token_a_failing_call_fails_on_the_calling_thread_and_the_run_goes_on() {
    let messages = bounded().run(async {
        let token = current_trio_token();
        let (done_tx, done_rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let sync = std::panic::catch_unwind(AssertUnwindSafe(|| {
                from_thread::run_sync_with_token(&token, || -> u32 { panic!("sync call failed") })
            }));
            let in_task = std::panic::catch_unwind(AssertUnwindSafe(|| {
                from_thread::run_with_token(&token, || async {
                    trio::checkpoint().await.unwrap();
                    panic!("async call failed")
                })
            }));
            let after = from_thread::run_sync_with_token(&token, || 3).unwrap();
            let messages = (panic_message(&*sync.unwrap_err()), panic_message(&*in_task.unwrap_err()), after);
            done_tx.send(messages).unwrap();
        });
        let messages = trio::cancellable(done_rx).await.unwrap().unwrap();
        thread.join().unwrap();
        messages
    });
    assert_eq!(messages, ("sync call failed".to_string(), "async call failed".to_string(), 3));
}

/// Trio's `check_cancelled` raises the very cancellation delivered to the waiting task: the
/// thread learns its source and reason, as the abandoned call does.
#[test]
fn check_cancelled_carries_the_source_and_reason_the_waiting_task_got() {
    bounded().run(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (seen_tx, seen_rx) = oneshot::channel();
        let call = Rc::new(RefCell::new(None));
        let record = call.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                trio::cancellable(started_rx).await?.ok();
                handle.cancel_with_reason("the user pressed stop");
                Ok(())
            });
            let _ = scope
                .run(async move {
                    let err = to_thread::run_sync(move || {
                        started_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                        let seen = from_thread::check_cancelled().unwrap_err();
                        seen_tx.send((seen.source(), seen.reason().map(str::to_string))).unwrap();
                    })
                    .abandon_on_cancel(true)
                    .await
                    .unwrap_err();
                    *record.borrow_mut() = Some((err.source(), err.reason().map(str::to_string)));
                    Err::<(), _>(err.into())
                })
                .await?;
            Ok(())
        })
        .await
        .unwrap();
        go_tx.send(()).unwrap();
        let seen = trio::cancellable(seen_rx).await.unwrap().unwrap();
        let expected = (CancelSource::Explicit, Some("the user pressed stop".to_string()));
        assert_eq!(call.borrow().clone(), Some(expected.clone()), "what the abandoned call returned");
        assert_eq!(seen, expected, "what the thread saw");
    });
}

/// A worker still calling back while the run ends: once the loop is over the system nursery
/// takes no new task (Trio: "closed to new arrivals"), and a call that would need one gets
/// `RunFinished` on its thread — the run itself ends normally. The worker was abandoned, so
/// its calls go to system tasks; the last of them race with the end of the run. Repeated
/// because which call meets the closed nursery depends on the thread's timing; the outcome
/// must not.
#[test]
fn a_worker_calling_back_as_the_run_ends_gets_run_finished_and_the_run_ends_cleanly() {
    for _ in 0..20 {
        let (finished_tx, finished_rx) = mpsc::channel();
        bounded().run(async move {
            let scope = CancelScope::new();
            SCOPE.set(scope.clone());
            let outcome = scope
                .run(async move {
                    to_thread::run_sync(move || {
                        // The first call cancels the waiting task, which abandons the thread;
                        // then it calls until the run no longer answers.
                        from_thread::run_sync(|| SCOPE.get().unwrap().cancel()).unwrap();
                        let mut last = Ok(());
                        while last.is_ok() {
                            last = from_thread::run(|| async {});
                        }
                        finished_tx.send(last.unwrap_err().to_string()).unwrap();
                    })
                    .abandon_on_cancel(true)
                    .await?;
                    Ok(())
                })
                .await
                .unwrap();
            assert_eq!(outcome, None);
        });
        let message = finished_rx.recv().unwrap();
        assert!(message.contains("finished"), "{message}");
    }
}
