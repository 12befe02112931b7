//! The adapter conformance suite of `bulkhead-testkit`, run against the SQLite store.
//!
//! - `file`: the store on a database file; the dump reads the base tables through a separate
//!   rusqlite connection, so the union of tenant views is checked against the whole file.
//! - `memory`: the store on a private in-memory database; without a dump (nothing outside the
//!   store reaches that database) the checks against the whole store are skipped, and it
//!   cannot be reopened.
//! - `leaky`: the same file behind `LeakyStore`, which drops the tenant filter from every
//!   tenant read: the guard alone must keep every foreign row from a caller (calls may be
//!   refused as isolation breaches, which are counted, never answered with a foreign row).
//! - `faults`: the same file behind `FaultyStore`, failing each write call of the multi-row
//!   operations in turn: no partial state remains and the next call succeeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

mod file {
    bulkhead_testkit::conformance_tests!(super::support::file);
}

mod memory {
    bulkhead_testkit::conformance_tests!(super::support::memory);
}

mod leaky {
    bulkhead_testkit::conformance_tests!(super::support::leaky_file);
}

mod faults {
    bulkhead_testkit::fault_injection_tests!(super::support::faulty_file);
}
