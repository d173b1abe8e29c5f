//! Timing: medians of interleaved runs, and the table printer.

use std::time::Duration;

/// One workload of one implementation: runs it once at size `n` and returns its duration.
pub type Workload<'a> = Box<dyn Fn(u64) -> Duration + 'a>;

/// The median of `samples` (the upper one of an even count).
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Relative spread of `samples`: (max - min) / median, to show how noisy a cell is.
pub fn spread(samples: &[f64]) -> f64 {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(0.0, f64::max);
    (max - min) / median(samples.to_vec())
}

/// Medians of `runs` rounds; in each round every workload runs once, in turn, so that a
/// burst of load from other processes on the machine hits all of them alike. Returns, per
/// workload, the median duration in seconds and its spread.
pub fn interleaved(runs: usize, n: u64, workloads: &[(&str, Workload<'_>)]) -> Vec<(f64, f64)> {
    let mut samples = vec![Vec::with_capacity(runs); workloads.len()];
    for _ in 0..runs {
        for (i, (_, workload)) in workloads.iter().enumerate() {
            samples[i].push(workload(n).as_secs_f64());
        }
    }
    samples.into_iter().map(|s| (median(s.clone()), spread(&s))).collect()
}

/// Formats seconds with a unit that keeps three significant digits readable.
pub fn secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.1} ns", s * 1e9)
    }
}

/// Formats a per-operation cost in nanoseconds.
pub fn ns(s: f64) -> String {
    let ns = s * 1e9;
    if ns >= 100.0 { format!("{ns:.0}") } else { format!("{ns:.1}") }
}

/// Formats a rate.
pub fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} /s")
    }
}

/// One table: a row per benchmark, a column per implementation (the first is trio), and a
/// ratio column trio / peer after every peer. Cells hold a median cost per operation in
/// seconds, or nothing when that peer has no such benchmark.
pub struct Table {
    /// Implementations; the first is ours.
    pub impls: Vec<String>,
    /// What a cell measures, for the header: "ns per task" and so on.
    pub unit: String,
    /// (benchmark, medians per implementation, spreads per implementation)
    pub rows: Vec<Row>,
    /// Formats one cell.
    pub format: fn(f64) -> String,
}

impl Table {
    /// An empty table.
    pub fn new(unit: &str, impls: &[&str], format: fn(f64) -> String) -> Table {
        Table { impls: impls.iter().map(|s| s.to_string()).collect(), unit: unit.to_string(), rows: Vec::new(), format }
    }

    /// Adds a row.
    pub fn row(&mut self, name: impl Into<String>, cells: Vec<Option<(f64, f64)>>) {
        let medians = cells.iter().map(|c| c.map(|c| c.0)).collect();
        let spreads = cells.iter().map(|c| c.map(|c| c.1)).collect();
        self.rows.push((name.into(), medians, spreads));
    }

    /// The table as Markdown, with a closing line on the noise.
    pub fn render(&self) -> String {
        let mut out = format!("| benchmark ({}) | {} |", self.unit, self.impls[0]);
        let mut rule = String::from("| --- | ---: |");
        for peer in &self.impls[1..] {
            out.push_str(&format!(" {peer} | {}/{peer} |", self.impls[0]));
            rule.push_str(" ---: | ---: |");
        }
        out.push('\n');
        out.push_str(&rule);
        out.push('\n');
        let mut worst: f64 = 0.0;
        for (name, medians, spreads) in &self.rows {
            let cell = |v: Option<f64>| v.map_or("—".to_string(), self.format);
            out.push_str(&format!("| {name} | {} |", cell(medians[0])));
            for i in 1..self.impls.len() {
                let ratio = match (medians[0], medians[i]) {
                    (Some(a), Some(b)) => format!("**{:.2}**", a / b),
                    _ => "—".to_string(),
                };
                out.push_str(&format!(" {} | {ratio} |", cell(medians[i])));
            }
            out.push('\n');
            worst = spreads.iter().flatten().fold(worst, |w, s| w.max(*s));
        }
        out.push_str(&format!(
            "\n(largest spread of a cell, (max − min) / median over its runs: {:.0} %)\n",
            worst * 100.0
        ));
        out
    }
}

/// One row of a [`Table`]: the benchmark, the median per implementation, the spread per
/// implementation.
pub type Row = (String, Vec<Option<f64>>, Vec<Option<f64>>);
