//! Panics in a schedule: captured quietly (the report prints the failing one, once), with where
//! they happened and the trio task they happened in.

use std::cell::{Cell, RefCell};
use std::sync::Once;

thread_local! {
    /// Set while the engine runs schedules on this thread: failing schedules must not each
    /// print a panic.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic on this thread happened, for the report.
    static LAST_PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with panic messages suppressed on this thread (the engine reports them, once).
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    install_panic_note();
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            QUIET.with(|q| q.set(self.0));
        }
    }
    let _restore = Restore(QUIET.with(|q| q.replace(true)));
    f()
}

/// The panic's message, where it happened, and which task it happened in.
pub(crate) fn describe_panic(payload: &(dyn std::any::Any + Send)) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<a panic with a non-string payload>".to_string()
    };
    match LAST_PANIC_AT.with(|l| l.borrow_mut().take()) {
        Some(at) => format!("{message}\n(panicked at {at})"),
        None => message,
    }
}

/// Chains a panic hook that, after the usual message, names the trio task that panicked — the
/// runtime carries a child's panic to the test's main task unchanged, so without this the
/// output would not say which task it came from. While [`quietly`] is in force on the
/// panicking thread, it only records where the panic happened. It never panics itself.
pub(crate) fn install_panic_note() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let task = trio::lowlevel::try_current_task();
            if QUIET.try_with(Cell::get).unwrap_or(false) {
                let mut at = info.location().map(|l| l.to_string()).unwrap_or_else(|| "an unknown place".into());
                if let Some(task) = task.filter(|task| task.parent().is_some()) {
                    at.push_str(&format!(", in trio task `{}` spawned at {}", task.name(), task.spawn_location()));
                }
                let _ = LAST_PANIC_AT.try_with(|l| *l.borrow_mut() = Some(at));
                return;
            }
            previous(info);
            if let Some(task) = task.filter(|task| task.parent().is_some()) {
                eprintln!(
                    "note: the panic above happened in trio task `{}` (spawned at {})",
                    task.name(),
                    task.spawn_location()
                );
            }
        }));
    });
}
