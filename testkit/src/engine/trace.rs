//! Recording a run: every scheduling decision and every task event, in order, as plain data
//! that prints as a readable trace, hashes for the determinism check, and snapshots with insta.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use trio::Instant;
use trio::abc::{Instrument, SchedulePolicy};
use trio::lowlevel::{Choice, RunnableTasks, Task, TaskId, TimerInfo, TimerKind};

/// One thing that happened in a run.
///
/// # Examples
///
/// ```
/// # use std::cell::RefCell;
/// # use std::rc::Rc;
/// # use trio_testkit::explore::{Explore, PolicyKind};
/// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
/// # let failure = Explore::new("a_before_b")
/// #     .schedules(20)
/// #     .policy(PolicyKind::Random)
/// #     .persist(false)
/// #     .run(|| async {
/// #         let log = Rc::new(RefCell::new(Vec::new()));
/// #         let l = log.clone();
/// #         trio::open_nursery(|nursery| async move {
/// #             for name in ["a", "b"] {
/// #                 let l = l.clone();
/// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
/// #             }
/// #             Ok(())
/// #         })
/// #         .await
/// #         .unwrap();
/// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
/// #     })
/// #     .unwrap_err();
/// use trio_testkit::explore::trace::Event;
///
/// let spawned: Vec<&str> = failure
///     .trace
///     .events()
///     .iter()
///     .filter_map(|event| match event {
///         Event::Spawn { name, .. } => Some(name.as_str()),
///         _ => None,
///     })
///     .collect();
/// assert_eq!(spawned, ["a_before_b", "a", "b"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A task was created.
    Spawn {
        /// Its id.
        task: TaskId,
        /// Its name.
        name: String,
        /// Where it was spawned (`file:line:column`).
        at: String,
        /// The task that started it.
        parent: Option<TaskId>,
        /// The nursery it runs in; `None` for the main task and system tasks.
        nursery: Option<InNursery>,
    },
    /// A scheduling decision with a real choice (two or more options).
    Decision(Decision),
    /// A task was polled.
    Step {
        /// The task.
        task: TaskId,
        /// Virtual time.
        time: Instant,
        /// The task's schedule points so far (its checkpoint number).
        checkpoint: u64,
        /// Where the task resumes: the line of the trio call at which it last yielded
        /// (`checkpoint()`, a sleep, a channel or lock operation), or `None` for its first
        /// step and for the runtime's own waits. Limitation: the networking, stream, thread and
        /// process APIs do not pass their caller's line down yet; their steps name the line
        /// inside trio where they yielded.
        at: Option<&'static std::panic::Location<'static>>,
    },
    /// A task exited.
    Exit {
        /// The task.
        task: TaskId,
        /// Its cancel points over its whole life.
        cancel_points: u64,
    },
    /// Nothing was runnable; the loop waited (or jumped the clock).
    Idle {
        /// Virtual time when it went idle.
        time: Instant,
    },
    /// A cancellation was injected at a task's cancel point.
    InjectedCancel {
        /// The task.
        task: TaskId,
        /// Which of its cancel points.
        cancel_point: u64,
    },
}

/// The nursery a task was spawned in, as a trace records it ([`Event::Spawn`]).
///
/// # Examples
///
/// ```
/// # use trio_testkit::explore::Explore;
/// use trio_testkit::explore::trace::Event;
///
/// let failure = Explore::new("two_nurseries")
///     .schedules(1)
///     .persist(false)
///     .run(|| async {
///         trio::open_nursery(|nursery| async move {
///             nursery.start_soon_named("first", async {});
///             Ok(())
///         })
///         .await?;
///         trio::open_nursery(|nursery| async move {
///             nursery.start_soon_named("second", async {});
///             Ok(())
///         })
///         .await?;
///         Err::<(), _>(trio::Error::msg("fails after both"))
///     })
///     .unwrap_err();
/// let nurseries: Vec<_> = failure
///     .trace
///     .events()
///     .iter()
///     .filter_map(|event| match event {
///         Event::Spawn { nursery: Some(nursery), .. } => Some(nursery.clone()),
///         _ => None,
///     })
///     .collect();
/// assert_eq!(nurseries.len(), 2);
/// assert_ne!(nurseries[0].id, nurseries[1].id); // one task each, in two nurseries
/// assert_eq!(nurseries[0].opened_by, nurseries[1].opened_by); // both opened by the main task
/// assert!(nurseries[0].opened_at.contains(".rs:"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InNursery {
    /// Tells the nursery apart from the run's other nurseries ([`trio::Nursery::id`]).
    pub id: u64,
    /// Where it was opened (`file:line:column`).
    pub opened_at: String,
    /// The task that opened it.
    pub opened_by: Option<TaskId>,
}

/// A scheduling decision as recorded.
///
/// # Examples
///
/// ```
/// # use std::cell::RefCell;
/// # use std::rc::Rc;
/// # use trio_testkit::explore::{Explore, PolicyKind};
/// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
/// # let failure = Explore::new("a_before_b")
/// #     .schedules(20)
/// #     .policy(PolicyKind::Random)
/// #     .persist(false)
/// #     .run(|| async {
/// #         let log = Rc::new(RefCell::new(Vec::new()));
/// #         let l = log.clone();
/// #         trio::open_nursery(|nursery| async move {
/// #             for name in ["a", "b"] {
/// #                 let l = l.clone();
/// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
/// #             }
/// #             Ok(())
/// #         })
/// #         .await
/// #         .unwrap();
/// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
/// #     })
/// #     .unwrap_err();
/// let decision = failure.trace.decisions().next().unwrap();
/// assert_eq!(decision.number, 1);
/// assert_eq!(decision.time, trio::Instant::ZERO);
/// assert_eq!(decision.index, 1); // the second option: task `b`
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Decisions are numbered from 1 in the order they were made.
    pub number: u64,
    /// Virtual time of the decision.
    pub time: Instant,
    /// What was decided.
    pub kind: DecisionKind,
    /// The index picked; 0 is the default (Trio's FIFO order).
    pub index: usize,
}

/// What a [`Decision`] chose between.
///
/// # Examples
///
/// ```
/// # use std::cell::RefCell;
/// # use std::rc::Rc;
/// # use trio_testkit::explore::{Explore, PolicyKind};
/// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
/// # let failure = Explore::new("a_before_b")
/// #     .schedules(20)
/// #     .policy(PolicyKind::Random)
/// #     .persist(false)
/// #     .run(|| async {
/// #         let log = Rc::new(RefCell::new(Vec::new()));
/// #         let l = log.clone();
/// #         trio::open_nursery(|nursery| async move {
/// #             for name in ["a", "b"] {
/// #                 let l = l.clone();
/// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
/// #             }
/// #             Ok(())
/// #         })
/// #         .await
/// #         .unwrap();
/// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
/// #     })
/// #     .unwrap_err();
/// use trio_testkit::explore::trace::DecisionKind;
///
/// let decision = failure.trace.decisions().next().unwrap();
/// let DecisionKind::Task { options } = &decision.kind else { panic!("a task decision") };
/// let ids: Vec<u64> = options.iter().map(|id| id.as_u64()).collect();
/// assert_eq!(ids, [2, 3]); // `a` and `b`, in default order
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionKind {
    /// Which runnable task steps next; the options are in default order.
    Task {
        /// The runnable tasks, in the order the default policy would pick them.
        options: Vec<TaskId>,
    },
    /// Which of several timers due at the same instant fires next.
    Timer {
        /// How many were due.
        options: usize,
        /// Whether the picked one was a sleep (else a cancel-scope deadline).
        sleep: bool,
    },
    /// A choice a library asked for with `trio::lowlevel::choose` (a simulated network's fault
    /// or jitter, say); option 0 is the default.
    Choice {
        /// How many options there were.
        options: usize,
        /// What the choice was about.
        what: String,
    },
}

impl Decision {
    /// `true` if the decision was not the default pick.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let decision = failure.trace.decisions().next().unwrap();
    /// assert!(decision.is_deviation()); // `b` ran although `a` was first in line
    /// ```
    pub fn is_deviation(&self) -> bool {
        self.index != 0
    }

    /// How many options the decision had.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let decision = failure.trace.decisions().next().unwrap();
    /// assert_eq!(decision.option_count(), 2);
    /// ```
    pub fn option_count(&self) -> usize {
        match &self.kind {
            DecisionKind::Task { options } => options.len(),
            DecisionKind::Timer { options, .. } | DecisionKind::Choice { options, .. } => *options,
        }
    }

    /// The replayable pick of option `index` of this decision.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// use trio_testkit::policy::Pick;
    ///
    /// let decision = failure.trace.decisions().next().unwrap();
    /// assert_eq!(decision.pick_of(0), Pick::Task(2)); // what the default order would have run
    /// assert_eq!(decision.pick_of(decision.index), Pick::Task(3));
    /// ```
    pub fn pick_of(&self, index: usize) -> crate::policy::Pick {
        match &self.kind {
            DecisionKind::Task { options } => crate::policy::Pick::Task(options[index].as_u64()),
            DecisionKind::Timer { .. } => crate::policy::Pick::Timer(index),
            DecisionKind::Choice { .. } => crate::policy::Pick::Choice(index),
        }
    }

    /// The task chosen, for a task decision.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let decision = failure.trace.decisions().next().unwrap();
    /// let chosen = decision.chosen_task().unwrap();
    /// assert_eq!(failure.trace.task_names()[&chosen], "b");
    /// ```
    pub fn chosen_task(&self) -> Option<TaskId> {
        match &self.kind {
            DecisionKind::Task { options } => options.get(self.index).copied(),
            DecisionKind::Timer { .. } | DecisionKind::Choice { .. } => None,
        }
    }
}

/// The full record of one run.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio_testkit::explore::{Explore, PolicyKind};
///
/// // A test that fails when task `b` runs before task `a`.
/// let failure = Explore::new("a_before_b")
///     .schedules(20)
///     .policy(PolicyKind::Random)
///     .persist(false)
///     .run(|| async {
///         let log = Rc::new(RefCell::new(Vec::new()));
///         let l = log.clone();
///         trio::open_nursery(|nursery| async move {
///             for name in ["a", "b"] {
///                 let l = l.clone();
///                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
///             }
///             Ok(())
///         })
///         .await
///         .unwrap();
///         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
///     })
///     .unwrap_err();
/// let trace = &failure.trace;
/// assert_eq!(trace.deviations().count(), 1);
/// // Display prints every event, one per line.
/// let text = trace.to_string();
/// assert!(text.contains("spawn task 3 `b` from task 1"));
/// assert!(text.contains("decision 1 at 0s: ran task 3 `b` instead of task 2 `a` (of 2 runnable)"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    events: Vec<Event>,
}

impl Trace {
    /// Every event, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// use trio_testkit::explore::trace::Event;
    ///
    /// let events = failure.trace.events();
    /// assert!(matches!(events.first(), Some(Event::Spawn { parent: None, .. }))); // the main task
    /// assert!(matches!(events.last(), Some(Event::Exit { .. })));
    /// ```
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Only the scheduling decisions.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// // One real choice in this run: which of the two children goes first.
    /// assert_eq!(failure.trace.decisions().count(), 1);
    /// ```
    pub fn decisions(&self) -> impl Iterator<Item = &Decision> {
        self.events.iter().filter_map(|e| match e {
            Event::Decision(d) => Some(d),
            _ => None,
        })
    }

    /// Decisions that deviated from the default order.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let numbers: Vec<u64> = failure.trace.deviations().map(|d| d.number).collect();
    /// assert_eq!(numbers, [1]);
    /// assert_eq!(failure.schedule.len(), numbers.len()); // the schedule is the deviations
    /// ```
    pub fn deviations(&self) -> impl Iterator<Item = &Decision> {
        self.decisions().filter(|d| d.is_deviation())
    }

    /// Names of every task that was spawned, by id, as reports print them: tasks that share a
    /// name are numbered in spawn order (`worker#1`, `worker#2`), so a story that switches
    /// between them stays readable.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let names: Vec<String> = failure.trace.task_names().into_values().collect();
    /// assert_eq!(names, ["a_before_b", "a", "b"]); // by task id
    /// ```
    pub fn task_names(&self) -> BTreeMap<TaskId, String> {
        let spawns: Vec<(TaskId, &str)> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Spawn { task, name, .. } => Some((*task, name.as_str())),
                _ => None,
            })
            .collect();
        let mut total: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, name) in &spawns {
            *total.entry(name).or_default() += 1;
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        spawns
            .iter()
            .map(|(task, name)| {
                if total[name] == 1 {
                    return (*task, name.to_string());
                }
                let number = seen.entry(name).or_default();
                *number += 1;
                (*task, format!("{name}#{number}"))
            })
            .collect()
    }

    /// Cancel points each task executed over its life (for tasks that exited).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let points: Vec<u64> = failure.trace.cancel_points().into_values().collect();
    /// // The children never checkpoint; the main task did once, leaving the nursery.
    /// assert_eq!(points, [1, 0, 0]);
    /// ```
    pub fn cancel_points(&self) -> BTreeMap<TaskId, u64> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Exit { task, cancel_points } => Some((*task, *cancel_points)),
                _ => None,
            })
            .collect()
    }

    /// A stable 64-bit hash of the whole trace (FNV-1a over its text).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let trace = failure.trace.clone();
    /// assert_eq!(trace.fingerprint(), failure.trace.fingerprint());
    /// assert_ne!(trace.fingerprint(), trio_testkit::explore::trace::Trace::default().fingerprint());
    /// ```
    pub fn fingerprint(&self) -> u64 {
        let text = format!("{:?}", self.events);
        crate::config::seed_from_name(&text)
    }

    /// The deviations of the run, and its injected cancellation, as a replayable schedule.
    pub(crate) fn schedule(&self) -> crate::policy::Schedule {
        let mut schedule = crate::policy::Schedule::new();
        for d in self.deviations() {
            schedule.insert(d.number, d.pick_of(d.index));
        }
        for event in &self.events {
            if let Event::InjectedCancel { task, cancel_point } = event {
                schedule.inject_cancel(*task, *cancel_point);
            }
        }
        schedule
    }

    /// The index and both versions of the first event where two traces differ, if they do.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// use trio_testkit::explore::trace::Trace;
    ///
    /// let trace = &failure.trace;
    /// assert_eq!(trace.first_difference(trace), None);
    /// let empty = Trace::default();
    /// let (index, ours, theirs) = trace.first_difference(&empty).unwrap();
    /// assert_eq!(index, 0);
    /// assert_eq!(ours, trace.events().first());
    /// assert_eq!(theirs, None);
    /// ```
    pub fn first_difference<'a>(&'a self, other: &'a Trace) -> Option<(usize, Option<&'a Event>, Option<&'a Event>)> {
        let len = self.events.len().max(other.events.len());
        (0..len).find_map(|i| {
            let (a, b) = (self.events.get(i), other.events.get(i));
            (a != b).then_some((i, a, b))
        })
    }

    /// The last `n` decisions, one per line, with task names.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let text = failure.trace.describe_last_decisions(12);
    /// assert_eq!(text.trim(), "decision 1 at 0s: ran task 3 `b` instead of task 2 `a` (of 2 runnable)");
    /// ```
    pub fn describe_last_decisions(&self, n: usize) -> String {
        let names = self.task_names();
        let decisions: Vec<&Decision> = self.decisions().collect();
        let skip = decisions.len().saturating_sub(n);
        let mut out = String::new();
        if skip > 0 {
            out.push_str(&format!("    … {skip} earlier decisions\n"));
        }
        for d in &decisions[skip..] {
            out.push_str(&format!("    {}\n", describe_decision(d, &names)));
        }
        out
    }

    /// The schedule as a readable story: every step with its task, virtual time and where the
    /// task resumes (`start`, or `at file:line` of the trio call at which it last yielded —
    /// `checkpoint N` when that is not known), deviations from the default order marked with
    /// `*`. Long runs show their last `max_steps` steps.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::cell::RefCell;
    /// # use std::rc::Rc;
    /// # use trio_testkit::explore::{Explore, PolicyKind};
    /// // `failure`: an exploration of a test that fails when task `b` runs before task `a`.
    /// # let failure = Explore::new("a_before_b")
    /// #     .schedules(20)
    /// #     .policy(PolicyKind::Random)
    /// #     .persist(false)
    /// #     .run(|| async {
    /// #         let log = Rc::new(RefCell::new(Vec::new()));
    /// #         let l = log.clone();
    /// #         trio::open_nursery(|nursery| async move {
    /// #             for name in ["a", "b"] {
    /// #                 let l = l.clone();
    /// #                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    /// #             }
    /// #             Ok(())
    /// #         })
    /// #         .await
    /// #         .unwrap();
    /// #         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    /// #     })
    /// #     .unwrap_err();
    /// let story = failure.trace.describe_steps(40);
    /// let lines: Vec<&str> = story.lines().map(str::trim).collect();
    /// assert_eq!(lines[1], "* [0s] task 3 `b` (start)"); // the deviation, marked
    /// assert_eq!(lines[2], "^ decision 1 at 0s: ran task 3 `b` instead of task 2 `a` (of 2 runnable)");
    /// // A long story shows its tail, after a note of what was left out.
    /// let tail = failure.trace.describe_steps(2);
    /// assert_eq!(tail.lines().count(), 3);
    /// assert!(tail.starts_with("  … "));
    /// ```
    pub fn describe_steps(&self, max_steps: usize) -> String {
        let names = self.task_names();
        // One entry per step (with the note on a deviation under it) or per injection.
        let mut entries: Vec<(bool, String)> = Vec::new();
        let mut pending_deviation: Option<String> = None;
        for event in &self.events {
            match event {
                Event::Decision(d) if d.is_deviation() => pending_deviation = Some(describe_decision(d, &names)),
                Event::Step { task, time, checkpoint, at } => {
                    let name = names.get(task).map(String::as_str).unwrap_or("?");
                    let mark = if pending_deviation.is_some() { "*" } else { " " };
                    let place = StepPlace(*checkpoint, *at);
                    let mut text = format!("  {mark} [{time}] task {task} `{name}` ({place})\n");
                    if let Some(why) = pending_deviation.take() {
                        text.push_str(&format!("        ^ {why}\n"));
                    }
                    entries.push((true, text));
                }
                Event::InjectedCancel { task, cancel_point } => {
                    let name = names.get(task).map(String::as_str).unwrap_or("?");
                    entries.push((
                        false,
                        format!("  ! cancellation injected at cancel point {cancel_point} of task {task} `{name}`\n"),
                    ));
                }
                _ => {}
            }
        }
        let steps = entries.iter().filter(|(step, _)| *step).count();
        let mut skipped_steps = steps.saturating_sub(max_steps);
        let mut out = String::new();
        if skipped_steps > 0 {
            out.push_str(&format!("  … {skipped_steps} earlier steps\n"));
        }
        for (step, text) in &entries {
            if skipped_steps > 0 {
                if *step {
                    skipped_steps -= 1;
                }
                continue;
            }
            out.push_str(text);
        }
        out
    }
}

/// Where a step resumes, as traces print it: "start" for a task's first step, "at file:line"
/// where it last yielded, or "checkpoint N" when the place is not known.
struct StepPlace(u64, Option<&'static std::panic::Location<'static>>);

impl fmt::Display for StepPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            StepPlace(0, _) => write!(f, "start"),
            StepPlace(_, Some(at)) => write!(f, "at {}:{}", at.file(), at.line()),
            StepPlace(checkpoint, None) => write!(f, "checkpoint {checkpoint}"),
        }
    }
}

fn describe_decision(d: &Decision, names: &BTreeMap<TaskId, String>) -> String {
    let name = |id: &TaskId| names.get(id).map(String::as_str).unwrap_or("?").to_string();
    match &d.kind {
        DecisionKind::Task { options } => {
            let chosen = &options[d.index];
            if d.index == 0 {
                format!(
                    "decision {} at {}: task {chosen} `{}` (the default, of {})",
                    d.number,
                    d.time,
                    name(chosen),
                    options.len()
                )
            } else {
                format!(
                    "decision {} at {}: ran task {chosen} `{}` instead of task {} `{}` (of {} runnable)",
                    d.number,
                    d.time,
                    name(chosen),
                    options[0],
                    name(&options[0]),
                    options.len()
                )
            }
        }
        DecisionKind::Timer { options, sleep } => format!(
            "decision {} at {}: fired timer {} of {} due at once ({})",
            d.number,
            d.time,
            d.index,
            options,
            if *sleep { "a sleep" } else { "a deadline" }
        ),
        DecisionKind::Choice { options, what } => format!(
            "decision {} at {}: {what} — option {} of {options}{}",
            d.number,
            d.time,
            d.index,
            if d.index == 0 { " (the default)" } else { "" }
        ),
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.task_names();
        for event in &self.events {
            match event {
                Event::Spawn { task, name, at, parent, .. } => {
                    let name = names.get(task).map_or(name.as_str(), String::as_str);
                    match parent {
                        Some(p) => writeln!(f, "spawn task {task} `{name}` from task {p} at {at}")?,
                        None => writeln!(f, "spawn task {task} `{name}` at {at}")?,
                    }
                }
                Event::Decision(d) => writeln!(f, "{}", describe_decision(d, &names))?,
                Event::Step { task, time, checkpoint, at } => writeln!(
                    f,
                    "[{time}] step task {task} `{}` ({})",
                    names.get(task).map(String::as_str).unwrap_or("?"),
                    StepPlace(*checkpoint, *at)
                )?,
                Event::Exit { task, cancel_points } => {
                    writeln!(f, "exit task {task} after {cancel_points} cancel points")?
                }
                Event::Idle { time } => writeln!(f, "[{time}] idle")?,
                Event::InjectedCancel { task, cancel_point } => {
                    writeln!(f, "cancellation injected at cancel point {cancel_point} of task {task}")?
                }
            }
        }
        Ok(())
    }
}

// ===== recording =====

/// The shared log a fully recorded run writes to.
#[derive(Clone, Default)]
pub(crate) struct TraceLog {
    events: Rc<RefCell<Vec<Event>>>,
}

impl TraceLog {
    fn push(&self, event: Event) {
        self.events.borrow_mut().push(event);
    }

    pub(crate) fn take(&self) -> Trace {
        Trace { events: std::mem::take(&mut *self.events.borrow_mut()) }
    }
}

/// What every run records, cheaply: how many decisions, the deviations from the default order
/// (a replayable schedule), and a running hash of every decision for counting distinct
/// schedules.
#[derive(Clone, Default)]
pub(crate) struct RunSummary {
    inner: Rc<SummaryInner>,
}

#[derive(Default)]
struct SummaryInner {
    decisions: std::cell::Cell<u64>,
    hash: std::cell::Cell<u64>,
    /// Deviations in decision order (a `Schedule` is built only when asked for).
    deviations: RefCell<Vec<(u64, crate::policy::Pick)>>,
    injected: std::cell::Cell<Option<(TaskId, u64)>>,
}

impl RunSummary {
    fn decide(&self, index: usize, pick: impl FnOnce() -> crate::policy::Pick) -> u64 {
        let number = self.inner.decisions.get() + 1;
        self.inner.decisions.set(number);
        // FNV-1a over the indices picked: distinct choice sequences hash apart.
        let hash = if number == 1 { crate::config::FNV_OFFSET } else { self.inner.hash.get() };
        self.inner.hash.set(crate::config::fnv1a(hash, &(index as u64).to_le_bytes()));
        if index != 0 {
            self.inner.deviations.borrow_mut().push((number, pick()));
        }
        number
    }

    fn injected(&self, task: TaskId, cancel_point: u64) {
        self.inner.injected.set(Some((task, cancel_point)));
    }

    /// Decisions made so far.
    pub(crate) fn decisions(&self) -> u64 {
        self.inner.decisions.get()
    }

    /// The changes the run made to the default order: `schedule().len()`, without building
    /// the schedule (a summary records picks only, one per decision number, and no holds).
    pub(crate) fn changes(&self) -> usize {
        let changes = self.inner.deviations.borrow().len();
        debug_assert_eq!(changes, self.schedule().len(), "one change per deviating decision");
        changes
    }

    /// A hash of every decision: equal for runs that chose the same way.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.inner.hash.get()
    }

    /// The deviations from the default order (and the injection, if any).
    pub(crate) fn schedule(&self) -> crate::policy::Schedule {
        let mut schedule = crate::policy::Schedule::new();
        for (number, pick) in self.inner.deviations.borrow().iter() {
            schedule.insert(*number, *pick);
        }
        if let Some((task, point)) = self.inner.injected.get() {
            schedule.inject_cancel(task, point);
        }
        schedule
    }
}

fn now() -> Instant {
    if trio::lowlevel::in_run() { trio::current_time() } else { Instant::ZERO }
}

/// The instrument half of a full recording.
pub(crate) struct TraceInstrument(pub(crate) TraceLog);

impl Instrument for TraceInstrument {
    fn task_spawned(&self, task: &Task) {
        self.0.push(Event::Spawn {
            task: task.id(),
            name: task.name().to_string(),
            at: task.spawn_location().to_string(),
            parent: task.parent(),
            nursery: task.parent_nursery().map(|nursery| InNursery {
                id: nursery.id(),
                opened_at: nursery.opened_at().to_string(),
                opened_by: nursery.parent_task().map(|t| t.id()),
            }),
        });
    }

    fn before_task_step(&self, task: &Task) {
        self.0.push(Event::Step {
            task: task.id(),
            time: now(),
            checkpoint: task.schedule_points(),
            at: task.last_schedule_point(),
        });
    }

    fn task_exited(&self, task: &Task) {
        self.0.push(Event::Exit { task: task.id(), cancel_points: task.cancel_points() });
    }

    fn before_io_wait(&self, _timeout: Option<Duration>) {
        self.0.push(Event::Idle { time: now() });
    }
}

/// The policy half: wraps the real policy and records what it decided — always in the
/// summary, and as events when the run is fully recorded.
pub(crate) struct Recording {
    pub(crate) inner: Box<dyn SchedulePolicy>,
    pub(crate) summary: RunSummary,
    pub(crate) log: Option<TraceLog>,
}

impl SchedulePolicy for Recording {
    fn start(&mut self, seed: u64) {
        self.inner.start(seed);
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        let index = self.inner.pick_task(runnable);
        let number = self.summary.decide(index, || crate::policy::Pick::Task(runnable.id(index).as_u64()));
        if let Some(log) = &self.log {
            let options = (0..runnable.len()).map(|i| runnable.id(i)).collect();
            log.push(Event::Decision(Decision { number, time: now(), kind: DecisionKind::Task { options }, index }));
        }
        index
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        let index = self.inner.pick_timer(due);
        let number = self.summary.decide(index, || crate::policy::Pick::Timer(index));
        if let Some(log) = &self.log {
            let sleep = due.get(index).is_some_and(|t| t.kind == TimerKind::Sleep);
            log.push(Event::Decision(Decision {
                number,
                time: now(),
                kind: DecisionKind::Timer { options: due.len(), sleep },
                index,
            }));
        }
        index
    }

    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        let index = self.inner.choose(choice);
        let number = self.summary.decide(index, || crate::policy::Pick::Choice(index));
        if let Some(log) = &self.log {
            log.push(Event::Decision(Decision {
                number,
                time: now(),
                kind: DecisionKind::Choice { options: choice.len(), what: choice.what().to_string() },
                index,
            }));
        }
        index
    }

    fn inject_cancel(&mut self, task: &Task, cancel_point: u64) -> bool {
        let inject = self.inner.inject_cancel(task, cancel_point);
        if inject {
            self.summary.injected(task.id(), cancel_point);
            if let Some(log) = &self.log {
                log.push(Event::InjectedCancel { task: task.id(), cancel_point });
            }
        }
        inject
    }
}
