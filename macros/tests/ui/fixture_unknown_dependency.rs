use trio_testkit::trio_fixture;

#[trio_fixture]
async fn client(servr: u32) -> u32 {
    servr
}

fn main() {}
