//! The tamper-evident audit log: one hash chain of events per organization.
//!
//! Every mutating call writes an event in the same transaction as its change: the engine
//! hands storage an [`AuditDraft`] on the call's [`OrgCtx`] or [`Tenant`], and the adapter
//! appends it with [`next_event`] before it commits, only when the call changed something.
//! Denials (a missing operation, a refused token, the creation rate limit, an isolation
//! breach) have no transaction of their own: they are appended alone
//! ([`crate::port::store::AuditStore::append_audit`]).
//!
//! Event `n` of an organization stores `hash = SHA-256(prev_hash || canonical bytes)`, where
//! `prev_hash` is the hash of event `n - 1` (32 zero bytes for the first) and the canonical
//! bytes cover every field, its sequence number included. So changing an event breaks its own
//! hash, deleting one breaks the next event's link (and leaves a gap in the sequence), and
//! reordering breaks both; [`crate::OrgScope::verify_audit`] reports the first broken link.
//!
//! An event names who (an org key's public prefix, a token's `jti`, the operator, or `system`
//! for the scheduler's tick), what (an action such as `source.create`), the target (an
//! object's kind and id, or a name), the outcome (`ok`, or `denied: <reason>`) and when. No secret, key or token ever enters an event:
//! targets are ids and names, and denial reasons are the engine's own fixed words.
//!
//! [`OrgCtx`]: crate::port::tenant::OrgCtx
//! [`Tenant`]: crate::port::tenant::Tenant

use std::fmt;

use ring::digest;

use crate::error::{Error, Result};
use crate::model::ids::{OrgId, WorkspaceId};
use crate::model::time::Timestamp;

/// Who made a call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The holder of the org access key with this public prefix.
    OrgKey(String),
    /// A worker holding the worker key with this public prefix (the job protocol only).
    WorkerKey(String),
    /// The holder of the scoped token with this `jti`.
    Token(String),
    /// The operator: the process that owns the database (command line, engine set-up).
    Operator,
    /// The engine itself: the scheduler's tick queuing a connection's due sync.
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OrgKey(prefix) => write!(f, "org-key:{prefix}"),
            Self::WorkerKey(prefix) => write!(f, "worker-key:{prefix}"),
            Self::Token(jti) => write!(f, "token:{jti}"),
            Self::Operator => f.write_str("operator"),
            Self::System => f.write_str("system"),
        }
    }
}

/// An event before storage gives it its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuditDraft {
    /// When it happened.
    pub at: Timestamp,
    /// Who: `org-key:<prefix>`, `worker-key:<prefix>`, `token:<jti>`, `operator` or `system`.
    pub actor: String,
    /// What, such as `source.create` or `workspace.delete`.
    pub action: String,
    /// The workspace it concerns, if any.
    pub workspace_id: Option<WorkspaceId>,
    /// What it was done to: `<kind>:<id>` or a name.
    pub target: String,
    /// `ok`, or `denied: <reason>`.
    pub outcome: String,
}

impl AuditDraft {
    /// A successful `action` on `target` by `actor` at `at`.
    pub(crate) fn ok(
        at: Timestamp,
        actor: &Actor,
        action: &str,
        workspace_id: Option<WorkspaceId>,
        target: impl Into<String>,
    ) -> Self {
        Self {
            at,
            actor: actor.to_string(),
            action: action.to_owned(),
            workspace_id,
            target: target.into(),
            outcome: "ok".to_owned(),
        }
    }

    /// The same event, refused for `reason`.
    pub(crate) fn denied(mut self, reason: &str) -> Self {
        self.outcome = format!("denied: {reason}");
        self
    }
}

/// One stored event of an organization's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// The organization whose chain it is in.
    pub org_id: OrgId,
    /// Its place in the chain: 1, 2, 3, …
    pub seq: u64,
    /// The event.
    pub draft: AuditDraft,
    /// The hash of the event before it (zeros for the first).
    pub prev_hash: [u8; 32],
    /// `SHA-256(prev_hash || canonical bytes)`.
    pub hash: [u8; 32],
}

/// The bytes an event's hash covers, every field length-prefixed so no two events share them.
pub fn canonical_bytes(org_id: OrgId, seq: u64, draft: &AuditDraft) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"bulkhead-audit-v1\0");
    out.extend_from_slice(org_id.as_uuid().as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&draft.at.unix_millis().to_be_bytes());
    let workspace = draft
        .workspace_id
        .map(|w| w.as_uuid().as_bytes().to_vec())
        .unwrap_or_default();
    for field in [
        draft.actor.as_bytes(),
        draft.action.as_bytes(),
        &workspace,
        draft.target.as_bytes(),
        draft.outcome.as_bytes(),
    ] {
        out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

fn link(prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev);
    ctx.update(canonical);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The event that follows `last` (the organization's latest event, `None` for an empty chain)
/// in the chain of `org_id`. Adapters call this inside the transaction that writes it, after
/// reading `last` under that transaction's lock.
pub fn next_event(org_id: OrgId, last: Option<(u64, [u8; 32])>, draft: &AuditDraft) -> AuditEvent {
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq.saturating_add(1), hash),
        None => (1, [0u8; 32]),
    };
    let hash = link(&prev_hash, &canonical_bytes(org_id, seq, draft));
    AuditEvent {
        org_id,
        seq,
        draft: draft.clone(),
        prev_hash,
        hash,
    }
}

/// The first event that does not follow from the one before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    /// The sequence number where the chain breaks (as expected at that position).
    pub seq: u64,
    /// Why: a changed event, a missing or reordered one.
    pub reason: String,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the audit chain breaks at event {}: {}",
            self.seq, self.reason
        )
    }
}

/// The result of [`crate::OrgScope::verify_audit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditVerification {
    /// Events checked before the first broken link (all of them when the chain is whole).
    pub verified: u64,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

impl AuditVerification {
    /// Whether the whole chain verified.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Checks events, in stored order, continuing a chain whose previous event was `last`
/// (`None` at the start). Returns the new `last` or the first broken link.
pub(crate) fn verify_chain(
    org_id: OrgId,
    last: Option<(u64, [u8; 32])>,
    events: &[AuditEvent],
) -> std::result::Result<Option<(u64, [u8; 32])>, BrokenLink> {
    let mut last = last;
    for event in events {
        let (expected_seq, expected_prev) = match last {
            Some((seq, hash)) => (seq.saturating_add(1), hash),
            None => (1, [0u8; 32]),
        };
        let broken = |reason: String| BrokenLink {
            seq: expected_seq,
            reason,
        };
        if event.org_id != org_id {
            return Err(broken("an event of another organization".to_owned()));
        }
        if event.seq != expected_seq {
            return Err(broken(format!(
                "found event {} where event {expected_seq} belongs (an event was deleted or moved)",
                event.seq
            )));
        }
        if event.prev_hash != expected_prev {
            return Err(broken(
                "its link to the previous event does not match (an event before it was changed, deleted or moved)"
                    .to_owned(),
            ));
        }
        let hash = link(
            &event.prev_hash,
            &canonical_bytes(org_id, event.seq, &event.draft),
        );
        if hash != event.hash {
            return Err(broken(
                "its content does not match its hash (the event was changed)".to_owned(),
            ));
        }
        last = Some((event.seq, event.hash));
    }
    Ok(last)
}

/// Which events [`crate::OrgScope::audit_events`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events about this workspace.
    pub workspace_id: Option<WorkspaceId>,
    /// Only this action (exact, such as `source.create`).
    pub action: Option<String>,
    /// Only events at or after this time.
    pub from: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
}

impl AuditFilter {
    /// Refuses a time range that ends before it starts.
    pub(crate) fn validate(&self) -> Result<()> {
        if let (Some(from), Some(until)) = (self.from, self.until)
            && until < from
        {
            return Err(Error::invalid_input("until", "is before `from`"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(n: i64) -> AuditDraft {
        AuditDraft::ok(
            Timestamp::from_unix_millis(n),
            &Actor::OrgKey("bhk_abc".to_owned()),
            "source.create",
            Some(WorkspaceId::random()),
            format!("source:{n}"),
        )
    }

    fn chain(org: OrgId, n: i64) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let last = events.last().map(|e| (e.seq, e.hash));
            events.push(next_event(org, last, &draft(i)));
        }
        events
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let org = OrgId::random();
        let events = chain(org, 5);
        assert_eq!(events[4].seq, 5);
        assert_eq!(
            verify_chain(org, None, &events).unwrap(),
            Some((5, events[4].hash))
        );
        // Verifying in pages gives the same answer.
        let first = verify_chain(org, None, &events[..2]).unwrap();
        assert_eq!(
            verify_chain(org, first, &events[2..]).unwrap(),
            Some((5, events[4].hash))
        );
    }

    #[test]
    fn a_changed_deleted_or_reordered_event_breaks_the_chain_where_it_happened() {
        let org = OrgId::random();
        let events = chain(org, 5);

        let mut changed = events.clone();
        changed[2].draft.outcome = "denied: nothing".to_owned();
        assert_eq!(verify_chain(org, None, &changed).unwrap_err().seq, 3);

        let mut deleted = events.clone();
        deleted.remove(1);
        assert_eq!(verify_chain(org, None, &deleted).unwrap_err().seq, 2);

        let mut reordered = events.clone();
        reordered.swap(3, 4);
        assert_eq!(verify_chain(org, None, &reordered).unwrap_err().seq, 4);

        // Rewriting an event with a fresh hash still breaks the next link.
        let mut rehashed = events;
        rehashed[1].draft.actor = "operator".to_owned();
        rehashed[1].hash = link(
            &rehashed[1].prev_hash,
            &canonical_bytes(org, 2, &rehashed[1].draft),
        );
        let err = verify_chain(org, None, &rehashed).unwrap_err();
        assert_eq!(err.seq, 3, "{err}");
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        let org = OrgId::random();
        let mut a = draft(1);
        let mut b = a.clone();
        a.actor = "ab".to_owned();
        a.action = "c".to_owned();
        b.actor = "a".to_owned();
        b.action = "bc".to_owned();
        assert_ne!(canonical_bytes(org, 1, &a), canonical_bytes(org, 1, &b));
    }
}
