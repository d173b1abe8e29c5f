//! A schedule point re-queues its task without going through the waker only when it was
//! polled with the task's own waker. Under a combinator that polls its futures with wakers of
//! its own, the wake goes through the waker it was given, so the combinator learns which
//! future to poll again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts its wakes and passes them on to the task's waker.
struct Counting {
    inner: Waker,
    wakes: AtomicUsize,
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.inner.wake_by_ref();
    }
}

/// Polls `inner` with a waker of its own, as `FuturesUnordered` or `join_all` do.
struct OwnWaker<F> {
    inner: Pin<Box<F>>,
    waker: Option<(Arc<Counting>, Waker)>,
}

impl<F: Future> Future for OwnWaker<F> {
    type Output = (F::Output, usize);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (counting, waker) = this.waker.get_or_insert_with(|| {
            let counting = Arc::new(Counting { inner: cx.waker().clone(), wakes: AtomicUsize::new(0) });
            (counting.clone(), Waker::from(counting))
        });
        let counting = counting.clone();
        match this.inner.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Ready(output) => Poll::Ready((output, counting.wakes.load(Ordering::Relaxed))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[test]
fn a_checkpoint_under_a_combinator_s_waker_wakes_through_it() {
    trio::run(async {
        let (result, wakes) = OwnWaker { inner: Box::pin(trio::checkpoint()), waker: None }.await;
        result.unwrap();
        assert_eq!(wakes, 1, "the checkpoint's wake went through the waker it was polled with");
    });
}

#[test]
fn three_checkpoints_under_a_combinator_s_waker_wake_it_three_times() {
    trio::run(async {
        let task = trio::lowlevel::current_task();
        let before = task.schedule_points();
        let (_, wakes) = OwnWaker {
            inner: Box::pin(async {
                for _ in 0..3 {
                    trio::checkpoint().await.unwrap();
                }
            }),
            waker: None,
        }
        .await;
        assert_eq!(wakes, 3);
        assert_eq!(task.schedule_points(), before + 3);
    });
}

#[test]
fn a_checkpoint_polled_with_the_task_s_own_waker_still_yields_to_others() {
    // The direct re-queue puts the task at the back of the run queue, as a wake would: the
    // other task runs in between.
    let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = order.clone();
    trio::run(async move {
        trio::open_nursery(|nursery| async move {
            for name in ["a", "b"] {
                let log = log.clone();
                nursery.start_soon(async move {
                    for step in 0..2 {
                        log.borrow_mut().push(format!("{name}{step}"));
                        trio::checkpoint().await?;
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(*order.borrow(), ["a0", "b0", "a1", "b1"]);
}
