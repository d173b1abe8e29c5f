//! The loopback table: `loopback [SCALE] [RUNS]` (defaults 10 and 5; SCALE 10 is 20,000 echo
//! round trips and 256 MiB of bulk transfer, 1 is a tenth). Real sockets on 127.0.0.1.

fn main() {
    trio_bench::alloc::keep_freed_memory();
    let mut args = std::env::args().skip(1).peekable();
    // `loopback profile-trio N` / `loopback profile-tokio N`: one echo workload alone, for a
    // profiler.
    if let Some(which) = args.peek().cloned().filter(|a| a.starts_with("profile-")) {
        args.next();
        let n: usize = args.next().map(|a| a.parse().expect("N must be a number")).unwrap_or(100_000);
        let elapsed = match which.as_str() {
            "profile-trio" => trio_bench::loopback::trio_echo(1, n),
            "profile-tokio" => trio_bench::loopback::tokio_echo(1, n),
            other => panic!("unknown workload {other}"),
        };
        println!("{which}: {:?} per round trip", elapsed / n as u32);
        return;
    }
    let scale: u64 = args.next().map(|a| a.parse().expect("SCALE must be a number")).unwrap_or(10);
    let runs: usize = args.next().map(|a| a.parse().expect("RUNS must be a number")).unwrap_or(5);
    println!("scale {scale}, median of {runs} interleaved runs\n");
    print!("{}", trio_bench::loopback::table(scale, runs).render());
}
