//! proptest and schedule exploration together (`trio_testkit::prop`): generated inputs and
//! generated schedules in one property, each case on a fresh run, and a failing case shrunk in
//! both — shown on a memory-channel model test (which passes) and on a cache with a write race
//! (which proptest must catch and shrink to the smallest input and a one-deviation schedule).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use trio_testkit::explore::Explore;
use trio_testkit::prop::{ScheduleChoices, run_case, schedules};

// ===== a channel against its model =====

/// What two producers send through a channel of `capacity`, and what the consumer must see:
/// every value exactly once, each producer's values in the order it sent them.
async fn two_producers(capacity: usize, a: Vec<u8>, b: Vec<u8>) {
    let (tx, rx) = trio::open_memory_channel::<(char, u8)>(capacity);
    let received = trio::open_nursery(|nursery| async move {
        for (name, values) in [('a', a.clone()), ('b', b.clone())] {
            let tx = tx.clone();
            nursery.start_soon_named(format!("producer {name}"), async move {
                for value in values {
                    tx.send((name, value)).await?;
                }
                Ok(())
            });
        }
        drop(tx);
        let mut received = Vec::new();
        while let Some(item) = rx.recv().await? {
            received.push(item);
        }
        // The model: each producer's values, in order, and nothing else.
        let of = |name: char| received.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v).collect::<Vec<_>>();
        assert_eq!(of('a'), a, "producer a's values, in order");
        assert_eq!(of('b'), b, "producer b's values, in order");
        assert_eq!(received.len(), a.len() + b.len());
        Ok(())
    })
    .await;
    received.unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_channel_matches_its_model_under_any_schedule(
        capacity in 0usize..3,
        a in prop::collection::vec(any::<u8>(), 0..8),
        b in prop::collection::vec(any::<u8>(), 0..8),
        schedule in schedules(),
    ) {
        let config = Explore::new("prop_models::a_channel_matches_its_model_under_any_schedule");
        run_case(&config, &schedule, &|_fixtures| two_producers(capacity, a.clone(), b.clone()))?;
    }
}

// ===== a cache with a write race =====

/// A cache whose `put` takes a moment (a checkpoint) before it stores: two writers to one key
/// race, and the one that stores last wins — not necessarily the one that started last.
#[derive(Clone, Default)]
struct Cache {
    entries: Rc<RefCell<BTreeMap<u8, u8>>>,
}

impl Cache {
    async fn put(&self, key: u8, value: u8) -> trio::Result<()> {
        trio::checkpoint().await?; // the write's latency: another writer may overtake
        self.entries.borrow_mut().insert(key, value);
        Ok(())
    }
}

/// The model says the writer started last wins; the cache does not order its writes.
async fn last_writer_wins(first: u8, second: u8) {
    let cache = Cache::default();
    let c = cache.clone();
    trio::open_nursery(|nursery| async move {
        let (c1, c2) = (c.clone(), c.clone());
        nursery.start_soon_named("first writer", async move { c1.put(7, first).await });
        nursery.start_soon_named("second writer", async move { c2.put(7, second).await });
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(cache.entries.borrow()[&7], second, "the second writer's value");
}

/// proptest finds the race, and shrinks the input to two values that differ by the least, and
/// the schedule to the one deviation that lets the second writer store first.
#[test]
fn proptest_shrinks_both_the_input_and_the_schedule() {
    let config = Explore::new("prop_models::cache");
    // The default order passes, whatever the values.
    run_case(&config, &ScheduleChoices::new(vec![]), &|_| last_writer_wins(3, 9)).unwrap();

    let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
    let strategy = (any::<u8>(), any::<u8>(), schedules());
    let outcome = runner
        .run(&strategy, |(first, second, schedule)| run_case(&config, &schedule, &|_| last_writer_wins(first, second)));
    let Err(TestError::Fail(reason, (first, second, schedule))) = outcome else {
        panic!("proptest did not find the race: {outcome:?}")
    };
    let reason = reason.to_string();
    // The input: two different values, as small as they get.
    assert_ne!(first, second);
    assert_eq!(first.max(second), 1, "not shrunk: {first}, {second}");
    // The schedule: one deviation, and the report says how to replay it.
    assert_eq!(schedule.choices().iter().filter(|&&c| c != 0).count(), 1, "{schedule:?}");
    assert!(reason.contains("(1 deviation(s) from the default order)"), "{reason}");
    assert!(reason.contains("the second writer's value"), "{reason}");
    let replay = reason.split("TRIO_REPLAY=").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
    // The printed schedule replays the failure on its own.
    let replayed = config
        .clone()
        .replay(replay.parse().unwrap())
        .persist(false)
        .run_local(|| last_writer_wins(first, second))
        .unwrap_err();
    assert!(replayed.message.contains("the second writer's value"), "{replayed}");
}

/// A replay (`TRIO_REPLAY`, here `Explore::replay`) wins over the drawn schedule: every case
/// then runs the replayed schedule.
#[test]
fn a_replayed_schedule_wins_over_the_drawn_one() {
    let config = Explore::new("prop_models::replayed");
    let default_order = ScheduleChoices::new(vec![]);
    run_case(&config, &default_order, &|_| last_writer_wins(0, 1)).unwrap();
    let second_writer_first = config.clone().replay("v1:1=t3".parse().unwrap());
    let error = run_case(&second_writer_first, &default_order, &|_| last_writer_wins(0, 1)).unwrap_err();
    assert!(error.to_string().contains("TRIO_REPLAY=v1:1=t3"), "{error}");
}
