//! The audit log on PostgreSQL: the chain is written and read by `bulkhead_sql::audit`; these
//! are its entry points for this adapter's own code, and the lock that serializes appends.
//!
//! Appends of one organization are serialized by a transaction-level advisory lock on the
//! organization, taken before the chain's last event is read. The restricted role may insert
//! and select events of the organization in scope, and has no policy to update or delete any.

use bulkhead_core::audit::{AuditDraft, AuditEvent};
use bulkhead_core::{OrgId, Result};

use crate::pool::Tx;

/// Serializes the appends of `org_id`: a transaction-level advisory lock on the organization,
/// taken before the chain's last event is read.
pub(crate) fn lock_chain(tx: &mut Tx<'_>, org_id: OrgId) -> Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('bulkhead audit ' || $1::uuid::text, 0))",
        &[org_id.as_uuid()],
    )?;
    Ok(())
}

/// Appends `draft` to the chain of `org_id` inside the caller's transaction, whose scope must
/// include the organization (see [`bulkhead_sql::audit::append`]).
pub(crate) fn append(tx: &mut Tx<'_>, org_id: OrgId, draft: &AuditDraft) -> Result<AuditEvent> {
    bulkhead_sql::audit::append(tx, org_id, draft)
}

/// Appends the draft a call's context carries, if any.
pub(crate) fn append_if(tx: &mut Tx<'_>, org_id: OrgId, draft: Option<&AuditDraft>) -> Result<()> {
    bulkhead_sql::audit::append_if(tx, org_id, draft)
}
