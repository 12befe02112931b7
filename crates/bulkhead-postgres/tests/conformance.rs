//! The adapter conformance suite of `bulkhead-testkit`, run against the PostgreSQL store on a
//! throw-away server (or `BULKHEAD_PG_URL`).
//!
//! - `plain`: the store on a schema of its own; the dump reads the base tables as the
//!   superuser, so the union of tenant views is checked against everything stored;
//! - `leaky`: the same behind `LeakyStore`, which drops the tenant filter from every tenant
//!   read: the engine's guard alone must keep every foreign row from a caller;
//! - `faults`: behind `FaultyStore`, failing each write call of the multi-row operations in
//!   turn: no partial state remains and the next call succeeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

mod plain {
    bulkhead_testkit::conformance_tests!(super::support::plain);
}

mod leaky {
    bulkhead_testkit::conformance_tests!(super::support::leaky);
}

mod faults {
    bulkhead_testkit::fault_injection_tests!(super::support::faulty);
}
