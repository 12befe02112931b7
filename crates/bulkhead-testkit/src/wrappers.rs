//! Stores wrapped to misbehave on purpose, around any real [`Store`].
//!
//! - [`LeakyStore`] has the classic tenancy bug: its tenant reads forget the tenant filter. It
//!   proves that the engine's row check (the L2 guard) alone keeps another tenant's rows from
//!   a caller: a call may fail with [`Error::IsolationBreach`], never answer with a foreign
//!   row.
//! - [`FaultyStore`] fails the N-th write call with a storage error. It proves that the engine
//!   leaves no half-done state when a write fails between the store calls of one operation.
//!   Switched to panic ([`Faults::panic_inside`]), it panics inside the callbacks a store call
//!   runs (most within its transaction): a panic from deep inside a store call, with a
//!   connection in use, as a bug in a dependency would raise one.
//!
//! Each wrapper writes only the methods it changes; every other port method is forwarded to the
//! wrapped store, from the port's method list (`bulkhead_core::store_methods!`), so a new port
//! method needs no code here.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bulkhead_core::audit::{AuditDraft, AuditEvent, AuditFilter};
use bulkhead_core::keys::{OrgKeyRow, SigningKeyRow};
use bulkhead_core::secrets::SealedSecrets;
use bulkhead_core::store::{
    CreationCount, EndpointKind, EndpointPatch, EndpointRow, Keyset, Pipeline, SealedItem,
    StatusCount, SyncFinish, TemplateKind, TemplateRow, TokenState, WorkspaceActivity,
};
use bulkhead_core::{
    Connection, ConnectionId, ConnectionUpdate, Error, ExternalId, GetOrCreated, OrgCtx, OrgId,
    OrgKeyId, Organization, Result, StorageError, Store, SyncRun, SyncRunId, Tenant, Timestamp,
    Workspace, WorkspaceFilter, WorkspaceId, WorkspaceUpdate,
};
use uuid::Uuid;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Forwarding
// ---------------------------------------------------------------------------------------------

/// What a port method does to storage, as `bulkhead_core::store_methods!` tags it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// The call never writes.
    Read,
    /// The call may write.
    Write,
}

macro_rules! access {
    (read) => {
        Access::Read
    };
    (write) => {
        Access::Write
    };
}

/// Declares [`Layer`] from the port's method list.
macro_rules! layer {
    ($(
        $port:ident {$(
            $access:ident fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
        )*}
    )*) => {
        /// A store wrapped around another: each port method calls [`Layer::before`], then
        /// forwards to the wrapped store, unless the wrapper overrides it. A wrapper implements
        /// this trait with the methods it changes, and `forward_port!` implements the six port
        /// traits from it, so a new port method needs no code here.
        trait Layer: fmt::Debug + Send + Sync {
            /// The wrapped store's type.
            type Inner: Store;

            /// The wrapped store.
            fn wrapped(&self) -> &Self::Inner;

            /// Runs before every forwarded call; an error fails the call without forwarding it.
            fn before(&self, access: Access) -> Result<()> {
                let _ = access;
                Ok(())
            }

            $($(
                fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.before(access!($access))?;
                    <Self::Inner as bulkhead_core::store::$port>::$name(self.wrapped() $(, $arg)*)
                }
            )*)*
        }
    };
}

bulkhead_core::store_methods!(layer);

/// Implements the six port traits for `$wrapper<S>` by calling its [`Layer`] methods.
macro_rules! forward_port {
    ($wrapper:ident; $(
        $port:ident {$(
            $access:ident fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
        )*}
    )*) => {$(
        impl<S: Store> bulkhead_core::store::$port for $wrapper<S> {$(
            fn $name(&self $(, $arg: $ty)*) -> $ret {
                <Self as Layer>::$name(self $(, $arg)*)
            }
        )*}
    )*};
}

// ---------------------------------------------------------------------------------------------
// LeakyStore
// ---------------------------------------------------------------------------------------------

/// The tenant rows (and the organization-level rows it leaks) a [`LeakyStore`] has seen pass
/// through, by id.
#[derive(Debug, Default)]
struct Seen {
    workspaces: BTreeMap<WorkspaceId, Workspace>,
    endpoints: BTreeMap<(Uuid, bool), EndpointRow>,
    connections: BTreeMap<ConnectionId, Connection>,
    sync_runs: BTreeMap<SyncRunId, SyncRun>,
    templates: BTreeMap<Uuid, TemplateRow>,
    org_keys: BTreeMap<OrgKeyId, OrgKeyRow>,
    signing_keys: BTreeMap<String, SigningKeyRow>,
    audit: BTreeMap<(OrgId, u64), AuditEvent>,
}

fn endpoint_key(kind: EndpointKind, id: Uuid) -> (Uuid, bool) {
    (id, kind == EndpointKind::Source)
}

fn foreign(tenant: &Tenant, org: OrgId, workspace: WorkspaceId) -> bool {
    org != tenant.org_id() || workspace != tenant.workspace_id()
}

impl Seen {
    fn workspace(&mut self, row: &Workspace) {
        self.workspaces.insert(row.id, row.clone());
    }

    fn endpoint(&mut self, row: &EndpointRow) {
        self.endpoints
            .insert(endpoint_key(row.kind, row.id), row.clone());
    }

    /// A listed row, read without its secrets: remembered with none, unless it was seen
    /// whole before.
    fn listed_endpoint(&mut self, row: &EndpointRow<()>) {
        self.endpoints
            .entry(endpoint_key(row.kind, row.id))
            .or_insert_with(|| row.clone().with_secrets(SealedSecrets::default()));
    }

    /// The remembered sources or destinations of every tenant but `tenant`.
    fn foreign_endpoints(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
    ) -> impl Iterator<Item = &EndpointRow> {
        self.endpoints
            .values()
            .filter(move |r| r.kind == kind && foreign(tenant, r.org_id, r.workspace_id))
    }

    fn connection(&mut self, row: &Connection) {
        self.connections.insert(row.id, row.clone());
    }

    fn sync_run(&mut self, row: &SyncRun) {
        self.sync_runs.insert(row.id, row.clone());
    }

    fn template(&mut self, row: &TemplateRow) {
        self.templates.insert(row.id, row.clone());
    }

    fn org_key(&mut self, row: &OrgKeyRow) {
        self.org_keys.insert(row.id, row.clone());
    }

    fn signing_key(&mut self, row: &SigningKeyRow) {
        self.signing_keys.insert(row.kid.clone(), row.clone());
    }

    fn audit_event(&mut self, event: &AuditEvent) {
        self.audit.insert((event.org_id, event.seq), event.clone());
    }

    /// Forgets a deleted workspace and everything that was in it.
    fn forget_workspace(&mut self, id: WorkspaceId) {
        self.workspaces.remove(&id);
        self.endpoints.retain(|_, r| r.workspace_id != id);
        self.connections.retain(|_, r| r.workspace_id != id);
        self.sync_runs.retain(|_, r| r.workspace_id != id);
    }

    /// A workspace of another tenant, to answer a self-read that found nothing.
    fn foreign_workspace(&self, tenant: &Tenant) -> Option<Workspace> {
        self.workspaces
            .values()
            .find(|w| foreign(tenant, w.org_id, w.id))
            .cloned()
    }
}

/// A store that drops the tenant filter from its tenant reads, around a correct store `S`.
///
/// It remembers every tenant row that passes through it (rows inserted, pipelines made,
/// workspaces got or created, rows read or updated; rows deleted are forgotten, as a database
/// would forget them). Its tenant reads then answer as a query without its
/// `workspace_id = ?` (or `org_id = ?`) predicate would:
///
/// - a lookup by id (`get_endpoint`, `get_connection`, `get_sync_run`, `get_workspace`) or by
///   external id (`find_workspace`) returns the inner answer, or, where the inner store finds
///   nothing in the caller's scope, the remembered row with that id, whoever owns it;
/// - a listing (`list_endpoints` and `list_sealed_endpoints`, `list_connections`,
///   `list_sync_runs`, `list_workspaces`) returns the inner rows plus every remembered row of that kind owned by another tenant
///   (another workspace, or for `list_workspaces` another organization);
/// - the reads of the caller's own workspace (`load_workspace`, `load_token_state`) return the
///   inner answer, or, where there is none (a deleted workspace), another tenant's workspace
///   instead;
/// - once switched on with [`LeakyStore::leak_org_rows`] (off at first), the organization's
///   listings forget the organization too: `list_templates`, `list_org_keys`,
///   `list_signing_keys` and `list_audit` return the inner rows plus every remembered row of
///   that kind owned by another organization (audit events after the requested sequence
///   number, whatever the filter); `get_template` answers, where the inner store finds
///   nothing, with the remembered template of that id and kind, whoever owns it; and
///   `find_signing_key`, where the inner store finds no key with that `kid`, answers with a
///   remembered key of another `kid` (a lookup that lost its `WHERE kid = ?`), never a
///   forgotten key of the same `kid`.
///
/// Everything else (writes, org-key lookups by hash, tags) is delegated unchanged, so the
/// engine still works; what must not happen is a foreign row reaching a caller. The engine's
/// guard must refuse each leaked row with [`Error::IsolationBreach`] and count it in
/// `Engine::isolation_breaches` (a signing key of another `kid` must verify nothing).
pub struct LeakyStore<S: Store> {
    inner: S,
    seen: Mutex<Seen>,
    org_rows: AtomicBool,
}

impl<S: Store> LeakyStore<S> {
    /// Wraps `inner`; nothing is remembered yet.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            seen: Mutex::new(Seen::default()),
            org_rows: AtomicBool::new(false),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Switches the leaks of organization-level rows on or off (off at first; see the type's
    /// docs). The engine refuses such a listing once it holds another organization's row, and
    /// it lists the organization's signing keys to mint each token and its keys to revoke
    /// one: with these leaks on, no token could be minted nor key revoked in a store with two
    /// organizations. So the suite's fixtures run with them off, and a test of these guard
    /// checks switches them on once its rows exist.
    pub fn leak_org_rows(&self, on: bool) {
        self.org_rows.store(on, Ordering::SeqCst);
    }

    fn leaks_org_rows(&self) -> bool {
        self.org_rows.load(Ordering::SeqCst)
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        lock(&self.seen)
    }

    /// Remembers a workspace answer and passes it on.
    fn ws(&self, row: Option<Workspace>) -> Option<Workspace> {
        if let Some(w) = &row {
            self.seen().workspace(w);
        }
        row
    }
}

impl<S: Store> fmt::Debug for LeakyStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakyStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Layer for LeakyStore<S> {
    type Inner = S;

    fn wrapped(&self) -> &S {
        &self.inner
    }

    // SystemStore (the calls not written here are forwarded unchanged)
    fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRow>> {
        match self.inner.find_signing_key(kid)? {
            Some(row) => {
                self.seen().signing_key(&row);
                Ok(Some(row))
            }
            // `… FROM signing_keys` without its `WHERE kid = ?`: some other key. Never a
            // remembered key of this `kid`: that one was deleted, and answering with it would
            // resurrect a key, not leak one.
            None if self.leaks_org_rows() => Ok(self
                .seen()
                .signing_keys
                .values()
                .find(|k| k.kid != kid)
                .cloned()),
            None => Ok(None),
        }
    }

    // OrgStore
    fn insert_organization(
        &self,
        ctx: &OrgCtx,
        org: &Organization,
        first_key: &OrgKeyRow,
        signing_key: &SigningKeyRow,
    ) -> Result<()> {
        self.inner
            .insert_organization(ctx, org, first_key, signing_key)?;
        let mut seen = self.seen();
        seen.org_key(first_key);
        seen.signing_key(signing_key);
        Ok(())
    }

    fn insert_org_key(&self, org: &OrgCtx, row: &OrgKeyRow) -> Result<()> {
        self.inner.insert_org_key(org, row)?;
        self.seen().org_key(row);
        Ok(())
    }

    fn list_org_keys(&self, org: &OrgCtx) -> Result<Vec<OrgKeyRow>> {
        let mut rows = self.inner.list_org_keys(org)?;
        let mut seen = self.seen();
        for row in &rows {
            seen.org_key(row);
        }
        if !self.leaks_org_rows() {
            return Ok(rows);
        }
        rows.extend(
            seen.org_keys
                .values()
                .filter(|k| k.org_id != org.org_id())
                .cloned(),
        );
        Ok(rows)
    }

    fn revoke_org_key(
        &self,
        org: &OrgCtx,
        id: OrgKeyId,
        now: Timestamp,
    ) -> Result<Option<OrgKeyRow>> {
        let row = self.inner.revoke_org_key(org, id, now)?;
        if let Some(row) = &row {
            self.seen().org_key(row);
        }
        Ok(row)
    }

    fn rotate_signing_key(
        &self,
        org: &OrgCtx,
        new: &SigningKeyRow,
        retire_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        self.inner.rotate_signing_key(org, new, retire_at, now)?;
        self.seen().signing_key(new);
        Ok(())
    }

    fn list_signing_keys(&self, org: &OrgCtx) -> Result<Vec<SigningKeyRow>> {
        let mut rows = self.inner.list_signing_keys(org)?;
        let mut seen = self.seen();
        for row in &rows {
            seen.signing_key(row);
        }
        if !self.leaks_org_rows() {
            return Ok(rows);
        }
        rows.extend(
            seen.signing_keys
                .values()
                .filter(|k| k.org_id != org.org_id())
                .cloned(),
        );
        Ok(rows)
    }

    // WorkspaceStore
    fn get_or_create_workspace(
        &self,
        org: &OrgCtx,
        candidate: &Workspace,
        update: &WorkspaceUpdate,
    ) -> Result<GetOrCreated> {
        let made = self.inner.get_or_create_workspace(org, candidate, update)?;
        self.seen().workspace(&made.workspace);
        Ok(made)
    }

    fn get_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<Option<Workspace>> {
        match self.ws(self.inner.get_workspace(org, id)?) {
            Some(found) => Ok(Some(found)),
            None => Ok(self.seen().workspaces.get(&id).cloned()),
        }
    }

    fn find_workspace(&self, org: &OrgCtx, external_id: &ExternalId) -> Result<Option<Workspace>> {
        match self.ws(self.inner.find_workspace(org, external_id)?) {
            Some(found) => Ok(Some(found)),
            None => Ok(self
                .seen()
                .workspaces
                .values()
                .find(|w| w.external_id == *external_id)
                .cloned()),
        }
    }

    fn list_workspaces(
        &self,
        org: &OrgCtx,
        filter: &WorkspaceFilter,
        after: Option<&ExternalId>,
        limit: usize,
    ) -> Result<Vec<Workspace>> {
        let mut rows = self.inner.list_workspaces(org, filter, after, limit)?;
        let mut seen = self.seen();
        for w in &rows {
            seen.workspace(w);
        }
        rows.extend(
            seen.workspaces
                .values()
                .filter(|w| w.org_id != org.org_id())
                .cloned(),
        );
        Ok(rows)
    }

    fn count_workspaces(&self, org: &OrgCtx) -> Result<Vec<StatusCount>> {
        let mut rows = self.inner.count_workspaces(org)?;
        let seen = self.seen();
        rows.extend(
            seen.workspaces
                .values()
                .filter(|w| w.org_id != org.org_id())
                .map(|w| StatusCount {
                    org_id: w.org_id,
                    status: w.status,
                    count: 1,
                }),
        );
        Ok(rows)
    }

    fn count_workspace_creations(
        &self,
        org: &OrgCtx,
        since: Timestamp,
    ) -> Result<Vec<CreationCount>> {
        let mut rows = self.inner.count_workspace_creations(org, since)?;
        let seen = self.seen();
        rows.extend(
            seen.workspaces
                .values()
                .filter(|w| w.org_id != org.org_id())
                .map(|w| CreationCount {
                    org_id: w.org_id,
                    hour: since,
                    count: 1,
                }),
        );
        Ok(rows)
    }

    fn update_workspace(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        update: &WorkspaceUpdate,
        now: Timestamp,
    ) -> Result<Option<Workspace>> {
        let row = self.inner.update_workspace(org, id, update, now)?;
        Ok(self.ws(row))
    }

    fn purge_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<bool> {
        let deleted = self.inner.purge_workspace(org, id)?;
        if deleted {
            self.seen().forget_workspace(id);
        }
        Ok(deleted)
    }

    fn revoke_workspace_tokens(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        at: Timestamp,
    ) -> Result<Option<Workspace>> {
        let row = self.inner.revoke_workspace_tokens(org, id, at)?;
        Ok(self.ws(row))
    }

    // CatalogStore
    fn insert_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<()> {
        self.inner.insert_template(org, row)?;
        self.seen().template(row);
        Ok(())
    }

    fn list_templates(&self, org: &OrgCtx, kind: TemplateKind) -> Result<Vec<TemplateRow>> {
        let mut rows = self.inner.list_templates(org, kind)?;
        let mut seen = self.seen();
        for row in &rows {
            seen.template(row);
        }
        if !self.leaks_org_rows() {
            return Ok(rows);
        }
        rows.extend(
            seen.templates
                .values()
                .filter(|t| t.kind == kind && t.org_id != org.org_id())
                .cloned(),
        );
        Ok(rows)
    }

    fn get_template(
        &self,
        org: &OrgCtx,
        kind: TemplateKind,
        id: Uuid,
    ) -> Result<Option<TemplateRow>> {
        let mut seen = self.seen();
        match self.inner.get_template(org, kind, id)? {
            Some(row) => {
                seen.template(&row);
                Ok(Some(row))
            }
            None if self.leaks_org_rows() => {
                Ok(seen.templates.get(&id).filter(|t| t.kind == kind).cloned())
            }
            None => Ok(None),
        }
    }

    fn replace_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<bool> {
        let replaced = self.inner.replace_template(org, row)?;
        if replaced {
            self.seen().template(row);
        }
        Ok(replaced)
    }

    fn delete_template(&self, org: &OrgCtx, kind: TemplateKind, id: Uuid) -> Result<bool> {
        let deleted = self.inner.delete_template(org, kind, id)?;
        if deleted {
            let mut seen = self.seen();
            if seen
                .templates
                .get(&id)
                .is_some_and(|t| t.org_id == org.org_id() && t.kind == kind)
            {
                seen.templates.remove(&id);
            }
        }
        Ok(deleted)
    }

    // AuditStore
    fn append_audit(&self, org: &OrgCtx, draft: &AuditDraft) -> Result<AuditEvent> {
        let event = self.inner.append_audit(org, draft)?;
        self.seen().audit_event(&event);
        Ok(event)
    }

    fn list_audit(
        &self,
        org: &OrgCtx,
        filter: &AuditFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let mut events = self.inner.list_audit(org, filter, after, limit)?;
        let mut seen = self.seen();
        for event in &events {
            seen.audit_event(event);
        }
        if !self.leaks_org_rows() {
            return Ok(events);
        }
        // `… FROM audit_log WHERE seq > ?` without `org_id = ?`: every organization's chain.
        events.extend(
            seen.audit
                .values()
                .filter(|e| e.org_id != org.org_id() && Some(e.seq) > after)
                .cloned(),
        );
        Ok(events)
    }

    fn list_audit_newest(
        &self,
        org: &OrgCtx,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let mut events = self.inner.list_audit_newest(org, filter, before, limit)?;
        let mut seen = self.seen();
        for event in &events {
            seen.audit_event(event);
        }
        if !self.leaks_org_rows() {
            return Ok(events);
        }
        // `… FROM audit_log WHERE seq < ?` without `org_id = ?`: every organization's chain.
        events.extend(
            seen.audit
                .values()
                .filter(|e| e.org_id != org.org_id() && before.is_none_or(|b| e.seq < b))
                .cloned(),
        );
        Ok(events)
    }

    // TenantStore
    fn load_workspace(&self, tenant: &Tenant) -> Result<Option<Workspace>> {
        match self.ws(self.inner.load_workspace(tenant)?) {
            Some(own) => Ok(Some(own)),
            None => Ok(self.seen().foreign_workspace(tenant)),
        }
    }

    fn load_token_state(
        &self,
        tenant: &Tenant,
        jti: &str,
        kid: &str,
    ) -> Result<Option<TokenState>> {
        match self.inner.load_token_state(tenant, jti, kid)? {
            Some(state) => {
                self.seen().workspace(&state.workspace);
                Ok(Some(state))
            }
            // `… FROM workspaces` without its `WHERE`: some other tenant's workspace.
            None => Ok(self
                .seen()
                .foreign_workspace(tenant)
                .map(|workspace| TokenState {
                    workspace,
                    issuer: String::new(),
                    audience: String::new(),
                    revoked: false,
                    max_ttl_secs: 0,
                    signing_key: None,
                })),
        }
    }

    fn insert_source_with_pipelines(
        &self,
        tenant: &Tenant,
        source: &EndpointRow,
        pipelines: &[Pipeline],
        check: &dyn Fn(&[Pipeline]) -> Result<()>,
    ) -> Result<Vec<Pipeline>> {
        let made = self
            .inner
            .insert_source_with_pipelines(tenant, source, pipelines, check)?;
        let mut seen = self.seen();
        seen.endpoint(source);
        for pipeline in &made {
            seen.endpoint(&pipeline.destination);
            seen.connection(&pipeline.connection);
        }
        Ok(made)
    }

    fn insert_endpoint(&self, tenant: &Tenant, row: &EndpointRow) -> Result<()> {
        self.inner.insert_endpoint(tenant, row)?;
        self.seen().endpoint(row);
        Ok(())
    }

    fn get_endpoint(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
    ) -> Result<Option<EndpointRow>> {
        let mut seen = self.seen();
        match self.inner.get_endpoint(tenant, kind, id)? {
            Some(row) => {
                seen.endpoint(&row);
                Ok(Some(row))
            }
            None => Ok(seen.endpoints.get(&endpoint_key(kind, id)).cloned()),
        }
    }

    fn list_endpoints(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<EndpointRow<()>>> {
        let mut rows = self.inner.list_endpoints(tenant, kind, after, limit)?;
        let mut seen = self.seen();
        for row in &rows {
            seen.listed_endpoint(row);
        }
        rows.extend(
            seen.foreign_endpoints(tenant, kind)
                .map(|r| r.clone().with_secrets(())),
        );
        Ok(rows)
    }

    fn list_sealed_endpoints(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<EndpointRow>> {
        let mut rows = self
            .inner
            .list_sealed_endpoints(tenant, kind, after, limit)?;
        let mut seen = self.seen();
        for row in &rows {
            seen.endpoint(row);
        }
        rows.extend(seen.foreign_endpoints(tenant, kind).cloned());
        Ok(rows)
    }

    fn update_endpoint(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> Result<Option<EndpointRow>> {
        let row = self.inner.update_endpoint(tenant, kind, id, patch, now)?;
        if let Some(row) = &row {
            self.seen().endpoint(row);
        }
        Ok(row)
    }

    fn delete_endpoint(&self, tenant: &Tenant, kind: EndpointKind, id: Uuid) -> Result<bool> {
        let deleted = self.inner.delete_endpoint(tenant, kind, id)?;
        if deleted {
            let mut seen = self.seen();
            let key = endpoint_key(kind, id);
            if seen
                .endpoints
                .get(&key)
                .is_some_and(|r| !foreign(tenant, r.org_id, r.workspace_id))
            {
                seen.endpoints.remove(&key);
            }
        }
        Ok(deleted)
    }

    fn insert_connection(&self, tenant: &Tenant, row: &Connection) -> Result<()> {
        self.inner.insert_connection(tenant, row)?;
        self.seen().connection(row);
        Ok(())
    }

    fn get_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<Option<Connection>> {
        let mut seen = self.seen();
        match self.inner.get_connection(tenant, id)? {
            Some(row) => {
                seen.connection(&row);
                Ok(Some(row))
            }
            None => Ok(seen.connections.get(&id).cloned()),
        }
    }

    fn list_connections(
        &self,
        tenant: &Tenant,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<Connection>> {
        let mut rows = self.inner.list_connections(tenant, after, limit)?;
        let mut seen = self.seen();
        for row in &rows {
            seen.connection(row);
        }
        rows.extend(
            seen.connections
                .values()
                .filter(|r| foreign(tenant, r.org_id, r.workspace_id))
                .cloned(),
        );
        Ok(rows)
    }

    fn update_connection(
        &self,
        tenant: &Tenant,
        id: ConnectionId,
        update: &ConnectionUpdate,
        now: Timestamp,
    ) -> Result<Option<Connection>> {
        let row = self.inner.update_connection(tenant, id, update, now)?;
        if let Some(row) = &row {
            self.seen().connection(row);
        }
        Ok(row)
    }

    fn delete_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<bool> {
        let deleted = self.inner.delete_connection(tenant, id)?;
        if deleted {
            let mut seen = self.seen();
            let own = |org, ws| !foreign(tenant, org, ws);
            if seen
                .connections
                .get(&id)
                .is_some_and(|c| own(c.org_id, c.workspace_id))
            {
                seen.connections.remove(&id);
            }
            seen.sync_runs
                .retain(|_, r| !(r.connection_id == id && own(r.org_id, r.workspace_id)));
        }
        Ok(deleted)
    }

    fn insert_sync_run(&self, tenant: &Tenant, row: &SyncRun) -> Result<()> {
        self.inner.insert_sync_run(tenant, row)?;
        self.seen().sync_run(row);
        Ok(())
    }

    fn get_sync_run(&self, tenant: &Tenant, id: SyncRunId) -> Result<Option<SyncRun>> {
        let mut seen = self.seen();
        match self.inner.get_sync_run(tenant, id)? {
            Some(row) => {
                seen.sync_run(&row);
                Ok(Some(row))
            }
            None => Ok(seen.sync_runs.get(&id).cloned()),
        }
    }

    fn list_sync_runs(
        &self,
        tenant: &Tenant,
        connection: ConnectionId,
        before: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<SyncRun>> {
        let mut rows = self
            .inner
            .list_sync_runs(tenant, connection, before, limit)?;
        let mut seen = self.seen();
        for row in &rows {
            seen.sync_run(row);
        }
        rows.extend(
            seen.sync_runs
                .values()
                .filter(|r| foreign(tenant, r.org_id, r.workspace_id))
                .cloned(),
        );
        Ok(rows)
    }

    fn workspace_activity(&self, tenant: &Tenant, since: Timestamp) -> Result<WorkspaceActivity> {
        let mut activity = self.inner.workspace_activity(tenant, since)?;
        let mut seen = self.seen();
        for row in &activity.connections {
            seen.connection(row);
        }
        for row in &activity.latest_runs {
            seen.sync_run(row);
        }
        activity.connections.extend(
            seen.connections
                .values()
                .filter(|r| foreign(tenant, r.org_id, r.workspace_id))
                .cloned(),
        );
        activity.latest_runs.extend(
            seen.sync_runs
                .values()
                .filter(|r| foreign(tenant, r.org_id, r.workspace_id))
                .cloned(),
        );
        Ok(activity)
    }

    fn finish_sync_run(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        let row = self.inner.finish_sync_run(tenant, id, finish)?;
        if let Some(row) = &row {
            self.seen().sync_run(row);
        }
        Ok(row)
    }
}

bulkhead_core::store_methods!(forward_port LeakyStore;);

// ---------------------------------------------------------------------------------------------
// FaultyStore
// ---------------------------------------------------------------------------------------------

/// The fault plan of a [`FaultyStore`], shared with the test that drives it.
///
/// Write calls are counted from the last [`Faults::arm`]; the armed one fails, once. To learn
/// how many write calls an operation makes, arm with `u64::MAX` (see [`Faults::count_writes`]),
/// run it, and read [`Faults::writes`].
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    fail_at: Option<u64>,
    writes: u64,
    reads: u64,
    panic_inside: bool,
    panics: u64,
}

/// The message of every panic a [`FaultyStore`] injects.
pub const INJECTED_PANIC: &str = "injected panic inside a store call (a test expects it)";

impl Faults {
    /// Fails the `n`-th write call from now (1 is the next one); resets the count.
    pub fn arm(&self, n: u64) {
        *lock(&self.state) = FaultState {
            fail_at: Some(n),
            ..FaultState::default()
        };
    }

    /// From now on (`true`) or no longer (`false`), every callback that the engine hands to a
    /// store call panics with [`INJECTED_PANIC`] before doing its work: `check` of
    /// `insert_source_with_pipelines` and `reseal` of `reseal_all`, which the stores run
    /// inside their transaction (so the panic unwinds through the wrapped store while it holds
    /// a connection and an open transaction), and `make` of `workspace_data_key`, which they
    /// run between two transactions.
    pub fn panic_inside(&self, on: bool) {
        lock(&self.state).panic_inside = on;
    }

    /// The panics injected so far.
    pub fn panics(&self) -> u64 {
        lock(&self.state).panics
    }

    /// Panics if [`Faults::panic_inside`] is on (the lock is released first).
    fn inside(&self) {
        let mut state = lock(&self.state);
        if state.panic_inside {
            state.panics = state.panics.saturating_add(1);
            drop(state);
            panic!("{INJECTED_PANIC}");
        }
    }

    /// Counts write calls from now without failing any (arms at `u64::MAX`).
    pub fn count_writes(&self) {
        self.arm(u64::MAX);
    }

    /// Fails nothing from now on; the count goes on.
    pub fn disarm(&self) {
        lock(&self.state).fail_at = None;
    }

    /// Write calls since the last [`Faults::arm`].
    pub fn writes(&self) -> u64 {
        lock(&self.state).writes
    }

    /// Read-only calls (every call that is not a write call) since the last
    /// [`Faults::arm`]. Reads never fail.
    pub fn reads(&self) -> u64 {
        lock(&self.state).reads
    }

    /// Counts one read-only call.
    fn read(&self) {
        let mut state = lock(&self.state);
        state.reads = state.reads.saturating_add(1);
    }

    /// The message of the fault injected at write `n`.
    pub fn message(n: u64) -> String {
        format!("injected fault at write {n}")
    }

    /// Counts one write call; fails it if it is the armed one.
    fn write(&self) -> Result<()> {
        let mut state = lock(&self.state);
        state.writes = state.writes.saturating_add(1);
        if state.fail_at == Some(state.writes) {
            return Err(Error::Storage(StorageError::new(Self::message(
                state.writes,
            ))));
        }
        Ok(())
    }
}

/// A store that fails the N-th write call with a storage error ("injected fault at write N"),
/// around a correct store `S`, and counts write calls and read-only calls.
///
/// A write call is any [`Store`] method that may write (including `workspace_data_key`, which
/// stores a data key on first use, `touch_org_key` and `master_key_check`). The failing call
/// never reaches `S`: for a store that runs each call in one transaction (the contract), that
/// is the same as the call's transaction rolling back. Faults are injected at the boundary
/// between the engine and the store, so they test what the engine does when an operation's
/// second or third store call fails after the first committed: a store's own atomicity inside
/// one call is the adapter's business (and its own tests').
#[derive(Debug)]
pub struct FaultyStore<S: Store> {
    inner: S,
    faults: Arc<Faults>,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner`, disarmed.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            faults: Arc::new(Faults::default()),
        }
    }

    /// The fault plan, to arm and read from a test.
    pub fn faults(&self) -> Arc<Faults> {
        Arc::clone(&self.faults)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Store> Layer for FaultyStore<S> {
    type Inner = S;

    fn wrapped(&self) -> &S {
        &self.inner
    }

    fn before(&self, access: Access) -> Result<()> {
        match access {
            Access::Read => {
                self.faults.read();
                Ok(())
            }
            Access::Write => self.faults.write(),
        }
    }

    // The calls that take a callback: it panics inside them while `panic_inside` is on. Every
    // other call is counted (and a write failed) in `before`.
    fn reseal_all(
        &self,
        check: &[u8],
        reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
    ) -> Result<u64> {
        self.faults.write()?;
        let faults = &self.faults;
        self.inner.reseal_all(check, &mut |item| {
            faults.inside();
            reseal(item)
        })
    }

    fn workspace_data_key(
        &self,
        tenant: &Tenant,
        make: &dyn Fn() -> Result<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>> {
        self.faults.write()?;
        let faults = &self.faults;
        self.inner.workspace_data_key(tenant, &|| {
            faults.inside();
            make()
        })
    }

    fn insert_source_with_pipelines(
        &self,
        tenant: &Tenant,
        source: &EndpointRow,
        pipelines: &[Pipeline],
        check: &dyn Fn(&[Pipeline]) -> Result<()>,
    ) -> Result<Vec<Pipeline>> {
        self.faults.write()?;
        let faults = &self.faults;
        self.inner
            .insert_source_with_pipelines(tenant, source, pipelines, &|made| {
                faults.inside();
                check(made)
            })
    }
}

bulkhead_core::store_methods!(forward_port FaultyStore;);
