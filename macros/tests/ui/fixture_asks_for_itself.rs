use trio_testkit::trio_fixture;

#[trio_fixture]
async fn server(server: u32) -> u32 {
    server
}

fn main() {}
