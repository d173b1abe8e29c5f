//! A reused runtime (`Builder::build` → `Runner`) runs a program exactly as a fresh one does:
//! the same instrument events in the same order, the same task ids and names, the same virtual
//! times, the same sequence numbers, the same output or report — whatever ran on the runner
//! before, including runs that panicked, deadlocked, hit the step limit or were stopped
//! half-way by a panicking instrument.

mod common;

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;

use trio::abc::{Instrument, SchedulePolicy};
use trio::lowlevel::{RunVar, RunnableTasks, Task, TimerInfo};
use trio::{Builder, CancelScope, Runner};

use common::{Log, ManualClock, Recorder, secs};

// ===== a seeded policy =====

/// A seeded random order (the testkit has the real ones): its state is reset only by
/// `start(seed)`, so a runner that forgot to restart the policy would show.
struct Shuffle(u64);

impl Shuffle {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

impl SchedulePolicy for Shuffle {
    fn start(&mut self, seed: u64) {
        self.0 = seed;
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        self.next(runnable.len())
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        self.next(due.len())
    }
}

// ===== the programs =====

static VISITS: RunVar<u32> = RunVar::new("visits");

/// Timers, deadlines, cancel scopes, nested nurseries, a failing child, channels, a system
/// task, a `RunVar` and the run's sequence numbers, all written to the log.
async fn everything(log: Log) -> Vec<String> {
    log.push(format!("var {:?}", VISITS.get()));
    VISITS.set(7);
    log.push(format!("borrower {:?}", trio::Borrower::unique()));
    log.push(format!("main {} at {}", trio::lowlevel::current_task().id(), trio::current_time()));
    trio::lowlevel::spawn_system_task(async {
        trio::sleep_forever().await?;
        Ok(())
    });
    let (tx, rx) = trio::open_memory_channel::<u32>(1);
    let inner_log = log.clone();
    trio::open_nursery(|nursery| async move {
        let log = inner_log;
        for i in 0..4u32 {
            let (tx, log) = (tx.clone(), log.clone());
            nursery.start_soon(async move {
                trio::sleep(secs(u64::from(i % 2))).await?;
                tx.send(i).await.map_err(|_| trio::Error::msg("receiver gone"))?;
                log.push(format!("sent {i} at {}", trio::current_time()));
                Ok(())
            });
        }
        drop(tx);
        let receiver_log = log.clone();
        nursery.start_soon(async move {
            while let Some(value) = rx.recv().await.map_err(|_| trio::Error::msg("recv failed"))? {
                receiver_log.push(format!("got {value} at {}", trio::current_time()));
                trio::checkpoint().await?;
            }
            Ok(())
        });
        let moved_on = trio::move_on_after(secs(3), async {
            trio::sleep_forever().await?;
            Ok(())
        })
        .await?;
        log.push(format!("move_on_after {moved_on:?} at {}", trio::current_time()));
        let too_slow = trio::fail_after(secs(1), async {
            trio::sleep(secs(5)).await?;
            Ok(())
        })
        .await;
        log.push(format!("fail_after {too_slow:?}"));
        let scope = CancelScope::new();
        let handle = scope.clone();
        nursery.start_soon(async move {
            trio::sleep(secs(1)).await?;
            handle.cancel();
            Ok(())
        });
        let cancelled = scope
            .run(async {
                trio::sleep_forever().await?;
                Ok(())
            })
            .await?;
        log.push(format!("scope {cancelled:?} at {}", trio::current_time()));
        let failed = trio::open_nursery(|inner| async move {
            inner.start_soon_named("doomed", async {
                trio::sleep(secs(2)).await?;
                Err::<(), _>(trio::Error::msg("boom"))
            });
            inner.start_soon_named("bystander", async {
                trio::sleep_forever().await?;
                Ok(())
            });
            Ok(())
        })
        .await;
        log.push(format!("inner nursery {failed:?}"));
        log.push(format!("borrower {:?}", trio::Borrower::unique()));
        Ok(())
    })
    .await
    .unwrap();
    log.push(format!("statistics {:?}", trio::lowlevel::current_statistics()));
    log.take()
}

/// A child panics after some work; the panic reaches the main task and the run.
async fn panics() {
    VISITS.set(1);
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async {
            trio::sleep(secs(1)).await?;
            Ok(())
        });
        nursery.start_soon(async {
            trio::sleep(secs(2)).await?;
            panic!("child gave up");
            #[allow(unreachable_code, reason = "names the task's result type")]
            Ok(())
        });
        trio::sleep_forever().await?;
        Ok(())
    })
    .await
    .unwrap();
}

/// Two tasks wait for each other's event (after a sleep), with a `RunVar` left behind.
async fn deadlocks() {
    VISITS.set(2);
    let (a, b) = (Rc::new(trio::Event::new()), Rc::new(trio::Event::new()));
    trio::open_nursery(|nursery| async move {
        let (a2, b2) = (a.clone(), b.clone());
        nursery.start_soon(async move {
            a2.wait().await?;
            b2.set();
            Ok(())
        });
        trio::sleep(secs(1)).await?;
        b.wait().await?;
        a.set();
        Ok(())
    })
    .await
    .unwrap();
}

/// Spins until the step limit stops it, with tasks blocked and runnable when it does.
async fn spins() {
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async {
            trio::sleep_forever().await?;
            Ok(())
        });
        loop {
            trio::checkpoint().await?;
        }
        #[allow(unreachable_code, reason = "names the body's result type")]
        Ok(())
    })
    .await
    .unwrap();
}

// ===== harness =====

/// The settings every compared run uses, with a recorder of its own.
fn settings(seed: u64) -> (Builder, Recorder) {
    let recorder = Recorder::default();
    let builder = Builder::new()
        .seed(seed)
        .policy(Shuffle(0))
        .clock(ManualClock::autojumping())
        .instrument(recorder.clone())
        .main_task("main", std::panic::Location::caller());
    (builder, recorder)
}

/// What a run shows: every instrument event, then its outcome.
fn observe<T: std::fmt::Debug>(
    runner: &mut Runner,
    recorder: &Recorder,
    future: impl Future<Output = T>,
) -> Vec<String> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| runner.try_run(future)));
    let mut seen = recorder.events();
    seen.push(match outcome {
        Ok(Ok(output)) => format!("output {output:?}"),
        Ok(Err(error)) => format!("error {error}"),
        Err(payload) => format!("panic {}", panic_text(payload.as_ref())),
    });
    seen
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(text), _) => text.to_string(),
        (_, Some(text)) => text.clone(),
        _ => "?".into(),
    }
}

/// One of the programs, by number, run with the given settings on `runner`.
fn run_program(runner: &mut Runner, program: u8, seed: u64) -> Vec<String> {
    let (builder, recorder) = settings(seed);
    let builder = if program == 3 { builder.max_steps(500) } else { builder };
    runner.reconfigure(builder);
    match program {
        0 => observe(runner, &recorder, everything(Log::default())),
        1 => observe(runner, &recorder, panics()),
        2 => observe(runner, &recorder, deadlocks()),
        _ => observe(runner, &recorder, spins()),
    }
}

/// The same program on a runtime that never ran anything.
fn fresh(program: u8, seed: u64) -> Vec<String> {
    let mut runner = Builder::new().build();
    run_program(&mut runner, program, seed)
}

// ===== tests =====

#[test]
fn every_program_does_what_it_is_meant_to() {
    let last = |trace: Vec<String>| trace.last().cloned().unwrap();
    assert!(last(fresh(0, 1)).starts_with("output [\"var None\""));
    assert!(last(fresh(1, 1)).contains("child gave up"));
    assert!(last(fresh(2, 1)).starts_with("error deadlock"));
    assert!(last(fresh(3, 1)).starts_with("error the run exceeded its step limit"));
}

#[test]
fn a_reused_runner_matches_a_fresh_one_after_other_runs() {
    let mut runner = Builder::new().build();
    for (program, seed) in [(0, 5), (0, 9), (3, 2), (0, 1), (2, 3), (1, 4)] {
        run_program(&mut runner, program, seed);
    }
    for seed in [1, 2, 3, 42] {
        let reused = run_program(&mut runner, 0, seed);
        assert_eq!(reused, fresh(0, seed), "seed {seed}");
    }
}

#[test]
fn a_run_after_a_panic_matches_a_fresh_one() {
    for program in 0..4 {
        let mut runner = Builder::new().build();
        let first = run_program(&mut runner, 1, 7);
        assert!(first.last().unwrap().contains("child gave up"));
        assert_eq!(run_program(&mut runner, program, 11), fresh(program, 11), "program {program}");
    }
}

#[test]
fn a_run_after_a_deadlock_matches_a_fresh_one() {
    for program in 0..4 {
        let mut runner = Builder::new().build();
        let first = run_program(&mut runner, 2, 7);
        assert!(first.last().unwrap().starts_with("error deadlock"));
        assert_eq!(run_program(&mut runner, program, 11), fresh(program, 11), "program {program}");
    }
}

#[test]
fn a_run_after_the_step_limit_matches_a_fresh_one() {
    let mut runner = Builder::new().build();
    run_program(&mut runner, 3, 7);
    assert_eq!(run_program(&mut runner, 0, 11), fresh(0, 11));
}

/// An instrument that panics in the middle of a step: the panic leaves the loop half-way, with
/// tasks, timers and the current task in place.
struct Saboteur(Cell<u32>);

impl Instrument for Saboteur {
    fn before_task_step(&self, _task: &Task) {
        let steps = self.0.get() + 1;
        self.0.set(steps);
        assert!(steps < 6, "instrument broke");
    }
}

#[test]
fn a_run_stopped_half_way_leaves_nothing_behind() {
    let mut runner = Builder::new().clock(ManualClock::autojumping()).instrument(Saboteur(Cell::new(0))).build();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| runner.run(everything(Log::default()))));
    assert_eq!(panic_text(outcome.unwrap_err().as_ref()), "instrument broke");
    assert_eq!(run_program(&mut runner, 0, 3), fresh(0, 3));
}

#[test]
fn without_reconfiguring_each_run_starts_over() {
    // The same settings for every run: the policy restarts with the seed, task ids start over,
    // `RunVar`s are unset again.
    let recorder = Recorder::default();
    let mut runner =
        Builder::new().seed(3).policy(Shuffle(0)).clock(ManualClock::new()).instrument(recorder.clone()).build();
    let run = |runner: &mut Runner| {
        runner.run(async {
            let first = VISITS.get();
            VISITS.set(1);
            let ids = trio::open_nursery(|nursery| async move {
                for _ in 0..3 {
                    nursery.start_soon(async { Ok(trio::checkpoint().await?) });
                }
                Ok(Some(nursery.child_tasks().iter().map(|t| t.id().as_u64()).collect::<Vec<_>>()))
            })
            .await
            .unwrap()
            .unwrap();
            (first, ids, trio::lowlevel::current_seed())
        })
    };
    let first = run(&mut runner);
    let events = recorder.events();
    let second = run(&mut runner);
    assert_eq!(first, (None, vec![2, 3, 4], 3));
    assert_eq!(second, first);
    let all = recorder.events();
    assert_eq!(all[events.len()..], events[..], "the second run's events repeat the first's");
}

#[test]
fn a_token_kept_from_an_earlier_run_cannot_reach_a_later_one() {
    let mut runner = Builder::new().build();
    let token = runner.run(async { trio::lowlevel::current_trio_token() });
    assert!(token.run_sync_soon(|| unreachable!("the run is over")).is_err());
    let later = runner.run(async move {
        let now = trio::lowlevel::current_trio_token();
        (now != token, token.run_sync_soon(|| unreachable!("the run is over")).is_err())
    });
    assert_eq!(later, (true, true));
}
