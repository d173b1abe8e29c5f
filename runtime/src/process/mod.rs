//! Child processes (Trio's `trio.run_process`, `trio.lowlevel.open_process` and
//! `trio.Process`, `_subprocess.py`). Unix only.
//!
//! [`run_process`] runs a command to completion like a function call: it feeds it input,
//! captures its output, checks its exit status, and — if cancelled — stops the child and waits
//! for it before returning. [`open_process`] starts one and hands over a [`Process`] whose
//! pipes are trio streams.
//!
//! Waiting for the exit goes through the reactor on Linux (a `pidfd` becomes readable when the
//! child exits); elsewhere, or on a kernel without `pidfd_open`, a worker thread waits with
//! `waitid(WNOWAIT)`, as in Trio. Either way the wait is outside the runtime: a mock clock does
//! not autojump while a child runs.
//!
//! ```
//! use std::process::Command;
//!
//! trio::run(async {
//!     let done = trio::run_process(Command::new("sh").args(["-c", "echo hello; echo oops >&2"]))
//!         .capture_stdout(true)
//!         .capture_stderr(true)
//!         .await
//!         .unwrap();
//!     assert_eq!(done.stdout.as_deref(), Some(&b"hello\n"[..]));
//!     assert_eq!(done.stderr.as_deref(), Some(&b"oops\n"[..]));
//!     assert_eq!(done.returncode(), 0);
//! });
//! ```

mod pipe;
mod run;

use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::panic::Location;
use std::process::{Child, Command, ExitStatus};
use std::rc::Rc;

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

pub use pipe::{PipeReceiveStream, PipeSendStream};
pub use run::{CalledProcessError, CompletedProcess, RunProcess, run_process};

use crate::lowlevel::{checkpoint, notify_closing};
use crate::{Lock, to_thread};

/// Starts `command` as a child process (Trio's `trio.lowlevel.open_process`) and returns it,
/// running. Pipes the command asked for with [`Stdio::piped`](std::process::Stdio::piped)
/// become trio streams in [`Process::stdin`], [`Process::stdout`] and [`Process::stderr`];
/// everything else about the command (arguments, environment, working directory, other
/// redirections) is the [`Command`]'s.
///
/// Nothing supervises the child: wait for it yourself, or use [`run_process`], which also
/// stops it when cancelled. A [`Process`] dropped while its child runs leaves the child
/// running (as `std::process::Child` does).
///
/// # Errors
///
/// The operating system's error if the program cannot be started (not found, not
/// executable); [`Cancelled`](crate::Cancelled) if the scope was cancelled before.
///
/// # Panics
///
/// Outside a run.
///
/// # Cancellation
///
/// A checkpoint before the child starts; cancelled there, nothing was started. Starting the
/// child is a system call made on the run's thread (Trio uses a worker thread for it).
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
/// use trio::abc::ReceiveStream;
///
/// trio::run(async {
///     let mut process = trio::open_process(Command::new("echo").arg("hi").stdout(Stdio::piped())).await.unwrap();
///     let stdout = process.stdout.take().unwrap();
///     assert_eq!(stdout.receive_some(100).await.unwrap(), b"hi\n");
///     assert_eq!(process.wait().await.unwrap().code(), Some(0));
///
///     let missing = trio::open_process(&mut Command::new("/no/such/program")).await.unwrap_err();
///     assert!(missing.downcast_ref::<std::io::Error>().is_some());
/// });
/// ```
#[track_caller]
pub fn open_process(command: &mut Command) -> impl std::future::Future<Output = crate::Result<Process>> + '_ {
    let location = Location::caller();
    async move {
        crate::lowlevel::ensure_in_run(location);
        checkpoint().await?;
        Ok(Process::spawn(command)?)
    }
}

/// A running or finished child process (Trio's `trio.Process`), made by [`open_process`] or
/// reported by [`run_process`] through [`RunProcess::task_status`].
///
/// Every method takes `&self`, so a `Process` can be shared (`Rc<Process>`) between the task
/// that waits for it and the ones that signal it.
///
/// # Examples
///
/// ```
/// use std::process::Command;
///
/// trio::run(async {
///     let process = trio::open_process(Command::new("sleep").arg("60")).await.unwrap();
///     assert_eq!(process.returncode(), None); // still running
///     process.terminate().unwrap();
///     let status = process.wait().await.unwrap();
///     assert_eq!(process.returncode(), Some(-15)); // Trio's convention: minus the signal
///     assert!(!status.success());
/// });
/// ```
pub struct Process {
    /// The standard library's handle: it knows the pid and reaps the child.
    child: RefCell<Child>,
    pid: u32,
    /// The program and its arguments, for messages.
    args: Vec<OsString>,
    /// Linux: readable once the child has exited. `None` elsewhere, on old kernels, and after
    /// the child was reaped (then it is closed).
    pidfd: RefCell<Option<Rc<OwnedFd>>>,
    /// The exit status once the child was reaped. Invariant: once set it never changes, and
    /// the pid is never signalled again (it may belong to another process by then).
    status: Cell<Option<ExitStatus>>,
    /// One waiter at a time waits in the reactor; the others wait for it (Trio's `_wait_lock`).
    wait_lock: Lock,
    /// The child's standard input, if the command asked for a pipe; take it to use it.
    pub stdin: Option<PipeSendStream>,
    /// The child's standard output, if the command asked for a pipe.
    pub stdout: Option<PipeReceiveStream>,
    /// The child's standard error, if the command asked for a pipe.
    pub stderr: Option<PipeReceiveStream>,
}

impl Process {
    fn spawn(command: &mut Command) -> io::Result<Process> {
        let mut args = vec![command.get_program().to_os_string()];
        args.extend(command.get_args().map(|a| a.to_os_string()));
        let mut child = command.spawn()?;
        let pid = child.id();
        let name = args[0].to_string_lossy().into_owned();
        let stdin = child.stdin.take().map(|p| PipeSendStream::new(p.into(), format!("stdin of `{name}` (pid {pid})")));
        let stdout =
            child.stdout.take().map(|p| PipeReceiveStream::new(p.into(), format!("stdout of `{name}` (pid {pid})")));
        let stderr =
            child.stderr.take().map(|p| PipeReceiveStream::new(p.into(), format!("stderr of `{name}` (pid {pid})")));
        let pidfd = open_pidfd(pid);
        if let Some(pidfd) = &pidfd {
            let label = format!("the exit of `{name}` (pid {pid})");
            crate::lowlevel::set_fd_label(pidfd, move || label.clone());
        }
        Ok(Process {
            child: RefCell::new(child),
            pid,
            args,
            pidfd: RefCell::new(pidfd.map(Rc::new)),
            status: Cell::new(None),
            wait_lock: Lock::new(),
            stdin: stdin.transpose()?,
            stdout: stdout.transpose()?,
            stderr: stderr.transpose()?,
        })
    }

    /// The child's process id.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let process = trio::open_process(&mut std::process::Command::new("true")).await.unwrap();
    ///     assert!(process.pid() > 0);
    ///     process.wait().await.unwrap();
    /// });
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The program and its arguments, as given.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let process = trio::open_process(std::process::Command::new("echo").arg("x")).await.unwrap();
    ///     assert_eq!(process.args(), ["echo", "x"]);
    ///     process.wait().await.unwrap();
    /// });
    /// ```
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// The exit status in Trio's convention, or `None` while the child runs: the exit code, or
    /// minus the signal that killed it (-9 for `SIGKILL`). Like Trio's `returncode` it is
    /// always current: it asks the operating system, without blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let process = trio::open_process(&mut std::process::Command::new("false")).await.unwrap();
    ///     process.wait().await.unwrap();
    ///     assert_eq!(process.returncode(), Some(1));
    /// });
    /// ```
    #[doc(alias = "poll")]
    pub fn returncode(&self) -> Option<i32> {
        self.exit_status().map(returncode)
    }

    /// The exit status as the standard library reports it, or `None` while the child runs.
    /// Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let process = trio::open_process(&mut std::process::Command::new("true")).await.unwrap();
    ///     let status = process.wait().await.unwrap();
    ///     assert_eq!(process.exit_status(), Some(status));
    /// });
    /// ```
    pub fn exit_status(&self) -> Option<ExitStatus> {
        if let Some(status) = self.status.get() {
            return Some(status);
        }
        // An error here means the child was reaped already, which only this type does.
        let status = self.child.borrow_mut().try_wait().ok().flatten()?;
        self.reaped(status);
        Some(status)
    }

    /// Waits until the child exits and returns its status (Trio's `Process.wait`).
    ///
    /// # Errors
    ///
    /// [`Cancelled`](crate::Cancelled); the operating system's error if waiting fails.
    ///
    /// # Panics
    ///
    /// Outside a task of a run.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelling it loses nothing — the child keeps running and a later `wait`
    /// reports it. While it waits, the task waits outside the runtime (no autojump).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let process = trio::open_process(std::process::Command::new("sh").args(["-c", "exit 3"])).await.unwrap();
    ///     assert_eq!(process.wait().await.unwrap().code(), Some(3));
    ///     assert_eq!(process.wait().await.unwrap().code(), Some(3)); // again: the same
    /// });
    /// ```
    pub async fn wait(&self) -> crate::Result<ExitStatus> {
        let _guard = self.wait_lock.lock().await?;
        loop {
            if let Some(status) = self.exit_status() {
                return Ok(status);
            }
            let pidfd = self.pidfd.borrow().clone();
            match pidfd {
                Some(pidfd) => {
                    if let Err(error) = crate::lowlevel::wait_readable(&*pidfd).await
                        && error.downcast_ref::<crate::ClosedResource>().is_none()
                    {
                        return Err(error);
                    }
                    // Readable: the child exited, so this does not block.
                    let status = self.child.borrow_mut().wait()?;
                    self.reaped(status);
                }
                None => {
                    let pid = Pid::from_raw(self.pid as i32).expect("a child's pid is positive");
                    to_thread::run_sync(move || {
                        rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED | WaitIdOptions::NOWAIT)
                    })
                    .thread_name("trio waitid")
                    .abandon_on_cancel(true)
                    .await?
                    .map_err(io::Error::from)?;
                }
            }
        }
    }

    /// Sends `signal` (a number such as [`signal::SIGTERM`](crate::signal::SIGTERM)) to the
    /// child (Trio's `send_signal`). Does nothing once the child was reaped: its pid may belong
    /// to another process by then.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a number that is not a signal; the operating system's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::signal::SIGKILL;
    ///
    /// trio::run(async {
    ///     let process = trio::open_process(std::process::Command::new("sleep").arg("60")).await.unwrap();
    ///     process.send_signal(SIGKILL).unwrap();
    ///     assert_eq!(process.wait().await.unwrap().signal(), Some(SIGKILL));
    ///     # use std::os::unix::process::ExitStatusExt;
    /// });
    /// ```
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        let signal = Signal::from_named_raw(signal)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{signal} is not a signal number")))?;
        if self.exit_status().is_some() {
            return Ok(());
        }
        // Not reaped yet, so the pid is still this child's (a zombie at worst).
        let pid = Pid::from_raw(self.pid as i32).expect("a child's pid is positive");
        rustix::process::kill_process(pid, signal).map_err(io::Error::from)
    }

    /// Asks the child to stop: `SIGTERM` (Trio's `terminate`). A program may ignore it.
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Process::send_signal).
    ///
    /// # Examples
    ///
    /// See [`Process`].
    pub fn terminate(&self) -> io::Result<()> {
        self.send_signal(crate::signal::SIGTERM)
    }

    /// Stops the child at once: `SIGKILL` (Trio's `kill`). Use [`wait`](Process::wait) to
    /// know when it is gone.
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Process::send_signal).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let process = trio::open_process(std::process::Command::new("sleep").arg("60")).await.unwrap();
    ///     process.kill().unwrap();
    ///     assert_eq!(process.wait().await.unwrap().code(), None); // killed by a signal
    ///     assert_eq!(process.returncode(), Some(-9));
    /// });
    /// ```
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(crate::signal::SIGKILL)
    }

    /// The child was reaped: keep the status, close the pidfd.
    fn reaped(&self, status: ExitStatus) {
        self.status.set(Some(status));
        if let Some(pidfd) = self.pidfd.borrow_mut().take()
            && crate::lowlevel::in_run()
        {
            notify_closing(&*pidfd);
        }
    }

    /// The command line, for messages.
    pub(crate) fn command_line(&self) -> String {
        self.args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The child runs on (as with `std::process::Child`); the reactor forgets its pidfd.
        if let Some(pidfd) = self.pidfd.borrow_mut().take()
            && crate::lowlevel::in_run()
        {
            notify_closing(&*pidfd);
        }
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Current, like `returncode` (Trio's repr polls): a child that died since the last look
        // is shown as exited (and reaped now).
        let state = match self.exit_status() {
            None => format!("running with pid {}", self.pid),
            Some(status) => match status.code() {
                Some(code) => format!("exited with status {code}"),
                None => format!("exited with signal {}", status.signal().unwrap_or(0)),
            },
        };
        write!(f, "Process({:?}: {state})", self.command_line())
    }
}

/// Trio's convention: the exit code, or minus the terminating signal.
pub(crate) fn returncode(status: ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| -status.signal().unwrap_or(0))
}

#[cfg(target_os = "linux")]
fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    let pid = Pid::from_raw(pid as i32)?;
    // Fails on kernels before 5.3 or in some sandboxes: then a thread waits instead.
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK).ok()
}

#[cfg(not(target_os = "linux"))]
fn open_pidfd(_pid: u32) -> Option<OwnedFd> {
    None
}
