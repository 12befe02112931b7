//! The isolation model of `bulkhead-testkit` against the SQLite store: random sequences of
//! operations over several organizations and workspaces, every invariant checked after every
//! step.
//!
//! - `sqlite_file_keeps_every_tenant_to_itself`: the store on a file, the union of tenant views
//!   checked against the whole file after every step;
//! - `sqlite_in_memory_keeps_every_tenant_to_itself`: the store on an in-memory database,
//!   which has no dump: tenant views are checked against the model, not against the store;
//! - `leaky_sqlite_file_is_kept_isolated_by_the_guard_alone`: the same behind `LeakyStore`,
//!   whose tenant reads ignore the tenant: no foreign row may ever reach a caller, and every
//!   refusal must be reported and counted as an isolation breach.
//!
//! `BULKHEAD_PROPTEST_CASES=N` runs N cases per test instead of the default 256.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use bulkhead_testkit::conformance::Harness;
use bulkhead_testkit::model::{self, Adapter};

struct File;

impl Adapter for File {
    fn harness() -> Harness {
        support::file()
    }
}

struct Memory;

impl Adapter for Memory {
    fn harness() -> Harness {
        support::memory()
    }
}

struct LeakyFile;

impl Adapter for LeakyFile {
    fn harness() -> Harness {
        support::leaky_file()
    }
}

#[test]
fn sqlite_file_keeps_every_tenant_to_itself() {
    model::run::<File>();
}

#[test]
fn sqlite_in_memory_keeps_every_tenant_to_itself() {
    model::run::<Memory>();
}

#[test]
fn leaky_sqlite_file_is_kept_isolated_by_the_guard_alone() {
    model::run::<LeakyFile>();
}
