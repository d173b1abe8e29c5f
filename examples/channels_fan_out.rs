//! Practice 3 of the channel lesson: fan-out. Two producers and two consumers, and every task
//! gets its own clone of its end of the channel (Trio's "managing multiple producers and/or
//! multiple consumers" pattern).
//!
//! Run it with `cargo run --example channels_fan_out`.
//!
//! Each message goes to exactly one consumer — whichever is waiting — so the work fans out over
//! both. Cloning a receiver does not copy the stream. Every clone is a handle of its own: the
//! consumers see the end of the channel once every sender clone is closed, and a task that
//! closes (or drops) its clone cannot break the others.

use trio::{MemoryReceiver, MemorySender};
use trio_rs_examples::say;

/// Starts two producers and two consumers, each with a clone of its end of the channel.
pub async fn async_main() -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        let (send_channel, receive_channel) = trio::open_memory_channel(0);
        nursery.start_soon(producer(1, send_channel.clone()));
        nursery.start_soon(producer(2, send_channel.clone()));
        nursery.start_soon(consumer(1, receive_channel.clone()));
        nursery.start_soon(consumer(2, receive_channel.clone()));
        // Close the originals — Python's `async with send_channel, receive_channel:` around the
        // block. Only the clones stay open: the channel ends when both producers are done.
        drop((send_channel, receive_channel));
        Ok(())
    })
    .await
}

async fn producer(id: u32, send_channel: MemorySender<String>) -> trio::Result<()> {
    for i in 0..3 {
        say!("producer {id} sending a message: {i}");
        send_channel.send(format!("message {i} from producer {id}")).await?;
    }
    Ok(())
}

async fn consumer(id: u32, receive_channel: MemoryReceiver<String>) -> trio::Result<()> {
    while let Some(value) = receive_channel.recv().await? {
        say!("consumer {id} got value '{value}'");
    }
    Ok(())
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
