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
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::validate::{ClockKind, Fixture, Policy, TestSpec};

pub(crate) fn expand(item: syn::ItemFn, spec: TestSpec) -> TokenStream {
    let TestSpec {
        krate,
        clock,
        nursery,
        seed,
        policy,
        timeout_nanos,
        schedules,
        check_determinism,
        inject_cancellations,
        depth,
        threads,
        params,
    } = spec;
    let syn::ItemFn { attrs, vis, sig, block } = item;
    let name = &sig.ident;
    // Spanned at the function's name, like the call below: the run's main task and every
    // failure then point at the test rather than at the attribute.
    let private = respan(quote!(#krate::__private), name.span());

    let mut config = quote! {
        #private::test_config(::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)))
    };
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
    if let Some(seed) = seed {
        let seed = Literal::u64_suffixed(seed);
        config = quote!(#config.seed(#seed));
    }
    if let Some(policy) = policy {
        let policy = match policy {
            Policy::Fifo => quote!(Fifo),
            Policy::Random => quote!(Random),
            Policy::Mixed => quote!(Mixed),
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

    let fixtures = Ident::new("__trio_fixtures", Span::call_site());
    let arguments = params.iter().map(|param| {
        let getter = match param.fixture {
            Fixture::MockClock | Fixture::AutojumpClock => quote!(clock),
            Fixture::Nursery => quote!(nursery),
        };
        // Spanned at the parameter's type: a fixture of the wrong type is reported there.
        quote_spanned!(param.ty.span()=> #fixtures.#getter())
    });
    let call = quote_spanned! {name.span()=>
        #private::run_test(#config, |#fixtures| #name(#(#arguments),*))
    };

    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #sig #block
            #call
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
