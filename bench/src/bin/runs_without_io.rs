//! `runs_without_io [RUNS] [REPEATS]`: the wall time of RUNS small runs that never touch I/O
//! (10 tasks, 10 checkpoints each), the median of REPEATS — what every exploration schedule
//! costs, which the lazily made reactor must not change. Self-contained, so the same file
//! builds against a runtime from before the reactor.

use std::time::{Duration, Instant};

fn runs_without_io(runs: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..runs {
        trio::run(async {
            trio::open_nursery(|nursery| async move {
                for _ in 0..10 {
                    nursery.start_soon(async {
                        for _ in 0..10 {
                            trio::checkpoint().await?;
                        }
                        trio::Result::Ok(())
                    });
                }
                Ok(())
            })
            .await
            .unwrap();
        });
    }
    start.elapsed()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: u64 = args.next().map(|a| a.parse().expect("RUNS must be a number")).unwrap_or(100_000);
    let repeats: usize = args.next().map(|a| a.parse().expect("REPEATS must be a number")).unwrap_or(7);
    let mut samples: Vec<f64> = (0..repeats).map(|_| runs_without_io(runs).as_secs_f64()).collect();
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    println!("{runs} runs without I/O: median {:.3} s, {:.0} ns per run", median, median * 1e9 / runs as f64);
}
