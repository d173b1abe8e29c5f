//! Benchmarks of trio and its testkit against tokio, `futures::executor` and shuttle.
//!
//! Every benchmark is a plain function that runs one workload once and returns how long the
//! workload took (runtime construction excluded where the peer allows it). The `compare`
//! binary runs them interleaved, takes medians and prints the tables of `docs/PERFORMANCE.md`.
//! [`sct`] counts schedules instead of time: how many each exploration strategy of trio-testkit
//! and of shuttle runs before a bug is found (the `sctbench` binary).

pub mod alloc;
pub mod cancel;
pub mod channels;
pub mod explore;
pub mod harness;
pub mod loopback;
pub mod net;
pub mod sct;
pub mod spawn;
pub mod threads;
pub mod timers;
pub mod yields;

/// The bug zoo's programs, shared with the repository's own tests (`tests/zoo/mod.rs`), so the
/// numbers here are about exactly the programs the zoo's tests explore.
#[path = "../../tests/zoo/mod.rs"]
pub mod zoo;
