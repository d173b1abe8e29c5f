//! Every stream type of the testkit passes Trio's conformance suites, under many schedules —
//! not just the default order.

use trio_testkit::streams::{
    StreamMaker, check_half_closeable_stream, check_one_way_stream, check_two_way_stream, lockstep_stream_one_way_pair,
    lockstep_stream_pair, memory_stream_one_way_pair, memory_stream_pair,
};
use trio_testkit::trio_test;

/// The duplex check's size under exploration: each schedule moves this much each way.
const EXPLORED_DUPLEX: usize = 1 << 15;

#[trio_test(schedules = 100)]
async fn memory_one_way_pairs_conform() {
    let maker = StreamMaker::new(|| async { Ok(memory_stream_one_way_pair()) });
    check_one_way_stream(&maker, None).await.unwrap();
}

#[trio_test(schedules = 100)]
async fn memory_pairs_conform_as_half_closeable_streams() {
    let maker = StreamMaker::new(|| async { Ok(memory_stream_pair()) }).duplex_test_size(EXPLORED_DUPLEX);
    check_half_closeable_stream(&maker, None).await.unwrap();
}

#[trio_test(schedules = 100)]
async fn lockstep_one_way_pairs_conform_also_when_clogged() {
    let maker = StreamMaker::new(|| async { Ok(lockstep_stream_one_way_pair()) });
    check_one_way_stream(&maker, Some(&maker)).await.unwrap();
}

#[trio_test(schedules = 100)]
async fn lockstep_pairs_conform_also_when_clogged() {
    let maker = StreamMaker::new(|| async { Ok(lockstep_stream_pair()) }).duplex_test_size(EXPLORED_DUPLEX);
    check_two_way_stream(&maker, Some(&maker)).await.unwrap();
}

/// Trio's full-size duplex check (one MiB each way), once.
#[trio_test]
async fn memory_pairs_pass_the_full_size_duplex_check() {
    let maker = StreamMaker::new(|| async { Ok(memory_stream_pair()) });
    check_two_way_stream(&maker, None).await.unwrap();
}
