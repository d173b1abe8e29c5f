//! The simulated network's streams and listeners, its provider, and its driver task.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use trio::Instant;
use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream};
use trio::io::{ConflictDetector, IoFuture, StreamError, StreamResult};
use trio::lowlevel::{Unparker, park_slot};
use trio::net::{NetFuture, NetworkProvider, ProviderListener, ProviderStream, SocketListener, SocketStream};

use super::net::{ConnId, HostId, ListenerId, MAIN_HOST, Phase, SegmentKind, State, Wakes};

/// The largest data segment: a `send_all` of more goes out in several.
const MAX_SEGMENT: usize = 64 * 1024;

/// The network shared by its handles, its streams and its driver.
pub(crate) struct Core {
    pub(crate) state: RefCell<State>,
    /// Wakes the driver when a segment is due earlier than it sleeps.
    driver: RefCell<Option<(Unparker<()>, Option<Instant>)>>,
    pub(crate) driver_started: Cell<bool>,
}

impl Core {
    pub(crate) fn new() -> Core {
        Core { state: RefCell::new(State::new()), driver: RefCell::new(None), driver_started: Cell::new(false) }
    }

    /// Runs `f` on the state, then wakes what it changed and, if a segment is now due earlier,
    /// the driver.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut State, &mut Wakes) -> R) -> R {
        let mut wakes = Wakes::default();
        let (result, next) = {
            let mut state = self.state.borrow_mut();
            let result = f(&mut state, &mut wakes);
            (result, state.next_event())
        };
        wakes.wake();
        if let Some(next) = next {
            let wake_driver =
                matches!(&*self.driver.borrow(), Some((_, sleeps_until)) if sleeps_until.is_none_or(|t| next < t));
            if wake_driver && let Some((unparker, _)) = self.driver.borrow_mut().take() {
                let _ = unparker.unpark(());
            }
        }
        result
    }

    /// The driver: delivers segments when they are due, until the run ends.
    pub(crate) async fn drive(self: Rc<Self>) -> trio::Result<()> {
        loop {
            let now = trio::current_time();
            self.update(|state, wakes| state.deliver_due(now, wakes));
            let next = self.state.borrow().next_event();
            let what = match next {
                Some(at) => format!("sim network: next delivery at {at}"),
                None => "sim network: idle, nothing in flight".to_string(),
            };
            let (slot, unparker) = park_slot::<()>(what);
            *self.driver.borrow_mut() = Some((unparker, next));
            match next {
                None => slot.await?,
                Some(at) => {
                    let sleep = std::pin::pin!(trio::sleep_until(at));
                    match futures_select(slot, sleep).await {
                        Ok(()) => {}
                        Err(cancelled) => return Err(cancelled.into()),
                    }
                }
            }
        }
    }

    // ----- which host is this? -----

    /// The host the current task runs on: that of the nearest ancestor task running a
    /// `SimHost::run`, or the main host.
    pub(crate) fn current_host(&self) -> HostId {
        let task = trio::lowlevel::current_task();
        let mut state = self.state.borrow_mut();
        if state.task_hosts.is_empty() {
            return MAIN_HOST;
        }
        state.parents.insert(task.id(), task.parent());
        let mut id = task.id();
        let mut refreshed = false;
        loop {
            if let Some(host) = state.task_hosts.get(&id) {
                return *host;
            }
            let parent = match state.parents.get(&id) {
                Some(parent) => *parent,
                None if !refreshed => {
                    refreshed = true;
                    for t in trio::lowlevel::current_report().tasks {
                        state.parents.insert(t.id, t.parent);
                    }
                    continue;
                }
                None => None,
            };
            match parent {
                Some(parent) => id = parent,
                None => return MAIN_HOST,
            }
        }
    }

    /// Resolves `host` as seen from `from`: a host name, `localhost`, or an address.
    fn resolve(&self, from: HostId, host: &str) -> Result<(HostId, IpAddr), std::io::Error> {
        let state = self.state.borrow();
        if host == "localhost" {
            return Ok((from, IpAddr::V4(Ipv4Addr::LOCALHOST)));
        }
        if let Some(id) = state.host_by_name(host) {
            return Ok((id, state.hosts[id].addr));
        }
        if let Ok(addr) = host.parse::<IpAddr>() {
            if addr.is_loopback() {
                return Ok((from, addr));
            }
            if let Some(id) = state.host_by_addr(addr) {
                return Ok((id, addr));
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::HostUnreachable,
                format!("sim: no host has the address {addr} (known: {})", known_hosts(&state)),
            ));
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("sim: unknown host name {host:?} (known: {})", known_hosts(&state)),
        ))
    }

    async fn connect(self: Rc<Self>, host: &str, port: u16) -> trio::Result<SocketStream> {
        trio::lowlevel::checkpoint_if_cancelled().await?;
        let from = self.current_host();
        let (to, ip) = self.resolve(from, host)?;
        let label = match trio::lowlevel::current_task().operation_site() {
            Some(at) => format!("the stream to {host}:{port} opened at {at}"),
            None => format!("the stream to {host}:{port}"),
        };
        let conn = self.update(|state, _| state.connect(from, to, SocketAddr::new(ip, port), label));
        let timeout = self.state.borrow().connect_timeout;
        let deadline = trio::current_time() + timeout;
        let outcome = trio::move_on_at(deadline, async {
            loop {
                let (phase, waiters) = {
                    let state = self.state.borrow();
                    let end = &state.conns[&conn].ends[0];
                    (end.phase.clone(), end.waiters.clone())
                };
                match phase {
                    Phase::Established => return Ok(Ok(())),
                    Phase::Refused(why) => return Ok(Err(why)),
                    _ => waiters.park(format!("sim: connecting to {host}:{port}")).await?,
                }
            }
        })
        .await;
        let refused = match outcome {
            Ok(Some(Ok(()))) => None,
            Ok(Some(Err(why))) => {
                Some(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, format!("sim: {host}:{port}: {why}")))
            }
            Ok(None) => Some(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "sim: connecting to {host}:{port} timed out after {timeout:?} (a partition, or a host that does not answer)"
                ),
            )),
            Err(error) => {
                self.update(|state, wakes| state.close_end(conn, 0, wakes));
                return Err(error);
            }
        };
        if let Some(error) = refused {
            self.update(|state, wakes| {
                state.close_end(conn, 0, wakes);
                state.forget_if_done(conn);
            });
            return Err(error.into());
        }
        let (local, peer) = {
            let state = self.state.borrow();
            let c = &state.conns[&conn];
            (c.addrs[0], c.addrs[1])
        };
        Ok(SocketStream::new(SimStream::new(self.clone(), conn, 0, local, peer)))
    }

    async fn listen(
        self: Rc<Self>,
        port: u16,
        host: Option<&str>,
        backlog: Option<usize>,
    ) -> trio::Result<Vec<SocketListener>> {
        trio::checkpoint().await?;
        let on = self.current_host();
        let ip = match host {
            None => self.state.borrow().hosts[on].addr,
            Some(name) => {
                let (target, ip) = self.resolve(on, name)?;
                if target != on {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::AddrNotAvailable,
                        format!(
                            "sim: cannot listen on {name}: it is not this host ({})",
                            self.state.borrow().host_name(on)
                        ),
                    )
                    .into());
                }
                ip
            }
        };
        let opened_at = trio::lowlevel::current_task().operation_site();
        Ok(vec![self.listen_on(on, ip, port, backlog, opened_at)?])
    }

    /// Binds a listener on `host` at once.
    pub(crate) fn listen_on(
        self: Rc<Self>,
        host: HostId,
        ip: IpAddr,
        port: u16,
        backlog: Option<usize>,
        opened_at: Option<&'static std::panic::Location<'static>>,
    ) -> Result<SocketListener, std::io::Error> {
        let bound = self.update(|state, _| state.listen(host, port, backlog));
        let (id, port) =
            bound.map_err(|why| std::io::Error::new(std::io::ErrorKind::AddrInUse, format!("sim: {why}")))?;
        let label = match opened_at {
            Some(at) => format!("{}:{port} opened at {at}", self.state.borrow().host_name(host)),
            None => format!("{}:{port}", self.state.borrow().host_name(host)),
        };
        Ok(SocketListener::new(SimListener { core: self, id, addr: SocketAddr::new(ip, port), label }))
    }

    async fn getaddrinfo(self: Rc<Self>, host: &str, port: u16) -> trio::Result<Vec<SocketAddr>> {
        trio::checkpoint().await?;
        let from = self.current_host();
        let (_, ip) = self.resolve(from, host)?;
        Ok(vec![SocketAddr::new(ip, port)])
    }
}

fn known_hosts(state: &State) -> String {
    let mut names: Vec<&str> = state.hosts.iter().map(|h| h.name.as_str()).collect();
    names.push("localhost");
    names.join(", ")
}

/// Waits for the first of a park slot and a sleep; `Err` on cancellation.
async fn futures_select(
    slot: trio::lowlevel::ParkSlot<()>,
    sleep: std::pin::Pin<&mut trio::Sleep>,
) -> Result<(), trio::Cancelled> {
    let mut slot = std::pin::pin!(slot);
    let mut sleep = sleep;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(outcome) = slot.as_mut().poll(cx) {
            return std::task::Poll::Ready(outcome);
        }
        if let std::task::Poll::Ready(outcome) = sleep.as_mut().poll(cx) {
            return std::task::Poll::Ready(outcome);
        }
        std::task::Poll::Pending
    })
    .await
}

use std::future::Future;

/// The provider `SimNet::install` puts in the run.
pub(crate) struct Provider(pub(crate) Rc<Core>);

impl NetworkProvider for Provider {
    fn open_tcp_stream<'a>(&'a self, host: &'a str, port: u16) -> NetFuture<'a, SocketStream> {
        Box::pin(self.0.clone().connect(host, port))
    }

    fn open_tcp_listeners<'a>(
        &'a self,
        port: u16,
        host: Option<&'a str>,
        backlog: Option<usize>,
    ) -> NetFuture<'a, Vec<SocketListener>> {
        Box::pin(self.0.clone().listen(port, host, backlog))
    }

    fn getaddrinfo<'a>(&'a self, host: &'a str, port: u16) -> NetFuture<'a, Vec<SocketAddr>> {
        Box::pin(self.0.clone().getaddrinfo(host, port))
    }
}

// ===== SimStream =====

/// One side of a simulated TCP connection.
pub(crate) struct SimStream {
    core: Rc<Core>,
    conn: ConnId,
    side: usize,
    local: SocketAddr,
    peer: SocketAddr,
    sending: ConflictDetector,
    receiving: ConflictDetector,
}

impl SimStream {
    fn new(core: Rc<Core>, conn: ConnId, side: usize, local: SocketAddr, peer: SocketAddr) -> SimStream {
        SimStream {
            core,
            conn,
            side,
            local,
            peer,
            sending: ConflictDetector::new("another task is already sending on this stream"),
            receiving: ConflictDetector::new("another task is already receiving on this stream"),
        }
    }

    /// The connection, or `Closed` once both sides closed and it was forgotten.
    fn conn<'s>(&self, state: &'s State) -> StreamResult<&'s super::net::Conn> {
        state.conns.get(&self.conn).ok_or_else(|| StreamError::closed("this stream was closed"))
    }

    /// `Closed` or `Broken` if this side cannot be used.
    fn usable(&self, state: &State) -> StreamResult<()> {
        let end = &self.conn(state)?.ends[self.side];
        if end.closed {
            return Err(StreamError::closed("this stream was closed"));
        }
        if let Some(why) = &end.reset {
            return Err(StreamError::broken(format!("sim: {why}")));
        }
        Ok(())
    }

    fn close_now(&self) {
        let (conn, side) = (self.conn, self.side);
        self.core.update(|state, wakes| {
            state.close_end(conn, side, wakes);
            state.forget_if_done(conn);
        });
    }

    async fn send(&self, data: &[u8]) -> StreamResult<()> {
        let _guard = self.sending.enter()?;
        self.check_sendable()?;
        // A cancel point before anything is sent: a cancelled send_all sent nothing.
        trio::checkpoint().await?;
        let mut rest = data;
        loop {
            let blocked = {
                let state = self.core.state.borrow();
                self.check_sendable_in(&state)?;
                if rest.is_empty() {
                    return Ok(());
                }
                let c = self.conn(&state)?;
                if c.pipes[self.side].outstanding >= c.window {
                    Some((c.ends[self.side].waiters.clone(), c.labels[self.side].clone()))
                } else {
                    None
                }
            };
            if let Some((waiters, label)) = blocked {
                waiters.park(format!("waiting to send on {label} (the receiver's window is full)")).await?;
                continue;
            }
            let (conn, side) = (self.conn, self.side);
            rest = self.core.update(|state, _| {
                let c = &state.conns[&conn];
                let room = c.window - c.pipes[side].outstanding;
                let n = rest.len().min(room).min(MAX_SEGMENT);
                state.send_segment(conn, side, SegmentKind::Data(rest[..n].to_vec()));
                &rest[n..]
            });
        }
    }

    fn check_sendable(&self) -> StreamResult<()> {
        let state = self.core.state.borrow();
        self.check_sendable_in(&state)
    }

    fn check_sendable_in(&self, state: &State) -> StreamResult<()> {
        self.usable(state)?;
        if self.conn(state)?.ends[self.side].eof_sent {
            return Err(StreamError::closed("send_all after send_eof: this side of the stream is closed for sending"));
        }
        Ok(())
    }

    async fn receive(&self, max_bytes: usize) -> StreamResult<Vec<u8>> {
        if max_bytes == 0 {
            return Err(StreamError::invalid_argument(
                "receive_some(0): max_bytes must be at least 1 (an empty result means the end of the stream)",
            ));
        }
        let _guard = self.receiving.enter()?;
        let mut checkpointed = false;
        loop {
            let (waiters, label) = {
                let state = self.core.state.borrow();
                self.usable(&state)?;
                let c = self.conn(&state)?;
                let end = &c.ends[self.side];
                if end.received.is_empty() && !end.eof_received {
                    (Some(end.waiters.clone()), c.labels[self.side].clone())
                } else {
                    (None, String::new())
                }
            };
            if let Some(waiters) = waiters {
                waiters.park(format!("waiting to receive on {label}")).await?;
                checkpointed = true;
                continue;
            }
            if !checkpointed {
                trio::checkpoint().await?;
                checkpointed = true;
                continue;
            }
            let (conn, side) = (self.conn, self.side);
            return Ok(self.core.update(|state, wakes| {
                let c = state.conns.get_mut(&conn).expect("a live connection");
                let end = &mut c.ends[side];
                let data = end.received.take(max_bytes);
                let n = data.len();
                let pipe = &mut c.pipes[1 - side];
                pipe.outstanding -= n;
                // Room in the window: the peer's blocked sender may go on.
                wakes.add(&c.ends[1 - side].waiters);
                data
            }));
        }
    }

    async fn wait_writable(&self) -> StreamResult<()> {
        let _guard = self.sending.enter()?;
        let mut checkpointed = false;
        loop {
            let waiters = {
                let state = self.core.state.borrow();
                let c = self.conn(&state)?;
                let end = &c.ends[self.side];
                if end.closed {
                    return Err(StreamError::closed("this stream was closed"));
                }
                if end.reset.is_some() || c.pipes[self.side].outstanding < c.window {
                    None
                } else {
                    Some((end.waiters.clone(), c.labels[self.side].clone()))
                }
            };
            match waiters {
                Some((waiters, label)) => {
                    waiters.park(format!("waiting until sending on {label} might not block")).await?;
                    checkpointed = true;
                }
                None if checkpointed => return Ok(()),
                None => {
                    trio::checkpoint().await?;
                    checkpointed = true;
                }
            }
        }
    }

    async fn eof(&self) -> StreamResult<()> {
        let _guard = self.sending.enter()?;
        {
            let state = self.core.state.borrow();
            self.usable(&state)?;
        }
        let (conn, side) = (self.conn, self.side);
        self.core.update(|state, _| {
            let c = state.conns.get_mut(&conn).expect("a live connection");
            if !c.ends[side].eof_sent {
                c.ends[side].eof_sent = true;
                state.send_segment(conn, side, SegmentKind::Fin);
            }
        });
        trio::checkpoint().await?;
        Ok(())
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        // Dropped after its run ended (kept in a variable outside `trio::run`): the network
        // ended with the run; there is nobody to tell.
        if trio::lowlevel::in_run() {
            self.close_now();
        }
    }
}

impl fmt::Debug for SimStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStream").field("local", &self.local).field("peer", &self.peer).finish()
    }
}

impl AsyncResource for SimStream {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close_now();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl SendStream for SimStream {
    fn send_all<'a>(&'a self, data: &'a [u8]) -> IoFuture<'a, ()> {
        Box::pin(self.send(data))
    }

    fn wait_send_all_might_not_block(&self) -> IoFuture<'_, ()> {
        Box::pin(self.wait_writable())
    }
}

impl ReceiveStream for SimStream {
    fn receive_some(&self, max_bytes: usize) -> IoFuture<'_, Vec<u8>> {
        Box::pin(self.receive(max_bytes))
    }
}

impl HalfCloseableStream for SimStream {
    fn send_eof(&self) -> IoFuture<'_, ()> {
        Box::pin(self.eof())
    }
}

impl ProviderStream for SimStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
}

// ===== SimListener =====

pub(crate) struct SimListener {
    core: Rc<Core>,
    id: ListenerId,
    addr: SocketAddr,
    label: String,
}

impl SimListener {
    fn close_now(&self) {
        let id = self.id;
        self.core.update(|state, wakes| state.close_listener(id, wakes));
    }

    async fn accept_one(&self) -> StreamResult<SocketStream> {
        let mut checkpointed = false;
        loop {
            let (next, waiters) = {
                let state = self.core.state.borrow();
                let listener = &state.listeners[&self.id];
                if listener.closed {
                    return Err(StreamError::closed("this listener was closed"));
                }
                (listener.queue.front().copied(), listener.waiters.clone())
            };
            match next {
                None => {
                    waiters.park(format!("waiting for a connection on {}", self.label)).await?;
                    checkpointed = true;
                }
                Some(_) if !checkpointed => {
                    trio::checkpoint().await?;
                    checkpointed = true;
                }
                Some(_) => {
                    let id = self.id;
                    let accepted = self.core.update(|state, _| {
                        let conn = state.listeners.get_mut(&id).expect("live").queue.pop_front().expect("checked");
                        let c = state.conns.get_mut(&conn).expect("a live connection");
                        c.ends[1].phase = Phase::Established;
                        c.labels[1] = format!("{}, accepted from the listener on {}", c.labels[1], self.label);
                        (conn, c.addrs[1], c.addrs[0])
                    });
                    let (conn, local, peer) = accepted;
                    return Ok(SocketStream::new(SimStream::new(self.core.clone(), conn, 1, local, peer)));
                }
            }
        }
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        if trio::lowlevel::in_run() {
            self.close_now();
        }
    }
}

impl AsyncResource for SimListener {
    fn aclose(&self) -> IoFuture<'_, ()> {
        Box::pin(async move {
            self.close_now();
            trio::checkpoint().await?;
            Ok(())
        })
    }
}

impl ProviderListener for SimListener {
    fn accept(&self) -> IoFuture<'_, SocketStream> {
        Box::pin(self.accept_one())
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}
