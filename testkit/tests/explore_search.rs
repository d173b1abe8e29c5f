//! Where an exploration spends its budget: cancellation injections take turns with the
//! ordinary schedules (so a cancel-safety bug is found early, and the report is the same on
//! any thread count), and a saved schedule that passes is explored around.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use trio_testkit::explore::{Explore, PolicyKind};

/// Takes the stock out, checkpoints, puts it back: a cancellation at the checkpoint loses it.
/// No schedule ever cancels it; only an injection does.
async fn not_cancel_safe() {
    let stock = Cell::new(10);
    trio::move_on_after(Duration::from_secs(60), async {
        let taken = stock.take();
        trio::checkpoint().await?;
        stock.set(taken);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(stock.get(), 10, "items lost");
}

/// Fails when the second task started runs before the first: an ordering bug the default
/// order never shows, which a random walk finds in about every other schedule.
async fn b_before_a() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    trio::open_nursery(|nursery| async move {
        for name in ["a", "b"] {
            let l = l.clone();
            nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
}

/// Before, injections ran after the whole budget: a thousand schedules, then the bug.
#[test]
fn injections_run_within_the_budget_not_after_it() {
    let failure = Explore::new("explore_search::inject")
        .schedules(1_000)
        .inject_cancellations(4)
        .persist(false)
        .run(not_cancel_safe)
        .unwrap_err();
    assert_eq!(failure.origin, "cancellation injection");
    assert_eq!(failure.schedule.injection().map(|(_, point)| point), Some(1));
    // The baseline, schedule 0, then the first injection.
    assert_eq!(failure.schedules_run, 3, "{failure}");
}

/// Ordinary schedules still run while injections are pending, and a failure among them is
/// reported as an exploration failure of its schedule, replayable from its seed.
#[test]
fn ordering_bugs_are_found_between_the_injections() {
    let explore = || Explore::new("explore_search::both").seed(1).policy(PolicyKind::Random).persist(false);
    let failure = explore().schedules(200).inject_cancellations(8).run(b_before_a).unwrap_err();
    assert_eq!(failure.origin, "exploration");
    let index = failure.schedule_index.expect("an ordinary schedule");
    // The baseline, then schedules and injections in turn up to it: an injection ran before
    // each schedule but the first (the program has more cancel points than that).
    assert!(index >= 1, "{failure}");
    assert_eq!(failure.schedules_run, 1 + 2 * index + 1, "{failure}");
    let replay = explore().only_seed(failure.seed).shrink(false).run(b_before_a).unwrap_err();
    assert_eq!(replay.trace, failure.trace);
}

/// Whatever the thread count, the same job is the lowest failing one: the same report.
#[test]
fn interleaved_injections_report_the_same_on_any_thread_count() {
    let program = || async {
        b_before_a().await;
        not_cancel_safe().await;
    };
    let report = |threads| {
        Explore::new("explore_search::threads")
            .schedules(300)
            .inject_cancellations(6)
            .threads(threads)
            .persist(false)
            .run(program)
            .unwrap_err()
            .to_string()
    };
    let one = report(1);
    assert_eq!(report(2), one);
    assert_eq!(report(3), one);
}

/// A passing exploration runs every schedule, every injection and the baseline.
#[test]
fn every_injection_runs_whatever_the_budget() {
    let program = || async {
        trio::move_on_after(Duration::from_secs(1), async {
            for _ in 0..3 {
                trio::checkpoint().await?;
            }
            Ok(())
        })
        .await
        .unwrap();
    };
    let runs = |schedules| {
        Explore::new("explore_search::count")
            .schedules(schedules)
            .inject_cancellations(2)
            .persist(false)
            .run(program)
            .unwrap()
            .runs
    };
    let injections = runs(1) - 2;
    assert!(injections >= 2, "{injections}");
    assert_eq!(runs(50), 50 + injections + 1);
    assert_eq!(runs(3), 3 + injections + 1);
}

// ===== around a saved schedule =====

/// Three tasks log their name at each of two steps. Fails when `b` runs first and `c` takes
/// its first step before `a` does: the saved schedule `v1:1=t3` (b first) passes in the
/// default order after it, and so does every FIFO schedule.
async fn b_then_c_before_a(log: Rc<RefCell<Vec<&'static str>>>) {
    let l = log.clone();
    trio::open_nursery(|nursery| async move {
        for name in ["a", "b", "c"] {
            let l = l.clone();
            nursery.start_soon_named(name, async move {
                l.borrow_mut().push(name);
                trio::checkpoint().await?;
                l.borrow_mut().push(name);
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    let log = log.borrow();
    let first = |name| log.iter().position(|n| *n == name).unwrap();
    assert!(!(log[0] == "b" && first("c") < first("a")), "c overtook a after b went first: {log:?}");
}

fn regressions_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("trio-explore-search-{name}-{}.txt", std::process::id()))
}

#[test]
fn schedules_around_a_saved_one_find_its_neighbour() {
    let path = regressions_file("around");
    std::fs::write(&path, "neighbour policy=random seed=7 schedule=v1:1=t3\n").unwrap();
    // FIFO explores nothing: only the schedules around the saved one can find the bug.
    let explore =
        Explore::new("explore_search::neighbour").policy(PolicyKind::Fifo).schedules(1).regressions_file(&path);
    let failure = explore.run_local(|| b_then_c_before_a(Rc::default())).unwrap_err();
    std::fs::remove_file(&path).ok();
    assert_eq!(failure.origin, "around a saved schedule", "{failure}");
    assert!(failure.message.contains("c overtook a"), "{failure}");
    // The saved schedule passed first; the failure is one of the few runs around it.
    assert!((2..=9).contains(&failure.schedules_run), "{failure}");
}

#[test]
fn without_a_saved_schedule_nothing_runs_around_it() {
    let path = regressions_file("none");
    std::fs::remove_file(&path).ok();
    let explore =
        Explore::new("explore_search::neighbour").policy(PolicyKind::Fifo).schedules(1).regressions_file(&path);
    let summary = explore.run_local(|| b_then_c_before_a(Rc::default())).unwrap();
    assert_eq!(summary.runs, 1);
    // A saved schedule that passes adds itself and eight runs around it.
    std::fs::write(&path, "neighbour policy=random seed=7 schedule=v1:1=t2\n").unwrap();
    let passing = || async {
        trio::checkpoint().await.unwrap();
    };
    let summary = explore.run(passing).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(summary.runs, 1 + 8 + 1);
}
