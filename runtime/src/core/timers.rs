//! The run's timers: sleeps and cancel-scope deadlines, earliest first.
//!
//! A binary heap with lazy deletion: a timer that is no longer wanted (its sleep ended early,
//! its scope exited or moved its deadline) stays in the heap, marked dead by its own state, and
//! is dropped when it reaches the top — or all at once when dead timers outnumber live ones.
//! Pushing is O(log n) with no allocation beyond the heap's own growth, and forgetting is O(1).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::{Rc, Weak};

use super::cancel::ScopeState;
use super::clock::Instant;
use super::wait::Unparker;

/// A timer's place in the order: its deadline, then its creation sequence (never an address).
pub(crate) type TimerKey = (Instant, u64);

pub(crate) enum TimerEntry {
    Scope(Weak<ScopeState>),
    Sleep(Unparker<()>),
}

struct Timer {
    key: TimerKey,
    entry: TimerEntry,
}

impl Timer {
    /// Whether the timer still has something to do.
    fn is_live(&self) -> bool {
        match &self.entry {
            // Live only while the scope still wants *this* deadline: moving it registers a new
            // key and leaves this one dead.
            TimerEntry::Scope(scope) => scope.upgrade().is_some_and(|s| s.timer.get() == Some(self.key)),
            TimerEntry::Sleep(unparker) => unparker.is_waiting(),
        }
    }
}

// Reversed: `BinaryHeap` is a max-heap and the earliest key must come out first.
impl Ord for Timer {
    fn cmp(&self, other: &Timer) -> Ordering {
        other.key.cmp(&self.key)
    }
}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Timer) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Timer {
    fn eq(&self, other: &Timer) -> bool {
        self.key == other.key
    }
}

impl Eq for Timer {}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Timer>,
    /// Timers forgotten since the last compaction; an estimate (a forgotten timer may already
    /// have left the heap), used only to decide when to compact.
    forgotten: usize,
}

impl Timers {
    pub(crate) fn push(&mut self, key: TimerKey, entry: TimerEntry) {
        self.heap.push(Timer { key, entry });
    }

    pub(crate) fn push_scope(&mut self, key: TimerKey, scope: &Rc<ScopeState>) {
        self.push(key, TimerEntry::Scope(Rc::downgrade(scope)));
    }

    /// A timer will never be wanted again (its state already says so); drop the dead ones in
    /// bulk once they outnumber the live ones.
    pub(crate) fn forget(&mut self) {
        self.forgotten += 1;
        if self.forgotten > 64 && self.forgotten * 2 > self.heap.len() {
            self.heap.retain(Timer::is_live);
            self.forgotten = 0;
        }
    }

    /// No timers, as in a new run (the heap's memory kept).
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.forgotten = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The earliest live timer's key, dropping dead ones on the way.
    pub(crate) fn first(&mut self) -> Option<TimerKey> {
        loop {
            let top = self.heap.peek()?;
            if top.is_live() {
                return Some(top.key);
            }
            self.heap.pop();
        }
    }

    /// Moves every live timer due at exactly `deadline` into `due`, in key order.
    pub(crate) fn take_due_at(&mut self, deadline: Instant, due: &mut Vec<(TimerKey, TimerEntry)>) {
        while self.heap.peek().is_some_and(|t| t.key.0 == deadline) {
            let timer = self.heap.pop().expect("peeked");
            if timer.is_live() {
                due.push((timer.key, timer.entry));
            }
        }
    }
}
