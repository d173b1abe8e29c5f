//! Every example of the course, run on the autojump clock: what it prints and at which virtual
//! time, pinned with snapshots — so "child1: exiting!" is checked to come at 1 s and
//! "child2: exiting!" at 2 s, not just in that order.
//!
//! The examples' own code runs here: each file in `examples/` is included as a module, and its
//! main task is recorded with [`Transcript::record`], exactly as
//! `TRIO_AUTOJUMP=1 TRIO_SEED=0 cargo run --example <name>` would run it. The outputs shown in
//! the README and in the examples' docs are checked against the same recordings.

use std::collections::BTreeSet;
use std::path::Path;

use trio_rs_examples::Transcript;

/// Includes `examples/<name>.rs` as the module `<name>`. Its `main` is what `cargo run` calls; the
/// tests record the async function that `main` runs instead, so `main` is unused here.
macro_rules! example {
    ($name:ident, $path:literal) => {
        #[allow(dead_code, reason = "main() is for cargo run")]
        #[path = $path]
        pub mod $name;
    };
}

example!(channels, "../examples/channels.rs");
example!(channels_fan_out, "../examples/channels_fan_out.rs");
example!(channels_two_consumers, "../examples/channels_two_consumers.rs");
example!(channels_two_producers, "../examples/channels_two_producers.rs");
example!(double_sleep, "../examples/double_sleep.rs");
example!(echo, "../examples/echo.rs");
example!(kv, "../examples/kv.rs");
example!(nested_scopes, "../examples/nested_scopes.rs");
example!(nested_scopes_inner_wins, "../examples/nested_scopes_inner_wins.rs");
example!(nursery, "../examples/nursery.rs");
example!(shielding, "../examples/shielding.rs");
example!(timeout, "../examples/timeout.rs");

/// The name of every example, as `cargo run --example` takes it.
const EXAMPLES: [&str; 12] = [
    "channels",
    "channels_fan_out",
    "channels_two_consumers",
    "channels_two_producers",
    "double_sleep",
    "echo",
    "kv",
    "nested_scopes",
    "nested_scopes_inner_wins",
    "nursery",
    "shielding",
    "timeout",
];

/// What `TRIO_AUTOJUMP=1 TRIO_SEED=<seed> cargo run --example <name>` prints, with the times.
fn record(name: &str, seed: u64) -> Transcript {
    match name {
        "channels" => Transcript::record_seeded(seed, channels::async_main()),
        "channels_fan_out" => Transcript::record_seeded(seed, channels_fan_out::async_main()),
        "channels_two_consumers" => Transcript::record_seeded(seed, channels_two_consumers::async_main()),
        "channels_two_producers" => Transcript::record_seeded(seed, channels_two_producers::async_main()),
        "double_sleep" => Transcript::record_seeded(seed, double_sleep::double_sleep(3)),
        "echo" => Transcript::record_seeded(seed, echo::async_main()),
        "kv" => Transcript::record_seeded(seed, kv::async_main()),
        "nested_scopes" => Transcript::record_seeded(seed, nested_scopes::async_main()),
        "nested_scopes_inner_wins" => Transcript::record_seeded(seed, nested_scopes_inner_wins::async_main()),
        "nursery" => Transcript::record_seeded(seed, nursery::parent()),
        "shielding" => Transcript::record_seeded(seed, shielding::async_main()),
        "timeout" => Transcript::record_seeded(seed, timeout::async_main()),
        _ => panic!("no example named {name:?}; add it to EXAMPLES and to record()"),
    }
}

// ===== one snapshot per example =====

#[test]
fn double_sleep_prints_before_and_after_six_seconds() {
    insta::assert_snapshot!("double_sleep", record("double_sleep", 0).to_string());
}

#[test]
fn nursery_parent_waits_for_both_children() {
    insta::assert_snapshot!("nursery", record("nursery", 0).to_string());
}

#[test]
fn channels_producer_hands_three_messages_to_consumer() {
    insta::assert_snapshot!("channels", record("channels", 0).to_string());
}

#[test]
fn channels_two_consumers_share_the_messages() {
    insta::assert_snapshot!("channels_two_consumers", record("channels_two_consumers", 0).to_string());
}

#[test]
fn channels_two_producers_fail_on_a_shared_sender_and_work_with_clones() {
    insta::assert_snapshot!("channels_two_producers", record("channels_two_producers", 0).to_string());
}

#[test]
fn channels_fan_out_spreads_messages_over_cloned_handles() {
    insta::assert_snapshot!("channels_fan_out", record("channels_fan_out", 0).to_string());
}

/// Seed 0 draws a delay under five seconds: the response arrives.
#[test]
fn timeout_prints_the_result_when_the_request_is_fast() {
    insta::assert_snapshot!("timeout_in_time", record("timeout", 0).to_string());
}

/// Seed 2 draws a delay of five seconds or more: the scope gives up at 5 s.
#[test]
fn timeout_moves_on_after_five_seconds_when_the_request_is_slow() {
    insta::assert_snapshot!("timeout_too_slow", record("timeout", 2).to_string());
}

/// The echo client's round trips take a millisecond each way on the simulated network.
#[test]
fn echo_client_gets_back_what_it_sent() {
    insta::assert_snapshot!("echo", record("echo", 0).to_string());
}

/// The kv client retries with backoff while the server's host is down.
#[test]
fn kv_client_retries_with_backoff_until_the_host_is_back() {
    insta::assert_snapshot!("kv", record("kv", 0).to_string());
}

#[test]
fn nested_scopes_outer_scope_catches_at_two_seconds() {
    insta::assert_snapshot!("nested_scopes", record("nested_scopes", 0).to_string());
}

#[test]
fn nested_scopes_inner_wins_both_answers() {
    insta::assert_snapshot!("nested_scopes_inner_wins", record("nested_scopes_inner_wins", 0).to_string());
}

#[test]
fn shielding_second_request_succeeds_only_when_shielded() {
    insta::assert_snapshot!("shielding", record("shielding", 0).to_string());
}

// ===== the timeout example's random delay =====

/// `randint(1, 10)` gives every value from 1 to 10 and nothing else, and the same one for the
/// same seed.
#[test]
fn timeout_delay_is_between_one_and_ten_seconds_and_follows_the_seed() {
    let draw = |seed| trio::Builder::new().seed(seed).run(async { timeout::randint(1, 10) });
    let delays: BTreeSet<u64> = (0..200).map(draw).collect();
    assert_eq!(delays, (1..=10).collect());
    assert_eq!(draw(7), draw(7));
}

/// The simulated service answers after the delay named in the URL, over the simulated network.
#[test]
fn simulated_service_answers_after_the_delay() {
    let transcript = Transcript::record(async {
        let response = trio_rs_examples::httpbin::get("https://httpbin.org/delay/3").await?;
        trio_rs_examples::say!("{response}");
        Ok(())
    });
    assert_eq!(transcript.to_string(), "3s | <Response 200 OK>");
}

// ===== documented outputs =====

/// Every example in `examples/` is listed here, so none escapes its snapshot.
#[test]
fn every_example_is_recorded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let found: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("the examples folder")
        .map(|entry| entry.expect("an entry of the examples folder").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| path.file_stem().expect("a file name").to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = EXAMPLES.iter().map(|name| name.to_string()).collect();
    assert_eq!(found, listed, "examples/ and EXAMPLES differ");
}

/// The README's tour shows what the examples print: every block that starts with a
/// `$ cargo run --example <name>` line (optionally after `TRIO_SEED=<n>` and
/// `TRIO_AUTOJUMP=1`) must match the recording, where a `...` line stands for any lines.
#[test]
fn readme_shows_what_the_examples_print() {
    let readme = read("README.md");
    let mut checked = BTreeSet::new();
    for block in text_blocks(&readme) {
        let Some((command, output)) = block.split_first() else { continue };
        let Some(command) = command.strip_prefix("$ ") else { continue };
        let (name, seed) = parse_command(command);
        let printed = record(&name, seed).lines().iter().map(|line| line.text.clone()).collect::<Vec<_>>();
        assert!(
            matches(output, &printed),
            "the README shows for `{command}`:\n{}\n\nbut the example prints:\n{}",
            output.join("\n"),
            printed.join("\n")
        );
        checked.insert(name);
    }
    for name in EXAMPLES {
        assert!(checked.contains(name), "the README's tour shows no output of {name}");
    }
}

/// An example's `//!` doc may show its output in a ```text block; it must be what it prints.
#[test]
fn example_docs_show_what_the_examples_print() {
    for name in EXAMPLES {
        let source = read(&format!("examples/{name}.rs"));
        let doc: String = source
            .lines()
            .map_while(|line| line.strip_prefix("//!"))
            .map(|line| format!("{}\n", line.strip_prefix(' ').unwrap_or(line)))
            .collect();
        let Some(output) = text_blocks(&doc).into_iter().next() else { continue };
        let printed = record(name, 0).lines().iter().map(|line| line.text.clone()).collect::<Vec<_>>();
        assert!(
            matches(&output, &printed),
            "the doc of examples/{name}.rs shows:\n{}\n\nbut the example prints:\n{}",
            output.join("\n"),
            printed.join("\n")
        );
    }
}

// ===== helpers =====

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The lines of every ```text block of a markdown text, without the indentation of its fence
/// (a block inside a list item is indented).
fn text_blocks(markdown: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for line in markdown.lines() {
        let indent = line.len() - line.trim_start().len();
        match current.as_mut() {
            None if line.trim() == "```text" => current = Some((indent, Vec::new())),
            None => {}
            Some(_) if line.trim() == "```" => blocks.extend(current.take().map(|(_, block)| block)),
            Some((fence, block)) => block.push(line.get(*fence..).unwrap_or("").to_string()),
        }
    }
    blocks
}

/// The example and seed of a `[TRIO_SEED=<n>] [TRIO_AUTOJUMP=1] cargo run --example <name>`
/// command; the seed is 0 when the command does not set one.
fn parse_command(command: &str) -> (String, u64) {
    let mut seed = 0;
    let mut words = command.split_whitespace();
    for word in words.by_ref() {
        match word.split_once('=') {
            Some(("TRIO_SEED", value)) => seed = value.parse().expect("a numeric TRIO_SEED"),
            Some(("TRIO_AUTOJUMP", "1")) => {}
            Some(_) => panic!("unexpected setting in `{command}`"),
            None => {
                assert_eq!(word, "cargo", "`{command}` is not a cargo command");
                break;
            }
        }
    }
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("run"), Some("--example"), Some(name), None) => (name.to_string(), seed),
        _ => panic!("`{command}` is not `cargo run --example <name>`"),
    }
}

/// `true` if `shown` is `printed`, where a `...` line in `shown` stands for any lines.
fn matches(shown: &[String], printed: &[String]) -> bool {
    match shown.split_first() {
        None => printed.is_empty(),
        Some((first, rest)) if first == "..." => (0..=printed.len()).any(|skip| matches(rest, &printed[skip..])),
        Some((first, rest)) => printed.split_first().is_some_and(|(line, more)| line == first && matches(rest, more)),
    }
}
