//! Cancelling many blocked tasks at once.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// trio: `n` children blocked in `sleep_forever` under their nursery's cancel scope; timed
/// from `cancel()` until the nursery has exited (every child unwound and was reaped).
pub fn trio(n: u64) -> Duration {
    trio::run(async move {
        let blocked = Rc::new(Cell::new(0u64));
        let b = blocked.clone();
        let mut start = None;
        let start_ref = &mut start;
        trio::open_nursery(|nursery| async move {
            for _ in 0..n {
                let b = b.clone();
                nursery.start_soon(async move {
                    b.set(b.get() + 1);
                    trio::sleep_forever().await?;
                    Ok(())
                });
            }
            while b.get() < n {
                trio::checkpoint().await?;
            }
            *start_ref = Some(Instant::now());
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .expect("the nursery catches its own cancellation");
        assert_eq!(blocked.get(), n);
        start.expect("the body ran to the cancel").elapsed()
    })
}

/// tokio current-thread runtime: `n` tasks blocked on a `Notify` that is never notified;
/// timed from `JoinSet::abort_all` until `join_next` has reaped them all.
pub fn tokio(n: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    rt.block_on(async move {
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        let blocked = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (notify, blocked) = (notify.clone(), blocked.clone());
            set.spawn(async move {
                blocked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                notify.notified().await;
            });
        }
        while blocked.load(std::sync::atomic::Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
        }
        let start = Instant::now();
        set.abort_all();
        let mut cancelled = 0;
        while let Some(done) = set.join_next().await {
            assert!(done.expect_err("aborted").is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, n);
        start.elapsed()
    })
}
