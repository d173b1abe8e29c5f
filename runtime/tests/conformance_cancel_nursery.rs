//! Conformance of cancel scopes, timeouts, nurseries and `start` with Trio's rules, as Trio's
//! documentation and its `test_timeouts.py` / `test_run.py` state them: each test checks one
//! rule that the other cancel and nursery test files do not.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{Log, ManualClock, at, run_auto, run_manual, secs};
use trio::lowlevel::{current_statistics, current_task, wait_all_tasks_blocked};
use trio::{CancelScope, Error, Nursery, TaskStatus, TooSlow};

// ===== helpers =====

/// An error as text, nested groups spelled out: `[a, [b, Cancelled]]`.
fn describe(error: &Error) -> String {
    match error.as_group() {
        Some(group) => {
            let entries: Vec<String> = group.entries().iter().map(|e| describe(e.error())).collect();
            format!("[{}]", entries.join(", "))
        }
        None if error.is_cancelled() => "Cancelled".to_string(),
        None => error.to_string(),
    }
}

// ===== relative deadlines =====

#[test]
fn a_timeout_is_measured_from_entry_not_from_construction() {
    let clock = ManualClock::new();
    let jumper = clock.clone();
    run_manual(&clock, async move {
        let scope = CancelScope::with_timeout(secs(5));
        jumper.jump(secs(3));
        let probe = scope.clone();
        scope
            .run(async move {
                assert_eq!(probe.deadline(), Some(at(8)), "now (3 s) + 5 s, not construction time + 5 s");
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn the_relative_deadline_of_an_entered_scope_is_the_time_left() {
    let clock = ManualClock::new();
    let jumper = clock.clone();
    run_manual(&clock, async move {
        let scope = CancelScope::with_timeout(secs(5));
        let probe = scope.clone();
        scope
            .run(async move {
                assert_eq!(probe.relative_deadline(), Some(secs(5)));
                jumper.jump(secs(2));
                assert_eq!(probe.relative_deadline(), Some(secs(3)), "counts down with the clock");
                probe.set_deadline(at(6));
                assert_eq!(probe.relative_deadline(), Some(secs(4)), "follows an absolute deadline too");
                probe.set_deadline(None);
                assert_eq!(probe.relative_deadline(), None, "no deadline, no time left to count");
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn setting_the_relative_deadline_of_an_entered_scope_counts_from_now() {
    run_auto(async {
        let scope = CancelScope::with_timeout(secs(5));
        let probe = scope.clone();
        let out = scope
            .run(async move {
                trio::sleep(secs(2)).await?;
                probe.set_relative_deadline(Some(secs(4)));
                assert_eq!(probe.deadline(), Some(at(6)), "now (2 s) + 4 s");
                assert_eq!(probe.relative_deadline(), Some(secs(4)));
                trio::sleep(secs(10)).await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, None);
        assert_eq!(trio::current_time(), at(6), "cancelled at the new deadline, not at 5 s");
    });
}

// ===== deadlines while inside =====

#[test]
fn a_clock_jump_past_the_deadline_is_seen_at_the_next_checkpoint() {
    let clock = ManualClock::new();
    let jumper = clock.clone();
    run_manual(&clock, async move {
        let scope = CancelScope::with_deadline(at(5));
        scope
            .run(async move {
                trio::checkpoint().await?;
                jumper.jump(secs(10));
                assert!(trio::checkpoint().await.is_err(), "a plain checkpoint, not a sleep, notices it");
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn extending_or_clearing_the_deadline_of_an_active_scope_takes_effect_at_once() {
    run_auto(async {
        let scope = CancelScope::with_deadline(at(1));
        let probe = scope.clone();
        let out = scope
            .run(async move {
                probe.set_deadline(at(10));
                trio::sleep(secs(5)).await?; // past the old deadline
                probe.set_deadline(None);
                assert_eq!(current_statistics().next_deadline, None, "its timer is gone");
                trio::sleep(secs(50)).await?;
                Ok("finished")
            })
            .await
            .unwrap();
        assert_eq!(out, Some("finished"));
        assert!(!scope.cancel_called());
        assert_eq!(trio::current_time(), at(55));
    });
}

#[test]
fn a_cancelled_scope_keeps_no_timer_even_when_its_deadline_moves() {
    run_auto(async {
        let scope = CancelScope::with_deadline(at(100));
        let handle = scope.clone();
        scope
            .run(async move {
                assert_eq!(current_statistics().next_deadline, Some(at(100)));
                handle.cancel();
                assert_eq!(current_statistics().next_deadline, None, "cancelled: the deadline is moot");
                handle.set_deadline(at(200));
                assert_eq!(current_statistics().next_deadline, None);
                assert_eq!(trio::current_effective_deadline(), Some(trio::Instant::ZERO));
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn a_deadline_equal_to_now_at_entry_cancels_a_zero_sleep() {
    run_auto(async {
        let out = trio::move_on_at(trio::current_time(), async {
            trio::sleep(Duration::ZERO).await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(out, None);
    });
}

#[test]
fn an_unentered_scope_whose_deadline_was_set_to_now_stays_cancelled() {
    run_auto(async {
        let scope = CancelScope::with_deadline(at(1));
        assert!(!scope.cancel_called());
        scope.set_deadline(trio::current_time());
        assert!(scope.cancel_called());
        scope.set_deadline(at(100));
        assert!(scope.cancel_called(), "never becomes un-cancelled");
        let out = scope.run(async { Ok(trio::checkpoint().await?) }).await.unwrap();
        assert_eq!(out, None, "the moved deadline did not undo the cancellation");
        assert!(scope.cancelled_caught());
    });
}

// ===== cancel and shield outside the body =====

#[test]
fn a_scope_cancelled_before_any_run_cancels_its_body_inside_one() {
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.cancel_called());
    let handle = scope.clone();
    let out = trio::run(async move { handle.run(async { Ok(trio::checkpoint().await?) }).await.unwrap() });
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
}

#[test]
fn a_shield_set_before_entry_protects_from_the_first_checkpoint() {
    run_auto(async {
        let outer = CancelScope::new();
        let o = outer.clone();
        outer
            .run(async move {
                let inner = CancelScope::new();
                inner.set_shield(true);
                let i = inner.clone();
                o.cancel();
                inner
                    .run(async move {
                        trio::checkpoint().await?; // shielded from the start
                        i.set_shield(false);
                        assert!(trio::checkpoint().await.is_err());
                        Ok(())
                    })
                    .await?;
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn a_shielded_timeout_scope_still_fires_its_own_deadline() {
    run_auto(async {
        let outer = CancelScope::new();
        let o = outer.clone();
        let inner = CancelScope::with_timeout(secs(3));
        inner.set_shield(true);
        let i = inner.clone();
        outer
            .run(async move {
                o.cancel();
                let out = i.run(async { Ok(trio::sleep_forever().await?) }).await?;
                assert_eq!(out, None, "the shielded scope's own timeout ended the sleep");
                Ok(())
            })
            .await
            .unwrap();
        assert!(inner.cancelled_caught());
        assert_eq!(trio::current_time(), at(3), "the outer cancellation did not reach past the shield");
    });
}

#[test]
fn a_cancel_after_the_last_checkpoint_is_called_but_not_caught() {
    run_auto(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        let out = scope
            .run(async move {
                trio::checkpoint().await?;
                handle.cancel();
                Ok(7)
            })
            .await
            .unwrap();
        assert_eq!(out, Some(7), "the body's value survives");
        assert!(scope.cancel_called());
        assert!(!scope.cancelled_caught());
    });
}

// ===== fail_after / fail_at =====

#[test]
fn fail_after_fails_only_when_its_scope_caught_the_cancellation() {
    run_auto(async {
        // The deadline passes, but the body swallows the Cancelled and returns: no TooSlow.
        let out = trio::fail_after(secs(1), async {
            let r = trio::sleep(secs(10)).await;
            assert!(r.is_err());
            Ok("swallowed")
        })
        .await
        .unwrap();
        assert_eq!(out, "swallowed");
        assert_eq!(trio::current_time(), at(1));

        // The deadline passes after the body's last checkpoint: no TooSlow either.
        let clock_was = trio::current_time();
        let out = trio::fail_after(Duration::ZERO, async { Ok(3) }).await.unwrap();
        assert_eq!(out, 3);
        assert_eq!(trio::current_time(), clock_was);
    });
}

#[test]
fn fail_at_a_past_deadline_fails_at_the_first_checkpoint_only() {
    run_auto(async {
        trio::sleep(secs(10)).await.unwrap();
        assert_eq!(trio::fail_at(at(5), async { Ok(1) }).await.unwrap(), 1, "no checkpoint, no TooSlow");
        let err = trio::fail_at(at(5), async {
            trio::sleep(Duration::ZERO).await?;
            Ok(2)
        })
        .await
        .unwrap_err();
        assert!(err.is::<TooSlow>(), "{err:?}");
        let err = trio::fail_at(trio::current_time(), async {
            trio::checkpoint().await?;
            Ok(3)
        })
        .await
        .unwrap_err();
        assert!(err.is::<TooSlow>(), "a deadline equal to now has passed: {err:?}");
    });
}

#[test]
fn fail_after_inside_a_cancelled_outer_scope_passes_the_cancellation_on() {
    run_auto(async {
        let outer = CancelScope::with_timeout(secs(2));
        let out = outer
            .run(async {
                let r = trio::fail_after(secs(2), async {
                    trio::sleep_forever().await?;
                    Ok(())
                })
                .await;
                let err = r.unwrap_err();
                assert!(!err.is::<TooSlow>(), "the outer scope is cancelled too, so it catches: {err:?}");
                assert!(err.is_cancelled());
                Err::<(), _>(err)
            })
            .await
            .unwrap();
        assert_eq!(out, None);
        assert!(outer.cancelled_caught());
    });
}

#[test]
fn fail_after_in_a_shielded_scope_inside_a_cancelled_one_still_fails() {
    run_auto(async {
        let outer = CancelScope::new();
        outer.cancel();
        let err = outer
            .run(async {
                CancelScope::shielded()
                    .run(async {
                        trio::fail_after(secs(4), async {
                            trio::sleep_forever().await?;
                            Ok(())
                        })
                        .await
                    })
                    .await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(err.is::<TooSlow>(), "{err:?}");
        assert_eq!(trio::current_time(), at(4));
    });
}

#[test]
fn fail_after_lets_a_real_error_through_instead_of_too_slow() {
    run_auto(async {
        let err = trio::fail_after(secs(1), async {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(async {
                    trio::sleep_forever().await.ok();
                    Err(Error::msg("cleanup failed"))
                });
                trio::sleep_forever().await?;
                Ok(())
            })
            .await
        })
        .await
        .unwrap_err();
        assert!(!err.is::<TooSlow>(), "{err:?}");
        assert_eq!(describe(&err), "[cleanup failed]", "the timeout's cancellations are gone, the error stays");
        assert_eq!(trio::current_time(), at(1));
    });
}

// ===== nurseries =====

#[test]
fn a_cancelled_scope_around_a_nursery_whose_child_never_checkpoints_catches_nothing() {
    run_auto(async {
        let scope = CancelScope::new();
        scope.cancel();
        let task = current_task();
        let before = task.schedule_points();
        let out = scope
            .run(async {
                trio::open_nursery(|nursery| async move {
                    nursery.start_soon(async {});
                    Ok(())
                })
                .await
            })
            .await
            .unwrap();
        assert_eq!(out, Some(()), "waiting for children is no cancel point");
        assert!(!scope.cancelled_caught());
        assert!(task.schedule_points() > before, "but it is a schedule point");
    });
}

#[test]
fn a_nursery_in_a_cancelled_scope_reports_the_body_error_without_cancellations() {
    run_auto(async {
        let scope = CancelScope::new();
        scope.cancel();
        let err = scope
            .run(async { trio::open_nursery(|_nursery| async { Err::<(), _>(Error::msg("key error")) }).await })
            .await
            .unwrap_err();
        let group = err.as_group().expect("a group");
        assert_eq!(group.len(), 1, "{group}");
        assert_eq!(group.entries()[0].error().to_string(), "key error");
        assert!(!scope.cancelled_caught(), "no Cancelled was ever raised");
    });
}

#[test]
fn an_error_in_the_body_cancels_the_children_and_the_nursery_waits_for_them() {
    let log = Log::default();
    let l = log.clone();
    let err = run_auto(async move {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let r = trio::sleep_forever().await;
                // cleanup that takes time, behind a shield
                CancelScope::shielded().run(async { Ok(trio::sleep(secs(2)).await?) }).await.unwrap();
                l.push(format!("child cancelled={} done at {}", r.is_err(), trio::current_time()));
                r?;
                Ok(())
            });
            trio::sleep(secs(1)).await?;
            Err::<(), _>(Error::msg("body failed"))
        })
        .await
        .unwrap_err()
    });
    assert_eq!(log.take(), ["child cancelled=true done at 3s"]);
    let group = err.as_group().expect("a group");
    assert_eq!(group.len(), 1, "the child's Cancelled is the nursery's own: {group}");
    assert!(group.entries()[0].task().ends_with("(nursery body)"));
}

#[test]
fn failures_are_gathered_in_the_order_the_tasks_finished() {
    let err = run_auto(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("first-started", async {
                // cancelled when its sibling fails, then fails itself
                trio::sleep_forever().await.ok();
                Err(Error::msg("second failure"))
            });
            nursery.start_soon_named("second-started", async {
                trio::sleep(secs(1)).await?;
                Err(Error::msg("first failure"))
            });
            Ok(())
        })
        .await
        .unwrap_err()
    });
    let group = err.as_group().expect("a group");
    let order: Vec<(&str, String)> = group.entries().iter().map(|e| (e.task(), e.error().to_string())).collect();
    assert_eq!(
        order,
        [("second-started", "first failure".to_string()), ("first-started", "second failure".to_string())]
    );
}

#[test]
fn a_deadline_on_the_nursery_scope_cancels_the_children_and_is_caught() {
    run_auto(async {
        let mut scope = None;
        let out = trio::open_nursery(|nursery| {
            scope = Some(nursery.cancel_scope());
            async move {
                nursery.cancel_scope().set_deadline(at(4));
                for _ in 0..3 {
                    nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
                }
                Ok(Some("body done"))
            }
        })
        .await
        .unwrap();
        assert_eq!(out, Some("body done"), "the body finished before the deadline: its value stays");
        assert_eq!(trio::current_time(), at(4));
        assert!(scope.unwrap().cancelled_caught());
    });
}

#[test]
fn the_nursery_scope_catches_only_when_a_cancellation_was_delivered() {
    run_auto(async {
        // A child fails while nobody else is waiting: the scope is cancelled, nothing caught.
        let mut scope = None;
        let err = trio::open_nursery(|nursery| {
            scope = Some(nursery.cancel_scope());
            async move {
                nursery.start_soon(async { Err(Error::msg("lonely failure")) });
                Ok(())
            }
        })
        .await
        .unwrap_err();
        assert_eq!(err.as_group().unwrap().len(), 1);
        let scope = scope.unwrap();
        assert!(scope.cancel_called());
        assert!(!scope.cancelled_caught());

        // A child fails while a sibling sleeps: the sibling's Cancelled is caught.
        let mut scope = None;
        let err = trio::open_nursery(|nursery| {
            scope = Some(nursery.cancel_scope());
            async move {
                nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
                nursery.start_soon(async {
                    trio::sleep(secs(1)).await?;
                    Err(Error::msg("failure"))
                });
                Ok(())
            }
        })
        .await
        .unwrap_err();
        assert_eq!(err.as_group().unwrap().len(), 1);
        assert!(scope.unwrap().cancelled_caught());
    });
}

#[test]
fn the_wait_for_children_is_not_abortable() {
    run_auto(async {
        let outer = CancelScope::new();
        let o = outer.clone();
        let finished = Rc::new(Cell::new(false));
        let f = finished.clone();
        let out = outer
            .run(async move {
                trio::open_nursery(|nursery| async move {
                    nursery.start_soon(async move {
                        CancelScope::shielded().run(async { Ok(trio::sleep(secs(5)).await?) }).await?;
                        f.set(true);
                        Ok(())
                    });
                    o.cancel(); // cancels the parent's wait for its children too
                    Ok(())
                })
                .await
            })
            .await
            .unwrap();
        assert!(finished.get(), "open_nursery returned only after its child finished");
        assert_eq!(trio::current_time(), at(5));
        assert_eq!(out, Some(()), "nothing in the nursery raised Cancelled");
    });
}

// ===== cancellations inside nested groups =====

#[test]
fn the_catching_scope_removes_cancellations_from_nested_groups_too() {
    // The outer nursery is cancelled while the inner one fails: the inner nursery cannot keep
    // its own cancellations (the outer cancellation is visible to it), so its group carries a
    // Cancelled outward; the outer nursery, which catches, must remove it there as well.
    let mut outer_scope = None;
    let err = run_auto(async {
        trio::open_nursery(|outer| {
            outer_scope = Some(outer.cancel_scope());
            async move {
                outer.start_soon(async { Ok(trio::sleep_forever().await?) });
                outer.start_soon(async { Err(Error::msg("outer child")) });
                trio::open_nursery(|inner| async move {
                    inner.start_soon(async { Ok(trio::sleep_forever().await?) });
                    inner.start_soon(async { Err(Error::msg("inner child")) });
                    outer.cancel_scope().cancel();
                    Ok(())
                })
                .await
            }
        })
        .await
        .unwrap_err()
    });
    assert_eq!(describe(&err), "[outer child, [inner child]]");
    assert!(outer_scope.unwrap().cancelled_caught());
}

#[test]
fn a_cancel_scope_removes_cancellations_from_nested_groups_too() {
    // The same through a plain scope: neither nursery may keep its cancellations, because the
    // scope around both is cancelled; the scope removes them at every depth.
    run_auto(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        let err = scope
            .run(async move {
                trio::open_nursery(|outer| async move {
                    outer.start_soon(async { Ok(trio::sleep_forever().await?) });
                    outer.start_soon(async { Err(Error::msg("outer child")) });
                    trio::open_nursery(|inner| async move {
                        inner.start_soon(async { Ok(trio::sleep_forever().await?) });
                        inner.start_soon(async { Err(Error::msg("inner child")) });
                        handle.cancel();
                        Ok(())
                    })
                    .await
                })
                .await
            })
            .await
            .unwrap_err();
        assert_eq!(describe(&err), "[outer child, [inner child]]");
        assert!(scope.cancelled_caught());
    });
}

// ===== start =====

/// A task that opens a nursery, hands it out through `started`, and waits there until the
/// nursery is cancelled.
async fn serve_nursery(task_status: TaskStatus<Nursery>) -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        task_status.started(nursery);
        trio::sleep_forever().await?;
        Ok(())
    })
    .await
}

#[test]
fn start_into_a_cancelled_nursery_runs_uncancelled_until_started() {
    run_auto(async {
        let log = Log::default();
        let l = log.clone();
        trio::open_nursery(|nursery| async move {
            let target = nursery.start(serve_nursery).await?;
            target.cancel_scope().cancel();
            let got = target
                .start(|ts: TaskStatus<u32>| async move {
                    // Before started() the task runs in the caller's scopes, which are not cancelled.
                    trio::sleep(secs(1)).await?;
                    l.push("slept before started");
                    ts.started(5);
                    let r = trio::sleep(secs(1)).await;
                    l.push(format!("after started cancelled={}", r.is_err()));
                    r?;
                    Ok(())
                })
                .await?;
            assert_eq!(got, 5);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(log.take(), ["slept before started", "after started cancelled=true"]);
        assert_eq!(trio::current_time(), at(1));
    });
}

#[test]
fn start_works_while_the_target_body_is_done_but_children_still_run() {
    run_auto(async {
        trio::open_nursery(|outer| async move {
            trio::open_nursery(|target| async move {
                target.start_soon(async { Ok(trio::sleep(secs(2)).await?) });
                let t = target.clone();
                outer.start_soon(async move {
                    trio::sleep(secs(1)).await?; // the target's body has returned by now
                    assert!(!t.is_closed());
                    let v = t
                        .start(|ts: TaskStatus<&'static str>| async move {
                            ts.started("joined");
                            trio::sleep(secs(5)).await?;
                            Ok(())
                        })
                        .await?;
                    assert_eq!(v, "joined");
                    Ok(())
                });
                Ok(())
            })
            .await?;
            assert_eq!(trio::current_time(), at(6), "the target waited for the task started into it");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_start_that_fails_before_started_still_lets_the_target_nursery_close() {
    run_auto(async {
        trio::open_nursery(|outer| async move {
            trio::open_nursery(|target| async move {
                outer.start_soon(async move {
                    let err = target
                        .start(|_ts: TaskStatus| async {
                            trio::sleep(secs(7)).await?;
                            Err(Error::msg("never started"))
                        })
                        .await
                        .unwrap_err();
                    assert_eq!(err.to_string(), "never started");
                    Ok(())
                });
                wait_all_tasks_blocked(Duration::ZERO).await?;
                Ok(())
            })
            .await?;
            assert_eq!(trio::current_time(), at(7), "the pending start kept the target open until it failed");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn the_wait_of_start_is_not_abortable() {
    // The caller's scope is cancelled while the task starts behind a shield: start() keeps
    // waiting, started() is then a no-op (the caller is cancelled), and the task's clean exit
    // hands its value back.
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            let scope = CancelScope::with_deadline(at(1));
            let n = nursery.clone();
            let out = scope
                .run(async move {
                    let v = n
                        .start(|ts: TaskStatus<&'static str>| async move {
                            CancelScope::shielded().run(async { Ok(trio::sleep(secs(5)).await?) }).await?;
                            ts.started("late");
                            Ok(())
                        })
                        .await?;
                    Ok(v)
                })
                .await?;
            assert_eq!(out, Some("late"));
            assert_eq!(trio::current_time(), at(5), "start() returned when the task ended, not at the deadline");
            assert_eq!(nursery.child_count(), 0, "the task never moved into the nursery");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_starting_task_that_swallows_its_callers_cancellation_and_ends_cleanly_hands_back_its_value() {
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            let scope = CancelScope::new();
            scope.cancel();
            let n = nursery.clone();
            let out = scope
                .run(async move {
                    let v = n
                        .start(|ts: TaskStatus<u8>| async move {
                            assert!(trio::checkpoint().await.is_err(), "the caller is cancelled");
                            ts.started(9); // a no-op move: the task stays under start()
                            assert!(trio::checkpoint().await.is_err(), "still in the caller's scopes");
                            Ok(())
                        })
                        .await?;
                    Ok(v)
                })
                .await?;
            assert_eq!(out, Some(9), "the task ended cleanly, so start() returns its value");
            assert_eq!(nursery.child_count(), 0);
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn started_inside_a_cancelled_scope_of_the_task_itself_still_moves_the_task() {
    // Whether started() moves the task depends on the caller's scopes only, not on scopes the
    // task entered itself.
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            let got = nursery
                .start(|ts: TaskStatus<u8>| async move {
                    let own = CancelScope::new();
                    own.cancel();
                    own.run(async move {
                        ts.started(1);
                        Ok(trio::checkpoint().await?)
                    })
                    .await?;
                    trio::sleep(secs(3)).await?;
                    Ok(())
                })
                .await?;
            assert_eq!(got, 1);
            assert_eq!(trio::current_time(), at(0), "start returned at started(), not when the task ended");
            assert_eq!(nursery.child_count(), 1, "the task moved into the nursery");
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(trio::current_time(), at(3));
    });
}

#[test]
fn a_starting_task_sees_the_callers_deadline_until_started_then_the_nurserys() {
    run_auto(async {
        trio::open_nursery(|nursery| async move {
            nursery.cancel_scope().set_deadline(at(100));
            let n = nursery.clone();
            trio::move_on_at(at(10), async move {
                n.start(|ts: TaskStatus| async move {
                    assert_eq!(trio::current_effective_deadline(), Some(at(10)), "the caller's scope");
                    ts.started(());
                    assert_eq!(trio::current_effective_deadline(), Some(at(100)), "the nursery's scope");
                    Ok(())
                })
                .await
            })
            .await?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn started_can_be_called_at_most_once_because_the_status_cannot_be_copied() {
    // Trio raises RuntimeError on a second started(); here started() consumes the status, so a
    // second call does not compile — as long as TaskStatus is neither Clone nor Copy. This
    // resolves to the blanket impl only when no `Clone` impl competes with it.
    trait AmbiguousIfClone<A> {
        fn check() {}
    }
    impl<T: ?Sized> AmbiguousIfClone<()> for T {}
    #[allow(dead_code, reason = "only its existence matters: it makes the call ambiguous for Clone types")]
    struct IfClone;
    impl<T: Clone> AmbiguousIfClone<IfClone> for T {}
    <TaskStatus<u32> as AmbiguousIfClone<_>>::check();
}

// ===== misnesting =====

#[test]
#[should_panic(expected = "cancel scope stack corrupted")]
fn a_scope_first_polled_inside_another_scope_cannot_be_finished_outside_it() {
    // Trio raises RuntimeError when a scope is exited out of order; here the Rust form of that
    // mistake is a scope's future that outlives the scope it was entered in: an outer
    // cancellation would never reach its body.
    run_auto(async {
        let mut work = Box::pin(CancelScope::new().run(async { Ok(trio::sleep(secs(10)).await?) }));
        let first = work.as_mut();
        trio::move_on_after(secs(1), async move {
            let _ = futures::poll!(first);
            Ok(())
        })
        .await
        .unwrap();
        let _ = work.await;
    });
}

#[test]
#[should_panic(expected = "cancel scope stack corrupted")]
fn a_scope_cannot_be_moved_to_another_task() {
    type Work = std::pin::Pin<Box<dyn std::future::Future<Output = trio::Result<Option<()>>>>>;
    run_auto(async {
        let handoff: Rc<std::cell::RefCell<Option<Work>>> = Rc::default();
        let h = handoff.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                // Entered inside a scope of the child's own, which the parent cannot see.
                CancelScope::new()
                    .run(async move {
                        let mut work: Work =
                            Box::pin(CancelScope::new().run(async { Ok(trio::sleep(secs(10)).await?) }));
                        let _ = futures::poll!(work.as_mut());
                        *h.borrow_mut() = Some(work);
                        Ok(trio::sleep_forever().await?)
                    })
                    .await?;
                Ok(())
            });
            wait_all_tasks_blocked(Duration::ZERO).await?;
            let work = handoff.borrow_mut().take().expect("handed over");
            work.await?; // entered in the child task, polled in this one
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
#[should_panic(expected = "cancel scope stack corrupted")]
fn a_nursery_first_polled_inside_another_scope_cannot_be_finished_outside_it() {
    run_auto(async {
        let mut work = Box::pin(trio::open_nursery(|nursery| async move {
            nursery.start_soon(async { Ok(trio::sleep(secs(10)).await?) });
            trio::sleep(secs(10)).await?;
            Ok(())
        }));
        let first = work.as_mut();
        trio::move_on_after(secs(1), async move {
            let _ = futures::poll!(first);
            Ok(())
        })
        .await
        .unwrap();
        let _ = work.await;
    });
}

#[test]
#[should_panic(expected = "start them in a nursery")]
fn timeouts_polled_through_a_set_under_a_timeout_are_misnested() {
    // The tokio habit `timeout(d, set.next())` in a loop: the timeouts in the set are entered
    // under the first iteration's scope and then polled under the next one's.
    use futures::StreamExt;
    run_auto(async {
        let mut set = futures::stream::FuturesUnordered::new();
        for s in [5, 6] {
            set.push(trio::move_on_after(secs(10), async move { Ok(trio::sleep(secs(s)).await?) }));
        }
        loop {
            let next = trio::move_on_after(secs(1), async { Ok(set.next().await) }).await.unwrap();
            if let Some(None) = next {
                break;
            }
        }
    });
}

#[test]
fn a_scope_polled_in_turns_with_others_inside_one_scope_is_fine() {
    // Not misnesting: two scopes polled side by side (join) inside the same enclosing scope.
    // (A scope whose task moved into a nursery with started() is another: see
    // `started_inside_a_cancelled_scope_of_the_task_itself_still_moves_the_task`.)
    run_auto(async {
        let (a, b) = futures::join!(
            trio::move_on_after(secs(1), async { Ok(trio::sleep(secs(5)).await?) }),
            trio::move_on_after(secs(3), async { Ok(trio::sleep(secs(2)).await?) }),
        );
        assert_eq!((a.unwrap(), b.unwrap()), (None, Some(())));
        assert_eq!(trio::current_time(), at(2));
    });
}

// ===== run =====

#[test]
fn run_hands_back_an_error_from_main_unchanged() {
    let out: trio::Result<u8> = run_auto(async {
        trio::sleep(secs(1)).await?;
        Err(Error::msg("main failed"))
    });
    assert_eq!(out.unwrap_err().to_string(), "main failed");
}
