use trio_testkit::fixture::Yield;
use trio_testkit::trio_fixture;

#[trio_fixture]
async fn twice(first: Yield<u32>, second: Yield<u32>) -> trio::Result<()> {
    first.provide(1).await?;
    let _ = second;
    Ok(())
}

fn main() {}
