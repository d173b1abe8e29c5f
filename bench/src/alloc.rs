//! A counting global allocator, so that memory per task is measured rather than estimated.
//!
//! Counting is off by default and costs one relaxed load per allocation then; [`measure`]
//! turns it on around one closure and reports the allocations, the bytes and the peak of live
//! bytes above what was live when it started.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering::Relaxed};

struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

#[global_allocator]
static GLOBAL: Counting = Counting;

fn grow(size: usize) {
    ALLOCS.fetch_add(1, Relaxed);
    BYTES.fetch_add(size as u64, Relaxed);
    let live = LIVE.fetch_add(size as isize, Relaxed) + size as isize;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Relaxed) {
            grow(layout.size());
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Relaxed) {
            grow(layout.size());
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ENABLED.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ENABLED.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
            grow(new_size);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What [`measure`] saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Allocations (a `realloc` counts as one).
    pub allocs: u64,
    /// Bytes requested in all.
    pub bytes: u64,
    /// The most bytes live at once, above what was live at the start.
    pub peak: u64,
}

/// Runs `f` with counting on. Frees that happen inside `f` of memory allocated before it make
/// the live count go below zero, which only lowers the peak: measure workloads that start
/// from fresh state.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    ALLOCS.store(0, Relaxed);
    BYTES.store(0, Relaxed);
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    ENABLED.store(true, Relaxed);
    let result = f();
    ENABLED.store(false, Relaxed);
    let usage =
        Usage { allocs: ALLOCS.load(Relaxed), bytes: BYTES.load(Relaxed), peak: PEAK.load(Relaxed).max(0) as u64 };
    (result, usage)
}

/// Tells glibc's malloc to keep freed memory at the top of the heap instead of giving it back
/// to the operating system (`M_TRIM_THRESHOLD`), so that every run of a workload starts from a
/// heap whose pages are already mapped. Without it, whether the previous run's pages had been
/// returned depended on the heap's layout, and a run that had to fault them in again paid about
/// 2 µs per 4 KiB page: trio's 100,000-task spawn swung between ~170 and ~340 ns per task from
/// one process to the next. Called once, before anything is measured; does nothing on other
/// allocators.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets a tunable of the allocator; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}
