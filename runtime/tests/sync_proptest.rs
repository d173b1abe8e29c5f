//! Property tests: random programs of acquires (blocking, non-blocking, guarded, timed out,
//! cancelled), releases and resizes across several tasks and random schedules, checked
//! against the token counts of a model — for `Semaphore` and `CapacityLimiter`.

mod sync_util;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use sync_util::{AutojumpClock, in_cancelled_scope};
use trio::abc::SchedulePolicy;
use trio::lowlevel::RunnableTasks;
use trio::{Borrower, CapacityLimiter, Semaphore, move_on_after, open_nursery};

/// Picks any runnable task at random (xorshift seeded by the program).
struct RandomPolicy(u64);

impl SchedulePolicy for RandomPolicy {
    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % runnable.len() as u64) as usize
    }
}

fn run_with<F: std::future::Future>(seed: u64, future: F) -> F::Output {
    trio::Builder::new().clock(AutojumpClock::default()).policy(RandomPolicy(seed | 1)).run(future)
}

fn half_seconds(n: u8) -> Duration {
    Duration::from_millis(u64::from(n) * 500)
}

// ===== Semaphore =====

#[derive(Debug, Clone)]
enum SemOp {
    /// `acquire` with a timeout; the unit is kept until a `Release`.
    Acquire(u8),
    TryAcquire,
    /// `acquire_permit` with a timeout, held for a while, then dropped.
    Permit(u8, u8),
    CancelledAcquire,
    /// Releases a unit this task holds, or (if it holds none) releases one anyway.
    Release,
    Sleep(u8),
}

fn sem_op() -> impl Strategy<Value = SemOp> {
    prop_oneof![
        4 => (1..4u8).prop_map(SemOp::Acquire),
        2 => Just(SemOp::TryAcquire),
        3 => (1..4u8, 0..3u8).prop_map(|(t, h)| SemOp::Permit(t, h)),
        1 => Just(SemOp::CancelledAcquire),
        4 => Just(SemOp::Release),
        1 => (0..3u8).prop_map(SemOp::Sleep),
    ]
}

/// What the tasks know: units they hold, and how many units exist in total.
#[derive(Debug, Default)]
struct SemModel {
    /// Units held by tasks (acquired and not yet released).
    held: usize,
    /// Tasks inside an acquire: a unit may have been handed to them already.
    acquiring: usize,
    /// `initial + releases that added a unit - releases refused at max_value`.
    units: usize,
    max_value: Option<usize>,
}

impl SemModel {
    fn check(&self, sem: &Semaphore) {
        let stats = sem.statistics();
        let accounted = stats.value + self.held;
        assert!(accounted <= self.units, "more units than exist: {stats:?} {self:?}");
        assert!(accounted + self.acquiring >= self.units, "a unit was lost: {stats:?} {self:?}");
        assert!(stats.tasks_waiting <= self.acquiring, "{stats:?} {self:?}");
        if stats.tasks_waiting > 0 {
            assert_eq!(stats.value, 0, "a task waits while units are free: {stats:?}");
        }
        if let Some(max) = self.max_value {
            assert!(stats.value <= max, "{stats:?}");
        }
    }
}

async fn sem_task(ops: Vec<SemOp>, sem: Rc<Semaphore>, model: Rc<RefCell<SemModel>>) -> trio::Result<()> {
    let mut mine = 0;
    for op in ops {
        match op {
            SemOp::Acquire(timeout) => {
                model.borrow_mut().acquiring += 1;
                let mut result = None;
                move_on_after(half_seconds(timeout), async {
                    result = Some(sem.acquire().await);
                    Ok(())
                })
                .await?;
                let mut m = model.borrow_mut();
                m.acquiring -= 1;
                if result.expect("acquire returns when cancelled").is_ok() {
                    m.held += 1;
                    mine += 1;
                }
            }
            SemOp::TryAcquire => {
                let value = sem.value();
                match sem.try_acquire() {
                    Ok(()) => {
                        model.borrow_mut().held += 1;
                        mine += 1;
                    }
                    Err(_) => assert_eq!(value, 0, "try_acquire failed with units free"),
                }
            }
            SemOp::Permit(timeout, hold) => {
                model.borrow_mut().acquiring += 1;
                let mut permit = None;
                move_on_after(half_seconds(timeout), async {
                    permit = sem.acquire_permit().await.ok();
                    Ok(())
                })
                .await?;
                model.borrow_mut().acquiring -= 1;
                if let Some(permit) = permit {
                    model.borrow_mut().held += 1;
                    model.borrow().check(&sem);
                    trio::sleep(half_seconds(hold)).await?;
                    let refused = refuses_release(&sem);
                    let mut m = model.borrow_mut();
                    m.held -= 1;
                    if refused {
                        m.units -= 1; // others released too much: the permit's unit is refused
                    }
                    drop(m);
                    drop(permit);
                }
            }
            SemOp::CancelledAcquire => {
                assert!(in_cancelled_scope(sem.acquire()).await.is_err());
            }
            SemOp::Release => {
                let refused = refuses_release(&sem);
                let result = sem.release();
                assert_eq!(result.is_err(), refused, "release: {result:?}");
                let mut m = model.borrow_mut();
                if mine > 0 {
                    mine -= 1;
                    m.held -= 1;
                    if refused {
                        m.units -= 1;
                    }
                } else if !refused {
                    m.units += 1;
                }
            }
            SemOp::Sleep(n) => trio::sleep(half_seconds(n)).await?,
        }
        model.borrow().check(&sem);
    }
    Ok(())
}

/// `true` if a release now would be refused: nobody waits and the value is at `max_value`.
fn refuses_release(sem: &Semaphore) -> bool {
    sem.statistics().tasks_waiting == 0 && sem.max_value() == Some(sem.value())
}

#[derive(Debug, Clone)]
struct SemProgram {
    initial: usize,
    max_extra: Option<usize>,
    tasks: Vec<Vec<SemOp>>,
    seed: u64,
}

fn sem_program() -> impl Strategy<Value = SemProgram> {
    (
        0..3usize,
        prop::option::of(0..3usize),
        prop::collection::vec(prop::collection::vec(sem_op(), 0..12), 1..5),
        any::<u64>(),
    )
        .prop_map(|(initial, max_extra, tasks, seed)| SemProgram { initial, max_extra, tasks, seed })
}

fn run_sem_program(program: SemProgram) {
    run_with(program.seed, async move {
        let sem = Rc::new(match program.max_extra {
            Some(extra) => Semaphore::with_max_value(program.initial, program.initial + extra),
            None => Semaphore::new(program.initial),
        });
        let model = Rc::new(RefCell::new(SemModel {
            units: program.initial,
            max_value: sem.max_value(),
            ..SemModel::default()
        }));
        let (sem2, model2) = (sem.clone(), model.clone());
        open_nursery(|nursery| async move {
            for ops in program.tasks {
                nursery.start_soon(sem_task(ops, sem2.clone(), model2.clone()));
            }
            Ok(())
        })
        .await
        .unwrap();
        let model = model.borrow();
        assert_eq!(model.acquiring, 0);
        assert_eq!(sem.statistics().tasks_waiting, 0);
        assert_eq!(sem.value() + model.held, model.units, "units at rest: {model:?}");
    });
}

// ===== CapacityLimiter =====

#[derive(Debug, Clone)]
enum LimOp {
    /// `acquire` for this task, with a timeout; kept until `ReleaseMine`.
    Acquire(u8),
    /// `acquire_on_behalf_of` one of four shared borrowers, with a timeout.
    AcquireFor(usize, u8),
    TryAcquire,
    TryAcquireFor(usize),
    /// `acquire_token` with a timeout, held for a while, then dropped.
    Token(u8, u8),
    CancelledAcquire,
    ReleaseMine,
    ReleaseFor(usize),
    SetTotal(usize),
    Sleep(u8),
}

fn lim_op() -> impl Strategy<Value = LimOp> {
    prop_oneof![
        3 => (1..4u8).prop_map(LimOp::Acquire),
        3 => (0..4usize, 1..4u8).prop_map(|(b, t)| LimOp::AcquireFor(b, t)),
        1 => Just(LimOp::TryAcquire),
        1 => (0..4usize).prop_map(LimOp::TryAcquireFor),
        2 => (1..4u8, 0..3u8).prop_map(|(t, h)| LimOp::Token(t, h)),
        1 => Just(LimOp::CancelledAcquire),
        2 => Just(LimOp::ReleaseMine),
        3 => (0..4usize).prop_map(LimOp::ReleaseFor),
        1 => (1..5usize).prop_map(LimOp::SetTotal),
        1 => (0..3u8).prop_map(LimOp::Sleep),
    ]
}

#[derive(Debug, Default)]
struct LimModel {
    /// Borrowers the tasks know hold a token.
    holders: BTreeSet<Borrower>,
    /// Borrowers with an acquire in progress (they may already hold a token).
    acquiring: Vec<Borrower>,
    /// Tokens released on behalf of a borrower whose acquire had not returned yet.
    revoked: Vec<Borrower>,
    /// The largest total ever set: a shrink lets holders finish.
    max_total: usize,
}

impl LimModel {
    /// An acquire for `borrower` returned `Ok`.
    fn acquired(&mut self, borrower: Borrower) {
        if let Some(i) = self.revoked.iter().position(|b| *b == borrower) {
            self.revoked.remove(i);
        } else {
            assert!(self.holders.insert(borrower), "acquired a token twice");
        }
    }
}

impl LimModel {
    fn check(&self, limiter: &CapacityLimiter) {
        let stats = limiter.statistics();
        let actual: BTreeSet<Borrower> = stats.borrowers.iter().cloned().collect();
        assert_eq!(actual.len(), stats.borrowers.len(), "a borrower holds two tokens: {stats:?}");
        assert_eq!(stats.borrowed_tokens, stats.borrowers.len());
        assert!(actual.is_superset(&self.holders), "a held token vanished: {stats:?} {self:?}");
        for extra in actual.difference(&self.holders) {
            assert!(self.acquiring.contains(extra), "{extra:?} holds a token nobody acquired: {stats:?}");
        }
        assert!(stats.borrowed_tokens <= self.max_total, "{stats:?} {self:?}");
        assert!(stats.tasks_waiting <= self.acquiring.len(), "{stats:?}");
        if stats.tasks_waiting > 0 {
            assert!(
                stats.borrowed_tokens >= stats.total_tokens.limit(),
                "a task waits while tokens are free: {stats:?}"
            );
        }
    }
}

async fn lim_task(
    ops: Vec<LimOp>,
    shared: Rc<Vec<Borrower>>,
    limiter: Rc<CapacityLimiter>,
    model: Rc<RefCell<LimModel>>,
) -> trio::Result<()> {
    let me = Borrower::current_task();
    for op in ops {
        match op {
            LimOp::Acquire(timeout) | LimOp::AcquireFor(_, timeout) => {
                let borrower = match op {
                    LimOp::AcquireFor(b, _) => shared[b].clone(),
                    _ => me.clone(),
                };
                model.borrow_mut().acquiring.push(borrower.clone());
                let mut result = None;
                move_on_after(half_seconds(timeout), async {
                    result = Some(limiter.acquire_on_behalf_of(&borrower).await);
                    Ok(())
                })
                .await?;
                let mut m = model.borrow_mut();
                let i = m.acquiring.iter().position(|b| *b == borrower).unwrap();
                m.acquiring.remove(i);
                match result.expect("acquire returns when cancelled") {
                    Ok(()) => m.acquired(borrower),
                    Err(e) => assert!(e.is_misuse() || e.is_cancelled(), "{e}"),
                }
            }
            LimOp::TryAcquire | LimOp::TryAcquireFor(_) => {
                let borrower = match op {
                    LimOp::TryAcquireFor(b) => shared[b].clone(),
                    _ => me.clone(),
                };
                let before = limiter.statistics();
                match limiter.try_acquire_on_behalf_of(&borrower) {
                    Ok(()) => {
                        assert!(before.borrowed_tokens < before.total_tokens.limit());
                        assert!(model.borrow_mut().holders.insert(borrower));
                    }
                    Err(e) if e.is_misuse() => assert!(before.borrowers.contains(&borrower)),
                    Err(e) => {
                        assert!(e.is_would_block());
                        assert!(before.borrowed_tokens >= before.total_tokens.limit() || before.tasks_waiting > 0);
                    }
                }
            }
            LimOp::Token(timeout, hold) => {
                model.borrow_mut().acquiring.push(me.clone());
                let mut token = None;
                move_on_after(half_seconds(timeout), async {
                    token = Some(limiter.acquire_token().await);
                    Ok(())
                })
                .await?;
                {
                    let mut m = model.borrow_mut();
                    let i = m.acquiring.iter().position(|b| *b == me).unwrap();
                    m.acquiring.remove(i);
                }
                if let Some(Ok(token)) = token {
                    model.borrow_mut().acquired(me.clone());
                    model.borrow().check(&limiter);
                    trio::sleep(half_seconds(hold)).await?;
                    model.borrow_mut().holders.remove(&me);
                    drop(token);
                }
            }
            LimOp::CancelledAcquire => {
                assert!(in_cancelled_scope(limiter.acquire()).await.unwrap_err().is_cancelled());
            }
            LimOp::ReleaseMine | LimOp::ReleaseFor(_) => {
                let borrower = match op {
                    LimOp::ReleaseFor(b) => shared[b].clone(),
                    _ => me.clone(),
                };
                let holds = limiter.statistics().borrowers.contains(&borrower);
                let result = limiter.release_on_behalf_of(&borrower);
                assert_eq!(result.is_ok(), holds, "release of {borrower:?}: {result:?}");
                let mut m = model.borrow_mut();
                if holds && !m.holders.remove(&borrower) {
                    assert!(m.acquiring.contains(&borrower), "released a token nobody acquired");
                    m.revoked.push(borrower);
                }
            }
            LimOp::SetTotal(total) => {
                limiter.set_total_tokens(total);
                let mut m = model.borrow_mut();
                m.max_total = m.max_total.max(total);
            }
            LimOp::Sleep(n) => trio::sleep(half_seconds(n)).await?,
        }
        model.borrow().check(&limiter);
    }
    // Give back what this task borrowed for itself, so the run can end cleanly.
    if model.borrow_mut().holders.remove(&me) {
        limiter.release()?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct LimProgram {
    total: usize,
    tasks: Vec<Vec<LimOp>>,
    seed: u64,
}

fn lim_program() -> impl Strategy<Value = LimProgram> {
    (1..4usize, prop::collection::vec(prop::collection::vec(lim_op(), 0..12), 1..5), any::<u64>())
        .prop_map(|(total, tasks, seed)| LimProgram { total, tasks, seed })
}

fn run_lim_program(program: LimProgram) {
    run_with(program.seed, async move {
        let limiter = Rc::new(CapacityLimiter::new(program.total));
        let shared: Rc<Vec<Borrower>> = Rc::new((0..4).map(|_| Borrower::unique()).collect());
        let model = Rc::new(RefCell::new(LimModel { max_total: program.total, ..LimModel::default() }));
        let (limiter2, model2, shared2) = (limiter.clone(), model.clone(), shared.clone());
        open_nursery(|nursery| async move {
            for ops in program.tasks {
                nursery.start_soon(lim_task(ops, shared2.clone(), limiter2.clone(), model2.clone()));
            }
            Ok(())
        })
        .await
        .unwrap();
        let model = model.borrow();
        assert!(model.acquiring.is_empty());
        let stats = limiter.statistics();
        assert_eq!(stats.tasks_waiting, 0);
        let actual: BTreeSet<Borrower> = stats.borrowers.into_iter().collect();
        assert_eq!(actual, model.holders, "tokens at rest");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_semaphore_programs_keep_the_unit_count(program in sem_program()) {
        run_sem_program(program);
    }

    #[test]
    fn random_limiter_programs_keep_the_token_count(program in lim_program()) {
        run_lim_program(program);
    }
}
