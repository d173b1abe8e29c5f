//! `https://httpbin.org/delay/N`, the web service the course's timeout and shielding lessons
//! ask (`asks.get(...)`): a real HTTP/1.1 client and server — hyper, running on trio streams
//! ([`crate::hyper_io`]) — that answer `GET /delay/N` after N seconds.
//!
//! [`get`] sends the request over `trio::net`, to one of three places:
//!
//! - `HTTPBIN_URL` (say `http://127.0.0.1:8080`), if set: any httpbin-style server, over the
//!   operating system's network;
//! - otherwise, when the example runs on the real clock ([`crate::run`] without
//!   `TRIO_AUTOJUMP=1`): an httpbin that the program starts in the same process on
//!   127.0.0.1, on a free port, over the operating system's network;
//! - otherwise (on the autojump clock, in tests, in doctests): `httpbin.org` on the run's
//!   simulated internet ([`internet`]), where it answers after N seconds of the run's clock.
//!
//! The client and server code is the same in all three.

use std::fmt;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use trio::TaskStatus;
use trio::lowlevel::RunVar;
use trio::net::SocketStream;
use trio_testkit::sim::{Link, SimNet};

use crate::hyper_io::HyperIo;

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

/// Marks the current run as one on the real clock and network: [`get`] then talks to a real
/// httpbin (its own, on 127.0.0.1, or `HTTPBIN_URL`) instead of the simulated one.
/// [`crate::run`] calls it when it does not use the autojump clock.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     trio_rs_examples::httpbin::use_real_network();
///     assert!(trio_rs_examples::httpbin::uses_real_network());
/// });
/// ```
pub fn use_real_network() {
    REAL_NETWORK.set(true);
}

/// Whether [`use_real_network`] was called in this run.
///
/// # Examples
///
/// ```
/// trio::run(async { assert!(!trio_rs_examples::httpbin::uses_real_network()) });
/// ```
pub fn uses_real_network() -> bool {
    REAL_NETWORK.get().unwrap_or(false)
}

static REAL_NETWORK: RunVar<bool> = RunVar::new("the examples use the real network");

/// The port of the httpbin this process started on 127.0.0.1, once started.
static LOCAL_HTTPBIN: RunVar<u16> = RunVar::new("the examples' local httpbin");

/// The environment variable that points [`get`] at another httpbin-style server.
pub const URL_VAR: &str = "HTTPBIN_URL";

/// `GET url` over HTTP/1.1, as `asks.get` does: connects, sends the request through hyper and
/// reads the whole response. A URL of `httpbin.org` goes where the [module](self) says.
///
/// # Errors
///
/// `Cancelled` if an enclosing scope is cancelled meanwhile (whatever hyper made of the
/// interrupted connection); a network error (an unknown host, a refused connection); an error
/// for a URL that is not `http(s)://host[:port]/path`, for an `HTTPBIN_URL` that is not
/// `http://host[:port]`, or for a response hyper rejects.
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
    let (host, port, path) = parse_url(url)?;
    let (host, port) = if host == HOST { httpbin_address(port).await? } else { (host.to_string(), port) };
    match request(&host, port, &path).await {
        Ok(response) => Ok(response),
        Err(error) => {
            // hyper reports a cancelled read or write as its own error; level-triggered
            // cancellation makes the next checkpoint say what really happened.
            trio::lowlevel::checkpoint_if_cancelled().await?;
            Err(error)
        }
    }
}

/// Where to reach the service that `httpbin.org` stands for.
async fn httpbin_address(port: u16) -> trio::Result<(String, u16)> {
    if let Some(base) = std::env::var_os(URL_VAR) {
        let base = base.to_str().ok_or_else(|| trio::Error::msg(format!("{URL_VAR} is not UTF-8")))?;
        if !base.starts_with("http://") {
            return Err(trio::Error::msg(format!(
                "{URL_VAR}={base:?}: only http:// servers can be reached (trio has no TLS here)"
            )));
        }
        let (host, port, _) = parse_url(base)?;
        return Ok((host.to_string(), port));
    }
    if !uses_real_network() {
        internet();
        return Ok((HOST.to_string(), port));
    }
    if let Some(port) = LOCAL_HTTPBIN.get() {
        return Ok(("127.0.0.1".to_string(), port));
    }
    let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
    let port = listeners[0].local_addr().port();
    LOCAL_HTTPBIN.set(port);
    trio::lowlevel::spawn_system_task(serve(listeners, TaskStatus::ignored()));
    Ok(("127.0.0.1".to_string(), port))
}

/// `(host, port, path)` of an `http(s)://host[:port]/path` URL.
fn parse_url(url: &str) -> trio::Result<(&str, u16, String)> {
    let bad = || trio::Error::msg(format!("not an http(s) URL: {url}"));
    let (rest, default_port) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (rest, 443),
        (_, Some(rest)) => (rest, 80),
        _ => return Err(bad()),
    };
    let (authority, path) = rest.split_once('/').map_or((rest, String::from("/")), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
        None => (authority, default_port),
    };
    if host.is_empty() {
        return Err(bad());
    }
    // The course's URLs say https; the service is reached over plain HTTP on port 80 of the
    // simulated host, or wherever httpbin_address points.
    let port = if host == HOST { 80 } else { port };
    Ok((host, port, path))
}

/// One request on a fresh connection. hyper's connection future is driven in this task, beside
/// the request, rather than in a task of its own: the task then waits on trio's own socket
/// waits, which the runtime sees — so autojump still jumps while the server sleeps. (Handed to
/// another task, the request would wait on hyper's internal channel, a future from outside
/// trio, and the run would have to assume something outside it might still answer.)
async fn request(host: &str, port: u16, path: &str) -> trio::Result<Response> {
    let stream = trio::net::open_tcp_stream(host, port).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(HyperIo::new(stream)).await.map_err(http_error)?;
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| trio::Error::msg(e.to_string()))?;
    let exchange = async move {
        let response = sender.send_request(request).await.map_err(http_error)?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(http_error)?.to_bytes();
        trio::Result::Ok(Response {
            status_code: status.as_u16(),
            reason_phrase: status.canonical_reason().unwrap_or("").to_uppercase(),
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    let mut exchange = std::pin::pin!(exchange);
    let mut connection = std::pin::pin!(connection);
    let mut connection_done = false;
    std::future::poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = exchange.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if connection_done {
                return Poll::Pending;
            }
            match connection.as_mut().poll(cx) {
                Poll::Ready(Err(error)) => return Poll::Ready(Err(http_error(error))),
                // Finished: the response is complete; look at the exchange once more.
                Poll::Ready(Ok(())) => connection_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

fn http_error(error: hyper::Error) -> trio::Error {
    trio::Error::msg(format!("HTTP: {error}"))
}

/// The service, on `listeners`: answers `GET /delay/N` after N seconds with `200 OK`, anything
/// else with `404 NOT FOUND` — hyper's HTTP/1.1 server, one connection per task. Reports its
/// listeners through `task_status`.
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
            let service = hyper::service::service_fn(answer);
            // A client that goes away (a cancelled request) only ends its connection.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(HyperIo::new(stream), service).await;
            trio::Result::Ok(())
        },
        listeners,
        task_status,
    )
    .await
}

async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::io::Error> {
    let delay = request.uri().path().strip_prefix("/delay/").and_then(|n| n.parse::<u64>().ok());
    let (status, body) = match delay {
        Some(delay) => {
            if trio::sleep(Duration::from_secs(delay)).await.is_err() {
                return Err(std::io::Error::other("the server was cancelled"));
            }
            (hyper::StatusCode::OK, format!("{{\"delay\": {delay}}}"))
        }
        None => (hyper::StatusCode::NOT_FOUND, "not found".to_string()),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    Ok(response)
}
