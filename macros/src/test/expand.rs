//! Step 3: a checked [`TestSpec`] becomes a `#[test]` function.
//!
//! ```text
//! #[trio_test(seed = 7)]                        #[test]
//! async fn name(autojump_clock: MockClock) {    fn name() {
//!     body                             ==>          async fn name(autojump_clock: MockClock) { body }
//! }                                                 ::trio_testkit::__private::run_test(
//!                                                       test_config("path::name").clock(Autojump).seed(7),
//!                                                       |fixtures| name(fixtures.clock()),
//!                                                   )
//!                                               }
//! ```
//!
//! The configuration is the testkit's one configuration type, built with the same builder
//! calls a hand-written exploration uses. The user's function is kept whole inside the test,
//! so its signature, `?`, `return` and the spans of its code are exactly as written; the
//! closure captures nothing, so the testkit may call it from several worker threads.

use proc_macro2::{Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::validate::{Case, ClockKind, Fixture, ParamKind, Policy, TestSpec};

pub(crate) fn expand(mut item: syn::ItemFn, spec: TestSpec) -> TokenStream {
    strip_parameter_attributes(&mut item);
    let TestSpec {
        krate,
        clock,
        module_autojump,
        nursery,
        seed,
        policy,
        timeout_nanos,
        schedules,
        check_determinism,
        require_sometimes,
        require_assertion,
        inject_cancellations,
        depth,
        threads,
        params,
        cases,
    } = spec;
    let syn::ItemFn { mut attrs, vis, sig, block } = item;
    attrs.retain(|attr| !is_case_attribute(attr));
    let name = &sig.ident;
    // Spanned at the function's name, like the call below: the run's main task and every
    // failure then point at the test rather than at the attribute.
    let private = respan(quote!(#krate::__private), name.span());

    let mut config = TokenStream::new();
    if let Some(clock) = clock {
        let kind = match clock {
            ClockKind::Mock => quote!(Mock),
            ClockKind::Autojump => quote!(Autojump),
        };
        config = quote!(#config.clock(#private::ClockFixture::#kind));
    }
    if nursery {
        config = quote!(#config.nursery());
    }
    if params.iter().any(|param| matches!(param.kind, ParamKind::Builtin(Fixture::Net))) {
        config = quote!(#config.net());
    }
    for param in &params {
        if let ParamKind::User(path) = &param.kind {
            config = quote_spanned!(param.span=> #config.fixture(#path));
        }
    }
    if let Some(seed) = seed {
        let seed = Literal::u64_suffixed(seed);
        config = quote!(#config.seed(#seed));
    }
    if let Some(policy) = policy {
        let policy = match policy {
            Policy::Fifo => quote!(Fifo),
            Policy::Random => quote!(Random),
            Policy::Mixed => quote!(Mixed),
            Policy::Pos => quote!(Pos),
            Policy::Surw => quote!(Surw),
            Policy::Pct => {
                let depth = Literal::u32_suffixed(depth.unwrap_or(3));
                quote!(Pct { depth: #depth })
            }
        };
        config = quote!(#config.policy(#private::PolicyKind::#policy));
    }
    if let Some(schedules) = schedules {
        let schedules = Literal::u64_suffixed(schedules);
        config = quote!(#config.schedules(#schedules));
    }
    if check_determinism {
        config = quote!(#config.check_determinism(true));
    }
    if require_sometimes {
        config = quote!(#config.require_sometimes(true));
    }
    for message in &require_assertion {
        config = quote!(#config.require_assertion(#message));
    }
    if let Some(bound) = inject_cancellations {
        let bound = Literal::u64_suffixed(bound);
        config = quote!(#config.inject_cancellations(#bound));
    }
    if let Some(threads) = threads {
        let threads = Literal::usize_suffixed(usize::try_from(threads).unwrap_or(usize::MAX));
        config = quote!(#config.threads(#threads));
    }
    if let Some(nanos) = timeout_nanos {
        let nanos = Literal::u64_suffixed(nanos);
        config = quote!(#config.timeout(::core::time::Duration::from_nanos(#nanos)));
    }

    let config_calls = config;
    // A module's `autojump` is decided once the fixtures are known: a fixture's clock wins.
    let module_default = |config: TokenStream| {
        if module_autojump { quote!(#krate::fixture::module_autojump(#config)) } else { config }
    };
    let config = module_default(quote! {
        #private::test_config(::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name))) #config_calls
    });
    let fixtures = Ident::new("__trio_fixtures", Span::call_site());
    let arguments = |case: Option<&Case>| -> Vec<TokenStream> {
        let mut values = case.map(|case| case.args.iter());
        params
            .iter()
            .map(|param| {
                if let ParamKind::Case = param.kind {
                    let value = values.as_mut().and_then(Iterator::next);
                    return quote_spanned!(param.ty.span()=> #value);
                }
                let getter = getter(param);
                // Spanned at the parameter's type: a fixture of the wrong type is reported there.
                let fixtures = Ident::new("__trio_fixtures", param.ty.span());
                quote_spanned!(param.ty.span()=> #fixtures.#getter)
            })
            .collect()
    };

    // The fixture parameters once more, outside the `#[test]` function, which only exists
    // under `cfg(test)`: so `cargo check`, doctests and UI tests see an unknown fixture or a
    // fixture of the wrong type too. (Under `cfg(test)` the call in the test reports them.)
    let checks = params.iter().filter(|param| !matches!(param.kind, ParamKind::Case)).map(|param| {
        let getter = getter(param);
        let ty = &param.ty;
        let fixtures = Ident::new("__trio_fixtures", ty.span());
        quote_spanned!(ty.span()=> let _: #ty = #fixtures.#getter;)
    });
    let check = quote! {
        #[cfg(not(test))]
        #[allow(dead_code, unused_variables, unreachable_code, clippy::all)]
        const _: () = {
            fn check(#fixtures: &#private::Fixtures) {
                #(#checks)*
            }
        };
    };

    if cases.is_empty() {
        let arguments = arguments(None);
        let call = quote_spanned! {name.span()=>
            #private::run_test(#config, |#fixtures| #name(#(#arguments),*))
        };
        return quote! {
            #(#attrs)*
            #[::core::prelude::v1::test]
            #vis fn #name() {
                #sig #block
                #call
            }
            #check
        };
    }

    // Parametrised: the function once, and a module of the same name with a test per case
    // (`name::case_1`, `name::case_2_description`), as rstest names them.
    let tests = cases.iter().enumerate().map(|(i, case)| {
        let case_name = match &case.description {
            Some(description) => format_ident!("case_{}_{}", i + 1, description),
            None => format_ident!("case_{}", i + 1),
        };
        let config = quote! {
            #private::test_config(::core::concat!(::core::module_path!(), "::", ::core::stringify!(#case_name)))
        };
        let config = {
            // The same builder calls, on the case's own name (and so its own seed).
            let calls = config_calls.clone();
            module_default(quote!(#config #calls))
        };
        let arguments = arguments(Some(case));
        let call = quote_spanned! {name.span()=>
            #private::run_test(#config, |#fixtures| super::#name(#(#arguments),*))
        };
        quote! {
            #(#attrs)*
            #[::core::prelude::v1::test]
            fn #case_name() {
                #call
            }
        }
    });
    quote! {
        #[allow(dead_code, clippy::too_many_arguments)]
        #vis #sig #block

        #[allow(non_snake_case)]
        #vis mod #name {
            #[allow(unused_imports)]
            use super::*;
            #(#tests)*
        }
        #check
    }
}

/// The call on the fixtures that gives a parameter its value, spanned at the parameter's type
/// (a value of the wrong type is reported there) except for a fixture's path, which keeps its
/// own span (an unknown fixture is reported at its name).
fn getter(param: &super::validate::Param) -> TokenStream {
    let span = param.ty.span();
    match &param.kind {
        ParamKind::Builtin(Fixture::MockClock | Fixture::AutojumpClock) => quote_spanned!(span=> clock()),
        ParamKind::Builtin(Fixture::Nursery) => quote_spanned!(span=> nursery()),
        ParamKind::Builtin(Fixture::Net) => quote_spanned!(span=> net()),
        ParamKind::User(path) => quote_spanned!(span=> get(#path)),
        ParamKind::Case => unreachable!("a case parameter takes its value from the case"),
    }
}

/// `#[case]`, `#[case(…)]`, `#[case::description(…)]`.
pub(crate) fn is_case_attribute(attr: &syn::Attribute) -> bool {
    attr.path().segments.first().is_some_and(|segment| segment.ident == "case")
}

/// Removes the attributes `#[trio_test]` gives a meaning to (`#[case]`, `#[from(…)]`) from the
/// function's parameters: the compiler knows neither.
pub(crate) fn strip_parameter_attributes(item: &mut syn::ItemFn) {
    for input in &mut item.sig.inputs {
        if let syn::FnArg::Typed(typed) = input {
            typed.attrs.retain(|attr| !attr.path().is_ident("case") && !attr.path().is_ident("from"));
        }
    }
}

/// `tokens` with every span replaced by `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}
