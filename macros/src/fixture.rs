//! `#[trio_fixture]`: parse the attribute and the function, check them, and expand the
//! function into the fixture's definition — a function of the same name that returns a
//! `FixtureDef<Value>` (the user's `async fn` lives on inside it).
//!
//! ```text
//! #[trio_fixture]                                  fn server() -> FixtureDef<Server> {
//! async fn server(nursery: Nursery,                    struct Id;
//!                 db: Db) -> Server { body }   ==>     async fn server(nursery: Nursery, db: Db) -> Server { body }
//!                                                      definition::<Id, Server>(
//!                                                          FixtureInfo { name, path, deps: [db], … },
//!                                                          |cx| Box::pin(plain(cx, server(cx.nursery(), cx.value(db)))),
//!                                                      )
//!                                                  }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Expr, ExprLit, FnArg, GenericArgument, ItemFn, Lit, Meta, Pat, Path, PathArguments, ReturnType, Token, Type,
};

use crate::test::validate::{Errors, Fixture, ParamKind, is_test_attribute, param_kind};

pub(crate) fn trio_fixture(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "#[trio_fixture] goes on an `async fn`: `#[trio_fixture] async fn name(…) -> Value { … }`",
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    match validate(args, &item) {
        Ok(spec) => expand(item, spec),
        Err(error) => {
            let error = error.to_compile_error();
            for input in &mut item.sig.inputs {
                if let FnArg::Typed(typed) = input {
                    typed.attrs.retain(|attr| !attr.path().is_ident("from") && !attr.path().is_ident("case"));
                }
            }
            quote!(#error #[allow(dead_code)] #item)
        }
    }
}

/// A checked fixture.
struct Spec {
    krate: Path,
    params: Vec<Param>,
    shape: Shape,
    value: Type,
}

struct Param {
    ident: syn::Ident,
    ty: Box<Type>,
    kind: Kind,
}

enum Kind {
    Builtin(Fixture),
    User(Path),
    Yield,
}

/// How the function hands over its value.
enum Shape {
    /// `-> Value`
    Plain,
    /// `-> Result<Value, E>`
    Fallible,
    /// A `Yield<Value>` parameter.
    Yielding,
}

fn validate(args: TokenStream, item: &ItemFn) -> syn::Result<Spec> {
    let mut errors = Errors::default();
    let mut krate: Path = syn::parse_quote!(::trio_testkit);
    match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => {
            for meta in metas {
                match &meta {
                    Meta::NameValue(pair) if pair.path.is_ident("crate") => match &pair.value {
                        Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => match text.parse::<Path>() {
                            Ok(path) => krate = path,
                            Err(_) => errors.push(syn::Error::new_spanned(text, "not a path to a crate")),
                        },
                        other => errors
                            .push(syn::Error::new_spanned(other, "`crate` takes a string: `crate = \"my_testkit\"`")),
                    },
                    other => errors.push(syn::Error::new_spanned(
                        other,
                        "#[trio_fixture] takes no arguments but `crate = \"…\"`; the fixture's name is its function's",
                    )),
                }
            }
        }
        Err(error) => errors.push(error),
    }

    let sig = &item.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "a #[trio_fixture] must be an `async fn`: fixtures are set up inside the test's trio run; write \
             `async fn` (a fixture with nothing to await is an `async fn` too)",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(&sig.generics, "a #[trio_fixture] cannot be generic"));
    }
    for attr in &item.attrs {
        if is_test_attribute(attr) {
            errors.push(syn::Error::new_spanned(attr, "a fixture is not a test: remove this attribute"));
        }
    }

    let mut params: Vec<Param> = Vec::new();
    for input in &sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(syn::Error::new_spanned(receiver, "a #[trio_fixture] cannot take `self`"));
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        let ident = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "a fixture parameter is a plain name, such as `nursery: Nursery`",
                ));
                continue;
            }
        };
        let kind = if yield_value(&typed.ty).is_some() {
            if params.iter().any(|param| matches!(param.kind, Kind::Yield)) {
                errors.push(syn::Error::new_spanned(
                    &typed.ty,
                    "a fixture provides one value: keep one `Yield` parameter",
                ));
                continue;
            }
            Kind::Yield
        } else {
            match param_kind(&ident, &typed.attrs, false, &mut errors) {
                Some(ParamKind::Builtin(fixture)) => Kind::Builtin(fixture),
                Some(ParamKind::User(path)) => {
                    if path.is_ident(&sig.ident) {
                        errors.push(syn::Error::new_spanned(
                            &ident,
                            format!(
                                "fixture `{}` asks for itself: a fixture cannot be set up before itself",
                                sig.ident
                            ),
                        ));
                        continue;
                    }
                    Kind::User(path)
                }
                Some(ParamKind::Case) | None => continue,
            }
        };
        let key = kind_key(&kind);
        if key.is_some() && params.iter().any(|param| kind_key(&param.kind) == key) {
            errors.push(syn::Error::new_spanned(
                &ident,
                format!("the `{}` fixture is asked for twice; keep one parameter", key.unwrap_or_default()),
            ));
            continue;
        }
        params.push(Param { ident, ty: typed.ty.clone(), kind });
    }

    let clocks: Vec<&Param> = params
        .iter()
        .filter(|p| matches!(p.kind, Kind::Builtin(Fixture::MockClock | Fixture::AutojumpClock)))
        .collect();
    if let [first, second, ..] = clocks.as_slice() {
        errors.push(syn::Error::new_spanned(
            &second.ident,
            format!(
                "too many clocks spoil the broth: `{}` asks for a clock, but `{}` already does, and a run has exactly \
                 one clock; keep one of them",
                second.ident, first.ident
            ),
        ));
    }

    let (shape, value) = match params.iter().find(|param| matches!(param.kind, Kind::Yield)) {
        Some(param) => (Shape::Yielding, yield_value(&param.ty).cloned()),
        None => match &sig.output {
            ReturnType::Default => (Shape::Plain, Some(syn::parse_quote!(()))),
            ReturnType::Type(_, ty) => {
                if let Type::ImplTrait(_) = &**ty {
                    errors.push(syn::Error::new_spanned(
                        ty,
                        "a fixture's value needs a type the test can name, not `impl Trait`",
                    ));
                }
                match result_value(ty) {
                    Some(value) => (Shape::Fallible, Some(value.clone())),
                    None => (Shape::Plain, Some((**ty).clone())),
                }
            }
        },
    };
    if let Some(error) = errors.0 {
        return Err(error);
    }
    Ok(Spec { krate, params, shape, value: value.unwrap_or_else(|| syn::parse_quote!(())) })
}

fn kind_key(kind: &Kind) -> Option<String> {
    match kind {
        Kind::Builtin(fixture) => Some(fixture.name().to_string()),
        Kind::User(path) => Some(path.to_token_stream().to_string().replace(' ', "")),
        Kind::Yield => None,
    }
}

/// `T` of a `Yield<T>` (whatever the path in front of `Yield`).
fn yield_value(ty: &Type) -> Option<&Type> {
    last_segment_argument(ty, "Yield")
}

/// `T` of a `Result<T, …>` (`Result<T, E>`, `trio::Result<T>`, `io::Result<T>`).
fn result_value(ty: &Type) -> Option<&Type> {
    last_segment_argument(ty, "Result")
}

fn last_segment_argument<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else { return None };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

fn expand(mut item: ItemFn, spec: Spec) -> TokenStream {
    let Spec { krate, params, shape, value } = spec;
    for input in &mut item.sig.inputs {
        if let FnArg::Typed(typed) = input {
            typed.attrs.retain(|attr| !attr.path().is_ident("from"));
        }
    }
    let name = item.sig.ident.clone();
    let vis = item.vis.clone();
    // Doc comments and the like stay on the definition; the inner function keeps the rest.
    let (outer_attrs, inner_attrs): (Vec<_>, Vec<_>) =
        item.attrs.drain(..).partition(|attr| attr.path().is_ident("doc") || attr.path().is_ident("cfg"));
    item.attrs = inner_attrs;
    item.vis = syn::Visibility::Inherited;
    let private = quote_spanned!(name.span()=> #krate::__private);
    let fixture_mod = quote_spanned!(name.span()=> #krate::fixture);

    let clock = params.iter().find_map(|param| match param.kind {
        Kind::Builtin(Fixture::MockClock) => Some(quote!(Mock)),
        Kind::Builtin(Fixture::AutojumpClock) => Some(quote!(Autojump)),
        _ => None,
    });
    let clock = match clock {
        Some(kind) => quote!(::core::option::Option::Some(#private::ClockFixture::#kind)),
        None => quote!(::core::option::Option::None),
    };
    let net = params.iter().any(|param| matches!(param.kind, Kind::Builtin(Fixture::Net)));
    let cx = syn::Ident::new("__trio_fixture_cx", Span::call_site());
    let deps = params.iter().filter_map(|param| match &param.kind {
        Kind::User(path) => Some(quote_spanned! {param.ident.span()=>
            {
                let dependency: fn() -> #private::AnyFixture = || #private::any_fixture(#path);
                dependency
            }
        }),
        _ => None,
    });
    let bindings = params.iter().enumerate().map(|(i, param)| {
        let binding = quote::format_ident!("__trio_fixture_arg{}", i);
        let ty = &param.ty;
        // Spanned at the parameter's type: a value of the wrong type is reported there (a
        // fixture's path keeps its own span: an unknown one is reported at its name).
        let span = ty.span();
        let getter = match &param.kind {
            Kind::Builtin(Fixture::MockClock | Fixture::AutojumpClock) => quote_spanned!(span=> clock()),
            Kind::Builtin(Fixture::Nursery) => quote_spanned!(span=> nursery()),
            Kind::Builtin(Fixture::Net) => quote_spanned!(span=> net()),
            Kind::User(path) => quote_spanned!(span=> value(#path)),
            Kind::Yield => quote_spanned!(span=> yield_handle()),
        };
        let cx = syn::Ident::new("__trio_fixture_cx", span);
        quote_spanned!(span=> let #binding: #ty = #cx.#getter;)
    });
    let arguments = (0..params.len()).map(|i| quote::format_ident!("__trio_fixture_arg{}", i));
    let wrapper = match shape {
        Shape::Plain => quote!(plain),
        Shape::Fallible => quote!(fallible),
        Shape::Yielding => quote!(yielding),
    };

    quote! {
        #(#outer_attrs)*
        #vis fn #name() -> #fixture_mod::FixtureDef<#value> {
            #[allow(non_camel_case_types, dead_code)]
            struct __TrioFixtureId;
            #item
            #private::definition::<__TrioFixtureId, #value>(
                #private::FixtureInfo {
                    name: ::core::stringify!(#name),
                    path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                    location: ::core::panic::Location::caller(),
                    clock: #clock,
                    net: #net,
                    deps: ::std::vec![#(#deps),*],
                },
                |#cx| {
                    #(#bindings)*
                    ::std::boxed::Box::pin(#private::#wrapper(#cx, #name(#(#arguments),*)))
                },
            )
        }
    }
}
