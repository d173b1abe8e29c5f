//! Determinism: the same program under the same seed and policy produces the same sequence of
//! instrument events, bit for bit; a different seed can produce a different one.

mod common;

use rand_like::SplitMix;

use trio::abc::SchedulePolicy;
use trio::lowlevel::{RunnableTasks, TimerInfo};

use common::{ManualClock, Recorder, secs};

/// A tiny seeded random policy (the testkit has the real ones); picks uniformly.
struct Shuffle(SplitMix);

impl SchedulePolicy for Shuffle {
    fn start(&mut self, seed: u64) {
        self.0 = SplitMix(seed);
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        (self.0.next() % runnable.len() as u64) as usize
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        (self.0.next() % due.len() as u64) as usize
    }
}

mod rand_like {
    pub(crate) struct SplitMix(pub(crate) u64);

    impl SplitMix {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }
}

/// A program with plenty of choices: tasks that checkpoint, sleep to the same deadlines, spawn
/// more tasks and cancel each other.
async fn busy_program() {
    trio::open_nursery(|nursery| async move {
        for i in 0..6u64 {
            let n = nursery.clone();
            nursery.start_soon(async move {
                for round in 0..3 {
                    trio::checkpoint().await?;
                    if round == 1 && i % 2 == 0 {
                        n.start_soon(async move { Ok(trio::sleep(secs(i % 3)).await?) });
                    }
                }
                trio::sleep(secs(1 + i % 2)).await?;
                Ok(())
            });
        }
        let scope = trio::CancelScope::new();
        let handle = scope.clone();
        nursery.start_soon(async move {
            trio::sleep(secs(1)).await?;
            handle.cancel();
            Ok(())
        });
        scope.run(async { Ok(trio::sleep_forever().await?) }).await?;
        Ok(())
    })
    .await
    .unwrap();
}

fn trace(seed: u64) -> Vec<String> {
    let recorder = Recorder::default();
    trio::Builder::new()
        .seed(seed)
        .policy(Shuffle(SplitMix(0)))
        .clock(ManualClock::autojumping())
        .instrument(recorder.clone())
        .run(busy_program());
    recorder.events()
}

#[test]
fn same_seed_same_trace() {
    for seed in [0, 1, 42, u64::MAX] {
        assert_eq!(trace(seed), trace(seed), "seed {seed}");
    }
}

#[test]
fn different_seeds_explore_different_orders() {
    let traces: std::collections::BTreeSet<Vec<String>> = (0..8).map(trace).collect();
    assert!(traces.len() > 1, "the policy's choices show up in the trace");
}

#[test]
fn the_default_policy_is_deterministic_too() {
    let run = || {
        let recorder = Recorder::default();
        trio::Builder::new().clock(ManualClock::autojumping()).instrument(recorder.clone()).run(busy_program());
        recorder.events()
    };
    assert_eq!(run(), run());
}
