//! The private core: run loop, tasks, cancel status, nurseries, traps, clock. Everything above
//! it (time, channels, sync, `cancellable`) uses only what `lowlevel` makes public.

pub(crate) mod cancel;
pub(crate) mod clock;
pub(crate) mod entry;
pub(crate) mod instrument;
#[cfg(unix)]
pub(crate) mod io;
pub(crate) mod local;
pub(crate) mod nursery;
pub(crate) mod policy;
pub(crate) mod runtime;
pub(crate) mod task;
pub(crate) mod timers;
pub(crate) mod wait;
