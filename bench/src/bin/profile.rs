//! Runs one workload once, for a profiler (`valgrind --tool=callgrind`, `perf record`):
//! `profile WORKLOAD [N]`, and prints the allocations it made.
//!
//! Workloads: `spawn`, `tokio-spawn`, `yields`, `tokio-yields`, `sleeps`, `tokio-sleeps`,
//! `sleepers-same`, `cancel`, `tokio-cancel`, `explore-locks`, `explore-pct`,
//! `shuttle-locks`, `explore-sleeps`.

use trio_bench::timers::Deadlines;
use trio_bench::{alloc, cancel, explore, spawn, timers, yields};
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
        "cancel" => cancel::trio(n),
        "tokio-cancel" => cancel::tokio(n),
        "explore-locks" => explore::trio_locks(3, 3, PolicyKind::Random, n),
        "explore-pct" => explore::trio_locks(3, 3, PolicyKind::Pct { depth: 3 }, n),
        "shuttle-locks" => explore::shuttle_locks(3, 3, None, n),
        "explore-sleeps" => explore::trio_sleeps(10, 10, n),
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
