//! Cancellation injection models a cancellation arriving from outside, so it never cancels a
//! shielded scope — in particular not the one `Condition::wait` re-acquires its lock in. A
//! correct program explored with injection reports no failure.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use trio_testkit::explore::Explore;

/// Consumers wait on a condition with a timeout that runs out before the producer notifies,
/// so `wait` is cancelled and re-acquires the lock inside its shielded scope — where every
/// cancel point is offered to injection. Cancelled anywhere, `wait` must come back holding the
/// lock (as a condition requires), so the guard's release always succeeds.
async fn condition_program() {
    let cond = Rc::new(trio::Condition::new());
    let ready = Rc::new(Cell::new(false));
    trio::open_nursery(|nursery| async move {
        for _ in 0..2 {
            let (cond, ready) = (cond.clone(), ready.clone());
            nursery.start_soon(async move {
                trio::move_on_after(Duration::from_secs(60), async {
                    let guard = cond.lock().await?;
                    while !ready.get() {
                        let waited =
                            trio::move_on_after(Duration::from_secs(1), async { Ok(cond.wait().await?) }).await;
                        assert!(
                            cond.statistics().lock_statistics.owner == Some(trio::lowlevel::current_task()),
                            "Condition::wait returned without the lock: {waited:?}"
                        );
                        waited?;
                    }
                    drop(guard);
                    Ok(())
                })
                .await?;
                Ok(())
            });
        }
        let (cond, ready) = (cond.clone(), ready.clone());
        nursery.start_soon(async move {
            trio::sleep(Duration::from_secs(3)).await?;
            let _guard = cond.lock().await?;
            ready.set(true);
            cond.notify_all()?;
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
}

#[test]
fn a_correct_condition_program_explored_with_injection_reports_no_failure() {
    let summary = Explore::new("cancel_injection::condition")
        .schedules(12)
        .inject_cancellations(12)
        .persist(false)
        .run(condition_program);
    if let Err(failure) = summary {
        panic!("exploration with injection failed on correct code:\n{failure}");
    }
}
