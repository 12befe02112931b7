//! The token fuzz harness of `bulkhead-testkit` over the PostgreSQL store: every checked-in
//! seed of `fuzz/seeds/token/`, then generated inputs (`BULKHEAD_TOKEN_FUZZ_CASES`, 5000 by
//! default). `cargo fuzz` runs the harness on in-memory SQLite only; refusals that depend on the
//! backend (PostgreSQL refuses a NUL in `text`, where SQLite finds nothing) are fuzzed here: a
//! refusal must be an invalid token, never a storage error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bulkhead_testkit::fuzzing::{self, TokenFuzzer};

/// Generated inputs per run unless `BULKHEAD_TOKEN_FUZZ_CASES` says otherwise.
const DEFAULT_CASES: usize = 5000;

#[test]
fn token_seeds_and_generated_inputs_hold_the_property_on_postgres() {
    let schema = support::Schema::new();
    let fuzzer = TokenFuzzer::new(Arc::new(schema.open()));
    let cases = std::env::var("BULKHEAD_TOKEN_FUZZ_CASES")
        .ok()
        .map(|n| {
            n.parse::<usize>()
                .expect("BULKHEAD_TOKEN_FUZZ_CASES is a number")
        })
        .unwrap_or(DEFAULT_CASES);

    let mut failed = Vec::new();
    let seeds = fuzzing::seeds("token");
    assert!(!seeds.is_empty(), "no token seeds");
    for (path, data) in &seeds {
        if catch_unwind(AssertUnwindSafe(|| fuzzer.check(data))).is_err() {
            failed.push(format!("seed {}", path.display()));
        }
    }
    for (i, data) in fuzzing::token_inputs(cases, 0x5EED).iter().enumerate() {
        if catch_unwind(AssertUnwindSafe(|| fuzzer.check(data))).is_err() {
            failed.push(format!("generated input {i}: {data:?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} token inputs break the property on PostgreSQL (the panics are printed \
         above):\n{}",
        failed.len(),
        seeds.len() + cases,
        failed.join("\n")
    );
}
