//! The queue model of `bulkhead-testkit` against the PostgreSQL store (see
//! `bulkhead_testkit::queue_model`): random queue operations checked against a reference
//! model after every step, the fairness bound, and the queue's behaviours
//! (`bulkhead_testkit::queue_cases`), on a throw-away server (or `BULKHEAD_PG_URL`).
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
use bulkhead_testkit::{queue_cases, queue_model};

struct Plain;

impl Adapter for Plain {
    fn harness() -> Harness {
        support::plain()
    }
}

#[test]
fn postgres_queue_loses_nothing_doubles_nothing_and_fences_stale_leases() {
    queue_model::run::<Plain>();
}

#[test]
fn postgres_queue_serves_a_quiet_workspace_within_one_claim_per_active_workspace() {
    queue_model::run_fairness::<Plain>();
}

macro_rules! cases {
    ($($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                queue_cases::$name(&support::plain());
            }
        )+
    };
}

cases!(
    a_job_whose_worker_died_runs_again_and_completes_once,
    a_job_out_of_attempts_fails,
    a_job_is_cancelled_in_every_state,
    one_live_job_per_connection_and_the_job_is_its_run,
    a_claim_opens_the_configuration_and_is_audited,
    a_worker_and_a_workspace_see_only_their_own_jobs,
    an_inactive_or_deleted_workspace_has_no_claimable_job,
    caps_and_weights_shape_the_claims,
    concurrent_workers_run_each_job_exactly_once,
);
