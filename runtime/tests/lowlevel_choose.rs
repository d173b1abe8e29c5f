//! `lowlevel::choose`: a library's random choices are decisions of the run's policy — the
//! default policy always takes option 0.

use std::cell::RefCell;
use std::rc::Rc;

use trio::abc::SchedulePolicy;
use trio::lowlevel::{Choice, RunnableTasks, choose, choose_weighted};

/// A choice as the policy saw it: what, how many options, the weights.
type Asked = (String, usize, Option<Vec<u32>>);

/// Records every choice and answers from a script.
#[derive(Clone, Default)]
struct Scripted {
    asked: Rc<RefCell<Vec<Asked>>>,
    answers: Rc<RefCell<Vec<usize>>>,
}

impl SchedulePolicy for Scripted {
    fn pick_task(&mut self, _runnable: &RunnableTasks<'_>) -> usize {
        0
    }
    fn choose(&mut self, choice: &Choice<'_>) -> usize {
        self.asked.borrow_mut().push((choice.what().to_string(), choice.len(), choice.weights().map(<[u32]>::to_vec)));
        self.answers.borrow_mut().pop().unwrap_or(0)
    }
}

#[test]
fn the_default_policy_always_takes_option_zero() {
    let picks = trio::run(async { (0..10).map(|_| choose(5, "x")).collect::<Vec<_>>() });
    assert_eq!(picks, [0; 10]);
    let picks = trio::Builder::new().policy(trio::lowlevel::Fifo).run(async { choose_weighted(&[0, 1], "x") });
    assert_eq!(picks, 0, "Fifo keeps the default even against the weights");
}

#[test]
fn the_policy_sees_what_the_choice_is_about_and_its_weights() {
    let policy = Scripted::default();
    policy.answers.borrow_mut().extend([1, 2]);
    let picks = trio::Builder::new()
        .policy(policy.clone())
        .run(async { (choose(3, "latency bucket"), choose_weighted(&[90, 10], "drop the segment?")) });
    assert_eq!(picks, (2, 1));
    assert_eq!(
        *policy.asked.borrow(),
        [("latency bucket".to_string(), 3, None), ("drop the segment?".to_string(), 2, Some(vec![90, 10]))]
    );
}

#[test]
fn a_choice_of_one_option_or_none_is_not_a_decision() {
    let policy = Scripted::default();
    let picks = trio::Builder::new().policy(policy.clone()).run(async { (choose(1, "only one"), choose(0, "none")) });
    assert_eq!(picks, (0, 0));
    assert!(policy.asked.borrow().is_empty());
}

#[test]
#[should_panic(expected = "SchedulePolicy::choose returned 7 for 2 options")]
fn a_policy_that_picks_outside_the_options_is_caught() {
    let policy = Scripted::default();
    policy.answers.borrow_mut().push(7);
    trio::Builder::new().policy(policy).run(async { choose(2, "x") });
}

#[test]
#[should_panic(expected = "the weights must not all be zero")]
fn all_zero_weights_are_refused() {
    trio::run(async { choose_weighted(&[0, 0], "nothing can happen") });
}

#[test]
fn choosing_is_not_a_checkpoint() {
    trio::run(async {
        let task = trio::lowlevel::current_task();
        let (cancel, schedule) = (task.cancel_points(), task.schedule_points());
        choose(3, "x");
        assert_eq!((task.cancel_points(), task.schedule_points()), (cancel, schedule));
    });
}
