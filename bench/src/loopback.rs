//! Real sockets on loopback: echo round trips with 1 and 100 connections, and bulk throughput
//! over one connection — trio's reactor and `trio::net` against tokio's current-thread
//! runtime and `tokio::net`, the same workload in the same process.
//!
//! Everything runs on one thread in both (trio always; tokio `new_current_thread`), server and
//! clients in the same run, so the numbers compare the runtimes' I/O paths, not threads.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};

use crate::harness::{Table, Workload, interleaved, ns};

/// The size of one echo message.
pub const MESSAGE: usize = 64;
/// The size of one write in the bulk transfer, and the most one read asks for.
pub const BULK_CHUNK: usize = 64 * 1024;

// ===== trio =====

async fn trio_echo_handler(stream: trio::net::SocketStream) -> trio::Result<()> {
    loop {
        let data = stream.receive_some(BULK_CHUNK).await?;
        if data.is_empty() {
            return Ok(stream.send_eof().await?);
        }
        stream.send_all(&data).await?;
    }
}

/// `connections` clients at once, each doing `round_trips` echo round trips of [`MESSAGE`]
/// bytes. Returns the wall time from the first connect to the last echo.
pub fn trio_echo(connections: usize, round_trips: usize) -> Duration {
    trio::run(async move {
        let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, Some(1024)).await.unwrap();
        let port = listeners[0].local_addr().port();
        let mut elapsed = Duration::ZERO;
        trio::open_nursery(|nursery| {
            let elapsed = &mut elapsed;
            async move {
                nursery.start_soon(trio::net::serve_listeners(trio_echo_handler, listeners, trio::TaskStatus::ignored()));
                let start = Instant::now();
                trio::open_nursery(|clients| async move {
                    for _ in 0..connections {
                        clients.start_soon(async move {
                            let stream = trio::net::open_tcp_stream("127.0.0.1", port).await?;
                            let message = [7u8; MESSAGE];
                            for _ in 0..round_trips {
                                stream.send_all(&message).await?;
                                let mut got = 0;
                                while got < MESSAGE {
                                    got += stream.receive_some(MESSAGE - got).await?.len();
                                }
                            }
                            stream.send_eof().await?;
                            trio::Result::Ok(())
                        });
                    }
                    Ok(())
                })
                .await?;
                *elapsed = start.elapsed();
                nursery.cancel_scope().cancel();
                Ok(())
            }
        })
        .await
        .unwrap();
        elapsed
    })
}

/// `bytes` from a client to a server over one connection, in [`BULK_CHUNK`] writes; the
/// server reads until the end. Returns the wall time until the server has read everything.
pub fn trio_bulk(bytes: u64) -> Duration {
    trio::run(async move {
        let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await.unwrap();
        let port = listeners[0].local_addr().port();
        let listener = &listeners[0];
        let start = Instant::now();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let stream = trio::net::open_tcp_stream("127.0.0.1", port).await?;
                let chunk = vec![1u8; BULK_CHUNK];
                let mut sent = 0u64;
                while sent < bytes {
                    let n = (bytes - sent).min(BULK_CHUNK as u64) as usize;
                    stream.send_all(&chunk[..n]).await?;
                    sent += n as u64;
                }
                stream.send_eof().await?;
                trio::Result::Ok(())
            });
            let server = trio::abc::Listener::accept(listener).await?;
            let mut received = 0u64;
            loop {
                let data = server.receive_some(BULK_CHUNK).await?;
                if data.is_empty() {
                    break;
                }
                received += data.len() as u64;
            }
            assert_eq!(received, bytes);
            Ok(())
        })
        .await
        .unwrap();
        start.elapsed()
    })
}

// ===== tokio =====

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// As [`trio_echo`], on tokio's current-thread runtime.
pub fn tokio_echo(connections: usize, round_trips: usize) -> Duration {
    tokio_runtime().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; BULK_CHUNK];
                    loop {
                        let n = stream.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        stream.write_all(&buf[..n]).await.unwrap();
                    }
                });
            }
        });
        let start = Instant::now();
        let mut clients = Vec::new();
        for _ in 0..connections {
            clients.push(tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let message = [7u8; MESSAGE];
                let mut back = [0u8; MESSAGE];
                for _ in 0..round_trips {
                    stream.write_all(&message).await.unwrap();
                    stream.read_exact(&mut back).await.unwrap();
                }
                stream.shutdown().await.unwrap();
            }));
        }
        for client in clients {
            client.await.unwrap();
        }
        let elapsed = start.elapsed();
        server.abort();
        elapsed
    })
}

/// As [`trio_bulk`], on tokio's current-thread runtime.
pub fn tokio_bulk(bytes: u64) -> Duration {
    tokio_runtime().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let start = Instant::now();
        let client = tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let chunk = vec![1u8; BULK_CHUNK];
            let mut sent = 0u64;
            while sent < bytes {
                let n = (bytes - sent).min(BULK_CHUNK as u64) as usize;
                stream.write_all(&chunk[..n]).await.unwrap();
                sent += n as u64;
            }
            stream.shutdown().await.unwrap();
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; BULK_CHUNK];
        let mut received = 0u64;
        loop {
            let n = server.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        assert_eq!(received, bytes);
        client.await.unwrap();
        start.elapsed()
    })
}

// ===== the table =====

/// The loopback table: ns per round trip, or per KiB moved.
pub fn table(scale: u64, runs: usize) -> Table {
    let round_trips = (20_000 * scale / 10) as usize;
    let bulk_bytes = (256u64 << 20) * scale / 10;
    let mut table = Table::new("ns per round trip, or per KiB", &["trio", "tokio"], ns);

    let one: [(&str, Workload<'_>); 2] = [
        ("trio", Box::new(move |n| trio_echo(1, n as usize) / n as u32)),
        ("tokio", Box::new(move |n| tokio_echo(1, n as usize) / n as u32)),
    ];
    let measured = interleaved(runs, round_trips as u64, &one);
    table.row(
        format!("echo, 1 connection, {round_trips} round trips of {MESSAGE} B"),
        measured.into_iter().map(Some).collect(),
    );

    let per_connection = (round_trips / 100) as u64;
    let hundred: [(&str, Workload<'_>); 2] = [
        ("trio", Box::new(move |n| trio_echo(100, n as usize) / (100 * n) as u32)),
        ("tokio", Box::new(move |n| tokio_echo(100, n as usize) / (100 * n) as u32)),
    ];
    let measured = interleaved(runs, per_connection, &hundred);
    table.row(
        format!("echo, 100 connections, {per_connection} round trips each"),
        measured.into_iter().map(Some).collect(),
    );

    let kib = |bytes: u64| move |d: Duration| d / (bytes / 1024) as u32;
    let bulk: [(&str, Workload<'_>); 2] = [
        ("trio", Box::new(move |n| kib(n)(trio_bulk(n)))),
        ("tokio", Box::new(move |n| kib(n)(tokio_bulk(n)))),
    ];
    let measured = interleaved(runs, bulk_bytes, &bulk);
    table.row(
        format!("bulk, {} MiB over one connection", bulk_bytes >> 20),
        measured.into_iter().map(Some).collect(),
    );
    table
}
