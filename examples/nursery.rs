//! The course's nursery example: a parent starts two children, which sleep 1 s and 2 s; the
//! parent's nursery block does not finish until both have.
//!
//! Run it with `cargo run --example nursery`.

use std::time::Duration;

async fn child1() -> trio::Result<()> {
    println!("  child1: started! sleeping now...");
    trio::sleep(Duration::from_secs(1)).await?;
    println!("  child1: exiting!");
    Ok(())
}

async fn child2() -> trio::Result<()> {
    println!("  child2: started! sleeping now...");
    trio::sleep(Duration::from_secs(2)).await?;
    println!("  child2: exiting!");
    Ok(())
}

async fn parent() -> trio::Result<()> {
    println!("parent: started!");
    trio::open_nursery(|nursery| async move {
        println!("parent: spawning child1...");
        nursery.start_soon(child1());

        println!("parent: spawning child2...");
        nursery.start_soon(child2());

        println!("parent: waiting for children to finish...");
        // -- we exit the nursery block here --
        Ok(())
    })
    .await?;
    println!("parent: all done!");
    Ok(())
}

fn main() -> trio::Result<()> {
    trio::run(parent())
}
