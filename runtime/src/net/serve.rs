//! `serve_listeners` and `serve_tcp`: accept connections forever, one handler task each.

use std::future::Future;
use std::rc::Rc;

use crate::io::{Listener, OsError, StreamError};
use crate::{TaskResult, TaskStatus, open_nursery};

use super::SocketListener;

/// How long `serve_listeners` waits after `accept` failed for lack of descriptors or memory
/// (Trio's 100 ms).
const ACCEPT_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// `accept` errors that say the process (not the listener) is out of something: Trio's
/// `ACCEPT_CAPACITY_ERRNOS`.
fn is_capacity_error(error: &OsError) -> bool {
    #[cfg(unix)]
    {
        error
            .raw_os_error()
            .is_some_and(|code| [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::ENOBUFS].contains(&code))
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

/// Accepts connections on every listener, and runs `handler(stream)` for each in its own task
/// (Trio's `serve_listeners`). Reports the listeners through `task_status` once it accepts,
/// then runs until cancelled.
///
/// The handler tasks live in this function's nursery: when a handler fails, serving stops and
/// the failure comes out of here, as in Trio — catch what a handler should survive inside it.
///
/// It takes responsibility for closing the listeners, as Trio's does: when serving stops
/// (cancelled, or a failure), each listener is closed, also those the caller holds through
/// `task_status`. Each handler's stream is closed when the handler is done with it (dropped).
///
/// # Errors
///
/// A handler's failure; an `accept` failure (a closed listener, say); `Cancelled`. An
/// `accept` that fails because the process is out of file descriptors or memory (`EMFILE`,
/// `ENFILE`, `ENOMEM`, `ENOBUFS`) is no failure: as in Trio, it is reported on standard error,
/// and the loop sleeps 100 ms and accepts again, so the server keeps serving once handlers
/// free descriptors.
///
/// # Cancellation
///
/// Cancelling it stops accepting and cancels every handler.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::abc::{HalfCloseableStream, Listener, ReceiveStream, SendStream};
/// use trio_testkit::MockClock;
/// use trio_testkit::sim::SimNet;
///
/// trio::Builder::new().clock(MockClock::autojump()).run(async {
///     SimNet::new().install();
///     trio::open_nursery(|nursery| async move {
///         let listeners = trio::net::open_tcp_listeners(9000).await?;
///         let listeners = nursery
///             .start(|task_status| {
///                 trio::net::serve_listeners(
///                     |stream: trio::net::SocketStream| async move {
///                         stream.send_all(b"hello\n").await?;
///                         stream.send_eof().await?;
///                         trio::Result::Ok(())
///                     },
///                     listeners,
///                     task_status,
///                 )
///             })
///             .await?;
///         assert_eq!(listeners[0].local_addr().port(), 9000);
///         let client = trio::net::open_tcp_stream("localhost", 9000).await?;
///         assert_eq!(client.receive_some(100).await?, b"hello\n");
///         nursery.cancel_scope().cancel(); // stop serving
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub async fn serve_listeners<L, H, Fut>(
    handler: H,
    listeners: Vec<L>,
    task_status: TaskStatus<Vec<Rc<L>>>,
) -> crate::Result<()>
where
    L: Listener + 'static,
    L::Stream: 'static,
    H: Fn(L::Stream) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: TaskResult,
{
    let listeners: Vec<Rc<L>> = listeners.into_iter().map(Rc::new).collect();
    let handler = Rc::new(handler);
    open_nursery(|nursery| async move {
        for listener in &listeners {
            let (listener, handler, handlers) = (listener.clone(), handler.clone(), nursery.clone());
            nursery.start_soon_named("serve_listeners: accepting connections", async move {
                let outcome = accept_loop(&*listener, handler, handlers).await;
                // Serving stopped (cancelled, or a failure): close the listener, as Trio's
                // `async with listener` does — whoever still holds the `Rc` from `task_status`
                // must not keep the port open. A closing resource closes even when cancelled.
                let _ = listener.aclose().await;
                outcome
            });
        }
        task_status.started(listeners);
        Ok(())
    })
    .await
}

/// Accepts on `listener` until an error, starting `handler` for each connection in `handlers`.
async fn accept_loop<L, H, Fut>(listener: &L, handler: Rc<H>, handlers: crate::Nursery) -> crate::Result<()>
where
    L: Listener + 'static,
    L::Stream: 'static,
    H: Fn(L::Stream) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: TaskResult,
{
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(StreamError::Os(error)) if is_capacity_error(&error) => {
                // Out of descriptors or memory: the listener is fine, this process is full.
                // Say so, wait for handlers to finish, and go on (Trio).
                eprintln!(
                    "trio::net::serve_listeners: accept failed: {error}; sleeping {ACCEPT_RETRY_DELAY:?} \
                     and accepting again"
                );
                crate::sleep(ACCEPT_RETRY_DELAY).await?;
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        handlers.start_soon(handler(stream));
    }
}

/// Listens on `port` on every address of this machine and serves each connection with
/// `handler` (Trio's `serve_tcp`): [`open_tcp_listeners`](super::open_tcp_listeners), then
/// [`serve_listeners`]. Port 0 picks a free port; read it from the listeners `task_status`
/// reports.
///
/// # Errors
///
/// Those of `open_tcp_listeners` (no provider, port in use…), then those of
/// [`serve_listeners`].
///
/// # Cancellation
///
/// As [`serve_listeners`].
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::MockClock;
/// use trio_testkit::sim::SimNet;
///
/// /// Sends back everything it receives.
/// async fn echo(stream: trio::net::SocketStream) -> trio::Result<()> {
///     loop {
///         let data = stream.receive_some(1024).await?;
///         if data.is_empty() {
///             return Ok(());
///         }
///         stream.send_all(&data).await?;
///     }
/// }
///
/// trio::Builder::new().clock(MockClock::autojump()).run(async {
///     SimNet::new().install();
///     trio::open_nursery(|nursery| async move {
///         nursery.start(|task_status| trio::net::serve_tcp(echo, 7, task_status)).await?;
///         let client = trio::net::open_tcp_stream("localhost", 7).await?;
///         client.send_all(b"ping").await?;
///         assert_eq!(client.receive_some(100).await?, b"ping");
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub async fn serve_tcp<H, Fut>(
    handler: H,
    port: u16,
    task_status: TaskStatus<Vec<Rc<SocketListener>>>,
) -> crate::Result<()>
where
    H: Fn(super::SocketStream) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: TaskResult,
{
    let listeners = super::open_tcp_listeners(port).await?;
    serve_listeners(handler, listeners, task_status).await
}

/// [`serve_tcp`] on the addresses of `host` only, with a `backlog` (Trio's `serve_tcp` with
/// `host=` and `backlog=`): [`open_tcp_listeners_on`](super::open_tcp_listeners_on), then
/// [`serve_listeners`]. `Some("127.0.0.1")` and port 0 serve on loopback at a free port.
///
/// # Errors
///
/// Those of `open_tcp_listeners_on`, then those of [`serve_listeners`].
///
/// # Cancellation
///
/// As [`serve_listeners`].
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
///
/// trio::run(async {
///     trio::open_nursery(|nursery| async move {
///         let listeners = nursery
///             .start(|task_status| {
///                 trio::net::serve_tcp_on(
///                     |stream: trio::net::SocketStream| async move { Ok(stream.send_all(b"hi").await?) },
///                     Some("127.0.0.1"),
///                     0,
///                     None,
///                     task_status,
///                 )
///             })
///             .await?;
///         let port = listeners[0].local_addr().port();
///         let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
///         assert_eq!(client.receive_some(10).await?, b"hi");
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub async fn serve_tcp_on<H, Fut>(
    handler: H,
    host: Option<&str>,
    port: u16,
    backlog: Option<usize>,
    task_status: TaskStatus<Vec<Rc<SocketListener>>>,
) -> crate::Result<()>
where
    H: Fn(super::SocketStream) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: TaskResult,
{
    let listeners = super::open_tcp_listeners_on(host, port, backlog).await?;
    serve_listeners(handler, listeners, task_status).await
}
