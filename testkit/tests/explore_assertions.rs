//! `always!`, `sometimes!` and `reachable!` under exploration: a false `always!` fails its
//! schedule, the counts are added up the same for any thread count, and an exploration that
//! requires an assertion fails when it never fired.

use std::cell::RefCell;
use std::rc::Rc;

use trio_testkit::assertions::AssertionKind;
use trio_testkit::explore::{Explore, FailureKind, PolicyKind};

/// Two tasks log their names; which ran first depends on the schedule.
async fn two_tasks() -> Vec<&'static str> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    trio::open_nursery(|nursery| async move {
        for name in ["a", "b"] {
            let l = l.clone();
            nursery.start_soon_named(name, async move {
                trio::checkpoint().await?;
                l.borrow_mut().push(name);
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    log.take()
}

fn explore(name: &str) -> Explore {
    Explore::new(name).policy(PolicyKind::Random).persist(false)
}

#[test]
fn a_false_always_fails_the_schedule_with_its_message() {
    let failure = explore("always_a_first")
        .schedules(50)
        .run(|| async {
            let log = two_tasks().await;
            trio::always!(log[0] == "a", "a finishes first");
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure.message.contains("always!(log[0] == \"a\"): a finishes first"), "{}", failure.message);
    // The schedules before the failing one all passed it.
    let count = &failure.coverage.as_ref().unwrap().assertions[0];
    assert_eq!(count.kind, AssertionKind::Always);
    assert_eq!(count.evaluations, failure.schedules_run);
    assert_eq!(count.held, failure.schedules_run - 1);
    assert_eq!((count.schedules_reached, count.schedules_false), (failure.schedules_run, 1));
    assert!(count.to_string().contains(&format!("false in 1 of {} schedule(s)", failure.schedules_run)));
}

#[test]
fn a_false_always_whose_panic_the_code_catches_still_fails_the_schedule() {
    let failure = explore("always_caught")
        .schedules(1)
        .run(|| async {
            let caught = std::panic::catch_unwind(|| trio::always!(1 > 2, "one is more than two"));
            assert!(caught.is_err());
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure.message.contains("always!(1 > 2): one is more than two"), "{}", failure.message);
    assert!(failure.message.contains("caught by the code under test"), "{}", failure.message);
}

#[test]
fn counts_add_up_over_every_schedule() {
    let summary = explore("counts")
        .schedules(100)
        .run(|| async {
            let log = two_tasks().await;
            trio::sometimes!(log[0] == "b", "b finishes first");
            if log[0] == "a" {
                trio::reachable!("a finished first");
            }
            trio::always!(log.len() == 2, "both finish");
        })
        .unwrap();
    let counts = &summary.coverage.assertions;
    let messages: Vec<&str> = counts.iter().map(|c| c.message).collect();
    // In source order.
    assert_eq!(messages, ["b finishes first", "a finished first", "both finish"]);
    let (b_first, a_first, both) = (&counts[0], &counts[1], &counts[2]);
    assert_eq!((b_first.evaluations, b_first.schedules_reached), (100, 100));
    assert!(b_first.held > 0 && b_first.held < 100, "{b_first}");
    assert_eq!(b_first.held, b_first.schedules_held);
    assert_eq!(a_first.evaluations, 100 - b_first.held, "reachable! counts the schedules that reached it");
    assert_eq!((both.evaluations, both.held), (100, 100));
    assert!(counts.iter().all(|c| c.satisfied()));
    // Printed with the summary.
    let text = summary.to_string();
    assert!(text.contains("sometimes! \"b finishes first\": true "), "{text}");
    assert!(text.contains("reachable! \"a finished first\": reached "), "{text}");
}

#[test]
fn counts_are_the_same_for_any_number_of_threads() {
    let test = || async {
        let log = two_tasks().await;
        trio::sometimes!(log[0] == "b", "b finishes first");
    };
    let one = explore("threads").schedules(200).threads(1).run(test).unwrap();
    let three = explore("threads").schedules(200).threads(3).run(test).unwrap();
    assert_eq!(one.coverage, three.coverage);
    assert_eq!(one.coverage.assertions[0].evaluations, 200);
}

#[test]
fn a_failing_exploration_counts_the_schedules_up_to_the_lowest_failure_only() {
    let test = || async {
        let log = two_tasks().await;
        trio::reachable!("ran");
        assert_eq!(log[0], "a", "b finished first");
    };
    let one = explore("lowest").schedules(400).threads(1).shrink(false).run(test).unwrap_err();
    let two = explore("lowest").schedules(400).threads(2).shrink(false).run(test).unwrap_err();
    let (c1, c2) = (one.coverage.as_ref().unwrap(), two.coverage.as_ref().unwrap());
    assert_eq!(c1, c2);
    assert_eq!(c1.schedules, one.schedule_index.unwrap() + 1);
    assert_eq!(c1.assertions[0].evaluations, c1.schedules);
}

#[test]
fn require_sometimes_fails_an_exploration_whose_sometimes_never_came_true() {
    let failure = explore("never_true")
        .schedules(30)
        .require_sometimes(true)
        .run(|| async {
            let log = two_tasks().await;
            trio::sometimes!(log.len() == 3, "a third task finishes");
            trio::sometimes!(log[0] == "b", "b finishes first");
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Unsatisfied);
    assert_eq!(failure.origin, "assertion coverage");
    assert!(failure.message.contains("\"a third task finishes\""), "{}", failure.message);
    assert!(failure.message.contains("evaluated 30 time(s) in 30 schedule(s) and never true"), "{}", failure.message);
    assert!(!failure.message.contains("b finishes first"), "a satisfied sometimes! is not listed");
    let report = failure.to_string();
    assert!(report.contains("passed, but never satisfied an assertion it requires"), "{report}");
    assert!(!report.contains("replay this schedule"), "nothing to replay: {report}");
}

#[test]
fn without_require_sometimes_a_sometimes_that_never_came_true_passes_and_shows() {
    let summary = explore("not_required")
        .schedules(5)
        .run(|| async {
            trio::sometimes!(trio::current_time() > trio::Instant::from_secs(1), "time passes");
        })
        .unwrap();
    let count = &summary.coverage.assertions[0];
    assert!(!count.satisfied());
    assert!(summary.to_string().contains("NO sometimes! \"time passes\": true 0 of 5 time(s)"), "{summary}");
}

#[test]
fn require_sometimes_passes_once_the_case_happened_in_one_schedule() {
    explore("came_true")
        .schedules(30)
        .require_sometimes(true)
        .run(|| async {
            let log = two_tasks().await;
            trio::sometimes!(log[0] == "b", "b finishes first");
        })
        .unwrap();
}

#[test]
fn require_assertion_catches_a_reachable_no_schedule_reached() {
    let test = |fail: bool| {
        move || async move {
            if fail {
                trio::reachable!("the fault path");
            }
        }
    };
    let failure = explore("fault_path").schedules(10).require_assertion("the fault path").run(test(false)).unwrap_err();
    assert_eq!(failure.kind, FailureKind::Unsatisfied);
    assert!(
        failure.message.contains("\"the fault path\" was required, but no schedule reached"),
        "{}",
        failure.message
    );
    explore("fault_path").schedules(10).require_assertion("the fault path").run(test(true)).unwrap();
}

#[test]
fn require_assertion_wants_a_named_sometimes_to_come_true_not_only_to_be_reached() {
    let failure = explore("named_sometimes")
        .schedules(10)
        .require_assertion("never")
        .run(|| async { trio::sometimes!(false, "never") })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Unsatisfied);
    assert!(failure.message.contains("true 0 of 10"), "{}", failure.message);
}

/// The guide's example: a lost request (a choice the policy makes) must be retried.
#[test]
fn the_guides_retry_example_prints_its_coverage() {
    async fn send_with_retry(attempts: &std::cell::Cell<u32>) {
        let lost = trio::lowlevel::choose(2, "the first attempt is lost") == 1;
        attempts.set(if lost { 2 } else { 1 });
        trio::sometimes!(lost, "a lost request is retried");
    }
    let summary = explore("retries_lost_requests")
        .schedules(50)
        .require_sometimes(true)
        .run(|| async {
            let attempts = std::cell::Cell::new(0);
            send_with_retry(&attempts).await;
            trio::always!(attempts.get() >= 1, "a request is sent at least once");
        })
        .unwrap();
    println!("{summary}");
    assert_eq!(summary.coverage.distinct, 2);
    assert!(summary.coverage.is_flat());
    let text = summary.to_string();
    assert!(text.contains("coverage is flat"), "{text}");
    assert!(text.contains("ok always! \"a request is sent at least once\": held 50 of 50 time(s)"), "{text}");
}

#[test]
fn requirements_are_not_checked_for_one_replayed_schedule_nor_for_a_shard() {
    let test = || async { trio::sometimes!(false, "never") };
    let required = || explore("replayed").schedules(5).require_sometimes(true);
    assert!(required().run(test).is_err());
    required().only_seed(3).run(test).unwrap();
    required().replay("v1:".parse().unwrap()).run(test).unwrap();
    required().schedule_range(0..5).run(test).unwrap();
}
