//! The simulated network's TCP streams keep Trio's stream rules — the half-closeable
//! conformance suite, clogged checks included — in every schedule explored, over links with
//! latency and jitter.

use std::time::Duration;

use trio::net::SocketStream;
use trio_testkit::sim::{Link, SimNet};
use trio_testkit::streams::{StreamMaker, check_half_closeable_stream};
use trio_testkit::trio_test;

/// A connected pair over the host's own (simulated) loopback.
async fn connected_pair() -> trio::Result<(SocketStream, SocketStream)> {
    let listeners = trio::net::open_tcp_listeners(0).await?;
    let port = listeners[0].local_addr().port();
    let client = trio::net::open_tcp_stream("localhost", port).await?;
    let server = trio::abc::Listener::accept(&listeners[0]).await?;
    Ok((client, server))
}

fn makers(
    net: &SimNet,
    link: Link,
) -> (StreamMaker<SocketStream, SocketStream>, StreamMaker<SocketStream, SocketStream>) {
    let normal = StreamMaker::new(connected_pair).duplex_test_size(1 << 14);
    let net = net.clone();
    // Clogged: a one-byte window, filled in both directions, so sending blocks until the other
    // side receives.
    let clogged = StreamMaker::new(move || {
        let net = net.clone();
        async move {
            net.set_link("main", "main", link.window(1));
            let pair = connected_pair().await;
            net.set_link("main", "main", link);
            let (client, server) = pair?;
            trio::abc::SendStream::send_all(&client, b"!").await?;
            trio::abc::SendStream::send_all(&server, b"!").await?;
            Ok((client, server))
        }
    });
    (normal, clogged)
}

#[trio_test(schedules = 30)]
async fn sim_streams_conform_over_a_link_with_latency_and_jitter() {
    let net = SimNet::new();
    // A small window keeps the checks that send until a closed receiver is noticed short.
    let link = Link::default().latency(Duration::from_millis(3)).jitter(Duration::from_millis(2)).window(8192);
    net.set_link("main", "main", link);
    net.install();
    let (normal, clogged) = makers(&net, link);
    check_half_closeable_stream(&normal, Some(&clogged)).await.unwrap();
}

#[trio_test(schedules = 10)]
async fn sim_streams_conform_over_a_zero_latency_link() {
    let net = SimNet::new();
    let link = Link::default().latency(Duration::ZERO).window(8192);
    net.set_link("main", "main", link);
    net.install();
    let (normal, clogged) = makers(&net, link);
    check_half_closeable_stream(&normal, Some(&clogged)).await.unwrap();
}

/// Trio's full-size duplex check, once, over a bandwidth-limited link.
#[trio_test]
async fn sim_streams_pass_the_full_duplex_check_over_a_slow_link(_autojump_clock: trio_testkit::MockClock) {
    let net = SimNet::new();
    net.set_link("main", "main", Link::default().bandwidth(10_000_000));
    net.install();
    let maker = StreamMaker::new(connected_pair);
    trio_testkit::streams::check_two_way_stream(&maker, None).await.unwrap();
}
