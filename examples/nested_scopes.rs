//! The course's nested cancel scopes: a 2-second scope around a 4-second scope around a
//! 5-second sleep. What does it print?
//!
//! Run it with `cargo run --example nested_scopes` (two seconds), or at once on the autojump
//! clock: `TRIO_AUTOJUMP=1 cargo run --example nested_scopes`.
//!
//! At 2 s the outer scope is cancelled. The sleep fails with `Cancelled`; `?` carries it out of
//! the inner scope, which lets it pass — it is not the inner scope's cancellation — and the outer
//! scope catches it. So neither "sleep finished" nor "move_on_after(4) finished" is printed.
//! `nested_scopes_inner_wins` shows how to make the inner scope win.

use std::time::Duration;

use trio_rs_examples::say;

/// The course's program: two nested `move_on_after` scopes around a long sleep.
pub async fn async_main() -> trio::Result<()> {
    say!("starting...");
    trio::move_on_after(Duration::from_secs(2), async {
        trio::move_on_after(Duration::from_secs(4), async {
            trio::sleep(Duration::from_secs(5)).await?;
            say!("sleep finished without error");
            Ok(())
        })
        .await?;
        say!("move_on_after(4) finished without error");
        Ok(())
    })
    .await?;
    say!("move_on_after(2) finished without error");
    Ok(())
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
