//! Shared setup for the benches.
