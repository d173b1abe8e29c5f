//! Compile-time diagnostics of `#[trio_test]`: each file in `tests/ui/` is one mistake, named
//! after it, with the expected compiler output next to it. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p trio-macros --test ui` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
