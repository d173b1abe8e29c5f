//! The failing schedule as an HTML page: written where `Explore::trace_html` or
//! `TRIO_TRACE_HTML` says, with a lane per task grouped by the nursery it runs in,
//! virtual time, deviations, injected cancellations and a library's non-default choices
//! marked, and the shrunk schedule beside the original.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use trio_testkit::explore::{Explore, PolicyKind};

fn page_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("trio-trace-html-{}-{test}", std::process::id())).join("page.html")
}

/// Four workers must finish in the order they were started: any reordering fails.
async fn in_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    trio::open_nursery(|nursery| async move {
        for i in 0..4 {
            let l = l.clone();
            nursery.start_soon_named(format!("worker-{i}"), async move {
                trio::sleep(Duration::from_secs(1)).await?;
                l.borrow_mut().push(i);
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2, 3], "the workers finished out of order");
}

#[test]
fn a_failing_exploration_writes_a_page_with_a_lane_per_task_and_both_schedules() {
    let path = page_path("lanes");
    let failure = Explore::new("in_order")
        .schedules(50)
        .policy(PolicyKind::Random)
        .persist(false)
        .trace_html(&path)
        .run(in_order)
        .unwrap_err();
    assert_eq!(failure.html_written_to.as_deref(), Some(path.as_path()));
    assert!(failure.to_string().contains(&format!("the schedule as a page: {}", path.display())));
    let page = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();

    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<style>"), "the style is inline");
    assert!(!page.contains("<script") && !page.contains("<link") && !page.contains("src="), "nothing is fetched");
    // One lane per task, the workers grouped under the task whose nursery runs them.
    assert!(page.contains("<div class=\"group-title\">the run</div>"));
    assert!(page.contains("<div class=\"group-title\">nursery of task 1 <code>in_order</code></div>"));
    for (id, name) in [(1, "in_order"), (2, "worker-0"), (3, "worker-1"), (4, "worker-2"), (5, "worker-3")] {
        assert!(page.contains(&format!("id=\"task-{id}\"")), "no lane for task {id}");
        assert!(page.contains(&format!("task {id} <code>{name}</code>")), "lane {id} is not labelled {name}");
    }
    let workers_group = page.find("nursery of task 1").unwrap();
    assert!(page.find("id=\"task-2\"").unwrap() > workers_group, "the workers' lanes are in their nursery's group");
    // Virtual time, checkpoints, deviations.
    assert!(page.contains("<span class=\"time\" style=\"left:0px\">0s</span>"));
    assert!(page.contains(">1s</span>"), "the time axis shows the sleep's end");
    assert!(page.contains("class=\"idle\""), "the run went idle while everyone slept");
    assert!(page.contains("class=\"step deviation\""));
    assert!(page.contains("instead of task"), "a deviation's tooltip says what it replaced");
    // The shrunk schedule beside the original.
    let shrunk = failure.shrunk.as_ref().unwrap();
    assert!(shrunk.schedule.len() < shrunk.from, "this seed's schedule shrinks");
    let shrunk_at = page.find("<h2>shrunk: 1 deviation(s) from the default order").expect("a shrunk panel");
    let original_at =
        page.find(&format!("<h2>original: {} deviation(s)", failure.schedule.len())).expect("an original panel");
    assert!(shrunk_at < original_at);
    assert_eq!(page.matches("class=\"panel\"").count(), 2);
    // The deviations drawn are the schedules' own.
    let shrunk_panel = &page[shrunk_at..original_at];
    // The one deviation is a task run out of turn (a step) or a timer fired out of turn (a
    // mark on the timers row): the shrinker may explain the bug either way.
    let drawn =
        shrunk_panel.matches("class=\"step deviation\"").count() + shrunk_panel.matches("class=\"mark\"").count();
    assert_eq!(drawn, 1, "the shrunk schedule {} is drawn with one deviation", shrunk.schedule);
    // Each panel lists its schedule's deviations in words.
    let listed = &shrunk_panel[shrunk_panel.find("<ol class=\"deviations\">").unwrap()..];
    assert_eq!(listed[..listed.find("</ol>").unwrap()].matches("<li>").count(), 1);
    assert!(listed.contains("instead of") || listed.contains("fired timer"));
    let original_panel = &page[original_at..];
    assert_eq!(
        original_panel.matches("class=\"step deviation\"").count(),
        failure.trace.deviations().filter(|d| d.chosen_task().is_some()).count()
    );
    // And the coverage up to the failure.
    assert!(page.contains("distinct interleavings in"));
}

/// The main task opens two nurseries, one inside the other; in the inner one, `starter` starts
/// `started` into the outer one with `Nursery::start`. Fails when `late` runs before `early`.
async fn two_nurseries() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    trio::open_nursery(|outer| async move {
        let (l1, l2) = (l.clone(), l.clone());
        outer.start_soon_named("early", async move { l1.borrow_mut().push("early") });
        trio::open_nursery(|inner| async move {
            let outer = outer.clone();
            inner.start_soon_named("starter", async move {
                outer
                    .start_named("started", |status: trio::TaskStatus| async move {
                        status.started(());
                        Ok(())
                    })
                    .await
            });
            inner.start_soon_named("late", async move { l2.borrow_mut().push("late") });
            Ok(())
        })
        .await
    })
    .await
    .unwrap();
    assert_eq!(log.borrow()[0], "early", "late ran first");
}

#[test]
fn lanes_are_grouped_by_the_nursery_their_tasks_run_in() {
    let failure = Explore::new("two_nurseries")
        .schedules(50)
        .policy(PolicyKind::Random)
        .persist(false)
        .run(two_nurseries)
        .unwrap_err();
    let page = failure.to_html();
    let original = &page[page.find("<h2>original").unwrap()..];
    // Tasks: 1 main, 2 early (outer), 3 starter (inner), 4 late (inner), 5 started (outer,
    // though `starter` started it).
    let titles: Vec<&str> =
        original.match_indices("<div class=\"group-title\">").map(|(i, _)| &original[i..]).collect();
    assert_eq!(titles.len(), 3, "the run and two nurseries:\n{original}");
    assert!(titles[0].starts_with("<div class=\"group-title\">the run</div>"));
    // Task 1 opened both: each heading says where.
    for title in &titles[1..] {
        assert!(
            title.starts_with(
                "<div class=\"group-title\">nursery of task 1 <code>two_nurseries</code> opened at <code>"
            ),
            "{}",
            &title[..120]
        );
        assert!(title[..200].contains("explore_trace_html.rs:"), "{}", &title[..200]);
    }
    let group_of = |task: u32| {
        let lane = original.find(&format!("id=\"task-{task}\"")).unwrap();
        original[..lane].matches("<div class=\"group-title\">").count() - 1
    };
    assert_eq!(group_of(1), 0, "the main task is the run's");
    assert_eq!((group_of(2), group_of(5)), (1, 1), "early and started run in the outer nursery");
    assert_eq!((group_of(3), group_of(4)), (2, 2), "starter and late run in the inner one");
}

#[test]
fn trio_trace_html_in_the_environment_asks_for_the_page() {
    let path = page_path("env");
    let failure = Explore::new("env_page")
        .schedules(1)
        .persist(false)
        .apply_env([("TRIO_TRACE_HTML", path.to_str().unwrap())])
        .unwrap()
        .run(|| async { panic!("fails at once") })
        .unwrap_err();
    assert_eq!(failure.html_written_to.as_deref(), Some(path.as_path()));
    let page = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    assert!(page.contains("fails at once"));
    assert!(page.contains("task 1 <code>env_page</code>"));
}

#[test]
fn a_passing_exploration_writes_no_page() {
    let path = page_path("passing");
    Explore::new("passes").schedules(5).trace_html(&path).run(|| trio::checkpoint()).unwrap();
    assert!(!path.exists());
}

#[test]
fn an_injected_cancellation_is_marked_in_its_tasks_lane() {
    let failure = Explore::new("not_cancel_safe")
        .schedules(1)
        .inject_cancellations(5)
        .persist(false)
        .run(|| async {
            let stock = Cell::new(10);
            trio::move_on_after(Duration::from_secs(60), async {
                let taken = stock.take();
                trio::checkpoint().await?;
                stock.set(taken);
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(stock.get(), 10, "items lost");
        })
        .unwrap_err();
    let page = failure.to_html();
    let lane = &page[page.find("id=\"task-1\"").unwrap()..];
    let lane = &lane[..lane.find("</div></div>").unwrap()];
    assert!(lane.contains("class=\"injected\""), "{lane}");
    assert!(lane.contains("cancellation injected at cancel point 1"), "{lane}");
    assert!(page.contains("<li>cancellation injected at cancel point 1 of task 1 `not_cancel_safe`</li>"));
}

#[test]
fn a_non_default_choice_is_marked_as_a_fault() {
    let failure = Explore::new("dropped")
        .schedules(50)
        .policy(PolicyKind::Random)
        .persist(false)
        .shrink(false)
        .run(|| async {
            trio::checkpoint().await.unwrap();
            let dropped = trio::lowlevel::choose(2, "drop the packet") == 1;
            assert!(!dropped, "the packet was dropped");
        })
        .unwrap_err();
    let page = failure.to_html();
    assert!(page.contains("<div class=\"label\">timers, choices</div>"), "a row for the choices");
    assert!(page.contains("class=\"mark fault\""));
    assert!(page.contains("drop the packet: option 1 of 2"));
}

#[test]
fn names_and_messages_are_escaped() {
    let failure = Explore::new("<script>alert(1)</script>")
        .schedules(1)
        .persist(false)
        .run(|| async {
            trio::open_nursery(|nursery| async move {
                nursery.start_soon_named("<b>bold</b>", async {});
                Ok(())
            })
            .await
            .unwrap();
            panic!("x < y & \"z\"");
        })
        .unwrap_err();
    let page = failure.to_html();
    assert!(!page.contains("<script>") && !page.contains("<b>"));
    assert!(page.contains("&lt;b&gt;bold&lt;/b&gt;"));
    assert!(page.contains("x &lt; y &amp; &quot;z&quot;"));
}

#[test]
fn an_unsatisfied_requirement_writes_a_page_with_the_counts_and_no_timeline() {
    let failure = Explore::new("never_true")
        .schedules(3)
        .require_sometimes(true)
        .run(|| async { trio::sometimes!(false, "it happens") })
        .unwrap_err();
    let page = failure.to_html();
    assert!(page.contains("no failing schedule to draw"));
    assert!(!page.contains("class=\"panel\""));
    assert!(page.contains("NO sometimes! &quot;it happens&quot;: true 0 of 3 time(s)"), "{page}");
}
