//! Schedule exploration: trio-testkit's `Explore` against shuttle's `check_random` and
//! `check_pct`, on the same lock-increment programs, and trio-testkit on the bug zoo.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use trio_testkit::explore::{Explore, PolicyKind};

use crate::zoo::Program;

/// One worker thread: the tables compare per core (shuttle and madsim use one); the speed-up of
/// every core is measured by `cargo run --release -p trio-testkit --example explore_speed`.
fn explorer(name: &str, schedules: u64, policy: PolicyKind) -> Explore {
    Explore::new(name).schedules(schedules).policy(policy).persist(false).shrink(false).seed(7).threads(1)
}

/// trio: `tasks` tasks each taking a `Lock` `increments` times and incrementing a counter
/// under it; `schedules` schedules. (`lock()` is a schedule point, as shuttle's is.)
pub fn trio_locks(tasks: u64, increments: u64, policy: PolicyKind, schedules: u64) -> Duration {
    let start = Instant::now();
    explorer("locks", schedules, policy)
        .run(|| async move {
            let lock = Rc::new(trio::Lock::new());
            let count = Rc::new(Cell::new(0u64));
            let (l, c) = (lock.clone(), count.clone());
            trio::open_nursery(|nursery| async move {
                for _ in 0..tasks {
                    let (lock, count) = (l.clone(), c.clone());
                    nursery.start_soon(async move {
                        for _ in 0..increments {
                            let _guard = lock.lock().await?;
                            count.set(count.get() + 1);
                        }
                        Ok(())
                    });
                }
                Ok(())
            })
            .await
            .expect("no task fails");
            assert_eq!(count.get(), tasks * increments);
        })
        .expect("a correct program passes every schedule");
    start.elapsed()
}

// shuttle leaves its panic hook installed after a check, and trio-testkit installs its own
// once per process: each shuttle check puts back the hook that was there before it.

/// shuttle: `threads` threads each incrementing a `shuttle::sync::Mutex` `increments` times.
pub fn shuttle_locks(threads: u64, increments: u64, pct: Option<usize>, iterations: u64) -> Duration {
    let test = move || {
        let lock = std::sync::Arc::new(shuttle::sync::Mutex::new(0u64));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let lock = lock.clone();
                shuttle::thread::spawn(move || {
                    for _ in 0..increments {
                        *lock.lock().expect("not poisoned") += 1;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("no thread panics");
        }
        assert_eq!(*lock.lock().expect("not poisoned"), threads * increments);
    };
    let hook = std::panic::take_hook();
    let start = Instant::now();
    match pct {
        None => shuttle::check_random(test, iterations as usize),
        Some(depth) => shuttle::check_pct(test, iterations as usize, depth),
    }
    let elapsed = start.elapsed();
    std::panic::set_hook(hook);
    elapsed
}

/// shuttle, async flavour: `tasks` `shuttle::future` tasks, a `shuttle::sync::Mutex`
/// incremented `increments` times each, a `yield_now` after each increment.
pub fn shuttle_async_locks(tasks: u64, increments: u64, iterations: u64) -> Duration {
    let test = move || {
        let lock = std::sync::Arc::new(shuttle::sync::Mutex::new(0u64));
        shuttle::future::block_on(async move {
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let lock = lock.clone();
                    shuttle::future::spawn(async move {
                        for _ in 0..increments {
                            *lock.lock().expect("not poisoned") += 1;
                            shuttle::future::yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.expect("no task panics");
            }
            assert_eq!(*lock.lock().expect("not poisoned"), tasks * increments);
        });
    };
    let hook = std::panic::take_hook();
    let start = Instant::now();
    shuttle::check_random(test, iterations as usize);
    let elapsed = start.elapsed();
    std::panic::set_hook(hook);
    elapsed
}

/// trio: `tasks` tasks each sleeping 100 ms `sleeps` times, one schedule per seed under an
/// autojump clock: the workload madsim's figure is about.
pub fn trio_sleeps(tasks: u64, sleeps: u64, schedules: u64) -> Duration {
    let start = Instant::now();
    explorer("sleeps", schedules, PolicyKind::Random)
        .run(|| async move {
            trio::open_nursery(|nursery| async move {
                for _ in 0..tasks {
                    nursery.start_soon(async move {
                        for _ in 0..sleeps {
                            trio::sleep(Duration::from_millis(100)).await?;
                        }
                        Ok(())
                    });
                }
                Ok(())
            })
            .await
            .expect("nothing is cancelled");
        })
        .expect("a correct program passes every schedule");
    start.elapsed()
}

/// The zoo's exhibits with the name the zoo's tests give them.
pub const ZOO: [(&str, Program); 7] = [
    ("lost_update", crate::zoo::lost_update),
    ("check_then_act", crate::zoo::check_then_act),
    ("lock_order", crate::zoo::lock_order),
    ("missed_wakeup", crate::zoo::missed_wakeup),
    ("aba_two_preemptions", crate::zoo::aba_two),
    ("aba_three_preemptions", crate::zoo::aba_three),
    ("timeout_race", crate::zoo::heartbeat),
];

/// How many schedules an exploration from base seed `seed` runs until the buggy version of
/// `program` first fails; `None` if it does not fail within `cap`.
pub fn schedules_to_failure(program: Program, policy: PolicyKind, seed: u64, cap: u64) -> Option<u64> {
    match explorer("zoo", cap, policy).seed(seed).run(|| program(true)) {
        Ok(_) => None,
        Err(failure) => Some(failure.schedule_index.expect("found by exploration") + 1),
    }
}

/// Runs the correct version of `program` under `schedules` schedules.
pub fn zoo_correct(program: Program, policy: PolicyKind, schedules: u64) -> Duration {
    let start = Instant::now();
    explorer("zoo", schedules, policy).run(|| program(false)).expect("the correct version passes");
    start.elapsed()
}

/// The cancel-safety exhibit: how many runs cancellation injection (bound 8) needs to find
/// it, after a Random exploration of `schedules` schedules that never does.
pub fn cancel_safety_runs(schedules: u64) -> (bool, Option<u64>) {
    let plain = explorer("zoo", schedules, PolicyKind::Random).run(|| crate::zoo::forwarder(true)).is_err();
    let injected = explorer("zoo", 1, PolicyKind::Random)
        .inject_cancellations(8)
        .run(|| crate::zoo::forwarder(true))
        .err()
        .map(|failure| failure.schedules_run);
    (plain, injected)
}
