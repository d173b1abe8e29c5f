//! Virtual instants and the clock abstraction. This is the only module that reads the real
//! time (for [`SystemClock`]); everything else asks the run's clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

// ===== Instant =====

/// A point in the run's time, as its [`Clock`] reports it.
///
/// Unlike `std::time::Instant`, this is a plain number of nanoseconds on the run's clock, so a
/// test can name one: a `MockClock` starts at [`Instant::ZERO`]. Arithmetic saturates instead of
/// panicking: `Instant - Instant` is zero when the right side is later, and `Instant + Duration`
/// stops at [`Instant::MAX`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::Instant;
///
/// let t0 = Instant::from_secs(1);
/// let t1 = t0 + Duration::from_millis(1500);
/// assert_eq!(t1 - t0, Duration::from_millis(1500));
/// assert_eq!(t1.as_secs_f64(), 2.5);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The earliest instant. [`current_effective_deadline`](crate::current_effective_deadline)
    /// returns it for code that is already cancelled (Trio's `-inf`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::ZERO.as_nanos(), 0);
    /// assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO); // saturates
    ///
    /// trio::run(async {
    ///     let scope = trio::CancelScope::new();
    ///     scope.cancel();
    ///     scope
    ///         .run(async {
    ///             assert_eq!(trio::current_effective_deadline(), Some(Instant::ZERO));
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// The latest representable instant (about 584 years after `ZERO`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX); // saturates
    /// assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
    /// assert_eq!(Instant::MAX.to_string(), "never");
    /// ```
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// `secs` seconds after [`Instant::ZERO`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::from_secs(2), Instant::from_millis(2_000));
    /// assert_eq!(Instant::from_secs(2).to_string(), "2s");
    /// assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX); // saturates
    /// ```
    pub const fn from_secs(secs: u64) -> Instant {
        Instant { nanos: secs.saturating_mul(1_000_000_000) }
    }

    /// `millis` milliseconds after [`Instant::ZERO`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::from_millis(250).as_nanos(), 250_000_000);
    /// assert_eq!(Instant::from_millis(250).to_string(), "0.25s");
    /// ```
    pub const fn from_millis(millis: u64) -> Instant {
        Instant { nanos: millis.saturating_mul(1_000_000) }
    }

    /// `nanos` nanoseconds after [`Instant::ZERO`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::from_nanos(1_500_000_000), Instant::from_millis(1_500));
    /// assert_eq!(Instant::from_nanos(7).as_nanos(), 7);
    /// ```
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    /// Fractional seconds after [`Instant::ZERO`]; negative or NaN inputs give `ZERO`, huge
    /// ones `MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::from_secs_f64(1.5), Instant::from_millis(1_500));
    /// assert_eq!(Instant::from_secs_f64(-3.0), Instant::ZERO);
    /// assert_eq!(Instant::from_secs_f64(f64::NAN), Instant::ZERO);
    /// assert_eq!(Instant::from_secs_f64(1e30), Instant::MAX);
    /// ```
    pub fn from_secs_f64(secs: f64) -> Instant {
        Instant { nanos: (secs * 1e9) as u64 }
    }

    /// Nanoseconds since [`Instant::ZERO`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// let t = Instant::from_secs(1) + Duration::from_nanos(5);
    /// assert_eq!(t.as_nanos(), 1_000_000_005);
    /// ```
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Seconds since [`Instant::ZERO`], as a float (Trio's representation).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::from_millis(2_500).as_secs_f64(), 2.5);
    /// assert_eq!(Instant::ZERO.as_secs_f64(), 0.0);
    /// ```
    pub fn as_secs_f64(self) -> f64 {
        self.nanos as f64 / 1e9
    }

    /// The time since [`Instant::ZERO`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::from_millis(1_500).since_zero(), Duration::from_millis(1_500));
    /// assert_eq!(Instant::ZERO + Instant::from_secs(3).since_zero(), Instant::from_secs(3));
    /// ```
    pub const fn since_zero(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// `self + d`, or `None` if that is past [`Instant::MAX`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// let t = Instant::from_secs(1);
    /// assert_eq!(t.checked_add(Duration::from_secs(2)), Some(Instant::from_secs(3)));
    /// assert_eq!(t.checked_add(Duration::MAX), None);
    /// ```
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_add(d).map(|nanos| Instant { nanos })
    }

    /// `self - d`, or `None` if that is before [`Instant::ZERO`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// let t = Instant::from_secs(3);
    /// assert_eq!(t.checked_sub(Duration::from_secs(1)), Some(Instant::from_secs(2)));
    /// assert_eq!(t.checked_sub(Duration::from_secs(4)), None);
    /// assert_eq!(t - Duration::from_secs(4), Instant::ZERO); // the operator saturates instead
    /// ```
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_sub(d).map(|nanos| Instant { nanos })
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// let (early, late) = (Instant::from_secs(1), Instant::from_secs(4));
    /// assert_eq!(late.saturating_duration_since(early), Duration::from_secs(3));
    /// assert_eq!(early.saturating_duration_since(late), Duration::ZERO);
    /// ```
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later (as
    /// `std::time::Instant::duration_since` does since Rust 1.60).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::from_secs(4).duration_since(Instant::from_secs(1)), Duration::from_secs(3));
    /// assert_eq!(Instant::from_secs(1).duration_since(Instant::from_secs(4)), Duration::ZERO);
    /// ```
    pub fn duration_since(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// The time from `earlier` to `self`, or `None` if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// assert_eq!(Instant::from_secs(4).checked_duration_since(Instant::from_secs(1)), Some(Duration::from_secs(3)));
    /// assert_eq!(Instant::from_secs(1).checked_duration_since(Instant::from_secs(4)), None);
    /// ```
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.nanos.checked_sub(earlier.nanos).map(Duration::from_nanos)
    }

    /// The time on the run's clock since `self` (zero if `self` is in the future): tokio's and
    /// std's `elapsed`, read from [`current_time`](crate::current_time).
    ///
    /// # Panics
    ///
    /// Outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trio::run(async {
    ///     let start = trio::current_time();
    ///     trio::sleep(Duration::from_millis(5)).await.unwrap();
    ///     assert!(start.elapsed() >= Duration::from_millis(5));
    /// });
    /// ```
    #[track_caller]
    pub fn elapsed(self) -> Duration {
        crate::current_time().duration_since(self)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant::MAX)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d).unwrap_or(Instant::ZERO)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    /// `Instant(6s)`; inside a run whose clock did not start at zero (the [`SystemClock`] starts
    /// at a large offset, as Trio's does), also the time since the run started:
    /// `Instant(104521.25s, run start + 1.5s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match super::runtime::Runtime::start_time_if_inside() {
            Some(start) if start != Instant::ZERO && *self != Instant::MAX => {
                if *self >= start {
                    write!(f, "Instant({self}, run start + {})", Instant::ZERO + (*self - start))
                } else {
                    write!(f, "Instant({self}, run start - {})", Instant::ZERO + (start - *self))
                }
            }
            _ => write!(f, "Instant({self})"),
        }
    }
}

impl fmt::Display for Instant {
    /// Seconds with up to nine decimals, trailing zeros dropped: `6s`, `0.25s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Instant::MAX {
            return f.write_str("never");
        }
        let secs = self.nanos / 1_000_000_000;
        let frac = self.nanos % 1_000_000_000;
        if frac == 0 {
            write!(f, "{secs}s")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{secs}.{}s", digits.trim_end_matches('0'))
        }
    }
}

// ===== Clock =====

/// Where a run gets its time from (Trio's `trio.abc.Clock`).
///
/// The runtime calls these from its own thread only. A clock may also drive *autojump*: when
/// every task is blocked on the runtime's own primitives for [`autojump_threshold`] of real time,
/// the runtime calls [`autojump`] with the next deadline. `trio_testkit::MockClock` is the clock
/// that does this; [`SystemClock`] never jumps.
///
/// [`autojump_threshold`]: Clock::autojump_threshold
/// [`autojump`]: Clock::autojump
///
/// # Examples
///
/// A clock that stands still and only moves by autojump — the core of a mock clock:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use trio::Instant;
/// use trio::abc::Clock;
///
/// #[derive(Clone, Default)]
/// struct JumpClock(Rc<Cell<Instant>>);
///
/// impl Clock for JumpClock {
///     fn current_time(&self) -> Instant {
///         self.0.get()
///     }
///     fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
///         // Frozen: a future deadline never arrives by itself.
///         (deadline <= self.0.get()).then_some(Duration::ZERO)
///     }
///     fn autojump_threshold(&self) -> Option<Duration> {
///         Some(Duration::ZERO) // jump as soon as every task is blocked
///     }
///     fn autojump(&self, deadline: Instant) {
///         self.0.set(deadline);
///     }
/// }
///
/// let clock = JumpClock::default();
/// trio::Builder::new().clock(clock.clone()).run(async {
///     trio::sleep(Duration::from_secs(3600)).await.unwrap(); // takes no real time
///     assert_eq!(trio::current_time(), Instant::from_secs(3600));
/// });
/// assert_eq!(clock.current_time(), Instant::from_secs(3600));
/// ```
pub trait Clock {
    /// Called once when the run starts, before anything reads the time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// use trio::abc::Clock;
    ///
    /// // The system clock starts counting from its offset when the run starts it.
    /// let clock = trio::SystemClock::with_offset(Duration::from_secs(50));
    /// clock.start_clock();
    /// let now = clock.current_time();
    /// assert!(now >= Instant::from_secs(50) && now < Instant::from_secs(51));
    /// ```
    fn start_clock(&self) {}

    /// The current time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// use trio::abc::Clock;
    ///
    /// /// A clock stopped at 7 s.
    /// struct Stopped;
    ///
    /// impl Clock for Stopped {
    ///     fn current_time(&self) -> Instant {
    ///         Instant::from_secs(7)
    ///     }
    ///     fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
    ///         (deadline <= Instant::from_secs(7)).then_some(Duration::ZERO)
    ///     }
    /// }
    ///
    /// trio::Builder::new().clock(Stopped).run(async {
    ///     assert_eq!(trio::current_time(), Instant::from_secs(7)); // what the clock says
    /// });
    /// ```
    fn current_time(&self) -> Instant;

    /// How much *real* time to wait for `deadline` to arrive, or `None` if it never arrives
    /// by itself (a frozen mock clock). Zero if it has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::abc::Clock;
    ///
    /// let clock = trio::SystemClock::new(0);
    /// clock.start_clock();
    /// let now = clock.current_time();
    /// let wait = clock.deadline_to_sleep_time(now + Duration::from_secs(10)).unwrap();
    /// assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9));
    /// assert_eq!(clock.deadline_to_sleep_time(now - Duration::from_secs(1)), Some(Duration::ZERO));
    /// ```
    fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration>;

    /// Real idle time after which the runtime should call [`Clock::autojump`], or `None` (the
    /// default) to never jump.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::Clock;
    ///
    /// assert_eq!(trio::SystemClock::new(0).autojump_threshold(), None); // real time never jumps
    /// ```
    fn autojump_threshold(&self) -> Option<Duration> {
        None
    }

    /// Move the clock to `deadline`, the earliest pending deadline. Only called when
    /// [`Clock::autojump_threshold`] is `Some` and the run has been idle that long.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::{Cell, RefCell};
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use trio::Instant;
    /// use trio::abc::Clock;
    ///
    /// /// A frozen clock that records every jump.
    /// #[derive(Clone, Default)]
    /// struct Jumps {
    ///     now: Rc<Cell<Instant>>,
    ///     jumps: Rc<RefCell<Vec<Instant>>>,
    /// }
    ///
    /// impl Clock for Jumps {
    ///     fn current_time(&self) -> Instant {
    ///         self.now.get()
    ///     }
    ///     fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
    ///         (deadline <= self.now.get()).then_some(Duration::ZERO)
    ///     }
    ///     fn autojump_threshold(&self) -> Option<Duration> {
    ///         Some(Duration::ZERO)
    ///     }
    ///     fn autojump(&self, deadline: Instant) {
    ///         self.jumps.borrow_mut().push(deadline);
    ///         self.now.set(deadline);
    ///     }
    /// }
    ///
    /// let clock = Jumps::default();
    /// trio::Builder::new().clock(clock.clone()).run(async {
    ///     trio::sleep(Duration::from_secs(5)).await.unwrap();
    ///     trio::sleep(Duration::from_secs(5)).await.unwrap();
    /// });
    /// assert_eq!(*clock.jumps.borrow(), [Instant::from_secs(5), Instant::from_secs(10)]);
    /// ```
    fn autojump(&self, deadline: Instant) {
        let _ = deadline;
    }
}

/// The default clock: real monotonic time (`std::time::Instant`) plus a fixed offset.
///
/// As in Trio, the clock does not start at zero: it starts somewhere between 10,000 and
/// 200,000 seconds (chosen from the run's seed), so code that assumes time starts at 0 breaks
/// early instead of in production.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::Instant;
///
/// trio::Builder::new().clock(trio::SystemClock::new(3)).run(async {
///     let now = trio::current_time();
///     assert!(now >= Instant::from_secs(10_000) && now < Instant::from_secs(200_001));
/// });
/// ```
#[derive(Debug, Clone)]
pub struct SystemClock {
    start: std::cell::Cell<Option<std::time::Instant>>,
    offset: Duration,
}

impl SystemClock {
    /// A clock starting at a random offset derived from `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    /// use trio::abc::Clock;
    ///
    /// // The offset depends only on the seed.
    /// let (a, b) = (trio::SystemClock::new(42), trio::SystemClock::new(42));
    /// a.start_clock();
    /// b.start_clock();
    /// let gap = b.current_time() - a.current_time();
    /// assert!(gap < std::time::Duration::from_secs(1));
    /// assert!(a.current_time() >= Instant::from_secs(10_000));
    /// ```
    pub fn new(seed: u64) -> SystemClock {
        let offset_secs = 10_000 + splitmix64(seed) % 190_000;
        SystemClock::with_offset(Duration::from_secs(offset_secs))
    }

    /// A clock that reads `offset` when the run starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    ///
    /// let clock = trio::SystemClock::with_offset(Duration::from_secs(100));
    /// trio::Builder::new().clock(clock).run(async {
    ///     let now = trio::current_time();
    ///     assert!(now >= Instant::from_secs(100) && now < Instant::from_secs(160));
    /// });
    /// ```
    pub fn with_offset(offset: Duration) -> SystemClock {
        SystemClock { start: std::cell::Cell::new(None), offset }
    }

    fn origin(&self) -> std::time::Instant {
        match self.start.get() {
            Some(start) => start,
            None => {
                let now = std::time::Instant::now();
                self.start.set(Some(now));
                now
            }
        }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new(0)
    }
}

impl Clock for SystemClock {
    fn start_clock(&self) {
        self.start.set(Some(std::time::Instant::now()));
    }

    fn current_time(&self) -> Instant {
        Instant::ZERO + self.offset + self.origin().elapsed()
    }

    fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
        Some(deadline - self.current_time())
    }
}

pub(crate) fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Real time, for the run loop's own waiting only (idle cushions, the watchdog, parking the
/// thread). Tasks never see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RealInstant(std::time::Instant);

impl RealInstant {
    pub(crate) fn now() -> RealInstant {
        RealInstant(std::time::Instant::now())
    }

    pub(crate) fn elapsed(self) -> Duration {
        self.0.elapsed()
    }
}
