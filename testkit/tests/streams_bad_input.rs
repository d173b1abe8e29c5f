//! Bad input and misuse of streams and of the simulated network: each is a clear error or an
//! actionable panic — no lost bytes, no hang.

use std::rc::Rc;
use std::time::Duration;

use trio::StreamError;
use trio::abc::{AsyncResource, HalfCloseableStream, Listener, ReceiveStream, SendStream};
use trio::net::SocketStream;
use trio_testkit::sim::{Faults, Link, SimNet};
use trio_testkit::streams::{lockstep_stream_one_way_pair, memory_stream_one_way_pair, memory_stream_pair};
use trio_testkit::{MockClock, trio_test, wait_all_tasks_blocked};

/// A connected pair on a fresh simulated network (installed in this run).
async fn sim_pair(link: Link) -> (SocketStream, SocketStream) {
    let net = SimNet::new();
    net.set_link("main", "main", link);
    net.install();
    let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
    let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
    let server = listeners[0].accept().await.unwrap();
    (client, server)
}

fn invalid(outcome: Result<Vec<u8>, StreamError>) -> bool {
    matches!(outcome, Err(StreamError::InvalidArgument(message)) if message.contains("max_bytes"))
}

// ===== zero-length and huge writes =====

/// Sending nothing is allowed, means nothing, and checkpoints.
#[trio_test]
async fn an_empty_send_is_not_the_end_of_the_stream(_autojump_clock: MockClock) {
    let (client, server) = sim_pair(Link::default()).await;
    trio_testkit::assert_checkpoints(client.send_all(b"")).await.unwrap();
    client.send_all(b"after").await.unwrap();
    assert_eq!(server.receive_some(100).await.unwrap(), b"after");
    let (send, receive) = memory_stream_one_way_pair();
    send.send_all(b"").await.unwrap();
    send.send_all(b"x").await.unwrap();
    assert_eq!(receive.receive_some(100).await.unwrap(), b"x");
}

/// Four MiB through a 64 KiB window, read in odd sizes: every byte arrives, once, in order.
#[trio_test]
async fn a_huge_write_arrives_whole_and_in_order(_autojump_clock: MockClock) {
    let data: Rc<Vec<u8>> = Rc::new((0..4 << 20).map(|i: u32| (i % 251) as u8).collect());
    let (client, server) = sim_pair(Link::default().window(64 * 1024)).await;
    let (memory_left, memory_right) = memory_stream_pair();
    for (sender, receiver) in [
        (Box::new(client) as Box<dyn SendStream>, Box::new(server) as Box<dyn ReceiveStream>),
        (Box::new(memory_left), Box::new(memory_right)),
    ] {
        let (sent, data) = (data.clone(), data.clone());
        let got = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                sender.send_all(&sent).await?;
                Ok(())
            });
            let mut got = Vec::new();
            while got.len() < data.len() {
                got.extend(receiver.receive_some(12_345).await?);
            }
            Ok(Some(got == *data))
        })
        .await
        .unwrap();
        assert_eq!(got, Some(true));
    }
}

// ===== receive_some(0) =====

/// Trio raises `ValueError`; here it is `InvalidArgument` — an empty result would read as the
/// end of the stream — and nothing is taken.
#[trio_test]
async fn receive_some_zero_is_invalid_for_every_stream_and_takes_nothing(_autojump_clock: MockClock) {
    let (client, server) = sim_pair(Link::default()).await;
    client.send_all(b"kept").await.unwrap();
    trio::sleep(Duration::from_millis(1)).await.unwrap();
    assert!(invalid(server.receive_some(0).await));
    assert_eq!(server.receive_some(100).await.unwrap(), b"kept");

    let (send, receive) = memory_stream_one_way_pair();
    send.send_all(b"kept").await.unwrap();
    assert!(invalid(receive.receive_some(0).await));
    assert_eq!(receive.receive_some(100).await.unwrap(), b"kept");

    let (_send, receive) = lockstep_stream_one_way_pair();
    assert!(invalid(receive.receive_some(0).await));

    let io = trio::io::IoStream::new(futures::io::Cursor::new(b"kept".to_vec()));
    assert!(invalid(io.receive_some(0).await));
    assert_eq!(io.receive_some(100).await.unwrap(), b"kept");
}

// ===== writes after send_eof =====

#[trio_test]
async fn a_write_after_send_eof_is_closed_and_nothing_follows_the_end(_autojump_clock: MockClock) {
    let (client, server) = sim_pair(Link::default()).await;
    client.send_all(b"last").await.unwrap();
    client.send_eof().await.unwrap();
    let err = client.send_all(b"too late").await.unwrap_err();
    assert!(err.is_closed() && err.to_string().contains("send_eof"), "{err}");
    assert_eq!(server.receive_some(100).await.unwrap(), b"last");
    assert_eq!(server.receive_some(100).await.unwrap(), b"");
    assert_eq!(server.receive_some(100).await.unwrap(), b"", "the end stays the end");

    let (left, right) = memory_stream_pair();
    left.send_eof().await.unwrap();
    assert!(left.send_all(b"too late").await.unwrap_err().is_closed());
    assert_eq!(right.receive_some(100).await.unwrap(), b"");
}

// ===== closing a stream another task is blocked on =====

/// Trio's rule: the blocked task wakes with `Closed` — for a receive, a send blocked on flow
/// control, and an accept.
#[trio_test]
async fn closing_wakes_blocked_tasks_with_closed(_autojump_clock: MockClock) {
    let (client, _server) = sim_pair(Link::default().window(4)).await;
    let client = Rc::new(client);
    let listeners = trio::net::open_tcp_listeners(81).await.unwrap();
    let listener = Rc::new(listeners.into_iter().next().unwrap());
    let (c1, c2, l) = (client.clone(), client.clone(), listener.clone());
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let err = c1.receive_some(10).await.unwrap_err();
            assert!(err.is_closed(), "receive: {err}");
            Ok(())
        });
        nursery.start_soon(async move {
            // The window is 4 bytes and nobody reads: this blocks after sending 4.
            let err = c2.send_all(b"more than four bytes").await.unwrap_err();
            assert!(err.is_closed(), "send: {err}");
            Ok(())
        });
        nursery.start_soon(async move {
            let err = l.accept().await.unwrap_err();
            assert!(err.is_closed(), "accept: {err}");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        client.aclose().await?;
        listener.aclose().await?;
        Ok(())
    })
    .await
    .unwrap();
}

// ===== listener backlogs =====

/// A backlog of 0 means 1 (as the operating system rounds it up); beyond it, connecting is
/// refused with a message that says why.
#[trio_test]
async fn a_zero_backlog_holds_one_connection(_autojump_clock: MockClock) {
    let net = SimNet::new();
    net.install();
    let _listeners = trio::net::open_tcp_listeners_on(None, 80, Some(0)).await.unwrap();
    let _first = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
    let err = trio::net::open_tcp_stream("localhost", 80).await.unwrap_err();
    assert!(err.to_string().contains("backlog of 1 is full"), "{err}");
}

// ===== misuse of the simulated network =====

#[test]
#[should_panic(expected = "a fault rate is a fraction between 0 and 1, not 1.5")]
fn a_fault_rate_above_one_panics() {
    let _ = Faults::none().drop_rate(1.5);
}

#[test]
#[should_panic(expected = "fault rates add up to more than 1")]
fn fault_rates_adding_up_to_more_than_one_panic() {
    let _ = Faults::none().drop_rate(0.6).reset_rate(0.6);
}

#[test]
#[should_panic(expected = "no simulated host is named \"dbb\"; the hosts are [\"main\", \"db\"]")]
fn an_unknown_host_name_panics_with_the_known_ones() {
    let net = SimNet::new();
    net.add_host("db");
    net.partition("main", "dbb");
}

#[test]
#[should_panic(expected = "a host named \"db\" exists already")]
fn adding_a_host_twice_panics() {
    let net = SimNet::new();
    net.add_host("db");
    net.add_host("db");
}

#[test]
#[should_panic(expected = "this SimNet is installed already")]
fn installing_a_network_twice_panics() {
    trio::run(async {
        let net = SimNet::new();
        net.install();
        net.install();
    });
}

/// Without a network installed, `trio::net` is the operating system's (on Unix): a test that
/// forgets to install its `SimNet` gets real loopback sockets, not a simulated host.
#[cfg(unix)]
#[test]
fn without_a_network_trio_net_uses_the_operating_system() {
    trio::Builder::new().watchdog(std::time::Duration::from_secs(30)).run(async {
        assert!(trio::net::current_provider().is_none());
        let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await.unwrap();
        assert_ne!(listeners[0].local_addr().port(), 0, "a real port was picked");
        assert!(listeners[0].local_addr().ip().is_loopback());
    });
}

/// A stream or listener kept past the end of its run can still be dropped.
#[test]
fn sim_handles_outliving_their_run_drop_quietly() {
    let (listeners, client) = trio::Builder::new().clock(MockClock::autojump()).run(async {
        SimNet::new().install();
        let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
        let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        (listeners, client)
    });
    drop(client);
    drop(listeners);
}
