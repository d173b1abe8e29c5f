use trio_testkit::{MockClock, trio_test};

#[trio_test(autojump)]
async fn autojump_and_a_clock_fixture(mock_clock: MockClock) {
    let _ = mock_clock;
}

fn main() {}
