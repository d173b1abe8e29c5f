use trio::Nursery;
use trio_testkit::trio_test;

#[trio_test]
async fn fixture_pattern((nursery, _other): (Nursery, u32)) {
    let _ = nursery;
}

fn main() {}
