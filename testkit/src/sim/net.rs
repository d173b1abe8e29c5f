//! The simulated network's state and its delivery driver.
//!
//! A connection has two sides (0: the client, 1: the server) and two pipes (pipe `d` carries
//! segments from side `d` to side `1 - d`). A segment in flight has a delivery time; the
//! driver — one system task per network — sleeps until the earliest one and delivers every
//! segment due, in an order the run's policy picks when several are due at once. A partition
//! holds segments (no delivery time) until it heals. Every random choice (faults, jitter,
//! delivery order) is a `trio::lowlevel::choose` decision.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use trio::Instant;
use trio::lowlevel::{TaskId, WaitQueue, choose, choose_weighted};

use super::{Faults, Link};

pub(crate) type HostId = usize;
pub(crate) type ConnId = u64;
pub(crate) type ListenerId = u64;

/// The host that code outside any `SimHost::run` runs on.
pub(crate) const MAIN_HOST: HostId = 0;
/// Ports handed out for connections and for listeners on port 0.
const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// Options of a jitter draw: 0, ¼, ½, ¾ or all of the link's jitter.
const JITTER_STEPS: usize = 4;

pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) addr: IpAddr,
    pub(crate) up: bool,
    /// Bumped by every crash: a `SimHost::run` that sees it change restarts.
    pub(crate) generation: u64,
    /// The cancel scopes of the host's running `SimHost::run`s, cancelled by a crash.
    pub(crate) scopes: BTreeMap<u64, trio::CancelScope>,
    /// Woken when the host restarts.
    pub(crate) up_waiters: Rc<WaitQueue<()>>,
    next_port: u16,
}

pub(crate) enum SegmentKind {
    Syn,
    SynAck,
    Data(Vec<u8>),
    Fin,
    Rst(String),
}

pub(crate) struct Segment {
    id: u64,
    /// When it arrives; `None` while a partition holds it.
    at: Option<Instant>,
    kind: SegmentKind,
}

/// One direction of a connection.
#[derive(Default)]
pub(crate) struct Pipe {
    in_flight: VecDeque<Segment>,
    /// Bytes sent and not yet read by the receiving side (in flight, or in its buffer): what the
    /// receive window limits.
    pub(crate) outstanding: usize,
    /// The latest delivery time handed out: a pipe delivers in order.
    last_at: Option<Instant>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Client side: the SYN is on its way.
    Connecting,
    /// Server side: waiting in the listener's backlog to be accepted.
    Queued,
    Established,
    /// Client side: the connection was refused, with why.
    Refused(String),
    /// Client side: the connect gave up (cancelled, timed out) before it completed.
    Abandoned,
}

pub(crate) struct End {
    pub(crate) phase: Phase,
    pub(crate) received: crate::streams::Chunks,
    pub(crate) eof_received: bool,
    /// This handle was closed.
    pub(crate) closed: bool,
    pub(crate) eof_sent: bool,
    /// Why the connection was reset, if it was.
    pub(crate) reset: Option<String>,
    rst_sent: bool,
    /// Woken whenever anything about this side changes.
    pub(crate) waiters: Rc<WaitQueue<()>>,
}

impl End {
    fn new(phase: Phase) -> End {
        End {
            phase,
            received: crate::streams::Chunks::default(),
            eof_received: false,
            closed: false,
            eof_sent: false,
            reset: None,
            rst_sent: false,
            waiters: Rc::new(WaitQueue::new()),
        }
    }
}

pub(crate) struct Conn {
    pub(crate) hosts: [HostId; 2],
    pub(crate) addrs: [SocketAddr; 2],
    /// What each side's waits say in reports: "the stream to db:5432".
    pub(crate) labels: [String; 2],
    pub(crate) ends: [End; 2],
    pub(crate) pipes: [Pipe; 2],
    pub(crate) window: usize,
}

pub(crate) struct ListenerState {
    pub(crate) host: HostId,
    pub(crate) port: u16,
    pub(crate) queue: VecDeque<ConnId>,
    backlog: usize,
    pub(crate) closed: bool,
    pub(crate) waiters: Rc<WaitQueue<()>>,
}

/// Counters of what the network did ([`SimNet::statistics`](super::SimNet::statistics)).
///
/// # Examples
///
/// ```
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// use trio_testkit::MockClock;
/// use trio_testkit::sim::SimNet;
///
/// trio::Builder::new().clock(MockClock::autojump()).run(async {
///     let net = SimNet::new();
///     net.install();
///     let listeners = trio::net::open_tcp_listeners(80).await.unwrap();
///     let client = trio::net::open_tcp_stream("localhost", 80).await.unwrap();
///     let server = listeners[0].accept().await.unwrap();
///     client.send_all(b"four").await.unwrap();
///     server.receive_some(10).await.unwrap();
///     let stats = net.statistics();
///     assert_eq!((stats.connections, stats.bytes_delivered), (1, 4));
/// });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStatistics {
    /// Connections opened (accepted or not).
    pub connections: u64,
    /// Data bytes delivered to a receiving side.
    pub bytes_delivered: u64,
    /// Segments delivered (data, end-of-stream, resets and handshakes).
    pub segments_delivered: u64,
    /// Segments dropped and retransmitted by a fault.
    pub segments_dropped: u64,
    /// Connections reset by a fault, `reset_connections` or a crash.
    pub resets: u64,
}

pub(crate) struct State {
    pub(crate) hosts: Vec<Host>,
    pub(crate) names: BTreeMap<String, HostId>,
    pub(crate) default_link: Link,
    pub(crate) links: BTreeMap<(HostId, HostId), Link>,
    pub(crate) default_faults: Faults,
    pub(crate) faults: BTreeMap<(HostId, HostId), Faults>,
    pub(crate) partitions: BTreeSet<(HostId, HostId)>,
    /// When each directed link is free to send again (bandwidth).
    busy_until: BTreeMap<(HostId, HostId), Instant>,
    pub(crate) listeners: BTreeMap<ListenerId, ListenerState>,
    pub(crate) bound: BTreeMap<(HostId, u16), ListenerId>,
    pub(crate) conns: BTreeMap<ConnId, Conn>,
    /// The first segment of every pipe that has a delivery time, by that time:
    /// (time, segment id) → (connection, pipe). One entry per pipe at most — a pipe delivers in
    /// order, so only its first segment can be next.
    events: BTreeMap<(Instant, u64), (ConnId, usize)>,
    next_id: u64,
    pub(crate) connect_timeout: Duration,
    pub(crate) default_backlog: usize,
    /// Which host a task runs on: the tasks running a `SimHost::run`.
    pub(crate) task_hosts: BTreeMap<TaskId, HostId>,
    /// Parents of tasks seen so far (they never change).
    pub(crate) parents: BTreeMap<TaskId, Option<TaskId>>,
    pub(crate) stats: SimStatistics,
}

/// Queues to wake once the state is no longer borrowed.
#[derive(Default)]
pub(crate) struct Wakes(Vec<Rc<WaitQueue<()>>>);

impl Wakes {
    pub(crate) fn add(&mut self, queue: &Rc<WaitQueue<()>>) {
        if !self.0.iter().any(|q| Rc::ptr_eq(q, queue)) {
            self.0.push(queue.clone());
        }
    }

    pub(crate) fn wake(self) {
        for queue in self.0 {
            queue.unpark_all_with(|| ());
        }
    }
}

fn pair(a: HostId, b: HostId) -> (HostId, HostId) {
    (a.min(b), a.max(b))
}

impl State {
    pub(crate) fn new() -> State {
        let mut state = State {
            hosts: Vec::new(),
            names: BTreeMap::new(),
            default_link: Link::default(),
            links: BTreeMap::new(),
            default_faults: Faults::none(),
            faults: BTreeMap::new(),
            partitions: BTreeSet::new(),
            busy_until: BTreeMap::new(),
            listeners: BTreeMap::new(),
            bound: BTreeMap::new(),
            conns: BTreeMap::new(),
            events: BTreeMap::new(),
            next_id: 1,
            connect_timeout: Duration::from_secs(10),
            default_backlog: 128,
            task_hosts: BTreeMap::new(),
            parents: BTreeMap::new(),
            stats: SimStatistics::default(),
        };
        state.add_host("main");
        state
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn add_host(&mut self, name: &str) -> HostId {
        assert!(
            !self.names.contains_key(name) && name != "localhost",
            "a host named {name:?} exists already on this simulated network; host names are unique"
        );
        let id = self.hosts.len();
        let n = u32::try_from(id + 1).expect("fewer than 2^32 hosts");
        let addr = IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + n));
        self.hosts.push(Host {
            name: name.to_string(),
            addr,
            up: true,
            generation: 0,
            scopes: BTreeMap::new(),
            up_waiters: Rc::new(WaitQueue::new()),
            next_port: *EPHEMERAL_PORTS.start(),
        });
        self.names.insert(name.to_string(), id);
        id
    }

    pub(crate) fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.names.get(name).copied()
    }

    pub(crate) fn host_by_addr(&self, addr: IpAddr) -> Option<HostId> {
        self.hosts.iter().position(|h| h.addr == addr)
    }

    /// A free port on `host` from the ephemeral range.
    pub(crate) fn ephemeral_port(&mut self, host: HostId) -> u16 {
        let range = EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start() + 1;
        for _ in 0..range {
            let h = &mut self.hosts[host];
            let port = h.next_port;
            h.next_port = if port == *EPHEMERAL_PORTS.end() { *EPHEMERAL_PORTS.start() } else { port + 1 };
            if !self.bound.contains_key(&(host, port)) {
                return port;
            }
        }
        panic!("every ephemeral port of simulated host {} is bound", self.hosts[host].name);
    }

    pub(crate) fn link(&self, a: HostId, b: HostId) -> Link {
        self.links.get(&pair(a, b)).copied().unwrap_or(if a == b { Link::loopback() } else { self.default_link })
    }

    fn faults(&self, a: HostId, b: HostId) -> Faults {
        if a == b {
            return self.faults.get(&(a, a)).copied().unwrap_or(Faults::none());
        }
        self.faults.get(&pair(a, b)).copied().unwrap_or(self.default_faults)
    }

    pub(crate) fn partitioned(&self, a: HostId, b: HostId) -> bool {
        a != b && self.partitions.contains(&pair(a, b))
    }

    /// The label of a host for reports: its name.
    pub(crate) fn host_name(&self, host: HostId) -> &str {
        &self.hosts[host].name
    }

    // ----- connections -----

    /// Opens a connection from `client` to `server` (the SYN goes out now).
    pub(crate) fn connect(&mut self, client: HostId, server: HostId, server_addr: SocketAddr, label: String) -> ConnId {
        let port = self.ephemeral_port(client);
        let client_addr = SocketAddr::new(
            if server_addr.ip().is_loopback() { server_addr.ip() } else { self.hosts[client].addr },
            port,
        );
        let server_label = format!(
            "the stream from {}:{port} to {}:{}",
            self.host_name(client),
            self.host_name(server),
            server_addr.port()
        );
        let window = self.link(client, server).window;
        let id = self.next_id();
        self.conns.insert(
            id,
            Conn {
                hosts: [client, server],
                addrs: [client_addr, server_addr],
                labels: [label, server_label],
                ends: [End::new(Phase::Connecting), End::new(Phase::Queued)],
                pipes: [Pipe::default(), Pipe::default()],
                window,
            },
        );
        self.stats.connections += 1;
        self.send_segment(id, 0, SegmentKind::Syn);
        id
    }

    /// Puts a segment in flight on pipe `dir` of `conn`, with its faults and jitter decided now.
    pub(crate) fn send_segment(&mut self, conn: ConnId, dir: usize, kind: SegmentKind) {
        let now = trio::current_time();
        let Some(c) = self.conns.get(&conn) else { return };
        let (from, to) = (c.hosts[dir], c.hosts[1 - dir]);
        let link = self.link(from, to);
        let faults = self.faults(from, to);
        let size = match &kind {
            SegmentKind::Data(data) => data.len(),
            _ => 0,
        };
        let what = |c: &Conn, question: &str| {
            format!("sim: {question} for {} → {} ({size} bytes)", c.addrs[dir], c.addrs[1 - dir])
        };
        // Faults apply to data; the handshake and the end of the stream travel reliably.
        let mut extra = Duration::ZERO;
        let mut reset = false;
        if size > 0 && faults.any() {
            let question = what(c, "fault (0 deliver, 1 drop and retransmit, 2 reset)");
            match choose_weighted(&faults.weights(), &question) {
                0 => {}
                1 => {
                    extra = faults.retransmit_after;
                    self.stats.segments_dropped += 1;
                }
                _ => reset = true,
            }
        }
        if !link.jitter.is_zero() {
            let question = what(self.conns.get(&conn).expect("checked"), "jitter (in quarters of the link's)");
            let step = choose(JITTER_STEPS + 1, &question);
            extra += link.jitter * u32::try_from(step).expect("small") / JITTER_STEPS as u32;
        }
        // Serialization on the directed link, then propagation.
        let busy = self.busy_until.get(&(from, to)).copied().unwrap_or(now).max(now);
        let serialization = link.bandwidth.map_or(Duration::ZERO, |bytes_per_sec| {
            Duration::from_nanos((size as u128 * 1_000_000_000 / u128::from(bytes_per_sec.max(1))) as u64)
        });
        let done = busy + serialization;
        if !serialization.is_zero() {
            self.busy_until.insert((from, to), done);
        }
        let mut at = done + link.latency + extra;
        let c = self.conns.get_mut(&conn).expect("checked");
        let pipe = &mut c.pipes[dir];
        if let Some(last) = pipe.last_at {
            at = at.max(last);
        }
        pipe.outstanding += size;
        if reset {
            self.stats.resets += 1;
            // The data is lost and both sides hear of a reset.
            pipe.outstanding -= size;
            let why = "connection reset by the network (a simulated fault)".to_string();
            self.push_segment(conn, dir, SegmentKind::Rst(why.clone()), at);
            self.push_segment(conn, 1 - dir, SegmentKind::Rst(why), at);
            return;
        }
        self.push_segment(conn, dir, kind, at);
    }

    /// Appends a segment to a pipe, due at `at` — or held, behind a partition or a held segment.
    fn push_segment(&mut self, conn: ConnId, dir: usize, kind: SegmentKind, at: Instant) {
        let id = self.next_id();
        let c = self.conns.get_mut(&conn).expect("a live connection");
        let (from, to) = (c.hosts[dir], c.hosts[1 - dir]);
        let held = c.pipes[dir].in_flight.back().is_some_and(|s| s.at.is_none()) || self.partitioned(from, to);
        let c = self.conns.get_mut(&conn).expect("a live connection");
        let pipe = &mut c.pipes[dir];
        if held {
            pipe.in_flight.push_back(Segment { id, at: None, kind });
            return;
        }
        let at = pipe.last_at.map_or(at, |last| at.max(last));
        pipe.last_at = Some(at);
        let first = pipe.in_flight.is_empty();
        pipe.in_flight.push_back(Segment { id, at: Some(at), kind });
        if first {
            self.events.insert((at, id), (conn, dir));
        }
    }

    /// Schedules the delivery of the first segment of a pipe, if it has a time.
    fn schedule_front(&mut self, conn: ConnId, dir: usize) {
        if let Some(front) = self.conns.get(&conn).and_then(|c| c.pipes[dir].in_flight.front())
            && let Some(at) = front.at
        {
            self.events.insert((at, front.id), (conn, dir));
        }
    }

    pub(crate) fn next_event(&self) -> Option<Instant> {
        self.events.keys().next().map(|(at, _)| *at)
    }

    /// Delivers every segment due by `now`; several due at once are delivered in an order the
    /// policy picks (only the first segment of each pipe can go: a pipe delivers in order).
    pub(crate) fn deliver_due(&mut self, now: Instant, wakes: &mut Wakes) {
        loop {
            let eligible: Vec<(Instant, u64, ConnId, usize)> =
                self.events.range(..=(now, u64::MAX)).map(|(&(at, id), &(conn, dir))| (at, id, conn, dir)).collect();
            if eligible.is_empty() {
                return;
            }
            let pick = if eligible.len() > 1 {
                choose(eligible.len(), &format!("sim: which of {} deliveries due at {now} comes first", eligible.len()))
            } else {
                0
            };
            let (at, id, conn, dir) = eligible[pick];
            self.events.remove(&(at, id));
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            // Only the front of the pipe: a stale event (for a segment a partition re-timed)
            // finds another segment there and is dropped.
            if c.pipes[dir].in_flight.front().is_none_or(|s| s.id != id) {
                continue;
            }
            let segment = c.pipes[dir].in_flight.pop_front().expect("checked");
            self.schedule_front(conn, dir);
            self.arrive(conn, dir, segment.kind, wakes);
            self.forget_if_done(conn);
        }
    }

    /// A segment sent by side `dir` arrives at side `1 - dir`.
    fn arrive(&mut self, conn: ConnId, dir: usize, kind: SegmentKind, wakes: &mut Wakes) {
        self.stats.segments_delivered += 1;
        let to = 1 - dir;
        match kind {
            SegmentKind::Syn => self.arrive_syn(conn, wakes),
            SegmentKind::SynAck => {
                let c = self.conns.get_mut(&conn).expect("a live connection");
                let end = &mut c.ends[0];
                if end.phase == Phase::Connecting {
                    end.phase = Phase::Established;
                    wakes.add(&end.waiters);
                } else {
                    // The connect gave up meanwhile: tell the server.
                    self.reset_from(conn, 0, "the client gave up connecting".to_string());
                }
            }
            SegmentKind::Data(data) => {
                let c = self.conns.get_mut(&conn).expect("a live connection");
                let end = &mut c.ends[to];
                if end.closed || end.reset.is_some() {
                    // Nobody reads here any more: the data is discarded, and a reset goes back.
                    c.pipes[dir].outstanding -= data.len();
                    wakes.add(&c.ends[dir].waiters);
                    if !c.ends[to].rst_sent && c.ends[to].reset.is_none() {
                        self.reset_from(conn, to, "connection reset by peer (it was closed)".to_string());
                    }
                    return;
                }
                self.stats.bytes_delivered += data.len() as u64;
                end.received.push(data);
                wakes.add(&end.waiters);
            }
            SegmentKind::Fin => {
                let c = self.conns.get_mut(&conn).expect("a live connection");
                c.ends[to].eof_received = true;
                wakes.add(&c.ends[to].waiters);
            }
            SegmentKind::Rst(why) => {
                let c = self.conns.get_mut(&conn).expect("a live connection");
                let end = &mut c.ends[to];
                if end.phase == Phase::Connecting {
                    end.phase = Phase::Refused(why);
                } else if end.reset.is_none() {
                    end.reset = Some(why);
                    let unread = end.received.len();
                    end.received.clear();
                    c.pipes[dir].outstanding -= unread.min(c.pipes[dir].outstanding);
                }
                wakes.add(&c.ends[to].waiters);
                wakes.add(&c.ends[dir].waiters);
            }
        }
    }

    fn arrive_syn(&mut self, conn: ConnId, wakes: &mut Wakes) {
        let c = &self.conns[&conn];
        let server = c.hosts[1];
        let port = c.addrs[1].port();
        let refuse = |why: &str| Some(why.to_string());
        let refused = if !self.hosts[server].up {
            refuse("connection refused (the host is down)")
        } else {
            match self.bound.get(&(server, port)).and_then(|l| self.listeners.get(l).map(|s| (*l, s))) {
                None => refuse("connection refused (nothing listens on that port)"),
                Some((_, listener)) if listener.closed => refuse("connection refused (nothing listens on that port)"),
                Some((_, listener)) if listener.queue.len() >= listener.backlog => {
                    Some(format!("connection refused (the listener's backlog of {} is full)", listener.backlog))
                }
                Some((id, _)) => {
                    let listener = self.listeners.get_mut(&id).expect("checked");
                    listener.queue.push_back(conn);
                    wakes.add(&listener.waiters);
                    None
                }
            }
        };
        match refused {
            Some(why) => {
                let c = self.conns.get_mut(&conn).expect("live");
                c.ends[1].closed = true;
                self.send_segment(conn, 1, SegmentKind::Rst(why));
            }
            None => self.send_segment(conn, 1, SegmentKind::SynAck),
        }
    }

    /// Side `side` resets the connection: it sends a reset to the other side.
    pub(crate) fn reset_from(&mut self, conn: ConnId, side: usize, why: String) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.ends[side].rst_sent {
            return;
        }
        c.ends[side].rst_sent = true;
        self.send_segment(conn, side, SegmentKind::Rst(why));
    }

    /// Resets side `side` at once (a crash, `reset_connections`), and tells the other side.
    pub(crate) fn reset_now(&mut self, conn: ConnId, side: usize, why: &str, wakes: &mut Wakes) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let end = &mut c.ends[side];
        if end.reset.is_none() {
            end.reset = Some(why.to_string());
            end.received.clear();
        }
        if end.phase == Phase::Connecting {
            end.phase = Phase::Refused(why.to_string());
        }
        wakes.add(&end.waiters);
        self.reset_from(conn, side, why.to_string());
    }

    /// Side `side` closes its handle: a reset if it leaves data unread, else the end of the
    /// stream (once everything sent before has gone).
    pub(crate) fn close_end(&mut self, conn: ConnId, side: usize, wakes: &mut Wakes) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let end = &mut c.ends[side];
        if end.closed {
            return;
        }
        end.closed = true;
        wakes.add(&end.waiters);
        let unread = end.received.len();
        end.received.clear();
        let (reset, eof_sent, phase) = (end.reset.is_some(), end.eof_sent, end.phase.clone());
        let other = 1 - side;
        c.pipes[other].outstanding -= unread.min(c.pipes[other].outstanding);
        wakes.add(&c.ends[other].waiters);
        match phase {
            Phase::Connecting => c.ends[side].phase = Phase::Abandoned,
            Phase::Established if !reset => {
                if unread > 0 {
                    self.reset_from(conn, side, "connection reset by peer (it closed with data unread)".to_string());
                } else if !eof_sent {
                    c.ends[side].eof_sent = true;
                    self.send_segment(conn, side, SegmentKind::Fin);
                }
            }
            _ => {}
        }
    }

    // ----- partitions -----

    pub(crate) fn partition(&mut self, a: HostId, b: HostId) {
        if a == b || !self.partitions.insert(pair(a, b)) {
            return;
        }
        let now = trio::current_time();
        // Everything not yet delivered between them is held.
        for c in self.conns.values_mut() {
            for dir in 0..2 {
                if pair(c.hosts[dir], c.hosts[1 - dir]) != pair(a, b) {
                    continue;
                }
                for segment in c.pipes[dir].in_flight.iter_mut() {
                    if let Some(at) = segment.at
                        && at > now
                    {
                        self.events.remove(&(at, segment.id));
                        segment.at = None;
                    }
                }
            }
        }
    }

    pub(crate) fn heal(&mut self, a: HostId, b: HostId) {
        if !self.partitions.remove(&pair(a, b)) {
            return;
        }
        let now = trio::current_time();
        let latency = self.link(a, b).latency;
        // Held segments leave now, in order (a retransmission once the path is back).
        let mut retimed = Vec::new();
        for (&id, c) in self.conns.iter_mut() {
            for dir in 0..2 {
                if pair(c.hosts[dir], c.hosts[1 - dir]) != pair(a, b) {
                    continue;
                }
                let pipe = &mut c.pipes[dir];
                let front_was_held = pipe.in_flight.front().is_some_and(|s| s.at.is_none());
                let mut at = now + latency;
                for segment in pipe.in_flight.iter_mut() {
                    match segment.at {
                        Some(t) => at = at.max(t),
                        None => segment.at = Some(at),
                    }
                }
                pipe.last_at = Some(pipe.last_at.map_or(at, |last| last.max(at)));
                if front_was_held {
                    retimed.push((id, dir));
                }
            }
        }
        for (conn, dir) in retimed {
            self.schedule_front(conn, dir);
        }
    }

    pub(crate) fn connections_between(&self, a: HostId, b: HostId) -> Vec<ConnId> {
        self.conns.iter().filter(|(_, c)| pair(c.hosts[0], c.hosts[1]) == pair(a, b)).map(|(id, _)| *id).collect()
    }

    pub(crate) fn connections_of(&self, host: HostId) -> Vec<(ConnId, usize)> {
        let mut found = Vec::new();
        for (id, c) in &self.conns {
            for side in 0..2 {
                if c.hosts[side] == host {
                    found.push((*id, side));
                }
            }
        }
        found
    }

    // ----- listeners -----

    pub(crate) fn listen(
        &mut self,
        host: HostId,
        port: u16,
        backlog: Option<usize>,
    ) -> Result<(ListenerId, u16), String> {
        let port = if port == 0 { self.ephemeral_port(host) } else { port };
        if self.bound.contains_key(&(host, port)) {
            return Err(format!("address in use: {}:{port} already has a listener", self.host_name(host)));
        }
        let id = self.next_id();
        self.listeners.insert(
            id,
            ListenerState {
                host,
                port,
                queue: VecDeque::new(),
                backlog: backlog.unwrap_or(self.default_backlog).max(1),
                closed: false,
                waiters: Rc::new(WaitQueue::new()),
            },
        );
        self.bound.insert((host, port), id);
        Ok((id, port))
    }

    /// Closes a listener: connections waiting in its backlog are reset.
    pub(crate) fn close_listener(&mut self, id: ListenerId, wakes: &mut Wakes) {
        let Some(listener) = self.listeners.get_mut(&id) else { return };
        if listener.closed {
            return;
        }
        listener.closed = true;
        wakes.add(&listener.waiters);
        let (host, port) = (listener.host, listener.port);
        let queued: Vec<ConnId> = listener.queue.drain(..).collect();
        if self.bound.get(&(host, port)) == Some(&id) {
            self.bound.remove(&(host, port));
        }
        for conn in queued {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.ends[1].closed = true;
            }
            self.reset_from(conn, 1, "connection reset by peer (the listener closed before accepting it)".to_string());
        }
    }

    /// Forgets a connection once both handles are gone and nothing of it is in flight.
    pub(crate) fn forget_if_done(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else { return };
        // Only once both handles are closed: a refused connect reads its phase first.
        if c.ends[0].closed && c.ends[1].closed && c.pipes.iter().all(|p| p.in_flight.is_empty()) {
            self.conns.remove(&conn);
        }
    }
}
