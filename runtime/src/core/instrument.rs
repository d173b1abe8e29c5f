//! The instrument hook (Trio's `trio.abc.Instrument`).

use std::rc::Rc;
use std::time::Duration;

use super::task::Task;

/// Observes a run: every method has an empty default, so implement the ones you need.
///
/// Instruments are called on the run's thread, synchronously, in a fixed order; two runs of
/// the same program with the same seed and policy produce the same sequence of calls. The
/// testkit's traces and determinism check are built on this.
///
/// As in Trio, a task's step is bracketed by `before_task_step` and `after_task_step`, which
/// run in the task's context ([`current_task`](crate::lowlevel::current_task) is that task); a
/// wake the step causes (a checkpoint rescheduling the task itself, an event waking another)
/// is reported by `task_scheduled` in between, and the step that ends a task reports
/// `task_exited` before its `after_task_step`. The instruments of a run are fixed by the
/// [`Builder`](crate::Builder); one that panics panics out of [`run`](crate::run).
///
/// An instrument must not spawn tasks or add instruments; reading the time and task
/// information is fine.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// #[derive(Default)]
/// struct CountSteps(Cell<u32>);
///
/// impl trio::abc::Instrument for CountSteps {
///     fn before_task_step(&self, _task: &trio::lowlevel::Task) {
///         self.0.set(self.0.get() + 1);
///     }
/// }
///
/// let counter = Rc::new(CountSteps::default());
/// trio::Builder::new().instrument(counter.clone()).run(async {
///     trio::checkpoint().await.unwrap();
/// });
/// assert_eq!(counter.0.get(), 2); // the main task ran, yielded, and ran again
/// ```
#[allow(unused_variables, reason = "default methods ignore their arguments")]
pub trait Instrument {
    /// The run is starting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// #[derive(Default)]
    /// struct Runs(Cell<u32>);
    ///
    /// impl trio::abc::Instrument for Runs {
    ///     fn before_run(&self) {
    ///         assert_eq!(trio::lowlevel::current_statistics().steps, 0); // nothing ran yet
    ///         self.0.set(self.0.get() + 1);
    ///     }
    /// }
    ///
    /// let runs = Rc::new(Runs::default());
    /// trio::Builder::new().instrument(runs.clone()).run(async {});
    /// assert_eq!(runs.0.get(), 1);
    /// ```
    fn before_run(&self) {}
    /// The run has finished (also when it was stopped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// #[derive(Default)]
    /// struct Finished(Cell<bool>);
    ///
    /// impl trio::abc::Instrument for Finished {
    ///     fn after_run(&self) {
    ///         self.0.set(true);
    ///     }
    /// }
    ///
    /// let finished = Rc::new(Finished::default());
    /// // Also called for a run that was stopped: here, a deadlock.
    /// let result = trio::Builder::new().instrument(finished.clone()).try_run(async {
    ///     trio::Event::new().wait().await.ok();
    /// });
    /// assert!(result.is_err());
    /// assert!(finished.0.get());
    /// ```
    fn after_run(&self) {}
    /// A task was created.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio::lowlevel::Task;
    ///
    /// #[derive(Default)]
    /// struct Spawned(RefCell<Vec<String>>);
    ///
    /// impl trio::abc::Instrument for Spawned {
    ///     fn task_spawned(&self, task: &Task) {
    ///         self.0.borrow_mut().push(task.name().to_string());
    ///     }
    /// }
    ///
    /// let spawned = Rc::new(Spawned::default());
    /// trio::Builder::new().instrument(spawned.clone()).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("worker", async {});
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert_eq!(spawned.0.borrow().last().map(String::as_str), Some("worker"));
    /// ```
    fn task_spawned(&self, task: &Task) {}
    /// A task became runnable.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio::lowlevel::Task;
    ///
    /// #[derive(Default)]
    /// struct Wakes(Cell<u32>);
    ///
    /// impl trio::abc::Instrument for Wakes {
    ///     fn task_scheduled(&self, task: &Task) {
    ///         if task.name() == "sleeper" {
    ///             self.0.set(self.0.get() + 1);
    ///         }
    ///     }
    /// }
    ///
    /// let wakes = Rc::new(Wakes::default());
    /// trio::Builder::new().instrument(wakes.clone()).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("sleeper", async {
    ///             trio::sleep(std::time::Duration::from_millis(1)).await?;
    ///             Ok(())
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert_eq!(wakes.0.get(), 2); // when it was started, and when its sleep ended
    /// ```
    fn task_scheduled(&self, task: &Task) {}
    /// A task is about to be polled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio::lowlevel::{Task, TaskId};
    ///
    /// #[derive(Default)]
    /// struct Steps(RefCell<Vec<TaskId>>);
    ///
    /// impl trio::abc::Instrument for Steps {
    ///     fn before_task_step(&self, task: &Task) {
    ///         self.0.borrow_mut().push(task.id());
    ///     }
    /// }
    ///
    /// let steps = Rc::new(Steps::default());
    /// trio::Builder::new().instrument(steps.clone()).run(async {
    ///     trio::checkpoint().await.unwrap();
    ///     trio::checkpoint().await.unwrap();
    /// });
    /// assert_eq!(steps.0.borrow().len(), 3); // polled once, then again after each checkpoint
    /// ```
    fn before_task_step(&self, task: &Task) {}
    /// A task was polled. Called in the task's context, as `before_task_step` is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio::lowlevel::Task;
    ///
    /// /// Checks that every step that began also ended.
    /// #[derive(Default)]
    /// struct Balanced(Cell<i32>);
    ///
    /// impl trio::abc::Instrument for Balanced {
    ///     fn before_task_step(&self, _task: &Task) {
    ///         self.0.set(self.0.get() + 1);
    ///     }
    ///     fn after_task_step(&self, task: &Task) {
    ///         assert!(task.schedule_points() <= 2);
    ///         self.0.set(self.0.get() - 1);
    ///     }
    /// }
    ///
    /// let balance = Rc::new(Balanced::default());
    /// trio::Builder::new().instrument(balance.clone()).run(async {
    ///     trio::checkpoint().await.unwrap();
    /// });
    /// assert_eq!(balance.0.get(), 0);
    /// ```
    fn after_task_step(&self, task: &Task) {}
    /// A task exited (or was dropped with its nursery). A task that exits reports it in its own
    /// context, during its last step, before that step's `after_task_step`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio::lowlevel::Task;
    ///
    /// #[derive(Default)]
    /// struct Exits(RefCell<Vec<String>>);
    ///
    /// impl trio::abc::Instrument for Exits {
    ///     fn task_exited(&self, task: &Task) {
    ///         self.0.borrow_mut().push(task.name().to_string());
    ///     }
    /// }
    ///
    /// let exits = Rc::new(Exits::default());
    /// trio::Builder::new().instrument(exits.clone()).run(async {
    ///     trio::open_nursery(|nursery| async move {
    ///         nursery.start_soon_named("quick", async {});
    ///         nursery.start_soon_named("slow", async {
    ///             trio::checkpoint().await?;
    ///             Ok(())
    ///         });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert_eq!(exits.0.borrow()[..2], ["quick", "slow"]);
    /// ```
    fn task_exited(&self, task: &Task) {}
    /// Nothing is runnable; the loop is about to wait at most `timeout` (`None`: until woken
    /// from outside).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// #[derive(Default)]
    /// struct Waits(RefCell<Vec<Option<Duration>>>);
    ///
    /// impl trio::abc::Instrument for Waits {
    ///     fn before_io_wait(&self, timeout: Option<Duration>) {
    ///         self.0.borrow_mut().push(timeout);
    ///     }
    /// }
    ///
    /// let waits = Rc::new(Waits::default());
    /// trio::Builder::new().instrument(waits.clone()).run(async {
    ///     trio::sleep(Duration::from_millis(2)).await.unwrap();
    /// });
    /// // The loop waited for the sleep's deadline, never longer.
    /// let waits = waits.0.borrow();
    /// assert!(!waits.is_empty());
    /// assert!(waits.iter().all(|timeout| timeout.is_some_and(|t| t <= Duration::from_millis(2))));
    /// ```
    fn before_io_wait(&self, timeout: Option<Duration>) {}
    /// The wait is over.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// /// Counts waits that were entered but not yet left.
    /// #[derive(Default)]
    /// struct InWait(Cell<i32>);
    ///
    /// impl trio::abc::Instrument for InWait {
    ///     fn before_io_wait(&self, _timeout: Option<Duration>) {
    ///         self.0.set(self.0.get() + 1);
    ///     }
    ///     fn after_io_wait(&self, _timeout: Option<Duration>) {
    ///         self.0.set(self.0.get() - 1);
    ///     }
    /// }
    ///
    /// let in_wait = Rc::new(InWait::default());
    /// trio::Builder::new().instrument(in_wait.clone()).run(async {
    ///     trio::sleep(Duration::from_millis(1)).await.unwrap();
    /// });
    /// assert_eq!(in_wait.0.get(), 0);
    /// ```
    fn after_io_wait(&self, timeout: Option<Duration>) {}
}

impl<I: Instrument + ?Sized> Instrument for Rc<I> {
    fn before_run(&self) {
        (**self).before_run();
    }
    fn after_run(&self) {
        (**self).after_run();
    }
    fn task_spawned(&self, task: &Task) {
        (**self).task_spawned(task);
    }
    fn task_scheduled(&self, task: &Task) {
        (**self).task_scheduled(task);
    }
    fn before_task_step(&self, task: &Task) {
        (**self).before_task_step(task);
    }
    fn after_task_step(&self, task: &Task) {
        (**self).after_task_step(task);
    }
    fn task_exited(&self, task: &Task) {
        (**self).task_exited(task);
    }
    fn before_io_wait(&self, timeout: Option<Duration>) {
        (**self).before_io_wait(timeout);
    }
    fn after_io_wait(&self, timeout: Option<Duration>) {
        (**self).after_io_wait(timeout);
    }
}
