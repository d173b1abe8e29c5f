//! Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010), adapted to cooperative
//! tasks.

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use trio::abc::SchedulePolicy;
use trio::lowlevel::{Choice, RunnableTasks, TaskId, TimerInfo};

use super::{pick_option, uniform_index};

/// Priorities below this are "lowered" ones (change points and anti-starvation); every task
/// starts above it.
const LOWERED: u64 = 1 << 32;

/// After this many consecutive picks of the same task while others were runnable, that task is
/// lowered: a task spinning on `checkpoint()` while it waits for another cannot starve it
/// forever (PCT assumes every schedule terminates; a spin-wait only terminates fairly).
const STARVATION_LIMIT: u32 = 64;

/// PCT with a bug depth `d`: every task gets a random priority when it first becomes runnable,
/// the highest-priority runnable task always runs, and at `d - 1` distinct random decisions
/// (drawn among the first `k`) the running task drops below every other. A bug that needs `d - 1` specific preemptions is found
/// with probability at least `1 / (n · k^(d-1))` per schedule, for `n` tasks and `k` decisions —
/// far better than a random walk for deep bugs.
///
/// `k` is an estimate of the number of decisions in a run; the exploration engine measures one
/// run in the default order (`n` decisions) and takes `k = n + n/2 + 2`, room for runs longer
/// than the measured one. A smaller `k` finds bugs early in a run faster and misses those that
/// need a preemption late in a long run (measured in `docs/PERFORMANCE.md`).
///
/// # Examples
///
/// ```
/// use trio_testkit::policy::Pct;
///
/// let answer = trio::Builder::new().policy(Pct::new(3, 50)).seed(1).run(async { 42 });
/// assert_eq!(answer, 42);
/// ```
#[derive(Debug, Clone)]
pub struct Pct {
    depth: u32,
    steps_estimate: u64,
    rng: ChaCha8Rng,
    priorities: BTreeMap<TaskId, u64>,
    /// Decision numbers at which the running task is lowered, ascending.
    change_points: Vec<u64>,
    decisions: u64,
    next_lowered: u64,
    last: Option<TaskId>,
    streak: u32,
}

impl Pct {
    /// The deepest bug PCT is asked to look for. Real bugs need 2 to 4; a larger depth only
    /// spends change points (and, far beyond this, memory).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Pct;
    ///
    /// assert_eq!(Pct::new(Pct::MAX_DEPTH, 100).depth(), Pct::MAX_DEPTH);
    /// ```
    pub const MAX_DEPTH: u32 = 100;

    /// PCT for bugs of depth `depth` (at least 1: depth 1 is a random priority order and no
    /// change points) in runs of about `steps_estimate` decisions.
    ///
    /// # Panics
    ///
    /// If `depth` is above [`Pct::MAX_DEPTH`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::policy::Pct;
    ///
    /// fn order(seed: u64) -> Vec<u32> {
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let l = log.clone();
    ///     trio::Builder::new().policy(Pct::new(2, 20)).seed(seed).run(async move {
    ///         trio::open_nursery(|nursery| async move {
    ///             for i in 0..4 {
    ///                 let l = l.clone();
    ///                 nursery.start_soon(async move { l.borrow_mut().push(i) });
    ///             }
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     });
    ///     log.take()
    /// }
    ///
    /// assert_eq!(order(5), order(5)); // the seed fixes the priorities and change points
    /// assert!((0..20).any(|seed| order(seed) != [0, 1, 2, 3])); // and they do reorder tasks
    /// ```
    #[track_caller]
    pub fn new(depth: u32, steps_estimate: u64) -> Pct {
        assert!(
            depth <= Pct::MAX_DEPTH,
            "PCT depth {depth} is too deep: use 1 to {} (2 to 4 finds most bugs)",
            Pct::MAX_DEPTH
        );
        Pct {
            depth: depth.max(1),
            steps_estimate: steps_estimate.max(1),
            rng: ChaCha8Rng::seed_from_u64(0),
            priorities: BTreeMap::new(),
            change_points: Vec::new(),
            decisions: 0,
            next_lowered: LOWERED - 1,
            last: None,
            streak: 0,
        }
    }

    /// The bug depth.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Pct;
    ///
    /// assert_eq!(Pct::new(3, 100).depth(), 3);
    /// assert_eq!(Pct::new(0, 100).depth(), 1); // at least 1
    /// ```
    pub fn depth(&self) -> u32 {
        self.depth
    }

    fn priority(&mut self, task: TaskId) -> u64 {
        if let Some(p) = self.priorities.get(&task) {
            return *p;
        }
        let p = LOWERED + self.rng.next_u64() % (u64::MAX - LOWERED);
        self.priorities.insert(task, p);
        p
    }

    fn lower(&mut self, task: TaskId) {
        self.priorities.insert(task, self.next_lowered);
        self.next_lowered = self.next_lowered.saturating_sub(1);
    }

    fn best(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        let mut best = 0;
        let mut best_priority = 0;
        for i in 0..runnable.len() {
            let p = self.priority(runnable.id(i));
            if i == 0 || p > best_priority {
                best = i;
                best_priority = p;
            }
        }
        best
    }
}

impl SchedulePolicy for Pct {
    fn start(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.priorities.clear();
        self.decisions = 0;
        self.next_lowered = LOWERED - 1;
        self.last = None;
        self.streak = 0;
        // Distinct decisions (as the paper draws them): two change points at one decision
        // would lower two tasks at once and leave the bug one preemption short. When the
        // estimate has fewer decisions than change points, every decision is one.
        let wanted = u64::from(self.depth - 1).min(self.steps_estimate);
        let mut points: Vec<u64> = Vec::with_capacity(wanted as usize);
        while (points.len() as u64) < wanted {
            let point = 1 + self.rng.next_u64() % self.steps_estimate;
            if !points.contains(&point) {
                points.push(point);
            }
        }
        points.sort_unstable();
        self.change_points = points;
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        self.decisions += 1;
        let mut index = self.best(runnable);
        while self.change_points.first() == Some(&self.decisions) {
            self.change_points.remove(0);
            self.lower(runnable.id(index));
            index = self.best(runnable);
        }
        let chosen = runnable.id(index);
        if self.last == Some(chosen) {
            self.streak += 1;
            if self.streak >= STARVATION_LIMIT {
                self.lower(chosen);
                self.streak = 0;
                index = self.best(runnable);
            }
        } else {
            self.streak = 0;
        }
        self.last = Some(runnable.id(index));
        index
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        uniform_index(&mut self.rng, due.len())
    }

    /// Choices have no priorities: a random option, following the weights.
    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        pick_option(&mut self.rng, choice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The change points are distinct decisions: with room for exactly `depth - 1` of them,
    // they are every decision of the range, whatever the seed.
    #[test]
    fn change_points_are_distinct() {
        for seed in 0..200 {
            let mut pct = Pct::new(4, 3);
            pct.start(seed);
            assert_eq!(pct.change_points, [1, 2, 3], "seed {seed}");
            let mut short = Pct::new(4, 2);
            short.start(seed);
            assert_eq!(short.change_points, [1, 2], "seed {seed}");
        }
    }
}
