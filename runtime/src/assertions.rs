//! Assertions about the schedules a program can take: [`always!`](crate::always),
//! [`sometimes!`](crate::sometimes) and [`reachable!`](crate::reachable).
//!
//! An ordinary `assert!` speaks about one run. These speak about every run an exploration
//! makes: `always!` must hold every time it is evaluated, `sometimes!` must hold at least once
//! across the schedules, and `reachable!` must be reached at least once. The macros live in
//! the runtime, not in the testkit, so that library code can state them without a
//! dependency on the testkit; the testkit installs a [hook](set_assertion_hook) on the thread
//! that runs a schedule and counts every evaluation.
//!
//! Outside an exploration (no hook installed on the thread) `sometimes!` and `reachable!` cost
//! a thread-local read and do nothing; `always!` still panics when its condition is false, as
//! `assert!` would.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// Which of the three assertion macros a site is.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::AssertionKind;
///
/// assert_eq!(AssertionKind::Sometimes.to_string(), "sometimes!");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AssertionKind {
    /// [`always!`](crate::always): true every time it is evaluated.
    Always,
    /// [`sometimes!`](crate::sometimes): true at least once in an exploration.
    Sometimes,
    /// [`reachable!`](crate::reachable): reached at least once in an exploration.
    Reachable,
}

impl fmt::Display for AssertionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AssertionKind::Always => "always!",
            AssertionKind::Sometimes => "sometimes!",
            AssertionKind::Reachable => "reachable!",
        })
    }
}

/// One assertion in the source code: the macros make one `static` per call site, so a site is
/// identified by its address and described by its kind, message, condition and location.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio::lowlevel::{AssertionKind, set_assertion_hook};
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// let previous = set_assertion_hook(Some(Rc::new(move |site: &'static trio::lowlevel::AssertionSite, holds| {
///     s.borrow_mut().push((site.kind(), site.message(), site.condition(), holds));
/// })));
/// let queue_len = 0;
/// trio::sometimes!(queue_len > 0, "the queue backs up");
/// set_assertion_hook(previous);
/// assert_eq!(*seen.borrow(), [(AssertionKind::Sometimes, "the queue backs up", "queue_len > 0", false)]);
/// ```
#[derive(Debug)]
pub struct AssertionSite {
    kind: AssertionKind,
    message: &'static str,
    condition: &'static str,
    file: &'static str,
    line: u32,
    column: u32,
}

impl AssertionSite {
    /// What the macros build; not for direct use.
    #[doc(hidden)]
    pub const fn __new(
        kind: AssertionKind,
        message: &'static str,
        condition: &'static str,
        file: &'static str,
        line: u32,
        column: u32,
    ) -> AssertionSite {
        AssertionSite { kind, message, condition, file, line, column }
    }

    /// Which macro.
    ///
    /// # Examples
    ///
    /// See [`AssertionSite`].
    pub fn kind(&self) -> AssertionKind {
        self.kind
    }

    /// The message given to the macro: what the assertion means, in the user's words.
    ///
    /// # Examples
    ///
    /// See [`AssertionSite`].
    pub fn message(&self) -> &'static str {
        self.message
    }

    /// The condition as written (`""` for `reachable!`).
    ///
    /// # Examples
    ///
    /// See [`AssertionSite`].
    pub fn condition(&self) -> &'static str {
        self.condition
    }

    /// The source file of the call site.
    ///
    /// # Examples
    ///
    /// See [`AssertionSite::location`].
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the call site.
    ///
    /// # Examples
    ///
    /// See [`AssertionSite::location`].
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The column of the call site.
    ///
    /// # Examples
    ///
    /// See [`AssertionSite::location`].
    pub fn column(&self) -> u32 {
        self.column
    }

    /// `file:line:column` of the call site.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{AssertionKind, AssertionSite};
    ///
    /// static SITE: AssertionSite =
    ///     AssertionSite::__new(AssertionKind::Reachable, "retried", "", "src/client.rs", 12, 9);
    /// assert_eq!(SITE.location(), "src/client.rs:12:9");
    /// assert_eq!((SITE.file(), SITE.line(), SITE.column()), ("src/client.rs", 12, 9));
    /// ```
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What the testkit installs to count assertions: called with the site and whether its
/// condition held (always `true` for `reachable!`), on the thread that evaluated it.
pub type AssertionHook = Rc<dyn Fn(&'static AssertionSite, bool)>;

thread_local! {
    static HOOK: RefCell<Option<AssertionHook>> = const { RefCell::new(None) };
}

/// Installs `hook` as this thread's assertion hook (`None` removes it) and returns the one it
/// replaces. The testkit installs one around every schedule it runs; a hook sees the
/// assertions evaluated on its own thread only (code moved to another thread with
/// [`to_thread`](crate::to_thread) is not counted).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let reached = Rc::new(Cell::new(0));
/// let r = reached.clone();
/// let previous = trio::lowlevel::set_assertion_hook(Some(Rc::new(move |_site, _holds| r.set(r.get() + 1))));
/// trio::reachable!("the retry path");
/// trio::reachable!("the retry path");
/// trio::lowlevel::set_assertion_hook(previous);
/// trio::reachable!("not counted: no hook");
/// assert_eq!(reached.get(), 2);
/// ```
pub fn set_assertion_hook(hook: Option<AssertionHook>) -> Option<AssertionHook> {
    HOOK.with(|slot| std::mem::replace(&mut *slot.borrow_mut(), hook))
}

/// Reports one evaluation of `site` to the thread's hook, if there is one. What the macros
/// call; not for direct use.
#[doc(hidden)]
#[inline]
pub fn __assertion_hit(site: &'static AssertionSite, holds: bool) {
    // The hook is cloned out of the slot before the call, so a hook that itself evaluates an
    // assertion (or replaces the hook) does not find the slot borrowed.
    let hook = HOOK.with(|slot| slot.borrow().clone());
    if let Some(hook) = hook {
        hook(site, holds);
    }
}

/// The panic of a false `always!`, at the macro's call site. Not for direct use.
#[doc(hidden)]
#[track_caller]
#[cold]
pub fn __always_failed(site: &'static AssertionSite) -> ! {
    panic!("assertion failed: always!({}): {}", site.condition, site.message)
}

/// Asserts that `condition` holds every time this line runs, in every schedule.
///
/// A false condition panics, like `assert!`, with the message — in the task that evaluated it,
/// so an exploration reports the schedule as failed. Under an exploration every evaluation is
/// also counted, and the summary says how often the assertion was reached: an `always!` that
/// is never reached checks nothing, and the summary shows it.
///
/// The message is a `&'static str` constant (a literal, usually): it names the assertion in
/// reports, and `trio_testkit::Explore::require_assertion` refers to it.
///
/// # Panics
///
/// When `condition` is false.
///
/// # Examples
///
/// ```
/// fn withdraw(balance: &mut u64, amount: u64) {
///     *balance = balance.saturating_sub(amount);
///     trio::always!(*balance < 1_000_000, "the balance stays plausible");
/// }
///
/// let mut balance = 10;
/// withdraw(&mut balance, 3);
/// assert_eq!(balance, 7);
///
/// let failed = std::panic::catch_unwind(|| trio::always!(1 + 1 == 3, "arithmetic works"));
/// let message = failed.unwrap_err().downcast::<String>().unwrap();
/// assert_eq!(*message, "assertion failed: always!(1 + 1 == 3): arithmetic works");
/// ```
#[macro_export]
macro_rules! always {
    ($condition:expr, $message:expr $(,)?) => {{
        $crate::__assertion_site!(Always, $message, ::core::stringify!($condition));
        let holds: bool = $condition;
        $crate::lowlevel::__assertion_hit(&SITE, holds);
        if !holds {
            $crate::lowlevel::__always_failed(&SITE);
        }
    }};
}

/// Asserts that `condition` holds at least once across the schedules of an exploration: the
/// interesting case (a full queue, a retry, an injected fault) really happened.
///
/// It never fails a run. Under an exploration every evaluation is counted, and an exploration
/// with `trio_testkit::Explore::require_sometimes` fails when a `sometimes!` it evaluated was never true —
/// a fault test that never injected its fault is a false green. Outside an exploration it
/// does nothing but evaluate the condition.
///
/// # Examples
///
/// ```
/// fn push(queue: &mut Vec<u32>, item: u32, capacity: usize) -> bool {
///     trio::sometimes!(queue.len() == capacity, "a push finds the queue full");
///     if queue.len() == capacity {
///         return false;
///     }
///     queue.push(item);
///     true
/// }
///
/// let mut queue = Vec::new();
/// assert!(push(&mut queue, 1, 1));
/// assert!(!push(&mut queue, 2, 1));
/// ```
#[macro_export]
macro_rules! sometimes {
    ($condition:expr, $message:expr $(,)?) => {{
        $crate::__assertion_site!(Sometimes, $message, ::core::stringify!($condition));
        let holds: bool = $condition;
        $crate::lowlevel::__assertion_hit(&SITE, holds);
    }};
}

/// Asserts that this line is reached in at least one schedule of an exploration.
///
/// It never fails a run. An exploration knows a site only once some schedule reached it, so
/// to fail an exploration that never reaches it, name its message with
/// `trio_testkit::Explore::require_assertion`. Outside an exploration it does nothing.
///
/// # Examples
///
/// ```
/// fn parse_port(text: &str) -> u16 {
///     match text.parse() {
///         Ok(port) => port,
///         Err(_) => {
///             trio::reachable!("a bad port falls back to the default");
///             8080
///         }
///     }
/// }
///
/// assert_eq!(parse_port("80"), 80);
/// assert_eq!(parse_port("eighty"), 8080);
/// ```
#[macro_export]
macro_rules! reachable {
    ($message:expr $(,)?) => {{
        $crate::__assertion_site!(Reachable, $message, "");
        $crate::lowlevel::__assertion_hit(&SITE, true);
    }};
}

/// The `static` describing one assertion site, named `SITE`, for the three macros above: the
/// location is the user's call (`file!` and friends report the outermost macro invocation).
#[doc(hidden)]
#[macro_export]
macro_rules! __assertion_site {
    ($kind:ident, $message:expr, $condition:expr) => {
        static SITE: $crate::lowlevel::AssertionSite = $crate::lowlevel::AssertionSite::__new(
            $crate::lowlevel::AssertionKind::$kind,
            $message,
            $condition,
            ::core::file!(),
            ::core::line!(),
            ::core::column!(),
        );
    };
}
