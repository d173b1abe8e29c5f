//! `MockClock`: virtual time that only moves when a test says so, or when the run is idle.
//!
//! This is the only module of the testkit that reads the real time, and it only does so while
//! the clock's [`rate`](MockClock::rate) is above zero (or when the rate changes). A clock at
//! rate zero — the default, and what the `autojump_clock` fixture uses — never looks at the wall
//! clock, so a run under it is the same on every machine.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use trio::Instant;
use trio::abc::Clock;

/// A clock for tests (Trio's `trio.testing.MockClock`): it starts at [`Instant::ZERO`] and moves
/// only when told to.
///
/// Time moves in three ways:
///
/// - [`jump`](MockClock::jump) moves it forward by hand;
/// - a [`rate`](MockClock::rate) above zero makes it follow real time, `rate` virtual seconds per
///   real second (the default rate is 0: frozen);
/// - an [`autojump_threshold`](MockClock::autojump_threshold) makes the run jump it straight to
///   the next deadline once every task has been blocked that long in real time. With a threshold
///   of zero (the `autojump_clock` fixture, or [`MockClock::autojump`]), a test that sleeps for an
///   hour finishes in microseconds.
///
/// `MockClock` is a cheap handle (`Clone` shares the clock): give one to
/// [`Builder::clock`](trio::Builder::clock) and keep another to read or steer the clock while
/// the run goes on.
///
/// # When autojump jumps
///
/// The run loop (not the clock) decides; it jumps the clock when **all** of these hold:
///
/// 1. [`autojump_threshold`](MockClock::autojump_threshold) is `Some(t)`;
/// 2. no task is runnable, and a deadline is pending: a sleep, or a cancel scope with a deadline;
/// 3. nothing outside the runtime is pending: no [`trio::cancellable`] future, no wait marked
///    [`external`](trio::lowlevel::ParkSlot::external), no task blocked on a foreign future whose
///    waker is held elsewhere, and no wake-up arriving from another thread. (Trio jumps in this
///    situation — its issue #456 — which makes tests that wait on threads or sockets time out
///    for no reason. Here the clock waits for the outside world instead.)
/// 4. no task waits in [`wait_all_tasks_blocked`](crate::wait_all_tasks_blocked), whatever its
///    cushion: such a waiter is woken without the clock jumping, as in Trio (on a running clock,
///    the deadline may arrive first by itself);
/// 5. `t` is shorter than the real time until the deadline (always true at rate zero, where the
///    deadline never arrives by itself), and the run has stayed in this state for `t` of real
///    time (with `t` zero, at once).
///
/// It then jumps the clock *exactly* to the earliest pending deadline — never past it — and
/// every timer due at that instant fires. The threshold is read again on every turn of the loop,
/// so changing it during a run takes effect at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::Instant;
/// use trio_testkit::MockClock;
///
/// let clock = MockClock::autojump();
/// let handle = clock.clone();
/// trio::Builder::new().clock(clock).run(async move {
///     trio::sleep(Duration::from_secs(3600)).await.unwrap(); // no real waiting
///     assert_eq!(trio::current_time(), Instant::from_secs(3600));
///     handle.jump(Duration::from_secs(1));
///     assert_eq!(trio::current_time(), Instant::from_secs(3601));
/// });
/// ```
#[derive(Clone)]
pub struct MockClock {
    inner: Rc<Inner>,
}

struct Inner {
    /// The virtual time when the real clock read `real_base`.
    virtual_base: Cell<Instant>,
    /// Real time (on `real`) when `virtual_base` was taken. Only meaningful while `rate > 0`.
    real_base: Cell<Duration>,
    /// Virtual seconds per real second. Invariant: finite and `>= 0`.
    rate: Cell<f64>,
    /// Real idle time before the run jumps the clock; `None` never jumps.
    autojump_threshold: Cell<Option<Duration>>,
    real: RealTime,
}

/// Where real time comes from: the monotonic clock, or a function a test controls.
enum RealTime {
    System(std::time::Instant),
    Custom(Box<dyn Fn() -> Duration>),
}

impl RealTime {
    fn now(&self) -> Duration {
        match self {
            RealTime::System(origin) => origin.elapsed(),
            RealTime::Custom(read) => read(),
        }
    }
}

impl MockClock {
    /// A frozen clock at [`Instant::ZERO`]: rate 0, no autojump (the `mock_clock` fixture).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    /// use trio_testkit::MockClock;
    ///
    /// let clock = MockClock::new();
    /// assert_eq!(clock.current_time(), Instant::ZERO);
    /// assert_eq!(clock.rate(), 0.0);
    /// assert_eq!(clock.autojump_threshold(), None);
    /// ```
    pub fn new() -> MockClock {
        MockClock::with_real_time(RealTime::System(std::time::Instant::now()))
    }

    /// A frozen clock that jumps to the next deadline as soon as every task is blocked:
    /// autojump threshold zero (the `autojump_clock` fixture).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_testkit::MockClock;
    ///
    /// let clock = MockClock::autojump();
    /// assert_eq!(clock.autojump_threshold(), Some(Duration::ZERO));
    /// ```
    pub fn autojump() -> MockClock {
        let clock = MockClock::new();
        clock.set_autojump_threshold(Duration::ZERO);
        clock
    }

    /// A clock that reads real time from `real` instead of the system's monotonic clock.
    ///
    /// `real` returns the real time elapsed since any fixed origin, and must never go backwards.
    /// Only a clock with a [`rate`](MockClock::rate) above zero reads it. This is how to test
    /// code that depends on the rate without waiting for real time to pass.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use trio::Instant;
    /// use trio_testkit::MockClock;
    ///
    /// let real = Rc::new(Cell::new(Duration::ZERO));
    /// let clock = MockClock::with_real_clock({
    ///     let real = real.clone();
    ///     move || real.get()
    /// });
    /// clock.set_rate(2.0);
    /// real.set(Duration::from_secs(1)); // one real second passes…
    /// assert_eq!(clock.current_time(), Instant::from_secs(2)); // …two virtual ones
    /// ```
    pub fn with_real_clock(real: impl Fn() -> Duration + 'static) -> MockClock {
        MockClock::with_real_time(RealTime::Custom(Box::new(real)))
    }

    fn with_real_time(real: RealTime) -> MockClock {
        MockClock {
            inner: Rc::new(Inner {
                virtual_base: Cell::new(Instant::ZERO),
                real_base: Cell::new(Duration::ZERO),
                rate: Cell::new(0.0),
                autojump_threshold: Cell::new(None),
                real,
            }),
        }
    }

    /// The clock's current time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// use trio_testkit::MockClock;
    ///
    /// let clock = MockClock::new();
    /// clock.jump(Duration::from_millis(1200));
    /// assert_eq!(clock.current_time(), Instant::from_millis(1200));
    /// ```
    pub fn current_time(&self) -> Instant {
        let inner = &*self.inner;
        let rate = inner.rate.get();
        if rate == 0.0 {
            return inner.virtual_base.get();
        }
        let real_elapsed = inner.real.now().saturating_sub(inner.real_base.get());
        inner.virtual_base.get() + scale(real_elapsed, rate)
    }

    /// Moves the clock forward by `duration` (Trio's `jump`; a `Duration` cannot be negative,
    /// so time cannot go backwards). Tasks whose deadline has now passed wake at the next
    /// scheduling step.
    ///
    /// # Panics
    ///
    /// If the jump would reach [`Instant::MAX`] (about 584 years of virtual time), which
    /// means "never": rather than saturate there silently, so that no later sleep could end.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// use trio_testkit::MockClock;
    ///
    /// let clock = MockClock::new();
    /// let handle = clock.clone();
    /// trio::Builder::new().clock(clock).run(async move {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async {
    ///             trio::sleep(Duration::from_secs(10)).await?; // the clock is frozen…
    ///             assert_eq!(trio::current_time(), Instant::from_secs(10));
    ///             Ok(())
    ///         });
    ///         trio_testkit::wait_all_tasks_blocked().await?; // …so the child waits
    ///         handle.jump(Duration::from_secs(10)); // until the test moves time
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn jump(&self, duration: Duration) {
        let base = &self.inner.virtual_base;
        match base.get().checked_add(duration) {
            Some(to) if to < Instant::MAX => base.set(to),
            _ => panic!(
                "MockClock::jump({duration:?}) from {} would move the clock past the range of trio::Instant \
                 (about 584 years), where time means \"never\" and no sleep would end; jump by less",
                base.get()
            ),
        }
    }

    /// Virtual seconds that pass per real second (0 by default: the clock is frozen).
    ///
    /// # Examples
    ///
    /// ```
    /// let clock = trio_testkit::MockClock::new();
    /// assert_eq!(clock.rate(), 0.0);
    /// ```
    pub fn rate(&self) -> f64 {
        self.inner.rate.get()
    }

    /// Sets the [`rate`](MockClock::rate). The clock keeps its current reading; from now on it
    /// advances `rate` virtual seconds per real second.
    ///
    /// # Panics
    ///
    /// If `rate` is negative, infinite or NaN (time cannot go backwards).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_testkit::MockClock;
    ///
    /// let clock = MockClock::new();
    /// clock.set_rate(1000.0); // a real millisecond is a virtual second
    /// trio::Builder::new().clock(clock).run(async {
    ///     trio::sleep(Duration::from_secs(2)).await.unwrap(); // about 2 ms of real time
    /// });
    /// ```
    #[track_caller]
    pub fn set_rate(&self, rate: f64) {
        assert!(
            rate >= 0.0 && rate.is_finite(),
            "MockClock rate must be >= 0 and finite (virtual seconds per real second), got {rate}"
        );
        let inner = &*self.inner;
        let now = self.current_time();
        inner.virtual_base.set(now);
        inner.real_base.set(if rate == 0.0 { Duration::ZERO } else { inner.real.now() });
        inner.rate.set(rate);
    }

    /// How long, in real time, every task must have been blocked before the run jumps the
    /// clock to the next deadline; `None` (the default) never jumps. See
    /// [When autojump jumps](MockClock#when-autojump-jumps).
    ///
    /// # Examples
    ///
    /// ```
    /// let clock = trio_testkit::MockClock::new();
    /// assert_eq!(clock.autojump_threshold(), None);
    /// ```
    pub fn autojump_threshold(&self) -> Option<Duration> {
        self.inner.autojump_threshold.get()
    }

    /// Sets the [`autojump_threshold`](MockClock::autojump_threshold): a `Duration`, or `None`
    /// to stop jumping. Takes effect at once, also in the middle of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// use trio_testkit::MockClock;
    ///
    /// let clock = MockClock::new();
    /// let handle = clock.clone();
    /// trio::Builder::new().clock(clock).run(async move {
    ///     handle.set_autojump_threshold(Duration::ZERO);
    ///     trio::sleep(Duration::from_secs(100_000)).await.unwrap();
    ///     assert_eq!(trio::current_time(), Instant::from_secs(100_000));
    ///     handle.set_autojump_threshold(None);
    /// });
    /// ```
    pub fn set_autojump_threshold(&self, threshold: impl Into<Option<Duration>>) {
        self.inner.autojump_threshold.set(threshold.into());
    }
}

impl Default for MockClock {
    fn default() -> MockClock {
        MockClock::new()
    }
}

impl fmt::Debug for MockClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockClock")
            .field("time", &self.current_time())
            .field("rate", &self.rate())
            .field("autojump_threshold", &self.autojump_threshold())
            .finish()
    }
}

impl Clock for MockClock {
    fn current_time(&self) -> Instant {
        MockClock::current_time(self)
    }

    /// Zero if `deadline` has passed; the virtual wait divided by the rate if the clock runs;
    /// `None` if it is frozen (the deadline only arrives by a jump).
    fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
        let now = MockClock::current_time(self);
        if deadline <= now {
            return Some(Duration::ZERO);
        }
        let rate = self.rate();
        if rate == 0.0 {
            return None;
        }
        // Round up, so the run never wakes before the deadline it waits for.
        let nanos = ((deadline - now).as_nanos() as f64 / rate).ceil();
        Some(Duration::from_nanos(nanos.min(u64::MAX as f64) as u64))
    }

    fn autojump_threshold(&self) -> Option<Duration> {
        MockClock::autojump_threshold(self)
    }

    fn autojump(&self, deadline: Instant) {
        let now = MockClock::current_time(self);
        if deadline > now {
            self.jump(deadline - now);
        }
    }
}

/// `real × rate`, rounded to the nanosecond; saturates instead of overflowing.
fn scale(real: Duration, rate: f64) -> Duration {
    let nanos = (real.as_nanos() as f64 * rate).round();
    Duration::from_nanos(nanos.min(u64::MAX as f64) as u64)
}
