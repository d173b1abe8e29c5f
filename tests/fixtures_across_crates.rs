//! A fixture defined in another crate (`trio_rs_examples::httpbin::simulated_internet`, in the
//! root package's library) asked for by name after a `use`, and by path with `#[from(…)]`, from
//! tests and from a fixture of this crate.

use std::time::Duration;

use trio::Instant;
use trio_rs_examples::httpbin::{self, simulated_internet};
use trio_testkit::sim::SimNet;
use trio_testkit::{trio_fixture, trio_test};

#[trio_test(autojump)]
async fn by_name_after_a_use(simulated_internet: SimNet) -> trio::Result<()> {
    let response = httpbin::get("https://httpbin.org/delay/2").await?;
    assert_eq!(response.status_code, 200);
    assert_eq!(trio::current_time(), Instant::from_secs(2));
    assert_eq!(simulated_internet.host(httpbin::HOST).name(), "httpbin.org");
    Ok(())
}

#[trio_test(autojump)]
async fn by_path(#[from(trio_rs_examples::httpbin::simulated_internet)] internet: SimNet) -> trio::Result<()> {
    assert_eq!(internet.host(httpbin::HOST).name(), "httpbin.org");
    Ok(())
}

/// A fixture of this crate that depends on the other crate's fixture: the time a request takes.
#[trio_fixture]
async fn round_trip(_simulated_internet: SimNet) -> trio::Result<Duration> {
    let start = trio::current_time();
    httpbin::get("https://httpbin.org/delay/1").await?;
    Ok(trio::current_time() - start)
}

#[trio_test(autojump, schedules = 10)]
async fn through_a_fixture_of_this_crate(round_trip: Duration) {
    assert_eq!(round_trip, Duration::from_secs(1));
}
