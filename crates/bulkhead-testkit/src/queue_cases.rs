//! Behaviours of the job queue (see `bulkhead_core::jobs`) that every adapter with a queue
//! must show, one function each, run by the adapter's tests on a fresh [`Harness`].

use std::time::Duration;

use bulkhead_core::audit::AuditFilter;
use bulkhead_core::{
    Error, JobLimits, JobSettings, JobStatus, Page, SyncOutcome, SyncStatus, WorkspaceStatus,
    WorkspaceUpdate,
};

use crate::conformance::{
    Harness, from_template, install_catalog, new_connection, new_org, pipeline, workspace,
};

fn short_leases(h: &Harness) {
    h.engine()
        .set_job_settings(JobSettings {
            lease: Duration::from_secs(10),
            max_attempts: 2,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            ..JobSettings::default()
        })
        .unwrap();
}

/// A worker killed in the middle of a job: after its lease, the job is claimed again (attempt
/// 2, a newer fencing token, after the backoff) and completes once; the dead worker's late
/// heartbeat and completion are refused and change nothing.
pub fn a_job_whose_worker_died_runs_again_and_completes_once(h: &Harness) {
    short_leases(h);
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    let job = ws.queue_sync(connection.id).unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    let dead = org.worker("dead").unwrap();
    let mut first = dead.claim().unwrap().unwrap();
    assert_eq!(first.lease.attempt(), 1);
    assert_eq!(ws.job(job.run.id).unwrap().status, JobStatus::Running);

    h.clock.advance(Duration::from_secs(11));
    let alive = h.engine().worker("alive").unwrap();
    // The expired lease is reaped by this claim; the retry waits for its backoff.
    assert!(alive.claim().unwrap().is_none());
    let waiting = ws.job(job.run.id).unwrap();
    assert_eq!(waiting.status, JobStatus::Incomplete);
    assert_eq!(waiting.run.status, SyncStatus::Pending);
    assert_eq!(waiting.attempt, Some(1));
    h.clock.advance(Duration::from_secs(5));
    let second = alive.claim().unwrap().unwrap();
    assert_eq!(second.lease.job_id(), job.run.id);
    assert_eq!(second.lease.attempt(), 2);
    assert!(second.lease.token() > first.lease.token());

    assert!(matches!(
        dead.heartbeat(&mut first.lease),
        Err(Error::LeaseLost { job_id }) if job_id == job.run.id
    ));
    assert!(matches!(
        dead.complete(&first.lease, SyncOutcome::Succeeded { rows: 1, bytes: 1 }),
        Err(Error::LeaseLost { .. })
    ));
    let done = alive
        .complete(&second.lease, SyncOutcome::Succeeded { rows: 5, bytes: 50 })
        .unwrap();
    assert_eq!(done.status, SyncStatus::Succeeded);
    assert_eq!(done.rows_synced, 5);
    assert!(matches!(
        alive.complete(&second.lease, SyncOutcome::Succeeded { rows: 9, bytes: 9 }),
        Err(Error::LeaseLost { .. })
    ));
    let run = ws.get_sync_run(job.run.id).unwrap();
    assert_eq!((run.status, run.rows_synced), (SyncStatus::Succeeded, 5));
    assert_eq!(ws.job(job.run.id).unwrap().status, JobStatus::Succeeded);
}

/// A job whose lease runs out on every attempt ends `failed`, saying why, after
/// `max_attempts`.
pub fn a_job_out_of_attempts_fails(h: &Harness) {
    short_leases(h);
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    let job = ws.queue_sync(connection.id).unwrap();
    let worker = org.worker("w").unwrap();
    worker.claim().unwrap().unwrap();
    h.clock.advance(Duration::from_secs(11));
    let reaped = h.engine().reap_jobs().unwrap();
    assert_eq!((reaped.retried, reaped.failed), (1, 0));
    h.clock.advance(Duration::from_secs(5));
    assert_eq!(worker.claim().unwrap().unwrap().lease.attempt(), 2);
    h.clock.advance(Duration::from_secs(11));
    let reaped = h.engine().reap_jobs().unwrap();
    assert_eq!((reaped.retried, reaped.failed), (0, 1));
    let failed = ws.job(job.run.id).unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.run.error.unwrap().contains("2 attempts"));
    assert!(worker.claim().unwrap().is_none());
    // The connection is free again.
    ws.queue_sync(connection.id).unwrap();
}

/// Cancel works in every state: a pending job, a running one (its worker is then refused),
/// and an ended one is a conflict.
pub fn a_job_is_cancelled_in_every_state(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    let pending = ws.queue_sync(connection.id).unwrap();
    let cancelled = ws.cancel_job(pending.run.id).unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let worker = org.worker("w").unwrap();
    assert!(
        worker.claim().unwrap().is_none(),
        "a cancelled job is not claimed"
    );

    let running = ws.queue_sync(connection.id).unwrap();
    let mut claimed = worker.claim().unwrap().unwrap();
    assert_eq!(claimed.lease.job_id(), running.run.id);
    ws.cancel_job(running.run.id).unwrap();
    assert!(matches!(
        worker.heartbeat(&mut claimed.lease),
        Err(Error::LeaseLost { .. })
    ));
    assert!(matches!(
        worker.complete(&claimed.lease, SyncOutcome::Succeeded { rows: 1, bytes: 1 }),
        Err(Error::LeaseLost { .. })
    ));
    assert_eq!(
        ws.get_sync_run(running.run.id).unwrap().status,
        SyncStatus::Cancelled
    );
    assert!(matches!(
        ws.cancel_job(running.run.id),
        Err(Error::Conflict { .. })
    ));
}

/// At most one live job per connection, whichever way it started: a second queued start,
/// or a recorded start while one is queued, or a queued start while a recorded run runs, is
/// [`Error::SyncAlreadyRunning`]; the job is the sync run the history lists.
pub fn one_live_job_per_connection_and_the_job_is_its_run(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    let job = ws.queue_sync(connection.id).unwrap();
    assert!(matches!(
        ws.queue_sync(connection.id),
        Err(Error::SyncAlreadyRunning { connection_id }) if connection_id == connection.id
    ));
    assert!(matches!(
        ws.start_sync(connection.id),
        Err(Error::SyncAlreadyRunning { .. })
    ));
    let history = ws.list_sync_runs(connection.id, &Page::first(10)).unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].id, job.run.id);
    assert_eq!(history.items[0].status, SyncStatus::Pending);
    assert!(job.run.id.job_number().is_some());
    ws.cancel_job(job.run.id).unwrap();

    let recorded = ws.start_sync(connection.id).unwrap();
    assert!(matches!(
        ws.queue_sync(connection.id),
        Err(Error::SyncAlreadyRunning { .. })
    ));
    ws.finish_sync(recorded.id, SyncOutcome::Cancelled).unwrap();
    ws.queue_sync(connection.id).unwrap();
}

/// A claim hands the worker the connection with its source's secrets opened, and the claim
/// is in the audit chain.
pub fn a_claim_opens_the_configuration_and_is_audited(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let catalog = install_catalog(h, &org);
    let ws = workspace(&org, "cust-1");
    let made = ws
        .create_source_from_template(from_template(catalog.source_templates()[0], "acct"))
        .unwrap();
    let connection = &made.connections[0];
    let masked = ws.get_source(made.source.id).unwrap();
    assert_ne!(
        masked.config.as_map()["api_key"],
        serde_json::json!("sk_live_acct")
    );
    let job = ws.queue_sync(connection.id).unwrap();
    let claimed = org.worker("w").unwrap().claim().unwrap().unwrap();
    assert_eq!(claimed.lease.job_id(), job.run.id);
    assert_eq!(claimed.connection.id, connection.id);
    assert_eq!(
        claimed.source.config.as_map()["api_key"],
        serde_json::json!("sk_live_acct")
    );
    assert!(!format!("{claimed:?}").contains("sk_live_acct"));
    let events = org
        .audit_events(
            &AuditFilter {
                action: Some("job.claim".to_owned()),
                ..AuditFilter::default()
            },
            &Page::first(10),
        )
        .unwrap();
    assert_eq!(events.items.len(), 1);
    assert_eq!(events.items[0].draft.workspace_id, Some(ws.workspace_id()));
}

/// A worker of one organization claims only its jobs, and is refused another's lease; a job
/// id of another workspace is not found, and so is a run of another workspace handed to
/// `job_of`.
pub fn a_worker_and_a_workspace_see_only_their_own_jobs(h: &Harness) {
    let (acme, _) = new_org(h, "Acme");
    let (other, _) = new_org(h, "Other");
    let acme_ws = workspace(&acme, "cust-1");
    let other_ws = workspace(&other, "cust-1");
    let (_, _, theirs) = pipeline(&other_ws, "p");
    let job = other_ws.queue_sync(theirs.id).unwrap();
    let acme_worker = acme.worker("acme").unwrap();
    assert!(acme_worker.claim().unwrap().is_none());
    let claimed = other.worker("other").unwrap().claim().unwrap().unwrap();
    assert!(matches!(
        acme_worker.complete(&claimed.lease, SyncOutcome::Cancelled),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        acme_ws.job(job.run.id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        acme_ws.cancel_job(job.run.id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(other_ws.job(job.run.id).unwrap().status, JobStatus::Running);
    // A run read by one scope and handed to another's `job_of`: not found, never an answer.
    let theirs_run = other_ws.get_sync_run(job.run.id).unwrap();
    assert!(matches!(
        acme_ws.job_of(theirs_run.clone()),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        other_ws.job_of(theirs_run).unwrap().status,
        JobStatus::Running
    );
}

/// An inactive or deleted workspace has no job claimable; an active one again has.
pub fn an_inactive_or_deleted_workspace_has_no_claimable_job(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let paused = workspace(&org, "cust-1");
    let deleted = workspace(&org, "cust-2");
    let (_, _, a) = pipeline(&paused, "p");
    let (_, _, b) = pipeline(&deleted, "p");
    let job = paused.queue_sync(a.id).unwrap();
    deleted.queue_sync(b.id).unwrap();
    let set = |status| WorkspaceUpdate {
        status: Some(status),
        ..WorkspaceUpdate::default()
    };
    org.update_workspace(paused.workspace_id(), &set(WorkspaceStatus::Inactive))
        .unwrap();
    org.delete_workspace(deleted.workspace_id()).unwrap();
    let worker = org.worker("w").unwrap();
    assert!(worker.claim().unwrap().is_none());
    org.update_workspace(paused.workspace_id(), &set(WorkspaceStatus::Active))
        .unwrap();
    let claimed = worker.claim().unwrap().unwrap();
    assert_eq!(claimed.lease.job_id(), job.run.id);
    assert!(worker.claim().unwrap().is_none());
}

/// Caps hold: a workspace at its cap waits while a sibling runs; weights share the claims
/// (a workspace of weight 3 gets three claims for its sibling's one while both have jobs).
pub fn caps_and_weights_shape_the_claims(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let heavy = workspace(&org, "heavy");
    let light = workspace(&org, "light");
    let queue = |ws: &bulkhead_core::WorkspaceScope, n: usize| {
        let (source, destination, first) = pipeline(ws, "p0");
        ws.queue_sync(first.id).unwrap();
        for i in 1..n {
            let c = ws
                .create_connection(new_connection(&format!("p{i}"), source.id, destination.id))
                .unwrap();
            ws.queue_sync(c.id).unwrap();
        }
    };
    org.set_workspace_job_limits(
        heavy.workspace_id(),
        JobLimits {
            weight: 3,
            max_running: Some(1),
        },
    )
    .unwrap();
    queue(&heavy, 8);
    queue(&light, 8);
    let worker = org.worker("w").unwrap();
    // Cap 1: with one of heavy's running, only light's jobs are claimable.
    let held = worker.claim().unwrap().unwrap();
    let next = worker.claim().unwrap().unwrap();
    assert_ne!(held.lease.workspace_id(), next.lease.workspace_id());
    for c in [&held, &next] {
        worker
            .complete(&c.lease, SyncOutcome::Succeeded { rows: 0, bytes: 0 })
            .unwrap();
    }
    let mut heavy_claims = 0;
    for _ in 0..8 {
        let c = worker.claim().unwrap().unwrap();
        if c.lease.workspace_id() == heavy.workspace_id() {
            heavy_claims += 1;
        }
        worker
            .complete(&c.lease, SyncOutcome::Succeeded { rows: 0, bytes: 0 })
            .unwrap();
    }
    assert!(
        (5..=7).contains(&heavy_claims),
        "weight 3 against 1 gave {heavy_claims} of 8 claims"
    );
    assert!(matches!(
        org.set_job_limits(JobLimits {
            weight: 0,
            max_running: None
        }),
        Err(Error::InvalidInput { field, .. }) if field == "weight"
    ));
}

/// Workers on several threads of two engines (two processes on one database) drain a
/// queue: every job is completed exactly once, and every claim is of a job no one else holds.
pub fn concurrent_workers_run_each_job_exactly_once(h: &Harness) {
    const WORKSPACES: usize = 4;
    const JOBS_PER_WORKSPACE: usize = 25;
    let (org, _) = new_org(h, "Acme");
    let mut expected = std::collections::BTreeSet::new();
    for w in 0..WORKSPACES {
        let ws = workspace(&org, &format!("cust-{w}"));
        let (source, destination, first) = pipeline(&ws, "p0");
        expected.insert(ws.queue_sync(first.id).unwrap().run.id);
        for i in 1..JOBS_PER_WORKSPACE {
            let c = ws
                .create_connection(new_connection(&format!("p{i}"), source.id, destination.id))
                .unwrap();
            expected.insert(ws.queue_sync(c.id).unwrap().run.id);
        }
    }
    let engines = [h.engine().clone(), h.another_engine()];
    let done = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let engine = &engines[t % 2];
                s.spawn(move || {
                    let worker = engine.worker(&format!("w{t}")).unwrap();
                    let mut done = Vec::new();
                    while let Some(claimed) = worker.claim().unwrap() {
                        worker
                            .complete(&claimed.lease, SyncOutcome::Succeeded { rows: 1, bytes: 1 })
                            .unwrap();
                        done.push(claimed.lease.job_id());
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let unique: std::collections::BTreeSet<_> = done.iter().copied().collect();
    assert_eq!(unique.len(), done.len(), "a job was completed twice");
    assert_eq!(unique, expected, "every job ran exactly once");
}

/// Expands to one `#[test]` per case of this module, each calling it with a new harness from
/// `$harness` (an expression evaluated once per test, such as `support::plain()`), so that
/// every adapter runs the same list.
#[macro_export]
macro_rules! queue_case_tests {
    ($harness:expr) => {
        $crate::queue_case_tests!(@each $harness;
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
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::queue_cases::$name(&$harness)
            }
        )*
    };
}

#[cfg(test)]
mod run_list {
    /// Every case of this file is on the list of [`queue_case_tests!`], and the list names only cases.
    #[test]
    fn every_case_is_on_the_run_list() {
        crate::run_lists::check(include_str!("queue_cases.rs"), "queue_case_tests");
    }
}
