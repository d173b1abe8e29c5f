//! The Trio course in Rust: the examples live in `examples/`, the cross-crate conformance tests
//! in `tests/`. This crate holds what the examples share — [`run`] picks the clock and the seed
//! from the environment, [`say!`] prints a line that a test can capture with the time it was
//! printed at ([`Transcript`]), [`internet`] is the run's simulated network, where
//! [`httpbin`] serves the web service two lessons ask — and doctests the README, which follows.

#![doc = include_str!("../README.md")]
#![allow(clippy::test_attr_in_doctest, reason = "the README shows trio mode, where `#[test] async fn` marks the tests")]

mod course;
pub mod httpbin;
pub mod hyper_io;

pub use crate::course::{Line, Transcript, print_line, run};
pub use crate::httpbin::internet;
