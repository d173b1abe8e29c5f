//! Practice 1 of the channel lesson: two consumers process the messages concurrently, each
//! with an id that tells which one picked which message.
//!
//! Run it with `cargo run --example channels_two_consumers`.
//!
//! ```text
//! sending a message: 0
//! sending a message: 1
//! consumer 1 got value 'message 0'
//! consumer 2 got value 'message 1'
//! sending a message: 2
//! consumer 1 got value 'message 2'
//! ```
//!
//! In Python both consumers get the same receive channel object. A Rust task cannot borrow from
//! the task that started it, so sharing one object between two tasks takes an [`Rc`]: both
//! consumers use the one receive handle. Each still closes it when done, as Python's
//! `async with receive_channel:` does; that is harmless here because both are only done once
//! the channel has ended. (Practice 2 shows the same habit failing on the sending side, and
//! practice 3 the better way: a clone for each consumer.)

use std::rc::Rc;

use trio::{MemoryReceiver, MemorySender};
use trio_rs_examples::say;

/// Starts one producer and two consumers sharing the receive channel.
pub async fn async_main() -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        let (send_channel, receive_channel) = trio::open_memory_channel(0);
        let receive_channel = Rc::new(receive_channel);
        nursery.start_soon(producer(send_channel));
        nursery.start_soon(consumer(1, receive_channel.clone()));
        nursery.start_soon(consumer(2, receive_channel));
        Ok(())
    })
    .await
}

async fn producer(send_channel: MemorySender<String>) -> trio::Result<()> {
    for i in 0..3 {
        say!("sending a message: {i}");
        send_channel.send(format!("message {i}")).await?;
    }
    Ok(())
}

async fn consumer(id: u32, receive_channel: Rc<MemoryReceiver<String>>) -> trio::Result<()> {
    while let Some(value) = receive_channel.recv().await? {
        say!("consumer {id} got value '{value}'");
    }
    receive_channel.close(); // the end of Python's `async with receive_channel:` block
    Ok(())
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
