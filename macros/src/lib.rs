//! The `#[trio_test]` attribute of [`trio-testkit`](https://docs.rs/trio-testkit).
//!
//! Use it through `trio_testkit::trio_test`; the testkit's crate documentation is the guide.
//! This crate only turns the attribute into a call to the testkit's test runner: it parses the
//! attribute and the function, checks them (every mistake becomes a compile error at the
//! offending token), and expands them.

#![forbid(unsafe_code)]

mod test;

use proc_macro::TokenStream;

/// Runs an `async fn` as a test on a fresh trio run, with fixtures chosen by parameter name.
///
/// ```
/// use std::time::Duration;
/// use trio::Instant;
/// use trio_testkit::{MockClock, trio_test};
///
/// #[trio_test]
/// async fn an_hour_in_no_time(autojump_clock: MockClock) {
///     trio::sleep(Duration::from_secs(3600)).await.unwrap();
///     assert_eq!(autojump_clock.current_time(), Instant::from_secs(3600));
/// }
///
/// #[trio_test(seed = 7, policy = "fifo", timeout = "5s")]
/// async fn with_a_background_task(nursery: trio::Nursery) -> trio::Result<()> {
///     nursery.start_soon(async {
///         trio::sleep_forever().await?; // cancelled when the test returns
///         Ok(())
///     });
///     trio::checkpoint().await?;
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// # Fixtures
///
/// - `mock_clock: MockClock`: a frozen mock clock, installed as the run's clock;
/// - `autojump_clock: MockClock`: a mock clock that jumps to the next deadline whenever every
///   task is blocked;
/// - `nursery: Nursery`: a nursery around the test, cancelled once the test returns.
///
/// A leading underscore (`_autojump_clock`) asks for the same fixture. At most one clock.
///
/// # Arguments
///
/// `autojump`, `seed = N`, `policy = "random" | "fifo"`, `timeout = "30s"` (real time; default
/// 60 s), `crate = "path"` (where the testkit is, if renamed); for exploration, `schedules = N`,
/// `policy = "mixed" | "pct"`, `depth = D` (PCT, 1 to 100), `check_determinism`,
/// `inject_cancellations = K` and `threads = N` (worker threads; default every core).
///
/// The attribute builds the testkit's configuration (`trio_testkit::explore::Explore`) with
/// these settings and hands it, with a closure that calls the function, to the testkit's
/// runner. The closure captures nothing, so the runner may call it on several worker threads;
/// the test's future itself never leaves the thread that made it.
///
/// # Return type
///
/// `()` or any `Result<(), E>` with `E: Debug`.
///
/// # Errors at compile time
///
/// An unknown or repeated argument, a value of the wrong kind, an unknown fixture, a fixture
/// asked for twice, two clocks, a function that is not `async`, generic or a method, and a
/// second `#[test]` attribute. The function is still emitted, so the rest of the file keeps
/// compiling and every mistake is reported at once.
#[proc_macro_attribute]
pub fn trio_test(args: TokenStream, item: TokenStream) -> TokenStream {
    test::trio_test(args.into(), item.into()).into()
}
