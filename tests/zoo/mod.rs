//! The bug zoo's programs: each classic concurrency bug in a buggy and a correct version
//! (`buggy = false`), shared by the zoo's tests and the exploration harness.

#![allow(dead_code, reason = "each test target uses a different subset")]
#![allow(unreachable_pub, reason = "shared by test crates through `mod zoo`")]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use trio::lowlevel::ParkingLot;
use trio::{Lock, checkpoint, open_memory_channel, open_nursery, sleep};

/// A zoo program: `buggy` picks the version.
pub type Program = fn(bool) -> Pin<Box<dyn Future<Output = ()>>>;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Two tasks increment a shared counter. The slow one reads, checkpoints, then writes back
/// what it read plus one: if the fast one runs in that window, its update is lost.
pub fn lost_update(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let counter = Rc::new(Cell::new(0));
        let lock = Rc::new(Lock::new());
        let (c, l) = (counter.clone(), lock.clone());
        open_nursery(|nursery| async move {
            let (c1, l1) = (c.clone(), l.clone());
            nursery.start_soon_named("slow incrementer", async move {
                checkpoint().await?;
                let _guard = if buggy { None } else { Some(l1.lock().await?) };
                let seen = c1.get();
                checkpoint().await?;
                c1.set(seen + 1);
                Ok(())
            });
            nursery.start_soon_named("fast incrementer", async move {
                let _guard = if buggy { None } else { Some(l.lock().await?) };
                c.set(c.get() + 1);
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(counter.get(), 2, "an update was lost");
    })
}

/// Two consumers share a channel. Each looks at the buffer, checkpoints, and then takes the
/// item it saw without waiting — but the other consumer may have taken it meanwhile.
pub fn check_then_act(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let (tx, rx) = open_memory_channel::<u32>(1);
        open_nursery(|nursery| async move {
            nursery.start_soon_named("producer", async move {
                // Both consumers may be gone already; then nobody wants the item.
                let _ = tx.send(1).await;
                Ok(())
            });
            for (name, warmup) in [("eager consumer", 0), ("late consumer", 2)] {
                let rx = rx.try_clone()?;
                nursery.start_soon_named(name, async move {
                    for _ in 0..warmup {
                        checkpoint().await?;
                    }
                    if buggy {
                        if rx.statistics().current_buffer_used > 0 {
                            checkpoint().await?;
                            let item = rx.try_recv().ok().flatten();
                            assert!(item.is_some(), "the item I saw is no longer there");
                        }
                    } else {
                        while rx.recv().await?.is_some() {}
                    }
                    Ok(())
                });
            }
            drop(rx);
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// Two tasks take the same two locks in opposite orders.
pub fn lock_order(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let (first, second) = (Rc::new(Lock::new()), Rc::new(Lock::new()));
        open_nursery(|nursery| async move {
            let (a1, a2) = (first.clone(), second.clone());
            nursery.start_soon_named("forward", async move {
                let _one = a1.lock().await?;
                checkpoint().await?;
                let _two = a2.lock().await?;
                Ok(())
            });
            nursery.start_soon_named("backward", async move {
                checkpoint().await?;
                checkpoint().await?;
                let (outer, inner) = if buggy { (&second, &first) } else { (&first, &second) };
                let _one = outer.lock().await?;
                checkpoint().await?;
                let _two = inner.lock().await?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A waiter checks a flag, checkpoints, then parks; the notifier sets the flag and wakes
/// whoever is parked. If the notifier runs in the waiter's window, nobody is parked yet and the
/// wakeup is lost.
pub fn missed_wakeup(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let ready = Rc::new(Cell::new(false));
        let lot = Rc::new(ParkingLot::new());
        open_nursery(|nursery| async move {
            let (r, l) = (ready.clone(), lot.clone());
            nursery.start_soon_named("waiter", async move {
                if buggy {
                    if !r.get() {
                        checkpoint().await?;
                        l.park().await?;
                    }
                } else {
                    checkpoint().await?;
                    // Check and park with no checkpoint in between: nothing can slip through.
                    while !r.get() {
                        l.park().await?;
                    }
                }
                Ok(())
            });
            nursery.start_soon_named("notifier", async move {
                checkpoint().await?;
                ready.set(true);
                lot.unpark_all();
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A lock-free-style stack of node ids with a compare-and-set on the top. The popper reads
/// the top and its successor, checkpoints, and sets the top to the successor if the top is
/// unchanged. Meanwhile a rival pops `pops` nodes and pushes the first back: the top is the
/// same id again (A → B → A), but its successor is gone, and the stack is corrupted. The rival
/// must run all of its operations inside the popper's window.
pub fn aba(buggy: bool, pops: usize) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        // The stack holds ids 1 (top) .. 5; `next[i]` is the node below i; 0 ends it.
        let top = Rc::new(Cell::new(1usize));
        let next = Rc::new(RefCell::new(vec![0usize, 2, 3, 4, 5, 0]));
        let version = Rc::new(Cell::new(0u64));
        // Nodes taken off the stack and not put back: they must never be reachable again.
        let removed = Rc::new(RefCell::new(Vec::new()));
        let lock = Rc::new(Lock::new());
        let (t, n, v, r, l) = (top.clone(), next.clone(), version.clone(), removed.clone(), lock.clone());
        open_nursery(|nursery| async move {
            let (t1, n1, v1, r1, l1) = (t.clone(), n.clone(), v.clone(), r.clone(), l.clone());
            nursery.start_soon_named("popper", async move {
                let _guard = if buggy { None } else { Some(l1.lock().await?) };
                let seen = t1.get();
                let seen_version = v1.get();
                let below = n1.borrow()[seen];
                checkpoint().await?;
                // compare-and-set on the id alone (buggy) or on the id and a version counter
                if t1.get() == seen && (buggy || v1.get() == seen_version) {
                    t1.set(below);
                    v1.set(v1.get() + 1);
                    r1.borrow_mut().push(seen);
                }
                Ok(())
            });
            nursery.start_soon_named("rival", async move {
                let _guard = if buggy { None } else { Some(l.lock().await?) };
                let mut popped = Vec::new();
                for _ in 0..pops {
                    checkpoint().await?;
                    let id = t.get();
                    t.set(n.borrow()[id]);
                    v.set(v.get() + 1);
                    popped.push(id);
                }
                checkpoint().await?;
                // push the first popped node back on top; the others are gone for good
                let first = popped[0];
                n.borrow_mut()[first] = t.get();
                t.set(first);
                v.set(v.get() + 1);
                r.borrow_mut().extend(&popped[1..]);
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        let mut reachable = Vec::new();
        let mut id = top.get();
        while id != 0 && reachable.len() <= 5 {
            reachable.push(id);
            id = next.borrow()[id];
        }
        let removed = removed.borrow();
        assert!(
            !reachable.iter().any(|id| removed.contains(id)),
            "ABA: the stack {reachable:?} still reaches nodes that were removed: {removed:?}"
        );
        assert_eq!(reachable.len(), 5 - removed.len(), "the stack {reachable:?} lost nodes");
    })
}

pub fn aba_two(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    aba(buggy, 2)
}

pub fn aba_three(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    aba(buggy, 3)
}

/// A worker sends a heartbeat every second; a monitor checks every second that one arrived.
/// On a real clock the worker's sleeps always end a hair earlier (it started first); under
/// virtual time both end at exactly the same instant, and the monitor may look first.
pub fn heartbeat(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let beats = Rc::new(Cell::new(0u32));
        open_nursery(|nursery| async move {
            let b = beats.clone();
            nursery.start_soon_named("worker", async move {
                for _ in 0..3 {
                    sleep(secs(1)).await?;
                    b.set(b.get() + 1);
                }
                Ok(())
            });
            nursery.start_soon_named("monitor", async move {
                for expected in 1..=3 {
                    sleep(secs(1)).await?;
                    // The fix: a beat due at the very instant of the check may not have been
                    // counted yet, so allow one period of grace.
                    let grace = if buggy { 0 } else { 1 };
                    assert!(
                        beats.get() + grace >= expected,
                        "the worker missed a heartbeat at {}",
                        trio::current_time()
                    );
                }
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    })
}

/// A forwarder moves queued items into a channel, giving up on one item after a timeout so a
/// stuck consumer cannot stall it. The buggy version drops the item it was sending when the
/// timeout fires. The consumer is never slow, so no schedule ever hits the timeout — only
/// injecting a cancellation at the send shows that the item would be lost.
pub fn forwarder(buggy: bool) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let queue = Rc::new(RefCell::new(VecDeque::from([1u32, 2, 3])));
        let delivered = Rc::new(RefCell::new(Vec::new()));
        let (q, d) = (queue.clone(), delivered.clone());
        open_nursery(|nursery| async move {
            let (tx, rx) = open_memory_channel::<u32>(0);
            nursery.start_soon_named("forwarder", async move {
                loop {
                    let Some(item) = q.borrow_mut().pop_front() else { break };
                    let q2 = q.clone();
                    let tx = &tx;
                    trio::move_on_after(secs(10), async move {
                        if let Err(error) = tx.send(item).await {
                            if error.is_cancelled() && !buggy {
                                q2.borrow_mut().push_front(error.into_inner()); // keep it for later
                                return Err(trio::Cancelled::new().into());
                            }
                            return Err(error.into_error());
                        }
                        Ok(())
                    })
                    .await?;
                }
                Ok(())
            });
            nursery.start_soon_named("consumer", async move {
                while let Some(item) = rx.recv().await? {
                    d.borrow_mut().push(item);
                }
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        let delivered = delivered.borrow().len();
        assert_eq!(delivered + queue.borrow().len(), 3, "an item was lost: only {delivered} of 3 delivered");
    })
}
