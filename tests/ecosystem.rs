//! `#[trio_test]` with the rest of the Rust testing world: parametrised cases in rstest's
//! syntax, insta snapshots inside trio tests (also under exploration), and cargo-nextest,
//! which runs each test in a process of its own through libtest's command line — here done
//! the way nextest does it, so this file checks the protocol on every `cargo test`; CI also
//! runs this file under `cargo nextest run`.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use trio::abc::{HalfCloseableStream, Listener, ReceiveStream, SendStream};
use trio_testkit::fixture::Yield;
use trio_testkit::sim::SimNet;
use trio_testkit::{trio_fixture, trio_test};

// ===== rstest-style cases =====

/// One test per case, `#[case]` parameters first by convention, fixtures by name as usual. (rstest
/// itself cannot wrap a `#[trio_test]`: it would take the fixture parameters for its own
/// fixtures, so `#[trio_test]` reads rstest's `#[case]` syntax itself.)
#[trio_test(autojump)]
#[case::rendezvous(0)]
#[case::buffered(2)]
#[case::large(100)]
async fn a_channel_delivers_in_order(#[case] capacity: usize, nursery: trio::Nursery) -> trio::Result<()> {
    let (tx, rx) = trio::open_memory_channel::<u32>(capacity);
    nursery.start_soon(async move {
        for i in 0..5 {
            tx.send(i).await?;
        }
        Ok(())
    });
    let mut seen = Vec::new();
    while let Some(i) = rx.recv().await? {
        seen.push(i);
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    Ok(())
}

// ===== insta snapshots =====

type Transcript = Rc<RefCell<Vec<String>>>;

/// Writes what happens, with the virtual time, into a transcript the test snapshots.
fn note(transcript: &Transcript, what: impl Into<String>) {
    let now = trio::current_time() - trio::Instant::ZERO;
    transcript.borrow_mut().push(format!("[{now:?}] {}", what.into()));
}

#[trio_fixture]
async fn transcript() -> Transcript {
    Transcript::default()
}

/// Echoes every connection, one after the other, noting what it does.
async fn serve_echo(listener: trio::net::SocketListener, transcript: Transcript) -> trio::Result<()> {
    loop {
        let stream = listener.accept().await?;
        note(&transcript, "server: accepted");
        loop {
            let data = stream.receive_some(64).await?;
            if data.is_empty() {
                note(&transcript, "server: end of stream");
                stream.send_eof().await?;
                break;
            }
            note(&transcript, format!("server: echo {:?}", String::from_utf8_lossy(&data)));
            stream.send_all(&data).await?;
        }
    }
}

/// An echo server on the simulated network, in the fixture's nursery.
#[trio_fixture]
async fn echo(
    net: SimNet,
    nursery: trio::Nursery,
    transcript: Transcript,
    fixture: Yield<&'static str>,
) -> trio::Result<()> {
    let listener = net.add_host("echo").listen(7)?;
    nursery.start_soon_named("echo server", serve_echo(listener, transcript.clone()));
    fixture.provide("echo").await?;
    note(&transcript, "fixture: torn down");
    Ok(())
}

/// The transcript of one session, with exact virtual times (1 ms links): the same on every
/// schedule of the exploration, so one snapshot holds for all twenty.
#[trio_test(autojump, schedules = 20)]
async fn an_echo_session_snapshot(echo: &'static str, transcript: Transcript) -> trio::Result<()> {
    let stream = trio::net::open_tcp_stream(echo, 7).await?;
    note(&transcript, "client: connected");
    for word in ["ping", "pong"] {
        stream.send_all(word.as_bytes()).await?;
        let answer = stream.receive_some(64).await?;
        note(&transcript, format!("client: got {:?}", String::from_utf8_lossy(&answer)));
        trio::sleep(Duration::from_millis(10)).await?;
    }
    stream.send_eof().await?;
    assert!(stream.receive_some(64).await?.is_empty());
    note(&transcript, "client: done");
    insta::assert_snapshot!("echo_session", transcript.borrow().join("\n"));
    Ok(())
}

// ===== nextest =====

/// The trio tests of this file as nextest lists them: `--list --format terse` on the test
/// binary, one `name: test` line each (the cases with rstest's names).
#[test]
fn nextest_lists_trio_tests_and_their_cases() {
    let output = Command::new(std::env::current_exe().unwrap()).args(["--list", "--format", "terse"]).output().unwrap();
    assert!(output.status.success());
    let listed = String::from_utf8_lossy(&output.stdout);
    for name in [
        "a_channel_delivers_in_order::case_1_rendezvous: test",
        "a_channel_delivers_in_order::case_3_large: test",
        "an_echo_session_snapshot: test",
    ] {
        assert!(listed.lines().any(|line| line == name), "`{name}` not listed:\n{listed}");
    }
}

/// …and runs one in a process of its own, as nextest does: `<binary> --exact <name>`.
#[test]
fn nextest_runs_a_trio_test_in_its_own_process() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_channel_delivers_in_order::case_2_buffered", "--nocapture"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("test a_channel_delivers_in_order::case_2_buffered ... ok"), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
