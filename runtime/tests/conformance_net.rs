//! `trio::net` on the operating system's network, checked against Trio's rules beyond the
//! stream conformance suite that `net_os.rs` already runs on TCP pairs: what an accepted stream
//! reports, the socket options Trio sets, reads bounded by `max_bytes` and what comes before a
//! reset, half-close, a conflicting second task leaving the first one's work intact, listeners
//! (backlog, closing under a blocked `accept`, rebinding), `open_tcp_stream`'s failure and
//! happy-eyeballs order, and `serve_listeners` / `serve_tcp_on` (the listeners it reports,
//! closing them when it stops, handler streams closed, accept errors retried or let out).
//!
//! Loopback only (127.0.0.1 and ::1, port 0); every run has a watchdog; no outcome depends on
//! how long something takes.

#![cfg(unix)]

use std::cell::Cell;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use trio::abc::{AsyncResource, HalfCloseableStream, Listener, ReceiveStream, SendStream};
use trio::io::{IoFuture, OsError};
use trio::net::{OsNetwork, SocketListener, SocketStream};
use trio::{StreamError, TaskStatus};
use trio_testkit::{MockClock, assert_checkpoints};

/// A run on the real clock that a hang turns into a report within 60 s.
fn run<F: std::future::Future>(future: F) -> F::Output {
    trio::Builder::new().watchdog(Duration::from_secs(60)).run(future)
}

async fn listener_on(host: &str) -> trio::Result<SocketListener> {
    let mut listeners = trio::net::open_tcp_listeners_on(Some(host), 0, None).await?;
    assert_eq!(listeners.len(), 1, "{host} is one address");
    Ok(listeners.remove(0))
}

async fn loopback_listener() -> trio::Result<SocketListener> {
    listener_on("127.0.0.1").await
}

/// A connected loopback pair: (client, server).
async fn tcp_pair() -> trio::Result<(SocketStream, SocketStream)> {
    let listener = loopback_listener().await?;
    let client = trio::net::open_tcp_stream("127.0.0.1", listener.local_addr().port()).await?;
    let server = listener.accept().await?;
    Ok((client, server))
}

/// A port on `host` that nothing listens on (bound, then closed).
async fn closed_port(host: &str) -> trio::Result<u16> {
    let listener = listener_on(host).await?;
    let port = listener.local_addr().port();
    listener.aclose().await?;
    Ok(port)
}

/// Whether this machine has IPv6 loopback (`::1`); without it, an IPv6 port stands in that
/// fails to connect for another reason.
fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// A port on `::1` that refuses connections, or a port number when there is no IPv6 loopback
/// (connecting then fails without a refusal).
async fn closed_v6_port(stand_in: u16) -> trio::Result<u16> {
    if has_ipv6_loopback() { closed_port("::1").await } else { Ok(stand_in) }
}

async fn receive_exactly(stream: &impl ReceiveStream, n: usize) -> trio::Result<Vec<u8>> {
    let mut got = Vec::new();
    while got.len() < n {
        let chunk = stream.receive_some(n - got.len()).await?;
        assert!(!chunk.is_empty(), "the stream ended after {} of {n} bytes", got.len());
        got.extend_from_slice(&chunk);
    }
    Ok(got)
}

/// Everything until the end of the stream.
async fn receive_to_end(stream: &impl ReceiveStream) -> trio::Result<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        let chunk = stream.receive_some(1 << 16).await?;
        if chunk.is_empty() {
            return Ok(got);
        }
        got.extend_from_slice(&chunk);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Closes `stream` with linger 0, which makes the kernel send a reset.
fn reset(stream: SocketStream) {
    stream.with_fd(|fd| socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO)).unwrap());
    drop(stream);
}

// ===== SocketStream =====

/// Trio's `test_SocketListener`: the accepted stream's own address is the listener's, and its
/// peer is the client's own address.
#[test]
fn an_accepted_stream_mirrors_the_client_addresses() {
    run(async {
        let listener = loopback_listener().await?;
        let client = trio::net::open_tcp_stream("127.0.0.1", listener.local_addr().port()).await?;
        let server = listener.accept().await?;
        assert_eq!(server.local_addr(), listener.local_addr());
        assert_eq!(server.peer_addr(), client.local_addr());
        assert_eq!(client.peer_addr(), listener.local_addr());
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's `SocketStream` turns `TCP_NODELAY` on for every stream it wraps, the accepted ones
/// included, and lets the user turn it off.
#[test]
fn tcp_nodelay_is_on_for_accepted_streams_and_can_be_turned_off() {
    run(async {
        let (_client, server) = tcp_pair().await?;
        assert!(server.nodelay()?);
        assert_eq!(server.with_fd(|fd| socket2::SockRef::from(&fd).tcp_nodelay().unwrap()), Some(true));
        server.set_nodelay(false)?;
        assert!(!server.nodelay()?);
        assert_eq!(server.with_fd(|fd| socket2::SockRef::from(&fd).tcp_nodelay().unwrap()), Some(false));
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's `SocketStream` also sets `TCP_NOTSENT_LOWAT` to 16 KiB where the system has it (its
/// issue #72): the kernel keeps at most that much unsent data, so `send_all` and
/// `wait_send_all_might_not_block` see backpressure early.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn tcp_notsent_lowat_is_16_kib_on_both_ends() {
    run(async {
        let (client, server) = tcp_pair().await?;
        for stream in [&client, &server] {
            let lowat = stream.with_fd(|fd| socket2::SockRef::from(&fd).tcp_notsent_lowat().unwrap());
            assert_eq!(lowat, Some(16 * 1024));
        }
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's `test_socket_stream_works_when_peer_has_already_closed`: bytes a peer sent before it
/// closed are read first, one at a time if asked, then the end — and the end again.
#[test]
fn a_peer_that_sent_and_closed_before_the_first_read_still_delivers_then_ends() {
    run(async {
        let (client, server) = tcp_pair().await?;
        client.send_all(b"xy").await?;
        client.aclose().await?;
        assert_eq!(server.receive_some(1).await?, b"x");
        assert_eq!(server.receive_some(1).await?, b"y");
        assert_eq!(server.receive_some(1).await?, b"");
        assert_eq!(server.receive_some(100).await?, b"", "the end stays the end");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// `receive_some(max_bytes)` never returns more than `max_bytes`, whatever the kernel holds,
/// at every size (small reads and reads that fill their request), and the bytes come in order.
#[test]
fn receive_some_never_returns_more_than_max_bytes_of_a_long_message() {
    run(async {
        let (client, server) = tcp_pair().await?;
        const TOTAL: usize = 300_000;
        let data = pattern(TOTAL);
        let expected = data.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                client.send_all(&data).await?;
                client.send_eof().await?;
                Ok(())
            });
            let mut got = Vec::new();
            for max_bytes in [1, 10, 4096, 5000, 4096, 70_000, 3].into_iter().cycle() {
                let chunk = server.receive_some(max_bytes).await?;
                assert!(chunk.len() <= max_bytes, "receive_some({max_bytes}) returned {} bytes", chunk.len());
                if chunk.is_empty() {
                    break;
                }
                got.extend_from_slice(&chunk);
            }
            assert!(got == expected, "{} bytes arrived, changed or out of order", got.len());
            Ok(())
        })
        .await
    })
    .unwrap();
}

/// What a peer sent before it reset the connection is delivered before `Broken`, also when the
/// reads before were filling their requests (the stream reads those straight into the result).
#[test]
fn the_bytes_before_a_reset_are_delivered_before_broken() {
    run(async {
        let (client, server) = tcp_pair().await?;
        client.send_all(&pattern(8192)).await?;
        // Reads that fill their request: the stream now reads straight into the result.
        assert_eq!(receive_exactly(&server, 4096).await?, pattern(8192)[..4096]);
        client.send_all(b"tail").await?;
        reset(client);
        let mut got = Vec::new();
        let error = loop {
            match server.receive_some(4096).await {
                Ok(data) if data.is_empty() => panic!("a reset read as the end after {} bytes", got.len()),
                Ok(data) => got.extend_from_slice(&data),
                Err(error) => break error,
            }
        };
        assert!(error.is_broken(), "{error:?}");
        let mut expected = pattern(8192)[4096..].to_vec();
        expected.extend_from_slice(b"tail");
        assert_eq!(got.len(), expected.len(), "bytes that arrived before the reset were lost");
        assert!(got == expected);
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's `send_eof` turns every error of the operating system into `BrokenResourceError`:
/// half-closing a connection the peer reset is `Broken`, not a quiet success.
#[test]
fn send_eof_on_a_connection_the_peer_reset_is_broken() {
    run(async {
        let (client, server) = tcp_pair().await?;
        reset(client);
        // Wait until the reset has arrived.
        let error = server.receive_some(10).await.unwrap_err();
        assert!(error.is_broken(), "{error:?}");
        let error = server.send_eof().await.unwrap_err();
        assert!(error.is_broken(), "send_eof after a reset: {error:?}");
        // It did not half-close anything: trying again says so again.
        assert!(server.send_eof().await.unwrap_err().is_broken());
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// After `aclose`, `send_eof` and `receive_some` on the same stream are `Closed` (Trio:
/// `ClosedResourceError`), and closing again is fine.
#[test]
fn send_eof_and_receive_some_on_a_closed_stream_are_closed() {
    run(async {
        let (client, _server) = tcp_pair().await?;
        client.aclose().await?;
        assert!(client.send_eof().await.unwrap_err().is_closed());
        assert!(client.receive_some(10).await.unwrap_err().is_closed());
        assert_checkpoints(client.aclose()).await?;
        assert!(client.with_fd(|_| ()).is_none(), "a closed stream has no descriptor");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio tries the system call inside a checkpoint even on a closed or broken socket
/// (`_try_sync`): `accept` on a closed listener (its `test_SocketListener`), `receive_some`
/// and `send_all` on a closed stream, and a receive that meets a reset are each a checkpoint
/// before they fail.
#[test]
fn operations_that_fail_on_a_closed_or_reset_socket_still_checkpoint() {
    run(async {
        let listener = loopback_listener().await?;
        listener.aclose().await?;
        assert_checkpoints(async { assert!(listener.accept().await.unwrap_err().is_closed()) }).await;
        let (client, _server) = tcp_pair().await?;
        client.aclose().await?;
        assert_checkpoints(async { assert!(client.receive_some(10).await.unwrap_err().is_closed()) }).await;
        assert_checkpoints(async { assert!(client.send_all(b"x").await.unwrap_err().is_closed()) }).await;
        let (peer, stream) = tcp_pair().await?;
        reset(peer);
        assert_checkpoints(async { assert!(stream.receive_some(10).await.unwrap_err().is_broken()) }).await;
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio checks the half-close before anything else: even an empty `send_all` after `send_eof`
/// is `Closed`. `wait_send_all_might_not_block` still returns (a half-closed socket is
/// writable: a send would fail at once, not block).
#[test]
fn after_send_eof_even_an_empty_send_is_closed_and_waiting_to_send_returns() {
    run(async {
        let (client, _server) = tcp_pair().await?;
        client.send_eof().await?;
        assert!(client.send_all(b"").await.unwrap_err().is_closed());
        trio::fail_after(Duration::from_secs(30), async { Ok(client.wait_send_all_might_not_block().await?) }).await?;
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Half-close: after `send_eof` the peer reads the end (and again), and can still send back —
/// a megabyte, more than the kernel buffers — which arrives whole.
#[test]
fn after_send_eof_the_peer_reads_the_end_and_can_still_send_a_megabyte_back() {
    run(async {
        let (client, server) = tcp_pair().await?;
        client.send_all(b"request").await?;
        client.send_eof().await?;
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                assert_eq!(receive_to_end(&server).await?, b"request");
                assert_eq!(server.receive_some(10).await?, b"");
                server.send_all(&pattern(1 << 20)).await?;
                server.send_eof().await?;
                Ok(())
            });
            let reply = receive_to_end(&client).await?;
            assert_eq!(reply.len(), 1 << 20);
            assert!(reply == pattern(1 << 20));
            Ok(())
        })
        .await
    })
    .unwrap();
}

/// A second task's `send_all` is `Busy` while the first one is blocked, and does not disturb it:
/// every byte of the first arrives, and once it returned a new `send_all` works.
#[test]
fn a_busy_second_sender_leaves_the_first_send_intact() {
    run(async {
        let (client, server) = tcp_pair().await?;
        let client = Rc::new(client);
        const BIG: usize = 8 << 20;
        trio::open_nursery(|nursery| {
            let client = client.clone();
            async move {
                let first = client.clone();
                nursery.start_soon(async move {
                    first.send_all(&pattern(BIG)).await?;
                    first.send_all(b"!").await?;
                    first.send_eof().await?;
                    Ok(())
                });
                // The first send_all is blocked: nobody reads yet.
                trio::lowlevel::wait_all_tasks_blocked(Duration::from_millis(10)).await?;
                let error = client.send_all(b"intruder").await.unwrap_err();
                assert!(error.is_busy(), "{error:?}");
                let error = client.wait_send_all_might_not_block().await.unwrap_err();
                assert!(error.is_busy(), "{error:?}");
                let got = receive_to_end(&server).await?;
                assert_eq!(got.len(), BIG + 1);
                assert!(got[..BIG] == pattern(BIG)[..] && got[BIG] == b'!');
                Ok(())
            }
        })
        .await
    })
    .unwrap();
}

/// A second task's `receive_some` is `Busy` while the first waits; the first still gets the
/// data when it comes.
#[test]
fn a_busy_second_receiver_leaves_the_first_receive_intact() {
    run(async {
        let (client, server) = tcp_pair().await?;
        let server = Rc::new(server);
        let got = Rc::new(std::cell::RefCell::new(Vec::new()));
        trio::open_nursery(|nursery| {
            let (server, got) = (server.clone(), got.clone());
            async move {
                let (first, into) = (server.clone(), got.clone());
                nursery.start_soon(async move {
                    *into.borrow_mut() = first.receive_some(100).await?;
                    Ok(())
                });
                trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
                let error = server.receive_some(100).await.unwrap_err();
                assert!(error.is_busy(), "{error:?}");
                client.send_all(b"for the first").await?;
                Ok(())
            }
        })
        .await?;
        assert_eq!(*got.borrow(), b"for the first");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

// ===== SocketListener =====

/// Trio's `test_open_tcp_listeners_basic`: connections made before any `accept` wait in the
/// backlog (it holds at least two), and each accepted stream is connected to one of them.
#[test]
fn connections_wait_in_the_backlog_and_each_accept_gets_one() {
    run(async {
        let listener = loopback_listener().await?;
        let port = listener.local_addr().port();
        let c1 = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        let c2 = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        let s1 = listener.accept().await?;
        let s2 = listener.accept().await?;
        let clients = BTreeSet::from([c1.local_addr(), c2.local_addr()]);
        assert_eq!(BTreeSet::from([s1.peer_addr(), s2.peer_addr()]), clients);
        s1.send_all(b"1").await?;
        s2.send_all(b"2").await?;
        let (to_c1, to_c2) = if s1.peer_addr() == c1.local_addr() { (b"1", b"2") } else { (b"2", b"1") };
        assert_eq!(c1.receive_some(1).await?, to_c1);
        assert_eq!(c2.receive_some(1).await?, to_c2);
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Closing a listener wakes a task blocked in `accept` with `Closed`.
#[test]
fn closing_a_listener_wakes_a_blocked_accept_with_closed() {
    run(async {
        let listener = Rc::new(loopback_listener().await?);
        let woken = Rc::new(Cell::new(false));
        trio::open_nursery(|nursery| {
            let (listener, woken) = (listener.clone(), woken.clone());
            async move {
                let (accepting, flag) = (listener.clone(), woken.clone());
                nursery.start_soon(async move {
                    let error = accepting.accept().await.unwrap_err();
                    assert!(error.is_closed(), "{error:?}");
                    flag.set(true);
                    Ok(())
                });
                trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
                listener.aclose().await?;
                Ok(())
            }
        })
        .await?;
        assert!(woken.get());
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's `test_SocketListener`: `aclose` twice is fine, each a checkpoint; `accept` after it
/// is `Closed`, and the port is free again.
#[test]
fn a_listener_closes_twice_and_then_accept_is_closed() {
    run(async {
        let listener = loopback_listener().await?;
        let port = listener.local_addr().port();
        assert_checkpoints(listener.aclose()).await?;
        assert_checkpoints(listener.aclose()).await?;
        assert!(listener.accept().await.unwrap_err().is_closed());
        let refused = trio::net::open_tcp_stream("127.0.0.1", port).await.unwrap_err();
        assert_eq!(refused.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::ConnectionRefused);
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Two tasks in `accept` at once: the second is `Busy` (Trio: the second `wait_readable` on
/// the socket), and the first still gets the next connection.
#[test]
fn a_second_concurrent_accept_is_busy() {
    run(async {
        let listener = Rc::new(loopback_listener().await?);
        let port = listener.local_addr().port();
        let (accepted, connected) = (Rc::new(Cell::new(None)), Rc::new(Cell::new(None)));
        trio::open_nursery(|nursery| {
            let (listener, accepted, connected) = (listener.clone(), accepted.clone(), connected.clone());
            async move {
                let first = listener.clone();
                nursery.start_soon(async move {
                    accepted.set(Some(first.accept().await?.peer_addr()));
                    Ok(())
                });
                trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
                let error = listener.accept().await.unwrap_err();
                assert!(error.is_busy(), "{error:?}");
                let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
                connected.set(Some(client.local_addr()));
                Ok(())
            }
        })
        .await?;
        // The nursery waited for the first accept, which took the connection.
        assert_eq!(accepted.get(), connected.get());
        assert!(accepted.get().is_some());
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's `test_open_tcp_listeners_specific_port_specific_host`: a given host and port is
/// exactly where the listener listens.
#[test]
fn a_listener_on_a_given_host_and_port_listens_exactly_there() {
    run(async {
        let port = closed_port("127.0.0.1").await?;
        let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), port, None).await?;
        assert_eq!(listeners.len(), 1);
        assert_eq!(listeners[0].local_addr(), SocketAddr::from(([127, 0, 0, 1], port)));
        let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        assert_eq!(listeners[0].accept().await?.peer_addr(), client.local_addr());
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// A host with several addresses gets one listener on each; port 0 lets each pick its own port
/// (Trio's documented caveat), and each takes connections.
#[test]
fn a_host_with_several_addresses_gets_a_listener_on_each() {
    run(async {
        let addrs: BTreeSet<IpAddr> = trio::net::getaddrinfo("localhost", 0).await?.iter().map(|a| a.ip()).collect();
        let listeners = trio::net::open_tcp_listeners_on(Some("localhost"), 0, None).await?;
        let bound: BTreeSet<IpAddr> = listeners.iter().map(|l| l.local_addr().ip()).collect();
        assert_eq!(bound, addrs);
        assert_eq!(listeners.len(), addrs.len());
        for listener in &listeners {
            let addr = listener.local_addr();
            assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
            let client = trio::net::open_tcp_stream(&addr.ip().to_string(), addr.port()).await?;
            assert_eq!(listener.accept().await?.peer_addr(), client.local_addr());
        }
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's `test_open_tcp_listeners_rebind`, first half: a port with an open listener cannot
/// be bound again, `SO_REUSEADDR` or not.
#[test]
fn a_port_with_an_open_listener_cannot_be_bound_again() {
    run(async {
        let listener = loopback_listener().await?;
        let port = listener.local_addr().port();
        let error = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), port, None).await.unwrap_err();
        let os = error.downcast_ref::<std::io::Error>().expect("an io::Error");
        assert_eq!(os.kind(), std::io::ErrorKind::AddrInUse, "{error}");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's `test_open_tcp_listeners_rebind`, second half: once closed, its port can be bound
/// again at once, although connections it accepted are still established or in `TIME_WAIT`.
#[test]
fn a_closed_listener_port_can_be_bound_again_despite_its_connections() {
    run(async {
        let l1 = loopback_listener().await?;
        let addr = l1.local_addr();
        let c_established = trio::net::open_tcp_stream("127.0.0.1", addr.port()).await?;
        let s_established = l1.accept().await?;
        let c_time_wait = trio::net::open_tcp_stream("127.0.0.1", addr.port()).await?;
        let s_time_wait = l1.accept().await?;
        // The server closes first: its side goes to TIME_WAIT once the client closes too.
        s_time_wait.aclose().await?;
        assert_eq!(c_time_wait.receive_some(1).await?, b"");
        c_time_wait.aclose().await?;
        l1.aclose().await?;
        let l2 = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), addr.port(), None).await?.remove(0);
        assert_eq!(l2.local_addr(), addr);
        assert_eq!(s_established.local_addr(), addr);
        assert_eq!(c_established.peer_addr(), addr);
        let client = trio::net::open_tcp_stream("127.0.0.1", addr.port()).await?;
        assert_eq!(l2.accept().await?.peer_addr(), client.local_addr());
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

// ===== open_tcp_stream =====

/// Trio's failure names the target as `host:port`, brackets around an IPv6 address
/// (`format_host_port`): "all attempts to connect to [::1]:80 failed".
#[test]
fn a_refused_connection_says_all_attempts_failed_naming_host_and_port() {
    run(async {
        let port = closed_port("127.0.0.1").await?;
        let error = trio::net::open_tcp_stream("127.0.0.1", port).await.unwrap_err().to_string();
        assert!(error.starts_with(&format!("all attempts to connect to 127.0.0.1:{port} failed")), "{error}");
        let port = closed_v6_port(1).await?;
        let error = trio::net::open_tcp_stream("::1", port).await.unwrap_err();
        if has_ipv6_loopback() {
            let kind = error.downcast_ref::<std::io::Error>().unwrap().kind();
            assert_eq!(kind, std::io::ErrorKind::ConnectionRefused);
        }
        let error = error.to_string();
        assert!(error.starts_with(&format!("all attempts to connect to [::1]:{port} failed")), "{error}");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Happy eyeballs tries the addresses one at a time while each fails at once (the next starts
/// on the failure, not after the delay), the other family second, then — unlike Trio, which
/// only moves the first address of the other family forward (RFC 6555 §5.4) — alternating
/// families as RFC 8305 asks (`docs/design.md`). The failure lists the attempts in order.
#[test]
fn happy_eyeballs_alternates_families_and_moves_on_at_each_failure() {
    run(async {
        let mut v4 = Vec::new();
        for _ in 0..3 {
            v4.push(SocketAddr::from(([127, 0, 0, 1], closed_port("127.0.0.1").await?)));
        }
        let mut v6 = Vec::new();
        for stand_in in [1, 2] {
            v6.push(SocketAddr::new("::1".parse().unwrap(), closed_v6_port(stand_in).await?));
        }
        // A delay no attempt waits out: the watchdog would end the run first.
        let os = OsNetwork::new().happy_eyeballs_delay(Duration::from_secs(3600));
        let given = vec![v4[0], v4[1], v4[2], v6[0], v6[1]];
        let error = os.connect_any(given).await.unwrap_err().to_string();
        let order = [v4[0], v6[0], v4[1], v6[1], v4[2]];
        let positions: Vec<usize> = order
            .iter()
            .map(|addr| error.find(&format!(" {addr}: ")).unwrap_or_else(|| panic!("{addr} missing from {error}")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "attempts out of order: {error}");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

// ===== serve_listeners / serve_tcp_on =====

/// `accept` on `listener` fails with `Closed` (and does not wait for a connection).
async fn assert_accept_is_closed(listener: &SocketListener) -> trio::Result<()> {
    let outcome = trio::move_on_after(Duration::from_secs(10), async { Ok(listener.accept().await) }).await?;
    match outcome {
        Some(Err(error)) if error.is_closed() => Ok(()),
        Some(Err(error)) => panic!("accept failed with {error:?}, expected Closed"),
        Some(Ok(stream)) => panic!("accept took a connection from {}: the listener is still open", stream.peer_addr()),
        None => panic!("accept waited for a connection: the listener is still open"),
    }
}

async fn send_x(stream: SocketStream) -> trio::Result<()> {
    stream.send_all(b"x").await?;
    Ok(())
}

/// Trio's `test_serve_tcp`: started with `Nursery::start`, it reports its listeners once they
/// accept, on the host asked for, with the port the kernel picked.
#[test]
fn serve_tcp_on_reports_listeners_that_already_accept() {
    run(async {
        trio::open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|task_status| trio::net::serve_tcp_on(send_x, Some("127.0.0.1"), 0, None, task_status))
                .await?;
            assert_eq!(listeners.len(), 1);
            let addr = listeners[0].local_addr();
            assert_eq!(addr.ip(), IpAddr::from([127, 0, 0, 1]));
            assert_ne!(addr.port(), 0);
            let client = trio::net::open_tcp_stream("127.0.0.1", addr.port()).await?;
            assert_eq!(client.receive_some(1).await?, b"x");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
}

/// `serve_tcp_on` a port that is taken fails before it reports anything, and the failure
/// comes out of `Nursery::start` as the operating system's `AddrInUse` (Trio: the `OSError`
/// out of `nursery.start`).
#[test]
fn serve_tcp_on_a_taken_port_fails_out_of_start() {
    run(async {
        let taken = loopback_listener().await?;
        let port = taken.local_addr().port();
        trio::open_nursery(|nursery| async move {
            let error = nursery
                .start(|task_status| trio::net::serve_tcp_on(send_x, Some("127.0.0.1"), port, None, task_status))
                .await
                .unwrap_err();
            let os = error.downcast_ref::<std::io::Error>().unwrap_or_else(|| panic!("not an io::Error: {error}"));
            assert_eq!(os.kind(), std::io::ErrorKind::AddrInUse, "{error}");
            Ok(())
        })
        .await?;
        drop(taken);
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// `serve_listeners` takes responsibility for closing its listeners (Trio's `async with
/// listener`): once serving stops, the listeners it reported are closed and the port refuses
/// connections, although the caller still holds them.
#[test]
fn serve_listeners_closes_its_listeners_when_it_stops() {
    run(async {
        let reported = trio::open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|task_status| async move {
                    let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
                    trio::net::serve_listeners(send_x, listeners, task_status).await
                })
                .await?;
            let client = trio::net::open_tcp_stream("127.0.0.1", listeners[0].local_addr().port()).await?;
            assert_eq!(client.receive_some(1).await?, b"x");
            nursery.cancel_scope().cancel(); // stop serving
            Ok(Some(listeners))
        })
        .await?
        .expect("the body returned before any checkpoint");
        let port = reported[0].local_addr().port();
        assert_accept_is_closed(&reported[0]).await?;
        let refused = trio::net::open_tcp_stream("127.0.0.1", port).await.unwrap_err();
        assert_eq!(refused.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::ConnectionRefused);
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's warning: a handler's failure is not caught — it stops the server and comes out of
/// `serve_listeners`, whose listeners are then closed.
#[test]
fn a_failing_handler_stops_the_server_with_its_error() {
    run(async {
        let reported = Rc::new(std::cell::RefCell::new(Vec::new()));
        let into = reported.clone();
        let error = trio::open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|task_status| {
                    trio::net::serve_tcp_on(
                        |_stream: SocketStream| async move { Err::<(), _>(trio::Error::msg("the handler gave up")) },
                        Some("127.0.0.1"),
                        0,
                        None,
                        task_status,
                    )
                })
                .await?;
            *into.borrow_mut() = listeners.clone();
            let _client = trio::net::open_tcp_stream("127.0.0.1", listeners[0].local_addr().port()).await?;
            trio::sleep_forever().await?;
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(error.to_string().contains("the handler gave up"), "{error}");
        let listener = reported.borrow()[0].clone();
        assert_accept_is_closed(&listener).await?;
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio closes each handler's stream when the handler returns (`aclose_forcefully`): a handler
/// that forgets to close leaves its client at the end of the stream, not hanging.
#[test]
fn a_handler_that_returns_without_closing_leaves_its_client_at_the_end() {
    run(async {
        trio::open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|task_status| trio::net::serve_tcp_on(send_x, Some("127.0.0.1"), 0, None, task_status))
                .await?;
            let client = trio::net::open_tcp_stream("127.0.0.1", listeners[0].local_addr().port()).await?;
            assert_eq!(receive_to_end(&client).await?, b"x");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
}

/// A listener whose `accept` always fails with one `errno`; it counts the calls and whether it
/// was closed.
struct FailingListener {
    errno: i32,
    accepts: Rc<Cell<usize>>,
    closed: Rc<Cell<bool>>,
}

impl AsyncResource for FailingListener {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.closed.set(true);
            trio::lowlevel::checkpoint().await.map_err(|_| StreamError::Cancelled)
        })
    }
}

impl Listener for FailingListener {
    type Stream = SocketStream;

    fn accept(&self) -> IoFuture<'_, SocketStream> {
        Box::pin(async move {
            trio::lowlevel::checkpoint().await.map_err(|_| StreamError::Cancelled)?;
            self.accepts.set(self.accepts.get() + 1);
            Err(StreamError::Os(OsError::from(std::io::Error::from_raw_os_error(self.errno))))
        })
    }
}

fn failing_listener(errno: i32) -> (FailingListener, Rc<Cell<usize>>, Rc<Cell<bool>>) {
    let (accepts, closed) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    (FailingListener { errno, accepts: accepts.clone(), closed: closed.clone() }, accepts, closed)
}

/// Trio's `test_serve_listeners_accept_capacity_error`: out of descriptors, `serve_listeners`
/// waits 100 ms and accepts again — at 0, 100, …, 900 ms, ten tries in 950 ms — and closes the
/// listener when it is cancelled.
#[test]
fn out_of_descriptors_serve_listeners_retries_every_100_ms() {
    let (listener, accepts, closed) = failing_listener(libc::EMFILE);
    trio::Builder::new().clock(MockClock::autojump()).watchdog(Duration::from_secs(60)).run(async move {
        let stopped = trio::move_on_after(
            Duration::from_millis(950),
            trio::net::serve_listeners(send_x, vec![listener], TaskStatus::ignored()),
        )
        .await
        .unwrap();
        assert!(stopped.is_none(), "serve_listeners returned by itself");
    });
    assert_eq!(accepts.get(), 10);
    assert!(closed.get(), "the listener was left open");
}

/// Trio's `test_serve_listeners_accept_unrecognized_error`: any other `accept` error (here
/// `ECONNABORTED`, which the operating system's listener would have skipped) comes out of
/// `serve_listeners` at once.
#[test]
fn another_accept_error_comes_out_of_serve_listeners() {
    let (listener, accepts, closed) = failing_listener(libc::ECONNABORTED);
    trio::Builder::new().clock(MockClock::autojump()).watchdog(Duration::from_secs(60)).run(async move {
        let error = trio::net::serve_listeners(send_x, vec![listener], TaskStatus::ignored()).await.unwrap_err();
        let expected = std::io::Error::from_raw_os_error(libc::ECONNABORTED).to_string();
        assert!(error.to_string().contains(&expected), "{error}");
        assert_eq!(trio::current_time().since_zero(), Duration::ZERO, "no retry delay");
    });
    assert_eq!(accepts.get(), 1);
    assert!(closed.get(), "the listener was left open");
}
