//! Worker threads: a `to_thread::run_sync` round trip (hand a closure to a cached thread, get its
//! result back in the waiting task) against `tokio::task::spawn_blocking` on a current-thread
//! runtime, both with an empty closure, one call after the other, so each call finds the thread
//! of the previous one idle.

use std::time::{Duration, Instant};

use crate::harness::{Table, Workload, interleaved, ns};

/// trio: `calls` sequential `to_thread::run_sync` calls.
pub fn trio_round_trips(calls: u64) -> Duration {
    trio::Builder::new().keyboard_interrupt(false).run(async move {
        let start = Instant::now();
        for i in 0..calls {
            let back = trio::to_thread::run_sync(move || i).await.expect("not cancelled");
            assert_eq!(back, i);
        }
        start.elapsed()
    })
}

/// tokio: `calls` sequential `spawn_blocking` calls.
pub fn tokio_round_trips(calls: u64) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    runtime.block_on(async move {
        let start = Instant::now();
        for i in 0..calls {
            let back = tokio::task::spawn_blocking(move || i).await.expect("not cancelled");
            assert_eq!(back, i);
        }
        start.elapsed()
    })
}

/// The table: ns per round trip.
pub fn table(calls: u64, runs: usize) -> Table {
    let mut table = Table::new("ns per round trip", &["trio", "tokio"], ns);
    let workloads: [(&str, Workload<'_>); 2] = [
        ("trio", Box::new(|n| trio_round_trips(n) / n as u32)),
        ("tokio", Box::new(|n| tokio_round_trips(n) / n as u32)),
    ];
    let measured = interleaved(runs, calls, &workloads);
    table.row(
        format!("{calls} sequential to_thread::run_sync, vs spawn_blocking"),
        measured.into_iter().map(|(m, s)| Some((m, s))).collect(),
    );
    table
}
