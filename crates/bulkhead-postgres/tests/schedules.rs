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
use bulkhead_testkit::{schedule_cases, schedule_model};

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

macro_rules! cases {
    ($($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                schedule_cases::$name(&support::plain());
            }
        )+
    };
}

cases!(
    due_times_follow_the_connection_s_schedule_and_status,
    due_times_pause_and_resume_with_their_workspace,
    due_times_are_seen_by_their_own_workspace_only,
    due_rows_list_oldest_first_bounded_and_by_organization,
    tick_queues_one_job_per_due_connection_and_collapses_missed_fires,
    tick_skips_a_connection_with_a_live_job_and_moves_its_due_time,
    tick_queues_nothing_for_paused_manual_deleted_or_retired,
    tick_runs_inside_a_worker_s_claim,
    tick_is_bounded_per_call,
);
