//! Step 1: tokens to syntax. Only the shapes are checked here; the meaning is
//! [`validate`](super::validate)'s job.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{ItemFn, Meta, Token};

/// The attribute's arguments and the function it is on, parsed but not yet checked.
pub(crate) struct Input {
    pub(crate) args: Vec<Meta>,
    pub(crate) item: ItemFn,
}

/// Parses both halves; an error in either reports both.
pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Input> {
    let parsed_args = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args);
    let parsed_item = syn::parse2::<ItemFn>(item.clone()).map_err(|_| {
        syn::Error::new_spanned(&item, "#[trio_test] goes on an `async fn`: `#[trio_test] async fn name() { ... }`")
    });
    match (parsed_args, parsed_item) {
        (Ok(args), Ok(item)) => Ok(Input { args: args.into_iter().collect(), item }),
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => Err(error),
        (Err(mut error), Err(other)) => {
            error.combine(other);
            Err(error)
        }
    }
}
