//! A simulated `https://httpbin.org/delay/N`, the web service the course's timeout and
//! shielding lessons ask (`asks.get(...)`), answering on the run's clock.
//!
//! Until trio has a network layer, the examples call [`get`] here; replace it and [`Response`]
//! with a real client, and nothing else in them changes.

use std::fmt;
use std::time::Duration;

/// The answer of the simulated service; it prints as the course's `asks` response does.
#[derive(Debug)]
pub struct Response {
    status_code: u16,
    reason_phrase: &'static str,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Response {} {}>", self.status_code, self.reason_phrase)
    }
}

/// Simulates `GET https://httpbin.org/delay/N`: answers after `N` seconds of the run's clock.
///
/// # Errors
///
/// `Cancelled` if an enclosing scope is cancelled while it waits; an error for a URL that is
/// not a `/delay/N` one.
pub async fn get(url: &str) -> trio::Result<Response> {
    let delay: u64 = url
        .rsplit_once("/delay/")
        .and_then(|(_, secs)| secs.parse().ok())
        .ok_or_else(|| trio::Error::msg(format!("the simulated service only answers /delay/N, not {url}")))?;
    trio::sleep(Duration::from_secs(delay)).await?;
    Ok(Response { status_code: 200, reason_phrase: "OK" })
}
