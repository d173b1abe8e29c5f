//! Many checkpoints (yields to the scheduler) spread over many tasks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;

/// trio: `tasks` children in one nursery, each calling `checkpoint()` `per_task` times.
pub fn trio(tasks: u64, per_task: u64) -> Duration {
    trio::run(async move {
        let start = Instant::now();
        trio::open_nursery(|nursery| async move {
            for _ in 0..tasks {
                nursery.start_soon(async move {
                    for _ in 0..per_task {
                        trio::checkpoint().await?;
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

/// tokio current-thread runtime: `tokio::spawn` + `yield_now`.
pub fn tokio(tasks: u64, per_task: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    rt.block_on(async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..tasks {
            set.spawn(async move {
                for _ in 0..per_task {
                    tokio::task::yield_now().await;
                }
            });
        }
        while let Some(done) = set.join_next().await {
            done.expect("no panic");
        }
        start.elapsed()
    })
}

/// tokio current-thread runtime in a `LocalSet`: `spawn_local` + `yield_now`.
pub fn tokio_local(tasks: u64, per_task: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    tokio::task::LocalSet::new().block_on(&rt, async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..tasks {
            set.spawn_local(async move {
                for _ in 0..per_task {
                    tokio::task::yield_now().await;
                }
            });
        }
        while let Some(done) = set.join_next().await {
            done.expect("no panic");
        }
        start.elapsed()
    })
}

/// `futures::executor::LocalPool` with a hand-written yield (wake self, return `Pending`).
pub fn futures_pool(tasks: u64, per_task: u64) -> Duration {
    let mut pool = LocalPool::new();
    let start = Instant::now();
    let spawner = pool.spawner();
    for _ in 0..tasks {
        spawner
            .spawn_local(async move {
                for _ in 0..per_task {
                    YieldNow(false).await;
                }
            })
            .expect("the pool accepts tasks");
    }
    pool.run();
    start.elapsed()
}

/// Yields to the executor once.
pub struct YieldNow(pub bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
