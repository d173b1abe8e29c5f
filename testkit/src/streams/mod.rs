//! Streams for tests and the conformance suites every stream must pass (Trio's
//! `trio.testing` stream tools).
//!
//! - [`memory_stream_one_way_pair`] / [`memory_stream_pair`]: connected in-memory streams with
//!   unbounded buffers, built from [`MemorySendStream`] and [`MemoryReceiveStream`], whose
//!   hooks and [`memory_stream_pump`] let a test stall, trickle or corrupt the data flow.
//! - [`lockstep_stream_one_way_pair`] / [`lockstep_stream_pair`]: no buffer at all; `send_all`
//!   waits until the data was received. The extreme case of flow control.
//! - [`check_one_way_stream`], [`check_two_way_stream`], [`check_half_closeable_stream`]: Trio's
//!   generic suites, ported check by check. Point them at your own stream type — through a
//!   [`StreamMaker`] — and run them under exploration.
//!
//! # Examples
//!
//! ```
//! use trio_testkit::streams::{StreamMaker, check_half_closeable_stream, memory_stream_pair};
//! use trio_testkit::trio_test;
//!
//! #[trio_test(schedules = 10)]
//! async fn memory_streams_follow_trios_rules() {
//!     let maker = StreamMaker::new(|| async { Ok(memory_stream_pair()) }).duplex_test_size(1 << 14);
//!     check_half_closeable_stream(&maker, None).await.unwrap();
//! }
//! # fn main() {}
//! ```

mod check;
mod lockstep;
mod memory;

pub use check::{
    DUPLEX_TEST_SIZE, StreamCheckFailure, StreamMaker, check_half_closeable_stream, check_one_way_stream,
    check_two_way_stream,
};
pub use lockstep::{
    LockstepReceiveStream, LockstepSendStream, LockstepStream, lockstep_stream_one_way_pair, lockstep_stream_pair,
};
pub use memory::{
    MemoryReceiveStream, MemorySendStream, MemoryStream, memory_stream_one_way_pair, memory_stream_pair,
    memory_stream_pump,
};

/// The first `n` bytes of `buffer`, removed from it — copied slice by slice, not byte by byte.
pub(crate) fn take_front(buffer: &mut std::collections::VecDeque<u8>, n: usize) -> Vec<u8> {
    let (a, b) = buffer.as_slices();
    let mut taken = Vec::with_capacity(n);
    let from_a = n.min(a.len());
    taken.extend_from_slice(&a[..from_a]);
    taken.extend_from_slice(&b[..n - from_a]);
    buffer.drain(..n);
    taken
}
