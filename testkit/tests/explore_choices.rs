//! Choices a library makes through `trio::lowlevel::choose` are decisions like task picks:
//! the exploring policies take them (following weights), traces show them, schedules name them
//! with `o`, replay reproduces them, and shrinking keeps only those a failure needs.

use trio::lowlevel::{choose, choose_weighted};
use trio_testkit::explore::trace::DecisionKind;
use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::policy::{Pct, Pick, Random, Replay, Schedule};

#[test]
fn random_follows_the_weights() {
    let faults = trio::Builder::new()
        .policy(Random::new())
        .seed(1)
        .run(async { (0..10_000).filter(|_| choose_weighted(&[99, 1], "fault?") == 1).count() });
    assert!((50..=200).contains(&faults), "{faults} faults in 10,000 one-percent draws");
    let spread = trio::Builder::new().policy(Random::new()).seed(2).run(async {
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            seen[choose(4, "bucket")] += 1;
        }
        seen
    });
    assert!(spread.iter().all(|&n| (800..=1200).contains(&n)), "{spread:?}");
}

#[test]
fn pct_takes_random_options_too() {
    let picks = trio::Builder::new()
        .policy(Pct::new(2, 10))
        .seed(3)
        .run(async { (0..100).map(|_| choose(3, "x")).collect::<std::collections::BTreeSet<_>>() });
    assert_eq!(picks.len(), 3);
}

#[test]
fn a_schedule_names_choices_with_o() {
    let schedule: Schedule = "v1:3=o2,5=t4".parse().unwrap();
    assert_eq!(schedule.picks().collect::<Vec<_>>(), [(3, Pick::Choice(2)), (5, Pick::Task(4))]);
    assert_eq!(schedule.to_string(), "v1:3=o2,5=t4");
    assert!("v1:3=q2".parse::<Schedule>().unwrap_err().to_string().contains("t, x or o"));
}

#[test]
fn replay_follows_the_recorded_options_and_falls_back_when_one_does_not_fit() {
    let schedule: Schedule = "v1:2=o1,3=o9".parse().unwrap();
    let replay = Replay::new(schedule);
    let divergences = replay.divergences();
    let picks = trio::Builder::new().policy(replay).run(async { [choose(2, "a"), choose(2, "b"), choose(2, "c")] });
    assert_eq!(picks, [0, 1, 0], "decision 3 asks for option 9 of 2: the default instead");
    assert_eq!(divergences.get(), 1);
}

/// Ten messages; the test fails only if the seventh is dropped. Exploration finds it, the
/// trace says what was chosen, shrinking leaves exactly that one fault, and the shrunk
/// schedule replays it.
#[test]
fn exploration_finds_shrinks_and_replays_the_one_choice_that_matters() {
    async fn ten_messages() {
        let mut dropped = Vec::new();
        for i in 0..10 {
            if choose_weighted(&[1, 1], "drop this message?") == 1 {
                dropped.push(i);
            }
            trio::checkpoint().await.unwrap();
        }
        assert!(!dropped.contains(&6), "message 6 was dropped (all dropped: {dropped:?})");
    }
    let failure = Explore::new("explore_choices::ten_messages")
        .schedules(200)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(ten_messages)
        .unwrap_err();
    let shrunk = failure.shrunk.as_ref().expect("shrunk");
    assert_eq!(shrunk.schedule.to_string(), "v1:7=o1", "only the seventh choice is needed");
    let decision = shrunk.trace.decisions().find(|d| d.number == 7).unwrap();
    assert!(matches!(&decision.kind, DecisionKind::Choice { options: 2, what } if what == "drop this message?"));
    assert!(shrunk.trace.to_string().contains("drop this message? — option 1 of 2"), "{}", shrunk.trace);

    // The replay line's schedule reproduces it.
    let replayed = Explore::new("explore_choices::ten_messages")
        .replay(shrunk.schedule.clone())
        .persist(false)
        .shrink(false)
        .run(ten_messages)
        .unwrap_err();
    assert!(replayed.message.contains("message 6 was dropped (all dropped: [6])"), "{}", replayed.message);
}
