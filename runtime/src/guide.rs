//! Chapters of the guide that do not fit on the crate's front page.

#[doc = include_str!("guide/coming_from_tokio.md")]
pub mod coming_from_tokio {}
