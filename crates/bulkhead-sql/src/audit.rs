//! The audit chain on both SQL adapters: appending an event to an organization's chain inside
//! the caller's write transaction, listing events, and the port's
//! [`AuditStore`](bulkhead_core::store::AuditStore) ([`audit_store!`](crate::audit_store)).
//!
//! Appends of one organization are serialized before the chain's last event is read:
//! SQLite's one writer does it by itself; PostgreSQL takes a transaction-level advisory lock
//! on the organization ([`SqlConn::lock_audit_chain`]). Neither adapter's connections may
//! change or delete an event (SQLite's triggers, PostgreSQL's policies).

use bulkhead_core::audit::{self, AuditDraft, AuditEvent, AuditFilter};
use bulkhead_core::{Error, OrgCtx, OrgId, Result, StorageError, Timestamp, WorkspaceId};

use crate::columns::Columns;
use crate::statements as st;
use crate::{Access, Mode, SqlConn, SqlPool};

/// Implements `AuditStore` for the adapter store `$store` by the functions of this module on
/// its pool, the field `$pool` (a [`SqlPool`]).
#[macro_export]
macro_rules! audit_store {
    ($store:ty, $pool:ident) => {
        const _: () = {
            use $crate::__core::store::AuditStore;
            use $crate::__core::{AuditDraft, AuditEvent, AuditFilter, OrgCtx, Result};
            use $crate::audit as body;

            impl AuditStore for $store {
                fn append_audit(&self, org: &OrgCtx, draft: &AuditDraft) -> Result<AuditEvent> {
                    body::append_audit(&self.$pool, org, draft)
                }
                fn list_audit(
                    &self,
                    org: &OrgCtx,
                    filter: &AuditFilter,
                    after: Option<u64>,
                    limit: usize,
                ) -> Result<Vec<AuditEvent>> {
                    body::list_audit(&self.$pool, org, filter, body::From::After(after), limit)
                }
                fn list_audit_newest(
                    &self,
                    org: &OrgCtx,
                    filter: &AuditFilter,
                    before: Option<u64>,
                    limit: usize,
                ) -> Result<Vec<AuditEvent>> {
                    body::list_audit(&self.$pool, org, filter, body::From::Before(before), limit)
                }
            }
        };
    };
}

fn corrupt(column: &str) -> Error {
    Error::Storage(StorageError::new(format!(
        "stored audit column `{column}` is invalid"
    )))
}

fn hash(row: &impl Columns, index: usize, name: &str) -> Result<[u8; 32]> {
    row.bytes(index, name)?
        .try_into()
        .map_err(|_| corrupt(name))
}

fn seq(row: &impl Columns, index: usize) -> Result<u64> {
    u64::try_from(row.int(index, "seq")?).map_err(|_| corrupt("seq"))
}

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A row of `org_id, seq, at, actor, action, workspace_id, target, outcome, prev_hash, hash`.
fn event(row: &impl Columns) -> Result<AuditEvent> {
    Ok(AuditEvent {
        org_id: OrgId::from_uuid(row.uuid(0, "org_id")?).map_err(|_| corrupt("org_id"))?,
        seq: seq(row, 1)?,
        draft: AuditDraft {
            at: Timestamp::from_unix_millis(row.int(2, "at")?),
            actor: row.text(3, "actor")?,
            action: row.text(4, "action")?,
            workspace_id: row
                .opt_uuid(5, "workspace_id")?
                .map(WorkspaceId::from_uuid)
                .transpose()
                .map_err(|_| corrupt("workspace_id"))?,
            target: row.text(6, "target")?,
            outcome: row.text(7, "outcome")?,
        },
        prev_hash: hash(row, 8, "prev_hash")?,
        hash: hash(row, 9, "hash")?,
    })
}

/// Appends `draft` to the chain of `org_id` inside the caller's write transaction, whose
/// access must include the organization.
pub fn append<C: SqlConn>(conn: &mut C, org_id: OrgId, draft: &AuditDraft) -> Result<AuditEvent> {
    conn.lock_audit_chain(org_id)?;
    let last = conn.query_first(&st::LAST_AUDIT_EVENT, &[org_id.as_uuid().into()], |r| {
        Ok((seq(r, 0)?, hash(r, 1, "hash")?))
    })?;
    let event = audit::next_event(org_id, last, draft);
    conn.execute(
        &st::APPEND_AUDIT_EVENT,
        &[
            org_id.as_uuid().into(),
            big(event.seq).into(),
            draft.at.unix_millis().into(),
            draft.actor.as_str().into(),
            draft.action.as_str().into(),
            draft.workspace_id.as_ref().map(WorkspaceId::as_uuid).into(),
            draft.target.as_str().into(),
            draft.outcome.as_str().into(),
            event.prev_hash.as_slice().into(),
            event.hash.as_slice().into(),
        ],
    )?;
    Ok(event)
}

/// Appends the draft a call's context carries, if any.
pub fn append_if<C: SqlConn>(
    conn: &mut C,
    org_id: OrgId,
    draft: Option<&AuditDraft>,
) -> Result<()> {
    if let Some(draft) = draft {
        append(conn, org_id, draft)?;
    }
    Ok(())
}

/// Where a page of events starts.
#[derive(Clone, Copy, Debug)]
pub enum From {
    /// After this sequence number (from the start if `None`), in chain order.
    After(Option<u64>),
    /// Before this sequence number (from the newest if `None`), newest first.
    Before(Option<u64>),
}

/// See `AuditStore::append_audit`.
pub fn append_audit<P: SqlPool>(pool: &P, org: &OrgCtx, draft: &AuditDraft) -> Result<AuditEvent> {
    pool.run(Access::Org(org.org_id()), Mode::Write, |conn| {
        append(conn, org.org_id(), draft)
    })
}

/// See `AuditStore::list_audit` and `AuditStore::list_audit_newest`: up to `limit` events of
/// the organization matching `filter`, from `from`.
pub fn list_audit<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    filter: &AuditFilter,
    from: From,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    pool.run(Access::Org(org.org_id()), Mode::Read, |conn| {
        list_in(conn, org.org_id(), filter, from, limit)
    })
}

/// Up to `limit` events of `org_id` matching `filter`, from `from`, in the caller's
/// transaction.
pub fn list_in<C: SqlConn>(
    conn: &mut C,
    org_id: OrgId,
    filter: &AuditFilter,
    from: From,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    let (sql, cursor) = match from {
        From::After(after) => (&st::LIST_AUDIT, after.map_or(0, big)),
        From::Before(before) => (&st::LIST_AUDIT_NEWEST, before.map_or(i64::MAX, big)),
    };
    conn.query_all(
        sql,
        &[
            org_id.as_uuid().into(),
            cursor.into(),
            filter
                .workspace_id
                .as_ref()
                .map(WorkspaceId::as_uuid)
                .into(),
            filter.action.as_deref().into(),
            filter.from.map(Timestamp::unix_millis).into(),
            filter.until.map(Timestamp::unix_millis).into(),
            big(u64::try_from(limit).unwrap_or(u64::MAX)).into(),
        ],
        |r| event(r),
    )
}
