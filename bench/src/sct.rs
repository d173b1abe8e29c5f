//! SCTBench-style bug-finding programs, each in a trio form and a shuttle form, and the
//! functions that count how many schedules an exploration runs before one of them first fails.
//!
//! The programs follow the shapes of the small C programs of SCTBench and ConVul (the suites
//! the PCT, POS and SURW papers report on): a bank account, a driver's stop flag, a circular
//! buffer, a lazily initialised value, `reorder_N`, `twostage`, `wronglock`, a stack, and an
//! ordering bug of depth 3. They are rewritten here, not translated line by line; each keeps the
//! original's bug and the number of tasks that race for it.
//!
//! # How the two forms correspond
//!
//! Every access to shared memory is one scheduling point, placed just before the access:
//!
//! | | trio | shuttle |
//! | --- | --- | --- |
//! | read or write a shared variable | [`Var::get`] / [`Var::set`]: `checkpoint()`, then the `Cell` | `AtomicI64::load` / `store` (`SeqCst`), which switch first |
//! | take a lock | `checkpoint()`, then take it, or park until a release and try again | `Mutex::lock()` (yields first) |
//! | release a lock | `checkpoint()`, then release it and wake every waiter | drop the guard (yields, then releases) |
//! | start a task or thread | `checkpoint()`, then `start_soon` | `thread::spawn` (yields first) |
//! | local work between accesses | `checkpoint()` | `thread::yield_now()` |
//!
//! A read-modify-write such as `x += 1` is a read and a write, two points, in both forms. The
//! trio form's lock is the bench's own [`Mutex`], unfair like shuttle's: trio's `Lock` hands
//! itself to the longest waiter, which would rule out interleavings the shuttle form has. The
//! remaining difference: the parent waits for its children at the nursery's end in trio and
//! joins each thread in turn in shuttle (a join is one more scheduling point of the parent's).
//! Every bug is an assertion whose message starts with `bug:`.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use shuttle::scheduler::{PctScheduler, RandomScheduler, UrwRandomScheduler};
use shuttle::sync::Mutex as ShuttleMutex;
use shuttle::sync::atomic::AtomicI64;
use trio::Nursery;
use trio::lowlevel::ParkingLot;
use trio_testkit::explore::{Explore, FailureKind, PolicyKind};

/// The trio form of a program: one run, as [`Explore::run`] takes it.
pub type TrioProgram = fn() -> Pin<Box<dyn Future<Output = ()>>>;

/// One program of the suite in its two forms.
#[derive(Clone, Copy)]
pub struct Program {
    /// Its name in the table (the SCTBench program it follows).
    pub name: &'static str,
    /// What goes wrong, in one line.
    pub bug: &'static str,
    /// The trio form.
    pub trio: TrioProgram,
    /// The shuttle form.
    pub shuttle: fn(),
}

/// The suite, in the order of the table.
pub const PROGRAMS: [Program; 10] = [
    Program {
        name: "account",
        bug: "the checker's expected balance is wrong; seen only if it runs after both transfers",
        trio: account,
        shuttle: account_shuttle,
    },
    Program {
        name: "bluetooth_driver",
        bug: "a request passes the stopping-flag check, then the driver stops under it",
        trio: bluetooth,
        shuttle: bluetooth_shuttle,
    },
    Program {
        name: "circular_buffer",
        bug: "the reader counts turns in which it had nothing to read, and expects the wrong item",
        trio: circular_buffer,
        shuttle: circular_buffer_shuttle,
    },
    Program {
        name: "lazy_init",
        bug: "double-checked initialisation publishes the ready flag before the value",
        trio: lazy_init,
        shuttle: lazy_init_shuttle,
    },
    Program {
        name: "reorder_3",
        bug: "a checker reads a pair between a setter's two writes (2 setters)",
        trio: reorder_3,
        shuttle: reorder_3_shuttle,
    },
    Program {
        name: "reorder_10",
        bug: "the same with 9 setters: the checker starts last and must slip into one narrow window",
        trio: reorder_10,
        shuttle: reorder_10_shuttle,
    },
    Program {
        name: "twostage",
        bug: "a reader runs between the writer's two critical sections",
        trio: twostage,
        shuttle: twostage_shuttle,
    },
    Program {
        name: "wronglock",
        bug: "7 tasks increment a counter under a different lock than the one task that checks it",
        trio: wronglock,
        shuttle: wronglock_shuttle,
    },
    Program {
        name: "stack",
        bug: "pop trusts a 'something was pushed' flag instead of the size, and underflows",
        trio: stack,
        shuttle: stack_shuttle,
    },
    Program {
        name: "order_3",
        bug: "three tasks must interleave in one order: a write, a relay, a check before the overwrite",
        trio: order_3,
        shuttle: order_3_shuttle,
    },
];

// ===== The two forms' building blocks =====

/// One scheduling point in trio: a checkpoint (nothing in these programs is cancelled).
async fn point() {
    trio::checkpoint().await.expect("nothing is cancelled");
}

/// A shared `i64` in the trio form: every access is a checkpoint followed by the access.
pub struct Var(Cell<i64>);

impl Var {
    fn new(value: i64) -> Var {
        Var(Cell::new(value))
    }

    /// Reads the variable after a scheduling point.
    pub async fn get(&self) -> i64 {
        point().await;
        self.0.get()
    }

    /// Writes the variable after a scheduling point.
    pub async fn set(&self, value: i64) {
        point().await;
        self.0.set(value);
    }
}

/// A lock with shuttle's `Mutex` semantics in the trio form: unfair. A release wakes every
/// waiting task and they race for the lock again, the releasing task included; trio's own
/// [`trio::Lock`] instead hands itself to the longest waiter, which rules out interleavings
/// in which the releasing task takes the lock again first (the `stack` bug needs two pops in
/// a row while the pusher waits).
pub struct Mutex {
    held: Cell<bool>,
    waiters: ParkingLot,
}

impl Mutex {
    fn new() -> Mutex {
        Mutex { held: Cell::new(false), waiters: ParkingLot::new() }
    }
}

/// Holding a [`Mutex`]; dropping it releases the lock and wakes every waiter.
pub struct MutexGuard<'a>(&'a Mutex);

impl Drop for MutexGuard<'_> {
    fn drop(&mut self) {
        self.0.held.set(false);
        self.0.waiters.unpark_all();
    }
}

/// Takes `lock` after a scheduling point, as shuttle's `Mutex::lock` does. A busy lock parks
/// the task until a release; woken, it tries again (and may lose the race, and park again),
/// as a thread blocked on shuttle's unfair mutex does.
async fn acquire(lock: &Mutex) -> MutexGuard<'_> {
    point().await;
    while lock.held.get() {
        lock.waiters.park().await.expect("nothing is cancelled or broken");
    }
    lock.held.set(true);
    MutexGuard(lock)
}

/// Yields, then releases the lock, as shuttle's unlock does (its release is a scheduling point
/// taken before the permit goes back).
async fn release(guard: MutexGuard<'_>) {
    point().await;
    drop(guard);
}

/// Starts `task` after a scheduling point, as shuttle's `spawn` switches before it creates the
/// thread.
async fn spawn(nursery: &Nursery, task: impl Future<Output = ()> + 'static) {
    point().await;
    nursery.start_soon(task);
}

/// Runs `body` in a nursery and waits for the tasks it starts.
async fn with_nursery<F: Future<Output = ()>>(body: impl FnOnce(Nursery) -> F) {
    trio::open_nursery(|nursery| async move {
        body(nursery).await;
        Ok(())
    })
    .await
    .expect("the tasks only panic");
}

/// A shared `i64` in the shuttle form.
fn var(value: i64) -> AtomicI64 {
    AtomicI64::new(value)
}

fn get(var: &AtomicI64) -> i64 {
    var.load(Ordering::SeqCst)
}

fn set(var: &AtomicI64, value: i64) {
    var.store(value, Ordering::SeqCst);
}

/// Takes a shuttle mutex (one scheduling point). Poisoning is ignored: when a thread fails its
/// assertion holding a lock, shuttle tears the other threads down by unwinding them, and one
/// of them may take the lock on the way.
fn lock(mutex: &ShuttleMutex<()>) -> shuttle::sync::MutexGuard<'_, ()> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts one shuttle thread per closure, then joins them in order.
fn run_threads(threads: Vec<Box<dyn FnOnce() + Send>>) {
    let handles: Vec<_> = threads.into_iter().map(shuttle::thread::spawn).collect();
    for handle in handles {
        // A thread's panic fails the whole execution before any join sees it.
        let _ = handle.join();
    }
}

// ===== account =====
//
// A checker, a deposit and a withdrawal (started in that order). The checker expects the
// balance `x - y - z` once both transfers are done, but the right one is `x + y - z`: the bug
// shows only if the checker runs after both transfers.

const ACCOUNT_START: i64 = 1;
const DEPOSIT: i64 = 2;
const WITHDRAWAL: i64 = 4;
const ACCOUNT_EXPECTED_BY_CHECKER: i64 = ACCOUNT_START - DEPOSIT - WITHDRAWAL;

struct Account {
    balance: Var,
    deposited: Var,
    withdrawn: Var,
    lock: Mutex,
}

fn account() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let s = Rc::new(Account {
            balance: Var::new(ACCOUNT_START),
            deposited: Var::new(0),
            withdrawn: Var::new(0),
            lock: Mutex::new(),
        });
        with_nursery(|nursery| async move {
            let c = s.clone();
            spawn(&nursery, async move {
                let guard = acquire(&c.lock).await;
                if c.deposited.get().await == 1 && c.withdrawn.get().await == 1 {
                    assert_eq!(c.balance.get().await, ACCOUNT_EXPECTED_BY_CHECKER, "bug: unexpected balance");
                }
                release(guard).await;
            })
            .await;
            for (amount, done) in [(DEPOSIT, 0), (-WITHDRAWAL, 1)] {
                let c = s.clone();
                spawn(&nursery, async move {
                    let guard = acquire(&c.lock).await;
                    let balance = c.balance.get().await;
                    c.balance.set(balance + amount).await;
                    release(guard).await;
                    [&c.deposited, &c.withdrawn][done].set(1).await;
                })
                .await;
            }
        })
        .await;
    })
}

struct AccountShuttle {
    balance: AtomicI64,
    deposited: AtomicI64,
    withdrawn: AtomicI64,
    lock: ShuttleMutex<()>,
}

fn account_shuttle() {
    let s = Arc::new(AccountShuttle {
        balance: var(ACCOUNT_START),
        deposited: var(0),
        withdrawn: var(0),
        lock: ShuttleMutex::new(()),
    });
    let c = s.clone();
    let mut threads: Vec<Box<dyn FnOnce() + Send>> = vec![Box::new(move || {
        let guard = lock(&c.lock);
        if get(&c.deposited) == 1 && get(&c.withdrawn) == 1 {
            assert_eq!(get(&c.balance), ACCOUNT_EXPECTED_BY_CHECKER, "bug: unexpected balance");
        }
        drop(guard);
    })];
    for (amount, done) in [(DEPOSIT, 0), (-WITHDRAWAL, 1)] {
        let c = s.clone();
        threads.push(Box::new(move || {
            let guard = lock(&c.lock);
            let balance = get(&c.balance);
            set(&c.balance, balance + amount);
            drop(guard);
            set([&c.deposited, &c.withdrawn][done], 1);
        }));
    }
    run_threads(threads);
}

// ===== bluetooth_driver =====
//
// A driver with one pending request counted at start. The parent adds a request: if the
// stopping flag is clear it counts itself in and asserts the driver has not stopped, then
// counts itself out. A stopper sets the flag, counts the initial request out and, if that
// brought the count to zero, marks the driver stopped. (The original waits for the last
// request to leave; here the stopper stops only when it was the last, the same set of
// failing interleavings without a spin loop.)

struct Driver {
    pending: Var,
    stopping: Var,
    drained: Var,
    stopped: Var,
    lock: Mutex,
}

impl Driver {
    async fn enter(&self) -> bool {
        if self.stopping.get().await == 1 {
            return false;
        }
        let guard = acquire(&self.lock).await;
        let pending = self.pending.get().await;
        self.pending.set(pending + 1).await;
        release(guard).await;
        true
    }

    async fn leave(&self) {
        let guard = acquire(&self.lock).await;
        let pending = self.pending.get().await - 1;
        self.pending.set(pending).await;
        release(guard).await;
        if pending == 0 {
            self.drained.set(1).await;
        }
    }
}

fn bluetooth() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let d = Rc::new(Driver {
            pending: Var::new(1),
            stopping: Var::new(0),
            drained: Var::new(0),
            stopped: Var::new(0),
            lock: Mutex::new(),
        });
        with_nursery(|nursery| async move {
            let stopper = d.clone();
            spawn(&nursery, async move {
                stopper.stopping.set(1).await;
                stopper.leave().await;
                if stopper.drained.get().await == 1 {
                    stopper.stopped.set(1).await;
                }
            })
            .await;
            if d.enter().await {
                assert_eq!(d.stopped.get().await, 0, "bug: a request runs on a stopped driver");
                d.leave().await;
            }
        })
        .await;
    })
}

struct DriverShuttle {
    pending: AtomicI64,
    stopping: AtomicI64,
    drained: AtomicI64,
    stopped: AtomicI64,
    lock: ShuttleMutex<()>,
}

impl DriverShuttle {
    fn enter(&self) -> bool {
        if get(&self.stopping) == 1 {
            return false;
        }
        let guard = lock(&self.lock);
        let pending = get(&self.pending);
        set(&self.pending, pending + 1);
        drop(guard);
        true
    }

    fn leave(&self) {
        let guard = lock(&self.lock);
        let pending = get(&self.pending) - 1;
        set(&self.pending, pending);
        drop(guard);
        if pending == 0 {
            set(&self.drained, 1);
        }
    }
}

fn bluetooth_shuttle() {
    let d = Arc::new(DriverShuttle {
        pending: var(1),
        stopping: var(0),
        drained: var(0),
        stopped: var(0),
        lock: ShuttleMutex::new(()),
    });
    let stopper = d.clone();
    let handle = shuttle::thread::spawn(move || {
        set(&stopper.stopping, 1);
        stopper.leave();
        if get(&stopper.drained) == 1 {
            set(&stopper.stopped, 1);
        }
    });
    if d.enter() {
        assert_eq!(get(&d.stopped), 0, "bug: a request runs on a stopped driver");
        d.leave();
    }
    let _ = handle.join();
}

// ===== circular_buffer =====
//
// A writer and a reader take turns through `send`/`receive` flags under a lock, seven rounds
// each. The reader expects item `i` in its round `i`, but its rounds advance even when there was
// nothing to read, so it expects the wrong item once it has spun a round ahead.

const BUFFER: usize = 10;
const ROUNDS: i64 = 7;

struct Ring {
    items: Vec<Var>,
    first: Var,
    next: Var,
    send: Var,
    receive: Var,
    lock: Mutex,
}

fn circular_buffer() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let r = Rc::new(Ring {
            items: (0..BUFFER).map(|_| Var::new(0)).collect(),
            first: Var::new(0),
            next: Var::new(0),
            send: Var::new(1),
            receive: Var::new(0),
            lock: Mutex::new(),
        });
        with_nursery(|nursery| async move {
            let w = r.clone();
            spawn(&nursery, async move {
                for i in 0..ROUNDS {
                    let guard = acquire(&w.lock).await;
                    if w.send.get().await == 1 {
                        let next = w.next.get().await;
                        w.items[next as usize].set(i).await;
                        w.next.set((next + 1) % BUFFER as i64).await;
                        w.send.set(0).await;
                        w.receive.set(1).await;
                    }
                    release(guard).await;
                }
            })
            .await;
            spawn(&nursery, async move {
                for i in 0..ROUNDS {
                    let guard = acquire(&r.lock).await;
                    if r.receive.get().await == 1 {
                        let first = r.first.get().await;
                        r.first.set(first + 1).await;
                        assert_eq!(r.items[first as usize].get().await, i, "bug: the reader got another round's item");
                        r.receive.set(0).await;
                        r.send.set(1).await;
                    }
                    release(guard).await;
                }
            })
            .await;
        })
        .await;
    })
}

struct RingShuttle {
    items: Vec<AtomicI64>,
    first: AtomicI64,
    next: AtomicI64,
    send: AtomicI64,
    receive: AtomicI64,
    lock: ShuttleMutex<()>,
}

fn circular_buffer_shuttle() {
    let r = Arc::new(RingShuttle {
        items: (0..BUFFER).map(|_| var(0)).collect(),
        first: var(0),
        next: var(0),
        send: var(1),
        receive: var(0),
        lock: ShuttleMutex::new(()),
    });
    let w = r.clone();
    run_threads(vec![
        Box::new(move || {
            for i in 0..ROUNDS {
                let guard = lock(&w.lock);
                if get(&w.send) == 1 {
                    let next = get(&w.next);
                    set(&w.items[next as usize], i);
                    set(&w.next, (next + 1) % BUFFER as i64);
                    set(&w.send, 0);
                    set(&w.receive, 1);
                }
                drop(guard);
            }
        }),
        Box::new(move || {
            for i in 0..ROUNDS {
                let guard = lock(&r.lock);
                if get(&r.receive) == 1 {
                    let first = get(&r.first);
                    set(&r.first, first + 1);
                    assert_eq!(get(&r.items[first as usize]), i, "bug: the reader got another round's item");
                    set(&r.receive, 0);
                    set(&r.send, 1);
                }
                drop(guard);
            }
        }),
    ]);
}

// ===== lazy_init =====
//
// Three tasks get a lazily initialised value through double-checked locking. The initialiser
// sets the ready flag before it writes the value, so a task that sees the flag set outside the
// lock can read the value before it exists.

const LAZY_TASKS: usize = 3;
const LAZY_VALUE: i64 = 42;

struct Lazy {
    ready: Var,
    value: Var,
    lock: Mutex,
}

fn lazy_init() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let l = Rc::new(Lazy { ready: Var::new(0), value: Var::new(0), lock: Mutex::new() });
        with_nursery(|nursery| async move {
            for _ in 0..LAZY_TASKS {
                let l = l.clone();
                spawn(&nursery, async move {
                    if l.ready.get().await == 0 {
                        let guard = acquire(&l.lock).await;
                        if l.ready.get().await == 0 {
                            l.ready.set(1).await;
                            l.value.set(LAZY_VALUE).await;
                        }
                        release(guard).await;
                    }
                    assert_eq!(l.value.get().await, LAZY_VALUE, "bug: read the value before it was written");
                })
                .await;
            }
        })
        .await;
    })
}

struct LazyShuttle {
    ready: AtomicI64,
    value: AtomicI64,
    lock: ShuttleMutex<()>,
}

fn lazy_init_shuttle() {
    let l = Arc::new(LazyShuttle { ready: var(0), value: var(0), lock: ShuttleMutex::new(()) });
    let threads = (0..LAZY_TASKS)
        .map(|_| {
            let l = l.clone();
            Box::new(move || {
                if get(&l.ready) == 0 {
                    let guard = lock(&l.lock);
                    if get(&l.ready) == 0 {
                        set(&l.ready, 1);
                        set(&l.value, LAZY_VALUE);
                    }
                    drop(guard);
                }
                assert_eq!(get(&l.value), LAZY_VALUE, "bug: read the value before it was written");
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    run_threads(threads);
}

// ===== reorder_N =====
//
// N - 1 setters each write `a = 1` then `b = -1`; one checker, started last, reads `a` then
// `b` and asserts it saw the pair before or after a write, never half of one. It fails only
// if it reads both between the first setter's two writes.

async fn reorder(tasks: usize) {
    let pair = Rc::new((Var::new(0), Var::new(0)));
    with_nursery(|nursery| async move {
        for _ in 0..tasks - 1 {
            let p = pair.clone();
            spawn(&nursery, async move {
                p.0.set(1).await;
                p.1.set(-1).await;
            })
            .await;
        }
        spawn(&nursery, async move {
            let a = pair.0.get().await;
            let b = pair.1.get().await;
            assert!((a, b) == (0, 0) || (a, b) == (1, -1), "bug: saw a half-written pair ({a}, {b})");
        })
        .await;
    })
    .await;
}

fn reorder_3() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(reorder(3))
}

fn reorder_10() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(reorder(10))
}

fn reorder_shuttle(tasks: usize) {
    let pair = Arc::new((var(0), var(0)));
    let mut threads: Vec<Box<dyn FnOnce() + Send>> = (0..tasks - 1)
        .map(|_| {
            let p = pair.clone();
            Box::new(move || {
                set(&p.0, 1);
                set(&p.1, -1);
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    threads.push(Box::new(move || {
        let a = get(&pair.0);
        let b = get(&pair.1);
        assert!((a, b) == (0, 0) || (a, b) == (1, -1), "bug: saw a half-written pair ({a}, {b})");
    }));
    run_threads(threads);
}

fn reorder_3_shuttle() {
    reorder_shuttle(3);
}

fn reorder_10_shuttle() {
    reorder_shuttle(10);
}

// ===== twostage =====
//
// A writer sets `data1` under one lock, then `data2 = data1 + 1` under another. A reader that
// finds `data1` set reads both and asserts `data2 == data1 + 1`: wrong between the two stages.

struct TwoStage {
    data1: Var,
    data2: Var,
    lock1: Mutex,
    lock2: Mutex,
}

fn twostage() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let s = Rc::new(TwoStage { data1: Var::new(0), data2: Var::new(0), lock1: Mutex::new(), lock2: Mutex::new() });
        with_nursery(|nursery| async move {
            let w = s.clone();
            spawn(&nursery, async move {
                let guard = acquire(&w.lock1).await;
                w.data1.set(1).await;
                release(guard).await;
                let guard = acquire(&w.lock2).await;
                let first = w.data1.get().await;
                w.data2.set(first + 1).await;
                release(guard).await;
            })
            .await;
            spawn(&nursery, async move {
                let guard = acquire(&s.lock1).await;
                if s.data1.get().await == 0 {
                    release(guard).await;
                    return;
                }
                let first = s.data1.get().await;
                release(guard).await;
                let guard = acquire(&s.lock2).await;
                let second = s.data2.get().await;
                release(guard).await;
                assert_eq!(second, first + 1, "bug: read between the two stages");
            })
            .await;
        })
        .await;
    })
}

struct TwoStageShuttle {
    data1: AtomicI64,
    data2: AtomicI64,
    lock1: ShuttleMutex<()>,
    lock2: ShuttleMutex<()>,
}

fn twostage_shuttle() {
    let s = Arc::new(TwoStageShuttle {
        data1: var(0),
        data2: var(0),
        lock1: ShuttleMutex::new(()),
        lock2: ShuttleMutex::new(()),
    });
    let w = s.clone();
    run_threads(vec![
        Box::new(move || {
            let guard = lock(&w.lock1);
            set(&w.data1, 1);
            drop(guard);
            let guard = lock(&w.lock2);
            let first = get(&w.data1);
            set(&w.data2, first + 1);
            drop(guard);
        }),
        Box::new(move || {
            let guard = lock(&s.lock1);
            if get(&s.data1) == 0 {
                drop(guard);
                return;
            }
            let first = get(&s.data1);
            drop(guard);
            let guard = lock(&s.lock2);
            let second = get(&s.data2);
            drop(guard);
            assert_eq!(second, first + 1, "bug: read between the two stages");
        }),
    ]);
}

// ===== wronglock =====
//
// One task reads a counter, increments it and reads it again under lock A, asserting it went
// up by exactly one; seven others increment it under lock B, which does not exclude the first.

const WRONGLOCK_OTHERS: usize = 7;

struct WrongLock {
    data: Var,
    lock_a: Mutex,
    lock_b: Mutex,
}

fn wronglock() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let s = Rc::new(WrongLock { data: Var::new(0), lock_a: Mutex::new(), lock_b: Mutex::new() });
        with_nursery(|nursery| async move {
            let c = s.clone();
            spawn(&nursery, async move {
                let guard = acquire(&c.lock_a).await;
                let before = c.data.get().await;
                let current = c.data.get().await;
                c.data.set(current + 1).await;
                assert_eq!(c.data.get().await, before + 1, "bug: another task changed the counter");
                release(guard).await;
            })
            .await;
            for _ in 0..WRONGLOCK_OTHERS {
                let c = s.clone();
                spawn(&nursery, async move {
                    let guard = acquire(&c.lock_b).await;
                    let current = c.data.get().await;
                    c.data.set(current + 1).await;
                    release(guard).await;
                })
                .await;
            }
        })
        .await;
    })
}

struct WrongLockShuttle {
    data: AtomicI64,
    lock_a: ShuttleMutex<()>,
    lock_b: ShuttleMutex<()>,
}

fn wronglock_shuttle() {
    let s = Arc::new(WrongLockShuttle { data: var(0), lock_a: ShuttleMutex::new(()), lock_b: ShuttleMutex::new(()) });
    let c = s.clone();
    let mut threads: Vec<Box<dyn FnOnce() + Send>> = vec![Box::new(move || {
        let guard = lock(&c.lock_a);
        let before = get(&c.data);
        let current = get(&c.data);
        set(&c.data, current + 1);
        assert_eq!(get(&c.data), before + 1, "bug: another task changed the counter");
        drop(guard);
    })];
    for _ in 0..WRONGLOCK_OTHERS {
        let c = s.clone();
        threads.push(Box::new(move || {
            let guard = lock(&c.lock_b);
            let current = get(&c.data);
            set(&c.data, current + 1);
            drop(guard);
        }));
    }
    run_threads(threads);
}

// ===== stack =====
//
// A pusher pushes five items, one per critical section, and sets `flag` after the first. A
// popper, five critical sections too, pops whenever `flag` is set — but the flag says something
// was pushed once, not that the stack holds something now: two pops in a row underflow.

const STACK: usize = 5;

struct Stack {
    items: Vec<Var>,
    top: Var,
    flag: Var,
    lock: Mutex,
}

fn stack() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let s = Rc::new(Stack {
            items: (0..STACK).map(|_| Var::new(0)).collect(),
            top: Var::new(0),
            flag: Var::new(0),
            lock: Mutex::new(),
        });
        with_nursery(|nursery| async move {
            let p = s.clone();
            spawn(&nursery, async move {
                for i in 0..STACK as i64 {
                    let guard = acquire(&p.lock).await;
                    let top = p.top.get().await;
                    assert!(top < STACK as i64, "bug: overflow");
                    p.items[top as usize].set(i).await;
                    p.top.set(top + 1).await;
                    p.flag.set(1).await;
                    release(guard).await;
                }
            })
            .await;
            spawn(&nursery, async move {
                for _ in 0..STACK {
                    let guard = acquire(&s.lock).await;
                    if s.flag.get().await == 1 {
                        let top = s.top.get().await;
                        assert!(top > 0, "bug: pop from an empty stack");
                        s.top.set(top - 1).await;
                        s.items[top as usize - 1].get().await;
                    }
                    release(guard).await;
                }
            })
            .await;
        })
        .await;
    })
}

struct StackShuttle {
    items: Vec<AtomicI64>,
    top: AtomicI64,
    flag: AtomicI64,
    lock: ShuttleMutex<()>,
}

fn stack_shuttle() {
    let s = Arc::new(StackShuttle {
        items: (0..STACK).map(|_| var(0)).collect(),
        top: var(0),
        flag: var(0),
        lock: ShuttleMutex::new(()),
    });
    let p = s.clone();
    run_threads(vec![
        Box::new(move || {
            for i in 0..STACK as i64 {
                let guard = lock(&p.lock);
                let top = get(&p.top);
                assert!(top < STACK as i64, "bug: overflow");
                set(&p.items[top as usize], i);
                set(&p.top, top + 1);
                set(&p.flag, 1);
                drop(guard);
            }
        }),
        Box::new(move || {
            for _ in 0..STACK {
                let guard = lock(&s.lock);
                if get(&s.flag) == 1 {
                    let top = get(&s.top);
                    assert!(top > 0, "bug: pop from an empty stack");
                    set(&s.top, top - 1);
                    get(&s.items[top as usize - 1]);
                }
                drop(guard);
            }
        }),
    ]);
}

// ===== order_3 =====
//
// A writer sets `x = 1` and later `x = 2`; a relay copies "x is 1" into `y`; a checker fails
// if it sees `y` set and `x` still 1. That takes three orderings at once — write before relay,
// relay before check, check before overwrite — a bug of depth 3 in PCT's terms. Each task first
// does a few steps of local work, which spreads the window over more schedules.

const ORDER_WORK: usize = 3;

fn order_3() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let s = Rc::new((Var::new(0), Var::new(0)));
        with_nursery(|nursery| async move {
            let w = s.clone();
            spawn(&nursery, async move {
                for _ in 0..ORDER_WORK {
                    point().await;
                }
                w.0.set(1).await;
                w.0.set(2).await;
            })
            .await;
            let r = s.clone();
            spawn(&nursery, async move {
                for _ in 0..ORDER_WORK {
                    point().await;
                }
                if r.0.get().await == 1 {
                    r.1.set(1).await;
                }
            })
            .await;
            spawn(&nursery, async move {
                for _ in 0..ORDER_WORK {
                    point().await;
                }
                if s.1.get().await == 1 {
                    assert_ne!(s.0.get().await, 1, "bug: checked between the write and the overwrite");
                }
            })
            .await;
        })
        .await;
    })
}

fn order_3_shuttle() {
    let s = Arc::new((var(0), var(0)));
    let (w, r) = (s.clone(), s.clone());
    run_threads(vec![
        Box::new(move || {
            for _ in 0..ORDER_WORK {
                shuttle::thread::yield_now();
            }
            set(&w.0, 1);
            set(&w.0, 2);
        }),
        Box::new(move || {
            for _ in 0..ORDER_WORK {
                shuttle::thread::yield_now();
            }
            if get(&r.0) == 1 {
                set(&r.1, 1);
            }
        }),
        Box::new(move || {
            for _ in 0..ORDER_WORK {
                shuttle::thread::yield_now();
            }
            if get(&s.1) == 1 {
                assert_ne!(get(&s.0), 1, "bug: checked between the write and the overwrite");
            }
        }),
    ]);
}

// ===== Counting schedules =====

/// The trio strategies of the table, by the names `PolicyKind` parses (`TRIO_POLICY`'s
/// syntax). A new policy is one more name here; a name this build's `PolicyKind` does not
/// parse is left out of the table and named under it (see [`trio_strategies`]), so the list
/// may name policies that are not there yet.
pub const TRIO_STRATEGIES: &[&str] = &["random", "pct:2", "pct:3", "mixed", "pos", "surw"];

/// The policies of [`TRIO_STRATEGIES`] this build has, and the names it does not parse.
pub fn trio_strategies() -> (Vec<PolicyKind>, Vec<&'static str>) {
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for &name in TRIO_STRATEGIES {
        match name.parse() {
            Ok(policy) => present.push(policy),
            Err(_) => missing.push(name),
        }
    }
    (present, missing)
}

/// A shuttle scheduler of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShuttleStrategy {
    /// `RandomScheduler`: a random runnable thread at every scheduling point.
    Random,
    /// `PctScheduler` with this depth.
    Pct(usize),
    /// `UrwRandomScheduler`: a uniform random walk over interleavings (the SURW paper's URW).
    Urw,
}

impl std::fmt::Display for ShuttleStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShuttleStrategy::Random => f.write_str("random"),
            ShuttleStrategy::Pct(depth) => write!(f, "pct:{depth}"),
            ShuttleStrategy::Urw => f.write_str("urw"),
        }
    }
}

/// The shuttle strategies of the table.
pub const SHUTTLE_STRATEGIES: &[ShuttleStrategy] =
    &[ShuttleStrategy::Random, ShuttleStrategy::Pct(2), ShuttleStrategy::Pct(3), ShuttleStrategy::Urw];

/// How many schedules trio-testkit's exploration from base seed `seed` runs until `program`
/// first fails; `None` if none of `cap` schedules fails. One worker thread, so schedule `i` is
/// the `i`-th run.
///
/// # Panics
///
/// If the program fails other than by its assertion (a deadlock, a step limit).
pub fn trio_schedules_to_failure(program: &Program, policy: PolicyKind, seed: u64, cap: u64) -> Option<u64> {
    let explore = Explore::new(program.name)
        .schedules(cap)
        .policy(policy)
        .seed(seed)
        .threads(1)
        .persist(false)
        .shrink(false)
        .check_determinism(false);
    match explore.run(program.trio) {
        Ok(_) => None,
        Err(failure) => {
            assert!(
                failure.kind == FailureKind::Panic && failure.message.contains("bug:"),
                "{} failed other than by its bug: {} ({})",
                program.name,
                failure.kind,
                failure.message
            );
            Some(failure.schedule_index.expect("found by exploration") + 1)
        }
    }
}

/// How many iterations shuttle's `strategy`, seeded with `seed`, runs until `program` first
/// fails; `None` if none of `cap` iterations fails.
///
/// # Panics
///
/// If the program fails other than by its assertion (shuttle's deadlock or step-limit panic).
pub fn shuttle_schedules_to_failure(program: &Program, strategy: ShuttleStrategy, seed: u64, cap: u64) -> Option<u64> {
    let runs = Arc::new(AtomicU64::new(0));
    let counter = runs.clone();
    let test = program.shuttle;
    let body = move || {
        counter.fetch_add(1, Ordering::Relaxed);
        test();
    };
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    let cap = usize::try_from(cap).expect("a cap that fits in usize");
    // shuttle leaves its panic hook installed after a run; put back the one before it.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(quiet_about_bugs));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match strategy {
        ShuttleStrategy::Random => shuttle::Runner::new(RandomScheduler::new_from_seed(seed, cap), config).run(body),
        ShuttleStrategy::Pct(depth) => {
            shuttle::Runner::new(PctScheduler::new_from_seed(seed, depth, cap), config).run(body)
        }
        ShuttleStrategy::Urw => shuttle::Runner::new(UrwRandomScheduler::new_from_seed(seed, cap), config).run(body),
    }));
    std::panic::set_hook(hook);
    match outcome {
        Ok(_) => None,
        Err(payload) => {
            let message = panic_message(&*payload);
            assert!(message.contains("bug:"), "{} failed other than by its bug: {message}", program.name);
            Some(runs.load(Ordering::Relaxed))
        }
    }
}

/// One cell of the table: the median of the schedules each seed needed to the first failure,
/// `None` for a seed that reached `cap` (ranked above every count). `≥cap` when the middle seed
/// did not fail; "(k/n)" after the median when only k of the n seeds found the bug. For an even
/// number of seeds, the lower of the two middle counts, so the median is a count some seed
/// needed.
///
/// # Panics
///
/// If `found` is empty.
pub fn median_cell(mut found: Vec<Option<u64>>, cap: u64) -> String {
    let seeds = found.len();
    let hits = found.iter().flatten().count();
    found.sort_by_key(|n| n.unwrap_or(u64::MAX));
    let median = match found[(seeds - 1) / 2] {
        Some(n) => n.to_string(),
        None => format!("≥{cap}"),
    };
    if hits == seeds { median } else { format!("{median} ({hits}/{seeds})") }
}

/// A panic hook that says nothing about the programs' own assertions and reports anything else.
fn quiet_about_bugs(info: &std::panic::PanicHookInfo<'_>) {
    let message = panic_message(info.payload());
    if !message.contains("bug:") {
        eprintln!("panic: {message} ({})", info.location().map_or_else(String::new, ToString::to_string));
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each program's bug is reachable in both forms, and by its assertion (the counting
    // functions check that): a program that never fails would measure nothing. (PCT, because
    // a random walk needs more than this cap for `reorder_10`.)
    #[test]
    fn every_bug_is_found_in_both_forms() {
        for program in &PROGRAMS {
            assert!(
                trio_schedules_to_failure(program, PolicyKind::Pct { depth: 3 }, 1, 20_000).is_some(),
                "trio never fails {}",
                program.name
            );
            assert!(
                shuttle_schedules_to_failure(program, ShuttleStrategy::Pct(3), 1, 20_000).is_some(),
                "shuttle never fails {}",
                program.name
            );
        }
    }

    // Trio's default order (FIFO) passes every program, so the bugs take exploration to find.
    #[test]
    fn the_default_order_passes_every_program() {
        for program in &PROGRAMS {
            assert_eq!(trio_schedules_to_failure(program, PolicyKind::Fifo, 1, 1), None, "{}", program.name);
        }
    }

    // The trio form's lock is unfair, like shuttle's `Mutex`: when its holder releases it and
    // asks again while another task waits, either may get it, depending on the schedule. (A
    // fair lock would always hand it to the waiter.)
    #[test]
    fn the_trio_forms_lock_lets_the_releasing_task_take_it_again() {
        let mut winners = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let order = Rc::new(std::cell::RefCell::new(Vec::new()));
            let log = order.clone();
            trio::Builder::new().policy(trio_testkit::policy::Random::new()).seed(seed).run(async move {
                let lock = Rc::new(Mutex::new());
                with_nursery(|nursery| async move {
                    let guard = acquire(&lock).await;
                    let (l, o) = (lock.clone(), log.clone());
                    nursery.start_soon(async move {
                        let _guard = acquire(&l).await;
                        o.borrow_mut().push("waiter");
                    });
                    // Hold the lock until the other task waits for it.
                    while lock.waiters.is_empty() {
                        point().await;
                    }
                    release(guard).await;
                    let _again = acquire(&lock).await;
                    log.borrow_mut().push("holder");
                })
                .await;
            });
            winners.insert(order.borrow()[0]);
        }
        assert_eq!(winners.len(), 2, "{winners:?}");
    }

    #[test]
    fn a_cell_is_the_median_with_misses_ranked_last() {
        assert_eq!(median_cell(vec![Some(9), Some(1), Some(5)], 100), "5");
        assert_eq!(median_cell(vec![None, Some(1), Some(5)], 100), "5 (2/3)");
        assert_eq!(median_cell(vec![None, Some(1), None], 100), "≥100 (1/3)");
        assert_eq!(median_cell(vec![Some(4), Some(2), Some(8), Some(6)], 100), "4");
    }

    // The policies every build has are in the table; only names this build lacks are left out.
    #[test]
    fn the_table_has_every_policy_this_build_parses() {
        let (present, missing) = trio_strategies();
        for policy in
            [PolicyKind::Random, PolicyKind::Pct { depth: 2 }, PolicyKind::Pct { depth: 3 }, PolicyKind::Mixed]
        {
            assert!(present.contains(&policy), "{policy}");
        }
        assert_eq!(present.len() + missing.len(), TRIO_STRATEGIES.len());
        for name in missing {
            assert!(name.parse::<PolicyKind>().is_err(), "{name}");
        }
    }
}
