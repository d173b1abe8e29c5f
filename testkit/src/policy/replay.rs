//! Replaying a recorded schedule.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use trio::abc::SchedulePolicy;
use trio::lowlevel::{Choice, RunnableTasks, Task, TaskId, TimerInfo};

/// A schedule as its changes to the default order. Two kinds of change:
///
/// - a **pick** (a preemption): at decision `n`, take this option instead of the first;
/// - a **hold** (a delay): from decision `a` to decision `b`, never run task `t` while another
///   task is runnable — one change that stands for a task held back over many decisions.
///
/// Every other decision takes the default. A pick wins over a hold at its own decision; when
/// every runnable task is held, the default is taken. A schedule can also inject cancellations
/// (see [`inject_cancel`](Schedule::inject_cancel)).
///
/// Schedules print as a short string, which `TRIO_REPLAY` accepts: `v1:12=t3,40=x1,57=o2` — at
/// decision 12 run task 3, at decision 40 fire the second due timer, at decision 57 take option
/// 2 of a [`choose`](trio::lowlevel::choose). A schedule with holds (or more than one injected
/// cancellation) prints as `v2:`, where `5-9=h2` holds task 2 back from decision 5 to decision
/// 9 (`5-=h2`: to the end of the run). Both versions parse; a schedule that `v1` can express
/// still prints as `v1`, so saved `v1` lines keep replaying unchanged.
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
    /// Holds as (first decision, last decision, task); `u64::MAX` as the last: to the end.
    holds: BTreeSet<(u64, u64, u64)>,
    /// Cancellations injected at (task, cancel point).
    injections: BTreeSet<(u64, u64)>,
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

    /// Injects a cancellation at the `cancel_point`-th cancel point of task `task`. Each call
    /// adds one: a schedule can inject several (it then prints as `v2`).
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
        self.injections.insert((task.as_u64(), cancel_point));
    }

    /// Holds task `task` back over the decisions `decisions` (both ends included): at those
    /// decisions the task runs only when no other task is runnable. `u64::MAX` as the end
    /// holds it to the end of the run.
    ///
    /// # Panics
    ///
    /// If the range is empty (it ends before it starts).
    ///
    /// # Examples
    ///
    /// Hold the first child back while the others run:
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::policy::{Replay, Schedule};
    ///
    /// let mut schedule = Schedule::new();
    /// schedule.hold(2, 1..=5); // task 2 waits from decision 1 to decision 5
    /// assert_eq!(schedule.to_string(), "v2:1-5=h2");
    /// assert_eq!(schedule.len(), 1); // one change
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
    /// assert_eq!(*log.borrow(), [1, 2, 0]);
    /// ```
    #[track_caller]
    pub fn hold(&mut self, task: u64, decisions: RangeInclusive<u64>) {
        assert!(decisions.start() <= decisions.end(), "a hold must not end before it starts: {decisions:?}");
        self.holds.insert((*decisions.start(), *decisions.end(), task));
    }

    /// Removes a hold added with [`hold`](Schedule::hold); `true` if there was one.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Schedule;
    ///
    /// let mut schedule: Schedule = "v2:3=t2,5-9=h4".parse().unwrap();
    /// assert!(schedule.remove_hold(4, 5..=9));
    /// assert!(!schedule.remove_hold(4, 5..=9));
    /// assert_eq!(schedule.to_string(), "v1:3=t2");
    /// ```
    pub fn remove_hold(&mut self, task: u64, decisions: RangeInclusive<u64>) -> bool {
        self.holds.remove(&(*decisions.start(), *decisions.end(), task))
    }

    /// The holds, as (task id, decisions), by first decision.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Schedule;
    ///
    /// let schedule: Schedule = "v2:5-9=h2,1-=h3".parse().unwrap();
    /// let holds: Vec<_> = schedule.holds().collect();
    /// assert_eq!(holds, [(3, 1..=u64::MAX), (2, 5..=9)]);
    /// ```
    pub fn holds(&self) -> impl Iterator<Item = (u64, RangeInclusive<u64>)> + '_ {
        self.holds.iter().map(|&(from, to, task)| (task, from..=to))
    }

    /// Every injected cancellation, as (task id, cancel point).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Schedule;
    ///
    /// let schedule: Schedule = "v2:c3.7,c2.1".parse().unwrap();
    /// let injections: Vec<_> = schedule.injections().collect();
    /// assert_eq!(injections, [(2, 1), (3, 7)]);
    /// ```
    pub fn injections(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.injections.iter().copied()
    }

    /// Removes every injected cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Schedule;
    ///
    /// let mut schedule: Schedule = "v1:4=t2,c3.1".parse().unwrap();
    /// schedule.clear_injections();
    /// assert_eq!(schedule.to_string(), "v1:4=t2");
    /// ```
    pub fn clear_injections(&mut self) {
        self.injections.clear();
    }

    /// Adds an injected cancellation by task number (as [`injections`](Schedule::injections)
    /// lists them).
    pub(crate) fn inject_cancel_at(&mut self, task: u64, cancel_point: u64) {
        self.injections.insert((task, cancel_point));
    }

    /// How this schedule decides task decision `number` among `len` runnable tasks whose ids
    /// `id` gives, in default order, leaving out `without` among the holds: the index to run,
    /// and whether the pick recorded there could not be followed.
    pub(crate) fn resolve_task(
        &self,
        number: u64,
        len: usize,
        id: impl Fn(usize) -> u64,
        without: Option<(u64, RangeInclusive<u64>)>,
    ) -> (usize, bool) {
        let mut diverged = false;
        match self.picks.get(&number) {
            None => {}
            Some(Pick::Task(task)) => match (0..len).find(|&i| id(i) == *task) {
                Some(i) => return (i, false),
                None => diverged = true,
            },
            Some(Pick::Timer(_) | Pick::Choice(_)) => diverged = true,
        }
        let skip = without.map(|(task, range)| (*range.start(), *range.end(), task));
        let held = |task: u64| {
            self.holds.range(..=(number, u64::MAX, u64::MAX)).any(|&hold| {
                let (_, to, held) = hold;
                held == task && to >= number && Some(hold) != skip
            })
        };
        let index = (0..len).find(|&i| !held(id(i))).unwrap_or(0);
        (index, diverged)
    }

    /// The holds that never held their task back in a run of this schedule, as they print
    /// (`5-9=h2`), given the run's task decisions as (decision number, the runnable tasks
    /// passed over there: those before the one that ran, in default order). A hold applied if
    /// its task was passed over at a decision of its span; one that never was changed nothing
    /// — the task was not runnable there, would not have run anyway, or the run ended before
    /// the span began.
    pub(crate) fn holds_not_applied<'t>(
        &self,
        passed_over: impl IntoIterator<Item = (u64, &'t [TaskId])>,
    ) -> Vec<String> {
        let mut applied = BTreeSet::new();
        for (number, tasks) in passed_over {
            for task in tasks {
                let task = task.as_u64();
                applied.extend(
                    self.holds
                        .range(..=(number, u64::MAX, u64::MAX))
                        .filter(|&&(_, to, held)| held == task && to >= number)
                        .copied(),
                );
            }
        }
        self.holds
            .iter()
            .filter(|hold| !applied.contains(*hold))
            .map(|&(from, to, task)| hold_text(from, to, task))
            .collect()
    }

    /// The injection, as (task id, cancel point); the first of them (by task, then cancel
    /// point) if there are several.
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
        self.injections.first().copied()
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

    /// How many changes to the default order: picks plus holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::policy::Schedule;
    ///
    /// let schedule: Schedule = "v1:1=t2,8=x1,c2.1".parse().unwrap();
    /// assert_eq!(schedule.len(), 2); // the injection is not a change of the order
    /// let schedule: Schedule = "v2:1=t2,3-40=h3".parse().unwrap();
    /// assert_eq!(schedule.len(), 2); // one hold is one change, however long
    /// ```
    pub fn len(&self) -> usize {
        self.picks.len() + self.holds.len()
    }

    /// `true` for the default order (injected cancellations aside).
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
        self.picks.is_empty() && self.holds.is_empty()
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
    /// `v1:` and the picks and injection, or `v2:` when there are holds or several injections.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v2 = !self.holds.is_empty() || self.injections.len() > 1;
        f.write_str(if v2 { "v2:" } else { "v1:" })?;
        // Picks and holds by the decision they start at, then the injections.
        let mut parts: Vec<(u64, String)> = self.picks.iter().map(|(n, pick)| (*n, format!("{n}={pick}"))).collect();
        for &(from, to, task) in &self.holds {
            parts.push((from, hold_text(from, to, task)));
        }
        parts.sort_by_key(|(n, _)| *n);
        let injections = self.injections.iter().map(|(task, point)| format!("c{task}.{point}"));
        let all: Vec<String> = parts.into_iter().map(|(_, part)| part).chain(injections).collect();
        f.write_str(&all.join(","))
    }
}

/// A hold as a schedule string writes it: `5-9=h2`, or `5-=h2` to the end of the run.
fn hold_text(from: u64, to: u64, task: u64) -> String {
    if to == u64::MAX { format!("{from}-=h{task}") } else { format!("{from}-{to}=h{task}") }
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
        write!(
            f,
            "not a schedule: {} (expected something like `v1:12=t3,40=x1`, or `v2:12=t3,5-9=h2` with holds)",
            self.0
        )
    }
}

impl std::error::Error for ScheduleParseError {}

impl FromStr for Schedule {
    type Err = ScheduleParseError;

    fn from_str(s: &str) -> Result<Schedule, ScheduleParseError> {
        let bad = |why: &str| ScheduleParseError(format!("{s:?}: {why}"));
        let s_trimmed = s.trim();
        let (body, v2) = match (s_trimmed.strip_prefix("v1:"), s_trimmed.strip_prefix("v2:")) {
            (Some(body), _) => (body, false),
            (_, Some(body)) => (body, true),
            _ => return Err(bad("it must start with `v1:` (or `v2:`)")),
        };
        let mut schedule = Schedule::new();
        for part in body.split(',').filter(|p| !p.is_empty()) {
            if let Some(inject) = part.strip_prefix('c') {
                let (task, point) = inject.split_once('.').ok_or_else(|| bad("an injection is `c<task>.<point>`"))?;
                let task = task.parse().map_err(|_| bad("bad task number"))?;
                let point = point.parse().map_err(|_| bad("bad cancel point"))?;
                if !v2 {
                    // Version 1 kept one injection: the last one written.
                    schedule.injections.clear();
                }
                schedule.injections.insert((task, point));
                continue;
            }
            let (n, pick) = part
                .split_once('=')
                .ok_or_else(|| bad("a pick is `<decision>=t<task>`, `=x<timer>` or `=o<option>`"))?;
            if let Some(task) = pick.strip_prefix('h') {
                if !v2 {
                    return Err(bad("a hold (`<from>-<to>=h<task>`) needs a `v2:` schedule"));
                }
                let (from, to) = n.split_once('-').ok_or_else(|| bad("a hold is `<from>-<to>=h<task>`"))?;
                let from: u64 = from.parse().map_err(|_| bad("bad first decision of a hold"))?;
                let to: u64 = if to.is_empty() {
                    u64::MAX
                } else {
                    to.parse().map_err(|_| bad("bad last decision of a hold"))?
                };
                if to < from {
                    return Err(bad("a hold ends before it starts"));
                }
                let task = task.parse().map_err(|_| bad("bad task id"))?;
                schedule.holds.insert((from, to, task));
                continue;
            }
            let n: u64 = n.parse().map_err(|_| bad("bad decision number"))?;
            let pick = if let Some(t) = pick.strip_prefix('t') {
                Pick::Task(t.parse().map_err(|_| bad("bad task id"))?)
            } else if let Some(i) = pick.strip_prefix('x') {
                Pick::Timer(i.parse().map_err(|_| bad("bad timer index"))?)
            } else if let Some(i) = pick.strip_prefix('o') {
                Pick::Choice(i.parse().map_err(|_| bad("bad option index"))?)
            } else {
                return Err(bad(if v2 { "a pick starts with t, x, o or h" } else { "a pick starts with t, x or o" }));
            };
            schedule.picks.insert(n, pick);
        }
        Ok(schedule)
    }
}

/// Replays a [`Schedule`]: the recorded picks at their decisions, its held tasks passed over
/// while others are runnable, the default everywhere else.
///
/// Replay is tolerant: if the program changed so that a recorded task is not runnable at its
/// decision, or fewer timers are due, the default is taken and the replay carries on (count
/// them with [`Replay::divergences`]). A hold whose task is never runnable ahead of the task
/// that runs in its span changes nothing; it is not counted there (an exploration's replay,
/// `TRIO_REPLAY`, names such holds in a warning).
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
        let (index, diverged) =
            self.schedule.resolve_task(self.decisions, runnable.len(), |i| runnable.id(i).as_u64(), None);
        if diverged {
            self.diverged();
        }
        index
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
        self.schedule.injections.contains(&(task.id().as_u64(), cancel_point))
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
