//! Exploration on several worker threads: the outcome and every line of a report are the same
//! for any thread count, the lowest failing schedule is the one reported whatever finishes
//! first, and threads stop once a failure is known.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use trio_testkit::explore::{Explore, PolicyKind, schedule_seed};

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

/// Three tasks taking a lock in turn: correct, with many schedules.
async fn locks() {
    let lock = Rc::new(trio::Lock::new());
    let counter = Rc::new(Cell::new(0));
    let (l, c) = (lock.clone(), counter.clone());
    trio::open_nursery(|nursery| async move {
        for _ in 0..3 {
            let (l, c) = (l.clone(), c.clone());
            nursery.start_soon(async move {
                for _ in 0..2 {
                    let _guard = l.lock().await?;
                    let seen = c.get();
                    trio::checkpoint().await?;
                    c.set(seen + 1);
                }
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(counter.get(), 6);
}

#[test]
fn a_failure_report_is_the_same_byte_for_byte_on_one_thread_and_on_several() {
    let explore = |threads| {
        Explore::new("explore_parallel::report")
            .policy(PolicyKind::Mixed)
            .seed(11)
            .schedules(300)
            .threads(threads)
            .persist(false)
    };
    let one = explore(1).run(lost_update).unwrap_err();
    assert!(one.schedule_index.unwrap() > 0, "found after several schedules, so the threads raced for it");
    for threads in [2, 3] {
        let several = explore(threads).run(lost_update).unwrap_err();
        assert_eq!(several.to_string(), one.to_string(), "{threads} threads");
        assert_eq!(several.trace, one.trace);
        assert_eq!(several.schedules_run, one.schedules_run);
    }
}

#[test]
fn a_passing_exploration_sums_up_the_same_on_one_thread_and_on_several() {
    let explore = |threads| Explore::new("explore_parallel::summary").schedules(500).threads(threads).persist(false);
    let one = explore(1).run(locks).unwrap();
    assert_eq!(one.runs, 500);
    assert!(one.distinct > 50, "{one:?}");
    assert_eq!(explore(2).run(locks).unwrap(), one);
    assert_eq!(explore(4).run(locks).unwrap(), one);
    // … and the same as on the calling thread alone.
    assert_eq!(explore(1).run_local(locks).unwrap(), one);
}

#[test]
fn cancellation_injection_reports_the_same_on_any_thread_count() {
    let program = || async {
        let stock = std::cell::Cell::new(10);
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
        trio::move_on_after(Duration::from_secs(60), async {
            let taken = stock.take();
            trio::checkpoint().await?; // cancelled here, the stock is lost
            stock.set(taken);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(stock.get(), 10, "items lost");
    };
    let explore = |threads| {
        Explore::new("explore_parallel::inject").schedules(1).inject_cancellations(4).threads(threads).persist(false)
    };
    let one = explore(1).run(program).unwrap_err();
    assert_eq!(one.origin, "cancellation injection");
    assert_eq!(explore(2).run(program).unwrap_err().to_string(), one.to_string());
}

/// Set once, never cleared: lets one schedule wait until another has run.
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Flag {
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.changed.notify_all();
    }

    /// Waits until the flag is set; false if that took unreasonably long (then the test fails
    /// instead of hanging).
    fn wait(&self) -> bool {
        let guard = self.set.lock().unwrap();
        let (guard, timeout) = self.changed.wait_timeout_while(guard, Duration::from_secs(60), |set| !*set).unwrap();
        *guard && !timeout.timed_out()
    }
}

#[test]
fn the_lowest_failing_schedule_is_reported_even_when_a_higher_one_fails_first() {
    let base = 5;
    let (slow, fast) = (1, 3);
    let fast_failed = Flag::default();
    let failures = Mutex::new(Vec::new());
    let failure = Explore::new("explore_parallel::lowest")
        .policy(PolicyKind::Random)
        .seed(base)
        .schedules(10)
        .threads(2)
        .shrink(false)
        .persist(false)
        .run(|| {
            let seed = trio::lowlevel::current_seed();
            let (failures, fast_failed) = (&failures, &fast_failed);
            async move {
                if seed == schedule_seed(base, slow) {
                    // Blocks its thread until schedule 3 has failed on the other one.
                    assert!(fast_failed.wait(), "schedule 3 never ran");
                    failures.lock().unwrap().push(slow);
                    panic!("schedule {slow} fails, slowly");
                }
                if seed == schedule_seed(base, fast) {
                    failures.lock().unwrap().push(fast);
                    fast_failed.set();
                    panic!("schedule {fast} fails, fast");
                }
            }
        })
        .unwrap_err();
    assert_eq!(failures.lock().unwrap()[..2], [fast, slow], "schedule 3 failed first in real time");
    assert_eq!(failure.schedule_index, Some(slow), "yet the lowest failing schedule is reported");
    assert!(failure.message.contains("schedule 1 fails, slowly"), "{failure}");
    assert_eq!(failure.schedules_run, slow + 1);
}

#[test]
fn threads_stop_taking_schedules_once_one_fails() {
    let runs = AtomicU64::new(0);
    let failure = Explore::new("explore_parallel::stops")
        .schedules(100_000)
        .threads(2)
        .shrink(false)
        .persist(false)
        .run(|| {
            runs.fetch_add(1, Ordering::Relaxed);
            async { panic!("every schedule fails") }
        })
        .unwrap_err();
    assert_eq!(failure.schedule_index, Some(0));
    // Each thread fails on its first schedule and stops; one more run records the report.
    let runs = runs.load(Ordering::Relaxed);
    assert!((2..=3).contains(&runs), "{runs} runs for a failure at the first schedule");
}

#[test]
fn run_local_accepts_a_closure_that_cannot_be_shared_and_says_why_it_uses_one_thread() {
    let runs = Rc::new(Cell::new(0)); // not Sync
    let r = runs.clone();
    let summary = Explore::new("explore_parallel::local")
        .policy(PolicyKind::Random)
        .schedules(20)
        .threads(4)
        .persist(false)
        .run_local(move || {
            r.set(r.get() + 1);
            trio::checkpoint()
        })
        .unwrap();
    assert_eq!(runs.get(), 20);
    assert_eq!(summary.warnings.len(), 1, "{summary:?}");
    assert!(summary.warnings[0].contains("threads asks for 4 threads"), "{summary:?}");
    assert!(summary.warnings[0].contains("run_local"), "{summary:?}");
    // Without an explicit request there is nothing to say.
    let quiet = Explore::new("explore_parallel::local").schedules(2).persist(false).run_local(trio::checkpoint);
    if std::env::var_os("TRIO_THREADS").is_none() {
        assert!(quiet.unwrap().warnings.is_empty());
    }
}

#[test]
fn worker_threads_are_capped_by_the_number_of_schedules() {
    // One schedule never starts a thread: it runs on the caller's, where a thread-local set by
    // the test is visible.
    thread_local! {
        static MARK: Cell<bool> = const { Cell::new(false) };
    }
    MARK.with(|m| m.set(true));
    Explore::new("explore_parallel::one")
        .schedules(1)
        .threads(8)
        .persist(false)
        .run(|| async { assert!(MARK.with(Cell::get), "ran on the calling thread") })
        .unwrap();
}
