//! Settings and saved schedules that are wrong in some way: every environment override is
//! checked and a bad one is a clear error; the regressions file is read line by line and every
//! line that does not parse gets a warning while the others still replay; a replay whose picks
//! do not apply says so; an exact replay (`TRIO_SEED`, `TRIO_REPLAY`) runs only that schedule.

use std::cell::Cell;
use std::ffi::OsString;
use std::process::Command;
use std::rc::Rc;

use trio_testkit::explore::{Explore, FailureKind, PolicyKind};
use trio_testkit::policy::Schedule;

/// Two tasks, a lost update whenever the second runs inside the first's read-write window;
/// the default order passes.
async fn lost_update() {
    let counter = Rc::new(Cell::new(0));
    let c = counter.clone();
    trio::open_nursery(|nursery| async move {
        let c1 = c.clone();
        nursery.start_soon_named("reader-writer", async move {
            let seen = c1.get();
            trio::checkpoint().await?;
            c1.set(seen + 1);
            Ok(())
        });
        nursery.start_soon_named("incrementer", async move {
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

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("trio-testkit-settings-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("regressions.txt");
    let _ = std::fs::remove_file(&file);
    file
}

// ===== environment overrides =====

fn env_error(vars: &[(&str, &str)]) -> String {
    Explore::new("t").apply_env(vars.iter().copied()).unwrap_err().to_string()
}

#[test]
fn a_pct_depth_beyond_the_bound_is_a_clear_error_not_a_huge_allocation() {
    let error = env_error(&[("TRIO_POLICY", "pct:4000000000")]);
    assert!(error.starts_with("TRIO_POLICY: PCT depth 4000000000"), "{error}");
    assert!(error.contains("with a depth from 1 to 100"), "{error}");
    assert!(env_error(&[("TRIO_POLICY", "pct:101")]).contains("out of range"));
    assert!(env_error(&[("TRIO_POLICY", "pct:99999999999999999999999")]).contains("out of range"));
    assert!(env_error(&[("TRIO_POLICY", "pct:three")]).contains("unknown policy"));
    let deepest = Explore::new("t").apply_env([("TRIO_POLICY", "pct:100")]);
    assert!(deepest.is_ok());
    // In code too: a depth out of range stops the run with the same kind of message.
    let panic = std::panic::catch_unwind(|| {
        let _ = Explore::new("t").policy(PolicyKind::Pct { depth: 4_000_000_000 }).run(trio::checkpoint);
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("Explore::policy: PCT depth 4000000000 is out of range"), "{message}");
}

#[test]
fn the_determinism_switch_accepts_one_zero_true_false_yes_no_and_nothing_else() {
    for off in ["0", "false", "no", "FALSE", " No "] {
        let config = Explore::new("t").check_determinism(true).apply_env([("TRIO_CHECK_DETERMINISM", off)]).unwrap();
        assert!(!config.checks_determinism(), "{off:?} turns it off");
    }
    for on in ["1", "true", "yes", "True"] {
        let config = Explore::new("t").apply_env([("TRIO_CHECK_DETERMINISM", on)]).unwrap();
        assert!(config.checks_determinism(), "{on:?} turns it on");
    }
    for bad in ["2", "maybe", "enabled"] {
        let error = env_error(&[("TRIO_CHECK_DETERMINISM", bad)]);
        assert!(error.contains("use 1, 0, true, false, yes or no"), "{error}");
    }
    // Empty means unset.
    assert!(!Explore::new("t").apply_env([("TRIO_CHECK_DETERMINISM", "")]).unwrap().checks_determinism());
}

#[test]
fn zero_schedules_or_threads_are_errors_not_a_test_that_runs_nothing() {
    let error = env_error(&[("TRIO_SCHEDULES", "0")]);
    assert!(error.starts_with("TRIO_SCHEDULES: 0 schedules explore nothing"), "{error}");
    assert!(env_error(&[("TRIO_SCHEDULES", "lots")]).contains("\"lots\" is not a number of schedules"));
    assert!(env_error(&[("TRIO_THREADS", "0")]).contains("TRIO_THREADS: \"0\" is not a number of worker threads"));
    let error = Explore::new("t").schedules(0).apply_env(std::iter::empty::<(&str, &str)>()).unwrap_err();
    assert_eq!(error.setting(), "schedules");
    let panic = std::panic::catch_unwind(|| {
        let _ = Explore::new("t").schedules(0).run(trio::checkpoint);
    })
    .unwrap_err();
    assert!(panic.downcast_ref::<String>().unwrap().contains("at least one schedule"));
}

#[test]
fn seeds_and_schedules_from_the_environment_are_checked() {
    let seeded = Explore::new("t").apply_env([("TRIO_SEED", "0x2A")]).unwrap();
    assert_eq!(seeded.run(|| async { assert_eq!(trio::lowlevel::current_seed(), 42) }).unwrap().runs, 1);
    assert!(env_error(&[("TRIO_SEED", "forty-two")]).contains("is not a seed"));
    assert!(env_error(&[("TRIO_REPLAY", "12=t3")]).starts_with("TRIO_REPLAY: not a schedule"));
}

#[cfg(unix)]
#[test]
fn a_value_that_is_not_utf8_is_an_error() {
    use std::os::unix::ffi::OsStringExt;
    let error = Explore::new("t")
        .apply_env([("TRIO_SCHEDULES", OsString::from_vec(vec![b'1', 0xff]))])
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("TRIO_SCHEDULES: the value"), "{error}");
    assert!(error.contains("is not valid UTF-8"), "{error}");
}

/// Run by the test below in a child process, with environment variables set.
#[test]
#[ignore = "run in a child process by bad_settings_in_the_environment_stop_the_test_with_a_message"]
fn helper_with_the_environment() {
    let summary = Explore::new("explore_settings::helper").schedules(3).persist(false).run(trio::checkpoint).unwrap();
    println!("RUNS={}", summary.runs);
}

fn run_child(env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["helper_with_the_environment", "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    for var in ["TRIO_SEED", "TRIO_SCHEDULES", "TRIO_POLICY", "TRIO_REPLAY", "TRIO_CHECK_DETERMINISM", "TRIO_THREADS"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    (output.status, String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr))
}

#[test]
fn bad_settings_in_the_environment_stop_the_test_with_a_message() {
    let (status, out) = run_child(&[]);
    assert!(status.success() && out.contains("RUNS=3"), "{out}");
    for (var, value, says) in [
        ("TRIO_SCHEDULES", "0", "TRIO_SCHEDULES: 0 schedules explore nothing"),
        ("TRIO_POLICY", "pct:4000000000", "TRIO_POLICY: PCT depth 4000000000"),
        ("TRIO_CHECK_DETERMINISM", "sometimes", "TRIO_CHECK_DETERMINISM: \"sometimes\" is not a switch"),
        ("TRIO_THREADS", "-1", "TRIO_THREADS: \"-1\" is not a number of worker threads"),
    ] {
        let (status, out) = run_child(&[(var, value)]);
        // An ordinary test failure (exit code 101), not an abort.
        assert_eq!(status.code(), Some(101), "{var}={value}:\n{out}");
        assert!(out.contains(says), "{var}={value}:\n{out}");
    }
    let (status, out) = run_child(&[("TRIO_CHECK_DETERMINISM", "false"), ("TRIO_SCHEDULES", "5")]);
    assert!(status.success() && out.contains("RUNS=5"), "false turns the check off (it would add 3 runs):\n{out}");
    let (status, out) = run_child(&[("TRIO_CHECK_DETERMINISM", "yes"), ("TRIO_SCHEDULES", "5")]);
    assert!(status.success() && out.contains("RUNS=8"), "{out}");
}

// ===== the regressions file =====

#[test]
fn every_line_of_the_regressions_file_that_does_not_parse_gets_a_warning_and_the_others_still_replay() {
    let file = temp_file("bad-lines");
    let explore = || {
        Explore::new("explore_settings::bad_lines").policy(PolicyKind::Random).schedules(100).regressions_file(&file)
    };
    // A real failure, saved; then the file is spoilt around it and its seed written in hex.
    let first = explore().run(lost_update).unwrap_err();
    let saved = std::fs::read_to_string(&file).unwrap();
    let good = saved.lines().find(|l| l.starts_with("bad_lines ")).unwrap().to_string();
    let hex = good.replace(&format!("seed={}", first.seed), &format!("seed={:#x}", first.seed));
    assert_ne!(hex, good);
    let mut spoilt: Vec<u8> = Vec::new();
    spoilt.extend_from_slice(b"# a comment\n");
    spoilt.extend_from_slice(b"bad_lines policy=random seed=1 schedule=v1:1=t3 # caf\xe9 \xff\n"); // line 2: not UTF-8
    spoilt.extend_from_slice(b"bad_lines policy=random schedule=v1:1=t3\n"); // line 3: no seed
    spoilt.extend_from_slice(b"bad_lines policy=lifo seed=1 schedule=v1:1=t3\n"); // line 4: unknown policy
    spoilt.extend_from_slice(b"bad_lines policy=random seed=1 schedule=v1:1=q3\n"); // line 5: bad schedule
    spoilt.extend_from_slice(b"other_test policy=nonsense\n"); // another test's line: not ours to judge
    spoilt.extend_from_slice(b"bad_lines policy=random seed=1 schedule\n"); // line 7: not name=value
    spoilt.extend_from_slice(format!("{hex}\n").as_bytes()); // line 8: the failure, seed in hex
    std::fs::write(&file, &spoilt).unwrap();

    let again = explore().run(lost_update).unwrap_err();
    assert_eq!(again.origin, "the regressions file", "the good line still replays:\n{again}");
    assert_eq!(again.seed, first.seed, "seed=0x… is read as TRIO_SEED reads it");
    let shown = file.display().to_string();
    let expected = [
        (2, "not valid UTF-8"),
        (3, "no `seed=` field"),
        (4, "bad policy: unknown policy \"lifo\""),
        (5, "bad schedule: not a schedule"),
        (7, "`schedule` is not a `name=value` field"),
    ];
    assert_eq!(again.warnings.len(), expected.len(), "{:#?}", again.warnings);
    for ((line, what), warning) in expected.iter().zip(&again.warnings) {
        assert!(warning.starts_with(&format!("{shown}:{line}: {what}")), "{warning}");
    }
    assert!(again.to_string().contains(&format!("warning: {shown}:3: no `seed=` field")), "{again}");

    // Another test of the same file saves next to the line with a bad byte: nothing is
    // rewritten, no second header, the new line is there.
    let other = Explore::new("explore_settings::bad_lines_too").policy(PolicyKind::Random).schedules(100);
    let failure = other.regressions_file(&file).run(lost_update).unwrap_err();
    assert_eq!(failure.origin, "exploration");
    assert!(failure.warnings.is_empty(), "other tests' lines are not its business: {:?}", failure.warnings);
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(&spoilt), "nothing rewritten");
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(text.matches("# Failing schedules found").count(), 0, "{text}");
    assert!(text.lines().last().unwrap().starts_with("bad_lines_too policy=random seed="), "{text}");
}

#[test]
fn an_exact_replay_runs_only_that_schedule_not_the_regressions_file_first() {
    let file = temp_file("exact");
    let explore =
        || Explore::new("explore_settings::exact").policy(PolicyKind::Random).schedules(100).regressions_file(&file);
    let saved = explore().run(lost_update).unwrap_err();
    assert!(saved.saved_to.is_some());
    // A seed whose schedule passes: the default order's (FIFO), replayed under the seed of the
    // first schedule.
    let passing_seed = (0..1000u64)
        .find(|&seed| explore().persist(false).only_seed(seed).run(lost_update).is_ok())
        .expect("some seed passes");
    // TRIO_SEED / only_seed: that schedule, and nothing else — the saved failure is not run.
    let summary = explore().only_seed(passing_seed).run(lost_update).unwrap();
    assert_eq!(summary.runs, 1);
    // TRIO_REPLAY / replay: likewise.
    let summary = explore().replay(Schedule::new()).run(lost_update).unwrap();
    assert_eq!(summary.runs, 1);
    // Through the environment, resolved in the same place.
    let by_env = explore().apply_env([("TRIO_SEED", passing_seed.to_string())]).unwrap();
    assert_eq!(by_env.run(lost_update).unwrap().runs, 1);
    // Without them, the saved failure comes first.
    assert_eq!(explore().run(lost_update).unwrap_err().origin, "the regressions file");
}

// ===== replays that do not apply =====

async fn two_children() {
    trio::open_nursery(|nursery| async move {
        nursery.start_soon(async {});
        nursery.start_soon(async {});
        Ok(())
    })
    .await
    .unwrap();
}

#[test]
fn a_replay_whose_picks_do_not_apply_says_so() {
    // Task 99 never exists, and the run makes one decision only, not fifty.
    let schedule: Schedule = "v1:1=t99,50=t2".parse().unwrap();
    let summary = Explore::new("explore_settings::stale").replay(schedule).run(two_children).unwrap();
    assert_eq!(summary.warnings.len(), 1, "{summary:?}");
    let warning = &summary.warnings[0];
    assert!(warning.contains("v1:1=t99,50=t2 did not fully apply: 2 of its 2 pick(s)"), "{warning}");
    assert!(warning.contains("(50=t2 never came: the run made"), "{warning}");
    assert!(warning.contains("not the recorded schedule"), "{warning}");

    // A cancellation injection that never happens is reported too.
    let schedule: Schedule = "v1:c7.3".parse().unwrap();
    let summary = Explore::new("explore_settings::stale").replay(schedule).run(two_children).unwrap();
    assert!(summary.warnings[0].contains("its cancellation injection never happened"), "{summary:?}");

    // A replay that applies says nothing.
    let schedule: Schedule = "v1:1=t3".parse().unwrap();
    let summary = Explore::new("explore_settings::stale").replay(schedule).run(two_children).unwrap();
    assert!(summary.warnings.is_empty(), "{summary:?}");

    // And a failing replay carries the warning in its report.
    let schedule: Schedule = "v1:9=t9".parse().unwrap();
    let failure =
        Explore::new("explore_settings::stale").replay(schedule).run(|| async { panic!("fails anyway") }).unwrap_err();
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure.to_string().contains("warning: the replayed schedule v1:9=t9 did not fully apply"), "{failure}");
}
