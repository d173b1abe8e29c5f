//! The whole comparison of `docs/PERFORMANCE.md`, in one run: trio and trio-testkit against
//! tokio (current-thread runtime), `futures::executor::LocalPool`, shuttle and madsim.
//!
//! ```text
//! cargo run --release --bin compare -- [--quick] [--runs N] [--only SECTION,...] [--csv FILE]
//! ```
//!
//! Sections: `tasks`, `channels`, `timers`, `cancel`, `memory`, `explore`, `zoo`, `scaling`.
//! Every cell is the median of several runs, the implementations taking turns within each
//! round. `--csv` writes the scaling measurements for `docs/plot_performance.py`.

use std::io::Write;
use std::time::Duration;

use trio_bench::harness::{Table, Workload, interleaved, median, ns, rate, secs, spread};
use trio_bench::timers::Deadlines;
use trio_bench::{alloc, cancel, channels, explore, spawn, timers, yields};
use trio_testkit::explore::PolicyKind;

struct Args {
    quick: bool,
    runs: usize,
    only: Option<Vec<String>>,
    csv: Option<String>,
    /// Run by the parent `compare` for one section: no machine header.
    child: bool,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args { quick: false, runs: 5, only: None, csv: None, child: false };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => args.quick = true,
                "--child" => args.child = true,
                "--runs" => args.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
                "--only" => {
                    args.only = Some(it.next().expect("--only SECTION,...").split(',').map(str::to_string).collect())
                }
                "--csv" => args.csv = Some(it.next().expect("--csv FILE")),
                other => panic!("unknown argument {other:?}; see the top of bench/src/bin/compare.rs"),
            }
        }
        if args.quick {
            args.runs = args.runs.min(3);
        }
        args
    }

    fn wants(&self, section: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|s| s == section))
    }

    /// `full` normally, `full / 10` with `--quick`.
    fn size(&self, full: u64) -> u64 {
        if self.quick { full / 10 } else { full }
    }
}

const SECTIONS: [&str; 8] = ["tasks", "channels", "timers", "cancel", "memory", "explore", "zoo", "scaling"];

fn main() {
    alloc::keep_freed_memory();
    let args = Args::parse();
    if !args.child {
        machine();
    }
    if args.only.is_none() {
        // Each section in a process of its own, so that one section's heap (a million tasks
        // freed) does not change the next one's allocation costs.
        let exe = std::env::current_exe().expect("the benchmark's own path");
        for section in SECTIONS {
            let mut child = std::process::Command::new(&exe);
            child.args(["--child", "--only", section, "--runs", &args.runs.to_string()]);
            if args.quick {
                child.arg("--quick");
            }
            if let Some(csv) = &args.csv {
                child.args(["--csv", csv]);
            }
            let status = child.status().expect("run a section");
            assert!(status.success(), "section {section} failed");
        }
        return;
    }
    if args.wants("tasks") {
        tasks(&args);
    }
    if args.wants("channels") {
        section("Channels and locks (3)");
        let messages = args.size(1_000_000);
        println!("{messages} messages per run; ns per message (per acquire for the lock)\n");
        print!("{}", channels::table(messages, args.runs).render());
    }
    if args.wants("timers") {
        timers(&args);
    }
    if args.wants("cancel") {
        cancellation(&args);
    }
    if args.wants("memory") {
        memory(&args);
    }
    if args.wants("explore") {
        exploration(&args);
    }
    if args.wants("zoo") {
        zoo(&args);
    }
    if args.wants("scaling") {
        scaling(&args);
    }
}

fn section(title: &str) {
    println!("\n## {title}\n");
    std::io::stdout().flush().ok();
}

/// Prints what the numbers were measured on.
fn machine() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    // TRIO_BENCH_COMMIT names the commit when measuring an exported tree (`git archive`).
    let pinned = std::env::var("TRIO_BENCH_COMMIT").ok();
    let commit = pinned.clone().or_else(|| command("git", &["rev-parse", "--short=12", "HEAD"]));
    let dirty = if pinned.is_some() {
        Some(String::new())
    } else {
        command("git", &["status", "--porcelain", "--untracked-files=no", "--", "../runtime", "../testkit", "."])
    };
    let rustc = command("rustc", &["--version"]);
    println!("# trio benchmarks");
    println!();
    println!("- machine: {cores} cores (nproc), CPU {cpu}");
    println!(
        "- commit: {}{}",
        commit.as_deref().unwrap_or("unknown"),
        match dirty.as_deref() {
            Some("") | None => "",
            Some(_) => " (with uncommitted changes)",
        }
    );
    println!("- {}", rustc.as_deref().unwrap_or("rustc: unknown"));
}

fn command(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn per(n: u64, cells: Vec<(f64, f64)>) -> Vec<Option<(f64, f64)>> {
    cells.into_iter().map(|(m, s)| Some((m / n as f64, s))).collect()
}

// ===== 1, 2: tasks and checkpoints =====

fn tasks(args: &Args) {
    section("Spawning tasks (1) and checkpoints (2)");
    let mut table =
        Table::new("ns per task or checkpoint", &["trio", "tokio LocalSet", "tokio spawn", "futures LocalPool"], ns);
    let n = args.size(100_000);
    let workloads: [(&str, Workload<'_>); 4] = [
        ("trio", Box::new(spawn::trio)),
        ("tokio LocalSet", Box::new(spawn::tokio_local)),
        ("tokio spawn", Box::new(spawn::tokio_spawn)),
        ("futures", Box::new(spawn::futures_pool)),
    ];
    table.row(format!("spawn and finish {n} trivial tasks"), per(n, interleaved(args.runs, n, &workloads)));

    let (tasks, each) = (1_000, args.size(1_000));
    let workloads: [(&str, Workload<'_>); 4] = [
        ("trio", Box::new(|_| yields::trio(tasks, each))),
        ("tokio LocalSet", Box::new(|_| yields::tokio_local(tasks, each))),
        ("tokio spawn", Box::new(|_| yields::tokio(tasks, each))),
        ("futures", Box::new(|_| yields::futures_pool(tasks, each))),
    ];
    let total = tasks * each;
    table.row(format!("{total} checkpoints over {tasks} tasks"), per(total, interleaved(args.runs, total, &workloads)));
    print!("{}", table.render());
}

// ===== 4: timers under virtual time =====

fn timers(args: &Args) {
    section("Timers under virtual time (4)");
    println!("trio: autojump MockClock; tokio: current-thread runtime with start_paused(true)\n");
    let mut table = Table::new("ns per sleep", &["trio", "tokio paused"], ns);
    let (tasks, sleeps) = (1_000, args.size(100));
    let workloads: [(&str, Workload<'_>); 2] = [
        ("trio", Box::new(|_| timers::trio_sleeps(tasks, sleeps))),
        ("tokio", Box::new(|_| timers::tokio_sleeps(tasks, sleeps))),
    ];
    let total = tasks * sleeps;
    table.row(
        format!("{total} sleeps over {tasks} tasks (1–7 ms each)"),
        per(total, interleaved(args.runs, total, &workloads)),
    );
    for (n, deadlines, label) in [
        (args.size(1_000_000), Deadlines::Spread, "sleeping tasks, 1,000 distinct deadlines"),
        (args.size(10_000), Deadlines::Same, "sleeping tasks, all on one deadline"),
    ] {
        let workloads: [(&str, Workload<'_>); 2] = [
            ("trio", Box::new(move |n| timers::trio_sleepers(n, deadlines))),
            ("tokio", Box::new(move |n| timers::tokio_sleepers(n, deadlines))),
        ];
        table.row(format!("{n} {label}"), per(n, interleaved(args.runs.min(3), n, &workloads)));
    }
    print!("{}", table.render());
}

// ===== 5: cancellation =====

fn cancellation(args: &Args) {
    section("Cancellation (5)");
    println!("trio: cancel() on the nursery's scope; tokio: JoinSet::abort_all, then join_next until empty\n");
    let mut table = Table::new("ns per cancelled task", &["trio", "tokio abort_all"], ns);
    let n = args.size(100_000);
    let workloads: [(&str, Workload<'_>); 2] = [("trio", Box::new(cancel::trio)), ("tokio", Box::new(cancel::tokio))];
    table.row(format!("cancel {n} blocked tasks at once"), per(n, interleaved(args.runs, n, &workloads)));
    print!("{}", table.render());
}

// ===== memory =====

fn memory(args: &Args) {
    section("Memory per task");
    println!(
        "Counted by a global allocator in the benchmark binary: the peak of live heap bytes during the run, \
         divided by the number of tasks alive at that peak, minus the size of the task's own future.\n"
    );
    println!(
        "| workload | implementation | future (bytes) | peak heap | bytes per task | beyond the future | allocations per task | time |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let n = args.size(100_000);
    let trivial = std::mem::size_of_val(&async { Ok::<(), trio::Error>(()) });
    let unit = std::mem::size_of_val(&async {});
    let rows: [MemoryRow<'_>; 4] = [
        ("trio", trivial, &spawn::trio),
        ("tokio LocalSet", unit, &spawn::tokio_local),
        ("tokio spawn", unit, &spawn::tokio_spawn),
        ("futures LocalPool", unit, &spawn::futures_pool),
    ];
    for (name, future, run) in rows {
        memory_row(&format!("{n} trivial tasks, all spawned before any runs"), name, future, n, || run(n));
    }
    let n = args.size(1_000_000);
    let d = Duration::from_millis(1);
    let rows: [MemoryRow<'_>; 2] = [
        ("trio", std::mem::size_of_val(&timers::trio_sleeper(d)), &|n| timers::trio_sleepers(n, Deadlines::Spread)),
        ("tokio paused", std::mem::size_of_val(&timers::tokio_sleeper(d)), &|n| {
            timers::tokio_sleepers(n, Deadlines::Spread)
        }),
    ];
    for (name, future, run) in rows {
        memory_row(&format!("{n} sleeping tasks"), name, future, n, || run(n));
    }
}

fn memory_row(workload: &str, name: &str, future: usize, n: u64, run: impl FnOnce() -> Duration) {
    let (time, usage) = alloc::measure(run);
    let per_task = usage.peak as f64 / n as f64;
    println!(
        "| {workload} | {name} | {future} | {:.1} MB | {per_task:.0} | {:.0} | {:.2} | {} |",
        usage.peak as f64 / 1e6,
        per_task - future as f64,
        usage.allocs as f64 / n as f64,
        secs(time.as_secs_f64()),
    );
    std::io::stdout().flush().ok();
}

// ===== 6: exploration =====

fn schedule_cell(s: f64) -> String {
    format!("{} µs ({})", ns(s / 1e3), rate(1.0 / s))
}

fn exploration(args: &Args) {
    section("Exploration (6)");
    println!(
        "µs per schedule (schedules per second). trio: trio-testkit `Explore` (one runtime per thread, reset per schedule; fresh autojump clock and \
         recorded trace per schedule; shrinking and persistence off). shuttle 0.9: `check_random` / `check_pct` \
         on threads and a `shuttle::sync::Mutex`; shuttle async: `shuttle::future` tasks. madsim: a fresh \
         simulated runtime per seed.\n"
    );
    let mut table = Table::new("per schedule", &["trio", "shuttle", "shuttle async", "madsim"], schedule_cell);
    for (tasks, increments, schedules) in [(3, 3, args.size(20_000)), (10, 10, args.size(2_000))] {
        for (label, policy, pct) in
            [("random", PolicyKind::Random, None), ("PCT depth 3", PolicyKind::Pct { depth: 3 }, Some(3))]
        {
            let mut workloads: Vec<(&str, Workload<'_>)> = vec![
                ("trio", Box::new(move |_| explore::trio_locks(tasks, increments, policy, schedules))),
                ("shuttle", Box::new(move |_| explore::shuttle_locks(tasks, increments, pct, schedules))),
            ];
            if pct.is_none() {
                workloads.push((
                    "shuttle async",
                    Box::new(move |_| explore::shuttle_async_locks(tasks, increments, schedules)),
                ));
            }
            let mut cells = per(schedules, interleaved(args.runs, schedules, &workloads));
            cells.resize(4, None);
            table.row(format!("{tasks} tasks × {increments} lock increments, {label}"), cells);
        }
    }
    let seeds = args.size(20_000);
    let trio =
        per(seeds, interleaved(args.runs, seeds, &[("trio", Box::new(|_| explore::trio_sleeps(10, 10, seeds)))]));
    let madsim = madsim(seeds, args.runs);
    if madsim.is_none() {
        println!("madsim: did not build or run here (see bench/madsim); its column stays empty\n");
    }
    table.row("10 tasks × 10 sleeps of 100 ms, random", vec![trio[0], None, None, madsim]);
    print!("{}", table.render());
}

/// Builds and runs the madsim benchmark (its own crate: it needs `--cfg madsim`).
fn madsim(seeds: u64, runs: usize) -> Option<(f64, f64)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/madsim");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = std::process::Command::new(cargo)
        .args(["run", "--quiet", "--release", "--", &seeds.to_string(), &runs.to_string()])
        .current_dir(dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("madsim-seconds-per-seed"))?;
    let mut fields = line.split_whitespace().skip(1).map(|f| f.parse::<f64>().ok());
    Some((fields.next()??, fields.next()??))
}

// ===== 6b: the bug zoo =====

fn zoo(args: &Args) {
    section("The bug zoo: schedules to the first failure (6)");
    let trials = if args.quick { 5 } else { 21 };
    let cap = args.size(20_000);
    println!(
        "Median over {trials} explorations (base seeds 1..={trials}) of the number of schedules run until the buggy \
         version first failed, capped at {cap}; \"k/{trials}\" counts the explorations that found it.\n"
    );
    let policies = [
        ("Random", PolicyKind::Random),
        ("PCT depth 3", PolicyKind::Pct { depth: 3 }),
        ("PCT depth 4", PolicyKind::Pct { depth: 4 }),
        ("Mixed (the default)", PolicyKind::Mixed),
    ];
    println!("| bug | {} |", policies.map(|p| p.0).join(" | "));
    println!("| --- |{}", " ---: |".repeat(policies.len()));
    for (name, program) in explore::ZOO {
        let mut line = format!("| {name} |");
        for (_, policy) in policies {
            let found: Vec<f64> = (1..=trials)
                .filter_map(|seed| explore::schedules_to_failure(program, policy, seed, cap))
                .map(|s| s as f64)
                .collect();
            if found.len() * 2 > trials as usize {
                // The median of all trials, counting misses as above the cap: defined when more
                // than half found it.
                let mut all = found.clone();
                all.resize(trials as usize, f64::INFINITY);
                line.push_str(&format!(" {:.0} ({}/{trials}) |", median(all), found.len()));
            } else {
                line.push_str(&format!(" > {cap} ({}/{trials}) |", found.len()));
            }
        }
        println!("{line}");
        std::io::stdout().flush().ok();
    }
    let (plain, injected) = explore::cancel_safety_runs(args.size(10_000));
    println!(
        "| cancel_safety | {} | — | — | — |\n",
        match (plain, injected) {
            (false, Some(runs)) => format!(
                "never in {} schedules; cancellation injection (bound 8) finds it in {runs} runs",
                args.size(10_000)
            ),
            (true, _) => "found by plain exploration (unexpected)".to_string(),
            (false, None) => "not found".to_string(),
        }
    );

    section("The bug zoo: schedules per second (6)");
    let schedules = args.size(5_000);
    println!("Correct versions, {schedules} schedules per run, median of {} runs.\n", args.runs);
    println!("| program | Random | PCT depth 3 | Mixed (the default) |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, program) in explore::ZOO.into_iter().chain([("cancel_safety", trio_bench::zoo::forwarder as _)]) {
        let mut line = format!("| {name} |");
        for policy in [PolicyKind::Random, PolicyKind::Pct { depth: 3 }, PolicyKind::Mixed] {
            let samples: Vec<f64> =
                (0..args.runs).map(|_| explore::zoo_correct(program, policy, schedules).as_secs_f64()).collect();
            line.push_str(&format!(" {} |", schedule_cell(median(samples) / schedules as f64)));
        }
        println!("{line}");
        std::io::stdout().flush().ok();
    }
}

// ===== 7: scaling =====

/// A workload measured at growing sizes, per implementation.
/// One implementation of a memory row: its name, the size of its future, and the workload.
type MemoryRow<'a> = (&'a str, usize, &'a dyn Fn(u64) -> Duration);

/// A named workload, per implementation.
type Impl<'a> = (&'static str, Box<dyn Fn(u64) -> Duration + 'a>);

struct Curve<'a> {
    name: &'static str,
    impls: Vec<Impl<'a>>,
}

fn scaling(args: &Args) {
    section("Scaling (7)");
    let sizes: Vec<u64> =
        [1_000, 10_000, 100_000, 1_000_000].into_iter().filter(|&n| !args.quick || n <= 100_000).collect();
    // A size whose run took longer than this is the last one measured for that implementation.
    let budget = Duration::from_secs(if args.quick { 10 } else { 60 });
    println!(
        "ns per task at each size (median; 5 runs up to 10,000 tasks, 3 above). Under n log n growth the cost per \
         task grows by at most log(10n)/log(n) (≤ 1.34) per tenfold; linear-per-task (quadratic) growth by 10. \
         A size predicted (from the last size, and the square of the growth so far, to be safe with quadratic curves) to take over {budget:?} per run is not run.\n"
    );
    let curves = [
        Curve {
            name: "spawn and finish trivial tasks (1)",
            impls: vec![
                ("trio", Box::new(spawn::trio)),
                ("tokio LocalSet", Box::new(spawn::tokio_local)),
                ("tokio spawn", Box::new(spawn::tokio_spawn)),
                ("futures LocalPool", Box::new(spawn::futures_pool)),
            ],
        },
        Curve {
            name: "sleeping tasks, 1,000 distinct deadlines (4)",
            impls: vec![
                ("trio", Box::new(|n| timers::trio_sleepers(n, Deadlines::Spread))),
                ("tokio paused", Box::new(|n| timers::tokio_sleepers(n, Deadlines::Spread))),
            ],
        },
        Curve {
            name: "sleeping tasks, one deadline (4)",
            impls: vec![
                ("trio", Box::new(|n| timers::trio_sleepers(n, Deadlines::Same))),
                ("tokio paused", Box::new(|n| timers::tokio_sleepers(n, Deadlines::Same))),
            ],
        },
        Curve {
            name: "cancel blocked tasks at once (5)",
            impls: vec![("trio", Box::new(cancel::trio)), ("tokio abort_all", Box::new(cancel::tokio))],
        },
    ];
    let mut csv = String::from("workload,implementation,tasks,median_seconds,spread\n");
    for curve in &curves {
        println!("### {}\n", curve.name);
        let names: Vec<&str> = curve.impls.iter().map(|i| i.0).collect();
        println!("| tasks | {} | trio growth per 10× |", names.join(" | "));
        println!("| ---: |{} ---: |", " ---: |".repeat(names.len()));
        let mut stopped = vec![false; names.len()];
        let mut last: Vec<Option<f64>> = vec![None; names.len()];
        let mut skipped = Vec::new();
        let mut previous: Option<f64> = None;
        for &n in &sizes {
            let runs = if n <= 10_000 { 5 } else { 3 }.min(args.runs.max(1));
            let mut samples = vec![Vec::new(); names.len()];
            for _ in 0..runs {
                for (i, (_, run)) in curve.impls.iter().enumerate() {
                    if !stopped[i] {
                        samples[i].push(run(n).as_secs_f64());
                    }
                }
            }
            let mut line = format!("| {n} |");
            let mut trio_now = None;
            for (i, s) in samples.iter().enumerate() {
                if s.is_empty() {
                    line.push_str(" (not run) |");
                    continue;
                }
                let m = median(s.clone());
                csv.push_str(&format!("\"{}\",{},{n},{m:e},{:.3}\n", curve.name, names[i], spread(s)));
                line.push_str(&format!(" {} |", ns(m / n as f64)));
                if i == 0 {
                    trio_now = Some(m / n as f64);
                }
                // Predict the next size from this one and the growth so far; skip it if
                // that would blow the budget (a quadratic curve at a million tasks runs for
                // hours).
                let growth = last[i].map_or(1.0, |p: f64| (m / n as f64) / p).max(1.0);
                let predicted = m * 10.0 * growth * growth;
                if predicted > budget.as_secs_f64() && sizes.contains(&(n * 10)) {
                    stopped[i] = true;
                    skipped.push(format!("{} at {}: predicted ≈ {}", names[i], n * 10, secs(predicted)));
                }
                last[i] = Some(m / n as f64);
            }
            let growth = match (previous, trio_now) {
                (Some(a), Some(b)) => format!("{:.2}×", b / a),
                _ => "—".to_string(),
            };
            previous = trio_now;
            println!("{line} {growth} |");
            std::io::stdout().flush().ok();
        }
        if !skipped.is_empty() {
            println!("\nnot run (over the budget of {budget:?}): {}", skipped.join("; "));
        }
        println!();
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, csv).expect("write the scaling CSV");
        println!("scaling measurements written to {path}");
    }
}
