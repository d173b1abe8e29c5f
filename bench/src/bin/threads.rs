//! The worker-thread table: `threads [CALLS] [RUNS]` (defaults 20,000 and 7).

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: u64 = args.next().map(|a| a.parse().expect("CALLS must be a number")).unwrap_or(20_000);
    let runs: usize = args.next().map(|a| a.parse().expect("RUNS must be a number")).unwrap_or(7);
    println!("median of {runs} interleaved runs\n");
    print!("{}", trio_bench::threads::table(calls, runs).render());
}
