//! hyper on trio: [`HyperIo`] makes any trio stream hyper's transport (`hyper::rt::Read` and
//! `hyper::rt::Write`, through trio's `futures::io` adapter), and [`NurseryExecutor`] is
//! hyper's executor that starts what hyper hands it as tasks of a nursery — so a connection's
//! background work lives inside the structure, not detached.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::io::{AsyncRead, AsyncWrite};
use trio::abc::HalfCloseableStream;
use trio::io::AsyncReadWrite;

/// A trio stream as hyper's transport. Shutting down the write side sends the end of the
/// stream (`send_eof`), as HTTP/1.1 expects of a half-closeable connection.
///
/// # Examples
///
/// ```
/// use trio_rs_examples::hyper_io::HyperIo;
/// use trio_testkit::streams::memory_stream_pair;
///
/// let (client, _server) = memory_stream_pair();
/// let io = HyperIo::new(client);
/// # let _ = io;
/// ```
pub struct HyperIo<S> {
    inner: AsyncReadWrite<S>,
}

impl<S: HalfCloseableStream + 'static> HyperIo<S> {
    /// Wraps `stream`.
    ///
    /// # Examples
    ///
    /// See [`HyperIo`].
    pub fn new(stream: S) -> HyperIo<S> {
        HyperIo { inner: AsyncReadWrite::half_closing(stream) }
    }
}

impl<S> std::fmt::Debug for HyperIo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperIo").field("inner", &self.inner).finish()
    }
}

impl<S: HalfCloseableStream + 'static> hyper::rt::Read for HyperIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // Read into a buffer of our own and copy: hyper's cursor is uninitialised memory,
        // which only `unsafe` code may hand to a reader.
        let mut scratch = [0u8; 8192];
        let want = buf.remaining().min(scratch.len());
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        let n = ready!(Pin::new(&mut self.get_mut().inner).poll_read(cx, &mut scratch[..want]))?;
        buf.put_slice(&scratch[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<S: HalfCloseableStream + 'static> hyper::rt::Write for HyperIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// hyper's executor: each future hyper hands it becomes a task of the nursery. The nursery
/// waits for it, and cancelling the nursery cancels it.
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor;
/// use trio_rs_examples::hyper_io::NurseryExecutor;
///
/// trio::run(async {
///     trio::open_nursery(|nursery| async move {
///         NurseryExecutor::new(nursery.clone()).execute(async { println!("in the nursery") });
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Clone)]
pub struct NurseryExecutor {
    nursery: trio::Nursery,
}

impl NurseryExecutor {
    /// Starts hyper's futures in `nursery`.
    ///
    /// # Examples
    ///
    /// See [`NurseryExecutor`].
    pub fn new(nursery: trio::Nursery) -> NurseryExecutor {
        NurseryExecutor { nursery }
    }
}

impl std::fmt::Debug for NurseryExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NurseryExecutor").finish_non_exhaustive()
    }
}

impl<F: Future + 'static> hyper::rt::Executor<F> for NurseryExecutor {
    fn execute(&self, future: F) {
        self.nursery.start_soon_named("hyper background work", async move {
            future.await;
        });
    }
}
