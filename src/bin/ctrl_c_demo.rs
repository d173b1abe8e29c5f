//! A trio program for the Ctrl-C test (`tests/ctrl_c.rs`): two workers wait until cancelled,
//! the main task says `ready` once everything is blocked, and Ctrl-C (`SIGINT`) should
//! unwind them all and end the run with `KeyboardInterrupt` — exit status 130, the shell's
//! convention for "ended by Ctrl-C". With `--no-keyboard-interrupt` the run leaves Ctrl-C
//! alone, and the signal ends the process as it would any program.
//!
//! ```text
//! $ cargo run --bin ctrl_c_demo
//! ready
//! ^Cworker 1: unwound (cancelled by KeyboardInterrupt: Ctrl-C (SIGINT))
//! worker 2: unwound (cancelled by KeyboardInterrupt: Ctrl-C (SIGINT))
//! main: unwound (cancelled by KeyboardInterrupt: Ctrl-C (SIGINT))
//! KeyboardInterrupt: Ctrl-C (SIGINT) cancelled the run, and every task has unwound
//! ```

use std::io::Write;
use std::time::Duration;

/// Long enough to be interrupted; a deadline keeps the run from being a deadlock.
const WAIT: Duration = Duration::from_secs(3600);

async fn wait_until_cancelled(name: &'static str) -> trio::Result<()> {
    let cancelled = trio::sleep(WAIT).await.expect_err("interrupted long before the hour is up");
    println!("{name}: unwound ({cancelled})");
    Err(cancelled.into())
}

fn main() {
    let mut builder = trio::Builder::new();
    if std::env::args().any(|arg| arg == "--no-keyboard-interrupt") {
        builder = builder.keyboard_interrupt(false);
    }
    let outcome = builder.try_run(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("worker 1", wait_until_cancelled("worker 1"));
            nursery.start_soon_named("worker 2", wait_until_cancelled("worker 2"));
            trio::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            println!("ready");
            std::io::stdout().flush()?;
            wait_until_cancelled("main").await
        })
        .await
    });
    match outcome {
        Err(error) if error.kind() == trio::RunErrorKind::KeyboardInterrupt => {
            println!("{}", error.to_string().lines().next().unwrap_or_default());
            std::process::exit(130);
        }
        other => {
            println!("the run ended without Ctrl-C: {other:?}");
            std::process::exit(1);
        }
    }
}
