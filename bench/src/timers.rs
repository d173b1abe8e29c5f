//! Timers under virtual time: trio with an autojump `MockClock`, tokio with a paused clock
//! (`start_paused`), both on one thread. Neither waits in real time.

use std::time::{Duration, Instant};

use trio_testkit::MockClock;

/// The sleep of task `i` in the many-sleeps workload: 1 to 7 ms, so 100 sleeps take at most
/// 700 ms of virtual time and about a seventh of the tasks wake at each instant.
fn period(i: u64) -> Duration {
    Duration::from_millis(1 + i % 7)
}

/// The sleep of sleeper `i` among `n` in the many-sleepers workload: every task sleeps one
/// second (`Same`), or the deadlines are spread over a second at a thousand distinct
/// instants (`Spread`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadlines {
    /// All `n` tasks wake at the same instant.
    Same,
    /// 1,000 distinct instants, 1 ms apart.
    Spread,
}

impl Deadlines {
    fn of(self, i: u64) -> Duration {
        match self {
            Deadlines::Same => Duration::from_secs(1),
            Deadlines::Spread => Duration::from_millis(1 + i % 1000),
        }
    }
}

fn trio_builder() -> trio::Builder {
    trio::Builder::new().clock(MockClock::autojump())
}

fn tokio_paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused tokio runtime")
}

/// trio: `tasks` tasks each sleeping `sleeps` times.
pub fn trio_sleeps(tasks: u64, sleeps: u64) -> Duration {
    trio_builder().run(async move {
        let start = Instant::now();
        trio::open_nursery(|nursery| async move {
            for i in 0..tasks {
                nursery.start_soon(async move {
                    for _ in 0..sleeps {
                        trio::sleep(period(i)).await?;
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .expect("nothing is cancelled");
        start.elapsed()
    })
}

/// tokio: the same with `tokio::time::sleep` on a paused clock.
pub fn tokio_sleeps(tasks: u64, sleeps: u64) -> Duration {
    tokio_paused().block_on(async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..tasks {
            set.spawn(async move {
                for _ in 0..sleeps {
                    tokio::time::sleep(period(i)).await;
                }
            });
        }
        while let Some(done) = set.join_next().await {
            done.expect("no panic");
        }
        start.elapsed()
    })
}

/// One trio sleeper: what is spawned `n` times (also used to size the future).
pub async fn trio_sleeper(d: Duration) -> trio::Result<()> {
    trio::sleep(d).await?;
    Ok(())
}

/// One tokio sleeper.
pub async fn tokio_sleeper(d: Duration) {
    tokio::time::sleep(d).await
}

/// trio: `n` tasks that each sleep once, timed from the first spawn until all woke and exited.
pub fn trio_sleepers(n: u64, deadlines: Deadlines) -> Duration {
    trio_builder().run(async move {
        let start = Instant::now();
        trio::open_nursery(|nursery| async move {
            for i in 0..n {
                nursery.start_soon(trio_sleeper(deadlines.of(i)));
            }
            Ok(())
        })
        .await
        .expect("nothing is cancelled");
        start.elapsed()
    })
}

/// tokio: the same.
pub fn tokio_sleepers(n: u64, deadlines: Deadlines) -> Duration {
    tokio_paused().block_on(async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            set.spawn(tokio_sleeper(deadlines.of(i)));
        }
        while let Some(done) = set.join_next().await {
            done.expect("no panic");
        }
        start.elapsed()
    })
}
