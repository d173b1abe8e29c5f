use trio_testkit::trio_fixture;

#[trio_fixture]
async fn port() -> u16 {
    8080
}

#[trio_fixture]
async fn address(port: String) -> String {
    port
}

fn main() {}
