//! The audit log on SQLite: appending an event to an organization's chain inside the
//! caller's write transaction (the single writer serializes appends), and listing events.

use bulkhead_core::audit::{self, AuditDraft, AuditEvent, AuditFilter};
use bulkhead_core::{Error, OrgId, Result, StorageError, Timestamp, WorkspaceId};
use rusqlite::{Row, params};

use crate::Ctx;
use crate::guard::Db;

fn corrupt(column: &str) -> Error {
    Error::Storage(StorageError::new(format!(
        "stored audit column `{column}` is invalid"
    )))
}

fn hash(row: &Row<'_>, index: usize, name: &str) -> Result<[u8; 32]> {
    let bytes: Vec<u8> = row
        .get(index)
        .ctx(format_args!("could not read `{name}`"))?;
    bytes.try_into().map_err(|_| corrupt(name))
}

fn event(row: &Row<'_>) -> Result<AuditEvent> {
    let get_err = |name: &'static str| move |e| StorageError::with_source(name, e);
    let seq: i64 = row.get(1).map_err(get_err("could not read `seq`"))?;
    let workspace: Option<uuid::Uuid> = row
        .get(5)
        .map_err(get_err("could not read `workspace_id`"))?;
    Ok(AuditEvent {
        org_id: OrgId::from_uuid(row.get(0).map_err(get_err("could not read `org_id`"))?)
            .map_err(|_| corrupt("org_id"))?,
        seq: u64::try_from(seq).map_err(|_| corrupt("seq"))?,
        draft: AuditDraft {
            at: Timestamp::from_unix_millis(row.get(2).map_err(get_err("could not read `at`"))?),
            actor: row.get(3).map_err(get_err("could not read `actor`"))?,
            action: row.get(4).map_err(get_err("could not read `action`"))?,
            workspace_id: workspace
                .map(WorkspaceId::from_uuid)
                .transpose()
                .map_err(|_| corrupt("workspace_id"))?,
            target: row.get(6).map_err(get_err("could not read `target`"))?,
            outcome: row.get(7).map_err(get_err("could not read `outcome`"))?,
        },
        prev_hash: hash(row, 8, "prev_hash")?,
        hash: hash(row, 9, "hash")?,
    })
}

/// Appends `draft` to the chain of `org_id` inside the caller's write transaction.
pub(crate) fn append(tx: &Db<'_>, org_id: OrgId, draft: &AuditDraft) -> Result<AuditEvent> {
    let last = tx.query_first(
        "SELECT seq, hash FROM o_audit_log WHERE org_id = ?1 ORDER BY seq DESC LIMIT 1",
        params![org_id.as_uuid()],
        |r| {
            let seq: i64 = r.get(0).ctx("could not read the last audit event")?;
            Ok((
                u64::try_from(seq).map_err(|_| corrupt("seq"))?,
                hash(r, 1, "hash")?,
            ))
        },
    )?;
    let event = audit::next_event(org_id, last, draft);
    tx.prepare_cached(
        "INSERT INTO audit_log (org_id, seq, at, actor, action, workspace_id, target, outcome,
         prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .ctx("could not prepare an insert")?
    .execute(params![
        org_id.as_uuid(),
        i64::try_from(event.seq).unwrap_or(i64::MAX),
        draft.at.unix_millis(),
        draft.actor,
        draft.action,
        draft.workspace_id.map(|w| *w.as_uuid()),
        draft.target,
        draft.outcome,
        &event.prev_hash[..],
        &event.hash[..],
    ])
    .ctx("could not append to the audit log")?;
    Ok(event)
}

/// Appends the draft `ctx_audit` (the one a call's context carries), if any.
pub(crate) fn append_if(tx: &Db<'_>, org_id: OrgId, draft: Option<&AuditDraft>) -> Result<()> {
    if let Some(draft) = draft {
        append(tx, org_id, draft)?;
    }
    Ok(())
}

/// Up to `limit` events of `org_id` matching `filter`, after `after`, in chain order.
pub(crate) fn list(
    conn: &Db<'_>,
    org_id: OrgId,
    filter: &AuditFilter,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    let sql = concat!(
        "SELECT org_id, seq, at, actor, action, workspace_id, target, outcome, prev_hash, hash",
        " FROM o_audit_log WHERE org_id = ?1 AND seq > ?2",
        " AND (?3 IS NULL OR workspace_id = ?3) AND (?4 IS NULL OR action = ?4)",
        " AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at < ?6)",
        " ORDER BY seq LIMIT ?7"
    );
    conn.query_all(
        sql,
        params![
            org_id.as_uuid(),
            after.map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX)),
            filter.workspace_id.map(|w| *w.as_uuid()),
            filter.action,
            filter.from.map(Timestamp::unix_millis),
            filter.until.map(Timestamp::unix_millis),
            i64::try_from(limit).unwrap_or(i64::MAX),
        ],
        event,
    )
}

/// Up to `limit` events of `org_id` matching `filter`, before `before`, newest first.
pub(crate) fn list_newest(
    conn: &Db<'_>,
    org_id: OrgId,
    filter: &AuditFilter,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    let sql = concat!(
        "SELECT org_id, seq, at, actor, action, workspace_id, target, outcome, prev_hash, hash",
        " FROM o_audit_log WHERE org_id = ?1 AND seq < ?2",
        " AND (?3 IS NULL OR workspace_id = ?3) AND (?4 IS NULL OR action = ?4)",
        " AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at < ?6)",
        " ORDER BY seq DESC LIMIT ?7"
    );
    conn.query_all(
        sql,
        params![
            org_id.as_uuid(),
            before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX)),
            filter.workspace_id.map(|w| *w.as_uuid()),
            filter.action,
            filter.from.map(Timestamp::unix_millis),
            filter.until.map(Timestamp::unix_millis),
            i64::try_from(limit).unwrap_or(i64::MAX),
        ],
        event,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use bulkhead_core::audit::Actor;

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
            let events = list(&db, org, &AuditFilter::default(), None, 10).unwrap();
            assert_eq!(events.len(), 2);
            assert_eq!(events[1].prev_hash, events[0].hash);
        });
    }
}
