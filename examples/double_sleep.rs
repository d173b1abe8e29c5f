//! The course's first program: a task that sleeps for twice its argument — six seconds — and
//! prints before and after.
//!
//! Run it with `cargo run --example double_sleep`, or on the autojump clock, where the six
//! seconds pass at once: `TRIO_AUTOJUMP=1 cargo run --example double_sleep`.
//!
//! ```text
//! started! sleeping now...
//! exiting!
//! ```
//!
//! `say!` is the course's `print`: a `println!` that the tests can capture, together with the
//! time each line was printed at.

use std::time::Duration;

use trio_rs_examples::say;

/// Sleeps for `2 * x` seconds, saying so before and after.
pub async fn double_sleep(x: u64) -> trio::Result<()> {
    say!("started! sleeping now...");
    trio::sleep(Duration::from_secs(2 * x)).await?;
    say!("exiting!");
    Ok(())
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(double_sleep(3)) // does nothing for 6 seconds then returns
}
