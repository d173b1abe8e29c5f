//! The bug zoo: eight classic concurrency bugs written against this runtime, each in a buggy
//! and a correct version. For every bug the explorer must
//!
//! - find it within the budget stated next to it (the default order never shows it),
//! - reproduce it from the seed printed in its report, event for event,
//! - shrink it to a few deviations from the default order, whose replay still fails,
//!
//! and the correct version must pass 10,000 schedules.

mod zoo;

use trio_testkit::explore::{Explore, Failure, FailureKind, PolicyKind};
use zoo::*;

/// One exhibit of the zoo.
struct Bug {
    name: &'static str,
    policy: PolicyKind,
    /// Schedules within which the explorer must find it.
    budget: u64,
    /// Cancellation injection bound, for bugs that only cancellation reveals.
    inject: Option<u64>,
    kind: FailureKind,
    /// The most deviations from the default order a shrunk schedule may keep.
    max_deviations: usize,
    program: Program,
}

fn explorer(bug: &Bug) -> Explore {
    let mut explore = Explore::new(format!("bug_zoo::{}", bug.name)).policy(bug.policy).persist(false);
    if let Some(bound) = bug.inject {
        explore = explore.inject_cancellations(bound);
    }
    explore
}

/// The whole contract for one bug.
fn check(bug: &Bug) -> Box<Failure> {
    let program = bug.program;

    // The default order does not show the bug: exploring is what finds it.
    Explore::new(format!("bug_zoo::{}", bug.name))
        .policy(PolicyKind::Fifo)
        .schedules(1)
        .persist(false)
        .run(|| program(true))
        .unwrap_or_else(|f| panic!("{} fails in the default order already:\n{f}", bug.name));

    // Found within the budget.
    let failure = explorer(bug)
        .schedules(bug.budget)
        .run(|| program(true))
        .expect_err("the explorer finds the bug within its budget");
    assert_eq!(failure.kind, bug.kind, "{failure}");

    // Replayed from its printed seed: the same run, event for event.
    let report = failure.to_string();
    assert!(report.contains(&format!("TRIO_SEED={}", failure.seed)), "{report}");
    assert!(report.contains(&format!("-- {} --exact", bug.name)), "{report}");
    if bug.inject.is_none() {
        let replay = explorer(bug)
            .only_seed(failure.seed)
            .shrink(false)
            .persist(false)
            .run(|| program(true))
            .expect_err("the printed seed reproduces the failure");
        assert_eq!(replay.trace, failure.trace, "replaying the seed gives the same trace");
    }

    // Replayed from the exact schedule, too.
    let exact = explorer(bug)
        .replay(failure.schedule.clone())
        .run(|| program(true))
        .expect_err("the recorded schedule reproduces the failure");
    assert_eq!(exact.kind, bug.kind);

    // Shrunk, and the minimal schedule still fails.
    let minimal = failure.minimal_schedule().clone();
    assert!(
        minimal.len() <= bug.max_deviations,
        "{}: shrunk to {} deviations, expected at most {}:\n{failure}",
        bug.name,
        minimal.len(),
        bug.max_deviations
    );
    let again = explorer(bug).replay(minimal).run(|| program(true)).expect_err("the minimal schedule still fails");
    assert_eq!(again.kind, bug.kind);

    // The correct version passes 10,000 schedules.
    let summary = explorer(bug)
        .schedules(10_000)
        .run(|| program(false))
        .unwrap_or_else(|f| panic!("the correct {} failed:\n{f}", bug.name));
    assert!(summary.distinct > 1, "the exploration really explored");
    failure
}

// ===== 1. lost update across a checkpoint =====

const LOST_UPDATE: Bug = Bug {
    name: "lost_update",
    policy: PolicyKind::Random,
    budget: 100,
    inject: None,
    kind: FailureKind::Panic,
    max_deviations: 1,
    program: lost_update,
};

#[test]
fn finds_a_lost_update() {
    check(&LOST_UPDATE);
}

// ===== 2. check-then-act on a channel =====

const CHECK_THEN_ACT: Bug = Bug {
    name: "check_then_act",
    policy: PolicyKind::Random,
    budget: 200,
    inject: None,
    kind: FailureKind::Panic,
    max_deviations: 2,
    program: check_then_act,
};

#[test]
fn finds_a_check_then_act_on_a_channel() {
    check(&CHECK_THEN_ACT);
}

// ===== 3. lock-order deadlock =====

const LOCK_ORDER: Bug = Bug {
    name: "lock_order",
    policy: PolicyKind::Random,
    budget: 200,
    inject: None,
    kind: FailureKind::Deadlock,
    max_deviations: 3,
    program: lock_order,
};

#[test]
fn finds_a_lock_order_deadlock() {
    let failure = check(&LOCK_ORDER);
    assert!(failure.message.contains("Lock"), "the report says what the tasks wait on:\n{failure}");
}

// ===== 4. missed wakeup =====

const MISSED_WAKEUP: Bug = Bug {
    name: "missed_wakeup",
    policy: PolicyKind::Random,
    budget: 100,
    inject: None,
    kind: FailureKind::Deadlock,
    max_deviations: 2,
    program: missed_wakeup,
};

#[test]
fn finds_a_missed_wakeup() {
    check(&MISSED_WAKEUP);
}

// ===== 5 and 6. order violations that need several preemptions: ABA =====

const ABA_TWO_PREEMPTIONS: Bug = Bug {
    name: "aba_two_preemptions",
    policy: PolicyKind::Pct { depth: 3 },
    budget: 2_000,
    inject: None,
    kind: FailureKind::Panic,
    max_deviations: 3,
    program: aba_two,
};

const ABA_THREE_PREEMPTIONS: Bug = Bug {
    name: "aba_three_preemptions",
    policy: PolicyKind::Pct { depth: 4 },
    budget: 5_000,
    inject: None,
    kind: FailureKind::Panic,
    max_deviations: 4,
    program: aba_three,
};

#[test]
fn finds_an_order_violation_that_needs_two_preemptions() {
    check(&ABA_TWO_PREEMPTIONS);
}

#[test]
fn finds_an_order_violation_that_needs_three_preemptions() {
    check(&ABA_THREE_PREEMPTIONS);
}

// ===== 7. a timeout race that only shows under autojump =====

const TIMEOUT_RACE: Bug = Bug {
    name: "timeout_race",
    policy: PolicyKind::Random,
    budget: 100,
    inject: None,
    kind: FailureKind::Panic,
    max_deviations: 2,
    program: heartbeat,
};

#[test]
fn finds_a_timeout_race_under_autojump() {
    let failure = check(&TIMEOUT_RACE);
    assert!(failure.message.contains("missed a heartbeat"), "{failure}");
}

// ===== 8. a cancel-safety bug that only cancellation injection finds =====

const CANCEL_SAFETY: Bug = Bug {
    name: "cancel_safety",
    policy: PolicyKind::Random,
    budget: 1,
    inject: Some(8),
    kind: FailureKind::Panic,
    max_deviations: 2,
    program: forwarder,
};

#[test]
fn finds_a_cancel_safety_bug_by_injecting_cancellation() {
    // Schedules alone never find it …
    Explore::new("cancel_safety_without_injection")
        .schedules(10_000)
        .persist(false)
        .run(|| forwarder(true))
        .expect("no schedule ever hits the timeout");
    // … cancellation injection does, and says where it injected.
    let failure = check(&CANCEL_SAFETY);
    assert!(failure.to_string().contains("cancellation injected at cancel point"), "{failure}");
    assert!(failure.schedule.injection().is_some());
}
