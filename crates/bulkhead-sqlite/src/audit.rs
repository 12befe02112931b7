//! The audit log on SQLite: the chain is written and read by `bulkhead_sql::audit` (the single
//! writer serializes appends); these are its entry points for this adapter's own code, and the
//! test that the log is append-only for every statement the adapter can run.

use bulkhead_core::audit::{AuditDraft, AuditEvent};
use bulkhead_core::{OrgId, Result};

use crate::guard::Db;
use crate::sql::Conn;

/// Appends `draft` to the chain of `org_id` inside the caller's write transaction (see
/// [`bulkhead_sql::audit::append`]).
pub(crate) fn append(tx: &Db<'_>, org_id: OrgId, draft: &AuditDraft) -> Result<AuditEvent> {
    bulkhead_sql::audit::append(&mut Conn(tx), org_id, draft)
}

/// Appends the draft a call's context carries, if any.
pub(crate) fn append_if(tx: &Db<'_>, org_id: OrgId, draft: Option<&AuditDraft>) -> Result<()> {
    bulkhead_sql::audit::append_if(&mut Conn(tx), org_id, draft)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use bulkhead_core::audit::Actor;
    use bulkhead_core::{AuditFilter, Timestamp};
    use bulkhead_sql::audit::{From, list_in};
    use rusqlite::params;

    use super::*;
    use crate::{SqliteOptions, SqliteStore};

    /// The store's own connections refuse to change or delete an audit event: the log is
    /// append-only for every statement the adapter can run.
    #[test]
    fn the_stores_connections_cannot_change_or_delete_an_event() {
        let store = SqliteStore::open_in_memory(&SqliteOptions::default()).unwrap();
        let org = OrgId::random();
        store.pool.with_writer(|slot| {
            let (db, _) = slot.guarded();
            // The chain is read through the organization's view, as the store reads it.
            let _org = db.org(org);
            db.prepare_cached(
                "INSERT INTO organizations (id, name, created_at) VALUES (?1, 'Acme', 0)",
            )
            .unwrap()
            .execute(params![org.as_uuid()])
            .unwrap();
            let draft = AuditDraft {
                at: Timestamp::from_unix_millis(1),
                actor: Actor::Operator.to_string(),
                action: "organization.create".to_owned(),
                workspace_id: None,
                target: "organization".to_owned(),
                outcome: "ok".to_owned(),
            };
            append(&db, org, &draft).unwrap();
            append(&db, org, &draft).unwrap();
            for sql in [
                "UPDATE audit_log SET outcome = 'denied'",
                "DELETE FROM audit_log WHERE seq = 2",
            ] {
                let err = db.prepare_cached(sql).unwrap().execute([]).unwrap_err();
                assert!(err.to_string().contains("append-only"), "{sql}: {err}");
            }
            let events = list_in(
                &mut Conn(&db),
                org,
                &AuditFilter::default(),
                From::After(None),
                10,
            )
            .unwrap();
            assert_eq!(events.len(), 2);
            assert_eq!(events[1].prev_hash, events[0].hash);
        });
    }
}
