use trio_testkit::trio_fixture;

#[trio_fixture]
fn port() -> u16 {
    8080
}

fn main() {}
