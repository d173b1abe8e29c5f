//! A trace says where each step resumes: the caller's line of the trio call at which the task
//! last yielded (a checkpoint, a sleep, an event, a lock, a channel), and tasks that share a name
//! are numbered.

use std::rc::Rc;
use std::time::Duration;

use trio_testkit::explore::trace::{Event, Trace};
use trio_testkit::explore::{Explore, PolicyKind};

const FILE: &str = "testkit/tests/explore_trace_sites.rs";

/// `at FILE:line` for the first line of this file containing `marker`.
fn at(marker: &str) -> String {
    let line = 1 + include_str!("explore_trace_sites.rs").lines().position(|l| l.contains(marker)).unwrap();
    format!("at {FILE}:{line}")
}

async fn two_workers() {
    let event = Rc::new(trio::Event::new());
    let lock = Rc::new(trio::Lock::new());
    let (tx, rx) = trio::open_memory_channel::<u32>(0);
    trio::open_nursery(|nursery| async move {
        for i in 0..2 {
            let (event, lock, tx) = (event.clone(), lock.clone(), tx.try_clone().unwrap());
            nursery.start_soon_named("worker", async move {
                trio::checkpoint().await?; // site: checkpoint
                trio::sleep(Duration::from_secs(1)).await?; // site: sleep
                event.wait().await?; // site: event
                let _guard = lock.lock().await?; // site: lock
                tx.send(i).await.map_err(|e| e.into_error())?; // site: send
                Ok(())
            });
        }
        drop(tx);
        trio::sleep(Duration::from_secs(2)).await?;
        event.set();
        while let Some(_value) = rx.recv().await? {} // site: recv
        Ok(())
    })
    .await
    .unwrap();
    panic!("show the trace");
}

fn trace() -> Trace {
    Explore::new("explore_trace_sites::two_workers")
        .schedules(1)
        .policy(PolicyKind::Fifo)
        .persist(false)
        .shrink(false)
        .run(two_workers)
        .unwrap_err()
        .trace
}

#[test]
fn each_step_names_the_line_where_the_task_yielded() {
    let trace = trace();
    let text = trace.to_string();
    for worker in ["worker#1", "worker#2"] {
        let steps: Vec<&str> = text.lines().filter(|l| l.contains("step") && l.contains(worker)).collect();
        assert!(steps[0].ends_with("(start)"), "{text}");
        for site in ["checkpoint", "sleep", "event", "lock", "send"] {
            let place = format!("({})", at(&format!("// site: {site}")));
            assert!(steps.iter().any(|s| s.ends_with(&place)), "no step of {worker} {place} in\n{text}");
        }
    }
    let main: Vec<&str> = text.lines().filter(|l| l.contains("step") && l.contains("two_workers")).collect();
    for site in ["recv", "sleep(Duration::from_secs(2))"] {
        let marker = if site == "recv" { "// site: recv".to_string() } else { site.to_string() };
        let place = format!("({})", at(&marker));
        assert!(main.iter().any(|s| s.ends_with(&place)), "no main step {place} in\n{text}");
    }
    // The story of the schedule prints the same places.
    assert!(trace.describe_steps(1000).contains(&format!("`worker#2` ({})", at("// site: lock"))), "{text}");
}

#[test]
fn the_recorded_step_carries_the_location() {
    let trace = trace();
    let sleep_line =
        1 + include_str!("explore_trace_sites.rs").lines().position(|l| l.contains("// site: sleep")).unwrap();
    let found = trace.events().iter().any(
        |e| matches!(e, Event::Step { at: Some(at), .. } if at.file() == FILE && at.line() as usize == sleep_line),
    );
    assert!(found, "{trace}");
}

async fn waits_for_a_child() {
    #[rustfmt::skip]
    trio::open_nursery(|nursery| async move { // site: nursery
        nursery.start_soon(async { Ok(trio::sleep(Duration::from_secs(1)).await?) });
        Ok(())
    })
    .await
    .unwrap();
    panic!("show the trace");
}

#[test]
fn a_nursery_waiting_for_its_children_resumes_at_the_line_that_opened_it() {
    let trace = Explore::new("explore_trace_sites::waits_for_a_child")
        .schedules(1)
        .policy(PolicyKind::Fifo)
        .persist(false)
        .shrink(false)
        .run(waits_for_a_child)
        .unwrap_err()
        .trace;
    let text = trace.to_string();
    let last_main_step = text.lines().rfind(|l| l.contains("step task 1 ")).unwrap();
    assert!(last_main_step.ends_with(&format!("({})", at("// site: nursery"))), "{text}");
}
