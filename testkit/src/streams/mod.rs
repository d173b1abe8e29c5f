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

/// A byte buffer kept as the chunks it was written in: appending a `Vec` and taking a whole
/// chunk out copy nothing, so a byte crosses a memory stream or the simulated network with one
/// copy (the one `send_all` makes of its borrowed data).
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    queue: std::collections::VecDeque<Vec<u8>>,
    /// Bytes of the first chunk already taken.
    offset: usize,
    /// Invariant: the bytes not yet taken, `sum(chunk lengths) - offset`.
    len: usize,
}

impl Chunks {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.offset = 0;
        self.len = 0;
    }

    /// Appends `data` (nothing for an empty chunk).
    pub(crate) fn push(&mut self, data: Vec<u8>) {
        if !data.is_empty() {
            self.len += data.len();
            self.queue.push_back(data);
        }
    }

    /// Takes `min(max, len)` bytes — as much as asked for and buffered, across chunks. When
    /// that is exactly the first chunk, it is handed over uncopied.
    pub(crate) fn take(&mut self, max: usize) -> Vec<u8> {
        let want = max.min(self.len);
        if want == 0 {
            return Vec::new();
        }
        self.len -= want;
        if self.offset == 0 && self.queue[0].len() == want {
            return self.queue.pop_front().expect("checked");
        }
        let mut taken = Vec::with_capacity(want);
        while taken.len() < want {
            let front = &self.queue[0];
            let n = (front.len() - self.offset).min(want - taken.len());
            taken.extend_from_slice(&front[self.offset..self.offset + n]);
            self.offset += n;
            if self.offset == front.len() {
                self.queue.pop_front();
                self.offset = 0;
            }
        }
        taken
    }

    /// Takes everything.
    pub(crate) fn take_all(&mut self) -> Vec<u8> {
        self.take(usize::MAX)
    }
}
