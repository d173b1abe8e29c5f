//! The reactor: readiness I/O on the operating system's poller (epoll, kqueue) through `mio`.
//!
//! It is made lazily, on the first wait for a file descriptor, so a run that never touches
//! real I/O (every exploration schedule) pays nothing for it: the loop parks its thread as
//! before. Once it exists, the loop waits in the poller instead, with the same timeout, and a
//! wake from another thread interrupts the wait through a `mio::Waker`.
//!
//! Each descriptor is registered once, for both directions, edge-triggered, and stays
//! registered until `notify_closing` (or until the descriptor is closed, when the kernel drops
//! it by itself). Per direction the reactor keeps one waiting task — a second one is
//! `BusyResource`, Trio's rule — and a "would block" bit:
//!
//! - `notify_not_readable` / `notify_not_writable` (the caller just got `EWOULDBLOCK`) set it;
//! - an event for that direction, or the end of a wait that no event ended, clears it;
//! - a wait that finds it set just waits for the next edge (the descriptor is known not to be
//!   ready, so any change is an edge); a wait that finds it clear asks the kernel
//!   (`EPOLL_CTL_MOD` re-arms the registration, and the kernel queues an event at once if
//!   the descriptor is ready now).
//!
//! So `wait_readable` has Trio's level-triggered meaning ("wait until the kernel says it is
//! readable") for any caller, costing one `epoll_ctl` per wait as in Trio, and a caller that
//! reports `EWOULDBLOCK` right before waiting — the socket layer — saves that call, as tokio
//! does. A re-arm of a descriptor the kernel no longer knows (closed and its number reused
//! without `notify_closing`) adds it again, so only a caller that both skips `notify_closing`
//! and gives the hint can miss an event.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::wait::Unparker;

/// The token of the cross-thread waker; file descriptors use their own number.
const WAKER_TOKEN: Token = Token(usize::MAX);

/// How many events one poll takes at most.
const EVENTS_CAPACITY: usize = 1024;

/// Which way a task waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::Read => 0,
            Direction::Write => 1,
        }
    }

    pub(crate) fn wait_name(self) -> &'static str {
        match self {
            Direction::Read => "wait_readable",
            Direction::Write => "wait_writable",
        }
    }
}

/// How a wait for a descriptor ended, as handed to the waiting task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoWake {
    /// The poller reported the descriptor ready (or in error, or hung up).
    Ready,
    /// `notify_closing` was called for it.
    Closed,
}

/// A description of what a descriptor is, computed only when a report asks.
pub(crate) type IoLabel = Rc<dyn Fn() -> String>;

/// One registered descriptor.
struct Registration {
    /// Registered with the poller. Invariant: if `false`, the next wait registers it.
    registered: bool,
    /// Per direction: the caller found the descriptor not ready (`EWOULDBLOCK`) and no event
    /// or finished wait came since, so any readiness from now on arrives as an edge.
    would_block: [bool; 2],
    /// Per direction: the poller reported the end (the peer's FIN, a hang-up) or an error.
    /// That stays true, and the next read would say so at once, so the "would block" hint is
    /// ignored from then on: no new edge would come to end a wait.
    finished: [bool; 2],
    /// Per direction: the task waiting, if any. Invariant: at most one live waiter per
    /// direction (a second is refused as busy); an entry whose wait ended is stale and may be
    /// replaced.
    waiters: [Option<Unparker<IoWake>>; 2],
    /// What the descriptor is, for reports.
    label: Option<IoLabel>,
}

impl Registration {
    fn new() -> Registration {
        Registration {
            registered: false,
            would_block: [false; 2],
            finished: [false; 2],
            waiters: [None, None],
            label: None,
        }
    }
}

/// The run's reactor: the poller, the cross-thread waker and the registered descriptors.
pub(crate) struct Reactor {
    poll: RefCell<Poll>,
    registry: Registry,
    events: RefCell<Events>,
    /// Registrations by descriptor number (descriptors are small integers). Invariant: the
    /// vector never shrinks; a slot is `None` for a descriptor never registered or closed.
    registrations: RefCell<Vec<Option<Registration>>>,
    /// Invariant: the number of occupied waiter slots across all registrations (an entry
    /// stays until an event, `notify_closing` or its wait's end removes it), so the loop knows
    /// whether anyone waits at all.
    waiting: Cell<usize>,
    /// The waiters one poll wakes, kept between polls so a poll allocates nothing.
    woken: RefCell<Vec<Unparker<IoWake>>>,
}

impl Reactor {
    /// Makes the poller and its waker.
    pub(crate) fn new() -> io::Result<(Reactor, mio::Waker)> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let reactor = Reactor {
            poll: RefCell::new(poll),
            registry,
            events: RefCell::new(Events::with_capacity(EVENTS_CAPACITY)),
            registrations: RefCell::new(Vec::new()),
            waiting: Cell::new(0),
            woken: RefCell::new(Vec::new()),
        };
        Ok((reactor, waker))
    }

    /// Whether any task waits for a descriptor.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.get() > 0
    }

    /// How many waits for descriptors are registered.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.get()
    }

    /// Registers `unparker` as the waiter of `fd` in `direction`, arming the poller as needed.
    ///
    /// # Errors
    ///
    /// `Busy` if another task waits in the same direction; the poller's error if the
    /// descriptor cannot be registered (a regular file, say, or a descriptor that is not open).
    pub(crate) fn add_waiter(
        &self,
        fd: RawFd,
        direction: Direction,
        unparker: Unparker<IoWake>,
    ) -> Result<(), AddError> {
        let Ok(index) = usize::try_from(fd) else {
            return Err(AddError::Os(io::Error::from_raw_os_error(libc::EBADF)));
        };
        let mut registrations = self.registrations.borrow_mut();
        if registrations.len() <= index {
            registrations.resize_with(index + 1, || None);
        }
        let registration = registrations[index].get_or_insert_with(Registration::new);
        let slot = &mut registration.waiters[direction.index()];
        if slot.as_ref().is_some_and(Unparker::is_waiting) {
            return Err(AddError::Busy);
        }
        if !registration.registered {
            self.arm(fd, false).map_err(AddError::Os)?;
            registration.registered = true;
        } else if !registration.would_block[direction.index()] {
            self.arm(fd, true).map_err(AddError::Os)?;
        }
        if slot.replace(unparker).is_none() {
            self.waiting.set(self.waiting.get() + 1);
        }
        Ok(())
    }

    /// Adds or re-arms the registration. A re-arm of a descriptor the kernel forgot (it was
    /// closed and its number reused without `notify_closing`) falls back to adding it, and an
    /// add of one it still knows to re-arming it.
    fn arm(&self, fd: RawFd, rearm: bool) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        let token = Token(fd as usize);
        let first = if rearm {
            self.registry.reregister(&mut SourceFd(&fd), token, interest)
        } else {
            self.registry.register(&mut SourceFd(&fd), token, interest)
        };
        match first {
            Err(e) if rearm && e.raw_os_error() == Some(libc::ENOENT) => {
                self.registry.register(&mut SourceFd(&fd), token, interest)
            }
            Err(e) if !rearm && e.raw_os_error() == Some(libc::EEXIST) => {
                self.registry.reregister(&mut SourceFd(&fd), token, interest)
            }
            other => other,
        }
    }

    /// The waiter of `fd` in `direction` went away (its wait was cancelled or dropped): forget
    /// it, so a later event wakes nobody.
    pub(crate) fn remove_waiter(&self, fd: RawFd, direction: Direction, unparker: &Unparker<IoWake>) {
        let mut registrations = self.registrations.borrow_mut();
        let Some(Some(registration)) = usize::try_from(fd).ok().and_then(|i| registrations.get_mut(i)) else {
            return;
        };
        let slot = &mut registration.waiters[direction.index()];
        if slot.as_ref().is_some_and(|w| w.same_wait(unparker)) {
            *slot = None;
            registration.would_block[direction.index()] = false;
            self.waiting.set(self.waiting.get().saturating_sub(1));
        }
    }

    /// The caller just got `EWOULDBLOCK` on `fd` in `direction`: the descriptor is not ready
    /// now, so the next wait need not ask the kernel again.
    pub(crate) fn would_block(&self, fd: RawFd, direction: Direction) {
        let mut registrations = self.registrations.borrow_mut();
        if let Some(Some(registration)) = usize::try_from(fd).ok().and_then(|i| registrations.get_mut(i))
            && registration.registered
            && !registration.finished[direction.index()]
        {
            registration.would_block[direction.index()] = true;
        }
    }

    /// Whether `fd` may be ready in `direction`: `false` only after `would_block` with no
    /// event or ended wait since.
    pub(crate) fn may_be_ready(&self, fd: RawFd, direction: Direction) -> bool {
        let registrations = self.registrations.borrow();
        match usize::try_from(fd).ok().and_then(|i| registrations.get(i)) {
            Some(Some(registration)) => !registration.would_block[direction.index()],
            _ => true,
        }
    }

    /// Sets what `fd` is, for reports.
    pub(crate) fn set_label(&self, fd: RawFd, label: IoLabel) {
        let Ok(index) = usize::try_from(fd) else { return };
        let mut registrations = self.registrations.borrow_mut();
        if registrations.len() <= index {
            registrations.resize_with(index + 1, || None);
        }
        registrations[index].get_or_insert_with(Registration::new).label = Some(label);
    }

    pub(crate) fn label(&self, fd: RawFd) -> Option<IoLabel> {
        let registrations = self.registrations.borrow();
        usize::try_from(fd).ok().and_then(|i| registrations.get(i)).and_then(|r| r.as_ref()?.label.clone())
    }

    /// `fd` is about to be closed: wake its waiters with `Closed`, and forget it.
    pub(crate) fn notify_closing(&self, fd: RawFd) {
        let registration = {
            let mut registrations = self.registrations.borrow_mut();
            usize::try_from(fd).ok().and_then(|i| registrations.get_mut(i)).and_then(Option::take)
        };
        let Some(registration) = registration else { return };
        if registration.registered {
            // The descriptor may already be gone; then the kernel dropped it by itself.
            let _ = self.registry.deregister(&mut SourceFd(&fd));
        }
        for waiter in registration.waiters.into_iter().flatten() {
            self.waiting.set(self.waiting.get().saturating_sub(1));
            let _ = waiter.unpark(IoWake::Closed);
        }
    }

    /// Waits for events at most `timeout` (forever if `None`) and wakes the tasks waiting for
    /// them.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut woken = std::mem::take(&mut *self.woken.borrow_mut());
        {
            let mut registrations = self.registrations.borrow_mut();
            for event in events.iter() {
                if event.token() == WAKER_TOKEN {
                    continue;
                }
                let Some(Some(registration)) = registrations.get_mut(event.token().0) else { continue };
                let failed = event.is_error();
                registration.finished[Direction::Read.index()] |= failed || event.is_read_closed();
                registration.finished[Direction::Write.index()] |= failed || event.is_write_closed();
                let readable = failed || event.is_readable() || event.is_read_closed();
                let writable = failed || event.is_writable() || event.is_write_closed();
                for (direction, ready) in [(Direction::Read, readable), (Direction::Write, writable)] {
                    if !ready {
                        continue;
                    }
                    registration.would_block[direction.index()] = false;
                    if let Some(waiter) = registration.waiters[direction.index()].take() {
                        self.waiting.set(self.waiting.get().saturating_sub(1));
                        woken.push(waiter);
                    }
                }
            }
        }
        // Woken outside the borrow: a waker may reach the reactor again.
        for waiter in woken.drain(..) {
            let _ = waiter.unpark(IoWake::Ready);
        }
        *self.woken.borrow_mut() = woken;
        Ok(())
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registered = self.registrations.borrow().iter().filter(|r| r.is_some()).count();
        f.debug_struct("Reactor").field("registered", &registered).field("waiting", &self.waiting.get()).finish()
    }
}

/// Why a waiter could not be added.
#[derive(Debug)]
pub(crate) enum AddError {
    Busy,
    Os(io::Error),
}

// ===== the public waits (re-exported from `lowlevel`) =====

/// Blocks until the operating system reports `fd` readable (Trio's `wait_readable`): data
/// to read, a connection to accept, the peer's end of stream, or an error to collect.
///
/// The usual shape is Trio's: try the non-blocking operation; on `EWOULDBLOCK` call
/// [`notify_not_readable`] (optional, it saves a system call) and wait here; try again.
///
/// Unix only: on Windows trio has no reactor yet.
///
/// # Errors
///
/// - [`Cancelled`](crate::Cancelled) if the enclosing scope is cancelled; the registration is
///   withdrawn and nothing is lost (readiness is not consumed).
/// - [`BusyResource`](crate::BusyResource) if another task already waits for `fd` to become
///   readable (Trio's rule: one reader per descriptor).
/// - [`ClosedResource`](crate::ClosedResource) if [`notify_closing`] is called for `fd` while
///   this task waits.
/// - The operating system's error (an [`std::io::Error`]) if the descriptor cannot be watched:
///   a regular file, or a descriptor that is not open.
///
/// # Panics
///
/// Outside a run.
///
/// # Cancellation
///
/// Always a checkpoint: it blocks at least until the loop next asks the poller. Cancelling it
/// loses nothing. While it waits, the task counts as waiting *outside* the runtime: on a
/// mock clock, autojump does not jump and `wait_all_tasks_blocked` does not wake, and the run
/// is never called deadlocked.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// trio::run(async {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     b.set_nonblocking(true).unwrap();
///     let mut buf = [0; 5];
///     assert!(b.read(&mut buf).is_err()); // nothing yet: EWOULDBLOCK
///     trio::lowlevel::notify_not_readable(&b);
///     a.write_all(b"hello").unwrap();
///     trio::lowlevel::wait_readable(&b).await.unwrap();
///     assert_eq!(b.read(&mut buf).unwrap(), 5);
///     assert_eq!(&buf, b"hello");
/// });
/// ```
#[track_caller]
pub fn wait_readable(fd: impl std::os::fd::AsFd) -> impl std::future::Future<Output = crate::Result<()>> {
    use std::os::fd::AsRawFd;
    wait_fd(fd.as_fd().as_raw_fd(), Direction::Read, std::panic::Location::caller())
}

/// Blocks until the operating system reports `fd` writable (Trio's `wait_writable`): room
/// in the send buffer, a finished non-blocking `connect`, or an error to collect.
///
/// Unix only: on Windows trio has no reactor yet.
///
/// # Errors
///
/// As [`wait_readable`], for writing: [`Cancelled`](crate::Cancelled),
/// [`BusyResource`](crate::BusyResource) if another task already waits to write to `fd`,
/// [`ClosedResource`](crate::ClosedResource) after [`notify_closing`], or the operating
/// system's error.
///
/// # Panics
///
/// Outside a run.
///
/// # Cancellation
///
/// As [`wait_readable`]: always a checkpoint, and cancelling it loses nothing.
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
///
/// trio::run(async {
///     let (a, _b) = UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     // An empty send buffer: writable at once.
///     trio::lowlevel::wait_writable(&a).await.unwrap();
/// });
/// ```
#[track_caller]
pub fn wait_writable(fd: impl std::os::fd::AsFd) -> impl std::future::Future<Output = crate::Result<()>> {
    use std::os::fd::AsRawFd;
    wait_fd(fd.as_fd().as_raw_fd(), Direction::Write, std::panic::Location::caller())
}

/// Tells the run that `fd` is about to be closed (Trio's `notify_closing`): every task
/// blocked in [`wait_readable`] or [`wait_writable`] on it wakes with
/// [`ClosedResource`](crate::ClosedResource), and the reactor forgets the descriptor. Call it
/// just before closing a descriptor that tasks may be waiting on — closing it without this
/// leaves those tasks waiting for an event that never comes. It does not close `fd`.
///
/// # Panics
///
/// Outside a run.
///
/// # Cancellation
///
/// Synchronous: not a checkpoint.
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
///
/// trio::run(async {
///     let (a, _b) = UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     trio::open_nursery(|nursery| async move {
///         let a = std::rc::Rc::new(a);
///         let reader = a.clone();
///         nursery.start_soon(async move {
///             let err = trio::lowlevel::wait_readable(&*reader).await.unwrap_err();
///             assert!(err.downcast_ref::<trio::ClosedResource>().is_some());
///         });
///         trio::sleep(std::time::Duration::from_millis(1)).await?;
///         trio::lowlevel::notify_closing(&*a);
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[track_caller]
pub fn notify_closing(fd: impl std::os::fd::AsFd) {
    use std::os::fd::AsRawFd;
    let fd = fd.as_fd().as_raw_fd();
    super::runtime::Runtime::with(|rt| {
        if let Some(reactor) = rt.existing_reactor() {
            reactor.notify_closing(fd);
        }
    });
}

/// Tells the reactor that a read on `fd` just failed with `EWOULDBLOCK`, so the next
/// [`wait_readable`] need not ask the kernel whether it is readable now — it waits for the
/// next event. A pure optimisation (one system call less per wait), for code that calls it
/// right before waiting: calling it when the read did *not* just fail that way can make the
/// next wait miss readiness that is already there, and so can giving it for a descriptor
/// that was closed and reopened without [`notify_closing`].
///
/// Outside a run, or for a descriptor nobody waited on yet, it does nothing.
///
/// # Cancellation
///
/// Synchronous: not a checkpoint.
///
/// # Examples
///
/// See [`wait_readable`].
///
/// ```
/// use std::io::Read;
/// use std::os::unix::net::UnixStream;
///
/// let (_a, mut b) = UnixStream::pair().unwrap();
/// b.set_nonblocking(true).unwrap();
/// assert!(b.read(&mut [0; 1]).is_err());
/// trio::lowlevel::notify_not_readable(&b); // outside a run: nothing to do
/// ```
pub fn notify_not_readable(fd: impl std::os::fd::AsFd) {
    would_block(fd, Direction::Read);
}

/// Tells the reactor that a write on `fd` just failed with `EWOULDBLOCK`; see
/// [`notify_not_readable`].
///
/// # Cancellation
///
/// Synchronous: not a checkpoint.
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
///
/// trio::run(async {
///     let (a, _b) = UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     trio::lowlevel::notify_not_writable(&a); // a hint only: no effect before the first wait
///     trio::lowlevel::wait_writable(&a).await.unwrap();
/// });
/// ```
pub fn notify_not_writable(fd: impl std::os::fd::AsFd) {
    would_block(fd, Direction::Write);
}

/// Whether `fd` may be readable: `false` only when [`notify_not_readable`] was called for it
/// and the operating system has reported nothing for reading since (and no wait ended
/// without an event) — then a read would fail with `EWOULDBLOCK` for sure, and a caller can
/// skip trying and wait at once. `true` when nothing is known, and outside a run.
///
/// # Cancellation
///
/// Synchronous: not a checkpoint.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// trio::run(async {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     b.set_nonblocking(true).unwrap();
///     assert!(trio::lowlevel::may_be_readable(&b)); // nothing known
///     assert!(b.read(&mut [0; 1]).is_err());
///     trio::lowlevel::notify_not_writable(&b);
///     trio::lowlevel::wait_writable(&b).await.unwrap(); // registers it with the poller
///     assert!(b.read(&mut [0; 1]).is_err());
///     trio::lowlevel::notify_not_readable(&b);
///     assert!(!trio::lowlevel::may_be_readable(&b)); // known: a read would block
///     a.write_all(b"x").unwrap();
///     trio::lowlevel::wait_readable(&b).await.unwrap();
///     assert!(trio::lowlevel::may_be_readable(&b));
/// });
/// ```
pub fn may_be_readable(fd: impl std::os::fd::AsFd) -> bool {
    may_be_ready(fd, Direction::Read)
}

/// Whether `fd` may be writable; see [`may_be_readable`].
///
/// # Cancellation
///
/// Synchronous: not a checkpoint.
///
/// # Examples
///
/// ```
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// assert!(trio::lowlevel::may_be_writable(&a)); // outside a run nothing is known
/// ```
pub fn may_be_writable(fd: impl std::os::fd::AsFd) -> bool {
    may_be_ready(fd, Direction::Write)
}

fn may_be_ready(fd: impl std::os::fd::AsFd, direction: Direction) -> bool {
    use std::os::fd::AsRawFd;
    let fd = fd.as_fd().as_raw_fd();
    let mut ready = true;
    super::runtime::Runtime::with_opt(|rt| {
        if let Some(reactor) = rt.existing_reactor() {
            ready = reactor.may_be_ready(fd, direction);
        }
    });
    ready
}

fn would_block(fd: impl std::os::fd::AsFd, direction: Direction) {
    use std::os::fd::AsRawFd;
    let fd = fd.as_fd().as_raw_fd();
    super::runtime::Runtime::with_opt(|rt| {
        if let Some(reactor) = rt.existing_reactor() {
            reactor.would_block(fd, direction);
        }
    });
}

/// Says what `fd` is, for deadlock, watchdog and task reports: a task waiting on it is shown
/// as "wait_readable on fd 7 (LABEL)". `label` is called only when a report is made. The
/// label is forgotten at [`notify_closing`].
///
/// # Panics
///
/// Outside a run.
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let err = trio::Builder::new()
///     .watchdog(Duration::from_millis(50))
///     .try_run(async {
///         let (a, _b) = UnixStream::pair().unwrap();
///         a.set_nonblocking(true).unwrap();
///         trio::lowlevel::set_fd_label(&a, || "my pipe".to_string());
///         trio::lowlevel::wait_readable(&a).await.ok(); // nobody writes
///     })
///     .unwrap_err();
/// assert!(err.to_string().contains("(my pipe)"), "{err}");
/// ```
#[track_caller]
pub fn set_fd_label(fd: impl std::os::fd::AsFd, label: impl Fn() -> String + 'static) {
    use std::os::fd::AsRawFd;
    let fd = fd.as_fd().as_raw_fd();
    super::runtime::Runtime::with(|rt| {
        // Without a poller no task can wait on `fd`, so there is nothing to describe.
        if let Ok(reactor) = rt.reactor() {
            reactor.set_label(fd, Rc::new(label));
        }
    });
}

/// Withdraws a wait from the reactor when it ends any way but by an event (cancelled,
/// dropped, refused).
struct WaitGuard {
    fd: RawFd,
    direction: Direction,
    unparker: Unparker<IoWake>,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        super::runtime::Runtime::with_opt(|rt| {
            if let Some(reactor) = rt.existing_reactor() {
                reactor.remove_waiter(self.fd, self.direction, &self.unparker);
            }
        });
    }
}

async fn wait_fd(
    fd: RawFd,
    direction: Direction,
    location: &'static std::panic::Location<'static>,
) -> crate::Result<()> {
    use super::runtime::Runtime;
    use super::wait::{What, make_slot};
    let added = Runtime::with_at(location, |rt| -> Result<_, AddError> {
        let reactor = rt.reactor().map_err(AddError::Os)?;
        let (slot, unparker) = make_slot::<IoWake>(What::Io(direction, fd, reactor.label(fd)), true, true);
        let guard = WaitGuard { fd, direction, unparker: unparker.handle() };
        reactor.add_waiter(fd, direction, unparker)?;
        Ok((slot, guard))
    });
    let (slot, guard) = match added {
        Ok(added) => added,
        Err(AddError::Busy) => {
            let what = match direction {
                Direction::Read => "readable",
                Direction::Write => "writable",
            };
            return Err(crate::BusyResource::with_message(format!(
                "another task is already waiting for fd {fd} to become {what}: only one task at a time may wait \
                 on a descriptor in each direction"
            ))
            .into());
        }
        Err(AddError::Os(error)) => return Err(error.into()),
    };
    let outcome = slot.await;
    drop(guard);
    match outcome? {
        IoWake::Ready => Ok(()),
        IoWake::Closed => Err(crate::ClosedResource::with_message(format!(
            "fd {fd} was closed (notify_closing) while this task waited for it to become {}",
            match direction {
                Direction::Read => "readable",
                Direction::Write => "writable",
            }
        ))
        .into()),
    }
}
