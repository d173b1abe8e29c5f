//! Conformance of `trio::lowlevel` with Trio's own rules (its `test_run.py` low-level parts,
//! `test_instrumentation.py`, `test_local.py` and the low-level reference): instrument hook
//! order and context, run-local variables, system tasks, the root task and the task tree,
//! the abort protocol of `wait_task_rescheduled`, `current_statistics`, the entry queue and
//! `current_clock`. Where this port deviates on purpose (see `docs/design.md`) the test asserts
//! the documented behaviour and says so.

mod common;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use common::{Log, ManualClock, run_auto, secs};
use trio::CancelScope;
use trio::abc::Instrument;
use trio::lowlevel::{
    Abort, RunVar, Task, TrioToken, checkpoint_if_cancelled, current_root_task, current_statistics, current_task,
    current_trio_token, reschedule, spawn_system_task, try_current_task, wait_all_tasks_blocked, wait_task_rescheduled,
};

type Slot = Rc<RefCell<Option<Task>>>;

/// The text of a panic payload.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ===== instruments =====

/// Records every hook as `(hook, task id)`; `0` for the hooks that take no task.
#[derive(Clone, Default)]
struct Hooks(Rc<RefCell<Vec<(&'static str, u64)>>>);

impl Hooks {
    fn push(&self, hook: &'static str, task: Option<&Task>) {
        self.0.borrow_mut().push((hook, task.map_or(0, |t| t.id().as_u64())));
    }

    fn all(&self) -> Vec<(&'static str, u64)> {
        self.0.borrow().clone()
    }

    /// The hooks about `task`, plus the run's first and last, as Trio's `filter_tasks`.
    fn of(&self, tasks: &[u64]) -> Vec<(&'static str, u64)> {
        self.all()
            .into_iter()
            .filter(|(hook, id)| matches!(*hook, "before_run" | "after_run") || tasks.contains(id))
            .collect()
    }
}

impl Instrument for Hooks {
    fn before_run(&self) {
        self.push("before_run", None);
    }
    fn after_run(&self) {
        self.push("after_run", None);
    }
    fn task_spawned(&self, task: &Task) {
        self.push("spawned", Some(task));
    }
    fn task_scheduled(&self, task: &Task) {
        self.push("scheduled", Some(task));
    }
    fn before_task_step(&self, task: &Task) {
        self.push("before", Some(task));
    }
    fn after_task_step(&self, task: &Task) {
        self.push("after", Some(task));
    }
    fn task_exited(&self, task: &Task) {
        self.push("exited", Some(task));
    }
}

/// Trio's `test_instruments`: a task that checkpoints five times is scheduled when spawned,
/// then in each of its first five steps it is rescheduled by its own checkpoint *during* the
/// step (before `after_task_step`), and its sixth step ends it.
#[test]
fn a_checkpoint_reschedules_its_task_inside_the_step() {
    let hooks = Hooks::default();
    let child = Rc::new(Cell::new(0));
    let c = child.clone();
    trio::Builder::new().instrument(hooks.clone()).run(async move {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                c.set(current_task().id().as_u64());
                for _ in 0..5 {
                    trio::checkpoint().await?;
                }
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    let t = child.get();
    let mut expected = vec![("before_run", 0), ("spawned", t), ("scheduled", t)];
    for _ in 0..5 {
        expected.extend([("before", t), ("scheduled", t), ("after", t)]);
    }
    expected.extend([("before", t), ("exited", t), ("after", t), ("after_run", 0)]);
    assert_eq!(hooks.of(&[t]), expected);
}

/// Trio's `test_instruments_interleave`: two tasks that checkpoint once each. Both are
/// scheduled before either runs; each batch steps both (in FIFO order here: deviation 6).
#[test]
fn two_tasks_interleave_batch_by_batch() {
    let hooks = Hooks::default();
    trio::Builder::new().instrument(hooks.clone()).run(async {
        trio::open_nursery(|nursery| async move {
            for _ in 0..2 {
                nursery.start_soon(async {
                    trio::checkpoint().await?;
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    let (a, b) = (2, 3);
    let events: Vec<_> = hooks.of(&[a, b]).into_iter().filter(|(hook, _)| *hook != "spawned").collect();
    assert_eq!(
        events,
        [
            ("before_run", 0),
            ("scheduled", a),
            ("scheduled", b),
            // first batch: each yields at its checkpoint, which reschedules it
            ("before", a),
            ("scheduled", a),
            ("after", a),
            ("before", b),
            ("scheduled", b),
            ("after", b),
            // second batch: each finishes
            ("before", a),
            ("exited", a),
            ("after", a),
            ("before", b),
            ("exited", b),
            ("after", b),
            ("after_run", 0),
        ]
    );
}

/// Trio calls `task_exited` from inside the task's last step, so it comes before that step's
/// `after_task_step` — for the main task too.
#[test]
fn task_exited_comes_before_the_last_after_task_step() {
    let hooks = Hooks::default();
    trio::Builder::new().instrument(hooks.clone()).run(async {
        trio::checkpoint().await.unwrap();
    });
    let main: Vec<_> = hooks.of(&[1]);
    assert_eq!(
        main,
        [
            ("before_run", 0),
            ("spawned", 1),
            ("scheduled", 1),
            ("before", 1),
            ("scheduled", 1),
            ("after", 1),
            ("before", 1),
            ("exited", 1),
            ("after", 1),
            ("after_run", 0),
        ]
    );
}

/// Records, per hook, what `try_current_task` said there.
#[derive(Clone, Default)]
struct Context(Rc<RefCell<Vec<String>>>);

impl Context {
    fn task_hook(&self, hook: &str, task: &Task) {
        let current = try_current_task();
        let verdict = match current {
            Some(current) if current == *task => "in its task",
            Some(_) => "in another task",
            None => "outside any task",
        };
        self.0.borrow_mut().push(format!("{hook}: {verdict}"));
    }

    fn run_hook(&self, hook: &str) {
        let verdict = if !trio::lowlevel::in_run() {
            "outside the run"
        } else if try_current_task().is_some() {
            "in a task"
        } else {
            "in the run, outside any task"
        };
        self.0.borrow_mut().push(format!("{hook}: {verdict}"));
    }
}

impl Instrument for Context {
    fn before_run(&self) {
        self.run_hook("before_run");
    }
    fn after_run(&self) {
        self.run_hook("after_run");
    }
    fn before_task_step(&self, task: &Task) {
        self.task_hook("before_task_step", task);
    }
    fn after_task_step(&self, task: &Task) {
        self.task_hook("after_task_step", task);
    }
    fn task_exited(&self, task: &Task) {
        self.task_hook("task_exited", task);
    }
    fn before_io_wait(&self, _timeout: Option<Duration>) {
        self.run_hook("before_io_wait");
    }
    fn after_io_wait(&self, _timeout: Option<Duration>) {
        self.run_hook("after_io_wait");
    }
}

/// Trio's `test_instrument_call_trio_context`: the step hooks and `task_exited` run in the
/// task's context (`current_task()` is that task); the run and I/O-wait hooks run inside the
/// run but outside any task.
#[test]
fn step_hooks_and_task_exited_run_in_the_tasks_context() {
    let context = Context::default();
    trio::Builder::new().instrument(context.clone()).clock(ManualClock::autojumping()).run(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async {
                trio::sleep(secs(1)).await?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    let mut seen = context.0.borrow().clone();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            "after_io_wait: in the run, outside any task",
            "after_run: in the run, outside any task",
            "after_task_step: in its task",
            "before_io_wait: in the run, outside any task",
            "before_run: in the run, outside any task",
            "before_task_step: in its task",
            "task_exited: in its task",
        ]
    );
}

/// Trio's `test_instruments`, first half: several instruments see the same events, in the
/// order the run makes them.
#[test]
fn every_instrument_sees_the_same_sequence() {
    let (first, second) = (Hooks::default(), Hooks::default());
    trio::Builder::new().instrument(first.clone()).instrument(second.clone()).run(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async { Ok(trio::checkpoint().await?) });
            trio::checkpoint().await?;
            Ok(())
        })
        .await
        .unwrap();
    });
    assert!(first.all().len() > 10);
    assert_eq!(first.all(), second.all());
}

/// Wakes are reported where they happen: a task woken by an `Event::set` is scheduled during
/// the step of the task that set it.
#[test]
fn a_wake_is_reported_inside_the_waking_tasks_step() {
    let hooks = Hooks::default();
    trio::Builder::new().instrument(hooks.clone()).run(async {
        let event = Rc::new(trio::Event::new());
        let e = event.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("waiter", async move { Ok(e.wait().await?) });
            wait_all_tasks_blocked(Duration::ZERO).await?;
            nursery.start_soon_named("setter", async move { event.set() });
            Ok(())
        })
        .await
        .unwrap();
    });
    let (waiter, setter) = (2, 3);
    let events = hooks.of(&[waiter, setter]);
    let setter_step = events.iter().position(|e| *e == ("before", setter)).unwrap();
    assert_eq!(
        events[setter_step..setter_step + 4],
        [("before", setter), ("scheduled", waiter), ("exited", setter), ("after", setter)]
    );
}

struct Exploding;

impl Instrument for Exploding {
    fn before_task_step(&self, _task: &Task) {
        panic!("instrument exploded");
    }
}

/// Documented deviation: Trio logs an instrument's exception and disables the instrument; here
/// a panicking instrument panics out of `run` with its own message (nothing is swallowed, and
/// there is no logging facade). The thread's next run is unaffected.
#[test]
fn a_panicking_instrument_panics_out_of_the_run() {
    let outcome = std::panic::catch_unwind(|| {
        trio::Builder::new().instrument(Exploding).run(async {
            trio::checkpoint().await.unwrap();
        })
    });
    assert_eq!(panic_text(outcome.unwrap_err().as_ref()), "instrument exploded");
    assert_eq!(trio::run(async { 7 }), 7);
}

// ===== RunVar =====

static FISH: RunVar<&'static str> = RunVar::new("fish");
static PER_THREAD: RunVar<usize> = RunVar::new("per thread");

/// Trio's `test_accessing_runvar_outside_run_call_fails`: every access outside a run fails
/// (here: panics with advice), not only `get`.
#[test]
fn every_run_var_access_outside_a_run_panics() {
    let messages: Vec<String> = [
        std::panic::catch_unwind(|| {
            FISH.set("asdf");
        }),
        std::panic::catch_unwind(|| {
            FISH.take();
        }),
        std::panic::catch_unwind(|| {
            FISH.is_set();
        }),
        std::panic::catch_unwind(|| {
            FISH.get_or_init(|| "x");
        }),
    ]
    .into_iter()
    .map(|outcome| panic_text(outcome.unwrap_err().as_ref()))
    .collect();
    for message in messages {
        assert!(message.contains("called outside of trio::run"), "{message}");
    }
}

/// Documented deviation (Trio's `RunVarToken`/`reset`): `set` returns the previous value, and
/// putting it back — or `take` when there was none — undoes the `set`, down to "unset".
#[test]
fn putting_back_the_previous_value_undoes_a_set() {
    trio::run(async {
        let restore = |previous: Option<&'static str>| match previous {
            Some(value) => {
                FISH.set(value);
            }
            None => {
                FISH.take();
            }
        };
        let first = FISH.set("moonfish");
        let second = FISH.set("catdogfish");
        assert_eq!(FISH.get(), Some("catdogfish"));
        restore(second);
        assert_eq!(FISH.get(), Some("moonfish"));
        restore(first);
        assert_eq!(FISH.get(), None);
        assert!(!FISH.is_set(), "back to unset, as after a reset of the first token");
    });
}

/// Two runs alive at the same time on two threads each have their own value of one `static`.
#[test]
fn concurrent_runs_on_two_threads_do_not_share_a_run_var() {
    let barrier = Arc::new(Barrier::new(2));
    std::thread::scope(|scope| {
        for n in [1, 2] {
            let barrier = barrier.clone();
            scope.spawn(move || {
                trio::run(async move {
                    assert_eq!(PER_THREAD.get(), None);
                    PER_THREAD.set(n);
                    barrier.wait(); // both runs have set theirs
                    assert_eq!(PER_THREAD.get(), Some(n));
                    barrier.wait();
                });
            });
        }
    });
}

/// Records what the `before_run` and `after_run` hooks read from a `RunVar`.
#[derive(Clone, Default)]
struct RunVarHooks(Rc<RefCell<Vec<Option<&'static str>>>>);

impl Instrument for RunVarHooks {
    fn before_run(&self) {
        self.0.borrow_mut().push(FISH.get());
        FISH.set("from before_run");
    }
    fn after_run(&self) {
        self.0.borrow_mut().push(FISH.get());
    }
}

/// A `RunVar` belongs to the whole run, not only to its tasks: `before_run` and `after_run`
/// see the same variable as the tasks do.
#[test]
fn run_vars_live_from_before_run_to_after_run() {
    let hooks = RunVarHooks::default();
    let seen_by_main = trio::Builder::new().instrument(hooks.clone()).run(async {
        let seen = FISH.get();
        FISH.set("from main");
        seen
    });
    assert_eq!(seen_by_main, Some("from before_run"));
    assert_eq!(*hooks.0.borrow(), [None, Some("from main")]);
}

// ===== system tasks =====

/// A system task runs in the system nursery: the scopes around the code that spawned it do
/// not reach it (Trio: it does not inherit its creator's cancel scopes).
#[test]
fn a_system_task_ignores_the_scopes_of_its_spawner() {
    let log = Log::default();
    let l = log.clone();
    run_auto(async move {
        let scope = CancelScope::new();
        scope.cancel();
        let out = scope
            .run(async move {
                spawn_system_task(async move {
                    let r = trio::sleep(secs(5)).await;
                    l.push(format!("system task slept: {r:?} at {:?}", trio::current_time()));
                    Ok(r?)
                });
                checkpoint_if_cancelled().await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, None, "the spawner itself was cancelled");
        trio::sleep(secs(10)).await.unwrap();
    });
    assert_eq!(log.take(), [format!("system task slept: Ok(()) at {:?}", trio::Instant::from_secs(5))]);
}

/// The run cancels its system tasks when the main task finishes and then waits for them: one
/// that shields its clean-up gets to finish it before `run` returns.
#[test]
fn the_run_waits_for_a_system_tasks_shielded_cleanup() {
    let log = Log::default();
    let (l, main_log) = (log.clone(), log.clone());
    run_auto(async move {
        spawn_system_task(async move {
            let r = trio::sleep_forever().await;
            l.push(format!("cancelled: {}", r.is_err()));
            CancelScope::shielded()
                .run(async {
                    trio::sleep(secs(3)).await?;
                    Ok(())
                })
                .await?;
            l.push(format!("cleaned up at {:?}", trio::current_time()));
            Ok(())
        });
        trio::sleep(secs(1)).await.unwrap();
        main_log.push("main done");
    });
    assert_eq!(
        log.take(),
        [
            "main done".to_string(),
            "cancelled: true".to_string(),
            format!("cleaned up at {:?}", trio::Instant::from_secs(4))
        ]
    );
}

/// A system task spawned while the run shuts down starts in the cancelled system nursery, so
/// it is cancelled too and the run still ends.
#[test]
fn a_system_task_spawned_during_shutdown_starts_cancelled() {
    let log = Log::default();
    let l = log.clone();
    trio::run(async move {
        spawn_system_task(async move {
            let r = trio::sleep_forever().await;
            let late = l.clone();
            spawn_system_task(async move {
                let r = trio::sleep_forever().await;
                late.push(format!("late task cancelled: {}", r.is_err()));
                Ok(r?)
            });
            l.push("first one cancelled");
            Ok(r?)
        });
    });
    assert_eq!(log.take(), ["first one cancelled", "late task cancelled: true"]);
}

/// Trio's `test_system_task_crash`: a system task that fails while the main task is blocked
/// forever ends the run with an internal error (here, deviation 14: `run` panics naming the
/// task) — not a deadlock report.
#[test]
fn a_system_task_failing_while_main_waits_forever_fails_the_run() {
    let outcome = std::panic::catch_unwind(|| {
        trio::run(async {
            spawn_system_task(async {
                trio::checkpoint().await?;
                Err::<(), _>(trio::Error::msg("key error"))
            });
            trio::sleep_forever().await.ok();
        })
    });
    let message = panic_text(outcome.unwrap_err().as_ref());
    assert!(
        message.contains("system task") && message.contains("failed") && message.contains("key error"),
        "{message}"
    );
    assert!(!message.contains("deadlock"), "{message}");
}

#[test]
fn a_panicking_system_task_fails_the_run_with_its_message() {
    let outcome = std::panic::catch_unwind(|| {
        trio::run(async {
            spawn_system_task(async {
                panic!("boom");
            });
            trio::sleep(Duration::from_millis(1)).await.unwrap();
        })
    });
    let message = panic_text(outcome.unwrap_err().as_ref());
    assert!(message.contains("system task") && message.contains("panicked: boom"), "{message}");
}

async fn ticker_service() -> trio::Result<()> {
    trio::sleep_forever().await?;
    Ok(())
}

/// Trio's `test_spawn_name` for `spawn_system_task`, and where a system task sits in the tree:
/// named after its function, started by the root task, in no user-visible nursery, counted
/// among the living tasks.
#[test]
fn a_system_task_is_named_after_its_function_and_belongs_to_the_run() {
    trio::run(async {
        let before = current_statistics().tasks_living;
        let task = spawn_system_task(ticker_service());
        assert!(task.name().ends_with("ticker_service"), "{}", task.name());
        assert_eq!(task.parent(), Some(current_root_task().id()));
        assert!(task.parent_nursery().is_none());
        assert_eq!(current_statistics().tasks_living, before + 1);
    });
}

// ===== the root task and the task tree =====

/// Trio's `test_root_task` and `test_task_tree_introspection`: walking up from any task through
/// `parent_nursery` → `parent_task` ends at the root, whose parent nursery is `None`.
/// Documented here: the root task is the main task (there is no separate init task).
#[test]
fn walking_up_the_task_tree_ends_at_the_root() {
    let path = trio::run(async {
        let root = current_root_task();
        assert_eq!(root, current_task(), "the main task is the root");
        assert!(root.parent_nursery().is_none());
        let path = Rc::new(RefCell::new(Vec::new()));
        let p = path.clone();
        trio::open_nursery(|outer| async move {
            outer.start_soon_named("middle", async move {
                trio::open_nursery(|inner| async move {
                    inner.start_soon_named("leaf", async move {
                        let mut task = current_task();
                        p.borrow_mut().push(task.name().to_string());
                        while let Some(nursery) = task.parent_nursery() {
                            task = nursery.parent_task().expect("a user nursery has an opener");
                            p.borrow_mut().push(task.name().to_string());
                        }
                        assert_eq!(task, current_root_task());
                        p.borrow_mut().pop();
                        p.borrow_mut().push("root".to_string());
                    });
                    Ok(())
                })
                .await
            });
            Ok(())
        })
        .await
        .unwrap();
        path.take()
    });
    assert_eq!(path, ["leaf", "middle", "root"]);
}

// ===== wait_task_rescheduled and the abort protocol =====

/// `cancel()` runs the abort callback of a blocked task synchronously, before the canceller's
/// next checkpoint (Trio delivers the cancellation eagerly), and wakes the task at once.
#[test]
fn cancel_runs_the_abort_callback_immediately() {
    trio::run(async {
        let aborted = Rc::new(Cell::new(false));
        let a = aborted.clone();
        let scope = CancelScope::new();
        let handle = scope.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                scope
                    .run(async move {
                        wait_task_rescheduled(move || {
                            a.set(true);
                            Abort::Succeeded
                        })
                        .await?;
                        Ok(())
                    })
                    .await
                    .map(drop)
            });
            wait_all_tasks_blocked(Duration::ZERO).await?;
            assert_eq!(current_statistics().tasks_runnable, 0);
            handle.cancel();
            assert!(aborted.get(), "the abort ran inside cancel()");
            assert_eq!(current_statistics().tasks_runnable, 1, "and the task is runnable again");
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// Trio's `test_slow_abort_edge_cases`: the abort callback runs once per wait, even when a
/// second enclosing scope is cancelled while the first abort failed; and Trio's
/// `test_failed_abort`: once rescheduled by hand, the task sees the cancellation at its next
/// cancel point (cancellation is level-triggered).
#[test]
fn a_failed_abort_runs_once_and_the_cancellation_waits_for_the_next_cancel_point() {
    let log = Log::default();
    let l = log.clone();
    trio::run(async move {
        let slot: Slot = Rc::default();
        let s = slot.clone();
        let (outer1, outer2) = (CancelScope::new(), CancelScope::new());
        let (h1, h2) = (outer1.clone(), outer2.clone());
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let caught = outer1
                    .run(async move {
                        outer2
                            .run(async move {
                                *s.borrow_mut() = Some(current_task());
                                let l2 = l.clone();
                                let woke = wait_task_rescheduled(move || {
                                    l2.push("abort called");
                                    Abort::Failed
                                })
                                .await;
                                l.push(format!("woke: {woke:?}"));
                                let again = checkpoint_if_cancelled().await;
                                l.push(format!("next cancel point: {}", again.is_err()));
                                again?;
                                Ok(())
                            })
                            .await
                    })
                    .await?;
                assert_eq!(caught, None, "the outermost cancelled scope caught it");
                Ok(())
            });
            wait_all_tasks_blocked(Duration::ZERO).await?;
            h2.cancel();
            h1.cancel();
            wait_all_tasks_blocked(Duration::ZERO).await?;
            reschedule(&slot.borrow_mut().take().unwrap());
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.take(), ["abort called", "woke: Ok(())", "next cancel point: true"]);
}

/// The abort callback may itself reschedule the task and report `Failed` (Trio's "slow abort"
/// done at once): the wait then ends normally.
#[test]
fn an_abort_callback_may_reschedule_its_own_task() {
    trio::run(async {
        let scope = CancelScope::new();
        scope.cancel();
        let me = current_task();
        let out = scope
            .run(async move {
                let woke = wait_task_rescheduled(move || {
                    reschedule(&me);
                    Abort::Failed
                })
                .await;
                assert_eq!(woke, Ok(()));
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, Some(()), "the wait ended normally and no cancel point followed it");
    });
}

/// Trio's `test_cancel_shield_abort`: a wait inside a shielded scope is not aborted by an
/// outer cancellation; lifting the shield aborts it at once.
#[test]
fn lifting_a_shield_aborts_a_wait_at_once() {
    trio::run(async {
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let shield = CancelScope::shielded();
        let shield_handle = shield.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                shield
                    .run(async move {
                        wait_task_rescheduled(move || {
                            c.set(c.get() + 1);
                            Abort::Succeeded
                        })
                        .await?;
                        Ok(())
                    })
                    .await
                    .map(drop)
            });
            wait_all_tasks_blocked(Duration::ZERO).await?;
            nursery.cancel_scope().cancel();
            assert_eq!(calls.get(), 0, "the shield keeps the cancellation out");
            shield_handle.set_shield(false);
            assert_eq!(calls.get(), 1, "unshielding delivers it");
            Ok(())
        })
        .await
        .unwrap();
    });
}

// ===== current_statistics =====

/// Trio's `test_current_statistics`, deadline half: a cancel scope's deadline is the run's next
/// deadline while the scope is active, and gone once it exits.
#[test]
fn a_scope_deadline_is_the_next_deadline_only_while_active() {
    run_auto(async {
        assert_eq!(current_statistics().next_deadline, None);
        let deadline = trio::current_time() + secs(5);
        CancelScope::with_deadline(deadline)
            .run(async move {
                assert_eq!(current_statistics().next_deadline, Some(deadline));
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(current_statistics().next_deadline, None);
    });
}

// ===== TrioToken and the entry queue =====

/// Trio's `test_TrioToken_run_sync_soon_crashes`: a panicking callback does not stop the
/// callbacks queued after it; the run then fails (deviation 14: `run` panics).
#[test]
fn a_panicking_callback_does_not_stop_the_ones_after_it() {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let r = ran.clone();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        trio::run(async move {
            let token = current_trio_token();
            token.run_sync_soon(|| panic!("nope")).unwrap();
            token.run_sync_soon(move || r.lock().unwrap().push("second callback")).unwrap();
            drop(token);
            trio::sleep_forever().await.ok();
        })
    }));
    let message = panic_text(outcome.unwrap_err().as_ref());
    assert!(message.contains("run_sync_soon callback panicked: nope"), "{message}");
    assert_eq!(*ran.lock().unwrap(), ["second callback"]);
}

/// Trio's `test_TrioToken_run_sync_soon_starvation_resistance`: a callback that keeps queueing
/// itself runs once per look at the queue, so the tasks still run; once the run is over the
/// next queueing fails with `RunFinished`.
#[test]
fn a_callback_that_requeues_itself_does_not_starve_the_tasks() {
    fn naughty(token: TrioToken, record: Arc<Mutex<Vec<String>>>, i: u32) {
        let (t, r) = (token.clone(), record.clone());
        if token.run_sync_soon(move || naughty(t, r, i + 1)).is_err() {
            record.lock().unwrap().push(format!("run finished at {i}"));
        }
    }
    let record = Arc::new(Mutex::new(Vec::new()));
    let r = record.clone();
    trio::run(async move {
        let token = current_trio_token();
        let (t, r2) = (token.clone(), r.clone());
        token.run_sync_soon(move || naughty(t, r2, 0)).unwrap();
        drop(token);
        r.lock().unwrap().push("starting".to_string());
        for _ in 0..20 {
            trio::checkpoint().await.unwrap();
        }
    });
    let record = record.lock().unwrap().clone();
    assert_eq!(record.len(), 2, "{record:?}");
    assert_eq!(record[0], "starting");
    let last: u32 = record[1].strip_prefix("run finished at ").unwrap().parse().unwrap();
    assert!(last >= 19, "{record:?}");
}

/// Trio's `test_TrioToken_run_sync_soon_after_main_crash`: a callback queued by a main task
/// that then fails still runs before `run` reports the failure.
#[test]
fn a_callback_queued_before_main_panics_still_runs() {
    let ran = Arc::new(Mutex::new(false));
    let r = ran.clone();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        trio::run(async move {
            current_trio_token().run_sync_soon(move || *r.lock().unwrap() = true).unwrap();
            panic!("error text");
        })
    }));
    assert_eq!(panic_text(outcome.unwrap_err().as_ref()), "error text");
    assert!(*ran.lock().unwrap());
}

/// Documented deviation: there is no `idempotent=True` (closures cannot be compared), so two
/// identical callbacks queued twice both run, in order.
#[test]
fn identical_callbacks_queued_twice_both_run() {
    let count = Arc::new(Mutex::new(0));
    let c = count.clone();
    trio::run(async move {
        let token = current_trio_token();
        for _ in 0..2 {
            let c = c.clone();
            token.run_sync_soon(move || *c.lock().unwrap() += 1).unwrap();
        }
        drop(token);
        assert_eq!(current_statistics().run_sync_soon_queue_size, 2);
        trio::checkpoint().await.unwrap();
    });
    assert_eq!(*count.lock().unwrap(), 2);
}

// ===== current_clock =====

/// Trio's `test_current_clock` and `test_current_time_with_mock_clock`: the run's clock is
/// reachable from inside the run, and it is the clock `current_time` reads.
#[test]
fn current_clock_is_the_runs_clock() {
    let clock = ManualClock::new();
    let outside = clock.clone();
    trio::Builder::new().clock(clock).run(async move {
        let inside = trio::lowlevel::current_clock();
        assert_eq!(inside.current_time(), trio::current_time());
        outside.jump(Duration::from_millis(3150));
        assert_eq!(inside.current_time(), trio::Instant::from_millis(3150));
        assert_eq!(trio::current_time(), inside.current_time());
    });
}

/// Trio's `test_TrioToken_identity`: tokens of two runs differ, in equality and in hash.
#[test]
fn tokens_of_two_runs_differ_in_equality_and_hash() {
    use std::hash::{BuildHasher, RandomState};
    let (a, b) = (trio::run(async { current_trio_token() }), trio::run(async { current_trio_token() }));
    assert_ne!(a, b);
    let hasher = RandomState::new();
    assert_ne!(hasher.hash_one(&a), hasher.hash_one(&b));
}

/// A callback may start a system task (the way a thread hands work to the run).
#[test]
fn a_callback_can_spawn_a_system_task() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    trio::run(async move {
        let token = current_trio_token();
        token
            .run_sync_soon(move || {
                spawn_system_task(async move {
                    trio::checkpoint().await?;
                    l.lock().unwrap().push("system task ran");
                    Ok(())
                });
            })
            .unwrap();
        drop(token);
        for _ in 0..3 {
            trio::checkpoint().await.unwrap();
        }
    });
    assert_eq!(*log.lock().unwrap(), ["system task ran"]);
}

/// Trio: once the main task and the system tasks have exited, the system nursery is closed
/// and `spawn_system_task` fails ("closed to new arrivals") — for instance in a callback run
/// as the run ends. The task must not be silently dropped.
#[test]
fn spawning_a_system_task_after_the_run_ended_fails_loudly() {
    let outcome = std::panic::catch_unwind(|| {
        trio::run(async {
            current_trio_token()
                .run_sync_soon(|| {
                    spawn_system_task(async {});
                })
                .unwrap();
        })
    });
    let message = panic_text(outcome.expect_err("the late spawn must not pass silently").as_ref());
    assert!(message.contains("closed"), "{message}");
}

/// Trio: every `wait_task_rescheduled` gets exactly one wake-up, and an abort that succeeded
/// counts as that one, so rescheduling the task afterwards is an error.
#[test]
fn rescheduling_after_a_succeeded_abort_panics() {
    let outcome = std::panic::catch_unwind(|| {
        trio::run(async {
            let slot: Slot = Rc::default();
            let s = slot.clone();
            let scope = CancelScope::new();
            let handle = scope.clone();
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    scope
                        .run(async move {
                            *s.borrow_mut() = Some(current_task());
                            wait_task_rescheduled(|| Abort::Succeeded).await?;
                            Ok(())
                        })
                        .await
                        .map(drop)
                });
                wait_all_tasks_blocked(Duration::ZERO).await?;
                handle.cancel();
                reschedule(&slot.borrow_mut().take().unwrap());
                Ok(())
            })
            .await
            .unwrap();
        })
    });
    let message = panic_text(outcome.unwrap_err().as_ref());
    assert!(message.contains("is not waiting in wait_task_rescheduled"), "{message}");
}

/// Trio breaks an exiting task's parking lots inside `task_exited`, in the task's context; the
/// exit hooks that do it here (`Task::on_exit`) likewise see the exiting task as current.
#[test]
fn exit_hooks_run_in_the_exiting_tasks_context() {
    let log = Log::default();
    let l = log.clone();
    trio::run(async move {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("leaving", async move {
                current_task().on_exit(move |task| {
                    let current = try_current_task();
                    l.push(format!("hook for {} runs in {:?}", task.name(), current.map(|t| t.name().to_string())));
                });
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.take(), ["hook for leaving runs in Some(\"leaving\")"]);
}

/// Trio: one `reschedule` per wait; a second one before the task has run is an error.
#[test]
fn rescheduling_twice_panics() {
    let outcome = std::panic::catch_unwind(|| {
        trio::run(async {
            let slot: Slot = Rc::default();
            let s = slot.clone();
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    *s.borrow_mut() = Some(current_task());
                    wait_task_rescheduled(|| Abort::Succeeded).await?;
                    Ok(())
                });
                wait_all_tasks_blocked(Duration::ZERO).await?;
                let task = slot.borrow_mut().take().unwrap();
                reschedule(&task);
                reschedule(&task);
                Ok(())
            })
            .await
            .unwrap();
        })
    });
    let message = panic_text(outcome.unwrap_err().as_ref());
    assert!(message.contains("is not waiting in wait_task_rescheduled"), "{message}");
}

/// Trio's `test_TrioToken_run_sync_soon_late_crash`: callbacks left for the end of the run
/// (queued as the main task returns) still all run, in order, even when one of them panics;
/// the run then fails.
#[test]
fn a_callback_panicking_as_the_run_ends_still_fails_it_and_the_next_one_runs() {
    let record = Arc::new(Mutex::new(Vec::new()));
    let (r, main_record) = (record.clone(), record.clone());
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        trio::run(async move {
            let token = current_trio_token();
            token.run_sync_soon(|| panic!("nope")).unwrap();
            token.run_sync_soon(move || r.lock().unwrap().push("2nd ran")).unwrap();
            main_record.lock().unwrap().push("main exiting");
        })
    }));
    let message = panic_text(outcome.unwrap_err().as_ref());
    assert!(message.contains("run_sync_soon callback panicked: nope"), "{message}");
    assert_eq!(*record.lock().unwrap(), ["main exiting", "2nd ran"]);
}

/// Starting the run's clock again through `current_clock` does nothing: the run started it, and
/// a `SystemClock` restarted mid-run would move the run's time backwards (Trio's
/// `SystemClock.start_clock` is a no-op).
#[test]
fn starting_the_current_clock_again_does_not_move_time_back() {
    trio::Builder::new().clock(trio::SystemClock::new(5)).run(async {
        let before = trio::current_time();
        // Let real time pass without relying on how much: until the clock has moved.
        while trio::current_time() == before {
            trio::checkpoint().await.unwrap();
        }
        let moved = trio::current_time();
        trio::lowlevel::current_clock().start_clock();
        assert!(trio::current_time() >= moved, "time went back after start_clock");
    });
}
