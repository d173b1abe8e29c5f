use trio_testkit::{MockClock, trio_test};

#[trio_test]
async fn two_clocks(mock_clock: MockClock, autojump_clock: MockClock) {
    let _ = (mock_clock, autojump_clock);
}

fn main() {}
