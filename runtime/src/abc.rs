//! The traits through which a run can be customised (Trio's `trio.abc`).

pub use crate::core::clock::Clock;
pub use crate::core::instrument::Instrument;
pub use crate::core::policy::SchedulePolicy;
pub use crate::io::{AsyncResource, HalfCloseableStream, Listener, ReceiveStream, SendStream, Stream};
