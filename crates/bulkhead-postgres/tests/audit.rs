//! The audit chain on PostgreSQL: the restricted role can neither change nor delete an
//! event, and tampering by a role that can (the superuser, editing the tables directly) is
//! reported at the first broken link.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use bulkhead::{Config, Engine, MasterKey, OrgScope};
use bulkhead_testkit::conformance::{all_audit, busy_audit_log};
use support::{APP, Schema, admin, connect_as, server};

fn engine(schema: &Schema) -> Engine {
    let mut config = Config::default().with_master_key(MasterKey::generate().unwrap());
    config.postgres = schema.options();
    Engine::connect_postgres(&server().url_for(APP), config).unwrap()
}

fn busy(engine: &Engine, name: &str) -> OrgScope {
    let (_, key) = engine.create_organization(name).unwrap();
    let org = engine.authenticate_org(key.expose()).unwrap();
    busy_audit_log(&org, 4, &|token| engine.authenticate(token));
    assert!(org.verify_audit().unwrap().is_intact());
    org
}

fn broken_at(org: &OrgScope) -> u64 {
    let verified = org.verify_audit().unwrap();
    let broken = verified.broken.expect("the chain should be broken");
    assert_eq!(verified.verified, broken.seq - 1);
    broken.seq
}

#[test]
fn the_restricted_role_cannot_change_or_delete_an_event() {
    let schema = Schema::new();
    let engine = engine(&schema);
    let org = busy(&engine, "Acme");
    let mut app = connect_as(APP, &schema.name);
    let mut tx = app.transaction().unwrap();
    tx.execute(
        "SELECT set_config('bulkhead.org_id', $1, true)",
        &[&org.org_id().to_string()],
    )
    .unwrap();
    let seen: i64 = tx
        .query_one("SELECT count(*) FROM audit_log", &[])
        .unwrap()
        .get(0);
    assert!(seen > 20);
    let err = tx
        .batch_execute("UPDATE audit_log SET outcome = 'ok'")
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err:?}");
    drop(tx);
    let mut tx = app.transaction().unwrap();
    let err = tx.batch_execute("DELETE FROM audit_log").unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err:?}");
    drop(tx);
    assert!(org.verify_audit().unwrap().is_intact());
}

#[test]
fn a_changed_deleted_or_reordered_event_is_reported_at_the_first_broken_link() {
    let schema = Schema::new();
    let engine = engine(&schema);
    let changed = busy(&engine, "Changed");
    let deleted = busy(&engine, "Deleted");
    let reordered = busy(&engine, "Reordered");
    let untouched = busy(&engine, "Untouched");
    // The first denial of the chain, made to look like a success.
    let denial = all_audit(&changed)
        .into_iter()
        .find(|e| e.draft.outcome.starts_with("denied"))
        .unwrap()
        .seq;
    let mut admin = admin(&schema.name);
    admin
        .execute(
            "UPDATE audit_log SET outcome = 'ok' WHERE org_id = $1 AND seq = $2",
            &[changed.org_id().as_uuid(), &i64::try_from(denial).unwrap()],
        )
        .unwrap();
    admin
        .execute(
            "DELETE FROM audit_log WHERE org_id = $1 AND seq = 6",
            &[deleted.org_id().as_uuid()],
        )
        .unwrap();
    let mut tx = admin.transaction().unwrap();
    for (from, to) in [(11_i64, 1_000_000_i64), (12, 11), (1_000_000, 12)] {
        tx.execute(
            "UPDATE audit_log SET seq = $3 WHERE org_id = $1 AND seq = $2",
            &[reordered.org_id().as_uuid(), &from, &to],
        )
        .unwrap();
    }
    tx.commit().unwrap();

    assert_eq!(broken_at(&changed), denial);
    assert_eq!(broken_at(&deleted), 6);
    assert_eq!(broken_at(&reordered), 11);
    assert!(untouched.verify_audit().unwrap().is_intact());
}
