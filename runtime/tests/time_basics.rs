//! Time: `Instant` arithmetic, sleeps landing exactly on their deadlines, and the system
//! clock's offset.

mod common;

use std::time::Duration;

use common::{at, run_auto, secs};
use trio::Instant;

#[test]
fn instant_arithmetic_saturates_and_displays_seconds() {
    let t = Instant::from_secs(6);
    assert_eq!(t - Instant::ZERO, secs(6));
    assert_eq!(Instant::ZERO - t, Duration::ZERO);
    assert_eq!(t + Duration::from_millis(250), Instant::from_millis(6250));
    assert_eq!(Instant::MAX + secs(1), Instant::MAX);
    assert_eq!(Instant::ZERO - secs(1), Instant::ZERO);
    assert_eq!(Instant::ZERO.checked_add(Duration::MAX), None);
    assert_eq!(t.to_string(), "6s");
    assert_eq!(Instant::from_millis(6250).to_string(), "6.25s");
    assert_eq!(Instant::MAX.to_string(), "never");
    assert_eq!(Instant::from_secs_f64(1.5), Instant::from_millis(1500));
}

#[test]
fn sleeps_end_exactly_on_their_deadlines() {
    run_auto(async {
        for i in 0..10 {
            let t0 = trio::current_time();
            trio::sleep(secs(10 * i)).await.unwrap();
            assert_eq!(trio::current_time() - t0, secs(10 * i));
        }
        trio::sleep_until(at(1000)).await.unwrap();
        assert_eq!(trio::current_time(), at(1000));
    });
}

#[test]
fn concurrent_sleeps_wake_in_deadline_order() {
    let log = common::Log::default();
    let l = log.clone();
    run_auto(async move {
        trio::open_nursery(|nursery| async move {
            for d in [3, 1, 2] {
                let l = l.clone();
                nursery.start_soon(async move {
                    trio::sleep(secs(d)).await?;
                    l.push(format!("{d} at {}", trio::current_time()));
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.take(), ["1 at 1s", "2 at 2s", "3 at 3s"]);
}

#[test]
fn the_system_clock_starts_at_an_offset() {
    trio::run(async {
        let now = trio::current_time().as_secs_f64();
        assert!((10_000.0..200_001.0).contains(&now), "{now}");
    });
    let a = trio::Builder::new().seed(1).run(async { trio::current_time().as_secs_f64() as u64 });
    let b = trio::Builder::new().seed(2).run(async { trio::current_time().as_secs_f64() as u64 });
    assert_ne!(a, b, "the offset comes from the seed");
}

#[test]
fn a_real_sleep_takes_real_time() {
    let t = std::time::Instant::now();
    trio::run(async {
        trio::sleep(Duration::from_millis(20)).await.unwrap();
    });
    assert!(t.elapsed() >= Duration::from_millis(20));
}

#[test]
fn elapsed_and_duration_since_read_the_runs_clock() {
    let clock = trio::SystemClock::with_offset(Duration::from_secs(50_000));
    trio::Builder::new().clock(clock).run(async {
        let start = trio::current_time();
        trio::sleep(Duration::from_millis(3)).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(3));
        let now = trio::current_time();
        assert_eq!(now.duration_since(start), now - start);
        assert_eq!(start.checked_duration_since(now), None);
        // Inside a run on a clock with an offset, Debug says how far into the run an instant is.
        let shown = format!("{:?}", start + Duration::from_millis(1500));
        assert!(shown.contains(", run start + 1.5"), "{shown}");
    });
    // Outside a run, and on a clock that starts at zero, only the reading.
    assert_eq!(format!("{:?}", trio::Instant::from_millis(1500)), "Instant(1.5s)");
}
