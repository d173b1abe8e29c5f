//! Partial order sampling (Yuan, Yang and Gu, CAV 2018), adapted to cooperative tasks.

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use trio::abc::SchedulePolicy;
use trio::lowlevel::{Choice, RunnableTasks, TaskId, TimerInfo};

use super::{pick_option, uniform_index};

/// After this many consecutive picks of the same task while others were runnable, every
/// waiting task draws a fresh priority: a task spinning on `checkpoint()` while it waits for
/// one that drew a tiny priority cannot hold it back for long.
const STARVATION_LIMIT: u32 = 64;

/// Partial order sampling: every runnable task's next step carries a random priority, the
/// highest-priority step runs, and after it runs, the steps that race with it draw fresh
/// priorities. A waiting step keeps its priority until then, so one task can be held back
/// over many steps of the others (which a random walk rarely does), yet every step is a fresh
/// draw for the task that takes it (so tasks still interleave finely, which PCT rarely does).
/// The paper's point is that this samples the partial orders of racing steps far more evenly
/// than a random walk or PCT does.
///
/// # The approximation of "racing"
///
/// POS needs to know which pending steps conflict with the one just executed (they touch the
/// same memory). A policy sees only which tasks are runnable at each decision, not what their
/// steps touch, so this policy takes the conservative, cheap approximation:
///
/// - the task that just ran draws a fresh priority for its next step (a new step, as in POS);
/// - every task that became runnable since the previous decision draws a fresh priority: it
///   was woken by a step that ran in between (a channel send, a lock release, an event), and
///   that step is exactly what it races with;
/// - a task that stayed runnable keeps its priority: its pending step is assumed not to race
///   with the steps in between.
///
/// Pending steps that race through shared state without a wake-up (two tasks polling the same
/// `Cell`) are therefore never re-drawn early; they are reordered only by the fresh draws of
/// the running task. The measured effect on planted bugs is in `docs/PERFORMANCE.md`.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio_testkit::policy::Pos;
///
/// fn order(seed: u64) -> Vec<u32> {
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let l = log.clone();
///     trio::Builder::new().policy(Pos::new()).seed(seed).run(async move {
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
///     log.take()
/// }
///
/// assert_eq!(order(9), order(9)); // the seed fixes every priority
/// assert!((0..20).any(|seed| order(seed) != [0, 1, 2])); // and they do reorder tasks
/// ```
#[derive(Debug, Clone)]
pub struct Pos {
    rng: ChaCha8Rng,
    /// The priority of each known task's pending step.
    priorities: BTreeMap<TaskId, u64>,
    /// The tasks runnable at the previous decision (sorted), to tell which are new.
    previous: Vec<TaskId>,
    last: Option<TaskId>,
    streak: u32,
}

impl Pos {
    /// The policy; the run seeds it when it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Pos;
    ///
    /// let answer = trio::Builder::new().policy(Pos::new()).seed(3).run(async { 42 });
    /// assert_eq!(answer, 42);
    /// ```
    pub fn new() -> Pos {
        Pos {
            rng: ChaCha8Rng::seed_from_u64(0),
            priorities: BTreeMap::new(),
            previous: Vec::new(),
            last: None,
            streak: 0,
        }
    }

    fn redraw(&mut self, task: TaskId) {
        let p = self.rng.next_u64();
        self.priorities.insert(task, p);
    }
}

impl Default for Pos {
    fn default() -> Pos {
        Pos::new()
    }
}

impl SchedulePolicy for Pos {
    fn start(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.priorities.clear();
        self.previous.clear();
        self.last = None;
        self.streak = 0;
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        let starving = self.streak >= STARVATION_LIMIT;
        if starving {
            self.streak = 0;
        }
        let mut current = Vec::with_capacity(runnable.len());
        for i in 0..runnable.len() {
            let task = runnable.id(i);
            // In the runtime's order, so the draws are the same on every run of the seed.
            let fresh = self.previous.binary_search(&task).is_err() || self.last == Some(task);
            if fresh || starving || !self.priorities.contains_key(&task) {
                self.redraw(task);
            }
            current.push(task);
        }
        let mut best = 0;
        let mut best_priority = 0;
        for (i, task) in current.iter().enumerate() {
            let p = self.priorities[task];
            if i == 0 || p > best_priority {
                best = i;
                best_priority = p;
            }
        }
        let chosen = current[best];
        if self.last == Some(chosen) {
            self.streak += 1;
        } else {
            self.streak = 0;
        }
        self.last = Some(chosen);
        current.sort_unstable();
        self.previous = current;
        best
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        uniform_index(&mut self.rng, due.len())
    }

    /// Choices have no priorities: a random option, following the weights.
    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        pick_option(&mut self.rng, choice)
    }
}
