//! Scheduling policies: which runnable task steps next, and in which order timers due at the
//! same instant fire.
//!
//! A policy plugs into the runtime through [`trio::abc::SchedulePolicy`] and is seeded with the
//! run's seed, so a policy plus a seed fixes the whole schedule. `#[trio_test]` runs every test
//! under [`Random`], seeded from the test's name, unless the test asks for `policy = "fifo"`.
//!
//! - [`Fifo`]: Trio's batch order, made deterministic (the runtime's default).
//! - [`Random`]: a uniformly random runnable task at every step.
//! - [`Pct`]: probabilistic concurrency testing — random priorities with `depth - 1` priority
//!   change points; the policy of choice for bugs that need several specific preemptions.
//! - [`Replay`]: follows a recorded [`Schedule`].
//!
//! # Choosing a policy
//!
//! Random finds shallow bugs (one or two unlucky interleavings) quickly and is the default.
//! PCT finds bugs that need a task to be held back over many steps, or several preemptions in
//! a row, with a guaranteed probability per schedule; give it the depth you suspect (2 or 3 is
//! typical). Fifo is Trio's own order and explores nothing. Replay reproduces a failure.

mod pct;
mod random;
mod replay;

pub use pct::Pct;
pub use random::Random;
pub(crate) use replay::InjectCancel;
pub use replay::{Pick, Replay, Schedule, ScheduleParseError};
pub use trio::lowlevel::Fifo;

use rand_chacha::rand_core::RngCore;

/// A uniformly distributed index below `len` (Lemire's multiply-and-reject: no modulo bias).
///
/// # Panics
///
/// If `len` is zero.
pub(crate) fn uniform_index(rng: &mut impl RngCore, len: usize) -> usize {
    assert!(len > 0, "a policy was asked to choose among nothing");
    let len = len as u64;
    let mut product = u128::from(rng.next_u64()) * u128::from(len);
    if (product as u64) < len {
        let threshold = len.wrapping_neg() % len;
        while (product as u64) < threshold {
            product = u128::from(rng.next_u64()) * u128::from(len);
        }
    }
    (product >> 64) as usize
}

/// An option of `choice`, at random, following its weights (uniform without).
pub(crate) fn pick_option(rng: &mut impl RngCore, choice: &trio::lowlevel::Choice<'_>) -> usize {
    let Some(weights) = choice.weights() else { return uniform_index(rng, choice.len()) };
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let mut point = uniform_index(rng, total as usize) as u64;
    for (i, &w) in weights.iter().enumerate() {
        if point < u64::from(w) {
            return i;
        }
        point -= u64::from(w);
    }
    unreachable!("the point lies below the total weight")
}
