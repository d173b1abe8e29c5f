//! `sleep`, `sleep_until`, `sleep_forever`, `current_time` and `current_effective_deadline`
//! checked against Trio's rules, on an autojumping manual clock.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{at, run_auto, secs};
use trio::{CancelScope, Instant};

/// `sleep(0)` lets another runnable task go first (a schedule point), without moving the clock.
#[test]
fn sleep_zero_lets_other_tasks_run_and_takes_no_time() {
    run_auto(async {
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                flag.set(true);
                Ok(())
            });
            let t0 = trio::current_time();
            trio::sleep(Duration::ZERO).await?;
            assert!(ran.get(), "sleep(0) did not yield");
            assert_eq!(trio::current_time(), t0);
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// A deadline already passed (Trio: a past `sleep_until`) returns at once, clock untouched.
#[test]
fn sleep_until_a_past_instant_returns_without_moving_the_clock() {
    run_auto(async {
        trio::sleep(secs(10)).await.unwrap();
        trio::sleep_until(at(3)).await.unwrap();
        assert_eq!(trio::current_time(), at(10));
        trio::sleep_until(at(10)).await.unwrap(); // exactly now: also at once
        assert_eq!(trio::current_time(), at(10));
    });
}

#[test]
fn sleep_until_a_past_instant_in_a_cancelled_scope_is_cancelled() {
    run_auto(async {
        trio::sleep(secs(5)).await.unwrap();
        let scope = CancelScope::new();
        scope.cancel();
        let out = scope.run(async { Ok(trio::sleep_until(at(1)).await?) }).await.unwrap();
        assert_eq!(out, None);
        assert!(scope.cancelled_caught());
    });
}

/// `sleep_forever` ends only by cancellation, exactly at the enclosing deadline.
#[test]
fn sleep_forever_ends_at_the_enclosing_deadline() {
    run_auto(async {
        let out = trio::move_on_after(secs(7), async { Ok(trio::sleep_forever().await?) }).await.unwrap();
        assert_eq!(out, None);
        assert_eq!(trio::current_time(), at(7));
    });
}

/// A sleep longer than the enclosing timeout is cut short at the timeout, and the scope
/// (not the sleep) catches.
#[test]
fn a_sleep_past_the_scope_deadline_is_cut_short() {
    run_auto(async {
        let scope = CancelScope::with_deadline(at(4));
        let out = scope.run(async { Ok(trio::sleep(secs(100)).await?) }).await.unwrap();
        assert_eq!(out, None);
        assert!(scope.cancelled_caught());
        assert_eq!(trio::current_time(), at(4));
    });
}

/// A sleep shorter than the timeout finishes normally and the scope catches nothing.
#[test]
fn a_sleep_inside_the_deadline_completes() {
    run_auto(async {
        let scope = CancelScope::with_deadline(at(4));
        let out = scope.run(async { Ok(trio::sleep(secs(3)).await?) }).await.unwrap();
        assert_eq!(out, Some(()));
        assert!(!scope.cancelled_caught());
        assert_eq!(trio::current_time(), at(3));
    });
}

/// A shielded scope keeps a cancelled outer scope out of its sleeps.
#[test]
fn a_shielded_sleep_finishes_inside_a_cancelled_scope() {
    run_auto(async {
        let outer = CancelScope::new();
        outer.cancel();
        let out = outer
            .run(async {
                CancelScope::shielded().run(async { Ok(trio::sleep(secs(2)).await?) }).await?;
                assert_eq!(trio::current_time(), at(2));
                trio::sleep(secs(2)).await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, None);
        assert_eq!(trio::current_time(), at(2), "the unshielded sleep must not wait");
    });
}

/// Cancelling a scope from another task wakes a sleeper at once, at the current time.
#[test]
fn cancel_from_another_task_wakes_a_sleeper_at_once() {
    run_auto(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let out = scope.run(async { Ok(trio::sleep(secs(1000)).await?) }).await?;
                assert_eq!(out, None);
                assert_eq!(trio::current_time(), at(3));
                Ok(())
            });
            trio::sleep(secs(3)).await?;
            handle.cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(trio::current_time(), at(3));
    });
}

/// Sleeps with the same deadline all end in the same tick.
#[test]
fn sleeps_with_one_deadline_wake_together() {
    run_auto(async {
        let woke = Rc::new(std::cell::RefCell::new(Vec::new()));
        let w = woke.clone();
        trio::open_nursery(|nursery| async move {
            for _ in 0..5 {
                let w = w.clone();
                nursery.start_soon(async move {
                    trio::sleep_until(at(9)).await?;
                    w.borrow_mut().push(trio::current_time());
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*woke.borrow(), [at(9); 5]);
    });
}

/// `current_time` does not move by itself, only when the run sleeps; every task reads the
/// same clock.
#[test]
fn current_time_is_the_same_for_every_task_and_moves_only_with_sleeps() {
    run_auto(async {
        let t0 = trio::current_time();
        for _ in 0..100 {
            trio::checkpoint().await.unwrap();
        }
        assert_eq!(trio::current_time(), t0);
        let seen = Rc::new(Cell::new(Instant::MAX));
        let s = seen.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                trio::sleep(secs(2)).await?;
                s.set(trio::current_time());
                Ok(())
            });
            trio::sleep(secs(2)).await?;
            assert_eq!(trio::current_time(), at(2));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(seen.get(), at(2));
    });
}

#[test]
#[should_panic]
fn current_time_outside_a_run_panics() {
    let _ = trio::current_time();
}

#[test]
#[should_panic]
fn current_effective_deadline_outside_a_run_panics() {
    let _ = trio::current_effective_deadline();
}

/// A child task sees the deadlines of the scopes around the nursery, not only its own.
#[test]
fn a_child_sees_the_deadline_around_its_nursery() {
    run_auto(async {
        let seen = Rc::new(Cell::new(None));
        let s = seen.clone();
        trio::move_on_at(at(20), async move {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    s.set(trio::current_effective_deadline());
                    Ok(())
                });
                Ok(())
            })
            .await
        })
        .await
        .unwrap();
        assert_eq!(seen.get(), Some(at(20)));
    });
}

/// Relative timeouts become absolute on entry: `move_on_after(5)` at t=3 gives deadline 8.
#[test]
fn a_relative_timeout_counts_from_when_it_is_entered() {
    run_auto(async {
        trio::sleep(secs(3)).await.unwrap();
        let d = trio::move_on_after(secs(5), async { Ok(trio::current_effective_deadline()) }).await.unwrap();
        assert_eq!(d, Some(Some(at(8))));
        let d = trio::fail_after(secs(1), async { Ok(trio::current_effective_deadline()) }).await.unwrap();
        assert_eq!(d, Some(at(4)));
    });
}

/// In a scope whose deadline has passed, the effective deadline is the "-inf" of the
/// documented mapping (`Instant::ZERO`), even before the task noticed.
#[test]
fn an_expired_deadline_reads_as_cancelled() {
    run_auto(async {
        trio::sleep(secs(5)).await.unwrap();
        let scope = CancelScope::with_deadline(at(2));
        let out = scope.run(async { Ok(trio::current_effective_deadline()) }).await.unwrap();
        // The body ran synchronously to completion without a checkpoint.
        assert_eq!(out, Some(Some(Instant::ZERO)));
    });
}

/// A sleep's deadline is fixed when the future is made (documented on `Sleep`), not when it
/// is first awaited.
#[test]
fn a_sleep_counts_from_when_it_was_made() {
    run_auto(async {
        let nap = trio::sleep(secs(5));
        trio::sleep(secs(3)).await.unwrap();
        nap.await.unwrap();
        assert_eq!(trio::current_time(), at(5));
    });
}

/// Dropping a sleep before it ends removes its timer: a later sleep is not woken by it.
#[test]
fn a_dropped_sleep_leaves_no_timer_behind() {
    run_auto(async {
        let out = trio::move_on_after(secs(1), async { Ok(trio::sleep(secs(2)).await?) }).await.unwrap();
        assert_eq!(out, None);
        trio::sleep(secs(10)).await.unwrap();
        assert_eq!(trio::current_time(), at(11));
    });
}

/// A relative timeout counts from when its scope is entered (Trio), even when the future was
/// made earlier.
#[test]
fn a_timeout_made_early_counts_from_when_it_is_awaited() {
    run_auto(async {
        let timeout = trio::move_on_after(secs(5), async { Ok(trio::current_effective_deadline()) });
        trio::sleep(secs(3)).await.unwrap();
        assert_eq!(timeout.await.unwrap(), Some(Some(at(8))));
    });
}

/// A task being started sees the caller's deadline until `started()`, then the target
/// nursery's (Trio runs it in the caller's scopes until then).
#[test]
fn a_starting_task_sees_the_callers_deadline_until_started() {
    run_auto(async {
        let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
        let s = seen.clone();
        trio::open_nursery(|nursery| async move {
            let target = nursery.clone();
            trio::move_on_at(at(50), async move {
                target
                    .start(move |status: trio::TaskStatus<()>| async move {
                        s.borrow_mut().push(trio::current_effective_deadline());
                        status.started(());
                        s.borrow_mut().push(trio::current_effective_deadline());
                        trio::checkpoint().await?;
                        s.borrow_mut().push(trio::current_effective_deadline());
                        Ok(())
                    })
                    .await
            })
            .await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*seen.borrow(), [Some(at(50)), None, None]);
    });
}
