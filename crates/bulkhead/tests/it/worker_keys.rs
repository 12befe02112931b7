//! Worker keys on the SQLite store, with its job queue: a worker key claims, heartbeats and
//! completes its organization's jobs, audited under its own name; it claims no other
//! organization's job; and the role stored with a key is what decides, whatever the key's
//! text says. (The storage-independent properties are in the testkit's conformance suite.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use bulkhead::{AuditFilter, Error, KeyRole, OrgScope, SyncOutcome, SyncStatus};
use common::{Db, pipeline, raw_connection, workspace};

/// Every audit event of `org`, oldest first.
fn audit(org: &OrgScope) -> Vec<bulkhead::AuditEvent> {
    common::all_pages(100, |p| org.audit_events(&AuditFilter::default(), p))
}

#[test]
fn a_worker_keys_claim_and_completion_are_audited_with_the_worker_key_as_actor() {
    let db = Db::new();
    let org = db.org("Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let job = ws.queue_sync(connection.id).unwrap();
    let (_, key) = org.create_worker_key(None).unwrap();

    let worker = db.engine.authenticate_worker(key.expose(), "w1").unwrap();
    let mut claimed = worker.claim().unwrap().expect("the queued job");
    assert_eq!(claimed.run.id, job.run.id);
    worker.heartbeat(&mut claimed.lease).unwrap();
    let run = worker
        .complete(
            &claimed.lease,
            SyncOutcome::Succeeded { rows: 3, bytes: 30 },
        )
        .unwrap();
    assert_eq!(run.status, SyncStatus::Succeeded);

    let actor = format!("worker-key:{}", key.prefix());
    let events = audit(&org);
    for action in ["job.claim", "sync.finish"] {
        let event = events
            .iter()
            .find(|e| e.draft.action == action)
            .unwrap_or_else(|| panic!("`{action}` is audited"));
        assert_eq!(event.draft.actor, actor, "{action}");
    }
    assert!(org.verify_audit().unwrap().is_intact());
}

#[test]
fn a_worker_key_claims_no_other_organizations_job() {
    let db = Db::new();
    let acme = db.org("Acme");
    let globex = db.org("Globex");
    let ws = workspace(&acme, "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let job = ws.queue_sync(connection.id).unwrap();

    let (_, globex_key) = globex.create_worker_key(None).unwrap();
    let outsider = db
        .engine
        .authenticate_worker(globex_key.expose(), "w")
        .unwrap();
    assert!(outsider.claim().unwrap().is_none(), "not Globex's job");

    let (_, acme_key) = acme.create_worker_key(None).unwrap();
    let own = db
        .engine
        .authenticate_worker(acme_key.expose(), "w")
        .unwrap();
    let claimed = own.claim().unwrap().unwrap();
    // Globex's worker cannot take over Acme's lease by its ids and token.
    assert!(matches!(
        outsider.lease(ws.workspace_id(), job.run.id, claimed.lease.token()),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn a_key_stored_as_a_worker_key_is_refused_organization_access_whatever_its_text() {
    let db = Db::new();
    let org = db.org("Acme");
    db.tick();
    let (_, key) = org.create_key(None).unwrap();
    assert!(db.engine.authenticate_org(key.expose()).is_ok());
    raw_connection(&db.path)
        .execute(
            "UPDATE org_keys SET role = 'worker' WHERE prefix = ?1",
            [key.prefix()],
        )
        .unwrap();
    match db.engine.authenticate_org(key.expose()) {
        Err(Error::PermissionDenied { reason, .. }) => {
            assert!(reason.contains("worker key"), "{reason}");
        }
        other => panic!("expected the stored role to refuse it, got {other:?}"),
    }
    // The refusal is in the organization's chain, under the key's worker name.
    let denied = audit(&org)
        .into_iter()
        .find(|e| e.draft.action == "org_key.use")
        .expect("the refusal is audited");
    assert!(denied.draft.outcome.starts_with("denied"), "{denied:?}");
    assert_eq!(
        denied.draft.actor,
        format!("worker-key:{}", key.prefix()),
        "{denied:?}"
    );
    // As a worker's key it works: the job protocol is all a worker key may do.
    let worker = db.engine.authenticate_worker(key.expose(), "w").unwrap();
    assert_eq!(worker.org_id(), Some(org.org_id()));
    let roles: Vec<KeyRole> = org.list_keys().unwrap().iter().map(|k| k.role).collect();
    assert_eq!(roles, [KeyRole::Organization, KeyRole::Worker]);
}
