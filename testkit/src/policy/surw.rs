//! A uniform random walk over interleavings, after SURW (ASPLOS 2025), with the remaining
//! work of each task estimated from a measured run.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use trio::abc::SchedulePolicy;
use trio::lowlevel::{Choice, RunnableTasks, TimerInfo};

use super::{pick_option, uniform_index};

/// Picks a runnable task with probability proportional to the steps it has left. If the step
/// counts were exact, every interleaving of the tasks' steps would be equally likely — unlike
/// a random walk ([`Random`](super::Random)), which makes a task with many steps fall behind
/// the others: a bug that needs a long task to race ahead of a short one is exponentially
/// rare under a random walk and not under this policy.
///
/// The steps a task has left are estimated as the steps it took in a measured run (by task
/// id), minus the times this run has picked it so far, and at least one. The exploration
/// measures the default-order run once and hands every schedule the same counts, so schedule
/// `i` is the same whichever thread runs it. Where the published SURW counts only the steps
/// that touch shared state, this policy counts every step: it cannot see what a step touches.
/// A task the measured run did not have gets the mean of the known counts.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio_testkit::policy::Surw;
///
/// // Task 2 takes ten steps, task 3 one: task 2 is picked first ten times as often.
/// fn first(seed: u64) -> u32 {
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let l = log.clone();
///     let policy = Surw::new([(2, 10), (3, 1)]);
///     trio::Builder::new().policy(policy).seed(seed).run(async move {
///         trio::open_nursery(|nursery| async move {
///             for (i, steps) in [(0, 10), (1, 1)] {
///                 let l = l.clone();
///                 nursery.start_soon(async move {
///                     l.borrow_mut().push(i);
///                     for _ in 1..steps {
///                         trio::checkpoint().await?;
///                     }
///                     Ok(())
///                 });
///             }
///             Ok(())
///         })
///         .await
///         .unwrap();
///     });
///     log.borrow()[0]
/// }
///
/// let long_first = (0..100).filter(|&seed| first(seed) == 0).count();
/// assert!(long_first > 75, "{long_first}");
/// ```
#[derive(Debug, Clone)]
pub struct Surw {
    rng: ChaCha8Rng,
    /// Steps per task id in the measured run.
    estimates: Arc<BTreeMap<u64, u64>>,
    /// For a task the measured run did not have.
    fallback: u64,
    /// Picks of each task in this run.
    taken: BTreeMap<u64, u64>,
}

impl Surw {
    /// The policy, with the steps each task (by id) took in a measured run.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Surw;
    ///
    /// let answer = trio::Builder::new().policy(Surw::new([(1, 5)])).seed(2).run(async { 7 });
    /// assert_eq!(answer, 7);
    /// ```
    pub fn new(estimates: impl IntoIterator<Item = (u64, u64)>) -> Surw {
        Surw::with_estimates(Arc::new(estimates.into_iter().collect()))
    }

    /// The policy, sharing already-collected estimates.
    pub(crate) fn with_estimates(estimates: Arc<BTreeMap<u64, u64>>) -> Surw {
        let total: u64 = estimates.values().sum();
        let fallback = (total / (estimates.len() as u64).max(1)).max(1);
        Surw { rng: ChaCha8Rng::seed_from_u64(0), estimates, fallback, taken: BTreeMap::new() }
    }

    fn remaining(&self, task: u64) -> u64 {
        let estimate = self.estimates.get(&task).copied().unwrap_or(self.fallback);
        estimate.saturating_sub(self.taken.get(&task).copied().unwrap_or(0)).max(1)
    }
}

impl SchedulePolicy for Surw {
    fn start(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.taken.clear();
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        let weights: Vec<u64> = (0..runnable.len()).map(|i| self.remaining(runnable.id(i).as_u64())).collect();
        let total: u64 = weights.iter().sum();
        let mut point = uniform_index(&mut self.rng, usize::try_from(total).unwrap_or(usize::MAX)) as u64;
        let mut chosen = weights.len() - 1;
        for (i, &w) in weights.iter().enumerate() {
            if point < w {
                chosen = i;
                break;
            }
            point -= w;
        }
        *self.taken.entry(runnable.id(chosen).as_u64()).or_insert(0) += 1;
        chosen
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        uniform_index(&mut self.rng, due.len())
    }

    /// Choices carry no step counts: a random option, following the weights.
    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        pick_option(&mut self.rng, choice)
    }
}
