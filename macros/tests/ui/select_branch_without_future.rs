async fn race(a: std::future::Ready<u32>) -> u32 {
    trio::select! {
        v => v,
        w = a => w,
    }
}

fn main() {}
