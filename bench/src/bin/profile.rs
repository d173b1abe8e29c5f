//! Runs one workload once, for a profiler (`valgrind --tool=callgrind`, `perf record`):
//! `profile WORKLOAD [N]`, and prints the allocations it made.
//!
//! Workloads: `spawn`, `tokio-spawn`, `yields`, `tokio-yields`, `sleeps`, `tokio-sleeps`,
//! `sleepers` (1,000 distinct deadlines), `tokio-sleepers`, `sleepers-same`, `cancel`,
//! `tokio-cancel`, `explore-locks`, `explore-pct`, `explore-mixed`, `shuttle-locks`,
//! `explore-sleeps`, and the channel table's `ping-pong` (rendezvous), `stream` (buffered 128)
//! and `lock` (100 tasks), each also as `tokio-…`; for those N counts messages (acquires).

use std::time::{Duration, Instant};

use trio_bench::timers::Deadlines;
use trio_bench::{alloc, cancel, channels, explore, spawn, timers, yields};
use trio_testkit::explore::PolicyKind;

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().expect("profile WORKLOAD [N]");
    let n: u64 = args.next().map(|a| a.parse().expect("N must be a number")).unwrap_or(10_000);
    let (time, usage) = alloc::measure(|| match workload.as_str() {
        "spawn" => spawn::trio(n),
        "tokio-spawn" => spawn::tokio_spawn(n),
        "yields" => yields::trio(100, n / 100),
        "tokio-yields" => yields::tokio(100, n / 100),
        "sleeps" => timers::trio_sleeps(100, n / 100),
        "tokio-sleeps" => timers::tokio_sleeps(100, n / 100),
        "sleepers-same" => timers::trio_sleepers(n, Deadlines::Same),
        "sleepers" => timers::trio_sleepers(n, Deadlines::Spread),
        "tokio-sleepers" => timers::tokio_sleepers(n, Deadlines::Spread),
        "cancel" => cancel::trio(n),
        "tokio-cancel" => cancel::tokio(n),
        "explore-locks" => explore::trio_locks(3, 3, PolicyKind::Random, n),
        "explore-pct" => explore::trio_locks(3, 3, PolicyKind::Pct { depth: 3 }, n),
        "shuttle-locks" => explore::shuttle_locks(3, 3, None, n),
        "explore-sleeps" => explore::trio_sleeps(10, 10, n),
        "explore-mixed" => explore::trio_locks(3, 3, PolicyKind::Mixed, n),
        "ping-pong" => time(|| channels::trio_ping_pong(n / 2, 0)),
        "tokio-ping-pong" => time(|| channels::tokio_ping_pong(n / 2, 1)),
        "stream" => time(|| channels::trio_stream(n, 128)),
        "tokio-stream" => time(|| channels::tokio_stream(n, 128)),
        "lock" => time(|| channels::trio_lock(n / 100)),
        "tokio-lock" => time(|| channels::tokio_lock(n / 100)),
        other => panic!("unknown workload {other}"),
    });
    println!(
        "{workload} {n}: {time:?}, {} allocations ({:.2} per unit), {} bytes, peak {} bytes",
        usage.allocs,
        usage.allocs as f64 / n as f64,
        usage.bytes,
        usage.peak
    );
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}
