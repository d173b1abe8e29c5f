//! Conformance of the fixture runner with pytest-trio's rules, beyond `fixture_rules.rs`: when
//! each fixture's nursery is cancelled, that every failure of a run is gathered into the report,
//! which tear-downs a crash cancels and which it leaves alone, that a tear-down waits for every
//! user, that each fixture runs in a task of its own, and the built-in fixtures inside fixtures.

use std::cell::RefCell;
use std::time::Duration;

use trio::abc::{Listener, ReceiveStream, SendStream};
use trio::{CancelScope, Instant, Nursery, TaskStatus};
use trio_testkit::explore::{ClockFixture, Explore, FailureKind};
use trio_testkit::fixture::Yield;
use trio_testkit::sim::SimNet;
use trio_testkit::{MockClock, trio_fixture, trio_test, trio_tests, wait_all_tasks_blocked};

// ===== a log kept outside the run, to check what happened after it =====

thread_local! {
    static EVENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn event(entry: impl Into<String>) {
    EVENTS.with(|log| log.borrow_mut().push(entry.into()));
}

fn take_events() -> Vec<String> {
    EVENTS.with(|log| std::mem::take(&mut *log.borrow_mut()))
}

/// A failing run is run again (to replay and shrink it): every run must log `expected`.
fn assert_each_run_logged<S: AsRef<str>>(log: &[String], expected: &[S]) {
    let expected: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
    assert!(!log.is_empty() && log.len().is_multiple_of(expected.len()), "{log:?}, each run: {expected:?}");
    for run in log.chunks(expected.len()) {
        assert_eq!(run, expected, "{log:?}");
    }
}

/// One schedule, not persisted, on the autojump clock.
fn one_run(name: &str) -> Explore {
    Explore::new(name).schedules(1).persist(false).clock(ClockFixture::Autojump)
}

/// A task that sleeps until cancelled, then logs `entry`.
async fn log_when_cancelled(entry: &'static str) -> trio::Result<()> {
    let _ = trio::sleep_forever().await;
    event(entry);
    Ok(())
}

// ===== the `nursery` fixture: cancelled after its owner is done, innermost first =====

#[trio_fixture]
async fn outer_worker(nursery: Nursery, fixture: Yield<()>) -> trio::Result<()> {
    nursery.start_soon(log_when_cancelled("outer_worker cancel"));
    fixture.provide(()).await?;
    event("outer_worker teardown");
    Ok(())
}

#[trio_fixture]
async fn inner_worker(_outer_worker: (), nursery: Nursery, fixture: Yield<()>) -> trio::Result<()> {
    nursery.start_soon(log_when_cancelled("inner_worker cancel"));
    fixture.provide(()).await?;
    event("inner_worker teardown");
    Ok(())
}

/// pytest-trio's test_nursery_fixture_teardown_ordering: the test's nursery is cancelled when
/// the test returns; each fixture's nursery right after that fixture's own tear-down, and only
/// then does the fixture it depends on tear down.
#[test]
fn nursery_fixtures_are_cancelled_after_their_owners_tear_down_in_reverse_order() {
    take_events();
    one_run("nursery_teardown_ordering")
        .nursery()
        .fixture(inner_worker)
        .run_local_with_fixtures(&|fixtures| async move {
            fixtures.nursery().start_soon(log_when_cancelled("test cancel"));
            wait_all_tasks_blocked().await?;
            event("test");
            Ok::<(), trio::Error>(())
        })
        .unwrap();
    assert_eq!(
        take_events(),
        [
            "test",
            "test cancel",
            "inner_worker teardown",
            "inner_worker cancel",
            "outer_worker teardown",
            "outer_worker cancel"
        ]
    );
}

/// The nursery a fixture asks for surrounds that fixture: it is opened in the fixture's task,
/// and the test's `nursery` is another one, opened in the test's task.
#[trio_fixture]
async fn fixture_nursery(nursery: Nursery) -> Nursery {
    nursery
}

#[trio_test]
async fn each_nursery_fixture_belongs_to_the_one_that_asked(fixture_nursery: Nursery, nursery: Nursery) {
    let owner = fixture_nursery.parent_task().expect("the fixture's task is alive").name().to_string();
    assert_eq!(owner, "fixture `conformance_fixtures::fixture_nursery`");
    let tests = nursery.parent_task().expect("the test's task is alive");
    assert_eq!(tests.name(), trio::lowlevel::current_task().name());
    assert_ne!(tests.name(), owner);
}

/// pytest-trio's test_fixture_nursery: a fixture without tear-down starts a server in its
/// nursery with `start`; the server keeps running for the whole test.
#[trio_fixture]
async fn echo_host(net: SimNet, nursery: Nursery) -> trio::Result<&'static str> {
    let listener = net.add_host("echo").listen(7)?;
    nursery
        .start(|status: TaskStatus<()>| async move {
            status.started(());
            loop {
                let stream = listener.accept().await?;
                let data = stream.receive_some(64).await?;
                stream.send_all(&data).await?;
            }
            #[allow(unreachable_code)]
            trio::Result::Ok(())
        })
        .await?;
    Ok("echo")
}

#[trio_test(autojump)]
async fn a_plain_fixtures_nursery_keeps_running_through_the_test(echo_host: &'static str) -> trio::Result<()> {
    trio::sleep(Duration::from_secs(60)).await?; // long after the fixture returned
    let stream = trio::net::open_tcp_stream(echo_host, 7).await?;
    stream.send_all(b"ping").await?;
    assert_eq!(stream.receive_some(64).await?, b"ping");
    Ok(())
}

/// A fixture's nursery is still open during its tear-down: the tear-down can still talk to the
/// fixture's background tasks (pytest-trio cancels it once the tear-down is done).
#[trio_fixture]
async fn responder(nursery: Nursery, fixture: Yield<()>) -> trio::Result<()> {
    let (ask_tx, ask_rx) = trio::open_memory_channel::<u32>(0);
    let (answer_tx, answer_rx) = trio::open_memory_channel::<u32>(0);
    nursery.start_soon_named("responder", async move {
        while let Some(question) = ask_rx.recv().await? {
            answer_tx.send(question * 10).await?;
        }
        Ok(())
    });
    fixture.provide(()).await?;
    ask_tx.send(4).await?;
    assert_eq!(answer_rx.recv().await?, Some(40), "the background task answered during the tear-down");
    Ok(())
}

#[test]
fn a_fixtures_nursery_lives_until_its_tear_down_is_done() {
    one_run("nursery_during_tear_down")
        .fixture(responder)
        .run_local_with_fixtures(&|_fixtures| async move { trio::sleep(Duration::from_secs(1)).await })
        .unwrap();
}

// ===== each fixture in a task of its own =====

#[trio_fixture]
async fn task_name(fixture: Yield<String>) -> trio::Result<()> {
    let name = trio::lowlevel::current_task().name().to_string();
    fixture.provide(name.clone()).await?;
    event(format!("tear-down in {}", trio::lowlevel::current_task().name()));
    assert_eq!(trio::lowlevel::current_task().name(), name, "set-up and tear-down run in the same task");
    Ok(())
}

/// pytest-trio runs each fixture in a task named after it, and the tear-down in the same task
/// as the set-up; the test runs in a task of its own.
#[test]
fn a_fixture_sets_up_and_tears_down_in_a_task_named_after_it() {
    take_events();
    one_run("fixture_task")
        .fixture(task_name)
        .run_local_with_fixtures(&|fixtures| async move {
            let name = fixtures.get(task_name);
            assert_eq!(name, "fixture `conformance_fixtures::task_name`");
            assert_ne!(trio::lowlevel::current_task().name(), name);
        })
        .unwrap();
    assert_eq!(take_events(), ["tear-down in fixture `conformance_fixtures::task_name`"]);
}

// ===== concurrency and timing: set-up and tear-down (pytest-trio's "Concurrent setup/teardown") =====

#[trio_fixture]
async fn slow_two() -> trio::Result<Instant> {
    trio::sleep(Duration::from_secs(2)).await?;
    Ok(trio::current_time())
}

#[trio_fixture]
async fn slow_five() -> trio::Result<Instant> {
    trio::sleep(Duration::from_secs(5)).await?;
    Ok(trio::current_time())
}

#[trio_fixture]
async fn after_five(slow_five: Instant) -> trio::Result<Instant> {
    assert_eq!(trio::current_time(), slow_five, "starts once its dependency is set up");
    trio::sleep(Duration::from_secs(1)).await?;
    Ok(trio::current_time())
}

/// Independent set-ups overlap (2 s and 5 s take 5 s, not 7 s), a dependent one starts when
/// its dependency is done, and the test starts once the last one is done.
#[trio_test(autojump)]
async fn independent_set_ups_overlap_and_the_test_waits_for_the_last(
    slow_two: Instant,
    slow_five: Instant,
    after_five: Instant,
) {
    assert_eq!(slow_two, Instant::from_secs(2));
    assert_eq!(slow_five, Instant::from_secs(5));
    assert_eq!(after_five, Instant::from_secs(6));
    assert_eq!(trio::current_time(), Instant::from_secs(6));
}

#[trio_fixture]
async fn shared_base(fixture: Yield<()>) -> trio::Result<()> {
    event("base setup");
    fixture.provide(()).await?;
    event(format!("base teardown at {:?}", trio::current_time()));
    Ok(())
}

#[trio_fixture]
async fn quick_user(_shared_base: (), fixture: Yield<()>) -> trio::Result<()> {
    fixture.provide(()).await?;
    trio::sleep(Duration::from_secs(1)).await?;
    event(format!("quick_user teardown done at {:?}", trio::current_time()));
    Ok(())
}

#[trio_fixture]
async fn slow_user(_shared_base: (), fixture: Yield<()>) -> trio::Result<()> {
    fixture.provide(()).await?;
    trio::sleep(Duration::from_secs(3)).await?;
    event(format!("slow_user teardown done at {:?}", trio::current_time()));
    Ok(())
}

/// A fixture shared by two is set up and torn down once; its tear-down waits for the slower of
/// its users' tear-downs, which run concurrently (3 s, not 4 s).
#[test]
fn a_tear_down_waits_for_the_slowest_of_its_users() {
    take_events();
    one_run("diamond_tear_down")
        .fixture(quick_user)
        .fixture(slow_user)
        .run_local_with_fixtures(&|_fixtures| async move {})
        .unwrap();
    assert_eq!(
        take_events(),
        [
            "base setup".to_string(),
            format!("quick_user teardown done at {:?}", Instant::from_secs(1)),
            format!("slow_user teardown done at {:?}", Instant::from_secs(3)),
            format!("base teardown at {:?}", Instant::from_secs(3)),
        ]
    );
}

// ===== every failure is gathered (pytest-trio's test_error_collection) =====

/// Sleeps `seconds` where no crash can cancel it.
async fn shielded_sleep(seconds: u64) -> trio::Result<()> {
    CancelScope::shielded().run(async { Ok(trio::sleep(Duration::from_secs(seconds)).await?) }).await?;
    Ok(())
}

#[trio_fixture]
async fn crash_plain() -> trio::Result<u32> {
    shielded_sleep(2).await?;
    Err(trio::Error::msg("CRASH_PLAIN"))
}

#[trio_fixture]
async fn crash_before_provide(_fixture: Yield<u32>) -> trio::Result<()> {
    shielded_sleep(2).await?;
    Err(trio::Error::msg("CRASH_BEFORE_PROVIDE"))
}

#[trio_fixture]
async fn crash_after_provide(fixture: Yield<u32>) -> trio::Result<()> {
    fixture.provide(1).await?;
    Err(trio::Error::msg("CRASH_AFTER_PROVIDE"))
}

#[trio_fixture]
async fn crash_background(nursery: Nursery) -> u32 {
    nursery.start_soon_named("early", async {
        shielded_sleep(1).await?;
        Err(trio::Error::msg("CRASH_BACKGROUND_EARLY"))
    });
    nursery.start_soon_named("late", async {
        shielded_sleep(3).await?;
        Err(trio::Error::msg("CRASH_BACKGROUND_LATE"))
    });
    0
}

/// Two set-ups, a tear-down and two background tasks fail: the report has all five, and the
/// test never started.
#[test]
fn every_failure_of_the_run_is_reported() {
    take_events();
    let failure = one_run("error_collection")
        .fixture(crash_plain)
        .fixture(crash_before_provide)
        .fixture(crash_after_provide)
        .fixture(crash_background)
        .run_local_with_fixtures(&|_fixtures| async move { event("test") })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error, "{failure}");
    for token in [
        "CRASH_PLAIN",
        "CRASH_BEFORE_PROVIDE",
        "CRASH_AFTER_PROVIDE",
        "CRASH_BACKGROUND_EARLY",
        "CRASH_BACKGROUND_LATE",
    ] {
        assert!(failure.message.contains(token), "{token} missing from: {}", failure.message);
    }
    assert!(failure.message.contains("crash_plain` failed during set-up"), "{}", failure.message);
    assert!(failure.message.contains("crash_after_provide` failed during tear-down"), "{}", failure.message);
    assert!(failure.message.contains("the test did not start"), "{}", failure.message);
    assert!(take_events().is_empty(), "the test ran");
}

#[trio_fixture]
async fn bad_teardown(fixture: Yield<()>) -> Result<(), String> {
    fixture.provide(()).await.map_err(|e| format!("{e:?}"))?;
    event("bad teardown");
    Err("Crash during fixture teardown".to_string())
}

#[trio_fixture]
async fn good_teardown(fixture: Yield<()>) -> trio::Result<()> {
    fixture.provide(()).await?;
    trio::checkpoint().await?; // not cancelled by the other tear-down's failure
    event(format!("good teardown, deadline {:?}", trio::current_effective_deadline()));
    Ok(())
}

/// pytest-trio's test_async_yield_fixture_crashed_teardown_allow_other_teardowns: a tear-down
/// that returns an error fails a test that passed, and the other tear-downs run uncancelled.
#[test]
fn a_failing_tear_down_fails_the_test_and_the_others_still_run() {
    take_events();
    let failure = one_run("failing_tear_down")
        .fixture(bad_teardown)
        .fixture(good_teardown)
        .run_local_with_fixtures(&|_fixtures| async move {})
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error);
    assert!(
        failure.message.contains("bad_teardown` failed during tear-down: \"Crash during fixture teardown\""),
        "{}",
        failure.message
    );
    // The two tear-downs run concurrently: each run logs both, in either order.
    let log = take_events();
    assert!(!log.is_empty() && log.len().is_multiple_of(2), "{log:?}");
    for run in log.chunks(2) {
        let mut run = run.to_vec();
        run.sort();
        assert_eq!(run, ["bad teardown", "good teardown, deadline None"], "{log:?}");
    }
}

/// The test's own error and a tear-down's error are both reported.
#[test]
fn the_tests_error_and_a_tear_down_error_are_both_reported() {
    take_events();
    let failure = one_run("test_and_tear_down_fail")
        .fixture(bad_teardown)
        .run_local_with_fixtures(&|_fixtures| async move { Err::<(), _>("the test's own error") })
        .unwrap_err();
    assert!(failure.message.contains("the test's own error"), "{}", failure.message);
    assert!(failure.message.contains("Crash during fixture teardown"), "{}", failure.message);
    assert_each_run_logged(&take_events(), &["bad teardown"]);
}

// ===== a crash: what it cancels and what it does not =====

#[trio_fixture]
async fn crashing_server(nursery: Nursery, fixture: Yield<()>) -> trio::Result<()> {
    nursery.start_soon_named("server", async {
        trio::sleep(Duration::from_secs(1)).await?;
        Err(trio::Error::msg("server crashed"))
    });
    let waited = fixture.provide(()).await;
    // Code before the `?` runs in the cancelled nursery (pytest-trio: the `yield` raises
    // Cancelled, and the fixture's tear-down runs cancelled).
    event(format!("crashing_server after provide, deadline {:?}", trio::current_effective_deadline()));
    waited?;
    event("crashing_server after the ?");
    Ok(())
}

#[trio_fixture]
async fn client_of_server(_crashing_server: (), fixture: Yield<()>) -> trio::Result<()> {
    fixture.provide(()).await?;
    trio::checkpoint().await?;
    event(format!("client teardown, deadline {:?}", trio::current_effective_deadline()));
    Ok(())
}

/// pytest-trio's test_background_crash_cancellation_propagation (`userfix`): the fixture that
/// depends on the crashed one tears down first and is not cancelled; the crashed one's code
/// after `provide` runs cancelled, and only after that.
#[test]
fn a_background_crash_leaves_the_dependents_tear_down_uncancelled() {
    take_events();
    let failure = one_run("crash_and_dependent")
        .fixture(client_of_server)
        .run_local_with_fixtures(&|_fixtures| async move {
            let slept = trio::sleep_forever().await;
            event(format!("test cancelled at {:?}", trio::current_time()));
            slept
        })
        .unwrap_err();
    assert!(failure.message.contains("task `server` failed: server crashed"), "{}", failure.message);
    assert!(failure.message.contains("the test was cancelled because of that"), "{}", failure.message);
    assert_each_run_logged(
        &take_events(),
        &[
            format!("test cancelled at {:?}", Instant::from_secs(1)),
            "client teardown, deadline None".to_string(),
            format!("crashing_server after provide, deadline {:?}", Some(Instant::ZERO)),
        ],
    );
}

#[trio_fixture]
async fn own_nursery_crash(fixture: Yield<()>) -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        nursery.start_soon_named("die soon", async { Err(trio::Error::msg("OOPS")) });
        fixture.provide(()).await?;
        event("own_nursery_crash after the ?");
        Ok(())
    })
    .await
}

/// pytest-trio's "manual nursery" case and test_complex_cancel_interaction_regression: a task
/// failing in a nursery the fixture opened itself (not the `nursery` fixture) also cancels
/// the test, and the failure is reported.
#[test]
fn a_crash_in_a_nursery_the_fixture_opened_cancels_the_test() {
    take_events();
    let failure = one_run("own_nursery")
        .fixture(own_nursery_crash)
        .run_local_with_fixtures(&|_fixtures| async move {
            let slept = trio::sleep_forever().await;
            event(format!("test cancelled: {}", slept.is_err()));
            slept
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error, "{failure}");
    assert!(failure.message.contains("OOPS"), "{}", failure.message);
    assert!(failure.message.contains("own_nursery_crash`"), "{}", failure.message);
    assert_each_run_logged(&take_events(), &["test cancelled: true"]);
}

#[trio_fixture]
async fn fails_at_once() -> Result<u32, String> {
    Err("not today".to_string())
}

#[trio_fixture]
async fn needs_the_failed_one(fails_at_once: u32, fixture: Yield<u32>) -> trio::Result<()> {
    event("needs_the_failed_one set up");
    fixture.provide(fails_at_once).await?;
    event("needs_the_failed_one torn down");
    Ok(())
}

/// pytest-trio: once the run has crashed, a fixture that has not started never starts — a
/// fixture waiting for a failed dependency does not run at all, and is not a failure itself.
#[test]
fn a_fixture_whose_dependency_failed_never_runs() {
    take_events();
    let failure = one_run("dependency_failed")
        .fixture(needs_the_failed_one)
        .run_local_with_fixtures(&|_fixtures| async move { event("test") })
        .unwrap_err();
    assert!(failure.message.contains("fails_at_once` failed during set-up: \"not today\""), "{}", failure.message);
    assert!(!failure.message.contains("needs_the_failed_one"), "{}", failure.message);
    assert!(take_events().is_empty());
}

#[trio_fixture]
async fn panics_in_set_up() -> u32 {
    trio::checkpoint().await.ok();
    panic!("set-up blew up");
}

#[trio_fixture]
async fn torn_down_anyway(fixture: Yield<()>) -> trio::Result<()> {
    event("torn_down_anyway set up");
    fixture.provide(()).await?;
    trio::checkpoint().await?;
    event(format!("torn_down_anyway torn down, deadline {:?}", trio::current_effective_deadline()));
    Ok(())
}

/// A panicking set-up fails the test (which does not start), after the fixtures already set
/// up are torn down; the panic names the fixture.
#[test]
fn a_panicking_set_up_fails_the_test_after_the_other_tear_downs() {
    take_events();
    let failure = one_run("set_up_panics")
        .fixture(torn_down_anyway)
        .fixture(panics_in_set_up)
        .run_local_with_fixtures(&|_fixtures| async move { event("test") })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(
        failure.message.contains("panics_in_set_up` panicked during set-up: set-up blew up"),
        "{}",
        failure.message
    );
    assert_each_run_logged(&take_events(), &["torn_down_anyway set up", "torn_down_anyway torn down, deadline None"]);
}

#[trio_fixture]
async fn panicking_background(nursery: Nursery) -> u32 {
    nursery.start_soon_named("panicky", async {
        trio::sleep(Duration::from_secs(1)).await.ok();
        panic!("background blew up");
    });
    0
}

/// A panic in a fixture's background task cancels the test and fails it, naming the fixture.
#[test]
fn a_panicking_background_task_of_a_fixture_fails_the_test() {
    take_events();
    let failure = one_run("background_panics")
        .fixture(panicking_background)
        .run_local_with_fixtures(&|_fixtures| async move {
            let slept = trio::sleep_forever().await;
            event(format!("test cancelled at {:?}", trio::current_time()));
            slept
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("background blew up"), "{}", failure.message);
    assert!(failure.message.contains("panicking_background`: a task of its nursery panicked"), "{}", failure.message);
    assert_each_run_logged(&take_events(), &[format!("test cancelled at {:?}", Instant::from_secs(1))]);
}

/// A failing task in the test's own `nursery` fails the test, naming the task, and the
/// fixtures are still torn down.
#[test]
fn a_crash_in_the_tests_nursery_still_tears_the_fixtures_down() {
    take_events();
    let failure = one_run("test_nursery_crash")
        .nursery()
        .fixture(torn_down_anyway)
        .run_local_with_fixtures(&|fixtures| async move {
            fixtures.nursery().start_soon_named("saboteur", async {
                trio::sleep(Duration::from_secs(1)).await?;
                Err(trio::Error::msg("sabotaged"))
            });
            trio::sleep_forever().await
        })
        .unwrap_err();
    assert!(failure.message.contains("task `saboteur`: sabotaged"), "{}", failure.message);
    assert_each_run_logged(&take_events(), &["torn_down_anyway set up", "torn_down_anyway torn down, deadline None"]);
}

// ===== pytest-trio #75 with an explicit cancel: our documented deviation (#117) =====

#[trio_fixture]
async fn cancels_its_own_provide(fixture: Yield<()>) -> trio::Result<()> {
    let scope = CancelScope::new();
    scope.cancel();
    let outcome = scope.run(async { fixture.provide(()).await }).await?;
    event(format!("provide was cancelled: {}", outcome.is_none()));
    Ok(())
}

/// pytest-trio's test_fixture_cancels_test_but_doesnt_raise fails the test. Here an explicit
/// `cancel()` of a scope of the fixture's own does not cancel the test (docs/design.md, "An
/// explicit `cancel()` of a fixture's own scope does not cancel the test"): the test runs to
/// its end and passes, and the fixture sees its `provide` cancelled afterwards.
#[test]
fn an_explicitly_cancelled_provide_does_not_cancel_the_test() {
    take_events();
    one_run("explicit_cancel")
        .fixture(cancels_its_own_provide)
        .run_local_with_fixtures(&|_fixtures| async move {
            trio::sleep(Duration::from_secs(10)).await?;
            event(format!("test done at {:?}", trio::current_time()));
            Ok::<(), trio::Error>(())
        })
        .unwrap();
    assert_eq!(
        take_events(),
        [format!("test done at {:?}", Instant::from_secs(10)), "provide was cancelled: true".to_string()]
    );
}

// ===== built-in fixtures asked for by fixtures =====

#[trio_fixture]
async fn jumped(mock_clock: MockClock) -> Instant {
    mock_clock.jump(Duration::from_secs(7));
    trio::current_time()
}

/// `mock_clock` asked for by a fixture is the run's clock, frozen (pytest-trio: rate 0, no
/// autojump): the test sees the fixture's jump, and time moves only when someone jumps it.
#[trio_test]
async fn a_fixtures_mock_clock_is_the_tests_frozen_clock(jumped: Instant, mock_clock: MockClock) -> trio::Result<()> {
    assert_eq!(jumped, Instant::from_secs(7));
    assert_eq!(mock_clock.autojump_threshold(), None);
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async { Ok(trio::sleep(Duration::from_secs(1)).await?) });
        wait_all_tasks_blocked().await?;
        assert_eq!(trio::current_time(), Instant::from_secs(7), "every task blocked, and time stood still");
        mock_clock.jump(Duration::from_secs(1));
        Ok(())
    })
    .await?;
    assert_eq!(trio::current_time(), Instant::from_secs(8));
    Ok(())
}

#[trio_fixture]
async fn server_host(net: SimNet) -> trio::Result<&'static str> {
    let listener = net.add_host("server").listen(80)?;
    std::mem::forget(listener);
    Ok("server")
}

#[trio_fixture]
async fn connected(server_host: &'static str, net: SimNet) -> trio::Result<u32> {
    // The network is installed before any set-up runs, and it is the one `server_host` used.
    let _stream = trio::net::open_tcp_stream(server_host, 80).await?;
    Ok(net.host(server_host).name().len() as u32)
}

/// Fixtures that ask for `net` share the run's one network, installed before their set-up.
#[trio_test(autojump)]
async fn fixtures_share_one_network_installed_before_set_up(connected: u32) {
    assert_eq!(connected, "server".len() as u32);
}

// ===== trio mode =====

#[trio_fixture]
async fn greeting(fixture: Yield<String>) -> trio::Result<()> {
    trio::sleep(Duration::from_secs(2)).await?;
    fixture.provide("hello".to_string()).await?;
    Ok(())
}

/// Trio mode (`#[trio_tests]`): an async `#[test]` gets fixtures by name like a `#[trio_test]`,
/// user fixtures and built-in ones, with the module's clock.
#[trio_tests(autojump)]
mod trio_mode {
    use super::*;

    #[test]
    async fn a_trio_mode_test_gets_fixtures(greeting: String, nursery: Nursery) -> trio::Result<()> {
        assert_eq!(greeting, "hello");
        assert_eq!(trio::current_time(), Instant::from_secs(2), "set up on the module's autojump clock");
        nursery.start_soon(async { Ok(trio::sleep_forever().await?) }); // cancelled when the test returns
        Ok(())
    }
}

// ===== cancellation that a nursery absorbs =====

#[trio_fixture]
async fn cancellable_worker(nursery: Nursery, fixture: Yield<Nursery>) -> trio::Result<()> {
    nursery.start_soon_named("worker", log_when_cancelled("worker cleaned up"));
    fixture.provide(nursery.clone()).await?;
    event("cancellable_worker after the ?");
    Ok(())
}

/// A test cancels a fixture's nursery on purpose (pytest-trio #117, our documented deviation:
/// the test is not cancelled). The fixture lets the `Err(Cancelled)` of its `provide` escape
/// with `?`, as most fixtures do: in Trio, a `Cancelled` leaving the scope that was cancelled —
/// here the fixture's nursery — is absorbed by it, so this is no failure of the fixture.
#[test]
fn a_cancellation_of_a_fixtures_own_nursery_escaping_its_tear_down_is_no_failure() {
    take_events();
    one_run("absorbed_cancel")
        .fixture(cancellable_worker)
        .run_local_with_fixtures(&|fixtures| async move {
            wait_all_tasks_blocked().await?;
            fixtures.get(cancellable_worker).cancel_scope().cancel();
            wait_all_tasks_blocked().await?;
            event("test done");
            Ok::<(), trio::Error>(())
        })
        .unwrap();
    assert_eq!(take_events(), ["worker cleaned up", "test done"]);
}

#[trio_fixture]
async fn cancels_itself_while_setting_up(nursery: Nursery) -> trio::Result<u32> {
    nursery.cancel_scope().cancel();
    trio::checkpoint().await?;
    Ok(1)
}

/// The same cancellation during set-up is still a failure: the fixture has no value to give.
#[test]
fn a_set_up_that_cancels_its_own_nursery_fails_the_test() {
    let failure = one_run("cancelled_set_up")
        .fixture(cancels_itself_while_setting_up)
        .run_local_with_fixtures(&|_fixtures| async move { event("test") })
        .unwrap_err();
    assert!(failure.message.contains("cancels_itself_while_setting_up` failed during set-up"), "{}", failure.message);
    assert!(failure.message.contains("the test did not start"), "{}", failure.message);
    assert!(take_events().is_empty());
}

// ===== more crashes =====

#[trio_fixture]
async fn helper_dies_during_set_up(nursery: Nursery) -> trio::Result<u32> {
    nursery.start_soon_named("helper", async {
        trio::sleep(Duration::from_secs(1)).await?;
        Err(trio::Error::msg("helper died"))
    });
    let slept = trio::sleep(Duration::from_secs(10)).await;
    event(format!("set-up cancelled at {:?}: {}", trio::current_time(), slept.is_err()));
    slept?;
    Ok(1)
}

/// A task of a fixture's nursery that fails while the fixture is still setting up cancels the
/// set-up; the failure is the task's (the set-up's own `Cancelled` is not reported), and the
/// test does not start.
#[test]
fn a_background_task_failing_during_set_up_fails_it() {
    take_events();
    let failure = one_run("background_during_set_up")
        .fixture(helper_dies_during_set_up)
        .fixture(torn_down_anyway)
        .run_local_with_fixtures(&|_fixtures| async move { event("test") })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error, "{failure}");
    assert!(
        failure.message.contains("helper_dies_during_set_up`: task `helper` failed: helper died"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains("failed during set-up"), "{}", failure.message);
    assert!(failure.message.contains("the test did not start"), "{}", failure.message);
    let log = take_events();
    assert!(!log.contains(&"test".to_string()), "{log:?}");
    assert!(log.contains(&format!("set-up cancelled at {:?}: true", Instant::from_secs(1))), "{log:?}");
    // The fixture already set up is torn down, not cancelled.
    assert!(log.contains(&"torn_down_anyway torn down, deadline None".to_string()), "{log:?}");
}

#[trio_fixture]
async fn fails_later(nursery: Nursery, fixture: Yield<()>) -> trio::Result<()> {
    nursery.start_soon_named("timer", async {
        trio::sleep(Duration::from_secs(5)).await?;
        Err(trio::Error::msg("failed at 5 s"))
    });
    fixture.provide(()).await?;
    Ok(())
}

#[trio_fixture]
async fn long_tear_down(_fails_later: (), fixture: Yield<()>) -> trio::Result<()> {
    fixture.provide(()).await?;
    trio::sleep(Duration::from_secs(10)).await?;
    event(format!("long tear-down done at {:?}", trio::current_time()));
    Ok(())
}

/// A background task that fails after the test, while a dependent fixture is tearing down:
/// the failure is reported (and is no "silent cancel"), and the tear-down already under way
/// is not cancelled — pytest-trio cancels only set-ups and the test.
#[test]
fn a_background_failure_during_tear_down_is_reported_and_cancels_no_tear_down() {
    take_events();
    let failure = one_run("background_during_tear_down")
        .fixture(long_tear_down)
        .run_local_with_fixtures(&|_fixtures| async move {})
        .unwrap_err();
    assert!(failure.message.contains("fails_later`: task `timer` failed: failed at 5 s"), "{}", failure.message);
    assert!(!failure.message.contains("reported no failure"), "{}", failure.message);
    assert_each_run_logged(&take_events(), &[format!("long tear-down done at {:?}", Instant::from_secs(10))]);
}

/// As a user sees it: a `#[trio_test]` whose fixture fails to set up fails, naming the
/// fixture and saying the test did not start.
#[trio_test]
#[should_panic(expected = "fails_at_once` failed during set-up: \"not today\"\nthe test did not start")]
async fn a_trio_test_whose_fixture_fails_does_not_start(fails_at_once: u32) {
    unreachable!("the test started with {fails_at_once}");
}

// ===== a fixture asks for another by path =====

mod support {
    #[trio_testkit::trio_fixture]
    pub async fn base_port() -> u16 {
        super::event("base_port set up");
        8000
    }
}

#[trio_fixture]
async fn next_port(#[from(support::base_port)] port: u16) -> u16 {
    port + 1
}

mod by_use {
    pub(super) use super::support::base_port;
}

#[trio_fixture]
async fn port_after_next(#[from(by_use::base_port)] port: u16) -> u16 {
    port + 2
}

/// A fixture's parameter names another fixture by path with `#[from(…)]`, as a test's can; the
/// same fixture reached under two paths is still one fixture, set up once.
#[test]
fn a_fixture_asks_for_another_by_path_and_it_is_set_up_once() {
    take_events();
    one_run("by_path")
        .fixture(next_port)
        .fixture(port_after_next)
        .fixture(support::base_port)
        .run_local_with_fixtures(&|fixtures| async move {
            let ports = (fixtures.get(support::base_port), fixtures.get(next_port), fixtures.get(port_after_next));
            assert_eq!(ports, (8000, 8001, 8002));
        })
        .unwrap();
    assert_eq!(take_events(), ["base_port set up"]);
}

// ===== the rules hold in every interleaving =====

type Order = std::rc::Rc<RefCell<Vec<&'static str>>>;

#[trio_fixture]
async fn order(fixture: Yield<Order>) -> trio::Result<()> {
    let log = Order::default();
    fixture.provide(log.clone()).await?;
    log.borrow_mut().push("order teardown");
    let log = log.borrow();
    let at = |entry: &str| log.iter().position(|e| *e == entry).unwrap_or_else(|| panic!("{entry}: {log:?}"));
    // Set-up in dependency order, the test, tear-down in reverse dependency order.
    assert!(at("low setup") < at("high setup"), "{log:?}");
    assert!(at("high setup") < at("test") && at("side setup") < at("test"), "{log:?}");
    assert!(at("test") < at("high teardown") && at("test") < at("side teardown"), "{log:?}");
    assert!(at("high teardown") < at("low teardown"), "{log:?}");
    assert_eq!(log.last(), Some(&"order teardown"), "{log:?}");
    Ok(())
}

async fn step(log: &Order, entry: &'static str) -> trio::Result<()> {
    trio::checkpoint().await?;
    log.borrow_mut().push(entry);
    trio::checkpoint().await?;
    Ok(())
}

#[trio_fixture]
async fn low(order: Order, fixture: Yield<()>) -> trio::Result<()> {
    step(&order, "low setup").await?;
    fixture.provide(()).await?;
    step(&order, "low teardown").await
}

#[trio_fixture]
async fn high(order: Order, _low: (), fixture: Yield<()>) -> trio::Result<()> {
    step(&order, "high setup").await?;
    fixture.provide(()).await?;
    step(&order, "high teardown").await
}

#[trio_fixture]
async fn side(order: Order, fixture: Yield<()>) -> trio::Result<()> {
    step(&order, "side setup").await?;
    fixture.provide(()).await?;
    step(&order, "side teardown").await
}

/// Under exploration the fixtures' set-ups and tear-downs interleave in many ways; in every
/// one, dependencies set up first and tear down last, and the test runs in between.
#[trio_test(schedules = 200, policy = "random")]
async fn dependency_order_holds_in_every_schedule(order: Order, _high: (), _side: ()) -> trio::Result<()> {
    step(&order, "test").await
}

// ===== one shared context per test (pytest-trio's test_contextvars, with a `RunVar`) =====

static CONTEXT: trio::lowlevel::RunVar<&'static str> = trio::lowlevel::RunVar::new("conformance context");

#[trio_fixture]
async fn context_checker(fixture: Yield<()>) -> trio::Result<()> {
    assert_eq!(CONTEXT.get(), None, "every test starts with a fresh context");
    fixture.provide(()).await?;
    assert_eq!(CONTEXT.get(), None, "reset by context_setter's tear-down");
    Ok(())
}

#[trio_fixture]
async fn context_setter(_context_checker: (), fixture: Yield<()>) -> trio::Result<()> {
    assert_eq!(CONTEXT.get(), None);
    CONTEXT.set("setter");
    fixture.provide(()).await?;
    assert_eq!(CONTEXT.get(), Some("setter2"), "a dependent fixture's change is seen here");
    CONTEXT.take();
    Ok(())
}

#[trio_fixture]
async fn context_setter2(_context_setter: (), fixture: Yield<()>) -> trio::Result<()> {
    assert_eq!(CONTEXT.get(), Some("setter"), "set by the fixture this one depends on");
    CONTEXT.set("setter2"); // left set on purpose: context_setter checks it
    fixture.provide(()).await?;
    assert_eq!(CONTEXT.get(), Some("setter2"));
    Ok(())
}

/// What a fixture sets in run-wide state is seen by the fixtures that depend on it and by the
/// test, and their changes by it — pytest-trio's one context shared by a test and its fixtures.
#[trio_test(schedules = 20)]
async fn fixtures_and_the_test_share_one_context(_context_setter2: ()) {
    assert_eq!(CONTEXT.get(), Some("setter2"));
}

// ===== trio mode: fixtures in the module, and the module's clock giving way =====

/// In trio mode, fixtures live next to the tests; the module's `autojump` is a default that
/// gives way to a clock a test asks for — also through a fixture (a fixture's clock is the
/// run's, as if the test asked for it).
#[trio_tests(autojump)]
mod trio_mode_fixtures {
    use super::*;

    #[trio_fixture]
    pub(super) async fn frozen_at_three(mock_clock: MockClock) -> Instant {
        mock_clock.jump(Duration::from_secs(3));
        trio::current_time()
    }

    #[trio_fixture]
    async fn local_value() -> u32 {
        trio::sleep(Duration::from_secs(4)).await.unwrap();
        4
    }

    #[test]
    async fn a_fixture_defined_in_the_module(local_value: u32) {
        assert_eq!(local_value, 4);
        assert_eq!(trio::current_time(), Instant::from_secs(4), "the module's autojump clock");
    }

    #[test]
    async fn a_fixtures_clock_replaces_the_modules_autojump(frozen_at_three: Instant) {
        assert_eq!(frozen_at_three, Instant::from_secs(3));
        assert_eq!(trio::current_time(), Instant::from_secs(3), "frozen: the mock clock, not autojump");
    }
}

/// The same default written `autojump = true` gives way to a fixture's clock too.
#[trio_tests(autojump = true)]
mod trio_mode_autojump_true {
    use super::trio_mode_fixtures::frozen_at_three;
    use super::*;

    #[test]
    async fn a_fixtures_clock_replaces_the_modules_autojump_written_with_a_value(frozen_at_three: Instant) {
        assert_eq!(frozen_at_three, Instant::from_secs(3));
        assert_eq!(trio::current_time(), Instant::from_secs(3), "frozen: the mock clock, not autojump");
    }
}

// ===== a set-up that can never finish =====

#[trio_fixture]
async fn waits_for_nobody() -> trio::Result<u32> {
    trio::Event::new().wait().await?; // nobody will ever set it
    Ok(0)
}

/// A set-up blocked for good: where pytest-trio hangs, the run sees every task blocked and
/// fails at once, naming the fixture's task, without starting the test.
#[test]
fn a_set_up_that_can_never_finish_is_a_deadlock_naming_the_fixture() {
    take_events();
    let failure = one_run("set_up_deadlock")
        .fixture(waits_for_nobody)
        .run_local_with_fixtures(&|_fixtures| async move { event("test") })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
    assert!(failure.message.contains("fixture `conformance_fixtures::waits_for_nobody`"), "{}", failure.message);
    assert!(take_events().is_empty());
}

// ===== where the tasks are =====

#[trio_fixture]
async fn my_parent_task() -> String {
    let nursery = trio::lowlevel::current_task().parent_nursery().expect("a fixture's task runs in a nursery");
    nursery.parent_task().expect("its opener is alive").name().to_string()
}

/// pytest-trio runs the test in a task of its own, a sibling of the fixtures' tasks. Here the
/// test runs in the run's main task and the fixtures' tasks are its children
/// (docs/design.md, "The test runs in the main task").
#[trio_test]
async fn the_fixtures_tasks_are_children_of_the_tests(my_parent_task: String) {
    assert_eq!(my_parent_task, trio::lowlevel::current_task().name());
    assert!(trio::lowlevel::current_task().parent_nursery().is_none(), "the test runs in the main task");
}

// ===== the test's `nursery` surrounds the test =====

/// The `nursery` fixture surrounds the test (pytest-trio): cancelling it cancels the test body
/// too. In Trio the `Cancelled` leaving the body is absorbed by that nursery and the test
/// passes; here the runner sees the test's `Err` only as text, so a test that lets it escape
/// fails, reporting the cancellation (docs/design.md: "Cancelling the test's `nursery`").
#[test]
fn cancelling_the_tests_nursery_cancels_the_test_body() {
    take_events();
    let failure = one_run("cancel_test_nursery")
        .nursery()
        .run_local_with_fixtures(&|fixtures| async move {
            let nursery = fixtures.nursery();
            nursery.start_soon(log_when_cancelled("background cancelled"));
            wait_all_tasks_blocked().await?;
            nursery.cancel_scope().cancel();
            let slept = trio::sleep(Duration::from_secs(1)).await;
            event(format!("the test's sleep was cancelled: {}", slept.is_err()));
            Ok::<(), trio::Error>(slept?)
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error);
    assert!(failure.message.contains("it returned an error: cancelled by an explicit cancel()"), "{}", failure.message);
    let log = take_events();
    assert!(log.contains(&"the test's sleep was cancelled: true".to_string()), "{log:?}");
    assert!(log.contains(&"background cancelled".to_string()), "{log:?}");
}
