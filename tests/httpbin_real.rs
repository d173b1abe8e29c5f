//! The course's HTTP requests on the real network: hyper's client and server on trio's
//! operating-system sockets, the server started in the same process on 127.0.0.1. Bounded by
//! a watchdog; the assertions do not depend on timing.

use std::time::Duration;

use trio_rs_examples::httpbin::{get, use_real_network};

fn run_real<T>(main: impl std::future::Future<Output = trio::Result<T>>) -> trio::Result<T> {
    trio::Builder::new().watchdog(Duration::from_secs(30)).run(async {
        use_real_network();
        main.await
    })
}

#[test]
fn a_real_request_reaches_the_local_httpbin_through_hyper() {
    run_real(async {
        let response = get("https://httpbin.org/delay/0").await?;
        assert_eq!(response.to_string(), "<Response 200 OK>");
        assert_eq!(response.body, "{\"delay\": 0}");
        let missing = get("https://httpbin.org/status/418").await?;
        assert_eq!(missing.status_code, 404);
        Ok(())
    })
    .unwrap();
}

/// A request cut short by a cancel scope comes out as a cancellation — not as whatever error
/// hyper made of the interrupted connection — so the course's `except Cancelled` branch runs.
#[test]
fn a_real_request_cancelled_by_its_scope_is_recognised_as_cancelled() {
    run_real(async {
        let outcome: Option<()> = trio::move_on_after(Duration::from_millis(100), async {
            match get("https://httpbin.org/delay/5").await {
                Ok(_) => panic!("a 5 s request finished within 100 ms"),
                Err(error) => {
                    assert!(error.is_cancelled(), "{error}");
                    Err(error)
                }
            }
        })
        .await?;
        assert!(outcome.is_none());
        Ok(())
    })
    .unwrap();
}

#[test]
fn urls_that_are_not_http_are_refused_with_a_clear_error() {
    run_real(async {
        let error = get("ftp://httpbin.org/delay/1").await.unwrap_err();
        assert!(error.to_string().contains("not an http(s) URL"), "{error}");
        Ok(())
    })
    .unwrap();
}
