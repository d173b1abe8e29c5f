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

use super::Failure;
use crate::config::{Explore, PolicyKind, parse_seed};
use crate::policy::Schedule;

const HEADER: &str = "\
# Failing schedules found by trio-testkit's schedule exploration. Each is replayed before
# any new schedule is explored, so a bug once found stays found. Commit this file; delete a
# line once the test passes it for good.
";

/// One saved failing schedule of the test.
pub(crate) struct Entry {
    pub(crate) policy: PolicyKind,
    pub(crate) seed: u64,
    pub(crate) schedule: Schedule,
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

pub(crate) fn display_path(config: &Explore) -> String {
    let root = crate_root();
    let full = path(config);
    full.strip_prefix(&root).unwrap_or(&full).display().to_string()
}

fn test_key(config: &Explore) -> &str {
    config.name.split_once("::").map_or(&config.name, |(_, rest)| rest)
}

/// The test's saved schedules, and a warning for every line that could be one of them but
/// does not parse (naming the file, the line and what is wrong). The file is read line by
/// line: one bad line costs that line only.
pub(crate) fn load(config: &Explore) -> (Vec<Entry>, Vec<String>) {
    let path = path(config);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
        Err(error) => {
            return (Vec::new(), vec![format!("{}: cannot read the regressions file: {error}", display_path(config))]);
        }
    };
    let shown = display_path(config);
    let key = test_key(config);
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for (number, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = match std::str::from_utf8(raw) {
            Ok(line) => line,
            Err(error) => {
                // Which test the line is for may be unreadable too: whoever's it might be, say so.
                let first_word = raw.split(|b| b.is_ascii_whitespace()).find(|w| !w.is_empty()).unwrap_or(&[]);
                if std::str::from_utf8(first_word).is_ok_and(|word| word != key) {
                    continue;
                }
                warnings.push(format!(
                    "{shown}:{}: not valid UTF-8 (at byte {} of the line); line skipped",
                    number + 1,
                    error.valid_up_to() + 1
                ));
                continue;
            }
        };
        let content = line.split('#').next().unwrap_or("").trim();
        let mut words = content.split_whitespace();
        if words.next() != Some(key) {
            continue;
        }
        match parse_entry(words) {
            Ok((entry, unknown)) => {
                for field in unknown {
                    warnings.push(format!("{shown}:{}: unknown field `{field}` ignored", number + 1));
                }
                entries.push(entry);
            }
            Err(what) => warnings.push(format!("{shown}:{}: {what}; line skipped: {}", number + 1, line.trim())),
        }
    }
    (entries, warnings)
}

/// `policy=… seed=… schedule=…`: the entry, and the names of fields it does not know.
fn parse_entry<'a>(words: impl Iterator<Item = &'a str>) -> Result<(Entry, Vec<&'a str>), String> {
    let mut policy = None;
    let mut seed = None;
    let mut schedule = None;
    let mut unknown = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("`{word}` is not a `name=value` field"));
        };
        match key {
            "policy" => policy = Some(value.parse::<PolicyKind>().map_err(|e| format!("bad policy: {e}"))?),
            "seed" => {
                seed = Some(
                    parse_seed(value).ok_or_else(|| format!("bad seed `{value}`: a decimal number or 0x and hex"))?,
                )
            }
            "schedule" => schedule = Some(value.parse::<Schedule>().map_err(|e| format!("bad schedule: {e}"))?),
            _ => unknown.push(key),
        }
    }
    let seed = seed.ok_or("no `seed=` field")?;
    let schedule = schedule.ok_or("no `schedule=` field")?;
    Ok((Entry { policy: policy.unwrap_or(PolicyKind::Random), seed, schedule }, unknown))
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
    // Lossy: a line spoilt by a bad byte must not make every other line look absent.
    let bytes = std::fs::read(&path).unwrap_or_default();
    let existing = String::from_utf8_lossy(&bytes);
    let prefix = line.split('#').next().unwrap_or(&line).trim();
    if existing.lines().any(|l| l.split('#').next().unwrap_or("").trim() == prefix) {
        return Some(display_path(config));
    }
    std::fs::create_dir_all(path.parent()?).ok()?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
    let mut text = match bytes.last() {
        None => HEADER.to_string(),
        Some(b'\n') => String::new(),
        Some(_) => "\n".to_string(),
    };
    text.push_str(&line);
    text.push('\n');
    file.write_all(text.as_bytes()).ok()?;
    Some(display_path(config))
}
