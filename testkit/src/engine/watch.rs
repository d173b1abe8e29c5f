//! The last line of defence against a hang: a task that never yields.
//!
//! The runtime's watchdog runs on the run's own thread, between task steps. A task stuck inside
//! one step — a loop with no `.await`, a blocking call — never gives the thread back, so nothing
//! on that thread can stop it, and no safe code on another thread can end it either. A watcher
//! thread (one per process, started on first use) therefore keeps an eye on every run: each
//! [`Runner`](super::Runner) owns a [`Slot`] where it posts the run it is making, and a
//! [board](Slot::board) instrument keeps the run's live tasks and the one in its step. When a
//! run outlives its real-time limit plus a grace period (half the limit, at least
//! [`MIN_GRACE`]) — time the runtime's own watchdog would have used to stop it, had it been able
//! to — the watcher writes a report to standard error and aborts the process.
//!
//! The cost on the happy path: two uncontended lock operations and one clock read per run.
//! Runs that are one of a kind (a single schedule, a replay, the re-run of a failure) also keep
//! the board: a lock per task spawned or exited, an atomic store around each task step. The
//! many schedules of an exploration do not — an instrument costs something at every step — so
//! the report of a stuck exploration names the schedule and its replay command, which runs it
//! alone, with the board.

use std::fmt::Write as _;
use std::io::Write as _;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use trio::abc::Instrument;
use trio::lowlevel::Task;

use super::PolicySpec;
use crate::config::{Explore, ReplayCommand};

/// The least extra time a stuck run gets beyond its limit before the process is aborted: the
/// runtime's watchdog fires at the limit when it can, and a loaded machine can delay it.
pub(crate) const MIN_GRACE: Duration = Duration::from_secs(2);

/// Where one runner posts its runs.
pub(crate) struct Slot(Arc<SlotInner>);

struct SlotInner {
    test: String,
    replay: ReplayCommand,
    limit: Duration,
    /// Invariant: `state.run` is `Some` exactly while the runner is inside `Runner::run`.
    state: Mutex<SlotState>,
    /// The id of the task in its step, 0 when none is.
    current: AtomicU64,
}

#[derive(Default)]
struct SlotState {
    run: Option<ActiveRun>,
    /// Every task of the current run, in spawn order.
    tasks: Vec<TaskEntry>,
}

struct ActiveRun {
    started: Instant,
    deadline: Instant,
    seed: u64,
    policy: PolicySpec,
    /// Whether the board follows this run's tasks.
    board: bool,
}

/// What the board knows of a task. Not its name: the runtime derives a task's default name on
/// demand, which costs more than the rest of a spawn; the spawn site identifies it as well.
struct TaskEntry {
    id: u64,
    parent: Option<u64>,
    at: &'static Location<'static>,
    exited: bool,
}

impl Slot {
    pub(crate) fn new(config: &Explore) -> Slot {
        let inner = Arc::new(SlotInner {
            test: config.name.clone(),
            replay: ReplayCommand::new(config),
            limit: config.timeout,
            state: Mutex::new(SlotState::default()),
            current: AtomicU64::new(0),
        });
        let watcher = watcher();
        lock(&watcher.slots).push(Arc::downgrade(&inner));
        Slot(inner)
    }

    /// The instrument that keeps this slot's task board up to date.
    pub(crate) fn board(&self) -> Board {
        Board(self.0.clone())
    }

    /// Posts a run; it is watched until the returned guard is dropped. `board`: whether the
    /// run keeps the task board up to date.
    pub(crate) fn begin(&self, seed: u64, policy: &PolicySpec, board: bool) -> Watched<'_> {
        let started = Instant::now();
        let grace = (self.0.limit / 2).max(MIN_GRACE);
        let deadline = started.checked_add(self.0.limit.saturating_add(grace)).unwrap_or(started + Duration::MAX / 4);
        {
            let mut state = lock(&self.0.state);
            state.tasks.clear();
            state.run = Some(ActiveRun { started, deadline, seed, policy: policy.clone(), board });
        }
        self.0.current.store(0, Ordering::Relaxed);
        let watcher = watcher();
        if nanos(deadline) < watcher.planned.load(Ordering::SeqCst) {
            let _slots = lock(&watcher.slots);
            watcher.wake.notify_one();
        }
        Watched(self)
    }
}

/// A run being watched; dropping it ends the watch.
pub(crate) struct Watched<'a>(&'a Slot);

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        lock(&self.0.0.state).run = None;
    }
}

/// The instrument half: which tasks are alive, and which one is in its step.
pub(crate) struct Board(Arc<SlotInner>);

impl Instrument for Board {
    fn task_spawned(&self, task: &Task) {
        lock(&self.0.state).tasks.push(TaskEntry {
            id: task.id().as_u64(),
            parent: task.parent().map(|p| p.as_u64()),
            at: task.spawn_location(),
            exited: false,
        });
    }

    fn task_exited(&self, task: &Task) {
        let id = task.id().as_u64();
        if let Some(entry) = lock(&self.0.state).tasks.iter_mut().rev().find(|entry| entry.id == id) {
            entry.exited = true;
        }
    }

    fn before_task_step(&self, task: &Task) {
        self.0.current.store(task.id().as_u64(), Ordering::Relaxed);
    }

    fn after_task_step(&self, _task: &Task) {
        self.0.current.store(0, Ordering::Relaxed);
    }
}

// ===== the watcher thread =====

struct Watcher {
    /// Every runner's slot; the watcher's condition variable waits on this lock.
    slots: Mutex<Vec<Weak<SlotInner>>>,
    wake: Condvar,
    /// When the watcher means to look next (nanoseconds since [`epoch`]); `u64::MAX` while it
    /// is looking, or has nothing to wait for. A run whose deadline is earlier wakes it.
    planned: AtomicU64,
}

fn watcher() -> &'static Watcher {
    static WATCHER: OnceLock<&'static Watcher> = OnceLock::new();
    WATCHER.get_or_init(|| {
        let watcher: &'static Watcher = Box::leak(Box::new(Watcher {
            slots: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            planned: AtomicU64::new(u64::MAX),
        }));
        std::thread::Builder::new()
            .name("trio-testkit-watcher".into())
            .spawn(move || watch(watcher))
            .expect("could not start trio-testkit's watcher thread");
        watcher
    })
}

fn watch(watcher: &'static Watcher) {
    let mut slots = lock(&watcher.slots);
    loop {
        watcher.planned.store(u64::MAX, Ordering::SeqCst);
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        slots.retain(|slot| slot.strong_count() > 0);
        for slot in slots.iter().filter_map(Weak::upgrade) {
            let state = lock(&slot.state);
            if let Some(run) = &state.run {
                if now >= run.deadline {
                    let report = report(&slot, &state, run, now);
                    let mut stderr = std::io::stderr().lock();
                    let _ = stderr.write_all(report.as_bytes());
                    let _ = stderr.flush();
                    std::process::abort();
                }
                next = Some(next.map_or(run.deadline, |n| n.min(run.deadline)));
            }
        }
        // Nothing running right now, but runners exist: a run that begins later ends its grace
        // period after `now + MIN_GRACE`, so looking again then misses nothing — and the many
        // short runs of an exploration never have to wake the watcher (which would make every
        // run take the lock of the slot list).
        if next.is_none() && !slots.is_empty() {
            next = Some(now + MIN_GRACE);
        }
        slots = match next {
            None => watcher.wake.wait(slots).unwrap_or_else(|e| e.into_inner()),
            Some(at) => {
                watcher.planned.store(nanos(at), Ordering::SeqCst);
                watcher.wake.wait_timeout(slots, at.saturating_duration_since(now)).unwrap_or_else(|e| e.into_inner()).0
            }
        };
    }
}

/// What the watcher prints before aborting.
fn report(slot: &SlotInner, state: &SlotState, run: &ActiveRun, now: Instant) -> String {
    let current = slot.current.load(Ordering::Relaxed);
    let running = state.tasks.iter().find(|task| task.id == current && !task.exited);
    let elapsed = now.saturating_duration_since(run.started);
    let mut text = format!("\ntrio-testkit: test {} is stuck: ", slot.test);
    match running {
        Some(task) => {
            let _ = write!(
                text,
                "task {} (spawned at {}) never gave control back — its current step has not returned, and the \
                 run started {elapsed:.1?} ago",
                task.id, task.at
            );
        }
        None if run.board => {
            let _ = write!(text, "the run started {elapsed:.1?} ago and its thread has not returned to the run loop");
        }
        None => {
            let _ = write!(
                text,
                "the run started {elapsed:.1?} ago and a task in it never gave control back (which one is not \
                 recorded for the many schedules of an exploration: replay this schedule alone, with the command \
                 below, to see it)"
            );
        }
    }
    let _ = write!(
        text,
        "\n  a task that never reaches an `.await` that yields (a loop without one, a blocking call) cannot be \
         stopped by the watchdog (limit {:?}) nor cancelled: add `trio::checkpoint().await?` to the loop, or move \
         blocking work to a thread",
        slot.limit
    );
    let (env, schedule) = match &run.policy {
        PolicySpec::Kind(kind) => {
            (format!("TRIO_SEED={} TRIO_POLICY={kind}", run.seed), format!("policy {kind}, seed {}", run.seed))
        }
        PolicySpec::Replay(schedule) => {
            (format!("TRIO_REPLAY={schedule}"), format!("replaying {schedule}, seed {}", run.seed))
        }
        PolicySpec::Inject { kind, task, cancel_point } => (
            format!("TRIO_SEED={} TRIO_POLICY={kind}", run.seed),
            format!(
                "policy {kind}, seed {}, with a cancellation injected at cancel point {cancel_point} of task {task}",
                run.seed
            ),
        ),
        PolicySpec::Around { schedule, cut, kind } => (
            format!("TRIO_REPLAY={schedule}"),
            format!(
                "following the saved schedule {schedule} up to decision {cut}, then policy {kind}, seed {} (the \
                 replay line runs the saved schedule alone)",
                run.seed
            ),
        ),
        PolicySpec::Choices(choices) => (
            "PROPTEST_CASES=1".to_string(),
            format!(
                "a schedule drawn by proptest ({} choices), seed {}; proptest's saved case replays it",
                choices.len(),
                run.seed
            ),
        ),
    };
    let _ = write!(text, "\n  schedule: {schedule}");
    if run.board {
        let _ = write!(text, "\n  the run's tasks (those alive):");
        write_tree(&mut text, &state.tasks, None, 2, current);
    }
    let _ = write!(text, "\n  replay this schedule: {}", slot.replay.command(&env));
    text.push_str(
        "\n  aborting the process: nothing else stops a thread that never returns (every test still \
         running in this process ends with it)\n",
    );
    text
}

fn write_tree(text: &mut String, tasks: &[TaskEntry], parent: Option<u64>, depth: usize, current: u64) {
    for task in tasks.iter().filter(|task| task.parent == parent && !task.exited) {
        let _ = write!(text, "\n{:indent$}task {} (spawned at {})", "", task.id, task.at, indent = depth * 2);
        if parent.is_none() && task.id == 1 {
            text.push_str(", the test's main task");
        }
        if task.id == current {
            text.push_str("  <- in a step that never returns");
        }
        write_tree(text, tasks, Some(task.id), depth + 1, current);
    }
}

// ===== helpers =====

/// The watcher's clock origin.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX - 1)
}

/// Locks `mutex`, also after a panic elsewhere poisoned it (the data is still consistent: every
/// critical section here is a single assignment or push).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
