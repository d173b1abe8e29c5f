//! Byte streams and the simulated network: echo throughput and connection setup against
//! turmoil (tokio's simulated network) on the same workload, and bytes through an in-memory
//! stream pair against `tokio::io::duplex`.
//!
//! The simulations run on virtual time (trio: an autojump clock; turmoil: its own ticks), with
//! 1 ms of latency each way in both, so the wall clock measures what the simulation costs.

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio_testkit::MockClock;
use trio_testkit::sim::{Link, SimNet};
use trio_testkit::streams::memory_stream_pair;

use crate::harness::{Table, Workload, interleaved, ns};

/// Chunk size of every write, and the most a read asks for.
pub const CHUNK: usize = 16 * 1024;
const LATENCY: Duration = Duration::from_millis(1);
const PORT: u16 = 7;

fn autojump() -> trio::Builder {
    trio::Builder::new().clock(MockClock::autojump())
}

fn chunk() -> Vec<u8> {
    (0..CHUNK).map(|i| i as u8).collect()
}

// ===== echo throughput =====

/// A client sends `bytes` in 16 KiB writes to an echo server on another host and reads them
/// all back (a writer and a reader task, so the two directions overlap). Returns the wall time.
pub fn trio_echo(bytes: u64) -> Duration {
    autojump().run(async move {
        let net = SimNet::new();
        let server = net.add_host("server");
        net.set_default_link(Link::default().latency(LATENCY));
        net.install();
        let listener = server.listen(PORT).unwrap();
        let listener = std::cell::Cell::new(Some(listener));
        let start = Instant::now();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(server.run(move || {
                let listeners = listener.take().into_iter().collect();
                trio::net::serve_listeners(
                    |stream: trio::net::SocketStream| async move {
                        loop {
                            let data = stream.receive_some(CHUNK).await?;
                            if data.is_empty() {
                                return Ok(stream.send_eof().await?);
                            }
                            stream.send_all(&data).await?;
                        }
                    },
                    listeners,
                    trio::TaskStatus::ignored(),
                )
            }));
            let stream = Rc::new(trio::net::open_tcp_stream("server", PORT).await?);
            let writer = stream.clone();
            nursery.start_soon(async move {
                let data = chunk();
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(CHUNK as u64) as usize;
                    writer.send_all(&data[..n]).await?;
                    left -= n as u64;
                }
                writer.send_eof().await?;
                Ok(())
            });
            let mut got = 0;
            loop {
                let data = stream.receive_some(CHUNK).await?;
                if data.is_empty() {
                    break;
                }
                got += data.len() as u64;
            }
            assert_eq!(got, bytes);
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        start.elapsed()
    })
}

fn turmoil_sim<'a>() -> turmoil::Sim<'a> {
    turmoil::Builder::new()
        .min_message_latency(LATENCY)
        .max_message_latency(LATENCY)
        .simulation_duration(Duration::from_secs(24 * 3600))
        .tcp_capacity(1 << 16)
        .build()
}

/// [`trio_echo`] in turmoil: a server host echoing, a client writing and reading at once.
pub fn turmoil_echo(bytes: u64) -> Duration {
    let mut sim = turmoil_sim();
    sim.host("server", || async {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut buf = vec![0; CHUNK];
                loop {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 {
                        stream.shutdown().await?;
                        return Ok::<(), std::io::Error>(());
                    }
                    stream.write_all(&buf[..n]).await?;
                }
            });
        }
    });
    sim.client("client", async move {
        let stream = turmoil::net::TcpStream::connect(("server", PORT)).await?;
        let (mut reader, mut writer) = stream.into_split();
        let write = tokio::spawn(async move {
            let data = chunk();
            let mut left = bytes;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                writer.write_all(&data[..n]).await?;
                left -= n as u64;
            }
            writer.shutdown().await?;
            Ok::<(), std::io::Error>(())
        });
        let mut buf = vec![0; CHUNK];
        let mut got = 0;
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        write.await??;
        assert_eq!(got, bytes);
        Ok(())
    });
    let start = Instant::now();
    sim.run().unwrap();
    start.elapsed()
}

// ===== connection setup =====

/// `n` connections, one after another: connect, send a byte, read it back, close.
pub fn trio_connects(n: u64) -> Duration {
    autojump().run(async move {
        let net = SimNet::new();
        let server = net.add_host("server");
        net.set_default_link(Link::default().latency(LATENCY));
        net.install();
        let listener = server.listen(PORT).unwrap();
        let listener = std::cell::Cell::new(Some(listener));
        let start = Instant::now();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(server.run(move || {
                let listeners = listener.take().into_iter().collect();
                trio::net::serve_listeners(
                    |stream: trio::net::SocketStream| async move {
                        let data = stream.receive_some(1).await?;
                        stream.send_all(&data).await?;
                        trio::Result::Ok(())
                    },
                    listeners,
                    trio::TaskStatus::ignored(),
                )
            }));
            for _ in 0..n {
                let stream = trio::net::open_tcp_stream("server", PORT).await?;
                stream.send_all(b"x").await?;
                assert_eq!(stream.receive_some(1).await?, b"x");
            }
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
        start.elapsed()
    })
}

/// [`trio_connects`] in turmoil.
pub fn turmoil_connects(n: u64) -> Duration {
    let mut sim = turmoil_sim();
    sim.host("server", || async {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut byte = [0; 1];
                stream.read_exact(&mut byte).await?;
                stream.write_all(&byte).await?;
                Ok::<(), std::io::Error>(())
            });
        }
    });
    sim.client("client", async move {
        for _ in 0..n {
            let mut stream = turmoil::net::TcpStream::connect(("server", PORT)).await?;
            stream.write_all(b"x").await?;
            let mut byte = [0; 1];
            stream.read_exact(&mut byte).await?;
        }
        Ok(())
    });
    let start = Instant::now();
    sim.run().unwrap();
    start.elapsed()
}

// ===== in-memory stream pairs =====

/// `bytes` through `trio_testkit::streams::memory_stream_pair`, 16 KiB per `send_all`, from
/// one task to another.
pub fn trio_memory_pair(bytes: u64) -> Duration {
    trio::run(async move {
        let (left, right) = memory_stream_pair();
        let start = Instant::now();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let data = chunk();
                let mut left_to_send = bytes;
                while left_to_send > 0 {
                    let n = left_to_send.min(CHUNK as u64) as usize;
                    left.send_all(&data[..n]).await?;
                    left_to_send -= n as u64;
                }
                left.send_eof().await?;
                Ok(())
            });
            let mut got = 0;
            loop {
                let data = right.receive_some(CHUNK).await?;
                if data.is_empty() {
                    break;
                }
                got += data.len() as u64;
            }
            assert_eq!(got, bytes);
            Ok(())
        })
        .await
        .unwrap();
        start.elapsed()
    })
}

/// [`trio_memory_pair`] through `tokio::io::duplex` (a 64 KiB buffer) on a current-thread
/// runtime.
pub fn tokio_duplex(bytes: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async move {
        let (mut left, mut right) = tokio::io::duplex(64 * 1024);
        let start = Instant::now();
        let writer = tokio::spawn(async move {
            let data = chunk();
            let mut left_to_send = bytes;
            while left_to_send > 0 {
                let n = left_to_send.min(CHUNK as u64) as usize;
                left.write_all(&data[..n]).await.unwrap();
                left_to_send -= n as u64;
            }
            left.shutdown().await.unwrap();
        });
        let mut buf = vec![0; CHUNK];
        let mut got = 0;
        loop {
            let n = right.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        writer.await.unwrap();
        assert_eq!(got, bytes);
        start.elapsed()
    })
}

// ===== the table =====

/// Nanoseconds per KiB, from a duration over `bytes`.
fn per_kib(bytes: u64) -> impl Fn(Duration) -> Duration {
    move |d| d / (bytes / 1024).max(1) as u32
}

/// The streams table: ns per KiB echoed or moved, ns per connection.
pub fn table(scale: u64, runs: usize) -> Table {
    let echo_bytes = 8 << 20; // 8 MiB each way
    let memory_bytes = 256 << 20;
    let connections = 2_000;
    let (echo_bytes, memory_bytes, connections) =
        (echo_bytes * scale / 10, memory_bytes * scale / 10, connections * scale / 10);
    let mut table = Table::new("ns per KiB, or per connection", &["trio", "peer"], ns);

    let echo: [(&str, Workload<'_>); 2] = [
        ("trio", Box::new(move |n| per_kib(n)(trio_echo(n)))),
        ("turmoil", Box::new(move |n| per_kib(n)(turmoil_echo(n)))),
    ];
    let measured = interleaved(runs, echo_bytes, &echo);
    table.row(
        format!("echo {} MiB through a simulated TCP connection, vs turmoil", echo_bytes >> 20),
        measured.into_iter().map(|(m, s)| Some((m, s))).collect(),
    );

    let connects: [(&str, Workload<'_>); 2] = [
        ("trio", Box::new(move |n| trio_connects(n) / n as u32)),
        ("turmoil", Box::new(move |n| turmoil_connects(n) / n as u32)),
    ];
    let measured = interleaved(runs, connections, &connects);
    table.row(
        format!("{connections} connections (connect, one byte each way), vs turmoil"),
        measured.into_iter().map(|(m, s)| Some((m, s))).collect(),
    );

    let memory: [(&str, Workload<'_>); 2] = [
        ("trio", Box::new(move |n| per_kib(n)(trio_memory_pair(n)))),
        ("tokio", Box::new(move |n| per_kib(n)(tokio_duplex(n)))),
    ];
    let measured = interleaved(runs, memory_bytes, &memory);
    table.row(
        format!("{} MiB through memory_stream_pair, vs tokio::io::duplex", memory_bytes >> 20),
        measured.into_iter().map(|(m, s)| Some((m, s))).collect(),
    );
    table
}
