//! `#[trio_test]` as a pipeline: [`parse`] the attribute and the function, [`validate`] them
//! into a [`TestSpec`](validate::TestSpec), [`expand`] that into a `#[test]` function. Every
//! mistake found on the way is collected; if there is any, [`fallback`] emits the function
//! unchanged together with the errors, so the rest of the file still compiles and every
//! mistake is reported at once.

pub(crate) mod expand;
mod fallback;
mod parse;
mod suggest;
mod timeout;
pub(crate) mod validate;

use proc_macro2::TokenStream;

pub(crate) fn trio_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = match parse::parse(args, item.clone()) {
        Ok(input) => input,
        Err(error) => return fallback::raw(item, error),
    };
    match validate::validate(&input.args, &input.item) {
        Ok(spec) => expand::expand(input.item, spec),
        Err(error) => fallback::function(input.item, error),
    }
}
