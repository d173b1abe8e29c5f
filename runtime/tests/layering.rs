//! The layering rule of `docs/design.md`: `runtime/src/core/` is private, and everything above it
//! (channels, sync primitives, the parking lot, streams, networking) reaches it only through the
//! public `trio::lowlevel` API, the way Trio builds `_sync.py` on `_core`.
//!
//! This test reads the crate's sources and fails on any path into `core` from a file outside it,
//! except the facade files that re-export the core's public items and the documented exceptions
//! below.

use std::path::{Path, PathBuf};

/// Files outside `core/` that may name `crate::core`, each with the reason `docs/design.md`
/// gives. An entry that no longer imports from the core fails the test too, so the list stays
/// true.
const EXCEPTIONS: &[(&str, &str)] = &[
    ("lib.rs", "the crate root re-exports the core's public items"),
    ("lowlevel.rs", "the public low-level API is the core's one door"),
    ("abc.rs", "re-exports the core's traits (Clock, Instrument, SchedulePolicy) as trio::abc"),
    ("time.rs", "a sleep is one timer entry in the run's heap, not a scope around sleep_forever (design.md, Layers)"),
    (
        "signal.rs",
        "Ctrl-C cancels the whole run through the run loop's KiHandle, which no task may hold (design.md, Layers)",
    ),
];

/// The lines of `source` that reach into the core module, with their line numbers.
fn core_imports(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // Inside a `use crate::{ … }` (or `use super::{ … }`) group spanning several lines.
    let mut in_group = false;
    for (number, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        let direct = ["crate::core", "super::core", "crate::{core", "super::{core"].iter().any(|p| code.contains(p));
        let grouped = in_group
            && code
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .any(|word| word == "core" || word.starts_with("core::"));
        if direct || grouped {
            found.push((number + 1, line.to_string()));
        }
        if code.starts_with("use crate::{") || code.starts_with("pub use crate::{") || code.starts_with("use super::{")
        {
            in_group = !code.contains("};");
        } else if in_group && code.contains("};") {
            in_group = false;
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("runtime/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_facade_and_documented_exceptions_import_from_core() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut exceptions_used = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        if relative.starts_with("core/") {
            continue;
        }
        let imports = core_imports(&std::fs::read_to_string(file).expect("a source file is readable"));
        if imports.is_empty() {
            continue;
        }
        if EXCEPTIONS.iter().any(|(name, _)| *name == relative) {
            exceptions_used.push(relative);
            continue;
        }
        for (line, text) in imports {
            violations.push(format!("runtime/src/{relative}:{line}: {}", text.trim()));
        }
    }
    assert!(
        violations.is_empty(),
        "code outside runtime/src/core/ imports from the core; use what trio::lowlevel offers (and make it \
         offer what is missing), or document the exception in docs/design.md and in this test:\n{}",
        violations.join("\n")
    );
    for (name, reason) in EXCEPTIONS {
        assert!(
            exceptions_used.iter().any(|used| used == name),
            "{name} is listed as an exception ({reason}) but no longer imports from the core: remove it from the list"
        );
    }
}

#[test]
fn the_scan_catches_every_form_of_path_into_the_core() {
    let caught = |source: &str| !core_imports(source).is_empty();
    assert!(caught("use crate::core::wait::Waiters;"));
    assert!(caught("use super::core::task::Task;"));
    assert!(caught("pub(crate) use crate::core::local::RunVar;"));
    assert!(caught("use crate::{core::wait::WaitList, error::Cancelled};"));
    assert!(caught("use crate::{\n    channel::Capacity,\n    core::runtime::Runtime,\n};"));
    assert!(caught("fn f() { crate::core::runtime::Runtime::with(|_| ()); }"));
    // Not paths into our core module:
    assert!(!caught("use std::cell::Cell;\nuse ::core::fmt;"));
    assert!(!caught("use crate::lowlevel::WaitQueue; // once crate::core::wait::Waiters"));
    assert!(!caught("use crate::{\n    channel::Capacity,\n    corefoo::Thing,\n};"));
    assert!(!caught("use std::{\n    core_arch,\n};"));
}
