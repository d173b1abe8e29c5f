//! Running futures from outside trio under trio's cancellation.

use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::task::Poll;

use crate::error::Cancelled;
use crate::lowlevel::{cancel_shielded_checkpoint, checkpoint_if_cancelled, park_slot};

/// Runs a future from outside trio (a `futures` channel, another library's I/O, a thread's
/// result) so that cancellation can interrupt it: when the enclosing scope is cancelled, the
/// future is dropped and `Err(Cancelled)` returned.
///
/// It also tells the runtime that the task waits on something *outside* it, so autojump
/// does not skip time and the run is not declared deadlocked while the future is pending.
///
/// # Cancellation
///
/// A cancel point before the future is first polled; returns `Err(Cancelled)` at once when
/// the scope is cancelled while the future is pending, dropping it. Whatever the future
/// would have produced is lost: use it only with futures that are safe to drop. Returning
/// normally is always a checkpoint.
///
/// # Examples
///
/// ```
/// use futures::channel::oneshot;
/// use std::time::Duration;
///
/// trio::run(async {
///     let (tx, rx) = oneshot::channel::<u32>();
///     std::thread::spawn(move || tx.send(7).unwrap());
///     let got = trio::cancellable(rx).await.unwrap().unwrap();
///     assert_eq!(got, 7);
///
///     let (_tx, never) = oneshot::channel::<u32>();
///     let outcome = trio::move_on_after(Duration::from_millis(5), async {
///         trio::cancellable(never).await?.ok();
///         Ok(())
///     })
///     .await
///     .unwrap();
///     assert_eq!(outcome, None); // cancelled by the timeout
/// });
/// ```
#[track_caller]
pub fn cancellable<F: Future>(future: F) -> impl Future<Output = Result<F::Output, Cancelled>> {
    let location = Location::caller();
    async move {
        crate::lowlevel::ensure_in_run(location);
        checkpoint_if_cancelled().await?;
        let mut future = pin!(future);
        let mut slot = park_slot::<()>("a future from outside trio (trio::cancellable)").0.external();
        let mut ready_at_once = true;
        let output = std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            ready_at_once = false;
            match std::pin::Pin::new(&mut slot).poll(cx) {
                Poll::Ready(Err(cancelled)) => Poll::Ready(Err(cancelled)),
                Poll::Ready(Ok(())) => unreachable!("nothing unparks a cancellable's slot"),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        drop(slot);
        let output = output?;
        if ready_at_once {
            cancel_shielded_checkpoint().await;
        }
        Ok(output)
    }
}
