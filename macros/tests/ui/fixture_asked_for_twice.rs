use trio_testkit::{trio_fixture, trio_test};

#[trio_fixture]
async fn port() -> u16 {
    8080
}

#[trio_fixture]
async fn address(port: u16, _port: u16) -> String {
    format!("localhost:{port}")
}

#[trio_test]
async fn twice(port: u16, #[from(port)] again: u16) {
    let _ = (port, again);
}

fn main() {}
