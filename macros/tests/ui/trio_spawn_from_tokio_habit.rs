// `tokio::spawn` habits: `trio::spawn` explains where tasks start instead of suggesting threads.
fn main() {
    trio::run(async {
        trio::spawn(async {});
    });
}
