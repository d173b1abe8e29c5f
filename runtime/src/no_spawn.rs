//! `trio::spawn` exists only to say where spawning lives in trio.
//!
//! Coming from tokio, `trio::spawn(fut)` is the first thing people type; without this item the
//! compiler answers with a suggestion of `std::thread::spawn`. Here it answers with the fix.

use std::future::Future;

mod sealed {
    /// Nothing implements it, and nothing outside this module can.
    pub trait Never {}
}

/// Marks the futures a detached spawn would accept: none. Trio has no detached tasks.
#[diagnostic::on_unimplemented(
    message = "trio has no detached `spawn`: every task is started in a nursery",
    label = "start this future in a nursery instead",
    note = "open one with `trio::open_nursery(|nursery| async move {{ nursery.start_soon(future); Ok(()) }}).await?` \
            — the nursery waits for its tasks, cancels them if one fails, and hands their errors back",
    note = "for a task that must outlive the caller, take a `trio::Nursery` handle opened further up"
)]
pub trait DetachedSpawn: sealed::Never {}

/// There is no detached spawn in trio: tasks start in a [nursery](crate::open_nursery) with
/// [`Nursery::start_soon`](crate::Nursery::start_soon). Calling this function does not compile;
/// the compiler's message says what to write instead.
///
/// ```compile_fail
/// trio::spawn(async {}); // error: trio has no detached `spawn`: every task is started in a nursery
/// ```
#[doc(hidden)]
pub fn spawn<F>(future: F) -> !
where
    F: Future + DetachedSpawn,
{
    drop(future);
    unreachable!("no type implements DetachedSpawn")
}
