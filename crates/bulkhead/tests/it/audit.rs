//! The audit chain on SQLite finds tampering: events are edited in the database file
//! directly (a plain connection, outside the store, whose own connections refuse to change
//! the log), and verification reports the first broken link.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use bulkhead::OrgScope;
use bulkhead_testkit::conformance::{all_audit, busy_audit_log};
use common::{Db, raw_connection};
use rusqlite::params;

fn busy(db: &Db, name: &str) -> OrgScope {
    let org = db.org(name);
    busy_audit_log(&org, 4, &|token| db.engine.authenticate(token));
    let verified = org.verify_audit().unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    assert!(verified.verified > 20, "{verified:?}");
    org
}

fn broken_at(org: &OrgScope) -> (u64, String) {
    let verified = org.verify_audit().unwrap();
    let broken = verified.broken.expect("the chain should be broken");
    assert_eq!(verified.verified, broken.seq - 1);
    (broken.seq, broken.reason)
}

#[test]
fn a_changed_deleted_or_reordered_event_is_reported_at_the_first_broken_link() {
    let db = Db::new();
    let changed = busy(&db, "Changed");
    let deleted = busy(&db, "Deleted");
    let reordered = busy(&db, "Reordered");
    let untouched = busy(&db, "Untouched");
    let raw = raw_connection(&db.path);
    // The first denial of the chain, made to look like a success.
    let denial = all_audit(&changed)
        .into_iter()
        .find(|e| e.draft.outcome.starts_with("denied"))
        .unwrap()
        .seq;
    raw.execute(
        "UPDATE audit_log SET outcome = 'ok' WHERE org_id = ?1 AND seq = ?2",
        params![changed.org_id().as_uuid(), i64::try_from(denial).unwrap()],
    )
    .unwrap();
    raw.execute(
        "DELETE FROM audit_log WHERE org_id = ?1 AND seq = 6",
        params![deleted.org_id().as_uuid()],
    )
    .unwrap();
    // Swap events 11 and 12, keeping each one's own hash.
    raw.execute_batch("BEGIN").unwrap();
    for (from, to) in [(11, 1_000_000), (12, 11), (1_000_000, 12)] {
        raw.execute(
            "UPDATE audit_log SET seq = ?3 WHERE org_id = ?1 AND seq = ?2",
            params![reordered.org_id().as_uuid(), from, to],
        )
        .unwrap();
    }
    raw.execute_batch("COMMIT").unwrap();

    // Calling a denial `ok` breaks its own hash.
    let (seq, reason) = broken_at(&changed);
    assert_eq!(seq, denial, "{reason}");
    assert!(reason.contains("changed"), "{reason}");
    let (seq, reason) = broken_at(&deleted);
    assert_eq!(seq, 6, "{reason}");
    assert!(reason.contains("deleted"), "{reason}");
    let (seq, reason) = broken_at(&reordered);
    assert_eq!(seq, 11, "{reason}");
    assert!(untouched.verify_audit().unwrap().is_intact());
}
