//! Channel and lock micro-benchmarks: trio against `tokio::sync` on a current-thread tokio
//! runtime and `futures::channel` / `futures::lock` on `futures::executor::LocalPool`, all in
//! this one process and on one thread.
//!
//! Run with `cargo run --release --bin channels` from `bench/`. Optional arguments:
//! `channels [MESSAGES] [RUNS]` (defaults: 1,000,000 and 5). Each cell of the table is the
//! median over RUNS runs, in nanoseconds per message (or per lock operation).
//!
//! What is measured:
//! - `ping-pong rendezvous`: one task sends a number, another sends it back, MESSAGES times.
//!   trio uses capacity 0; tokio's smallest channel holds 1; futures' `channel(0)` holds one
//!   per sender. Cost per round trip / 2, i.e. per message.
//! - `ping-pong buffered(128)`: the same over channels of capacity 128.
//! - `stream buffered(128)`: one producer, one consumer, MESSAGES one-way messages.
//! - `contended lock x100`: 100 tasks each take the lock MESSAGES/100 times, yielding once
//!   while holding it (trio's `lock()` already yields once on success; the peers yield
//!   explicitly), so every acquire but the first of a round has to wait its turn.
//! - `yield (the floor)`: one task yielding to the scheduler MESSAGES times (`checkpoint`,
//!   `yield_now`). Trio's rule that every successful operation is a schedule point makes a
//!   send or a receive cost at least this much; the peers only yield when they must wait.

use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use futures::{SinkExt, StreamExt};

use crate::harness::{Table, Workload, interleaved, ns};
use crate::yields::YieldNow;

const LOCK_TASKS: u64 = 100;

/// The channel and lock table: ns per message (per acquire for the lock), median of `runs`
/// interleaved runs of `messages` messages each.
pub fn table(messages: u64, runs: usize) -> Table {
    let mut table = Table::new("ns per message", &["trio", "tokio", "futures"], ns);
    let mut row = |name: &str, ops: u64, ours: &dyn Fn(), tokio: &dyn Fn(), futures: &dyn Fn()| {
        let workloads: [(&str, Workload<'_>); 3] = [
            ("trio", Box::new(|_| time(ours))),
            ("tokio", Box::new(|_| time(tokio))),
            ("futures", Box::new(|_| time(futures))),
        ];
        let cells = interleaved(runs, ops, &workloads);
        table.row(name, cells.into_iter().map(|(m, s)| Some((m / ops as f64, s))).collect());
    };
    row(
        "ping-pong rendezvous",
        messages * 2,
        &|| trio_ping_pong(messages, 0),
        &|| tokio_ping_pong(messages, 1),
        &|| futures_ping_pong(messages, 0),
    );
    row(
        "ping-pong buffered(128)",
        messages * 2,
        &|| trio_ping_pong(messages, 128),
        &|| tokio_ping_pong(messages, 128),
        &|| futures_ping_pong(messages, 128),
    );
    row("stream buffered(128)", messages, &|| trio_stream(messages, 128), &|| tokio_stream(messages, 128), &|| {
        futures_stream(messages, 128)
    });
    row("yield, one task (the floor)", messages, &|| trio_yield(messages), &|| tokio_yield(messages), &|| {
        futures_yield(messages)
    });
    let per_task = messages / LOCK_TASKS;
    row("contended lock x100", per_task * LOCK_TASKS, &|| trio_lock(per_task), &|| tokio_lock(per_task), &|| {
        futures_lock(per_task)
    });
    table
}

fn time(f: &dyn Fn()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

// ===== trio =====

pub fn trio_ping_pong(messages: u64, capacity: usize) {
    trio::run(async move {
        let (ping_tx, ping_rx) = trio::open_memory_channel::<u64>(capacity);
        let (pong_tx, pong_rx) = trio::open_memory_channel::<u64>(capacity);
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                while let Some(v) = ping_rx.recv().await? {
                    pong_tx.send(v).await?;
                }
                Ok(())
            });
            for i in 0..messages {
                ping_tx.send(i).await?;
                let back = pong_rx.recv().await?;
                debug_assert_eq!(back, Some(i));
            }
            Ok(())
        })
        .await
        .expect("the benchmark runs without errors");
    });
}

pub fn trio_stream(messages: u64, capacity: usize) {
    trio::run(async move {
        let (tx, rx) = trio::open_memory_channel::<u64>(capacity);
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                for i in 0..messages {
                    tx.send(i).await?;
                }
                Ok(())
            });
            let mut sum = 0;
            while let Some(v) = rx.recv().await? {
                sum += v;
            }
            assert_eq!(sum, messages * (messages - 1) / 2);
            Ok(())
        })
        .await
        .expect("the benchmark runs without errors");
    });
}

pub fn trio_lock(per_task: u64) {
    trio::run(async move {
        let lock = Rc::new(trio::Lock::new());
        let count = Rc::new(std::cell::Cell::new(0u64));
        let (lock2, count2) = (lock.clone(), count.clone());
        trio::open_nursery(|nursery| async move {
            for _ in 0..LOCK_TASKS {
                let (lock, count) = (lock2.clone(), count2.clone());
                nursery.start_soon(async move {
                    for _ in 0..per_task {
                        let _guard = lock.lock().await?; // yields once while holding it
                        count.set(count.get() + 1);
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .expect("the benchmark runs without errors");
        assert_eq!(count.get(), per_task * LOCK_TASKS);
    });
}

fn trio_yield(n: u64) {
    trio::run(async move {
        for _ in 0..n {
            trio::checkpoint().await.expect("not cancelled");
        }
    });
}

// ===== tokio, current-thread runtime =====

fn tokio_yield(n: u64) {
    tokio_runtime().block_on(async move {
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    });
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime")
}

pub fn tokio_ping_pong(messages: u64, capacity: usize) {
    tokio_runtime().block_on(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(capacity);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(capacity);
        let echo = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v).await.expect("the main task receives");
            }
        });
        for i in 0..messages {
            ping_tx.send(i).await.expect("the echo task receives");
            let back = pong_rx.recv().await;
            debug_assert_eq!(back, Some(i));
        }
        drop(ping_tx);
        echo.await.expect("the echo task ends");
    });
}

pub fn tokio_stream(messages: u64, capacity: usize) {
    tokio_runtime().block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(capacity);
        let producer = tokio::spawn(async move {
            for i in 0..messages {
                tx.send(i).await.expect("the consumer receives");
            }
        });
        let mut sum = 0;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        assert_eq!(sum, messages * (messages - 1) / 2);
        producer.await.expect("the producer ends");
    });
}

pub fn tokio_lock(per_task: u64) {
    tokio_runtime().block_on(async move {
        let lock = std::sync::Arc::new(tokio::sync::Mutex::new(0u64));
        let mut tasks = Vec::new();
        for _ in 0..LOCK_TASKS {
            let lock = lock.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    let mut guard = lock.lock().await;
                    tokio::task::yield_now().await;
                    *guard += 1;
                }
            }));
        }
        for task in tasks {
            task.await.expect("a lock task ends");
        }
        assert_eq!(*lock.lock().await, per_task * LOCK_TASKS);
    });
}

// ===== futures, LocalPool =====

fn futures_yield(n: u64) {
    LocalPool::new().run_until(async move {
        for _ in 0..n {
            YieldNow(false).await;
        }
    });
}

fn futures_ping_pong(messages: u64, capacity: usize) {
    let mut pool = LocalPool::new();
    let (mut ping_tx, mut ping_rx) = futures::channel::mpsc::channel::<u64>(capacity);
    let (mut pong_tx, mut pong_rx) = futures::channel::mpsc::channel::<u64>(capacity);
    pool.spawner()
        .spawn_local(async move {
            while let Some(v) = ping_rx.next().await {
                pong_tx.send(v).await.expect("the main task receives");
            }
        })
        .expect("spawn the echo task");
    pool.run_until(async move {
        for i in 0..messages {
            ping_tx.send(i).await.expect("the echo task receives");
            let back = pong_rx.next().await;
            debug_assert_eq!(back, Some(i));
        }
    });
}

fn futures_stream(messages: u64, capacity: usize) {
    let mut pool = LocalPool::new();
    let (mut tx, mut rx) = futures::channel::mpsc::channel::<u64>(capacity);
    pool.spawner()
        .spawn_local(async move {
            for i in 0..messages {
                tx.send(i).await.expect("the consumer receives");
            }
        })
        .expect("spawn the producer");
    pool.run_until(async move {
        let mut sum = 0;
        while let Some(v) = rx.next().await {
            sum += v;
        }
        assert_eq!(sum, messages * (messages - 1) / 2);
    });
}

fn futures_lock(per_task: u64) {
    let mut pool = LocalPool::new();
    let lock = Rc::new(futures::lock::Mutex::new(0u64));
    for _ in 0..LOCK_TASKS {
        let lock = lock.clone();
        pool.spawner()
            .spawn_local(async move {
                for _ in 0..per_task {
                    let mut guard = lock.lock().await;
                    YieldNow(false).await;
                    *guard += 1;
                }
            })
            .expect("spawn a lock task");
    }
    pool.run();
    assert_eq!(*lock.try_lock().expect("unlocked at the end"), per_task * LOCK_TASKS);
}
