//! The Trio course in Rust: the examples live in `examples/`, the cross-crate conformance tests
//! in `tests/`. This crate also doctests the README.

#![doc = include_str!("../README.md")]
