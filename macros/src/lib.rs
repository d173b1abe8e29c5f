//! The `#[trio_test]` attribute (placeholder until the macro lands).
#![forbid(unsafe_code)]
