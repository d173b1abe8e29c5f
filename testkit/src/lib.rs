//! Testing tools for trio (placeholder until the testkit lands).
#![forbid(unsafe_code)]
