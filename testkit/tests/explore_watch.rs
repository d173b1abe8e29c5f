//! Runs that do not end by themselves: a watchdog failure costs one run (it is neither re-run
//! nor shrunk), and a task that never yields — which the watchdog cannot stop — is ended by the
//! watcher thread, which prints what it knows and aborts the process (tested in a child
//! process, bounded in time).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use trio_testkit::explore::{Explore, FailureKind, PolicyKind};

/// A task blocked on a foreign future that never completes: only the watchdog ends the run.
async fn blocked_outside() {
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async {});
        nursery.start_soon(async {
            trio::cancellable(std::future::pending::<()>()).await.ok();
        });
        Ok(())
    })
    .await
    .unwrap();
}

#[test]
fn a_watchdog_failure_is_neither_re_run_nor_shrunk() {
    let runs = AtomicU64::new(0);
    let failure = Explore::new("explore_watch::once")
        .schedules(1)
        .timeout(Duration::from_millis(50))
        .persist(false)
        .run(|| {
            runs.fetch_add(1, Ordering::Relaxed);
            blocked_outside()
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Watchdog);
    assert_eq!(runs.load(Ordering::Relaxed), 1, "the limit is paid once");
    assert!(failure.shrunk.is_none());
    assert!(failure.message.contains("real-time limit of 50ms"), "{failure}");
    // The report still says how to replay it.
    assert!(failure.to_string().contains("replay this schedule:   TRIO_SEED="), "{failure}");
}

#[test]
fn a_watchdog_failure_in_an_exploration_costs_one_run_too() {
    let runs = AtomicU64::new(0);
    let failure = Explore::new("explore_watch::exploring")
        .policy(PolicyKind::Random)
        .schedules(50)
        .threads(1)
        .timeout(Duration::from_millis(50))
        .persist(false)
        .run(|| {
            runs.fetch_add(1, Ordering::Relaxed);
            blocked_outside()
        })
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Watchdog);
    assert_eq!(failure.schedule_index, Some(0));
    assert_eq!(runs.load(Ordering::Relaxed), 1, "no re-run for the report, no shrinking");
}

// ===== a task that never yields =====

/// A program whose task `spinner` never yields.
async fn spins_forever() {
    trio::open_nursery(|nursery| async move {
        nursery.start_soon_named("patient", async {
            trio::sleep_forever().await?;
            Ok(())
        });
        nursery.start_soon_named("spinner", async {
            let mut n = 0u64;
            loop {
                // No `.await` in the loop: the task never gives its thread back.
                n = std::hint::black_box(n.wrapping_add(1));
            }
        });
        Ok(())
    })
    .await
    .unwrap();
}

/// Run in a child process by [`a_task_that_never_yields_is_reported_and_the_process_aborted`]:
/// it never ends by itself.
#[test]
#[ignore = "run in a child process: it aborts"]
fn helper_spins_forever() {
    let _ = Explore::new("explore_watch::helper_spins_forever")
        .schedules(1)
        .seed(3)
        .policy(PolicyKind::Random)
        .timeout(Duration::from_millis(100))
        .persist(false)
        .run(spins_forever);
    println!("UNREACHABLE: the run returned");
}

/// The same, among the many schedules of an exploration.
#[test]
#[ignore = "run in a child process: it aborts"]
fn helper_explores_a_spinner() {
    let _ = Explore::new("explore_watch::helper_explores_a_spinner")
        .schedules(1000)
        .seed(3)
        .policy(PolicyKind::Random)
        .threads(2)
        .timeout(Duration::from_millis(100))
        .persist(false)
        .run(spins_forever);
    println!("UNREACHABLE: the run returned");
}

/// Runs the ignored test `name` in a child process and returns its output once it ends — or
/// kills it and fails if it has not ended after a long while.
fn child(name: &'static str) -> mpsc::Receiver<std::process::Output> {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output().unwrap());
    });
    finished
}

fn output_of(name: &'static str, finished: &mpsc::Receiver<std::process::Output>) -> (String, String) {
    // The watcher fires 2 s after the 100 ms limit; allow far more on a loaded machine, but
    // never hang: past that, fail (the child dies with the test process).
    let output = finished
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{name}: the child with a task that never yields was not stopped"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(output.status.signal(), Some(6), "aborted (SIGABRT): {stderr}");
    }
    assert!(!stdout.contains("UNREACHABLE"), "{stdout}");
    (stdout, stderr)
}

#[test]
fn a_task_that_never_yields_is_reported_and_the_process_aborted() {
    let single = child("helper_spins_forever");
    let exploring = child("helper_explores_a_spinner");

    let (_, stderr) = output_of("helper_spins_forever", &single);
    for needle in [
        "trio-testkit: test explore_watch::helper_spins_forever is stuck: task 3 (spawned at testkit/tests/explore_watch.rs:",
        "never gave control back",
        "(limit 100ms)",
        "add `trio::checkpoint().await?` to the loop",
        "schedule: policy random, seed 3",
        "    task 1 (spawned at testkit/tests/explore_watch.rs:",
        ", the test's main task",
        "      task 2 (spawned at testkit/tests/explore_watch.rs:",
        "<- in a step that never returns",
        "replay this schedule: TRIO_SEED=3 TRIO_POLICY=random cargo test -p trio-testkit --test explore_watch -- helper_spins_forever --exact",
        "aborting the process",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    let spinner = stderr.lines().find(|line| line.contains("<- in a step that never returns")).unwrap();
    assert!(spinner.trim_start().starts_with("task 3 "), "the spinner is task 3: {spinner}");

    let (_, stderr) = output_of("helper_explores_a_spinner", &exploring);
    for needle in [
        "trio-testkit: test explore_watch::helper_explores_a_spinner is stuck",
        "a task in it never gave control back",
        "replay this schedule alone",
        "replay this schedule: TRIO_SEED=",
        "aborting the process",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}
