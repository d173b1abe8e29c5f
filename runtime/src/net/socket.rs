//! [`SocketStream`] and [`SocketListener`]: what `trio::net` hands out, whichever provider made
//! them.

use std::fmt;
use std::net::SocketAddr;

use crate::io::{AsyncResource, HalfCloseableStream, IoFuture, Listener, ReceiveStream, SendStream};

/// What a provider implements for a connected TCP stream.
///
/// # Examples
///
/// See [`SocketStream::new`].
pub trait ProviderStream: HalfCloseableStream {
    /// This end's address.
    ///
    /// # Examples
    ///
    /// See [`SocketStream::new`].
    fn local_addr(&self) -> SocketAddr;

    /// The other end's address.
    ///
    /// # Examples
    ///
    /// See [`SocketStream::new`].
    fn peer_addr(&self) -> SocketAddr;

    /// Calls `f` with the socket's descriptor and returns `true`, if the stream is an open
    /// socket of the operating system; otherwise (simulated, closed) returns `false`. The
    /// default says it has none.
    ///
    /// # Examples
    ///
    /// See [`SocketStream::with_fd`].
    #[cfg(unix)]
    fn with_fd(&self, f: &mut dyn FnMut(std::os::fd::BorrowedFd<'_>)) -> bool {
        let _ = f;
        false
    }
}

/// What a provider implements for a listening TCP socket. The testkit's simulated network
/// implements it; [`SocketListener`] shows one in use.
///
/// # Examples
///
/// See [`SocketListener`].
pub trait ProviderListener: AsyncResource {
    /// Waits for the next connection; as [`Listener::accept`].
    ///
    /// # Errors
    ///
    /// As [`Listener::accept`].
    ///
    /// # Examples
    ///
    /// See [`SocketListener`], whose `accept` calls this.
    fn accept(&self) -> IoFuture<'_, SocketStream>;

    /// The address it listens on.
    ///
    /// # Examples
    ///
    /// See [`SocketListener::local_addr`].
    fn local_addr(&self) -> SocketAddr;
}

/// A TCP connection (Trio's `trio.SocketStream`): a [`HalfCloseableStream`] whose
/// [`send_eof`](HalfCloseableStream::send_eof) is TCP's half-close. Made by
/// [`open_tcp_stream`](super::open_tcp_stream) and by a [`SocketListener`]'s `accept`.
///
/// Dropping it closes it.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio_testkit::sim::SimNet;
///
/// trio::run(async {
///     let net = SimNet::new();
///     net.install();
///     let listeners = trio::net::open_tcp_listeners(7).await.unwrap();
///     let client = trio::net::open_tcp_stream("localhost", 7).await.unwrap();
///     let server = trio::abc::Listener::accept(&listeners[0]).await.unwrap();
///     assert_eq!(client.peer_addr(), server.local_addr());
///     client.send_all(b"hi").await.unwrap();
///     assert_eq!(server.receive_some(10).await.unwrap(), b"hi");
/// });
/// ```
pub struct SocketStream {
    inner: Box<dyn ProviderStream>,
}

impl SocketStream {
    /// Wraps a provider's stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use trio::StapledStream;
    /// use trio::io::{IoFuture, AsyncResource, HalfCloseableStream, ReceiveStream, SendStream};
    /// use trio::net::{ProviderStream, SocketStream};
    /// use trio_testkit::streams::{MemoryStream, memory_stream_pair};
    ///
    /// /// A memory stream that pretends to be a TCP connection.
    /// struct Pretend(MemoryStream);
    ///
    /// impl AsyncResource for Pretend {
    ///     fn aclose(&self) -> IoFuture<'_, ()> { self.0.aclose() }
    /// }
    /// impl SendStream for Pretend {
    ///     fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> { self.0.send_all(data) }
    ///     fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> { self.0.wait_send_all_might_not_block() }
    /// }
    /// impl ReceiveStream for Pretend {
    ///     fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> { self.0.receive_some(max_bytes) }
    /// }
    /// impl HalfCloseableStream for Pretend {
    ///     fn send_eof(&self) -> IoFuture<'_, ()> { self.0.send_eof() }
    /// }
    /// impl ProviderStream for Pretend {
    ///     fn local_addr(&self) -> SocketAddr { "10.0.0.1:1234".parse().unwrap() }
    ///     fn peer_addr(&self) -> SocketAddr { "10.0.0.2:80".parse().unwrap() }
    /// }
    ///
    /// let (left, _right) = memory_stream_pair();
    /// let stream = SocketStream::new(Pretend(left));
    /// assert_eq!(stream.peer_addr().port(), 80);
    /// ```
    pub fn new(stream: impl ProviderStream + 'static) -> SocketStream {
        SocketStream { inner: Box::new(stream) }
    }

    /// This end's address.
    ///
    /// # Examples
    ///
    /// See [`SocketStream`].
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// The other end's address.
    ///
    /// # Examples
    ///
    /// See [`SocketStream`].
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer_addr()
    }

    /// Runs `f` with the socket's descriptor — Trio's `setsockopt`/`getsockopt`, through any
    /// library that takes a [`BorrowedFd`](std::os::fd::BorrowedFd) (`socket2::SockRef`,
    /// `rustix`) — or returns `None` for a stream that has no descriptor (a simulated one) or
    /// was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    ///
    /// trio::run(async {
    ///     let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
    ///     let port = listeners[0].local_addr().port();
    ///     let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
    ///     assert!(client.with_fd(|fd| fd.as_raw_fd()).is_some());
    ///     Ok::<(), trio::Error>(())
    /// })
    /// .unwrap();
    /// ```
    #[cfg(unix)]
    pub fn with_fd<R>(&self, f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut out = None;
        self.inner.with_fd(&mut |fd| out = f.take().map(|f| f(fd)));
        out
    }

    /// Turns `TCP_NODELAY` on or off (it is on for every stream `trio::net` makes, as in
    /// Trio: small writes go out at once instead of waiting to be coalesced). A stream
    /// without a descriptor (simulated) accepts it and changes nothing: the simulated network
    /// has no Nagle delay.
    ///
    /// # Errors
    ///
    /// The operating system's error.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let listeners = trio::net::open_tcp_listeners_on(Some("127.0.0.1"), 0, None).await?;
    ///     let client = trio::net::open_tcp_stream("127.0.0.1", listeners[0].local_addr().port()).await?;
    ///     assert!(client.nodelay()?); // Trio's default
    ///     client.set_nodelay(false)?;
    ///     assert!(!client.nodelay()?);
    ///     Ok::<(), trio::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub fn set_nodelay(&self, on: bool) -> std::io::Result<()> {
        #[cfg(unix)]
        if let Some(result) = self.with_fd(|fd| socket2::SockRef::from(&fd).set_tcp_nodelay(on)) {
            return result;
        }
        let _ = on;
        Ok(())
    }

    /// Whether `TCP_NODELAY` is on (always `true` for a simulated stream).
    ///
    /// # Errors
    ///
    /// The operating system's error.
    ///
    /// # Examples
    ///
    /// See [`SocketStream::set_nodelay`].
    ///
    /// ```
    /// use trio_testkit::sim::SimNet;
    ///
    /// trio::run(async {
    ///     SimNet::new().install();
    ///     let _listeners = trio::net::open_tcp_listeners(7).await.unwrap();
    ///     let client = trio::net::open_tcp_stream("localhost", 7).await.unwrap();
    ///     assert!(client.nodelay().unwrap());
    /// });
    /// ```
    pub fn nodelay(&self) -> std::io::Result<bool> {
        #[cfg(unix)]
        if let Some(result) = self.with_fd(|fd| socket2::SockRef::from(&fd).tcp_nodelay()) {
            return result;
        }
        Ok(true)
    }
}

impl fmt::Debug for SocketStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketStream").field("local", &self.local_addr()).field("peer", &self.peer_addr()).finish()
    }
}

impl AsyncResource for SocketStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.inner.aclose()
    }
}

impl SendStream for SocketStream {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        self.inner.send_all(data)
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        self.inner.wait_send_all_might_not_block()
    }
}

impl ReceiveStream for SocketStream {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        self.inner.receive_some(max_bytes)
    }
}

impl HalfCloseableStream for SocketStream {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        self.inner.send_eof()
    }
}

/// A listening TCP socket (Trio's `trio.SocketListener`): a [`Listener`] of
/// [`SocketStream`]s. Made by [`open_tcp_listeners`](super::open_tcp_listeners). Dropping it
/// closes it.
///
/// # Examples
///
/// ```
/// use trio::abc::Listener;
/// use trio_testkit::sim::SimNet;
///
/// trio::run(async {
///     SimNet::new().install();
///     let listeners = trio::net::open_tcp_listeners(0).await.unwrap(); // any free port
///     let port = listeners[0].local_addr().port();
///     assert_ne!(port, 0);
///     let _client = trio::net::open_tcp_stream("localhost", port).await.unwrap();
///     let accepted = listeners[0].accept().await.unwrap();
///     assert_eq!(accepted.local_addr().port(), port);
/// });
/// ```
pub struct SocketListener {
    inner: Box<dyn ProviderListener>,
}

impl SocketListener {
    /// Wraps a provider's listener (a simulated network's listeners are made this way).
    ///
    /// # Examples
    ///
    /// See [`SocketListener`] for one in use.
    pub fn new(listener: impl ProviderListener + 'static) -> SocketListener {
        SocketListener { inner: Box::new(listener) }
    }

    /// The address it listens on (with the port picked, when it was opened with port 0).
    ///
    /// # Examples
    ///
    /// See [`SocketListener`].
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }
}

impl fmt::Debug for SocketListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketListener").field("local", &self.local_addr()).finish()
    }
}

impl AsyncResource for SocketListener {
    fn aclose(&self) -> IoFuture<'_, ()> {
        self.inner.aclose()
    }
}

impl Listener for SocketListener {
    type Stream = SocketStream;

    fn accept(&self) -> IoFuture<'_, SocketStream> {
        self.inner.accept()
    }
}
