//! A task blocked on a memory or lockstep stream is reported with the line that made the
//! stream, so two streams waiting alike read differently in a deadlock report.

use trio::abc::{ReceiveStream, SendStream};
use trio::{Builder, RunErrorKind};
use trio_testkit::streams::{
    MemoryReceiveStream, lockstep_stream_one_way_pair, lockstep_stream_pair, memory_stream_one_way_pair,
    memory_stream_pair,
};

fn deadlock_report<F: std::future::Future>(future: F) -> String {
    let err = Builder::new().try_run(future).err().expect("the run deadlocks");
    assert_eq!(err.kind(), RunErrorKind::Deadlock, "{err}");
    err.to_string()
}

/// `file:line:column` of the first call to `call` on the line of this file marked `marker`.
fn site(marker: &str, call: &str) -> String {
    let source = include_str!("streams_deadlock_names.rs");
    let (index, line) = source.lines().enumerate().find(|(_, l)| l.contains(marker)).expect("the marker is here");
    let column = 1 + line.find(call).expect("the call is on the marked line");
    format!("testkit/tests/streams_deadlock_names.rs:{}:{column}", index + 1)
}

fn line_of_task<'a>(report: &'a str, task: &str) -> &'a str {
    let needle = format!("`{task}`");
    report.lines().find(|l| l.contains(&needle)).unwrap_or_else(|| panic!("task `{task}` is not listed in\n{report}"))
}

#[test]
fn two_memory_stream_pairs_are_told_apart_by_where_they_were_made() {
    let report = deadlock_report(async {
        let (_a_left, a_right) = memory_stream_pair(); // pair a
        let (_b_left, b_right) = memory_stream_pair(); // pair b
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("reads-a", async move { Ok(a_right.receive_some(10).await.map(drop)?) });
            nursery.start_soon_named("reads-b", async move { Ok(b_right.receive_some(10).await.map(drop)?) });
            Ok(())
        })
        .await
        .unwrap();
    });
    for (task, marker) in [("reads-a", "// pair a"), ("reads-b", "// pair b")] {
        let expected = format!(
            "MemoryReceiveStream::receive_some, waiting for data on the MemoryReceiveStream created at {}",
            site(marker, "memory_stream_pair")
        );
        assert!(line_of_task(&report, task).ends_with(&expected), "no `{expected}` in\n{report}");
    }
}

#[test]
fn a_one_way_pair_and_a_bare_stream_name_their_own_lines() {
    let report = deadlock_report(async {
        let (_send, receive) = memory_stream_one_way_pair(); // one way
        let bare = MemoryReceiveStream::new(); // bare
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("one-way", async move { Ok(receive.receive_some(1).await.map(drop)?) });
            nursery.start_soon_named("bare", async move { Ok(bare.receive_some(1).await.map(drop)?) });
            Ok(())
        })
        .await
        .unwrap();
    });
    let one_way = site("// one way", "memory_stream_one_way_pair");
    assert!(line_of_task(&report, "one-way").ends_with(&format!("created at {one_way}")), "{report}");
    let bare = site("// bare", "MemoryReceiveStream::new");
    assert!(line_of_task(&report, "bare").ends_with(&format!("created at {bare}")), "{report}");
}

#[test]
fn lockstep_streams_name_where_they_were_made() {
    let report = deadlock_report(async {
        let (send, _receive) = lockstep_stream_one_way_pair(); // lockstep one way
        let (_left, right) = lockstep_stream_pair(); // lockstep pair
        trio::open_nursery(|nursery| async move {
            // Nobody ever receives: the send waits for the data to be taken.
            nursery.start_soon_named("sender", async move { Ok(send.send_all(b"x").await?) });
            nursery.start_soon_named("receiver", async move { Ok(right.receive_some(1).await.map(drop)?) });
            Ok(())
        })
        .await
        .unwrap();
    });
    let expected = format!(
        "lockstep send_all, waiting for the receiver to take the data on the lockstep stream created at {}",
        site("// lockstep one way", "lockstep_stream_one_way_pair")
    );
    assert!(line_of_task(&report, "sender").ends_with(&expected), "no `{expected}` in\n{report}");
    let expected = format!(
        "lockstep receive_some, waiting for data on the lockstep stream created at {}",
        site("// lockstep pair", "lockstep_stream_pair")
    );
    assert!(line_of_task(&report, "receiver").ends_with(&expected), "no `{expected}` in\n{report}");
}

#[test]
fn simulated_sockets_name_where_the_connection_and_the_listener_were_opened() {
    let report = deadlock_report(async {
        let net = trio_testkit::sim::SimNet::new();
        let db = net.add_host("db");
        net.install();
        let listener = db.listen(5432).unwrap(); // the listener
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("server", async move {
                let conn = trio::abc::Listener::accept(&listener).await?;
                conn.receive_some(100).await?; // the client never sends
                Ok(())
            });
            nursery.start_soon_named("client", async {
                let stream = trio::net::open_tcp_stream("db", 5432).await?; // the connection
                stream.receive_some(100).await?; // the server never answers
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    let connection = site("// the connection", "trio::net::open_tcp_stream");
    let expected = format!("waiting to receive on the stream to db:5432 opened at {connection}");
    assert!(line_of_task(&report, "client").contains(&expected), "no `{expected}` in\n{report}");
    let listener = site("// the listener", "listen(5432)"); // a method call is located at its name
    let expected = format!("accepted from the listener on db:5432 opened at {listener}");
    let server = line_of_task(&report, "server");
    assert!(server.contains("waiting to receive on the stream from "), "{report}");
    assert!(server.contains(&expected), "no `{expected}` in\n{report}");
}
