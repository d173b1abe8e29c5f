//! The network provider seam: what `trio::net` calls, installed per run.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;

use super::socket::{SocketListener, SocketStream};
use crate::lowlevel::RunVar;

/// The future a provider method returns.
///
/// # Examples
///
/// ```
/// use trio::net::NetFuture;
///
/// fn nothing() -> NetFuture<'static, ()> {
///     Box::pin(async { Ok(()) })
/// }
/// trio::run(async { nothing().await.unwrap() });
/// ```
pub type NetFuture<'a, T> = Pin<Box<dyn Future<Output = crate::Result<T>> + 'a>>;

/// Where `trio::net` gets its network from: the operating system, or a simulation a test
/// installs (the testkit's `SimNet`). Application code never sees it — it calls
/// [`open_tcp_stream`](super::open_tcp_stream) and friends, and the provider installed in the
/// run answers.
///
/// # Contract
///
/// As for [`open_tcp_stream`](super::open_tcp_stream) and the other functions that call it:
/// each method is a checkpoint when it returns normally; failures are `std::io::Error`s inside
/// [`trio::Error`](crate::Error) with the kind a real network would give
/// (`ConnectionRefused`, `TimedOut`, `AddrInUse`, `NotFound` for an unknown name…), and a
/// cancellation is a cancellation.
///
/// # Examples
///
/// A provider that knows no host at all:
///
/// ```
/// use std::net::SocketAddr;
/// use trio::net::{NetFuture, NetworkProvider, SocketListener, SocketStream};
///
/// struct Nowhere;
///
/// impl NetworkProvider for Nowhere {
///     fn open_tcp_stream<'a>(&'a self, host: &'a str, _port: u16) -> NetFuture<'a, SocketStream> {
///         Box::pin(async move {
///             trio::checkpoint().await?;
///             Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("unknown host {host}")).into())
///         })
///     }
///     fn open_tcp_listeners<'a>(
///         &'a self,
///         _port: u16,
///         _host: Option<&'a str>,
///         _backlog: Option<usize>,
///     ) -> NetFuture<'a, Vec<SocketListener>> {
///         Box::pin(async { Err(std::io::Error::from(std::io::ErrorKind::AddrNotAvailable).into()) })
///     }
///     fn getaddrinfo<'a>(&'a self, _host: &'a str, _port: u16) -> NetFuture<'a, Vec<SocketAddr>> {
///         Box::pin(async { Ok(Vec::new()) })
///     }
/// }
///
/// trio::run(async {
///     trio::net::install_provider(std::rc::Rc::new(Nowhere));
///     let err = trio::net::open_tcp_stream("db", 5432).await.unwrap_err();
///     assert_eq!(err.to_string(), "unknown host db");
/// });
/// ```
pub trait NetworkProvider {
    /// Resolves `host` and connects to `port` on it (Trio's `open_tcp_stream`).
    ///
    /// # Errors
    ///
    /// As [`open_tcp_stream`](super::open_tcp_stream).
    ///
    /// # Examples
    ///
    /// See [`NetworkProvider`].
    fn open_tcp_stream<'a>(&'a self, host: &'a str, port: u16) -> NetFuture<'a, SocketStream>;

    /// Listens on `port` (0: any free port) on `host`'s addresses, or on every address of this
    /// machine for `None` (Trio's `open_tcp_listeners`).
    ///
    /// # Errors
    ///
    /// As [`open_tcp_listeners`](super::open_tcp_listeners).
    ///
    /// # Examples
    ///
    /// See [`NetworkProvider`].
    fn open_tcp_listeners<'a>(
        &'a self,
        port: u16,
        host: Option<&'a str>,
        backlog: Option<usize>,
    ) -> NetFuture<'a, Vec<SocketListener>>;

    /// The addresses of `host`, with `port` (Trio's `getaddrinfo`).
    ///
    /// # Errors
    ///
    /// As [`getaddrinfo`](super::getaddrinfo).
    ///
    /// # Examples
    ///
    /// See [`NetworkProvider`].
    fn getaddrinfo<'a>(&'a self, host: &'a str, port: u16) -> NetFuture<'a, Vec<SocketAddr>>;
}

static PROVIDER: RunVar<Rc<dyn NetworkProvider>> = RunVar::new("trio::net network provider");

/// Installs `provider` for the rest of this run: every `trio::net` call, in every task of the
/// run, goes to it. Returns the provider installed before, if any.
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// See [`NetworkProvider`].
#[track_caller]
pub fn install_provider(provider: Rc<dyn NetworkProvider>) -> Option<Rc<dyn NetworkProvider>> {
    PROVIDER.set(provider)
}

/// Removes the run's provider and returns it.
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     assert!(trio::net::uninstall_provider().is_none());
/// });
/// ```
#[track_caller]
pub fn uninstall_provider() -> Option<Rc<dyn NetworkProvider>> {
    PROVIDER.take()
}

/// The run's provider, if one is installed.
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     // None installed: trio::net uses the operating system's network (on Unix).
///     assert!(trio::net::current_provider().is_none());
/// });
/// ```
#[track_caller]
pub fn current_provider() -> Option<Rc<dyn NetworkProvider>> {
    PROVIDER.get()
}

/// The provider, or the error saying there is none.
#[track_caller]
pub(super) fn provider(operation: &'static str) -> crate::Result<Rc<dyn NetworkProvider>> {
    #[cfg(unix)]
    let _ = operation;
    match current_provider() {
        Some(provider) => Ok(provider),
        #[cfg(unix)]
        None => Ok(Rc::new(super::os::OsNetwork::new())),
        #[cfg(not(unix))]
        None => Err(NoNetworkProvider { operation }.into()),
    }
}

/// A `trio::net` function was called in a run with no network provider installed, on a
/// platform where trio has no reactor (not Unix: Windows). On Unix the operating system's
/// network ([`OsNetwork`](super::OsNetwork)) is the default, and this error never appears.
///
/// # Examples
///
/// ```
/// #[cfg(not(unix))]
/// trio::run(async {
///     let err = trio::net::open_tcp_stream("example.com", 80).await.unwrap_err();
///     assert!(err.is::<trio::net::NoNetworkProvider>());
///     assert!(err.to_string().starts_with("open_tcp_stream: no network provider is installed"));
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoNetworkProvider {
    operation: &'static str,
}

impl fmt::Display for NoNetworkProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: no network provider is installed in this run — trio has real sockets only on Unix; \
             install a simulated network (trio_testkit::sim::SimNet) or another NetworkProvider \
             with trio::net::install_provider",
            self.operation
        )
    }
}

impl StdError for NoNetworkProvider {}
