//! `RunVar`: one value per run, gone with the run.

use std::cell::Cell;
use std::rc::Rc;

use trio::lowlevel::RunVar;

static COUNTER: RunVar<u32> = RunVar::new("counter");
static SHARED: RunVar<Rc<Cell<u32>>> = RunVar::new("shared");
static OTHER: RunVar<u32> = RunVar::new("other");

#[test]
fn a_run_var_starts_unset_in_every_run() {
    for _ in 0..3 {
        trio::run(async {
            assert!(!COUNTER.is_set());
            assert_eq!(COUNTER.get(), None);
            COUNTER.set(7);
            assert_eq!(COUNTER.get(), Some(7));
        });
    }
}

#[test]
fn set_returns_the_previous_value_and_take_removes_it() {
    trio::run(async {
        assert_eq!(COUNTER.set(1), None);
        assert_eq!(COUNTER.set(2), Some(1));
        assert_eq!(COUNTER.take(), Some(2));
        assert_eq!(COUNTER.take(), None);
    });
}

#[test]
fn variables_are_independent() {
    trio::run(async {
        COUNTER.set(1);
        OTHER.set(2);
        assert_eq!((COUNTER.get(), OTHER.get()), (Some(1), Some(2)));
    });
}

/// `get_or_init` may use other variables while it initialises (no borrow is held).
#[test]
fn get_or_init_runs_once_and_may_use_other_variables() {
    trio::run(async {
        let calls = Cell::new(0);
        let make = || {
            calls.set(calls.get() + 1);
            OTHER.set(5);
            Rc::new(Cell::new(OTHER.get().unwrap()))
        };
        assert_eq!(SHARED.get_or_init(make).get(), 5);
        assert_eq!(SHARED.get_or_init(|| unreachable!()).get(), 5);
        assert_eq!(calls.get(), 1);
    });
}

/// The value is dropped with the run, not kept until the thread ends.
#[test]
fn the_value_is_dropped_when_the_run_ends() {
    let probe = Rc::new(Cell::new(0));
    let p = probe.clone();
    trio::run(async move {
        SHARED.set(p);
    });
    assert_eq!(Rc::strong_count(&probe), 1);
}

/// Every task of the run sees the same value.
#[test]
fn tasks_of_one_run_share_the_value() {
    trio::run(async {
        COUNTER.set(10);
        trio::open_nursery(|nursery| async move {
            nursery.start_soon(async {
                assert_eq!(COUNTER.get(), Some(10));
                COUNTER.set(11);
            });
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(COUNTER.get(), Some(11));
    });
}

#[test]
#[should_panic(expected = "called outside of trio::run")]
fn using_a_run_var_outside_a_run_panics_with_a_clear_message() {
    COUNTER.get();
}

#[test]
fn its_debug_names_it() {
    assert!(format!("{COUNTER:?}").contains("counter"));
}
