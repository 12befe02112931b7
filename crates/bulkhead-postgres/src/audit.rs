//! The audit log on PostgreSQL: appending an event to an organization's chain inside the
//! caller's transaction, and listing events.
//!
//! Appends of one organization are serialized by a transaction-level advisory lock on the
//! organization, taken before the chain's last event is read. The restricted role may insert
//! and select events of the organization in scope, and has no policy to update or delete any.

use bulkhead_core::audit::{self, AuditDraft, AuditEvent, AuditFilter};
use bulkhead_core::{Error, OrgId, Result, StorageError, Timestamp, WorkspaceId};
use postgres::Row;

use crate::pool::Tx;

fn corrupt(column: &str) -> Error {
    Error::Storage(StorageError::new(format!(
        "stored audit column `{column}` is invalid"
    )))
}

fn read<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, index: usize, name: &str) -> Result<T> {
    row.try_get(index)
        .map_err(|e| crate::storage_error(format_args!("could not read `{name}`"), e))
}

fn hash(row: &Row, index: usize, name: &str) -> Result<[u8; 32]> {
    let bytes: Vec<u8> = read(row, index, name)?;
    bytes.try_into().map_err(|_| corrupt(name))
}

fn event(row: &Row) -> Result<AuditEvent> {
    let seq: i64 = read(row, 1, "seq")?;
    let workspace: Option<uuid::Uuid> = read(row, 5, "workspace_id")?;
    Ok(AuditEvent {
        org_id: OrgId::from_uuid(read(row, 0, "org_id")?).map_err(|_| corrupt("org_id"))?,
        seq: u64::try_from(seq).map_err(|_| corrupt("seq"))?,
        draft: AuditDraft {
            at: Timestamp::from_unix_millis(read(row, 2, "at")?),
            actor: read(row, 3, "actor")?,
            action: read(row, 4, "action")?,
            workspace_id: workspace
                .map(WorkspaceId::from_uuid)
                .transpose()
                .map_err(|_| corrupt("workspace_id"))?,
            target: read(row, 6, "target")?,
            outcome: read(row, 7, "outcome")?,
        },
        prev_hash: hash(row, 8, "prev_hash")?,
        hash: hash(row, 9, "hash")?,
    })
}

/// Appends `draft` to the chain of `org_id` inside the caller's transaction, whose scope must
/// include the organization.
pub(crate) fn append(tx: &mut Tx<'_>, org_id: OrgId, draft: &AuditDraft) -> Result<AuditEvent> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('bulkhead audit ' || $1::uuid::text, 0))",
        &[org_id.as_uuid()],
    )?;
    let last = tx.query_first(
        "SELECT seq, hash FROM audit_log WHERE org_id = $1 ORDER BY seq DESC LIMIT 1",
        &[org_id.as_uuid()],
        |r| {
            let seq: i64 = read(r, 0, "seq")?;
            Ok((
                u64::try_from(seq).map_err(|_| corrupt("seq"))?,
                hash(r, 1, "hash")?,
            ))
        },
    )?;
    let event = audit::next_event(org_id, last, draft);
    tx.execute(
        "INSERT INTO audit_log (org_id, seq, at, actor, action, workspace_id, target, outcome,
         prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            org_id.as_uuid(),
            &i64::try_from(event.seq).unwrap_or(i64::MAX),
            &draft.at.unix_millis(),
            &draft.actor,
            &draft.action,
            &draft.workspace_id.map(|w| *w.as_uuid()),
            &draft.target,
            &draft.outcome,
            &&event.prev_hash[..],
            &&event.hash[..],
        ],
    )?;
    Ok(event)
}

/// Appends the draft a call's context carries, if any.
pub(crate) fn append_if(tx: &mut Tx<'_>, org_id: OrgId, draft: Option<&AuditDraft>) -> Result<()> {
    if let Some(draft) = draft {
        append(tx, org_id, draft)?;
    }
    Ok(())
}

/// Up to `limit` events of `org_id` matching `filter`, after `after`, in chain order.
pub(crate) fn list(
    tx: &mut Tx<'_>,
    org_id: OrgId,
    filter: &AuditFilter,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    tx.query_all(
        concat!(
            "SELECT org_id, seq, at, actor, action, workspace_id, target, outcome, prev_hash, hash",
            " FROM audit_log WHERE org_id = $1 AND seq > $2",
            " AND ($3::uuid IS NULL OR workspace_id = $3::uuid)",
            " AND ($4::text IS NULL OR action = $4::text)",
            " AND ($5::bigint IS NULL OR at >= $5::bigint)",
            " AND ($6::bigint IS NULL OR at < $6::bigint)",
            " ORDER BY seq LIMIT $7"
        ),
        &[
            org_id.as_uuid(),
            &after.map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX)),
            &filter.workspace_id.map(|w| *w.as_uuid()),
            &filter.action,
            &filter.from.map(Timestamp::unix_millis),
            &filter.until.map(Timestamp::unix_millis),
            &i64::try_from(limit).unwrap_or(i64::MAX),
        ],
        event,
    )
}

/// Up to `limit` events of `org_id` matching `filter`, before `before`, newest first.
pub(crate) fn list_newest(
    tx: &mut Tx<'_>,
    org_id: OrgId,
    filter: &AuditFilter,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    tx.query_all(
        concat!(
            "SELECT org_id, seq, at, actor, action, workspace_id, target, outcome, prev_hash, hash",
            " FROM audit_log WHERE org_id = $1 AND seq < $2",
            " AND ($3::uuid IS NULL OR workspace_id = $3::uuid)",
            " AND ($4::text IS NULL OR action = $4::text)",
            " AND ($5::bigint IS NULL OR at >= $5::bigint)",
            " AND ($6::bigint IS NULL OR at < $6::bigint)",
            " ORDER BY seq DESC LIMIT $7"
        ),
        &[
            org_id.as_uuid(),
            &before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX)),
            &filter.workspace_id.map(|w| *w.as_uuid()),
            &filter.action,
            &filter.from.map(Timestamp::unix_millis),
            &filter.until.map(Timestamp::unix_millis),
            &i64::try_from(limit).unwrap_or(i64::MAX),
        ],
        event,
    )
}
