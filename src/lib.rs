//! The Trio course in Rust: see `examples/`.
