//! `Sequencer`: force blocks of code in different tasks to run in a chosen order.
//!
//! Built on the runtime's low-level parking (`trio::lowlevel::park_slot`), not on the sync
//! primitives, so it depends on nothing but the core.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

use trio::lowlevel::{Unparker, park_slot};
use trio::{BrokenResource, RuntimeError};

/// Makes numbered blocks of code, spread over several tasks, run one after another in number
/// order (Trio's `trio.testing.Sequencer`).
///
/// `seq.block(n).await` waits until block `n - 1` has finished (block 0 does not wait) and
/// returns a [`SequencerBlock`] guard; the block lasts until the guard is dropped, which lets
/// block `n + 1` start. Each number can be used once.
///
/// If a task is cancelled while it waits for its turn, the intended order can no longer
/// happen, and the sequencer *breaks*: that task and every other one waiting, or arriving
/// later, gets a [`BrokenResource`] error — not a `Cancelled` that a cancel scope would
/// quietly swallow — so the test fails instead of passing by accident.
///
/// Two differences from Trio, both on purpose (see the deviations list of `docs/design.md`):
/// Trio raises `RuntimeError` for a broken sequencer, here it is [`BrokenResource`] (reusing a
/// number stays a [`RuntimeError`], and is reported before a breakage, as in Trio); and Trio's
/// block 0 does not checkpoint, so a block 0 entered in a cancelled scope still runs there,
/// while here [`block`](Sequencer::block) always checkpoints and block 0 in a cancelled scope
/// breaks the sequencer like any other number.
///
/// `Sequencer` is a cheap handle: clone it into the tasks that share it.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio_testkit::Sequencer;
///
/// trio::run(async {
///     let seq = Sequencer::new();
///     let log = Rc::new(RefCell::new(Vec::new()));
///     trio::open_nursery(|nursery| {
///         let (seq, log) = (seq.clone(), log.clone());
///         async move {
///             for (name, first, second) in [("a", 1, 2), ("b", 0, 3)] {
///                 let (seq, log) = (seq.clone(), log.clone());
///                 nursery.start_soon(async move {
///                     let block = seq.block(first).await?;
///                     log.borrow_mut().push(format!("{name}{first}"));
///                     drop(block);
///                     let _block = seq.block(second).await?;
///                     log.borrow_mut().push(format!("{name}{second}"));
///                     Ok(())
///                 });
///             }
///             Ok(())
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(*log.borrow(), ["b0", "a1", "a2", "b3"]);
/// });
/// ```
#[derive(Clone, Default)]
pub struct Sequencer {
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    /// Numbers passed to `block` so far. Invariant: a number is claimed at most once.
    claimed: BTreeSet<usize>,
    /// Numbers whose predecessor block has finished: `block(n)` for these does not wait.
    released: BTreeSet<usize>,
    /// The task waiting for its turn at each number (at most one, since numbers are unique).
    waiting: BTreeMap<usize, Unparker<()>>,
    /// Why the sequencer broke, once it has.
    broken: Option<String>,
}

impl Sequencer {
    /// A sequencer where no block has run yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let seq = trio_testkit::Sequencer::new();
    /// # let _ = seq;
    /// ```
    pub fn new() -> Sequencer {
        Sequencer::default()
    }

    /// Waits until block `position - 1` has finished (block 0 runs at once), then starts block
    /// `position`; it lasts until the returned guard is dropped.
    ///
    /// Bind the guard for as long as the block should last (`let _block = …`); `let _ = …`
    /// ends the block at once, which is fine when the block is just "this point was reached".
    ///
    /// # Errors
    ///
    /// - [`RuntimeError`] if `position` was already used on this sequencer.
    /// - [`BrokenResource`] if the sequencer is broken, or breaks while this task waits: some
    ///   task was cancelled (or stopped waiting) before its turn. This task's own
    ///   cancellation breaks it too, and is reported the same way.
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint. Cancelling a task here breaks the sequencer for every task, as
    /// described above.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::Sequencer;
    ///
    /// trio::run(async {
    ///     let seq = Sequencer::new();
    ///     drop(seq.block(0).await.unwrap());
    ///     let reused = seq.block(0).await.unwrap_err();
    ///     assert!(reused.is::<trio::RuntimeError>());
    /// });
    /// ```
    pub async fn block(&self, position: usize) -> trio::Result<SequencerBlock> {
        let slot = {
            let mut state = self.state.borrow_mut();
            if state.claimed.contains(&position) {
                return Err(RuntimeError::with_message(format!(
                    "sequencer block {position} was already used: each number can be passed to Sequencer::block once"
                ))
                .into());
            }
            if let Some(why) = &state.broken {
                return Err(broken(why));
            }
            state.claimed.insert(position);
            if position == 0 || state.released.contains(&position) {
                None
            } else {
                let (slot, unparker) =
                    park_slot::<()>(format!("Sequencer::block({position}), waiting for block {} to end", position - 1));
                state.waiting.insert(position, unparker);
                Some(slot)
            }
        };
        let mut stop_guard = BreakIfDropped { sequencer: self, position, armed: true };
        let waited = match slot {
            Some(slot) => slot.await,
            None => trio::checkpoint().await,
        };
        stop_guard.armed = false;
        if waited.is_err() {
            let why = format!("the task waiting for block {position} was cancelled");
            self.break_sequence(&why);
            return Err(broken(&why));
        }
        // Block 0 never waited for anyone, so a breakage meanwhile does not concern it.
        if position != 0
            && let Some(why) = &self.state.borrow().broken
        {
            return Err(broken(why));
        }
        Ok(SequencerBlock { sequencer: self.clone(), position })
    }

    /// `true` once a task was cancelled while waiting for its turn.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trio_testkit::Sequencer::new().is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.state.borrow().broken.is_some()
    }

    fn break_sequence(&self, why: &str) {
        let waiting = {
            let mut state = self.state.borrow_mut();
            if state.broken.is_none() {
                state.broken = Some(why.to_string());
            }
            std::mem::take(&mut state.waiting)
        };
        for (_, unparker) in waiting {
            let _ = unparker.unpark(());
        }
    }

    fn finish(&self, position: usize) {
        let next = position + 1;
        let waiter = {
            let mut state = self.state.borrow_mut();
            state.released.insert(next);
            state.waiting.remove(&next)
        };
        if let Some(unparker) = waiter {
            let _ = unparker.unpark(());
        }
    }
}

impl fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Sequencer")
            .field("claimed", &state.claimed)
            .field("waiting", &state.waiting.keys().collect::<Vec<_>>())
            .field("broken", &state.broken)
            .finish()
    }
}

/// A running block of a [`Sequencer`]: the next block starts when this guard is dropped (also
/// when it is dropped by a panic or an error, like Trio's `finally`).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let seq = trio_testkit::Sequencer::new();
///     let block = seq.block(0).await.unwrap();
///     assert_eq!(block.position(), 0);
/// });
/// ```
#[must_use = "the block ends, and the next one starts, when this guard is dropped"]
pub struct SequencerBlock {
    sequencer: Sequencer,
    position: usize,
}

impl SequencerBlock {
    /// This block's number.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let seq = trio_testkit::Sequencer::new();
    ///     let first = seq.block(0).await.unwrap();
    ///     assert_eq!(first.position(), 0);
    ///     drop(first); // lets block 1 start
    ///     assert_eq!(seq.block(1).await.unwrap().position(), 1);
    /// });
    /// ```
    pub fn position(&self) -> usize {
        self.position
    }
}

impl Drop for SequencerBlock {
    fn drop(&mut self) {
        self.sequencer.finish(self.position);
    }
}

impl fmt::Debug for SequencerBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequencerBlock").field("position", &self.position).finish()
    }
}

/// Breaks the sequencer if a `block` future is dropped while it waits for its turn: the block
/// will never run, so the ones after it never could.
struct BreakIfDropped<'a> {
    sequencer: &'a Sequencer,
    position: usize,
    armed: bool,
}

impl Drop for BreakIfDropped<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.sequencer.break_sequence(&format!("the task waiting for block {} stopped waiting", self.position));
        }
    }
}

fn broken(why: &str) -> trio::Error {
    BrokenResource::with_message(format!("the sequencer is broken: {why}")).into()
}
