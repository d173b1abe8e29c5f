//! The random-walk policy.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use trio::abc::SchedulePolicy;
use trio::lowlevel::{Choice, RunnableTasks, TimerInfo};

use super::{pick_option, uniform_index};

/// Picks the next task uniformly at random among *all* runnable tasks — also those woken during
/// the current batch, which Trio would hold back until the next one — fires timers due at
/// the same instant in a random order, and takes a random option of every
/// [`choose`](trio::lowlevel::choose), following its weights.
///
/// Randomness comes from ChaCha8 seeded with the run's seed
/// ([`Builder::seed`](trio::Builder::seed)): the same seed gives the same schedule, on every
/// machine. Under it a test cannot lean on the order in which tasks happen to be started, which
/// is what Trio's random batch reversal is for.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio_testkit::policy::Random;
///
/// fn order(seed: u64) -> Vec<u32> {
///     let log = Rc::new(RefCell::new(Vec::new()));
///     trio::Builder::new().policy(Random::new()).seed(seed).run({
///         let log = log.clone();
///         async move {
///             trio::open_nursery(|nursery| async move {
///                 for i in 0..5 {
///                     let log = log.clone();
///                     nursery.start_soon(async move { log.borrow_mut().push(i) });
///                 }
///                 Ok(())
///             })
///             .await
///             .unwrap();
///         }
///     });
///     log.take()
/// }
///
/// assert_eq!(order(7), order(7)); // same seed, same schedule
/// ```
#[derive(Debug, Clone)]
pub struct Random {
    rng: ChaCha8Rng,
}

impl Random {
    /// The policy; the run seeds it when it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::policy::Random;
    ///
    /// fn first_to_run(seed: u64) -> u32 {
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let l = log.clone();
    ///     trio::Builder::new().policy(Random::new()).seed(seed).run(async move {
    ///         trio::open_nursery(|nursery| async move {
    ///             for i in 0..3 {
    ///                 let l = l.clone();
    ///                 nursery.start_soon(async move { l.borrow_mut().push(i) });
    ///             }
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     });
    ///     log.borrow()[0]
    /// }
    ///
    /// // Over a few seeds, every task gets to run first at least once.
    /// let firsts: std::collections::BTreeSet<u32> = (0..30).map(first_to_run).collect();
    /// assert_eq!(firsts.len(), 3);
    /// ```
    pub fn new() -> Random {
        Random { rng: ChaCha8Rng::seed_from_u64(0) }
    }
}

impl Default for Random {
    fn default() -> Random {
        Random::new()
    }
}

impl SchedulePolicy for Random {
    fn start(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        uniform_index(&mut self.rng, runnable.len())
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        uniform_index(&mut self.rng, due.len())
    }

    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        pick_option(&mut self.rng, choice)
    }
}
