//! The course's nursery: a parent starts two children, which sleep one and two seconds. The
//! nursery block does not end until both children have — the children never leave it.
//!
//! Run it with `cargo run --example nursery` (two seconds), or at once on the autojump clock:
//! `TRIO_AUTOJUMP=1 cargo run --example nursery`.
//!
//! ```text
//! parent: started!
//! parent: spawning child1...
//! parent: spawning child2...
//! parent: waiting for children to finish...
//!   child1: started! sleeping now...
//!   child2: started! sleeping now...
//!   child1: exiting!
//!   child2: exiting!
//! parent: all done!
//! ```
//!
//! The children only start running once the parent waits at the end of the nursery block: a
//! task runs until it reaches a checkpoint, and `start_soon` is not one.

use std::time::Duration;

use trio_rs_examples::say;

async fn child1() -> trio::Result<()> {
    say!("  child1: started! sleeping now...");
    trio::sleep(Duration::from_secs(1)).await?;
    say!("  child1: exiting!");
    Ok(())
}

async fn child2() -> trio::Result<()> {
    say!("  child2: started! sleeping now...");
    trio::sleep(Duration::from_secs(2)).await?;
    say!("  child2: exiting!");
    Ok(())
}

/// The parent task: opens a nursery, starts both children in it, and waits for them.
pub async fn parent() -> trio::Result<()> {
    say!("parent: started!");
    trio::open_nursery(|nursery| async move {
        say!("parent: spawning child1...");
        nursery.start_soon(child1());

        say!("parent: spawning child2...");
        nursery.start_soon(child2());

        say!("parent: waiting for children to finish...");
        // -- we exit the nursery block here --
        Ok(())
    })
    .await?;
    say!("parent: all done!");
    Ok(())
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(parent())
}
