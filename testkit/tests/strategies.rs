//! Search strategies against planted bugs of depth 1, 2 and 3 (the number of ordering
//! constraints a failing schedule must meet), each hidden between filler checkpoints: every
//! policy finds each bug within a budget stated here, and the default finds the deepest within
//! the default budget from several base seeds.
//!
//! `cargo test --release -p trio-testkit --test strategies -- --ignored --nocapture
//! schedules_to_first_failure` prints the table of docs/PERFORMANCE.md.

use std::cell::Cell;
use std::rc::Rc;

use trio::checkpoint;
use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::policy::{Pos, Random, Surw};

/// `n` checkpoints: steps of the task that do nothing but give the scheduler a choice.
async fn fillers(n: usize) -> Result<(), trio::Error> {
    for _ in 0..n {
        checkpoint().await?;
    }
    Ok(())
}

/// Depth 1: a reader checks a flag a writer sets at its very first step; the reader has
/// `FILLERS` steps to take first. Fails when the reader runs ahead of the writer's first step
/// (one constraint: read before write).
async fn depth_one() {
    const FILLERS: usize = 4;
    let ready = Rc::new(Cell::new(false));
    let r = ready.clone();
    trio::open_nursery(|nursery| async move {
        let w = r.clone();
        nursery.start_soon_named("writer", async move {
            checkpoint().await?;
            w.set(true);
            fillers(FILLERS).await
        });
        nursery.start_soon_named("reader", async move {
            fillers(FILLERS).await?;
            assert!(r.get(), "read the flag before it was set");
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
}

/// Depth 2: a writer publishes a half-done value and fixes it one step later; a reader that
/// reads inside that one-step window sees the half-done value (two constraints: the write
/// before the read, the read before the fix). The reader reads two steps later than the
/// writer writes, so the default order, which keeps them level, misses the window.
async fn depth_two() {
    const FILLERS: usize = 6;
    let value = Rc::new(Cell::new(0u32));
    let v = value.clone();
    trio::open_nursery(|nursery| async move {
        let w = v.clone();
        nursery.start_soon_named("writer", async move {
            fillers(FILLERS).await?;
            w.set(1); // half done
            checkpoint().await?;
            w.set(2); // done
            fillers(FILLERS).await
        });
        nursery.start_soon_named("reader", async move {
            fillers(FILLERS + 2).await?;
            assert_ne!(v.get(), 1, "read a half-done value");
            fillers(FILLERS).await
        });
        Ok(())
    })
    .await
    .unwrap();
}

/// Depth 3: A writes, B copies what it sees, C checks B's copy against the current value;
/// A and B then clean up (three constraints: A's write before B's copy before C's check, and
/// C's check before both clean-ups). A comes to its write last (it has the most filler steps
/// before it), so a random walk, which keeps the tasks level, rarely gets there; a priority
/// order alone cannot do it either: A and B must each be held back between their write and
/// their clean-up.
async fn depth_three() {
    const WINDOW: usize = 3;
    let value = Rc::new(Cell::new(0u32));
    let copy = Rc::new(Cell::new(0u32));
    let (v, c) = (value.clone(), copy.clone());
    trio::open_nursery(|nursery| async move {
        let (va, vb, cb) = (v.clone(), v.clone(), c.clone());
        nursery.start_soon_named("A", async move {
            fillers(12).await?;
            va.set(1);
            fillers(WINDOW).await?;
            va.set(0); // clean-up
            Ok(())
        });
        nursery.start_soon_named("B", async move {
            fillers(6).await?;
            cb.set(vb.get());
            fillers(WINDOW).await?;
            cb.set(0); // clean-up
            Ok(())
        });
        nursery.start_soon_named("C", async move {
            fillers(3).await?;
            assert!(!(c.get() == 1 && v.get() == 1), "saw the value A was about to clean up");
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
}

/// A planted bug, by name.
type Bug = (&'static str, fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);

const BUGS: [Bug; 3] = [
    ("depth_one", || Box::pin(depth_one())),
    ("depth_two", || Box::pin(depth_two())),
    ("depth_three", || Box::pin(depth_three())),
];

/// The schedules an exploration of `bug` from `base` ran until its first failure, if any.
fn schedules_to_failure(bug: &Bug, policy: PolicyKind, base: u64, budget: u64) -> Option<u64> {
    let explore = Explore::new(format!("strategies::{}", bug.0))
        .seed(base)
        .schedules(budget)
        .policy(policy)
        .persist(false)
        .shrink(false)
        .threads(1);
    match explore.run(bug.1) {
        Ok(_) => None,
        Err(failure) => Some(failure.schedule_index.expect("found by exploration") + 1),
    }
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

const DEPTH_ONE: &Bug = &BUGS[0];
const DEPTH_TWO: &Bug = &BUGS[1];
const DEPTH_THREE: &Bug = &BUGS[2];

/// Base seeds of the tests below: each must hold from every one of them.
const BASES: std::ops::RangeInclusive<u64> = 1..=5;

fn finds_within(bug: &Bug, policy: PolicyKind, budget: u64) {
    for base in BASES {
        let found = schedules_to_failure(bug, policy, base, budget);
        assert!(found.is_some(), "{policy} did not find {} within {budget} schedules from base seed {base}", bug.0);
    }
}

#[test]
fn no_planted_bug_fails_in_the_default_order() {
    for bug in &BUGS {
        let summary = Explore::new(bug.0).schedules(1).policy(PolicyKind::Fifo).persist(false).run(bug.1);
        assert!(summary.is_ok(), "{} fails without any reordering", bug.0);
    }
}

#[test]
fn every_strategy_finds_the_shallow_bugs() {
    for policy in [PolicyKind::Random, PolicyKind::Pct { depth: 3 }, PolicyKind::Pos, PolicyKind::Mixed] {
        finds_within(DEPTH_ONE, policy, 100);
        finds_within(DEPTH_TWO, policy, 300);
    }
    // Uniform over interleavings: the short reader racing ahead is one interleaving among many.
    finds_within(DEPTH_ONE, PolicyKind::Surw, 600);
    finds_within(DEPTH_TWO, PolicyKind::Surw, 100);
}

/// The depth-3 bug needs two preemptions: PCT with one change point never finds it.
#[test]
fn the_deep_bug_needs_two_preemptions() {
    assert_eq!(schedules_to_failure(DEPTH_THREE, PolicyKind::Pct { depth: 2 }, 1, 2_000), None);
}

#[test]
fn every_strategy_finds_the_deep_bug_within_its_budget() {
    finds_within(DEPTH_THREE, PolicyKind::Random, 4_000);
    finds_within(DEPTH_THREE, PolicyKind::Pct { depth: 3 }, 4_000);
    finds_within(DEPTH_THREE, PolicyKind::Pos, 4_000);
}

/// SURW weighs tasks by the steps they have left, as measured in the default order: a task
/// with many steps keeps pace, and the deep bug is found within a hundred schedules. With the
/// measurement lost (equal weights, a random walk) it takes hundreds.
#[test]
fn surw_finds_the_deep_bug_quickly() {
    finds_within(DEPTH_THREE, PolicyKind::Surw, 100);
}

/// The default (Mixed, with the default budget) finds the deep bug from every base seed.
#[test]
fn the_default_finds_the_deep_bug_within_the_default_budget() {
    let default_budget = Explore::new("t").schedule_count();
    if std::env::var_os("TRIO_SCHEDULES").is_none() {
        assert_eq!(default_budget, 1_000);
    }
    for base in BASES {
        let explore = Explore::new("strategies::default").seed(base).persist(false).shrink(false);
        let failure = explore.run(depth_three).expect_err("the default finds the deep bug");
        assert!(failure.message.contains("about to clean up"), "{failure}");
    }
}

/// One row of the table: per strategy, the median and the worst number of schedules to the
/// first failure over 21 base seeds (1 to 21), each exploration capped at 20,000 schedules.
fn print_row(bug: &Bug, policies: &[PolicyKind]) {
    const CAP: u64 = 20_000;
    print!("| {} |", bug.0);
    for &policy in policies {
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

const POLICIES: [PolicyKind; 6] = [
    PolicyKind::Random,
    PolicyKind::Pct { depth: 2 },
    PolicyKind::Pct { depth: 3 },
    PolicyKind::Pos,
    PolicyKind::Surw,
    PolicyKind::Mixed,
];

fn print_header() {
    print!("| bug |");
    for policy in POLICIES {
        print!(" {policy} |");
    }
    println!();
}

/// Prints the table of docs/PERFORMANCE.md for the planted bugs.
#[test]
#[ignore = "a measurement: prints the table of docs/PERFORMANCE.md"]
fn schedules_to_first_failure() {
    print_header();
    for bug in &BUGS {
        print_row(bug, &POLICIES);
    }
}

#[path = "../../tests/zoo/mod.rs"]
mod zoo;

/// The same table for the bug zoo's programs (`tests/zoo/mod.rs`, the buggy versions).
#[test]
#[ignore = "a measurement: prints the table of docs/PERFORMANCE.md"]
fn zoo_schedules_to_first_failure() {
    let bugs: [Bug; 6] = [
        ("lost_update", || zoo::lost_update(true)),
        ("check_then_act", || zoo::check_then_act(true)),
        ("lock_order", || zoo::lock_order(true)),
        ("missed_wakeup", || zoo::missed_wakeup(true)),
        ("aba_two_preemptions", || zoo::aba_two(true)),
        ("aba_three_preemptions", || zoo::aba_three(true)),
    ];
    print_header();
    for bug in &bugs {
        print_row(bug, &POLICIES);
    }
}

/// Two tasks of ten steps each (tasks 2 and 3), logging their number at every step: in how
/// many of `seeds` runs the first, and the second, took all ten steps before the other took one.
fn one_runs_ahead(policy: &dyn Fn() -> Box<dyn trio::abc::SchedulePolicy>, seeds: std::ops::Range<u64>) -> [usize; 2] {
    let mut ahead = [0, 0];
    for seed in seeds {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let l = log.clone();
        trio::Builder::new().policy(policy()).seed(seed).run(async move {
            trio::open_nursery(|nursery| async move {
                for id in 0..2usize {
                    let l = l.clone();
                    nursery.start_soon(async move {
                        for _ in 0..10 {
                            l.borrow_mut().push(id);
                            checkpoint().await?;
                        }
                        Ok(())
                    });
                }
                Ok(())
            })
            .await
            .unwrap();
        });
        let log = log.take();
        if log[..10].iter().all(|&id| id == log[0]) {
            ahead[log[0]] += 1;
        }
    }
    ahead
}

/// POS keeps a waiting task's priority until it is woken: one task can be held back while
/// the other takes many steps in a row (about one run in six here), which a random walk, with
/// a fresh choice at every step, almost never does (one in five hundred).
#[test]
fn pos_holds_a_waiting_task_back() {
    let pos: usize = one_runs_ahead(&|| Box::new(Pos::new()), 0..200).iter().sum();
    let random: usize = one_runs_ahead(&|| Box::new(Random::new()), 0..200).iter().sum();
    assert!(pos >= 15, "POS let one task run ahead in only {pos} of 200 runs");
    assert!(random <= 3, "{random}");
}

/// SURW picks by the steps a task has left: told that task 2 has twenty steps and task 3 two,
/// it lets task 2 take its first ten steps before task 3's first in about a quarter of the
/// runs; with the counts swapped, almost never.
#[test]
fn surw_weighs_tasks_by_the_steps_they_have_left() {
    let [long_first, _] = one_runs_ahead(&|| Box::new(Surw::new([(2, 20), (3, 2)])), 0..200);
    let [short_first, _] = one_runs_ahead(&|| Box::new(Surw::new([(2, 2), (3, 20)])), 0..200);
    assert!(long_first >= 25, "{long_first}");
    assert!(short_first <= 3, "{short_first}");
}

// The attribute takes the new names (it would not compile otherwise).

#[trio_testkit::trio_test(schedules = 20, policy = "pos")]
async fn the_attribute_takes_pos() {
    checkpoint().await.unwrap();
}

#[trio_testkit::trio_test(schedules = 20, policy = "surw")]
async fn the_attribute_takes_surw() {
    checkpoint().await.unwrap();
}

/// Prints the time per schedule of each strategy on the zoo's correct programs (20,000
/// schedules on one thread, the median of 5 runs).
#[test]
#[ignore = "a measurement: prints the table of docs/PERFORMANCE.md"]
fn time_per_schedule() {
    let programs: [Bug; 3] = [
        ("lost_update (fixed)", || zoo::lost_update(false)),
        ("check_then_act (fixed)", || zoo::check_then_act(false)),
        ("aba_three_preemptions (fixed)", || zoo::aba_three(false)),
    ];
    print_header();
    for program in &programs {
        print!("| {} |", program.0);
        for policy in POLICIES {
            let mut times: Vec<f64> = (0..5)
                .map(|_| {
                    let start = std::time::Instant::now();
                    Explore::new("strategies::speed")
                        .schedules(20_000)
                        .policy(policy)
                        .persist(false)
                        .threads(1)
                        .run(program.1)
                        .unwrap();
                    start.elapsed().as_secs_f64() / 20_000.0 * 1e6
                })
                .collect();
            times.sort_by(f64::total_cmp);
            print!(" {:.1} µs |", times[2]);
        }
        println!();
    }
}
