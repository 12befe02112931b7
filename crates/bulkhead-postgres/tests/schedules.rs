//! The scheduler's cases of `bulkhead-testkit` against the PostgreSQL store (see
//! `bulkhead_testkit::schedule_cases`): due times kept with the connections, and the tick that
//! queues their jobs; and the scheduler's model (`bulkhead_testkit::schedule_model`), on a
//! throw-away server (or `BULKHEAD_PG_URL`).
//!
//! `BULKHEAD_PROPTEST_CASES=N` runs N model cases instead of the default.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use bulkhead_testkit::conformance::Harness;
use bulkhead_testkit::model::Adapter;
use bulkhead_testkit::schedule_model;

struct Plain;

impl Adapter for Plain {
    fn harness() -> Harness {
        support::plain()
    }
}

#[test]
fn postgres_schedules_follow_their_model_through_ticks_pauses_and_clock_jumps() {
    schedule_model::run::<Plain>();
}

bulkhead_testkit::schedule_case_tests!(support::plain());
