//! User-defined fixtures follow pytest-trio's rules: one instance per test, dependencies set
//! up first and concurrently when independent, tear-down in reverse order after the test —
//! also when it fails, panics or is cancelled — a crashing background task cancels the test
//! and is named with its fixture, and nothing hangs when one set-up fails while another waits.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use trio::Nursery;
use trio_testkit::explore::{Explore, FailureKind, PolicyKind};
use trio_testkit::fixture::Yield;
use trio_testkit::sim::SimNet;
use trio_testkit::{MockClock, Sequencer, trio_fixture, trio_test, wait_all_tasks_blocked};

type Log = Rc<RefCell<Vec<String>>>;

fn push(log: &Log, entry: &str) {
    log.borrow_mut().push(entry.to_string());
}

/// The log the fixtures of one test write to.
#[trio_fixture]
async fn log() -> Log {
    Log::default()
}

// ===== values, names, one instance per test =====

#[trio_fixture]
async fn answer() -> u32 {
    trio::checkpoint().await.unwrap();
    42
}

#[trio_fixture]
async fn doubled(answer: u32) -> u32 {
    answer * 2
}

#[trio_test]
async fn a_test_gets_fixture_values_by_name(answer: u32, doubled: u32) {
    assert_eq!((answer, doubled), (42, 84));
}

#[trio_test]
async fn a_leading_underscore_asks_for_the_same_fixture(_answer: u32) {}

mod support {
    use trio_testkit::trio_fixture;

    #[trio_fixture]
    pub async fn greeting() -> trio::Result<String> {
        trio::checkpoint().await?;
        Ok("hello".to_string())
    }
}

#[trio_test]
async fn a_fixture_from_another_module_by_path(#[from(support::greeting)] hi: String) {
    assert_eq!(hi, "hello");
}

use support::greeting;

#[trio_test]
async fn a_fixture_from_another_module_by_use(greeting: String) {
    assert_eq!(greeting, "hello");
}

#[trio_fixture]
async fn shared_cell() -> Rc<Cell<u32>> {
    Rc::new(Cell::new(0))
}

#[trio_fixture]
async fn bumps_once(shared_cell: Rc<Cell<u32>>) -> Rc<Cell<u32>> {
    shared_cell.set(shared_cell.get() + 1);
    shared_cell
}

#[trio_fixture]
async fn bumps_again(shared_cell: Rc<Cell<u32>>) -> Rc<Cell<u32>> {
    shared_cell.set(shared_cell.get() + 10);
    shared_cell
}

/// Two fixtures and the test ask for `shared_cell`: one instance, shared by all.
#[trio_test]
async fn one_instance_per_test(shared_cell: Rc<Cell<u32>>, bumps_once: Rc<Cell<u32>>, bumps_again: Rc<Cell<u32>>) {
    assert!(Rc::ptr_eq(&shared_cell, &bumps_once) && Rc::ptr_eq(&shared_cell, &bumps_again));
    assert_eq!(shared_cell.get(), 11);
}

/// Each test (and each schedule) gets fresh fixtures.
#[trio_test(schedules = 5)]
async fn every_schedule_gets_fresh_fixtures(bumps_once: Rc<Cell<u32>>) {
    assert_eq!(bumps_once.get(), 1);
}

// ===== on the test's clock =====

#[trio_fixture]
async fn slow_start(autojump_clock: MockClock) -> trio::Instant {
    trio::sleep(Duration::from_secs(30)).await.unwrap();
    autojump_clock.current_time()
}

/// A fixture that asks for `autojump_clock` installs it for the whole run.
#[trio_test]
async fn a_fixtures_clock_is_the_tests(slow_start: trio::Instant) -> trio::Result<()> {
    assert_eq!(slow_start, trio::Instant::from_secs(30));
    trio::sleep(Duration::from_secs(3600)).await?; // no real hour: the fixture's autojump clock
    assert_eq!(trio::current_time(), trio::Instant::from_secs(3630));
    Ok(())
}

#[trio_test]
async fn the_same_clock_for_fixture_and_test(slow_start: trio::Instant, autojump_clock: MockClock) {
    assert_eq!(autojump_clock.current_time(), slow_start);
}

// ===== ordering (pytest-trio's test_fixture_basic_ordering) =====

#[trio_fixture]
async fn seq() -> Rc<Sequencer> {
    Rc::new(Sequencer::new())
}

#[trio_fixture]
async fn leaf(log: Log, fixture: Yield<()>) -> trio::Result<()> {
    push(&log, "leaf setup");
    fixture.provide(()).await?;
    push(&log, "leaf teardown");
    assert_eq!(
        *log.borrow(),
        [
            "leaf setup",
            "concurrent_1 setup 1",
            "concurrent_2 setup 1",
            "concurrent_1 setup 2",
            "concurrent_2 setup 2",
            "test",
            "concurrent_1 teardown 1",
            "concurrent_2 teardown 1",
            "concurrent_1 teardown 2",
            "concurrent_2 teardown 2",
            "leaf teardown",
        ]
    );
    Ok(())
}

#[trio_fixture]
async fn concurrent_1(_leaf: (), seq: Rc<Sequencer>, log: Log, fixture: Yield<()>) -> trio::Result<()> {
    seq.block(0).await.map(|_| push(&log, "concurrent_1 setup 1"))?;
    seq.block(2).await.map(|_| push(&log, "concurrent_1 setup 2"))?;
    fixture.provide(()).await?;
    seq.block(4).await.map(|_| push(&log, "concurrent_1 teardown 1"))?;
    seq.block(6).await.map(|_| push(&log, "concurrent_1 teardown 2"))?;
    Ok(())
}

#[trio_fixture]
async fn concurrent_2(_leaf: (), seq: Rc<Sequencer>, log: Log, fixture: Yield<()>) -> trio::Result<()> {
    seq.block(1).await.map(|_| push(&log, "concurrent_2 setup 1"))?;
    seq.block(3).await.map(|_| push(&log, "concurrent_2 setup 2"))?;
    fixture.provide(()).await?;
    seq.block(5).await.map(|_| push(&log, "concurrent_2 teardown 1"))?;
    seq.block(7).await.map(|_| push(&log, "concurrent_2 teardown 2"))?;
    Ok(())
}

/// The leaf first and last; the two fixtures that depend on it set up and tear down
/// interleaved (the sequencer would deadlock if they ran one after the other).
#[trio_test(schedules = 20)]
async fn dependencies_first_independent_ones_concurrently(_concurrent_1: (), _concurrent_2: (), log: Log) {
    assert_eq!(log.borrow().len(), 5);
    push(&log, "test");
}

// ===== tear-down after a failure (checked from outside the test) =====

thread_local! {
    static OUTSIDE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn outside(entry: &str) {
    OUTSIDE.with(|log| log.borrow_mut().push(entry.to_string()));
}

fn take_outside() -> Vec<String> {
    OUTSIDE.with(|log| std::mem::take(&mut *log.borrow_mut()))
}

#[trio_fixture]
async fn base(fixture: Yield<u32>) -> trio::Result<()> {
    outside("base setup");
    fixture.provide(1).await?;
    outside("base teardown");
    Ok(())
}

#[trio_fixture]
async fn upper(base: u32, fixture: Yield<u32>) -> trio::Result<()> {
    outside("upper setup");
    fixture.provide(base + 1).await?;
    outside("upper teardown");
    Ok(())
}

fn one_schedule(name: &str) -> Explore {
    Explore::new(name).schedules(1).persist(false).fixture(upper)
}

#[test]
fn tear_down_in_reverse_order_after_a_passing_test() {
    take_outside();
    one_schedule("passes")
        .run_local_with_fixtures(&|fixtures| async move {
            outside("test");
            assert_eq!(fixtures.get(upper), 2);
        })
        .unwrap();
    assert_eq!(take_outside(), ["base setup", "upper setup", "test", "upper teardown", "base teardown"]);
}

#[test]
fn tear_down_runs_after_a_failing_test() {
    take_outside();
    let failure = one_schedule("returns_an_error")
        .run_local_with_fixtures(&|_fixtures| async move {
            outside("test");
            Err::<(), _>("the test's own error")
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error);
    assert!(failure.message.contains("the test's own error"), "{}", failure.message);
    let log = take_outside();
    assert_eq!(&log[..5], ["base setup", "upper setup", "test", "upper teardown", "base teardown"]);
}

#[test]
fn tear_down_runs_after_a_panicking_test() {
    take_outside();
    let failure = one_schedule("panics")
        .run_local_with_fixtures(&|_fixtures| async move {
            outside("test");
            panic!("the test's own panic");
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure.message.contains("the test's own panic"), "{}", failure.message);
    let log = take_outside();
    assert_eq!(&log[..5], ["base setup", "upper setup", "test", "upper teardown", "base teardown"]);
}

#[test]
fn tear_down_runs_after_a_cancelled_test() {
    take_outside();
    one_schedule("cancelled")
        .run_local_with_fixtures(&|_fixtures| async move {
            let cancelled = trio::move_on_after(Duration::from_secs(1), async {
                trio::sleep_forever().await?;
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(cancelled, None);
            outside("test cancelled");
        })
        .unwrap();
    assert_eq!(take_outside(), ["base setup", "upper setup", "test cancelled", "upper teardown", "base teardown"]);
}

// ===== failures =====

#[trio_fixture]
async fn broken() -> Result<u32, String> {
    trio::checkpoint().await.unwrap();
    Err("no database today".to_string())
}

#[test]
fn a_failing_set_up_fails_the_test_and_names_the_fixture() {
    take_outside();
    let failure = Explore::new("set_up_fails")
        .schedules(1)
        .persist(false)
        .fixture(broken)
        .fixture(upper)
        .run_local_with_fixtures(&|_fixtures| async move { outside("test") })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error);
    assert!(
        failure.message.contains("fixture_rules::broken` failed during set-up: \"no database today\""),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("the test did not start"), "{}", failure.message);
    let log = take_outside();
    assert!(!log.contains(&"test".to_string()), "the test ran: {log:?}");
    // A fixture already set up is still torn down.
    if log.contains(&"upper setup".to_string()) {
        assert!(log.contains(&"upper teardown".to_string()), "{log:?}");
    }
}

#[trio_fixture]
async fn hanging() -> u32 {
    trio::Event::new().wait().await.ok(); // nobody sets it: only a cancellation ends this
    outside("hanging was cancelled");
    0
}

#[trio_fixture]
async fn exploding() -> trio::Result<u32> {
    trio::checkpoint().await?;
    Err(trio::Error::msg("boom in set-up"))
}

/// pytest-trio #120: one set-up fails while another waits forever — the waiting one is
/// cancelled and the test fails at once, naming the failure, instead of hanging.
#[test]
fn a_failing_set_up_cancels_a_hanging_one() {
    take_outside();
    let failure = Explore::new("crash_and_hang")
        .schedules(10)
        .policy(PolicyKind::Random)
        .persist(false)
        .fixture(exploding)
        .fixture(hanging)
        .run_local_with_fixtures(&|_fixtures| async move { outside("test") })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error, "{failure}");
    assert!(failure.message.contains("exploding` failed during set-up: boom in set-up"), "{}", failure.message);
    assert!(!failure.message.contains("hanging`"), "the cancelled set-up is not a failure: {}", failure.message);
    let log = take_outside();
    assert!(log.contains(&"hanging was cancelled".to_string()), "{log:?}");
    assert!(!log.contains(&"test".to_string()), "{log:?}");
}

#[trio_fixture]
async fn crashy(nursery: Nursery, fixture: Yield<()>) -> trio::Result<()> {
    nursery.start_soon_named("crashy background", async {
        trio::sleep(Duration::from_secs(1)).await?;
        Err(trio::Error::msg("the background task crashed"))
    });
    let waited = fixture.provide(()).await;
    outside(&format!("crashy's provide returned cancelled: {}", waited.as_ref().is_err_and(|e| e.is_cancelled())));
    waited?;
    outside("crashy teardown after the ?");
    Ok(())
}

#[trio_fixture]
async fn sidefix(fixture: Yield<()>) -> trio::Result<()> {
    fixture.provide(()).await?;
    outside(&format!("sidefix teardown, deadline {:?}", trio::current_effective_deadline()));
    Ok(())
}

/// pytest-trio's test_background_crash_cancellation_propagation: a task in a fixture's nursery
/// crashes; the test is cancelled (at t = 1 s), the crashing fixture's `provide` returns
/// `Err(Cancelled)`, an unrelated fixture tears down normally (not cancelled), and the failure
/// names the fixture and its task.
#[test]
fn a_crashing_background_task_cancels_the_test_and_is_named() {
    take_outside();
    let failure = Explore::new("background_crash")
        .schedules(1)
        .persist(false)
        .fixture(crashy)
        .fixture(sidefix)
        .run_local_with_fixtures(&|_fixtures| async move {
            let outcome = trio::sleep_forever().await;
            outside(&format!("test cancelled at {:?}", trio::current_time()));
            outcome
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error);
    assert!(
        failure.message.contains("crashy`: task `crashy background` failed: the background task crashed"),
        "{}",
        failure.message
    );
    let log = take_outside();
    assert!(log.contains(&format!("test cancelled at {:?}", trio::Instant::from_secs(1))), "{log:?}");
    // The cancelled `provide` waited (shielded, as pytest-trio does) for the test to finish.
    let position =
        |entry: &str| log.iter().position(|e| e == entry).unwrap_or_else(|| panic!("no {entry:?} in {log:?}"));
    assert!(
        position(&format!("test cancelled at {:?}", trio::Instant::from_secs(1)))
            < position("crashy's provide returned cancelled: true"),
        "{log:?}"
    );
    assert!(!log.contains(&"crashy teardown after the ?".to_string()), "{log:?}");
    assert!(log.contains(&"sidefix teardown, deadline None".to_string()), "{log:?}");
}

#[trio_fixture]
async fn impatient(fixture: Yield<()>) -> trio::Result<()> {
    trio::move_on_after(Duration::from_secs(5), async { fixture.provide(()).await }).await?;
    Ok(())
}

/// pytest-trio #75: a fixture whose `provide` is cancelled by a deadline cancels the test; if
/// it then reports no failure, the test fails anyway, saying so.
#[test]
fn a_fixture_that_cancels_the_test_silently_still_fails_it() {
    let failure = Explore::new("silent")
        .schedules(1)
        .persist(false)
        .fixture(impatient)
        .run_local_with_fixtures(&|_fixtures| async move {
            trio::sleep(Duration::from_secs(60)).await?;
            Ok::<(), trio::Error>(())
        })
        .unwrap_err();
    assert!(failure.message.contains("impatient` cancelled the test but reported no failure"), "{}", failure.message);
}

#[trio_fixture]
async fn forgetful(_fixture: Yield<u32>) {}

#[test]
fn a_yield_fixture_that_never_provides_fails_the_test() {
    let failure = Explore::new("forgetful")
        .schedules(1)
        .persist(false)
        .fixture(forgetful)
        .run_local_with_fixtures(&|_fixtures| async move {})
        .unwrap_err();
    assert!(failure.message.contains("forgetful` returned without providing its value"), "{}", failure.message);
}

#[trio_fixture]
async fn panics_in_teardown(fixture: Yield<()>) -> trio::Result<()> {
    fixture.provide(()).await?;
    panic!("tear-down blew up");
}

#[test]
fn a_panic_in_tear_down_fails_the_test_after_the_other_tear_downs() {
    take_outside();
    let failure = Explore::new("teardown_panics")
        .schedules(1)
        .persist(false)
        .fixture(panics_in_teardown)
        .fixture(upper)
        .run_local_with_fixtures(&|_fixtures| async move {})
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(
        failure.message.contains("panics_in_teardown` panicked during tear-down: tear-down blew up"),
        "{}",
        failure.message
    );
    assert!(take_outside().contains(&"base teardown".to_string()));
}

// ===== pytest-trio #117: a test can check a fixture's cancellation handling =====

#[derive(Clone)]
struct Worker {
    nursery: Nursery,
    handled_cancellation: Rc<Cell<bool>>,
}

#[trio_fixture]
async fn worker(nursery: Nursery, fixture: Yield<Worker>) -> trio::Result<()> {
    let handled = Rc::new(Cell::new(false));
    let h = handled.clone();
    nursery.start_soon_named("worker loop", async move {
        if trio::sleep_forever().await.is_err() {
            h.set(true); // the clean-up under test
        }
    });
    let worker = Worker { nursery: nursery.clone(), handled_cancellation: handled };
    // The test cancels this fixture's nursery on purpose: `provide` returns Err(Cancelled) once
    // the test is done, and the test itself is not cancelled.
    let waited = fixture.provide(worker).await;
    assert!(waited.is_err_and(|error| error.is_cancelled()));
    Ok(())
}

#[trio_test]
async fn a_test_can_cancel_a_fixtures_nursery_and_check_the_clean_up(worker: Worker) -> trio::Result<()> {
    wait_all_tasks_blocked().await?;
    assert!(!worker.handled_cancellation.get());
    worker.nursery.cancel_scope().cancel();
    wait_all_tasks_blocked().await?; // the worker loop has run its clean-up
    assert!(worker.handled_cancellation.get());
    trio::checkpoint().await?; // and the test was not cancelled
    Ok(())
}

// ===== built-in fixtures in fixtures =====

#[trio_fixture]
async fn db_host(net: SimNet) -> trio::Result<&'static str> {
    let listener = net.add_host("db").listen(5432)?;
    std::mem::forget(listener); // keep it bound for the whole test
    Ok("db")
}

/// `net` is one network per test: the fixture's host is the test's.
#[trio_test(autojump)]
async fn a_fixture_and_the_test_share_the_network(db_host: &'static str, net: SimNet) -> trio::Result<()> {
    assert_eq!(net.host(db_host).name(), "db");
    let _stream = trio::net::open_tcp_stream(db_host, 5432).await?;
    Ok(())
}

// ===== exploration covers the fixtures =====

#[trio_fixture]
async fn first(log: Log) -> trio::Result<()> {
    trio::checkpoint().await?;
    push(&log, "first");
    Ok(())
}

#[trio_fixture]
async fn second(log: Log) -> trio::Result<()> {
    trio::checkpoint().await?;
    push(&log, "second");
    Ok(())
}

/// Two independent set-ups race: the default order sets `first` up first, other schedules do
/// not. Exploration finds it, the failing schedule names the fixture tasks, replays, and
/// shrinks to one deviation.
#[test]
fn exploration_interleaves_fixture_set_up() {
    let config = Explore::new("set_up_race")
        .schedules(100)
        .policy(PolicyKind::Random)
        .persist(false)
        .fixture(first)
        .fixture(second)
        .fixture(log);
    let test = |fixtures: trio_testkit::explore::Fixtures| async move {
        assert_eq!(*fixtures.get(log).borrow(), ["first", "second"], "set-up order");
    };
    let failure = config.run_with_fixtures(&test).unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic);
    let shrunk = failure.shrunk.as_ref().expect("shrunk");
    assert_eq!(shrunk.schedule.len(), 1, "{failure}");
    assert!(shrunk.trace.to_string().contains("fixture `fixture_rules::second`"), "{}", shrunk.trace);
    // The default order passes, and the shrunk schedule replays the failure.
    config.clone().policy(PolicyKind::Fifo).schedules(1).run_with_fixtures(&test).unwrap();
    let replayed = config.replay(shrunk.schedule.clone()).run_with_fixtures(&test).unwrap_err();
    assert_eq!(replayed.kind, FailureKind::Panic);
}

// ===== dependency cycles: a clear error at test start =====

mod cycle {
    use trio_testkit::trio_fixture;

    #[trio_fixture]
    pub async fn chicken(egg: u32) -> u32 {
        egg
    }

    #[trio_fixture]
    pub async fn egg(chicken: u32) -> u32 {
        chicken
    }
}

#[test]
fn a_dependency_cycle_is_an_error_naming_the_cycle() {
    let panic = std::panic::catch_unwind(|| Explore::new("cycle").fixture(cycle::chicken)).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(
        message,
        "fixture dependency cycle: `fixture_rules::cycle::chicken` → `fixture_rules::cycle::egg` → \
         `fixture_rules::cycle::chicken` — a fixture cannot be set up before itself; break the cycle"
    );
}

#[trio_fixture]
async fn frozen(mock_clock: MockClock) -> MockClock {
    mock_clock
}

#[test]
fn a_fixture_asking_for_another_clock_than_the_test_is_an_error() {
    let panic = std::panic::catch_unwind(|| {
        Explore::new("clocks").clock(trio_testkit::explore::ClockFixture::Autojump).fixture(frozen)
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("fixture `fixture_rules::frozen` asks for mock_clock, but the test asks for autojump_clock"),
        "{message}"
    );
}

// ===== cancellation injection =====

/// Injected cancellations reach the fixtures' code (a set-up's checkpoint, a `provide`) but
/// never the runner's own bookkeeping: every injection either passes or fails in the code
/// under test, never with a fixture that has no value.
#[test]
fn injected_cancellations_do_not_break_the_runner() {
    let summary = Explore::new("injected")
        .schedules(1)
        .inject_cancellations(4)
        .persist(false)
        .fixture(upper)
        .fixture(answer)
        .run_local_with_fixtures(&|fixtures| async move {
            let _ = (fixtures.get(upper), fixtures.get(answer));
            trio::checkpoint().await.ok();
        });
    match summary {
        Ok(summary) => assert!(summary.runs > 2, "{summary:?}"),
        Err(failure) => assert!(!failure.message.contains("has no value"), "{failure}"),
    }
}
