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

/// Wall time and, on Linux, the process's CPU time (user + system) for one exploration.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Option<Duration>,
}

fn measure(policy: PolicyKind, schedules: u64, threads: usize) -> Sample {
    let (start, cpu_start) = (Instant::now(), cpu_time());
    Explore::new("explore_speed")
        .schedules(schedules)
        .policy(policy)
        .seed(7)
        .threads(threads)
        .persist(false)
        .shrink(false)
        .run(locks)
        .expect("a correct program passes every schedule");
    Sample { wall: start.elapsed(), cpu: cpu_time().zip(cpu_start).map(|(end, start)| end.saturating_sub(start)) }
}

/// User plus system time of this process so far (Linux: `/proc/self/stat`, in clock ticks of
/// 10 ms), or `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The sample with the median wall time.
fn median(mut samples: Vec<Sample>) -> Sample {
    samples.sort_by_key(|s| s.wall);
    samples[samples.len() / 2]
}

fn per_schedule(d: Duration, schedules: u64) -> f64 {
    d.as_secs_f64() * 1e6 / schedules as f64
}

fn main() {
    let schedules: u64 = std::env::var("N").ok().and_then(|n| n.parse().ok()).unwrap_or(50_000);
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = |s: Sample| s.cpu.map_or("n/a".to_string(), |c| format!("{:.2} µs", per_schedule(c, schedules)));
    if let Some(threads) = std::env::var("THREADS").ok().and_then(|n| n.parse().ok()) {
        for policy in [PolicyKind::Random, PolicyKind::Pct { depth: 3 }] {
            let s = median((0..rounds).map(|_| measure(policy, schedules, threads)).collect());
            println!(
                "{policy}: {threads} thread(s) {:.2} µs/schedule wall, {} CPU",
                per_schedule(s.wall, schedules),
                cpu(s)
            );
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
        println!(
            "{name}: 1 thread {:.2} µs/schedule ({} CPU); {cores} threads {:.2} µs/schedule ({} CPU); \
             speed-up {:.2}×",
            per_schedule(one.wall, schedules),
            cpu(one),
            per_schedule(all.wall, schedules),
            cpu(all),
            one.wall.as_secs_f64() / all.wall.as_secs_f64()
        );
    }
}
