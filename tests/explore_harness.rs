//! The exploration harness: the correct versions of the bug zoo's programs under many
//! schedules, split into shards that `cargo nextest run --partition hash:M/N` can spread over
//! CI machines. Set `TRIO_SCHEDULES` to widen every exploration.

mod zoo;

use trio_testkit::explore::{Explore, PolicyKind};
use trio_testkit::harness::Harness;

fn main() {
    let mut harness = Harness::from_args();
    let programs: [(&str, zoo::Program, PolicyKind); 4] = [
        ("lost_update", zoo::lost_update, PolicyKind::Random),
        ("lock_order", zoo::lock_order, PolicyKind::Random),
        ("missed_wakeup", zoo::missed_wakeup, PolicyKind::Pct { depth: 3 }),
        ("aba", zoo::aba_three, PolicyKind::Pct { depth: 4 }),
    ];
    for (name, program, policy) in programs {
        let config = Explore::new(format!("explore_harness::{name}")).schedules(4_000).policy(policy).persist(false);
        harness = harness.explore(config, 1_000, move || program(false));
    }
    harness.run()
}
