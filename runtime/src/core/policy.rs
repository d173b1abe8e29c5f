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
///
/// # Examples
///
/// A policy that keeps Trio's task order but fires timers due together newest first:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use trio::abc::SchedulePolicy;
/// use trio::lowlevel::{RunnableTasks, TimerInfo};
///
/// struct NewestTimerFirst;
///
/// impl SchedulePolicy for NewestTimerFirst {
///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
///         0
///     }
///     fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
///         due.len() - 1
///     }
/// }
///
/// let woke = Rc::new(RefCell::new(Vec::new()));
/// let log = woke.clone();
/// trio::Builder::new().policy(NewestTimerFirst).run(async move {
///     let wake_at = trio::current_time() + Duration::from_millis(1);
///     trio::open_nursery(|nursery| async move {
///         for i in 0..3 {
///             let log = log.clone();
///             nursery.start_soon(async move {
///                 trio::sleep_until(wake_at).await?;
///                 log.borrow_mut().push(i);
///                 Ok(())
///             });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// assert_eq!(*woke.borrow(), [2, 1, 0]);
/// ```
pub trait SchedulePolicy {
    /// Called once before the run starts, with the run's seed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::RunnableTasks;
    ///
    /// #[derive(Clone, Default)]
    /// struct Seeded(Rc<Cell<u64>>);
    ///
    /// impl SchedulePolicy for Seeded {
    ///     fn start(&mut self, seed: u64) {
    ///         self.0.set(seed); // a real policy seeds its random numbers here
    ///     }
    ///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
    ///         0
    ///     }
    /// }
    ///
    /// let policy = Seeded::default();
    /// trio::Builder::new().policy(policy.clone()).seed(99).run(async {});
    /// assert_eq!(policy.0.get(), 99);
    /// ```
    fn start(&mut self, seed: u64) {
        let _ = seed;
    }

    /// Picks the index of the next task to step.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::RunnableTasks;
    ///
    /// /// Trio's order, counting the choices it made.
    /// #[derive(Clone, Default)]
    /// struct Counting(Rc<Cell<u32>>);
    ///
    /// impl SchedulePolicy for Counting {
    ///     fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
    ///         assert!(runnable.len() >= 2);
    ///         self.0.set(self.0.get() + 1);
    ///         0
    ///     }
    /// }
    ///
    /// let policy = Counting::default();
    /// trio::Builder::new().policy(policy.clone()).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async {});
    ///         nursery.start_soon(async {});
    ///         nursery.start_soon(async {});
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert_eq!(policy.0.get(), 2); // three children, then two; one left is no choice
    /// ```
    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize;

    /// Picks which of several timers due at the same instant fires next (default: the one
    /// created first).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::{RunnableTasks, TimerInfo};
    ///
    /// /// Records how many timers were due at once.
    /// #[derive(Clone, Default)]
    /// struct Widest(Rc<Cell<usize>>);
    ///
    /// impl SchedulePolicy for Widest {
    ///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
    ///         0
    ///     }
    ///     fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
    ///         self.0.set(self.0.get().max(due.len()));
    ///         0
    ///     }
    /// }
    ///
    /// let policy = Widest::default();
    /// // A virtual clock: on the real one, a loaded machine could pass `at` before every
    /// // sleep is registered.
    /// let clock = trio_testkit::MockClock::autojump();
    /// trio::Builder::new().clock(clock).policy(policy.clone()).run(async {
    ///     let at = trio::current_time() + Duration::from_millis(1);
    ///     trio::open_nursery(|nursery| async move {
    ///         for _ in 0..3 {
    ///             nursery.start_soon(async move {
    ///                 trio::sleep_until(at).await?;
    ///                 Ok(())
    ///             });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert_eq!(policy.0.get(), 3);
    /// ```
    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        let _ = due;
        0
    }

    /// Called at every cancel point of a task that is not already cancelled — each checkpoint
    /// and each blocking wait; `cancel_point` counts them per task from 1. Return `true` to
    /// cancel the innermost cancel scope around that point, as if its deadline had expired right
    /// there: this is how cancellation injection finds code that is not cancel-safe. Default:
    /// never.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::{RunnableTasks, Task};
    ///
    /// /// Cancels the main task at its second cancel point.
    /// struct SecondPoint;
    ///
    /// impl SchedulePolicy for SecondPoint {
    ///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
    ///         0
    ///     }
    ///     fn inject_cancel(&mut self, task: &Task, cancel_point: u64) -> bool {
    ///         task.id().as_u64() == 1 && cancel_point == 2
    ///     }
    /// }
    ///
    /// let (outcome, reached) = trio::Builder::new().policy(SecondPoint).run(async {
    ///     let mut reached = 0;
    ///     let outcome = trio::move_on_after(Duration::from_secs(60), async {
    ///         for _ in 0..10 {
    ///             trio::checkpoint().await?;
    ///             reached += 1;
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     (outcome, reached)
    /// });
    /// assert_eq!(outcome, None); // cancelled as if the minute had passed…
    /// assert_eq!(reached, 1); // …at the second checkpoint
    /// ```
    fn inject_cancel(&mut self, task: &Task, cancel_point: u64) -> bool {
        let _ = (task, cancel_point);
        false
    }

    /// Picks one of the options of a choice a library asked for with
    /// [`lowlevel::choose`](crate::lowlevel::choose) — say, a simulated network asking which
    /// fault (if any) hits a segment, or how much jitter it gets. Option 0 is always the
    /// default (no fault, no jitter); a choice may carry weights, which a random policy should
    /// follow. Called only with two options or more. Default: 0, so the default policy never
    /// deviates.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::{Choice, RunnableTasks};
    ///
    /// /// Always takes the last option.
    /// struct Contrary;
    ///
    /// impl SchedulePolicy for Contrary {
    ///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
    ///         0
    ///     }
    ///     fn choose(&mut self, choice: &Choice<'_>) -> usize {
    ///         choice.len() - 1
    ///     }
    /// }
    ///
    /// let picked = trio::Builder::new().policy(Contrary).run(async { trio::lowlevel::choose(3, "which") });
    /// assert_eq!(picked, 2);
    /// assert_eq!(trio::run(async { trio::lowlevel::choose(3, "which") }), 0); // the default
    /// ```
    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        let _ = choice;
        0
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

    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        (**self).choose(choice)
    }
}

/// Trio's batch order, made deterministic: each batch runs in the order its tasks became
/// runnable, and tasks woken during a batch wait for the next one. The default policy.
///
/// (Trio itself reverses half of its batches at random so code cannot rely on the order;
/// use an exploring policy from `trio_testkit` for that.)
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let log = order.clone();
/// trio::Builder::new().policy(trio::lowlevel::Fifo).run(async move {
///     trio::open_nursery(|nursery| async move {
///         for i in 0..3 {
///             let log = log.clone();
///             nursery.start_soon(async move { log.borrow_mut().push(i) });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// assert_eq!(*order.borrow(), [0, 1, 2]); // the order they were started in
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Fifo;

impl SchedulePolicy for Fifo {
    fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
        0
    }
}

/// The runnable tasks at one scheduling step, as a policy sees them.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio::abc::SchedulePolicy;
/// use trio::lowlevel::RunnableTasks;
///
/// /// Records the names of the runnable tasks at every choice.
/// #[derive(Clone, Default)]
/// struct Record(Rc<RefCell<Vec<Vec<String>>>>);
///
/// impl SchedulePolicy for Record {
///     fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
///         let names = (0..runnable.len()).map(|i| runnable.task(i).name().to_string()).collect();
///         self.0.borrow_mut().push(names);
///         0
///     }
/// }
///
/// let record = Record::default();
/// trio::Builder::new().policy(record.clone()).run(async {
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon_named("a", async {});
///         nursery.start_soon_named("b", async {});
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// assert_eq!(record.0.borrow()[0], ["a", "b"]);
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::RunnableTasks;
    ///
    /// #[derive(Clone, Default)]
    /// struct Lens(Rc<RefCell<Vec<usize>>>);
    ///
    /// impl SchedulePolicy for Lens {
    ///     fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
    ///         self.0.borrow_mut().push(runnable.len());
    ///         0
    ///     }
    /// }
    ///
    /// let lens = Lens::default();
    /// trio::Builder::new().policy(lens.clone()).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         for _ in 0..3 {
    ///             nursery.start_soon(async {});
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// // Three children, then two; with one left there is no choice to make.
    /// assert_eq!(*lens.0.borrow(), [3, 2]);
    /// ```
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Always `false`: a policy is only asked when there is a choice.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::RunnableTasks;
    ///
    /// struct Checked;
    ///
    /// impl SchedulePolicy for Checked {
    ///     fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
    ///         assert!(!runnable.is_empty() && runnable.len() >= 2); // only asked when there is a choice
    ///         0
    ///     }
    /// }
    ///
    /// trio::Builder::new().policy(Checked).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async {});
    ///         nursery.start_soon(async {});
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How many of them (from the front) form the current batch; at least one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::RunnableTasks;
    ///
    /// #[derive(Clone, Default)]
    /// struct Batches(Rc<RefCell<Vec<(usize, usize)>>>);
    ///
    /// impl SchedulePolicy for Batches {
    ///     fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
    ///         self.0.borrow_mut().push((runnable.len(), runnable.batch_len()));
    ///         0
    ///     }
    /// }
    ///
    /// let batches = Batches::default();
    /// trio::Builder::new().policy(batches.clone()).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         for _ in 0..3 {
    ///             nursery.start_soon(async {
    ///                 trio::checkpoint().await?;
    ///                 Ok(())
    ///             });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// // The first child yields at its checkpoint: runnable again, but after the current batch.
    /// assert_eq!(batches.0.borrow()[..2], [(3, 3), (3, 2)]);
    /// ```
    pub fn batch_len(&self) -> usize {
        self.batch
    }

    /// The task at `index`.
    ///
    /// # Panics
    ///
    /// If `index >= len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::RunnableTasks;
    ///
    /// /// Runs the task named "urgent" first whenever it is runnable.
    /// struct Urgent;
    ///
    /// impl SchedulePolicy for Urgent {
    ///     fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
    ///         (0..runnable.len()).find(|&i| runnable.task(i).name() == "urgent").unwrap_or(0)
    ///     }
    /// }
    ///
    /// let first = trio::Builder::new().policy(Urgent).run(async {
    ///     let first = std::rc::Rc::new(std::cell::Cell::new(""));
    ///     let (a, b) = (first.clone(), first.clone());
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("routine", async move {
    ///             if a.get().is_empty() {
    ///                 a.set("routine");
    ///             }
    ///         });
    ///         nursery.start_soon_named("urgent", async move {
    ///             if b.get().is_empty() {
    ///                 b.set("urgent");
    ///             }
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     first.get()
    /// });
    /// assert_eq!(first, "urgent");
    /// ```
    pub fn task(&self, index: usize) -> &Task {
        let key = self.queue[index];
        self.slab[key.index as usize].as_ref().expect("a runnable task is alive")
    }

    /// The id of the task at `index`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::{RunnableTasks, TaskId};
    ///
    /// #[derive(Clone, Default)]
    /// struct Ids(Rc<RefCell<Vec<Vec<TaskId>>>>);
    ///
    /// impl SchedulePolicy for Ids {
    ///     fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
    ///         self.0.borrow_mut().push((0..runnable.len()).map(|i| runnable.id(i)).collect());
    ///         0
    ///     }
    /// }
    ///
    /// let ids = Ids::default();
    /// trio::Builder::new().policy(ids.clone()).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async {});
    ///         nursery.start_soon(async {});
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// let first: Vec<u64> = ids.0.borrow()[0].iter().map(|id| id.as_u64()).collect();
    /// assert_eq!(first, [2, 3]); // the main task is 1
    /// ```
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
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use trio::abc::SchedulePolicy;
/// use trio::lowlevel::{RunnableTasks, TimerInfo, TimerKind};
///
/// #[derive(Clone, Default)]
/// struct Kinds(Rc<RefCell<Vec<TimerKind>>>);
///
/// impl SchedulePolicy for Kinds {
///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
///         0
///     }
///     fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
///         self.0.borrow_mut().extend(due.iter().map(|timer| timer.kind));
///         0
///     }
/// }
///
/// let kinds = Kinds::default();
/// trio::Builder::new().policy(kinds.clone()).run(async {
///     let at = trio::current_time() + Duration::from_millis(1);
///     // A scope's deadline and a sleep, due at the same instant.
///     trio::move_on_at(at, async { Ok(trio::sleep_until(at).await?) }).await.unwrap();
/// });
/// let kinds = kinds.0.borrow();
/// assert_eq!(kinds.len(), 2);
/// assert!(kinds.contains(&TimerKind::Deadline) && kinds.contains(&TimerKind::Sleep));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimerKind {
    /// A `sleep` / `sleep_until` ending.
    Sleep,
    /// A cancel scope's deadline.
    Deadline,
}

/// A timer due now, as [`SchedulePolicy::pick_timer`] sees it.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use trio::abc::SchedulePolicy;
/// use trio::lowlevel::{RunnableTasks, TimerInfo};
///
/// #[derive(Clone, Default)]
/// struct Due(Rc<RefCell<Vec<Vec<TimerInfo>>>>);
///
/// impl SchedulePolicy for Due {
///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
///         0
///     }
///     fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
///         self.0.borrow_mut().push(due.to_vec());
///         0
///     }
/// }
///
/// let due = Due::default();
/// let at = trio::Builder::new().policy(due.clone()).run(async {
///     let at = trio::current_time() + Duration::from_millis(1);
///     trio::open_nursery(|nursery| async move {
///         for _ in 0..2 {
///             nursery.start_soon(async move {
///                 trio::sleep_until(at).await?;
///                 Ok(())
///             });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
///     at
/// });
/// let first = &due.0.borrow()[0];
/// assert_eq!(first.len(), 2);
/// assert!(first.iter().all(|timer| timer.deadline == at));
/// assert!(first[0].seq < first[1].seq); // creation order
/// ```
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

/// A choice a library asked the run to make (see [`lowlevel::choose`](crate::lowlevel::choose)),
/// as [`SchedulePolicy::choose`] sees it: how many options, what it is about, and their
/// weights. Option 0 is the default.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio::abc::SchedulePolicy;
/// use trio::lowlevel::{Choice, RunnableTasks};
///
/// #[derive(Clone, Default)]
/// struct Log(Rc<RefCell<Vec<(String, usize, Option<Vec<u32>>)>>>);
///
/// impl SchedulePolicy for Log {
///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
///         0
///     }
///     fn choose(&mut self, choice: &Choice<'_>) -> usize {
///         let weights = choice.weights().map(<[u32]>::to_vec);
///         self.0.borrow_mut().push((choice.what().to_string(), choice.len(), weights));
///         0
///     }
/// }
///
/// let log = Log::default();
/// trio::Builder::new().policy(log.clone()).run(async {
///     trio::lowlevel::choose(4, "jitter");
///     trio::lowlevel::choose_weighted(&[99, 1], "drop the segment?");
///     trio::lowlevel::choose(1, "no choice at all"); // not asked
/// });
/// assert_eq!(
///     *log.0.borrow(),
///     [("jitter".to_string(), 4, None), ("drop the segment?".to_string(), 2, Some(vec![99, 1]))]
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    options: usize,
    weights: Option<&'a [u32]>,
    what: &'a str,
}

impl<'a> Choice<'a> {
    pub(crate) fn new(options: usize, weights: Option<&'a [u32]>, what: &'a str) -> Choice<'a> {
        Choice { options, weights, what }
    }

    /// How many options; at least two when a policy is asked.
    ///
    /// # Examples
    ///
    /// See [`Choice`].
    pub fn len(&self) -> usize {
        self.options
    }

    /// Always `false`: a policy is only asked when there is a choice.
    ///
    /// # Examples
    ///
    /// See [`Choice`].
    pub fn is_empty(&self) -> bool {
        self.options == 0
    }

    /// What the choice is about, for traces ("drop the segment from a to b?").
    ///
    /// # Examples
    ///
    /// See [`Choice`].
    pub fn what(&self) -> &'a str {
        self.what
    }

    /// The relative weight of each option, if the caller gave any (uniform otherwise).
    ///
    /// # Examples
    ///
    /// See [`Choice`].
    pub fn weights(&self) -> Option<&'a [u32]> {
        self.weights
    }

    /// The weight of option `index`: 1 for every option of an unweighted choice.
    ///
    /// # Panics
    ///
    /// If `index >= len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SchedulePolicy;
    /// use trio::lowlevel::{Choice, RunnableTasks};
    ///
    /// /// Takes the heaviest option.
    /// struct Heaviest;
    ///
    /// impl SchedulePolicy for Heaviest {
    ///     fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
    ///         0
    ///     }
    ///     fn choose(&mut self, choice: &Choice<'_>) -> usize {
    ///         (0..choice.len()).max_by_key(|&i| choice.weight(i)).unwrap()
    ///     }
    /// }
    ///
    /// let pick = trio::Builder::new().policy(Heaviest).run(async { trio::lowlevel::choose_weighted(&[1, 5, 2], "x") });
    /// assert_eq!(pick, 1);
    /// ```
    pub fn weight(&self, index: usize) -> u32 {
        assert!(index < self.options, "option {index} of a choice with {} options", self.options);
        self.weights.map_or(1, |weights| weights[index])
    }
}
