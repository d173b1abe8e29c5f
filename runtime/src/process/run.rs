//! [`run_process`]: a child process as a function call, supervised (Trio's `run_process`).

use std::cell::RefCell;
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::os::unix::process::ExitStatusExt;
use std::panic::Location;
use std::pin::Pin;
use std::process::{Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::Duration;

use super::{Process, open_process, returncode};
use crate::abc::{AsyncResource, ReceiveStream, SendStream};
use crate::{CancelScope, TaskStatus};

/// How long the default `deliver_cancel` waits after `SIGTERM` before it sends `SIGKILL`
/// (Trio: 5 seconds).
const TERMINATE_GRACE: Duration = Duration::from_secs(5);

/// A custom way to stop the child when [`run_process`] is cancelled.
type DeliverCancel = Box<dyn FnOnce(Rc<Process>) -> Pin<Box<dyn Future<Output = crate::Result<()>>>>>;

/// Runs `command` to completion and returns what happened (Trio's `trio.run_process`).
///
/// Returns a [`RunProcess`] to `.await`; its methods set the options first. The defaults are
/// Trio's, which differ from `std::process::Command::output`: the child's standard input is
/// empty (not the parent's), its output goes to the parent's unless captured, and a non-zero
/// exit status is an error ([`CalledProcessError`]) unless [`check(false)`](RunProcess::check).
///
/// # Errors
///
/// - [`CalledProcessError`] if the child exited with a non-zero status (or was killed by a
///   signal) and `check` is on; it carries the captured output.
/// - [`Cancelled`](crate::Cancelled) if cancelled — returned only after the child was stopped
///   and has exited.
/// - The operating system's error if the program cannot be started.
///
/// # Panics
///
/// Outside a run.
///
/// # Cancellation
///
/// Cancelling it stops the child and waits for it to exit before returning `Cancelled`: by
/// default with `SIGTERM`, then `SIGKILL` if it is still running 5 seconds later (Trio's
/// default `deliver_cancel` on Unix); [`deliver_cancel`](RunProcess::deliver_cancel) sets
/// another way. Output captured up to then is dropped. A checkpoint whichever way it returns.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
///
/// trio::run(async {
///     let done = trio::run_process(&mut Command::new("cat")).stdin(b"fed to cat".to_vec()).capture_stdout(true).await;
///     assert_eq!(done.unwrap().stdout.unwrap(), b"fed to cat");
///
///     let failed = trio::run_process(Command::new("sh").args(["-c", "echo bad >&2; exit 4"]))
///         .capture_stderr(true)
///         .await
///         .unwrap_err();
///     let failed = failed.downcast_ref::<trio::process::CalledProcessError>().unwrap();
///     assert_eq!(failed.returncode(), 4);
///     assert_eq!(failed.stderr.as_deref(), Some(&b"bad\n"[..]));
///
///     // Cancelled: the child is stopped, and waited for.
///     let outcome = trio::move_on_after(Duration::from_millis(50), async {
///         trio::run_process(Command::new("sleep").arg("60")).await?;
///         Ok(())
///     })
///     .await
///     .unwrap();
///     assert_eq!(outcome, None);
/// });
/// ```
#[track_caller]
pub fn run_process(command: &mut Command) -> RunProcess<'_> {
    RunProcess {
        command,
        input: Some(Vec::new()),
        capture_stdout: false,
        capture_stderr: false,
        check: true,
        deliver_cancel: None,
        task_status: None,
        location: Location::caller(),
    }
}

/// A [`run_process`] call: set its options, then `.await` it.
///
/// # Examples
///
/// ```
/// use std::process::Command;
///
/// trio::run(async {
///     let done = trio::run_process(Command::new("sh").args(["-c", "exit 7"])).check(false).await.unwrap();
///     assert_eq!(done.returncode(), 7);
/// });
/// ```
#[must_use = "a RunProcess does nothing until it is awaited"]
pub struct RunProcess<'a> {
    command: &'a mut Command,
    /// `Some`: fed to a piped stdin (default: nothing, an immediate end of file). `None`: the
    /// command's own stdin setting (the parent's by default).
    input: Option<Vec<u8>>,
    capture_stdout: bool,
    capture_stderr: bool,
    check: bool,
    deliver_cancel: Option<DeliverCancel>,
    task_status: Option<TaskStatus<Rc<Process>>>,
    location: &'static Location<'static>,
}

impl RunProcess<'_> {
    /// Bytes to feed to the child's standard input, which then ends (Trio's `stdin=b"..."`).
    /// The default is no bytes at all: the child reads an end of file at once.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let done = trio::run_process(&mut std::process::Command::new("wc").arg("-c"))
    ///         .stdin(vec![b'x'; 100_000]) // more than a pipe holds: fed while wc reads
    ///         .capture_stdout(true)
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(String::from_utf8(done.stdout.unwrap()).unwrap().trim(), "100000");
    /// });
    /// ```
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// Leaves the child's standard input as the [`Command`] says — the parent's, unless it was
    /// set there (Trio's `stdin=None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    ///
    /// trio::run(async {
    ///     let done = trio::run_process(Command::new("cat").stdin(Stdio::null()))
    ///         .command_stdin()
    ///         .capture_stdout(true)
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(done.stdout.unwrap(), b"");
    /// });
    /// ```
    pub fn command_stdin(mut self) -> Self {
        self.input = None;
        self
    }

    /// Whether to capture the child's standard output into [`CompletedProcess::stdout`]
    /// (default: no, it goes wherever the [`Command`] sends it — the parent's by default).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let done = trio::run_process(std::process::Command::new("echo").arg("hi")).capture_stdout(true).await;
    ///     assert_eq!(done.unwrap().stdout.unwrap(), b"hi\n");
    /// });
    /// ```
    pub fn capture_stdout(mut self, capture: bool) -> Self {
        self.capture_stdout = capture;
        self
    }

    /// Whether to capture the child's standard error into [`CompletedProcess::stderr`].
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let done = trio::run_process(std::process::Command::new("sh").args(["-c", "echo e >&2"]))
    ///         .capture_stderr(true)
    ///         .await;
    ///     assert_eq!(done.unwrap().stderr.unwrap(), b"e\n");
    /// });
    /// ```
    pub fn capture_stderr(mut self, capture: bool) -> Self {
        self.capture_stderr = capture;
        self
    }

    /// Whether a non-zero exit status is an error (default `true`, as in Trio).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     assert!(trio::run_process(&mut std::process::Command::new("false")).await.is_err());
    ///     let done = trio::run_process(&mut std::process::Command::new("false")).check(false).await.unwrap();
    ///     assert_eq!(done.returncode(), 1);
    /// });
    /// ```
    pub fn check(mut self, check: bool) -> Self {
        self.check = check;
        self
    }

    /// How to stop the child when the call is cancelled (Trio's `deliver_cancel`): `stop` gets
    /// the process and runs in a task of its own, shielded, until the child has exited — then it
    /// is cancelled. The default sends `SIGTERM`, waits 5 seconds, and sends `SIGKILL`. If
    /// `stop` fails, the error is reported along with the cancellation (in an
    /// [`ErrorGroup`](crate::ErrorGroup)) and the child is still waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use std::time::Duration;
    ///
    /// trio::run(async {
    ///     let outcome = trio::move_on_after(Duration::from_millis(20), async {
    ///         trio::run_process(Command::new("sleep").arg("60"))
    ///             .deliver_cancel(|process| async move {
    ///                 process.kill()?; // no grace period
    ///                 Ok(())
    ///             })
    ///             .await?;
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(outcome, None);
    /// });
    /// ```
    pub fn deliver_cancel<F, Fut>(mut self, stop: F) -> Self
    where
        F: FnOnce(Rc<Process>) -> Fut + 'static,
        Fut: Future<Output = crate::Result<()>> + 'static,
    {
        self.deliver_cancel = Some(Box::new(move |process| Box::pin(stop(process))));
        self
    }

    /// Reports the [`Process`] through `task_status` once it runs, for
    /// [`Nursery::start`](crate::Nursery::start) (Trio's `nursery.start(run_process, ...)`):
    /// the caller gets the process to talk to while this call supervises it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
    ///
    /// trio::run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         let process = nursery
    ///             .start(|task_status| async move {
    ///                 let mut cat = Command::new("cat");
    ///                 cat.stdin(Stdio::piped()).stdout(Stdio::piped());
    ///                 trio::run_process(&mut cat).command_stdin().task_status(task_status).await?;
    ///                 Ok(())
    ///             })
    ///             .await?;
    ///         // Talk to the child while `run_process` supervises it in the background.
    ///         let (stdin, stdout) = (process.stdin.as_ref().unwrap(), process.stdout.as_ref().unwrap());
    ///         stdin.send_all(b"hi").await?;
    ///         assert_eq!(stdout.receive_some(10).await?, b"hi");
    ///         stdin.aclose().await?; // cat exits, and run_process returns
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn task_status(mut self, task_status: TaskStatus<Rc<Process>>) -> Self {
        self.task_status = Some(task_status);
        self
    }
}

impl<'a> IntoFuture for RunProcess<'a> {
    type Output = crate::Result<CompletedProcess>;
    type IntoFuture = Pin<Box<dyn Future<Output = crate::Result<CompletedProcess>> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

impl fmt::Debug for RunProcess<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunProcess")
            .field("command", &self.command)
            .field("input_bytes", &self.input.as_ref().map(Vec::len))
            .field("capture_stdout", &self.capture_stdout)
            .field("capture_stderr", &self.capture_stderr)
            .field("check", &self.check)
            .field("custom_deliver_cancel", &self.deliver_cancel.is_some())
            .finish_non_exhaustive()
    }
}

async fn run(spec: RunProcess<'_>) -> crate::Result<CompletedProcess> {
    let RunProcess { command, input, capture_stdout, capture_stderr, check, deliver_cancel, task_status, location } =
        spec;
    crate::lowlevel::ensure_in_run(location);
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    if capture_stdout {
        command.stdout(Stdio::piped());
    }
    if capture_stderr {
        command.stderr(Stdio::piped());
    }
    let mut process = open_process(command).await?;
    let stdin = if input.is_some() { process.stdin.take() } else { None };
    let stdout = if capture_stdout { process.stdout.take() } else { None };
    let stderr = if capture_stderr { process.stderr.take() } else { None };
    let process = Rc::new(process);
    let stdout_data = Rc::new(RefCell::new(Vec::new()));
    let stderr_data = Rc::new(RefCell::new(Vec::new()));

    let supervised = {
        let (process, stdout_data, stderr_data) = (process.clone(), stdout_data.clone(), stderr_data.clone());
        crate::open_nursery(|nursery| async move {
            if let (Some(stream), Some(input)) = (stdin, input) {
                nursery.start_soon_named("run_process: feeding stdin", async move {
                    // A child that exits without reading everything is not an error (Trio).
                    match stream.send_all(&input).await {
                        Err(error) if error.is_broken() => {}
                        other => other?,
                    }
                    stream.aclose().await?;
                    Ok(())
                });
            }
            for (stream, data, name) in [
                (stdout, stdout_data, "run_process: reading stdout"),
                (stderr, stderr_data, "run_process: reading stderr"),
            ] {
                if let Some(stream) = stream {
                    nursery.start_soon_named(name, async move {
                        loop {
                            let chunk = stream.receive_some(crate::io::DEFAULT_RECEIVE_SIZE).await?;
                            if chunk.is_empty() {
                                return Ok(());
                            }
                            data.borrow_mut().extend_from_slice(&chunk);
                        }
                    });
                }
            }
            if let Some(task_status) = task_status {
                task_status.started(process.clone());
            }
            match process.wait().await {
                Ok(status) => Ok(Some(status)),
                Err(error) => {
                    stop_and_wait(&process, &nursery, deliver_cancel).await;
                    Err(error)
                }
            }
        })
        .await
    };
    let status = match supervised {
        Ok(Some(status)) => status,
        Ok(None) => match process.exit_status() {
            // The nursery's own scope was cancelled after the child exited: keep going.
            Some(status) => status,
            None => unreachable!("the nursery waited for the child"),
        },
        Err(error) => return Err(error),
    };
    let stdout = capture_stdout.then(|| stdout_data.take());
    let stderr = capture_stderr.then(|| stderr_data.take());
    if check && !status.success() {
        return Err(CalledProcessError { command: process.command_line(), status, stdout, stderr }.into());
    }
    Ok(CompletedProcess { args: process.command_line(), status, stdout, stderr })
}

/// The call was cancelled (or waiting failed): stop the child with `deliver_cancel` in a
/// shielded task, wait for it to exit (shielded too), then cancel the stopper.
async fn stop_and_wait(process: &Rc<Process>, nursery: &crate::Nursery, deliver_cancel: Option<DeliverCancel>) {
    let stopper_scope = CancelScope::shielded();
    let handle = stopper_scope.clone();
    let target = process.clone();
    nursery.start_soon_named("run_process: deliver_cancel", async move {
        stopper_scope
            .run(async move {
                match deliver_cancel {
                    Some(stop) => stop(target).await,
                    None => default_deliver_cancel(target).await,
                }
            })
            .await?;
        Ok(())
    });
    let _ = CancelScope::shielded().run(process.wait()).await;
    handle.cancel();
}

/// Trio's default on Unix: `SIGTERM`, 5 seconds, `SIGKILL`.
async fn default_deliver_cancel(process: Rc<Process>) -> crate::Result<()> {
    process.terminate()?;
    crate::sleep(TERMINATE_GRACE).await?;
    process.kill()?;
    Ok(())
}

// ===== outcomes =====

/// What a finished [`run_process`] reports (Python's `subprocess.CompletedProcess`).
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let done = trio::run_process(std::process::Command::new("echo").arg("x")).capture_stdout(true).await.unwrap();
///     assert_eq!(done.args, "echo x");
///     assert!(done.status.success());
///     assert_eq!(done.stdout, Some(b"x\n".to_vec()));
///     assert_eq!(done.stderr, None); // not captured
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompletedProcess {
    /// The command line, for messages.
    pub args: String,
    /// How the child exited.
    pub status: ExitStatus,
    /// Its standard output, if captured.
    pub stdout: Option<Vec<u8>>,
    /// Its standard error, if captured.
    pub stderr: Option<Vec<u8>>,
}

impl CompletedProcess {
    /// The exit code, or minus the signal that killed the child (Trio's `returncode`).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let done = trio::run_process(&mut std::process::Command::new("true")).await.unwrap();
    ///     assert_eq!(done.returncode(), 0);
    /// });
    /// ```
    pub fn returncode(&self) -> i32 {
        returncode(self.status)
    }
}

/// A child run with [`run_process`] exited with a non-zero status, or was killed by a signal
/// (Python's `subprocess.CalledProcessError`). Carries what was captured.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let err = trio::run_process(std::process::Command::new("sh").args(["-c", "echo out; exit 2"]))
///         .capture_stdout(true)
///         .await
///         .unwrap_err();
///     let failed: &trio::process::CalledProcessError = err.downcast_ref().unwrap();
///     assert_eq!(failed.returncode(), 2);
///     assert_eq!(failed.stdout.as_deref(), Some(&b"out\n"[..]));
///     assert_eq!(err.to_string(), "command `sh -c echo out; exit 2` returned non-zero exit status 2");
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CalledProcessError {
    /// The command line.
    pub command: String,
    /// How the child exited.
    pub status: ExitStatus,
    /// Its standard output, if captured.
    pub stdout: Option<Vec<u8>>,
    /// Its standard error, if captured.
    pub stderr: Option<Vec<u8>>,
}

impl CalledProcessError {
    /// The exit code, or minus the signal that killed the child.
    ///
    /// # Examples
    ///
    /// See [`CalledProcessError`].
    pub fn returncode(&self) -> i32 {
        returncode(self.status)
    }
}

impl fmt::Display for CalledProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status.signal() {
            Some(signal) => write!(f, "command `{}` died with signal {signal}", self.command),
            None => write!(f, "command `{}` returned non-zero exit status {}", self.command, self.returncode()),
        }
    }
}

impl StdError for CalledProcessError {}
