//! Concurrency bugs the explorer was not tuned on, each in a buggy and a correct version
//! (`buggy = false`), for `tests/unseen_bugs.rs`. Every buggy version passes in the default
//! order and fails only by its own assertion (or a deadlock, when that is the bug).

#![allow(dead_code, reason = "each test target uses a different subset")]
#![allow(unreachable_pub, reason = "shared by test crates through `mod unseen`")]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use trio::{
    CapacityLimiter, Condition, Event, Lock, checkpoint, move_on_after, open_memory_channel, open_nursery, sleep,
    sleep_until,
};

/// An unseen program: `buggy` picks the version.
pub type Program = fn(bool) -> Pin<Box<dyn Future<Output = ()>>>;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `n` checkpoints: steps that stand for work and give the scheduler a choice.
async fn work(n: usize) -> trio::Result<()> {
    for _ in 0..n {
        checkpoint().await?;
    }
    Ok(())
}

/// A waiter waits on a `Condition` for a flag without checking the flag first: if the notifier
/// sets it and notifies before the waiter waits, the notification is lost.
pub fn condition_lost_wakeup(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let cond = Rc::new(Condition::new());
        let ready = Rc::new(Cell::new(false));
        open_nursery(|nursery| async move {
            let (c, r) = (cond.clone(), ready.clone());
            nursery.start_soon_named("waiter", async move {
                checkpoint().await?;
                let _guard = c.lock().await?;
                if buggy {
                    c.wait().await?;
                } else {
                    while !r.get() {
                        c.wait().await?;
                    }
                }
                Ok(())
            });
            nursery.start_soon_named("notifier", async move {
                work(2).await?;
                let _guard = cond.lock().await?;
                ready.set(true);
                cond.notify_all()?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A worker borrows a `CapacityLimiter` token by hand and gives it back after its work; when a
/// timeout cancels the work, the early return skips the release and the token leaks.
pub fn limiter_leak(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let limiter = Rc::new(CapacityLimiter::new(1));
        let l = limiter.clone();
        open_nursery(|nursery| async move {
            for name in ["worker 1", "worker 2"] {
                let l = l.clone();
                nursery.start_soon_named(name, async move {
                    move_on_after(secs(10), async {
                        if buggy {
                            l.acquire().await?;
                            work(1).await?; // cancelled here: the release below never runs
                            l.release()?;
                        } else {
                            let _token = l.acquire_token().await?;
                            work(1).await?;
                        }
                        Ok(())
                    })
                    .await?;
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(limiter.borrowed_tokens(), 0, "a limiter token leaked");
    })
}

/// Two tasks lazily create a shared connection: check, connect (a checkpoint), store. The buggy
/// version checks outside the lock, so both may connect.
pub fn lazy_init(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let conn: Rc<RefCell<Option<u32>>> = Rc::new(RefCell::new(None));
        let connects = Rc::new(Cell::new(0));
        let lock = Rc::new(Lock::new());
        let (c, n) = (conn.clone(), connects.clone());
        open_nursery(|nursery| async move {
            for (name, warmup) in [("first user", 0), ("second user", 2)] {
                let (c, n, l) = (c.clone(), n.clone(), lock.clone());
                nursery.start_soon_named(name, async move {
                    work(warmup).await?;
                    let _guard = if buggy { None } else { Some(l.lock().await?) };
                    if c.borrow().is_none() {
                        checkpoint().await?; // connecting
                        n.set(n.get() + 1);
                        *c.borrow_mut() = Some(n.get());
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(connects.get(), 1, "connected twice");
    })
}

/// Two producers share one sender and close it when done, treating a closed channel as a
/// shutdown; whichever finishes first closes it for both, and the other's value, if not yet
/// sent, is lost. The fix: each producer owns a clone and closes only that.
pub fn channel_closed_early(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let (tx, rx) = open_memory_channel::<u32>(8);
        let received = Rc::new(RefCell::new(Vec::new()));
        let got = received.clone();
        open_nursery(|nursery| async move {
            let tx = Rc::new(tx);
            let (tx1, tx2) = if buggy { (tx.clone(), tx) } else { (Rc::new(tx.try_clone()?), tx) };
            nursery.start_soon_named("fast producer", async move {
                checkpoint().await?;
                let _ = tx1.send(1).await; // closed: shutting down, as below
                work(2).await?;
                tx1.close();
                Ok(())
            });
            nursery.start_soon_named("slow producer", async move {
                checkpoint().await?;
                // A closed channel means the pipeline is shutting down: the value is not needed.
                let _ = tx2.send(2).await;
                tx2.close();
                Ok(())
            });
            nursery.start_soon_named("consumer", async move {
                while let Some(value) = rx.recv().await? {
                    got.borrow_mut().push(value);
                }
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(received.borrow().len(), 2, "a value was lost: received {:?}", received.borrow());
    })
}

/// Two tasks increment a counter in loops. One of them, on its last round only, yields between
/// reading and writing back: an update by the other in that window is lost.
pub fn rmw_in_loop(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let counter = Rc::new(Cell::new(0));
        let lock = Rc::new(Lock::new());
        let (c, l) = (counter.clone(), lock.clone());
        open_nursery(|nursery| async move {
            let (c1, l1) = (c.clone(), l.clone());
            nursery.start_soon_named("batcher", async move {
                for round in 0..3 {
                    checkpoint().await?;
                    let _guard = if buggy { None } else { Some(l1.lock().await?) };
                    let seen = c1.get();
                    if round == 2 {
                        checkpoint().await?; // flushing the batch
                    }
                    c1.set(seen + 1);
                }
                Ok(())
            });
            nursery.start_soon_named("ticker", async move {
                for _ in 0..2 {
                    checkpoint().await?;
                    let _guard = if buggy { None } else { Some(l.lock().await?) };
                    c.set(c.get() + 1);
                }
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(counter.get(), 5, "an increment was lost");
    })
}

/// Three tasks share a connection: one opens it, one uses it for a step, one closes it if open.
/// The closer does not wait for a use in progress; the bug needs open, then use, then close
/// inside the use — three tasks in one order.
pub fn close_while_in_use(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let open = Rc::new(Cell::new(false));
        let in_use = Rc::new(Cell::new(false));
        let lock = Rc::new(Lock::new());
        open_nursery(|nursery| async move {
            let o = open.clone();
            nursery.start_soon_named("opener", async move {
                checkpoint().await?;
                o.set(true);
                Ok(())
            });
            let (o, u, l) = (open.clone(), in_use.clone(), lock.clone());
            nursery.start_soon_named("user", async move {
                work(4).await?;
                let _guard = if buggy { None } else { Some(l.lock().await?) };
                if o.get() {
                    u.set(true);
                    checkpoint().await?; // a query
                    u.set(false);
                }
                Ok(())
            });
            nursery.start_soon_named("closer", async move {
                work(2).await?;
                let _guard = if buggy { None } else { Some(lock.lock().await?) };
                if open.get() {
                    assert!(!in_use.get(), "closed the connection while a query was using it");
                    open.set(false);
                }
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A leader writes every second while its lease is valid; a watchdog revokes the lease when it
/// ends, and a new leader takes over. The leader's wake-up and the watchdog's are due at the
/// same virtual instant, and which fires first is a decision: if the leader's wins, it trusts a
/// lease that has just ended and writes alongside the new leader. The fix checks the clock too.
pub fn lease_tie(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let lease_end = trio::current_time() + secs(2);
        let valid = Rc::new(Cell::new(true));
        let writes = Rc::new(RefCell::new(Vec::new()));
        let w = writes.clone();
        open_nursery(|nursery| async move {
            let (v, old) = (valid.clone(), w.clone());
            nursery.start_soon_named("watchdog", async move {
                sleep_until(lease_end).await?;
                v.set(false);
                w.borrow_mut().push(("new", trio::current_time()));
                Ok(())
            });
            nursery.start_soon_named("old leader", async move {
                loop {
                    sleep(secs(1)).await?;
                    let mine = valid.get() && (buggy || trio::current_time() < lease_end);
                    if !mine {
                        return Ok(());
                    }
                    old.borrow_mut().push(("old", trio::current_time()));
                }
            });
            Ok(())
        })
        .await
        .unwrap();
        let late = writes.borrow().iter().filter(|(who, at)| *who == "old" && *at >= lease_end).count();
        assert_eq!(late, 0, "the old leader wrote after its lease ended: {:?}", writes.borrow());
    })
}

/// A publisher announces each new value with an `Event` and re-arms it for the next; a
/// subscriber that picks up the event between the set and the re-arm waits on a spent event
/// and reads a stale value. The fix re-arms before it sets.
pub fn event_reused(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let event = Rc::new(RefCell::new(Rc::new(Event::new())));
        let value = Rc::new(Cell::new(0));
        open_nursery(|nursery| async move {
            let (e, v) = (event.clone(), value.clone());
            nursery.start_soon_named("publisher", async move {
                for round in 1..=2 {
                    checkpoint().await?;
                    v.set(round);
                    if buggy {
                        let current = e.borrow().clone();
                        current.set();
                        checkpoint().await?; // logging the publication
                        *e.borrow_mut() = Rc::new(Event::new());
                    } else {
                        let spent = std::mem::replace(&mut *e.borrow_mut(), Rc::new(Event::new()));
                        spent.set();
                        checkpoint().await?;
                    }
                }
                Ok(())
            });
            nursery.start_soon_named("subscriber", async move {
                let mut seen = 0;
                while seen < 2 {
                    let current = event.borrow().clone();
                    if value.get() == seen {
                        current.wait().await?;
                        assert!(value.get() > seen, "woke for value {seen} again");
                    }
                    seen = value.get();
                    checkpoint().await?; // handling it
                }
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A server started with `Nursery::start` reports itself started before it registers its
/// route; a client started right after may find the route missing.
pub fn started_too_soon(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let routes = Rc::new(RefCell::new(Vec::<&'static str>::new()));
        open_nursery(|nursery| async move {
            let r = routes.clone();
            nursery
                .start(|status| async move {
                    if buggy {
                        status.started(());
                        checkpoint().await?; // loading the routes
                        r.borrow_mut().push("/health");
                    } else {
                        checkpoint().await?;
                        r.borrow_mut().push("/health");
                        status.started(());
                    }
                    work(2).await // serving
                })
                .await?;
            nursery.start_soon_named("client", async move {
                checkpoint().await?;
                assert!(routes.borrow().contains(&"/health"), "the server was started but had no route");
                work(2).await
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A consumer takes the lock by hand and returns early without releasing it when the queue is
/// empty; the producer then waits for the lock forever.
pub fn lock_kept_on_one_path(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let lock = Rc::new(Lock::new());
        let queue = Rc::new(RefCell::new(Vec::new()));
        open_nursery(|nursery| async move {
            let (l, q) = (lock.clone(), queue.clone());
            nursery.start_soon_named("consumer", async move {
                work(2).await?;
                if buggy {
                    l.acquire().await?;
                    if q.borrow().is_empty() {
                        return Ok(()); // forgot to release
                    }
                    q.borrow_mut().pop();
                    l.release()?;
                } else {
                    let _guard = l.lock().await?;
                    q.borrow_mut().pop();
                }
                Ok(())
            });
            nursery.start_soon_named("producer", async move {
                checkpoint().await?;
                for item in 0..2 {
                    let _guard = match lock.lock().await {
                        Ok(guard) => guard,
                        Err(error) => panic!("the producer cannot take the lock: {error}"),
                    };
                    queue.borrow_mut().push(item);
                    drop(_guard);
                    checkpoint().await?;
                }
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A coordinator commits a transfer to two participants one after the other; an auditor that
/// reads between the two commits sees money that is in neither account or in both.
pub fn two_phase_commit(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let accounts = Rc::new([Cell::new(100i64), Cell::new(0i64)]);
        let committing = Rc::new(Cell::new(false));
        open_nursery(|nursery| async move {
            let (a, c) = (accounts.clone(), committing.clone());
            nursery.start_soon_named("coordinator", async move {
                work(2).await?; // prepare both
                c.set(true);
                a[0].set(a[0].get() - 30);
                checkpoint().await?; // the second participant's commit travels
                a[1].set(a[1].get() + 30);
                c.set(false);
                Ok(())
            });
            nursery.start_soon_named("auditor", async move {
                work(5).await?;
                if !buggy {
                    while committing.get() {
                        checkpoint().await?;
                    }
                }
                let total = accounts[0].get() + accounts[1].get();
                assert_eq!(total, 100, "the audit saw a half-committed transfer");
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A worker loop `select!`s between a shutdown event and its inbox. When both are ready, the
/// buggy version may take the shutdown first and drop the message waiting in the inbox; the
/// fix drains the inbox before it stops.
pub fn select_drops_message(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let (tx, rx) = open_memory_channel::<u32>(4);
        let shutdown = Rc::new(Event::new());
        let handled = Rc::new(RefCell::new(Vec::new()));
        let h = handled.clone();
        open_nursery(|nursery| async move {
            let s = shutdown.clone();
            nursery.start_soon_named("worker", async move {
                loop {
                    trio::select! {
                        message = rx.recv() => match message? {
                            Some(m) => h.borrow_mut().push(m),
                            None => break,
                        },
                        _ = s.wait() => {
                            if !buggy {
                                while let Ok(Some(m)) = rx.try_recv() {
                                    h.borrow_mut().push(m);
                                }
                            }
                            break;
                        }
                    }
                }
                Ok(())
            });
            nursery.start_soon_named("client", async move {
                checkpoint().await?;
                tx.send(1).await.map_err(|e| e.into_error())?;
                shutdown.set();
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*handled.borrow(), [1], "a message sent before the shutdown was dropped");
    })
}
