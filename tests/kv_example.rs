//! The key-value example under a hostile network: resets, dropped segments, jitter and a
//! partition at a time the schedule picks, explored over a thousand schedules on the autojump
//! clock — and the planted bug (a retry without a request id counts an increment twice when
//! the answer is lost) found, replayed from its one-line schedule, and shrunk to the one fault
//! that matters.

use std::rc::Rc;
use std::time::Duration;

use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::sim::{Faults, Link};
use trio_testkit::trio_test;

#[allow(dead_code, reason = "main() is for cargo run")]
#[path = "../examples/kv.rs"]
pub mod kv;

/// Two clients increment one key twice each over a link with faults, jitter and maybe a
/// partition; every increment must count exactly once.
async fn two_clients_increment(request_ids: bool) -> Result<(), String> {
    let net = trio_rs_examples::internet();
    let host = net.add_host("kv");
    net.set_link("main", "kv", Link::default().latency(Duration::from_millis(5)).jitter(Duration::from_millis(4)));
    net.set_faults("main", "kv", Faults::none().drop_rate(0.05).reset_rate(0.05));
    let listener = host.listen(kv::PORT).map_err(|e| e.to_string())?;
    let store = Rc::new(kv::Store::default());
    let outcome = trio::open_nursery(|nursery| {
        let store = store.clone();
        let net = net.clone();
        async move {
            nursery.start_soon_named("kv", host.run(kv::program(store, Some(listener))));
            // When the partition starts is a decision too: never, early, or later.
            let start =
                trio::lowlevel::choose(3, "kv test: when main and kv are partitioned (0 never, 1 at 10ms, 2 at 200ms)");
            if start > 0 {
                nursery.start_soon_named("partitioner", async move {
                    trio::sleep(Duration::from_millis(if start == 1 { 10 } else { 200 })).await?;
                    net.partition("main", "kv");
                    trio::sleep(Duration::from_secs(2)).await?;
                    net.heal("main", "kv");
                    Ok(())
                });
            }
            let clients = trio::open_nursery(|clients| async move {
                for name in ["alice", "bob"] {
                    clients.start_soon_named(name, async move {
                        let mut client = kv::Client::new("kv", name);
                        client.request_ids = request_ids;
                        client.incr("count").await?;
                        client.incr("count").await?;
                        Ok(())
                    });
                }
                Ok(())
            });
            let result = clients.await;
            nursery.cancel_scope().cancel();
            result
        }
    })
    .await;
    outcome.map_err(|e| format!("the clients failed: {e}"))?;
    match store.value("count") {
        Some(4) => Ok(()),
        other => Err(format!("four increments counted as {other:?}")),
    }
}

/// With request ids, every increment counts once, whatever the network does, in every
/// schedule explored.
#[trio_test(schedules = 1000)]
async fn retries_with_request_ids_count_every_increment_once() {
    two_clients_increment(true).await.unwrap();
}

/// Without request ids, a lost answer makes the retry count twice: exploration finds it,
/// shrinking leaves the single fault that loses an answer, and that schedule replays it.
#[test]
fn retries_without_request_ids_count_twice_when_an_answer_is_lost() {
    let test = || async { two_clients_increment(false).await.unwrap() };
    let failure = Explore::new("kv_example::without_request_ids")
        .schedules(1000)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(test)
        .expect_err("the double count is found");
    assert!(failure.message.contains("four increments counted as Some(5)"), "{}", failure.message);
    let shrunk = failure.shrunk.as_ref().expect("the failure is shrunk");
    assert_eq!(shrunk.schedule.len(), 1, "one fault is enough: {}", shrunk.schedule);
    // The fault that matters loses an answer after the request was applied, so the retry
    // counts: a reset of the server's answer (`VALUE n\n`, 8 bytes, from kv:6379 back to a
    // client), or the partition between main and kv cutting in at 10 ms. Shrinking keeps
    // whichever of the two its search meets first.
    let story = shrunk.trace.to_string();
    let fault = story
        .lines()
        .find(|line| line.contains(" — option ") && !line.contains("(the default)"))
        .unwrap_or_else(|| panic!("no fault in:\n{story}"));
    let reset = fault.contains("sim: fault")
        && fault.contains("option 2 of 3")
        && fault.contains("10.0.0.3:6379 → 10.0.0.1:")
        && fault.contains("(8 bytes)");
    let partition = fault.contains("when main and kv are partitioned") && fault.contains("option 1 of 3");
    assert!(reset || partition, "{fault}");

    // The shrunk schedule, as TRIO_REPLAY=… would give it, reproduces the failure.
    let replayed = Explore::new("kv_example::without_request_ids")
        .replay(shrunk.schedule.clone())
        .persist(false)
        .shrink(false)
        .run(test)
        .expect_err("the replay fails the same way");
    // A reset loses one answer (five counted); a partition may lose two (six).
    assert!(replayed.message.contains("four increments counted as Some("), "{}", replayed.message);
}

/// The example's own story, as `cargo run --example kv` prints it, at the virtual times the
/// backoff dictates.
#[test]
fn the_example_retries_until_the_host_is_back() {
    let transcript = trio_rs_examples::Transcript::record(kv::async_main());
    let text = transcript.to_string();
    assert!(text.contains(" 3.77s | client: INCR apples -> 5"), "{text}");
}
