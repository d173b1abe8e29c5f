//! Schedules per second for a 3-task × 3-lock-increment program (the lock workload of
//! `bench/`), on one worker thread and on every core, and the speed-up between them (a quick
//! local probe; the full comparison with shuttle lives in `bench/`). Run with
//! `cargo run --release -p trio-testkit --example explore_speed`; `N` sets the schedules per
//! measurement (default 50,000), `ROUNDS` how many times each is measured (default 5; the
//! median is printed); `THREADS=k` measures only `k` threads.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use trio_testkit::explore::{Explore, PolicyKind};

async fn locks() {
    let lock = Rc::new(trio::Lock::new());
    let counter = Rc::new(Cell::new(0));
    let (l, c) = (lock.clone(), counter.clone());
    trio::open_nursery(|nursery| async move {
        for _ in 0..3 {
            let (l, c) = (l.clone(), c.clone());
            nursery.start_soon(async move {
                for _ in 0..3 {
                    let _guard = l.lock().await?;
                    c.set(c.get() + 1);
                }
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(counter.get(), 9);
}

fn measure(policy: PolicyKind, schedules: u64, threads: usize) -> Duration {
    let start = Instant::now();
    Explore::new("explore_speed")
        .schedules(schedules)
        .policy(policy)
        .seed(7)
        .threads(threads)
        .persist(false)
        .shrink(false)
        .run(locks)
        .expect("a correct program passes every schedule");
    start.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let schedules: u64 = std::env::var("N").ok().and_then(|n| n.parse().ok()).unwrap_or(50_000);
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(threads) = std::env::var("THREADS").ok().and_then(|n| n.parse().ok()) {
        for policy in [PolicyKind::Random, PolicyKind::Pct { depth: 3 }] {
            let d = median((0..rounds).map(|_| measure(policy, schedules, threads)).collect());
            println!("{policy}: {threads} thread(s) {:.2} µs/schedule", d.as_secs_f64() * 1e6 / schedules as f64);
        }
        return;
    }
    println!("{schedules} schedules per measurement, median of {rounds}, {cores} core(s) available");
    for (policy, name) in [(PolicyKind::Random, "random"), (PolicyKind::Pct { depth: 3 }, "pct:3")] {
        let mut one = Vec::new();
        let mut all = Vec::new();
        for _ in 0..rounds {
            // Interleaved, so a change in the machine's load hits both alike.
            one.push(measure(policy, schedules, 1));
            all.push(measure(policy, schedules, cores));
        }
        let (one, all) = (median(one), median(all));
        let rate = |d: Duration| schedules as f64 / d.as_secs_f64();
        println!(
            "{name}: 1 thread {:.2} µs/schedule ({:.0}/s); {cores} threads {:.2} µs/schedule ({:.0}/s); speed-up {:.2}×",
            one.as_secs_f64() * 1e6 / schedules as f64,
            rate(one),
            all.as_secs_f64() * 1e6 / schedules as f64,
            rate(all),
            one.as_secs_f64() / all.as_secs_f64()
        );
    }
}
