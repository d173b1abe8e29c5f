//! A small key-value service and a client that retries with exponential backoff, over
//! `trio::net`.
//!
//! The protocol is one request per connection, one line each way: `GET key` answers
//! `VALUE n` or `NONE`, `SET key n` answers `OK`, `INCR key id` answers `VALUE n` (`-` for no
//! id). The client
//! gives every attempt a deadline and, when one fails — refused, reset, too slow — sleeps and
//! tries again, twice as long each time. `INCR` is not idempotent, so the client tags it with a
//! request id and the server remembers the answer it gave to each id: a retry after a lost
//! answer does not count twice (`tests/kv_example.rs` shows what goes wrong without it).
//!
//! The program: set a key, increment it, crash the server's host for three seconds, increment
//! again — the client retries until the host is back — and read the key. The store survives
//! the crash, as if it were on disk. Run it with `cargo run --example kv` (about four seconds),
//! or at once with `TRIO_AUTOJUMP=1`.
//!
//! ```text
//! kv: serving on port 6379
//! client: SET apples 3 -> OK
//! client: INCR apples -> 4
//! -- the kv host crashes for 3 seconds --
//! client: INCR apples failed (attempt 1): connection refused; retrying in 250ms
//! client: INCR apples failed (attempt 2): connection refused; retrying in 500ms
//! client: INCR apples failed (attempt 3): connection refused; retrying in 1s
//! client: INCR apples failed (attempt 4): connection refused; retrying in 2s
//! client: INCR apples -> 5
//! client: GET apples -> 5
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use trio::TaskStatus;
use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio::net::{SocketListener, SocketStream};
use trio_rs_examples::say;

/// The port the service listens on.
pub const PORT: u16 = 6379;

// ===== the server =====

/// The service's data: values by key, and the answer given to each `INCR` request id.
#[derive(Debug, Default)]
pub struct Store {
    values: RefCell<BTreeMap<String, i64>>,
    answered: RefCell<BTreeMap<String, i64>>,
}

impl Store {
    /// Applies one request line and returns the answer line.
    pub fn apply(&self, request: &str) -> String {
        let words: Vec<&str> = request.split_whitespace().collect();
        let mut values = self.values.borrow_mut();
        match words.as_slice() {
            ["GET", key] => values.get(*key).map_or("NONE".to_string(), |n| format!("VALUE {n}")),
            ["SET", key, n] => match n.parse::<i64>() {
                Ok(n) => {
                    values.insert(key.to_string(), n);
                    "OK".to_string()
                }
                Err(_) => format!("ERROR not a number: {n}"),
            },
            ["INCR", key, id] => {
                if let Some(n) = self.answered.borrow().get(*id).filter(|_| *id != "-") {
                    return format!("VALUE {n}"); // a retry: the same answer, not a second increment
                }
                let n = values.entry(key.to_string()).or_insert(0);
                *n += 1;
                if *id != "-" {
                    self.answered.borrow_mut().insert(id.to_string(), *n);
                }
                format!("VALUE {n}")
            }
            _ => format!("ERROR unknown request: {request}"),
        }
    }

    /// The value of `key`, read directly (for tests).
    pub fn value(&self, key: &str) -> Option<i64> {
        self.values.borrow().get(key).copied()
    }
}

/// Serves `store` on `listeners` until cancelled: one request per connection. A connection
/// that breaks ends only its own handler.
pub async fn serve(store: Rc<Store>, listeners: Vec<SocketListener>) -> trio::Result<()> {
    trio::net::serve_listeners(
        move |stream: SocketStream| {
            let store = store.clone();
            async move {
                match answer(&store, &stream).await {
                    Err(error) if error.downcast_ref::<trio::StreamError>().is_some_and(|e| !e.is_cancelled()) => {
                        Ok(())
                    }
                    other => other,
                }
            }
        },
        listeners,
        TaskStatus::ignored(),
    )
    .await
}

async fn answer(store: &Store, stream: &SocketStream) -> trio::Result<()> {
    let request = read_line(stream).await?;
    let reply = store.apply(&request);
    stream.send_all(format!("{reply}\n").as_bytes()).await?;
    stream.send_eof().await?;
    Ok(())
}

/// Reads up to the first newline (or the end of the stream).
async fn read_line(stream: &SocketStream) -> trio::Result<String> {
    let mut line = Vec::new();
    while !line.contains(&b'\n') {
        let chunk = stream.receive_some(1024).await?;
        if chunk.is_empty() {
            break;
        }
        line.extend_from_slice(&chunk);
    }
    let line = String::from_utf8_lossy(&line);
    Ok(line.split('\n').next().unwrap_or("").trim().to_string())
}

/// The server's program for `SimHost::run`: serves on `listener` the first time, and on a
/// freshly opened port after a restart.
pub fn program(
    store: Rc<Store>,
    listener: Option<SocketListener>,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = trio::Result<()>>>> {
    let listener = Cell::new(listener);
    move || {
        let store = store.clone();
        let listener = listener.take();
        Box::pin(async move {
            let listeners = match listener {
                Some(listener) => vec![listener],
                None => trio::net::open_tcp_listeners(PORT).await?,
            };
            serve(store, listeners).await
        })
    }
}

// ===== the client =====

/// A client that retries every request with exponential backoff.
#[derive(Debug)]
pub struct Client {
    host: String,
    /// Part of every request id: ids must be unique across clients.
    name: String,
    /// The deadline of one attempt.
    pub attempt_timeout: Duration,
    /// How long to wait after the first failed attempt; doubled after each.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// Tag `INCR` with a request id, so the server can tell a retry from a new increment.
    pub request_ids: bool,
    /// Print every failed attempt.
    pub verbose: bool,
    next_id: Cell<u64>,
}

impl Client {
    /// A client named `name` of the service on `host`, with request ids on.
    pub fn new(host: &str, name: &str) -> Client {
        Client {
            host: host.to_string(),
            name: name.to_string(),
            attempt_timeout: Duration::from_secs(1),
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_attempts: 20,
            request_ids: true,
            verbose: false,
            next_id: Cell::new(0),
        }
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> trio::Result<Option<i64>> {
        let reply = self.request(&format!("GET {key}")).await?;
        Ok(reply.strip_prefix("VALUE ").and_then(|n| n.parse().ok()))
    }

    /// `SET key value`.
    pub async fn set(&self, key: &str, value: i64) -> trio::Result<()> {
        self.request(&format!("SET {key} {value}")).await?;
        Ok(())
    }

    /// `INCR key`: the new value.
    pub async fn incr(&self, key: &str) -> trio::Result<i64> {
        let id = if self.request_ids {
            self.next_id.set(self.next_id.get() + 1);
            format!("{}-{}", self.name, self.next_id.get())
        } else {
            "-".to_string()
        };
        let reply = self.request(&format!("INCR {key} {id}")).await?;
        reply.strip_prefix("VALUE ").and_then(|n| n.parse().ok()).ok_or_else(|| trio::Error::msg(reply))
    }

    /// Sends `request` until an attempt gets an answer, waiting longer after each failure.
    pub async fn request(&self, request: &str) -> trio::Result<String> {
        let mut backoff = self.first_backoff;
        let mut attempt = 1;
        loop {
            match trio::fail_after(self.attempt_timeout, self.attempt(request)).await {
                Ok(reply) => return Ok(reply),
                Err(error) if error.is_cancelled() => return Err(error),
                Err(error) if attempt >= self.max_attempts => {
                    return Err(trio::Error::msg(format!("{request}: gave up after {attempt} attempts: {error}")));
                }
                Err(error) => {
                    if self.verbose {
                        let name = request.split(' ').take(2).collect::<Vec<_>>().join(" ");
                        say!("client: {name} failed (attempt {attempt}): {}; retrying in {backoff:?}", short(&error));
                    }
                    trio::sleep(backoff).await?;
                    backoff = (backoff * 2).min(self.max_backoff);
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, request: &str) -> trio::Result<String> {
        let stream = trio::net::open_tcp_stream(&self.host, PORT).await?;
        stream.send_all(format!("{request}\n").as_bytes()).await?;
        stream.send_eof().await?;
        let reply = read_line(&stream).await?;
        if reply.is_empty() {
            return Err(trio::Error::msg("the server closed the connection without answering"));
        }
        Ok(reply)
    }
}

/// The gist of a failure, for the log.
fn short(error: &trio::Error) -> String {
    let text = error.to_string();
    ["connection refused", "reset", "deadline expired"]
        .iter()
        .find(|gist| text.contains(*gist))
        .map_or(text.clone(), |gist| gist.to_string())
}

// ===== the program =====

/// Runs the service on its host and the client's story against it.
pub async fn async_main() -> trio::Result<()> {
    let net = trio_rs_examples::internet();
    let kv = net.add_host("kv");
    let listener = kv.listen(PORT)?;
    say!("kv: serving on port {PORT}");
    let store = Rc::new(Store::default());
    trio::open_nursery(|nursery| async move {
        nursery.start_soon_named("kv", kv.run(program(store, Some(listener))));
        let mut client = Client::new("kv", "client");
        client.verbose = true;
        client.set("apples", 3).await?;
        say!("client: SET apples 3 -> OK");
        say!("client: INCR apples -> {}", client.incr("apples").await?);

        say!("-- the kv host crashes for 3 seconds --");
        kv.crash();
        let host = kv.clone();
        nursery.start_soon_named("operator", async move {
            trio::sleep(Duration::from_secs(3)).await?;
            host.restart();
            Ok(())
        });
        say!("client: INCR apples -> {}", client.incr("apples").await?);
        let apples = client.get("apples").await?.unwrap_or(0);
        say!("client: GET apples -> {apples}");
        nursery.cancel_scope().cancel(); // stop the server
        Ok(())
    })
    .await
}

fn main() -> trio::Result<()> {
    trio_rs_examples::run(async_main())
}
