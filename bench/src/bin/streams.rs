//! The streams and simulated-network table: `streams [SCALE] [RUNS]` (defaults 10 and 5; SCALE
//! 10 is 8 MiB echoed, 2,000 connections and 256 MiB through a memory pair; 1 is a tenth).

fn main() {
    trio_bench::alloc::keep_freed_memory();
    let mut args = std::env::args().skip(1);
    let scale: u64 = args.next().map(|a| a.parse().expect("SCALE must be a number")).unwrap_or(10);
    let runs: usize = args.next().map(|a| a.parse().expect("RUNS must be a number")).unwrap_or(5);
    println!("scale {scale}, median of {runs} interleaved runs\n");
    print!("{}", trio_bench::net::table(scale, runs).render());
}
