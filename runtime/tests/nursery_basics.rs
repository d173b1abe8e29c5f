//! Nurseries: interleaving, crash propagation and group contents, closure, inherited scopes,
//! panics, and dropping a nursery. Ported from the behaviour of Trio's `test_run.py`.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use common::{Log, run_auto, secs};
use trio::lowlevel::wait_all_tasks_blocked;
use trio::{CancelScope, ClosedResource, Error, Nursery};

#[test]
fn nursery_returns_the_body_value_and_waits_for_children() {
    let log = Log::default();
    let l = log.clone();
    let value = run_auto(async move {
        let l2 = l.clone();
        let v = trio::open_nursery(|nursery| async move {
            let l3 = l2.clone();
            nursery.start_soon(async move {
                trio::sleep(secs(1)).await?;
                l3.push("child done");
                Ok(())
            });
            l2.push("body done");
            Ok(Some(42))
        })
        .await
        .unwrap();
        l.push("nursery done");
        v
    });
    assert_eq!(value, Some(42));
    assert_eq!(log.take(), ["body done", "child done", "nursery done"]);
}

#[test]
fn tasks_interleave_in_rounds() {
    let record = Rc::new(RefCell::new(Vec::new()));
    let r = record.clone();
    trio::run(async move {
        trio::open_nursery(|nursery| async move {
            for who in ["a", "b"] {
                let r = r.clone();
                nursery.start_soon(async move {
                    for i in 0..3 {
                        r.borrow_mut().push((who, i));
                        trio::checkpoint().await?;
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    let record = record.borrow();
    assert_eq!(record.len(), 6);
    for round in 0..3 {
        let got: BTreeSet<_> = record[2 * round..2 * round + 2].iter().copied().collect();
        let want: BTreeSet<_> = [("a", round), ("b", round)].into_iter().collect();
        assert_eq!(got, want, "round {round}");
    }
}

#[test]
fn start_soon_does_not_run_the_child_before_returning() {
    trio::run(async {
        let started = Rc::new(Cell::new(false));
        let s = started.clone();
        trio::open_nursery(|nursery| async move {
            let s2 = s.clone();
            nursery.start_soon(async move { s2.set(true) });
            assert!(!s.get(), "start_soon is synchronous and never yields");
            trio::checkpoint().await?;
            assert!(s.get());
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_failing_child_cancels_its_siblings_and_the_body() {
    let log = Log::default();
    let l = log.clone();
    let err = run_auto(async move {
        trio::open_nursery(|nursery| async move {
            let l1 = l.clone();
            nursery.start_soon_named("sleeper", async move {
                if trio::sleep(secs(100)).await.is_err() {
                    l1.push(format!("sleeper cancelled at {}", trio::current_time()));
                }
            });
            nursery.start_soon_named("crasher", async {
                trio::sleep(secs(1)).await?;
                Err(Error::msg("boom"))
            });
            let r = trio::sleep_forever().await;
            l.push(format!("body cancelled: {}", r.is_err()));
            r?;
            Ok(())
        })
        .await
        .unwrap_err()
    });
    let mut seen = log.take();
    seen.sort();
    assert_eq!(seen, ["body cancelled: true", "sleeper cancelled at 1s"]);
    let group = err.as_group().expect("an ErrorGroup");
    assert_eq!(group.len(), 1, "the nursery's own cancellations are dropped: {group}");
    assert_eq!(group.entries()[0].task(), "crasher");
    assert_eq!(group.entries()[0].error().to_string(), "boom");
    assert!(group.origin().contains("nursery_basics.rs"));
}

#[test]
fn every_failure_comes_back_naming_its_task() {
    let err = trio::run(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon_named("first", async { Err(Error::msg("one")) });
            nursery.start_soon_named("second", async { Err(Error::new(std::io::Error::other("two"))) });
            Err::<(), _>(Error::msg("from the body"))
        })
        .await
        .unwrap_err()
    });
    let group = err.as_group().unwrap();
    let entries: Vec<(String, String)> =
        group.entries().iter().map(|e| (e.task().to_string(), e.error().to_string())).collect();
    assert_eq!(entries.len(), 3);
    assert!(entries[0].0.ends_with("(nursery body)"), "{entries:?}");
    assert_eq!(entries[0].1, "from the body");
    assert!(entries.contains(&("first".into(), "one".into())));
    assert!(entries.contains(&("second".into(), "two".into())));
    assert!(group.find::<std::io::Error>().is_some());
    let shown = err.to_string();
    assert!(shown.contains("3 errors in the nursery opened at"), "{shown}");
    assert!(shown.contains("task `first`: one"), "{shown}");
}

#[test]
fn returning_from_the_body_does_not_cancel_children() {
    let finished = run_auto(async {
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async {
                trio::sleep(secs(3)).await?;
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
        trio::current_time()
    });
    assert_eq!(finished, common::at(3));
}

#[test]
fn children_can_start_siblings_while_the_nursery_waits_and_not_after() {
    let escaped: Rc<RefCell<Option<Nursery>>> = Rc::default();
    let e = escaped.clone();
    let e2 = escaped.clone();
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    trio::run(async move {
        trio::open_nursery(|nursery| async move {
            let n = nursery.clone();
            let r2 = r.clone();
            nursery.start_soon(async move {
                trio::checkpoint().await?;
                let r3 = r2.clone();
                n.start_soon(async move { r3.set(r3.get() + 1) }); // body already done
                Ok(())
            });
            *e.borrow_mut() = Some(nursery);
            Ok(())
        })
        .await
        .unwrap();
        let nursery = e2.borrow().clone().unwrap();
        assert!(nursery.is_closed());
        let err: ClosedResource = nursery.try_start_soon(async {}).unwrap_err();
        assert!(err.to_string().contains("closed to new arrivals"), "{err}");
        assert!(
            err.to_string().contains("the nursery opened at runtime/tests/nursery_basics.rs:"),
            "names the nursery: {err}"
        );
    });
    assert_eq!(ran.get(), 1);
}

#[test]
#[should_panic(expected = "closed to new arrivals")]
fn start_soon_on_a_closed_nursery_panics() {
    trio::run(async {
        let mut keep = None;
        trio::open_nursery(|nursery| {
            keep = Some(nursery.clone());
            async { Ok(()) }
        })
        .await
        .unwrap();
        keep.unwrap().start_soon(async {});
    });
}

#[test]
fn children_inherit_the_scopes_where_the_nursery_was_opened() {
    run_auto(async {
        let outer = CancelScope::new();
        let o = outer.clone();
        let log = Log::default();
        let l = log.clone();
        outer
            .run(async move {
                trio::open_nursery(|nursery| async move {
                    // start the child from inside a scope that is then cancelled: it must not care
                    let inner = CancelScope::new();
                    let i = inner.clone();
                    let l2 = l.clone();
                    inner
                        .run(async move {
                            nursery.start_soon(async move {
                                let r = trio::sleep(secs(10)).await;
                                l2.push(format!("child woke at {} cancelled={}", trio::current_time(), r.is_err()));
                            });
                            i.cancel();
                            Ok(())
                        })
                        .await?;
                    wait_all_tasks_blocked(Duration::ZERO).await?;
                    l.push("inner cancelled, child still asleep");
                    trio::sleep(secs(1)).await?;
                    o.cancel(); // the scope the nursery was opened in
                    Ok(())
                })
                .await
            })
            .await
            .unwrap();
        assert_eq!(log.take(), ["inner cancelled, child still asleep", "child woke at 1s cancelled=true"]);
    });
}

#[test]
fn cancelling_a_nursery_reaches_grandchildren() {
    let record = Rc::new(RefCell::new(BTreeSet::new()));
    let r = record.clone();
    run_auto(async move {
        trio::open_nursery(|nursery| async move {
            for w in ["w1", "w2"] {
                let r = r.clone();
                nursery.start_soon(async move {
                    trio::open_nursery(|inner| async move {
                        for l in ["l1", "l2"] {
                            let r = r.clone();
                            inner.start_soon(async move {
                                if trio::sleep_forever().await.is_err() {
                                    r.borrow_mut().insert(format!("{w}-{l}"));
                                }
                            });
                        }
                        Ok(())
                    })
                    .await
                });
            }
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await
        .unwrap();
    });
    let got: Vec<String> = record.borrow().iter().cloned().collect();
    assert_eq!(got, ["w1-l1", "w1-l2", "w2-l1", "w2-l2"]);
}

#[test]
fn a_task_spawned_into_a_cancelled_nursery_runs_until_its_first_checkpoint() {
    let log = Log::default();
    let l = log.clone();
    trio::run(async move {
        trio::open_nursery(|nursery| async move {
            nursery.cancel_scope().cancel();
            nursery.start_soon(async move {
                l.push("started");
                trio::sleep_forever().await?;
                l.push("never");
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    });
    assert_eq!(log.take(), ["started"]);
}

#[test]
fn cancelling_the_nursery_scope_is_caught_by_the_nursery() {
    run_auto(async {
        let mut scope = None;
        let out: () = trio::open_nursery(|nursery| {
            scope = Some(nursery.cancel_scope());
            async move {
                let n = nursery.clone();
                nursery.start_soon(async move {
                    trio::sleep(secs(1)).await?;
                    n.cancel_scope().cancel();
                    Ok(())
                });
                trio::sleep_forever().await?;
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(out, ());
        assert!(scope.unwrap().cancelled_caught());
    });
}

#[test]
fn a_nursery_body_value_is_none_when_the_nursery_cancelled_it() {
    run_auto(async {
        let v: Option<u32> = trio::open_nursery(|nursery| async move {
            nursery.cancel_scope().cancel();
            trio::checkpoint().await?;
            Ok(Some(1))
        })
        .await
        .unwrap();
        assert_eq!(v, None);
    });
}

#[test]
fn outer_cancellation_propagates_through_a_nursery_as_plain_cancelled() {
    run_auto(async {
        let outer = CancelScope::new();
        let o = outer.clone();
        let out = outer
            .run(async move {
                let r = trio::open_nursery(|nursery| async move {
                    nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
                    o.cancel();
                    trio::sleep_forever().await?;
                    Ok(())
                })
                .await;
                let err = r.unwrap_err();
                assert!(err.is_cancelled());
                assert!(err.is::<trio::Cancelled>(), "a group of only cancellations collapses: {err:?}");
                Err::<(), _>(err)
            })
            .await
            .unwrap();
        assert_eq!(out, None);
        assert!(outer.cancelled_caught());
    });
}

#[test]
fn cancellations_are_filtered_out_of_a_group_by_the_scope_that_owns_them() {
    #[derive(Debug)]
    struct KeyError;
    impl std::fmt::Display for KeyError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("key error")
        }
    }
    impl std::error::Error for KeyError {}

    run_auto(async {
        let outer = CancelScope::new();
        let o = outer.clone();
        let err = outer
            .run(async move {
                let r = trio::open_nursery(|nursery| async move {
                    nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
                    nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
                    nursery.cancel_scope().cancel();
                    CancelScope::shielded().run(async { Ok(wait_all_tasks_blocked(Duration::ZERO).await?) }).await?;
                    nursery.start_soon(async { Ok(trio::sleep_forever().await?) });
                    o.cancel();
                    nursery.start_soon(async { Err(Error::new(KeyError)) });
                    Ok(())
                })
                .await;
                let err = r.unwrap_err();
                // The outer scope is cancelled too, so the nursery keeps the cancellations …
                let group = err.as_group().expect("a group");
                assert!(group.len() >= 2, "{group}");
                Err::<(), _>(err)
            })
            .await
            .unwrap_err();
        // … and the outer scope removes them, leaving the real error.
        let group = err.as_group().expect("still a group");
        assert_eq!(group.len(), 1, "{group}");
        assert!(group.find::<KeyError>().is_some());
        assert!(outer.cancelled_caught());
    });
}

#[test]
fn a_panicking_child_cancels_siblings_and_resumes_in_the_parent_after_they_finish() {
    let log = Log::default();
    let l = log.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        run_auto(async move {
            let l2 = l.clone();
            let _ = trio::open_nursery(|nursery| async move {
                let l3 = l2.clone();
                nursery.start_soon(async move {
                    let r = trio::sleep(secs(10)).await;
                    // still running after the panic, and it may even checkpoint in a shield
                    CancelScope::shielded().run(async { Ok(trio::sleep(secs(1)).await?) }).await.unwrap();
                    l3.push(format!("sibling cancelled={} finished at {}", r.is_err(), trio::current_time()));
                });
                nursery.start_soon(async {
                    trio::sleep(secs(2)).await.ok();
                    panic!("child exploded");
                });
                Ok(())
            })
            .await;
            l.push("not reached");
        })
    }));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child exploded"));
    assert_eq!(log.take(), ["sibling cancelled=true finished at 3s"]);
}

#[test]
fn several_panics_resume_as_one_that_names_them_all() {
    let result = std::panic::catch_unwind(|| {
        trio::run(async {
            let _ = trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("p1", async { panic!("first") });
                nursery.start_soon_named("p2", async { panic!("second") });
                nursery.start_soon_named("e1", async { Err(Error::msg("plain error")) });
                Ok(())
            })
            .await;
        })
    });
    let payload = result.unwrap_err();
    let message = payload.downcast_ref::<String>().expect("a combined message");
    assert!(message.contains("task `p1` panicked: first"), "{message}");
    assert!(message.contains("task `p2` panicked: second"), "{message}");
    assert!(message.contains("task `e1` failed: plain error"), "{message}");
}

#[test]
fn a_panic_in_the_body_waits_for_children_before_resuming() {
    let log = Log::default();
    let l = log.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        run_auto(async move {
            let _: trio::Result<()> = trio::open_nursery(|nursery| async move {
                let l2 = l.clone();
                nursery.start_soon(async move {
                    let r = trio::sleep(secs(5)).await;
                    l2.push(format!("child cancelled={}", r.is_err()));
                });
                trio::checkpoint().await?;
                panic!("body exploded");
            })
            .await;
        })
    }));
    assert!(result.is_err());
    assert_eq!(log.take(), ["child cancelled=true"]);
}

#[test]
fn dropping_a_nursery_future_drops_its_children() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    run_auto(async move {
        let d2 = d.clone();
        // The nursery loses a race against the timeout inside a select: its future is dropped.
        let nursery = Box::pin(trio::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let _flag = Flag(d2);
                trio::sleep_forever().await?;
                Ok(())
            });
            Ok(())
        }));
        let timeout = Box::pin(trio::sleep(secs(1)));
        match futures::future::select(nursery, timeout).await {
            futures::future::Either::Right((_, nursery)) => {
                assert!(!d.get());
                assert_eq!(trio::lowlevel::current_statistics().tasks_living, 2);
                drop(nursery);
            }
            futures::future::Either::Left(_) => panic!("the nursery cannot finish"),
        }
        assert!(d.get(), "the child was dropped with its nursery");
        assert_eq!(trio::lowlevel::current_statistics().tasks_living, 1);
    });
    assert!(dropped.get());
}

#[test]
fn opening_and_closing_an_empty_nursery_is_a_schedule_point_not_a_cancel_point() {
    trio::run(async {
        let task = trio::lowlevel::current_task();
        let before = task.schedule_points();
        let scope = CancelScope::new();
        scope.cancel();
        scope
            .run(async {
                trio::open_nursery(|_| async { Ok(()) }).await?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(!scope.cancelled_caught());
        assert!(task.schedule_points() > before);

        let before = task.schedule_points();
        let scope = CancelScope::new();
        scope.cancel();
        scope
            .run(async {
                trio::open_nursery(|nursery| async move {
                    nursery.start_soon(async {});
                    Ok(())
                })
                .await?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(!scope.cancelled_caught());
        assert!(task.schedule_points() > before);
    });
}

#[test]
fn task_names_ids_and_parents() {
    async fn named_child() {
        let me = trio::lowlevel::current_task();
        assert!(me.name().ends_with("named_child"), "{}", me.name());
    }
    trio::run(async {
        let main = trio::lowlevel::current_task();
        assert_eq!(main.id().as_u64(), 1);
        assert_eq!(trio::lowlevel::current_root_task(), main);
        let main_id = main.id();
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(named_child());
            nursery.start_soon(async move {
                let me = trio::lowlevel::current_task();
                assert_eq!(me.id().as_u64(), 3);
                assert_eq!(me.parent(), Some(main_id));
                assert!(
                    me.name().contains("nursery_basics.rs:"),
                    "an async block is named by its spawn site: {}",
                    me.name()
                );
                assert!(me.spawn_location().file().ends_with("nursery_basics.rs"));
            });
            nursery.start_soon_named("custom", async {
                assert_eq!(trio::lowlevel::current_task().name(), "custom");
                assert_eq!(trio::lowlevel::current_task().id().as_u64(), 4);
            });
            Ok(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_panic_resumes_as_it_was_when_its_siblings_were_only_cancelled() {
    let outcome = std::panic::catch_unwind(|| {
        run_auto(async {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("sleeper", async {
                    trio::sleep_forever().await?;
                    Ok(())
                });
                nursery.start_soon_named("crasher", async {
                    trio::checkpoint().await.ok();
                    panic!("the original message");
                });
                Ok(())
            })
            .await
            .unwrap();
        })
    });
    let payload = outcome.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the original message"),
        "not rewrapped: the sleeper was only cancelled"
    );
}

#[test]
fn a_combined_panic_lists_real_failures_but_not_cancelled_siblings() {
    let outcome = std::panic::catch_unwind(|| {
        run_auto(async {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("sleeper", async {
                    trio::sleep_forever().await?;
                    Ok(())
                });
                nursery.start_soon_named("failer", async { Err(Error::msg("disk full")) });
                nursery.start_soon_named("crasher", async {
                    trio::checkpoint().await.ok();
                    panic!("boom");
                });
                Ok(())
            })
            .await
            .unwrap();
        })
    });
    let payload = outcome.unwrap_err();
    let message = payload.downcast_ref::<String>().expect("a combined message");
    assert!(message.contains("task `crasher` panicked: boom"), "{message}");
    assert!(message.contains("task `failer` failed: disk full"), "{message}");
    assert!(!message.contains("sleeper"), "a cancelled sibling is not a failure: {message}");
}
