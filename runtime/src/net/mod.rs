//! Networking (Trio's `open_tcp_stream`, `open_tcp_listeners`, `serve_tcp`, `getaddrinfo`),
//! through the network provider installed in the run.
//!
//! **One API, two worlds.** Application code calls these functions and never names where the
//! network comes from: a test installs a simulated network (the testkit's `SimNet`), which is
//! part of the run's deterministic world — same seed, same packets, same failures — and the
//! same code is what ships: with no provider installed, the functions use the operating
//! system's network ([`OsNetwork`]: non-blocking sockets on the run's reactor; Unix only —
//! elsewhere they fail with [`NoNetworkProvider`]).
//!
//! Beyond TCP: [`UnixSocketStream`] and [`UnixSocketListener`] (Unix-domain sockets) and
//! [`UdpSocket`] always use the operating system — the simulated network models TCP only.
//!
//! # Examples
//!
//! ```
//! use trio::abc::{ReceiveStream, SendStream};
//! use trio_testkit::MockClock;
//! use trio_testkit::sim::SimNet;
//!
//! /// Application code: no cfg, no test double.
//! async fn fetch_greeting(host: &str) -> trio::Result<Vec<u8>> {
//!     let stream = trio::net::open_tcp_stream(host, 80).await?;
//!     stream.send_all(b"hello?").await?;
//!     Ok(stream.receive_some(1024).await?)
//! }
//!
//! trio::Builder::new().clock(MockClock::autojump()).run(async {
//!     let net = SimNet::new();
//!     let server = net.add_host("greeter");
//!     net.install();
//!     trio::open_nursery(|nursery| async move {
//!         nursery.start_soon(server.run(|| async {
//!             trio::net::serve_tcp(
//!                 |stream: trio::net::SocketStream| async move {
//!                     stream.receive_some(1024).await?;
//!                     stream.send_all(b"hello!").await?;
//!                     trio::Result::Ok(())
//!                 },
//!                 80,
//!                 trio::TaskStatus::ignored(),
//!             )
//!             .await
//!         }));
//!         trio::sleep(std::time::Duration::from_millis(10)).await?; // let the server start
//!         assert_eq!(fetch_greeting("greeter").await?, b"hello!");
//!         nursery.cancel_scope().cancel();
//!         Ok(())
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```

#[cfg(unix)]
mod os;
mod provider;
mod serve;
mod socket;

use std::net::SocketAddr;

#[cfg(unix)]
pub use os::{DEFAULT_HAPPY_EYEBALLS_DELAY, OsNetwork, UdpSocket, UnixSocketListener, UnixSocketStream};
pub use provider::{
    NetFuture, NetworkProvider, NoNetworkProvider, current_provider, install_provider, uninstall_provider,
};
pub use serve::{serve_listeners, serve_tcp, serve_tcp_on};
pub use socket::{ProviderListener, ProviderStream, SocketListener, SocketStream};

/// Connects to `port` on `host` — a name or an address (Trio's `open_tcp_stream`).
///
/// On the operating system's network: the name is resolved in a worker thread, then the
/// addresses are tried with happy eyeballs (RFC 8305, as Trio does): the first at once, each
/// next one when the previous attempt failed or after the happy-eyeballs delay (250 ms,
/// [`OsNetwork::happy_eyeballs_delay`]), alternating IPv6 and IPv4; the first connection wins
/// and the other attempts are cancelled. `TCP_NODELAY` is on, and on Linux `TCP_NOTSENT_LOWAT`
/// is 16 KiB (Trio's defaults).
///
/// # Errors
///
/// [`NoNetworkProvider`] when none is installed off Unix; otherwise `std::io::Error`s as a real network
/// gives them: `NotFound` for a name that does not resolve, `ConnectionRefused` when nothing
/// listens there, `TimedOut` when nothing answers; and `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint. A cancelled connect leaves no connection behind.
///
/// # Examples
///
/// See [the module](self).
#[track_caller]
pub fn open_tcp_stream(host: &str, port: u16) -> impl std::future::Future<Output = crate::Result<SocketStream>> + '_ {
    let (provider, location) = (provider_at_call("open_tcp_stream"), std::panic::Location::caller());
    async move {
        let _site = crate::lowlevel::enter_operation(location);
        provider?.open_tcp_stream(host, port).await
    }
}

/// Listens on `port` on every address of this machine (Trio's `open_tcp_listeners`); port 0
/// picks a free one. Returns one listener per address.
///
/// # Errors
///
/// [`NoNetworkProvider`] when none is installed off Unix; `AddrInUse` if something listens there
/// already; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// See [`SocketListener`].
#[track_caller]
pub fn open_tcp_listeners(port: u16) -> impl std::future::Future<Output = crate::Result<Vec<SocketListener>>> {
    let (provider, location) = (provider_at_call("open_tcp_listeners"), std::panic::Location::caller());
    async move {
        let _site = crate::lowlevel::enter_operation(location);
        provider?.open_tcp_listeners(port, None, None).await
    }
}

/// [`open_tcp_listeners`] on the addresses of `host` only (Trio's `host=`), with a
/// `backlog` of connections waiting to be accepted (Trio's `backlog=`; the provider's default
/// for `None`).
///
/// # Errors
///
/// As [`open_tcp_listeners`]; `AddrNotAvailable` if `host` is not this machine.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use trio_testkit::sim::SimNet;
///
/// trio::run(async {
///     SimNet::new().install();
///     let listeners = trio::net::open_tcp_listeners_on(Some("localhost"), 80, Some(1)).await.unwrap();
///     assert_eq!(listeners.len(), 1);
/// });
/// ```
#[track_caller]
pub fn open_tcp_listeners_on<'a>(
    host: Option<&'a str>,
    port: u16,
    backlog: Option<usize>,
) -> impl std::future::Future<Output = crate::Result<Vec<SocketListener>>> + 'a {
    let (provider, location) = (provider_at_call("open_tcp_listeners"), std::panic::Location::caller());
    async move {
        let _site = crate::lowlevel::enter_operation(location);
        provider?.open_tcp_listeners(port, host, backlog).await
    }
}

/// The addresses `host` resolves to, each with `port` (Trio's `getaddrinfo`, reduced to what
/// TCP needs).
///
/// # Errors
///
/// [`NoNetworkProvider`] when none is installed off Unix; `NotFound` for a name that does not resolve;
/// `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use trio_testkit::sim::SimNet;
///
/// trio::run(async {
///     let net = SimNet::new();
///     let db = net.add_host("db");
///     net.install();
///     let addrs = trio::net::getaddrinfo("db", 5432).await.unwrap();
///     assert_eq!(addrs, [std::net::SocketAddr::new(db.addr(), 5432)]);
/// });
/// ```
#[track_caller]
pub fn getaddrinfo(host: &str, port: u16) -> impl std::future::Future<Output = crate::Result<Vec<SocketAddr>>> + '_ {
    let provider = provider_at_call("getaddrinfo");
    async move { provider?.getaddrinfo(host, port).await }
}

/// The provider, looked up when the function is called (so outside a run it panics there, not
/// at the first poll).
#[track_caller]
fn provider_at_call(operation: &'static str) -> crate::Result<std::rc::Rc<dyn NetworkProvider>> {
    provider::provider(operation)
}
