async fn race() -> u32 {
    trio::select! {
        else => 0,
    }
}

fn main() {}
