//! The testkit's helpers against Trio's `trio.testing`: `MockClock` (rate, jump, autojump),
//! `wait_all_tasks_blocked` (cushions, ties, autojump, cancellation), `assert_checkpoints` /
//! `assert_no_checkpoints`, and `Sequencer`, scenario by scenario as Trio's documentation and
//! source describe them. Where this project deviates on purpose the test says so and names the
//! entry of the deviations list in `docs/design.md`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use trio::abc::Instrument;
use trio::lowlevel::{cancel_shielded_checkpoint, checkpoint_if_cancelled};
use trio::{BrokenResource, CancelScope, Instant, RuntimeError};
use trio_testkit::{
    MockClock, Sequencer, assert_checkpoints, assert_no_checkpoints, trio_test, try_assert_checkpoints,
    try_assert_no_checkpoints, wait_all_tasks_blocked, wait_all_tasks_blocked_with_cushion,
};

type Record = Rc<RefCell<Vec<String>>>;

fn record() -> Record {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(record: &Record, entry: impl Into<String>) {
    record.borrow_mut().push(entry.into());
}

// ===== MockClock =====

/// Trio: `jump(0)` is allowed and changes nothing; time never goes backwards, whatever the
/// order of jumps and rate changes.
#[test]
fn jumps_and_rate_changes_never_move_time_backwards() {
    let real = Rc::new(Cell::new(Duration::from_secs(50)));
    let clock = MockClock::with_real_clock({
        let real = real.clone();
        move || real.get()
    });
    let mut last = clock.current_time();
    let mut check = |clock: &MockClock| {
        let now = clock.current_time();
        assert!(now >= last, "time went from {last} back to {now}");
        last = now;
    };
    clock.jump(Duration::ZERO);
    assert_eq!(clock.current_time(), Instant::ZERO);
    for (rate, real_step, jump) in [(0.3, 7, 1), (3.0, 1, 0), (0.0, 5, 2), (1e-9, 13, 0), (7.5, 3, 5), (0.0, 1, 0)] {
        clock.set_rate(rate);
        check(&clock);
        real.set(real.get() + Duration::from_nanos(real_step));
        check(&clock);
        clock.jump(Duration::from_nanos(jump));
        check(&clock);
    }
}

/// Trio: assigning `rate` during a run takes effect at once. A sleeper on a frozen clock waits
/// until the test sets a rate; then real time carries the clock to its deadline.
#[trio_test]
async fn a_rate_set_during_the_run_wakes_sleepers(mock_clock: MockClock) -> trio::Result<()> {
    let woke = Rc::new(Cell::new(None));
    trio::open_nursery(|nursery| {
        let woke = woke.clone();
        async move {
            nursery.start_soon(async move {
                trio::sleep(Duration::from_secs(5)).await?;
                woke.set(Some(trio::current_time()));
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            assert_eq!(trio::current_time(), Instant::ZERO, "a frozen clock does not move");
            mock_clock.set_rate(1e6); // a real microsecond is a virtual second
            Ok(())
        }
    })
    .await?;
    assert!(woke.get().expect("the sleeper woke") >= Instant::from_secs(5));
    Ok(())
}

/// Trio's `test_mock_clock_autojump`: a large threshold changed to zero during the run takes
/// effect for the very next wait.
#[trio_test]
async fn a_threshold_lowered_during_the_run_takes_effect_at_once(mock_clock: MockClock) -> trio::Result<()> {
    mock_clock.set_autojump_threshold(Duration::from_secs(10_000));
    wait_all_tasks_blocked().await?;
    assert_eq!(trio::current_time(), Instant::ZERO);
    mock_clock.set_autojump_threshold(Duration::ZERO);
    trio::sleep(Duration::from_secs(100_000)).await?;
    assert_eq!(trio::current_time(), Instant::from_secs(100_000));
    Ok(())
}

/// Trio: with autojump, a run whose every task sleeps jumps straight to each deadline; each
/// sleep ends exactly on time.
#[trio_test]
async fn autojump_lands_exactly_on_each_deadline(mock_clock: MockClock) -> trio::Result<()> {
    mock_clock.set_autojump_threshold(Duration::ZERO);
    let mut expected = Instant::ZERO;
    for i in 0..10 {
        trio::sleep(Duration::from_secs(10 * i)).await?;
        expected += Duration::from_secs(10 * i);
        assert_eq!(trio::current_time(), expected);
    }
    Ok(())
}

/// Trio: autojump works on a running clock too: with a threshold shorter than the real time
/// to the deadline, the clock jumps to it (and then keeps running).
#[test]
fn autojump_on_a_running_clock_jumps_to_the_deadline() {
    let clock = MockClock::new();
    clock.set_rate(1.0);
    clock.set_autojump_threshold(Duration::ZERO);
    let real_start = std::time::Instant::now();
    trio::Builder::new().clock(clock.clone()).run(async {
        trio::sleep(Duration::from_secs(3600)).await.unwrap();
        assert!(trio::current_time() >= Instant::from_secs(3600));
    });
    assert!(real_start.elapsed() < Duration::from_secs(600), "the run waited for the deadline in real time");
}

/// Trio: the threshold is real idle time, counted afresh each time the run goes idle. A
/// waiter with a 10 ms cushion wakes first (no jump yet); only after the run has then been
/// idle for the 30 ms threshold does the clock jump, so the run takes at least 40 ms of real
/// time and the waiter sees the clock unmoved.
#[test]
fn the_threshold_is_real_idle_time_counted_from_the_last_activity() {
    let clock = MockClock::new();
    clock.set_autojump_threshold(Duration::from_millis(30));
    let real_start = std::time::Instant::now();
    let record = record();
    trio::Builder::new().clock(clock.clone()).run({
        let record = record.clone();
        async move {
            trio::open_nursery(|nursery| async move {
                let r = record.clone();
                nursery.start_soon(async move {
                    trio::sleep(Duration::from_secs(100)).await?;
                    push(&r, format!("yawn at {}", trio::current_time()));
                    Ok(())
                });
                let r = record.clone();
                nursery.start_soon(async move {
                    wait_all_tasks_blocked_with_cushion(Duration::from_millis(10)).await?;
                    push(&r, format!("waiter at {}", trio::current_time()));
                    Ok(())
                });
                Ok(())
            })
            .await
            .unwrap();
        }
    });
    let elapsed = real_start.elapsed();
    assert_eq!(
        *record.borrow(),
        [format!("waiter at {}", Instant::ZERO), format!("yawn at {}", Instant::from_secs(100))]
    );
    assert!(elapsed >= Duration::from_millis(40), "the clock jumped after {elapsed:?} of real time");
}

/// Records the timeout of every wait of the run loop.
#[derive(Clone, Default)]
struct Timeouts(Rc<RefCell<Vec<Option<Duration>>>>);

impl Instrument for Timeouts {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        self.0.borrow_mut().push(timeout);
    }
}

/// Trio: while any task waits in `wait_all_tasks_blocked`, the clock does not autojump — also
/// when that waiter's cushion is longer than the real time to the next deadline (Trio's run
/// loop only considers autojump when nobody waits for idleness). Here the sleeper's deadline is
/// 10 ms of real time away and the waiter's cushion 50 ms: the run must wait for the deadline
/// to arrive by itself, never with a zero timeout.
///
/// The run loop holds autojump while *any* idle waiter exists, not only while the smallest
/// cushion is shorter than the wait for the next deadline.
#[test]
fn an_idle_waiter_with_a_long_cushion_still_holds_autojump() {
    let clock = MockClock::new();
    clock.set_rate(1000.0); // the 10 s sleep below takes 10 ms of real time
    clock.set_autojump_threshold(Duration::ZERO);
    let timeouts = Timeouts::default();
    let record = record();
    trio::Builder::new().clock(clock.clone()).instrument(timeouts.clone()).run({
        let record = record.clone();
        async move {
            trio::open_nursery(|nursery| async move {
                let r = record.clone();
                nursery.start_soon(async move {
                    trio::sleep(Duration::from_secs(10)).await?;
                    push(&r, "yawn");
                    Ok(())
                });
                let r = record.clone();
                nursery.start_soon(async move {
                    wait_all_tasks_blocked_with_cushion(Duration::from_millis(50)).await?;
                    push(&r, "waiter done");
                    Ok(())
                });
                Ok(())
            })
            .await
            .unwrap();
        }
    });
    assert_eq!(*record.borrow(), ["yawn", "waiter done"]);
    // The loop's first idle wait decides: it waits for the deadline (about 10 ms), not zero.
    let first = timeouts.0.borrow().first().copied().flatten().expect("the loop waited");
    assert!(first > Duration::ZERO, "the loop primed an autojump while a task waited for idleness: {:?}", timeouts.0);
}

// ===== wait_all_tasks_blocked =====

/// Trio: waiters with the same cushion are all woken together; here the tie is broken by the
/// order in which they started waiting, so plain `trio::run` (FIFO batches) runs them in that
/// order, after the busy task has finished.
#[test]
fn equal_cushions_wake_together_in_arrival_order() {
    let record = record();
    trio::run({
        let record = record.clone();
        async move {
            trio::open_nursery(|nursery| async move {
                let r = record.clone();
                nursery.start_soon(async move {
                    for _ in 0..5 {
                        trio::checkpoint().await?;
                    }
                    push(&r, "busy done");
                    Ok(())
                });
                for name in ["a", "b", "c"] {
                    let r = record.clone();
                    nursery.start_soon(async move {
                        wait_all_tasks_blocked().await?;
                        push(&r, name);
                        Ok(())
                    });
                }
                Ok(())
            })
            .await
            .unwrap();
        }
    });
    assert_eq!(*record.borrow(), ["busy done", "a", "b", "c"]);
}

/// Trio: only the waiters with the smallest cushion wake; the next ones' cushion counts again
/// from the moment the run goes idle after the woken ones have run. The zero-cushion waiter
/// keeps the run busy for a while after it wakes, and the 1 ms waiter only wakes after that.
#[trio_test]
async fn waking_the_smallest_cushion_restarts_the_others() -> trio::Result<()> {
    let record = record();
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            let r = record.clone();
            nursery.start_soon(async move {
                wait_all_tasks_blocked_with_cushion(Duration::from_millis(1)).await?;
                push(&r, "cushion 1 ms");
                Ok(())
            });
            let r = record.clone();
            nursery.start_soon(async move {
                wait_all_tasks_blocked().await?;
                push(&r, "cushion 0");
                for i in 0..3 {
                    trio::checkpoint().await?;
                    push(&r, format!("busy {i}"));
                }
                Ok(())
            });
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), ["cushion 0", "busy 0", "busy 1", "busy 2", "cushion 1 ms"]);
    Ok(())
}

/// Trio: a task in `wait_all_tasks_blocked` counts as blocked for the other waiters, so two
/// waiters with different cushions do not wait for each other forever.
#[trio_test]
async fn waiters_count_each_other_as_blocked() -> trio::Result<()> {
    let record = record();
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            for (name, cushion) in [("big", 2), ("small", 1)] {
                let r = record.clone();
                nursery.start_soon(async move {
                    wait_all_tasks_blocked_with_cushion(Duration::from_millis(cushion)).await?;
                    push(&r, name);
                    Ok(())
                });
            }
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), ["small", "big"]);
    Ok(())
}

/// Trio: waiting in an already cancelled scope fails with `Cancelled` at once, and a cancelled
/// waiter no longer counts: a waiter with a longer cushion is not held back by it.
#[trio_test]
async fn a_cancelled_waiter_fails_and_is_forgotten() -> trio::Result<()> {
    let scope = CancelScope::new();
    scope.cancel();
    let outcome = scope.run(async { Ok(wait_all_tasks_blocked().await) }).await?;
    assert!(outcome.expect("the body returned").is_err(), "waiting in a cancelled scope must fail");

    let record = record();
    trio::open_nursery(|nursery| {
        let record = record.clone();
        async move {
            let scope = CancelScope::new();
            let r = record.clone();
            let inner = scope.clone();
            nursery.start_soon(async move {
                let outcome = inner.run(async { Ok(wait_all_tasks_blocked().await) }).await?;
                let waited = outcome.expect("the body returned");
                push(&r, format!("small cancelled: {}", waited.is_err()));
                Ok(())
            });
            trio::checkpoint().await?; // the small waiter is now waiting
            scope.cancel();
            wait_all_tasks_blocked_with_cushion(Duration::from_millis(1)).await?;
            push(&record, "big woke");
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), ["small cancelled: true", "big woke"]);
    Ok(())
}

// Trio's `test_wait_all_tasks_blocked_with_timeouts` (a jump releases sleepers before the next
// idle wake) is `idle_wait_all_tasks_blocked.rs::sees_sleepers_released_by_a_jump`.

// ===== assert_checkpoints / assert_no_checkpoints =====

/// Trio: `checkpoint_if_cancelled` in a cancelled scope is a full checkpoint (a schedule point
/// and a cancel point), and `cancel_shielded_checkpoint` stays a schedule point only, even
/// there.
#[trio_test]
async fn partial_checkpoints_in_a_cancelled_scope() -> trio::Result<()> {
    let scope = CancelScope::new();
    scope.cancel();
    scope
        .run(async {
            let error = try_assert_no_checkpoints(checkpoint_if_cancelled()).await.unwrap_err();
            assert!(error.cancel_points() >= 1 && error.schedule_points() >= 1, "{error}");
            let error = try_assert_no_checkpoints(cancel_shielded_checkpoint()).await.unwrap_err();
            assert_eq!((error.cancel_points(), error.schedule_points()), (0, 1));
            let error = try_assert_checkpoints(async {
                cancel_shielded_checkpoint().await;
                Ok::<_, trio::Error>(())
            })
            .await
            .unwrap_err();
            assert_eq!((error.cancel_points(), error.schedule_points()), (0, 1));
            Ok(())
        })
        .await?;
    Ok(())
}

/// Trio: a wait that blocks and is woken by another task is a checkpoint; a sleep that the
/// clock ends is one too.
#[trio_test(autojump)]
async fn blocking_waits_are_checkpoints() -> trio::Result<()> {
    assert_checkpoints(trio::sleep(Duration::from_secs(1))).await?;
    assert_checkpoints(trio::sleep(Duration::ZERO)).await?;
    let seq = Sequencer::new();
    trio::open_nursery(|nursery| {
        let seq = seq.clone();
        async move {
            let waiter = seq.clone();
            nursery.start_soon(async move {
                drop(assert_checkpoints(waiter.block(1)).await?);
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            drop(seq.block(0).await?);
            Ok(())
        }
    })
    .await?;
    Ok(())
}

/// Trio's `assert_no_checkpoints` checks in a `finally`: a body that fails after yielding is
/// caught too, while `assert_checkpoints` lets a failed body through unchecked.
#[trio_test]
async fn failure_exempts_only_assert_checkpoints() {
    let yields_then_fails = || async {
        trio::checkpoint().await?;
        Err::<(), _>(trio::Error::msg("failed"))
    };
    assert!(try_assert_no_checkpoints(yields_then_fails()).await.is_err());
    let fails_at_once = async { Err::<(), _>(trio::Error::msg("failed")) };
    assert!(try_assert_checkpoints(fails_at_once).await.expect("a failed body is exempt").is_err());
    assert_no_checkpoints(async {}).await;
}

// ===== Sequencer =====

// Trio's `test_Sequencer` (blocks over several tasks run in number order) is
// `sequencer.rs::blocks_run_in_number_order`.

/// Trio: a block ends however it ends — also when the code inside it fails — and then the next
/// one can start (`finally`).
#[trio_test]
async fn a_block_that_fails_still_lets_the_next_one_run() -> trio::Result<()> {
    let seq = Sequencer::new();
    let failed: trio::Result<()> = async {
        let _block = seq.block(0).await?;
        Err(trio::Error::msg("failed inside block 0"))
    }
    .await;
    assert!(failed.is_err());
    assert_eq!(seq.block(1).await?.position(), 1);
    Ok(())
}

/// Trio checks for reuse before it checks for breakage: reusing a number of a broken sequencer
/// is a `RuntimeError`, a fresh number a broken-sequencer error.
#[trio_test]
async fn reuse_is_reported_before_breakage() -> trio::Result<()> {
    let seq = Sequencer::new();
    drop(seq.block(0).await?);
    let scope = CancelScope::new();
    scope.cancel();
    let outcome = scope.run(async { Ok(seq.block(2).await.map(drop)) }).await?;
    assert!(outcome.expect("the body returned").unwrap_err().is::<BrokenResource>());
    assert!(seq.is_broken());
    assert!(seq.block(0).await.unwrap_err().is::<RuntimeError>());
    assert!(seq.block(2).await.unwrap_err().is::<RuntimeError>());
    assert!(seq.block(1).await.unwrap_err().is::<BrokenResource>());
    Ok(())
}

/// Trio: a block whose predecessor already finished still checkpoints (an `Event.wait` on a set
/// event), and cancelling it there breaks the sequencer, since that block never runs.
#[trio_test]
async fn cancelled_at_a_released_number_breaks_it() -> trio::Result<()> {
    let seq = Sequencer::new();
    drop(seq.block(0).await?);
    let scope = CancelScope::new();
    scope.cancel();
    let outcome = scope.run(async { Ok(seq.block(1).await.map(drop)) }).await?;
    let error = outcome.expect("the body returned").unwrap_err();
    assert!(error.is::<BrokenResource>(), "{error:?}");
    assert!(seq.is_broken());
    assert!(seq.block(2).await.unwrap_err().is::<BrokenResource>());
    Ok(())
}

/// A task holding a block when the sequencer breaks keeps it; ending it still lets a waiter
/// that arrived before the breakage see the breakage, not run.
#[trio_test]
async fn breakage_does_not_disturb_a_running_block() -> trio::Result<()> {
    let seq = Sequencer::new();
    let record = record();
    trio::open_nursery(|nursery| {
        let (seq, record) = (seq.clone(), record.clone());
        async move {
            let holding = seq.block(0).await?;
            let (s, r) = (seq.clone(), record.clone());
            nursery.start_soon(async move {
                let waited = s.block(1).await;
                push(&r, format!("1 broken: {}", waited.unwrap_err().is::<BrokenResource>()));
                Ok(())
            });
            let scope = CancelScope::new();
            scope.cancel();
            let (s, r) = (seq.clone(), record.clone());
            nursery.start_soon(async move {
                let outcome = scope.run(async { Ok(s.block(2).await.map(drop)) }).await?;
                push(&r, format!("2 broken: {}", outcome.expect("returned").unwrap_err().is::<BrokenResource>()));
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            push(&record, "0 still running");
            drop(holding);
            Ok(())
        }
    })
    .await?;
    assert_eq!(*record.borrow(), ["2 broken: true", "1 broken: true", "0 still running"]);
    Ok(())
}

/// Deliberately unlike Trio (deviations list): block 0 checkpoints too, so entering it in a
/// cancelled scope breaks the sequencer instead of running the block.
#[trio_test]
async fn block_zero_in_a_cancelled_scope_breaks_it() -> trio::Result<()> {
    let seq = Sequencer::new();
    let scope = CancelScope::new();
    scope.cancel();
    let outcome = scope.run(async { Ok(seq.block(0).await.map(drop)) }).await?;
    let error = outcome.expect("the body returned").unwrap_err();
    assert!(error.is::<BrokenResource>(), "{error:?}");
    assert!(seq.is_broken());
    Ok(())
}

/// Deliberately unlike Trio (deviations list): an infinite rate is refused, like a negative one.
#[test]
#[should_panic(expected = "MockClock rate must be >= 0 and finite")]
fn an_infinite_rate_is_refused() {
    MockClock::new().set_rate(f64::INFINITY);
}

/// Deliberately unlike Trio (deviations list): a body that panics is not checked by
/// `assert_no_checkpoints`; its own panic comes through, not an assertion about checkpoints.
#[trio_test]
#[should_panic(expected = "the body's own panic")]
async fn assert_no_checkpoints_lets_a_panic_through() {
    let panics = true;
    assert_no_checkpoints(async {
        let _ = trio::checkpoint().await;
        assert!(!panics, "the body's own panic");
    })
    .await;
}
