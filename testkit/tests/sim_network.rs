//! The simulated network's behaviour: connecting (refused, unknown hosts, timeouts, a full
//! backlog), latency, bandwidth and jitter on the run's clock, partitions, resets, crashes and
//! restarts, which host code runs on, deadlock reports that name network waits, and faults
//! as decisions that exploration finds, replays and shrinks.

use std::cell::RefCell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use trio::abc::{AsyncResource, HalfCloseableStream, Listener, ReceiveStream, SendStream};
use trio::net::SocketStream;
use trio::{Instant, RunErrorKind};
use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::policy::Random;
use trio_testkit::sim::{Faults, Link, SimNet};
use trio_testkit::{MockClock, trio_test, wait_all_tasks_blocked};

fn io_kind(error: &trio::Error) -> ErrorKind {
    error.downcast_ref::<std::io::Error>().unwrap_or_else(|| panic!("not an io::Error: {error}")).kind()
}

/// Runs `body` on an autojump clock with `net` installed and a server host `db`.
fn with_net<T>(body: impl AsyncFnOnce(SimNet) -> T) -> T {
    trio::Builder::new().clock(MockClock::autojump()).run(async {
        let net = SimNet::new();
        net.add_host("db");
        net.install();
        body(net).await
    })
}

/// Echoes on `port` until cancelled. A connection that breaks ends its handler quietly (a
/// handler's error would stop the whole server, as in Trio).
async fn echo_server(port: u16) -> trio::Result<()> {
    async fn echo(stream: SocketStream) -> Result<(), trio::StreamError> {
        loop {
            let data = stream.receive_some(65536).await?;
            if data.is_empty() {
                return stream.send_eof().await;
            }
            stream.send_all(&data).await?;
        }
    }
    trio::net::serve_tcp(
        |stream: SocketStream| async move {
            match echo(stream).await {
                Err(error) if error.is_broken() => Ok(()),
                other => other.map_err(trio::Error::from),
            }
        },
        port,
        trio::TaskStatus::ignored(),
    )
    .await
}

// ===== connecting =====

#[test]
fn connecting_where_nothing_listens_is_refused_after_a_round_trip() {
    with_net(async |_net| {
        let start = trio::current_time();
        let err = trio::net::open_tcp_stream("db", 80).await.unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains("nothing listens on that port"), "{err}");
        assert_eq!(trio::current_time() - start, Duration::from_millis(2));
    });
}

#[test]
fn unknown_names_and_addresses_are_clear_errors() {
    with_net(async |_net| {
        let err = trio::net::open_tcp_stream("nowhere", 80).await.unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::NotFound);
        assert!(err.to_string().contains("unknown host name \"nowhere\" (known: main, db, localhost)"), "{err}");
        let err = trio::net::open_tcp_stream("192.168.7.7", 80).await.unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::HostUnreachable);
        let err = trio::net::getaddrinfo("nowhere", 1).await.unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::NotFound);
    });
}

#[test]
fn a_connect_across_a_partition_times_out() {
    with_net(async |net| {
        net.set_connect_timeout(Duration::from_secs(3));
        net.partition("main", "db");
        let start = trio::current_time();
        let err = trio::net::open_tcp_stream("db", 80).await.unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::TimedOut);
        assert_eq!(trio::current_time() - start, Duration::from_secs(3));
    });
}

#[test]
fn a_full_backlog_refuses_with_a_message_that_says_so() {
    with_net(async |_net| {
        let listeners = trio::net::open_tcp_listeners_on(None, 80, Some(2)).await.unwrap();
        let _a = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        let _b = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        let err = trio::net::open_tcp_stream("localhost", 80).await.unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains("the listener's backlog of 2 is full"), "{err}");
        // Accepting one makes room.
        listeners[0].accept().await.unwrap();
        trio::net::open_tcp_stream("localhost", 80).await.unwrap();
    });
}

#[test]
fn listening_twice_on_a_port_is_addr_in_use_and_another_host_is_not_available() {
    with_net(async |_net| {
        let _first = trio::net::open_tcp_listeners(80).await.unwrap();
        let err = trio::net::open_tcp_listeners(80).await.unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::AddrInUse);
        let err = trio::net::open_tcp_listeners_on(Some("db"), 81, None).await.unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::AddrNotAvailable);
    });
}

/// Closing a listener resets the connections still waiting in its backlog.
#[test]
fn closing_a_listener_resets_what_it_did_not_accept() {
    with_net(async |_net| {
        let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
        let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        drop(listeners);
        let err = client.receive_some(10).await.unwrap_err();
        assert!(err.is_broken() && err.to_string().contains("the listener closed before accepting it"), "{err}");
    });
}

// ===== time: latency, bandwidth, jitter =====

#[test]
fn latency_and_bandwidth_set_when_data_arrives() {
    with_net(async |net| {
        net.set_link("main", "main", Link::default().latency(Duration::from_millis(10)).bandwidth(1_000_000));
        let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
        let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        let server = listeners[0].accept().await.unwrap();
        let start = trio::current_time();
        client.send_all(&vec![7; 100_000]).await.unwrap();
        let mut got = 0;
        while got < 100_000 {
            got += server.receive_some(1 << 20).await.unwrap().len();
        }
        // 100 kB at 1 MB/s, then 10 ms on the wire.
        assert_eq!(trio::current_time() - start, Duration::from_millis(110));
    });
}

/// Takes the most jitter for one-byte segments, the default otherwise.
struct MostJitterForData;

impl trio::abc::SchedulePolicy for MostJitterForData {
    fn pick_task(&mut self, _runnable: &trio::lowlevel::RunnableTasks<'_>) -> usize {
        0
    }
    fn choose(&mut self, choice: &trio::lowlevel::Choice<'_>) -> usize {
        if choice.what().contains("jitter") && choice.what().contains("(1 bytes)") { choice.len() - 1 } else { 0 }
    }
}

/// Jitter is a decision: none under the default policy; a policy can pick the most.
#[test]
fn jitter_is_a_decision_of_the_policy() {
    fn round_trip(policy: Option<MostJitterForData>) -> Duration {
        let builder = trio::Builder::new().clock(MockClock::autojump());
        let builder = match policy {
            Some(policy) => builder.policy(policy),
            None => builder,
        };
        builder.run(async {
            let net = SimNet::new();
            net.set_link(
                "main",
                "main",
                Link::default().latency(Duration::from_millis(10)).jitter(Duration::from_millis(8)),
            );
            net.install();
            let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
            let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
            let server = listeners[0].accept().await.unwrap();
            let start = trio::current_time();
            client.send_all(b"x").await.unwrap();
            server.receive_some(1).await.unwrap();
            trio::current_time() - start
        })
    }
    assert_eq!(round_trip(None), Duration::from_millis(10));
    assert_eq!(round_trip(Some(MostJitterForData)), Duration::from_millis(18));
}

// ===== partitions and resets =====

#[test]
fn a_partition_holds_data_until_it_heals() {
    with_net(async |net| {
        let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
        let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        let server = listeners[0].accept().await.unwrap();
        drop((client, server));
        let db = net.host("db");
        let stream = Rc::new(RefCell::new(None));
        let s = stream.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(db.run(move || {
                let s = s.clone();
                async move {
                    let listeners = trio::net::open_tcp_listeners(5432).await?;
                    let conn = listeners[0].accept().await?;
                    let data = conn.receive_some(100).await?;
                    *s.borrow_mut() = Some((data, trio::current_time()));
                    Ok(())
                }
            }));
            wait_all_tasks_blocked().await?;
            let client = trio::net::open_tcp_stream("db", 5432).await?;
            net.partition("main", "db");
            client.send_all(b"held").await?;
            trio::sleep(Duration::from_secs(5)).await?;
            assert!(stream.borrow().is_none(), "nothing crosses a partition");
            let healed_at = trio::current_time();
            net.heal("main", "db");
            trio::sleep(Duration::from_secs(1)).await?;
            let (data, at) = stream.borrow_mut().take().expect("delivered after the heal");
            assert_eq!(data, b"held");
            assert_eq!(at - healed_at, Duration::from_millis(1), "it leaves at the heal");
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn reset_connections_breaks_both_sides() {
    with_net(async |net| {
        let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
        let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        let server = listeners[0].accept().await.unwrap();
        net.reset_connections("main", "main");
        let err = client.send_all(b"x").await.unwrap_err();
        assert!(err.is_broken() && err.to_string().contains("reset"), "{err}");
        assert!(server.receive_some(10).await.unwrap_err().is_broken());
        assert_eq!(net.statistics().resets, 1);
    });
}

/// As in TCP: closing with unread data resets the connection instead of ending it.
#[test]
fn closing_with_unread_data_resets_the_peer() {
    with_net(async |_net| {
        let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
        let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        let server = listeners[0].accept().await.unwrap();
        client.send_all(b"never read").await.unwrap();
        trio::sleep(Duration::from_millis(1)).await.unwrap();
        server.aclose().await.unwrap();
        let err = client.receive_some(10).await.unwrap_err();
        assert!(err.to_string().contains("closed with data unread"), "{err}");
    });
}

// ===== hosts: where code runs, crashes, restarts =====

/// A host's program and every task it starts run on that host: their connections come
/// from its address.
#[test]
fn tasks_started_by_a_host_program_run_on_that_host() {
    with_net(async |net| {
        let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
        let db = net.host("db");
        let db_addr = db.addr();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(db.run(|| async {
                trio::open_nursery(|inner| async move {
                    inner.start_soon(async {
                        trio::open_nursery(|innermost| async move {
                            innermost.start_soon(async {
                                let stream = trio::net::open_tcp_stream("main", 80).await?;
                                stream.send_all(b"from a grandchild").await?;
                                trio::sleep_forever().await?;
                                Ok(())
                            });
                            Ok(())
                        })
                        .await
                    });
                    Ok(())
                })
                .await
            }));
            let accepted = listeners[0].accept().await?;
            assert_eq!(accepted.peer_addr().ip(), db_addr);
            assert_eq!(accepted.receive_some(100).await?, b"from a grandchild");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_crash_cancels_the_program_closes_its_listeners_resets_its_connections_and_a_restart_reruns_it() {
    with_net(async |net| {
        let db = net.host("db");
        let host = db.clone();
        let starts = Rc::new(std::cell::Cell::new(0));
        let counter = starts.clone();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(host.run(move || {
                counter.set(counter.get() + 1);
                echo_server(5432)
            }));
            wait_all_tasks_blocked().await?;
            let stream = trio::net::open_tcp_stream("db", 5432).await?;
            stream.send_all(b"1").await?;
            assert_eq!(stream.receive_some(10).await?, b"1");

            db.crash();
            assert!(!db.is_up());
            let err = stream.receive_some(10).await.unwrap_err();
            assert!(err.is_broken() && err.to_string().contains("host db crashed"), "{err}");
            let err = trio::net::open_tcp_stream("db", 5432).await.unwrap_err();
            assert!(err.to_string().contains("the host is down"), "{err}");

            db.restart();
            wait_all_tasks_blocked().await?;
            assert_eq!(starts.get(), 2, "the program ran again");
            let stream = trio::net::open_tcp_stream("db", 5432).await?;
            stream.send_all(b"2").await?;
            assert_eq!(stream.receive_some(10).await?, b"2");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
}

/// A program that returns ends `run`; one that fails reports the failure.
#[test]
fn a_host_program_returns_its_outcome() {
    with_net(async |net| {
        let db = net.host("db");
        db.run(|| async { Ok(()) }).await.unwrap();
        let err = db.run(|| async { Err(trio::Error::msg("boom")) }).await.unwrap_err();
        assert_eq!(err.to_string(), "boom");
    });
}

// ===== reports =====

/// A client waiting for an answer that never comes: the deadlock report names the task and
/// the network wait.
#[test]
fn a_deadlock_report_names_the_network_wait() {
    let err = trio::Builder::new()
        .clock(MockClock::autojump())
        .try_run(async {
            let net = SimNet::new();
            let db = net.add_host("db");
            net.install();
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(db.run(|| async {
                    let listeners = trio::net::open_tcp_listeners(5432).await?;
                    let _conn = listeners[0].accept().await?;
                    trio::sleep_forever().await?; // never answers
                    Ok(())
                }));
                nursery.start_soon_named("client", async {
                    let stream = trio::net::open_tcp_stream("db", 5432).await?;
                    stream.send_all(b"query").await?;
                    stream.receive_some(100).await?;
                    Ok(())
                });
                Ok(())
            })
            .await
        })
        .unwrap_err();
    assert_eq!(err.kind(), RunErrorKind::Deadlock);
    let report = err.to_string();
    assert!(report.contains("`client` (spawned at"), "{report}");
    assert!(report.contains("waiting to receive on the stream to db:5432"), "{report}");
    assert!(report.contains("sim network: idle, nothing in flight"), "{report}");
}

// ===== faults are decisions =====

/// Under the default policy no fault ever fires, however high the rate.
#[test]
fn the_default_policy_never_injects_a_fault() {
    with_net(async |net| {
        net.set_faults("main", "main", Faults::none().reset_rate(0.5).drop_rate(0.4));
        let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
        let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
        let server = listeners[0].accept().await.unwrap();
        for _ in 0..50 {
            client.send_all(b"x").await.unwrap();
            server.receive_some(1).await.unwrap();
        }
        assert_eq!((net.statistics().resets, net.statistics().segments_dropped), (0, 0));
    });
}

/// Same seed, same packets: a lossy exchange under the random policy is the same twice.
#[test]
fn the_same_seed_gives_the_same_faults() {
    fn exchange(seed: u64) -> (Vec<String>, Instant) {
        trio::Builder::new().clock(MockClock::autojump()).policy(Random::new()).seed(seed).run(async {
            let net = SimNet::new();
            net.set_faults("main", "main", Faults::none().drop_rate(0.3).reset_rate(0.1));
            net.install();
            let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
            let mut log = Vec::new();
            for i in 0..10 {
                let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
                let server = listeners[0].accept().await.unwrap();
                let sent = client.send_all(format!("{i}").as_bytes()).await;
                let got = server.receive_some(10).await;
                log.push(format!("{sent:?} {got:?}"));
            }
            (log, trio::current_time())
        })
    }
    assert_eq!(exchange(5), exchange(5));
    assert!((0..20).any(|seed| exchange(seed) != exchange(5)), "faults vary with the seed");
}

/// A client that trusts the network: exploration finds the reset that breaks it, and
/// shrinking keeps only that fault.
#[test]
fn exploration_finds_and_shrinks_a_network_fault() {
    async fn naive_client() {
        let net = SimNet::new();
        let db = net.add_host("db");
        net.set_faults("main", "db", Faults::none().reset_rate(0.02));
        net.install();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(db.run(|| echo_server(7)));
            trio::sleep(Duration::from_millis(1)).await?;
            let stream = trio::net::open_tcp_stream("db", 7).await?;
            for i in 0..20u8 {
                stream.send_all(&[i]).await?;
                let got = stream.receive_some(1).await.expect("the network never resets, surely");
                assert_eq!(got, [i]);
            }
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    }
    let failure = Explore::new("sim_network::naive_client")
        .schedules(300)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(naive_client)
        .unwrap_err();
    assert!(failure.message.contains("the network never resets, surely"), "{}", failure.message);
    let shrunk = failure.shrunk.as_ref().expect("shrunk");
    assert_eq!(shrunk.schedule.len(), 1, "one fault is enough: {}", shrunk.schedule);
    assert!(shrunk.schedule.to_string().ends_with("=o2"), "option 2 is a reset: {}", shrunk.schedule);
    assert!(shrunk.trace.to_string().contains("sim: fault (0 deliver, 1 drop and retransmit, 2 reset)"));
}

/// A retry loop with exponential backoff over a link that drops and resets: it gets through,
/// after minutes of virtual time, in no real time.
#[trio_test(schedules = 20)]
async fn retries_with_backoff_over_a_lossy_link_cost_no_real_time() {
    let real_start = std::time::Instant::now();
    let net = SimNet::new();
    let db = net.add_host("db");
    net.set_faults("main", "db", Faults::none().drop_rate(0.3).reset_rate(0.3));
    net.install();
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(db.run(|| echo_server(7)));
        let mut backoff = Duration::from_secs(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = trio::move_on_after(Duration::from_secs(30), async {
                let stream = trio::net::open_tcp_stream("db", 7).await?;
                stream.send_all(b"hello").await?;
                let mut got = Vec::new();
                while got.len() < 5 {
                    let chunk = stream.receive_some(5).await?;
                    if chunk.is_empty() {
                        break;
                    }
                    got.extend(chunk);
                }
                Ok(got)
            })
            .await;
            if let Ok(Some(got)) = attempt {
                assert_eq!(got, b"hello");
                break;
            }
            trio::sleep(backoff).await?;
            backoff = (backoff * 2).min(Duration::from_secs(60));
            assert!(attempts < 100, "gave up");
        }
        nursery.cancel_scope().cancel();
        Ok(())
    })
    .await
    .unwrap();
    assert!(real_start.elapsed() < Duration::from_secs(5), "virtual time only");
}

// ===== checkpoints and determinism =====

/// Every `trio::net` function that returns normally has executed a checkpoint.
#[test]
fn every_trio_net_function_checkpoints() {
    use trio_testkit::assert_checkpoints;
    with_net(async |_net| {
        let listeners = assert_checkpoints(trio::net::open_tcp_listeners(80)).await.unwrap();
        assert_checkpoints(trio::net::open_tcp_listeners_on(Some("localhost"), 81, None)).await.unwrap();
        assert_checkpoints(trio::net::getaddrinfo("db", 1)).await.unwrap();
        let client = assert_checkpoints(trio::net::open_tcp_stream("localhost", 80)).await.unwrap();
        let server = assert_checkpoints(listeners[0].accept()).await.unwrap();
        assert_checkpoints(client.send_eof()).await.unwrap();
        assert_checkpoints(server.receive_some(10)).await.unwrap();
        assert_checkpoints(server.wait_send_all_might_not_block()).await.unwrap();
        assert_checkpoints(server.aclose()).await.unwrap();
        assert_checkpoints(listeners[0].aclose()).await.unwrap();
    });
}

/// The network adds no nondeterminism of its own: a lossy, jittery exchange replays
/// event for event (the exploration engine's determinism check).
#[test]
fn a_faulty_network_passes_the_determinism_check() {
    Explore::new("sim_network::determinism")
        .schedules(30)
        .policy(PolicyKind::Random)
        .check_determinism(true)
        .persist(false)
        .run(|| async {
            let net = SimNet::new();
            let db = net.add_host("db");
            net.set_link("main", "db", Link::default().jitter(Duration::from_millis(3)));
            net.set_faults("main", "db", Faults::none().drop_rate(0.2).reset_rate(0.1));
            net.install();
            let listener = db.listen(7).unwrap();
            let listener = std::cell::Cell::new(Some(listener));
            trio::open_nursery(|nursery| async move {
                nursery.start_soon(db.run(move || {
                    let listeners = listener.take().into_iter().collect();
                    trio::net::serve_listeners(
                        |stream: SocketStream| async move {
                            while let Ok(data) = stream.receive_some(100).await {
                                if data.is_empty() || stream.send_all(&data).await.is_err() {
                                    break;
                                }
                            }
                            trio::Result::Ok(())
                        },
                        listeners,
                        trio::TaskStatus::ignored(),
                    )
                }));
                for i in 0..5u8 {
                    if let Ok(stream) = trio::net::open_tcp_stream("db", 7).await {
                        let _ = stream.send_all(&[i; 10]).await;
                        let _ =
                            trio::move_on_after(Duration::from_secs(1), async { Ok(stream.receive_some(100).await?) })
                                .await;
                    }
                }
                nursery.cancel_scope().cancel();
                Ok(())
            })
            .await
            .unwrap();
        })
        .unwrap();
}
