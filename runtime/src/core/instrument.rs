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
    fn before_run(&self) {}
    /// The run has finished (also when it was stopped).
    fn after_run(&self) {}
    /// A task was created.
    fn task_spawned(&self, task: &Task) {}
    /// A task became runnable.
    fn task_scheduled(&self, task: &Task) {}
    /// A task is about to be polled.
    fn before_task_step(&self, task: &Task) {}
    /// A task was polled.
    fn after_task_step(&self, task: &Task) {}
    /// A task exited (or was dropped with its nursery).
    fn task_exited(&self, task: &Task) {}
    /// Nothing is runnable; the loop is about to wait at most `timeout` (`None`: until woken
    /// from outside).
    fn before_io_wait(&self, timeout: Option<Duration>) {}
    /// The wait is over.
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
