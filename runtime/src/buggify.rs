//! Fault injection at points the program names itself: [`buggify!`](crate::buggify!) asks the
//! run "should this rare thing go wrong here?", in the spirit of FoundationDB's `BUGGIFY`.
//!
//! Each call is a decision of the run's one decision stream (a weighted
//! [`choose_weighted`] whose default answer is "no"). So:
//!
//! - under the default policy ([`Fifo`](crate::lowlevel::Fifo)), in a plain [`run`](crate::run),
//!   and outside a run, the answer is always `false`: shipped code behaves normally;
//! - under the testkit's exploring policies the answer is sometimes `true` (rarely, following
//!   the probability), so exploration reaches the error paths behind the point;
//! - a trace shows each point as a decision labelled with its call site
//!   (`buggify at src/cache.rs:41`), replay answers it the same way again, and shrinking keeps
//!   only the points a failure needs.
//!
//! ```
//! /// Reads a value; under exploration, sometimes pretends the disk returned an error.
//! fn read(cache: &[u8], index: usize) -> Result<u8, &'static str> {
//!     if trio::buggify!() {
//!         return Err("injected read error");
//!     }
//!     cache.get(index).copied().ok_or("out of range")
//! }
//!
//! // A plain run never fails a buggify point.
//! let value = trio::run(async { read(&[1, 2, 3], 1) });
//! assert_eq!(value, Ok(2));
//! ```
//!
//! # Limitations
//!
//! - A point that is reached in a loop is one decision per pass; a hot loop full of points
//!   makes long schedules. Put points where a fault is plausible (an I/O result, a timeout, a
//!   retry), not in tight inner loops.
//! - The probability is followed by random policies; other policies (PCT, replay, custom ones)
//!   answer as their own rules say.
//! - A plain `#[trio_test]` runs its one schedule under a random policy, so its points can fire
//!   (the same way on every run of that test); `#[trio_test(policy = "fifo")]` never takes
//!   them.

use crate::lowlevel::{choose_weighted, in_run};

/// How often [`buggify!`](crate::buggify!) without an argument answers `true` under a random
/// policy: one time in twenty.
pub const DEFAULT_PROBABILITY: f64 = 0.05;

/// The weights are parts of a million.
const SCALE: f64 = 1_000_000.0;

/// Asks whether to inject a fault here, with a given probability: the function behind
/// [`buggify!`](crate::buggify!), for libraries that want a label of their own (say, naming the
/// connection) instead of the call site.
///
/// `what` labels the decision in traces. `probability` is clamped to `0.0..=1.0` (a NaN counts
/// as 0); it is how often a random policy answers `true`. Always `false` under the default
/// policy and outside a run.
///
/// Synchronous; never a checkpoint.
///
/// # Examples
///
/// ```
/// assert!(!trio::buggify::should_fail(1.0, "drop the reply")); // outside a run
/// assert!(!trio::run(async { trio::buggify::should_fail(1.0, "drop the reply") })); // default policy
/// ```
pub fn should_fail(probability: f64, what: &str) -> bool {
    if !in_run() {
        return false;
    }
    choose_weighted(&weights(probability), what) == 1
}

/// The weights of "no" and "yes" for `probability`, in parts of a million; never both zero.
fn weights(probability: f64) -> [u32; 2] {
    let p = if probability.is_nan() { 0.0 } else { probability.clamp(0.0, 1.0) };
    let yes = (p * SCALE).round() as u32;
    [SCALE as u32 - yes, yes]
}

/// Asks the run whether to inject a fault at this point; `true` means "go wrong here".
///
/// `buggify!()` answers `true` with [`DEFAULT_PROBABILITY`] under a random policy;
/// `buggify!(p)` with probability `p` (an `f64`, clamped to `0.0..=1.0`). Under the default
/// policy, in a plain run and outside a run, always `false`. Each call is a decision labelled
/// `buggify at file:line` in traces, so a failing schedule shows which point fired, and replay
/// and shrinking treat it like any other decision. See the [`buggify`](mod@crate::buggify) module.
///
/// Synchronous; never a checkpoint.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     // Under the default policy nothing is ever injected.
///     assert!(!trio::buggify!());
///     assert!(!trio::buggify!(0.5));
/// });
/// ```
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::buggify::should_fail(
            $crate::buggify::DEFAULT_PROBABILITY,
            ::core::concat!("buggify at ", ::core::file!(), ":", ::core::line!()),
        )
    };
    ($probability:expr $(,)?) => {
        $crate::buggify::should_fail(
            $probability,
            ::core::concat!("buggify at ", ::core::file!(), ":", ::core::line!()),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_become_weights_that_never_both_vanish() {
        assert_eq!(weights(0.0), [1_000_000, 0]);
        assert_eq!(weights(1.0), [0, 1_000_000]);
        assert_eq!(weights(0.05), [950_000, 50_000]);
        assert_eq!(weights(7.0), [0, 1_000_000]);
        assert_eq!(weights(-1.0), [1_000_000, 0]);
        assert_eq!(weights(f64::NAN), [1_000_000, 0]);
    }
}
