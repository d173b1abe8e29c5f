//! `always!`, `sometimes!` and `reachable!` outside an exploration, and the hook the testkit
//! counts them with.

use std::cell::RefCell;
use std::rc::Rc;

use trio::lowlevel::{AssertionKind, AssertionSite, set_assertion_hook};

type Seen = Rc<RefCell<Vec<(AssertionKind, &'static str, bool, u32)>>>;

fn record() -> (Seen, Option<trio::lowlevel::AssertionHook>) {
    let seen: Seen = Rc::default();
    let s = seen.clone();
    let previous = set_assertion_hook(Some(Rc::new(move |site: &'static AssertionSite, holds| {
        s.borrow_mut().push((site.kind(), site.message(), holds, site.line()));
    })));
    (seen, previous)
}

#[test]
fn a_false_always_panics_at_the_callers_line_even_without_a_hook() {
    let panic = std::panic::catch_unwind(|| {
        trio::always!(2 < 1, "two is less than one");
    });
    let message = panic.unwrap_err().downcast::<String>().unwrap();
    assert_eq!(*message, "assertion failed: always!(2 < 1): two is less than one");
    // The macro names its own line in the site, which the report prints.
    let (seen, previous) = record();
    let _ = std::panic::catch_unwind(|| trio::always!(false, "at this line"));
    let here = line!() - 1;
    set_assertion_hook(previous);
    assert_eq!(*seen.borrow(), [(AssertionKind::Always, "at this line", false, here)]);
}

#[test]
fn the_hook_sees_each_evaluation_with_whether_it_held() {
    let (seen, previous) = record();
    for i in 0..3 {
        trio::sometimes!(i == 1, "the middle round");
        trio::always!(i < 3, "in range");
    }
    trio::reachable!("after the loop");
    set_assertion_hook(previous);
    let kinds: Vec<(AssertionKind, bool)> = seen.borrow().iter().map(|(k, _, h, _)| (*k, *h)).collect();
    assert_eq!(
        kinds,
        [
            (AssertionKind::Sometimes, false),
            (AssertionKind::Always, true),
            (AssertionKind::Sometimes, true),
            (AssertionKind::Always, true),
            (AssertionKind::Sometimes, false),
            (AssertionKind::Always, true),
            (AssertionKind::Reachable, true),
        ]
    );
}

#[test]
fn a_hook_that_evaluates_an_assertion_itself_does_not_find_the_slot_borrowed() {
    let inner = Rc::new(RefCell::new(0));
    let i = inner.clone();
    let previous = set_assertion_hook(Some(Rc::new(move |site: &'static AssertionSite, _| {
        if site.message() == "outer" {
            trio::reachable!("inner");
        } else {
            *i.borrow_mut() += 1;
        }
    })));
    trio::reachable!("outer");
    set_assertion_hook(previous);
    assert_eq!(*inner.borrow(), 1);
}

#[test]
fn sometimes_and_reachable_do_nothing_without_a_hook() {
    assert!(set_assertion_hook(None).is_none());
    trio::sometimes!(false, "never");
    trio::reachable!("reached");
    // Inside a run too: the runtime installs no hook of its own.
    trio::run(async {
        trio::sometimes!(false, "never, in a run");
    });
    assert!(set_assertion_hook(None).is_none());
}
