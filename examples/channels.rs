//! The course's channel: a producer sends three messages to a consumer over an unbuffered
//! memory channel.
//!
//! Run it with `cargo run --example channels`.
//!
//! ```text
//! sending a message: 0
//! sending a message: 1
//! got value 'message 0'
//! sending a message: 2
//! got value 'message 1'
//! got value 'message 2'
//! ```
//!
//! Python's `async with send_channel:` closes the channel when the producer is done, which ends
//! the consumer's `async for` loop. Here each task owns its end of the channel: the producer's
//! sender is dropped when it returns, and dropping closes it, so the consumer's
//! `while let Some(..)` loop ends.

use trio::{MemoryReceiver, MemorySender};
use trio_rs_examples::say;

/// Opens the channel and starts a producer and a consumer, passing one end to each.
pub async fn async_main() -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        // Open a channel:
        let (send_channel, receive_channel) = trio::open_memory_channel(0);
        // Start a producer and a consumer, passing one end of the channel to each of them:
        nursery.start_soon(producer(send_channel));
        nursery.start_soon(consumer(receive_channel));
        Ok(())
    })
    .await
}

async fn producer(send_channel: MemorySender<String>) -> trio::Result<()> {
    // Producer sends 3 messages
    for i in 0..3 {
        say!("sending a message: {i}");
        send_channel.send(format!("message {i}")).await?;
    }
    Ok(()) // `send_channel` is dropped, and so closed, here
}

async fn consumer(receive_channel: MemoryReceiver<String>) -> trio::Result<()> {
    // The consumer receives until every sender is closed:
    while let Some(value) = receive_channel.recv().await? {
        say!("got value '{value}'"); // quoted as Python's `{value!r}` quotes a string
    }
    Ok(())
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
