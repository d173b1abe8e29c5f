//! A deterministic simulated network for testing networked code: hosts with names and
//! addresses, TCP streams and listeners, name resolution, latency, bandwidth and jitter on the
//! run's clock, and the faults real networks have — partitions, dropped and delayed segments,
//! resets, hosts that crash and restart.
//!
//! Application code does not know it is simulated: it calls `trio::net::open_tcp_stream` and
//! friends, and the [`SimNet`] a test [installs](SimNet::install) answers. The network is part
//! of the run's deterministic world:
//!
//! - every random choice it makes — whether a fault hits a segment, how much jitter it gets,
//!   which of several segments due at once arrives first — is a decision of the run's one
//!   decision stream (`trio::lowlevel::choose`), so exploration varies it, a failure's trace
//!   shows it, replay reproduces it and shrinking removes the faults a failure does not need;
//! - time is the run's clock, so with an autojump clock a test of retries with backoff over a
//!   lossy link takes no real time;
//! - a wait on the network is a wait on the runtime: deadlock reports name it ("waiting to
//!   receive on the stream to db:5432").
//!
//! # The model
//!
//! - **Hosts.** Code outside any host runs on the host `main` (10.0.0.1); [`SimNet::add_host`]
//!   adds more (10.0.0.2, …). A host's code runs in [`SimHost::run`]; every task it starts runs
//!   on that host too. Names resolve to addresses; `localhost` and 127.0.0.1 are the host
//!   itself.
//! - **TCP.** Connecting takes a round trip; nothing listening is `ConnectionRefused` (also
//!   when the listener's backlog is full), no answer within the connect timeout (10 s) is
//!   `TimedOut`. A stream delivers its bytes in order, exactly once; the receiver's window
//!   (256 KiB by default) blocks a sender that runs ahead. `send_eof` is a half-close; closing
//!   with unread data, or sending to a closed peer, resets the connection
//!   ([`StreamError::Broken`](trio::StreamError::Broken) on the other side).
//! - **Links** ([`Link`]) have a latency (1 ms by default; 0 on a host's loopback), a jitter and
//!   a bandwidth, per pair of hosts.
//! - **Faults** ([`Faults`]), per pair of hosts and off by default: a data segment may be
//!   dropped — and retransmitted later, as TCP does — or the connection reset.
//! - **Partitions** ([`SimNet::partition`]) hold everything in flight between two hosts until
//!   they [heal](SimNet::heal); a connect across one times out.
//! - **Crashes** ([`SimHost::crash`]) cancel the host's code, close its listeners and reset its
//!   connections; [`SimHost::restart`] runs its code again.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use trio::abc::{ReceiveStream, SendStream};
//! use trio_testkit::sim::SimNet;
//! use trio_testkit::{MockClock, trio_test};
//!
//! async fn echo(stream: trio::net::SocketStream) -> trio::Result<()> {
//!     loop {
//!         let data = stream.receive_some(1024).await?;
//!         if data.is_empty() {
//!             return Ok(());
//!         }
//!         stream.send_all(&data).await?;
//!     }
//! }
//!
//! #[trio_test]
//! async fn echo_across_the_network(_autojump_clock: MockClock) -> trio::Result<()> {
//!     let net = SimNet::new();
//!     let server = net.add_host("echo");
//!     net.install();
//!     trio::open_nursery(|nursery| async move {
//!         nursery.start_soon(server.run(|| trio::net::serve_tcp(echo, 7, trio::TaskStatus::ignored())));
//!         trio::sleep(Duration::from_millis(1)).await?;
//!         let stream = trio::net::open_tcp_stream("echo", 7).await?;
//!         let sent_at = trio::current_time();
//!         stream.send_all(b"ping").await?;
//!         assert_eq!(stream.receive_some(100).await?, b"ping");
//!         assert_eq!(trio::current_time() - sent_at, Duration::from_millis(2)); // one round trip
//!         nursery.cancel_scope().cancel();
//!         Ok(())
//!     })
//!     .await
//! }
//! # fn main() {}
//! ```

mod net;
mod socket;

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

pub use net::SimStatistics;
use net::{HostId, MAIN_HOST};
use socket::{Core, Provider};

/// The properties of the link between two hosts (the same both ways).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio_testkit::sim::Link;
///
/// let slow = Link::default()
///     .latency(Duration::from_millis(50))
///     .jitter(Duration::from_millis(10))
///     .bandwidth(1_000_000); // bytes per second
/// assert_eq!(slow.latency, Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// One-way delay of every segment.
    pub latency: Duration,
    /// Up to this much extra delay per segment, in quarters, as the run's policy chooses (no
    /// jitter under the default policy). Order within a connection is kept.
    pub jitter: Duration,
    /// Bytes per second; `None` for unlimited. Segments queue behind each other on the link.
    pub bandwidth: Option<u64>,
    /// The receive window of connections opened over the link: how many bytes may be sent and
    /// not yet read before `send_all` blocks.
    pub window: usize,
}

impl Default for Link {
    /// 1 ms of latency, no jitter, unlimited bandwidth, a 256 KiB window.
    fn default() -> Link {
        Link { latency: Duration::from_millis(1), jitter: Duration::ZERO, bandwidth: None, window: 256 * 1024 }
    }
}

impl Link {
    /// A host's link to itself: no latency.
    fn loopback() -> Link {
        Link { latency: Duration::ZERO, ..Link::default() }
    }

    /// With this latency.
    ///
    /// # Examples
    ///
    /// See [`Link`].
    pub fn latency(mut self, latency: Duration) -> Link {
        self.latency = latency;
        self
    }

    /// With this jitter.
    ///
    /// # Examples
    ///
    /// See [`Link`].
    pub fn jitter(mut self, jitter: Duration) -> Link {
        self.jitter = jitter;
        self
    }

    /// With this bandwidth, in bytes per second.
    ///
    /// # Examples
    ///
    /// See [`Link`].
    pub fn bandwidth(mut self, bytes_per_second: u64) -> Link {
        self.bandwidth = Some(bytes_per_second);
        self
    }

    /// With this receive window, in bytes (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// let tiny = trio_testkit::sim::Link::default().window(1);
    /// assert_eq!(tiny.window, 1);
    /// ```
    pub fn window(mut self, bytes: usize) -> Link {
        self.window = bytes.max(1);
        self
    }
}

/// How often faults hit the data segments on a link, in parts per million of segments.
/// Whether one does is a decision of the run's policy, weighted by these rates: under the
/// default policy none ever does; an exploring policy makes them happen about this often, and
/// shrinking keeps only those a failure needs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio_testkit::sim::Faults;
///
/// let lossy = Faults::none().drop_rate(0.05).reset_rate(0.01).retransmit_after(Duration::from_millis(200));
/// assert!(lossy.any());
/// assert!(!Faults::none().any());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    drop_ppm: u32,
    reset_ppm: u32,
    /// How late a dropped segment arrives: TCP retransmits it after this long.
    pub retransmit_after: Duration,
}

impl Faults {
    /// No faults.
    ///
    /// # Examples
    ///
    /// See [`Faults`].
    pub fn none() -> Faults {
        Faults { drop_ppm: 0, reset_ppm: 0, retransmit_after: Duration::from_millis(200) }
    }

    /// Drops this fraction of data segments (each is retransmitted, so it arrives
    /// [`retransmit_after`](Faults::retransmit_after) late).
    ///
    /// # Panics
    ///
    /// If the fractions of all faults add up to more than 1.
    ///
    /// # Examples
    ///
    /// See [`Faults`].
    #[track_caller]
    pub fn drop_rate(mut self, fraction: f64) -> Faults {
        self.drop_ppm = ppm(fraction);
        self.check();
        self
    }

    /// Resets the connection at this fraction of data segments: the segment is lost and both
    /// sides get [`StreamError::Broken`](trio::StreamError::Broken).
    ///
    /// # Panics
    ///
    /// If the fractions of all faults add up to more than 1.
    ///
    /// # Examples
    ///
    /// See [`Faults`].
    #[track_caller]
    pub fn reset_rate(mut self, fraction: f64) -> Faults {
        self.reset_ppm = ppm(fraction);
        self.check();
        self
    }

    /// How late a dropped segment arrives (default 200 ms, TCP's minimum retransmission
    /// timeout).
    ///
    /// # Examples
    ///
    /// See [`Faults`].
    pub fn retransmit_after(mut self, delay: Duration) -> Faults {
        self.retransmit_after = delay;
        self
    }

    /// `true` if any fault can happen.
    ///
    /// # Examples
    ///
    /// See [`Faults`].
    pub fn any(&self) -> bool {
        self.drop_ppm > 0 || self.reset_ppm > 0
    }

    #[track_caller]
    fn check(&self) {
        assert!(
            self.drop_ppm + self.reset_ppm <= 1_000_000,
            "fault rates add up to more than 1 (drop {} ppm, reset {} ppm)",
            self.drop_ppm,
            self.reset_ppm
        );
    }

    /// Weights of: deliver, drop, reset.
    pub(crate) fn weights(&self) -> [u32; 3] {
        [1_000_000 - self.drop_ppm - self.reset_ppm, self.drop_ppm, self.reset_ppm]
    }
}

#[track_caller]
fn ppm(fraction: f64) -> u32 {
    assert!((0.0..=1.0).contains(&fraction), "a fault rate is a fraction between 0 and 1, not {fraction}");
    (fraction * 1_000_000.0).round() as u32
}

/// A simulated network. Create it, add hosts, [`install`](SimNet::install) it in the run; then
/// every `trio::net` call of the run goes to it. Cheap to clone: clones are handles to the same
/// network.
///
/// # Examples
///
/// See [the module](self).
#[derive(Clone)]
pub struct SimNet {
    core: Rc<Core>,
}

impl SimNet {
    /// A network with one host, `main` — where code outside any [`SimHost::run`] runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = trio_testkit::sim::SimNet::new();
    /// assert_eq!(net.main_host().name(), "main");
    /// assert_eq!(net.main_host().addr().to_string(), "10.0.0.1");
    /// ```
    pub fn new() -> SimNet {
        SimNet { core: Rc::new(Core::new()) }
    }

    /// Makes this the network of the current run: `trio::net` calls go to it from now on, and
    /// its delivery task starts (a system task, named in reports as "sim network: …").
    ///
    /// # Panics
    ///
    /// Outside a run, or if it was installed already.
    ///
    /// # Examples
    ///
    /// See [the module](self).
    #[track_caller]
    pub fn install(&self) {
        assert!(
            !self.core.driver_started.replace(true),
            "this SimNet is installed already; a network belongs to one run (make a new one per run)"
        );
        trio::net::install_provider(Rc::new(Provider(self.core.clone())));
        let core = self.core.clone();
        trio::lowlevel::spawn_system_task(core.drive());
    }

    /// Adds a host named `name`, with the next address (10.0.0.2, 10.0.0.3, …).
    ///
    /// # Panics
    ///
    /// If a host of that name exists, or the name is `localhost`.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = trio_testkit::sim::SimNet::new();
    /// let db = net.add_host("db");
    /// assert_eq!(db.addr().to_string(), "10.0.0.2");
    /// ```
    #[track_caller]
    pub fn add_host(&self, name: &str) -> SimHost {
        let id = self.core.state.borrow_mut().add_host(name);
        SimHost { core: self.core.clone(), id }
    }

    /// The host named `name`.
    ///
    /// # Panics
    ///
    /// If there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = trio_testkit::sim::SimNet::new();
    /// net.add_host("db");
    /// assert_eq!(net.host("db").name(), "db");
    /// ```
    #[track_caller]
    pub fn host(&self, name: &str) -> SimHost {
        SimHost { core: self.core.clone(), id: self.id(name) }
    }

    /// The host `main`, where code outside any [`SimHost::run`] runs.
    ///
    /// # Examples
    ///
    /// See [`SimNet::new`].
    pub fn main_host(&self) -> SimHost {
        SimHost { core: self.core.clone(), id: MAIN_HOST }
    }

    #[track_caller]
    fn id(&self, name: &str) -> HostId {
        let state = self.core.state.borrow();
        match state.host_by_name(name) {
            Some(id) => id,
            None => {
                let known: Vec<&str> = state.hosts.iter().map(|h| h.name.as_str()).collect();
                panic!("no simulated host is named {name:?}; the hosts are {known:?}")
            }
        }
    }

    /// Sets the link between hosts `a` and `b` (both ways). `a == b` sets a host's loopback.
    ///
    /// # Panics
    ///
    /// If a name is unknown.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_testkit::sim::{Link, SimNet};
    ///
    /// let net = SimNet::new();
    /// net.add_host("far");
    /// net.set_link("main", "far", Link::default().latency(Duration::from_millis(80)));
    /// ```
    #[track_caller]
    pub fn set_link(&self, a: &str, b: &str, link: Link) {
        let (a, b) = (self.id(a), self.id(b));
        self.core.state.borrow_mut().links.insert((a.min(b), a.max(b)), link);
    }

    /// Sets the link between every pair of distinct hosts not set with
    /// [`set_link`](SimNet::set_link).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_testkit::sim::{Link, SimNet};
    ///
    /// let net = SimNet::new();
    /// net.set_default_link(Link::default().latency(Duration::from_millis(5)));
    /// ```
    pub fn set_default_link(&self, link: Link) {
        self.core.state.borrow_mut().default_link = link;
    }

    /// Turns on faults between hosts `a` and `b` (both ways). `a == b` sets a host's loopback.
    ///
    /// # Panics
    ///
    /// If a name is unknown.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::sim::{Faults, SimNet};
    ///
    /// let net = SimNet::new();
    /// net.add_host("db");
    /// net.set_faults("main", "db", Faults::none().reset_rate(0.1));
    /// ```
    #[track_caller]
    pub fn set_faults(&self, a: &str, b: &str, faults: Faults) {
        let (a, b) = (self.id(a), self.id(b));
        self.core.state.borrow_mut().faults.insert((a.min(b), a.max(b)), faults);
    }

    /// Turns on faults between every pair of distinct hosts not set with
    /// [`set_faults`](SimNet::set_faults).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::sim::{Faults, SimNet};
    ///
    /// SimNet::new().set_default_faults(Faults::none().drop_rate(0.01));
    /// ```
    pub fn set_default_faults(&self, faults: Faults) {
        self.core.state.borrow_mut().default_faults = faults;
    }

    /// How long a connect waits for an answer before it fails with `TimedOut` (default 10 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let net = trio_testkit::sim::SimNet::new();
    /// net.set_connect_timeout(std::time::Duration::from_secs(3));
    /// ```
    pub fn set_connect_timeout(&self, timeout: Duration) {
        self.core.state.borrow_mut().connect_timeout = timeout;
    }

    /// Partitions hosts `a` and `b`: nothing gets through between them — in flight or sent
    /// later — until [`heal`](SimNet::heal). Connections stay open (TCP keeps retransmitting);
    /// a connect across the partition times out.
    ///
    /// # Panics
    ///
    /// If a name is unknown, or outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio_testkit::MockClock;
    /// use trio_testkit::sim::SimNet;
    ///
    /// trio::Builder::new().clock(MockClock::autojump()).run(async {
    ///     let net = SimNet::new();
    ///     let db = net.add_host("db");
    ///     net.install();
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(db.run(|| async {
    ///             let listeners = trio::net::open_tcp_listeners(5432).await?;
    ///             let stream = trio::abc::Listener::accept(&listeners[0]).await?;
    ///             let data = stream.receive_some(100).await?;
    ///             stream.send_all(&data).await?;
    ///             trio::sleep_forever().await?;
    ///             Ok(())
    ///         }));
    ///         trio::sleep(Duration::from_millis(1)).await?;
    ///         let stream = trio::net::open_tcp_stream("db", 5432).await?;
    ///         net.partition("main", "db");
    ///         stream.send_all(b"held").await?;
    ///         let answer = trio::move_on_after(Duration::from_secs(5), async { Ok(stream.receive_some(100).await?) }).await?;
    ///         assert_eq!(answer, None); // nothing gets through
    ///         net.heal("main", "db");
    ///         assert_eq!(stream.receive_some(100).await?, b"held"); // it was only delayed
    ///         nursery.cancel_scope().cancel();
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn partition(&self, a: &str, b: &str) {
        let (a, b) = (self.id(a), self.id(b));
        self.core.update(|state, _| state.partition(a, b));
    }

    /// Ends the partition between `a` and `b`: what it held leaves now, in order.
    ///
    /// # Panics
    ///
    /// If a name is unknown, or outside a run.
    ///
    /// # Examples
    ///
    /// See [`SimNet::partition`].
    #[track_caller]
    pub fn heal(&self, a: &str, b: &str) {
        let (a, b) = (self.id(a), self.id(b));
        self.core.update(|state, _| state.heal(a, b));
    }

    /// Ends every partition.
    ///
    /// # Panics
    ///
    /// Outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let net = trio_testkit::sim::SimNet::new();
    ///     net.add_host("a");
    ///     net.partition("main", "a");
    ///     net.heal_all();
    /// });
    /// ```
    pub fn heal_all(&self) {
        self.core.update(|state, _| {
            let all: Vec<(HostId, HostId)> = state.partitions.iter().copied().collect();
            for (a, b) in all {
                state.heal(a, b);
            }
        });
    }

    /// Resets every connection between `a` and `b`: both sides get
    /// [`StreamError::Broken`](trio::StreamError::Broken) (the far side once the reset arrives).
    ///
    /// # Panics
    ///
    /// If a name is unknown, or outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{Listener, ReceiveStream};
    /// use trio_testkit::MockClock;
    /// use trio_testkit::sim::SimNet;
    ///
    /// trio::Builder::new().clock(MockClock::autojump()).run(async {
    ///     let net = SimNet::new();
    ///     net.install();
    ///     let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
    ///     let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
    ///     let _server = listeners[0].accept().await.unwrap();
    ///     net.reset_connections("main", "main");
    ///     assert!(client.receive_some(10).await.unwrap_err().is_broken());
    /// });
    /// ```
    #[track_caller]
    pub fn reset_connections(&self, a: &str, b: &str) {
        let (a, b) = (self.id(a), self.id(b));
        self.core.update(|state, wakes| {
            for conn in state.connections_between(a, b) {
                state.stats.resets += 1;
                state.reset_now(conn, 0, "connection reset (SimNet::reset_connections)", wakes);
            }
        });
    }

    /// What the network did so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let net = trio_testkit::sim::SimNet::new();
    /// assert_eq!(net.statistics().connections, 0);
    /// ```
    pub fn statistics(&self) -> SimStatistics {
        self.core.state.borrow().stats
    }
}

impl Default for SimNet {
    fn default() -> Self {
        SimNet::new()
    }
}

impl fmt::Debug for SimNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.core.state.borrow();
        let hosts: Vec<&str> = state.hosts.iter().map(|h| h.name.as_str()).collect();
        f.debug_struct("SimNet").field("hosts", &hosts).field("connections", &state.conns.len()).finish()
    }
}

/// A host of a [`SimNet`]: where code runs ([`run`](SimHost::run)), and what crashes and
/// restarts.
///
/// # Examples
///
/// See [`SimHost::run`].
#[derive(Clone)]
pub struct SimHost {
    core: Rc<Core>,
    id: HostId,
}

impl SimHost {
    /// The host's name.
    ///
    /// # Examples
    ///
    /// See [`SimNet::host`].
    pub fn name(&self) -> String {
        self.core.state.borrow().host_name(self.id).to_string()
    }

    /// The host's address.
    ///
    /// # Examples
    ///
    /// See [`SimNet::add_host`].
    pub fn addr(&self) -> IpAddr {
        self.core.state.borrow().hosts[self.id].addr
    }

    /// `false` between a [`crash`](SimHost::crash) and a [`restart`](SimHost::restart).
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let db = trio_testkit::sim::SimNet::new().add_host("db");
    ///     assert!(db.is_up());
    ///     db.crash();
    ///     assert!(!db.is_up());
    /// });
    /// ```
    pub fn is_up(&self) -> bool {
        self.core.state.borrow().hosts[self.id].up
    }

    /// Runs the host's code: `program()` runs on this host — its network calls come from
    /// this host, as do those of every task it starts. Start it in its own task:
    /// `nursery.start_soon(host.run(…))`.
    ///
    /// If the host [crashes](SimHost::crash), the program is cancelled; when it
    /// [restarts](SimHost::restart), `program()` runs again from the start. Returns when the
    /// program returns.
    ///
    /// # Errors
    ///
    /// The program's error (one caused by a crash is not an error: the program restarts).
    ///
    /// # Cancellation
    ///
    /// Cancelling it cancels the program.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use trio_testkit::MockClock;
    /// use trio_testkit::sim::SimNet;
    ///
    /// trio::Builder::new().clock(MockClock::autojump()).run(async {
    ///     let net = SimNet::new();
    ///     let server = net.add_host("server");
    ///     net.install();
    ///     let starts = Rc::new(Cell::new(0));
    ///     let counter = starts.clone();
    ///     trio::open_nursery(|nursery| async move {
    ///         let host = server.clone();
    ///         nursery.start_soon(host.run(move || {
    ///             counter.set(counter.get() + 1);
    ///             async {
    ///                 trio::sleep_forever().await?;
    ///                 Ok(())
    ///             }
    ///         }));
    ///         trio::sleep(Duration::from_secs(1)).await?;
    ///         server.crash(); // the program is cancelled…
    ///         trio::sleep(Duration::from_secs(1)).await?;
    ///         server.restart(); // …and runs again
    ///         trio::sleep(Duration::from_secs(1)).await?;
    ///         assert_eq!(starts.get(), 2);
    ///         nursery.cancel_scope().cancel();
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn run<F, Fut>(&self, program: F) -> impl Future<Output = trio::Result<()>> + 'static
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = trio::Result<()>> + 'static,
    {
        let (core, host) = (self.core.clone(), self.id);
        async move {
            let task = trio::lowlevel::current_task().id();
            let _on_host = OnHost::enter(&core, task, host);
            loop {
                // Wait for the host to be up.
                loop {
                    let (up, waiters, name) = {
                        let state = core.state.borrow();
                        let h = &state.hosts[host];
                        (h.up, h.up_waiters.clone(), h.name.clone())
                    };
                    if up {
                        break;
                    }
                    waiters.park(format!("sim: host {name} is down, waiting for a restart")).await?;
                }
                let scope = trio::CancelScope::new();
                let (generation, key) = {
                    let mut state = core.state.borrow_mut();
                    let h = &mut state.hosts[host];
                    let key = h.scopes.keys().next_back().map_or(0, |k| k + 1);
                    h.scopes.insert(key, scope.clone());
                    (h.generation, key)
                };
                let outcome = scope.run(program()).await;
                let crashed = {
                    let mut state = core.state.borrow_mut();
                    let h = &mut state.hosts[host];
                    h.scopes.remove(&key);
                    h.generation != generation
                };
                match outcome {
                    _ if crashed => continue,
                    Ok(_) => return Ok(()),
                    Err(error) => return Err(error),
                }
            }
        }
    }

    /// Opens a listener on this host at once, without a checkpoint — so a test can bind a
    /// server's port before any client runs, then hand the listener to the server's program
    /// (`trio::net::serve_listeners`). Port 0 picks a free port.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the port has a listener already.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{Listener, SendStream};
    /// use trio_testkit::sim::SimNet;
    ///
    /// trio::run(async {
    ///     let net = SimNet::new();
    ///     let db = net.add_host("db");
    ///     net.install();
    ///     let listener = db.listen(5432).unwrap();
    ///     assert_eq!(listener.local_addr().to_string(), "10.0.0.2:5432");
    ///     // A client may connect right away: the port is bound.
    ///     let client = trio::net::open_tcp_stream("db", 5432).await.unwrap();
    ///     let _server_side = listener.accept().await.unwrap();
    ///     client.send_all(b"hi").await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn listen(&self, port: u16) -> std::io::Result<trio::net::SocketListener> {
        let addr = self.addr();
        self.core.clone().listen_on(self.id, addr, port, None, Some(std::panic::Location::caller()))
    }

    /// Crashes the host: its programs ([`run`](SimHost::run)) are cancelled, its listeners
    /// closed, its connections reset (the other sides get
    /// [`StreamError::Broken`](trio::StreamError::Broken) once the reset arrives), and
    /// connecting to it is refused until it [restarts](SimHost::restart). Synchronous.
    ///
    /// # Panics
    ///
    /// Outside a run.
    ///
    /// # Examples
    ///
    /// See [`SimHost::run`].
    pub fn crash(&self) {
        let host = self.id;
        let scopes = self.core.update(|state, wakes| {
            let h = &mut state.hosts[host];
            if !h.up {
                return Vec::new();
            }
            h.up = false;
            h.generation += 1;
            let scopes: Vec<trio::CancelScope> = h.scopes.values().cloned().collect();
            let listeners: Vec<u64> =
                state.listeners.iter().filter(|(_, l)| l.host == host && !l.closed).map(|(id, _)| *id).collect();
            for id in listeners {
                state.close_listener(id, wakes);
            }
            let name = state.host_name(host).to_string();
            for (conn, side) in state.connections_of(host) {
                state.stats.resets += 1;
                state.reset_now(conn, side, &format!("connection reset (host {name} crashed)"), wakes);
            }
            scopes
        });
        for scope in scopes {
            scope.cancel();
        }
    }

    /// Brings a crashed host back: its programs start again. Does nothing if it is up.
    ///
    /// # Examples
    ///
    /// See [`SimHost::run`].
    pub fn restart(&self) {
        let host = self.id;
        self.core.update(|state, wakes| {
            let h = &mut state.hosts[host];
            if !h.up {
                h.up = true;
                wakes.add(&h.up_waiters);
            }
        });
    }
}

impl fmt::Debug for SimHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHost").field("name", &self.name()).field("addr", &self.addr()).finish()
    }
}

/// Marks a task as running a host's program while alive.
struct OnHost {
    core: Rc<Core>,
    task: trio::lowlevel::TaskId,
}

impl OnHost {
    fn enter(core: &Rc<Core>, task: trio::lowlevel::TaskId, host: HostId) -> OnHost {
        core.state.borrow_mut().task_hosts.insert(task, host);
        OnHost { core: core.clone(), task }
    }
}

impl Drop for OnHost {
    fn drop(&mut self) {
        self.core.state.borrow_mut().task_hosts.remove(&self.task);
    }
}
