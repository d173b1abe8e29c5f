//! User-defined async fixtures: pytest-trio's Trio fixtures, written with
//! [`#[trio_fixture]`](crate::trio_fixture) and asked for by parameter name.
//!
//! A fixture is an `async fn` whose parameters are fixtures too (the built-in ones —
//! `mock_clock`, `autojump_clock`, `nursery`, `net` — or other user fixtures), and whose value
//! a test receives by asking for a parameter of the fixture's name:
//!
//! ```
//! use trio_testkit::{trio_fixture, trio_test};
//!
//! #[trio_fixture]
//! async fn answer() -> u32 {
//!     trio::checkpoint().await.unwrap();
//!     42
//! }
//!
//! #[trio_fixture]
//! async fn doubled(answer: u32) -> u32 {
//!     answer * 2
//! }
//!
//! #[trio_test]
//! async fn fixtures_by_name(answer: u32, doubled: u32) {
//!     assert_eq!((answer, doubled), (42, 84));
//! }
//! # fn main() {}
//! ```
//!
//! # Set-up and tear-down
//!
//! A fixture with a tear-down takes a [`Yield<T>`] parameter and hands its value over with
//! [`Yield::provide`]; the `await` returns once every user of the value (the test, and the
//! fixtures that depend on this one) is done, and the code after it is the tear-down. This is
//! pytest's `yield` written as an `await`:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use trio_testkit::fixture::Yield;
//! use trio_testkit::{trio_fixture, trio_test};
//!
//! type Log = Rc<RefCell<Vec<&'static str>>>;
//!
//! #[trio_fixture]
//! async fn log(fixture: Yield<Log>) -> trio::Result<()> {
//!     let log = Log::default();
//!     log.borrow_mut().push("set up");
//!     fixture.provide(log.clone()).await?; // the test runs here
//!     assert_eq!(*log.borrow(), ["set up", "test"]);
//!     Ok(())
//! }
//!
//! #[trio_test]
//! async fn tear_down_runs_after_the_test(log: Log) {
//!     log.borrow_mut().push("test");
//! }
//! # fn main() {}
//! ```
//!
//! # The rules (pytest-trio's)
//!
//! - One instance per test, in the test's run, on the test's clock: every schedule of an
//!   exploration sets its fixtures up afresh, and their set-up interleaves with the test's
//!   tasks like any other code, so it is explored, replayed and shrunk with them.
//! - Each fixture runs in a task of its own (named ``fixture `name` ``); independent fixtures
//!   are set up concurrently, a fixture only once the fixtures it asks for are set up.
//! - Tear-down runs after the test, in reverse dependency order — also when the test failed,
//!   panicked or was cancelled.
//! - A fixture that asks for `nursery` gets a nursery of its own, which lives until its
//!   tear-down is done and is cancelled then. If one of its tasks fails, the fixture's
//!   `provide(…).await` returns `Err(Cancelled)`, the test is cancelled, the tear-down sequence
//!   starts, and the failure names the fixture and the task.
//! - If a fixture's set-up fails, every other set-up still running is cancelled and the test
//!   does not start (pytest-trio #120: nothing hangs).
//! - A value goes to each user as a clone: fixture values are handles (`Clone + 'static`);
//!   wrap anything else in an `Rc`.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use trio::{CancelScope, CancelSource, Event, Nursery};

use crate::clock::MockClock;
use crate::config::{ClockFixture, Explore};
use crate::engine::panics::describe_panic;
use crate::sim::SimNet;

// ===== definitions =====

/// What `#[trio_fixture] async fn name(…)` defines: the function `name()` returns the
/// fixture's definition, and a test or a fixture asks for it by that name. `T` is the value the
/// fixture provides.
///
/// A definition is plain data (names, where it was written, what it depends on, how to set it
/// up); nothing runs until a test asks for it.
///
/// # Examples
///
/// ```
/// use trio_testkit::trio_fixture;
///
/// #[trio_fixture]
/// async fn port() -> u16 {
///     8080
/// }
///
/// let definition = port();
/// assert_eq!(definition.name(), "port");
/// assert!(definition.path().ends_with("::port"));
/// ```
pub struct FixtureDef<T> {
    any: AnyFixture,
    _value: PhantomData<fn() -> T>,
}

impl<T> FixtureDef<T> {
    /// The fixture's name, as its function is called.
    ///
    /// # Examples
    ///
    /// ```
    /// #[trio_testkit::trio_fixture]
    /// async fn greeting() -> &'static str {
    ///     "hello"
    /// }
    ///
    /// assert_eq!(greeting().name(), "greeting");
    /// ```
    pub fn name(&self) -> &'static str {
        self.any.info.name
    }

    /// The fixture's path (`crate::module::name`), as failure reports name it.
    ///
    /// # Examples
    ///
    /// ```
    /// mod support {
    ///     #[trio_testkit::trio_fixture]
    ///     pub async fn greeting() -> &'static str {
    ///         "hello"
    ///     }
    /// }
    ///
    /// assert!(support::greeting().path().ends_with("support::greeting"));
    /// ```
    pub fn path(&self) -> &'static str {
        self.any.info.path
    }
}

impl<T> FixtureDef<T> {
    pub(crate) fn any(&self) -> &AnyFixture {
        &self.any
    }
}

impl<T> fmt::Debug for FixtureDef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.any.fmt(f)
    }
}

/// Something that names a fixture providing a `T`: the function `#[trio_fixture]` defines.
///
/// # Examples
///
/// ```
/// use trio_testkit::fixture::FixtureRef;
///
/// #[trio_testkit::trio_fixture]
/// async fn limit() -> usize {
///     3
/// }
///
/// fn name_of<T>(fixture: impl FixtureRef<T>) -> &'static str {
///     fixture.definition().name()
/// }
/// assert_eq!(name_of(limit), "limit");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a fixture",
    label = "not a #[trio_fixture]",
    note = "a fixture is an `async fn` marked #[trio_fixture]; a parameter asks for the fixture of its name \
            (or of the path in `#[from(path)]`)"
)]
pub trait FixtureRef<T> {
    /// The fixture's definition.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::fixture::FixtureRef;
    ///
    /// #[trio_testkit::trio_fixture]
    /// async fn limit() -> usize {
    ///     3
    /// }
    ///
    /// assert_eq!(limit.definition().name(), "limit");
    /// ```
    fn definition(&self) -> FixtureDef<T>;
}

impl<T, F: Fn() -> FixtureDef<T>> FixtureRef<T> for F {
    fn definition(&self) -> FixtureDef<T> {
        self()
    }
}

/// A fixture's definition without its value type: what the runner works with.
#[doc(hidden)]
#[derive(Clone)]
pub struct AnyFixture {
    /// Unique per fixture: the type id of a marker type the attribute defines inside it.
    id: TypeId,
    info: FixtureInfo,
    setup: fn(FixtureContext) -> Pin<Box<dyn Future<Output = BodyOutcome>>>,
}

impl fmt::Debug for AnyFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("path", &self.info.path)
            .field("at", &format_args!("{}", self.info.location))
            .finish_non_exhaustive()
    }
}

impl AnyFixture {
    pub(crate) fn path(&self) -> &'static str {
        self.info.path
    }

    pub(crate) fn clock(&self) -> Option<ClockFixture> {
        self.info.clock
    }

    pub(crate) fn net(&self) -> bool {
        self.info.net
    }
}

/// What the attribute knows about a fixture.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct FixtureInfo {
    /// The function's name.
    pub name: &'static str,
    /// `module_path!()::name`.
    pub path: &'static str,
    /// Where the attribute is.
    pub location: &'static Location<'static>,
    /// The clock fixture it asks for, if any.
    pub clock: Option<ClockFixture>,
    /// Whether it asks for `net`.
    pub net: bool,
    /// The user fixtures it asks for.
    pub deps: Vec<fn() -> AnyFixture>,
}

/// Builds a definition: what `#[trio_fixture]` expands to calls this. `Id` is a type defined
/// inside the fixture's function, so it is unique to the fixture.
#[doc(hidden)]
pub fn definition<Id: 'static, T>(
    info: FixtureInfo,
    setup: fn(FixtureContext) -> Pin<Box<dyn Future<Output = BodyOutcome>>>,
) -> FixtureDef<T> {
    FixtureDef { any: AnyFixture { id: TypeId::of::<Id>(), info, setup }, _value: PhantomData }
}

/// The `autojump` default of a trio-mode module (`#[trio_tests(autojump)]`), which the code
/// `#[trio_test]` generates applies once the test's fixtures are known: the autojump clock,
/// unless one of the fixtures asks for a clock — that one is then the run's, as if the test
/// had asked for it.
#[doc(hidden)]
pub fn module_autojump(config: Explore) -> Explore {
    if config.plan.fixtures().iter().any(|fixture| fixture.clock().is_some()) {
        config
    } else {
        config.clock(ClockFixture::Autojump)
    }
}

/// The erased definition of `fixture`: how a definition lists what it depends on.
#[doc(hidden)]
pub fn any_fixture<T>(fixture: impl FixtureRef<T>) -> AnyFixture {
    fixture.definition().any
}

// ===== the plan: every fixture of a test, dependencies first =====

/// The fixtures of one test, in dependency order (each after everything it depends on).
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    fixtures: Vec<AnyFixture>,
    /// For each fixture, the indices of the fixtures it depends on.
    deps: Vec<Vec<usize>>,
    /// The fixtures the test asks for itself.
    roots: Vec<usize>,
}

impl Plan {
    /// The plan for a test that asks for `roots`.
    ///
    /// # Errors
    ///
    /// A message naming the dependency cycle, if there is one.
    pub(crate) fn new(roots: &[AnyFixture]) -> Result<Plan, String> {
        let mut plan = Plan::default();
        let mut index: BTreeMap<TypeId, usize> = BTreeMap::new();
        let mut stack: Vec<(TypeId, &'static str)> = Vec::new();
        for root in roots {
            let i = plan.visit(root.clone(), &mut index, &mut stack)?;
            if !plan.roots.contains(&i) {
                plan.roots.push(i);
            }
        }
        Ok(plan)
    }

    fn visit(
        &mut self,
        fixture: AnyFixture,
        index: &mut BTreeMap<TypeId, usize>,
        stack: &mut Vec<(TypeId, &'static str)>,
    ) -> Result<usize, String> {
        if let Some(&i) = index.get(&fixture.id) {
            return Ok(i);
        }
        if let Some(at) = stack.iter().position(|(id, _)| *id == fixture.id) {
            let mut cycle: Vec<&str> = stack[at..].iter().map(|(_, path)| *path).collect();
            cycle.push(fixture.info.path);
            return Err(format!(
                "fixture dependency cycle: {} — a fixture cannot be set up before itself; break the cycle",
                cycle.iter().map(|path| format!("`{path}`")).collect::<Vec<_>>().join(" → ")
            ));
        }
        stack.push((fixture.id, fixture.info.path));
        let mut deps = Vec::new();
        for dep in &fixture.info.deps {
            let i = self.visit(dep(), index, stack)?;
            if !deps.contains(&i) {
                deps.push(i);
            }
        }
        stack.pop();
        let i = self.fixtures.len();
        index.insert(fixture.id, i);
        self.fixtures.push(fixture);
        self.deps.push(deps);
        Ok(i)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fixtures.is_empty()
    }

    pub(crate) fn fixtures(&self) -> &[AnyFixture] {
        &self.fixtures
    }
}

// ===== one test's run =====

/// Who is running set-up code that a crash must cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Fixture(usize),
    Test,
}

/// One fixture in one run.
struct Node {
    fixture: AnyFixture,
    deps: Vec<usize>,
    /// Set once the value is there, or once the run crashed and this fixture will not provide
    /// one. Invariant: if set, `value` is `Some` or the run has crashed.
    setup_done: Rc<Event>,
    /// Set once this fixture is torn down (or never set up).
    teardown_done: Rc<Event>,
    /// What the fixture waits for before it tears down: its users' `teardown_done`, and the
    /// test's end if the test asks for it.
    users: Vec<Rc<Event>>,
    value: RefCell<Option<Rc<dyn Any>>>,
}

/// The state of one test's fixtures in one run (pytest-trio's `TrioTestContext`).
pub(crate) struct RunState {
    nodes: Vec<Node>,
    roots: Vec<usize>,
    /// Set when a fixture failed (or cancelled the test): nothing not yet started starts, and
    /// the test, if running, is cancelled.
    crashed: Cell<bool>,
    /// The scopes a crash cancels: fixtures in the middle of their set-up, then the test.
    active: RefCell<Vec<(Who, CancelScope)>>,
    /// Every failure, naming its fixture, in the order they happened.
    errors: RefCell<Vec<String>>,
    /// Panics in fixtures, described, with the first payload (resumed once all is torn down).
    panics: RefCell<Vec<String>>,
    /// Fixtures that cancelled the test and those that reported a failure: one that did the
    /// first without the second gets a failure of its own (pytest-trio #75).
    cancelled_by: RefCell<Vec<usize>>,
    failed: RefCell<Vec<usize>>,
    test_done: Rc<Event>,
    by_id: BTreeMap<TypeId, usize>,
    builtins: Builtins,
}

/// The built-in fixtures of the run.
#[derive(Clone, Default)]
pub(crate) struct Builtins {
    pub(crate) clock: Option<MockClock>,
    pub(crate) net: Option<SimNet>,
}

impl RunState {
    fn new(plan: &Plan, builtins: Builtins) -> RunState {
        let test_done = Rc::new(Event::new());
        let mut nodes: Vec<Node> = plan
            .fixtures
            .iter()
            .zip(&plan.deps)
            .map(|(fixture, deps)| Node {
                fixture: fixture.clone(),
                deps: deps.clone(),
                setup_done: Rc::new(Event::new()),
                teardown_done: Rc::new(Event::new()),
                users: Vec::new(),
                value: RefCell::new(None),
            })
            .collect();
        for i in 0..nodes.len() {
            for d in nodes[i].deps.clone() {
                let done = nodes[i].teardown_done.clone();
                nodes[d].users.push(done);
            }
        }
        for &root in &plan.roots {
            nodes[root].users.push(test_done.clone());
        }
        let by_id = nodes.iter().enumerate().map(|(i, node)| (node.fixture.id, i)).collect();
        RunState {
            nodes,
            roots: plan.roots.clone(),
            crashed: Cell::new(false),
            active: RefCell::new(Vec::new()),
            errors: RefCell::new(Vec::new()),
            panics: RefCell::new(Vec::new()),
            cancelled_by: RefCell::new(Vec::new()),
            failed: RefCell::new(Vec::new()),
            test_done,
            by_id,
            builtins,
        }
    }

    fn name(&self, i: usize) -> String {
        format!("fixture `{}`", self.nodes[i].fixture.info.path)
    }

    /// Marks the run crashed and cancels whatever is setting up (pytest-trio's `crash`).
    fn crash(&self, i: usize, failure: Option<String>) {
        match failure {
            Some(message) => {
                self.errors.borrow_mut().push(message);
                self.failed.borrow_mut().push(i);
            }
            None => self.cancelled_by.borrow_mut().push(i),
        }
        self.crashed.set(true);
        let reason = format!("{} failed", self.name(i));
        for (_, scope) in self.active.borrow().iter() {
            scope.cancel_with_reason(reason.clone());
        }
    }

    fn set_active(&self, who: Who, scope: Option<CancelScope>) {
        let mut active = self.active.borrow_mut();
        active.retain(|(w, _)| *w != who);
        if let Some(scope) = scope {
            active.push((who, scope));
        }
    }

    /// The value of fixture `id`, cloned.
    ///
    /// # Panics
    ///
    /// If that fixture is not part of the run or has no value: a bug in the runner.
    #[track_caller]
    pub(crate) fn value<T: Clone + 'static>(&self, fixture: &AnyFixture) -> T {
        let Some(&i) = self.by_id.get(&fixture.id) else {
            panic!("{} is not set up in this run: ask for it as a parameter of the test", fixture.info.path)
        };
        let value = self.nodes[i].value.borrow().clone();
        let Some(value) = value else { panic!("{} has no value: its set-up did not finish", self.name(i)) };
        match value.downcast_ref::<T>() {
            Some(value) => value.clone(),
            None => panic!("{} provides a `{}`, not what was asked for", self.name(i), std::any::type_name::<T>()),
        }
    }
}

/// Runs the test with its fixtures: every fixture in a task of its own, the test once the
/// fixtures it asks for are set up, then the tear-downs. Returns the failure to report, or
/// panics (once everything is torn down) if the test or a fixture panicked.
pub(crate) async fn run_with_fixtures<F, Fut>(plan: &Plan, builtins: Builtins, test: F) -> Option<String>
where
    F: FnOnce(Rc<RunState>) -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let state = Rc::new(RunState::new(plan, builtins));
    let mut test_outcome: Option<Result<Option<String>, Box<dyn Any + Send>>> = None;
    let mut test_cancelled = false;
    let outcome_slot = &mut test_outcome;
    let cancelled_slot = &mut test_cancelled;
    let s = state.clone();
    let tasks = trio::open_nursery(move |nursery| async move {
        for i in 0..s.nodes.len() {
            let name = s.name(i);
            nursery.start_soon_named(name, run_fixture(s.clone(), i));
        }
        for &root in &s.roots {
            wait_set(&s.nodes[root].setup_done).await;
        }
        if !s.crashed.get() {
            let scope = CancelScope::new();
            s.set_active(Who::Test, Some(scope.clone()));
            let body = CatchUnwind(Box::pin(test(s.clone())));
            let ran = scope.run(async { Ok(body.await) }).await;
            s.set_active(Who::Test, None);
            *cancelled_slot = scope.cancel_called();
            match ran {
                Ok(Some(outcome)) => *outcome_slot = Some(outcome),
                Ok(None) => *outcome_slot = Some(Ok(None)),
                Err(error) => *outcome_slot = Some(Ok(Some(format!("{error:?}")))),
            }
        }
        s.test_done.set();
        Ok(())
    })
    .await;
    if let Err(error) = tasks {
        state.errors.borrow_mut().push(format!("the fixtures' runner failed: {error:?}"));
    }

    // pytest-trio #75: a fixture that cancelled the test must make it fail, even if it did not
    // report an error of its own.
    for &i in state.cancelled_by.borrow().iter() {
        if !state.failed.borrow().contains(&i) {
            state.errors.borrow_mut().push(format!(
                "{} cancelled the test but reported no failure (a task of its nursery failed and the \
                 failure was caught, or its `provide` was cancelled by a deadline)",
                state.name(i)
            ));
        }
    }
    let fixture_errors = state.errors.borrow().clone();
    let fixture_panics = state.panics.borrow().clone();
    let crashed = state.crashed.get();

    let mut report: Vec<String> = Vec::new();
    let mut test_panic = None;
    match test_outcome {
        None => {
            if crashed {
                report.push("the test did not start: a fixture failed first".to_string());
            }
        }
        Some(Ok(None)) => {}
        Some(Ok(Some(failure))) if crashed && test_cancelled => {
            report.push(format!("the test was cancelled because of that, and then {failure}"));
        }
        Some(Ok(Some(failure))) => report.push(failure),
        Some(Err(payload)) if crashed && test_cancelled => report.push(format!(
            "the test was cancelled because of that, and then panicked: {}",
            describe_panic(payload.as_ref())
        )),
        Some(Err(payload)) => test_panic = Some(payload),
    }
    if !fixture_panics.is_empty() {
        let mut message = fixture_panics.join("\n");
        for line in fixture_errors.iter().chain(&report) {
            message.push('\n');
            message.push_str(line);
        }
        if let Some(payload) = test_panic {
            message.push_str(&format!("\nand the test panicked: {}", describe_panic(payload.as_ref())));
        }
        std::panic::resume_unwind(Box::new(message));
    }
    if let Some(payload) = test_panic {
        if fixture_errors.is_empty() {
            std::panic::resume_unwind(payload);
        }
        report.push(format!("the test panicked: {}", describe_panic(payload.as_ref())));
    }
    let mut all = fixture_errors;
    all.extend(report);
    (!all.is_empty()).then(|| all.join("\n"))
}

/// One fixture's task (pytest-trio's `TrioFixture.run`).
async fn run_fixture(state: Rc<RunState>, i: usize) {
    let node = &state.nodes[i];
    for &d in &node.deps {
        wait_set(&state.nodes[d].setup_done).await;
    }
    if state.crashed.get() {
        // Something failed before this fixture could start: it never sets up.
        node.setup_done.set();
        node.teardown_done.set();
        return;
    }
    let mut body_outcome = None;
    let mut nursery_cancelled = false;
    let outcome_slot = &mut body_outcome;
    let nursery_cancelled_slot = &mut nursery_cancelled;
    let s = state.clone();
    let run = CatchUnwind(Box::pin(trio::open_nursery(move |nursery| async move {
        s.set_active(Who::Fixture(i), Some(nursery.cancel_scope()));
        let context = FixtureContext { state: s.clone(), index: i, nursery: nursery.clone() };
        let setup = s.nodes[i].fixture.setup;
        let outcome = CatchUnwind(setup(context)).await;
        s.set_active(Who::Fixture(i), None);
        *nursery_cancelled_slot = nursery.cancel_scope().cancel_called();
        // pytest-trio's rule: the fixture's nursery is cancelled once its tear-down is done.
        nursery.cancel_scope().cancel();
        *outcome_slot = Some(outcome);
        Ok(())
    })))
    .await;
    let provided = node.value.borrow().is_some();
    let phase = if provided { "during tear-down" } else { "during set-up" };
    let name = state.name(i);
    let background_failed = !matches!(run, Ok(Ok(())));
    match run {
        Ok(Ok(())) => {}
        Ok(Err(error)) => state.crash(i, Some(describe_background(&name, &error))),
        Err(payload) => {
            state
                .panics
                .borrow_mut()
                .push(format!("{name}: a task of its nursery panicked: {}", describe_panic(payload.as_ref())));
            state.crash(i, Some(format!("{name}: a task of its nursery panicked")));
        }
    }
    match body_outcome {
        None | Some(Ok(BodyOutcome::Done)) => {}
        Some(Ok(BodyOutcome::NotProvided)) => state.crash(
            i,
            Some(format!("{name} returned without providing its value: call `.provide(value).await` on its `Yield`")),
        ),
        Some(Ok(BodyOutcome::Failed { message, cancelled })) => {
            // A cancellation that a crash, or a failing task of its own, caused is not a
            // failure of its own: the cause is reported. Nor is one that leaves the tear-down
            // after the fixture's own nursery was cancelled: as in Trio, the nursery whose
            // scope was cancelled absorbs it (pytest-trio #117: a test may cancel it).
            let absorbed = provided && nursery_cancelled;
            if !(cancelled && (state.crashed.get() || background_failed || absorbed)) {
                state.crash(i, Some(format!("{name} failed {phase}: {message}")));
            }
        }
        Some(Err(payload)) => {
            state.panics.borrow_mut().push(format!("{name} panicked {phase}: {}", describe_panic(payload.as_ref())));
            state.crash(i, Some(format!("{name} panicked {phase}")));
        }
    }
    node.setup_done.set();
    node.teardown_done.set();
}

/// "fixture `x`: task `y` failed: …", for each failed task of a fixture's nursery.
fn describe_background(name: &str, error: &trio::Error) -> String {
    match error.as_group() {
        Some(group) => group
            .entries()
            .iter()
            .map(|entry| format!("{name}: task `{}` failed: {:?}", entry.task(), entry.error()))
            .collect::<Vec<_>>()
            .join("\n"),
        None => format!("{name}: its nursery failed: {error:?}"),
    }
}

// ===== what a fixture's body sees =====

/// The built-in fixtures and the values of the fixtures a fixture depends on, for the code
/// `#[trio_fixture]` generates.
#[doc(hidden)]
pub struct FixtureContext {
    state: Rc<RunState>,
    index: usize,
    nursery: Nursery,
}

impl fmt::Debug for FixtureContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixtureContext").field("fixture", &self.state.nodes[self.index].fixture).finish()
    }
}

impl FixtureContext {
    /// The run's clock (`mock_clock` or `autojump_clock`).
    #[track_caller]
    pub fn clock(&self) -> MockClock {
        self.state.builtins.clock.clone().expect("#[trio_fixture] asked for a clock the run does not have")
    }

    /// The fixture's own nursery.
    pub fn nursery(&self) -> Nursery {
        self.nursery.clone()
    }

    /// The run's simulated network.
    #[track_caller]
    pub fn net(&self) -> SimNet {
        self.state.builtins.net.clone().expect("#[trio_fixture] asked for a network the run does not have")
    }

    /// The value of a fixture this one depends on.
    #[track_caller]
    pub fn value<T: Clone + 'static>(&self, fixture: impl FixtureRef<T>) -> T {
        self.state.value(&fixture.definition().any)
    }

    /// The handle a yield-style fixture provides its value with.
    pub fn yield_handle<T: Clone + 'static>(&self) -> Yield<T> {
        Yield { state: self.state.clone(), index: self.index, _value: PhantomData }
    }

    fn provided(&self) -> bool {
        self.state.nodes[self.index].value.borrow().is_some()
    }
}

/// How a fixture's body ended.
#[doc(hidden)]
#[derive(Debug)]
pub enum BodyOutcome {
    /// Set up, used, torn down.
    Done,
    /// A yield-style fixture that returned without providing.
    NotProvided,
    /// It returned an error (in set-up or tear-down).
    Failed {
        /// The error, formatted.
        message: String,
        /// Whether the error is a cancellation.
        cancelled: bool,
    },
}

/// The body of a fixture that returns its value.
#[doc(hidden)]
pub async fn plain<T: Clone + 'static>(cx: FixtureContext, setup: impl Future<Output = T>) -> BodyOutcome {
    let value = setup.await;
    match cx.yield_handle().provide(value).await {
        Ok(()) => BodyOutcome::Done,
        Err(error) => BodyOutcome::Failed { message: format!("{error:?}"), cancelled: true },
    }
}

/// The body of a fixture that returns `Result<value, E>`.
#[doc(hidden)]
pub async fn fallible<T: Clone + 'static, E: fmt::Debug + 'static>(
    cx: FixtureContext,
    setup: impl Future<Output = Result<T, E>>,
) -> BodyOutcome {
    match setup.await {
        Ok(value) => plain(cx, async { value }).await,
        Err(error) => BodyOutcome::Failed { cancelled: is_cancellation(&error), message: format!("{error:?}") },
    }
}

/// The body of a yield-style fixture (it provides through its `Yield` parameter).
#[doc(hidden)]
pub async fn yielding<R: FixtureResult>(cx: FixtureContext, body: impl Future<Output = R>) -> BodyOutcome {
    let outcome = body.await.into_outcome();
    match outcome {
        Some((message, cancelled)) => BodyOutcome::Failed { message, cancelled },
        None if !cx.provided() => BodyOutcome::NotProvided,
        None => BodyOutcome::Done,
    }
}

/// What a yield-style fixture may return: `()` or `Result<(), E>` with `E: Debug`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a #[trio_fixture] with a `Yield` parameter returns `()` or `Result<(), E>`, not `{Self}`",
    label = "the value goes to `provide`, not to `return`"
)]
pub trait FixtureResult {
    /// The error and whether it is a cancellation, if any.
    fn into_outcome(self) -> Option<(String, bool)>;
}

impl FixtureResult for () {
    fn into_outcome(self) -> Option<(String, bool)> {
        None
    }
}

impl<E: fmt::Debug + 'static> FixtureResult for Result<(), E> {
    fn into_outcome(self) -> Option<(String, bool)> {
        self.err().map(|error| (format!("{error:?}"), is_cancellation(&error)))
    }
}

/// Whether a user's error is trio's cancellation.
fn is_cancellation<E: 'static>(error: &E) -> bool {
    let any = error as &dyn Any;
    if let Some(error) = any.downcast_ref::<trio::Error>() {
        return error.is_cancelled();
    }
    any.is::<trio::Cancelled>()
}

// ===== Yield =====

/// The handle a fixture with set-up *and* tear-down provides its value with — pytest's
/// `yield`, as an `await`. Take it as a parameter of a [`#[trio_fixture]`](crate::trio_fixture)
/// (any name; the type says what it is), call [`provide`](Yield::provide) once, and write the
/// tear-down after it.
///
/// # Examples
///
/// A server fixture: a listener on the simulated network, an accept loop in the fixture's
/// nursery, and a tear-down that checks the server saw the test's connection.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use trio::Nursery;
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// use trio_testkit::fixture::Yield;
/// use trio_testkit::sim::SimNet;
/// use trio_testkit::{trio_fixture, trio_test};
///
/// #[derive(Clone)]
/// struct Server {
///     host: &'static str,
///     served: Rc<Cell<u32>>,
/// }
///
/// #[trio_fixture]
/// async fn server(net: SimNet, nursery: Nursery, fixture: Yield<Server>) -> trio::Result<()> {
///     let listener = net.add_host("echo").listen(7)?;
///     let served = Rc::new(Cell::new(0));
///     let counter = served.clone();
///     nursery.start_soon_named("accept loop", async move {
///         loop {
///             let stream = listener.accept().await?;
///             counter.set(counter.get() + 1);
///             let data = stream.receive_some(64).await?;
///             stream.send_all(&data).await?;
///         }
///         #[allow(unreachable_code)]
///         trio::Result::Ok(())
///     });
///     fixture.provide(Server { host: "echo", served: served.clone() }).await?;
///     assert_eq!(served.get(), 1, "the test connected once"); // tear-down
///     Ok(())
/// }
///
/// #[trio_test(autojump)]
/// async fn echoes(server: Server) -> trio::Result<()> {
///     let stream = trio::net::open_tcp_stream(server.host, 7).await?;
///     stream.send_all(b"ping").await?;
///     assert_eq!(stream.receive_some(64).await?, b"ping");
///     Ok(())
/// }
/// # fn main() {
/// #     trio_testkit::explore::Explore::new("echoes").schedules(5).persist(false).fixture(server)
/// #         .run_with_fixtures(&|fixtures| async move {
/// #             let server = fixtures.get(server);
/// #             let stream = trio::net::open_tcp_stream(server.host, 7).await?;
/// #             stream.send_all(b"ping").await?;
/// #             assert_eq!(stream.receive_some(64).await?, b"ping");
/// #             Ok::<(), trio::Error>(())
/// #         })
/// #         .unwrap();
/// # }
/// ```
pub struct Yield<T> {
    state: Rc<RunState>,
    index: usize,
    _value: PhantomData<fn(T)>,
}

impl<T> fmt::Debug for Yield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yield").field("fixture", &self.state.nodes[self.index].fixture.info.path).finish()
    }
}

impl<T: Clone + 'static> Yield<T> {
    /// Hands `value` to the test and to the fixtures that depend on this one, and waits until
    /// every one of them is done: the code after the `await` is the tear-down.
    ///
    /// # Errors
    ///
    /// `Err(Cancelled)` if the wait was cancelled — usually because a task in the fixture's
    /// nursery failed. Then, as in pytest-trio, the test is cancelled and this fixture's users
    /// finish first (the wait goes on, shielded) before the error comes back, so `?` skips
    /// the tear-down; write the tear-down before the `?` (or in a guard's `Drop`) if it must
    /// run anyway. A deadline on the wait cancels the test the same way. A cancellation the
    /// fixture's code asked for by calling `cancel()` — on its nursery, say, from a test that
    /// checks how the fixture handles cancellation (pytest-trio #117) — does not cancel the
    /// test: the wait goes on until the users are done, then returns the `Err(Cancelled)`;
    /// a fixture that lets it escape (`?`) does not fail, as Trio's cancelled nursery absorbs
    /// its own cancellation.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Nothing is lost if cancelled: the value was already handed over.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio_testkit::fixture::Yield;
    /// use trio_testkit::{trio_fixture, trio_test};
    ///
    /// #[trio_fixture]
    /// async fn channel(fixture: Yield<trio::MemorySender<u32>>) -> trio::Result<()> {
    ///     let (tx, rx) = trio::open_memory_channel::<u32>(10);
    ///     fixture.provide(tx).await?;
    ///     // Tear-down: the test sent exactly one value.
    ///     assert_eq!(rx.try_recv().unwrap(), Some(7));
    ///     Ok(())
    /// }
    ///
    /// #[trio_test]
    /// async fn sends_one(channel: trio::MemorySender<u32>) -> trio::Result<()> {
    ///     channel.send(7).await?;
    ///     Ok(())
    /// }
    /// # fn main() {}
    /// ```
    ///
    /// A fixture provides once: `provide` takes the handle, so a second call does not compile
    /// (pytest-trio fails a fixture that yields twice).
    ///
    /// ```compile_fail,E0382
    /// use trio_testkit::fixture::Yield;
    ///
    /// #[trio_testkit::trio_fixture]
    /// async fn twice(fixture: Yield<u32>) -> trio::Result<()> {
    ///     fixture.provide(1).await?;
    ///     fixture.provide(2).await?;
    ///     Ok(())
    /// }
    /// # fn main() {}
    /// ```
    pub async fn provide(self, value: T) -> trio::Result<()> {
        let state = &self.state;
        let node = &state.nodes[self.index];
        *node.value.borrow_mut() = Some(Rc::new(value));
        // Set up: from now on a crash elsewhere no longer cancels this fixture; it cancels
        // its users and this fixture tears down in turn.
        state.set_active(Who::Fixture(self.index), None);
        node.setup_done.set();
        let waited = wait_all(&node.users).await;
        let Err(cancelled) = waited else { return Ok(()) };
        if cancelled.source() != CancelSource::Explicit {
            state.crash(self.index, None);
        }
        let _ = CancelScope::shielded().run(async { Ok(wait_all(&node.users).await?) }).await;
        Err(cancelled.into())
    }
}

async fn wait_all(events: &[Rc<Event>]) -> Result<(), trio::Cancelled> {
    if events.is_empty() {
        return trio::checkpoint().await;
    }
    for event in events {
        event.wait().await?;
    }
    Ok(())
}

// ===== helpers =====

/// Waits until `event` is set, whatever cancels the runner's own wait: nothing outside cancels
/// the runner, but an exploration that injects cancellations (`inject_cancellations`) may
/// cancel any task at any cancel point, and the runner's bookkeeping must not be cut short.
async fn wait_set(event: &Event) {
    while !event.is_set() {
        let _ = CancelScope::shielded().run(async { Ok(event.wait().await?) }).await;
    }
}

/// A future that catches a panic of the future it wraps, so one task's panic does not skip
/// the tear-down of the others.
struct CatchUnwind<F: ?Sized>(Pin<Box<F>>);

impl<F: Future + ?Sized> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
