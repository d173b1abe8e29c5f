//! Run-local storage: [`RunVar`], a value per run (Trio's `trio.lowlevel.RunVar`).
//!
//! The values live in the run (`Runtime::locals`) and are dropped with it, so nothing leaks
//! from one run into the next — two tests on one thread, or the schedules of an exploration,
//! each start with every `RunVar` unset.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::runtime::Runtime;

/// The values of every `RunVar` set in one run, by the variable's id. Lookups only: the order
/// of the map never shows.
#[derive(Default)]
pub(crate) struct RunLocals {
    values: RefCell<BTreeMap<usize, Box<dyn Any>>>,
}

impl RunLocals {
    /// Drops every value: the run is over.
    pub(crate) fn clear(&mut self) {
        // Taken out first: a value's drop may itself reach for a `RunVar`.
        let values = std::mem::take(self.values.get_mut());
        drop(values);
    }
}

/// Ids for `RunVar`s, handed out on first use. Process-wide, but only ever used as lookup keys.
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A variable with one value per run (Trio's `trio.lowlevel.RunVar`): a `static` that a
/// library uses to keep state for the run it is called in — a connection pool, the run's network
/// provider — without passing it around, and without it outliving the run.
///
/// Unlike a thread-local, the value is gone when the run ends: the next run on the same thread
/// (the next test, the next schedule of an exploration) starts with the variable unset.
///
/// # Panics
///
/// Every method panics when called outside a run.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::RunVar;
///
/// static REQUESTS: RunVar<u32> = RunVar::new("requests served");
///
/// fn count_request() -> u32 {
///     let n = REQUESTS.get().unwrap_or(0) + 1;
///     REQUESTS.set(n);
///     n
/// }
///
/// trio::run(async {
///     assert_eq!(count_request(), 1);
///     assert_eq!(count_request(), 2);
/// });
/// trio::run(async {
///     assert_eq!(count_request(), 1); // a new run starts afresh
/// });
/// ```
pub struct RunVar<T> {
    name: &'static str,
    id: OnceLock<usize>,
    _value: PhantomData<fn() -> T>,
}

impl<T: 'static> RunVar<T> {
    /// A variable; `name` appears in its `Debug` output.
    ///
    /// # Examples
    ///
    /// ```
    /// static POOL_SIZE: trio::lowlevel::RunVar<usize> = trio::lowlevel::RunVar::new("pool size");
    /// assert_eq!(POOL_SIZE.name(), "pool size");
    /// ```
    pub const fn new(name: &'static str) -> RunVar<T> {
        RunVar { name, id: OnceLock::new(), _value: PhantomData }
    }

    /// The name given to [`new`](RunVar::new).
    ///
    /// # Examples
    ///
    /// See [`RunVar::new`].
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn id(&self) -> usize {
        *self.id.get_or_init(|| NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// Sets the value for this run; returns the previous one.
    ///
    /// # Panics
    ///
    /// Outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// static MODE: trio::lowlevel::RunVar<&str> = trio::lowlevel::RunVar::new("mode");
    ///
    /// trio::run(async {
    ///     assert_eq!(MODE.set("fast"), None);
    ///     assert_eq!(MODE.set("safe"), Some("fast"));
    /// });
    /// ```
    #[track_caller]
    pub fn set(&self, value: T) -> Option<T> {
        let id = self.id();
        let previous = Runtime::with(|rt| rt.locals.values.borrow_mut().insert(id, Box::new(value)));
        previous.map(|old| *old.downcast::<T>().expect("a RunVar holds values of its own type"))
    }

    /// Removes the value for this run and returns it.
    ///
    /// # Panics
    ///
    /// Outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// static TOKEN: trio::lowlevel::RunVar<String> = trio::lowlevel::RunVar::new("token");
    ///
    /// trio::run(async {
    ///     TOKEN.set("secret".to_string());
    ///     assert_eq!(TOKEN.take().as_deref(), Some("secret"));
    ///     assert_eq!(TOKEN.take(), None);
    /// });
    /// ```
    #[track_caller]
    pub fn take(&self) -> Option<T> {
        let id = self.id();
        let value = Runtime::with(|rt| rt.locals.values.borrow_mut().remove(&id));
        value.map(|value| *value.downcast::<T>().expect("a RunVar holds values of its own type"))
    }

    /// `true` if a value is set in this run.
    ///
    /// # Panics
    ///
    /// Outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// static FLAG: trio::lowlevel::RunVar<()> = trio::lowlevel::RunVar::new("flag");
    ///
    /// trio::run(async {
    ///     assert!(!FLAG.is_set());
    ///     FLAG.set(());
    ///     assert!(FLAG.is_set());
    /// });
    /// ```
    #[track_caller]
    pub fn is_set(&self) -> bool {
        let id = self.id();
        Runtime::with(|rt| rt.locals.values.borrow().contains_key(&id))
    }
}

impl<T: Clone + 'static> RunVar<T> {
    /// A copy of the value for this run, if one is set.
    ///
    /// # Panics
    ///
    /// Outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// static CONFIG: trio::lowlevel::RunVar<Rc<String>> = trio::lowlevel::RunVar::new("config");
    ///
    /// trio::run(async {
    ///     assert_eq!(CONFIG.get(), None);
    ///     CONFIG.set(Rc::new("verbose".to_string()));
    ///     assert_eq!(CONFIG.get().as_deref().map(String::as_str), Some("verbose"));
    /// });
    /// ```
    #[track_caller]
    pub fn get(&self) -> Option<T> {
        let id = self.id();
        Runtime::with(|rt| {
            rt.locals
                .values
                .borrow()
                .get(&id)
                .map(|value| value.downcast_ref::<T>().expect("a RunVar holds values of its own type").clone())
        })
    }

    /// The value for this run, set first with `init` if there is none. `init` may use other
    /// `RunVar`s.
    ///
    /// # Panics
    ///
    /// Outside a run.
    ///
    /// # Examples
    ///
    /// ```
    /// static NEXT_ID: trio::lowlevel::RunVar<std::rc::Rc<std::cell::Cell<u64>>> =
    ///     trio::lowlevel::RunVar::new("next id");
    ///
    /// fn fresh_id() -> u64 {
    ///     let counter = NEXT_ID.get_or_init(Default::default);
    ///     counter.set(counter.get() + 1);
    ///     counter.get()
    /// }
    ///
    /// trio::run(async {
    ///     assert_eq!((fresh_id(), fresh_id()), (1, 2));
    /// });
    /// ```
    #[track_caller]
    pub fn get_or_init(&self, init: impl FnOnce() -> T) -> T {
        if let Some(value) = self.get() {
            return value;
        }
        let value = init();
        self.set(value.clone());
        value
    }
}

impl<T> fmt::Debug for RunVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunVar").field("name", &self.name).finish_non_exhaustive()
    }
}
