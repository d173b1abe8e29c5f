//! The channel and lock table alone: `channels [MESSAGES] [RUNS]` (defaults 1,000,000 and 5).
//! `compare` prints the same table among all the others.

fn main() {
    trio_bench::alloc::keep_freed_memory();
    let mut args = std::env::args().skip(1);
    let messages: u64 = args.next().map(|a| a.parse().expect("MESSAGES must be a number")).unwrap_or(1_000_000);
    let runs: usize = args.next().map(|a| a.parse().expect("RUNS must be a number")).unwrap_or(5);
    println!("{messages} messages per run, median of {runs} interleaved runs\n");
    print!("{}", trio_bench::channels::table(messages, runs).render());
}
