//! The operating system's network (Unix): TCP streams and listeners, happy eyeballs, name
//! resolution in a worker thread, Unix-domain streams and listeners, and UDP sockets — all
//! non-blocking sockets driven by the reactor through the public `lowlevel` waits.
//!
//! Every operation follows Trio's `_nonblocking_helper`: a cancel point, one try; if the
//! operating system says `EWOULDBLOCK`, wait for the descriptor and try again. An operation
//! whose first try succeeded or failed still yields (a schedule point), so each one is a
//! checkpoint — also on a closed socket, as in Trio.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::provider::{NetFuture, NetworkProvider};
use super::socket::{ProviderListener, ProviderStream, SocketListener, SocketStream};
use crate::io::{
    AsyncResource, ConflictDetector, DEFAULT_RECEIVE_SIZE, HalfCloseableStream, IoFuture, Listener, OsError,
    ReceiveStream, SendStream, StreamError, StreamResult,
};
use crate::lowlevel::{
    cancel_shielded_checkpoint, checkpoint_if_cancelled, in_run, may_be_readable, may_be_writable, notify_closing,
    notify_not_readable, notify_not_writable, set_fd_label, wait_readable, wait_writable,
};
use crate::{ClosedResource, Error};

/// Trio's default `happy_eyeballs_delay`: how long one connection attempt runs alone before
/// the next address is tried in parallel.
pub const DEFAULT_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

// ===== OsNetwork =====

/// The operating system's network: what `trio::net` uses when no other provider is installed.
/// Install one explicitly to change its settings, or to get real sockets back inside code
/// that runs under a simulated network.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use trio::abc::{ReceiveStream, SendStream};
///
/// trio::run(async {
///     let os = trio::net::OsNetwork::new().happy_eyeballs_delay(Duration::from_millis(100));
///     trio::net::install_provider(Rc::new(os));
///     let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
///     let port = listeners[0].local_addr().port();
///     let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
///     let server = trio::abc::Listener::accept(&listeners[0]).await?;
///     client.send_all(b"hi").await?;
///     assert_eq!(server.receive_some(10).await?, b"hi");
///     Ok::<(), trio::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct OsNetwork {
    happy_eyeballs_delay: Duration,
}

impl OsNetwork {
    /// The operating system's network with Trio's defaults (a happy-eyeballs delay of 250 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// let os = trio::net::OsNetwork::new();
    /// assert_eq!(os.delay(), std::time::Duration::from_millis(250));
    /// ```
    pub fn new() -> OsNetwork {
        OsNetwork { happy_eyeballs_delay: DEFAULT_HAPPY_EYEBALLS_DELAY }
    }

    /// How long `open_tcp_stream` lets one connection attempt run alone before it starts the
    /// next address in parallel (RFC 8305's "connection attempt delay"; Trio's
    /// `happy_eyeballs_delay`). Zero starts them all at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let os = trio::net::OsNetwork::new().happy_eyeballs_delay(Duration::ZERO);
    /// assert_eq!(os.delay(), Duration::ZERO);
    /// ```
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> OsNetwork {
        self.happy_eyeballs_delay = delay;
        self
    }

    /// The happy-eyeballs delay in use.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::net::OsNetwork::new().delay() > std::time::Duration::ZERO);
    /// ```
    pub fn delay(&self) -> Duration {
        self.happy_eyeballs_delay
    }

    /// Happy eyeballs over addresses already known (what `open_tcp_stream` does after
    /// resolving): tries them in the order given — interleaving IPv6 and IPv4 as RFC 8305
    /// asks — each next one when the previous attempt failed or after the happy-eyeballs
    /// delay; the first connection wins and the other attempts are cancelled.
    ///
    /// # Errors
    ///
    /// One error listing every address's failure when none connected (its kind is the first
    /// failure's); `InvalidInput` for an empty list; [`Cancelled`](crate::Cancelled).
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, every attempt is cancelled and no connection is left open.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::OsNetwork;
    ///
    /// trio::run(async {
    ///     let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
    ///     let open = listeners[0].local_addr();
    ///     // Port 1 on loopback refuses at once, so the second address is tried right away.
    ///     let refused = "127.0.0.1:1".parse().unwrap();
    ///     let stream = OsNetwork::new().connect_any(vec![refused, open]).await?;
    ///     assert_eq!(stream.peer_addr(), open);
    ///     Ok::<(), trio::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn connect_any(&self, addrs: Vec<SocketAddr>) -> crate::Result<SocketStream> {
        let name = match addrs.first() {
            Some(first) => first.ip().to_string(),
            None => return Err(io::Error::new(io::ErrorKind::InvalidInput, "connect_any: no address given").into()),
        };
        let port = addrs[0].port();
        happy_eyeballs(&name, port, addrs, self.happy_eyeballs_delay).await
    }
}

impl Default for OsNetwork {
    fn default() -> Self {
        OsNetwork::new()
    }
}

impl NetworkProvider for OsNetwork {
    fn open_tcp_stream<'a>(&'a self, host: &'a str, port: u16) -> NetFuture<'a, SocketStream> {
        Box::pin(open_tcp_stream_os(host, port, self.happy_eyeballs_delay))
    }

    fn open_tcp_listeners<'a>(
        &'a self,
        port: u16,
        host: Option<&'a str>,
        backlog: Option<usize>,
    ) -> NetFuture<'a, Vec<SocketListener>> {
        Box::pin(open_tcp_listeners_os(port, host, backlog))
    }

    fn getaddrinfo<'a>(&'a self, host: &'a str, port: u16) -> NetFuture<'a, Vec<SocketAddr>> {
        Box::pin(resolve(host, port))
    }
}

// ===== the non-blocking helper =====

#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Read,
    Write,
}

/// Trio's `_nonblocking_helper`: a cancel point, then try `op`; on `EWOULDBLOCK` wait for the
/// descriptor and try again. An `op` that succeeds at once is followed by a schedule point;
/// after a wait (itself a checkpoint) it returns directly.
async fn retry<S: AsFd, T>(sock: &S, way: Way, mut op: impl FnMut(&S) -> io::Result<T>) -> crate::Result<T> {
    checkpoint_if_cancelled().await?;
    let mut waited = false;
    // Known not ready (the last try said EWOULDBLOCK and nothing happened since): skip the
    // system call that would say so again, and wait at once.
    let known_blocked = match way {
        Way::Read => !may_be_readable(sock),
        Way::Write => !may_be_writable(sock),
    };
    if known_blocked {
        match way {
            Way::Read => wait_readable(sock).await?,
            Way::Write => wait_writable(sock).await?,
        }
        waited = true;
    }
    loop {
        match op(sock) {
            Ok(value) => {
                if !waited {
                    cancel_shielded_checkpoint().await;
                }
                return Ok(value);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match way {
                    Way::Read => {
                        notify_not_readable(sock);
                        wait_readable(sock).await?;
                    }
                    Way::Write => {
                        notify_not_writable(sock);
                        wait_writable(sock).await?;
                    }
                }
                waited = true;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // As Trio's `_try_sync`: a first try that fails is a checkpoint too.
                if !waited {
                    cancel_shielded_checkpoint().await;
                }
                return Err(e.into());
            }
        }
    }
}

/// The answer of an operation on a closed socket, after a checkpoint: Trio makes the system
/// call inside its checkpoint even then, and the closed descriptor answers `EBADF`, which it
/// turns into `ClosedResourceError`.
async fn closed_after_checkpoint<T>(message: &'static str) -> StreamResult<T> {
    crate::checkpoint().await.map_err(|_| StreamError::Cancelled)?;
    Err(StreamError::closed(message))
}

/// A failed socket operation as a stream error: cancellation, closing and busy keep their
/// meaning; anything the operating system said breaks the stream (Trio's
/// `_translate_socket_errors_to_stream_errors`).
fn stream_error(error: Error, what: &str) -> StreamError {
    if error.is_cancelled() {
        return StreamError::Cancelled;
    }
    if let Some(closed) = error.downcast_ref::<ClosedResource>() {
        return StreamError::Closed(closed.clone());
    }
    if let Some(busy) = error.downcast_ref::<crate::BusyResource>() {
        return StreamError::Busy(busy.clone());
    }
    StreamError::broken(format!("{what} failed: {error}"))
}

/// A listener's error: the operating system's refusals stay [`StreamError::Os`], so
/// `serve_listeners` can tell "out of descriptors" from a closed listener.
fn listener_error(error: Error) -> StreamError {
    match error.downcast::<io::Error>() {
        Ok(os) => StreamError::Os(OsError::from(os)),
        Err(error) => stream_error(error, "accept"),
    }
}

thread_local! {
    /// One receive buffer per thread: a receive reads into it and copies out only what came,
    /// so a stream never allocates `max_bytes` up front.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn read_into_vec(mut reader: impl Read, max_bytes: usize) -> io::Result<Vec<u8>> {
    let want = max_bytes.min(DEFAULT_RECEIVE_SIZE);
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < want {
            scratch.resize(want, 0);
        }
        let n = reader.read(&mut scratch[..want])?;
        Ok(scratch[..n].to_vec())
    })
}

/// Reads straight into a new vector of `want` bytes' capacity, without zeroing it first (the
/// standard library's `read_to_end` reads into spare capacity safely): for a stream whose last
/// read filled its request, so the copy out of [`SCRATCH`] would be pure cost. Reads until
/// `want` bytes, the end, or `EWOULDBLOCK` after some data. An error after some data (a reset
/// right behind the last bytes) comes back beside the data, for the next receive: the data
/// must not be lost, and the kernel reports the error only once.
fn read_direct(reader: impl Read, want: usize) -> io::Result<(Vec<u8>, Option<io::Error>)> {
    let mut data = Vec::with_capacity(want);
    match reader.take(want as u64).read_to_end(&mut data) {
        Ok(_) => Ok((data, None)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && !data.is_empty() => Ok((data, None)),
        Err(e) if !data.is_empty() => Ok((data, Some(e))),
        Err(e) => Err(e),
    }
}

// ===== streams over a descriptor =====

/// What a stream needs of its socket type.
trait StreamSocket: AsFd + 'static
where
    for<'a> &'a Self: Read + Write,
{
    fn shutdown_write(&self) -> io::Result<()>;
}

impl StreamSocket for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl StreamSocket for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A connected, non-blocking stream socket with Trio's stream rules.
struct FdStream<S: StreamSocket>
where
    for<'a> &'a S: Read + Write,
{
    /// `None` once closed. Operations clone the `Rc` while they wait, so closing while
    /// another task waits wakes it (`notify_closing`) before the descriptor is really closed
    /// — its number cannot be reused under a waiting task.
    sock: RefCell<Option<Rc<S>>>,
    sending: ConflictDetector,
    receiving: ConflictDetector,
    /// `send_eof` was called: later sends are `Closed` (Trio's rule).
    eof_sent: Cell<bool>,
    /// The last receive filled its request: data is streaming in, read straight into the
    /// result ([`read_direct`]) rather than through the scratch buffer.
    streaming: Cell<bool>,
    /// An error the kernel reported after a receive had already read data (a reset right
    /// behind the last bytes): that receive returned the data, the next one returns this.
    deferred_error: RefCell<Option<io::Error>>,
}

impl<S: StreamSocket> FdStream<S>
where
    for<'a> &'a S: Read + Write,
{
    fn new(sock: S) -> FdStream<S> {
        FdStream {
            sock: RefCell::new(Some(Rc::new(sock))),
            sending: ConflictDetector::new("another task is already sending on this socket"),
            receiving: ConflictDetector::new("another task is already receiving on this socket"),
            eof_sent: Cell::new(false),
            streaming: Cell::new(false),
            deferred_error: RefCell::new(None),
        }
    }

    fn sock(&self) -> StreamResult<Rc<S>> {
        self.sock.borrow().clone().ok_or_else(|| StreamError::closed("this socket was closed"))
    }

    fn with_fd(&self, f: &mut dyn FnMut(BorrowedFd<'_>)) -> bool {
        match &*self.sock.borrow() {
            Some(sock) => {
                f(sock.as_fd());
                true
            }
            None => false,
        }
    }

    fn close_now(&self) {
        let sock = self.sock.borrow_mut().take();
        if let Some(sock) = sock
            && in_run()
        {
            notify_closing(&*sock);
        }
    }

    async fn receive(&self, max_bytes: usize) -> StreamResult<Vec<u8>> {
        if max_bytes == 0 {
            return Err(StreamError::invalid_argument(
                "receive_some(0): max_bytes must be at least 1 (an empty result means the end of the stream)",
            ));
        }
        let _guard = self.receiving.enter()?;
        let Some(sock) = self.sock.borrow().clone() else {
            return closed_after_checkpoint("this socket was closed").await;
        };
        if self.deferred_error.borrow().is_some() {
            // A failing operation is a full checkpoint, as every other one here.
            crate::checkpoint().await.map_err(|_| StreamError::Cancelled)?;
            let error = self.deferred_error.borrow_mut().take().expect("checked above");
            return Err(stream_error(error.into(), "receive"));
        }
        let want = max_bytes.min(DEFAULT_RECEIVE_SIZE);
        let direct = self.streaming.get() && want >= 4096;
        let data = retry(&*sock, Way::Read, |s| {
            if !direct {
                return read_into_vec(s, want);
            }
            let (data, later) = read_direct(s, want)?;
            *self.deferred_error.borrow_mut() = later;
            Ok(data)
        })
        .await
        .map_err(|e| stream_error(e, "receive"))?;
        self.streaming.set(data.len() == want);
        // A short read drained the kernel's buffer: the next receive can wait for the next
        // event without asking first (as tokio does). More data, or the end, is a new edge.
        if !data.is_empty() && data.len() < want {
            notify_not_readable(&*sock);
        }
        Ok(data)
    }

    async fn send(&self, data: &[u8]) -> StreamResult<()> {
        let _guard = self.sending.enter()?;
        if self.eof_sent.get() {
            return Err(StreamError::closed("send_all after send_eof: this side of the stream is closed for sending"));
        }
        let Some(sock) = self.sock.borrow().clone() else {
            // Trio: nothing to send on a closed socket fails at once, something after a
            // checkpoint (the system call it tries).
            if data.is_empty() {
                return Err(StreamError::closed("this socket was closed"));
            }
            return closed_after_checkpoint("this socket was closed").await;
        };
        checkpoint_if_cancelled().await?;
        let mut sent = 0;
        let mut waited = false;
        while sent < data.len() {
            match (&*sock).write(&data[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    notify_not_writable(&*sock);
                    wait_writable(&*sock).await.map_err(|e| stream_error(e, "send"))?;
                    waited = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if !waited {
                        cancel_shielded_checkpoint().await;
                    }
                    return Err(stream_error(e.into(), "send"));
                }
            }
        }
        if !waited {
            cancel_shielded_checkpoint().await;
        }
        Ok(())
    }

    async fn wait_send(&self) -> StreamResult<()> {
        let _guard = self.sending.enter()?;
        let sock = self.sock()?;
        wait_writable(&*sock).await.map_err(|e| stream_error(e, "wait_send_all_might_not_block"))
    }

    async fn eof(&self) -> StreamResult<()> {
        let _guard = self.sending.enter()?;
        crate::checkpoint().await?;
        let sock = self.sock()?;
        if self.eof_sent.get() {
            return Ok(());
        }
        // As Trio: whatever the operating system says breaks the stream — `ENOTCONN` too,
        // which is what a connection the peer reset answers.
        sock.shutdown_write().map_err(|e| stream_error(e.into(), "send_eof"))?;
        self.eof_sent.set(true);
        Ok(())
    }

    async fn close(&self) -> StreamResult<()> {
        self.close_now();
        crate::checkpoint().await?;
        Ok(())
    }
}

impl<S: StreamSocket> Drop for FdStream<S>
where
    for<'a> &'a S: Read + Write,
{
    fn drop(&mut self) {
        self.close_now();
    }
}

// ===== TCP =====

/// A TCP connection of the operating system: what `open_tcp_stream` and a TCP listener's
/// `accept` hand out (inside a [`SocketStream`]).
struct OsTcpStream {
    inner: FdStream<TcpStream>,
    local: SocketAddr,
    peer: SocketAddr,
}

impl OsTcpStream {
    /// Wraps a connected socket: non-blocking, `TCP_NODELAY` on and, where the system has it,
    /// `TCP_NOTSENT_LOWAT` at 16 KiB (Trio's defaults), labelled.
    fn new(sock: TcpStream, peer: Option<SocketAddr>) -> io::Result<OsTcpStream> {
        sock.set_nonblocking(true)?;
        sock.set_nodelay(true)?;
        // Trio's choice (its issue #72): the kernel keeps at most 16 KiB of unsent data, so a
        // sender feels backpressure early instead of queueing megabytes. Best effort, as in
        // Trio: a kernel without the option keeps its default.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = socket2::SockRef::from(&sock).set_tcp_notsent_lowat(NOTSENT_LOWAT);
        let local = sock.local_addr()?;
        let peer = match peer {
            Some(peer) => peer,
            None => sock.peer_addr()?,
        };
        set_fd_label(&sock, move || format!("tcp {local} → {peer}"));
        Ok(OsTcpStream { inner: FdStream::new(sock), local, peer })
    }
}

impl AsyncResource for OsTcpStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(self.inner.close())
    }
}

impl SendStream for OsTcpStream {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(self.inner.send(data))
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(self.inner.wait_send())
    }
}

impl ReceiveStream for OsTcpStream {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(self.inner.receive(max_bytes))
    }
}

impl HalfCloseableStream for OsTcpStream {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        Box::pin(self.inner.eof())
    }
}

impl ProviderStream for OsTcpStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn with_fd(&self, f: &mut dyn FnMut(BorrowedFd<'_>)) -> bool {
        self.inner.with_fd(f)
    }
}

/// Trio's `TCP_NOTSENT_LOWAT` for every TCP stream: 16 KiB.
#[cfg(any(target_os = "linux", target_os = "android"))]
const NOTSENT_LOWAT: u32 = 16 * 1024;

/// A listening TCP socket of the operating system.
struct OsTcpListener {
    sock: RefCell<Option<Rc<TcpListener>>>,
    accepting: ConflictDetector,
    local: SocketAddr,
}

impl OsTcpListener {
    fn new(sock: TcpListener) -> io::Result<OsTcpListener> {
        sock.set_nonblocking(true)?;
        let local = sock.local_addr()?;
        set_fd_label(&sock, move || format!("tcp listener {local}"));
        Ok(OsTcpListener {
            sock: RefCell::new(Some(Rc::new(sock))),
            accepting: ConflictDetector::new("another task is already accepting on this listener"),
            local,
        })
    }

    async fn accept_os(&self) -> StreamResult<SocketStream> {
        let _guard = self.accepting.enter()?;
        let Some(sock) = self.sock.borrow().clone() else {
            return closed_after_checkpoint("this listener was closed").await;
        };
        loop {
            let accepted = retry(&*sock, Way::Read, |l| l.accept()).await;
            match accepted {
                Ok((stream, peer)) => {
                    return OsTcpStream::new(stream, Some(peer))
                        .map(SocketStream::new)
                        .map_err(|e| StreamError::Os(e.into()));
                }
                Err(error) => {
                    // Errors about the connection that was being accepted, not the listener:
                    // skip it and accept the next (Trio's `_ignorable_accept_errnos`).
                    let ignorable = error
                        .downcast_ref::<io::Error>()
                        .and_then(io::Error::raw_os_error)
                        .is_some_and(|code| IGNORABLE_ACCEPT_ERRNOS.contains(&code));
                    if !ignorable {
                        return Err(listener_error(error));
                    }
                }
            }
        }
    }

    fn close_now(&self) {
        if let Some(sock) = self.sock.borrow_mut().take()
            && in_run()
        {
            notify_closing(&*sock);
        }
    }
}

/// `accept` errors that concern the connection being accepted, not the listener.
const IGNORABLE_ACCEPT_ERRNOS: &[i32] = &[
    libc::EPERM,
    libc::ECONNABORTED,
    libc::EPROTO,
    libc::ENETDOWN,
    libc::ENOPROTOOPT,
    libc::EHOSTDOWN,
    libc::EHOSTUNREACH,
    libc::EOPNOTSUPP,
    libc::ENETUNREACH,
    libc::ETIMEDOUT,
    libc::ECONNRESET,
];

impl Drop for OsTcpListener {
    fn drop(&mut self) {
        self.close_now();
    }
}

impl AsyncResource for OsTcpListener {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close_now();
            crate::checkpoint().await?;
            Ok(())
        })
    }
}

impl ProviderListener for OsTcpListener {
    fn accept(&self) -> IoFuture<'_, SocketStream> {
        Box::pin(self.accept_os())
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// One connection attempt: a non-blocking `connect`, then wait until the socket is writable
/// and collect its error.
async fn connect_one(addr: SocketAddr) -> crate::Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    let sock = Guarded(Some(sock));
    let inner = sock.0.as_ref().expect("set above");
    match inner.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => {
            wait_writable(inner).await?;
            if let Some(error) = inner.take_error()? {
                return Err(error.into());
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(TcpStream::from(sock.take()))
}

/// A socket that tells the reactor before it closes (a cancelled connect drops it).
struct Guarded(Option<Socket>);

impl Guarded {
    fn take(mut self) -> Socket {
        self.0.take().expect("taken once")
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(sock) = &self.0
            && in_run()
        {
            notify_closing(sock);
        }
    }
}

/// RFC 6555 §5.4 / RFC 8305: start with the first address, then alternate families.
fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first().copied() else { return addrs };
    let (mut same, mut other): (std::collections::VecDeque<_>, std::collections::VecDeque<_>) =
        addrs.into_iter().partition(|a| a.is_ipv4() == first.is_ipv4());
    let mut out = Vec::with_capacity(same.len() + other.len());
    loop {
        match (same.pop_front(), other.pop_front()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Trio's `open_tcp_stream`: resolve, then happy eyeballs — each next address starts when
/// the previous attempt failed or `delay` passed, the first to connect wins and the others
/// are cancelled.
async fn open_tcp_stream_os(host: &str, port: u16, delay: Duration) -> crate::Result<SocketStream> {
    let targets = resolve(host, port).await?;
    happy_eyeballs(host, port, targets, delay).await
}

async fn happy_eyeballs(
    host: &str,
    port: u16,
    targets: Vec<SocketAddr>,
    delay: Duration,
) -> crate::Result<SocketStream> {
    let targets = interleave_families(targets);
    if targets.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{host}: name resolution gave no address")).into());
    }
    let winner: Rc<RefCell<Option<TcpStream>>> = Rc::new(RefCell::new(None));
    let failures: Rc<RefCell<Vec<(SocketAddr, Error)>>> = Rc::new(RefCell::new(Vec::new()));
    crate::open_nursery(|nursery| {
        let (winner, failures) = (winner.clone(), failures.clone());
        async move {
            for addr in targets {
                let failed = Rc::new(crate::Event::new());
                let (winner, failures, done, scope) =
                    (winner.clone(), failures.clone(), failed.clone(), nursery.cancel_scope());
                nursery.start_soon_named(format!("open_tcp_stream: connecting to {addr}"), async move {
                    match connect_one(addr).await {
                        Ok(stream) => {
                            if winner.borrow().is_none() {
                                *winner.borrow_mut() = Some(stream);
                                scope.cancel();
                            }
                        }
                        // Another attempt won, or the caller gave up.
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => {
                            failures.borrow_mut().push((addr, e));
                            done.set();
                        }
                    }
                });
                crate::move_on_after(delay, async move { Ok(failed.wait().await?) }).await?;
            }
            Ok(())
        }
    })
    .await?;
    let stream = winner.borrow_mut().take();
    match stream {
        Some(stream) => Ok(SocketStream::new(OsTcpStream::new(stream, None)?)),
        None => {
            let failures = failures.borrow();
            let mut message = format!("all attempts to connect to {} failed:", format_host_port(host, port));
            for (addr, error) in failures.iter() {
                message.push_str(&format!(" {addr}: {error};"));
            }
            message.pop();
            let kind = failures
                .first()
                .and_then(|(_, e)| e.downcast_ref::<io::Error>())
                .map_or(io::ErrorKind::Other, io::Error::kind);
            Err(io::Error::new(kind, message).into())
        }
    }
}

/// `host:port` for messages, an IPv6 address in brackets (Trio's `format_host_port`).
fn format_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Trio's `open_tcp_listeners`: one listener per address `host` resolves to (both wildcard
/// addresses, IPv4 and IPv6, without a host), `SO_REUSEADDR` on, IPv6 listeners IPv6-only.
async fn open_tcp_listeners_os(
    port: u16,
    host: Option<&str>,
    backlog: Option<usize>,
) -> crate::Result<Vec<SocketListener>> {
    let addrs = match host {
        Some(host) => resolve(host, port).await?,
        None => {
            crate::lowlevel::checkpoint().await?;
            vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            ]
        }
    };
    let backlog = backlog.map_or(libc::SOMAXCONN, |b| b.min(0xffff) as i32);
    let mut listeners = Vec::new();
    let mut unsupported = None;
    for addr in addrs {
        let sock = match Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)) {
            Ok(sock) => sock,
            // A family this machine does not have (no IPv6): skip it, as Trio does.
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                unsupported = Some(e);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            sock.set_only_v6(true)?;
        }
        sock.bind(&SockAddr::from(addr)).map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
        sock.listen(backlog)?;
        listeners.push(SocketListener::new(OsTcpListener::new(TcpListener::from(sock))?));
    }
    if listeners.is_empty() {
        let error = unsupported.unwrap_or_else(|| io::Error::other("no address to listen on"));
        return Err(error.into());
    }
    Ok(listeners)
}

// ===== name resolution =====

/// Trio's `getaddrinfo`: numeric hosts at once; names in a worker thread of
/// [`to_thread`](crate::to_thread) (the system resolver blocks), under the default thread
/// limiter. Cancelling abandons the thread, whose answer is dropped.
pub(crate) async fn resolve(host: &str, port: u16) -> crate::Result<Vec<SocketAddr>> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        crate::checkpoint().await?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // As Trio: a worker thread under the default thread limiter, abandoned on cancellation.
    let name = host.to_string();
    let answer =
        crate::to_thread::run_sync(move || (name.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()))
            .abandon_on_cancel(true)
            .thread_name("trio getaddrinfo")
            .await?;
    let addrs = answer.map_err(|e| io::Error::new(e.kind(), format!("getaddrinfo({host:?}, {port}): {e}")))?;
    Ok(addrs)
}

// ===== Unix-domain sockets =====

/// A connected Unix-domain stream socket (Trio's `SocketStream` over `AF_UNIX`): a
/// [`HalfCloseableStream`]. Always the operating system's, whatever network provider is
/// installed (the simulated network has no Unix sockets).
///
/// # Examples
///
/// ```
/// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
/// use trio::net::UnixSocketStream;
///
/// trio::run(async {
///     let (a, b) = UnixSocketStream::pair()?;
///     a.send_all(b"over a socketpair").await?;
///     a.send_eof().await?;
///     assert_eq!(b.receive_some(100).await?, b"over a socketpair");
///     assert_eq!(b.receive_some(100).await?, b"");
///     Ok::<(), trio::Error>(())
/// })
/// .unwrap();
/// ```
pub struct UnixSocketStream {
    inner: FdStream<UnixStream>,
}

impl UnixSocketStream {
    /// Connects to the Unix-domain socket at `path` (Trio's `open_unix_socket`).
    ///
    /// # Errors
    ///
    /// The operating system's error: no such socket, connection refused, permission denied;
    /// [`Cancelled`](crate::Cancelled).
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Cancelled while connecting, the socket is closed and nothing is left.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{Listener, ReceiveStream, SendStream};
    /// use trio::net::{UnixSocketListener, UnixSocketStream};
    ///
    /// trio::run(async {
    ///     let dir = std::env::temp_dir().join(format!("trio-doc-{}", std::process::id()));
    ///     std::fs::create_dir_all(&dir)?;
    ///     let path = dir.join("connect.sock");
    ///     let _ = std::fs::remove_file(&path);
    ///     let listener = UnixSocketListener::bind(&path)?;
    ///     let client = UnixSocketStream::connect(&path).await?;
    ///     let server = listener.accept().await?;
    ///     client.send_all(b"ping").await?;
    ///     assert_eq!(server.receive_some(10).await?, b"ping");
    ///     std::fs::remove_file(&path)?;
    ///     Ok::<(), trio::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn connect(path: impl AsRef<Path>) -> crate::Result<UnixSocketStream> {
        let path = path.as_ref().to_path_buf();
        let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        sock.set_nonblocking(true)?;
        let sock = Guarded(Some(sock));
        let address = SockAddr::unix(&path)?;
        let inner = sock.0.as_ref().expect("set above");
        checkpoint_if_cancelled().await?;
        match inner.connect(&address) {
            Ok(()) => cancel_shielded_checkpoint().await,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => {
                wait_writable(inner).await?;
                if let Some(error) = inner.take_error()? {
                    return Err(error.into());
                }
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("connect to {}: {e}", path.display())).into()),
        }
        Ok(UnixSocketStream::from_std(UnixStream::from(std::os::fd::OwnedFd::from(sock.take())))?)
    }

    /// A connected pair (`socketpair`), both ends non-blocking.
    ///
    /// # Errors
    ///
    /// The operating system's error (out of descriptors).
    ///
    /// # Examples
    ///
    /// See [`UnixSocketStream`].
    ///
    /// ```
    /// let (a, b) = trio::net::UnixSocketStream::pair().unwrap();
    /// drop((a, b));
    /// ```
    pub fn pair() -> io::Result<(UnixSocketStream, UnixSocketStream)> {
        let (a, b) = UnixStream::pair()?;
        Ok((UnixSocketStream::from_std(a)?, UnixSocketStream::from_std(b)?))
    }

    /// Wraps a connected standard-library socket (it is made non-blocking).
    ///
    /// # Errors
    ///
    /// If the socket cannot be made non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let stream = trio::net::UnixSocketStream::from_std(a).unwrap();
    /// drop(stream);
    /// ```
    pub fn from_std(sock: UnixStream) -> io::Result<UnixSocketStream> {
        sock.set_nonblocking(true)?;
        if in_run() {
            let fd = sock.as_raw_fd();
            set_fd_label(&sock, move || format!("unix socket fd {fd}"));
        }
        Ok(UnixSocketStream { inner: FdStream::new(sock) })
    }

    /// Runs `f` with the socket's descriptor — for `setsockopt`-style settings through any
    /// library that takes a [`BorrowedFd`] — or returns `None` if the stream was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    ///
    /// let (a, _b) = trio::net::UnixSocketStream::pair().unwrap();
    /// assert!(a.with_fd(|fd| fd.as_raw_fd()).unwrap() >= 0);
    /// ```
    pub fn with_fd<R>(&self, f: impl FnOnce(BorrowedFd<'_>) -> R) -> Option<R> {
        self.inner.sock.borrow().as_ref().map(|sock| f(sock.as_fd()))
    }
}

impl fmt::Debug for UnixSocketStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fd = self.with_fd(|fd| fd.as_raw_fd());
        f.debug_struct("UnixSocketStream").field("fd", &fd).finish()
    }
}

impl AsyncResource for UnixSocketStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(self.inner.close())
    }
}

impl SendStream for UnixSocketStream {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(self.inner.send(data))
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(self.inner.wait_send())
    }
}

impl ReceiveStream for UnixSocketStream {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(self.inner.receive(max_bytes))
    }
}

impl HalfCloseableStream for UnixSocketStream {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        Box::pin(self.inner.eof())
    }
}

/// A listening Unix-domain socket; `accept` gives [`UnixSocketStream`]s.
///
/// # Examples
///
/// See [`UnixSocketStream::connect`].
///
/// ```
/// let path = std::env::temp_dir().join(format!("trio-doc-listener-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// trio::run(async {
///     let listener = trio::net::UnixSocketListener::bind(&path).unwrap();
///     assert_eq!(listener.path(), path.as_path());
/// });
/// std::fs::remove_file(&path).unwrap();
/// ```
pub struct UnixSocketListener {
    sock: RefCell<Option<Rc<UnixListener>>>,
    accepting: ConflictDetector,
    path: PathBuf,
    label: OnceCell<()>,
}

impl UnixSocketListener {
    /// Binds and listens at `path`. The socket file stays after the listener closes (as with
    /// any Unix socket): remove it yourself.
    ///
    /// # Errors
    ///
    /// The operating system's error: the path exists, permission denied.
    ///
    /// # Examples
    ///
    /// See [`UnixSocketStream::connect`].
    ///
    /// ```
    /// let taken = std::env::temp_dir(); // a directory, not a free path
    /// assert!(trio::net::UnixSocketListener::bind(&taken).is_err());
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixSocketListener> {
        let path = path.as_ref().to_path_buf();
        let sock = UnixListener::bind(&path)?;
        sock.set_nonblocking(true)?;
        Ok(UnixSocketListener {
            sock: RefCell::new(Some(Rc::new(sock))),
            accepting: ConflictDetector::new("another task is already accepting on this listener"),
            path,
            label: OnceCell::new(),
        })
    }

    /// The path it listens at.
    ///
    /// # Examples
    ///
    /// See [`UnixSocketListener`].
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("trio-doc-path-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = trio::net::UnixSocketListener::bind(&path).unwrap();
    /// assert!(listener.path().ends_with(path.file_name().unwrap()));
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn accept_unix(&self) -> StreamResult<UnixSocketStream> {
        let _guard = self.accepting.enter()?;
        let Some(sock) = self.sock.borrow().clone() else {
            return closed_after_checkpoint("this listener was closed").await;
        };
        self.label.get_or_init(|| {
            let path = self.path.clone();
            set_fd_label(&*sock, move || format!("unix listener {}", path.display()));
        });
        let (stream, _) = retry(&*sock, Way::Read, |l| l.accept()).await.map_err(listener_error)?;
        UnixSocketStream::from_std(stream).map_err(|e| StreamError::Os(e.into()))
    }

    fn close_now(&self) {
        if let Some(sock) = self.sock.borrow_mut().take()
            && in_run()
        {
            notify_closing(&*sock);
        }
    }
}

impl Drop for UnixSocketListener {
    fn drop(&mut self) {
        self.close_now();
    }
}

impl fmt::Debug for UnixSocketListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixSocketListener").field("path", &self.path).finish()
    }
}

impl AsyncResource for UnixSocketListener {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close_now();
            crate::checkpoint().await?;
            Ok(())
        })
    }
}

impl Listener for UnixSocketListener {
    type Stream = UnixSocketStream;

    fn accept(&self) -> IoFuture<'_, UnixSocketStream> {
        Box::pin(self.accept_unix())
    }
}

// ===== UDP =====

/// A UDP socket of the operating system. Each operation is a checkpoint; `recv_from` and
/// `send_to` wait for the socket as Trio's socket methods do. Always the operating system's,
/// whatever network provider is installed (the simulated network has no UDP).
///
/// # Examples
///
/// ```
/// use trio::net::UdpSocket;
///
/// trio::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
///     let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
///     a.send_to(b"datagram", b.local_addr()?).await?;
///     let (data, from) = b.recv_from(1500).await?;
///     assert_eq!(data, b"datagram");
///     assert_eq!(from, a.local_addr()?);
///     Ok::<(), trio::Error>(())
/// })
/// .unwrap();
/// ```
pub struct UdpSocket {
    sock: RefCell<Option<Rc<std::net::UdpSocket>>>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0: any free port).
    ///
    /// # Errors
    ///
    /// The operating system's error (address in use, say); [`Cancelled`](crate::Cancelled).
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, no socket is left open.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// ```
    /// trio::run(async {
    ///     let sock = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    ///     assert_ne!(sock.local_addr().unwrap().port(), 0);
    /// });
    /// ```
    pub async fn bind(addr: SocketAddr) -> crate::Result<UdpSocket> {
        crate::checkpoint().await?;
        let sock = std::net::UdpSocket::bind(addr)?;
        sock.set_nonblocking(true)?;
        let local = sock.local_addr()?;
        set_fd_label(&sock, move || format!("udp {local}"));
        Ok(UdpSocket { sock: RefCell::new(Some(Rc::new(sock))) })
    }

    fn sock(&self) -> crate::Result<Rc<std::net::UdpSocket>> {
        Ok(self.sock.borrow().clone().ok_or_else(|| ClosedResource::with_message("this UDP socket was closed"))?)
    }

    /// The address it is bound to.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`] after [`close`](UdpSocket::close); the operating system's error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// ```
    /// trio::run(async {
    ///     let sock = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    ///     assert!(sock.local_addr().unwrap().ip().is_loopback());
    /// });
    /// ```
    pub fn local_addr(&self) -> crate::Result<SocketAddr> {
        Ok(self.sock()?.local_addr()?)
    }

    /// Sends one datagram to `target`; returns how many bytes went.
    ///
    /// # Errors
    ///
    /// The operating system's error (message too long, say), [`ClosedResource`],
    /// [`Cancelled`](crate::Cancelled).
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing was sent.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// ```
    /// trio::run(async {
    ///     let sock = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    ///     let me = sock.local_addr().unwrap();
    ///     assert_eq!(sock.send_to(b"self", me).await.unwrap(), 4);
    /// });
    /// ```
    pub async fn send_to(&self, data: &[u8], target: SocketAddr) -> crate::Result<usize> {
        let sock = self.sock()?;
        retry(&*sock, Way::Write, |s| s.send_to(data, target)).await
    }

    /// Receives one datagram of at most `max_bytes` (the rest of a longer one is dropped, as
    /// with `recvfrom`), and who sent it.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`] (also when closed while waiting), [`BusyResource`](crate::BusyResource)
    /// if another task is receiving, [`Cancelled`](crate::Cancelled), the operating system's
    /// error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, no datagram was taken.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// ```
    /// trio::run(async {
    ///     let sock = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    ///     sock.send_to(b"0123456789", sock.local_addr().unwrap()).await.unwrap();
    ///     let (data, _) = sock.recv_from(4).await.unwrap();
    ///     assert_eq!(data, b"0123"); // truncated
    /// });
    /// ```
    pub async fn recv_from(&self, max_bytes: usize) -> crate::Result<(Vec<u8>, SocketAddr)> {
        let sock = self.sock()?;
        let mut buf = vec![0; max_bytes.min(65_536)];
        let (n, from) = retry(&*sock, Way::Read, |s| s.recv_from(&mut buf)).await?;
        buf.truncate(n);
        Ok((buf, from))
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there and only its datagrams
    /// are received.
    ///
    /// # Errors
    ///
    /// The operating system's error, [`ClosedResource`], [`Cancelled`](crate::Cancelled).
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let a = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
    ///     let b = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
    ///     a.connect(b.local_addr()?).await?;
    ///     a.send(b"hi").await?;
    ///     assert_eq!(b.recv_from(10).await?.0, b"hi");
    ///     Ok::<(), trio::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn connect(&self, peer: SocketAddr) -> crate::Result<()> {
        let sock = self.sock()?;
        crate::checkpoint().await?;
        Ok(sock.connect(peer)?)
    }

    /// Sends one datagram to the peer set by [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    ///
    /// As [`send_to`](UdpSocket::send_to); not connected is the operating system's error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing was sent.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::connect`].
    ///
    /// ```
    /// trio::run(async {
    ///     let sock = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    ///     assert!(sock.send(b"nowhere").await.is_err()); // not connected
    /// });
    /// ```
    pub async fn send(&self, data: &[u8]) -> crate::Result<usize> {
        let sock = self.sock()?;
        retry(&*sock, Way::Write, |s| s.send(data)).await
    }

    /// Closes the socket; a task blocked in `recv_from` wakes with [`ClosedResource`].
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let sock = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    ///     sock.close();
    ///     let err = sock.recv_from(10).await.unwrap_err();
    ///     assert!(err.downcast_ref::<trio::ClosedResource>().is_some());
    /// });
    /// ```
    pub fn close(&self) {
        if let Some(sock) = self.sock.borrow_mut().take()
            && in_run()
        {
            notify_closing(&*sock);
        }
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("local", &self.local_addr().ok()).finish()
    }
}
