//! Step 2: give the parsed attribute and function their meaning, and reject every mistake with
//! an error at the token that caused it. All mistakes are collected, not just the first.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, FnArg, ItemFn, Lit, LitStr, Meta, Pat, Path, Token, Type};

use super::suggest::closest;
use super::timeout::parse_nanos;

/// What the attribute and the parameters of a test that passed every check ask for: what
/// [`expand`](super::expand) turns into code, together with the function.
pub(crate) struct TestSpec {
    /// Where the testkit is (`::trio_testkit` unless `crate = "…"`).
    pub(crate) krate: Path,
    pub(crate) clock: Option<ClockKind>,
    /// The `autojump` default of a `#[trio_tests]` module: the autojump clock unless one of the
    /// test's fixtures asks for a clock.
    pub(crate) module_autojump: bool,
    pub(crate) nursery: bool,
    pub(crate) seed: Option<u64>,
    pub(crate) policy: Option<Policy>,
    pub(crate) timeout_nanos: Option<u64>,
    pub(crate) schedules: Option<u64>,
    pub(crate) check_determinism: bool,
    /// Fail the exploration when a `sometimes!` never came true.
    pub(crate) require_sometimes: bool,
    /// Messages of assertions that must fire in some schedule.
    pub(crate) require_assertion: Vec<LitStr>,
    pub(crate) inject_cancellations: Option<u64>,
    /// PCT's bug depth.
    pub(crate) depth: Option<u32>,
    /// Worker threads for exploration.
    pub(crate) threads: Option<u64>,
    /// The function's parameters, in order.
    pub(crate) params: Vec<Param>,
    /// The `#[case(…)]` attributes, in order: one test each.
    pub(crate) cases: Vec<Case>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClockKind {
    Mock,
    Autojump,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    Fifo,
    Random,
    Pct,
    Pos,
    Surw,
    Mixed,
}

/// One parameter of a test.
pub(crate) struct Param {
    pub(crate) kind: ParamKind,
    /// The parameter's type, for error spans on a type mismatch.
    pub(crate) ty: Box<Type>,
    /// The parameter's name, for error spans on an unknown fixture.
    pub(crate) span: Span,
}

/// What a parameter asks for.
#[derive(Clone)]
pub(crate) enum ParamKind {
    /// A built-in fixture.
    Builtin(Fixture),
    /// A user fixture (`#[trio_fixture]`), by the path its name (or `#[from(path)]`) gives.
    User(Path),
    /// A value from the test's `#[case(…)]` attributes.
    Case,
}

impl ParamKind {
    fn builtin(&self) -> Option<Fixture> {
        match self {
            ParamKind::Builtin(fixture) => Some(*fixture),
            _ => None,
        }
    }

    /// What two parameters asking for the same fixture have in common.
    fn key(&self) -> Option<String> {
        match self {
            ParamKind::Builtin(fixture) => Some(fixture.name().to_string()),
            ParamKind::User(path) => Some(quote::ToTokens::to_token_stream(path).to_string().replace(' ', "")),
            ParamKind::Case => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fixture {
    MockClock,
    AutojumpClock,
    Nursery,
    Net,
}

impl Fixture {
    pub(crate) fn from_name(name: &str) -> Option<Fixture> {
        match name {
            "mock_clock" => Some(Fixture::MockClock),
            "autojump_clock" => Some(Fixture::AutojumpClock),
            "nursery" => Some(Fixture::Nursery),
            "net" => Some(Fixture::Net),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Fixture::MockClock => "mock_clock",
            Fixture::AutojumpClock => "autojump_clock",
            Fixture::Nursery => "nursery",
            Fixture::Net => "net",
        }
    }
}

/// One `#[case(…)]` (or `#[case::description(…)]`) attribute of a test.
pub(crate) struct Case {
    pub(crate) description: Option<syn::Ident>,
    pub(crate) args: Vec<Expr>,
}

/// What `#[trio_tests(autojump)]` passes in place of `autojump`: a default that gives way to a
/// clock the test's fixtures ask for (the test's own clock parameters it sees itself).
pub(crate) const MODULE_AUTOJUMP: &str = "__module_autojump";

const ARGUMENTS: [&str; 12] = [
    "autojump",
    "seed",
    "policy",
    "timeout",
    "crate",
    "schedules",
    "depth",
    "check_determinism",
    "require_sometimes",
    "require_assertion",
    "inject_cancellations",
    "threads",
];

/// The deepest PCT depth the testkit accepts (`trio_testkit::policy::Pct::MAX_DEPTH`).
const MAX_PCT_DEPTH: u64 = 100;

/// Checks everything, reporting every mistake at once.
pub(crate) fn validate(args: &[Meta], item: &ItemFn) -> syn::Result<TestSpec> {
    let mut errors = Errors::default();
    let args = validate_args(args, &mut errors);
    validate_signature(item, &mut errors);
    let params = validate_params(item, &mut errors);

    // One run, one clock: from the `autojump` argument or from a clock fixture.
    let mut clock: Option<(ClockKind, &str)> = args.autojump.map(|_| (ClockKind::Autojump, "the `autojump` argument"));
    for param in &params {
        let Some(fixture) = param.kind.builtin() else { continue };
        let kind = match fixture {
            Fixture::MockClock => ClockKind::Mock,
            Fixture::AutojumpClock => ClockKind::Autojump,
            Fixture::Nursery | Fixture::Net => continue,
        };
        match clock {
            None => clock = Some((kind, fixture.name())),
            Some((_, first)) => errors.push(syn::Error::new(
                param.span,
                format!(
                    "too many clocks spoil the broth: `{}` asks for a clock, but {} already installs one, \
                     and a run has exactly one clock; keep one of them",
                    fixture.name(),
                    describe_clock_source(first)
                ),
            )),
        }
    }
    let cases = validate_cases(item, &params, &mut errors);

    if let Some(span) = args.depth_span
        && args.policy != Some(Policy::Pct)
    {
        errors.push(syn::Error::new(
            span,
            "`depth` is the bug depth of the PCT policy: add `policy = \"pct\"`, or remove `depth`",
        ));
    }

    if let Some(error) = errors.0 {
        return Err(error);
    }
    let nursery = params.iter().any(|param| param.kind.builtin() == Some(Fixture::Nursery));
    Ok(TestSpec {
        krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::trio_testkit)),
        module_autojump: args.module_autojump && clock.is_none(),
        clock: clock.map(|(kind, _)| kind),
        nursery,
        seed: args.seed,
        policy: args.policy,
        timeout_nanos: args.timeout_nanos,
        schedules: args.schedules,
        check_determinism: args.check_determinism,
        require_sometimes: args.require_sometimes,
        require_assertion: args.require_assertion,
        inject_cancellations: args.inject_cancellations,
        depth: args.depth,
        threads: args.threads,
        params,
        cases,
    })
}

fn describe_clock_source(source: &str) -> String {
    if source.starts_with("the ") { source.to_string() } else { format!("`{source}`") }
}

/// Whether `attr` makes the function a test by itself (`#[test]`, `#[tokio::test]`, …) or is
/// another `#[trio_test]`.
pub(crate) fn is_test_attribute(attr: &Attribute) -> bool {
    attr.path().segments.last().is_some_and(|segment| segment.ident == "test" || segment.ident == "trio_test")
}

// ===== arguments =====

#[derive(Default)]
struct Args {
    autojump: Option<Span>,
    module_autojump: bool,
    seed: Option<u64>,
    policy: Option<Policy>,
    timeout_nanos: Option<u64>,
    krate: Option<Path>,
    schedules: Option<u64>,
    depth: Option<u32>,
    depth_span: Option<Span>,
    threads: Option<u64>,
    check_determinism: bool,
    require_sometimes: bool,
    require_assertion: Vec<LitStr>,
    inject_cancellations: Option<u64>,
}

fn validate_args(metas: &[Meta], errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let path = meta.path();
        let Some(name) = path.get_ident().map(ToString::to_string) else {
            errors.push(unknown_argument(path, &quote::ToTokens::to_token_stream(path).to_string()));
            continue;
        };
        if name == MODULE_AUTOJUMP && matches!(meta, Meta::Path(_)) {
            args.module_autojump = true;
            continue;
        }
        if !ARGUMENTS.contains(&name.as_str()) {
            errors.push(unknown_argument(path, &name));
            continue;
        }
        if seen.contains(&name) {
            errors.push(syn::Error::new_spanned(path, format!("`{name}` is given twice; keep one")));
            continue;
        }
        seen.push(name.clone());
        match name.as_str() {
            "autojump" => match meta {
                Meta::Path(_) => args.autojump = Some(path.span()),
                Meta::NameValue(pair) if matches!(&pair.value, Expr::Lit(ExprLit { lit: Lit::Bool(_), .. })) => {
                    if let Expr::Lit(ExprLit { lit: Lit::Bool(on), .. }) = &pair.value {
                        args.autojump = on.value.then(|| path.span());
                    }
                }
                _ => errors.push(syn::Error::new_spanned(
                    meta,
                    "`autojump` takes no value: write `#[trio_test(autojump)]` (or `autojump = false`, to turn \
                     off a default from #[trio_tests])",
                )),
            },
            "seed" => match value(meta, "seed", "seed = 42", errors) {
                Some(Lit::Int(int)) => match int.base10_parse::<u64>() {
                    Ok(seed) => args.seed = Some(seed),
                    Err(_) => errors.push(syn::Error::new_spanned(int, "the seed must fit in a u64")),
                },
                Some(other) => errors.push(syn::Error::new_spanned(other, "`seed` takes an integer: `seed = 42`")),
                None => {}
            },
            "policy" => {
                if let Some(text) = string_value(meta, "policy", "policy = \"fifo\"", errors) {
                    match text.value().as_str() {
                        "fifo" => args.policy = Some(Policy::Fifo),
                        "random" => args.policy = Some(Policy::Random),
                        "pct" => args.policy = Some(Policy::Pct),
                        "mixed" => args.policy = Some(Policy::Mixed),
                        "pos" => args.policy = Some(Policy::Pos),
                        "surw" => args.policy = Some(Policy::Surw),
                        other => errors.push(syn::Error::new_spanned(
                            &text,
                            format!(
                                "unknown policy \"{other}\": expected \"random\", \"pct\", \"pos\", \"surw\", \"mixed\" \
                                 or \"fifo\""
                            ),
                        )),
                    }
                }
            }
            "schedules" => {
                args.schedules = positive_int(meta, "schedules", "schedules = 1000", errors);
            }
            "inject_cancellations" => {
                args.inject_cancellations =
                    positive_int(meta, "inject_cancellations", "inject_cancellations = 5", errors);
            }
            "depth" => {
                args.depth_span = Some(path.span());
                args.depth = match positive_int(meta, "depth", "depth = 3", errors) {
                    Some(depth) if depth <= MAX_PCT_DEPTH => u32::try_from(depth).ok(),
                    Some(depth) => {
                        errors.push(syn::Error::new_spanned(
                            meta,
                            format!("PCT depth {depth} is too deep: use 1 to {MAX_PCT_DEPTH} (2 to 4 finds most bugs)"),
                        ));
                        None
                    }
                    None => None,
                };
            }
            "threads" => {
                args.threads = positive_int(meta, "threads", "threads = 4", errors);
            }
            "check_determinism" => match meta {
                Meta::Path(_) => args.check_determinism = true,
                _ => errors.push(syn::Error::new_spanned(
                    meta,
                    "`check_determinism` takes no value: write `#[trio_test(check_determinism)]`",
                )),
            },
            "require_assertion" => {
                args.require_assertion = messages(meta, errors);
            }
            "require_sometimes" => match meta {
                Meta::Path(_) => args.require_sometimes = true,
                _ => errors.push(syn::Error::new_spanned(
                    meta,
                    "`require_sometimes` takes no value: write `#[trio_test(require_sometimes)]`",
                )),
            },
            "timeout" => {
                if let Some(text) = string_value(meta, "timeout", "timeout = \"30s\"", errors) {
                    match parse_nanos(&text.value()) {
                        Ok(nanos) => args.timeout_nanos = Some(nanos),
                        Err(message) => errors.push(syn::Error::new_spanned(&text, message)),
                    }
                }
            }
            "crate" => {
                if let Some(text) = string_value(meta, "crate", "crate = \"my_testkit\"", errors) {
                    match text.parse::<Path>() {
                        Ok(path) => args.krate = Some(path),
                        Err(_) => errors.push(syn::Error::new_spanned(
                            &text,
                            format!("\"{}\" is not a path to a crate, such as \"my_testkit\"", text.value()),
                        )),
                    }
                }
            }
            _ => unreachable!("every name in ARGUMENTS is handled"),
        }
    }
    args
}

fn unknown_argument(path: &Path, name: &str) -> syn::Error {
    let mut message = format!(
        "unknown argument `{name}`; #[trio_test] takes `autojump`, `seed = N`, `policy = \"...\"`, \
         `timeout = \"...\"`, `schedules = N`, `depth = D`, `check_determinism`, \
         `require_sometimes`, `require_assertion = \"...\"`, `inject_cancellations = K`, \
         `threads = N` and `crate = \"...\"`"
    );
    if let Some(fixture) = Fixture::from_name(name) {
        message = format!(
            "`{name}` is a fixture, not an argument: ask for it as a parameter, \
             `async fn test_name({name}: {})`",
            fixture_type(fixture)
        );
    } else if let Some(guess) = closest(name, &ARGUMENTS) {
        message.push_str(&format!("; did you mean `{guess}`?"));
    }
    syn::Error::new_spanned(path, message)
}

fn fixture_type(fixture: Fixture) -> &'static str {
    match fixture {
        Fixture::MockClock | Fixture::AutojumpClock => "MockClock",
        Fixture::Nursery => "Nursery",
        Fixture::Net => "SimNet",
    }
}

/// The literal of `name = literal`, or an error saying how to write it.
fn value<'a>(meta: &'a Meta, name: &str, example: &str, errors: &mut Errors) -> Option<&'a Lit> {
    match meta {
        Meta::NameValue(pair) => match &pair.value {
            Expr::Lit(ExprLit { lit, .. }) => Some(lit),
            other => {
                errors.push(syn::Error::new_spanned(other, format!("`{name}` takes a literal: `{example}`")));
                None
            }
        },
        _ => {
            errors.push(syn::Error::new_spanned(meta, format!("`{name}` needs a value: `{example}`")));
            None
        }
    }
}

/// A positive integer `name = N`.
fn positive_int(meta: &Meta, name: &str, example: &str, errors: &mut Errors) -> Option<u64> {
    match value(meta, name, example, errors)? {
        Lit::Int(int) => match int.base10_parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                errors.push(syn::Error::new_spanned(int, format!("`{name}` takes a positive integer: `{example}`")));
                None
            }
        },
        other => {
            errors.push(syn::Error::new_spanned(other, format!("`{name}` takes an integer: `{example}`")));
            None
        }
    }
}

fn string_value(meta: &Meta, name: &str, example: &str, errors: &mut Errors) -> Option<LitStr> {
    match value(meta, name, example, errors)? {
        Lit::Str(text) => Some(text.clone()),
        other => {
            let hint =
                if name == "timeout" && matches!(other, Lit::Int(_) | Lit::Float(_)) { " with its unit" } else { "" };
            errors.push(syn::Error::new_spanned(other, format!("`{name}` takes a string{hint}: `{example}`")));
            None
        }
    }
}

/// `require_assertion = "message"` or `require_assertion = ["one", "two"]`.
fn messages(meta: &Meta, errors: &mut Errors) -> Vec<LitStr> {
    const EXAMPLE: &str = "require_assertion = \"the retry path runs\"";
    if let Meta::NameValue(pair) = meta
        && let Expr::Array(array) = &pair.value
    {
        let mut texts = Vec::new();
        for element in &array.elems {
            match element {
                Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => texts.push(text.clone()),
                other => errors.push(syn::Error::new_spanned(
                    other,
                    "`require_assertion` takes the messages of assertions as strings: \
                     `require_assertion = [\"one\", \"two\"]`",
                )),
            }
        }
        return texts;
    }
    string_value(meta, "require_assertion", EXAMPLE, errors).into_iter().collect()
}

// ===== the function =====

fn validate_signature(item: &ItemFn, errors: &mut Errors) {
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(sig.fn_token, "a #[trio_test] function must be `async`: write `async fn`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(&sig.generics, "a #[trio_test] function cannot be generic"));
    }
    for attr in &item.attrs {
        if is_test_attribute(attr) {
            let what = if attr.path().segments.last().is_some_and(|s| s.ident == "trio_test") {
                "#[trio_test] is applied twice; remove one"
            } else {
                "#[trio_test] already makes this function a test; remove this attribute"
            };
            errors.push(syn::Error::new_spanned(attr, what));
        }
    }
}

fn validate_params(item: &ItemFn, errors: &mut Errors) -> Vec<Param> {
    let mut params: Vec<Param> = Vec::new();
    for input in &item.sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(syn::Error::new_spanned(
                    receiver,
                    "a #[trio_test] function cannot take `self`: make it a free function",
                ));
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        let ident = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => &pat.ident,
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "a fixture parameter is a plain name, such as `nursery: Nursery`",
                ));
                continue;
            }
        };
        let Some(kind) = param_kind(ident, &typed.attrs, true, errors) else { continue };
        if let Some(key) = kind.key()
            && params.iter().any(|param| param.kind.key().as_ref() == Some(&key))
        {
            let name = match &kind {
                ParamKind::Builtin(fixture) => fixture.name().to_string(),
                _ => key.clone(),
            };
            errors.push(syn::Error::new_spanned(
                ident,
                format!("the `{name}` fixture is asked for twice; keep one parameter"),
            ));
            continue;
        }
        params.push(Param { kind, ty: typed.ty.clone(), span: ident.span() });
    }
    params
}

/// What the parameter `ident` with attributes `attrs` asks for: a built-in fixture by its
/// name, `#[case]`, `#[from(path)]`, or the user fixture of its name (a leading underscore is
/// dropped). `None` after an error.
pub(crate) fn param_kind(
    ident: &syn::Ident,
    attrs: &[Attribute],
    cases_allowed: bool,
    errors: &mut Errors,
) -> Option<ParamKind> {
    let mut kind = None;
    for attr in attrs {
        if attr.path().is_ident("case") {
            if !cases_allowed {
                errors.push(syn::Error::new_spanned(attr, "`#[case]` parameters are for tests, not fixtures"));
                return None;
            }
            if !matches!(attr.meta, Meta::Path(_)) {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "on a parameter, `#[case]` takes nothing: the values go in `#[case(…)]` attributes of the function",
                ));
                return None;
            }
            kind = Some(ParamKind::Case);
        } else if attr.path().is_ident("from") {
            match attr.parse_args::<Path>() {
                Ok(path) => kind = Some(ParamKind::User(path)),
                Err(_) => {
                    errors.push(syn::Error::new_spanned(
                        attr,
                        "`#[from(…)]` names a fixture by its path: `#[from(support::server)] srv: Server`",
                    ));
                    return None;
                }
            }
        }
    }
    if kind.is_some() {
        return kind;
    }
    let written = ident.to_string();
    let name = written.strip_prefix('_').unwrap_or(&written);
    if name.is_empty() {
        errors.push(syn::Error::new_spanned(ident, "a fixture parameter needs a name: the fixture's"));
        return None;
    }
    if let Some(fixture) = Fixture::from_name(name) {
        return Some(ParamKind::Builtin(fixture));
    }
    Some(ParamKind::User(Path::from(syn::Ident::new(name, ident.span()))))
}

/// The `#[case(…)]` attributes: each gives one value per `#[case]` parameter.
fn validate_cases(item: &ItemFn, params: &[Param], errors: &mut Errors) -> Vec<Case> {
    let case_params = params.iter().filter(|param| matches!(param.kind, ParamKind::Case)).count();
    let mut cases = Vec::new();
    for attr in &item.attrs {
        let path = attr.path();
        if path.segments.first().is_none_or(|segment| segment.ident != "case") || path.leading_colon.is_some() {
            continue;
        }
        let description = match path.segments.len() {
            1 => None,
            2 => Some(path.segments[1].ident.clone()),
            _ => {
                errors.push(syn::Error::new_spanned(path, "write `#[case(…)]` or `#[case::description(…)]`"));
                continue;
            }
        };
        let args: Vec<Expr> = match &attr.meta {
            Meta::List(list) => match list.parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
                Ok(args) => args.into_iter().collect(),
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            },
            Meta::Path(_) => Vec::new(),
            Meta::NameValue(_) => {
                errors
                    .push(syn::Error::new_spanned(attr, "write the case's values in parentheses: `#[case(1, \"a\")]`"));
                continue;
            }
        };
        if args.len() != case_params {
            errors.push(syn::Error::new_spanned(
                attr,
                format!(
                    "this case gives {} value(s), but the test has {case_params} `#[case]` parameter(s); give one value \
                     per `#[case]` parameter, in order",
                    args.len()
                ),
            ));
            continue;
        }
        cases.push(Case { description, args });
    }
    if case_params > 0 && cases.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.sig.ident,
            "this test has `#[case]` parameters but no `#[case(…)]` attribute: add one per case, after #[trio_test]",
        ));
    }
    cases
}

// ===== helpers =====

/// Collects errors into one `syn::Error` that reports each at its own span.
#[derive(Default)]
pub(crate) struct Errors(pub(crate) Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }
}
