use trio_testkit::trio_test;

#[trio_test(seed = 1, seed = 2, speed = 3)]
fn several_mistakes(clock: u32) {
    let _ = clock;
}

fn main() {}
