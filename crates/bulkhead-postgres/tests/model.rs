//! The isolation model of `bulkhead-testkit` against the PostgreSQL store: random sequences
//! of operations over several organizations and workspaces, every invariant checked after
//! every step, the union of tenant views checked against the base tables (read as the
//! superuser).
//!
//! Every store call here is a round trip to the server (several, with the audit chain), so
//! the default is 64 cases per test rather than the 256 the SQLite model runs;
//! `BULKHEAD_PROPTEST_CASES=N` runs N cases per test instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use bulkhead_testkit::conformance::Harness;
use bulkhead_testkit::model::{self, Adapter};

struct Plain;

impl Adapter for Plain {
    fn harness() -> Harness {
        support::plain()
    }
}

struct Leaky;

impl Adapter for Leaky {
    fn harness() -> Harness {
        support::leaky()
    }
}

/// The CI-sized default number of cases against PostgreSQL.
const CASES: u32 = 64;

#[test]
fn postgres_keeps_every_tenant_to_itself() {
    model::run_cases::<Plain>(model::cases_or(CASES));
}

#[test]
fn leaky_postgres_is_kept_isolated_by_the_guard_alone() {
    model::run_cases::<Leaky>(model::cases_or(CASES));
}
