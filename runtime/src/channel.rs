//! Memory channels (Trio's `open_memory_channel`).
