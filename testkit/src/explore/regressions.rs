//! The regressions file: failing schedules saved next to the test, like proptest's
//! `proptest-regressions/`, and replayed first on every run. Commit it.
//!
//! `<crate>/trio-regressions/<path of the test file>.txt`, one line per failure:
//!
//! ```text
//! lost_update policy=random seed=12345 schedule=v1:3=t3 # panicked: an update was lost
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Explore, Failure, PolicyKind};
use crate::policy::Schedule;

const HEADER: &str = "\
# Failing schedules found by trio-testkit's schedule exploration. Each is replayed before
# any new schedule is explored, so a bug once found stays found. Commit this file; delete a
# line once the test passes it for good.
";

pub(super) struct Entry {
    pub(super) policy: PolicyKind,
    pub(super) seed: u64,
    pub(super) schedule: Schedule,
}

/// The crate's root: where `cargo test` runs the test binary from.
fn crate_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

/// The test file relative to the crate root: `file!()` is relative to the workspace root, so
/// strip whatever prefix leads from there to the crate.
fn relative_source(config: &Explore, root: &Path) -> PathBuf {
    let file = Path::new(config.source.file());
    if file.is_absolute() {
        return file
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from(file.file_name().unwrap_or_default()));
    }
    let mut dir = Some(root);
    while let Some(d) = dir {
        if d.join(file).exists() {
            let full = d.join(file);
            return full.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| file.to_path_buf());
        }
        dir = d.parent();
    }
    file.to_path_buf()
}

fn path(config: &Explore) -> PathBuf {
    if let Some(path) = &config.regressions_file {
        return path.clone();
    }
    let root = crate_root();
    let mut relative = relative_source(config, &root);
    relative.set_extension("txt");
    root.join("trio-regressions").join(relative)
}

pub(super) fn display_path(config: &Explore) -> String {
    let root = crate_root();
    let full = path(config);
    full.strip_prefix(&root).unwrap_or(&full).display().to_string()
}

fn test_key(config: &Explore) -> &str {
    config.name.split_once("::").map_or(&config.name, |(_, rest)| rest)
}

pub(super) fn load(config: &Explore) -> Vec<Entry> {
    let Ok(text) = std::fs::read_to_string(path(config)) else { return Vec::new() };
    let key = test_key(config);
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let mut words = line.split_whitespace();
            if words.next()? != key {
                return None;
            }
            let mut entry = Entry { policy: PolicyKind::Random, seed: 0, schedule: Schedule::new() };
            for word in words {
                let (k, v) = word.split_once('=')?;
                match k {
                    "policy" => entry.policy = v.parse().ok()?,
                    "seed" => entry.seed = v.parse().ok()?,
                    "schedule" => entry.schedule = v.parse().ok()?,
                    _ => {}
                }
            }
            Some(entry)
        })
        .collect()
}

/// Appends the failure (its minimal schedule) unless the same line is already there. Returns
/// the path shown to the user, or `None` if it could not be written.
pub(super) fn save(config: &Explore, failure: &Failure) -> Option<String> {
    // Tests of one file run on several threads and share its regressions file.
    static SAVING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _saving = SAVING.lock().unwrap_or_else(|e| e.into_inner());
    let path = path(config);
    let schedule = failure.minimal_schedule();
    let summary: String = failure.message.lines().next().unwrap_or("").chars().take(100).collect();
    let line = format!(
        "{} policy={} seed={} schedule={} # {} {}",
        test_key(config),
        failure.policy,
        failure.seed,
        schedule,
        failure.kind,
        summary
    );
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let prefix = line.split('#').next().unwrap_or(&line).trim();
    if existing.lines().any(|l| l.split('#').next().unwrap_or("").trim() == prefix) {
        return Some(display_path(config));
    }
    std::fs::create_dir_all(path.parent()?).ok()?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
    let mut text = if existing.is_empty() { HEADER.to_string() } else { String::new() };
    text.push_str(&line);
    text.push('\n');
    file.write_all(text.as_bytes()).ok()?;
    Some(display_path(config))
}
