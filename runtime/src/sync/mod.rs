//! Synchronisation primitives (Trio's `_sync.py`), built on `lowlevel`: [`Event`], [`Lock`],
//! [`StrictFifoLock`], [`Semaphore`], [`CapacityLimiter`] and [`Condition`].
//!
//! All of them are fair: a release hands the resource straight to the task that has waited
//! longest, so a task that releases and immediately re-acquires goes to the back of the line.
//! All blocking methods follow Trio's idiom — a cancel point, then the non-blocking attempt,
//! then either a cancel-shielded schedule point or a park — so they checkpoint when they
//! succeed and have no effect when they are cancelled.
//!
//! Each blocking method has a guard twin where Rust users expect one ([`Lock::lock`],
//! [`Semaphore::acquire_permit`], [`CapacityLimiter::acquire_token`]). A future dropped after
//! the resource was handed to it gives the resource back, so dropping an acquire (say, the
//! losing branch of a `select!`) never leaks it.
//!
//! Each records where it was created, and takes a name with `named` (`Event::new().named("ready")`):
//! deadlock reports name the instance a task waits on with both. A wait on an [`Event`],
//! [`Semaphore`], [`CapacityLimiter`] or [`Condition`] that lives inside the waiting task's own
//! future is reported as one that nothing can ever wake — no other task can reach it.

mod capacity_limiter;
mod condition;
mod event;
mod lock;
mod semaphore;

pub use capacity_limiter::{Borrower, CapacityLimiter, CapacityLimiterStatistics, LimiterToken};
pub use condition::{Condition, ConditionStatistics};
pub use event::{Event, EventStatistics};
pub use lock::{Lock, LockGuard, LockStatistics, StrictFifoLock};
pub use semaphore::{Semaphore, SemaphorePermit, SemaphoreStatistics};
