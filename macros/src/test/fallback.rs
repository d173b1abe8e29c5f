//! What is emitted when the attribute or the function has a mistake: the function itself
//! (so calls to it and the rest of the file still type-check, and no secondary "not found"
//! errors bury the real one) plus one `compile_error!` per mistake.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

/// The item did not even parse as a function: give it back as it was.
pub(crate) fn raw(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    quote! {
        #errors
        #item
    }
}

/// The function parsed but has mistakes. Test attributes are removed from it: an extra
/// `#[test]` on an `async fn` would add an error of its own.
pub(crate) fn function(mut item: ItemFn, error: syn::Error) -> TokenStream {
    item.attrs.retain(|attr| !super::validate::is_test_attribute(attr) && !super::expand::is_case_attribute(attr));
    super::expand::strip_parameter_attributes(&mut item);
    let errors = error.to_compile_error();
    quote! {
        #errors
        #[allow(dead_code)]
        #item
    }
}
