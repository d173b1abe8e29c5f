// A task must end in `()` or `trio::Result<()>`; the message says how to convert another error.
#[derive(Debug)]
struct MyError;

async fn worker() -> Result<(), MyError> {
    Err(MyError)
}

fn main() {
    trio::run(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(worker());
            Ok(())
        })
        .await
        .unwrap();
    });
}
