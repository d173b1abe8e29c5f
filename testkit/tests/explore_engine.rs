//! Schedule exploration: failures are reported with a replay line, saved and replayed first,
//! shrunk; the determinism check catches order that comes from outside the runtime; traces are
//! readable and stable enough to snapshot; livelocks hit the step budget; the environment
//! overrides work.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use trio_testkit::explore::{Explore, FailureKind, PolicyKind};
use trio_testkit::policy::{Pct, Pick, Schedule};

/// Two tasks, a lost update whenever the second runs inside the first's read-write window.
async fn lost_update() {
    let counter = Rc::new(Cell::new(0));
    let c = counter.clone();
    trio::open_nursery(|nursery| async move {
        let c1 = c.clone();
        nursery.start_soon_named("reader-writer", async move {
            let seen = c1.get();
            trio::checkpoint().await?;
            c1.set(seen + 1);
            Ok(())
        });
        nursery.start_soon_named("incrementer", async move {
            trio::checkpoint().await?;
            c.set(c.get() + 1);
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(counter.get(), 2, "an update was lost");
}

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("trio-testkit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("regressions.txt");
    let _ = std::fs::remove_file(&file);
    file
}

#[test]
fn a_failure_report_says_everything_needed_to_replay_it() {
    let failure = Explore::new("explore_engine::lost")
        .policy(PolicyKind::Random)
        .schedules(100)
        .persist(false)
        .run(lost_update)
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic);
    let report = failure.to_string();
    for needle in [
        "test explore_engine::lost panicked",
        "schedule: policy random, seed ",
        "an update was lost",
        "last scheduling decisions:",
        "replay this schedule:   TRIO_SEED=",
        " TRIO_POLICY=random cargo test -p trio-testkit --test explore_engine -- lost --exact",
        "replay the minimal one: TRIO_REPLAY=v1:",
        "`reader-writer`",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in:\n{report}");
    }
    let shrunk = failure.shrunk.as_ref().expect("shrunk");
    assert_eq!(shrunk.schedule.len(), 1, "one deviation is enough for a lost update:\n{report}");
}

#[test]
fn a_saved_failure_is_replayed_first_and_reproduces_the_minimal_trace() {
    let file = temp_file("round-trip");
    let explore =
        || Explore::new("explore_engine::round_trip").policy(PolicyKind::Random).schedules(100).regressions_file(&file);
    let first = explore().run(lost_update).unwrap_err();
    assert_eq!(first.saved_to.as_deref(), Some(file.display().to_string().as_str()));
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.starts_with("# Failing schedules found by trio-testkit"), "{saved}");
    assert!(
        saved.contains(&format!("round_trip policy=random seed={} schedule={}", first.seed, first.minimal_schedule())),
        "{saved}"
    );

    // The next run replays the saved schedule before exploring anything.
    let second = explore().run(lost_update).unwrap_err();
    assert_eq!(second.origin, "the regressions file");
    assert_eq!(second.schedules_run, 1, "found by the first run: the saved one");
    assert_eq!(&second.trace, &first.shrunk.as_ref().unwrap().trace, "the saved schedule replays the minimal trace");

    // Saving the same failure again does not duplicate the line.
    let _ = explore().run(lost_update).unwrap_err();
    let lines = std::fs::read_to_string(&file).unwrap().lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(lines, 1);

    // Once the bug is fixed, the saved schedule passes and exploration goes on.
    explore()
        .run(|| async {
            trio::checkpoint().await.unwrap();
        })
        .unwrap();
}

#[test]
fn the_printed_seed_replays_the_same_trace() {
    let explore = || Explore::new("explore_engine::seed").persist(false);
    let failure = explore().schedules(100).run(lost_update).unwrap_err();
    // The report's replay line names the policy the schedule ran under: Mixed takes turns.
    let replay = explore().policy(failure.policy).only_seed(failure.seed).shrink(false).run(lost_update).unwrap_err();
    assert_eq!(replay.trace, failure.trace);
    assert_eq!(replay.origin, "TRIO_SEED");
}

#[test]
fn pct_finds_the_bug_and_replays_from_its_seed() {
    let explore = || Explore::new("explore_engine::pct").policy(PolicyKind::Pct { depth: 2 }).persist(false);
    let failure = explore().schedules(200).run(lost_update).unwrap_err();
    assert!(failure.to_string().contains("TRIO_POLICY=pct:2"), "{failure}");
    let replay = explore().only_seed(failure.seed).shrink(false).run(lost_update).unwrap_err();
    assert_eq!(replay.trace, failure.trace);
}

#[test]
fn mixed_takes_turns_and_names_the_policy_that_failed() {
    let turns: Vec<PolicyKind> = (0..10).map(|i| PolicyKind::Mixed.for_schedule(i)).collect();
    let count = |kind: PolicyKind| turns.iter().filter(|&&turn| turn == kind).count();
    assert_eq!(
        (
            count(PolicyKind::Surw),
            count(PolicyKind::Pos),
            count(PolicyKind::Random),
            count(PolicyKind::Pct { depth: 3 })
        ),
        (4, 4, 1, 1)
    );
    assert_eq!(PolicyKind::Mixed.for_schedule(0), PolicyKind::Random);
    assert_eq!(PolicyKind::Mixed.for_schedule(10), PolicyKind::Random, "the turns repeat every ten schedules");
    let explore = || Explore::new("explore_engine::mixed").persist(false);
    let failure = explore().schedules(300).run(lost_update).unwrap_err();
    assert_ne!(failure.policy, PolicyKind::Mixed, "the report names a concrete policy");
    assert_eq!(Some(failure.policy), failure.schedule_index.map(|i| PolicyKind::Mixed.for_schedule(i)));
    // … so its replay line reproduces it.
    let replay = explore().policy(failure.policy).only_seed(failure.seed).shrink(false).run(lost_update).unwrap_err();
    assert_eq!(replay.trace, failure.trace);
}

/// The slow task checkpoints before its read-modify-write window: the default order has only
/// two decisions, but the bug needs the priority change at the third.
async fn late_window_lost_update() {
    let counter = Rc::new(Cell::new(0));
    let c = counter.clone();
    trio::open_nursery(|nursery| async move {
        let c1 = c.clone();
        nursery.start_soon(async move {
            trio::checkpoint().await?;
            let seen = c1.get();
            trio::checkpoint().await?;
            c1.set(seen + 1);
            Ok(())
        });
        nursery.start_soon(async move {
            c.set(c.get() + 1);
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(counter.get(), 2, "an update was lost");
}

#[test]
fn pct_places_change_points_beyond_the_length_of_the_default_run() {
    for depth in [2, 3, 4] {
        let found = (0..10u64)
            .filter(|&seed| {
                Explore::new("explore_engine::late_window")
                    .policy(PolicyKind::Pct { depth })
                    .seed(seed)
                    .schedules(500)
                    .shrink(false)
                    .persist(false)
                    .run(late_window_lost_update)
                    .is_err()
            })
            .count();
        assert_eq!(found, 10, "PCT depth {depth} finds the bug from every base seed");
    }
}

#[test]
fn a_correct_program_passes_and_the_summary_counts_distinct_schedules() {
    let summary = Explore::new("explore_engine::fine")
        .schedules(300)
        .persist(false)
        .run(|| async {
            trio::open_nursery(|nursery| async move {
                for _ in 0..3 {
                    nursery.start_soon(async {
                        for _ in 0..3 {
                            trio::checkpoint().await?;
                        }
                        Ok(())
                    });
                }
                Ok(())
            })
            .await
            .unwrap();
        })
        .unwrap();
    assert_eq!(summary.runs, 300);
    assert!(summary.distinct > 50, "random schedules differ: {summary:?}");
}

#[test]
fn each_schedule_gets_a_fresh_autojump_clock_by_default() {
    // The system clock would start far from zero and take an hour per schedule.
    Explore::new("explore_engine::an_hour")
        .schedules(50)
        .persist(false)
        .run(|| async {
            assert_eq!(trio::current_time(), trio::Instant::ZERO, "a fresh clock for every schedule");
            trio::sleep(std::time::Duration::from_secs(3600)).await.unwrap();
            assert_eq!(trio::current_time(), trio::Instant::from_secs(3600));
        })
        .unwrap();
}

#[test]
fn a_livelock_hits_the_step_budget() {
    let failure = Explore::new("explore_engine::livelock")
        .schedules(50)
        .max_steps(10_000)
        .persist(false)
        .run(|| async {
            let flag = Rc::new(Cell::new(false));
            let f = flag.clone();
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    // Spins until the flag is set — but the setter below waits for the spinner.
                    while !f.get() {
                        trio::checkpoint().await?;
                    }
                    Ok(())
                });
                trio::checkpoint().await?;
                Ok(())
            })
            .await
            .unwrap();
            flag.set(true);
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::StepLimit);
    assert!(failure.message.contains("step limit of 10000"), "{failure}");
}

#[test]
fn a_deadlock_is_a_failure_with_the_task_report() {
    let failure = Explore::new("explore_engine::deadlock")
        .schedules(10)
        .persist(false)
        .run(|| async {
            let lot = trio::lowlevel::ParkingLot::new();
            let _ = lot.park().await;
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Deadlock);
    assert!(failure.message.contains("deadlock"), "{failure}");
}

// ===== the determinism check =====

#[test]
fn the_determinism_check_catches_hashmap_iteration_order() {
    let failure = Explore::new("explore_engine::hashmap")
        .schedules(1)
        .check_determinism(true)
        .persist(false)
        .run(|| async {
            // Which task starts first depends on the map's random state.
            let names: HashMap<String, u32> = (0..8).map(|i| (format!("worker-{i}"), i)).collect();
            trio::open_nursery(|nursery| async move {
                for (name, _) in names {
                    nursery.start_soon_named(name, async { trio::checkpoint().await.map_err(Into::into) });
                }
                Ok(())
            })
            .await
            .unwrap();
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Nondeterminism);
    assert!(failure.message.contains("differ at event"), "{failure}");
    assert!(failure.message.contains("HashMap"), "the report names the usual suspects:\n{failure}");
}

#[test]
fn the_determinism_check_catches_decisions_taken_from_the_wall_clock() {
    let failure = Explore::new("explore_engine::wall_clock")
        .schedules(1)
        .check_determinism(true)
        .persist(false)
        .run(|| async {
            // A "unique" name from the wall clock: different on every run.
            let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named(format!("job-{stamp}"), async {});
                Ok(())
            })
            .await
            .unwrap();
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Nondeterminism);
    assert!(failure.message.contains("job-"), "the report shows the differing event:\n{failure}");
}

#[test]
fn the_determinism_check_catches_state_carried_between_runs() {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let failure = Explore::new("explore_engine::global")
        .schedules(1)
        .check_determinism(true)
        .persist(false)
        .run(|| async {
            let extra = RUNS.fetch_add(1, Ordering::Relaxed) % 2;
            for _ in 0..=extra {
                trio::checkpoint().await.unwrap();
            }
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Nondeterminism);
}

#[test]
fn the_determinism_check_passes_a_deterministic_test() {
    Explore::new("explore_engine::steady")
        .schedules(20)
        .check_determinism(true)
        .persist(false)
        .run(lost_update_fixed)
        .unwrap();
}

async fn lost_update_fixed() {
    let counter = Rc::new(Cell::new(0));
    let c = counter.clone();
    trio::open_nursery(|nursery| async move {
        for _ in 0..2 {
            let c = c.clone();
            nursery.start_soon(async move {
                trio::checkpoint().await?;
                c.set(c.get() + 1);
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(counter.get(), 2);
}

// ===== traces and schedules =====

#[test]
fn traces_are_readable_and_stable() {
    let failure =
        Explore::new("explore_engine::snapshot").seed(3).schedules(100).persist(false).run(lost_update).unwrap_err();
    let minimal = failure.shrunk.as_ref().unwrap();
    insta::assert_snapshot!("minimal_lost_update_steps", minimal.trace.describe_steps(100));
    insta::assert_snapshot!("minimal_lost_update_trace", without_line_numbers(&minimal.trace.to_string()));
}

/// `explore_engine.rs:21:17` → `explore_engine.rs:L:C`, so editing this file does not change
/// the snapshot.
fn without_line_numbers(text: &str) -> String {
    text.lines()
        .map(|line| match line.find(".rs:") {
            Some(i) => {
                let (head, tail) = line.split_at(i + 4);
                let rest = tail.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':');
                format!("{head}L:C{rest}")
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_failure_in_the_default_order_says_no_reordering_is_needed() {
    // Fails whatever the order: shrinking ends at the default order itself.
    let failure = Explore::new("explore_engine::always")
        .policy(PolicyKind::Random)
        .seed(4)
        .schedules(20)
        .persist(false)
        .run(|| async {
            trio::open_nursery(|nursery| async move {
                for _ in 0..3 {
                    nursery.start_soon(async { trio::checkpoint().await.map_err(Into::into) });
                }
                Ok(())
            })
            .await
            .unwrap();
            panic!("wrong in any order");
        })
        .unwrap_err();
    assert!(!failure.schedule.is_empty(), "the failing schedule had deviations:\n{failure}");
    assert!(failure.minimal_schedule().is_empty());
    let report = failure.to_string();
    assert!(report.contains("fails in the default order; no reordering needed"), "{report}");
    assert!(!report.contains("shrunk from"), "{report}");
    assert!(!report.contains("TRIO_REPLAY=v1: "), "no empty replay line:\n{report}");
    assert!(
        report.contains("replay the default order: TRIO_POLICY=fifo cargo test -p trio-testkit --test explore_engine"),
        "{report}"
    );
    // The same when the failing schedule never deviated at all.
    let failure = Explore::new("explore_engine::always")
        .policy(PolicyKind::Fifo)
        .schedules(1)
        .persist(false)
        .run(|| async {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(async {});
                nursery.start_soon(async {});
                Ok(())
            })
            .await
            .unwrap();
            panic!("wrong in any order");
        })
        .unwrap_err();
    let report = failure.to_string();
    assert!(report.contains("fails in the default order; no reordering needed"), "{report}");
    assert!(!report.contains("TRIO_REPLAY=v1: "), "{report}");
}

#[test]
fn tasks_that_share_a_name_are_numbered_in_traces_and_reports() {
    let failure = Explore::new("explore_engine::workers")
        .policy(PolicyKind::Random)
        .schedules(100)
        .persist(false)
        .run(|| async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let l = log.clone();
            trio::open_nursery(|nursery| async move {
                for i in 0..2 {
                    let l = l.clone();
                    nursery.start_soon_named("worker", async move { l.borrow_mut().push(i) });
                }
                nursery.start_soon_named("auditor", async {});
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(*log.borrow(), [0, 1], "the workers ran out of order");
        })
        .unwrap_err();
    let names: Vec<String> = failure.trace.task_names().into_values().collect();
    assert_eq!(names, ["explore_engine::workers", "worker#1", "worker#2", "auditor"]);
    let report = failure.to_string();
    assert!(report.contains("ran task 3 `worker#2` instead of task 2 `worker#1`"), "{report}");
    assert!(failure.trace.to_string().contains("spawn task 3 `worker#2` from task 1"), "{}", failure.trace);
}

#[test]
fn schedules_print_and_parse() {
    let mut schedule = Schedule::new();
    schedule.insert(12, Pick::Task(3));
    schedule.insert(40, Pick::Timer(1));
    assert_eq!(schedule.to_string(), "v1:12=t3,40=x1");
    assert_eq!("v1:12=t3,40=x1".parse::<Schedule>().unwrap(), schedule);
    assert_eq!("v1:".parse::<Schedule>().unwrap(), Schedule::new());
    let with_injection: Schedule = "v1:5=t2,c3.4".parse().unwrap();
    assert_eq!(with_injection.injection(), Some((3, 4)));
    assert_eq!(with_injection.to_string(), "v1:5=t2,c3.4");
    for bad in ["12=t3", "v1:12=q3", "v1:x=t3", "v1:12"] {
        let err = bad.parse::<Schedule>().unwrap_err();
        assert!(err.to_string().contains("v1:12=t3"), "the error shows the format: {err}");
    }
}

#[test]
fn policy_names_parse() {
    assert_eq!("random".parse::<PolicyKind>(), Ok(PolicyKind::Random));
    assert_eq!("fifo".parse::<PolicyKind>(), Ok(PolicyKind::Fifo));
    assert_eq!("pct".parse::<PolicyKind>(), Ok(PolicyKind::Pct { depth: 3 }));
    assert_eq!("pct:5".parse::<PolicyKind>(), Ok(PolicyKind::Pct { depth: 5 }));
    assert!(
        "pct:0".parse::<PolicyKind>().unwrap_err().contains("use mixed, random, pct, pct:<depth>, pos, surw or fifo")
    );
    assert_eq!("pos".parse::<PolicyKind>(), Ok(PolicyKind::Pos));
    assert_eq!("surw".parse::<PolicyKind>(), Ok(PolicyKind::Surw));
    assert_eq!(PolicyKind::Pos.to_string().parse::<PolicyKind>(), Ok(PolicyKind::Pos));
    assert_eq!(PolicyKind::Surw.to_string().parse::<PolicyKind>(), Ok(PolicyKind::Surw));
    assert_eq!("mixed".parse::<PolicyKind>(), Ok(PolicyKind::Mixed));
    assert!("lifo".parse::<PolicyKind>().is_err());
}

#[test]
fn pct_without_change_points_runs_in_priority_order() {
    // Depth 1: random priorities, no change points — so each schedule is a priority order, and
    // a task, once running, runs until it blocks (unless it spins: see the starvation limit).
    let orders: std::collections::BTreeSet<Vec<u32>> = (0..40)
        .map(|seed| {
            let log = Rc::new(RefCell::new(Vec::new()));
            let l = log.clone();
            trio::Builder::new().policy(Pct::new(1, 10)).seed(seed).run(async move {
                trio::open_nursery(|nursery| async move {
                    for i in 0..3 {
                        let l = l.clone();
                        nursery.start_soon(async move {
                            for _ in 0..2 {
                                l.borrow_mut().push(i);
                                trio::checkpoint().await?;
                            }
                            Ok(())
                        });
                    }
                    Ok(())
                })
                .await
                .unwrap();
            });
            log.take()
        })
        .collect();
    for order in &orders {
        // each task's two steps are adjacent: nobody preempts a running task at depth 1
        for pair in order.chunks(2) {
            assert_eq!(pair[0], pair[1], "{order:?}");
        }
    }
    assert!(orders.len() > 1, "different seeds give different priorities");
}

#[test]
fn pct_does_not_starve_a_task_that_a_spinner_waits_for() {
    // The spinner may get the higher priority; the starvation limit lowers it eventually.
    Explore::new("explore_engine::spin")
        .policy(PolicyKind::Pct { depth: 2 })
        .schedules(200)
        .max_steps(100_000)
        .persist(false)
        .run(|| async {
            let flag = Rc::new(Cell::new(false));
            let f = flag.clone();
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    while !f.get() {
                        trio::checkpoint().await?;
                    }
                    Ok(())
                });
                nursery.start_soon(async move {
                    trio::checkpoint().await?;
                    flag.set(true);
                    Ok(())
                });
                Ok(())
            })
            .await
            .unwrap();
        })
        .unwrap();
}

// ===== environment overrides, in a child process =====

/// Run by the tests below in a child process, with environment variables set.
#[test]
#[ignore = "run in a child process by env_overrides_*"]
fn helper_explored_in_a_child() {
    let outcome = Explore::new("explore_engine::helper_explored_in_a_child")
        .policy(PolicyKind::Fifo)
        .schedules(1)
        .persist(false)
        .run(lost_update);
    if let Err(failure) = outcome {
        println!("ORIGIN={} SEED={} RUNS={}", failure.origin, failure.seed, failure.schedules_run);
        println!("TRACE={}", failure.trace.fingerprint());
    }
    println!("DONE");
}

fn run_child(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["helper_explored_in_a_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    for var in ["TRIO_SEED", "TRIO_SCHEDULES", "TRIO_POLICY", "TRIO_REPLAY", "TRIO_CHECK_DETERMINISM"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn field<'a>(output: &'a str, name: &str) -> Option<&'a str> {
    output.split_whitespace().find_map(|word| word.strip_prefix(name))
}

#[test]
fn env_overrides_widen_replay_and_pick_the_policy() {
    // One schedule in the code: the default order, which passes.
    let out = run_child(&[]);
    assert!(!out.contains("ORIGIN="), "{out}");
    // TRIO_SCHEDULES and TRIO_POLICY widen it until the bug shows.
    let out = run_child(&[("TRIO_SCHEDULES", "200"), ("TRIO_POLICY", "random")]);
    assert_eq!(field(&out, "ORIGIN="), Some("exploration"), "{out}");
    let seed = field(&out, "SEED=").unwrap().to_string();
    let trace = field(&out, "TRACE=").unwrap().to_string();
    // TRIO_SEED replays exactly that schedule.
    let out = run_child(&[("TRIO_SEED", &seed), ("TRIO_POLICY", "random")]);
    assert_eq!(field(&out, "ORIGIN="), Some("TRIO_SEED"), "{out}");
    assert_eq!(field(&out, "RUNS="), Some("1"));
    assert_eq!(field(&out, "TRACE="), Some(trace.as_str()), "the same run, event for event");
    // TRIO_REPLAY replays a schedule string.
    let out = run_child(&[("TRIO_REPLAY", "v1:1=t3")]);
    assert_eq!(field(&out, "ORIGIN="), Some("TRIO_REPLAY"), "{out}");
    // TRIO_POLICY is checked.
    let out = run_child(&[("TRIO_POLICY", "lifo"), ("TRIO_SCHEDULES", "2")]);
    assert!(out.contains("TRIO_POLICY: unknown policy \"lifo\""), "{out}");
}
