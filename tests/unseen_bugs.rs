//! Bugs the explorer was not tuned on (`tests/unseen/mod.rs`): for each, the buggy version
//! passes in the default order, the default explorer (`Explore::new`, no policy, the default
//! budget) finds it from base seeds 1 to 5, and the correct version passes 2,000 schedules.
//!
//! `cargo test --release --test unseen_bugs -- --ignored --nocapture --test-threads=1` prints
//! the table of docs/PERFORMANCE.md ("Bugs the explorer was not tuned on").

mod unseen;

use trio_testkit::explore::{Explore, FailureKind, PolicyKind};
use unseen::*;

/// One unseen bug.
struct Bug {
    name: &'static str,
    kind: FailureKind,
    /// Part of the failure's message: the bug's own assertion (or what the deadlock waits on).
    message: &'static str,
    /// Cancellation injection bound, for bugs only a cancellation shows.
    inject: Option<u64>,
    program: Program,
}

const BASES: std::ops::RangeInclusive<u64> = 1..=5;

fn explorer(bug: &Bug, base: u64) -> Explore {
    let mut explore = Explore::new(format!("unseen_bugs::{}", bug.name)).seed(base).persist(false);
    if let Some(bound) = bug.inject {
        explore = explore.inject_cancellations(bound);
    }
    explore
}

/// The contract for one bug.
fn check(bug: &Bug) {
    let program = bug.program;
    Explore::new(format!("unseen_bugs::{}", bug.name))
        .policy(PolicyKind::Fifo)
        .schedules(1)
        .persist(false)
        .run(|| program(true))
        .unwrap_or_else(|f| panic!("{} fails in the default order already:\n{f}", bug.name));
    for base in BASES {
        let failure = explorer(bug, base)
            .shrink(false)
            .run(|| program(true))
            .expect_err("the default explorer finds the bug within the default budget");
        assert_eq!(failure.kind, bug.kind, "{failure}");
        assert!(failure.message.contains(bug.message), "{} failed for another reason:\n{failure}", bug.name);
    }
    let summary = explorer(bug, 1)
        .schedules(2_000)
        .run(|| program(false))
        .unwrap_or_else(|f| panic!("the correct {} failed:\n{f}", bug.name));
    assert!(summary.distinct > 1, "the exploration really explored");
}

macro_rules! bugs {
    ($($test:ident: $name:ident, $kind:ident, $message:literal, $inject:expr;)*) => {
        const BUGS: &[Bug] = &[$(Bug {
            name: stringify!($name),
            kind: FailureKind::$kind,
            message: $message,
            inject: $inject,
            program: $name,
        }),*];
        $(
            #[test]
            fn $test() {
                check(BUGS.iter().find(|bug| bug.name == stringify!($name)).unwrap());
            }
        )*
    };
}

bugs! {
    finds_a_lost_condition_wakeup: condition_lost_wakeup, Deadlock, "Condition::wait", None;
    finds_a_limiter_token_leaked_on_cancellation: limiter_leak, Panic, "a limiter token leaked", Some(8);
    finds_a_double_lazy_init: lazy_init, Panic, "connected twice", None;
    finds_a_channel_closed_too_early: channel_closed_early, Panic, "a value was lost", None;
    finds_a_lost_update_in_a_loop: rmw_in_loop, Panic, "an increment was lost", None;
    finds_a_close_while_in_use_across_three_tasks: close_while_in_use, Panic, "while a query was using it", None;
    finds_a_write_after_a_lease_ended_at_a_timer_tie: lease_tie, Panic, "wrote after its lease ended", None;
    finds_an_event_reused_after_set: event_reused, Panic, "woke for value", None;
    finds_a_start_that_reports_started_too_soon: started_too_soon, Panic, "had no route", None;
    finds_a_lock_kept_on_one_path: lock_kept_on_one_path, Panic, "the producer cannot take the lock", None;
    finds_a_half_committed_transfer: two_phase_commit, Panic, "half-committed transfer", None;
    finds_a_select_that_drops_a_message: select_drops_message, Panic, "was dropped", None;
}

// ===== the measurement =====

/// The schedules an exploration of `bug` under `policy` from `base` ran until its first failure.
fn schedules_to_failure(bug: &Bug, policy: PolicyKind, base: u64, budget: u64) -> Option<u64> {
    let program = bug.program;
    let result = explorer(bug, base).schedules(budget).policy(policy).shrink(false).threads(1).run(|| program(true));
    match result {
        Ok(_) => None,
        // A failure found by cancellation injection has no schedule index: count it as one.
        Err(failure) => Some(failure.schedule_index.map_or(1, |index| index + 1)),
    }
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

const POLICIES: [PolicyKind; 6] = [
    PolicyKind::Random,
    PolicyKind::Pct { depth: 2 },
    PolicyKind::Pct { depth: 3 },
    PolicyKind::Pos,
    PolicyKind::Surw,
    PolicyKind::Mixed,
];

/// Per bug and policy: the median / the worst schedules to the first failure over base seeds
/// 1 to 21, each exploration capped at 20,000 schedules ("— (k/21)": found from k seeds only).
#[test]
#[ignore = "a measurement: prints the table of docs/PERFORMANCE.md"]
fn unseen_schedules_to_first_failure() {
    const CAP: u64 = 20_000;
    print!("| bug |");
    for policy in POLICIES {
        print!(" {policy} |");
    }
    println!();
    println!("| --- |{}", " ---: |".repeat(POLICIES.len()));
    for bug in BUGS {
        print!("| {} |", bug.name);
        for policy in POLICIES {
            let found: Vec<u64> = (1..=21).filter_map(|base| schedules_to_failure(bug, policy, base, CAP)).collect();
            let all = found.len();
            let worst = found.iter().max().copied().unwrap_or(0);
            let cell = if all * 2 > 21 {
                let mut padded = found;
                padded.resize(21, CAP + 1);
                if all == 21 {
                    format!("{} / {worst}", median(padded))
                } else {
                    format!("{} / — ({all}/21)", median(padded))
                }
            } else {
                format!("— ({all}/21)")
            };
            print!(" {cell} |");
        }
        println!();
    }
}
