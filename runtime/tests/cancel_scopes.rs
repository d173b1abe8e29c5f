//! Cancel scopes: which scope catches, shielding, level-triggered delivery, deadlines and
//! timeouts, effective deadlines, single entry. Ported from the behaviour of Trio's
//! `test_run.py` cancel tests.

mod common;

use std::time::Duration;

use common::{ManualClock, at, run_auto, run_manual, secs};
use trio::lowlevel::{cancel_shielded_checkpoint, checkpoint_if_cancelled, wait_all_tasks_blocked};
use trio::{CancelScope, Cancelled, Error, Instant, TooSlow};

fn is_cancelled<T>(r: &Result<T, Cancelled>) -> bool {
    r.is_err()
}

#[test]
fn checkpoint_if_cancelled_only_fails_once_cancelled() {
    trio::run(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        let out = scope
            .run(async move {
                checkpoint_if_cancelled().await?;
                handle.cancel();
                assert!(is_cancelled(&checkpoint_if_cancelled().await));
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, Some(()));
        assert!(!scope.cancelled_caught());
    });
}

#[test]
fn checkpoint_fails_after_cancel() {
    trio::run(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        scope
            .run(async move {
                trio::checkpoint().await?;
                handle.cancel();
                assert!(is_cancelled(&trio::checkpoint().await));
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn blocking_in_a_cancelled_scope_fails_at_once() {
    trio::run(async {
        let scope = CancelScope::new();
        scope.cancel();
        scope
            .run(async {
                assert!(trio::sleep_forever().await.is_err());
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn cancel_shielded_checkpoint_ignores_cancellation() {
    trio::run(async {
        let scope = CancelScope::new();
        scope.cancel();
        scope
            .run(async {
                cancel_shielded_checkpoint().await;
                cancel_shielded_checkpoint().await;
                assert!(is_cancelled(&trio::checkpoint().await));
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn cancel_is_idempotent_and_caught() {
    trio::run(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        let out = scope
            .run(async move {
                handle.cancel();
                handle.cancel();
                trio::checkpoint().await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, None);
        assert!(scope.cancel_called());
        assert!(scope.cancelled_caught());
    });
}

#[test]
fn cancellation_is_level_triggered() {
    trio::run(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        scope
            .run(async move {
                handle.cancel();
                for _ in 0..3 {
                    assert!(trio::sleep_forever().await.is_err());
                    assert!(trio::checkpoint().await.is_err());
                }
                Ok(())
            })
            .await
            .unwrap();
        assert!(!scope.cancelled_caught(), "the body swallowed every Cancelled itself");
    });
}

#[test]
fn when_two_scopes_are_cancelled_the_outer_one_catches() {
    trio::run(async {
        let (s1, s2, s3) = (CancelScope::new(), CancelScope::new(), CancelScope::new());
        let (h2, h3) = (s2.clone(), s3.clone());
        let s3_run = s3.clone();
        s1.run(async {
            s2.run(async move {
                s3_run
                    .run(async move {
                        h3.cancel();
                        h2.cancel();
                        trio::sleep_forever().await?;
                        Ok(())
                    })
                    .await?;
                Ok(())
            })
            .await?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(s3.cancel_called() && !s3.cancelled_caught());
        assert!(s2.cancel_called() && s2.cancelled_caught());
        assert!(!s1.cancel_called() && !s1.cancelled_caught());
    });
}

#[test]
fn a_shield_stops_outer_cancellation_but_not_its_own() {
    trio::run(async {
        let s1 = CancelScope::new();
        let s2 = CancelScope::new();
        let (h1, h2) = (s1.clone(), s2.clone());
        s1.run(async move {
            s2.run(async move {
                h1.cancel();
                assert!(trio::sleep_forever().await.is_err());
                assert!(trio::sleep_forever().await.is_err());
                h2.set_shield(true);
                trio::checkpoint().await?; // shielded from s1
                h2.cancel();
                assert!(trio::sleep_forever().await.is_err());
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
fn shielding_and_unshielding_while_running() {
    trio::run(async {
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let (o, i) = (outer.clone(), inner.clone());
        outer
            .run(async move {
                i.clone()
                    .run(async move {
                        trio::checkpoint().await?;
                        o.cancel();
                        assert!(trio::checkpoint().await.is_err());
                        assert!(!i.shield());
                        i.set_shield(true);
                        assert!(i.shield());
                        trio::checkpoint().await?; // protected from `outer`
                        let innerest = CancelScope::new();
                        let h = innerest.clone();
                        innerest
                            .run(async move {
                                h.cancel();
                                // a shield does not protect from scopes inside it
                                assert!(trio::checkpoint().await.is_err());
                                Ok(())
                            })
                            .await?;
                        trio::checkpoint().await?;
                        i.set_shield(false);
                        assert!(trio::checkpoint().await.is_err());
                        i.set_shield(true);
                        trio::checkpoint().await?;
                        // nor from the shielded scope itself: this Cancelled is inner's to catch
                        i.cancel();
                        trio::checkpoint().await?;
                        Ok(())
                    })
                    .await?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(inner.cancelled_caught());
        assert!(!outer.cancelled_caught());
    });
}

#[test]
fn pending_cancellation_is_not_delivered_after_the_scope_exits() {
    trio::run(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        scope
            .run(async move {
                handle.cancel();
                cancel_shielded_checkpoint().await;
                Ok(())
            })
            .await
            .unwrap();
        trio::checkpoint().await.expect("the cancellation stayed inside the scope");
        assert!(!scope.cancelled_caught());
    });
}

#[test]
fn unshielding_while_a_cancellation_propagates_lets_it_reach_the_outer_scope() {
    trio::run(async {
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let (o, i) = (outer.clone(), inner.clone());
        outer
            .run(async move {
                i.clone()
                    .run(async move {
                        o.cancel();
                        let r = trio::checkpoint().await;
                        i.set_shield(true);
                        r?;
                        Ok(())
                    })
                    .await?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(outer.cancelled_caught());
        assert!(!inner.cancelled_caught());
    });
}

#[test]
fn unshielding_wakes_a_blocked_task() {
    run_auto(async {
        let outer = CancelScope::new();
        let o = outer.clone();
        outer
            .run(async move {
                trio::open_nursery(|nursery| async move {
                    o.cancel();
                    nursery.cancel_scope().set_shield(true);
                    let log = common::Log::default();
                    let l = log.clone();
                    nursery.start_soon(async move {
                        l.push("sleeping");
                        if trio::sleep_forever().await.is_err() {
                            l.push("cancelled");
                        }
                    });
                    CancelScope::shielded().run(async { Ok(wait_all_tasks_blocked(Duration::ZERO).await?) }).await?;
                    assert_eq!(log.snapshot(), ["sleeping"]);
                    nursery.cancel_scope().set_shield(false);
                    CancelScope::shielded().run(async { Ok(wait_all_tasks_blocked(Duration::ZERO).await?) }).await?;
                    assert_eq!(log.snapshot(), ["sleeping", "cancelled"]);
                    Ok(())
                })
                .await
            })
            .await
            .unwrap();
    });
}

#[test]
fn deadlines_and_their_changes() {
    let clock = ManualClock::new();
    let c = clock.clone();
    run_manual(&clock, async move {
        // A deadline on a scope that already exited never fires.
        let start = trio::current_time();
        let scope = CancelScope::new();
        let h = scope.clone();
        scope
            .run(async move {
                assert_eq!(h.deadline(), None);
                h.set_deadline(start + secs(1));
                assert_eq!(h.deadline(), Some(start + secs(1)));
                Ok(())
            })
            .await
            .unwrap();
        c.jump(secs(2));
        for _ in 0..3 {
            trio::checkpoint().await.unwrap();
        }
        assert!(!scope.cancel_called());

        // An expired deadline cancels a blocked task.
        let start = trio::current_time();
        let scope = CancelScope::with_deadline(start + secs(1));
        let c2 = c.clone();
        scope
            .run(async move {
                c2.jump(secs(2));
                trio::sleep_forever().await?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(scope.cancel_called() && scope.cancelled_caught());

        // Moving the deadline earlier takes effect at the next checkpoint.
        let start = trio::current_time();
        let scope = CancelScope::new();
        let h = scope.clone();
        let c3 = c.clone();
        scope
            .run(async move {
                trio::checkpoint().await?;
                h.set_deadline(start + secs(10));
                trio::checkpoint().await?;
                c3.jump(secs(5));
                trio::checkpoint().await?;
                h.set_deadline(start + secs(1));
                assert!(trio::checkpoint().await.is_err());
                assert!(trio::checkpoint().await.is_err());
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn moving_a_deadline_wakes_a_task_blocked_in_the_scope() {
    run_auto(async {
        let scope = CancelScope::with_deadline(at(100));
        let handle = scope.clone();
        let finished = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                wait_all_tasks_blocked(Duration::ZERO).await?;
                handle.set_deadline(at(5));
                Ok(())
            });
            scope.run(async { Ok(trio::sleep_forever().await?) }).await?;
            Ok(Some(trio::current_time()))
        })
        .await
        .unwrap();
        assert_eq!(finished, Some(at(5)));
    });
}

#[test]
fn a_timeout_becomes_a_deadline_on_entry() {
    let clock = ManualClock::new();
    clock.jump(secs(10));
    run_manual(&clock, async {
        let scope = CancelScope::with_timeout(secs(3));
        assert_eq!(scope.deadline(), None);
        assert_eq!(scope.relative_deadline(), Some(secs(3)));
        let h = scope.clone();
        scope
            .run(async move {
                assert_eq!(h.deadline(), Some(at(13)));
                Ok(())
            })
            .await
            .unwrap();
    });
}

#[test]
fn a_deadline_already_passed_at_entry_cancels_at_once() {
    let clock = ManualClock::new();
    clock.jump(secs(10));
    run_manual(&clock, async {
        let scope = CancelScope::with_deadline(at(5));
        let h = scope.clone();
        scope
            .run(async move {
                assert!(h.cancel_called(), "cancelled on entry, before any checkpoint");
                trio::checkpoint().await?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(scope.cancelled_caught());
    });
}

#[test]
fn a_huge_timeout_means_no_deadline() {
    run_auto(async {
        let scope = CancelScope::with_timeout(Duration::MAX);
        let h = scope.clone();
        scope
            .run(async move {
                assert_eq!(h.deadline(), None);
                assert_eq!(trio::current_effective_deadline(), None);
                Ok(())
            })
            .await
            .unwrap();
        let out = trio::move_on_after(Duration::MAX, async { Ok(5) }).await.unwrap();
        assert_eq!(out, Some(5));
    });
}

#[test]
fn a_huge_sleep_sleeps_forever_without_overflowing() {
    let result = trio::Builder::new().clock(ManualClock::autojumping()).try_run(async {
        trio::sleep(Duration::MAX).await.ok();
    });
    assert_eq!(result.unwrap_err().kind(), trio::RunErrorKind::Deadlock);
}

#[test]
fn effective_deadline_through_a_sequence_of_changes() {
    run_auto(async {
        assert_eq!(trio::current_effective_deadline(), None);
        let s1 = CancelScope::with_deadline(at(5));
        let s2 = CancelScope::with_deadline(at(10));
        let (h1, h2) = (s1.clone(), s2.clone());
        s1.run(async move {
            s2.run(async move {
                assert_eq!(trio::current_effective_deadline(), Some(at(5)));
                h2.set_deadline(at(3));
                assert_eq!(trio::current_effective_deadline(), Some(at(3)));
                h2.set_deadline(at(10));
                assert_eq!(trio::current_effective_deadline(), Some(at(5)));
                h2.set_shield(true);
                assert_eq!(trio::current_effective_deadline(), Some(at(10)));
                h2.set_shield(false);
                assert_eq!(trio::current_effective_deadline(), Some(at(5)));
                h1.cancel();
                assert_eq!(trio::current_effective_deadline(), Some(Instant::ZERO));
                h2.set_shield(true);
                assert_eq!(trio::current_effective_deadline(), Some(at(10)));
                Ok(())
            })
            .await?;
            assert_eq!(trio::current_effective_deadline(), Some(Instant::ZERO));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(trio::current_effective_deadline(), None);
    });
}

#[test]
fn move_on_and_fail_after() {
    run_auto(async {
        let t0 = trio::current_time();
        let out = trio::move_on_after(secs(5), async {
            trio::sleep(secs(10)).await?;
            Ok("slept")
        })
        .await
        .unwrap();
        assert_eq!(out, None);
        assert_eq!(trio::current_time() - t0, secs(5));

        let out = trio::move_on_at(trio::current_time() + secs(5), async {
            trio::sleep(secs(1)).await?;
            Ok("slept")
        })
        .await
        .unwrap();
        assert_eq!(out, Some("slept"));

        let err = trio::fail_after(secs(1), async {
            trio::sleep(secs(2)).await?;
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(err.is::<TooSlow>());
        assert!(!err.is_cancelled(), "TooSlow is not a cancellation");

        let ok = trio::fail_at(trio::current_time() + secs(2), async {
            trio::sleep(secs(1)).await?;
            Ok(3)
        })
        .await
        .unwrap();
        assert_eq!(ok, 3);
    });
}

#[test]
fn an_inner_timeout_is_caught_by_the_inner_scope() {
    // The course's nested scopes: the 2 s scope around the 4 s scope — the outer one wins.
    run_auto(async {
        let t0 = trio::current_time();
        let inner_done = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = inner_done.clone();
        let outer = trio::move_on_after(secs(2), async move {
            trio::move_on_after(secs(4), async {
                trio::sleep(secs(5)).await?;
                Ok(())
            })
            .await?;
            flag.set(true);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(outer, None);
        assert!(!inner_done.get());
        assert_eq!(trio::current_time() - t0, secs(2));
    });
}

#[test]
fn a_scope_recognises_cancelled_inside_other_errors() {
    #[derive(Debug)]
    struct Wrapped(Cancelled);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "wrapped")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    trio::run(async {
        // converted into trio::Error by `?`
        let scope = CancelScope::new();
        scope.cancel();
        let out: Option<()> = scope
            .run(async {
                let r: Result<(), Cancelled> = trio::checkpoint().await;
                r?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, None);

        // carried as the source of another error
        let scope = CancelScope::new();
        scope.cancel();
        let out: Option<()> = scope
            .run(async {
                if let Err(c) = trio::checkpoint().await {
                    return Err(Error::new(Wrapped(c)));
                }
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, None);
        assert!(scope.cancelled_caught());

        // an unrelated error is not swallowed even by a cancelled scope
        let scope = CancelScope::new();
        scope.cancel();
        let err = scope.run(async { Err::<(), _>(Error::msg("real failure")) }).await.unwrap_err();
        assert_eq!(err.to_string(), "real failure");
        assert!(!scope.cancelled_caught());
    });
}

#[test]
#[should_panic(expected = "already entered")]
fn a_scope_runs_only_one_body() {
    trio::run(async {
        let scope = CancelScope::new();
        scope.run(async { Ok(()) }).await.unwrap();
        drop(scope.run(async { Ok(()) }));
    });
}

#[test]
#[should_panic(expected = "not both")]
fn a_scope_takes_a_deadline_or_a_timeout_not_both() {
    let scope = CancelScope::with_timeout(secs(1));
    scope.set_deadline(at(5));
}

#[test]
fn cancel_before_entry_cancels_on_entry() {
    trio::run(async {
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.cancel_called());
        let out = scope
            .run(async {
                trio::checkpoint().await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(out, None);
    });
}

#[test]
fn cancel_wakes_a_task_blocked_in_another_task() {
    run_auto(async {
        let scope = CancelScope::new();
        let handle = scope.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let out = scope.run(async { Ok(trio::sleep_forever().await?) }).await?;
                assert_eq!(out, None);
                assert_eq!(trio::current_time(), Instant::ZERO, "woken without any time passing");
                Ok(())
            });
            wait_all_tasks_blocked(Duration::ZERO).await?;
            handle.cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn cancelling_a_scope_after_it_exited_only_records_the_call() {
    trio::run(async {
        let scope = CancelScope::with_deadline(at(1_000_000));
        scope.run(async { Ok(trio::checkpoint().await?) }).await.unwrap();
        assert!(!scope.is_active());
        scope.cancel();
        assert!(scope.cancel_called());
        assert!(!scope.cancelled_caught());
        trio::checkpoint().await.expect("the exited scope cancels nothing");
        assert_eq!(trio::lowlevel::current_statistics().next_deadline, None, "its deadline left with it");
    });
}

#[test]
fn the_timeout_can_change_after_run_is_called_until_the_body_starts() {
    run_auto(async {
        let scope = CancelScope::with_timeout(secs(1));
        let h = scope.clone();
        let run = scope.run(async { Ok(trio::sleep(secs(5)).await?) });
        h.set_relative_deadline(Some(secs(10))); // claimed, not yet entered: still allowed
        assert_eq!(run.await.unwrap(), Some(()));
        assert_eq!(trio::current_time(), at(5));
    });
}
