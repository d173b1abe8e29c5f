//! # trio-testkit — pytest-trio and `trio.testing` for `cargo test`
//!
//! Tools for testing code written with [`trio`]: the `#[trio_test]` attribute, a [`MockClock`]
//! that makes an hour of sleeping take microseconds, checks that code checkpoints
//! ([`assert_checkpoints`]), ways to wait until every task is blocked
//! ([`wait_all_tasks_blocked`]) and to force an order on tasks ([`Sequencer`]), async
//! [fixtures](#fixtures) with set-up and tear-down, trio mode, the
//! scheduling [`policy`] tests run under, [schedule exploration](mod@explore) that searches
//! orders for concurrency bugs, replays a failure in one line and shrinks it, memory streams
//! and stream conformance suites ([`streams`]), and a deterministic simulated network
//! ([`sim`]).
//!
//! ## Writing tests
//!
//! Put `#[trio_test]` on an `async fn`. It becomes an ordinary `#[test]`, so `cargo test` and
//! `cargo nextest run` pick it up; each test gets its own run of the runtime.
//!
//! ```
//! use std::time::Duration;
//! use trio::Instant;
//! use trio_testkit::{MockClock, trio_test};
//!
//! async fn double_sleep(x: u64) -> trio::Result<u64> {
//!     let sleep_for = 2 * x;
//!     trio::sleep(Duration::from_secs(sleep_for)).await?;
//!     Ok(sleep_for)
//! }
//!
//! #[trio_test]
//! async fn sleeps_for_twice_as_long(_autojump_clock: MockClock) {
//!     assert_eq!(double_sleep(3).await.unwrap(), 6);
//!     assert_eq!(trio::current_time(), Instant::from_secs(6)); // and no real time passed
//! }
//! # fn main() {}
//! ```
//!
//! A test may return `()` or any `Result<(), E>` with `E: Debug`, so `?` works. It fails when
//! it returns `Err`, when any of its tasks panics (the output names the task), when every task
//! is blocked and nothing can wake them (a deadlock: it fails at once and lists every task and
//! what it waits on), or when it runs longer than its real-time limit. No test hangs — though a
//! task that never yields takes the whole test process down with it (see
//! [Debugging a failure](#debugging-a-failure)).
//!
//! **Fixtures** are asked for by parameter name, as in pytest-trio. A leading underscore is
//! allowed (`_autojump_clock`) for a fixture the test needs installed but does not use.
//!
//! | parameter | what the test gets |
//! | --- | --- |
//! | `mock_clock: MockClock` | the run's clock, a frozen [`MockClock`]: time moves only by [`MockClock::jump`] |
//! | `autojump_clock: MockClock` | the run's clock, a [`MockClock`] that jumps to the next deadline whenever every task is blocked |
//! | `nursery: Nursery` | a [`trio::Nursery`] around the test, for background tasks; it is cancelled once the test returns |
//! | `net: SimNet` | a fresh [`sim::SimNet`], installed before the test starts: every `trio::net` call of the run goes to it |
//! | any other name | the [`#[trio_fixture]`](trio_fixture) of that name — see [Fixtures](#fixtures) |
//!
//! A run has one clock, so asking for two is a compile error. Without a clock fixture a test
//! runs on the real clock ([`trio::SystemClock`]), as in pytest-trio.
//!
//! **Arguments** go in the attribute: `#[trio_test(autojump, timeout = "5s")]`.
//!
//! | argument | effect |
//! | --- | --- |
//! | `autojump` | installs an autojump clock without asking for it as a parameter (`autojump = false`: not even as a [trio mode](#trio-mode) default) |
//! | `seed = 42` | the seed of the run (default: a stable hash of the test's path and name) |
//! | `policy = "random"` / `"fifo"` | the scheduling policy of a single-schedule test (default: random; see [Schedules](#schedules)) |
//! | `timeout = "30s"` | the real-time limit (default 60 s); units `ns`, `us`, `ms`, `s`, `m`, `h`, combinable as `"1m30s"` |
//! | `crate = "path"` | where to find this crate, if your `Cargo.toml` renames it |
//!
//! Mistakes — an unknown or repeated argument, an unknown fixture, two clocks, a function that
//! is not `async`, an extra `#[test]` — are compile errors that point at the offending token.
//! Other attributes (`#[should_panic]`, `#[ignore]`, doc comments) are kept.
//!
//! **Cases**: `#[case(…)]` attributes after `#[trio_test]` (rstest's syntax) make one test per
//! case, named `name::case_1`, `name::case_2_description` (for `#[case::description(…)]`); the
//! values go to the parameters marked `#[case]`:
//!
//! ```
//! use trio_testkit::trio_test;
//!
//! #[trio_test(autojump)]
//! #[case::rendezvous(0)]
//! #[case::buffered(8)]
//! async fn sends_and_receives(#[case] capacity: usize) -> trio::Result<()> {
//!     let (tx, rx) = trio::open_memory_channel::<u8>(capacity);
//!     trio::open_nursery(|nursery| async move {
//!         nursery.start_soon(async move { tx.send(1).await.map_err(Into::into) });
//!         assert_eq!(rx.recv().await?, Some(1));
//!         Ok(())
//!     })
//!     .await
//! }
//! # fn main() {}
//! ```
//!
//! ## Trio mode
//!
//! pytest-trio's trio mode makes every async test a trio test. Here it is an attribute on a
//! module: in `#[trio_tests(…)] mod tests { … }` every `#[test] async fn` is a `#[trio_test]`
//! with the attribute's arguments as defaults. A test's own `#[trio_test(…)]` overrides them
//! argument by argument (`autojump = false` turns a default `autojump` off, and a test asking
//! for `mock_clock` — itself or through one of its fixtures — gets it instead of the
//! default), async functions without `#[test]` stay helpers, and inline submodules get the
//! same defaults.
//!
//! ```
//! use trio_testkit::trio_tests;
//!
//! #[trio_tests(autojump)]
//! mod tests {
//!     use std::time::Duration;
//!
//!     #[test]
//!     async fn an_hour_in_no_time() -> trio::Result<()> {
//!         trio::sleep(Duration::from_secs(3600)).await?;
//!         assert_eq!(trio::current_time(), trio::Instant::from_secs(3600));
//!         Ok(())
//!     }
//!
//!     #[trio_testkit::trio_test(schedules = 50)]
//!     async fn explored_with_the_same_clock() {
//!         trio::checkpoint().await.unwrap();
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! ## Fixtures
//!
//! A test of a server, a database client or a worker pool needs the same set-up and tear-down
//! every time. Write it once as a fixture — an `async fn` marked
//! [`#[trio_fixture]`](trio_fixture) — and every test that needs it asks for it by name, as in
//! pytest-trio. A fixture asks for what *it* needs the same way: built-in fixtures, or other
//! fixtures.
//!
//! Here is a key-value server on the simulated network. The fixture starts it in the
//! background, hands the test the server's address, and once the test is done — passed,
//! failed, panicked or cancelled — checks in its tear-down that the server is still healthy:
//!
//! ```
//! use std::cell::RefCell;
//! use std::collections::BTreeMap;
//! use std::rc::Rc;
//! use trio::Nursery;
//! use trio::abc::{Listener, ReceiveStream, SendStream};
//! use trio::net::{SocketListener, SocketStream};
//! use trio_testkit::fixture::Yield;
//! use trio_testkit::sim::SimNet;
//! use trio_testkit::{trio_fixture, trio_test};
//!
//! type Store = Rc<RefCell<BTreeMap<String, String>>>;
//!
//! /// One request per connection: `set k v` or `get k`.
//! async fn handle(stream: SocketStream, store: Store) -> trio::Result<()> {
//!     let request = String::from_utf8(stream.receive_some(1024).await?).unwrap_or_default();
//!     let words: Vec<&str> = request.split_whitespace().collect();
//!     let answer = match words.as_slice() {
//!         ["set", key, value] => {
//!             store.borrow_mut().insert(key.to_string(), value.to_string());
//!             "ok".to_string()
//!         }
//!         ["get", key] => store.borrow().get(*key).cloned().unwrap_or_default(),
//!         _ => "error".to_string(),
//!     };
//!     stream.send_all(answer.as_bytes()).await?;
//!     Ok(())
//! }
//!
//! /// The server: one task per connection, in the server's nursery.
//! async fn serve(listener: SocketListener, store: Store) -> trio::Result<()> {
//!     trio::open_nursery(|connections| async move {
//!         loop {
//!             let stream = listener.accept().await?;
//!             connections.start_soon_named("connection", handle(stream, store.clone()));
//!         }
//!     })
//!     .await
//! }
//!
//! /// What the test gets: where the server is, and a look at its store.
//! #[derive(Clone)]
//! struct KvServer {
//!     host: &'static str,
//!     store: Store,
//! }
//!
//! #[trio_fixture]
//! async fn kv_server(net: SimNet, nursery: Nursery, fixture: Yield<KvServer>) -> trio::Result<()> {
//!     // Set-up: a host, a listener (bound at once, so no client can race the server's start)
//!     // and the server in this fixture's own nursery — it lives until the tear-down is done.
//!     let listener = net.add_host("kv").listen(6379)?;
//!     let store = Store::default();
//!     nursery.start_soon_named("kv server", serve(listener, store.clone()));
//!
//!     // The test runs during this `await`.
//!     fixture.provide(KvServer { host: "kv", store: store.clone() }).await?;
//!
//!     // Tear-down: the server still answers. (If the server task had crashed, the test would
//!     // have been cancelled, `provide` would have returned `Err(Cancelled)`, `?` would have
//!     // skipped this, and the failure would name the fixture and the task.)
//!     let stream = trio::net::open_tcp_stream("kv", 6379).await?;
//!     stream.send_all(b"get health").await?;
//!     stream.receive_some(1024).await?;
//!     Ok(())
//! }
//!
//! /// A client: one request, one answer.
//! async fn request(server: &KvServer, text: &str) -> trio::Result<String> {
//!     let stream = trio::net::open_tcp_stream(server.host, 6379).await?;
//!     stream.send_all(text.as_bytes()).await?;
//!     Ok(String::from_utf8_lossy(&stream.receive_some(1024).await?).into_owned())
//! }
//!
//! #[trio_test(autojump, schedules = 20)]
//! async fn set_then_get(kv_server: KvServer) -> trio::Result<()> {
//!     assert_eq!(request(&kv_server, "set colour blue").await?, "ok");
//!     assert_eq!(request(&kv_server, "get colour").await?, "blue");
//!     assert_eq!(kv_server.store.borrow().len(), 1);
//!     Ok(())
//! }
//! # fn main() {
//! #     // Doctests are not built as tests: run the same test by hand.
//! #     trio_testkit::explore::Explore::new("guide::set_then_get").schedules(20).persist(false).fixture(kv_server)
//! #         .run_with_fixtures(&|fixtures| async move {
//! #             let kv_server = fixtures.get(kv_server);
//! #             assert_eq!(request(&kv_server, "set colour blue").await?, "ok");
//! #             assert_eq!(request(&kv_server, "get colour").await?, "blue");
//! #             assert_eq!(kv_server.store.borrow().len(), 1);
//! #             Ok::<(), trio::Error>(())
//! #         })
//! #         .unwrap();
//! # }
//! ```
//!
//! A fixture without tear-down just returns its value (`-> Value`), or `-> Result<Value, E>`,
//! whose `Err` fails the test naming the fixture. A fixture in another module is asked for by
//! `use`-ing it, or by path: `#[from(support::kv_server)] kv: KvServer`. The rules are
//! pytest-trio's (the [`fixture`] module lists them):
//!
//! - one instance per test, in the test's run, on the test's clock: under `schedules = N` every
//!   schedule sets the fixtures up afresh, and their set-up interleaves with the test's tasks,
//!   so it is explored, replayed and shrunk like the rest;
//! - each fixture runs in a task of its own; independent fixtures set up concurrently, a
//!   fixture after those it asks for; tear-down runs after the test in reverse order, also when
//!   the test failed, panicked or was cancelled;
//! - a fixture's `nursery` is its own, cancelled after its tear-down; when one of its tasks
//!   fails, the test is cancelled and the report names the fixture and the task;
//! - when a set-up fails, the other set-ups still running are cancelled and the test does not
//!   start — it fails at once, never hangs;
//! - a test may cancel a fixture's nursery on purpose, to check how the fixture's tasks clean
//!   up: that does not cancel the test (see [`fixture::Yield::provide`]).
//!
//! Mistakes are compile errors at the parameter: a fixture the compiler cannot find, one asked
//! for twice, a fixture that asks for itself, a `#[trio_fixture]` that is not `async`, a value of
//! the wrong type. A cycle through several fixtures fails the test at its start with the cycle
//! spelled out. [`docs/design.md`](https://github.com/trio-rs/trio-rs/blob/main/docs/design.md)
//! lists where this differs from pytest-trio.
//!
//! ## Clocks
//!
//! Time in a run comes from its clock. A [`MockClock`] starts at [`trio::Instant::ZERO`] and is
//! frozen: `trio::sleep` then waits until the test calls [`jump`](MockClock::jump), or until
//! *autojump* moves the clock to the next deadline. With autojump a test of timeouts and
//! retries runs in no real time, and [`trio::current_time`] reads exactly the sleeps it made.
//! [When autojump jumps](MockClock#when-autojump-jumps) is documented precisely; unlike Trio,
//! it never jumps while a task waits on something outside the runtime, so a test that waits
//! for a thread or a foreign future does not time out spuriously.
//!
//! ```
//! use std::time::Duration;
//! use trio_testkit::{MockClock, trio_test};
//!
//! #[trio_test]
//! async fn deadline_moves_with_the_clock(mock_clock: MockClock) -> trio::Result<()> {
//!     let outcome = trio::move_on_after(Duration::from_secs(10), async {
//!         mock_clock.jump(Duration::from_secs(10)); // the deadline has passed…
//!         trio::checkpoint().await?; // …so the next checkpoint is cancelled
//!         Ok(())
//!     })
//!     .await?;
//!     assert_eq!(outcome, None);
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! ## Checkpoints
//!
//! Trio's rule: an async function that returns normally has executed a *checkpoint* — a point
//! where the task yields to the scheduler and checks for cancellation. A function that skips it
//! on some path starves other tasks and cannot be cancelled there. [`assert_checkpoints`] fails
//! a test when its body returns without one; [`assert_no_checkpoints`] when it has one. The
//! `try_` versions return a [`CheckpointError`] instead of panicking.
//!
//! ```
//! use std::time::Duration;
//! use trio_testkit::{MockClock, assert_checkpoints, trio_test};
//!
//! async fn double_sleep(x: u64) -> trio::Result<u64> {
//!     trio::sleep(Duration::from_secs(2 * x)).await?;
//!     Ok(2 * x)
//! }
//!
//! #[trio_test]
//! async fn double_sleep_checkpoints(_autojump_clock: MockClock) -> trio::Result<()> {
//!     assert_eq!(assert_checkpoints(double_sleep(3)).await?, 6);
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! ## Coordinating tasks
//!
//! - [`wait_all_tasks_blocked`] returns once every other task is blocked: the tasks a test
//!   started have reached the point where they wait. [`wait_all_tasks_blocked_with_cushion`]
//!   also waits for a stretch of real idle time.
//! - [`Sequencer`] runs numbered blocks in different tasks in number order, to set up an exact
//!   interleaving.
//!
//! ## Schedules
//!
//! When several tasks are runnable, a scheduling [`policy`] picks which one steps next.
//! `#[trio_test]` runs each test under [`policy::Random`] seeded from the test's module path and
//! name: the order is the same on every run, yet it is not the order the tasks were started in,
//! so a test cannot pass only because it leans on FIFO order (Trio randomises its batches for
//! the same reason). `policy = "fifo"` opts out; `seed = N` picks another schedule.
//!
//! ## Finding concurrency bugs
//!
//! `#[trio_test(schedules = N)]` [explores](mod@explore) N schedules, each on a runtime reset to
//! its fresh state (one reused runtime per thread, `trio::Runner`) with a fresh autojump clock (a `mock_clock` fixture keeps the clock frozen instead), spread over
//! every core, and reports the first one that fails — the lowest-numbered, whatever the number of
//! threads: schedule `i` always runs under the same seed, so the report is the same on a laptop
//! and on a CI machine with one core.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use trio_testkit::trio_test;
//!
//! #[trio_test(schedules = 2000, policy = "pct", depth = 2)]
//! async fn every_update_counts() {
//!     let lock = Rc::new(trio::Lock::new());
//!     let counter = Rc::new(Cell::new(0));
//!     let (l, c) = (lock.clone(), counter.clone());
//!     trio::open_nursery(|nursery| async move {
//!         for _ in 0..3 {
//!             let (l, c) = (l.clone(), c.clone());
//!             nursery.start_soon(async move {
//!                 let _guard = l.lock().await?; // remove this and a schedule loses an update
//!                 let seen = c.get();
//!                 trio::checkpoint().await?;
//!                 c.set(seen + 1);
//!                 Ok(())
//!             });
//!         }
//!         Ok(())
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(counter.get(), 3);
//! }
//! # fn main() {}
//! ```
//!
//! | argument | effect |
//! | --- | --- |
//! | `schedules = N` | explore N schedules (schedule 0 runs under the test's seed itself) |
//! | `policy = "mixed"` / `"random"` / `"pct"`, `depth = D` | the exploring policy (default `"mixed"`; PCT depth 3 by default) |
//! | `check_determinism` | run the first schedule three times; fail on the first differing event |
//! | `require_sometimes` | fail when a [`trio::sometimes!`] the schedules evaluated never came true (see [Assertions and coverage](#assertions-and-coverage)) |
//! | `require_assertion = "msg"` or `= ["a", "b"]` | fail unless each named assertion fired in some schedule |
//! | `inject_cancellations = K` | also cancel each task's innermost scope at each of its first K cancel points |
//! | `threads = N` | explore on N worker threads (default: every available core) |
//!
//! Each worker thread runs its own runtimes, so the test's future may hold `Rc`s and need not be
//! `Send`; the closure `#[trio_test]` generates to build it captures nothing, so it can be
//! shared. Without the macro, [`Explore::run`] needs a `Sync` closure and
//! [`Explore::run_local`] takes any closure and runs on the calling thread — same outcome,
//! one core.
//!
//! ### Choosing a policy
//!
//! - **Mixed** (the default when exploring) takes turns, schedule by schedule, for 1,000
//!   schedules: of every ten, four SURW, four POS, one Random and one PCT with depth 3. No
//!   single policy is best for every bug; per schedule the mix fails with the weighted mean
//!   of its policies' chances, so it never beats the best of them, and its weights keep it
//!   within 3× of the best one on every bug measured in `docs/PERFORMANCE.md`. A report
//!   names the policy its failing schedule ran under, so the replay line reproduces it.
//! - **Random** picks uniformly among runnable tasks at every step, and among
//!   timers due at the same instant. Bugs that need one or two unlucky steps show up within a
//!   few hundred schedules. It keeps tasks level: a task with many steps rarely gets far
//!   ahead of one with few.
//! - **SURW** (`TRIO_POLICY=surw`) picks a task in proportion to the steps it has left
//!   (measured on one run in the default order), so every interleaving is about equally
//!   likely: the policy for bugs where a long task must race ahead. On a planted bug with
//!   three ordering constraints it needs a median of 11 schedules where Random, PCT and POS
//!   need 300 to 500 (`docs/PERFORMANCE.md`).
//! - **PCT** gives tasks random priorities and lowers the running task's priority at `depth - 1`
//!   distinct random decisions. A bug that needs `d - 1` specific preemptions is found with
//!   probability at least `1 / (n · k^(d-1))` per schedule (n tasks, k decisions): use it
//!   when a random walk keeps interleaving everything finely and never lets one task race far
//!   ahead — order violations, ABA, stale reads across several steps. Depth 2–4 covers most
//!   real bugs.
//! - **POS** (`TRIO_POLICY=pos`, partial order sampling) draws a random priority for each
//!   step; a waiting task keeps its priority until something wakes it, so it can be held back
//!   through a burst of another task's steps.
//! - **Cancellation injection** is for cancel safety: code that takes something out, awaits,
//!   and puts it somewhere else. No schedule exercises the timeout that would cut it in half;
//!   injection does, at every cancel point in turn.
//! - **Fifo** explores nothing: Trio's own order, for output that must stay the same.
//!
//! ### Reading a failure
//!
//! A failure report prints the schedule as a story, one line per task step: virtual time,
//! task id and name, and where the task resumed — the line of the trio call it last yielded
//! at, or `(start)` for its first step. A `*` marks a step the policy chose *against* the
//! default order, and the line under it says which task would have run instead:
//!
//! ```text
//!     [0s] task 1 `tests::every_update_counts` (start)
//!   * [0s] task 3 `incrementer` (start)
//!         ^ decision 1 at 0s: ran task 3 `incrementer` instead of task 2 `reader-writer` (of 2 runnable)
//!     [0s] task 2 `reader-writer` (start)
//!     [0s] task 3 `incrementer` (at src/counter.rs:14)
//! ```
//!
//! Before the story, the report shrinks the failing schedule and says what is left of it, in
//! *changes* to the default order — the few things that have to go differently for the test
//! to fail:
//!
//! ```text
//! shrunk from 16 deviation(s) from the default order to 2 changes in 201 runs:
//!   - task 4 `stage#3` run ahead of task 3 `stage#2` at decision 2 (a preemption)
//!   - task 2 `stage#1` held back from decision 4 to decision 5
//! ```
//!
//! A **preemption** runs a task at one decision although another was first in line. A
//! **hold** keeps a task waiting over a span of decisions while others run — one change, however
//! many `*` lines it makes in the story (a schedule found by a random walk deviates at almost
//! every decision; held back over twenty decisions is still one reason). A failure found by
//! cancellation injection also lists its injected cancellation, moved to the earliest cancel
//! point that still fails. Undo any one change and the test passes (as far as shrinking could
//! tell). When none is needed — the test fails in the default order already — the report says
//! "fails in the default order; no reordering needed" (with an injected cancellation: "fails
//! in the default order with the injected cancellation"). Decision numbers count the steps
//! where two or more tasks were runnable; the story prints them. Tasks that share a name are
//! numbered in spawn order (`worker#1`, `worker#2`). [`explore::trace::Trace`] holds the same
//! events as data (and prints them all with `Display`), so a test can snapshot a trace with
//! insta; [`explore::Shrunk::describe`] gives the list of changes as one line. The same story
//! drawn as a timeline, a lane per task and a group of lanes per nursery, is [the trace
//! page](#the-schedule-as-a-page).
//!
//! Shrinking has limits: it spends at most 2,000 runs, and a failure stopped by the watchdog
//! is not shrunk at all (each run could take the whole limit again). Holds are placed by
//! decision number, so a shrunk schedule names the decisions of its own run, not those of the
//! schedule that found the bug. A bug that needs `k` preemptions shrinks to at most `k + 1`
//! changes, whichever policy found it (on the planted bugs of the testkit's own tests it
//! shrinks to exactly `k`); the bound is what the tests hold it to, not a proof — shrinking
//! is a search, and a bug whose changes must all move at once can stay larger.
//!
//! A schedule that ends in a **deadlock** prints the task tree instead of a panic: each task,
//! where it was spawned, and what it waits on, naming the instance — the primitive, channel or
//! stream, where it was created, and its name if you gave it one:
//!
//! ```text
//!   task 3 `consumer` (spawned at tests/pipeline.rs:14:21): MemoryReceiver::recv on the memory channel `jobs` created at tests/pipeline.rs:9:22
//!   task 4 `worker#2` (spawned at tests/pipeline.rs:17:25): Event::wait on the Event `done 2` created at tests/pipeline.rs:11:46
//!   task 5 `client` (spawned at tests/pipeline.rs:20:21): waiting to receive on the stream to db:5432 opened at tests/pipeline.rs:21:30
//! ```
//!
//! Give primitives made in a loop or by one helper a name (`trio::Event::new().named(format!("done
//! {i}"))`, `tx.named("jobs")`): their creation sites are the same line. Streams name the line
//! that made them ([`streams::memory_stream_pair`], [`streams::lockstep_stream_pair`], the
//! simulated network's `open_tcp_stream` and listeners). When a task waits on an `Event`,
//! `Semaphore`, `CapacityLimiter`, `Condition` or `ParkingLot` that lives inside its own future,
//! the line ends with "nothing can ever set it" (or release, notify, unpark): no other task can
//! reach it, so the wait was doomed from the start — usually the setter was never given the
//! object. The report says it only when it is sure; an object behind an `Rc`, a wait in the
//! main task, a lock or a channel never get it (`docs/design.md` of the runtime explains why).
//!
//! ### Assertions and coverage
//!
//! A passing exploration says nothing about the schedules it never took. Three macros of the
//! runtime — usable in library code, which needs no dependency on the testkit for them — say
//! what the schedules must show:
//!
//! | macro | meaning | outside an exploration |
//! | --- | --- | --- |
//! | [`trio::always!(cond, "msg")`](trio::always) | true every time, in every schedule: a false one fails the schedule, reported like a failed assertion with its message | `assert!` |
//! | [`trio::sometimes!(cond, "msg")`](trio::sometimes) | true in at least one schedule | nothing |
//! | [`trio::reachable!("msg")`](trio::reachable) | reached in at least one schedule | nothing |
//!
//! Every evaluation is counted, on every worker thread, and added up in schedule order
//! ([`assertions`]). `#[trio_test(require_sometimes)]` ([`Explore::require_sometimes`]) fails
//! an exploration in which a `sometimes!` never came true — a fault test that never injected
//! its fault is a false green — and `require_assertion = "msg"`
//! ([`Explore::require_assertion`]) names an assertion that must fire, which also catches one
//! that no schedule reached (an exploration only knows the sites its schedules evaluated).
//!
//! ```
//! use trio_testkit::trio_test;
//!
//! async fn send_with_retry(attempts: &std::cell::Cell<u32>) {
//!     let lost = trio::lowlevel::choose(2, "the first attempt is lost") == 1; // a fault, or not
//!     attempts.set(if lost { 2 } else { 1 });
//!     trio::sometimes!(lost, "a lost request is retried");
//! }
//!
//! #[trio_test(schedules = 50, policy = "random", require_sometimes)]
//! async fn retries_lost_requests() {
//!     let attempts = std::cell::Cell::new(0);
//!     send_with_retry(&attempts).await;
//!     trio::always!(attempts.get() >= 1, "a request is sent at least once");
//! }
//! # fn main() {}
//! ```
//!
//! After a passing exploration `#[trio_test]` prints its summary (`cargo test -- --show-output`
//! shows it), and a failure report ends with the same lines for the schedules up to the
//! failing one ([`explore::Coverage`], in [`explore::Summary::coverage`] and
//! [`explore::Failure::coverage`]):
//!
//! ```text
//! explored 50 schedule(s):
//!   2 distinct interleavings in 50 schedule(s)
//!   per schedule: 1 decisions (median), 1 (max); 0 preemptions (median), 1 (max)
//!   the last 5 schedule(s) found 0 new interleaving(s) — coverage is flat: more schedules of this policy are unlikely to find more
//!   assertions:
//!     ok sometimes! "a lost request is retried": true 24 of 50 time(s); true in 24 of 50 schedule(s) (src/lib.rs:9:5)
//!     ok always! "a request is sent at least once": held 50 of 50 time(s); false in 0 of 50 schedule(s) (src/lib.rs:16:5)
//! ```
//!
//! An interleaving is a distinct sequence of scheduling decisions; a preemption is a decision
//! that did not take the default option. When the last tenth of the schedules found nothing
//! new, more of the same are unlikely to: change the policy (PCT reaches deep orders a random
//! walk does not), inject cancellations, or accept the coverage.
//!
//! ### The schedule as a page
//!
//! `TRIO_TRACE_HTML=trace.html cargo test …` (or [`Explore::trace_html`]) writes a failing
//! schedule as one self-contained HTML page — inline CSS, nothing fetched, so a CI artifact
//! opens as it is: one lane per task, grouped by the nursery the task runs in (each group
//! headed by the task that opened it, and where, when that task opened several), with the
//! virtual time, each step's checkpoint number, deviations from the default order, injected
//! cancellations and a library's non-default choices (a simulated network's faults) marked,
//! details on hover, and the shrunk schedule beside the original.
//! [`Failure::to_html`](explore::Failure::to_html) gives the page as a string;
//! `cargo run -p trio-testkit --example trace_page` writes the one below.
//!
//! ![The trace page of a failing schedule: lanes for the tasks overdraft, audit, salary and rent, audit in the outer nursery and salary and rent in the inner one, the shrunk schedule with one deviation beside the original with two](https://raw.githubusercontent.com/trio-rs/trio-rs/main/docs/trace-page.png)
//!
//! Its limits: a task started with `Nursery::start` is drawn in the nursery it is started
//! into from its first step, although it joins it only when it calls `started`; a run longer
//! than 2,000 steps shows its last 2,000.
//!
//! ### Replaying
//!
//! Every report ends with two commands: `TRIO_SEED=… TRIO_POLICY=… cargo test … -- name --exact`
//! replays the failing schedule exactly (same seed, same policy, same trace), and
//! `TRIO_REPLAY=v1:…` replays the shrunk schedule — a short list of changes to the default
//! order, which keeps working when unrelated code changes (a recorded task that is no longer
//! runnable falls back to the default). `v1:12=t3` runs task 3 at decision 12; a schedule with
//! holds prints as `v2:…`, where `5-26=h2` holds task 2 back from decision 5 to decision 26
//! (`5-=h2`: to the end). Both versions are accepted wherever a schedule is read. The failing schedule is also appended to
//! `trio-regressions/<test file>.txt` next to the crate's `Cargo.toml`, and replayed first on
//! every later run: commit that file. A saved schedule that passes is followed by eight runs
//! that replay a prefix of it — up to the last decision its picks and holds change, then
//! shorter — and then continue at random (origin "around a saved schedule"
//! in a report; replay such a failure with its `TRIO_REPLAY` line, not its seed). The file is read line by line: a line that does not
//! parse (a bad byte, an unknown policy, a missing field) gets a warning naming the file, the
//! line and what is wrong, and every other line still replays. A replay with `TRIO_SEED` or
//! `TRIO_REPLAY` runs exactly that schedule, without the regressions file first. Replay is
//! tolerant — a pick whose task is no longer runnable falls back to the default order — but
//! says so: a warning lists the picks that did not apply and the holds that never held their
//! task back (at no decision of the span was the task runnable ahead of the one that ran),
//! each as the schedule writes it (`50=t2`, `5-9=h2`).
//!
//! Environment variables override any test; a value that does not parse stops the test with a
//! message naming the variable (an empty one counts as unset):
//!
//! | variable | values |
//! | --- | --- |
//! | `TRIO_SCHEDULES` | schedules to explore, at least 1 |
//! | `TRIO_POLICY` | `mixed`, `random`, `pct`, `pct:<depth>` (depth 1 to 100), `pos`, `surw`, `fifo` |
//! | `TRIO_SEED` | run exactly the schedule of this seed (decimal, or `0x…`) |
//! | `TRIO_REPLAY` | run exactly this schedule (`v1:…` or `v2:…`, as a report prints it) |
//! | `TRIO_CHECK_DETERMINISM` | `1`/`true`/`yes` or `0`/`false`/`no` |
//! | `TRIO_THREADS` | worker threads, at least 1 (default: every available core) |
//! | `TRIO_TRACE_HTML` | write a failing schedule as an HTML page at this path |
//!
//! Warnings (bad regressions lines, replays that did not apply) are written to standard error
//! as they happen, past the test harness's output capture, and listed in the report of a
//! failure ([`explore::Failure::warnings`]) or the summary of a pass
//! ([`explore::Summary::warnings`]).
//!
//! ### Sharding
//!
//! For explorations too large for one machine, a `harness = false` test target built on
//! `harness::Harness` lists each test × range of schedules as its own trial, so
//! `cargo nextest run --partition hash:M/N` spreads it over N CI machines. It is behind the
//! `harness` feature (off by default: it brings libtest-mimic and a command-line parser):
//! `trio-testkit = { version = "…", features = ["harness"] }` in `[dev-dependencies]`.
//!
//! ## Testing networked code
//!
//! Code that talks to the network calls `trio::net` — `open_tcp_stream`, `open_tcp_listeners`,
//! `serve_tcp` — and gets whatever network provider the run has installed. A test installs a
//! [`sim::SimNet`]: a simulated network that is part of the run's deterministic world. Same seed,
//! same packets, same failures; on an autojump clock a minute of retries with backoff takes no
//! real time. The code under test is the code that ships: no `cfg`, no mock, no second path.
//! Without a `SimNet` the same calls use the operating system's sockets (on Unix): a test can
//! run the same code over loopback too — then it waits in real time (autojump never skips a
//! real socket wait), binds `127.0.0.1` with port 0, and should set a watchdog.
//!
//! ```
//! use std::time::Duration;
//! use trio::abc::{ReceiveStream, SendStream};
//! use trio_testkit::sim::{Faults, SimNet};
//! use trio_testkit::trio_test;
//!
//! /// The code under test: asks `host` for the time, retrying with backoff.
//! async fn fetch_time(host: &str) -> trio::Result<Vec<u8>> {
//!     let mut backoff = Duration::from_millis(100);
//!     loop {
//!         let attempt = trio::move_on_after(Duration::from_secs(1), async {
//!             let stream = trio::net::open_tcp_stream(host, 13).await?;
//!             Ok(stream.receive_some(64).await?)
//!         })
//!         .await;
//!         match attempt {
//!             Ok(Some(answer)) if !answer.is_empty() => return Ok(answer),
//!             Err(error) if error.is_cancelled() => return Err(error),
//!             _ => {} // refused, reset, too slow: try again
//!         }
//!         trio::sleep(backoff).await?;
//!         backoff *= 2;
//!     }
//! }
//!
//! #[trio_test(schedules = 50)]
//! async fn fetch_time_survives_a_flaky_link() -> trio::Result<()> {
//!     let net = SimNet::new();
//!     let server = net.add_host("clock");
//!     net.set_faults("main", "clock", Faults::none().reset_rate(0.3).drop_rate(0.2));
//!     net.install(); // every trio::net call of this run goes to `net`
//!     trio::open_nursery(|nursery| async move {
//!         nursery.start_soon(server.run(|| {
//!             trio::net::serve_tcp(
//!                 |stream: trio::net::SocketStream| async move {
//!                     stream.send_all(b"12:00\n").await.ok(); // a reset peer is not our problem
//!                     trio::Result::Ok(())
//!                 },
//!                 13,
//!                 trio::TaskStatus::ignored(),
//!             )
//!         }));
//!         assert_eq!(fetch_time("clock").await?, b"12:00\n");
//!         nursery.cancel_scope().cancel();
//!         Ok(())
//!     })
//!     .await
//! }
//! # fn main() {}
//! ```
//!
//! - **Hosts.** Code outside any host runs on `main`; [`SimNet::add_host`](sim::SimNet::add_host)
//!   adds named hosts, and [`SimHost::run`](sim::SimHost::run) runs a program on one — start it in
//!   its own task, and every task it starts runs there too. [`SimHost::listen`](sim::SimHost::listen)
//!   binds a port at once, so a client cannot race the server's start.
//! - **Links** ([`sim::Link`]): latency (1 ms by default), jitter, bandwidth and the receive
//!   window, per pair of hosts. Timing assertions are exact: on an autojump clock a round trip
//!   over a 1 ms link takes exactly 2 ms of `trio::current_time()`.
//! - **Faults** ([`sim::Faults`]) are rates, and each data segment's fate is a decision of the
//!   run's policy (`trio::lowlevel::choose`): under the default policy no fault ever fires; under
//!   exploration they fire about that often, differently in each schedule. A failure's trace
//!   names them (`sim: fault (0 deliver, 1 drop and retransmit, 2 reset) for 10.0.0.2:6379 →
//!   10.0.0.1:49153 (8 bytes) — option 2 of 3`), the replay schedule lists them (`…,39=o2`), and
//!   shrinking keeps only those the failure needs — often exactly one.
//! - **Scripted trouble**: [`partition`](sim::SimNet::partition) and [`heal`](sim::SimNet::heal)
//!   (what is in flight waits; a connect times out),
//!   [`reset_connections`](sim::SimNet::reset_connections), [`SimHost::crash`](sim::SimHost::crash)
//!   (the host's programs are cancelled, its listeners closed, its connections reset) and
//!   [`restart`](sim::SimHost::restart) (its programs run again). To let exploration pick *when*
//!   trouble starts, draw it with `trio::lowlevel::choose` in the test.
//! - **Reports**: a task blocked on the network says on what, in deadlock reports and traces —
//!   ``task 5 `client` (spawned at …): waiting to receive on the stream to db:5432 opened at
//!   tests/db.rs:21:30`` — the line of the `open_tcp_stream` call.
//! - **Your own stream types**: [`streams`] has Trio's memory and lockstep streams and the
//!   conformance suites ([`streams::check_half_closeable_stream`] and friends). Point them at your
//!   type through a [`streams::StreamMaker`] and run them under `schedules = N`.
//!
//! A test that needs nothing more than a fresh network asks for it: a `net: SimNet`
//! parameter gets a network installed before the test starts (and a fixture may ask for `net`
//! too — it is the same network); create the `SimNet` yourself, as above, to configure it
//! before it is installed.
//!
//! ## Property tests
//!
//! With the `proptest` feature, `trio_testkit::prop` makes proptest and schedule exploration
//! one search: a property takes a schedule (`prop::schedules()`) as one more generated input,
//! and `prop::run_case` runs each case on a fresh run under it. A failing case shrinks its input
//! and its schedule together, and the report prints the schedule the run followed as a
//! `TRIO_REPLAY` line.
//!
//! ## Debugging a failure
//!
//! - **A deadlock** fails the test at once with the task tree: every task, where it was
//!   spawned, and what it waits on (`sleep_forever`, `Sequencer::block(2), waiting for block 1
//!   to end`, a future from outside trio…). With a frozen `mock_clock` and a pending sleep the
//!   report says the clock is frozen: jump it, or use `autojump_clock`.
//! - **A livelock** — tasks that keep running without making progress — fails when a schedule
//!   exceeds its step budget (a million task steps).
//! - **The watchdog** stops a test that takes more real time than its `timeout` — say, one
//!   waiting on a foreign future that never completes — and prints the same task tree. A
//!   future from outside trio awaited directly cannot be cancelled, not even by a timeout
//!   around it: the report then says to wrap it in `trio::cancellable`. A schedule stopped by
//!   the watchdog is not run again, nor shrunk, so it costs its limit once.
//! - **A task that never yields** — a loop with no `.await` in it, a blocking call — keeps its
//!   thread, so the watchdog (which runs between task steps) never gets a chance. A watcher
//!   thread notices once the run has lasted its `timeout` and half as long again (at least 2 s
//!   more), prints the test, the schedule, its replay command and the live tasks with the one
//!   that never returns marked, and **aborts the process**: no safe code can stop a thread
//!   that never gives control back, so an abort — which ends every other test of the same
//!   binary too — is the only way out. (For the many schedules of an exploration it names the
//!   schedule, not the task; its replay command runs that schedule alone, which names it.)
//! - **A panic** in a task fails the test with the panic's message, where it happened and the
//!   trio task it happened in.
//! - Every failure report gives the schedule (policy and seed) and the replay commands. Pin the
//!   seed with `#[trio_test(seed = …)]` while you debug, and try `policy = "fifo"`: if the test
//!   passes only under FIFO order, it depends on the order tasks happen to run in.
//! - `cargo test -- --nocapture` shows what the test printed as it ran.
//!
//! ## Without the macro
//!
//! An exploration is an [`Explore`] configuration — the same type `#[trio_test]` builds — run
//! with [`Explore::run`]: `Explore::new("name").schedules(1000).run(|| async { … })` returns
//! the [`Summary`](explore::Summary) or the [`Failure`](explore::Failure).
//!
//! Everything also works with a plain [`trio::Builder`]: give it a [`MockClock`] (keep a clone
//! to steer it) and a [`policy`].
//!
//! ```
//! use std::time::Duration;
//! use trio::Instant;
//! use trio_testkit::{MockClock, policy::Random};
//!
//! let clock = MockClock::autojump();
//! trio::Builder::new().clock(clock.clone()).policy(Random::new()).seed(1).run(async {
//!     trio::sleep(Duration::from_secs(30)).await.unwrap();
//! });
//! assert_eq!(clock.current_time(), Instant::from_secs(30));
//! ```
//!
//! ## Not yet here
//!
//! Compared with pytest-trio and `trio.testing`: fixtures shared across tests (module or
//! session scope), overriding a fixture by defining one of the same name closer to the test,
//! `wait_all_threads_completed`, UDP and Unix sockets on the simulated network. Exploration does not yet search
//! exhaustively (no DFS or partial-order reduction), and a shrunk schedule is minimal only as far
//! as ddmin, refitting and a bounded search (up to three changes, 500 runs) can tell.
//!
//! Limits of today's engine: the testkit still makes a fresh clock, policy and trace summary per
//! schedule (the runtime itself is reused, reset between schedules); shrinking, the determinism
//! check and the re-run that records a failure's trace use one thread. Schedules run on several
//! threads at once, so state a test keeps in a `static` between schedules is shared between
//! threads as well — such a test depends on what ran before it, which the determinism check
//! reports; give it `threads = 1` until it is fixed.

#![forbid(unsafe_code)]
#![allow(clippy::test_attr_in_doctest, reason = "the guide shows trio mode, where `#[test] async fn` marks the tests")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(hidden)]
pub mod __private;
pub mod assertions;
mod checkpoints;
mod clock;
mod config;
mod coverage;
mod engine;
pub mod explore;
mod failure;
pub mod fixture;
#[cfg(feature = "harness")]
#[cfg_attr(docsrs, doc(cfg(feature = "harness")))]
pub mod harness;
mod html;
mod idle;
pub mod policy;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod prop;
mod sequencer;
pub mod sim;
pub mod streams;

pub use crate::checkpoints::{
    CheckpointError, Outcome, assert_checkpoints, assert_no_checkpoints, try_assert_checkpoints,
    try_assert_no_checkpoints,
};
pub use crate::clock::MockClock;
pub use crate::engine::TestResult;
pub use crate::explore::{Explore, explore};
pub use crate::idle::{wait_all_tasks_blocked, wait_all_tasks_blocked_with_cushion};
pub use crate::sequencer::{Sequencer, SequencerBlock};
pub use trio_macros::{trio_fixture, trio_test, trio_tests};

/// The crate's README, compiled and run as a doctest so that its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
