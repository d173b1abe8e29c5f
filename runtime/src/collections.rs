//! Hash maps and sets whose iteration order comes from the run's seed, not from the process.
//!
//! `std::collections::HashMap` seeds its hasher from the operating system's randomness, so a
//! program that iterates a map (to pick a peer, to flush buffers, to print a report) runs
//! differently on every execution — a failing schedule that does not replay. The types here
//! hash with keys derived from the run's [seed](crate::lowlevel::current_seed) instead: the same
//! seed gives the same order, on every execution and on every thread, and a different seed
//! (another schedule of an exploration) usually a different one, so exploration also varies the
//! order that code must not rely on.
//!
//! Deriving the keys makes no decision: it does not change the run's decision stream.
//!
//! ```
//! use trio::collections::HashMap;
//!
//! let order = |seed| {
//!     trio::Builder::new().seed(seed).run(async {
//!         let mut ages: HashMap<&str, u32> = HashMap::default();
//!         for (name, age) in [("ann", 31), ("bob", 25), ("cyd", 47), ("dee", 19)] {
//!             ages.insert(name, age);
//!         }
//!         ages.keys().copied().collect::<Vec<_>>()
//!     })
//! };
//! assert_eq!(order(7), order(7)); // the same seed: the same order, every time
//! ```
//!
//! # Limitations
//!
//! - The hashing is std's [`DefaultHasher`]: the order for a seed is the same on every execution
//!   built with the same toolchain, but may change when Rust's standard library changes it.
//! - Made outside a run, a [`SeededState`] uses seed 0.
//! - `HashMap::new()` and `HashSet::new()` exist only for std's own random state: write
//!   `HashMap::default()` (or `with_capacity_and_hasher(n, SeededState::default())`).

use std::hash::{BuildHasher, DefaultHasher, Hasher};

/// A `std::collections::HashMap` hashed with the run's [`SeededState`]. Make one with
/// `HashMap::default()`.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let mut map: trio::collections::HashMap<u32, &str> = Default::default();
///     map.insert(1, "one");
///     assert_eq!(map[&1], "one");
/// });
/// ```
pub type HashMap<K, V> = std::collections::HashMap<K, V, SeededState>;

/// A `std::collections::HashSet` hashed with the run's [`SeededState`]. Make one with
/// `HashSet::default()`.
///
/// # Examples
///
/// ```
/// trio::run(async {
///     let mut set = trio::collections::HashSet::default();
///     set.insert("a");
///     assert!(set.contains("a"));
/// });
/// ```
pub type HashSet<T> = std::collections::HashSet<T, SeededState>;

/// Builds hashers keyed from a seed — by default the current run's — so that maps iterate in
/// an order fixed by the seed. See the [module](crate::collections).
///
/// # Examples
///
/// ```
/// use std::hash::BuildHasher;
/// use trio::collections::SeededState;
///
/// let a = SeededState::with_seed(1);
/// assert_eq!(a.hash_one("x"), SeededState::with_seed(1).hash_one("x"));
/// assert_ne!(a.hash_one("x"), SeededState::with_seed(2).hash_one("x"));
/// // Inside a run, the default is keyed from the run's seed.
/// let inside = trio::Builder::new().seed(1).run(async { SeededState::default() });
/// assert_eq!(inside, a);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeededState {
    /// Written into every hasher before the value: the hashers' key.
    key: u64,
}

impl SeededState {
    /// Hashers keyed from `seed`, whatever run (if any) this is.
    ///
    /// # Examples
    ///
    /// See [`SeededState`].
    pub fn with_seed(seed: u64) -> SeededState {
        SeededState { key: mix(seed) }
    }

    /// Hashers keyed from the current run's seed, or from seed 0 outside a run. The same as
    /// `SeededState::default()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::collections::SeededState;
    ///
    /// let state = trio::Builder::new().seed(9).run(async { SeededState::from_run() });
    /// assert_eq!(state, SeededState::with_seed(9));
    /// assert_eq!(SeededState::from_run(), SeededState::with_seed(0)); // outside a run
    /// ```
    pub fn from_run() -> SeededState {
        let seed = if crate::lowlevel::in_run() { crate::lowlevel::current_seed() } else { 0 };
        SeededState::with_seed(seed)
    }
}

impl Default for SeededState {
    fn default() -> SeededState {
        SeededState::from_run()
    }
}

impl BuildHasher for SeededState {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        // `DefaultHasher::new()` has fixed keys; hashing the key first makes the result depend
        // on the seed.
        let mut hasher = DefaultHasher::new();
        hasher.write_u64(self.key);
        hasher
    }
}

/// SplitMix64's finaliser: neighbouring seeds give unrelated keys.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
