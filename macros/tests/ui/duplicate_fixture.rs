use trio::Nursery;
use trio_testkit::trio_test;

#[trio_test]
async fn duplicate_fixture(nursery: Nursery, _nursery: Nursery) {
    let _ = nursery;
}

fn main() {}
