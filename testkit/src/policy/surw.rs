//! A uniform random walk over interleavings, after SURW (ASPLOS 2025), with the remaining
//! work of each task estimated from a measured run.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use trio::abc::SchedulePolicy;
use trio::lowlevel::{Choice, RunnableTasks, TaskId, TimerInfo};

use super::{pick_option, uniform_index};

/// Picks a runnable task with probability proportional to the steps it has left. If the step
/// counts were exact, every interleaving of the tasks' steps would be equally likely — unlike
/// a random walk ([`Random`](super::Random)), which makes a task with many steps fall behind
/// the others: a bug that needs a long task to race ahead of a short one is exponentially
/// rare under a random walk and not under this policy.
///
/// The steps a task has left are estimated from a measured run (by task id): the steps the
/// task took there plus those of every task it spawned, directly or not, since a parent that
/// still has children to start holds all of their steps too. When this run first sees a task,
/// its subtree's steps move from its parent's count to its own; each pick takes one step off
/// the picked task; no count drops below one. Counting a parent's unspawned descendants is
/// what lets a task started last get a fair share: with the parent's own steps alone, the
/// parent is outweighed by the children it has already started and starts the rest late. The
/// exploration measures the default-order run once and hands every schedule the same counts,
/// so schedule `i` is the same whichever thread runs it. Where the published SURW counts only
/// the steps that touch shared state, this policy counts every step: it cannot see what a
/// step touches. A task the measured run did not have gets the fewest steps any task took.
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
    estimates: Arc<TaskEstimates>,
    /// The steps each task seen in this run has left, its unspawned descendants' included.
    // Invariant: every entry is at least 1 (a runnable task has a step left).
    remaining: BTreeMap<u64, u64>,
}

/// What a measured run tells SURW: the steps of each task, its descendants' included, and
/// who spawned whom.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskEstimates {
    /// Steps per task id in the measured run, plus those of every task it spawned, directly
    /// or not.
    with_descendants: BTreeMap<u64, u64>,
    /// The parent of each task the measured run spawned.
    parents: BTreeMap<u64, u64>,
    /// For a task the measured run did not have: the fewest steps any task took.
    fallback: u64,
}

impl TaskEstimates {
    /// Estimates from the steps each task took (by id) and the parent of each spawned task.
    pub(crate) fn new(steps: BTreeMap<u64, u64>, parents: BTreeMap<u64, u64>) -> TaskEstimates {
        let fallback = steps.values().copied().min().unwrap_or(1).max(1);
        let mut with_descendants = steps;
        // Ids count up in spawn order, so a child's id is above its parent's: going down from
        // the highest id adds each subtree to its parent once it is complete.
        for (&child, &parent) in parents.iter().rev() {
            let subtree = with_descendants.get(&child).copied().unwrap_or(0);
            *with_descendants.entry(parent).or_insert(0) += subtree;
        }
        TaskEstimates { with_descendants, parents, fallback }
    }

    fn with_descendants(&self, task: u64) -> u64 {
        self.with_descendants.get(&task).copied().unwrap_or(self.fallback).max(1)
    }
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
        Surw::with_estimates(Arc::new(TaskEstimates::new(estimates.into_iter().collect(), BTreeMap::new())))
    }

    /// The policy, sharing already-collected estimates.
    pub(crate) fn with_estimates(estimates: Arc<TaskEstimates>) -> Surw {
        Surw { rng: ChaCha8Rng::seed_from_u64(0), estimates, remaining: BTreeMap::new() }
    }

    /// Starts counting down `task` the first time this run sees it: it has all the steps of
    /// its subtree left, and those steps are no longer its parent's to take.
    fn see(&mut self, task: u64, parent: Option<u64>) {
        if self.remaining.contains_key(&task) {
            return;
        }
        let subtree = self.estimates.with_descendants(task);
        self.remaining.insert(task, subtree);
        if let Some(parent) = parent {
            let grandparent = self.estimates.parents.get(&parent).copied();
            self.see(parent, grandparent);
            let left = self.remaining.get_mut(&parent).expect("seen just above");
            *left = left.saturating_sub(subtree).max(1);
        }
    }
}

impl SchedulePolicy for Surw {
    fn start(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.remaining.clear();
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        for i in 0..runnable.len() {
            let task = runnable.task(i);
            self.see(task.id().as_u64(), task.parent().map(TaskId::as_u64));
        }
        let weights: Vec<u64> = (0..runnable.len()).map(|i| self.remaining[&runnable.id(i).as_u64()]).collect();
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
        let left = self.remaining.get_mut(&runnable.id(chosen).as_u64()).expect("seen above");
        *left = left.saturating_sub(1).max(1);
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
