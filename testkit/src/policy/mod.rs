//! Scheduling policies: which runnable task steps next, and in which order timers due at the
//! same instant fire.
//!
//! A policy plugs into the runtime through [`trio::abc::SchedulePolicy`] and is seeded with the
//! run's seed, so a policy plus a seed fixes the whole schedule. A single-schedule `#[trio_test]`
//! runs under [`Random`], seeded from the test's name, unless the test asks for
//! `policy = "fifo"`; an exploration takes turns between several policies.
//!
//! - [`Fifo`]: Trio's batch order, made deterministic (the runtime's default).
//! - [`Random`]: a uniformly random runnable task at every step.
//! - [`Pct`]: probabilistic concurrency testing — random priorities with `depth - 1` priority
//!   change points; the policy of choice for bugs that need several specific preemptions.
//! - [`Pos`]: partial order sampling — a random priority per step, re-drawn for the task that
//!   ran and the tasks it woke; between a random walk and PCT.
//! - [`Surw`]: a uniform random walk over interleavings — a task is picked in proportion to
//!   the steps it has left, so long tasks keep pace with short ones.
//! - [`Replay`]: follows a recorded [`Schedule`].
//!
//! # Choosing a policy
//!
//! Leave the default unless a measurement says otherwise: an exploration takes turns between
//! SURW, POS, Random and PCT with depth 3 — four SURW, four POS, one Random and one PCT 3 in
//! every ten schedules ([`PolicyKind::Mixed`](crate::explore::PolicyKind::Mixed)) — for
//! [`DEFAULT_SCHEDULES`](crate::explore::DEFAULT_SCHEDULES) (1,000) schedules. Each policy
//! has bugs it finds quickly and bugs it almost never finds; no bug is left to the worst. Per
//! schedule the mix fails with the weighted mean of its policies' chances, so it is never
//! faster than the best one: when you know which policy suits a bug, that policy alone finds
//! it sooner. The weights keep the mix within 3× of the best single policy on each of the
//! nineteen bugs measured in `docs/PERFORMANCE.md` (equal turns of the four: 3.9×).
//!
//! - **Random** finds shallow bugs (one or two unlucky interleavings, a short task racing
//!   ahead of a long one) quickly. It keeps tasks level, so a bug that needs a task with many
//!   steps to get far ahead of the others is exponentially rare under it.
//! - **SURW** is the cure for that: every interleaving is about equally likely, however long
//!   the tasks. On the planted bug with three ordering constraints of
//!   `testkit/tests/strategies.rs` it needs a median of 11 schedules where the others need
//!   300 to 500 (table in `docs/PERFORMANCE.md`). It is slow on the opposite shape — a short
//!   task that must finish before a long one has taken its first step — and its step counts
//!   come from one run in the default order (by task id), so tasks that exist only in some
//!   schedules are weighed by the mean.
//! - **PCT** finds bugs that need a task held back over many steps, or several preemptions
//!   in a row, with a guaranteed probability per schedule; give it the depth you suspect (2
//!   or 3 is typical). A bug that needs two preemptions is never found at depth 2. Its
//!   change points are distinct decisions among the first `n + n/2 + 2`, `n` measured in the
//!   default order: room for a preemption late in a run longer than the measured one, at the
//!   price of fewer change points early in the run (a bound of `n/2` finds bugs early in a
//!   run several times faster and misses some late ones entirely; `docs/PERFORMANCE.md`).
//! - **POS** holds a waiting task back until something wakes it, while every step of the
//!   running task is a fresh draw. Its notion of which pending steps *race* with the one that
//!   ran is an approximation (see [`Pos`]); it does best on bugs that need one task to wait
//!   through a burst of another's steps.
//! - **Fifo** is Trio's own order and explores nothing. **Replay** reproduces a failure.
//!
//! PCT and SURW need a measurement of the test before the first schedule: an exploration that
//! uses either runs the test once more, in the default order.

mod pct;
mod pos;
mod random;
mod replay;
mod surw;

pub use pct::Pct;
pub use pos::Pos;
pub use random::Random;
pub(crate) use replay::InjectCancel;
pub use replay::{Pick, Replay, Schedule, ScheduleParseError};
pub use surw::Surw;
pub(crate) use surw::TaskEstimates;
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
