//! Which nursery a task runs in: `Task::parent_nursery`, `Nursery::id` and
//! `Nursery::opened_at`, as an instrument sees them when a task is spawned.

use std::cell::RefCell;
use std::rc::Rc;

use trio::lowlevel::Task;

/// Records, for every spawned task, its name and the id of its nursery.
#[derive(Default)]
struct Spawns(RefCell<Vec<(String, Option<u64>)>>);

impl trio::abc::Instrument for Spawns {
    fn task_spawned(&self, task: &Task) {
        self.0.borrow_mut().push((task.name().to_string(), task.parent_nursery().map(|n| n.id())));
    }
}

/// The main task opens `outer` and, inside it, `inner`; a child of `inner` starts a task into
/// `outer` with `start`. Returns the instrument's record and the two nurseries' ids.
fn two_nurseries() -> (Vec<(String, Option<u64>)>, u64, u64) {
    let spawns = Rc::new(Spawns::default());
    let ids = Rc::new(RefCell::new((0, 0)));
    let i = ids.clone();
    trio::Builder::new().instrument(spawns.clone()).run(async move {
        trio::open_nursery(|outer| async move {
            outer.start_soon_named("early", async {});
            trio::open_nursery(|inner| async move {
                *i.borrow_mut() = (outer.id(), inner.id());
                let outer = outer.clone();
                inner.start_soon_named("starter", async move {
                    let target = outer.id();
                    outer
                        .start_named("started", move |status: trio::TaskStatus| async move {
                            // Started into `outer`, although `starter` started it.
                            let me = trio::lowlevel::current_task();
                            assert_eq!(me.parent_nursery().unwrap().id(), target);
                            status.started(());
                            assert_eq!(me.parent_nursery().unwrap().id(), target);
                            Ok(())
                        })
                        .await
                });
                Ok(())
            })
            .await
        })
        .await
        .unwrap();
    });
    let (outer, inner) = *ids.borrow();
    let record = spawns.0.borrow().clone();
    (record, outer, inner)
}

#[test]
fn a_spawned_task_knows_its_nursery() {
    let (spawns, outer, inner) = two_nurseries();
    assert_ne!(outer, inner);
    let nursery_of = |name: &str| spawns.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(nursery_of("early"), Some(outer));
    assert_eq!(nursery_of("starter"), Some(inner));
    assert_eq!(nursery_of("started"), Some(outer), "a task being started belongs to its target nursery");
    assert_eq!(spawns[0].1, None, "the main task runs in no nursery");
}

#[test]
fn nursery_ids_are_the_same_on_every_run() {
    let first = two_nurseries();
    let second = two_nurseries();
    assert_eq!(first, second);
}

#[test]
fn a_task_outside_any_nursery_has_none_and_an_exited_task_lets_go_of_its_nursery() {
    trio::run(async {
        assert!(trio::lowlevel::current_task().parent_nursery().is_none());
        let child = trio::open_nursery(|nursery| async move {
            nursery.start_soon(async {});
            let child = nursery.child_tasks().pop().unwrap();
            assert_eq!(child.parent_nursery().map(|n| n.id()), Some(nursery.id()));
            assert_eq!(child.parent_nursery().unwrap().opened_at(), nursery.opened_at());
            Ok(Some(child))
        })
        .await
        .unwrap()
        .unwrap();
        assert!(child.has_exited());
        assert!(child.parent_nursery().is_none());
    });
}
