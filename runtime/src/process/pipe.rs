//! Byte streams over the pipes to a child process (Trio's `FdStream`, `_unix_pipes.py`):
//! non-blocking reads and writes, waiting in the reactor on `EWOULDBLOCK`.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::rc::Rc;

use mio::unix::pipe::{Receiver, Sender};

use crate::io::{
    AsyncResource, ConflictDetector, DEFAULT_RECEIVE_SIZE, IoFuture, ReceiveStream, SendStream, StreamError,
    StreamResult,
};
use crate::lowlevel::{checkpoint, notify_closing, notify_not_readable, notify_not_writable, set_fd_label};

/// The sending end of a pipe: the child's standard input ([`Process::stdin`](super::Process::stdin)).
///
/// A [`SendStream`]: `send_all` waits in the reactor while the pipe is full. Closing it (or
/// dropping it) sends the child end-of-file.
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
///
/// trio::run(async {
///     let mut process = trio::open_process(Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()))
///         .await
///         .unwrap();
///     let (stdin, stdout) = (process.stdin.take().unwrap(), process.stdout.take().unwrap());
///     stdin.send_all(b"meow").await.unwrap();
///     stdin.aclose().await.unwrap(); // end of input: cat exits
///     assert_eq!(stdout.receive_some(100).await.unwrap(), b"meow");
///     assert!(process.wait().await.unwrap().success());
/// });
/// ```
pub struct PipeSendStream {
    /// `None` once closed.
    pipe: RefCell<Option<Rc<Sender>>>,
    conflict: ConflictDetector,
}

/// The receiving end of a pipe: the child's standard output or error
/// ([`Process::stdout`](super::Process::stdout), [`Process::stderr`](super::Process::stderr)).
///
/// A [`ReceiveStream`]: `receive_some` waits in the reactor until the child writes; it returns
/// an empty `Vec` once the child (and everything it passed the pipe to) closed its end.
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
/// use trio::abc::ReceiveStream;
///
/// trio::run(async {
///     let mut process = trio::open_process(Command::new("sh").args(["-c", "echo hi >&2"]).stderr(Stdio::piped()))
///         .await
///         .unwrap();
///     let stderr = process.stderr.take().unwrap();
///     assert_eq!(stderr.receive_some(100).await.unwrap(), b"hi\n");
///     assert_eq!(stderr.receive_some(100).await.unwrap(), b""); // end of stream
///     process.wait().await.unwrap();
/// });
/// ```
pub struct PipeReceiveStream {
    /// `None` once closed.
    pipe: RefCell<Option<Rc<Receiver>>>,
    conflict: ConflictDetector,
}

impl PipeSendStream {
    pub(crate) fn new(pipe: Sender, label: String) -> io::Result<PipeSendStream> {
        pipe.set_nonblocking(true)?;
        set_fd_label(&pipe, move || label.clone());
        Ok(PipeSendStream {
            pipe: RefCell::new(Some(Rc::new(pipe))),
            conflict: ConflictDetector::new("another task is already sending on this pipe"),
        })
    }

    fn pipe(&self) -> StreamResult<Rc<Sender>> {
        self.pipe.borrow().clone().ok_or_else(|| StreamError::closed("this pipe was already closed"))
    }

    fn close(&self) {
        if let Some(pipe) = self.pipe.borrow_mut().take()
            && crate::lowlevel::in_run()
        {
            notify_closing(&*pipe);
        }
    }
}

impl PipeReceiveStream {
    pub(crate) fn new(pipe: Receiver, label: String) -> io::Result<PipeReceiveStream> {
        pipe.set_nonblocking(true)?;
        set_fd_label(&pipe, move || label.clone());
        Ok(PipeReceiveStream {
            pipe: RefCell::new(Some(Rc::new(pipe))),
            conflict: ConflictDetector::new("another task is already receiving on this pipe"),
        })
    }

    fn pipe(&self) -> StreamResult<Rc<Receiver>> {
        self.pipe.borrow().clone().ok_or_else(|| StreamError::closed("this pipe was already closed"))
    }

    fn close(&self) {
        if let Some(pipe) = self.pipe.borrow_mut().take()
            && crate::lowlevel::in_run()
        {
            notify_closing(&*pipe);
        }
    }
}

impl AsyncResource for PipeSendStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close();
            checkpoint().await.map_err(|_| StreamError::Cancelled)
        })
    }
}

impl AsyncResource for PipeReceiveStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close();
            checkpoint().await.map_err(|_| StreamError::Cancelled)
        })
    }
}

impl SendStream for PipeSendStream {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(async move {
            let _busy = self.conflict.enter()?;
            self.pipe()?;
            checkpoint().await.map_err(|_| StreamError::Cancelled)?;
            let mut sent = 0;
            while sent < data.len() {
                let pipe = self.pipe()?;
                match (&*pipe).write(&data[sent..]) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        notify_not_writable(&*pipe);
                        crate::lowlevel::wait_writable(&*pipe).await.map_err(wait_error)?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(os_error("writing to the pipe", e)),
                }
            }
            Ok(())
        })
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            let _busy = self.conflict.enter()?;
            let pipe = self.pipe()?;
            crate::lowlevel::wait_writable(&*pipe).await.map_err(wait_error)
        })
    }
}

impl ReceiveStream for PipeReceiveStream {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(async move {
            let _busy = self.conflict.enter()?;
            if max_bytes == 0 {
                return Err(StreamError::invalid_argument("receive_some(0): max_bytes must be at least 1"));
            }
            self.pipe()?;
            checkpoint().await.map_err(|_| StreamError::Cancelled)?;
            // Never more than the default at once: the buffer is allocated before the read.
            let mut buf = vec![0; max_bytes.min(DEFAULT_RECEIVE_SIZE)];
            loop {
                let pipe = self.pipe()?;
                match (&*pipe).read(&mut buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        return Ok(buf);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        notify_not_readable(&*pipe);
                        crate::lowlevel::wait_readable(&*pipe).await.map_err(wait_error)?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(os_error("reading from the pipe", e)),
                }
            }
        })
    }
}

impl Drop for PipeSendStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl Drop for PipeReceiveStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for PipeSendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeSendStream").field("open", &self.pipe.borrow().is_some()).finish()
    }
}

impl fmt::Debug for PipeReceiveStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeReceiveStream").field("open", &self.pipe.borrow().is_some()).finish()
    }
}

/// A failed wait in the reactor, as a stream error.
fn wait_error(error: crate::Error) -> StreamError {
    if error.is_cancelled() {
        return StreamError::Cancelled;
    }
    if let Some(closed) = error.downcast_ref::<crate::ClosedResource>() {
        return StreamError::Closed(closed.clone());
    }
    if let Some(busy) = error.downcast_ref::<crate::BusyResource>() {
        return StreamError::Busy(busy.clone());
    }
    StreamError::broken(error.to_string())
}

/// An error of the operating system: the other end is gone (`EPIPE`) or something else broke.
fn os_error(what: &str, error: io::Error) -> StreamError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        StreamError::broken(format!("{what}: the process closed its end"))
    } else {
        StreamError::broken(format!("{what}: {error}"))
    }
}
