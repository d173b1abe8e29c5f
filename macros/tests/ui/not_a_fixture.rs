use trio_testkit::trio_test;

/// A plain function, not a #[trio_fixture].
fn port() -> u16 {
    8080
}

#[trio_test]
async fn uses_a_plain_function(port: u16) {
    let _ = port;
}

fn main() {}
