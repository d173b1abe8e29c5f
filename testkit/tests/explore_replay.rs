//! Replaying schedules made of holds: `TRIO_REPLAY` names the holds that never held their task
//! back, and the runs around a saved schedule follow its holds, not only its picks.

use std::cell::RefCell;
use std::rc::Rc;

use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::policy::Schedule;

/// Two children, `a` (task 2) and `b` (task 3), each logging its name at three steps; the log
/// of every run is kept. In the default order `a` steps first.
async fn a_and_b(runs: Rc<RefCell<Vec<Vec<&'static str>>>>) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    trio::open_nursery(|nursery| async move {
        for name in ["a", "b"] {
            let l = l.clone();
            nursery.start_soon_named(name, async move {
                for _ in 0..3 {
                    l.borrow_mut().push(name);
                    trio::checkpoint().await?;
                }
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    runs.borrow_mut().push(log.take());
}

fn regressions_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("trio-explore-replay-{name}-{}.txt", std::process::id()))
}

// ===== runs around a saved schedule =====

#[test]
fn runs_around_a_saved_schedule_of_holds_follow_its_holds() {
    // Task 2 `a` held back over the first decisions, or to the end of the run: every run
    // around it follows at least the first decision, so `b` steps first in all eight. Were
    // the holds ignored, each run would be random from its start: `b` first in all eight
    // about once in 256 explorations.
    for (name, hold) in [("span", "1-4=h2"), ("to_the_end", "1-=h2")] {
        let path = regressions_file(name);
        std::fs::write(&path, format!("holds policy=random seed=7 schedule=v2:{hold}\n")).unwrap();
        let runs = Rc::new(RefCell::new(Vec::new()));
        let r = runs.clone();
        let summary = Explore::new("explore_replay::holds")
            .policy(PolicyKind::Fifo)
            .schedules(1)
            .regressions_file(&path)
            .run_local(move || a_and_b(r.clone()))
            .unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(summary.runs, 1 + 8 + 1, "the saved schedule, eight around it, the FIFO schedule");
        let runs = runs.borrow();
        assert_eq!(runs[0][0], "b", "the saved schedule holds `a` back: {:?}", runs[0]);
        for (j, run) in runs[1..9].iter().enumerate() {
            assert_eq!(run[0], "b", "run {} around v2:{hold} follows its hold: {run:?}", j + 1);
        }
        assert_eq!(runs[9][0], "a", "the FIFO schedule");
    }
}

#[test]
fn the_first_run_around_a_saved_schedule_follows_the_whole_of_its_holds() {
    // Held over decisions 1 to 4: the first run around it follows the whole span, so `b` takes
    // all three of its logged steps before `a` takes any, whatever the seed it continues
    // with. Following the first decision only, `b` would keep its lead through the next two
    // in about one seed of four.
    for seed in 1..=8 {
        let path = regressions_file(&format!("whole-{seed}"));
        std::fs::write(&path, format!("holds policy=random seed={seed} schedule=v2:1-4=h2\n")).unwrap();
        let runs = Rc::new(RefCell::new(Vec::new()));
        let r = runs.clone();
        Explore::new("explore_replay::holds")
            .policy(PolicyKind::Fifo)
            .schedules(1)
            .regressions_file(&path)
            .run_local(move || a_and_b(r.clone()))
            .unwrap();
        std::fs::remove_file(&path).ok();
        let runs = runs.borrow();
        assert_eq!(runs[1][..3], ["b", "b", "b"], "seed {seed}: the first run around it: {:?}", runs[1]);
    }
}

#[test]
fn a_saved_schedule_with_an_absurd_decision_number_is_explored_around_without_overflow() {
    // A hand-edited or stale line: a pick at the last decision number there is. The runs around
    // it scale that number down; they must not overflow doing it.
    let path = regressions_file("absurd");
    std::fs::write(&path, format!("holds policy=random seed=3 schedule=v1:{}=t2\n", u64::MAX)).unwrap();
    let summary = Explore::new("explore_replay::holds")
        .policy(PolicyKind::Fifo)
        .schedules(1)
        .regressions_file(&path)
        .run_local(|| a_and_b(Rc::default()))
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(summary.runs, 1 + 8 + 1, "the saved schedule, eight around it, the FIFO schedule");
}

// ===== replays that do not apply =====

#[test]
fn a_replay_whose_holds_never_apply_names_them() {
    // Task 9 never exists; task 2 `a` is first in line at decision 1, so holding it there
    // applies; the run makes a handful of decisions, never a thousand.
    let schedule: Schedule = "v2:1-1=h2,3-5=h9,1000-=h3".parse().unwrap();
    let runs = Rc::new(RefCell::new(Vec::new()));
    let r = runs.clone();
    let summary =
        Explore::new("explore_replay::stale_holds").replay(schedule).run_local(move || a_and_b(r.clone())).unwrap();
    assert_eq!(summary.warnings.len(), 1, "{summary:?}");
    let warning = &summary.warnings[0];
    assert!(warning.contains("did not fully apply: 2 of its 3 hold(s) never held their task back"), "{warning}");
    assert!(warning.contains("(3-5=h9, 1000-=h3:"), "{warning}");
    assert!(!warning.contains("pick(s)"), "no pick missed: {warning}");

    // A hold of a task that would not have run anyway changes nothing either: `b` (task 3) is
    // second in line at decision 1.
    let schedule: Schedule = "v2:1-1=h3".parse().unwrap();
    let summary =
        Explore::new("explore_replay::stale_holds").replay(schedule).run_local(|| a_and_b(Rc::default())).unwrap();
    assert!(summary.warnings[0].contains("1 of its 1 hold(s) never held their task back (1-1=h3:"), "{summary:?}");

    // Picks and holds that miss are both named.
    let schedule: Schedule = "v2:1=t99,2-3=h9".parse().unwrap();
    let summary =
        Explore::new("explore_replay::stale_holds").replay(schedule).run_local(|| a_and_b(Rc::default())).unwrap();
    let warning = &summary.warnings[0];
    assert!(warning.contains("1 of its 1 pick(s) could not be followed, and 1 of its 1 hold(s)"), "{warning}");

    // Holds that apply say nothing.
    let schedule: Schedule = "v2:1-=h2".parse().unwrap();
    let summary =
        Explore::new("explore_replay::stale_holds").replay(schedule).run_local(|| a_and_b(Rc::default())).unwrap();
    assert!(summary.warnings.is_empty(), "{summary:?}");
}
