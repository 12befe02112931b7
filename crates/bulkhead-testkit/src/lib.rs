//! Test equipment shared by every storage adapter of Bulkhead.
//!
//! - [`conformance`]: plain tests every adapter runs against its own store;
//! - [`model`]: a proptest state-machine model of several organizations and workspaces whose
//!   invariants (each tenant sees exactly its own, no foreign id ever appears, foreign lookups
//!   are not found) are checked after every step;
//! - [`wrappers`]: stores wrapped to leak (drop the tenant filter) or to fail the N-th write;
//! - [`memory`]: the storage port in memory, correct or (for `tests/guard_alone.rs`) leaky;
//! - [`fuzzing`]: the property harnesses of the fuzz targets, replayed on a seed corpus by
//!   `cargo test` on stable;
//! - [`pg`]: a throw-away PostgreSQL server (or `BULKHEAD_PG_URL`) shared by a test process.
//!
//! This crate is for tests: nothing in it is part of Bulkhead's API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test equipment: a panic here is a failed assertion"
)]

pub mod conformance;
pub mod fuzzing;
pub mod memory;
pub mod model;
pub mod pg;
pub mod queue_cases;
pub mod queue_model;
#[cfg(test)]
mod run_lists;
pub mod schedule_cases;
pub mod schedule_model;
pub mod wrappers;
