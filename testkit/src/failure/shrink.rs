//! Shrinking a failing schedule, in two phases:
//!
//! 1. delta debugging (Zeller's ddmin) over its deviations from the default order, until no
//!    chunk of deviations can be dropped and the test still fails the same way;
//! 2. a bounded exhaustive search (iterative deepening, as in CHESS's preemption bounding) for a
//!    failing schedule with even fewer deviations, placed anywhere: ddmin can only drop
//!    deviations where they stand, while the smallest schedule may need them elsewhere.

use std::future::Future;

use super::{Failure, Shrunk};
use crate::engine::{Fixtures, PolicySpec, Recorded, Runner, TestResult};
use crate::policy::Schedule;

/// Runs spent shrinking one failure, at most.
const MAX_RUNS: u64 = 2_000;

pub(super) fn shrink<F, Fut>(runner: &Runner<'_, F>, failure: &Failure) -> Option<Shrunk>
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    let from = failure.schedule.len();
    let runs = std::cell::Cell::new(0u64);
    // Does this schedule still fail the same way? If so, return the schedule it actually
    // followed (a pick can fall back to the default when the run took another path).
    let fails = |candidate: &Schedule| -> Option<Schedule> {
        runs.set(runs.get() + 1);
        let outcome = runner.run(&PolicySpec::Replay(candidate.clone()), failure.seed, Recorded::Summary);
        match outcome.failure {
            Some((kind, _)) if kind == failure.kind => Some(outcome.summary.schedule()),
            _ => None,
        }
    };

    // The default order itself may fail: then nothing else is needed.
    let mut current = match fails(&Schedule::new()) {
        Some(schedule) => schedule,
        None => fails(&failure.schedule)?,
    };
    let mut granularity = 2usize;
    while current.len() >= 2 && runs.get() < MAX_RUNS {
        let picks: Vec<_> = current.picks().collect();
        let chunk = picks.len().div_ceil(granularity);
        let mut reduced = false;
        for start in (0..picks.len()).step_by(chunk) {
            let mut candidate = Schedule::new();
            for (i, (n, pick)) in picks.iter().enumerate() {
                if i < start || i >= start + chunk {
                    candidate.insert(*n, *pick);
                }
            }
            if let Some(followed) = fails(&candidate)
                && followed.len() < current.len()
            {
                current = followed;
                granularity = (granularity - 1).max(2);
                reduced = true;
                break;
            }
            if runs.get() >= MAX_RUNS {
                break;
            }
        }
        if !reduced {
            if granularity >= picks.len() {
                break;
            }
            granularity = (granularity * 2).min(picks.len());
        }
    }
    // Phase 2: look for a failing schedule with fewer deviations, anywhere.
    'deepen: for bound in 1..current.len().min(MAX_SEARCH_DEVIATIONS + 1) {
        let mut stack = vec![Schedule::new()];
        while let Some(base) = stack.pop() {
            if runs.get() >= MAX_RUNS {
                break 'deepen;
            }
            runs.set(runs.get() + 1);
            let outcome = runner.run(&PolicySpec::Replay(base.clone()), failure.seed, Recorded::Full);
            if base.len() == bound {
                if matches!(outcome.failure, Some((kind, _)) if kind == failure.kind) {
                    let followed = outcome.trace.schedule();
                    if followed.len() < current.len() {
                        current = followed;
                    }
                    break 'deepen;
                }
                continue;
            }
            let last = base.picks().map(|(n, _)| n).max().unwrap_or(0);
            // Children in reverse, so the stack explores earlier deviations first.
            let mut children = Vec::new();
            for decision in outcome.trace.decisions().filter(|d| d.number > last) {
                for alternative in 1..decision.option_count() {
                    let mut child = base.clone();
                    child.insert(decision.number, decision.pick_of(alternative));
                    children.push(child);
                }
            }
            stack.extend(children.into_iter().rev());
        }
    }
    // The minimal schedule once more, fully recorded, for the report.
    let last = runner.run(&PolicySpec::Replay(current.clone()), failure.seed, Recorded::Full);
    runs.set(runs.get() + 1);
    Some(Shrunk { schedule: current, trace: last.trace, from, runs: runs.get() })
}

/// The most deviations phase 2 searches for exhaustively.
const MAX_SEARCH_DEVIATIONS: usize = 3;
