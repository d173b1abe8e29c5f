//! Shrinking a failing schedule: delta debugging (Zeller's ddmin) over its deviations from the
//! default order, until no single deviation can be dropped and the test still fails the same
//! way.

use std::future::Future;

use super::{Engine, Failure, Shrunk, schedule_of};
use crate::policy::{Replay, Schedule};
use crate::runner::{Fixtures, TestResult};

/// Runs spent shrinking one failure, at most.
const MAX_RUNS: u64 = 2_000;

pub(super) fn shrink<F, Fut>(engine: &Engine<'_, F>, failure: &Failure) -> Option<Shrunk>
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    let from = failure.schedule.len();
    let runs = std::cell::Cell::new(0u64);
    // Does this schedule still fail the same way? If so, return the schedule it actually
    // followed (a pick can fall back to the default when the run took another path).
    let fails = |candidate: &Schedule| -> Option<(Schedule, super::Trace)> {
        runs.set(runs.get() + 1);
        let outcome = engine.run_once(Box::new(Replay::new(candidate.clone())), failure.seed);
        match outcome.failure {
            Some((kind, _)) if kind == failure.kind => Some((schedule_of(&outcome.trace), outcome.trace)),
            _ => None,
        }
    };

    // The default order itself may fail: then nothing else is needed.
    if let Some((schedule, trace)) = fails(&Schedule::new()) {
        return Some(Shrunk { schedule, trace, from, runs: 1 });
    }
    let (mut current, mut trace) = fails(&failure.schedule)?;
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
            if let Some((followed, followed_trace)) = fails(&candidate) {
                if followed.len() < current.len() {
                    current = followed;
                    trace = followed_trace;
                    granularity = (granularity - 1).max(2);
                    reduced = true;
                    break;
                }
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
    // A last pass: can any single deviation go?
    if current.len() == 1 && runs.get() < MAX_RUNS {
        if let Some((followed, followed_trace)) = fails(&Schedule::new()) {
            current = followed;
            trace = followed_trace;
        }
    }
    Some(Shrunk { schedule: current, trace, from, runs: runs.get() })
}
