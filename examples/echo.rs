//! An echo server and its client, over `trio::net`: the server answers every connection with
//! what it receives, until the client half-closes; the client sends a few lines, reads each
//! echo, then sends the end of the stream and waits for the server's.
//!
//! Run it with `cargo run --example echo`: the server listens on 127.0.0.1 (a free port) and the
//! client talks to it over real sockets. With `TRIO_AUTOJUMP=1` (and in the tests) the same
//! server and client code runs on the run's simulated network (`trio_rs_examples::internet()`)
//! instead, as two hosts one millisecond apart, which prints:
//!
//! ```text
//! echo-server: listening on port 7
//! client: connected to echo-server:7
//! client: sent "hello"
//! client: got back "hello"
//! client: sent "structured concurrency"
//! client: got back "structured concurrency"
//! client: sent the end of the stream
//! client: the server closed its side too
//! ```

use trio::TaskStatus;
use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio::net::SocketStream;
use trio_rs_examples::say;

/// The server's handler: echoes until the client sends the end of the stream, then ends its
/// side too.
pub async fn echo(stream: SocketStream) -> trio::Result<()> {
    loop {
        let data = stream.receive_some(trio::io::DEFAULT_RECEIVE_SIZE).await?;
        if data.is_empty() {
            stream.send_eof().await?;
            return Ok(());
        }
        stream.send_all(&data).await?;
    }
}

/// Sends `line` and reads until all of it came back.
pub async fn round_trip(stream: &SocketStream, line: &str) -> trio::Result<String> {
    stream.send_all(line.as_bytes()).await?;
    say!("client: sent {line:?}");
    let mut echoed = Vec::new();
    while echoed.len() < line.len() {
        let chunk = stream.receive_some(1024).await?;
        if chunk.is_empty() {
            return Err(trio::Error::msg("the server closed the connection early"));
        }
        echoed.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&echoed).into_owned())
}

/// Starts the server, then talks to it: over the operating system's loopback on the real
/// clock, on the simulated network otherwise.
pub async fn async_main() -> trio::Result<()> {
    if trio_rs_examples::httpbin::uses_real_network() { on_loopback().await } else { simulated().await }
}

/// The server on 127.0.0.1, on a port the system picks.
async fn on_loopback() -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        let listeners = nursery
            .start(|task_status| async move {
                let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
                trio::net::serve_listeners(echo, listeners, task_status).await
            })
            .await?;
        let address = listeners[0].local_addr();
        say!("echo-server: listening on {address}");
        client("127.0.0.1", address.port()).await?;
        nursery.cancel_scope().cancel(); // stop the server
        Ok(())
    })
    .await
}

/// The server on a host of the simulated network.
async fn simulated() -> trio::Result<()> {
    let net = trio_rs_examples::internet();
    let server = net.add_host("echo-server");
    let listener = server.listen(7)?; // bound before any client runs
    say!("echo-server: listening on port {}", listener.local_addr().port());
    let listener = std::cell::Cell::new(Some(listener));
    trio::open_nursery(|nursery| async move {
        nursery.start_soon_named(
            "echo-server",
            server.run(move || {
                let listeners = listener.take().into_iter().collect();
                trio::net::serve_listeners(echo, listeners, TaskStatus::ignored())
            }),
        );
        client("echo-server", 7).await?;
        nursery.cancel_scope().cancel(); // stop the server
        Ok(())
    })
    .await
}

/// The client: a few round trips, then the end of the stream both ways.
async fn client(host: &str, port: u16) -> trio::Result<()> {
    let stream = trio::net::open_tcp_stream(host, port).await?;
    say!("client: connected to {host}:{port}");
    for line in ["hello", "structured concurrency"] {
        let echoed = round_trip(&stream, line).await?;
        say!("client: got back {echoed:?}");
    }
    stream.send_eof().await?;
    say!("client: sent the end of the stream");
    let rest = stream.receive_some(1024).await?;
    assert!(rest.is_empty(), "nothing more was sent");
    say!("client: the server closed its side too");
    Ok(())
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
