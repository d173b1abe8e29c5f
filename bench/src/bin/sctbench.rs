//! SCTBench-style bug finding: for each program of `trio_bench::sct` and each strategy of
//! trio-testkit and of shuttle, the median number of schedules until the program first fails,
//! over several seeds, as a Markdown table.
//!
//! `cargo run --release --bin sctbench -- [--seeds N] [--cap N] [--only NAME,NAME]
//! [--trio POLICY,POLICY] [--shuttle STRATEGY,STRATEGY]`
//! (defaults: 21 seeds, a cap of 100,000 schedules, every program, every strategy; `--trio`
//! and `--shuttle` keep only the named columns, by their names in the header, and `none`
//! keeps none).

use std::io::Write;
use std::time::Instant;

use trio_bench::sct::{
    PROGRAMS, SHUTTLE_STRATEGIES, median_cell, shuttle_schedules_to_failure, trio_schedules_to_failure, trio_strategies,
};

struct Args {
    seeds: u64,
    cap: u64,
    only: Option<Vec<String>>,
    trio: Option<Vec<String>>,
    shuttle: Option<Vec<String>>,
}

fn parse_args() -> Args {
    let mut args = Args { seeds: 21, cap: 100_000, only: None, trio: None, shuttle: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--seeds" => args.seeds = value().parse().expect("--seeds N"),
            "--cap" => args.cap = value().parse().expect("--cap N"),
            "--only" => args.only = Some(value().split(',').map(str::to_string).collect()),
            "--trio" => args.trio = Some(value().split(',').map(str::to_string).collect()),
            "--shuttle" => args.shuttle = Some(value().split(',').map(str::to_string).collect()),
            other => panic!("unknown argument {other}; see the top of bench/src/bin/sctbench.rs"),
        }
    }
    assert!(args.seeds > 0 && args.cap > 0, "--seeds and --cap must be positive");
    // trio-testkit applies `TRIO_*` overrides (policy, seed, schedules) to every exploration,
    // which would put one policy or seed in every trio column.
    let overrides: Vec<String> = std::env::vars().map(|(k, _)| k).filter(|k| k.starts_with("TRIO_")).collect();
    assert!(overrides.is_empty(), "unset {} first: they would override every trio column", overrides.join(", "));
    args
}

fn main() {
    let args = parse_args();
    let (mut trio, missing) = trio_strategies();
    let kept = |list: &Option<Vec<String>>, name: String| list.as_ref().is_none_or(|l| l.contains(&name));
    trio.retain(|policy| kept(&args.trio, policy.to_string()));
    let shuttle: Vec<_> =
        SHUTTLE_STRATEGIES.iter().copied().filter(|strategy| kept(&args.shuttle, strategy.to_string())).collect();
    let programs: Vec<_> = PROGRAMS
        .iter()
        .filter(|p| args.only.as_ref().is_none_or(|only| only.iter().any(|name| name == p.name)))
        .collect();
    println!(
        "Median schedules to the first failure over {} seeds (1..={}), capped at {}; one worker thread.\n",
        args.seeds, args.seeds, args.cap
    );
    let mut header = String::from("| program |");
    for policy in &trio {
        header.push_str(&format!(" trio {policy} |"));
    }
    for strategy in &shuttle {
        header.push_str(&format!(" shuttle {strategy} |"));
    }
    println!("{header}");
    println!("| --- |{}", " ---: |".repeat(trio.len() + shuttle.len()));
    let start = Instant::now();
    let mut times = Vec::new();
    for program in programs {
        let row_start = Instant::now();
        let mut line = format!("| {} |", program.name);
        for &policy in &trio {
            let found =
                (1..=args.seeds).map(|seed| trio_schedules_to_failure(program, policy, seed, args.cap)).collect();
            line.push_str(&format!(" {} |", median_cell(found, args.cap)));
        }
        for &strategy in &shuttle {
            let found =
                (1..=args.seeds).map(|seed| shuttle_schedules_to_failure(program, strategy, seed, args.cap)).collect();
            line.push_str(&format!(" {} |", median_cell(found, args.cap)));
        }
        println!("{line}");
        times.push(format!("{} {:.1} s", program.name, row_start.elapsed().as_secs_f64()));
        std::io::stdout().flush().ok();
    }
    if !missing.is_empty() {
        println!("\nNot in this build's `PolicyKind`: {}.", missing.join(", "));
    }
    println!("\nTime: {:.1} s ({}).", start.elapsed().as_secs_f64(), times.join(", "));
}
