//! The course's shielding lesson: a request cancelled by its scope's deadline, a second try in
//! the `except Cancelled` branch — and the practice answer that makes the second try succeed.
//!
//! Run it with `cargo run --example shielding` (six seconds), or at once on the autojump clock:
//! `TRIO_AUTOJUMP=1 cargo run --example shielding`.
//!
//! First the course's code as it is: at 2 s the scope cancels the first request. The second
//! request, started in the handler, fails at once — cancellation is level-triggered: inside a
//! cancelled scope every checkpoint fails, not just the first — and the scope catches it.
//! Then the answer: the second request runs in a shielded scope, which the outer cancellation
//! does not reach, so it takes its one second and succeeds.
//!
//! The course asks a real web service (`asks.get("https://httpbin.org/delay/N")`, which answers
//! after N seconds). [`get`] makes that request for real: HTTP/1.1 through hyper over
//! `trio::net`, to an httpbin that the program starts on 127.0.0.1 (`HTTPBIN_URL=http://...`
//! points it at another server). With `TRIO_AUTOJUMP=1`, and in the tests, the same code talks
//! to `httpbin.org` on the run's simulated network, where it answers after N seconds of the
//! run's clock.

use std::time::Duration;

use trio::CancelScope;
use trio_rs_examples::httpbin::get;
use trio_rs_examples::say;

/// Runs the course's code, then the answer with the shielded second request.
pub async fn async_main() -> trio::Result<()> {
    say!("-- the course's code --");
    unshielded().await?;
    say!("-- the second request shielded --");
    shielded().await
}

async fn unshielded() -> trio::Result<()> {
    trio::move_on_after(Duration::from_secs(2), async {
        say!("Starting a blocking request.");
        match get("https://httpbin.org/delay/3").await {
            Ok(_) => say!("The first request succeeded."),
            Err(error) if error.is_cancelled() => {
                say!("The first request timed out, try with a smaller delay.");
                get("https://httpbin.org/delay/1").await?; // cancelled too: the scope still is
                say!("The second request succeeded.");
            }
            Err(error) => return Err(error),
        }
        Ok(())
    })
    .await?;
    say!("Done.");
    Ok(())
}

async fn shielded() -> trio::Result<()> {
    trio::move_on_after(Duration::from_secs(2), async {
        say!("Starting a blocking request.");
        match get("https://httpbin.org/delay/3").await {
            Ok(_) => say!("The first request succeeded."),
            Err(error) if error.is_cancelled() => {
                say!("The first request timed out, try with a smaller delay.");
                // Python: `with trio.CancelScope(shield=True):`
                CancelScope::shielded()
                    .run(async {
                        get("https://httpbin.org/delay/1").await?;
                        say!("The second request succeeded.");
                        Ok(())
                    })
                    .await?;
            }
            Err(error) => return Err(error),
        }
        Ok(())
    })
    .await?;
    say!("Done.");
    Ok(())
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
