//! Scheduling policies: which runnable task steps next, and in which order timers due at the
//! same instant fire.
//!
//! A policy plugs into the runtime through [`trio::abc::SchedulePolicy`] and is seeded with the
//! run's seed, so a policy plus a seed fixes the whole schedule. `#[trio_test]` runs every test
//! under [`Random`], seeded from the test's name, unless the test asks for `policy = "fifo"`.
//!
//! - [`Fifo`]: Trio's batch order, made deterministic (the runtime's default).
//! - [`Random`]: a uniformly random runnable task at every step.

mod random;

pub use random::Random;
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
