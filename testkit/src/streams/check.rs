//! The generic stream conformance suites (Trio's `trio.testing.check_one_way_stream`,
//! `check_two_way_stream` and `check_half_closeable_stream`), ported check by check.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream, Stream};
use trio::io::{StreamError, StreamResult, aclose_forcefully};
use trio::{CancelScope, open_nursery};

use crate::checkpoints::try_assert_checkpoints;
use crate::idle::wait_all_tasks_blocked;

type MakeFuture<A, B> = Pin<Box<dyn Future<Output = trio::Result<(A, B)>>>>;

/// How many bytes the duplex check of [`check_two_way_stream`] sends each way, by default
/// (Trio's: one MiB).
///
/// # Examples
///
/// ```
/// assert_eq!(trio_testkit::streams::DUPLEX_TEST_SIZE, 1 << 20);
/// ```
pub const DUPLEX_TEST_SIZE: usize = 1 << 20;

/// The largest chunk the duplex check sends or asks for at once (Trio's `CHUNK_SIZE_MAX`).
const CHUNK_SIZE_MAX: usize = 1 << 14;

/// How many `send_all` calls a check makes while it waits for a closed receiver to be
/// noticed, before it calls that a failure.
const SENDS_UNTIL_BROKEN: usize = 100_000;

/// Makes a fresh, connected pair of streams for each check: data sent on the first arrives on
/// the second. Built with [`StreamMaker::new`] from an async closure.
///
/// # Examples
///
/// ```
/// use trio_testkit::streams::{StreamMaker, memory_stream_one_way_pair};
///
/// let maker = StreamMaker::new(|| async { Ok(memory_stream_one_way_pair()) });
/// let small = maker.clone().duplex_test_size(4096); // a cheaper duplex check
/// # let _ = small;
/// ```
pub struct StreamMaker<A, B> {
    make: Rc<dyn Fn() -> MakeFuture<A, B>>,
    duplex_test_size: usize,
}

impl<A: 'static, B: 'static> StreamMaker<A, B> {
    /// A maker that calls `make` for each pair.
    ///
    /// # Examples
    ///
    /// See [`StreamMaker`].
    pub fn new<F, Fut>(make: F) -> StreamMaker<A, B>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = trio::Result<(A, B)>> + 'static,
    {
        StreamMaker { make: Rc::new(move || Box::pin(make())), duplex_test_size: DUPLEX_TEST_SIZE }
    }

    /// How many bytes [`check_two_way_stream`]'s duplex check sends each way (default
    /// [`DUPLEX_TEST_SIZE`]); less makes an exploration over many schedules cheaper.
    ///
    /// # Examples
    ///
    /// See [`StreamMaker`].
    pub fn duplex_test_size(mut self, bytes: usize) -> StreamMaker<A, B> {
        self.duplex_test_size = bytes;
        self
    }

    async fn make(&self) -> trio::Result<(Rc<A>, Rc<B>)> {
        let (a, b) = (self.make)().await?;
        Ok((Rc::new(a), Rc::new(b)))
    }

    fn flipped(&self) -> StreamMaker<B, A> {
        let make = self.make.clone();
        StreamMaker {
            make: Rc::new(move || {
                let pair = make();
                Box::pin(async move {
                    let (a, b) = pair.await?;
                    Ok((b, a))
                })
            }),
            duplex_test_size: self.duplex_test_size,
        }
    }
}

impl<A, B> Clone for StreamMaker<A, B> {
    fn clone(&self) -> Self {
        StreamMaker { make: self.make.clone(), duplex_test_size: self.duplex_test_size }
    }
}

impl<A, B> fmt::Debug for StreamMaker<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamMaker").field("duplex_test_size", &self.duplex_test_size).finish_non_exhaustive()
    }
}

/// A conformance check that a stream failed: which check, and what went wrong.
///
/// # Examples
///
/// ```
/// use trio_testkit::streams::{StreamMaker, check_one_way_stream, memory_stream_one_way_pair};
///
/// trio::run(async {
///     let maker = StreamMaker::new(|| async { Ok(memory_stream_one_way_pair()) });
///     let outcome: Result<(), trio_testkit::streams::StreamCheckFailure> = check_one_way_stream(&maker, None).await;
///     assert!(outcome.is_ok());
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCheckFailure {
    check: &'static str,
    detail: String,
}

impl StreamCheckFailure {
    /// The name of the check that failed, such as `"concurrent receive_some is Busy"`.
    ///
    /// # Examples
    ///
    /// See the crate's stream-check tests; a failure prints as
    /// ``stream check `…` failed: …``.
    pub fn check(&self) -> &'static str {
        self.check
    }

    /// What went wrong.
    ///
    /// # Examples
    ///
    /// See [`StreamCheckFailure::check`].
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for StreamCheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream check `{}` failed: {}", self.check, self.detail)
    }
}

impl StdError for StreamCheckFailure {}

/// A check's complaint, raised inside a check and turned into a [`StreamCheckFailure`] by the
/// section it happened in.
#[derive(Debug)]
struct Complaint(String);

impl fmt::Display for Complaint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Complaint {}

fn complain(detail: impl Into<String>) -> trio::Error {
    trio::Error::new(Complaint(detail.into()))
}

/// The first complaint inside `error` (a nursery's group nests them), or its message.
fn detail_of(error: &trio::Error) -> String {
    fn find(error: &trio::Error) -> Option<String> {
        if let Some(complaint) = error.downcast_ref::<Complaint>() {
            return Some(complaint.0.clone());
        }
        error.as_group()?.entries().iter().find_map(|entry| find(entry.error()))
    }
    find(error).unwrap_or_else(|| format!("unexpected error: {error}"))
}

/// Runs one check; a failure names it.
async fn section(check: &'static str, body: impl Future<Output = trio::Result<()>>) -> Result<(), StreamCheckFailure> {
    body.await.map_err(|error| StreamCheckFailure { check, detail: detail_of(&error) })
}

/// Makes a pair, runs `body` on it, and closes both ends forcefully whatever happened (Trio's
/// `_ForceCloseBoth`).
async fn with_pair<A, B, F, Fut>(maker: &StreamMaker<A, B>, body: F) -> trio::Result<()>
where
    A: AsyncResource + 'static,
    B: AsyncResource + 'static,
    F: FnOnce(Rc<A>, Rc<B>) -> Fut,
    Fut: Future<Output = trio::Result<()>>,
{
    let (a, b) = maker.make().await.map_err(|e| complain(format!("the stream maker failed: {e}")))?;
    let outcome = body(a.clone(), b.clone()).await;
    let closed_a = aclose_forcefully(&*a).await;
    let closed_b = aclose_forcefully(&*b).await;
    outcome?;
    for closed in [closed_a, closed_b] {
        match closed {
            Ok(()) | Err(StreamError::Cancelled) => {}
            Err(error) => return Err(complain(format!("aclose_forcefully failed: {error}"))),
        }
    }
    Ok(())
}

// ===== checked operations =====

/// A failed operation: a cancellation stays one (a check may cancel on purpose); anything else
/// is a complaint.
fn failed(what: &str, error: StreamError) -> trio::Error {
    if error.is_cancelled() { error.into() } else { complain(format!("{what} failed: {error}")) }
}

fn show(data: &[u8]) -> String {
    if data.len() > 16 { format!("{} bytes", data.len()) } else { format!("b{:?}", String::from_utf8_lossy(data)) }
}

/// The operation's result; a normal return without a checkpoint is a complaint.
async fn checkpointed<T>(what: &str, op: impl Future<Output = StreamResult<T>>) -> trio::Result<StreamResult<T>> {
    try_assert_checkpoints(op).await.map_err(|e| complain(format!("{what} returned without a checkpoint: {e}")))
}

async fn do_send_all<S: SendStream + ?Sized>(s: &S, data: &[u8]) -> trio::Result<()> {
    let what = format!("send_all({})", show(data));
    checkpointed(&what, s.send_all(data)).await?.map_err(|e| failed(&what, e))
}

async fn do_receive_some<R: ReceiveStream + ?Sized>(r: &R, max_bytes: usize) -> trio::Result<Vec<u8>> {
    let what = format!("receive_some({max_bytes})");
    checkpointed(&what, r.receive_some(max_bytes)).await?.map_err(|e| failed(&what, e))
}

async fn checked_receive_1<R: ReceiveStream + ?Sized>(r: &R, expected: &[u8]) -> trio::Result<()> {
    let got = do_receive_some(r, 1).await?;
    if got != expected {
        return Err(complain(format!("receive_some(1) returned {}, expected {}", show(&got), show(expected))));
    }
    Ok(())
}

async fn do_aclose<R: AsyncResource + ?Sized>(resource: &R) -> trio::Result<()> {
    checkpointed("aclose()", resource.aclose()).await?.map_err(|e| failed("aclose()", e))
}

/// `outcome` must be the error `want` describes.
fn expect_error<T>(
    what: &str,
    outcome: StreamResult<T>,
    want: fn(&StreamError) -> bool,
    name: &str,
) -> trio::Result<()> {
    match outcome {
        Err(error) if want(&error) => Ok(()),
        Err(error) => Err(complain(format!("{what} failed with `{error}` ({error:?}), expected {name}"))),
        Ok(_) => Err(complain(format!("{what} succeeded, expected {name}"))),
    }
}

/// A nursery's outcome must contain the error `want` describes.
fn expect_in_group(
    what: &str,
    outcome: trio::Result<()>,
    want: fn(&StreamError) -> bool,
    name: &str,
) -> trio::Result<()> {
    fn contains(error: &trio::Error, want: fn(&StreamError) -> bool) -> bool {
        if error.downcast_ref::<StreamError>().is_some_and(want) {
            return true;
        }
        error.as_group().is_some_and(|g| g.entries().iter().any(|e| contains(e.error(), want)))
    }
    match outcome {
        Err(error) if contains(&error, want) => Ok(()),
        Err(error) if error.as_group().is_some_and(|g| g.find::<Complaint>().is_some()) => Err(error),
        Err(error) => Err(complain(format!("{what}: expected {name}, got: {error}"))),
        Ok(()) => Err(complain(format!("{what}: both succeeded, expected {name}"))),
    }
}

/// Runs `first`, then `second` (after every task blocked, if `settle`), in one nursery: one
/// of them must fail with `Busy`. If neither does — both blocked, or both returned — that is a
/// complaint, not a hang.
async fn expect_busy<F1, F2>(what: &'static str, first: F1, second: F2, settle: bool) -> trio::Result<()>
where
    F1: Future<Output = StreamResult<()>> + 'static,
    F2: Future<Output = StreamResult<()>> + 'static,
{
    let outcome = open_nursery(|nursery| async move {
        nursery.start_soon_named(format!("{what}: the first call"), async move { Ok(first.await?) });
        if settle {
            wait_all_tasks_blocked().await?;
        }
        nursery.start_soon_named(format!("{what}: the second call"), async move { Ok(second.await?) });
        wait_all_tasks_blocked().await?;
        Err(complain(format!("{what}: neither call failed with Busy (both blocked, or both returned)")))
    })
    .await;
    expect_in_group(what, outcome, busy, "Busy")
}

fn busy(e: &StreamError) -> bool {
    e.is_busy()
}
fn closed(e: &StreamError) -> bool {
    e.is_closed()
}
fn broken(e: &StreamError) -> bool {
    e.is_broken()
}
fn cancelled(e: &StreamError) -> bool {
    e.is_cancelled()
}
fn invalid(e: &StreamError) -> bool {
    matches!(e, StreamError::InvalidArgument(_))
}

/// Sends until `send_all` reports the closed receiver as `Broken`.
async fn send_until_broken<S: SendStream + ?Sized>(s: &S) -> trio::Result<()> {
    let data = [b'x'; 100];
    for _ in 0..SENDS_UNTIL_BROKEN {
        match checkpointed("send_all(100 bytes)", s.send_all(&data)).await? {
            Ok(()) => {}
            Err(error) if error.is_broken() => return Ok(()),
            Err(error) => {
                return Err(complain(format!(
                    "send_all after the receiver was closed failed with `{error}`, expected Broken"
                )));
            }
        }
    }
    Err(complain(format!("send_all kept succeeding {SENDS_UNTIL_BROKEN} times after the receiver was closed")))
}

// ===== check_one_way_stream =====

/// Checks a one-way stream against Trio's rules, the way Trio's `check_one_way_stream` does:
/// sending and receiving, empty sends, `receive_some(0)`, that `receive_some` returns at most
/// `max_bytes` (Trio's suite does not check this one), `Busy` on concurrent use, `Broken`
/// after the receiver closes, `Closed` after closing (also for a task blocked in an operation),
/// graceful and forceful close, cancelled operations and a cancelled `aclose`, and that every
/// operation checkpoints.
///
/// `clogged`, if given, makes pairs whose `send_all` and `wait_send_all_might_not_block` block
/// until `receive_some` is called (see [`lockstep_stream_one_way_pair`](super::lockstep_stream_one_way_pair));
/// it enables the checks of blocked senders.
///
/// Run it under exploration (`#[trio_test(schedules = …)]`): a stream can pass in one order
/// and fail in another.
///
/// # Errors
///
/// The first check that failed.
///
/// # Examples
///
/// ```
/// use trio_testkit::streams::{StreamMaker, check_one_way_stream, lockstep_stream_one_way_pair};
/// use trio_testkit::trio_test;
///
/// #[trio_test(schedules = 20)]
/// async fn lockstep_streams_conform() {
///     let maker = StreamMaker::new(|| async { Ok(lockstep_stream_one_way_pair()) });
///     check_one_way_stream(&maker, Some(&maker)).await.unwrap();
/// }
/// # fn main() {}
/// ```
pub async fn check_one_way_stream<S, R>(
    maker: &StreamMaker<S, R>,
    clogged: Option<&StreamMaker<S, R>>,
) -> Result<(), StreamCheckFailure>
where
    S: SendStream + 'static,
    R: ReceiveStream + 'static,
{
    section(
        "send_all and receive_some",
        with_pair(maker, |s, r| async move {
            let (s1, r1) = (s.clone(), r.clone());
            open_nursery(|nursery| async move {
                nursery.start_soon(async move { do_send_all(&*s1, b"x").await });
                nursery.start_soon(async move { checked_receive_1(&*r1, b"x").await });
                Ok(())
            })
            .await?;

            // Streams must tolerate sending nothing, without giving it any meaning.
            open_nursery(|nursery| async move {
                let s2 = s.clone();
                nursery.start_soon(async move {
                    do_send_all(&*s2, b"").await?;
                    do_send_all(&*s2, b"y").await
                });
                let r2 = r.clone();
                nursery.start_soon(async move { checked_receive_1(&*r2, b"y").await });
                Ok(())
            })
            .await
        }),
    )
    .await?;

    section(
        "receive_some checks max_bytes",
        with_pair(maker, |s, r| async move {
            expect_error("receive_some(0)", r.receive_some(0).await, invalid, "InvalidArgument")?;
            // A huge max_bytes is fine (and must not be allocated up front).
            for max_bytes in [usize::MAX, trio::io::DEFAULT_RECEIVE_SIZE] {
                let (s, r) = (s.clone(), r.clone());
                open_nursery(|nursery| async move {
                    nursery.start_soon(async move { do_send_all(&*s, b"x").await });
                    let got = do_receive_some(&*r, max_bytes).await?;
                    if got != b"x" {
                        return Err(complain(format!(
                            "receive_some({max_bytes}) returned {}, expected b\"x\"",
                            show(&got)
                        )));
                    }
                    Ok(())
                })
                .await?;
            }
            // At most max_bytes: two bytes sent come out one by one.
            open_nursery(|nursery| async move {
                nursery.start_soon(async move { do_send_all(&*s, b"xy").await });
                checked_receive_1(&*r, b"x").await?;
                checked_receive_1(&*r, b"y").await
            })
            .await
        }),
    )
    .await?;

    section(
        "concurrent receive_some is Busy",
        with_pair(maker, |_s, r| async move {
            let r2 = r.clone();
            expect_busy(
                "two tasks in receive_some at once",
                async move { r.receive_some(1).await.map(drop) },
                async move { r2.receive_some(1).await.map(drop) },
                false,
            )
            .await
        }),
    )
    .await?;

    section(
        "wait_send_all_might_not_block returns while a receiver waits",
        with_pair(maker, |s, r| async move {
            // A stream need not buffer, so a receiver is waiting; the check then cancels it.
            open_nursery(|nursery| async move {
                let scope = nursery.cancel_scope().clone();
                nursery.start_soon(async move {
                    checkpointed("wait_send_all_might_not_block()", s.wait_send_all_might_not_block())
                        .await?
                        .map_err(|e| failed("wait_send_all_might_not_block()", e))?;
                    scope.cancel();
                    Ok(())
                });
                nursery.start_soon(async move { do_receive_some(&*r, 1).await.map(drop) });
                Ok(())
            })
            .await
        }),
    )
    .await?;

    section(
        "closing the receiver breaks the sender",
        with_pair(maker, |s, r| async move {
            let (s2, r2) = (s.clone(), r.clone());
            open_nursery(|nursery| async move {
                nursery.start_soon(async move { send_until_broken(&*s2).await });
                nursery.start_soon(async move { do_aclose(&*r2).await });
                Ok(())
            })
            .await?;
            // Once detected, the stream stays broken.
            expect_error("send_all after Broken", s.send_all(&[b'x'; 100]).await, broken, "Broken")?;
            expect_error("receive_some on the closed receiver", r.receive_some(4096).await, closed, "Closed")?;
            // Closing again is fine.
            do_aclose(&*r).await?;
            do_aclose(&*r).await?;
            do_aclose(&*s).await?;
            expect_error("send_all(100 bytes) after aclose", s.send_all(&[b'x'; 100]).await, closed, "Closed")?;
            expect_error("send_all(b\"\") after aclose", s.send_all(b"").await, closed, "Closed")?;
            expect_error(
                "wait_send_all_might_not_block after aclose",
                s.wait_send_all_might_not_block().await,
                closed,
                "Closed",
            )?;
            do_aclose(&*s).await?;
            do_aclose(&*s).await
        }),
    )
    .await?;

    section(
        "data sent before a graceful close arrives, then the end",
        with_pair(maker, |s, r| async move {
            open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    do_send_all(&*s, b"y").await?;
                    do_aclose(&*s).await
                });
                nursery.start_soon(async move {
                    // Let the sender get as far as it can before receiving anything.
                    wait_all_tasks_blocked().await?;
                    checked_receive_1(&*r, b"y").await?;
                    checked_receive_1(&*r, b"").await?;
                    do_aclose(&*r).await
                });
                Ok(())
            })
            .await
        }),
    )
    .await?;

    section(
        "a forcefully closed receiver breaks the sender",
        with_pair(maker, |s, r| async move {
            aclose_forcefully(&*r).await?;
            send_until_broken(&*s).await?;
            expect_error("receive_some after aclose_forcefully", r.receive_some(4096).await, closed, "Closed")
        }),
    )
    .await?;

    section(
        "a forcefully closed sender ends the stream",
        with_pair(maker, |s, r| async move {
            aclose_forcefully(&*s).await?;
            expect_error("send_all after aclose_forcefully", s.send_all(b"123").await, closed, "Closed")?;
            // The receiver may see the end or Broken; not data, and no hang.
            match checkpointed("receive_some(1)", r.receive_some(1)).await? {
                Ok(data) if data.is_empty() => Ok(()),
                Ok(data) => Err(complain(format!("receive_some(1) returned {} after a forceful close", show(&data)))),
                Err(error) if error.is_broken() => Ok(()),
                Err(error) => {
                    Err(complain(format!("receive_some(1) failed with `{error}`, expected the end or Broken")))
                }
            }
        }),
    )
    .await?;

    section(
        "a cancelled aclose still closes",
        with_pair(maker, |s, r| async move {
            for resource in [&*r as &dyn AsyncResource, &*s as &dyn AsyncResource] {
                let scope = CancelScope::new();
                scope.cancel();
                scope.run(async { Ok(resource.aclose().await?) }).await?;
            }
            expect_error("send_all after a cancelled aclose", s.send_all(b"123").await, closed, "Closed")?;
            expect_error("receive_some after a cancelled aclose", r.receive_some(4096).await, closed, "Closed")
        }),
    )
    .await?;

    section(
        "a stream closes gracefully after cancelled operations",
        with_pair(maker, |s, r| async move {
            let scope = CancelScope::new();
            scope.cancel();
            let (s2, r2) = (s.clone(), r.clone());
            scope
                .run(open_nursery(|nursery| async move {
                    nursery.start_soon(async move {
                        expect_error("send_all in a cancelled scope", s2.send_all(b"x").await, cancelled, "Cancelled")
                    });
                    nursery.start_soon(async move {
                        expect_error(
                            "receive_some in a cancelled scope",
                            r2.receive_some(1).await,
                            cancelled,
                            "Cancelled",
                        )
                    });
                    Ok(())
                }))
                .await?;
            open_nursery(|nursery| async move {
                nursery.start_soon(async move { do_aclose(&*s).await });
                nursery.start_soon(async move { do_aclose(&*r).await });
                Ok(())
            })
            .await
        }),
    )
    .await?;

    section(
        "closing the receiver wakes a blocked receive_some with Closed",
        with_pair(maker, |_s, r| async move {
            open_nursery(|nursery| async move {
                let r2 = r.clone();
                nursery.start_soon(async move {
                    expect_error(
                        "a receive_some blocked while the stream closed",
                        r2.receive_some(10).await,
                        closed,
                        "Closed",
                    )
                });
                wait_all_tasks_blocked().await?;
                aclose_forcefully(&*r).await?;
                Ok(())
            })
            .await
        }),
    )
    .await?;

    if let Some(clogged) = clogged {
        check_clogged_one_way(clogged).await?;
    }
    Ok(())
}

async fn check_clogged_one_way<S, R>(clogged: &StreamMaker<S, R>) -> Result<(), StreamCheckFailure>
where
    S: SendStream + 'static,
    R: ReceiveStream + 'static,
{
    section(
        "wait_send_all_might_not_block waits for a receiver",
        with_pair(clogged, |s, r| async move {
            let record = Rc::new(RefCell::new(Vec::new()));
            let (log, log2) = (record.clone(), record.clone());
            open_nursery(|nursery| async move {
                let scope = nursery.cancel_scope().clone();
                nursery.start_soon(async move {
                    log.borrow_mut().push("waiter sleeping");
                    checkpointed("wait_send_all_might_not_block()", s.wait_send_all_might_not_block())
                        .await?
                        .map_err(|e| failed("wait_send_all_might_not_block()", e))?;
                    log.borrow_mut().push("waiter woke up");
                    scope.cancel();
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                nursery.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    log2.borrow_mut().push("receiver starting");
                    loop {
                        r.receive_some(16834).await?;
                    }
                    #[allow(unreachable_code, reason = "names the block's type for `?`")]
                    trio::Result::Ok(())
                });
                Ok(())
            })
            .await?;
            let record = record.borrow();
            if *record != ["waiter sleeping", "receiver starting", "waiter woke up"] {
                return Err(complain(format!(
                    "wait_send_all_might_not_block returned before a receiver called receive_some: {record:?}"
                )));
            }
            Ok(())
        }),
    )
    .await?;

    section(
        "concurrent wait_send_all_might_not_block is Busy",
        with_pair(clogged, |s, _r| async move {
            let (a, b) = (s.clone(), s.clone());
            expect_busy(
                "two tasks in wait_send_all_might_not_block at once",
                async move { a.wait_send_all_might_not_block().await },
                async move { b.wait_send_all_might_not_block().await },
                false,
            )
            .await?;
            let a = s.clone();
            expect_busy(
                "wait_send_all_might_not_block and send_all at once",
                async move { a.wait_send_all_might_not_block().await },
                async move { s.send_all(b"123").await },
                false,
            )
            .await
        }),
    )
    .await?;

    section(
        "concurrent send_all is Busy",
        with_pair(clogged, |s, _r| async move {
            let a = s.clone();
            expect_busy(
                "two tasks in send_all at once",
                async move { a.send_all(b"123").await },
                async move { s.send_all(b"123").await },
                false,
            )
            .await
        }),
    )
    .await?;

    section(
        "closing the receiver wakes wait_send_all_might_not_block",
        with_pair(clogged, |s, r| async move {
            open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    match checkpointed("wait_send_all_might_not_block()", s.wait_send_all_might_not_block()).await? {
                        Ok(()) => Ok(()),
                        Err(error) if error.is_broken() => Ok(()),
                        Err(error) => Err(complain(format!(
                            "wait_send_all_might_not_block failed with `{error}` when the receiver closed, expected Ok or Broken"
                        ))),
                    }
                });
                nursery.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    aclose_forcefully(&*r).await?;
                    Ok(())
                });
                Ok(())
            })
            .await
        }),
    )
    .await?;

    section(
        "wait_send_all_might_not_block after the receiver closed",
        with_pair(clogged, |s, r| async move {
            aclose_forcefully(&*r).await?;
            match checkpointed("wait_send_all_might_not_block()", s.wait_send_all_might_not_block()).await? {
                Ok(()) => Ok(()),
                Err(error) if error.is_broken() => Ok(()),
                Err(error) => Err(complain(format!(
                    "wait_send_all_might_not_block failed with `{error}` after the receiver closed, expected Ok or Broken"
                ))),
            }
        }),
    )
    .await?;

    section(
        "closing the sender wakes a blocked send_all with Closed",
        with_pair(clogged, |s, _r| async move {
            open_nursery(|nursery| async move {
                let s2 = s.clone();
                nursery.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    aclose_forcefully(&*s2).await?;
                    Ok(())
                });
                expect_error("a send_all blocked while the stream closed", s.send_all(b"xyzzy").await, closed, "Closed")
            })
            .await
        }),
    )
    .await?;

    section(
        "closing the sender wakes a blocked wait_send_all_might_not_block with Closed",
        with_pair(clogged, |s, _r| async move {
            open_nursery(|nursery| async move {
                let s2 = s.clone();
                nursery.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    aclose_forcefully(&*s2).await?;
                    Ok(())
                });
                expect_error(
                    "a wait_send_all_might_not_block blocked while the stream closed",
                    s.wait_send_all_might_not_block().await,
                    closed,
                    "Closed",
                )
            })
            .await
        }),
    )
    .await
}

// ===== check_two_way_stream =====

/// Checks a two-way stream: [`check_one_way_stream`] in both directions, then both directions
/// at once with a large amount of data in random chunk sizes (see
/// [`StreamMaker::duplex_test_size`]), and that closing one end shows as the end of the stream
/// on the other.
///
/// # Errors
///
/// The first check that failed.
///
/// # Examples
///
/// ```
/// use trio_testkit::streams::{StreamMaker, check_two_way_stream, lockstep_stream_pair};
/// use trio_testkit::trio_test;
///
/// #[trio_test(schedules = 5)]
/// async fn lockstep_pairs_conform() {
///     let maker = StreamMaker::new(|| async { Ok(lockstep_stream_pair()) }).duplex_test_size(1 << 16);
///     check_two_way_stream(&maker, Some(&maker)).await.unwrap();
/// }
/// # fn main() {}
/// ```
pub async fn check_two_way_stream<A, B>(
    maker: &StreamMaker<A, B>,
    clogged: Option<&StreamMaker<A, B>>,
) -> Result<(), StreamCheckFailure>
where
    A: Stream + 'static,
    B: Stream + 'static,
{
    check_one_way_stream(maker, clogged).await?;
    let flipped_clogged = clogged.map(StreamMaker::flipped);
    check_one_way_stream(&maker.flipped(), flipped_clogged.as_ref()).await?;

    let size = maker.duplex_test_size;
    section(
        "both directions at once, in random chunks",
        with_pair(maker, |s1, s2| async move {
            let data = Rc::new(random_bytes(size, 0));
            let reversed: Rc<Vec<u8>> = Rc::new(data.iter().rev().copied().collect());
            open_nursery(|nursery| async move {
                nursery.start_soon_named(
                    "duplex check: sending on the first stream",
                    send_chunks(s1.clone(), data.clone(), 0),
                );
                nursery.start_soon_named(
                    "duplex check: sending on the second stream",
                    send_chunks(s2.clone(), reversed.clone(), 1),
                );
                nursery
                    .start_soon_named("duplex check: receiving on the first stream", receive_chunks(s1, reversed, 2));
                nursery.start_soon_named("duplex check: receiving on the second stream", receive_chunks(s2, data, 3));
                Ok(())
            })
            .await
        }),
    )
    .await?;

    section(
        "closing one end is the end of the stream for the other",
        with_pair(maker, |s1, s2| async move {
            open_nursery(|nursery| async move {
                nursery.start_soon(async move {
                    let got = do_receive_some(&*s2, 10).await?;
                    if !got.is_empty() {
                        return Err(complain(format!("receive_some returned {} after the peer closed", show(&got))));
                    }
                    do_aclose(&*s2).await
                });
                nursery.start_soon(async move { do_aclose(&*s1).await });
                Ok(())
            })
            .await
        }),
    )
    .await
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = vec![0; len];
    rng.fill_bytes(&mut data);
    data
}

fn chunk_size(rng: &mut ChaCha8Rng) -> usize {
    1 + (rng.next_u64() % CHUNK_SIZE_MAX as u64) as usize
}

async fn send_chunks<S: SendStream>(stream: Rc<S>, data: Rc<Vec<u8>>, seed: u64) -> trio::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rest = &data[..];
    while !rest.is_empty() {
        let n = chunk_size(&mut rng).min(rest.len());
        stream.send_all(&rest[..n]).await.map_err(|e| failed("send_all during the duplex check", e))?;
        rest = &rest[n..];
    }
    Ok(())
}

async fn receive_chunks<R: ReceiveStream>(stream: Rc<R>, expected: Rc<Vec<u8>>, seed: u64) -> trio::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut got = Vec::with_capacity(expected.len());
    while got.len() < expected.len() {
        let max_bytes = chunk_size(&mut rng);
        let chunk =
            stream.receive_some(max_bytes).await.map_err(|e| failed("receive_some during the duplex check", e))?;
        if chunk.len() > max_bytes {
            return Err(complain(format!(
                "receive_some({max_bytes}) returned {} bytes, more than max_bytes, in the duplex check",
                chunk.len()
            )));
        }
        if chunk.is_empty() {
            return Err(complain(format!(
                "the stream ended after {} of {} bytes in the duplex check",
                got.len(),
                expected.len()
            )));
        }
        got.extend_from_slice(&chunk);
    }
    if got != *expected {
        let at = got.iter().zip(expected.iter()).position(|(a, b)| a != b).unwrap_or(expected.len());
        return Err(complain(format!("the duplex check received different bytes, first at offset {at}")));
    }
    Ok(())
}

// ===== check_half_closeable_stream =====

/// Checks a half-closeable stream: [`check_two_way_stream`], then `send_eof` — the other side
/// reads the data then the end, sending afterwards is `Closed`, `send_eof` again is fine, the
/// other direction still works — and, with a clogged maker, that `send_eof` is `Busy` while
/// `send_all` or `wait_send_all_might_not_block` runs.
///
/// # Errors
///
/// The first check that failed.
///
/// # Examples
///
/// ```
/// use trio_testkit::streams::{StreamMaker, check_half_closeable_stream, memory_stream_pair};
/// use trio_testkit::trio_test;
///
/// #[trio_test(schedules = 5)]
/// async fn memory_pairs_conform() {
///     let maker = StreamMaker::new(|| async { Ok(memory_stream_pair()) }).duplex_test_size(1 << 16);
///     check_half_closeable_stream(&maker, None).await.unwrap();
/// }
/// # fn main() {}
/// ```
pub async fn check_half_closeable_stream<A, B>(
    maker: &StreamMaker<A, B>,
    clogged: Option<&StreamMaker<A, B>>,
) -> Result<(), StreamCheckFailure>
where
    A: HalfCloseableStream + 'static,
    B: HalfCloseableStream + 'static,
{
    check_two_way_stream(maker, clogged).await?;

    section(
        "send_eof",
        with_pair(maker, |s1, s2| async move {
            let (a, b) = (s1.clone(), s2.clone());
            open_nursery(|nursery| async move {
                nursery.start_soon(send_x_then_eof(a));
                nursery.start_soon(expect_x_then_eof(b));
                Ok(())
            })
            .await?;
            expect_error("send_all after send_eof", s1.send_all(b"y").await, closed, "Closed")?;
            checkpointed("a second send_eof()", s1.send_eof()).await?.map_err(|e| failed("a second send_eof()", e))?;
            open_nursery(|nursery| async move {
                nursery.start_soon(send_x_then_eof(s2));
                nursery.start_soon(expect_x_then_eof(s1));
                Ok(())
            })
            .await
        }),
    )
    .await?;

    if let Some(clogged) = clogged {
        section(
            "send_eof is Busy while send_all runs",
            with_pair(clogged, |s1, _s2| async move {
                let a = s1.clone();
                expect_busy(
                    "send_all and send_eof at once",
                    async move { a.send_all(b"x").await },
                    async move { s1.send_eof().await },
                    true,
                )
                .await
            }),
        )
        .await?;
        section(
            "send_eof is Busy while wait_send_all_might_not_block runs",
            with_pair(clogged, |s1, _s2| async move {
                let a = s1.clone();
                expect_busy(
                    "wait_send_all_might_not_block and send_eof at once",
                    async move { a.wait_send_all_might_not_block().await },
                    async move { s1.send_eof().await },
                    true,
                )
                .await
            }),
        )
        .await?;
    }
    Ok(())
}

async fn send_x_then_eof<S: HalfCloseableStream>(s: Rc<S>) -> trio::Result<()> {
    do_send_all(&*s, b"x").await?;
    checkpointed("send_eof()", s.send_eof()).await?.map_err(|e| failed("send_eof()", e))
}

async fn expect_x_then_eof<R: ReceiveStream>(r: Rc<R>) -> trio::Result<()> {
    wait_all_tasks_blocked().await?;
    let got = do_receive_some(&*r, 10).await?;
    if got != b"x" {
        return Err(complain(format!("receive_some(10) returned {} before the end, expected b\"x\"", show(&got))));
    }
    let got = do_receive_some(&*r, 10).await?;
    if !got.is_empty() {
        return Err(complain(format!("receive_some(10) returned {} after send_eof, expected the end", show(&got))));
    }
    Ok(())
}
