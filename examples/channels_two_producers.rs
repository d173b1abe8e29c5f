//! Practice 2 of the channel lesson: two producers share one send channel — and one of them
//! fails. Then practice 2.1, the fix: each producer gets its own clone of the sender.
//!
//! Run it with `cargo run --example channels_two_producers`.
//!
//! Why the first version fails: Python's producer closes the channel when it is done
//! (`async with send_channel:`). With both producers holding the *same* channel object, the
//! first one to finish closes it for both, and the other one's next `send` raises
//! `ClosedResourceError`, which crashes the program through the nursery. The Rust version
//! shares the one sender through an [`Rc`] and closes it at the end of the producer, as
//! `async with` does, so the same happens: the send fails with [`SendError::Closed`], `?`
//! carries it out of the producer, the nursery cancels the other tasks and returns the error.
//! Instead of crashing, this example prints it and goes on to the fix.
//!
//! (Trio's course says you will "occasionally" see the error: Trio shuffles the order in which
//! ready tasks run. This runtime keeps a fixed order, so it fails the same way every time.)
//!
//! The fix: `send_channel.clone()` for each producer. A clone is a handle of its own; closing
//! it — or dropping it, which is what ending the producer does — closes only that handle, and
//! the consumer sees the end of the channel once every handle is closed.
//!
//! [`SendError::Closed`]: trio::SendError::Closed

use std::rc::Rc;

use trio::{MemoryReceiver, MemorySender};
use trio_rs_examples::say;

/// Runs the failing version, prints its error, then runs the fixed one.
pub async fn async_main() -> trio::Result<()> {
    say!("-- two producers sharing one send channel --");
    if let Err(error) = shared_sender().await {
        say!("error: {}", describe(&error));
    }
    say!("-- each producer with its own clone --");
    cloned_senders().await
}

/// Practice 2: both producers get the same send channel.
async fn shared_sender() -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        let (send_channel, receive_channel) = trio::open_memory_channel(0);
        let send_channel = Rc::new(send_channel);
        nursery.start_soon(shared_producer(1, send_channel.clone()));
        nursery.start_soon(shared_producer(2, send_channel));
        nursery.start_soon(consumer(receive_channel));
        Ok(())
    })
    .await
}

async fn shared_producer(id: u32, send_channel: Rc<MemorySender<String>>) -> trio::Result<()> {
    for i in 0..3 {
        say!("producer {id} sending a message: {i}");
        send_channel.send(format!("message {i} from producer {id}")).await?;
    }
    send_channel.close(); // the end of Python's `async with send_channel:` block: closed for both!
    Ok(())
}

/// Practice 2.1: each producer gets a clone of the send channel.
async fn cloned_senders() -> trio::Result<()> {
    trio::open_nursery(|nursery| async move {
        let (send_channel, receive_channel) = trio::open_memory_channel(0);
        nursery.start_soon(producer(1, send_channel.clone()));
        nursery.start_soon(producer(2, send_channel.clone()));
        drop(send_channel); // only the clones stay open, so the channel ends when both producers do
        nursery.start_soon(consumer(receive_channel));
        Ok(())
    })
    .await
}

async fn producer(id: u32, send_channel: MemorySender<String>) -> trio::Result<()> {
    for i in 0..3 {
        say!("producer {id} sending a message: {i}");
        send_channel.send(format!("message {i} from producer {id}")).await?;
    }
    Ok(()) // this producer's clone is dropped, and so closed, here
}

async fn consumer(receive_channel: MemoryReceiver<String>) -> trio::Result<()> {
    while let Some(value) = receive_channel.recv().await? {
        say!("got value '{value}'");
    }
    Ok(())
}

/// The failures a nursery reports, one per failed task, without the nursery's source location.
fn describe(error: &trio::Error) -> String {
    match error.as_group() {
        Some(group) => {
            let failures: Vec<String> = group.entries().iter().map(|entry| entry.error().to_string()).collect();
            failures.join("; ")
        }
        None => error.to_string(),
    }
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
