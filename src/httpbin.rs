//! `https://httpbin.org/delay/N`, the web service the course's timeout and shielding lessons
//! ask (`asks.get(...)`) — as a host on the run's simulated internet, answering a small HTTP/1.1
//! request after N seconds of the run's clock.
//!
//! The examples call [`get`], which goes through `trio::net` exactly as a real client would: it
//! connects to `httpbin.org`, sends the request, reads the response. Only the network underneath
//! is simulated ([`internet`]); when trio gets real sockets, the same code talks to the real
//! service.

use std::fmt;
use std::time::Duration;

use trio::TaskStatus;
use trio::abc::{ReceiveStream, SendStream};
use trio::lowlevel::RunVar;
use trio::net::SocketStream;
use trio_testkit::sim::{Link, SimNet};

/// The host name of the service.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let net = trio_rs_examples::internet();
///     assert_eq!(net.host(trio_rs_examples::httpbin::HOST).name(), "httpbin.org");
/// });
/// ```
pub const HOST: &str = "httpbin.org";

/// The simulated internet of the current run.
static INTERNET: RunVar<SimNet> = RunVar::new("the examples' simulated internet");

/// The run's simulated internet: made and installed on first use, with `httpbin.org` on it
/// (serving on port 80, zero latency so that `/delay/N` takes exactly N seconds). Examples add
/// their own hosts to it.
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let net = trio_rs_examples::internet();
///     let server = net.add_host("my-server");
///     assert_eq!(net.host("httpbin.org").name(), "httpbin.org");
///     # let _ = server;
/// });
/// ```
pub fn internet() -> SimNet {
    INTERNET.get_or_init(|| {
        let net = SimNet::new();
        let httpbin = net.add_host(HOST);
        net.set_link("main", HOST, Link::default().latency(Duration::ZERO));
        net.install();
        // Bound now, so a request made right away finds it listening.
        let listener = httpbin.listen(80).expect("port 80 of a new host is free");
        let listener = std::cell::Cell::new(Some(listener));
        trio::lowlevel::spawn_system_task(httpbin.run(move || {
            let listeners = listener.take().into_iter().collect();
            serve(listeners, TaskStatus::ignored())
        }));
        net
    })
}

/// [`internet`] as a fixture, for tests in any crate: a test (or a fixture) that asks for
/// `simulated_internet: SimNet` — after `use trio_rs_examples::httpbin::simulated_internet`, or
/// with `#[from(trio_rs_examples::httpbin::simulated_internet)]` — runs with the examples'
/// internet installed and `httpbin.org` serving on it.
///
/// # Errors
///
/// None: the `Result` only shows that a fixture's set-up may fail.
///
/// # Examples
///
/// ```
/// use trio_rs_examples::httpbin::simulated_internet;
/// use trio_testkit::sim::SimNet;
/// use trio_testkit::trio_test;
///
/// #[trio_test(autojump)]
/// async fn asks_httpbin(simulated_internet: SimNet) -> trio::Result<()> {
///     let response = trio_rs_examples::httpbin::get("https://httpbin.org/delay/1").await?;
///     assert_eq!(response.status_code, 200);
///     assert_eq!(simulated_internet.host("httpbin.org").name(), "httpbin.org");
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[trio_testkit::trio_fixture]
pub async fn simulated_internet() -> trio::Result<SimNet> {
    let net = internet();
    trio::checkpoint().await?;
    Ok(net)
}

/// A response, printed as the course's `asks` response is.
///
/// # Examples
///
/// ```
/// use trio_rs_examples::httpbin::Response;
///
/// let response = Response { status_code: 200, reason_phrase: "OK".into(), body: String::new() };
/// assert_eq!(response.to_string(), "<Response 200 OK>");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `200`, `404`…
    pub status_code: u16,
    /// `OK`, `NOT FOUND`…
    pub reason_phrase: String,
    /// The body.
    pub body: String,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Response {} {}>", self.status_code, self.reason_phrase)
    }
}

/// `GET url` over HTTP/1.1, as `asks.get` does: connects to the URL's host on port 80, sends
/// the request and reads the whole response.
///
/// # Errors
///
/// `Cancelled` if an enclosing scope is cancelled meanwhile; a network error (an unknown host,
/// a refused connection); an error for a URL that is not `http(s)://host/path` or a response
/// that is not HTTP.
///
/// # Examples
///
/// ```
/// use trio_rs_examples::Transcript;
///
/// let transcript = Transcript::record(async {
///     let response = trio_rs_examples::httpbin::get("https://httpbin.org/delay/2").await?;
///     trio_rs_examples::say!("{response}");
///     Ok(())
/// });
/// assert_eq!(transcript.to_string(), "2s | <Response 200 OK>");
/// ```
pub async fn get(url: &str) -> trio::Result<Response> {
    internet();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let (host, path) = match rest.map(|rest| rest.split_once('/').unwrap_or((rest, ""))) {
        Some((host, path)) if !host.is_empty() => (host, format!("/{path}")),
        _ => return Err(trio::Error::msg(format!("not an http(s) URL: {url}"))),
    };
    let stream = trio::net::open_tcp_stream(host, 80).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.send_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    loop {
        let chunk = stream.receive_some(4096).await?;
        if chunk.is_empty() {
            break;
        }
        raw.extend_from_slice(&chunk);
    }
    parse_response(&String::from_utf8_lossy(&raw))
        .ok_or_else(|| trio::Error::msg(format!("not an HTTP response from {host}")))
}

fn parse_response(text: &str) -> Option<Response> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    let status_code = parts.next()?.parse().ok()?;
    let reason_phrase = parts.next().unwrap_or("").to_string();
    Some(Response { status_code, reason_phrase, body: body.to_string() })
}

/// The service, on `listeners`: answers `GET /delay/N` after N seconds with `200 OK`, anything
/// else with `404 NOT FOUND`. Reports its listeners through `task_status`.
///
/// # Errors
///
/// Those of `trio::net::serve_listeners`; a client that goes away is not an error.
///
/// # Examples
///
/// A second httpbin, on a host of its own:
///
/// ```
/// use trio_rs_examples::{Transcript, say};
///
/// let transcript = Transcript::record(async {
///     let net = trio_rs_examples::internet();
///     let mirror = net.add_host("mirror.example");
///     let listener = mirror.listen(80)?;
///     trio::open_nursery(|nursery| async move {
///         let listener = std::cell::Cell::new(Some(listener));
///         nursery.start_soon(mirror.run(move || {
///             trio_rs_examples::httpbin::serve(listener.take().into_iter().collect(), trio::TaskStatus::ignored())
///         }));
///         let response = trio_rs_examples::httpbin::get("http://mirror.example/delay/1").await?;
///         say!("{response}");
///         let missing = trio_rs_examples::httpbin::get("http://mirror.example/nothing").await?;
///         say!("{missing}");
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
/// });
/// assert_eq!(transcript.lines()[0].text, "<Response 200 OK>");
/// assert_eq!(transcript.lines()[1].text, "<Response 404 NOT FOUND>");
/// ```
pub async fn serve(
    listeners: Vec<trio::net::SocketListener>,
    task_status: TaskStatus<Vec<std::rc::Rc<trio::net::SocketListener>>>,
) -> trio::Result<()> {
    trio::net::serve_listeners(
        |stream: SocketStream| async move {
            // A client that goes away (a cancelled request) only ends its connection.
            if let Err(error) = answer(stream).await {
                if !error.is_cancelled() && error.downcast_ref::<trio::StreamError>().is_none() {
                    return Err(error);
                }
            }
            Ok(())
        },
        listeners,
        task_status,
    )
    .await
}

async fn answer(stream: SocketStream) -> trio::Result<()> {
    let mut request = Vec::new();
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let chunk = stream.receive_some(4096).await?;
        if chunk.is_empty() {
            return Ok(());
        }
        request.extend_from_slice(&chunk);
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.lines().next().and_then(|line| line.split(' ').nth(1)).unwrap_or("");
    let (status, body) = match path.strip_prefix("/delay/").and_then(|n| n.parse::<u64>().ok()) {
        Some(delay) => {
            trio::sleep(Duration::from_secs(delay)).await?;
            ("200 OK", format!("{{\"delay\": {delay}}}"))
        }
        None => ("404 NOT FOUND", "not found".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.send_all(response.as_bytes()).await?;
    trio::abc::HalfCloseableStream::send_eof(&stream).await?;
    Ok(())
}
