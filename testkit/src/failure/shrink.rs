//! Shrinking a failing schedule to the few changes that explain it.
//!
//! A schedule recorded from a random or PCT run deviates from the default order at many
//! decisions, and most of those deviations only hold one task back a little longer: a task
//! kept waiting over ten decisions is ten deviations. Shrinking therefore works in the space of
//! *changes* a person would name — a **pick** (run this task now: a preemption), a **hold**
//! (keep this task waiting from decision `a` to decision `b`: a delay, as in delay-bounded
//! scheduling) and an **injected cancellation** — so a task held back over many decisions
//! costs one change, not one per decision. In order:
//!
//! 1. if the default order (with the same injected cancellations) fails, nothing else is needed;
//! 2. the failing run is rewritten as holds: every task passed over at a decision is held,
//!    from the first decision it was passed over to the last before it next ran — the same run,
//!    exactly, in far fewer changes;
//! 3. rounds of: merging the holds of one task into one longer hold; delta debugging (Zeller's
//!    ddmin) over the changes, until no chunk can be dropped; merging again; moving each
//!    injected cancellation to the earliest cancel point of its task that still fails; when
//!    that changes nothing, ending each hold as early as the schedule still fails (below); and
//!    when that changes nothing either, *refitting*: dropping one change while moving another
//!    by 1, 2, 4, … decisions — dropping a change shifts the decisions after it, so a schedule
//!    ddmin cannot shrink where its changes stand often shrinks once one of them moves. Until
//!    a round changes nothing;
//! 4. a bounded exhaustive search (iterative deepening, as in CHESS's preemption bounding) for a
//!    failing schedule with fewer changes placed anywhere, each a pick or a hold of the default
//!    task for 2, 4, 8, … decisions or to the end; at most 500 runs, as it grows with the
//!    run's length and rarely finds what the earlier phases missed;
//! 5. tidying: each hold ends as early as the schedule still fails (a binary search), is cut
//!    to the decisions where it changed what ran, and a hold of one decision becomes the pick
//!    it amounts to — of two schedules with as many changes, the one that holds tasks back for
//!    fewer decisions says more precisely what the bug needs.
//!
//! Every candidate is run and counts only if it fails the same way (the same kind of failure).
//! All phases share one budget of 2,000 runs.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use super::{Failure, Shrunk};
use crate::engine::trace::{DecisionKind, Trace};
use crate::engine::{FailureKind, Fixtures, PolicySpec, Recorded, RunOutcome, Runner, TestResult};
use crate::policy::{Pick, Schedule};

/// Runs spent shrinking one failure, at most.
const MAX_RUNS: u64 = 2_000;

/// The most changes phase 4 searches for exhaustively.
const MAX_SEARCH_CHANGES: usize = 3;

/// Runs phase 4 may spend, at most: a schedule that earlier phases could not shrink below `k`
/// changes rarely has a smaller one far away, and the search grows with the run's length.
const MAX_SEARCH_RUNS: u64 = 500;

pub(super) fn shrink<F, Fut>(runner: &Runner<'_, F>, failure: &Failure) -> Option<Shrunk>
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    let from = failure.schedule.len();
    let mut shrinker = Shrinker { runner, kind: failure.kind, seed: failure.seed, runs: 0 };
    let original = changes_of(&failure.schedule);
    let injections: Vec<Change> = original.iter().copied().filter(|c| !c.is_order()).collect();

    // The default order itself may fail: then no reordering is needed.
    let mut current = if shrinker.fails(&injections) {
        injections
    } else {
        let trace = shrinker.trace_if_fails(&original)?;
        let rewritten = as_holds(&trace, &injections);
        // Invariant: `original` fails; every later candidate is kept only if it fails too.
        if shrinker.fails(&rewritten) { rewritten } else { original.clone() }
    };
    loop {
        let before = current.clone();
        current = shrinker.merge(current);
        current = shrinker.ddmin(current);
        current = shrinker.merge(current);
        current = shrinker.earlier_injections(current);
        if current == before {
            // Holds merged from a run that kept tasks waiting in long bursts (POS, SURW) span
            // most of the run: each then decides nearly every decision its task is runnable
            // at, so dropping any other change shifts them all and nothing can be dropped.
            // Ended where the failure needs them, they act locally and the rest can go.
            current = shrinker.shorten(current);
        }
        if current == before {
            current = shrinker.refit(current);
        }
        if current == before || shrinker.exhausted() {
            break;
        }
    }
    current = shrinker.search(current);
    current = shrinker.shorten(current);
    current = shrinker.tidy(current);
    if schedule_of(&current).len() > from {
        // Rewriting as holds cost more changes than it saved: the failing schedule is smaller.
        current = original;
    }
    let last = shrinker.run(&current, Recorded::Full);
    Some(Shrunk { schedule: schedule_of(&current), trace: last.trace, from, runs: shrinker.runs })
}

/// One change to the default order, or an injected cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// At this decision, take this pick.
    Pick(u64, Pick),
    /// Hold `task` back from decision `from` to decision `to`.
    Hold { task: u64, from: u64, to: u64 },
    /// Cancel at the `point`-th cancel point of `task`.
    Inject { task: u64, point: u64 },
}

impl Change {
    /// The decision where the change starts to act (0 for an injection).
    fn start(&self) -> u64 {
        match self {
            Change::Pick(n, _) => *n,
            Change::Hold { from, .. } => *from,
            Change::Inject { .. } => 0,
        }
    }

    /// `true` for a change of the order (not an injection).
    fn is_order(&self) -> bool {
        !matches!(self, Change::Inject { .. })
    }
}

/// The schedule of a list of changes.
fn schedule_of(changes: &[Change]) -> Schedule {
    let mut schedule = Schedule::new();
    for change in changes {
        match *change {
            Change::Pick(n, pick) => schedule.insert(n, pick),
            Change::Hold { task, from, to } => schedule.hold(task, from..=to),
            Change::Inject { task, point } => schedule.inject_cancel_at(task, point),
        }
    }
    schedule
}

/// The changes of a schedule, by the decision they start at (injections first).
fn changes_of(schedule: &Schedule) -> Vec<Change> {
    let mut changes: Vec<Change> = schedule.injections().map(|(task, point)| Change::Inject { task, point }).collect();
    changes.extend(schedule.picks().map(|(n, pick)| Change::Pick(n, pick)));
    changes.extend(schedule.holds().map(|(task, range)| Change::Hold { task, from: *range.start(), to: *range.end() }));
    changes.sort_by_key(Change::start);
    changes
}

/// A recorded run rewritten as holds that replay it exactly: a task passed over at a decision
/// (an option before the one taken) is held from there through every later decision it is
/// passed over at, until it next runs. Timer and choice deviations stay picks; `injections`
/// are kept.
fn as_holds(trace: &Trace, injections: &[Change]) -> Vec<Change> {
    let mut changes = injections.to_vec();
    // Per task: the decisions it was passed over at (true) or ran at (false).
    let mut marks: BTreeMap<u64, Vec<(u64, bool)>> = BTreeMap::new();
    for decision in trace.decisions() {
        match &decision.kind {
            DecisionKind::Task { options } => {
                for (i, task) in options.iter().enumerate().take(decision.index + 1) {
                    marks.entry(task.as_u64()).or_default().push((decision.number, i < decision.index));
                }
            }
            _ if decision.is_deviation() => {
                changes.push(Change::Pick(decision.number, decision.pick_of(decision.index)))
            }
            _ => {}
        }
    }
    for (task, marks) in marks {
        let mut open: Option<(u64, u64)> = None;
        for (number, passed_over) in marks {
            if passed_over {
                open = Some((open.map_or(number, |(from, _)| from), number));
            } else if let Some((from, to)) = open.take() {
                changes.push(Change::Hold { task, from, to });
            }
        }
        if let Some((from, to)) = open {
            changes.push(Change::Hold { task, from, to });
        }
    }
    changes.sort_by_key(Change::start);
    changes
}

/// Runs candidates of one failure and counts the runs.
struct Shrinker<'s, 'a, F> {
    runner: &'s Runner<'a, F>,
    kind: FailureKind,
    seed: u64,
    runs: u64,
}

impl<F, Fut> Shrinker<'_, '_, F>
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    fn exhausted(&self) -> bool {
        self.runs >= MAX_RUNS
    }

    fn run(&mut self, changes: &[Change], recorded: Recorded) -> RunOutcome {
        self.runs += 1;
        self.runner.run(&PolicySpec::Replay(schedule_of(changes)), self.seed, recorded)
    }

    fn fails_like(&self, outcome: &RunOutcome) -> bool {
        matches!(outcome.failure, Some((kind, _)) if kind == self.kind)
    }

    /// Does this candidate fail the same way? `false` once the budget is spent.
    fn fails(&mut self, changes: &[Change]) -> bool {
        if self.exhausted() {
            return false;
        }
        let outcome = self.run(changes, Recorded::Summary);
        self.fails_like(&outcome)
    }

    /// The candidate's full trace, if it fails the same way.
    fn trace_if_fails(&mut self, changes: &[Change]) -> Option<Trace> {
        if self.exhausted() {
            return None;
        }
        let outcome = self.run(changes, Recorded::Full);
        self.fails_like(&outcome).then_some(outcome.trace)
    }

    /// Delta debugging: drop chunks of changes, ever smaller, while the candidate still fails.
    fn ddmin(&mut self, mut current: Vec<Change>) -> Vec<Change> {
        let mut granularity = 2usize;
        while current.len() >= 2 && !self.exhausted() {
            let chunk = current.len().div_ceil(granularity);
            let mut reduced = false;
            for start in (0..current.len()).step_by(chunk) {
                let candidate: Vec<Change> = current
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i < start || *i >= start + chunk)
                    .map(|(_, c)| *c)
                    .collect();
                if self.fails(&candidate) {
                    current = candidate;
                    granularity = (granularity - 1).max(2);
                    reduced = true;
                    break;
                }
                if self.exhausted() {
                    break;
                }
            }
            if !reduced {
                if granularity >= current.len() {
                    break;
                }
                granularity = (granularity * 2).min(current.len());
            }
        }
        if current.len() == 1 && self.fails(&[]) {
            current.clear();
        }
        current
    }

    /// Merges the holds of each task: all of them into one if that still fails, else
    /// neighbours pairwise. Task picks that amount to holding the default task for one
    /// decision are first rewritten as such holds, so they can merge too.
    fn merge(&mut self, current: Vec<Change>) -> Vec<Change> {
        let mut current = self.picks_as_holds(current);
        let tasks: BTreeSet<u64> = current
            .iter()
            .filter_map(|c| match c {
                Change::Hold { task, .. } => Some(*task),
                _ => None,
            })
            .collect();
        for task in tasks {
            let holds_of = |changes: &[Change]| -> Vec<usize> {
                changes
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| matches!(c, Change::Hold { task: t, .. } if *t == task))
                    .map(|(i, _)| i)
                    .collect()
            };
            let positions = holds_of(&current);
            if positions.len() < 2 {
                continue;
            }
            if let Some(candidate) = merged(&current, &positions)
                && self.fails(&candidate)
            {
                current = candidate;
                continue;
            }
            let mut i = 0;
            loop {
                let positions = holds_of(&current);
                if i + 1 >= positions.len() || self.exhausted() {
                    break;
                }
                match merged(&current, &positions[i..i + 2]) {
                    Some(candidate) if self.fails(&candidate) => current = candidate,
                    _ => i += 1,
                }
            }
        }
        current
    }

    /// Rewrites each task pick that ran the second option as a one-decision hold of the first,
    /// if the result still fails.
    fn picks_as_holds(&mut self, current: Vec<Change>) -> Vec<Change> {
        if !current.iter().any(|c| matches!(c, Change::Pick(_, Pick::Task(_)))) {
            return current;
        }
        let Some(trace) = self.trace_if_fails(&current) else { return current };
        let candidate: Vec<Change> = current
            .iter()
            .map(|change| {
                let Change::Pick(n, Pick::Task(task)) = *change else { return *change };
                let decision = trace.decisions().find(|d| d.number == n);
                match decision.map(|d| &d.kind) {
                    Some(DecisionKind::Task { options }) if options.len() >= 2 && options[1].as_u64() == task => {
                        Change::Hold { task: options[0].as_u64(), from: n, to: n }
                    }
                    _ => *change,
                }
            })
            .collect();
        if candidate != current && self.fails(&candidate) { candidate } else { current }
    }

    /// Moves each injected cancellation to the earliest cancel point of its task at which the
    /// candidate still fails.
    fn earlier_injections(&mut self, mut current: Vec<Change>) -> Vec<Change> {
        for i in 0..current.len() {
            let Change::Inject { task, point } = current[i] else { continue };
            for earlier in 1..point {
                if self.exhausted() {
                    return current;
                }
                let mut candidate = current.clone();
                candidate[i] = Change::Inject { task, point: earlier };
                if self.fails(&candidate) {
                    current = candidate;
                    break;
                }
            }
        }
        let mut seen = BTreeSet::new();
        current.retain(|c| match c {
            Change::Inject { task, point } => seen.insert((*task, *point)),
            _ => true,
        });
        current
    }

    /// Drops one order change and refits one of the others in its place — moves a hold's
    /// first or last decision, or a task pick's decision, by 1, 2, 4, … decisions either way — and
    /// keeps the first such candidate that fails, until none does. Dropping a change shifts
    /// the decisions after it, so a change ddmin cannot drop where it stands may become
    /// unneeded once another is moved.
    fn refit(&mut self, mut current: Vec<Change>) -> Vec<Change> {
        'again: loop {
            let order: Vec<usize> = (0..current.len()).filter(|&i| current[i].is_order()).collect();
            if order.len() < 2 || self.exhausted() {
                return current;
            }
            let horizon = self.run(&current, Recorded::Summary).summary.decisions().max(1);
            for &dropped in &order {
                let rest: Vec<Change> =
                    current.iter().enumerate().filter(|(i, _)| *i != dropped).map(|(_, c)| *c).collect();
                for (j, change) in rest.iter().enumerate() {
                    for variant in moves(change, horizon) {
                        if self.exhausted() {
                            return current;
                        }
                        let mut candidate = rest.clone();
                        candidate[j] = variant;
                        if self.fails(&candidate) {
                            candidate.sort_by_key(Change::start);
                            current = candidate;
                            continue 'again;
                        }
                    }
                }
            }
            return current;
        }
    }

    /// Looks for a failing schedule with fewer order changes than `current`, placed anywhere:
    /// iterative deepening up to [`MAX_SEARCH_CHANGES`], the injections kept as they are.
    fn search(&mut self, current: Vec<Change>) -> Vec<Change> {
        let fixed: Vec<Change> = current.iter().copied().filter(|c| !c.is_order()).collect();
        let order = current.len() - fixed.len();
        let stop = self.runs + MAX_SEARCH_RUNS;
        for bound in 1..order.min(MAX_SEARCH_CHANGES + 1) {
            let mut stack: Vec<Vec<Change>> = vec![Vec::new()];
            while let Some(base) = stack.pop() {
                if self.exhausted() || self.runs >= stop {
                    return current;
                }
                let mut all = fixed.clone();
                all.extend(&base);
                if base.len() == bound {
                    if self.fails(&all) {
                        return all;
                    }
                    continue;
                }
                let outcome = self.run(&all, Recorded::Full);
                let decisions = outcome.summary.decisions();
                let last = base.iter().map(Change::start).max().unwrap_or(0);
                let mut children = Vec::new();
                for decision in outcome.trace.decisions().filter(|d| d.number > last) {
                    let n = decision.number;
                    for alternative in 1..decision.option_count() {
                        children.push(Change::Pick(n, decision.pick_of(alternative)));
                    }
                    if let DecisionKind::Task { options } = &decision.kind {
                        let task = options[0].as_u64();
                        let mut length = 2;
                        while n + length - 1 < decisions {
                            children.push(Change::Hold { task, from: n, to: n + length - 1 });
                            length *= 2;
                        }
                        children.push(Change::Hold { task, from: n, to: u64::MAX });
                    }
                }
                // In reverse, so the stack explores earlier changes first.
                stack.extend(children.into_iter().rev().map(|child| {
                    let mut next = base.clone();
                    next.push(child);
                    next
                }));
            }
        }
        current
    }

    /// Ends each hold as early as the candidate still fails (a binary search over its last
    /// decision): of two schedules with as many changes, the one that holds tasks back for
    /// fewer decisions says more precisely what the bug needs — often a single preemption.
    fn shorten(&mut self, mut current: Vec<Change>) -> Vec<Change> {
        for i in 0..current.len() {
            let Change::Hold { task, from, to } = current[i] else { continue };
            let horizon = if to == u64::MAX { self.run(&current, Recorded::Summary).summary.decisions() } else { to };
            // Invariant: holding to `high` fails; holding to below `low` is not known to.
            let (mut low, mut high) = (from, to);
            let mut bound = horizon.max(from);
            while low < bound && !self.exhausted() {
                let middle = low + (bound - low) / 2;
                let mut candidate = current.clone();
                candidate[i] = Change::Hold { task, from, to: middle };
                if self.fails(&candidate) {
                    high = middle;
                    bound = middle;
                } else {
                    low = middle + 1;
                }
            }
            current[i] = Change::Hold { task, from, to: high };
        }
        current
    }

    /// Cuts every hold to the decisions where it changed what ran (dropping one that never
    /// did), then turns each hold of a single decision into the pick of the task that ran —
    /// each step kept only if the result still fails.
    fn tidy(&mut self, current: Vec<Change>) -> Vec<Change> {
        if !current.iter().any(|c| matches!(c, Change::Hold { .. })) {
            return current;
        }
        let Some(trace) = self.trace_if_fails(&current) else { return current };
        let schedule = schedule_of(&current);
        let mut trimmed = Vec::new();
        for change in &current {
            let Change::Hold { task, from, to } = *change else {
                trimmed.push(*change);
                continue;
            };
            let mattered: Vec<u64> = trace
                .decisions()
                .filter(|d| (from..=to).contains(&d.number))
                .filter_map(|d| {
                    let DecisionKind::Task { options } = &d.kind else { return None };
                    let id = |i: usize| options[i].as_u64();
                    let with = schedule.resolve_task(d.number, options.len(), id, None).0;
                    let without = schedule.resolve_task(d.number, options.len(), id, Some((task, from..=to))).0;
                    (with != without).then_some(d.number)
                })
                .collect();
            if let (Some(&first), Some(&last)) = (mattered.first(), mattered.last()) {
                trimmed.push(Change::Hold { task, from: first, to: last });
            }
        }
        let (current, trace) = if trimmed != current
            && let Some(trace) = self.trace_if_fails(&trimmed)
        {
            (trimmed, trace)
        } else {
            (current, trace)
        };
        let picks: Vec<Change> = current
            .iter()
            .map(|change| match *change {
                Change::Hold { from, to, .. } if from == to => trace
                    .decisions()
                    .find(|d| d.number == from)
                    .and_then(|d| d.chosen_task())
                    .map_or(*change, |ran| Change::Pick(from, Pick::Task(ran.as_u64()))),
                _ => *change,
            })
            .collect();
        if picks != current && self.fails(&picks) { picks } else { current }
    }
}

/// A change moved by 1, 2, 4, … decisions either way, nearest first, within decisions
/// `1..=horizon`: a task pick's decision, a hold's first or its last decision. None for an
/// injection, a timer or an option pick (an index that means nothing at another decision).
fn moves(change: &Change, horizon: u64) -> Vec<Change> {
    let mut moves = Vec::new();
    let mut step = 1;
    while step < horizon {
        match *change {
            // A timer or option index means nothing at another decision: only task picks move.
            Change::Pick(n, pick @ Pick::Task(_)) => {
                if n > step {
                    moves.push(Change::Pick(n - step, pick));
                }
                if n + step <= horizon {
                    moves.push(Change::Pick(n + step, pick));
                }
            }
            Change::Hold { task, from, to } => {
                let to = to.min(horizon);
                // A hold that starts past the run's end (earlier changes made the run shorter)
                // still moves, but never into an empty span: a schedule refuses those.
                let mut hold = |from: u64, to: u64| {
                    if from <= to {
                        moves.push(Change::Hold { task, from, to });
                    }
                };
                if to >= from + step {
                    hold(from, to - step);
                    hold(from + step, to);
                }
                if to + step <= horizon {
                    hold(from, to + step);
                }
                if from > step {
                    hold(from - step, to);
                }
            }
            Change::Pick(..) | Change::Inject { .. } => {}
        }
        step *= 2;
    }
    moves
}

/// `current` with the changes at `positions` (holds of one task) replaced by one hold over
/// all of them; `None` if they are not holds of one task.
fn merged(current: &[Change], positions: &[usize]) -> Option<Vec<Change>> {
    let mut task = None;
    let (mut from, mut to) = (u64::MAX, 0);
    for &i in positions {
        let Change::Hold { task: t, from: f, to: l } = current[i] else { return None };
        if task.is_some_and(|task| task != t) {
            return None;
        }
        task = Some(t);
        from = from.min(f);
        to = to.max(l);
    }
    let mut candidate: Vec<Change> =
        current.iter().enumerate().filter(|(i, _)| !positions.contains(i)).map(|(_, c)| *c).collect();
    candidate.push(Change::Hold { task: task?, from, to });
    candidate.sort_by_key(Change::start);
    Some(candidate)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::config::{Explore, PolicyKind};
    use crate::engine::Fixtures;

    /// Moves `ITEMS` items one at a time from a queue to a done list, with a checkpoint between
    /// taking one out and putting it back: a cancellation there loses it. Another task only
    /// checkpoints. The first `FILLER` cancel points of the mover come before any item.
    async fn mover(_: Fixtures) {
        const ITEMS: usize = 4;
        const FILLER: usize = 3;
        let queue = Rc::new(RefCell::new((0..ITEMS).collect::<Vec<_>>()));
        let done = Rc::new(RefCell::new(Vec::new()));
        let (q, d) = (queue.clone(), done.clone());
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("mover", async move {
                trio::move_on_after(std::time::Duration::from_secs(3600), async move {
                    for _ in 0..FILLER {
                        trio::checkpoint().await?;
                    }
                    loop {
                        let Some(item) = q.borrow_mut().pop() else { break };
                        trio::checkpoint().await?; // cancel-unsafe: the item is in neither list
                        d.borrow_mut().push(item);
                    }
                    Ok::<(), trio::Error>(())
                })
                .await
                .map(|_| ())
            });
            nursery.start_soon_named("bystander", async move {
                trio::move_on_after(std::time::Duration::from_secs(3600), async move {
                    for _ in 0..10 {
                        trio::checkpoint().await?;
                    }
                    Ok::<(), trio::Error>(())
                })
                .await
                .map(|_| ())
            });
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(queue.borrow().len() + done.borrow().len(), ITEMS, "an item was lost");
    }

    /// A failure with the mover cancelled late, the bystander cancelled too, and a reordering
    /// nobody needs shrinks to one injected cancellation, at the mover's first unsafe cancel
    /// point, in the default order.
    #[test]
    fn an_injection_failure_shrinks_to_fewer_and_earlier_cancellations() {
        let config = Explore::new("shrink::mover").persist(false);
        let test = mover;
        let runner = Runner::new(&config, &test, 0);
        let (mover, bystander) = (2, 3);
        let mut schedule: Schedule = "v1:1=t3,2=t3,3=t3".parse().unwrap();
        schedule.inject_cancel_at(mover, 7); // the last item's unsafe point: 3 filler, then 1 per item
        schedule.inject_cancel_at(bystander, 6);
        let outcome = runner.run(&PolicySpec::Replay(schedule.clone()), 1, Recorded::Full);
        let (kind, message) = outcome.failure.expect("the schedule fails");
        assert_eq!(kind, FailureKind::Panic);
        assert!(message.contains("an item was lost"), "{message}");
        let failure =
            Failure::new(&config, (kind, message), outcome.trace, schedule, PolicyKind::Random, 1, None, 1, "test");

        let shrunk = shrink(&runner, &failure).expect("shrunk");
        assert_eq!(shrunk.schedule.to_string(), "v1:c2.4", "one cancellation, at the first unsafe point");
        assert!(shrunk.schedule.is_empty(), "no reordering needed");
        let report = failure.to_string();
        assert!(report.contains("the schedule (3 deviation(s)"), "{report}");
        let mut with_shrunk = *failure;
        with_shrunk.shrunk = Some(shrunk);
        let report = with_shrunk.to_string();
        assert!(
            report.contains("fails in the default order with the injected cancellation; no reordering needed"),
            "{report}"
        );
        assert!(report.contains("cancellation injected at cancel point 4 of task 2 `mover`"), "{report}");
    }

    /// Each kind of change maps to the schedule and back.
    #[test]
    fn changes_and_schedules_convert_both_ways() {
        let schedule: Schedule = "v2:3=t4,5-9=h2,7-=h3,12=x1,c2.5,c3.1".parse().unwrap();
        let changes = changes_of(&schedule);
        assert_eq!(changes.len(), 6);
        assert_eq!(schedule_of(&changes), schedule);
        assert_eq!(changes.iter().filter(|c| !c.is_order()).count(), 2);
    }

    /// Moves stay inside the run and keep a hold's first decision at or before its last.
    #[test]
    fn moves_stay_inside_the_run() {
        for change in moves(&Change::Hold { task: 2, from: 3, to: 5 }, 8) {
            let Change::Hold { from, to, .. } = change else { panic!("a hold moves as a hold") };
            assert!(1 <= from && from <= to && to <= 8, "{change:?}");
        }
        // A hold that starts after the run's last decision (the run got shorter) moves back
        // into it, and never into an empty span, which `Schedule::hold` refuses.
        let late = moves(&Change::Hold { task: 2, from: 30, to: 40 }, 25);
        assert!(!late.is_empty());
        for change in late {
            let Change::Hold { from, to, .. } = change else { panic!("a hold moves as a hold") };
            assert!(from <= to, "{change:?}");
            schedule_of(&[change]);
        }
        let picks: Vec<u64> = moves(&Change::Pick(4, Pick::Task(2)), 6)
            .iter()
            .map(|c| match c {
                Change::Pick(n, _) => *n,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(picks, [3, 5, 2, 6]);
        assert!(moves(&Change::Inject { task: 2, point: 3 }, 10).is_empty());
        assert!(moves(&Change::Pick(4, Pick::Choice(1)), 10).is_empty(), "an option index stays at its decision");
        assert!(moves(&Change::Pick(4, Pick::Timer(1)), 10).is_empty());
    }
}
