//! Trio fidelity of cancellation at the edges: a sleep tied with its enclosing deadline (every
//! order of the tied timers), `cancel_called` reading the clock, timer tie-breaks that come from
//! the run and not from process history, a scope with many child scopes, and deep nesting.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use trio::abc::SchedulePolicy;
use trio::lowlevel::{RunnableTasks, TimerInfo, TimerKind};

use common::{ManualClock, at, run_auto, run_manual, secs};

/// What a policy was offered at each tie: (sequence number, kind) of every due timer.
type Offered = Rc<RefCell<Vec<Vec<(u64, TimerKind)>>>>;

/// Fires tied timers in a fixed order: at each pick, index `picks[k]` (modulo what is left).
/// Records what it was offered.
struct TimerOrder {
    picks: Vec<usize>,
    next: usize,
    offered: Offered,
}

impl TimerOrder {
    fn new(picks: Vec<usize>) -> (TimerOrder, Offered) {
        let offered = Rc::new(RefCell::new(Vec::new()));
        (TimerOrder { picks, next: 0, offered: offered.clone() }, offered)
    }
}

impl SchedulePolicy for TimerOrder {
    fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
        0
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        self.offered.borrow_mut().push(due.iter().map(|t| (t.seq, t.kind)).collect());
        let pick = self.picks.get(self.next).copied().unwrap_or(0) % due.len();
        self.next += 1;
        pick
    }
}

/// Every sequence of picks for `n` tied timers (n! orders).
fn all_orders(n: usize) -> Vec<Vec<usize>> {
    if n <= 1 {
        return vec![vec![0]];
    }
    let mut orders = Vec::new();
    for first in 0..n {
        for rest in all_orders(n - 1) {
            let mut order = vec![first];
            order.extend(rest);
            orders.push(order);
        }
    }
    orders
}

fn run_with_order<T>(picks: Vec<usize>, future: impl std::future::Future<Output = T>) -> T {
    let (policy, _) = TimerOrder::new(picks);
    trio::Builder::new().clock(ManualClock::autojumping()).policy(policy).run(future)
}

// ===== a sleep tied with its enclosing deadline =====

#[test]
fn a_sleep_tied_with_the_enclosing_deadline_is_cancelled_in_every_timer_order() {
    for picks in all_orders(2) {
        let after_sleep = Rc::new(Cell::new(false));
        let flag = after_sleep.clone();
        let outcome = run_with_order(picks.clone(), async move {
            let t = trio::current_time() + secs(5);
            trio::move_on_at(t, async move {
                trio::sleep_until(t).await?;
                flag.set(true);
                Ok("the body went on")
            })
            .await
            .unwrap()
        });
        assert_eq!(outcome, None, "timer order {picks:?}: the enclosing scope catches, as in Trio");
        assert!(!after_sleep.get(), "timer order {picks:?}: no code runs after the sleep");
    }
}

#[test]
fn a_relative_sleep_tied_with_a_timeout_is_cancelled_in_every_timer_order() {
    for picks in all_orders(3) {
        let outcome = run_with_order(picks.clone(), async {
            trio::move_on_after(secs(3), async {
                trio::move_on_after(secs(3), async {
                    trio::sleep(secs(3)).await?;
                    Ok(1)
                })
                .await?;
                Ok(2)
            })
            .await
            .unwrap()
        });
        assert_eq!(outcome, None, "timer order {picks:?}: the outermost cancelled scope catches");
    }
}

#[test]
fn a_sleep_tied_with_a_shielded_deadline_still_returns() {
    // Behind a shield the outer deadline does not reach the sleep: it ends normally.
    for picks in all_orders(2) {
        let outcome = run_with_order(picks.clone(), async {
            let t = trio::current_time() + secs(5);
            trio::move_on_at(t, async move {
                let inner = trio::CancelScope::shielded();
                let slept = inner.run(async move { Ok(trio::sleep_until(t).await.is_ok()) }).await?;
                Ok(slept)
            })
            .await
            .unwrap()
        });
        // The shielded body returns Some(true); the outer scope then catches nothing more
        // because its body finished without a checkpoint.
        assert_eq!(outcome, Some(Some(true)), "timer order {picks:?}");
    }
}

#[test]
fn a_sleep_that_ends_before_the_deadline_returns_normally() {
    let outcome = run_auto(async {
        let t = trio::current_time() + secs(5);
        trio::move_on_at(t, async move {
            trio::sleep_until(t - secs(1)).await?;
            Ok(7)
        })
        .await
        .unwrap()
    });
    assert_eq!(outcome, Some(7));
}

// ===== cancel_called reads the clock =====

#[test]
fn cancel_called_is_true_as_soon_as_the_deadline_is_set_to_now() {
    run_auto(async {
        let scope = trio::CancelScope::new();
        let handle = scope.clone();
        scope
            .run(async move {
                assert!(!handle.cancel_called());
                handle.set_deadline(trio::current_time());
                assert!(handle.cancel_called(), "no scheduling step needed");
                handle.set_deadline(None);
                assert!(handle.cancel_called(), "never reverts");
                Ok(())
            })
            .await
            .unwrap();
        assert!(scope.cancelled_caught() || scope.cancel_called());
    });
}

#[test]
fn cancel_called_is_true_once_a_clock_jump_passes_the_deadline() {
    let clock = ManualClock::new();
    let jumper = clock.clone();
    run_manual(&clock, async move {
        let scope = trio::CancelScope::with_deadline(at(5));
        assert!(!scope.cancel_called());
        jumper.jump(secs(5));
        assert!(scope.cancel_called(), "an unentered scope whose deadline passed");

        let active = trio::CancelScope::with_deadline(at(10));
        let handle = active.clone();
        let jumper = jumper.clone();
        active
            .run(async move {
                assert!(!handle.cancel_called());
                jumper.jump(secs(5));
                assert!(handle.cancel_called(), "an active scope whose deadline passed");
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn cancel_called_of_an_exited_scope_does_not_change_with_the_clock() {
    let clock = ManualClock::new();
    let jumper = clock.clone();
    run_manual(&clock, async move {
        let scope = trio::CancelScope::with_deadline(at(5));
        scope.run(async { Ok(()) }).await.unwrap();
        jumper.jump(secs(10));
        assert!(!scope.cancel_called(), "a finished scope is not cancelled after the fact");
    });
}

// ===== tie-breaks come from the run =====

fn offered_ties() -> Vec<Vec<(u64, TimerKind)>> {
    let (policy, offered) = TimerOrder::new(Vec::new());
    trio::Builder::new().clock(ManualClock::autojumping()).policy(policy).run(async {
        trio::open_nursery(|nursery| async move {
            let t = trio::current_time() + secs(1);
            for _ in 0..2 {
                nursery.start_soon(async move {
                    trio::move_on_at(t, async { Ok(trio::sleep_forever().await?) }).await?;
                    Ok(())
                });
                nursery.start_soon(async move { Ok(trio::sleep_until(t).await?) });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    offered.borrow().clone()
}

#[test]
fn timer_tie_breaks_do_not_depend_on_what_ran_before_in_the_process() {
    let first = offered_ties();
    assert!(!first.is_empty() && first[0].len() == 4, "four timers tie: {first:?}");
    // Unrelated scopes made outside any run, and a whole other run full of scopes.
    let _unrelated: Vec<trio::CancelScope> = (0..1000).map(|_| trio::CancelScope::new()).collect();
    run_auto(async {
        for _ in 0..100 {
            trio::move_on_after(secs(1), async { Ok(()) }).await.unwrap();
        }
    });
    assert_eq!(offered_ties(), first, "the same program offers the same ties, numbered the same");
    // Creation order: the first task's scope deadline comes before the first task's sleep.
    let kinds: Vec<TimerKind> = first[0].iter().map(|(_, kind)| *kind).collect();
    assert_eq!(kinds, [TimerKind::Deadline, TimerKind::Sleep, TimerKind::Deadline, TimerKind::Sleep]);
}

#[test]
fn a_scope_made_outside_the_run_is_numbered_on_entry() {
    let outer = trio::CancelScope::with_deadline(at(1));
    let (policy, offered) = TimerOrder::new(Vec::new());
    trio::Builder::new().clock(ManualClock::autojumping()).policy(policy).run(async move {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move { Ok(trio::sleep_until(at(1)).await?) });
            trio::checkpoint().await?;
            outer.run(async { Ok(trio::sleep_forever().await?) }).await?;
            Ok(())
        })
        .await
        .unwrap();
    });
    let offered = offered.borrow();
    // The sleep registered first, then the scope was entered: entry order.
    let kinds: Vec<TimerKind> = offered[0].iter().map(|(_, kind)| *kind).collect();
    assert_eq!(kinds, [TimerKind::Sleep, TimerKind::Deadline]);
}

// ===== a scope with many child scopes =====

#[test]
fn cancelling_a_scope_with_many_child_scopes_reaches_every_task() {
    // The child list is pruned when it grows past 16; every live child must survive pruning.
    for children in [15usize, 16, 17, 33, 64, 100] {
        let finished = run_auto(async move {
            let done = Rc::new(Cell::new(0usize));
            let count = done.clone();
            trio::open_nursery(|nursery| async move {
                for i in 0..children {
                    let done = count.clone();
                    nursery.start_soon(async move {
                        // Each child opens a scope of its own under the nursery's status; some
                        // of them exit early so that pruning has dead entries to drop.
                        if i % 3 == 0 {
                            trio::CancelScope::new().run(async { Ok(()) }).await?;
                        }
                        let inner = trio::CancelScope::new();
                        let caught = inner.run(async { Ok(trio::sleep_forever().await?) }).await;
                        assert!(caught.is_err(), "the outer cancellation passes through the inner scope");
                        done.set(done.get() + 1);
                        Ok(())
                    });
                }
                trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
                nursery.cancel_scope().cancel();
                Ok(())
            })
            .await
            .unwrap();
            done.get()
        });
        assert_eq!(finished, children, "{children} child scopes: every one was cancelled");
    }
}

// ===== deep nesting =====

fn nested_scopes(depth: usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = trio::Result<usize>>>> {
    Box::pin(async move {
        if depth == 0 {
            trio::checkpoint().await?;
            return Ok(0);
        }
        let inner = trio::CancelScope::new().run(nested_scopes(depth - 1)).await?;
        Ok(inner.unwrap_or(0) + 1)
    })
}

fn nested_nurseries(depth: usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = trio::Result<Option<usize>>>>> {
    Box::pin(async move {
        if depth == 0 {
            trio::checkpoint().await?;
            return Ok(Some(0));
        }
        let inner = trio::open_nursery(|_nursery| nested_nurseries(depth - 1)).await?;
        Ok(inner.map(|d| d + 1))
    })
}

/// Runs `f` on a thread with a big stack: the nesting itself is the user's recursion of
/// futures, which needs stack in proportion; what is measured is the runtime's own work.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(512 << 20).spawn(f).unwrap().join().unwrap()
}

/// `run_auto` without a stack budget, for a thread with a big stack.
fn run_deep<F: std::future::Future>(future: F) -> F::Output {
    trio::Builder::new().clock(ManualClock::autojumping()).stack_budget(None).run(future)
}

#[test]
fn ten_thousand_nested_nurseries_run_in_linear_time() {
    let depth = on_big_stack(|| run_deep(nested_nurseries(10_000)).unwrap());
    assert_eq!(depth, Some(10_000));
}

#[test]
fn ten_thousand_nested_scopes_cancel_in_linear_time() {
    let caught = on_big_stack(|| {
        run_deep(async {
            let outer = trio::CancelScope::new();
            outer.cancel();
            outer.run(nested_scopes(10_000)).await.unwrap()
        })
    });
    assert_eq!(caught, None);
}

#[test]
fn nesting_past_the_stack_budget_is_a_clear_panic_not_a_stack_overflow() {
    // On an ordinary 2 MiB test thread, 100,000 nested nurseries would overflow the stack and
    // abort the whole test process; the budget stops the task first, with a message.
    let outcome = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| std::panic::catch_unwind(|| run_auto(nested_nurseries(100_000))).map(|_| ()))
        .unwrap()
        .join()
        .unwrap();
    let payload = outcome.unwrap_err();
    let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("past its stack budget"), "{message}");
    assert!(message.contains("Builder::stack_budget"), "says what to do: {message}");
    // It names how deep the task was nested when it ran out: hundreds of levels or more here.
    let depth: usize = message
        .split(" at ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no nesting depth in: {message}"));
    assert!((100..=100_000).contains(&depth), "a depth of {depth} nested scopes: {message}");
}

#[test]
fn leaving_nested_nurseries_whose_body_yielded_costs_no_extra_schedule_points() {
    // Each level yielding on its way out would re-poll the whole chain once per level:
    // O(depth²). The body's own schedule point stands for the nursery's.
    let points = on_big_stack(|| {
        run_deep(async {
            let before = trio::lowlevel::current_task().schedule_points();
            nested_nurseries(1_000).await.unwrap();
            trio::lowlevel::current_task().schedule_points() - before
        })
    });
    assert!(points <= 2, "{points} schedule points for 1,000 nested nurseries");
}

#[test]
fn an_empty_nursery_whose_body_never_yielded_is_still_a_schedule_point() {
    run_auto(async {
        let task = trio::lowlevel::current_task();
        let before = task.schedule_points();
        trio::open_nursery(|_| async { Ok(()) }).await.unwrap();
        assert_eq!(task.schedule_points(), before + 1);
    });
}

/// Task `n` opens a nursery and starts task `n + 1` in it: statuses nest `depth` deep while
/// every task's own stack stays shallow.
fn chain(depth: usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = trio::Result<()>>>> {
    Box::pin(async move {
        trio::open_nursery(|nursery| async move {
            if depth > 0 {
                nursery.start_soon(chain(depth - 1));
            } else {
                trio::sleep_forever().await?;
            }
            Ok(())
        })
        .await
    })
}

#[test]
fn cancelling_twenty_thousand_nested_nurseries_across_tasks_does_not_overflow_the_stack() {
    // Propagating the cancellation walks 20,000 nested statuses; a recursive walk would need
    // far more than a test thread's 2 MiB of stack.
    run_auto(async {
        let scope = trio::CancelScope::new();
        let handle = scope.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                scope.run(chain(20_000)).await?;
                Ok(())
            });
            trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            handle.cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}
