//! [`CapacityLimiter`]: tokens held by borrowers (Trio's `trio.CapacityLimiter`).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use super::lock::Handoff;
use crate::channel::Capacity;
use crate::error::{RuntimeError, SyncError, WouldBlock};
use crate::lowlevel::{
    Task, TaskId, WaitDescription, WaitQueue, cancel_shielded_checkpoint, checkpoint_if_cancelled, current_task,
    park_slot,
};

/// Who holds a [`CapacityLimiter`] token: a task (the default), or any token made with
/// [`Borrower::unique`] for work that is not a task (Trio accepts any object).
///
/// # Examples
///
/// ```
/// use trio::Borrower;
///
/// let a = Borrower::unique();
/// assert_eq!(a, a.clone());
/// assert_ne!(a, Borrower::unique());
/// trio::run(async {
///     let me = trio::lowlevel::current_task();
///     assert_eq!(Borrower::current_task(), Borrower::task(&me));
/// });
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Borrower(BorrowerId);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum BorrowerId {
    Task(TaskId),
    /// Made inside a run: numbered by the run, so the same program prints the same numbers.
    Token(u64),
    /// Made outside any run: numbered by a process-wide counter (identity only).
    OutsideToken(u64),
}

impl Borrower {
    /// A new borrower, equal only to its clones.
    ///
    /// Made inside a run, its number (shown by `Debug`) comes from the run, so it does not
    /// depend on what else ran in the process. Made outside any run, it can only be numbered by
    /// a process-wide counter; `Debug` says so.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_ne!(trio::Borrower::unique(), trio::Borrower::unique());
    /// let first_in_run = || trio::run(async { format!("{:?}", trio::Borrower::unique()) });
    /// assert_eq!(first_in_run(), first_in_run()); // the same in every run
    /// ```
    pub fn unique() -> Borrower {
        match crate::lowlevel::run_number() {
            Some(n) => Borrower(BorrowerId::Token(n)),
            None => {
                static NEXT: AtomicU64 = AtomicU64::new(1);
                Borrower(BorrowerId::OutsideToken(NEXT.fetch_add(1, Ordering::Relaxed)))
            }
        }
    }

    /// The borrower that stands for `task`.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let me = trio::lowlevel::current_task();
    ///     assert_eq!(trio::Borrower::task(&me), trio::Borrower::current_task());
    /// });
    /// ```
    pub fn task(task: &Task) -> Borrower {
        Borrower(BorrowerId::Task(task.id()))
    }

    /// The borrower that stands for the current task.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let _me = trio::Borrower::current_task();
    /// });
    /// ```
    #[track_caller]
    pub fn current_task() -> Borrower {
        Borrower::task(&current_task())
    }
}

impl fmt::Debug for Borrower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            BorrowerId::Task(id) => write!(f, "Borrower(task {id})"),
            BorrowerId::Token(n) => write!(f, "Borrower(token {n})"),
            BorrowerId::OutsideToken(n) => write!(f, "Borrower(token {n}, made outside a run)"),
        }
    }
}

/// A sack of tokens that limits how many borrowers use a resource at once (Trio's
/// `trio.CapacityLimiter`).
///
/// Each borrower — the current task by default, or an explicit [`Borrower`] with the
/// `*_on_behalf_of` methods — holds at most one token, and only a holder may give its token
/// back. [`set_total_tokens`](CapacityLimiter::set_total_tokens) changes the size of the
/// sack; growing it wakes waiters at once, shrinking it lets current holders finish.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// trio::run(async {
///     let limiter = Rc::new(trio::CapacityLimiter::new(2));
///     trio::open_nursery(|nursery| async move {
///         for _ in 0..5 {
///             let limiter = limiter.clone();
///             nursery.start_soon(async move {
///                 let _token = limiter.acquire_token().await?;
///                 assert!(limiter.borrowed_tokens() <= 2);
///                 trio::checkpoint().await?;
///                 Ok(())
///             });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct CapacityLimiter {
    state: RefCell<LimiterState>,
    /// Where the limiter was made: its waits name it in reports.
    created_at: &'static Location<'static>,
    /// The name given with `named`, shown next to `created_at`.
    name: Option<std::rc::Rc<str>>,
}

struct LimiterState {
    total: Capacity,
    /// Invariant: no duplicates. May exceed `total` after `set_total_tokens` shrank it.
    borrowers: Vec<Borrower>,
    /// Oldest first, each with the borrower it acquires for.
    /// Invariant: a live waiter exists only while `borrowers.len() >= total`.
    waiters: WaitQueue<Result<(), SyncError>, Borrower>,
}

/// A [`CapacityLimiter`] token held by the current task, given back when dropped.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let limiter = trio::CapacityLimiter::new(1);
///     let token = limiter.acquire_token().await.unwrap();
///     assert_eq!(limiter.available_tokens(), trio::Capacity::Bounded(0));
///     drop(token);
///     assert_eq!(limiter.available_tokens(), trio::Capacity::Bounded(1));
/// });
/// ```
#[must_use = "the token goes back as soon as it is dropped"]
pub struct LimiterToken<'a> {
    limiter: &'a CapacityLimiter,
    borrower: Borrower,
    armed: bool,
}

/// A snapshot of a [`CapacityLimiter`] (Trio's `CapacityLimiterStatistics`).
///
/// # Examples
///
/// ```
/// let stats = trio::CapacityLimiter::new(4).statistics();
/// assert_eq!(stats.total_tokens, trio::Capacity::Bounded(4));
/// assert_eq!((stats.borrowed_tokens, stats.tasks_waiting), (0, 0));
/// assert!(stats.borrowers.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapacityLimiterStatistics {
    /// Tokens held now.
    pub borrowed_tokens: usize,
    /// The size of the sack (may be below `borrowed_tokens` right after it shrank).
    pub total_tokens: Capacity,
    /// Who holds the tokens, in the order they got them.
    pub borrowers: Vec<Borrower>,
    /// Tasks blocked acquiring a token.
    pub tasks_waiting: usize,
}

impl CapacityLimiter {
    /// A limiter with `total_tokens` tokens: a number, or [`Capacity::Unbounded`]. Zero is
    /// allowed (as in Trio since 0.32): nobody gets a token until the sack grows.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(40).total_tokens(), trio::Capacity::Bounded(40));
    /// let closed = trio::CapacityLimiter::new(0);
    /// assert!(closed.try_acquire_on_behalf_of(&trio::Borrower::unique()).is_err());
    /// ```
    #[track_caller]
    pub fn new(total_tokens: impl Into<Capacity>) -> CapacityLimiter {
        let total = total_tokens.into();
        CapacityLimiter {
            state: RefCell::new(LimiterState { total, borrowers: Vec::new(), waiters: WaitQueue::new() }),
            created_at: Location::caller(),
            name: None,
        }
    }

    /// The same limiter with a name: deadlock reports read
    /// "CapacityLimiter::acquire on the CapacityLimiter \`pool\` created at …", and `Debug`
    /// shows it.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = trio::CapacityLimiter::new(4).named("pool");
    /// assert_eq!(pool.name(), Some("pool"));
    /// assert!(format!("{pool:?}").contains("pool"));
    /// ```
    pub fn named(mut self, name: impl Into<std::rc::Rc<str>>) -> CapacityLimiter {
        self.name = Some(name.into());
        self
    }

    /// The name given with [`named`](CapacityLimiter::named), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(1).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The size of the sack.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::CapacityLimiter::new(trio::Capacity::Unbounded);
    /// assert_eq!(limiter.total_tokens(), trio::Capacity::Unbounded);
    /// ```
    pub fn total_tokens(&self) -> Capacity {
        self.state.borrow().total
    }

    /// Resizes the sack. Growing it wakes as many waiters as there are new free tokens, at
    /// once; shrinking it below what is borrowed lets the holders finish, and admits nobody
    /// until enough tokens came back. Zero admits nobody (a way to pause the work it guards).
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::CapacityLimiter::new(1);
    /// limiter.set_total_tokens(3);
    /// assert_eq!(limiter.available_tokens(), trio::Capacity::Bounded(3));
    /// limiter.set_total_tokens(0);
    /// assert_eq!(limiter.available_tokens(), trio::Capacity::Bounded(0));
    /// ```
    pub fn set_total_tokens(&self, total_tokens: impl Into<Capacity>) {
        self.state.borrow_mut().total = total_tokens.into();
        self.wake_waiters();
    }

    /// Tokens held now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(2).borrowed_tokens(), 0);
    /// ```
    pub fn borrowed_tokens(&self) -> usize {
        self.state.borrow().borrowers.len()
    }

    /// Tokens free now (zero while the sack is over-borrowed after shrinking).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(2).available_tokens(), trio::Capacity::Bounded(2));
    /// ```
    pub fn available_tokens(&self) -> Capacity {
        let state = self.state.borrow();
        match state.total {
            Capacity::Unbounded => Capacity::Unbounded,
            Capacity::Bounded(total) => Capacity::Bounded(total.saturating_sub(state.borrowers.len())),
        }
    }

    /// Borrows a token for the current task without waiting (Trio's `acquire_nowait`).
    ///
    /// # Errors
    ///
    /// [`SyncError::WouldBlock`] if no token is free (or tasks are queued for one),
    /// [`SyncError::Misuse`] if the task already holds one.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     limiter.try_acquire().unwrap();
    ///     assert!(limiter.try_acquire().unwrap_err().is_misuse());
    ///     limiter.release().unwrap();
    /// });
    /// ```
    #[doc(alias = "acquire_nowait")]
    #[track_caller]
    pub fn try_acquire(&self) -> Result<(), SyncError> {
        self.try_acquire_on_behalf_of(&Borrower::current_task())
    }

    /// Borrows a token for `borrower` without waiting (Trio's `acquire_on_behalf_of_nowait`).
    ///
    /// # Errors
    ///
    /// [`SyncError::WouldBlock`] if no token is free (or tasks are queued for one),
    /// [`SyncError::Misuse`] if `borrower` already holds one.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::CapacityLimiter::new(1);
    /// let job = trio::Borrower::unique();
    /// limiter.try_acquire_on_behalf_of(&job).unwrap();
    /// assert!(limiter.try_acquire_on_behalf_of(&trio::Borrower::unique()).unwrap_err().is_would_block());
    /// limiter.release_on_behalf_of(&job).unwrap();
    /// ```
    #[doc(alias = "acquire_on_behalf_of_nowait")]
    pub fn try_acquire_on_behalf_of(&self, borrower: &Borrower) -> Result<(), SyncError> {
        let mut state = self.state.borrow_mut();
        if state.borrowers.contains(borrower) {
            return Err(already_borrowing(borrower));
        }
        if state.borrowers.len() < state.total.limit() && state.waiters.is_empty() {
            state.borrowers.push(borrower.clone());
            Ok(())
        } else {
            Err(SyncError::WouldBlock(WouldBlock::with_message(
                "every token of this CapacityLimiter is borrowed; use acquire() to wait for one",
            )))
        }
    }

    /// Borrows a token for the current task, waiting for one if needed (Trio's `acquire`).
    ///
    /// # Errors
    ///
    /// [`SyncError::Cancelled`] if an enclosing scope is cancelled, [`SyncError::Misuse`] if
    /// the task already holds a token.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// A checkpoint when it returns `Ok`. A cancelled acquire borrowed nothing; a future
    /// dropped after a token was handed to it gives the token back.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     limiter.acquire().await.unwrap();
    ///     assert_eq!(limiter.borrowed_tokens(), 1);
    ///     limiter.release().unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> impl Future<Output = Result<(), SyncError>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            self.acquire_token().await.map(LimiterToken::disarm)
        }
    }

    /// Borrows a token for `borrower`, waiting for one if needed (Trio's
    /// `acquire_on_behalf_of`).
    ///
    /// # Errors
    ///
    /// [`SyncError::Cancelled`] if an enclosing scope is cancelled, [`SyncError::Misuse`] if
    /// `borrower` already holds a token (also when that is discovered on wake-up).
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     let job = trio::Borrower::unique();
    ///     limiter.acquire_on_behalf_of(&job).await.unwrap();
    ///     assert_eq!(limiter.statistics().borrowers, vec![job.clone()]);
    ///     limiter.release_on_behalf_of(&job).unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_on_behalf_of(&self, borrower: &Borrower) -> impl Future<Output = Result<(), SyncError>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            self.acquire_token_for(borrower.clone()).await.map(LimiterToken::disarm)
        }
    }

    /// Gives the current task's token back, handing it to the longest waiter (Trio's
    /// `release`).
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if the current task holds no token.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// Synchronous: not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     assert!(trio::CapacityLimiter::new(1).release().is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn release(&self) -> Result<(), RuntimeError> {
        self.release_on_behalf_of(&Borrower::current_task())
    }

    /// Gives `borrower`'s token back (Trio's `release_on_behalf_of`).
    ///
    /// # Errors
    ///
    /// [`RuntimeError`] if `borrower` holds no token.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::CapacityLimiter::new(1);
    /// assert!(limiter.release_on_behalf_of(&trio::Borrower::unique()).is_err());
    /// ```
    pub fn release_on_behalf_of(&self, borrower: &Borrower) -> Result<(), RuntimeError> {
        {
            let mut state = self.state.borrow_mut();
            let Some(i) = state.borrowers.iter().position(|b| b == borrower) else {
                return Err(RuntimeError::with_message(format!(
                    "{borrower:?} isn't holding any of this CapacityLimiter's tokens; release only what was acquired"
                )));
            };
            state.borrowers.remove(i);
        }
        self.wake_waiters();
        Ok(())
    }

    /// Borrows a token for the current task, waiting if needed, and returns it as a guard
    /// that gives it back on drop (Trio's `async with limiter:`).
    ///
    /// # Errors
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     let token = limiter.acquire_token().await.unwrap();
    ///     drop(token);
    ///     assert_eq!(limiter.borrowed_tokens(), 0);
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_token(&self) -> impl Future<Output = Result<LimiterToken<'_>, SyncError>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            self.acquire_token_for(Borrower::current_task()).await
        }
    }

    /// Borrows a token for the current task without waiting and returns it as a guard.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](CapacityLimiter::try_acquire).
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let limiter = trio::CapacityLimiter::new(1);
    ///     let _token = limiter.try_acquire_token().unwrap();
    ///     assert!(limiter.try_acquire_token().is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn try_acquire_token(&self) -> Result<LimiterToken<'_>, SyncError> {
        let borrower = Borrower::current_task();
        self.try_acquire_on_behalf_of(&borrower)?;
        Ok(LimiterToken { limiter: self, borrower, armed: true })
    }

    /// A snapshot; see [`CapacityLimiterStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::CapacityLimiter::new(1).statistics().borrowed_tokens, 0);
    /// ```
    pub fn statistics(&self) -> CapacityLimiterStatistics {
        let state = self.state.borrow();
        CapacityLimiterStatistics {
            borrowed_tokens: state.borrowers.len(),
            total_tokens: state.total,
            borrowers: state.borrowers.clone(),
            tasks_waiting: state.waiters.len(),
        }
    }

    async fn acquire_token_for(&self, borrower: Borrower) -> Result<LimiterToken<'_>, SyncError> {
        checkpoint_if_cancelled().await?;
        match self.try_acquire_on_behalf_of(&borrower) {
            Ok(()) => {
                let token = LimiterToken { limiter: self, borrower, armed: true };
                cancel_shielded_checkpoint().await;
                return Ok(token);
            }
            Err(SyncError::WouldBlock(_)) => {}
            Err(error) => return Err(error),
        }
        // Only a release through `self` (or a token borrowing it) hands out tokens.
        let what = WaitDescription::from("CapacityLimiter::acquire")
            .on_instance("CapacityLimiter", self.created_at)
            .named(self.name.clone())
            .woken_only_through(self, "release");
        let (slot, unparker) = park_slot(what);
        self.state.borrow_mut().waiters.push_with(unparker, borrower.clone());
        let mut waiting = Handoff {
            slot,
            on_drop: Some(|| {
                let _ = self.release_on_behalf_of(&borrower);
            }),
        };
        let woken = (&mut waiting.slot).await;
        waiting.on_drop = None;
        match woken {
            Ok(Ok(())) => Ok(LimiterToken { limiter: self, borrower: borrower.clone(), armed: true }),
            Ok(Err(error)) => Err(error),
            Err(cancelled) => Err(SyncError::Cancelled(cancelled)),
        }
    }

    /// Hands free tokens to the longest waiters.
    fn wake_waiters(&self) {
        let mut state = self.state.borrow_mut();
        while state.borrowers.len() < state.total.limit() {
            let Some((unparker, borrower)) = state.waiters.pop_with() else { break };
            if state.borrowers.contains(&borrower) {
                let _ = unparker.unpark(Err(already_borrowing(&borrower)));
            } else if unparker.unpark(Ok(())).is_ok() {
                state.borrowers.push(borrower);
            }
        }
    }
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("CapacityLimiter");
        if let Some(name) = self.name() {
            s.field("name", &name);
        }
        s.field("statistics", &self.statistics()).finish()
    }
}

impl LimiterToken<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for LimiterToken<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.limiter.release_on_behalf_of(&self.borrower);
        }
    }
}

impl fmt::Debug for LimiterToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterToken").field("borrower", &self.borrower).finish()
    }
}

fn already_borrowing(borrower: &Borrower) -> SyncError {
    SyncError::Misuse(RuntimeError::with_message(format!(
        "{borrower:?} is already holding one of this CapacityLimiter's tokens; release it before acquiring another"
    )))
}
