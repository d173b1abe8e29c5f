//! Writes the page of a failing schedule: rent is due on payday, and the account holds enough
//! only once the salary is in. In the default order the salary always lands first; a schedule
//! that lets the rent go first overdraws the account.
//!
//! ```text
//! cargo run -p trio-testkit --example trace_page -- trace.html
//! ```
//!
//! then open `trace.html` in a browser.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use trio_testkit::explore::{Explore, PolicyKind};

async fn payday(balance: Rc<Cell<i64>>, amount: i64) -> trio::Result<()> {
    trio::sleep(Duration::from_millis(10)).await?;
    trio::checkpoint().await?; // ask the ledger service
    balance.set(balance.get() + amount);
    trio::always!(balance.get() >= 0, "the account is never overdrawn");
    Ok(())
}

async fn audit(balance: Rc<Cell<i64>>) -> trio::Result<()> {
    for _ in 0..3 {
        trio::sleep(Duration::from_millis(4)).await?;
        trio::sometimes!(balance.get() > 50, "an audit sees the salary");
    }
    Ok(())
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "trace.html".to_string());
    let failure = Explore::new("overdraft")
        .schedules(200)
        .policy(PolicyKind::Random)
        .persist(false)
        .trace_html(&path)
        .run(|| async {
            let balance = Rc::new(Cell::new(50));
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("audit", audit(balance.clone()));
                trio::open_nursery(|payments| async move {
                    payments.start_soon_named("salary", payday(balance.clone(), 100));
                    payments.start_soon_named("rent", payday(balance.clone(), -80));
                    Ok(())
                })
                .await
            })
            .await
            .unwrap();
        })
        .expect_err("rent before salary overdraws the account");
    println!("{failure}");
}
