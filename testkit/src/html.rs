//! The failing schedule as one self-contained HTML page: inline CSS, no script, nothing
//! fetched, so it opens from a CI artifact as it is.
//!
//! Each recorded run (the shrunk schedule and the original one, side by side) is drawn as a
//! timeline: one column per task step, one lane per task. Lanes are grouped by the nursery
//! their tasks run in, each group headed by the task that opened it (and, when that task
//! opened several, where it was opened), after the group of that task. A cell is a step of
//! its task, labelled with the task's checkpoint number; the row above the lanes gives the
//! virtual time where it changes and marks the moments the run went idle. Deviations from the
//! default order are highlighted, with the decision in the cell's tooltip; injected
//! cancellations and non-default choices a library asked for (a simulated network's faults)
//! are marked too.
//!
//! # Limitations
//!
//! - A task started with `Nursery::start` is drawn in the nursery it is started into from its
//!   first step, although it joins that nursery only when it calls `started`.
//! - A run longer than [`MAX_COLUMNS`] steps shows its last [`MAX_COLUMNS`] steps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use trio::Instant;
use trio::lowlevel::TaskId;

use crate::coverage::Coverage;
use crate::engine::trace::{Decision, DecisionKind, Event, InNursery, Trace};
use crate::failure::Failure;

/// Steps drawn at most per timeline; a longer run shows its tail.
pub(crate) const MAX_COLUMNS: usize = 2_000;

/// Width of a step column, in pixels.
const COLUMN: usize = 26;

impl Failure {
    /// The failing schedule as one self-contained HTML page: the failure and how to replay it,
    /// then the shrunk schedule (if shrinking made it smaller) beside the original one, each a
    /// timeline with one lane per task, grouped by the nursery it runs in, with virtual
    /// time, checkpoint numbers, deviations from the default order and injected faults
    /// marked; then the exploration's coverage. [`Explore::trace_html`](crate::Explore::trace_html)
    /// and `TRIO_TRACE_HTML=path` write it when an exploration fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use trio_testkit::explore::{Explore, PolicyKind};
    ///
    /// let failure = Explore::new("a_before_b")
    ///     .schedules(20)
    ///     .policy(PolicyKind::Random)
    ///     .persist(false)
    ///     .run(|| async {
    ///         let log = Rc::new(RefCell::new(Vec::new()));
    ///         let l = log.clone();
    ///         trio::open_nursery(|nursery| async move {
    ///             for name in ["a", "b"] {
    ///                 let l = l.clone();
    ///                 nursery.start_soon_named(name, async move { l.borrow_mut().push(name) });
    ///             }
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///         assert_eq!(*log.borrow(), ["a", "b"], "b ran first");
    ///     })
    ///     .unwrap_err();
    /// let page = failure.to_html();
    /// assert!(page.contains("task 2 <code>a</code>"));
    /// assert!(page.contains("task 3 <code>b</code>"));
    /// assert!(page.contains("class=\"step deviation\""));
    /// assert!(!page.contains("http://") && !page.contains("https://")); // nothing to fetch
    /// ```
    pub fn to_html(&self) -> String {
        let mut page = String::with_capacity(16 * 1024);
        page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        let _ = writeln!(page, "<title>{} {}</title>", escape(&self.test), escape(&self.kind.to_string()));
        page.push_str("<style>\n");
        page.push_str(STYLE);
        page.push_str("</style>\n</head>\n<body>\n");
        let _ = writeln!(page, "<h1>test <code>{}</code> {}</h1>", escape(&self.test), escape(&self.kind.to_string()));
        let _ = writeln!(
            page,
            "<p class=\"facts\">policy {}, seed {}, found by {}{}</p>",
            escape(&self.policy.to_string()),
            self.seed,
            escape(self.origin),
            self.schedule_index.map(|i| format!(" (schedule {})", i + 1)).unwrap_or_default()
        );
        let _ = writeln!(page, "<pre class=\"message\">{}</pre>", escape(self.message.trim_end()));
        if self.kind != crate::explore::FailureKind::Unsatisfied {
            let _ = writeln!(
                page,
                "<p>replay: <code>{}</code><br>minimal: <code>{}</code></p>",
                escape(&self.replay_seed_command()),
                escape(&self.replay_schedule_command())
            );
        }
        page.push_str(LEGEND);

        if self.kind == crate::explore::FailureKind::Unsatisfied {
            page.push_str("<p class=\"note\">Every schedule passed: there is no failing schedule to draw.</p>\n");
        } else {
            self.panels(&mut page);
        }
        if let Some(coverage) = &self.coverage {
            coverage_section(&mut page, coverage);
        }
        page.push_str("</body>\n</html>\n");
        page
    }

    /// The shrunk schedule (if shrinking made it smaller) and the original one, side by side.
    fn panels(&self, page: &mut String) {
        page.push_str("<div class=\"panels\">\n");
        if let Some(shrunk) = self.shrunk.as_ref().filter(|s| s.schedule.len() < s.from) {
            let title = format!(
                "shrunk: {} deviation(s) from the default order (from {}, in {} runs)",
                shrunk.schedule.len(),
                shrunk.from,
                shrunk.runs
            );
            panel(page, &title, &shrunk.trace);
        }
        let title = format!("original: {} deviation(s) from the default order", self.schedule.len());
        panel(page, &title, &self.trace);
        page.push_str("</div>\n");
    }

    /// Writes [`to_html`](Failure::to_html) to `path`, creating its folder if needed.
    ///
    /// # Errors
    ///
    /// If the folder cannot be created or the file cannot be written.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::explore::Explore;
    ///
    /// let failure =
    ///     Explore::new("boom").schedules(1).persist(false).run(|| async { panic!("boom") }).unwrap_err();
    /// let path = std::env::temp_dir().join(format!("trio-write-html-{}.html", std::process::id()));
    /// failure.write_html(&path).unwrap();
    /// assert!(std::fs::read_to_string(&path).unwrap().contains("boom"));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn write_html(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let path = path.as_ref();
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(path, self.to_html())
    }
}

// ===== one timeline =====

/// What happens in one lane at one column.
#[derive(Default)]
struct Cell {
    step: Option<u64>,
    /// Where the task resumed at this step (`file:line`), when the runtime knows.
    site: Option<&'static std::panic::Location<'static>>,
    /// The decision that made this step a deviation.
    deviation: Option<String>,
    injected: Option<u64>,
    exited: bool,
}

/// A task's lane.
struct Lane {
    name: String,
    /// The nursery the task runs in; `None` for the main task and system tasks.
    nursery: Option<InNursery>,
    spawned_at: String,
    first: usize,
    last: Option<usize>,
    cells: BTreeMap<usize, Cell>,
}

/// The timeline of one run, laid out in columns.
#[derive(Default)]
struct Layout {
    lanes: BTreeMap<TaskId, Lane>,
    /// The virtual time of each column.
    times: Vec<Instant>,
    /// Columns before which the run went idle, with the time.
    idle: BTreeMap<usize, Instant>,
    /// Non-task deviations (timer order, a library's choices), by column.
    /// `true` for a library's choice (a fault), `false` for the order of timers.
    marks: BTreeMap<usize, Vec<(bool, String)>>,
}

impl Layout {
    fn of(trace: &Trace) -> Layout {
        let names = trace.task_names();
        let name_of = |id: &TaskId| names.get(id).cloned().unwrap_or_else(|| "?".to_string());
        let mut layout = Layout::default();
        let mut pending: Option<String> = None;
        // The column of the latest step (events between steps belong to it).
        let mut column: Option<usize> = None;
        for event in trace.events() {
            let at = column.unwrap_or(0);
            match event {
                Event::Spawn { task, name, at: location, nursery, .. } => {
                    layout.lanes.insert(
                        *task,
                        Lane {
                            name: names.get(task).cloned().unwrap_or_else(|| name.clone()),
                            nursery: nursery.clone(),
                            spawned_at: location.clone(),
                            first: column.map_or(0, |c| c + 1),
                            last: None,
                            cells: BTreeMap::new(),
                        },
                    );
                }
                Event::Decision(decision) if decision.is_deviation() => match &decision.kind {
                    DecisionKind::Task { .. } => pending = Some(describe(decision, &name_of)),
                    DecisionKind::Timer { .. } => layout
                        .marks
                        .entry(column.map_or(0, |c| c + 1))
                        .or_default()
                        .push((false, describe(decision, &name_of))),
                    DecisionKind::Choice { .. } => {
                        layout.marks.entry(at).or_default().push((true, describe(decision, &name_of)))
                    }
                },
                Event::Decision(_) => {}
                Event::Step { task, time, checkpoint, at: site } => {
                    let next = column.map_or(0, |c| c + 1);
                    column = Some(next);
                    layout.times.push(*time);
                    if let Some(lane) = layout.lanes.get_mut(task) {
                        let cell = lane.cells.entry(next).or_default();
                        cell.step = Some(*checkpoint);
                        cell.site = *site;
                        cell.deviation = pending.take();
                    }
                }
                Event::Exit { task, .. } => {
                    if let Some(lane) = layout.lanes.get_mut(task) {
                        lane.last = Some(at);
                        lane.cells.entry(at).or_default().exited = true;
                    }
                }
                Event::Idle { time } => {
                    layout.idle.insert(column.map_or(0, |c| c + 1), *time);
                }
                Event::InjectedCancel { task, cancel_point } => {
                    if let Some(lane) = layout.lanes.get_mut(task) {
                        lane.cells.entry(at).or_default().injected = Some(*cancel_point);
                    }
                }
            }
        }
        layout
    }

    /// Lanes grouped by nursery, in tree order: first the run's own tasks (the main task,
    /// system tasks), then depth first the nurseries each of a group's tasks opened, in the
    /// order they were opened. A nursery whose opener has no lane goes under the run.
    fn groups(&self) -> Vec<Group<'_>> {
        let mut members: BTreeMap<Option<u64>, Vec<TaskId>> = BTreeMap::new();
        let mut nurseries: BTreeMap<u64, &InNursery> = BTreeMap::new();
        for (id, lane) in &self.lanes {
            members.entry(lane.nursery.as_ref().map(|n| n.id)).or_default().push(*id);
            if let Some(nursery) = &lane.nursery {
                nurseries.entry(nursery.id).or_insert(nursery);
            }
        }
        // By opener (`None`: the run), each in the order opened.
        let mut opened: BTreeMap<Option<TaskId>, Vec<u64>> = BTreeMap::new();
        for (id, nursery) in &nurseries {
            let opener = nursery.opened_by.filter(|t| self.lanes.contains_key(t));
            opened.entry(opener).or_default().push(*id);
        }
        let mut groups = Vec::new();
        let mut stack: Vec<Option<u64>> = vec![None];
        while let Some(key) = stack.pop() {
            let tasks = members.get(&key).cloned().unwrap_or_default();
            let mut below: Vec<u64> = Vec::new();
            if key.is_none() {
                below.extend(opened.get(&None).into_iter().flatten());
            }
            for task in &tasks {
                below.extend(opened.get(&Some(*task)).into_iter().flatten());
            }
            // In reverse, so the first nursery's group comes next.
            stack.extend(below.iter().rev().map(|id| Some(*id)));
            let nursery = key.and_then(|id| nurseries.get(&id).copied());
            let siblings = nursery
                .map_or(0, |n| opened.get(&n.opened_by.filter(|t| self.lanes.contains_key(t))).map_or(0, Vec::len));
            if !tasks.is_empty() {
                groups.push(Group { nursery, siblings, tasks });
            }
        }
        groups
    }
}

/// The lanes of one nursery's tasks (or of the run's own tasks), as the page draws them.
struct Group<'l> {
    /// `None` for the run's own tasks.
    nursery: Option<&'l InNursery>,
    /// How many nurseries with tasks in the trace the opener of this one opened.
    siblings: usize,
    tasks: Vec<TaskId>,
}

fn panel(page: &mut String, title: &str, trace: &Trace) {
    page.push_str("<section class=\"panel\">\n");
    let _ = writeln!(page, "<h2>{}</h2>", escape(title));
    if trace.events().is_empty() {
        page.push_str("<p>No trace was recorded for this run (a run stopped by the watchdog is not run again).</p>\n");
        page.push_str("</section>\n");
        return;
    }
    let layout = Layout::of(trace);
    let columns = layout.times.len();
    let skip = columns.saturating_sub(MAX_COLUMNS);
    let shown = columns - skip;
    if skip > 0 {
        let _ = writeln!(page, "<p class=\"note\">… the first {skip} steps are not shown.</p>");
    }
    let width = shown.max(1) * COLUMN;
    page.push_str("<div class=\"timeline\">\n");

    // The time axis: the time where it changes, and the idle moments.
    let _ = write!(
        page,
        "<div class=\"row axis\"><div class=\"label\">virtual time</div><div class=\"track\" style=\"width:{width}px\">"
    );
    // A tick wherever time moves on; its label only where the previous label leaves room.
    let mut previous: Option<Instant> = None;
    let mut free_from = 0;
    for (column, time) in layout.times.iter().enumerate().skip(skip) {
        if previous != Some(*time) {
            let left = (column - skip) * COLUMN;
            let text = time.to_string();
            if left >= free_from {
                let _ = write!(page, "<span class=\"time\" style=\"left:{left}px\">{}</span>", escape(&text));
                free_from = left + 7 * text.len() + 8;
            } else {
                let _ = write!(
                    page,
                    "<span class=\"time tick\" style=\"left:{left}px\" title=\"{}\"></span>",
                    escape(&text)
                );
            }
        }
        previous = Some(*time);
    }
    for (column, time) in layout.idle.range(skip..) {
        let _ = write!(
            page,
            "<span class=\"idle\" style=\"left:{}px\" title=\"idle at {}: every task blocked\"></span>",
            (column - skip) * COLUMN,
            escape(&time.to_string())
        );
    }
    page.push_str("</div></div>\n");

    // Deviations that are not a task's: timer order, a library's choices (faults).
    if !layout.marks.is_empty() {
        let _ = write!(
            page,
            "<div class=\"row marks\"><div class=\"label\">timers, choices</div><div class=\"track\" style=\"width:{width}px\">"
        );
        for (column, notes) in layout.marks.range(skip..) {
            let text: Vec<&str> = notes.iter().map(|(_, note)| note.as_str()).collect();
            let fault = notes.iter().any(|(choice, _)| *choice);
            let _ = write!(
                page,
                "<span class=\"{}\" style=\"left:{}px\" title=\"{}\">{}</span>",
                if fault { "mark fault" } else { "mark" },
                (column - skip) * COLUMN,
                escape(&text.join("\n")),
                if fault { "⚡" } else { "⏱" }
            );
        }
        page.push_str("</div></div>\n");
    }

    for group in layout.groups() {
        let heading = match group.nursery {
            None => "the run".to_string(),
            Some(nursery) => {
                let opener = nursery.opened_by.and_then(|id| layout.lanes.get(&id).map(|lane| (id, lane)));
                match opener {
                    // One nursery of its task: the task names it. Several: where it was opened too.
                    Some((id, lane)) if group.siblings <= 1 => {
                        format!("nursery of task {id} <code>{}</code>", escape(&lane.name))
                    }
                    Some((id, lane)) => format!(
                        "nursery of task {id} <code>{}</code> opened at <code>{}</code>",
                        escape(&lane.name),
                        escape(&nursery.opened_at)
                    ),
                    None => format!("nursery opened at <code>{}</code>", escape(&nursery.opened_at)),
                }
            }
        };
        let _ = writeln!(page, "<div class=\"group\"><div class=\"group-title\">{heading}</div>");
        for id in group.tasks {
            let lane = &layout.lanes[&id];
            let _ = write!(
                page,
                "<div class=\"row lane\" id=\"task-{id}\"><div class=\"label\" title=\"spawned at {}\">task {id} <code>{}</code></div><div class=\"track\" style=\"width:{width}px\">",
                escape(&lane.spawned_at),
                escape(&lane.name)
            );
            let first = lane.first.max(skip);
            let last = lane.last.unwrap_or(columns.saturating_sub(1)).max(first);
            if last >= skip {
                let _ = write!(
                    page,
                    "<span class=\"life\" style=\"left:{}px;width:{}px\"></span>",
                    (first - skip) * COLUMN,
                    (last - first + 1) * COLUMN
                );
            }
            for (column, cell) in lane.cells.range(skip..) {
                let left = (column - skip) * COLUMN;
                if let Some(checkpoint) = cell.step {
                    let time = layout.times[*column];
                    let site = cell.site.map(|l| format!(" ({}:{})", l.file(), l.line())).unwrap_or_default();
                    match &cell.deviation {
                        Some(why) => {
                            let _ = write!(
                                page,
                                "<span class=\"step deviation\" style=\"left:{left}px\" title=\"step {} at {}, checkpoint {checkpoint}{}&#10;{}\">{checkpoint}</span>",
                                column + 1,
                                escape(&time.to_string()),
                                escape(&site),
                                escape(why)
                            );
                        }
                        None => {
                            let _ = write!(
                                page,
                                "<span class=\"step\" style=\"left:{left}px\" title=\"step {} at {}, checkpoint {checkpoint}{}\">{checkpoint}</span>",
                                column + 1,
                                escape(&time.to_string()),
                                escape(&site)
                            );
                        }
                    }
                }
                if let Some(point) = cell.injected {
                    let _ = write!(
                        page,
                        "<span class=\"injected\" style=\"left:{left}px\" title=\"cancellation injected at cancel point {point}\">✕</span>"
                    );
                }
                if cell.exited {
                    let _ = write!(
                        page,
                        "<span class=\"exit\" style=\"left:{}px\" title=\"exited\"></span>",
                        left + COLUMN - 3
                    );
                }
            }
            page.push_str("</div></div>\n");
        }
        page.push_str("</div>\n");
    }
    page.push_str("</div>\n");
    deviation_list(page, trace);
    page.push_str("</section>\n");
}

/// The run's deviations and injections in order, as the text report words them: what the
/// marks on the timeline stand for, readable without hovering.
fn deviation_list(page: &mut String, trace: &Trace) {
    let names = trace.task_names();
    let name_of = |id: &TaskId| names.get(id).cloned().unwrap_or_else(|| "?".to_string());
    let mut items = Vec::new();
    for event in trace.events() {
        match event {
            Event::Decision(decision) if decision.is_deviation() => items.push(describe(decision, &name_of)),
            Event::InjectedCancel { task, cancel_point } => items.push(format!(
                "cancellation injected at cancel point {cancel_point} of task {task} `{}`",
                name_of(task)
            )),
            _ => {}
        }
    }
    if items.is_empty() {
        page.push_str("<p class=\"note\">No deviation from the default order.</p>\n");
        return;
    }
    page.push_str("<ol class=\"deviations\">\n");
    for item in items {
        let _ = writeln!(page, "<li>{}</li>", escape(&item));
    }
    page.push_str("</ol>\n");
}

fn coverage_section(page: &mut String, coverage: &Coverage) {
    page.push_str("<section class=\"coverage\">\n<h2>coverage</h2>\n");
    let _ = writeln!(page, "<pre>{}</pre>", escape(&coverage.to_string()));
    page.push_str("</section>\n");
}

fn describe(decision: &Decision, name_of: &dyn Fn(&TaskId) -> String) -> String {
    match &decision.kind {
        DecisionKind::Task { options } => {
            let chosen = options[decision.index];
            format!(
                "decision {} at {}: ran task {chosen} `{}` instead of task {} `{}` (of {} runnable)",
                decision.number,
                decision.time,
                name_of(&chosen),
                options[0],
                name_of(&options[0]),
                options.len()
            )
        }
        DecisionKind::Timer { options, sleep } => format!(
            "decision {} at {}: fired timer {} of {options} due at once ({})",
            decision.number,
            decision.time,
            decision.index,
            if *sleep { "a sleep" } else { "a deadline" }
        ),
        DecisionKind::Choice { options, what } => {
            format!("decision {} at {}: {what}: option {} of {options}", decision.number, decision.time, decision.index)
        }
    }
}

/// Text made safe for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
    out
}

const LEGEND: &str = "<p class=\"legend\"><span class=\"step sample\">3</span> a step of the task (its \
checkpoint number) <span class=\"step deviation sample\">3</span> a deviation from the default order \
<span class=\"injected sample\">✕</span> an injected cancellation <span class=\"mark fault sample\">⚡</span> a \
non-default choice (a fault) <span class=\"idle sample\"></span> every task blocked. Hover for details.</p>\n";

const STYLE: &str = r#"body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
h2 { font-size: 1.05em; margin: .2em 0 .6em; }
code { font: 13px ui-monospace, monospace; }
pre.message { background: #fff4f4; border-left: 4px solid #d33; padding: .6em .8em; white-space: pre-wrap; }
.facts, .note, .legend { color: #555; }
.panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1.2em; }
.panel { border: 1px solid #ccc; border-radius: 6px; padding: .6em; min-width: 0; }
.timeline { overflow-x: auto; padding-bottom: .4em; }
.row { display: flex; height: 24px; align-items: center; }
.label { position: sticky; left: 0; z-index: 2; background: #fff; flex: 0 0 170px; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; padding-right: 6px; }
.track { position: relative; height: 22px; flex: 0 0 auto; }
.axis .track { border-bottom: 1px solid #999; }
.time { position: absolute; top: 0; height: 16px; font-size: 11px; color: #333; border-left: 1px solid #999; padding-left: 2px; white-space: nowrap; }
.time.tick { padding: 0; top: 8px; height: 8px; }
.group { margin-top: .5em; }
.group-title { font-size: 12px; color: #666; border-bottom: 1px dashed #ccc; margin-bottom: 2px; }
.lane:nth-child(even) { background: #fafafa; }
.life { position: absolute; top: 10px; height: 2px; background: #bbb; }
.step { position: absolute; top: 2px; width: 22px; height: 18px; border-radius: 3px; background: #4a7fd4; color: #fff;
  font-size: 11px; text-align: center; line-height: 18px; }
.step.deviation { background: #e8890c; outline: 2px solid #b35c00; }
.injected { position: absolute; top: 1px; width: 22px; text-align: center; color: #d00; font-weight: bold; z-index: 1; }
.exit { position: absolute; top: 4px; width: 3px; height: 14px; background: #444; }
.idle { position: absolute; top: 0; width: 2px; height: 22px; background: repeating-linear-gradient(#7a7, #7a7 3px, transparent 3px, transparent 6px); }
.mark { position: absolute; top: 2px; width: 22px; text-align: center; }
.mark.fault { color: #c00; }
.sample { position: static; display: inline-block; vertical-align: middle; margin: 0 .3em 0 1em; }
.deviations { margin: .4em 0 0; padding-left: 1.6em; font-size: 13px; color: #444; }
.coverage pre { background: #f6f8fa; padding: .6em .8em; }
"#;

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_leaves_no_markup_and_keeps_lines_in_attributes() {
        assert_eq!(escape("<a href=\"x\">&'</a>\n"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;&#10;");
    }
}
