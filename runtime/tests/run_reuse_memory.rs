//! A reused runtime (`Builder::build` → `Runner`) gives back everything a run made: after
//! thousands of runs on one runner, the bytes still allocated are what they were after the
//! first few. Counted by a global allocator (live bytes of the current thread), so a leak of
//! one object per run shows as a deterministic difference, not a timing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;

use trio::{Builder, Runner};

mod common;

/// Counts the live bytes of the current thread (each test runs on a thread of its own).
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn add(bytes: i64) {
    let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
}

// SAFETY: forwards to the system allocator unchanged; the count is a thread-local `Cell` with
// a `const` initialiser, which never allocates.
#[allow(unsafe_code, reason = "a global allocator is an unsafe trait")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as i64);
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as i64));
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as i64 - layout.size() as i64);
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// Three tasks taking a lock three times each: waits on a parking lot, its breakers and exit
/// hooks, a nursery, cancel statuses.
async fn locks() {
    let lock = Rc::new(trio::Lock::new());
    let count = Rc::new(Cell::new(0u32));
    trio::open_nursery(|nursery| {
        let (lock, count) = (lock.clone(), count.clone());
        async move {
            for _ in 0..3 {
                let (lock, count) = (lock.clone(), count.clone());
                nursery.start_soon(async move {
                    for _ in 0..3 {
                        let _guard = lock.lock().await?;
                        count.set(count.get() + 1);
                        trio::checkpoint().await?;
                    }
                    Ok(())
                });
            }
            Ok(())
        }
    })
    .await
    .unwrap();
    assert_eq!(count.get(), 9);
}

/// Two tasks sleeping under a deadline: timers, a cancel scope, a wait per sleep.
async fn sleeps() {
    trio::open_nursery(|nursery| async move {
        for _ in 0..2 {
            nursery.start_soon(async {
                trio::move_on_after(std::time::Duration::from_secs(1), async {
                    trio::sleep(std::time::Duration::from_millis(300)).await?;
                    trio::sleep(std::time::Duration::from_secs(5)).await?;
                    Ok(())
                })
                .await?;
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
}

/// A task started with `start`: its parent waits for `started()` naming the child.
async fn start() {
    trio::open_nursery(|nursery| async move {
        let got = nursery
            .start(|status: trio::TaskStatus<u32>| async move {
                trio::sleep(std::time::Duration::from_secs(1)).await?;
                status.started(7);
                trio::sleep(std::time::Duration::from_secs(1)).await?;
                Ok(())
            })
            .await?;
        assert_eq!(got, 7);
        Ok(())
    })
    .await
    .unwrap();
}

/// Live bytes after `runs` more runs of `program` on `runner`, beyond those after a warm-up
/// that has grown every vector the runs need.
fn growth<Fut: Future<Output = ()>>(runner: &mut Runner, program: impl Fn() -> Fut, runs: u32) -> i64 {
    for _ in 0..50 {
        runner.run(program());
    }
    let before = live();
    for _ in 0..runs {
        runner.run(program());
    }
    live() - before
}

fn autojump() -> Builder {
    Builder::new().clock(common::ManualClock::autojumping())
}

#[test]
fn a_reused_runner_keeps_no_memory_of_a_run_with_locks() {
    let mut runner = autojump().build();
    assert_eq!(growth(&mut runner, locks, 2_000), 0);
}

#[test]
fn a_reused_runner_keeps_no_memory_of_a_run_with_sleeps_and_deadlines() {
    let mut runner = autojump().build();
    assert_eq!(growth(&mut runner, sleeps, 2_000), 0);
}

#[test]
fn a_reused_runner_keeps_no_memory_of_a_run_with_start() {
    let mut runner = autojump().build();
    assert_eq!(growth(&mut runner, start, 2_000), 0);
}

/// With Ctrl-C handling on (the default on the main thread), the root status belongs to a
/// shielded scope of its own; a new one per run must not keep the last one alive.
#[test]
fn a_reused_runner_with_keyboard_interrupt_keeps_no_memory_of_a_run() {
    let mut runner = autojump().keyboard_interrupt(true).build();
    assert_eq!(growth(&mut runner, locks, 2_000), 0);
}

/// Runs on fresh runtimes, one after another, leave nothing either (Ctrl-C handling on).
#[test]
fn fresh_runs_keep_no_memory_of_each_other() {
    let program = || autojump().keyboard_interrupt(true).run(locks());
    for _ in 0..50 {
        program();
    }
    let before = live();
    for _ in 0..1_000 {
        program();
    }
    assert_eq!(live() - before, 0);
}
