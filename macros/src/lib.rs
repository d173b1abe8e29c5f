//! The attributes of [`trio-testkit`](https://docs.rs/trio-testkit): `#[trio_test]`,
//! `#[trio_fixture]` and `#[trio_tests]` (trio mode).
//!
//! Use them through `trio_testkit`; the testkit's crate documentation is the guide. This crate
//! only turns the attributes into calls to the testkit's test runner: it parses the attribute
//! and the item, checks them (every mistake becomes a compile error at the offending token),
//! and expands them.

#![forbid(unsafe_code)]

mod fixture;
mod mode;
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
/// - `nursery: Nursery`: a nursery around the test, cancelled once the test returns;
/// - `net: SimNet`: a fresh simulated network, installed before the test starts;
/// - any other name: the [`#[trio_fixture]`](macro@trio_fixture) of that name, as the
///   compiler finds it where the test is (`use` it from another module or crate, or name its
///   path: `#[from(support::server)] srv: Server`).
///
/// A leading underscore (`_autojump_clock`) asks for the same fixture. At most one clock.
///
/// # Arguments
///
/// `autojump` (or `autojump = false`), `seed = N`, `policy = "random" | "fifo"`,
/// `timeout = "30s"` (real time; default 60 s), `crate = "path"` (where the testkit is, if
/// renamed); for exploration, `schedules = N`, `policy = "mixed" | "pct" | "pos" | "surw"`,
/// `depth = D` (PCT, 1 to 100), `check_determinism`, `require_sometimes` (fail when a
/// `trio::sometimes!` never came true), `require_assertion = "message"` (or a list of messages:
/// fail unless each assertion fired), `inject_cancellations = K` and `threads = N` (worker
/// threads; default every core).
///
/// # Parametrised tests
///
/// `#[case(…)]` attributes after `#[trio_test]` make one test per case (rstest's syntax): the
/// values go to the parameters marked `#[case]`, in order, and the tests are named
/// `name::case_1`, `name::case_2_description` (for `#[case::description(…)]`).
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
/// An unknown or repeated argument, a value of the wrong kind, an unknown fixture (at the
/// parameter), a fixture asked for twice, two clocks, a function that is not `async`, generic
/// or a method, a case with the wrong number of values, and a second `#[test]` attribute. The
/// function is still emitted, so the rest of the file keeps compiling and every mistake is
/// reported at once.
#[proc_macro_attribute]
pub fn trio_test(args: TokenStream, item: TokenStream) -> TokenStream {
    test::trio_test(args.into(), item.into()).into()
}

/// Defines a fixture: an `async fn` whose parameters are fixtures too, and whose value a test
/// (or another fixture) gets by asking for a parameter of the function's name.
///
/// ```
/// use trio_testkit::fixture::Yield;
/// use trio_testkit::{MockClock, trio_fixture, trio_test};
///
/// /// A value: the fixture returns it (or `Result<value, E>`: an `Err` fails the test).
/// #[trio_fixture]
/// async fn start(autojump_clock: MockClock) -> trio::Instant {
///     trio::sleep(std::time::Duration::from_secs(5)).await.unwrap();
///     autojump_clock.current_time()
/// }
///
/// /// Set-up and tear-down: the fixture provides its value through a `Yield` parameter.
/// #[trio_fixture]
/// async fn ticket(start: trio::Instant, fixture: Yield<u64>) -> trio::Result<()> {
///     fixture.provide((start - trio::Instant::ZERO).as_secs()).await?;
///     // Tear-down: runs after the test.
///     Ok(())
/// }
///
/// #[trio_test]
/// async fn uses_both(start: trio::Instant, ticket: u64) {
///     assert_eq!(ticket, 5);
///     assert_eq!(start, trio::Instant::from_secs(5));
/// }
/// # fn main() {}
/// ```
///
/// The function becomes the fixture's definition: `name()` returns a
/// `trio_testkit::fixture::FixtureDef<Value>`. Parameters: the built-in fixtures by name
/// (`mock_clock`, `autojump_clock`, `nursery` — the fixture's own, cancelled after its
/// tear-down — and `net`), other fixtures by name or `#[from(path)]`, and at most one
/// `Yield<Value>`. Arguments: `crate = "path"`.
///
/// # Errors at compile time
///
/// A function that is not `async`, generic or a method; a fixture that asks for itself, for
/// the same fixture twice, or for two clocks; two `Yield` parameters; an `impl Trait` value.
/// An unknown fixture is the compiler's "cannot find value" at the parameter.
#[proc_macro_attribute]
pub fn trio_fixture(args: TokenStream, item: TokenStream) -> TokenStream {
    fixture::trio_fixture(args.into(), item.into()).into()
}

/// Trio mode: every `#[test] async fn` in the module becomes a `#[trio_test]` with the
/// attribute's arguments as defaults.
///
/// ```
/// use trio_testkit::trio_tests;
///
/// #[trio_tests(autojump, schedules = 20)]
/// mod tests {
///     use std::time::Duration;
///
///     #[test]
///     async fn sleeps_in_no_time() -> trio::Result<()> {
///         trio::sleep(Duration::from_secs(60)).await?;
///         assert_eq!(trio::current_time(), trio::Instant::from_secs(60));
///         Ok(())
///     }
///
///     /// Its own arguments win; the module's fill in the rest.
///     #[trio_testkit::trio_test(schedules = 1, seed = 3)]
///     async fn one_schedule() {
///         assert_eq!(trio::lowlevel::current_seed(), 3);
///     }
///
///     // Not a test: async helpers stay as they are.
///     async fn helper() {}
/// }
/// # fn main() {}
/// ```
///
/// Arguments are `#[trio_test]`'s. A test's own `#[trio_test(…)]` overrides them argument by
/// argument; a test that asks for `mock_clock` or `autojump_clock` (itself or through one of its
/// fixtures), or says `autojump = false`, does not get the module's `autojump`. Inline submodules get the same defaults. The module
/// must have its body in place (`mod tests { … }`).
#[allow(
    clippy::test_attr_in_doctest,
    reason = "in trio mode `#[test] async fn` marks the tests: the example shows exactly that"
)]
#[proc_macro_attribute]
pub fn trio_tests(args: TokenStream, item: TokenStream) -> TokenStream {
    mode::trio_tests(args.into(), item.into()).into()
}
