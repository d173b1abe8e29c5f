//! madsim's seeds per second on 10 tasks x 10 sleeps of 100 ms: every seed is a fresh
//! simulated runtime, as every trio-testkit schedule is. Prints one line the `compare`
//! binary reads: `madsim-seconds-per-seed <median> <spread>`.
//!
//! `trio-bench-madsim [SEEDS] [RUNS]` (defaults 20,000 and 5).

use std::time::{Duration, Instant};

fn one_seed(seed: u64, tasks: u64, sleeps: u64) {
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.block_on(async move {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                madsim::task::spawn(async move {
                    for _ in 0..sleeps {
                        madsim::time::sleep(Duration::from_millis(100)).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("no task panics");
        }
    });
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args.next().map(|a| a.parse().expect("SEEDS must be a number")).unwrap_or(20_000);
    let runs: usize = args.next().map(|a| a.parse().expect("RUNS must be a number")).unwrap_or(5);
    let mut samples = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        for seed in 0..seeds {
            one_seed(seed, 10, 10);
        }
        samples.push(start.elapsed().as_secs_f64() / seeds as f64);
    }
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    let spread = (samples[samples.len() - 1] - samples[0]) / median;
    println!("madsim-seconds-per-seed {median} {spread}");
}
