//! The queue model of `bulkhead-testkit` against the SQLite store (see
//! `bulkhead_testkit::queue_model`): random queue operations checked against a reference
//! model after every step, and the fairness bound.
//!
//! `BULKHEAD_PROPTEST_CASES=N` runs N cases per test instead of the default.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use bulkhead_testkit::conformance::Harness;
use bulkhead_testkit::model::Adapter;
use bulkhead_testkit::queue_model;

struct File;

impl Adapter for File {
    fn harness() -> Harness {
        support::file()
    }
}

#[test]
fn sqlite_queue_loses_nothing_doubles_nothing_and_fences_stale_leases() {
    queue_model::run::<File>();
}

#[test]
fn sqlite_queue_serves_a_quiet_workspace_within_one_claim_per_active_workspace() {
    queue_model::run_fairness::<File>();
}

bulkhead_testkit::queue_case_tests!(support::file());
