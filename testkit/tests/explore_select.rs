//! `trio::select!`: the first branch to finish wins and the others are dropped; when several
//! are ready at once, which wins is a decision of the run.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use trio::lowlevel::Fifo;
use trio_testkit::explore::trace::DecisionKind;
use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::policy::Random;

/// Two channels with a message each: both branches are ready at the first poll.
async fn both_ready() -> &'static str {
    let (tx_a, rx_a) = trio::open_memory_channel::<u32>(1);
    let (tx_b, rx_b) = trio::open_memory_channel::<u32>(1);
    tx_a.try_send(1).unwrap();
    tx_b.try_send(2).unwrap();
    let winner = trio::select! {
        a = rx_a.recv() => { assert_eq!(a.unwrap(), Some(1)); "a" }
        b = rx_b.recv() => { assert_eq!(b.unwrap(), Some(2)); "b" }
    };
    // The loser was dropped before it took anything: its message is still there.
    let left = if winner == "a" { rx_b.try_recv() } else { rx_a.try_recv() };
    assert!(left.is_ok(), "the losing branch lost its message");
    winner
}

#[test]
fn under_the_default_policy_the_first_ready_branch_wins() {
    for _ in 0..3 {
        assert_eq!(trio::Builder::new().policy(Fifo).run(both_ready()), "a");
    }
    assert_eq!(trio::run(both_ready()), "a");
}

#[test]
fn under_exploration_every_ready_branch_wins_sometimes() {
    let winners = Mutex::new(BTreeSet::new());
    Explore::new("explore_select::both_ready")
        .schedules(32)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(|| async {
            let winner = both_ready().await;
            winners.lock().unwrap().insert(winner);
        })
        .unwrap();
    assert_eq!(winners.into_inner().unwrap(), BTreeSet::from(["a", "b"]));
}

#[test]
fn the_branch_order_is_a_decision_named_after_the_call_site() {
    let failure = Explore::new("explore_select::b_must_not_win")
        .schedules(64)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(|| async { assert_eq!(both_ready().await, "a", "b won") })
        .unwrap_err();
    let shrunk = failure.shrunk.as_ref().expect("shrunk");
    let decisions: Vec<_> = shrunk.trace.decisions().filter(|d| d.is_deviation()).collect();
    assert_eq!(decisions.len(), 1, "{}", shrunk.trace);
    let DecisionKind::Choice { options: 2, what } = &decisions[0].kind else { panic!("{:?}", decisions[0]) };
    assert!(what.starts_with("select! at testkit/tests/explore_select.rs:"), "{what}");
    let replayed = Explore::new("explore_select::b_must_not_win")
        .replay(shrunk.schedule.clone())
        .persist(false)
        .shrink(false)
        .run(|| async { assert_eq!(both_ready().await, "a", "b won") })
        .unwrap_err();
    assert!(replayed.message.contains("b won"), "{}", replayed.message);
}

#[test]
fn the_first_to_finish_wins_and_the_losers_are_dropped_before_the_handler_runs() {
    struct Flag<'a>(&'a std::cell::Cell<bool>);
    impl Drop for Flag<'_> {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = std::cell::Cell::new(false);
    let (outcome, elapsed) =
        trio::Builder::new().clock(trio_testkit::MockClock::autojump()).policy(Random::new()).seed(3).run(async {
            let start = trio::current_time();
            let outcome: trio::Result<&str> = async {
                let outcome = trio::select! {
                    _ = async {
                        let _flag = Flag(&dropped);
                        trio::sleep(Duration::from_secs(5)).await
                    } => "slow",
                    r = trio::sleep(Duration::from_secs(1)) => {
                        r?; // a handler may use `?`
                        assert!(dropped.get(), "the slow branch still lives while the handler runs");
                        "fast"
                    }
                };
                Ok(outcome)
            }
            .await;
            (outcome.unwrap(), trio::current_time() - start)
        });
    assert_eq!(outcome, "fast");
    assert_eq!(elapsed, Duration::from_secs(1));
}

#[test]
fn a_cancelled_scope_makes_the_branches_return_cancelled() {
    let caught: Option<()> = trio::run(async {
        let scope = trio::CancelScope::new();
        scope.cancel();
        scope
            .run(async {
                trio::select! {
                    r = trio::sleep_forever() => r?,
                    r = trio::checkpoint() => r?,
                }
                panic!("every branch fails with Cancelled");
            })
            .await
            .unwrap()
    });
    assert_eq!(caught, None);
}

#[test]
fn a_single_branch_needs_no_decision_and_returns_its_handler_value() {
    let value = trio::Builder::new().policy(Random::new()).seed(1).run(async {
        trio::select! {
            v = async { 41 } => v + 1,
        }
    });
    assert_eq!(value, 42);
}

/// A future that fails the test if it is ever polled.
async fn never_polled() -> u32 {
    panic!("a disabled branch was polled")
}

#[test]
fn a_false_precondition_disables_its_branch_without_polling_it() {
    let value = trio::Builder::new().policy(Random::new()).seed(5).run(async {
        let ready = false;
        trio::select! {
            v = never_polled(), if ready => v,
            v = async { 2 } => v,
        }
    });
    assert_eq!(value, 2);
}

#[test]
fn a_branch_whose_output_does_not_match_is_disabled_and_the_others_polled_on() {
    let (winner, dropped_value) = trio::Builder::new().policy(Fifo).run(async {
        let (tx, rx) = trio::open_memory_channel::<u32>(1);
        drop(tx);
        let (tx_b, rx_b) = trio::open_memory_channel::<u32>(1);
        let mut polled_b = 0;
        let winner = trio::select! {
            // The channel is closed: `Ok(None)` does not match, so this branch is disabled.
            Ok(Some(v)) = rx.recv() => v,
            v = async {
                polled_b += 1;
                tx_b.try_send(9).unwrap();
                rx_b.recv().await.unwrap().unwrap()
            } => v,
        };
        (winner, polled_b)
    });
    assert_eq!(winner, 9);
    assert_eq!(dropped_value, 1);
}

#[test]
fn else_runs_when_every_branch_is_disabled() {
    let value = trio::run(async {
        let (tx, rx) = trio::open_memory_channel::<u32>(1);
        drop(tx);
        trio::select! {
            v = never_polled(), if false => v,
            Ok(Some(v)) = rx.recv() => v,
            else => 100,
        }
    });
    assert_eq!(value, 100);
}

#[test]
fn else_does_not_run_while_a_branch_is_enabled() {
    let value = trio::Builder::new().clock(trio_testkit::MockClock::autojump()).run(async {
        trio::select! {
            _ = trio::sleep(Duration::from_secs(1)) => 1,
            else => 100,
        }
    });
    assert_eq!(value, 1);
}

#[test]
fn without_else_a_select_whose_branches_are_all_disabled_panics_naming_it() {
    let panic = std::panic::catch_unwind(|| {
        trio::run(async {
            trio::select! {
                v = never_polled(), if false => v,
                v = never_polled(), if 1 > 2 => v,
            }
        })
    })
    .unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("every branch of the select! at testkit/tests/explore_select.rs:"), "{message}");
    assert!(message.contains("no `else` branch"), "{message}");
}

#[test]
fn patterns_may_bind_with_mut_and_ref_at_any_depth() {
    let value = trio::run(async {
        trio::select! {
            (Some(mut a), ref b, [c, ..], Point { x: mut px, .. }) =
                async { (Some(1), String::from("two"), [3, 4], Point { x: 5, y: 6 }) } =>
            {
                a += 10;
                px += 100;
                format!("{a} {b} {c} {px}")
            }
        }
    });
    assert_eq!(value, "11 two 3 105");
}

struct Point {
    x: i32,
    #[allow(dead_code)]
    y: i32,
}

#[test]
fn biased_always_polls_from_the_top_and_asks_no_decision() {
    Explore::new("explore_select::biased")
        .schedules(32)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(|| async {
            let (tx_a, rx_a) = trio::open_memory_channel::<u32>(1);
            let (tx_b, rx_b) = trio::open_memory_channel::<u32>(1);
            tx_a.try_send(1).unwrap();
            tx_b.try_send(2).unwrap();
            let winner = trio::select! {
                biased;
                _ = rx_a.recv() => "a",
                _ = rx_b.recv() => "b",
            };
            assert_eq!(winner, "a", "a biased select! let a lower branch win");
        })
        .unwrap();
}

#[test]
fn a_disabled_branch_is_not_an_option_of_the_decision() {
    let failure = Explore::new("explore_select::disabled_not_offered")
        .schedules(64)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(|| async {
            let (tx_a, rx_a) = trio::open_memory_channel::<u32>(1);
            let (tx_c, rx_c) = trio::open_memory_channel::<u32>(1);
            tx_a.try_send(1).unwrap();
            tx_c.try_send(3).unwrap();
            let winner = trio::select! {
                _ = rx_a.recv() => "a",
                v = never_polled(), if false => { let _ = v; "b" }
                _ = rx_c.recv() => "c",
            };
            assert_ne!(winner, "b");
            assert_eq!(winner, "a", "c won");
        })
        .unwrap_err();
    assert!(failure.message.contains("c won"), "{}", failure.message);
    let shrunk = failure.shrunk.as_ref().expect("shrunk");
    let choices: Vec<_> = shrunk
        .trace
        .decisions()
        .filter_map(|d| match &d.kind {
            DecisionKind::Choice { options, what } if what.starts_with("select! at") => Some(*options),
            _ => None,
        })
        .collect();
    // Every poll asks again; each time only the two enabled branches are options.
    assert!(!choices.is_empty() && choices.iter().all(|&options| options == 2), "{}", shrunk.trace);
}

#[test]
fn reference_patterns_match_as_written() {
    let value = trio::run(async {
        let (five, mut six) = (5, 6);
        let a = trio::select! {
            Some(&x) = async { Some(&five) } => x,
        };
        let b = trio::select! {
            &mut y = async { &mut six } => y + 1,
        };
        let c = trio::select! {
            // A literal inside a reference pattern still decides whether the branch matches.
            Some(&7) = async { Some(&five) } => 0,
            else => 1,
        };
        (a, b, c)
    });
    assert_eq!(value, (5, 7, 1));
}
