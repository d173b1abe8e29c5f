//! What every example of the course shares: how it runs (clock and seed from the environment)
//! and how it prints (a line a test can capture together with the virtual time it was printed
//! at).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};

use trio::Instant;
use trio_testkit::MockClock;

/// Set to `1` to run an example on the autojump clock instead of the real one.
const AUTOJUMP_VAR: &str = "TRIO_AUTOJUMP";
/// Set to a number to fix the run's seed (what the `timeout` example draws its delay from).
const SEED_VAR: &str = "TRIO_SEED";

thread_local! {
    /// The lines of the [`Transcript`] being recorded on this thread; `None` prints to stdout.
    static CAPTURE: RefCell<Option<Vec<Line>>> = const { RefCell::new(None) };
}

// ===== say! =====

/// Prints a line, like `println!` — what the examples use for Python's `print`.
///
/// When an example runs under [`Transcript::record`], the line is recorded together with the
/// run's [current time](trio::current_time) instead of being printed, so a test can check both
/// what was printed and when.
///
/// # Examples
///
/// ```
/// use trio_rs_examples::{Transcript, say};
///
/// let transcript = Transcript::record(async {
///     say!("started! sleeping now...");
///     trio::sleep(std::time::Duration::from_secs(6)).await?;
///     say!("exiting!");
///     Ok(())
/// });
/// assert_eq!(transcript.to_string(), "0s | started! sleeping now...\n6s | exiting!");
/// ```
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::print_line(::std::format_args!($($arg)*))
    };
}

/// The function behind [`say!`]: prints `line` to stdout, or adds it to the transcript being
/// recorded on this thread.
///
/// # Panics
///
/// While a transcript is being recorded, when called outside the run (it reads the run's clock).
pub fn print_line(line: fmt::Arguments<'_>) {
    CAPTURE.with(|capture| match capture.borrow_mut().as_mut() {
        Some(lines) => lines.push(Line { time: trio::current_time(), text: line.to_string() }),
        None => println!("{line}"),
    });
}

// ===== run =====

/// Runs an example's main task, the way `trio::run` does in the course, and returns its output.
///
/// Two environment variables change how:
///
/// - `TRIO_AUTOJUMP=1` runs on an autojump [`MockClock`]: time starts at zero and jumps to the
///   next deadline whenever every task waits, so the example prints exactly what it prints on
///   the real clock (the default), in no time.
/// - `TRIO_SEED=N` fixes the run's seed, which is where the examples draw random numbers from
///   ([`trio::lowlevel::current_seed`]). Without it every run gets a fresh seed, so that running
///   the `timeout` example again may give a different outcome, as the course asks you to try.
///
/// # Panics
///
/// If one of the variables is set to something it does not understand; as [`trio::run`]
/// otherwise.
///
/// # Examples
///
/// ```
/// let answer = trio_rs_examples::run(async { Ok(6 * 7) }).unwrap();
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn run<T>(main: impl Future<Output = trio::Result<T>>) -> trio::Result<T> {
    let builder = trio::Builder::new().seed(seed_from_env());
    if autojump_from_env() {
        builder.clock(MockClock::autojump()).run(main)
    } else {
        builder.run(async {
            crate::httpbin::use_real_network();
            main.await
        })
    }
}

fn autojump_from_env() -> bool {
    let value = match std::env::var_os(AUTOJUMP_VAR) {
        None => return false,
        Some(value) => value,
    };
    match value.to_str() {
        Some("" | "0") => false,
        Some("1") => true,
        _ => panic!("{AUTOJUMP_VAR} must be 1 (the autojump clock) or 0 (the real clock), not {value:?}"),
    }
}

fn seed_from_env() -> u64 {
    match std::env::var(SEED_VAR) {
        Err(std::env::VarError::NotPresent) => RandomState::new().hash_one(0u8),
        Ok(value) => match value.trim().parse() {
            Ok(seed) => seed,
            Err(_) => panic!("{SEED_VAR} must be a whole number between 0 and 2^64-1, not {value:?}"),
        },
        Err(std::env::VarError::NotUnicode(value)) => panic!("{SEED_VAR} must be a whole number, not {value:?}"),
    }
}

// ===== Transcript =====

/// What an example printed with [`say!`], each line with the virtual time it was printed at.
///
/// Its `Display` is one line per printed line, the time first: `1s |   child1: exiting!`. That is
/// what the tests pin down with snapshots.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::Instant;
/// use trio_rs_examples::{Transcript, say};
///
/// let transcript = Transcript::record(async {
///     trio::sleep(Duration::from_millis(1500)).await?;
///     say!("late");
///     Ok(())
/// });
/// assert_eq!(transcript.lines()[0].time, Instant::from_millis(1500));
/// assert_eq!(transcript.lines()[0].text, "late");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    lines: Vec<Line>,
}

/// One line of a [`Transcript`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// When it was printed, on the run's clock (a [`MockClock`] starts at zero).
    pub time: Instant,
    /// What was printed, without the newline.
    pub text: String,
}

impl Transcript {
    /// Runs `main` as [`run`] does with `TRIO_AUTOJUMP=1 TRIO_SEED=0`, and records what it
    /// prints with [`say!`] instead of printing it.
    ///
    /// # Panics
    ///
    /// If `main` returns an error (the message shows it and what was printed before), and as
    /// [`trio::run`].
    #[track_caller]
    pub fn record<T>(main: impl Future<Output = trio::Result<T>>) -> Transcript {
        Transcript::record_seeded(0, main)
    }

    /// [`record`](Transcript::record) with the run's seed set to `seed`.
    ///
    /// # Panics
    ///
    /// As [`record`](Transcript::record).
    #[track_caller]
    pub fn record_seeded<T>(seed: u64, main: impl Future<Output = trio::Result<T>>) -> Transcript {
        let recording = Recording::start();
        let result = trio::Builder::new().seed(seed).clock(MockClock::autojump()).run(main);
        let transcript = Transcript { lines: recording.finish() };
        if let Err(error) = result {
            panic!("the example failed: {error:?}\nwhat it printed before:\n{transcript}");
        }
        transcript
    }

    /// The lines, in the order they were printed.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let times: Vec<String> = self.lines.iter().map(|line| line.time.to_string()).collect();
        let width = times.iter().map(String::len).max().unwrap_or(0);
        for (i, (time, line)) in times.iter().zip(&self.lines).enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{time:>width$} | {}", line.text)?;
        }
        Ok(())
    }
}

/// Captures [`say!`] on this thread until finished or dropped (also when the run panics).
struct Recording;

impl Recording {
    fn start() -> Recording {
        CAPTURE.with(|capture| {
            let previous = capture.borrow_mut().replace(Vec::new());
            assert!(previous.is_none(), "a Transcript is already being recorded on this thread");
        });
        Recording
    }

    fn finish(self) -> Vec<Line> {
        CAPTURE.with(|capture| capture.borrow_mut().take()).unwrap_or_default()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}
