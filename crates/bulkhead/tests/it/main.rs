//! The facade's integration tests over the embedded SQLite store, one test binary: each file of
//! this directory is a module, and `../common/` holds the setup they share. One binary links the
//! engine and the bundled SQLite once instead of once per file.
//!
//! A new test file goes here with its `mod` line below, and says `use crate::common;` where a
//! binary of its own would say `mod common;`. `races.rs` and `file_modes.rs` stay binaries of
//! their own: each runs one of its tests again in child processes by its exact libtest name.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod conflicts;
mod durability;
mod faults;
mod isolation;
mod leak_classes;
mod org_keys;
mod overview;
mod pagination;
mod rate_limit;
mod sealed_secrets;
mod secrets_at_rest;
mod templates;
mod tokens;
mod worker_keys;
mod workspaces;
