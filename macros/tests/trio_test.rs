//! What `#[trio_test]` does at run time: fixtures, arguments, return types, and every way a
//! test fails — an error, a panic in any task, a deadlock, the watchdog — each with a message
//! that says what happened.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use trio::{Instant, Nursery};
use trio_testkit::{MockClock, trio_test, wait_all_tasks_blocked};

// ===== fixtures =====

#[trio_test]
async fn mock_clock_is_the_runs_clock(mock_clock: MockClock) {
    assert_eq!(trio::current_time(), Instant::ZERO);
    assert_eq!(mock_clock.autojump_threshold(), None);
    mock_clock.jump(Duration::from_secs(3));
    assert_eq!(trio::current_time(), Instant::from_secs(3));
}

#[trio_test]
async fn autojump_clock_jumps(autojump_clock: MockClock) -> trio::Result<()> {
    assert_eq!(autojump_clock.autojump_threshold(), Some(Duration::ZERO));
    trio::sleep(Duration::from_secs(3600)).await?;
    assert_eq!(autojump_clock.current_time(), Instant::from_secs(3600));
    Ok(())
}

#[trio_test(autojump)]
async fn autojump_argument_installs_the_clock() -> trio::Result<()> {
    trio::sleep(Duration::from_secs(3600)).await?;
    assert_eq!(trio::current_time(), Instant::from_secs(3600));
    Ok(())
}

/// A leading underscore asks for the same fixture.
#[trio_test]
async fn underscored_fixture_names(_autojump_clock: MockClock, _nursery: Nursery) -> trio::Result<()> {
    trio::sleep(Duration::from_secs(1)).await?;
    assert_eq!(trio::current_time(), Instant::from_secs(1));
    Ok(())
}

/// Without a clock fixture the test runs on the real clock, which never starts at zero.
#[trio_test]
async fn no_clock_fixture_means_the_system_clock() {
    assert!(trio::current_time() > Instant::from_secs(10_000));
}

/// The nursery's tasks run alongside the test…
#[trio_test]
async fn nursery_runs_background_tasks(nursery: Nursery) -> trio::Result<()> {
    let (rx, tx) = trio::lowlevel::park_slot::<u32>("the answer from the background task");
    nursery.start_soon(async move {
        trio::checkpoint().await?;
        tx.unpark(42).expect("the test is waiting");
        Ok(())
    });
    assert_eq!(rx.await?, 42);
    Ok(())
}

/// …and are cancelled when the test returns: otherwise this test would never finish.
#[trio_test]
async fn nursery_is_cancelled_when_the_test_returns(nursery: Nursery, mock_clock: MockClock) {
    nursery.start_soon(async {
        trio::sleep_forever().await?;
        Ok(())
    });
    nursery.start_soon(async {
        if trio::sleep(Duration::from_secs(3600)).await.is_ok() {
            unreachable!("the frozen clock never gets there");
        }
    });
    wait_all_tasks_blocked().await.unwrap();
    assert_eq!(nursery.child_count(), 2);
    let _ = mock_clock;
}

// ===== arguments =====

#[trio_test(seed = 1234)]
async fn seed_argument_sets_the_seed() {
    assert_eq!(trio::lowlevel::current_seed(), 1234);
}

#[trio_test(seed = 0xdead_beef)]
async fn seed_accepts_any_integer_literal() {
    assert_eq!(trio::lowlevel::current_seed(), 0xdead_beef);
}

#[trio_test]
async fn default_seed_comes_from_the_test_path() {
    let name = concat!(module_path!(), "::default_seed_comes_from_the_test_path");
    assert_eq!(trio::lowlevel::current_seed(), trio_testkit::__private::seed_from_name(name));
}

#[trio_test(policy = "fifo")]
async fn fifo_policy_keeps_spawn_order(nursery: Nursery) -> trio::Result<()> {
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    for i in 0..5 {
        let log = log.clone();
        nursery.start_soon(async move { log.borrow_mut().push(i) });
    }
    wait_all_tasks_blocked().await?;
    assert_eq!(*log.borrow(), [0, 1, 2, 3, 4]);
    Ok(())
}

#[trio_test(policy = "random", seed = 3, timeout = "1m30s")]
async fn several_arguments_together() {
    assert_eq!(trio::lowlevel::current_seed(), 3);
}

/// The run's main task is spawned at the test, so reports point there.
#[trio_test]
async fn the_main_task_points_at_the_test() {
    let main = trio::lowlevel::current_root_task();
    assert!(main.spawn_location().file().ends_with("trio_test.rs"), "{}", main.spawn_location());
}

// ===== return types =====

#[trio_test]
async fn returns_ok() -> trio::Result<()> {
    trio::checkpoint().await?;
    Ok(())
}

#[trio_test]
async fn returns_a_custom_error_type() -> Result<(), String> {
    trio::checkpoint().await.map_err(|error| error.to_string())?;
    Ok(())
}

#[trio_test]
async fn early_return_works() -> Result<(), std::io::Error> {
    if trio::current_time() > Instant::ZERO {
        return Ok(());
    }
    Err(std::io::Error::other("the system clock never reads zero"))
}

// ===== failures =====

#[trio_test]
#[should_panic(expected = "it returned an error: \"went wrong\"")]
async fn an_error_fails_the_test() -> Result<(), &'static str> {
    Err("went wrong")
}

#[trio_test]
#[should_panic(expected = "boom in a child")]
async fn a_panic_in_a_child_fails_the_test(nursery: Nursery) {
    nursery.start_soon(async {
        let _ = trio::checkpoint().await;
        panic!("boom in a child");
    });
    let _ = trio::sleep_forever().await;
}

/// A failing background task cancels the test and both are reported.
#[trio_test]
#[should_panic(expected = "it returned an error: cancelled because task `saboteur` failed in the nursery opened at")]
async fn a_failing_background_task_fails_the_test(nursery: Nursery) -> trio::Result<()> {
    nursery.start_soon_named("saboteur", async {
        trio::checkpoint().await?;
        Err(trio::Error::msg("failed on purpose"))
    });
    trio::sleep_forever().await?;
    Ok(())
}

#[trio_test]
#[should_panic(expected = "task `saboteur`: failed on purpose")]
async fn the_failing_task_is_named(nursery: Nursery) -> trio::Result<()> {
    nursery.start_soon_named("saboteur", async { Err(trio::Error::msg("failed on purpose")) });
    trio::sleep_forever().await?;
    Ok(())
}

/// Every task blocked and nothing to wake them: fails at once, listing the tasks.
#[trio_test]
#[should_panic(expected = "deadlock: every task is blocked")]
async fn a_deadlock_fails_at_once(nursery: Nursery) {
    nursery.start_soon_named("stuck child", async {
        let (slot, _unparker) = trio::lowlevel::park_slot::<()>("a hand-off that never comes");
        let _unparker = _unparker;
        slot.await?;
        Ok(())
    });
    let (slot, unparker) = trio::lowlevel::park_slot::<()>("the main task's own hand-off");
    let _ = slot.await;
    drop(unparker);
}

#[trio_test]
#[should_panic(expected = "a hand-off that never comes")]
async fn the_deadlock_report_says_what_each_task_waits_on(nursery: Nursery) {
    nursery.start_soon_named("stuck child", async {
        let (slot, unparker) = trio::lowlevel::park_slot::<()>("a hand-off that never comes");
        slot.await?;
        drop(unparker);
        Ok(())
    });
    let _ = trio::sleep_forever().await;
}

/// Failures end with the schedule that ran, so it can be pinned.
#[trio_test]
#[should_panic(expected = "pin it with #[trio_test(seed = ")]
async fn failures_print_the_schedule() -> Result<(), &'static str> {
    Err("went wrong")
}

#[trio_test(seed = 5, policy = "fifo")]
#[should_panic(expected = "schedule: policy fifo, seed 5")]
async fn failures_print_an_explicit_schedule() -> Result<(), &'static str> {
    Err("went wrong")
}

/// Blocked on a foreign future that never completes, the test is stopped by the watchdog
/// after its timeout and the report shows the task tree.
#[trio_test(timeout = "50ms")]
#[should_panic(expected = "the run exceeded its real-time limit of 50ms")]
async fn the_watchdog_stops_a_stuck_test() {
    let (_tx, rx) = oneshot::channel::<()>();
    let _ = trio::cancellable(rx).await;
}

#[trio_test(timeout = "50ms")]
#[should_panic(expected = "a future from outside trio")]
async fn the_watchdog_report_shows_the_tasks() {
    let (_tx, rx) = oneshot::channel::<()>();
    let _ = trio::cancellable(rx).await;
}

/// A foreign future awaited directly cannot be cancelled: the watchdog's report says to wrap it
/// in `trio::cancellable`.
#[trio_test(timeout = "50ms")]
#[should_panic(expected = "wrap it in `trio::cancellable(...)`")]
async fn the_watchdog_report_points_at_trio_cancellable() {
    let (_tx, rx) = oneshot::channel::<()>();
    let _ = trio::move_on_after(Duration::from_secs(3600), async {
        let _ = rx.await; // not wrapped: the deadline could not stop it
        Ok(())
    })
    .await;
}

// ===== attributes and paths =====

mod nested {
    use trio_testkit::trio_test;

    #[trio_test]
    async fn tests_in_modules_get_their_path_in_the_seed() {
        let name = concat!(module_path!(), "::tests_in_modules_get_their_path_in_the_seed");
        assert!(name.ends_with("nested::tests_in_modules_get_their_path_in_the_seed"));
        assert_eq!(trio::lowlevel::current_seed(), trio_testkit::__private::seed_from_name(name));
    }
}

/// `crate = "…"` makes the generated code call the runner through that path. This shim's
/// runner refuses to run, so the test passes only if the shim was used.
mod renamed_testkit {
    pub(crate) mod __private {
        pub(crate) use trio_testkit::__private::*;

        pub(crate) fn run_test<F, Fut>(_config: Explore, _test: F)
        where
            F: FnOnce(Fixtures) -> Fut,
            Fut: std::future::Future,
        {
            panic!("the renamed testkit's runner was used");
        }
    }
}

#[trio_test(crate = "crate::renamed_testkit")]
#[should_panic(expected = "the renamed testkit's runner was used")]
async fn crate_argument_changes_the_path() {}

/// Fixtures can be used from child tasks via clones.
#[trio_test]
async fn fixtures_are_cheap_handles(autojump_clock: MockClock, nursery: Nursery) -> trio::Result<()> {
    let jumped = Rc::new(Cell::new(false));
    let (clock, flag) = (autojump_clock.clone(), jumped.clone());
    nursery.start_soon(async move {
        clock.jump(Duration::from_secs(7));
        flag.set(true);
    });
    wait_all_tasks_blocked().await?;
    assert!(jumped.get());
    assert_eq!(autojump_clock.current_time(), Instant::from_secs(7));
    Ok(())
}

/// Fractional and other units of `timeout` are parsed exactly.
#[trio_test(timeout = "0.05s")]
#[should_panic(expected = "real-time limit of 50ms")]
async fn timeout_accepts_fractions() {
    let (_tx, rx) = oneshot::channel::<()>();
    let _ = trio::cancellable(rx).await;
}

#[trio_test(timeout = "50000 us")]
#[should_panic(expected = "real-time limit of 50ms")]
async fn timeout_accepts_other_units() {
    let (_tx, rx) = oneshot::channel::<()>();
    let _ = trio::cancellable(rx).await;
}

// ===== the panic note =====

/// Not run on its own: [`a_panic_names_its_task`] runs it in a child process to read what it
/// prints.
#[trio_test]
#[ignore = "run in a child process by a_panic_names_its_task"]
#[should_panic(expected = "boom in a named child")]
async fn helper_child_panics(nursery: Nursery) {
    nursery.start_soon_named("the culprit", async {
        let _ = trio::checkpoint().await;
        panic!("boom in a named child");
    });
    let _ = trio::sleep_forever().await;
}

/// After a child task's panic message, the failure report names the task and where it was
/// spawned.
#[test]
fn a_panic_names_its_task() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["helper_child_panics", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let message = stderr.find("boom in a named child").expect("the panic message is printed");
    let note = stderr
        .find("in trio task `the culprit` spawned at macros/tests/trio_test.rs:")
        .unwrap_or_else(|| panic!("no note naming the task in:\n{stderr}"));
    assert!(message < note);
}

// ===== schedule exploration =====

/// A lost update: shows up under exploration, not in one schedule.
async fn racy_counter() {
    let counter = Rc::new(std::cell::Cell::new(0));
    let c = counter.clone();
    trio::open_nursery(|nursery| async move {
        let c1 = c.clone();
        nursery.start_soon(async move {
            let seen = c1.get();
            trio::checkpoint().await?;
            c1.set(seen + 1);
            Ok(())
        });
        nursery.start_soon(async move {
            trio::checkpoint().await?;
            c.set(c.get() + 1);
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(counter.get(), 2, "an update was lost");
}

#[trio_test(schedules = 300)]
#[should_panic(expected = "TRIO_SEED=")]
async fn schedules_explore_and_report_a_replay_line() {
    racy_counter().await;
}

#[trio_test(schedules = 300, policy = "pct", depth = 2)]
#[should_panic(expected = "policy pct:2")]
async fn pct_exploration_finds_it_too() {
    racy_counter().await;
}

#[trio_test(schedules = 500, policy = "pct", depth = 3, check_determinism, threads = 2)]
async fn a_correct_program_passes_many_schedules(autojump_clock: MockClock) {
    let lock = Rc::new(trio::Lock::new());
    let counter = Rc::new(std::cell::Cell::new(0));
    let (l, c) = (lock.clone(), counter.clone());
    trio::open_nursery(|nursery| async move {
        for _ in 0..3 {
            let (l, c) = (l.clone(), c.clone());
            nursery.start_soon(async move {
                let _guard = l.lock().await?;
                let seen = c.get();
                trio::sleep(std::time::Duration::from_secs(1)).await?;
                c.set(seen + 1);
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(counter.get(), 3);
    assert_eq!(autojump_clock.current_time(), trio::Instant::from_secs(3));
}

#[trio_test(inject_cancellations = 4)]
#[should_panic(expected = "cancellation injected at cancel point")]
async fn injection_finds_code_that_is_not_cancel_safe() {
    let stash = Rc::new(std::cell::RefCell::new(vec![1, 2, 3]));
    let kept = stash.clone();
    // Takes an item out, then waits before putting it somewhere safe: a cancellation in
    // between loses the item.
    let _ = trio::move_on_after(std::time::Duration::from_secs(60), async move {
        let item = kept.borrow_mut().pop();
        trio::checkpoint().await?;
        kept.borrow_mut().insert(0, item.unwrap());
        Ok(())
    })
    .await;
    assert_eq!(stash.borrow().len(), 3, "an item was lost");
}

// ===== the net fixture =====

/// `net: SimNet` is a fresh simulated network per schedule, installed before the test starts:
/// `trio::net` reaches a host added to it, with no `install()` in the test.
#[trio_test(autojump, schedules = 3)]
async fn net_fixture_is_installed_in_every_schedule(net: trio_testkit::sim::SimNet) -> trio::Result<()> {
    use trio::abc::Listener;
    let listener = net.add_host("db").listen(5432)?;
    let _client = trio::net::open_tcp_stream("db", 5432).await?;
    let _server_side = listener.accept().await?;
    assert_eq!(trio::current_time(), Instant::from_millis(2)); // a round trip over a 1 ms link, virtual
    Ok(())
}

#[trio_test(schedules = 20, policy = "random", require_sometimes)]
#[should_panic(expected = "passed, but never satisfied an assertion it requires")]
async fn require_sometimes_fails_a_test_whose_sometimes_never_came_true() {
    trio::checkpoint().await.unwrap();
    trio::sometimes!(trio::current_time() > trio::Instant::from_secs(60), "an hour passes");
}

#[trio_test(schedules = 50, policy = "random", require_sometimes)]
async fn require_sometimes_passes_once_a_schedule_made_it_true() {
    let first = Rc::new(std::cell::Cell::new(""));
    let f = first.clone();
    trio::open_nursery(|nursery| async move {
        for name in ["a", "b"] {
            let f = f.clone();
            nursery.start_soon(async move {
                if f.get().is_empty() {
                    f.set(name);
                }
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    trio::sometimes!(first.get() == "b", "b runs first");
}

#[trio_test(schedules = 10, require_assertion = "the retry path runs")]
#[should_panic(expected = "\"the retry path runs\" was required, but no schedule reached")]
async fn require_assertion_fails_a_test_that_never_reached_it() {
    trio::checkpoint().await.unwrap();
    if trio::current_time() > trio::Instant::from_secs(60) {
        trio::reachable!("the retry path runs");
    }
}

#[trio_test(schedules = 10, require_assertion = ["first", "second"])]
async fn require_assertion_takes_a_list_and_passes_when_each_fired() {
    trio::reachable!("first");
    trio::sometimes!(true, "second");
}

#[trio_test(schedules = 10, require_assertion = ["first", "second"])]
#[should_panic(expected = "\"second\" was required")]
async fn require_assertion_checks_every_message_of_its_list() {
    trio::reachable!("first");
}
