//! Conformance of child processes with Trio's `run_process`, `open_process` and `Process`
//! (Trio's `_subprocess.py`, its documentation and `test_subprocess.py`): the rules that
//! `process_run.rs` does not already check.
//!
//! Every run has a watchdog and a mock clock that never moves by itself, so no outcome depends
//! on how fast the machine is. Children are `true`, `false`, `cat` and `sh`, plus `sleep` where
//! the test stops it at once; the tests order themselves with pipes and with
//! `wait_all_tasks_blocked` (a wait on a pipe or on a child's exit is a blocked task).
//!
//! The tests of this file take turns (`serial`): one of them counts the open file descriptors
//! of the whole test process.

#![cfg(unix)]

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream};
use trio::process::CalledProcessError;
use trio::signal::{SIGKILL, SIGTERM};
use trio::{Builder, CancelScope, Process, StapledStream, open_process, run_process};
use trio_testkit::{MockClock, assert_checkpoints, wait_all_tasks_blocked};

const LIMIT: Duration = Duration::from_secs(30);

/// A run with a watchdog and a mock clock that only moves when told (it never is).
fn bounded() -> Builder {
    Builder::new().watchdog(LIMIT).clock(MockClock::new())
}

/// One test of this file at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

/// Reads a pipe to its end.
async fn read_to_end(stream: &impl ReceiveStream) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let chunk = stream.receive_some(1024).await.unwrap();
        if chunk.is_empty() {
            return got;
        }
        got.extend(chunk);
    }
}

/// Blocks the thread until the child `pid` has exited (a zombie, not yet reaped), looking at
/// `/proc` only: the `Process` learns nothing from it.
#[cfg(target_os = "linux")]
fn block_until_zombie(pid: u32) {
    for _ in 0..10_000 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the child is not reaped yet");
        let state = stat.rsplit(')').next().unwrap().trim_start().chars().next().unwrap();
        if state == 'Z' {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("child {pid} did not exit within 10 s of SIGKILL");
}

// ===== Process: returncode, wait, signals =====

/// Trio: `returncode` (and `poll`) is always current — no `wait` needed — and so is the
/// process's repr, which polls too.
#[cfg(target_os = "linux")]
#[test]
fn returncode_and_debug_are_current_without_wait() {
    let _serial = serial();
    bounded().run(async {
        let process = open_process(Command::new("sleep").arg("60")).await.unwrap();
        assert!(format!("{process:?}").contains("running with pid"), "{process:?}");
        process.kill().unwrap();
        block_until_zombie(process.pid());
        // Nothing in trio has looked at the child since it died: Debug must ask.
        let shown = format!("{process:?}");
        assert!(shown.contains("exited with signal 9"), "{shown}");
        assert_eq!(process.returncode(), Some(-SIGKILL));
    });
}

/// Trio's repr: "exited with status N" for a normal exit, the status being the exit code.
#[test]
fn debug_reports_the_exit_status_of_a_normal_exit() {
    let _serial = serial();
    bounded().run(async {
        for (program, code) in [("true", 0), ("false", 1)] {
            let process = open_process(&mut Command::new(program)).await.unwrap();
            process.wait().await.unwrap();
            assert_eq!(process.returncode(), Some(code));
            assert_eq!(format!("{process:?}"), format!("Process({program:?}: exited with status {code})"));
        }
        // A large exit code is still a code, not a signal.
        let process = open_process(&mut sh("exit 137")).await.unwrap();
        assert_eq!(process.wait().await.unwrap().code(), Some(137));
        assert_eq!(process.returncode(), Some(137));
        assert!(format!("{process:?}").ends_with(": exited with status 137)"), "{process:?}");
    });
}

/// Trio's `test_multi_wait`: several tasks may wait at once; cancelling them leaves the child
/// running; later waiters all see the same exit.
#[test]
fn several_waiters_tolerate_cancellation_and_all_see_the_exit() {
    let _serial = serial();
    bounded().run(async {
        let process = Rc::new(open_process(Command::new("sleep").arg("60")).await.unwrap());
        let cancelled = Rc::new(Cell::new(0));
        {
            let (process, cancelled) = (process.clone(), cancelled.clone());
            trio::open_nursery(|nursery| async move {
                for _ in 0..3 {
                    let (process, cancelled) = (process.clone(), cancelled.clone());
                    nursery.start_soon(async move {
                        let err = process.wait().await.unwrap_err();
                        assert!(err.is_cancelled(), "{err}");
                        cancelled.set(cancelled.get() + 1);
                        Ok(())
                    });
                }
                wait_all_tasks_blocked().await?;
                nursery.cancel_scope().cancel();
                Ok(())
            })
            .await
            .unwrap();
        }
        assert_eq!(cancelled.get(), 3);
        assert_eq!(process.returncode(), None, "cancelled waits leave the child running");

        let seen = Rc::new(RefCell::new(Vec::new()));
        {
            let (process, seen) = (process.clone(), seen.clone());
            trio::open_nursery(|nursery| async move {
                for _ in 0..3 {
                    let (process, seen) = (process.clone(), seen.clone());
                    nursery.start_soon(async move {
                        let status = process.wait().await?;
                        seen.borrow_mut().push(status.signal());
                        Ok(())
                    });
                }
                wait_all_tasks_blocked().await?;
                process.kill()?;
                Ok(())
            })
            .await
            .unwrap();
        }
        assert_eq!(*seen.borrow(), [Some(SIGKILL); 3]);
    });
}

/// Trio's wait lock: when the waiter that holds it is cancelled, one queued behind it takes
/// over the wait and still sees the exit.
#[test]
fn a_queued_waiter_takes_over_from_a_cancelled_one() {
    let _serial = serial();
    bounded().run(async {
        let process = Rc::new(open_process(Command::new("sleep").arg("60")).await.unwrap());
        let seen = Rc::new(Cell::new(None));
        let (first, second, seen_by_second) = (process.clone(), process.clone(), seen.clone());
        trio::open_nursery(|nursery| async move {
            let first_scope = CancelScope::new();
            let handle = first_scope.clone();
            nursery.start_soon(async move {
                let outcome = first_scope.run(async move { first.wait().await }).await?;
                assert_eq!(outcome, None, "the first waiter was cancelled");
                Ok(())
            });
            wait_all_tasks_blocked().await?; // the first waiter holds the lock
            nursery.start_soon(async move {
                let status = second.wait().await?;
                seen_by_second.set(Some(status.signal()));
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            handle.cancel();
            wait_all_tasks_blocked().await?;
            assert_eq!(process.returncode(), None);
            process.kill()?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(seen.get(), Some(Some(SIGKILL)));
    });
}

/// Trio's `send_signal` takes any signal number the operating system knows. Here only named
/// signals are accepted: a real-time signal (or 0, Python's existence probe) is refused with
/// `InvalidInput` and nothing is sent (documented deviation).
#[cfg(target_os = "linux")]
#[test]
fn send_signal_refuses_real_time_signals() {
    let _serial = serial();
    bounded().run(async {
        let process = open_process(Command::new("sleep").arg("60")).await.unwrap();
        let realtime = 40; // between SIGRTMIN and SIGRTMAX on Linux
        let err = process.send_signal(realtime).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(process.returncode(), None, "nothing was sent");
        process.kill().unwrap();
        assert_eq!(process.wait().await.unwrap().signal(), Some(SIGKILL));
    });
}

/// Trio #2209: a task waiting for the exit must wake when another reaps the child through
/// `returncode` (which closes the pidfd the waiter sleeps on) without yielding first.
#[test]
fn a_waiter_wakes_when_returncode_reaps_the_child_first() {
    let _serial = serial();
    bounded().run(async {
        let process = Rc::new(open_process(Command::new("sleep").arg("60")).await.unwrap());
        let seen = Rc::new(Cell::new(None));
        let (waiter, seen_by_waiter) = (process.clone(), seen.clone());
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let status = waiter.wait().await?;
                seen_by_waiter.set(Some(status.signal()));
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            process.terminate()?;
            // No checkpoint: the waiter cannot notice before `returncode` reaps the child.
            while process.returncode().is_none() {
                std::hint::spin_loop();
            }
            assert_eq!(process.returncode(), Some(-SIGTERM));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(seen.get(), Some(Some(SIGTERM)));
    });
}

// ===== run_process: outcomes =====

/// Trio: a stream that was not captured is `None` — in `CompletedProcess` and in
/// `CalledProcessError` alike — while a captured one is bytes, empty if the child wrote
/// nothing (`test_run_check`).
#[test]
fn uncaptured_streams_are_none_and_captured_ones_bytes() {
    let _serial = serial();
    bounded().run(async {
        let script = "echo test >&2; exit 1";
        let err = run_process(&mut sh(script)).capture_stderr(true).await.unwrap_err();
        let failed: &CalledProcessError = err.downcast_ref().unwrap();
        assert_eq!(failed.returncode(), 1);
        assert_eq!(failed.stdout, None);
        assert_eq!(failed.stderr.as_deref(), Some(&b"test\n"[..]));
        assert_eq!(failed.command, "sh -c echo test >&2; exit 1");

        let done = run_process(&mut sh(script)).capture_stdout(true).capture_stderr(true).check(false).await.unwrap();
        assert_eq!(done.returncode(), 1);
        assert_eq!(done.stdout.as_deref(), Some(&b""[..]));
        assert_eq!(done.stderr.as_deref(), Some(&b"test\n"[..]));

        let done = run_process(&mut Command::new("cat")).capture_stdout(true).await.unwrap();
        assert_eq!(done.stdout.as_deref(), Some(&b""[..]));
        assert_eq!(done.stderr, None);
    });
}

/// Trio's `test_run`: the input goes to stdin, then end-of-file; stdout and stderr are captured
/// separately, each whole.
#[test]
fn input_reaches_the_child_and_both_outputs_are_captured_apart() {
    let _serial = serial();
    bounded().run(async {
        let input: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let done = run_process(&mut sh("cat; cat >&2 <<EOF\nend of input\nEOF"))
            .stdin(input.clone())
            .capture_stdout(true)
            .capture_stderr(true)
            .await
            .unwrap();
        assert_eq!(done.stdout.unwrap(), input);
        assert_eq!(done.stderr.unwrap(), b"end of input\n");
    });
}

/// Trio: `stdin=None` leaves the child's stdin to the other options (the parent's, or a file
/// given); here `command_stdin` uses whatever the `Command` says.
#[test]
fn command_stdin_reads_what_the_command_was_given() {
    let _serial = serial();
    let (ours, childs) = UnixStream::pair().unwrap();
    std::io::Write::write_all(&mut &ours, b"from the command's stdin\n").unwrap();
    drop(ours); // the child reads the end after the line
    bounded().run(async move {
        let mut command = Command::new("cat");
        command.stdin(Stdio::from(OwnedFd::from(childs)));
        let done = run_process(&mut command).command_stdin().capture_stdout(true).await.unwrap();
        assert_eq!(done.stdout.unwrap(), b"from the command's stdin\n");
    });
}

/// Trio's default input is `b""`: an empty pipe, whatever else the child could have read. Here
/// it replaces a stdin set on the `Command` (documented: only `command_stdin` keeps it).
#[test]
fn the_default_empty_input_replaces_the_commands_stdin() {
    let _serial = serial();
    let (ours, childs) = UnixStream::pair().unwrap();
    std::io::Write::write_all(&mut &ours, b"must not be read\n").unwrap();
    bounded().run(async move {
        let mut command = Command::new("cat");
        command.stdin(Stdio::from(OwnedFd::from(childs)));
        let done = run_process(&mut command).capture_stdout(true).await.unwrap();
        assert_eq!(done.stdout.unwrap(), b"", "cat read an immediate end of file");
    });
    drop(ours);
}

/// Trio's default input is `b""` — an empty *pipe* (not `/dev/null`): the child reads an
/// immediate end of file from a pipe.
#[cfg(target_os = "linux")]
#[test]
fn the_default_input_is_an_empty_pipe_not_dev_null() {
    let _serial = serial();
    bounded().run(async {
        let done = run_process(&mut sh("[ -p /dev/stdin ] && echo pipe; cat")).capture_stdout(true).await.unwrap();
        assert_eq!(done.stdout.unwrap(), b"pipe\n");
    });
}

/// Trio's `feed_input` swallows `BrokenResourceError`: a child that fails without reading its
/// input is reported by its exit status alone.
#[test]
fn a_failing_child_that_ignores_its_input_is_a_called_process_error_only() {
    let _serial = serial();
    bounded().run(async {
        let err = run_process(&mut sh("exit 3")).stdin(vec![0u8; 1 << 20]).await.unwrap_err();
        assert!(err.as_group().is_none(), "no broken pipe beside it: {err:?}");
        let failed: &CalledProcessError = err.downcast_ref().expect("a CalledProcessError");
        assert_eq!(failed.returncode(), 3);
    });
}

// ===== run_process: cancellation =====

/// Trio: cancelled before it starts, `run_process` (and `open_process`) starts nothing.
#[test]
fn in_a_cancelled_scope_nothing_is_started() {
    let _serial = serial();
    let (mut ours, childs) = UnixStream::pair().unwrap();
    let mut command = sh("echo started");
    command.stdout(Stdio::from(OwnedFd::from(childs)));
    bounded().run(async {
        let scope = CancelScope::new();
        scope.cancel();
        let outcome = scope
            .run(async {
                let err = open_process(&mut command).await.unwrap_err();
                assert!(err.is_cancelled(), "{err}");
                let err = run_process(&mut command).command_stdin().await.unwrap_err();
                assert!(err.is_cancelled(), "{err}");
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(outcome, Some(()));
    });
    drop(command); // the last copy of the child's end: nothing can write any more
    let mut got = Vec::new();
    ours.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"", "no child ever ran");
}

/// Trio: `open_process` is a checkpoint (it starts the child from a worker thread).
#[test]
fn open_process_is_a_checkpoint() {
    let _serial = serial();
    bounded().run(async {
        let process = assert_checkpoints(open_process(&mut Command::new("true"))).await.unwrap();
        process.wait().await.unwrap();
    });
}

/// Cancelled while it feeds input that the child never reads, `run_process` still stops the
/// child, waits for it, and reports the cancellation — the blocked feeder does not hold it up.
#[test]
fn cancelling_run_process_while_it_feeds_input_stops_the_child() {
    let _serial = serial();
    bounded().run(async {
        let outcome = Rc::new(RefCell::new(None));
        let recorded = outcome.clone();
        let process = trio::open_nursery(|nursery| async move {
            let process = nursery
                .start(|task_status| async move {
                    let result = run_process(Command::new("sleep").arg("60"))
                        .stdin(vec![0u8; 1 << 20])
                        .capture_stdout(true)
                        .task_status(task_status)
                        .await;
                    *recorded.borrow_mut() = Some(result.as_ref().map(drop).map_err(trio::Error::is_cancelled));
                    result?;
                    Ok(())
                })
                .await?;
            wait_all_tasks_blocked().await?; // the feeder is stuck on a full pipe
            nursery.cancel_scope().cancel();
            Ok(Some(process))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(*outcome.borrow(), Some(Err(true)));
        assert_eq!(process.returncode(), Some(-SIGTERM));
    });
}

/// Trio re-raises the cancellation once the child has exited, even if the child stopped
/// cleanly (exit status 0) on `SIGTERM`: the call reports `Cancelled`, not success — and only
/// after the child was reaped.
#[test]
fn a_cancelled_run_process_reports_cancelled_even_if_the_child_exits_cleanly() {
    let _serial = serial();
    bounded().run(async {
        let outcome = Rc::new(RefCell::new(None));
        let pid = Rc::new(Cell::new(0));
        let (recorded, pid_for_task) = (outcome.clone(), pid.clone());
        let process = trio::open_nursery(|nursery| async move {
            let process = nursery
                .start(|task_status| async move {
                    let mut command = sh("trap 'kill $!; exit 0' TERM; sleep 60 & echo ready; wait");
                    command.stdout(Stdio::piped());
                    let result = run_process(&mut command).command_stdin().task_status(task_status).await;
                    let gone = !std::path::Path::new(&format!("/proc/{}", pid_for_task.get())).exists();
                    *recorded.borrow_mut() = Some((result.as_ref().map(drop).map_err(trio::Error::is_cancelled), gone));
                    result?;
                    Ok(())
                })
                .await?;
            pid.set(process.pid());
            let stdout = process.stdout.as_ref().unwrap();
            assert_eq!(stdout.receive_some(100).await?, b"ready\n", "the trap is set");
            nursery.cancel_scope().cancel();
            Ok(Some(process))
        })
        .await
        .unwrap()
        .unwrap();
        let (result, gone) = outcome.borrow().unwrap();
        assert_eq!(result, Err(true), "run_process reported Cancelled");
        if cfg!(target_os = "linux") {
            assert!(gone, "the child was reaped before run_process returned");
        }
        assert_eq!(process.returncode(), Some(0), "the child exited cleanly");
    });
}

/// Trio runs `deliver_cancel` in a shielded scope: the cancellation that triggered it does not
/// stop it at its own checkpoints.
#[test]
fn deliver_cancel_runs_shielded() {
    let _serial = serial();
    bounded().run(async {
        let reached = Rc::new(Cell::new(false));
        let flag = reached.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                run_process(Command::new("sleep").arg("60"))
                    .deliver_cancel(move |process| async move {
                        trio::checkpoint().await?;
                        trio::sleep(Duration::ZERO).await?;
                        flag.set(true);
                        process.kill()?;
                        Ok(())
                    })
                    .await?;
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert!(reached.get());
    });
}

/// Trio calls `deliver_cancel` only when `run_process` is cancelled: not when the child
/// succeeds, nor when it fails.
#[test]
fn deliver_cancel_is_not_called_without_cancellation() {
    let _serial = serial();
    bounded().run(async {
        let calls = Rc::new(Cell::new(0));
        for (program, ok) in [("true", true), ("false", false)] {
            let calls = calls.clone();
            let outcome = run_process(&mut Command::new(program))
                .deliver_cancel(move |process| async move {
                    calls.set(calls.get() + 1);
                    process.kill()?;
                    Ok(())
                })
                .await;
            assert_eq!(outcome.is_ok(), ok);
        }
        assert_eq!(calls.get(), 0);
    });
}

/// Trio's `test_custom_deliver_cancel`: `deliver_cancel` is cancelled once the child has
/// exited — it may wait forever after sending its signal — and the child really has exited
/// by then.
#[test]
fn deliver_cancel_is_cancelled_once_the_child_has_exited() {
    let _serial = serial();
    bounded().run(async {
        let seen_by_stopper = Rc::new(RefCell::new(None));
        let seen = seen_by_stopper.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                run_process(Command::new("sleep").arg("60"))
                    .deliver_cancel(move |process| async move {
                        process.terminate()?;
                        let err: trio::Cancelled = trio::sleep_forever().await.unwrap_err();
                        *seen.borrow_mut() = Some(process.returncode());
                        Err(err.into())
                    })
                    .await?;
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*seen_by_stopper.borrow(), Some(Some(-SIGTERM)));
    });
}

/// Trio: an error raised by `deliver_cancel` is not lost — it leaves `run_process` along with
/// the cancellation, and the scope that catches the cancellation lets it through.
#[test]
fn an_error_in_deliver_cancel_escapes_the_cancelled_scope() {
    let _serial = serial();
    bounded().run(async {
        let err = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                run_process(Command::new("sleep").arg("60"))
                    .deliver_cancel(|process| async move {
                        process.kill()?;
                        Err(trio::Error::msg("could not stop it politely"))
                    })
                    .await?;
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(!err.is_cancelled(), "{err}");
        assert!(format!("{err:?}").contains("could not stop it politely"), "{err:?}");
    });
}

// ===== run_process under nursery.start =====

/// Trio's `test_run_process_background_fail` and its note on capturing: started in a nursery
/// with `check` on, a failing child is a `CalledProcessError` out of the nursery, carrying the
/// captured output; the process reported by `start` has the exit status.
#[test]
fn a_started_run_process_that_fails_raises_in_the_nursery_with_its_output() {
    let _serial = serial();
    bounded().run(async {
        let reported = Rc::new(RefCell::new(None));
        let keep = reported.clone();
        let err = trio::open_nursery(|nursery| async move {
            let process = nursery
                .start(|task_status| async move {
                    run_process(&mut sh("echo why; exit 1")).capture_stdout(true).task_status(task_status).await?;
                    Ok(())
                })
                .await?;
            *keep.borrow_mut() = Some(process);
            Ok(())
        })
        .await
        .unwrap_err();
        let failed: &CalledProcessError = match err.as_group() {
            Some(group) => group.find().expect("a CalledProcessError in the group"),
            None => err.downcast_ref().expect("a CalledProcessError"),
        };
        assert_eq!(failed.returncode(), 1);
        assert_eq!(failed.stdout.as_deref(), Some(&b"why\n"[..]));
        assert_eq!(reported.borrow().as_ref().unwrap().returncode(), Some(1));
    });
}

/// Trio: `open_process` runs outside `run_process`'s nursery so that a failure to start is
/// seen as it is: out of `nursery.start`, the operating system's error, not a group.
#[test]
fn a_program_that_cannot_start_fails_nursery_start_with_the_os_error() {
    let _serial = serial();
    bounded().run(async {
        trio::open_nursery(|nursery| async move {
            let err = nursery
                .start(|task_status| async move {
                    run_process(&mut Command::new("/no/such/program")).task_status(task_status).await?;
                    Ok(())
                })
                .await
                .unwrap_err();
            let io = err.downcast_ref::<std::io::Error>().expect("an io::Error, not a group");
            assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// Trio sets `proc.stdin`/`proc.stdout`/`proc.stderr` to `None` for the streams `run_process`
/// feeds or captures itself; a pipe asked for on the command stays on the process for the
/// caller.
#[test]
fn a_started_run_process_keeps_the_pipes_it_uses_itself() {
    let _serial = serial();
    bounded().run(async {
        trio::open_nursery(|nursery| async move {
            let process = nursery
                .start(|task_status| async move {
                    let mut command = sh("cat; echo to the caller >&2");
                    command.stderr(Stdio::piped());
                    let done = run_process(&mut command)
                        .stdin(b"fed".to_vec())
                        .capture_stdout(true)
                        .task_status(task_status)
                        .await?;
                    assert_eq!(done.stdout.as_deref(), Some(&b"fed"[..]));
                    assert_eq!(done.stderr, None, "not captured: the caller reads it");
                    Ok(())
                })
                .await?;
            assert!(process.stdin.is_none(), "fed by run_process");
            assert!(process.stdout.is_none(), "captured by run_process");
            let stderr = process.stderr.as_ref().expect("piped on the command");
            assert_eq!(read_to_end(stderr).await, b"to the caller\n");
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// Trio raises `ValueError` for `stdout=PIPE` without `nursery.start` (nothing could read the
/// pipe). A `Command`'s redirections cannot be read before spawning, so here the pipe is made
/// and kept by the process; a child that writes little still finishes (documented deviation).
#[test]
fn a_pipe_on_the_command_without_task_status_is_not_an_error() {
    let _serial = serial();
    bounded().run(async {
        let mut command = sh("echo unread");
        command.stdout(Stdio::piped());
        let done = run_process(&mut command).await.unwrap();
        assert_eq!(done.returncode(), 0);
        assert_eq!(done.stdout, None);
    });
}

// ===== pipes as streams =====

/// Trio's `Process.stdio`: stdin and stdout stapled into one two-way stream, whose `send_eof`
/// ends the child's input. Here the caller staples them (documented deviation); the output
/// ends with `b""`, again and again.
#[test]
fn stapled_pipes_talk_to_the_child_and_send_eof_ends_its_input() {
    let _serial = serial();
    bounded().run(async {
        let mut process = open_process(Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped())).await.unwrap();
        let stdio = StapledStream::new(process.stdin.take().unwrap(), process.stdout.take().unwrap());
        stdio.send_all(b"1234").await.unwrap();
        stdio.send_eof().await.unwrap();
        assert!(stdio.send_all(b"5").await.unwrap_err().is_closed());
        assert_eq!(read_to_end(&stdio).await, b"1234");
        assert_eq!(stdio.receive_some(10).await.unwrap(), b"", "the end stays the end");
        assert_eq!(process.wait().await.unwrap().code(), Some(0));
    });
}

/// Trio's `test_interactive`, in small: several exchanges with a running child over its pipes.
#[test]
fn a_child_can_be_talked_to_back_and_forth() {
    let _serial = serial();
    bounded().run(async {
        let mut command = sh("while read n; do echo \"out $n\"; echo \"err $n\" >&2; done");
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let process = open_process(&mut command).await.unwrap();
        let (stdin, stdout, stderr) =
            (process.stdin.as_ref().unwrap(), process.stdout.as_ref().unwrap(), process.stderr.as_ref().unwrap());
        for n in 1..=3 {
            stdin.send_all(format!("{n}\n").as_bytes()).await.unwrap();
            for (stream, expected) in [(stdout, format!("out {n}\n")), (stderr, format!("err {n}\n"))] {
                let mut got = Vec::new();
                while got.len() < expected.len() {
                    got.extend(stream.receive_some(100).await.unwrap());
                }
                assert_eq!(got, expected.as_bytes());
            }
        }
        stdin.aclose().await.unwrap();
        assert_eq!(stdout.receive_some(1).await.unwrap(), b"");
        assert_eq!(stderr.receive_some(1).await.unwrap(), b"");
        assert_eq!(process.wait().await.unwrap().code(), Some(0));
    });
}

/// Trio's `FdStream` refuses a second task sending, or receiving, while one already is
/// (`BusyResourceError`).
#[test]
fn a_second_task_on_the_same_pipe_is_busy() {
    let _serial = serial();
    bounded().run(async {
        let mut command = Command::new("sleep");
        command.arg("60").stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut process = open_process(&mut command).await.unwrap();
        let stdin = Rc::new(process.stdin.take().unwrap());
        let stdout = Rc::new(process.stdout.take().unwrap());
        trio::open_nursery(|nursery| async move {
            let (sender, receiver) = (stdin.clone(), stdout.clone());
            // More than a pipe holds, to a child that never reads: the first send blocks.
            nursery.start_soon(async move { sender.send_all(&vec![0; 1 << 20]).await.map_err(trio::Error::from) });
            nursery.start_soon(async move { receiver.receive_some(10).await.map(drop).map_err(trio::Error::from) });
            wait_all_tasks_blocked().await?;
            assert!(stdin.send_all(b"x").await.unwrap_err().is_busy());
            assert!(stdin.wait_send_all_might_not_block().await.unwrap_err().is_busy());
            assert!(stdout.receive_some(10).await.unwrap_err().is_busy());
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        process.kill().unwrap();
        process.wait().await.unwrap();
    });
}

/// Trio's `notify_closing`: closing a pipe wakes a task blocked sending on it with
/// `ClosedResourceError`.
#[test]
fn closing_stdin_wakes_blocked_senders_with_closed() {
    let _serial = serial();
    bounded().run(async {
        let mut process = open_process(Command::new("sleep").arg("60").stdin(Stdio::piped())).await.unwrap();
        let stdin = Rc::new(process.stdin.take().unwrap());
        let woken = Rc::new(Cell::new(0));
        let (sender, woken_sender) = (stdin.clone(), woken.clone());
        let outcome = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                // More than a pipe holds, to a child that never reads.
                let err = sender.send_all(&vec![0; 1 << 20]).await.unwrap_err();
                assert!(err.is_closed(), "{err}");
                woken_sender.set(woken_sender.get() + 1);
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            stdin.aclose().await?;
            Ok(())
        })
        .await;
        outcome.unwrap();
        assert_eq!(woken.get(), 1);
        process.kill().unwrap();
        process.wait().await.unwrap();
    });
}

/// Trio's stream contract: a cancelled `receive_some` loses nothing — what the child writes
/// afterwards comes out of the next call.
#[test]
fn a_cancelled_receive_loses_no_data() {
    let _serial = serial();
    bounded().run(async {
        let mut command = sh("read line; echo \"got $line\"");
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        let process = Rc::new(open_process(&mut command).await.unwrap());
        let reader = process.clone();
        let outcome = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let err = reader.stdout.as_ref().unwrap().receive_some(100).await.unwrap_err();
                assert!(err.is_cancelled(), "{err}");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await;
        outcome.unwrap();
        process.stdin.as_ref().unwrap().send_all(b"hello\n").await.unwrap();
        assert_eq!(read_to_end(process.stdout.as_ref().unwrap()).await, b"got hello\n");
        assert!(process.wait().await.unwrap().success());
    });
}

/// Trio: closing is idempotent; a closed pipe refuses every later operation with
/// `ClosedResourceError`.
#[test]
fn a_closed_pipe_refuses_everything_and_closes_again_quietly() {
    let _serial = serial();
    bounded().run(async {
        let mut command = Command::new("cat");
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        let process = open_process(&mut command).await.unwrap();
        let (stdin, stdout) = (process.stdin.as_ref().unwrap(), process.stdout.as_ref().unwrap());
        stdin.wait_send_all_might_not_block().await.unwrap(); // an empty pipe has room
        stdin.aclose().await.unwrap();
        stdin.aclose().await.unwrap();
        assert!(stdin.wait_send_all_might_not_block().await.unwrap_err().is_closed());
        assert_eq!(stdout.receive_some(10).await.unwrap(), b"", "cat saw the end and exited");
        stdout.aclose().await.unwrap();
        stdout.aclose().await.unwrap();
        assert!(stdout.receive_some(10).await.unwrap_err().is_closed());
        process.wait().await.unwrap();
    });
}

/// Trio's checkpoint rule for streams: `send_all`, `receive_some` (data ready or at the end)
/// and `aclose` always checkpoint.
#[test]
fn pipe_operations_are_checkpoints() {
    let _serial = serial();
    bounded().run(async {
        let mut command = Command::new("cat");
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        let process = open_process(&mut command).await.unwrap();
        let (stdin, stdout) = (process.stdin.as_ref().unwrap(), process.stdout.as_ref().unwrap());
        assert_checkpoints(async { stdin.send_all(b"x").await.unwrap() }).await;
        assert_checkpoints(async { stdin.send_all(b"").await.unwrap() }).await;
        assert_checkpoints(async { stdin.aclose().await.unwrap() }).await;
        let got = assert_checkpoints(async { stdout.receive_some(10).await }).await.unwrap();
        assert_eq!(got, b"x");
        assert_checkpoints(async { assert_eq!(stdout.receive_some(10).await.unwrap(), b"") }).await;
        assert_checkpoints(async { stdout.aclose().await.unwrap() }).await;
        process.wait().await.unwrap();
    });
}

// ===== resources =====

/// Trio's `test_for_leaking_fds`: `run_process` leaves no file descriptor open behind it —
/// succeeding, failing the check, or failing to start.
#[cfg(target_os = "linux")]
#[test]
fn run_process_leaks_no_file_descriptors() {
    let _serial = serial();
    fn open_fds() -> Vec<String> {
        let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        fds.sort();
        fds
    }
    bounded().run(async {
        // Anything made once per run or per test process (threads' pipes) exists by now.
        run_process(&mut Command::new("true")).capture_stdout(true).await.unwrap();
        let before = open_fds();
        run_process(&mut Command::new("true")).await.unwrap();
        run_process(&mut sh("cat; echo e >&2"))
            .stdin(b"x".to_vec())
            .capture_stdout(true)
            .capture_stderr(true)
            .await
            .unwrap();
        assert!(run_process(&mut Command::new("false")).await.is_err());
        assert!(run_process(&mut Command::new("/no/such/program")).capture_stdout(true).await.is_err());
        let process: Rc<Process> = trio::open_nursery(|nursery| async move {
            let process = nursery
                .start(|task_status| async move {
                    run_process(Command::new("sleep").arg("60")).task_status(task_status).await?;
                    Ok(())
                })
                .await?;
            nursery.cancel_scope().cancel();
            Ok(Some(process))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(process.returncode(), Some(-SIGTERM));
        drop(process);
        assert_eq!(open_fds(), before);
    });
}
