//! The two practice answers for nested cancel scopes: make the inner scope take effect.
//!
//! Run it with `cargo run --example nested_scopes_inner_wins` (six seconds), or at once on the
//! autojump clock: `TRIO_AUTOJUMP=1 cargo run --example nested_scopes_inner_wins`.
//!
//! 1. Change the values: swap them, so the inner scope (2 s) expires before the outer one (4 s).
//!    The inner scope catches its own cancellation, and every line after it is printed.
//! 2. Keep the values, change a scope through its handle: move the outer deadline 3 s later
//!    (Python's `cancel_scope.deadline += 3`), so the inner 4-second scope expires first.
//!
//! `move_on_after(d, body)` is `CancelScope::with_timeout(d).run(body)`; keeping the
//! [`CancelScope`](trio::CancelScope) handle — Python's `with trio.move_on_after(2) as
//! cancel_scope:` — is what lets the body read and change the scope while it runs.

use std::time::Duration;

use trio::CancelScope;
use trio_rs_examples::say;

/// Runs both answers, one after the other.
pub async fn async_main() -> trio::Result<()> {
    say!("-- answer 1: swap the values --");
    swapped_values().await?;
    say!("-- answer 2: move the outer deadline 3 s later --");
    later_outer_deadline().await
}

async fn swapped_values() -> trio::Result<()> {
    say!("starting...");
    trio::move_on_after(Duration::from_secs(4), async {
        trio::move_on_after(Duration::from_secs(2), async {
            trio::sleep(Duration::from_secs(5)).await?;
            say!("sleep finished without error");
            Ok(())
        })
        .await?;
        say!("move_on_after(2) finished without error");
        Ok(())
    })
    .await?;
    say!("move_on_after(4) finished without error");
    Ok(())
}

async fn later_outer_deadline() -> trio::Result<()> {
    say!("starting...");
    let cancel_scope = CancelScope::with_timeout(Duration::from_secs(2));
    cancel_scope
        .run(async {
            let deadline = cancel_scope.deadline().expect("a running scope made with a timeout has a deadline");
            cancel_scope.set_deadline(deadline + Duration::from_secs(3));
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
