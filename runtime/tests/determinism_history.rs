//! A run does not depend on the history of its process: the same program gives the same full
//! trace when it runs first in the process, after unrelated runs, and while other runs go on
//! in other threads. (One test in this binary, so "first in the process" really is first.)

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use trio::abc::SchedulePolicy;
use trio::lowlevel::{RunnableTasks, Task, TimerInfo};

use common::{ManualClock, Recorder, secs};

/// A seeded policy that records every choice it is offered, timer numbers included, and
/// injects a cancellation now and then.
struct Recording {
    state: u64,
    log: Rc<RefCell<Vec<String>>>,
}

impl Recording {
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.state >> 33
    }
}

impl SchedulePolicy for Recording {
    fn start(&mut self, seed: u64) {
        self.state = seed;
    }

    fn pick_task(&mut self, runnable: &RunnableTasks<'_>) -> usize {
        let pick = (self.next() % runnable.len() as u64) as usize;
        self.log.borrow_mut().push(format!("task pick {pick} of {}", runnable.len()));
        pick
    }

    fn pick_timer(&mut self, due: &[TimerInfo]) -> usize {
        let pick = (self.next() % due.len() as u64) as usize;
        self.log.borrow_mut().push(format!("timer pick {pick} of {due:?}"));
        pick
    }

    fn inject_cancel(&mut self, task: &Task, cancel_point: u64) -> bool {
        task.id().as_u64() == 3 && cancel_point == 4
    }
}

/// Tied deadlines and sleeps, scopes, a limiter with unique borrowers, failures and
/// cancellations whose messages are printed.
async fn program(out: Rc<RefCell<Vec<String>>>) {
    let limiter = Rc::new(trio::CapacityLimiter::new(1));
    let result = trio::open_nursery(|nursery| {
        let out = out.clone();
        async move {
            let t = trio::current_time() + secs(2);
            for i in 0..4u64 {
                let (out, limiter) = (out.clone(), limiter.clone());
                nursery.start_soon_named(format!("worker-{i}"), async move {
                    let borrower = trio::Borrower::unique();
                    out.borrow_mut().push(format!("{i} made {borrower:?}"));
                    let seen = trio::move_on_at(t, async {
                        limiter.acquire_on_behalf_of(&borrower).await?;
                        trio::sleep_until(t).await?;
                        Ok(())
                    })
                    .await;
                    out.borrow_mut().push(format!("{i}: {seen:?}"));
                    let _ = limiter.release_on_behalf_of(&borrower);
                    let scope = trio::CancelScope::new();
                    scope.cancel();
                    let cancelled = scope.run(async { Ok(trio::checkpoint().await) }).await?.unwrap().unwrap_err();
                    out.borrow_mut().push(format!("{i}: {cancelled}"));
                    Ok(())
                });
            }
            nursery.start_soon_named("failing", async {
                trio::sleep(secs(3)).await?;
                Err(trio::Error::msg("boom"))
            });
            let cancelled = trio::sleep_forever().await.unwrap_err();
            out.borrow_mut().push(format!("body: {cancelled}"));
            Ok(())
        }
    })
    .await;
    out.borrow_mut().push(format!("nursery: {result:?}"));
}

fn full_trace(seed: u64) -> Vec<String> {
    let recorder = Recorder::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let out = Rc::new(RefCell::new(Vec::new()));
    trio::Builder::new()
        .seed(seed)
        .clock(ManualClock::autojumping())
        .policy(Recording { state: 0, log: log.clone() })
        .instrument(recorder.clone())
        .run(program(out.clone()));
    let mut trace = recorder.events();
    trace.extend(log.borrow().iter().cloned());
    trace.extend(out.borrow().iter().cloned());
    trace
}

/// Unrelated work: scopes and borrowers inside and outside runs.
fn unrelated_runs() {
    let _outside: Vec<trio::CancelScope> = (0..500).map(|_| trio::CancelScope::new()).collect();
    let _tokens: Vec<trio::Borrower> = (0..500).map(|_| trio::Borrower::unique()).collect();
    for _ in 0..5 {
        trio::Builder::new().clock(ManualClock::autojumping()).run(async {
            for _ in 0..50 {
                trio::move_on_after(secs(1), async { Ok(trio::Borrower::unique()) }).await.unwrap();
            }
        });
    }
}

#[test]
fn a_run_does_not_depend_on_what_ran_before_or_beside_it() {
    let seeds = [0u64, 7, 12345];
    let first: Vec<Vec<String>> = seeds.iter().map(|&seed| full_trace(seed)).collect();
    assert!(first[0].iter().any(|line| line.contains("timer pick")), "the program ties timers");
    assert!(first[0].iter().any(|line| line.contains("Borrower(token")), "it prints borrowers");

    unrelated_runs();
    let after: Vec<Vec<String>> = seeds.iter().map(|&seed| full_trace(seed)).collect();
    for (a, b) in first.iter().zip(&after) {
        assert_eq!(a, b, "after unrelated runs in this thread");
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = std::sync::Arc::new(std::sync::Barrier::new(3));
    let others: Vec<_> = (0..2)
        .map(|_| {
            let (stop, started) = (stop.clone(), started.clone());
            std::thread::spawn(move || {
                unrelated_runs();
                started.wait();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    unrelated_runs();
                }
            })
        })
        .collect();
    started.wait(); // the other threads have made scopes and borrowers already
    let beside: Vec<Vec<String>> = seeds.iter().map(|&seed| full_trace(seed)).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for other in others {
        other.join().unwrap();
    }
    for (a, b) in first.iter().zip(&beside) {
        assert_eq!(a, b, "while other runs go on in other threads");
    }
}
