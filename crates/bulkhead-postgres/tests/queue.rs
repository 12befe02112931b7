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
use bulkhead_testkit::queue_model;

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

bulkhead_testkit::queue_case_tests!(support::plain());

/// A job leaves the queue, and the counters follow, however its run goes: its connection
/// deleted with its runs (a queued job), its workspace purged (a running one), each through
/// the foreign key and the counters' triggers.
#[test]
fn deleted_runs_leave_the_queue_and_the_counters() {
    use bulkhead_testkit::conformance::{new_org, pipeline, workspace};
    let h = support::plain();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, first) = pipeline(&ws, "p0");
    let (_, _, second) = pipeline(&ws, "p1");
    ws.queue_sync(first.id).unwrap();
    ws.queue_sync(second.id).unwrap();
    let claimed = org.worker("w").unwrap().claim().unwrap().unwrap();
    let queued = if claimed.connection.id == first.id {
        second.id
    } else {
        first.id
    };
    let queue = || h.store().jobs().unwrap().snapshot().unwrap();
    let counters = |snapshot: &bulkhead_core::jobs::QueueSnapshot| {
        let ws = snapshot
            .workspaces
            .iter()
            .find(|c| c.id == *ws.workspace_id().as_uuid())
            .map(|c| (c.queued, c.running));
        let org = snapshot.orgs.first().map(|c| (c.queued, c.running));
        (ws, org)
    };
    assert_eq!(counters(&queue()), (Some((1, 1)), Some((1, 1))));

    ws.delete_connection(queued).unwrap();
    let after = queue();
    assert_eq!(after.rows.len(), 1, "{after:?}");
    assert_eq!(after.rows[0].job_id, claimed.lease.job_id());
    assert_eq!(counters(&after), (Some((0, 1)), Some((0, 1))));

    org.delete_workspace(ws.workspace_id()).unwrap();
    org.purge_workspace(ws.workspace_id()).unwrap();
    let after = queue();
    assert!(after.rows.is_empty(), "{after:?}");
    assert_eq!(counters(&after), (Some((0, 0)), Some((0, 0))));
}
