//! The `Random` policy: seeded and reproducible, different seeds give different orders, it
//! picks among every runnable task and randomises timers due at the same instant; and
//! `#[trio_test]` uses it by default, seeded from the test's name, unless `policy = "fifo"`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use trio::Instant;
use trio::abc::SchedulePolicy;
use trio::lowlevel::{RunnableTasks, TimerInfo};
use trio_testkit::__private::{run_test, seed_from_name, test_config};
use trio_testkit::MockClock;
use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::policy::{Fifo, Random};

/// Five tasks, each logging its number, checkpointing, and logging it again.
async fn interleaving() -> Vec<u32> {
    let log = Rc::new(RefCell::new(Vec::new()));
    trio::open_nursery(|nursery| {
        let log = log.clone();
        async move {
            for i in 0..5 {
                let log = log.clone();
                nursery.start_soon(async move {
                    log.borrow_mut().push(i);
                    trio::checkpoint().await?;
                    log.borrow_mut().push(i);
                    Ok(())
                });
            }
            Ok(())
        }
    })
    .await
    .unwrap();
    log.take()
}

fn run_with(policy: impl SchedulePolicy + 'static, seed: u64) -> Vec<u32> {
    trio::Builder::new().policy(policy).seed(seed).run(interleaving())
}

#[test]
fn same_seed_same_schedule() {
    for seed in 0..10 {
        assert_eq!(run_with(Random::new(), seed), run_with(Random::new(), seed));
    }
}

#[test]
fn seeds_explore_different_schedules() {
    let orders: BTreeSet<Vec<u32>> = (0..20).map(|seed| run_with(Random::new(), seed)).collect();
    assert!(orders.len() > 10, "20 seeds gave only {} orders", orders.len());
    let fifo = run_with(Fifo, 0);
    assert_eq!(fifo, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    assert!(orders.iter().any(|order| *order != fifo));
}

/// Any of the runnable tasks can go first, and a task woken during a batch can run before the
/// rest of that batch (Trio would make it wait for the next one).
#[test]
fn every_runnable_task_can_be_picked() {
    let orders: Vec<Vec<u32>> = (0..50).map(|seed| run_with(Random::new(), seed)).collect();
    let firsts: BTreeSet<u32> = orders.iter().map(|order| order[0]).collect();
    assert_eq!(firsts, BTreeSet::from([0, 1, 2, 3, 4]));
    let batch_overtaken = orders.iter().any(|order| order[1] == order[0]);
    assert!(batch_overtaken, "no task ran twice in a row, ahead of its batch");
}

/// A policy that leaves tasks in FIFO order and delegates timers to `Random`, to see the
/// timer order alone.
struct RandomTimersOnly(Random);

impl SchedulePolicy for RandomTimersOnly {
    fn start(&mut self, seed: u64) {
        self.0.start(seed);
    }

    fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
        0
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        self.0.pick_timer(due)
    }
}

fn timer_order(seed: u64) -> Vec<u32> {
    trio::Builder::new().policy(RandomTimersOnly(Random::new())).seed(seed).clock(MockClock::autojump()).run(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        trio::open_nursery(|nursery| {
            let log = log.clone();
            async move {
                for i in 0..4 {
                    let log = log.clone();
                    nursery.start_soon(async move {
                        trio::sleep_until(Instant::from_secs(5)).await?;
                        log.borrow_mut().push(i);
                        Ok(())
                    });
                }
                Ok(())
            }
        })
        .await
        .unwrap();
        log.take()
    })
}

#[test]
fn timers_due_together_fire_in_random_order() {
    let orders: BTreeSet<Vec<u32>> = (0..20).map(timer_order).collect();
    assert!(orders.len() > 1);
    assert_eq!(timer_order(3), timer_order(3));
}

// ===== what #[trio_test] runs under =====

fn order_under_runner(config: Explore) -> Vec<u32> {
    let seen = Mutex::new(Vec::new());
    run_test(config, |_fixtures| async {
        *seen.lock().unwrap() = interleaving().await;
    });
    seen.into_inner().unwrap()
}

#[test]
fn tests_run_under_random_seeded_from_their_name() {
    let name = "policy_random::some_test";
    let config = test_config(name);
    assert_eq!(config.base_seed(), seed_from_name(name));
    assert_eq!(order_under_runner(config), run_with(Random::new(), seed_from_name(name)));
}

#[test]
fn an_explicit_seed_and_fifo_are_honoured() {
    let seeded = test_config("policy_random::x").seed(11);
    assert_eq!(order_under_runner(seeded), run_with(Random::new(), 11));
    let fifo = test_config("policy_random::x").policy(PolicyKind::Fifo);
    assert_eq!(order_under_runner(fifo), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
}

/// The seed derived from a name must never change: saved seeds and replays depend on it.
#[test]
fn derived_seeds_are_stable() {
    assert_eq!(seed_from_name(""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(seed_from_name("a"), 0xaf63_dc4c_8601_ec8c);
}

/// The random walk still terminates programs where tasks keep each other busy.
#[test]
fn busy_tasks_finish_under_random() {
    let clock = MockClock::autojump();
    trio::Builder::new().policy(Random::new()).seed(5).clock(clock.clone()).run(async {
        trio::open_nursery(|nursery| async move {
            for _ in 0..3 {
                nursery.start_soon(async {
                    for _ in 0..100 {
                        trio::checkpoint().await?;
                    }
                    trio::sleep(Duration::from_secs(1)).await?;
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(clock.current_time(), Instant::from_secs(1));
}
