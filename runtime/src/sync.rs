//! Synchronisation primitives (Trio's `_sync.py`), built on `lowlevel`.
