//! Helpers shared by the runtime's integration tests: a manual clock with autojump, so tests
//! that involve time run in microseconds without depending on the testkit.

#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(unreachable_pub, reason = "shared by test crates through `mod common`")]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use trio::Instant;
use trio::abc::{Clock, Instrument};
use trio::lowlevel::Task;

/// A clock that only moves when told to, or (with autojump) straight to the next deadline
/// whenever every task is blocked.
#[derive(Clone, Default)]
pub struct ManualClock {
    now: Rc<Cell<Instant>>,
    autojump: Rc<Cell<bool>>,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    pub fn autojumping() -> ManualClock {
        let clock = ManualClock::default();
        clock.autojump.set(true);
        clock
    }

    pub fn jump(&self, d: Duration) {
        self.now.set(self.now.get() + d);
    }
}

impl Clock for ManualClock {
    fn current_time(&self) -> Instant {
        self.now.get()
    }

    fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
        if deadline <= self.now.get() { Some(Duration::ZERO) } else { None }
    }

    fn autojump_threshold(&self) -> Option<Duration> {
        self.autojump.get().then_some(Duration::ZERO)
    }

    fn autojump(&self, deadline: Instant) {
        if deadline > self.now.get() {
            self.now.set(deadline);
        }
    }
}

/// Runs `future` on a fresh run with an autojumping manual clock.
pub fn run_auto<F: Future>(future: F) -> F::Output {
    trio::Builder::new().clock(ManualClock::autojumping()).run(future)
}

/// Runs `future` with a manual clock the test can jump.
pub fn run_manual<F: Future>(clock: &ManualClock, future: F) -> F::Output {
    trio::Builder::new().clock(clock.clone()).run(future)
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn at(s: u64) -> Instant {
    Instant::from_secs(s)
}

/// An ordered log shared between tasks.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, entry: impl Into<String>) {
        self.0.borrow_mut().push(entry.into());
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Records every instrument event as a line of text.
#[derive(Clone, Default)]
pub struct Recorder(Rc<RefCell<Vec<String>>>);

impl Recorder {
    pub fn events(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    fn push(&self, event: String) {
        self.0.borrow_mut().push(event);
    }
}

impl Instrument for Recorder {
    fn before_run(&self) {
        self.push("before_run".into());
    }
    fn after_run(&self) {
        self.push("after_run".into());
    }
    fn task_spawned(&self, task: &Task) {
        self.push(format!("spawned {} {}", task.id(), task.name()));
    }
    fn task_scheduled(&self, task: &Task) {
        self.push(format!("scheduled {}", task.id()));
    }
    fn before_task_step(&self, task: &Task) {
        self.push(format!("step {} at {}", task.id(), trio::current_time()));
    }
    fn after_task_step(&self, task: &Task) {
        self.push(format!("stepped {}", task.id()));
    }
    fn task_exited(&self, task: &Task) {
        self.push(format!("exited {}", task.id()));
    }
    fn before_io_wait(&self, timeout: Option<Duration>) {
        self.push(format!("io_wait {timeout:?}"));
    }
}
