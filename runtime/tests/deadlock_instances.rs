//! Deadlock reports name the instance a task waits on — where the event, lock, channel or lot
//! was created — not only the kind of wait, so two blocked events read differently.

mod common;

use std::rc::Rc;

use common::ManualClock;
use trio::{Builder, RunErrorKind};

fn deadlock_report<F: std::future::Future>(future: F) -> String {
    let err = Builder::new().clock(ManualClock::autojumping()).try_run(future).err().expect("the run deadlocks");
    assert_eq!(err.kind(), RunErrorKind::Deadlock, "{err}");
    err.to_string()
}

/// The line of the first line of this file that contains `text`.
fn line_of(text: &str) -> usize {
    1 + include_str!("deadlock_instances.rs").lines().position(|l| l.contains(text)).expect("the text is in this file")
}

#[test]
fn two_events_are_told_apart_by_where_they_were_created() {
    let report = deadlock_report(async {
        let first = Rc::new(trio::Event::new()); // the first event
        let second = Rc::new(trio::Event::default()); // the second event
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("waits-first", async move { Ok(first.wait().await?) });
            nursery.start_soon_named("waits-second", async move { Ok(second.wait().await?) });
            Ok(())
        })
        .await
        .unwrap();
    });
    let file = "runtime/tests/deadlock_instances.rs";
    let at = |marker: &str| {
        let line = include_str!("deadlock_instances.rs").lines().nth(line_of(marker) - 1).unwrap();
        format!("{file}:{}:{}", line_of(marker), 1 + line.find("trio::Event").unwrap())
    };
    let first = format!("Event::wait on the Event created at {}", at("// the first event"));
    let second = format!("Event::wait on the Event created at {}", at("// the second event"));
    let line_with = |task: &str| report.lines().find(|l| l.contains(task)).expect("the task is listed");
    assert!(line_with("`waits-first`").ends_with(&first), "{report}");
    assert!(line_with("`waits-second`").ends_with(&second), "{report}");
    assert_ne!(first, second);
}

#[test]
fn every_primitive_names_where_it_was_created() {
    let report = deadlock_report(async {
        let lock = Rc::new(trio::Lock::new()); // the lock
        let semaphore = Rc::new(trio::Semaphore::new(0)); // the semaphore
        let condition = Rc::new(trio::Condition::new()); // the condition
        let limiter = Rc::new(trio::CapacityLimiter::new(1)); // the limiter
        let (tx, _rx_kept) = trio::open_memory_channel::<u8>(0); // the channel
        let (_tx_kept, rx) = trio::open_memory_channel::<u8>(0); // the second channel
        let lot = Rc::new(trio::lowlevel::ParkingLot::new()); // the lot
        lock.acquire().await.unwrap();
        limiter.acquire().await.unwrap();
        trio::open_nursery(|nursery| async move {
            let l = lock.clone();
            nursery.start_soon_named("locker", async move { Ok(l.acquire().await?) });
            nursery.start_soon_named("sem", async move { Ok(semaphore.acquire().await?) });
            nursery.start_soon_named("cond", async move {
                let _guard = condition.lock().await?;
                Ok(condition.wait().await?)
            });
            nursery.start_soon_named("limited", async move { Ok(limiter.acquire().await?) });
            nursery.start_soon_named("sender", async move {
                tx.send(1).await.map_err(|e| e.into_error())?;
                Ok(())
            });
            nursery.start_soon_named("receiver", async move { Ok(rx.recv().await.map(drop)?) });
            nursery.start_soon_named("parker", async move { Ok(lot.park().await?) });
            Ok(())
        })
        .await
        .unwrap();
    });
    let file = "runtime/tests/deadlock_instances.rs";
    for (wait, kind, marker) in [
        ("Lock::acquire", "Lock", "// the lock"),
        ("Semaphore::acquire", "Semaphore", "// the semaphore"),
        ("Condition::wait", "Condition", "// the condition"),
        ("CapacityLimiter::acquire", "CapacityLimiter", "// the limiter"),
        ("MemorySender::send", "memory channel", "// the channel"),
        ("MemoryReceiver::recv", "memory channel", "// the second channel"),
        ("ParkingLot::park", "ParkingLot", "// the lot"),
    ] {
        let expected = format!("{wait} on the {kind} created at {file}:{}:", line_of(marker));
        assert!(report.contains(&expected), "no `{expected}` in\n{report}");
    }
    // A lock held by someone says both where it was made and who holds it.
    assert!(report.contains(&format!("created at {file}:{}:", line_of("// the lock"))), "{report}");
    assert!(report.contains("(held by task 1 "), "{report}");
}
