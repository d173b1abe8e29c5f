//! Counting [`trio::always!`], [`trio::sometimes!`] and [`trio::reachable!`] over an
//! exploration.
//!
//! The macros live in the runtime, so that library code can use them without depending on the
//! testkit. Around every schedule it runs, the engine installs a hook on the schedule's thread
//! (through [`trio::lowlevel::set_assertion_hook`]) that counts each evaluation of each site.
//! The counts of the schedules are added up in schedule order, whatever thread ran them, into
//! one [`AssertionCount`] per site, reported in the [`Coverage`](crate::explore::Coverage) of
//! the exploration's summary.
//!
//! An `always!` whose condition is false panics in its task, so the schedule fails like any
//! assertion. A `sometimes!` or `reachable!` never fails a schedule; an exploration with
//! [`Explore::require_sometimes`] fails when a `sometimes!` it evaluated never came true, and
//! one with [`Explore::require_assertion`] fails when the named assertion never fired.
//!
//! # Limitations
//!
//! - An exploration knows a site only once a schedule evaluated it: a `sometimes!` or
//!   `reachable!` that no schedule reached does not appear in the counts, and only
//!   [`Explore::require_assertion`] (naming its message) makes its absence fail the
//!   exploration. There is no list of every site in the program: such a list would be one
//!   per test binary, and every test of the binary would then answer for every other test's
//!   assertions.
//! - Assertions evaluated on another thread (inside `trio::to_thread::run_sync`) are not
//!   counted; an `always!` there still panics, which fails the schedule through the thread's
//!   result.
//!
//! # Examples
//!
//! ```
//! use trio_testkit::explore::{Explore, PolicyKind};
//! use trio_testkit::assertions::AssertionKind;
//!
//! let summary = Explore::new("both_orders")
//!     .schedules(50)
//!     .policy(PolicyKind::Random)
//!     .require_sometimes(true) // each sometimes! must come true in some schedule
//!     .run(|| async {
//!         let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
//!         let l = log.clone();
//!         trio::open_nursery(|nursery| async move {
//!             for name in ["a", "b"] {
//!                 let l = l.clone();
//!                 nursery.start_soon(async move { l.borrow_mut().push(name) });
//!             }
//!             Ok(())
//!         })
//!         .await
//!         .unwrap();
//!         trio::sometimes!(log.borrow()[0] == "b", "b runs first");
//!         trio::always!(log.borrow().len() == 2, "both ran");
//!     })
//!     .unwrap();
//! let counts = &summary.coverage.assertions;
//! assert_eq!(counts.len(), 2);
//! let b_first = counts.iter().find(|c| c.kind == AssertionKind::Sometimes).unwrap();
//! assert_eq!(b_first.message, "b runs first");
//! assert_eq!(b_first.evaluations, 50);
//! assert!(b_first.held > 0 && b_first.held < 50);
//! ```
//!
//! [`Explore::require_sometimes`]: crate::Explore::require_sometimes
//! [`Explore::require_assertion`]: crate::Explore::require_assertion

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use trio::lowlevel::{AssertionHook, AssertionSite};

pub use trio::lowlevel::AssertionKind;

/// What one assertion site did over an exploration.
///
/// # Examples
///
/// ```
/// use trio_testkit::explore::Explore;
///
/// let summary = Explore::new("counts")
///     .schedules(3)
///     .run(|| async {
///         for i in 0..4 {
///             trio::sometimes!(i == 3, "the last round");
///         }
///     })
///     .unwrap();
/// let count = &summary.coverage.assertions[0];
/// assert_eq!((count.evaluations, count.held), (12, 3));
/// assert_eq!((count.schedules_reached, count.schedules_held), (3, 3));
/// assert!(count.satisfied());
/// assert!(count.location.contains(".rs:"));
/// assert_eq!(count.condition, "i == 3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssertionCount {
    /// Which macro.
    pub kind: AssertionKind,
    /// The assertion's message.
    pub message: &'static str,
    /// The condition as written (`""` for `reachable!`).
    pub condition: &'static str,
    /// `file:line:column` of the call site.
    pub location: String,
    /// Times it was evaluated, over every schedule.
    pub evaluations: u64,
    /// Times its condition held (every evaluation, for `reachable!`).
    pub held: u64,
    /// Schedules that evaluated it at least once.
    pub schedules_reached: u64,
    /// Schedules in which its condition held at least once.
    pub schedules_held: u64,
    /// Schedules in which its condition was false at least once (for `always!`, the
    /// schedules it failed).
    pub schedules_false: u64,
}

impl AssertionCount {
    /// Whether the assertion did its job over the exploration: an `always!` was reached and
    /// held every time, a `sometimes!` held at least once, a `reachable!` was reached.
    ///
    /// # Examples
    ///
    /// See [`AssertionCount`].
    pub fn satisfied(&self) -> bool {
        match self.kind {
            AssertionKind::Always => self.evaluations > 0 && self.held == self.evaluations,
            AssertionKind::Sometimes => self.held > 0,
            _ => self.evaluations > 0,
        }
    }
}

impl fmt::Display for AssertionCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\"", self.kind, self.message)?;
        match self.kind {
            AssertionKind::Always => write!(
                f,
                ": held {} of {} time(s); false in {} of {} schedule(s)",
                self.held, self.evaluations, self.schedules_false, self.schedules_reached
            )?,
            AssertionKind::Sometimes => write!(
                f,
                ": true {} of {} time(s); true in {} of {} schedule(s)",
                self.held, self.evaluations, self.schedules_held, self.schedules_reached
            )?,
            _ => write!(f, ": reached {} time(s) in {} schedule(s)", self.evaluations, self.schedules_reached)?,
        }
        write!(f, " ({})", self.location)
    }
}

// ===== one run's counts =====

/// A site, ordered by where it is in the source (never by its address), so that every list
/// made from a map of sites comes out in the same order in every process.
#[derive(Debug, Clone, Copy)]
struct SiteKey(&'static AssertionSite);

impl SiteKey {
    fn order(&self) -> (&'static str, u32, u32, AssertionKind, &'static str) {
        let site = self.0;
        (site.file(), site.line(), site.column(), site.kind(), site.message())
    }
}

impl PartialEq for SiteKey {
    fn eq(&self, other: &SiteKey) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SiteKey {}

impl PartialOrd for SiteKey {
    fn partial_cmp(&self, other: &SiteKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SiteKey {
    fn cmp(&self, other: &SiteKey) -> Ordering {
        self.order().cmp(&other.order())
    }
}

/// Evaluations and true evaluations of each site in one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunHits {
    sites: BTreeMap<SiteKey, (u64, u64)>,
}

impl RunHits {
    fn hit(&mut self, site: &'static AssertionSite, holds: bool) {
        let counts = self.sites.entry(SiteKey(site)).or_default();
        counts.0 += 1;
        counts.1 += u64::from(holds);
    }

    /// The first (in source order) `always!` that was false in the run, if any: its panic
    /// failed the schedule, unless the code under test caught it.
    pub(crate) fn broken_always(&self) -> Option<&'static AssertionSite> {
        self.sites
            .iter()
            .find(|(site, (evaluations, held))| site.0.kind() == AssertionKind::Always && held < evaluations)
            .map(|(site, _)| site.0)
    }
}

/// This thread's hook while a run is being counted; restores the hook it replaced when
/// dropped, so that a run that unwinds leaves no hook behind.
pub(crate) struct Counting {
    hits: Rc<RefCell<RunHits>>,
    previous: Option<Option<AssertionHook>>,
}

impl Counting {
    /// Starts counting the assertions evaluated on this thread.
    pub(crate) fn start() -> Counting {
        let hits = Rc::new(RefCell::new(RunHits::default()));
        let h = hits.clone();
        let previous = trio::lowlevel::set_assertion_hook(Some(Rc::new(move |site, holds| {
            h.borrow_mut().hit(site, holds);
        })));
        Counting { hits, previous: Some(previous) }
    }

    /// Stops counting; what was counted.
    pub(crate) fn finish(mut self) -> RunHits {
        self.restore();
        std::mem::take(&mut *self.hits.borrow_mut())
    }

    fn restore(&mut self) {
        if let Some(previous) = self.previous.take() {
            trio::lowlevel::set_assertion_hook(previous);
        }
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.restore();
    }
}

// ===== the exploration's counts =====

/// The counts of every run of an exploration, added up in the order the runs are given.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    sites: BTreeMap<SiteKey, AssertionCount>,
}

impl Tally {
    pub(crate) fn add(&mut self, run: &RunHits) {
        for (site, &(evaluations, held)) in &run.sites {
            let count = self.sites.entry(*site).or_insert_with(|| AssertionCount {
                kind: site.0.kind(),
                message: site.0.message(),
                condition: site.0.condition(),
                location: site.0.location(),
                evaluations: 0,
                held: 0,
                schedules_reached: 0,
                schedules_held: 0,
                schedules_false: 0,
            });
            count.evaluations += evaluations;
            count.held += held;
            count.schedules_reached += u64::from(evaluations > 0);
            count.schedules_held += u64::from(held > 0);
            count.schedules_false += u64::from(held < evaluations);
        }
    }

    /// Every site seen, in source order.
    pub(crate) fn counts(&self) -> Vec<AssertionCount> {
        self.sites.values().cloned().collect()
    }
}

/// What the configuration requires of the counts and they do not meet, one line each: a
/// `sometimes!` that never came true (with `require_sometimes`), an assertion named with
/// `require_assertion` that never fired.
pub(crate) fn unmet(counts: &[AssertionCount], require_sometimes: bool, required: &[String]) -> Vec<String> {
    let mut unmet = Vec::new();
    if require_sometimes {
        for count in counts.iter().filter(|c| c.kind == AssertionKind::Sometimes && c.held == 0) {
            unmet.push(format!(
                "sometimes!({}) \"{}\" at {} was evaluated {} time(s) in {} schedule(s) and never true",
                count.condition, count.message, count.location, count.evaluations, count.schedules_reached
            ));
        }
    }
    for message in required {
        let sites: Vec<&AssertionCount> = counts.iter().filter(|c| c.message == message.as_str()).collect();
        if sites.is_empty() {
            unmet.push(format!("\"{message}\" was required, but no schedule reached an assertion with that message"));
        } else if !sites.iter().any(|c| c.satisfied()) {
            for count in sites {
                unmet.push(format!("\"{message}\" was required, but it never fired: {count}"));
            }
        }
    }
    unmet
}
