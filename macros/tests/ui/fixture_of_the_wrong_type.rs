use trio_testkit::{trio_fixture, trio_test};

#[trio_fixture]
async fn port() -> u16 {
    8080
}

#[trio_test]
async fn wrong_type(port: String) {
    let _ = port;
}

fn main() {}
