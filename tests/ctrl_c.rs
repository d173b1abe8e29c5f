//! Ctrl-C during `trio::run`: a child process runs `src/bin/ctrl_c_demo.rs`, and the test sends
//! it `SIGINT` once it says it is ready. Every task unwinds with a `KeyboardInterrupt`
//! cancellation and the run ends with the `KeyboardInterrupt` error; with the `Builder` option
//! off, the signal ends the process instead. Bounded in time: a child that does not finish in
//! 30 seconds is killed and the test fails.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Starts the demo, waits for its `ready`, sends SIGINT, and returns its status and the rest of
/// its output.
fn interrupt_demo(args: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctrl_c_demo"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = lines_tx.send(first);
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        let _ = lines_tx.send(rest);
    });
    let ready = recv_or_kill(&lines_rx, &mut child, "the demo's `ready`");
    assert_eq!(ready, "ready\n");
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let rest = recv_or_kill(&lines_rx, &mut child, "the demo's output after Ctrl-C");
    let status = child.wait().unwrap();
    (status, rest)
}

fn recv_or_kill(lines: &mpsc::Receiver<String>, child: &mut Child, what: &str) -> String {
    match lines.recv_timeout(LIMIT) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no {what} within {LIMIT:?}: the demo was killed");
        }
    }
}

#[test]
fn ctrl_c_unwinds_every_task_and_ends_the_run_with_keyboard_interrupt() {
    let (status, output) = interrupt_demo(&[]);
    let mut lines: Vec<&str> = output.lines().collect();
    let last = lines.pop();
    lines.sort();
    assert_eq!(
        lines,
        [
            "main: unwound (cancelled by KeyboardInterrupt: Ctrl-C (SIGINT))",
            "worker 1: unwound (cancelled by KeyboardInterrupt: Ctrl-C (SIGINT))",
            "worker 2: unwound (cancelled by KeyboardInterrupt: Ctrl-C (SIGINT))",
        ],
        "{output}"
    );
    assert_eq!(last, Some("KeyboardInterrupt: Ctrl-C (SIGINT) cancelled the run, and every task has unwound"));
    assert_eq!(status.code(), Some(130), "{output}");
}

#[test]
fn with_keyboard_interrupt_off_ctrl_c_ends_the_process() {
    let (status, output) = interrupt_demo(&["--no-keyboard-interrupt"]);
    assert_eq!(status.signal(), Some(2), "killed by SIGINT: {output}");
    assert_eq!(output, "", "no task got to unwind");
}
