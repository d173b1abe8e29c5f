//! The scheduling-policy hook: which runnable task steps next, and in which order timers due
//! at the same instant fire.

use std::collections::VecDeque;
use std::fmt;

use super::clock::Instant;
use super::task::{Task, TaskId, TaskKey};

/// Decides the order of a run. Every choice that could differ between two runs of the same
/// program goes through a policy, so a policy plus a seed fixes the whole schedule.
///
/// The runtime ships [`Fifo`], Trio's batch order. `trio_testkit` ships exploring policies
/// (random walk, PCT, replay) that find bugs which depend on the order.
///
/// # Contract
///
/// - [`pick_task`](SchedulePolicy::pick_task) is called at every scheduling step with at least
///   two runnable tasks, and must return an index below [`RunnableTasks::len`]. The first
///   [`RunnableTasks::batch_len`] entries form the current batch: runnable when the batch
///   began, in the order they became runnable; the rest became runnable during the batch. Trio
///   only ever picks from the batch; a policy may pick any entry.
/// - [`pick_timer`](SchedulePolicy::pick_timer) is called when two or more timers are due at
///   the same instant, repeatedly, until all have fired.
/// - A policy must be deterministic given the seed passed to [`start`](SchedulePolicy::start),
///   and must not call back into the runtime.
pub trait SchedulePolicy {
    /// Called once before the run starts, with the run's seed.
    fn start(&mut self, seed: u64) {
        let _ = seed;
    }

    /// Picks the index of the next task to step.
    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize;

    /// Picks which of several timers due at the same instant fires next (default: the one
    /// created first).
    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        let _ = due;
        0
    }

    /// Called at every cancel point of a task that is not already cancelled — each checkpoint
    /// and each blocking wait; `cancel_point` counts them per task from 1. Return `true` to
    /// cancel the innermost cancel scope around that point, as if its deadline had expired right
    /// there: this is how cancellation injection finds code that is not cancel-safe. Default:
    /// never.
    fn inject_cancel(&mut self, task: &Task, cancel_point: u64) -> bool {
        let _ = (task, cancel_point);
        false
    }
}

impl<P: SchedulePolicy + ?Sized> SchedulePolicy for Box<P> {
    fn start(&mut self, seed: u64) {
        (**self).start(seed);
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        (**self).pick_task(runnable)
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        (**self).pick_timer(due)
    }

    fn inject_cancel(&mut self, task: &Task, cancel_point: u64) -> bool {
        (**self).inject_cancel(task, cancel_point)
    }
}

/// Trio's batch order, made deterministic: each batch runs in the order its tasks became
/// runnable, and tasks woken during a batch wait for the next one. The default policy.
///
/// (Trio itself reverses half of its batches at random so code cannot rely on the order;
/// use an exploring policy from `trio_testkit` for that.)
#[derive(Debug, Clone, Copy, Default)]
pub struct Fifo;

impl SchedulePolicy for Fifo {
    fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
        0
    }
}

/// The runnable tasks at one scheduling step, as a policy sees them.
pub struct RunnableTasks<'a> {
    queue: &'a VecDeque<TaskKey>,
    batch: usize,
    slab: &'a [Option<Task>],
}

impl<'a> RunnableTasks<'a> {
    pub(crate) fn new(queue: &'a VecDeque<TaskKey>, batch: usize, slab: &'a [Option<Task>]) -> Self {
        RunnableTasks { queue, batch, slab }
    }

    /// How many tasks are runnable.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Always `false`: a policy is only asked when there is a choice.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How many of them (from the front) form the current batch; at least one.
    pub fn batch_len(&self) -> usize {
        self.batch
    }

    /// The task at `index`.
    ///
    /// # Panics
    ///
    /// If `index >= len()`.
    pub fn task(&self, index: usize) -> &Task {
        let key = self.queue[index];
        self.slab[key.index as usize].as_ref().expect("a runnable task is alive")
    }

    /// The id of the task at `index`.
    pub fn id(&self, index: usize) -> TaskId {
        self.task(index).id()
    }
}

impl fmt::Debug for RunnableTasks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<TaskId> = (0..self.len()).map(|i| self.id(i)).collect();
        f.debug_struct("RunnableTasks").field("tasks", &ids).field("batch_len", &self.batch).finish()
    }
}

/// What kind of timer is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimerKind {
    /// A `sleep` / `sleep_until` ending.
    Sleep,
    /// A cancel scope's deadline.
    Deadline,
}

/// A timer due now, as [`SchedulePolicy::pick_timer`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimerInfo {
    /// When it was due.
    pub deadline: Instant,
    /// Creation order among timers.
    pub seq: u64,
    /// What fires.
    pub kind: TimerKind,
}
