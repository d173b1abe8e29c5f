//! The course's simple timeout: a request that takes a random 1 to 10 seconds, under
//! `move_on_after(5)`. If it answers in time, its result is printed; either way the program
//! goes on after the scope.
//!
//! Run it several times, as the course suggests: `cargo run --example timeout`. Each run draws
//! a new delay; `TRIO_SEED=N` repeats a run (the delay comes from the run's seed), and
//! `TRIO_AUTOJUMP=1` skips the waiting.
//!
//! The course asks a real web service (`asks.get("https://httpbin.org/delay/N")`, which answers
//! after N seconds). [`get`] makes that request for real: HTTP/1.1 through hyper over
//! `trio::net`, to an httpbin that the program starts on 127.0.0.1 (`HTTPBIN_URL=http://...`
//! points it at another server). With `TRIO_AUTOJUMP=1`, and in the tests, the same code talks
//! to `httpbin.org` on the run's simulated network, where it answers after N seconds of the
//! run's clock.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use trio_rs_examples::httpbin::get;
use trio_rs_examples::say;

/// Requests a URL that answers after a random delay, giving up after five seconds.
pub async fn async_main() -> trio::Result<()> {
    trio::move_on_after(Duration::from_secs(5), async {
        let result = get(&format!("https://httpbin.org/delay/{}", randint(1, 10))).await?;
        say!("result is {result}");
        Ok(())
    })
    .await?;
    say!("with block finished");
    Ok(())
}

/// Python's `random.randint(low, high)`: a number from `low` to `high`, both included, drawn
/// from the run's seed.
pub fn randint(low: u64, high: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(trio::lowlevel::current_seed());
    low + rng.next_u64() % (high - low + 1)
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
