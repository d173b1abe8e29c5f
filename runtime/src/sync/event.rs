//! [`Event`]: a flag set once, which tasks wait for (Trio's `trio.Event`).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;

use crate::error::Cancelled;
use crate::lowlevel::{ParkingLot, WaitDescription, checkpoint, current_task};

/// A flag that starts unset and can be set once; tasks wait for it (Trio's `trio.Event`).
///
/// There is no `clear`: once an event has happened it cannot un-happen. For a series of
/// events, make a new `Event` for each (they are cheap), or use a channel.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// trio::run(async {
///     let ready = Rc::new(trio::Event::new());
///     let setter = ready.clone();
///     trio::open_nursery(|nursery| async move {
///         nursery.start_soon(async move { setter.set() });
///         ready.wait().await?;
///         assert!(ready.is_set());
///         Ok(())
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct Event {
    flag: Cell<bool>,
    /// Invariant: empty once `flag` is set.
    lot: ParkingLot,
}

/// A snapshot of an [`Event`] (Trio's `EventStatistics`).
///
/// # Examples
///
/// ```
/// assert_eq!(trio::Event::new().statistics().tasks_waiting, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EventStatistics {
    /// Tasks blocked in [`Event::wait`].
    pub tasks_waiting: usize,
}

impl Event {
    /// An unset event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trio::Event::new().is_set());
    /// ```
    #[track_caller]
    pub fn new() -> Event {
        Event { flag: Cell::new(false), lot: ParkingLot::owned_by("Event", Location::caller()) }
    }

    /// The same event with a name, for people reading about it: deadlock reports and
    /// [`Task::waiting_on`](crate::lowlevel::Task::waiting_on) read
    /// "Event::wait on the Event \`ready\` created at src/main.rs:4:17", and `Debug` shows it.
    /// Two events made on the same line (in a loop, say) are told apart this way.
    ///
    /// # Examples
    ///
    /// ```
    /// let ready = trio::Event::new().named("ready");
    /// assert_eq!(ready.name(), Some("ready"));
    /// assert!(format!("{ready:?}").contains("ready"));
    ///
    /// let per_worker: Vec<trio::Event> = (0..3).map(|i| trio::Event::new().named(format!("done {i}"))).collect();
    /// assert_eq!(per_worker[2].name(), Some("done 2"));
    /// ```
    pub fn named(mut self, name: impl Into<Rc<str>>) -> Event {
        self.lot.set_name(name.into());
        self
    }

    /// The name given with [`named`](Event::named), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Event::new().name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.lot.name()
    }

    /// `true` once [`set`](Event::set) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = trio::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.flag.get()
    }

    /// Sets the flag and wakes every waiting task, in the order they started waiting.
    /// Setting a set event does nothing.
    ///
    /// # Cancellation
    ///
    /// Synchronous: not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = trio::Event::new();
    /// event.set();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        if !self.flag.replace(true) {
            self.lot.unpark_all();
        }
    }

    /// Waits until the event is set; returns at once (after a checkpoint) if it already is.
    ///
    /// # Errors
    ///
    /// [`Cancelled`] if an enclosing scope is cancelled — also when the event is already set.
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint. Nothing is lost if cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// trio::run(async {
    ///     let event = trio::Event::new();
    ///     event.set();
    ///     event.wait().await.unwrap(); // still a checkpoint
    /// });
    /// ```
    #[track_caller]
    pub fn wait(&self) -> impl Future<Output = Result<(), Cancelled>> {
        let location = Location::caller();
        async move {
            let _site = crate::lowlevel::enter_operation(location);
            if self.flag.get() {
                return checkpoint().await;
            }
            // Only `set` wakes the lot, and the lot is reachable only through `self`.
            let what = WaitDescription::from("Event::wait").woken_only_through(self, "set");
            let slot = self.lot.enqueue(current_task(), what).expect("an Event's lot is never broken");
            match slot.await {
                Ok(_) => Ok(()),
                Err(cancelled) => Err(cancelled),
            }
        }
    }

    /// A snapshot; see [`EventStatistics`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Event::new().statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> EventStatistics {
        EventStatistics { tasks_waiting: self.lot.len() }
    }
}

impl Default for Event {
    #[track_caller]
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Event");
        if let Some(name) = self.name() {
            s.field("name", &name);
        }
        s.field("set", &self.flag.get()).field("lot", &self.lot).finish()
    }
}
