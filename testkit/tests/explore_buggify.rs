//! `trio::buggify!`: a fault-injection point is a decision of the run. Never taken by default;
//! exploration takes it, the trace names its call site, and replay takes it again.

use trio::lowlevel::Fifo;
use trio_testkit::explore::trace::DecisionKind;
use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::policy::Random;

/// Sends five requests; a request whose reply is "lost" (a buggify point) is retried only once,
/// so two lost replies in a row for the same request break it.
async fn flaky_client() {
    let mut delivered = 0;
    for _ in 0..5 {
        let mut attempts = 0;
        loop {
            attempts += 1;
            trio::checkpoint().await.unwrap();
            if !trio::buggify!(0.5) {
                delivered += 1;
                break;
            }
            assert!(attempts < 2, "a request was lost twice: the client gave up");
        }
    }
    assert_eq!(delivered, 5);
}

#[test]
fn the_default_policy_never_fires_a_buggify_point() {
    let fired = trio::Builder::new()
        .policy(Fifo)
        .run(async { (0..1000).filter(|_| trio::buggify!(1.0) || trio::buggify!()).count() });
    assert_eq!(fired, 0);
    assert!(!trio::buggify!(1.0), "outside a run: never");
    trio::run(flaky_client()); // the plain run passes
}

#[test]
fn a_random_policy_fires_points_at_their_probability() {
    let fired = trio::Builder::new()
        .policy(Random::new())
        .seed(5)
        .run(async { (0..10_000).filter(|_| trio::buggify!()).count() });
    assert!((350..=650).contains(&fired), "{fired} of 10,000 at five percent");
    let always = trio::Builder::new().policy(Random::new()).seed(5).run(async { trio::buggify!(1.0) });
    assert!(always);
    let never = trio::Builder::new().policy(Random::new()).seed(5).run(async { (0..100).any(|_| trio::buggify!(0.0)) });
    assert!(!never);
}

#[test]
fn exploration_finds_the_bug_behind_a_buggify_point_and_replay_reproduces_it() {
    let failure = Explore::new("explore_buggify::flaky_client")
        .schedules(200)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(flaky_client)
        .unwrap_err();
    assert!(failure.message.contains("a request was lost twice"), "{}", failure.message);
    let shrunk = failure.shrunk.as_ref().expect("shrunk");
    // Two points fired, one after the other: the trace names the line of the point.
    let line =
        1 + include_str!("explore_buggify.rs").lines().position(|l| l.contains("if !trio::buggify!(0.5)")).unwrap();
    let label = format!("buggify at testkit/tests/explore_buggify.rs:{line}");
    let fired: Vec<_> = shrunk
        .trace
        .decisions()
        .filter(|d| d.is_deviation())
        .map(|d| match &d.kind {
            DecisionKind::Choice { what, .. } => what.clone(),
            other => panic!("only buggify points are needed, not {other:?}"),
        })
        .collect();
    assert_eq!(fired, [label.clone(), label.clone()], "{}", shrunk.trace);
    assert!(shrunk.trace.to_string().contains(&format!("{label} — option 1 of 2")), "{}", shrunk.trace);

    let replayed = Explore::new("explore_buggify::flaky_client")
        .replay(shrunk.schedule.clone())
        .persist(false)
        .shrink(false)
        .run(flaky_client)
        .unwrap_err();
    assert!(replayed.message.contains("a request was lost twice"), "{}", replayed.message);
    assert_eq!(replayed.trace.decisions().filter(|d| d.is_deviation()).count(), 2);
}
