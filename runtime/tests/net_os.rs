//! `trio::net` on the operating system's network (loopback only, port 0, every run bounded by
//! a watchdog): echo, the stream conformance checks on a real TCP pair and a Unix pair, happy
//! eyeballs, name resolution, UDP, and the bad days — resets mid-message, garbage, a peer that
//! stops reading, a slow client, running out of descriptors, a thousand connections at once.

#![cfg(unix)]

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use trio::abc::{AsyncResource, HalfCloseableStream, Listener, ReceiveStream, SendStream};
use trio::net::{OsNetwork, SocketListener, SocketStream, UdpSocket, UnixSocketListener, UnixSocketStream};
use trio::{RunErrorKind, StreamError};
use trio_testkit::streams::{StreamMaker, check_half_closeable_stream};
use trio_testkit::{MockClock, assert_checkpoints};

/// A run on the real clock that a hang turns into a report within 60 s.
fn run<F: std::future::Future>(future: F) -> F::Output {
    trio::Builder::new().watchdog(Duration::from_secs(60)).run(future)
}

async fn loopback_listener() -> trio::Result<SocketListener> {
    let mut listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
    assert_eq!(listeners.len(), 1);
    Ok(listeners.remove(0))
}

/// A connected loopback pair: (client, server).
async fn tcp_pair() -> trio::Result<(SocketStream, SocketStream)> {
    let listener = loopback_listener().await?;
    let client = trio::net::open_tcp_stream("127.0.0.1", listener.local_addr().port()).await?;
    let server = listener.accept().await?;
    Ok((client, server))
}

/// Fills `stream`'s direction until everything stays blocked for 10 ms (Trio's
/// `fill_stream`): the kernel's send buffer and the peer's receive buffer are both full.
async fn fill(stream: &impl SendStream) -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        let scope = nursery.cancel_scope();
        nursery.start_soon(async move {
            trio::lowlevel::wait_all_tasks_blocked(Duration::from_millis(10)).await?;
            scope.cancel();
            Ok(())
        });
        let chunk = [b'x'; 10_000];
        loop {
            if let Err(error) = stream.send_all(&chunk).await {
                return Err(error.into());
            }
        }
    })
    .await
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

// ===== basics =====

#[test]
fn a_real_echo_round_trip_over_loopback() {
    run(async {
        trio::open_nursery(|nursery| async move {
            let (client, server) = tcp_pair().await?;
            nursery.start_soon(async move {
                loop {
                    let data = server.receive_some(1024).await?;
                    if data.is_empty() {
                        return server.send_eof().await.map_err(Into::into);
                    }
                    server.send_all(&data).await?;
                }
            });
            client.send_all(b"hello, world").await?;
            assert_eq!(receive_exactly(&client, 12).await?, b"hello, world");
            client.send_eof().await?;
            assert_eq!(client.receive_some(10).await?, b"");
            assert!(client.nodelay()?, "TCP_NODELAY is on by default, as in Trio");
            assert!(client.local_addr().ip().is_loopback());
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn serve_tcp_serves_a_client_on_port_zero_of_the_default_provider() {
    run(async {
        trio::open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|task_status| async move {
                    let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
                    trio::net::serve_listeners(
                        |stream: SocketStream| async move {
                            stream.send_all(b"welcome\n").await?;
                            stream.send_eof().await?;
                            Ok::<(), trio::Error>(())
                        },
                        listeners,
                        task_status,
                    )
                    .await
                })
                .await?;
            let port = listeners[0].local_addr().port();
            assert_ne!(port, 0);
            let client = trio::net::open_tcp_stream("localhost", port).await?;
            assert_eq!(receive_exactly(&client, 8).await?, b"welcome\n");
            assert_eq!(client.receive_some(10).await?, b"");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn every_socket_operation_is_a_checkpoint() {
    run(async {
        let listener =
            assert_checkpoints(trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None)).await?.remove(0);
        let port = listener.local_addr().port();
        let client = assert_checkpoints(trio::net::open_tcp_stream("127.0.0.1", port)).await?;
        let server = assert_checkpoints(listener.accept()).await?;
        assert_checkpoints(client.send_all(b"x")).await?;
        assert_checkpoints(server.receive_some(1)).await?;
        assert_checkpoints(client.wait_send_all_might_not_block()).await?;
        assert_checkpoints(client.send_eof()).await?;
        assert_checkpoints(server.aclose()).await?;
        assert_checkpoints(listener.aclose()).await?;
        assert_checkpoints(trio::net::getaddrinfo("localhost", 80)).await?;
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// Trio's conformance suite, on real TCP connections over loopback — the same checks the
/// simulated network and the memory streams pass.
#[test]
fn tcp_streams_pass_the_half_closeable_stream_checks() {
    run(async {
        let maker = StreamMaker::new(|| async { tcp_pair().await }).duplex_test_size(1 << 20);
        let clogged = StreamMaker::new(|| async {
            let (client, server) = tcp_pair().await?;
            // Fixed, small buffers: Linux otherwise grows them on demand, and a "full" one
            // may still take a few more bytes.
            for stream in [&client, &server] {
                stream.with_fd(|fd| {
                    let sock = socket2::SockRef::from(&fd);
                    sock.set_send_buffer_size(8192).unwrap();
                    sock.set_recv_buffer_size(8192).unwrap();
                });
            }
            fill(&client).await?;
            fill(&server).await?;
            Ok((client, server))
        });
        check_half_closeable_stream(&maker, Some(&clogged)).await.unwrap();
    });
}

#[test]
fn unix_socket_pairs_pass_the_half_closeable_stream_checks() {
    run(async {
        let maker = StreamMaker::new(|| async { Ok(UnixSocketStream::pair()?) }).duplex_test_size(1 << 20);
        let clogged = StreamMaker::new(|| async {
            let (a, b) = UnixSocketStream::pair()?;
            fill(&a).await?;
            fill(&b).await?;
            Ok((a, b))
        });
        check_half_closeable_stream(&maker, Some(&clogged)).await.unwrap();
    });
}

#[test]
fn unix_listeners_accept_connections_by_path() {
    let dir = std::env::temp_dir().join(format!("trio-net-os-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("listener.sock");
    let _ = std::fs::remove_file(&path);
    run(async {
        let listener = UnixSocketListener::bind(&path)?;
        let client = UnixSocketStream::connect(&path).await?;
        let server = listener.accept().await?;
        client.send_all(b"by path").await?;
        assert_eq!(receive_exactly(&server, 7).await?, b"by path");
        listener.aclose().await?;
        assert!(listener.accept().await.unwrap_err().is_closed());
        let missing = UnixSocketStream::connect(dir.join("nobody.sock")).await.unwrap_err();
        assert!(missing.downcast_ref::<std::io::Error>().is_some(), "{missing}");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn udp_datagrams_go_both_ways_and_close_wakes_a_receiver() {
    run(async {
        let a = Rc::new(UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await?);
        let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
        a.send_to(b"ping", b.local_addr()?).await?;
        let (data, from) = b.recv_from(100).await?;
        assert_eq!((data.as_slice(), from), (&b"ping"[..], a.local_addr()?));
        b.send_to(b"pong", from).await?;
        assert_eq!(a.recv_from(100).await?.0, b"pong");
        trio::open_nursery(|nursery| {
            let a = a.clone();
            async move {
                let receiver = a.clone();
                nursery.start_soon(async move {
                    let err = receiver.recv_from(100).await.unwrap_err();
                    assert!(err.downcast_ref::<trio::ClosedResource>().is_some(), "{err}");
                });
                trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
                a.close();
                Ok(())
            }
        })
        .await?;
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

// ===== connecting =====

#[test]
fn getaddrinfo_resolves_names_in_a_thread_and_numbers_at_once() {
    run(async {
        let addrs = trio::net::getaddrinfo("localhost", 8080).await?;
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080), "{addrs:?}");
        assert_eq!(trio::net::getaddrinfo("127.0.0.1", 1).await?, ["127.0.0.1:1".parse::<SocketAddr>().unwrap()]);
        assert_eq!(trio::net::getaddrinfo("[::1]", 2).await?, ["[::1]:2".parse::<SocketAddr>().unwrap()]);
        let err = trio::net::getaddrinfo("no-such-host.invalid", 80).await.unwrap_err();
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

#[test]
fn a_refused_connection_is_an_os_error_naming_the_address() {
    run(async {
        // Bind then close: nothing listens on that port now.
        let port = loopback_listener().await?.local_addr().port();
        let err = trio::net::open_tcp_stream("127.0.0.1", port).await.unwrap_err();
        let os = err.downcast_ref::<std::io::Error>().expect("an io::Error");
        assert_eq!(os.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// An attempt that fails starts the next address at once, without waiting out the delay.
#[test]
fn happy_eyeballs_moves_on_at_once_when_an_attempt_fails() {
    run(async {
        let listener = loopback_listener().await?;
        let refused: SocketAddr = {
            let gone = loopback_listener().await?;
            gone.local_addr()
        };
        let os = OsNetwork::new().happy_eyeballs_delay(Duration::from_secs(30));
        let stream =
            trio::fail_after(Duration::from_secs(10), os.connect_any(vec![refused, listener.local_addr()])).await?;
        assert_eq!(stream.peer_addr(), listener.local_addr());
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// An attempt that hangs (its listener's backlog is full, so the kernel drops the SYN) is
/// joined after the delay by the next address, which wins; the hanging one is cancelled.
#[test]
fn happy_eyeballs_starts_the_next_address_after_the_delay_and_the_first_to_connect_wins() {
    run(async {
        let full = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, Some(0)).await?.remove(0);
        // Fill the accept queue (never accepted); the next SYN gets no answer.
        let mut fillers = Vec::new();
        for _ in 0..4 {
            let addr = full.local_addr();
            match trio::move_on_after(Duration::from_millis(200), async move {
                trio::net::open_tcp_stream("127.0.0.1", addr.port()).await
            })
            .await?
            {
                Some(stream) => fillers.push(stream),
                None => break,
            }
        }
        let good = loopback_listener().await?;
        let os = OsNetwork::new().happy_eyeballs_delay(Duration::from_millis(100));
        let t0 = trio::current_time();
        let stream = os.connect_any(vec![full.local_addr(), good.local_addr()]).await?;
        assert_eq!(stream.peer_addr(), good.local_addr());
        assert!(trio::current_time() - t0 >= Duration::from_millis(100), "the second attempt waited for the delay");
        drop(fillers);
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

#[test]
fn interleaving_puts_the_other_family_second() {
    // Observable through connect_any's error message, which lists attempts in order.
    run(async {
        let v4a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let v4b: SocketAddr = "127.0.0.2:1".parse().unwrap();
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        let os = OsNetwork::new().happy_eyeballs_delay(Duration::ZERO);
        let err = os.connect_any(vec![v4a, v4b, v6]).await.unwrap_err().to_string();
        assert!(err.starts_with("all attempts to connect to 127.0.0.1:1 failed"), "{err}");
        for addr in [v4a, v4b, v6] {
            assert!(err.contains(&addr.to_string()), "{err}");
        }
    });
}

// ===== bad days =====

/// The peer resets the connection in the middle of a message: the reader gets what arrived,
/// then `Broken` — never a hang, never a silent end.
#[test]
fn a_reset_mid_message_is_broken_for_the_reader() {
    run(async {
        let (client, server) = tcp_pair().await?;
        client.send_all(b"half a mess").await?;
        client.with_fd(|fd| socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO)).unwrap());
        drop(client); // closing with linger 0 sends a reset
        let mut got = Vec::new();
        let error = loop {
            match server.receive_some(100).await {
                Ok(data) if data.is_empty() => panic!("a reset read as a clean end after {got:?}"),
                Ok(data) => got.extend_from_slice(&data),
                Err(error) => break error,
            }
        };
        assert!(error.is_broken(), "{error:?}");
        assert!(b"half a mess".starts_with(&got));
        // Writing to a reset connection is Broken too.
        let mut sent = Err(StreamError::Cancelled);
        for _ in 0..3 {
            sent = server.send_all(b"anyone?").await;
            if sent.is_err() {
                break;
            }
        }
        assert!(sent.unwrap_err().is_broken());
        Ok::<(), trio::Error>(())
    })
    .unwrap();
}

/// A client that sends garbage to a line-based server: the handler rejects it and closes; the
/// server goes on serving the next client.
#[test]
fn garbage_from_a_client_closes_that_connection_only() {
    run(async {
        trio::open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|task_status| async move {
                    let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
                    trio::net::serve_listeners(
                        |stream: SocketStream| async move {
                            let line = stream.receive_some(100).await?;
                            if !line.starts_with(b"GET ") {
                                stream.send_all(b"400 bad request\n").await?;
                                return stream.aclose().await.map_err(Into::into);
                            }
                            stream.send_all(b"200 ok\n").await?;
                            Ok::<(), trio::Error>(())
                        },
                        listeners,
                        task_status,
                    )
                    .await
                })
                .await?;
            let port = listeners[0].local_addr().port();
            let bad = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            bad.send_all(&[0xff, 0x00, 0x13, 0x37]).await?;
            assert_eq!(receive_exactly(&bad, 16).await?, b"400 bad request\n");
            assert_eq!(bad.receive_some(10).await?, b"");
            let good = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            good.send_all(b"GET /\n").await?;
            assert_eq!(receive_exactly(&good, 7).await?, b"200 ok\n");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// A peer that stops reading: `send_all` blocks once the kernel's buffers are full (nothing
/// piles up in the process), and once the peer reads again every byte arrives, in order.
#[test]
fn a_peer_that_stops_reading_blocks_the_sender_without_buffering() {
    run(async {
        let (client, server) = tcp_pair().await.unwrap();
        const TOTAL: usize = 32 << 20;
        let done = Rc::new(Cell::new(false));
        let sent_flag = done.clone();
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                client.send_all(&data).await?;
                sent_flag.set(true);
                client.send_eof().await?;
                Ok(())
            });
            // Everyone blocked: the sender is stuck in the kernel, not finished.
            trio::lowlevel::wait_all_tasks_blocked(Duration::from_millis(20)).await?;
            assert!(!done.get(), "32 MiB were accepted by a peer that reads nothing");
            let mut got = Vec::with_capacity(TOTAL);
            loop {
                let chunk = server.receive_some(1 << 16).await?;
                if chunk.is_empty() {
                    break;
                }
                got.extend_from_slice(&chunk);
            }
            assert_eq!(got.len(), TOTAL);
            assert!(got == expected, "the bytes arrived changed or out of order");
            assert!(done.get());
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// A slow client (sends nothing): the server's per-request timeout — a cancel scope — ends
/// the request and closes the connection; the client sees the end of the stream.
#[test]
fn a_slow_client_is_cut_off_by_a_per_request_timeout() {
    run(async {
        trio::open_nursery(|nursery| async move {
            let timed_out = Rc::new(Cell::new(0));
            let counter = timed_out.clone();
            let listeners = nursery
                .start(|task_status| async move {
                    let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
                    trio::net::serve_listeners(
                        move |stream: SocketStream| {
                            let counter = counter.clone();
                            async move {
                                let request = trio::move_on_after(Duration::from_millis(50), async {
                                    Ok(stream.receive_some(100).await?)
                                })
                                .await?;
                                if request.is_none() {
                                    counter.set(counter.get() + 1);
                                }
                                stream.aclose().await?;
                                Ok::<(), trio::Error>(())
                            }
                        },
                        listeners,
                        task_status,
                    )
                    .await
                })
                .await?;
            let slow = trio::net::open_tcp_stream("127.0.0.1", listeners[0].local_addr().port()).await?;
            assert_eq!(slow.receive_some(10).await?, b"", "the server closed the idle connection");
            assert_eq!(timed_out.get(), 1);
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// A thousand clients at once, each sending its own 4 KiB and reading the echo: every byte is
/// accounted for.
#[test]
fn a_thousand_concurrent_connections_echo_every_byte() {
    const CLIENTS: usize = 1000;
    const SIZE: usize = 4096;
    run(async {
        let received = Rc::new(Cell::new(0usize));
        let echoed = Rc::new(Cell::new(0usize));
        trio::open_nursery(|nursery| {
            let (received, echoed) = (received.clone(), echoed.clone());
            async move {
                let echoed_by_server = echoed.clone();
                let listeners = nursery
                    .start(|task_status| async move {
                        let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, Some(CLIENTS)).await?;
                        trio::net::serve_listeners(
                            move |stream: SocketStream| {
                                let echoed = echoed_by_server.clone();
                                async move {
                                    loop {
                                        let data = stream.receive_some(SIZE).await?;
                                        if data.is_empty() {
                                            return stream.send_eof().await.map_err(Into::into);
                                        }
                                        echoed.set(echoed.get() + data.len());
                                        stream.send_all(&data).await?;
                                    }
                                }
                            },
                            listeners,
                            task_status,
                        )
                        .await
                    })
                    .await?;
                let port = listeners[0].local_addr().port();
                trio::open_nursery(|clients| async move {
                    for i in 0..CLIENTS {
                        let received = received.clone();
                        clients.start_soon(async move {
                            let stream = trio::net::open_tcp_stream("127.0.0.1", port).await?;
                            let payload: Vec<u8> = (0..SIZE).map(|j| ((i * 7 + j) % 256) as u8).collect();
                            stream.send_all(&payload).await?;
                            stream.send_eof().await?;
                            let mut back = Vec::new();
                            loop {
                                let chunk = stream.receive_some(SIZE).await?;
                                if chunk.is_empty() {
                                    break;
                                }
                                back.extend_from_slice(&chunk);
                            }
                            assert!(back == payload, "client {i} got {} bytes back, not its own", back.len());
                            received.set(received.get() + back.len());
                            Ok::<(), trio::Error>(())
                        });
                    }
                    Ok(())
                })
                .await?;
                nursery.cancel_scope().cancel();
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(received.get(), CLIENTS * SIZE);
        assert_eq!(echoed.get(), CLIENTS * SIZE);
    });
}

/// The server child of `running_out_of_descriptors_keeps_the_listener_serving`: serves an
/// echo on 127.0.0.1 with few descriptors, prints its port, and stops when its input closes.
fn emfile_server() {
    trio::Builder::new().watchdog(Duration::from_secs(60)).run(async {
        trio::open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|task_status| async move {
                    let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, Some(512)).await?;
                    trio::net::serve_listeners(
                        |stream: SocketStream| async move {
                            loop {
                                let data = stream.receive_some(100).await?;
                                if data.is_empty() {
                                    return Ok::<(), trio::Error>(());
                                }
                                stream.send_all(&data).await?;
                            }
                        },
                        listeners,
                        task_status,
                    )
                    .await
                })
                .await?;
            println!("PORT={}", listeners[0].local_addr().port());
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
                let _ = tx.send(());
            });
            let _ = trio::cancellable(rx).await?;
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// A server out of file descriptors (its limit lowered in a child process): `accept` fails
/// with EMFILE, the server says so and sleeps 100 ms, and serves every client once the earlier
/// ones leave — no connection is lost.
#[test]
fn running_out_of_descriptors_keeps_the_listener_serving() {
    if std::env::var_os("TRIO_TEST_EMFILE_SERVER").is_some() {
        emfile_server();
        return;
    }
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 40 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args(["--exact", "running_out_of_descriptors_keeps_the_listener_serving", "--nocapture", "--test-threads=1"])
        .env("TRIO_TEST_EMFILE_SERVER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let port: u16 = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server child ended before saying its port");
        // The test harness may print its own words before it on the same line.
        if let Some(at) = line.find("PORT=") {
            break line[at + 5..].trim().parse().unwrap();
        }
    };
    // The server's stderr, line by line, so the test can wait for its EMFILE warning.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = lines_tx.send(line);
        }
        all
    });
    // 100 clients, more than the server has descriptors for; all connect (the backlog holds
    // them). The first 20 are echoed and kept open while the server goes on accepting the
    // rest, so it must run out of descriptors (40 in all) and say so; only then do clients
    // leave, and every one of them is still served.
    let mut clients: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c.write_all(format!("{i:03}").as_bytes()).unwrap();
            c
        })
        .collect();
    let echo = |i: usize, client: &mut TcpStream| {
        let mut back = [0u8; 3];
        client.read_exact(&mut back).unwrap_or_else(|e| panic!("client {i} got no echo: {e}"));
        assert_eq!(&back, format!("{i:03}").as_bytes());
    };
    for (i, client) in clients.iter_mut().enumerate().take(20) {
        echo(i, client);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("serve_listeners: accept failed") && line.contains("sleeping 100ms") => break,
            Ok(_) => {}
            Err(e) => panic!("the server never said it ran out of descriptors ({e:?}), with 20 clients held open"),
        }
    }
    for (i, mut client) in clients.drain(..).enumerate().skip(20) {
        echo(i, &mut client);
    }
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(status.success(), "the server failed: {stderr}");
}

/// Sockets dropped after their run ended close quietly.
#[test]
fn sockets_outliving_their_run_drop_quietly() {
    let (client, server) = run(async { tcp_pair().await.unwrap() });
    drop((client, server));
}

/// A mock clock with autojump and a real socket: the timeout does not fire early, because the
/// clock does not jump while the socket wait is pending.
#[test]
fn autojump_never_skips_time_while_a_socket_waits() {
    let outcome = trio::Builder::new().clock(MockClock::autojump()).watchdog(Duration::from_secs(30)).run(async {
        let (client, server) = tcp_pair().await.unwrap();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                server.send_all(b"late but real").await?;
                Ok(())
            });
            let got = trio::move_on_after(Duration::from_secs(5), async { receive_exactly(&client, 13).await }).await?;
            Ok(got)
        })
        .await
        .unwrap()
    });
    assert_eq!(outcome.as_deref(), Some(&b"late but real"[..]));
}

#[test]
fn reports_name_the_connection_a_task_waits_on() {
    let err = trio::Builder::new()
        .watchdog(Duration::from_millis(200))
        .try_run(async {
            let (client, _server) = tcp_pair().await.unwrap();
            client.receive_some(10).await.ok();
        })
        .unwrap_err();
    assert!(matches!(err.kind(), RunErrorKind::Watchdog(_)));
    let text = err.to_string();
    assert!(text.contains("wait_readable on fd "), "{text}");
    assert!(text.contains("(tcp 127.0.0.1:"), "{text}");
    assert!(text.contains(" → 127.0.0.1:"), "{text}");
}
