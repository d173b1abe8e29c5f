//! Spreading jobs (schedules, or cancellation injections) over worker threads.
//!
//! Jobs are numbered; job `i` is always the same run (same seed, same policy), whichever
//! thread takes it. Threads take the next chunk of numbers from a shared counter, so numbers
//! are handed out in increasing order, and each thread runs its chunk in order. Once job `k`
//! fails, no thread starts a job above `k`, but every job below `k` has already been handed out
//! and runs to its end — so when all threads are done, the lowest failing job is known for
//! certain, and it is the one a single thread running the jobs in order would have stopped at.
//! Everything derived from it is therefore the same for any number of threads.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{FailureKind, Fixtures, PolicySpec, Recorded, Runner, TestResult};
use crate::coverage::RunRecord;
use crate::policy::Schedule;

/// One run to make: its policy and seed.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) policy: PolicySpec,
    pub(crate) seed: u64,
}

/// The lowest failing job, if any.
#[derive(Debug)]
pub(crate) struct JobFailure {
    pub(crate) index: u64,
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
    /// The deviations the failing run followed.
    pub(crate) schedule: Schedule,
}

/// What a sweep over jobs found.
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    /// The failure of the lowest failing job.
    pub(crate) failure: Option<JobFailure>,
    /// What each run covered, in job order: every job when none failed, else every job up
    /// to and including the lowest failing one (see [`Sweep::finish`]).
    pub(crate) records: Vec<RunRecord>,
}

impl Sweep {
    fn merge(&mut self, other: Sweep) {
        self.records.extend(other.records);
        if let Some(theirs) = other.failure
            && self.failure.as_ref().is_none_or(|ours| theirs.index < ours.index)
        {
            self.failure = Some(theirs);
        }
    }

    /// Puts the records in job order and drops those of jobs above the lowest failure (other
    /// threads may have run some before they learnt of it): what one thread would have run.
    fn finish(mut self) -> Sweep {
        self.records.sort_by_key(|record| record.index);
        if let Some(failure) = &self.failure {
            self.records.retain(|record| record.index <= failure.index);
        }
        self
    }
}

/// The counters the threads of one sweep share.
struct Shared {
    /// The next job to hand out (in chunks of `chunk`).
    next: Padded<AtomicU64>,
    /// The lowest job known to have failed (`u64::MAX`: none yet). On a cache line of its own:
    /// it is read before every job, while `next` is written by every thread.
    lowest_failure: Padded<AtomicU64>,
    /// Jobs a thread takes at a time: fewer trips to the shared counter.
    chunk: u64,
}

impl Shared {
    fn new(count: u64, threads: usize) -> Shared {
        // Small enough that the threads finish together, large enough to touch the shared
        // counter rarely.
        let chunk = (count / (threads as u64 * 16)).clamp(1, 16);
        Shared { next: Padded(AtomicU64::new(0)), lowest_failure: Padded(AtomicU64::new(u64::MAX)), chunk }
    }
}

/// A value alone on its cache line (128 bytes covers the adjacent-line prefetcher too).
#[repr(align(128))]
struct Padded<T>(T);

/// Runs jobs `0..count` on this thread, in order, stopping at the first failure.
pub(crate) fn sweep_here<F, Fut>(runner: &Runner<'_, F>, count: u64, job: &(dyn Fn(u64) -> Job + Sync)) -> Sweep
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    work(runner, count, job, &Shared::new(count, 1)).finish()
}

/// Runs jobs `0..count` on up to the configured number of threads — `runner` on this one, a
/// runner of its own on each of the others — and returns what a single thread running them in
/// order would have found.
pub(crate) fn sweep_parallel<F, Fut>(runner: &Runner<'_, F>, count: u64, job: &(dyn Fn(u64) -> Job + Sync)) -> Sweep
where
    F: Fn(Fixtures) -> Fut + Sync,
    Fut: Future,
    Fut::Output: TestResult,
{
    let (config, test, steps_estimate) = (runner.config(), runner.test(), runner.steps_estimate());
    let threads = config.worker_threads().min(usize::try_from(count).unwrap_or(usize::MAX)).max(1);
    let shared = Shared::new(count, threads);
    if threads == 1 {
        return work(runner, count, job, &shared).finish();
    }
    std::thread::scope(|scope| {
        let shared = &shared;
        let workers: Vec<_> = (1..threads)
            .map(|i| {
                std::thread::Builder::new()
                    .name(format!("trio-explore-{i}"))
                    .spawn_scoped(scope, {
                        let estimates = steps_estimate.clone();
                        move || work(&Runner::new(config, test, estimates), count, job, shared)
                    })
                    .expect("could not start an exploration thread")
            })
            .collect();
        let mut sweep = work(runner, count, job, shared);
        for worker in workers {
            match worker.join() {
                Ok(theirs) => sweep.merge(theirs),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        sweep.finish()
    })
}

/// One thread's share: take the next chunk of jobs and run them in order, until no job is left
/// below the lowest failure.
fn work<F, Fut>(runner: &Runner<'_, F>, count: u64, job: &(dyn Fn(u64) -> Job + Sync), shared: &Shared) -> Sweep
where
    F: Fn(Fixtures) -> Fut,
    Fut: Future,
    Fut::Output: TestResult,
{
    let mut sweep = Sweep::default();
    // A lone job is a run of its own: worth the task board should it never end.
    let recorded = if count == 1 { Recorded::Tasks } else { Recorded::Summary };
    loop {
        let start = shared.next.0.fetch_add(shared.chunk, Ordering::Relaxed);
        for index in start..(start.saturating_add(shared.chunk)).min(count) {
            if index > shared.lowest_failure.0.load(Ordering::Relaxed) {
                return sweep;
            }
            let Job { policy, seed } = job(index);
            let outcome = runner.run(&policy, seed, recorded);
            sweep.records.push(RunRecord::new(index, &outcome));
            if let Some((kind, message)) = outcome.failure {
                shared.lowest_failure.0.fetch_min(index, Ordering::Relaxed);
                // Numbers only grow on this thread: this is its lowest failure, and its last job.
                sweep.failure = Some(JobFailure { index, kind, message, schedule: outcome.summary.schedule() });
                return sweep;
            }
        }
        if start >= count {
            return sweep;
        }
    }
}
