//! The isolation model of `bulkhead-testkit` against the PostgreSQL store: random sequences
//! of operations over several organizations and workspaces, every invariant checked after
//! every step, the union of tenant views checked against the base tables (read as the
//! superuser).
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

#[test]
fn postgres_keeps_every_tenant_to_itself() {
    model::run::<Plain>();
}

#[test]
fn leaky_postgres_is_kept_isolated_by_the_guard_alone() {
    model::run::<Leaky>();
}
