//! # trio — structured concurrency for Rust
//!
//! A port of Python's [Trio](https://trio.readthedocs.io): a single-threaded, deterministic
//! async runtime where every task lives in a [nursery](open_nursery), every wait can be
//! cancelled through a [cancel scope](CancelScope), and cancellation is a value (`Err(Cancelled)`)
//! that `?` carries to the scope that owns it.
//!
//! ```
//! use std::time::Duration;
//!
//! async fn child(name: &'static str, secs: u64) -> trio::Result<()> {
//!     trio::sleep(Duration::from_millis(secs)).await?;
//!     println!("{name} done");
//!     Ok(())
//! }
//!
//! trio::run(async {
//!     trio::open_nursery(|nursery| async move {
//!         nursery.start_soon(child("child1", 1));
//!         nursery.start_soon(child("child2", 2));
//!         Ok(())
//!     })
//!     .await // waits for both children
//!     .unwrap();
//! });
//! ```
//!
//! ## The rules
//!
//! - **Structured**: a task is started in a nursery, and the nursery does not finish until all
//!   its children have. A failing child cancels its siblings; every failure comes back as one
//!   [`ErrorGroup`]. A panic in a child resumes in the parent once the siblings are done.
//! - **Checkpoints**: a task only yields at a checkpoint. Every `async fn` of this crate that
//!   returns normally has executed one (it was a schedule point and a cancel point);
//!   synchronous functions never yield. [`checkpoint`] is the explicit one.
//! - **Cancel scopes**: [`CancelScope`] with deadlines, timeouts and shields;
//!   [`move_on_after`], [`fail_after`] and friends. Cancellation is level-triggered: inside a
//!   cancelled scope every checkpoint fails, until the scope's body ends and the scope catches
//!   the `Cancelled` error.
//! - **Deterministic**: task ids are sequential, equal deadlines fire in creation order, time
//!   comes only from the run's [clock](abc::Clock), and every ordering choice goes through the
//!   [`SchedulePolicy`](abc::SchedulePolicy). Same program, same seed: the same run.
//! - **No silent hangs**: when every task is blocked and nothing can wake them, the run stops
//!   with a report of every task and what it waits on ("wait_readable on fd 7 (tcp
//!   127.0.0.1:5000 → 127.0.0.1:41234)").
//!
//! ## Assertions about every schedule
//!
//! [`always!`], [`sometimes!`] and [`reachable!`] state what must hold in every run, what must
//! happen in at least one, and which lines must be reached at all. Library code states them
//! without depending on the testkit: outside an exploration `sometimes!` and `reachable!` do
//! nothing and `always!` is an `assert!`; under the testkit's exploration every evaluation is
//! counted, reported in the summary, and can fail an exploration whose `sometimes!` never
//! came true.
//!
//! ## Real I/O
//!
//! [`net`] is Trio's networking API — [`net::open_tcp_stream`] (with happy eyeballs),
//! [`net::open_tcp_listeners`], [`net::serve_tcp`], [`net::SocketStream`] — on the operating
//! system's sockets by default (Unix), driven by a reactor inside the run loop (epoll or
//! kqueue, through `mio`); a test installs the testkit's simulated network instead and the same
//! code runs there, deterministically. [`lowlevel::wait_readable`],
//! [`lowlevel::wait_writable`] and [`lowlevel::notify_closing`] are Trio's low-level waits on
//! any descriptor. An echo server and its client:
//!
//! ```
//! use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
//! use trio::net::SocketStream;
//!
//! /// Sends back everything it receives, until the client sends the end of the stream.
//! async fn echo(stream: SocketStream) -> trio::Result<()> {
//!     loop {
//!         let data = stream.receive_some(65_536).await?;
//!         if data.is_empty() {
//!             return Ok(stream.send_eof().await?);
//!         }
//!         stream.send_all(&data).await?;
//!     }
//! }
//!
//! fn main() -> trio::Result<()> {
//!     trio::run(async {
//!         trio::open_nursery(|nursery| async move {
//!             // A free port on 127.0.0.1; one task per connection.
//!             let listeners = nursery
//!                 .start(|task_status| async move {
//!                     let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
//!                     trio::net::serve_listeners(echo, listeners, task_status).await
//!                 })
//!                 .await?;
//!             let port = listeners[0].local_addr().port();
//!
//!             let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
//!             client.send_all(b"hello over real sockets").await?;
//!             client.send_eof().await?;
//!             let mut echoed = Vec::new();
//!             loop {
//!                 let chunk = client.receive_some(1024).await?;
//!                 if chunk.is_empty() {
//!                     break;
//!                 }
//!                 echoed.extend_from_slice(&chunk);
//!             }
//!             assert_eq!(echoed, b"hello over real sockets");
//!             nursery.cancel_scope().cancel(); // stop serving
//!             Ok(())
//!         })
//!         .await
//!     })
//! }
//! ```
//!
//! Blocking code runs on worker threads with [`to_thread::run_sync`] (and calls back with
//! [`from_thread`]); on Unix, [`run_process`] runs child processes, [`signal`] catches
//! signals, and Ctrl-C cancels a run on the main thread ([`Builder::keyboard_interrupt`]).
//!
//! Testing tools — a mock clock with autojump, `assert_checkpoints`, schedule exploration,
//! `#[trio_test]` — live in the `trio-testkit` crate.
//!
//! Coming from tokio? [`guide::coming_from_tokio`] maps `spawn`, `JoinSet`, `timeout`,
//! `select!`, `spawn_blocking` and `start_paused` tests to their trio forms.
//!
//! See `docs/design.md` in the repository for the architecture and every place where this
//! crate deliberately differs from Trio.

// Links from other crates' pages (the testkit's) resolve to docs.rs when these pages are not built
// beside them (`cargo doc --no-deps --workspace` documents the crates side by side).
#![doc(html_root_url = "https://docs.rs/trio/0.1.0")]
// One `unsafe` block in the crate, with its `// SAFETY:` and allowed where it is: pinning a
// task's future inside the task's own allocation (`core/task.rs`, `FutureSlot`).
#![deny(unsafe_code)]

pub mod abc;
mod assertions;
pub mod buggify;
mod cancellable;
mod channel;
pub mod collections;
mod core;
mod error;
pub mod from_thread;
pub mod guide;
pub mod io;
pub mod lowlevel;
pub mod net;
mod no_spawn;
mod parking_lot;
#[cfg(unix)]
pub mod process;
pub mod select;
#[cfg(unix)]
pub mod signal;
mod sync;
mod thread_cache;
mod time;
pub mod to_thread;

pub use crate::cancellable::cancellable;
pub use crate::channel::{
    Capacity, MemoryChannelStatistics, MemoryReceiver, MemorySender, RecvError, SendError, TryRecvError, TrySendError,
    open_memory_channel,
};
pub use crate::core::cancel::{
    CancelScope, ScopeRun, current_effective_deadline, fail_after, fail_at, move_on_after, move_on_at,
};
pub use crate::core::clock::{Instant, SystemClock};
pub use crate::core::nursery::{Nursery, NurseryOutput, TaskResult, TaskStatus, open_nursery};
pub use crate::core::runtime::{Builder, RunError, RunErrorKind, Runner, run};
pub use crate::core::wait::checkpoint;
pub use crate::error::{
    BrokenResource, BusyResource, CancelSource, Cancelled, ClosedResource, Error, ErrorGroup, GroupEntry, Result,
    RunFinished, RuntimeError, SyncError, TooSlow, WouldBlock,
};
pub use crate::io::{StapledStream, StreamError};
#[doc(hidden)]
pub use crate::no_spawn::{DetachedSpawn, spawn};
#[cfg(unix)]
pub use crate::process::{Process, open_process, run_process};
pub use crate::sync::{
    Borrower, CapacityLimiter, CapacityLimiterStatistics, Condition, ConditionStatistics, Event, EventStatistics,
    LimiterToken, Lock, LockGuard, LockStatistics, Semaphore, SemaphorePermit, SemaphoreStatistics, StrictFifoLock,
};
pub use crate::time::{Sleep, SleepForever, current_time, sleep, sleep_forever, sleep_until};

/// The crate's README, compiled and run as a doctest so that its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
