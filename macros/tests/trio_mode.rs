//! Trio mode (`#[trio_tests(…)] mod … { … }`): every `#[test] async fn` in the module is a
//! trio test with the module's arguments as defaults, a test's own `#[trio_test(…)]` overrides
//! them argument by argument, async helpers stay helpers, and inline submodules follow suit.
//! Parametrised tests (`#[case]`) work in and out of it.

use std::process::Command;

use trio_testkit::trio_tests;

#[trio_tests(autojump, seed = 11)]
mod defaults {
    use std::time::Duration;

    use trio::Instant;
    use trio_testkit::{MockClock, trio_test};

    /// An async helper without `#[test]`: left alone (it takes an argument no fixture has).
    async fn sleep_twice(seconds: u64) -> trio::Result<()> {
        trio::sleep(Duration::from_secs(seconds)).await?;
        Ok(trio::sleep(Duration::from_secs(seconds)).await?)
    }

    #[test]
    async fn the_modules_autojump_clock_applies() -> trio::Result<()> {
        sleep_twice(1800).await?;
        assert_eq!(trio::current_time(), Instant::from_secs(3600));
        Ok(())
    }

    #[test]
    async fn the_modules_seed_applies() {
        assert_eq!(trio::lowlevel::current_seed(), 11);
    }

    /// The test's own argument wins over the module's; the rest still apply.
    #[trio_test(seed = 5)]
    async fn a_tests_own_arguments_win() -> trio::Result<()> {
        assert_eq!(trio::lowlevel::current_seed(), 5);
        trio::sleep(Duration::from_secs(60)).await?; // still the module's autojump clock
        Ok(())
    }

    /// Asking for `mock_clock` replaces the module's autojump clock instead of clashing with it.
    #[test]
    async fn a_clock_fixture_replaces_the_modules_autojump(mock_clock: MockClock) {
        assert_eq!(mock_clock.autojump_threshold(), None);
        mock_clock.jump(Duration::from_secs(2));
        assert_eq!(trio::current_time(), Instant::from_secs(2));
    }

    /// `autojump = false` turns the module's default off: the real clock.
    #[trio_test(autojump = false)]
    async fn autojump_false_opts_out() {
        assert!(trio::current_time() > Instant::from_secs(10_000));
    }

    /// A plain `#[test]` stays a plain test.
    #[test]
    fn sync_tests_are_untouched() {
        assert!(trio::lowlevel::try_current_task().is_none());
    }

    mod nested {
        use std::time::Duration;

        #[test]
        async fn inline_submodules_get_the_defaults_too() -> trio::Result<()> {
            trio::sleep(Duration::from_secs(7)).await?;
            assert_eq!(trio::current_time(), trio::Instant::from_secs(7));
            Ok(())
        }
    }
}

#[trio_tests(schedules = 30)]
mod exploring {
    use std::cell::Cell;
    use std::rc::Rc;

    /// The module's `schedules` applies: a lost update is found (and the test expects it).
    #[test]
    #[should_panic(expected = "an update was lost")]
    async fn exploration_from_the_module() {
        let counter = Rc::new(Cell::new(0));
        let c = counter.clone();
        trio::open_nursery(|nursery| async move {
            for _ in 0..2 {
                let c = c.clone();
                nursery.start_soon(async move {
                    let seen = c.get();
                    trio::checkpoint().await?;
                    c.set(seen + 1);
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(counter.get(), 2, "an update was lost");
    }
}

// ===== #[case] =====

mod cases {
    use std::time::Duration;

    use trio_testkit::{MockClock, trio_test};

    #[trio_test]
    #[case(1, 2)]
    #[case::bigger(20, 40)]
    async fn doubles(#[case] x: u64, #[case] expected: u64, autojump_clock: MockClock) -> trio::Result<()> {
        trio::sleep(Duration::from_secs(2 * x)).await?;
        assert_eq!(autojump_clock.current_time(), trio::Instant::from_secs(expected));
        Ok(())
    }

    /// Each case is its own test with its own name, so its own seed.
    #[trio_test]
    #[case("a")]
    #[case("b")]
    async fn cases_have_their_own_seeds(#[case] _label: &str) {
        let name = trio::lowlevel::current_task().name().to_string();
        assert!(name.contains("::cases_have_their_own_seeds::case_"), "{name}");
    }
}

/// The cases are separate tests, named as rstest names them: list this test binary as libtest
/// (and nextest) would, in a child process.
#[test]
fn each_case_is_a_test_of_its_own() {
    let output = Command::new(std::env::current_exe().unwrap()).args(["--list", "--format", "terse"]).output().unwrap();
    let listed = String::from_utf8_lossy(&output.stdout);
    for name in [
        "cases::doubles::case_1: test",
        "cases::doubles::case_2_bigger: test",
        "cases::cases_have_their_own_seeds::case_1: test",
        "defaults::nested::inline_submodules_get_the_defaults_too: test",
        "defaults::the_modules_seed_applies: test",
    ] {
        assert!(listed.lines().any(|line| line == name), "`{name}` is not listed in:\n{listed}");
    }
    assert!(!listed.contains("sleep_twice"), "the helper became a test:\n{listed}");
}
