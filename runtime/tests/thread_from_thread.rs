//! `from_thread`: calls from a worker thread run in the task waiting for it (inside its cancel
//! scopes), or — for an abandoned job or a foreign thread with a token — in a system task;
//! panics travel back; misuse panics with a message; after the run, `RunFinished`.

use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use futures::channel::oneshot;
use trio::lowlevel::{RunVar, current_task, current_trio_token};
use trio::{Builder, CancelScope, Cancelled, Event, RunFinished, from_thread, to_thread};

const LIMIT: Duration = Duration::from_secs(30);

fn bounded() -> Builder {
    Builder::new().watchdog(LIMIT)
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn run_and_run_sync_execute_in_the_waiting_task_on_the_runs_thread() {
    bounded().run(async {
        let me = current_task().id().as_u64();
        let run_thread = std::thread::current().id();
        let (in_async, in_sync) = to_thread::run_sync(move || {
            let in_async = from_thread::run(|| async {
                trio::checkpoint().await.unwrap();
                (current_task().id().as_u64(), std::thread::current().id())
            })
            .unwrap();
            let in_sync =
                from_thread::run_sync(|| (current_task().id().as_u64(), std::thread::current().id())).unwrap();
            (in_async, in_sync)
        })
        .await
        .unwrap();
        assert_eq!(in_async, (me, run_thread));
        assert_eq!(in_sync, (me, run_thread));
    });
}

static STOP: RunVar<Rc<Event>> = RunVar::new("stop");

/// The call runs inside the waiting task's cancel scopes: once they are cancelled, its
/// checkpoints fail (Trio: "afn is likely to raise Cancelled").
#[test]
fn a_call_into_a_cancelled_waiting_task_sees_the_cancellation() {
    bounded().run(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let seen = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                trio::cancellable(started_rx).await?.ok();
                handle.cancel();
                go_tx.send(()).unwrap();
                Ok(())
            });
            let seen = scope
                .run(async move {
                    let seen = to_thread::run_sync(move || {
                        started_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                        from_thread::run(|| async { trio::checkpoint().await.map_err(|c| c.source()) }).unwrap()
                    })
                    .await?;
                    Ok(seen)
                })
                .await
                .unwrap();
            Ok(Some(seen))
        })
        .await
        .unwrap();
        assert_eq!(seen, Some(Some(Err(trio::CancelSource::Explicit))));
    });
}

/// An abandoned job's task is gone: its calls run in a system task, which still works.
#[test]
fn calls_from_an_abandoned_job_run_in_a_system_task() {
    let (answer_tx, answer_rx) = mpsc::channel::<(Option<u64>, u64)>();
    bounded().run(async move {
        STOP.set(Rc::new(Event::new()));
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let outcome = trio::move_on_after(Duration::from_millis(1), async move {
            to_thread::run_sync(move || {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                let answer = from_thread::run(|| async {
                    let me = current_task();
                    STOP.get().unwrap().set();
                    (me.parent().map(|p| p.as_u64()), me.id().as_u64())
                })
                .unwrap();
                answer_tx.send(answer).unwrap();
            })
            .abandon_on_cancel(true)
            .await?;
            Ok(())
        });
        let ((), outcome) = futures::join!(
            async {
                trio::cancellable(started_rx).await.unwrap().ok();
            },
            outcome
        );
        assert_eq!(outcome.unwrap(), None, "abandoned");
        go_tx.send(()).unwrap();
        STOP.get().unwrap().wait().await.unwrap();
    });
    let (parent, task) = answer_rx.recv().unwrap();
    assert_eq!(parent, Some(1), "a system task, under the main task");
    assert!(task > 1);
}

#[test]
fn a_panic_in_a_call_resumes_on_the_thread_and_then_in_the_task() {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        bounded().run(async {
            to_thread::run_sync(|| {
                let caught = std::panic::catch_unwind(|| {
                    from_thread::run_sync(|| -> u32 { panic!("bad call") }).unwrap();
                });
                assert_eq!(panic_message(caught.unwrap_err()), "bad call");
                from_thread::run(|| async { panic!("bad async call") }).unwrap()
            })
            .await
            .ok()
        })
    }));
    assert_eq!(panic_message(outcome.unwrap_err()), "bad async call");
}

#[test]
fn with_a_token_a_foreign_thread_calls_into_the_run() {
    bounded().run(async {
        let token = current_trio_token();
        let (done_tx, done_rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let name = from_thread::run_with_token(&token, || async {
                trio::checkpoint().await.unwrap();
                current_task().name().to_string()
            })
            .unwrap();
            let sum = from_thread::run_sync_with_token(&token, || 2 + 2).unwrap();
            done_tx.send((name, sum)).unwrap();
        });
        // Never block the run's thread (say, on `thread.join()`): the thread needs the run.
        let (name, sum) = trio::cancellable(done_rx).await.unwrap().unwrap();
        thread.join().unwrap();
        assert!(!name.is_empty());
        assert_eq!(sum, 4);
    });
}

#[test]
fn after_the_run_calls_with_its_token_return_run_finished() {
    let token = bounded().run(async { current_trio_token() });
    let err: RunFinished = from_thread::run_with_token(&token, || async { 1 }).unwrap_err();
    assert!(err.to_string().contains("finished"), "{err}");
    assert!(from_thread::run_sync_with_token(&token, || 1).is_err());
}

/// An abandoned thread that calls back after the run ended gets `RunFinished`, not a hang.
#[test]
fn an_abandoned_thread_calling_back_after_the_run_gets_run_finished() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (answer_tx, answer_rx) = mpsc::channel::<Result<u32, RunFinished>>();
    bounded().run(async move {
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let call = trio::move_on_after(Duration::from_millis(1), async move {
            to_thread::run_sync(move || {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                answer_tx.send(from_thread::run_sync(|| 5)).unwrap();
            })
            .abandon_on_cancel(true)
            .await?;
            Ok(())
        });
        let ((), outcome) = futures::join!(
            async {
                trio::cancellable(started_rx).await.unwrap().ok();
            },
            call
        );
        assert_eq!(outcome.unwrap(), None);
    });
    go_tx.send(()).unwrap();
    assert!(answer_rx.recv().unwrap().is_err());
}

#[test]
fn check_cancelled_is_ok_while_nothing_was_cancelled() {
    bounded().run(async {
        let seen: Result<(), Cancelled> = to_thread::run_sync(from_thread::check_cancelled).await.unwrap();
        assert_eq!(seen, Ok(()));
    });
}

#[test]
#[should_panic(expected = "did not start")]
fn check_cancelled_outside_a_worker_thread_panics() {
    let _ = from_thread::check_cancelled();
}

#[test]
#[should_panic(expected = "pass the run's TrioToken")]
fn run_from_a_thread_that_to_thread_did_not_start_panics() {
    let _ = from_thread::run_sync(|| ());
}

#[test]
#[should_panic(expected = "cannot be called from inside a run")]
fn run_with_token_inside_the_run_panics_instead_of_deadlocking() {
    bounded().run(async {
        let token = current_trio_token();
        let _ = from_thread::run_sync_with_token(&token, || ());
    });
}
