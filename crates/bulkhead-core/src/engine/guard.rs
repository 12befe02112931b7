//! The isolation guard (layers L1 and L2 of the design).
//!
//! **L1, types.** A [`Tenant`] names one workspace of one organization. It has no public
//! constructor and is not `Clone`: only the engine makes one, after it has checked that the
//! workspace exists in the organization, and only a `WorkspaceScope` holds one. Every storage
//! port method that touches tenant rows takes `&Tenant`; an [`OrgCtx`] plays the same part for
//! organization-level calls.
//!
//! **L2, row checks.** Whatever storage returns passes through `Guard::admit` (or its
//! siblings) before it reaches a caller: the scopes reach storage only through the guarded
//! handles of `engine::rows`, which make each store call and its check together, so a scope
//! that skipped the check would not compile. A row whose organization or workspace differs from the
//! caller's is never returned: the call fails with [`Error::IsolationBreach`], the breach is
//! logged (with the caller's ids, never the foreign row's), counted, and appended to the
//! caller's organization's audit chain as an `isolation.breach` event, denied (its target is
//! the kind of object, never the foreign row's id). So a storage adapter that forgets its
//! tenant filter fails closed instead of leaking, and the chain shows it.
//!
//! A breach found inside a store transaction (the check that the store runs before it
//! commits a source with its pipelines) cannot append to the chain there: the transaction is
//! still open. It waits in the guard until the store call returns, and the engine then
//! appends it (`Guard::flush`).
//!
//! Writes go through the same check: before the engine updates or deletes an object, or
//! names one in a new row (a connection's source), it reads that object through the guard. A
//! foreign id is thus refused before any write reaches storage, even by an adapter whose
//! write filter is broken.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::port::tenant::{OrgCtx, Tenant};

use crate::audit::{Actor, AuditDraft};
use crate::error::{Error, ObjectKind};
use crate::model::ids::{OrgId, WorkspaceId};
use crate::model::objects::{Connection, SyncRun, Workspace};
use crate::model::time::Clock;
use crate::port::store::AuditStore;
use crate::port::store::EndpointRow;

/// A row that belongs to one workspace of one organization.
pub(crate) trait TenantRow {
    fn kind(&self) -> ObjectKind;
    fn owner(&self) -> (OrgId, WorkspaceId);
}

impl<T: TenantRow> TenantRow for &T {
    fn kind(&self) -> ObjectKind {
        (**self).kind()
    }
    fn owner(&self) -> (OrgId, WorkspaceId) {
        (**self).owner()
    }
}

impl<S> TenantRow for EndpointRow<S> {
    fn kind(&self) -> ObjectKind {
        self.kind.object_kind()
    }
    fn owner(&self) -> (OrgId, WorkspaceId) {
        (self.org_id, self.workspace_id)
    }
}

impl TenantRow for Connection {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Connection
    }
    fn owner(&self) -> (OrgId, WorkspaceId) {
        (self.org_id, self.workspace_id)
    }
}

impl TenantRow for SyncRun {
    fn kind(&self) -> ObjectKind {
        ObjectKind::SyncRun
    }
    fn owner(&self) -> (OrgId, WorkspaceId) {
        (self.org_id, self.workspace_id)
    }
}

impl TenantRow for Workspace {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Workspace
    }
    fn owner(&self) -> (OrgId, WorkspaceId) {
        (self.org_id, self.id)
    }
}

thread_local! {
    /// Whether this thread is inside a store call's transaction (running a check the store
    /// calls back before it commits); see [`inside_store_transaction`].
    static IN_STORE_TRANSACTION: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, a check a store calls back inside its transaction, so that a breach it finds
/// is held back from the audit chain until [`Guard::flush`].
pub(crate) fn inside_store_transaction<T>(f: impl FnOnce() -> T) -> T {
    /// Puts the flag back when dropped, so also when `f` panics: a flag left set would hold
    /// back every later breach event of this thread until another thread's [`Guard::flush`].
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_STORE_TRANSACTION.with(|flag| flag.set(self.0));
        }
    }
    let _restore = Restore(IN_STORE_TRANSACTION.with(|flag| flag.replace(true)));
    f()
}

/// Checks rows coming back from storage against the caller's tenant, and counts breaches
/// and appends them to the audit chain.
#[derive(Debug)]
pub(crate) struct Guard {
    breaches: AtomicU64,
    by_org: std::sync::Mutex<std::collections::HashMap<OrgId, u64>>,
    /// Where breach events go.
    store: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
    /// Breaches found inside a store transaction, not yet appended.
    pending: std::sync::Mutex<Vec<(OrgCtx, AuditDraft)>>,
}

impl Guard {
    /// A guard that appends breach events to `store`'s audit chains, at `clock`'s time.
    pub(crate) fn new(store: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            breaches: AtomicU64::new(0),
            by_org: std::sync::Mutex::default(),
            store,
            clock,
            pending: std::sync::Mutex::default(),
        }
    }

    /// Returns `row` if it belongs to `tenant`, else fails closed.
    pub(crate) fn admit<T: TenantRow>(&self, tenant: &Tenant, row: T) -> Result<T, Error> {
        let (org, ws) = row.owner();
        if org == tenant.org_id() && ws == tenant.workspace_id() {
            Ok(row)
        } else {
            Err(self.breach(
                row.kind(),
                tenant.org_id(),
                Some(tenant.workspace_id()),
                tenant.actor(),
            ))
        }
    }

    /// [`Guard::admit`] for an optional row.
    pub(crate) fn admit_opt<T: TenantRow>(
        &self,
        tenant: &Tenant,
        row: Option<T>,
    ) -> Result<Option<T>, Error> {
        row.map(|r| self.admit(tenant, r)).transpose()
    }

    /// [`Guard::admit`] for every row of a list; one foreign row fails the whole call. The
    /// rows are checked where they lie and handed back as they came (no copy of a page).
    pub(crate) fn admit_all<T: TenantRow>(
        &self,
        tenant: &Tenant,
        rows: Vec<T>,
    ) -> Result<Vec<T>, Error> {
        for row in &rows {
            self.admit(tenant, row)?;
        }
        Ok(rows)
    }

    /// Returns `row` if it belongs to the organization `org`, else fails closed.
    pub(crate) fn admit_org<T: TenantRow>(&self, org: &OrgCtx, row: T) -> Result<T, Error> {
        if row.owner().0 == org.org_id() {
            Ok(row)
        } else {
            Err(self.breach(row.kind(), org.org_id(), None, org.actor()))
        }
    }

    /// [`Guard::admit_org`] for an optional row.
    pub(crate) fn admit_org_opt<T: TenantRow>(
        &self,
        org: &OrgCtx,
        row: Option<T>,
    ) -> Result<Option<T>, Error> {
        row.map(|r| self.admit_org(org, r)).transpose()
    }

    /// The number of breaches stopped since the engine started.
    pub(crate) fn breaches(&self) -> u64 {
        self.breaches.load(Ordering::Relaxed)
    }

    /// The number of breaches stopped in calls of the organization `org`.
    pub(crate) fn breaches_of(&self, org: OrgId) -> u64 {
        self.by_org
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&org)
            .copied()
            .unwrap_or(0)
    }

    /// Records a breach found by the engine itself (a row that is the caller's by owner but
    /// not the one asked for, in a way only a broken adapter produces) and returns its error.
    pub(crate) fn breach(
        &self,
        kind: ObjectKind,
        org: OrgId,
        workspace: Option<WorkspaceId>,
        actor: &Actor,
    ) -> Error {
        self.breaches.fetch_add(1, Ordering::Relaxed);
        {
            let mut by_org = self.by_org.lock().unwrap_or_else(|e| e.into_inner());
            let count = by_org.entry(org).or_default();
            *count = count.saturating_add(1);
        }
        // Only the caller's own ids are logged: the foreign row's ids are another tenant's data.
        tracing::error!(
            target: "bulkhead::guard",
            %kind,
            caller_org = %org,
            caller_workspace = workspace.map(|w| w.to_string()).unwrap_or_default(),
            "isolation breach: storage returned a row outside the caller's scope; refused"
        );
        let ctx = OrgCtx::new(org).with_actor(actor.clone());
        let draft = AuditDraft::ok(
            self.clock.now(),
            actor,
            "isolation.breach",
            workspace,
            kind.to_string(),
        )
        .denied("isolation breach");
        if IN_STORE_TRANSACTION.with(Cell::get) {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((ctx, draft));
        } else {
            self.flush();
            self.append(&ctx, &draft);
        }
        Error::IsolationBreach { kind }
    }

    /// Appends the breaches found inside a store transaction that has ended since.
    pub(crate) fn flush(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (ctx, draft) in &pending {
            self.append(ctx, draft);
        }
    }

    /// Appends one breach event. A failure is logged, never the caller's error: the call is
    /// refused either way.
    fn append(&self, ctx: &OrgCtx, draft: &AuditDraft) {
        if let Err(e) = self.store.append_audit(ctx, draft) {
            tracing::error!(target: "bulkhead::audit", org = %ctx.org_id(), error = %e, "could not audit an isolation breach");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_store_transaction() -> bool {
        IN_STORE_TRANSACTION.with(Cell::get)
    }

    /// L5: the flag is set inside, and put back after, a check that returns or panics.
    #[test]
    fn store_transaction_flag_is_restored_after_a_panic() {
        assert!(!in_store_transaction());
        assert!(inside_store_transaction(in_store_transaction));
        assert!(!in_store_transaction());
        let panicked = std::panic::catch_unwind(|| {
            inside_store_transaction(|| panic!("a check that panics"));
        });
        assert!(panicked.is_err());
        assert!(!in_store_transaction(), "the flag stayed set after a panic");
        // Nested: the inner call puts back the outer call's flag.
        inside_store_transaction(|| {
            let _ = std::panic::catch_unwind(|| inside_store_transaction(|| panic!("inner")));
            assert!(in_store_transaction());
        });
        assert!(!in_store_transaction());
    }
}
