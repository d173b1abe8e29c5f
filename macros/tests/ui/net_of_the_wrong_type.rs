use trio_testkit::trio_test;

#[trio_test]
async fn wrong_network(net: trio::Nursery) {
    let _ = net;
}

fn main() {}
