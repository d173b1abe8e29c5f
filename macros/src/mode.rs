//! `#[trio_tests(…)]` on a module: trio mode. Every `#[test] async fn` in it (and in its
//! inline submodules) becomes a `#[trio_test]` with the module's arguments as defaults; a
//! `#[trio_test(…)]` on a function in it keeps its own arguments and takes the module's for
//! the rest.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{FnArg, Item, ItemFn, ItemMod, Meta, Pat, Token};

pub(crate) fn trio_tests(args: TokenStream, item: TokenStream) -> TokenStream {
    let defaults = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(defaults) => defaults.into_iter().collect::<Vec<_>>(),
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    let mut module = match syn::parse2::<ItemMod>(item.clone()) {
        Ok(module) => module,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "#[trio_tests] goes on a module with a body: `#[trio_tests(autojump)] mod tests { … }`",
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    if module.content.is_none() {
        return syn::Error::new_spanned(
            &module,
            "#[trio_tests] needs the module's body in place (`mod tests { … }`, not `mod tests;`): an attribute on \
             a module in another file cannot see its contents",
        )
        .to_compile_error();
    }
    convert_module(&mut module, &defaults);
    module.into_token_stream()
}

fn convert_module(module: &mut ItemMod, defaults: &[Meta]) {
    let Some((_, items)) = &mut module.content else { return };
    for item in items.iter_mut() {
        match item {
            Item::Fn(function) if function.sig.asyncness.is_some() => {
                if let Some(tokens) = convert_function(function, defaults) {
                    *item = Item::Verbatim(tokens);
                }
            }
            // A submodule with trio mode of its own keeps its own defaults.
            Item::Mod(inner) if inner.content.is_some() && !inner.attrs.iter().any(is_trio_tests) => {
                convert_module(inner, defaults);
            }
            _ => {}
        }
    }
}

fn is_trio_tests(attr: &syn::Attribute) -> bool {
    attr.path().segments.last().is_some_and(|segment| segment.ident == "trio_tests")
}

/// The function with `#[trio_test(merged arguments)]` in place of its `#[test]` (or of its own
/// `#[trio_test(…)]`, whose path is kept), if it is a test.
fn convert_function(function: &ItemFn, defaults: &[Meta]) -> Option<TokenStream> {
    let mut function = function.clone();
    let mut own: Option<(syn::Path, Vec<Meta>)> = None;
    let mut error = None;
    let mut position = 0;
    for (i, attr) in function.attrs.iter().enumerate() {
        let last = attr.path().segments.last().map(|segment| segment.ident.to_string());
        match last.as_deref() {
            Some("test") if attr.path().segments.len() == 1 && own.is_none() => {
                own = Some((syn::parse_quote!(::trio_testkit::trio_test), Vec::new()));
                position = i;
            }
            Some("trio_test") => {
                let args = match &attr.meta {
                    Meta::Path(_) => Vec::new(),
                    Meta::List(list) => match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
                        Ok(metas) => metas.into_iter().collect(),
                        Err(e) => {
                            error = Some(e);
                            Vec::new()
                        }
                    },
                    Meta::NameValue(_) => {
                        error = Some(syn::Error::new_spanned(attr, "write `#[trio_test(…)]`"));
                        Vec::new()
                    }
                };
                own = Some((attr.path().clone(), args));
                position = i;
                break;
            }
            _ => {}
        }
    }
    if let Some(error) = error {
        let error = error.to_compile_error();
        return Some(quote!(#error #function));
    }
    let (mut path, own) = own?;
    let args = merge(&own, defaults, &function);
    // `#[test]` becomes the testkit's attribute, found where the module's `crate = "…"` says.
    if function.attrs[position].path().is_ident("test")
        && let Some(krate) = defaults.iter().find_map(crate_path)
    {
        path = syn::parse_quote!(#krate::trio_test);
    }
    function.attrs[position] = syn::parse_quote!(#[#path(#(#args),*)]);
    Some(function.into_token_stream())
}

/// The path in `crate = "path"`.
fn crate_path(meta: &Meta) -> Option<syn::Path> {
    match meta {
        Meta::NameValue(pair) if pair.path.is_ident("crate") => match &pair.value {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }) => text.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The test's own arguments, and the module's defaults for everything it does not set. The
/// module's `autojump` gives way to a clock the test asks for itself.
fn merge(own: &[Meta], defaults: &[Meta], function: &ItemFn) -> Vec<Meta> {
    let name = |meta: &Meta| meta.path().get_ident().map(ToString::to_string);
    let asks_for_a_clock = function.sig.inputs.iter().any(|input| match input {
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(pat) => {
                let written = pat.ident.to_string();
                matches!(written.strip_prefix('_').unwrap_or(&written), "mock_clock" | "autojump_clock")
            }
            _ => false,
        },
        FnArg::Receiver(_) => false,
    });
    let mut args: Vec<Meta> = own.to_vec();
    for default in defaults {
        let default_name = name(default);
        if default_name.is_some() && own.iter().any(|meta| name(meta) == default_name) {
            continue;
        }
        if default_name.as_deref() == Some("autojump") && asks_for_a_clock {
            continue;
        }
        if default_name.as_deref() == Some("autojump") && autojump_on(default) {
            // A default (`autojump` or `autojump = true`): a clock one of the test's fixtures
            // asks for wins over it.
            let marker = syn::Ident::new(crate::test::validate::MODULE_AUTOJUMP, proc_macro2::Span::call_site());
            args.push(syn::parse_quote!(#marker));
            continue;
        }
        args.push(default.clone());
    }
    args
}

/// Whether a module's `autojump` default turns autojump on: `autojump` or `autojump = true`
/// (`autojump = false` is passed on as written, to turn it off).
fn autojump_on(meta: &Meta) -> bool {
    match meta {
        Meta::Path(_) => true,
        Meta::NameValue(pair) => {
            matches!(&pair.value, syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Bool(on), .. }) if on.value)
        }
        Meta::List(_) => false,
    }
}
