//! Schedules per second for a 3-task × 3-lock-increment program (a quick local probe; the full
//! comparison with shuttle lives in `bench/`). Run with
//! `cargo run --release -p trio-testkit --example explore_speed`.

use std::cell::Cell;
use std::rc::Rc;

use trio_testkit::explore::{Explore, PolicyKind};

fn main() {
    for (policy, name) in [(PolicyKind::Random, "random"), (PolicyKind::Pct { depth: 3 }, "pct:3")] {
        let schedules: u64 = std::env::var("N").ok().and_then(|n| n.parse().ok()).unwrap_or(50_000);
        let start = std::time::Instant::now();
        let summary = Explore::new("explore_speed")
            .schedules(schedules)
            .policy(policy)
            .persist(false)
            .run(|| async {
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
            })
            .unwrap();
        let elapsed = start.elapsed();
        println!(
            "{name}: {schedules} schedules in {elapsed:.2?} = {:.0} schedules/s ({} distinct)",
            schedules as f64 / elapsed.as_secs_f64(),
            summary.distinct
        );
    }
}
