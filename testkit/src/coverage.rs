//! What an exploration covered: how many distinct interleavings its schedules took, how long
//! and how far from the default order they were, whether the last schedules still found new
//! interleavings, and what the assertion macros counted.
//!
//! Every run reports a [`RunRecord`]; the driver hands them to a [`CoverageBuilder`] in
//! schedule order (the regressions file's replays, then the explored schedules by number, then
//! the cancellation injections), whatever thread ran them, so the [`Coverage`] is the same for
//! any number of threads.

use std::collections::BTreeSet;
use std::fmt;

use crate::assertions::{AssertionCount, RunHits, Tally};
use crate::engine::RunOutcome;

/// What an exploration covered. Part of the [`Summary`](crate::explore::Summary) of a passing
/// exploration and of the [`Failure`](crate::explore::Failure) of a failing one (there it
/// covers the schedules up to and including the failing one).
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::{Explore, PolicyKind};
///
/// let summary = Explore::new("three_tasks")
///     .schedules(200)
///     .policy(PolicyKind::Random)
///     .run(|| async {
///         trio::open_nursery(|nursery| async move {
///             for _ in 0..3 {
///                 nursery.start_soon(async {
///                     trio::checkpoint().await?;
///                     Ok(())
///                 });
///             }
///             Ok(())
///         })
///         .await
///         .unwrap();
///     })
///     .unwrap();
/// let coverage = &summary.coverage;
/// assert_eq!(coverage.schedules, 200);
/// assert_eq!(coverage.distinct, summary.distinct);
/// assert!(coverage.distinct > 1);
/// assert!(coverage.decisions.max >= coverage.decisions.median);
/// assert_eq!(coverage.tail, 20); // the last tenth of 200 schedules
/// assert!(coverage.tail_new <= coverage.tail);
/// // Display: the lines printed under a passing exploration.
/// assert!(coverage.to_string().contains("distinct interleavings"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Coverage {
    /// Runs counted: regression replays, explored schedules, cancellation injections (the
    /// determinism check's re-runs are not: they repeat a counted schedule).
    pub schedules: u64,
    /// Distinct interleavings among them: runs whose sequences of scheduling decisions differ
    /// (compared by a hash of the sequence).
    pub distinct: usize,
    /// Scheduling decisions per run (choices between two or more options).
    pub decisions: Spread,
    /// Preemptions per run: decisions that did not take the default option (ran a task other
    /// than the one first in line, fired another timer, took a non-default choice).
    pub preemptions: Spread,
    /// Runs in the last tenth of the exploration (at least one, unless nothing ran).
    pub tail: u64,
    /// How many of those found an interleaving no earlier run had taken. Zero with a long
    /// enough exploration means coverage is flat: more schedules of the same policy are
    /// unlikely to find anything new.
    pub tail_new: u64,
    /// What each assertion site ([`trio::always!`], [`trio::sometimes!`],
    /// [`trio::reachable!`]) counted, in source order.
    pub assertions: Vec<AssertionCount>,
}

/// The median and the maximum of a number per run.
///
/// # Examples
///
/// See [`Coverage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Spread {
    /// The median (the lower middle value for an even count).
    pub median: u64,
    /// The largest.
    pub max: u64,
}

impl Coverage {
    /// Whether the last tenth of the runs found no new interleaving although earlier runs
    /// found several: the exploration has probably seen what its policy can show. An
    /// exploration with a single interleaving (one task, or no choice at all) is not flat, it
    /// is complete.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::{Explore, PolicyKind};
    ///
    /// // Two tasks, one choice: two interleavings, found long before the last tenth.
    /// let summary = Explore::new("two_orders")
    ///     .schedules(100)
    ///     .policy(PolicyKind::Random)
    ///     .run(|| async {
    ///         trio::open_nursery(|nursery| async move {
    ///             nursery.start_soon(async {});
    ///             nursery.start_soon(async {});
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     })
    ///     .unwrap();
    /// assert_eq!(summary.coverage.distinct, 2);
    /// assert!(summary.coverage.is_flat());
    /// ```
    pub fn is_flat(&self) -> bool {
        self.distinct > 1 && self.tail > 0 && self.tail_new == 0
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  {} distinct interleavings in {} schedule(s)", self.distinct, self.schedules)?;
        writeln!(
            f,
            "  per schedule: {} decisions (median), {} (max); {} preemptions (median), {} (max)",
            self.decisions.median, self.decisions.max, self.preemptions.median, self.preemptions.max
        )?;
        if self.schedules > 1 {
            write!(f, "  the last {} schedule(s) found {} new interleaving(s)", self.tail, self.tail_new)?;
            if self.is_flat() {
                write!(f, " — coverage is flat: more schedules of this policy are unlikely to find more")?;
            }
            writeln!(f)?;
        }
        if !self.assertions.is_empty() {
            writeln!(f, "  assertions:")?;
            for count in &self.assertions {
                let mark = if count.satisfied() { "ok" } else { "NO" };
                writeln!(f, "    {mark} {count}")?;
            }
        }
        Ok(())
    }
}

// ===== collecting =====

/// What one run contributes to the coverage. Plain data, so it can come back from a worker
/// thread.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    /// The run's number in its sweep: records are put back in this order.
    pub(crate) index: u64,
    fingerprint: u64,
    decisions: u64,
    preemptions: u64,
    hits: RunHits,
}

impl RunRecord {
    pub(crate) fn new(index: u64, outcome: &RunOutcome) -> RunRecord {
        RunRecord {
            index,
            fingerprint: outcome.summary.fingerprint(),
            decisions: outcome.summary.decisions(),
            preemptions: outcome.summary.changes() as u64,
            hits: outcome.assertions.clone(),
        }
    }
}

/// Adds up records in the order given.
#[derive(Debug, Default)]
pub(crate) struct CoverageBuilder {
    seen: BTreeSet<u64>,
    /// For each run, in order: whether it found a new interleaving.
    new: Vec<bool>,
    decisions: Vec<u64>,
    preemptions: Vec<u64>,
    tally: Tally,
}

impl CoverageBuilder {
    pub(crate) fn add(&mut self, record: &RunRecord) {
        self.new.push(self.seen.insert(record.fingerprint));
        self.decisions.push(record.decisions);
        self.preemptions.push(record.preemptions);
        self.tally.add(&record.hits);
    }

    pub(crate) fn add_all<'r>(&mut self, records: impl IntoIterator<Item = &'r RunRecord>) {
        for record in records {
            self.add(record);
        }
    }

    /// The coverage of the runs added so far.
    pub(crate) fn coverage(&self) -> Coverage {
        let runs = self.new.len();
        let tail = runs.div_ceil(10);
        Coverage {
            schedules: runs as u64,
            distinct: self.seen.len(),
            decisions: spread(&self.decisions),
            preemptions: spread(&self.preemptions),
            tail: tail as u64,
            tail_new: self.new[runs - tail..].iter().filter(|&&new| new).count() as u64,
            assertions: self.tally.counts(),
        }
    }
}

fn spread(values: &[u64]) -> Spread {
    if values.is_empty() {
        return Spread::default();
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    Spread { median: sorted[(sorted.len() - 1) / 2], max: sorted[sorted.len() - 1] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fingerprint: u64) -> RunRecord {
        RunRecord { index: 0, fingerprint, decisions: fingerprint, preemptions: 0, hits: RunHits::default() }
    }

    #[test]
    fn the_tail_counts_only_interleavings_no_earlier_run_took() {
        let mut builder = CoverageBuilder::default();
        // 20 runs: the last two (the tail) are one seen before and one new.
        for i in 0..18 {
            builder.add(&record(i % 3));
        }
        builder.add(&record(1));
        builder.add(&record(7));
        let coverage = builder.coverage();
        assert_eq!((coverage.schedules, coverage.distinct), (20, 4));
        assert_eq!((coverage.tail, coverage.tail_new), (2, 1));
        assert!(!coverage.is_flat());
        builder.add(&record(2));
        builder.add(&record(0));
        // 22 runs: a tail of 3 (7, 2, 0), of which 7 was new.
        let coverage = builder.coverage();
        assert_eq!((coverage.tail, coverage.tail_new), (3, 1));
    }

    #[test]
    fn the_median_is_the_lower_middle_value() {
        assert_eq!(spread(&[5, 1, 3, 100]), Spread { median: 3, max: 100 });
        assert_eq!(spread(&[4, 2, 9]), Spread { median: 4, max: 9 });
        assert_eq!(spread(&[]), Spread::default());
    }

    #[test]
    fn coverage_is_flat_only_when_the_tail_found_nothing_and_there_was_a_choice() {
        let mut builder = CoverageBuilder::default();
        for _ in 0..10 {
            builder.add(&record(1));
        }
        assert!(!builder.coverage().is_flat(), "one interleaving: complete, not flat");
        builder.add(&record(2));
        assert!(!builder.coverage().is_flat(), "the last run (the tail of 11) found interleaving 2");
        for _ in 0..9 {
            builder.add(&record(2));
        }
        assert!(builder.coverage().is_flat(), "20 runs: the last two found nothing new");
    }
}
