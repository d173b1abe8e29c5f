//! Replaying a recorded schedule.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use trio::abc::SchedulePolicy;
use trio::lowlevel::{Choice, RunnableTasks, Task, TaskId, TimerInfo};

/// A schedule as the deviations from the default order: at decision `n`, pick this instead
/// of the first option. Every other decision takes the default.
///
/// Schedules print as a short string (`v1:12=t3,40=x1,57=o2` — at decision 12 run task 3, at
/// decision 40 fire the second due timer, at decision 57 take option 2 of a
/// [`choose`](trio::lowlevel::choose)), which `TRIO_REPLAY` accepts.
///
/// # Examples
///
/// ```
/// use trio_testkit::policy::Schedule;
///
/// let schedule: Schedule = "v1:12=t3,40=x1".parse().unwrap();
/// assert_eq!(schedule.len(), 2);
/// assert_eq!(schedule.to_string(), "v1:12=t3,40=x1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    picks: BTreeMap<u64, Pick>,
    /// Cancellation injected at (task, cancel point), if any.
    inject: Option<(u64, u64)>,
}

/// A non-default pick in a [`Schedule`].
///
/// # Examples
///
/// ```
/// use trio_testkit::policy::{Pick, Schedule};
///
/// let schedule: Schedule = "v1:3=t5,9=x1".parse().unwrap();
/// let picks: Vec<(u64, Pick)> = schedule.picks().collect();
/// assert_eq!(picks, [(3, Pick::Task(5)), (9, Pick::Timer(1))]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Run this task (if runnable; otherwise fall back to the default).
    Task(u64),
    /// Fire the due timer with this index (if there are that many; otherwise the default).
    Timer(usize),
    /// Take this option of a [`choose`](trio::lowlevel::choose) (if there are that many;
    /// otherwise the default).
    Choice(usize),
}

impl Schedule {
    /// The empty schedule: the default order everywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Schedule;
    ///
    /// let schedule = Schedule::new();
    /// assert!(schedule.is_empty());
    /// assert_eq!(schedule.to_string(), "v1:");
    /// assert_eq!("v1:".parse::<Schedule>().unwrap(), schedule);
    /// ```
    pub fn new() -> Schedule {
        Schedule::default()
    }

    /// Adds a pick at decision `number`.
    ///
    /// # Examples
    ///
    /// Run the last-started child first:
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::policy::{Pick, Replay, Schedule};
    ///
    /// let mut schedule = Schedule::new();
    /// schedule.insert(1, Pick::Task(4)); // at the first choice, run task 4
    /// assert_eq!(schedule.to_string(), "v1:1=t4");
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let l = log.clone();
    /// trio::Builder::new().policy(Replay::new(schedule)).run(async move {
    ///     trio::open_nursery(|nursery| async move {
    ///         for i in 0..3 {
    ///             let l = l.clone();
    ///             nursery.start_soon(async move { l.borrow_mut().push(i) }); // tasks 2, 3, 4
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert_eq!(*log.borrow(), [2, 0, 1]);
    /// ```
    pub fn insert(&mut self, number: u64, pick: Pick) {
        self.picks.insert(number, pick);
    }

    /// Removes the pick at decision `number`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::{Pick, Schedule};
    ///
    /// let mut schedule: Schedule = "v1:4=t2,7=t3".parse().unwrap();
    /// assert_eq!(schedule.remove(4), Some(Pick::Task(2)));
    /// assert_eq!(schedule.remove(4), None);
    /// assert_eq!(schedule.to_string(), "v1:7=t3");
    /// ```
    pub fn remove(&mut self, number: u64) -> Option<Pick> {
        self.picks.remove(&number)
    }

    /// Injects a cancellation at the `cancel_point`-th cancel point of task `task`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_testkit::policy::{Replay, Schedule};
    ///
    /// let main = trio::run(async { trio::lowlevel::current_task().id() });
    /// let mut schedule = Schedule::new();
    /// schedule.inject_cancel(main, 1); // the main task's first cancel point
    /// assert_eq!(schedule.to_string(), "v1:c1.1");
    ///
    /// let outcome = trio::Builder::new().policy(Replay::new(schedule)).run(async {
    ///     trio::move_on_after(Duration::from_secs(3600), async {
    ///         trio::checkpoint().await?; // cancelled here, as if the hour had passed
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap()
    /// });
    /// assert_eq!(outcome, None);
    /// ```
    pub fn inject_cancel(&mut self, task: TaskId, cancel_point: u64) {
        self.inject = Some((task.as_u64(), cancel_point));
    }

    /// The injection, as (task id, cancel point).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Schedule;
    ///
    /// let schedule: Schedule = "v1:5=t2,c3.7".parse().unwrap();
    /// assert_eq!(schedule.injection(), Some((3, 7))); // task 3, cancel point 7
    /// assert_eq!(Schedule::new().injection(), None);
    /// ```
    pub fn injection(&self) -> Option<(u64, u64)> {
        self.inject
    }

    /// The picks, by decision number.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::{Pick, Schedule};
    ///
    /// let mut schedule = Schedule::new();
    /// schedule.insert(20, Pick::Timer(1));
    /// schedule.insert(10, Pick::Task(3));
    /// let numbers: Vec<u64> = schedule.picks().map(|(n, _)| n).collect();
    /// assert_eq!(numbers, [10, 20]); // in decision order
    /// ```
    pub fn picks(&self) -> impl Iterator<Item = (u64, Pick)> + '_ {
        self.picks.iter().map(|(n, p)| (*n, *p))
    }

    /// How many deviations from the default order.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Schedule;
    ///
    /// let schedule: Schedule = "v1:1=t2,8=x1,c2.1".parse().unwrap();
    /// assert_eq!(schedule.len(), 2); // the injection is not a deviation of the order
    /// ```
    pub fn len(&self) -> usize {
        self.picks.len()
    }

    /// `true` for the default order.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::{Pick, Schedule};
    ///
    /// let mut schedule = Schedule::new();
    /// assert!(schedule.is_empty());
    /// schedule.insert(1, Pick::Task(2));
    /// assert!(!schedule.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.picks.is_empty()
    }
}

impl fmt::Display for Pick {
    /// `t3` (run task 3), `x1` (fire the second due timer) or `o2` (take the third option of a
    /// choice), as in a schedule string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pick::Task(t) => write!(f, "t{t}"),
            Pick::Timer(i) => write!(f, "x{i}"),
            Pick::Choice(i) => write!(f, "o{i}"),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v1:")?;
        let mut first = true;
        for (n, pick) in &self.picks {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{n}={pick}")?;
        }
        if let Some((task, point)) = self.inject {
            write!(f, "{}c{task}.{point}", if first { "" } else { "," })?;
        }
        Ok(())
    }
}

/// A schedule string that could not be read.
///
/// # Examples
///
/// ```
/// use trio_testkit::policy::{Schedule, ScheduleParseError};
///
/// let err: ScheduleParseError = "12=t3".parse::<Schedule>().unwrap_err();
/// assert!(err.to_string().contains("it must start with `v1:`"));
/// assert!("v1:12=q3".parse::<Schedule>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleParseError(String);

impl fmt::Display for ScheduleParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a schedule: {} (expected something like `v1:12=t3,40=x1`)", self.0)
    }
}

impl std::error::Error for ScheduleParseError {}

impl FromStr for Schedule {
    type Err = ScheduleParseError;

    fn from_str(s: &str) -> Result<Schedule, ScheduleParseError> {
        let bad = |why: &str| ScheduleParseError(format!("{s:?}: {why}"));
        let body = s.trim().strip_prefix("v1:").ok_or_else(|| bad("it must start with `v1:`"))?;
        let mut schedule = Schedule::new();
        for part in body.split(',').filter(|p| !p.is_empty()) {
            if let Some(inject) = part.strip_prefix('c') {
                let (task, point) = inject.split_once('.').ok_or_else(|| bad("an injection is `c<task>.<point>`"))?;
                let task = task.parse().map_err(|_| bad("bad task number"))?;
                let point = point.parse().map_err(|_| bad("bad cancel point"))?;
                schedule.inject = Some((task, point));
                continue;
            }
            let (n, pick) = part
                .split_once('=')
                .ok_or_else(|| bad("a pick is `<decision>=t<task>`, `=x<timer>` or `=o<option>`"))?;
            let n: u64 = n.parse().map_err(|_| bad("bad decision number"))?;
            let pick = if let Some(t) = pick.strip_prefix('t') {
                Pick::Task(t.parse().map_err(|_| bad("bad task id"))?)
            } else if let Some(i) = pick.strip_prefix('x') {
                Pick::Timer(i.parse().map_err(|_| bad("bad timer index"))?)
            } else if let Some(i) = pick.strip_prefix('o') {
                Pick::Choice(i.parse().map_err(|_| bad("bad option index"))?)
            } else {
                return Err(bad("a pick starts with t, x or o"));
            };
            schedule.picks.insert(n, pick);
        }
        Ok(schedule)
    }
}

/// Replays a [`Schedule`]: the recorded picks at their decisions, the default everywhere else.
///
/// Replay is tolerant: if the program changed so that a recorded task is not runnable at its
/// decision, or fewer timers are due, the default is taken and the replay carries on (count
/// them with [`Replay::divergences`]).
///
/// # Examples
///
/// ```
/// use trio_testkit::policy::{Replay, Schedule};
///
/// let replay = Replay::new(Schedule::new()); // the default order
/// trio::Builder::new().policy(replay).run(async {});
/// ```
#[derive(Debug, Clone)]
pub struct Replay {
    schedule: Schedule,
    decisions: u64,
    divergences: std::rc::Rc<std::cell::Cell<u64>>,
}

impl Replay {
    /// Replays `schedule`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::policy::{Replay, Schedule};
    ///
    /// // A program whose order depends on the schedule.
    /// fn run(policy: impl trio::abc::SchedulePolicy + 'static) -> Vec<u32> {
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let l = log.clone();
    ///     trio::Builder::new().policy(policy).seed(3).run(async move {
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
    /// assert_eq!(run(Replay::new(Schedule::new())), [0, 1, 2]); // the default order
    /// let schedule: Schedule = "v1:1=t3".parse().unwrap();
    /// assert_eq!(run(Replay::new(schedule)), [1, 0, 2]);
    /// ```
    pub fn new(schedule: Schedule) -> Replay {
        Replay { schedule, decisions: 0, divergences: Default::default() }
    }

    /// A counter of picks that could not be followed; shared, so read it after the run.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::{Replay, Schedule};
    ///
    /// // Task 99 never exists: the pick cannot be followed.
    /// let replay = Replay::new("v1:1=t99".parse::<Schedule>().unwrap());
    /// let divergences = replay.divergences();
    /// trio::Builder::new().policy(replay).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async {});
    ///         nursery.start_soon(async {});
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert_eq!(divergences.get(), 1);
    /// ```
    pub fn divergences(&self) -> std::rc::Rc<std::cell::Cell<u64>> {
        self.divergences.clone()
    }

    fn diverged(&self) -> usize {
        self.divergences.set(self.divergences.get() + 1);
        0
    }
}

impl SchedulePolicy for Replay {
    fn start(&mut self, _seed: u64) {
        self.decisions = 0;
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        self.decisions += 1;
        match self.schedule.picks.get(&self.decisions) {
            None => 0,
            Some(Pick::Task(id)) => {
                (0..runnable.len()).find(|&i| runnable.id(i).as_u64() == *id).unwrap_or_else(|| self.diverged())
            }
            Some(Pick::Timer(_) | Pick::Choice(_)) => self.diverged(),
        }
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        self.decisions += 1;
        match self.schedule.picks.get(&self.decisions) {
            None => 0,
            Some(Pick::Timer(i)) if *i < due.len() => *i,
            Some(_) => self.diverged(),
        }
    }

    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        self.decisions += 1;
        match self.schedule.picks.get(&self.decisions) {
            None => 0,
            Some(Pick::Choice(i)) if *i < choice.len() => *i,
            Some(_) => self.diverged(),
        }
    }

    fn inject_cancel(&mut self, task: &Task, cancel_point: u64) -> bool {
        self.schedule.inject == Some((task.id().as_u64(), cancel_point))
    }
}

/// Wraps a policy and injects one cancellation at the `cancel_point`-th cancel point of a task.
#[derive(Debug)]
pub(crate) struct InjectCancel<P> {
    pub(crate) inner: P,
    pub(crate) task: u64,
    pub(crate) cancel_point: u64,
}

impl<P: SchedulePolicy> SchedulePolicy for InjectCancel<P> {
    fn start(&mut self, seed: u64) {
        self.inner.start(seed);
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        self.inner.pick_task(runnable)
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        self.inner.pick_timer(due)
    }

    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        self.inner.choose(choice)
    }

    fn inject_cancel(&mut self, task: &Task, cancel_point: u64) -> bool {
        task.id().as_u64() == self.task && cancel_point == self.cancel_point
    }
}
