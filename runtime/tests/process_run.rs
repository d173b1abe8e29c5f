//! Child processes: `run_process` (capture, check, input, cancellation that stops the child and
//! waits for it) and `open_process` (pipes as trio streams, wait, signals). Every run is
//! bounded by a watchdog; children are `sh`, `cat`, `true`, `false` and `sleep`, and the tests
//! order themselves with pipes, never with sleeps.

#![cfg(unix)]

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use trio::abc::{AsyncResource, Instrument, ReceiveStream, SendStream};
use trio::process::CalledProcessError;
use trio::{Builder, Instant, RunErrorKind, open_process, run_process};
use trio_testkit::{MockClock, assert_checkpoints};

const LIMIT: Duration = Duration::from_secs(30);

fn bounded() -> Builder {
    Builder::new().watchdog(LIMIT)
}

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

#[test]
fn captures_stdout_and_stderr_and_reports_the_status() {
    bounded().run(async {
        let done = run_process(&mut sh("printf out; printf err >&2; exit 0"))
            .capture_stdout(true)
            .capture_stderr(true)
            .await
            .unwrap();
        assert_eq!(done.stdout.as_deref(), Some(&b"out"[..]));
        assert_eq!(done.stderr.as_deref(), Some(&b"err"[..]));
        assert_eq!(done.returncode(), 0);
        assert_eq!(done.args, "sh -c printf out; printf err >&2; exit 0");
    });
}

#[test]
fn a_failing_command_is_a_called_process_error_with_its_output() {
    bounded().run(async {
        let err = run_process(&mut sh("echo partial; echo why >&2; exit 3"))
            .capture_stdout(true)
            .capture_stderr(true)
            .await
            .unwrap_err();
        let failed: &CalledProcessError = err.downcast_ref().expect("a CalledProcessError");
        assert_eq!(failed.returncode(), 3);
        assert_eq!(failed.status.code(), Some(3));
        assert_eq!(failed.stdout.as_deref(), Some(&b"partial\n"[..]));
        assert_eq!(failed.stderr.as_deref(), Some(&b"why\n"[..]));
        assert!(err.to_string().contains("returned non-zero exit status 3"), "{err}");
        assert!(!err.is_cancelled());

        let unchecked = run_process(&mut Command::new("false")).check(false).await.unwrap();
        assert_eq!(unchecked.returncode(), 1);
        assert!(run_process(&mut Command::new("true")).await.is_ok());
    });
}

#[test]
fn a_child_killed_by_a_signal_fails_the_check_with_minus_the_signal() {
    bounded().run(async {
        let err = run_process(&mut sh("kill -9 $$")).await.unwrap_err();
        let failed: &CalledProcessError = err.downcast_ref().unwrap();
        assert_eq!(failed.returncode(), -9);
        assert!(err.to_string().contains("died with signal 9"), "{err}");
    });
}

/// More input than a pipe holds, echoed back by `cat`: feeding and reading must run at once,
/// or both sides block.
#[test]
fn input_is_fed_while_the_output_is_read() {
    let input: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = input.clone();
    bounded().run(async move {
        let done = run_process(&mut Command::new("cat")).stdin(input).capture_stdout(true).await.unwrap();
        assert_eq!(done.stdout.unwrap(), expected);
    });
}

#[test]
fn the_default_stdin_is_empty_not_the_parents() {
    bounded().run(async {
        let done = run_process(&mut Command::new("cat")).capture_stdout(true).await.unwrap();
        assert_eq!(done.stdout.unwrap(), b"");
    });
}

#[test]
fn a_child_that_exits_without_reading_its_input_is_not_an_error() {
    bounded().run(async {
        let done = run_process(&mut Command::new("true")).stdin(vec![0u8; 1_000_000]).await.unwrap();
        assert_eq!(done.returncode(), 0);
    });
}

#[test]
fn a_missing_program_is_the_operating_systems_error() {
    bounded().run(async {
        let err = run_process(&mut Command::new("/no/such/program")).await.unwrap_err();
        let io = err.downcast_ref::<std::io::Error>().expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn run_process_and_wait_are_checkpoints() {
    bounded().run(async {
        assert_checkpoints(async {
            run_process(&mut Command::new("true")).await.unwrap();
        })
        .await;
        let process = open_process(&mut Command::new("true")).await.unwrap();
        process.wait().await.unwrap();
        assert_checkpoints(async {
            process.wait().await.unwrap(); // exited already
        })
        .await;
    });
}

/// Cancelled, `run_process` stops the child (SIGTERM by default) and returns only once it
/// has exited.
#[test]
fn cancelling_run_process_terminates_the_child_and_waits_for_it() {
    bounded().run(async {
        let process = trio::open_nursery(|nursery| async move {
            let process = nursery
                .start(|task_status| async move {
                    run_process(Command::new("sleep").arg("60")).task_status(task_status).await?;
                    Ok(())
                })
                .await?;
            assert_eq!(process.returncode(), None, "running");
            nursery.cancel_scope().cancel();
            Ok(Some(process))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(process.returncode(), Some(-15), "terminated by SIGTERM, and reaped");
    });
}

/// A child that ignores SIGTERM gets SIGKILL after 5 seconds of the run's clock (Trio's
/// default). The mock clock runs 1000 times faster than real time here.
#[test]
fn a_child_that_ignores_sigterm_is_killed_five_seconds_later() {
    let clock = MockClock::new();
    clock.set_rate(1000.0);
    bounded().clock(clock).run(async {
        let mut command = sh("trap '' TERM; echo ready; while :; do sleep 1; done");
        command.stdout(Stdio::piped());
        let (process, cancelled_at) = trio::open_nursery(|nursery| async move {
            let process = nursery
                .start(|task_status| async move {
                    run_process(&mut command).command_stdin().task_status(task_status).await?;
                    Ok(())
                })
                .await?;
            // The trap is set once the child says so.
            let stdout = process.stdout.as_ref().unwrap();
            assert_eq!(stdout.receive_some(100).await?, b"ready\n");
            let cancelled_at = trio::current_time();
            nursery.cancel_scope().cancel();
            Ok(Some((process, cancelled_at)))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(process.returncode(), Some(-9), "SIGTERM was ignored; SIGKILL was not");
        assert!(trio::current_time() - cancelled_at >= Duration::from_secs(5));
    });
}

#[test]
fn a_custom_deliver_cancel_runs_instead() {
    bounded().run(async {
        let used = Rc::new(RefCell::new(false));
        let flag = used.clone();
        let outcome = trio::move_on_after(Duration::from_millis(20), async move {
            run_process(Command::new("sleep").arg("60"))
                .deliver_cancel(move |process| async move {
                    *flag.borrow_mut() = true;
                    process.kill()?;
                    Ok(())
                })
                .await?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(outcome, None);
        assert!(*used.borrow());
    });
}

#[test]
fn open_process_pipes_are_trio_streams() {
    bounded().run(async {
        let mut process = open_process(Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped())).await.unwrap();
        let (stdin, stdout) = (process.stdin.take().unwrap(), process.stdout.take().unwrap());
        assert!(process.stderr.is_none(), "not piped");
        stdin.send_all(b"round trip").await.unwrap();
        stdin.aclose().await.unwrap();
        assert!(stdin.send_all(b"late").await.unwrap_err().is_closed());
        let mut got = Vec::new();
        loop {
            let chunk = stdout.receive_some(4).await.unwrap();
            assert!(chunk.len() <= 4);
            if chunk.is_empty() {
                break;
            }
            got.extend(chunk);
        }
        assert_eq!(got, b"round trip");
        assert!(stdout.receive_some(0).await.is_err(), "max_bytes 0 is refused");
        assert!(process.wait().await.unwrap().success());
    });
}

#[test]
fn writing_to_a_child_that_is_gone_is_broken() {
    bounded().run(async {
        let mut process = open_process(Command::new("true").stdin(Stdio::piped())).await.unwrap();
        let stdin = process.stdin.take().unwrap();
        process.wait().await.unwrap();
        let err = stdin.send_all(&[0; 100_000]).await.unwrap_err();
        assert!(err.is_broken(), "{err}");
    });
}

#[test]
fn closing_a_pipe_wakes_a_task_blocked_on_it_with_closed() {
    bounded().run(async {
        let mut process = open_process(Command::new("sleep").arg("60").stdout(Stdio::piped())).await.unwrap();
        let stdout = Rc::new(process.stdout.take().unwrap());
        let reader = stdout.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let err = reader.receive_some(10).await.unwrap_err();
                assert!(err.is_closed(), "{err}");
                Ok(())
            });
            trio::sleep(Duration::from_millis(1)).await?;
            stdout.aclose().await?;
            Ok(())
        })
        .await
        .unwrap();
        process.kill().unwrap();
        process.wait().await.unwrap();
    });
}

#[test]
fn signals_reach_the_child_and_stop_once_it_was_reaped() {
    bounded().run(async {
        let process = open_process(Command::new("sleep").arg("60")).await.unwrap();
        assert!(process.pid() > 0);
        assert_eq!(process.args(), ["sleep", "60"]);
        assert!(format!("{process:?}").contains("running with pid"));
        let err = process.send_signal(0).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        process.send_signal(trio::signal::SIGUSR1).unwrap();
        let status = process.wait().await.unwrap();
        assert_eq!(status.signal(), Some(trio::signal::SIGUSR1));
        assert_eq!(process.returncode(), Some(-trio::signal::SIGUSR1));
        // Reaped: the pid may be someone else's now, so nothing is sent.
        process.kill().unwrap();
        assert!(format!("{process:?}").contains("exited with signal"));
    });
}

/// Waiting for a child is a wait outside the runtime: a sleeper's deadline is pending, yet the
/// mock clock does not jump until the child has exited.
#[test]
fn autojump_waits_for_a_running_child() {
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let (ours, childs) = UnixStream::pair().unwrap();
    let release = std::thread::spawn(move || {
        parked_rx.recv().unwrap();
        (&ours).write_all(b"go\n").unwrap();
    });
    let clock = MockClock::autojump();
    let exited_at = bounded().clock(clock).instrument(SignalWhenParked::new(parked_tx)).run(async move {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async {
                trio::sleep(Duration::from_secs(10)).await?;
                Ok(())
            });
            let mut command = sh("read line");
            command.stdin(Stdio::from(OwnedFd::from(childs)));
            run_process(&mut command).command_stdin().await?;
            Ok(Some(trio::current_time()))
        })
        .await
        .unwrap()
        .unwrap()
    });
    release.join().unwrap();
    assert_eq!(exited_at, Instant::ZERO);
}

#[test]
fn a_report_names_the_child_a_task_waits_for() {
    // The child waits for its stdin to end, which happens when the test drops `ours`.
    let (ours, childs) = UnixStream::pair().unwrap();
    let err = Builder::new()
        .watchdog(Duration::from_millis(100))
        .try_run(async move {
            let mut command = sh("read line");
            command.stdin(Stdio::from(OwnedFd::from(childs)));
            let process = open_process(&mut command).await.unwrap();
            let outcome = process.wait().await;
            drop(outcome);
        })
        .unwrap_err();
    drop(ours);
    assert_eq!(err.kind(), RunErrorKind::Watchdog(Duration::from_millis(100)));
    assert!(err.to_string().contains("(the exit of `sh` (pid "), "{err}");
}

/// Tells a thread when the loop parks for long: only while something outside the runtime is
/// pending.
struct SignalWhenParked {
    parked: RefCell<Option<mpsc::Sender<()>>>,
}

impl SignalWhenParked {
    fn new(parked: mpsc::Sender<()>) -> SignalWhenParked {
        SignalWhenParked { parked: RefCell::new(Some(parked)) }
    }
}

impl Instrument for SignalWhenParked {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        if timeout.is_none_or(|t| t > Duration::from_secs(1))
            && let Some(parked) = self.parked.borrow_mut().take()
        {
            let _ = parked.send(());
        }
    }
}
