async fn race(a: std::future::Ready<u32>, b: std::future::Ready<u32>) -> u32 {
    trio::select! {
        v = a => v,
        else => 0,
        v = b => v,
    }
}

fn main() {}
