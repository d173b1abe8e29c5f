//! Allocations per task, counted by a global allocator: a spawned task is one allocation (its
//! bookkeeping and its future together), and a task that finishes in its first poll borrows a
//! pooled waker instead of making one.
//!
//! Counted as a difference between two batch sizes on warmed-up vectors, so nothing but the
//! per-task cost is left: deterministic, not a timing.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

/// Counts the allocations of the current thread (tests run on threads of their own).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; the count is a thread-local `Cell` with
// a `const` initialiser, which never allocates.
#[allow(unsafe_code, reason = "a global allocator is an unsafe trait")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Per-task allocations: what a batch of 200 tasks costs beyond a batch of 100, in one nursery
/// whose every vector (task slab, run queue, children, waker pool) a first batch of 400 has
/// grown already; the parent sleeps past the tasks after each batch, at the same cost each time.
fn per_task<F, Fut>(child: F) -> (u64, u64)
where
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = trio::Result<()>> + 'static,
{
    common::run_auto(async move {
        trio::open_nursery(|nursery| async move {
            let batch = async |n: u64| {
                let before = allocations();
                for _ in 0..n {
                    nursery.start_soon(child());
                }
                trio::sleep(Duration::from_secs(10)).await.unwrap();
                allocations() - before
            };
            batch(400).await;
            let small = batch(100).await;
            let large = batch(200).await;
            Ok(Some((large - small, 100)))
        })
        .await
        .unwrap()
        .unwrap()
    })
}

#[test]
fn a_trivial_task_is_one_allocation() {
    let (allocated, tasks) = per_task(|| async { Ok(()) });
    assert_eq!(allocated, tasks, "allocations for {tasks} trivial tasks");
}

#[test]
fn a_task_that_yields_keeps_one_waker() {
    // Polled twice: the waker it got at the first poll stays with it; a new one is made only
    // when the pool is empty (every task of the batch is alive at once), then reused.
    let (allocated, tasks) = per_task(|| async { Ok(trio::checkpoint().await?) });
    assert_eq!(allocated, tasks, "allocations for {tasks} tasks that yield once");
}

#[test]
fn a_sleeping_task_costs_at_most_three_allocations() {
    // The task, the waker it keeps while it sleeps (its wait holds a clone), and the wait.
    let (allocated, tasks) = per_task(|| async { Ok(trio::sleep(Duration::from_secs(1)).await?) });
    assert!(allocated <= 3 * tasks, "{allocated} allocations for {tasks} sleeping tasks");
}

#[test]
fn a_task_that_takes_a_lock_reuses_a_finished_task_s_exit_hook_list() {
    // The holder of a lock is the breaker of its parking lot: an exit hook is registered on
    // every acquire and undone on release (`try_lock`, so that no task waits for another). The list holding it comes from a task that
    // finished, so the task is still its one allocation.
    let lock = std::rc::Rc::new(trio::Lock::new());
    let (allocated, tasks) = per_task(move || {
        let lock = lock.clone();
        async move {
            drop(lock.try_lock().expect("each task finishes before the next runs"));
            Ok(())
        }
    });
    assert_eq!(allocated, tasks, "allocations for {tasks} tasks that take a lock once");
}
