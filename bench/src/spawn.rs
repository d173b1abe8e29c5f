//! Spawning and finishing many trivial tasks.

use std::time::{Duration, Instant};

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;

/// trio: `n` children that return at once, in one nursery; timed from the first spawn to the
/// nursery's exit.
pub fn trio(n: u64) -> Duration {
    trio::run(async move {
        let start = Instant::now();
        trio::open_nursery(|nursery| async move {
            for _ in 0..n {
                nursery.start_soon(async { Ok(()) });
            }
            Ok(())
        })
        .await
        .expect("trivial tasks do not fail");
        start.elapsed()
    })
}

/// tokio current-thread runtime: `JoinSet::spawn_local` inside a `LocalSet` (what a
/// `!Send`-friendly program uses), then `join_next` until empty.
pub fn tokio_local(n: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            set.spawn_local(async {});
        }
        while let Some(done) = set.join_next().await {
            done.expect("trivial tasks do not panic");
        }
        start.elapsed()
    })
}

/// tokio current-thread runtime: `JoinSet::spawn` of `Send` tasks on the runtime itself, no
/// `LocalSet` (tokio's fastest single-threaded path).
pub fn tokio_spawn(n: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    rt.block_on(async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            set.spawn(async {});
        }
        while let Some(done) = set.join_next().await {
            done.expect("trivial tasks do not panic");
        }
        start.elapsed()
    })
}

/// `futures::executor::LocalPool`: `spawn_local` then `run` until every task finished.
pub fn futures_pool(n: u64) -> Duration {
    let mut pool = LocalPool::new();
    let start = Instant::now();
    let spawner = pool.spawner();
    for _ in 0..n {
        spawner.spawn_local(async {}).expect("the pool accepts tasks");
    }
    pool.run();
    start.elapsed()
}
