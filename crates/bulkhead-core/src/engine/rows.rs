//! Guarded handles: the only way the engine's scopes reach storage.
//!
//! The engine's store is a private field of [`Storage`], and nothing in this module hands it
//! out. A scope reaches storage through one of three handles, each of which makes the store
//! call *and* the guard's check together (see [`crate::engine::guard`]):
//!
//! - [`TenantRows`], for calls inside one workspace (`&Tenant`): every row that comes back
//!   is admitted against the tenant, a lookup by id is also checked to be the object asked
//!   for, and a missing object (or another tenant's, which the adapter filters out) is the
//!   not-found error;
//! - [`OrgRows`], for calls about one organization (`&OrgCtx`): its workspaces, settings,
//!   keys, catalog and audit chain, each row checked against the organization;
//! - [`JobRows`] and [`TenantRows::schedule`], the job queue's and the scheduler's calls
//!   inside one workspace, checked the same way (see [`jobs`]);
//! - [`Storage::system`], the named exception: [`SystemCalls`], the calls of
//!   [`SystemStore`](crate::port::store::SystemStore) that run before any tenant is known or
//!   across all of them (the master-key check, the operator's listing of organizations, the
//!   credential lookups by key hash and by `kid`, re-sealing under a new master key), and the
//!   cross-tenant calls of the job queue and the scheduler ([`jobs::AllJobs`]: the claim's
//!   candidate selection and the reaper; [`jobs::AllSchedules`]: the tick's due-time scan
//!   and its moves). They return no tenant rows: organizations and keys for the entry points to
//!   check, and the queue's ids and counters.
//!
//! **Why skipping the guard does not compile.** A scope holds an `Arc<Inner>`, whose
//! `storage` field is a [`Storage`]; `Storage`'s only field is private to this module, so no
//! scope can name the `Arc<dyn Store>` inside it, let alone call a tenant or organization
//! method on it. What a scope can call are the handles' methods, and each of them returns
//! rows only after the guard has admitted them. The guard itself holds only the audit
//! port it appends breaches to. `tests/layers.rs` keeps it so: it fails if a file under
//! `engine/` other than this module (with its child [`jobs`]) and the guard names one of the
//! storage port's traits (the one exception is the parameter of [`crate::Engine::new`],
//! handed straight to [`Storage::new`]), or if a file outside the few that need them calls
//! [`Storage::system`].
//!
//! Each method keeps the order of checks the scopes made by hand before: the store call,
//! then the guard's admission of what came back, then the check that it is the object asked
//! for, then "not found". A write takes the tenant or organization of its one call (`audited`,
//! carrying the call's audit event); it has the handle's ids and actor, so the row is
//! checked against the same owner.

mod jobs;

use std::sync::Arc;

use uuid::Uuid;

pub(crate) use jobs::JobRows;

use crate::audit::{Actor, AuditDraft, AuditEvent, AuditFilter};
use crate::crypto::keys::{OrgKeyRow, SigningKeyRow};
use crate::engine::guard::{Guard, inside_store_transaction};
use crate::error::{Error, ObjectKind, Result, StorageError};
use crate::model::ids::{ConnectionId, ExternalId, OrgId, OrgKeyId, SyncRunId, WorkspaceId};
use crate::model::objects::{
    Connection, ConnectionUpdate, GetOrCreated, OrgSettings, Organization, SyncRun, Workspace,
};
use crate::model::tags::Tag;
use crate::model::templates::TagInfo;
use crate::model::time::Timestamp;
use crate::port::store::{
    AuditStore, CreationCount, EndpointKind, EndpointPatch, EndpointRow, Keyset, MergeRows,
    Pipeline, SealedItem, StatusCount, Store, SyncFinish, TemplateKind, TemplateRow, TokenState,
    WorkspaceActivity, WorkspaceFilter, WorkspaceUpdate,
};
use crate::port::tenant::{OrgCtx, Tenant};

/// The engine's store, out of the scopes' reach: they get guarded handles from it.
#[derive(Debug)]
pub(crate) struct Storage {
    /// The raw store. Private: the handles below are the only code that calls it.
    store: Arc<dyn Store>,
}

impl Storage {
    /// Takes the engine's store; from here on only this module calls it.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The audit port the guard appends breach events to.
    pub(crate) fn audit_port(&self) -> Arc<dyn AuditStore> {
        Arc::<dyn Store>::clone(&self.store)
    }

    /// **The named exception**: the calls that run without a tenant (see the module docs).
    /// Only the engine's entry points use it: `Engine::new` (the master-key check),
    /// authentication (an org key by its hash, a signing key by its `kid`, an organization's
    /// issuer and audience), the operator's listing, the master-key rotation, and the job
    /// queue's and the scheduler's cross-tenant calls (a claim, the reaper, the tick).
    /// `tests/layers.rs` lists the files that may.
    pub(crate) fn system(&self) -> SystemCalls<'_> {
        SystemCalls {
            store: &*self.store,
        }
    }

    /// The handle for calls inside `tenant`'s workspace, checked by `guard`.
    pub(crate) fn tenant<'a>(&'a self, guard: &'a Guard, tenant: &'a Tenant) -> TenantRows<'a> {
        TenantRows {
            store: &*self.store,
            guard,
            tenant,
        }
    }

    /// The handle for the job queue's calls inside `tenant`'s workspace, checked by `guard`;
    /// [`Error::NoJobQueue`] if the store has no queue.
    pub(crate) fn jobs<'a>(&'a self, guard: &'a Guard, tenant: &'a Tenant) -> Result<JobRows<'a>> {
        JobRows::new(&*self.store, guard, tenant)
    }

    /// The handle for calls about `org`, checked by `guard`.
    pub(crate) fn org<'a>(&'a self, guard: &'a Guard, org: &'a OrgCtx) -> OrgRows<'a> {
        OrgRows {
            store: &*self.store,
            guard,
            org,
        }
    }

    /// The organization `id`, for a scope of it acting as `actor`: not found if there is
    /// none, an isolation breach if storage returns another one. (An operator lookup of
    /// [`SystemStore`](crate::port::store::SystemStore), checked here for the scope it opens.)
    pub(crate) fn organization(
        &self,
        guard: &Guard,
        id: OrgId,
        actor: &Actor,
    ) -> Result<Organization> {
        match self.store.get_organization(id)? {
            Some(org) if org.id == id => Ok(org),
            Some(_) => Err(guard.breach(ObjectKind::Organization, id, None, actor)),
            None => Err(Error::not_found(ObjectKind::Organization, id)),
        }
    }
}

/// The calls that run without a tenant, and nothing else: [`Storage::system`].
///
/// Each one forwards to [`SystemStore`](crate::port::store::SystemStore), whose docs say
/// what it returns; none returns a tenant row. A lookup returns only the row asked for (the
/// organization of that id, the key of that hash or `kid`): any other is `None`, as the
/// entry points have always taken it. The job queue's and the scheduler's ports
/// are reached from here only for their cross-tenant calls ([`SystemCalls::jobs`],
/// [`SystemCalls::schedules`]); their calls inside a workspace go through [`JobRows`] and
/// [`TenantRows::schedule`], an organization's through [`OrgRows::set_job_limits`].
#[derive(Clone, Copy)]
pub(crate) struct SystemCalls<'a> {
    store: &'a dyn Store,
}

impl SystemCalls<'_> {
    /// The stored master-key check value, storing `candidate` first on a new database.
    pub(crate) fn master_key_check(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        self.store.master_key_check(candidate)
    }

    /// The organization `id`, if there is one.
    pub(crate) fn get_organization(&self, id: OrgId) -> Result<Option<Organization>> {
        Ok(self.store.get_organization(id)?.filter(|org| org.id == id))
    }

    /// Every organization (the operator's listing).
    pub(crate) fn list_organizations(&self) -> Result<Vec<Organization>> {
        self.store.list_organizations()
    }

    /// The access key with this hash, of any organization (authentication).
    pub(crate) fn find_org_key(&self, hash: &[u8; 32]) -> Result<Option<OrgKeyRow>> {
        Ok(self
            .store
            .find_org_key(hash)?
            .filter(|row| row.hash == *hash))
    }

    /// Records that the access key `id` was used at `now`.
    pub(crate) fn touch_org_key(&self, id: OrgKeyId, now: Timestamp) -> Result<()> {
        self.store.touch_org_key(id, now)
    }

    /// The signing key with this `kid`, of any organization (authentication).
    pub(crate) fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRow>> {
        Ok(self
            .store
            .find_signing_key(kid)?
            .filter(|row| row.kid == kid))
    }

    /// Re-seals everything sealed under the master key and stores the new `check`.
    pub(crate) fn reseal_all(
        &self,
        check: &[u8],
        reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
    ) -> Result<u64> {
        self.store.reseal_all(check, reseal)
    }
}

/// The kind of object a template of `kind` is, for errors.
fn template_object_kind(kind: TemplateKind) -> ObjectKind {
    match kind {
        TemplateKind::Source => ObjectKind::SourceTemplate,
        TemplateKind::Connection => ObjectKind::ConnectionTemplate,
    }
}

/// Calls inside one workspace, each checked against its tenant.
pub(crate) struct TenantRows<'a> {
    store: &'a dyn Store,
    guard: &'a Guard,
    tenant: &'a Tenant,
}

impl TenantRows<'_> {
    fn not_found_unless<T>(
        &self,
        row: Option<T>,
        kind: ObjectKind,
        id: impl std::fmt::Display,
        is: impl FnOnce(&T) -> bool,
    ) -> Result<T>
    where
        T: crate::engine::guard::TenantRow,
    {
        self.guard
            .admit_opt(self.tenant, row)?
            .filter(is)
            .ok_or_else(|| Error::not_found(kind, id))
    }

    /// The tenant's own workspace, live (not a tombstone).
    pub(crate) fn workspace(&self) -> Result<Workspace> {
        let row = self.store.load_workspace(self.tenant)?;
        self.not_found_unless(
            row,
            ObjectKind::Workspace,
            self.tenant.workspace_id(),
            |w| !w.is_deleted(),
        )
    }

    /// What authenticating a token of the tenant reads, its workspace admitted and live;
    /// not found otherwise.
    pub(crate) fn token_state(&self, jti: &str, kid: &str) -> Result<TokenState> {
        let not_found = || Error::not_found(ObjectKind::Workspace, self.tenant.workspace_id());
        let state = self
            .store
            .load_token_state(self.tenant, jti, kid)?
            .ok_or_else(not_found)?;
        let workspace = self.guard.admit(self.tenant, state.workspace)?;
        if workspace.is_deleted() {
            return Err(not_found());
        }
        Ok(TokenState { workspace, ..state })
    }

    /// Puts `jti` on the tenant's deny-list (no rows come back).
    pub(crate) fn revoke_token(
        &self,
        audited: &Tenant,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        self.store.revoke_token(audited, jti, expires_at, now)
    }

    /// The workspace's sealed data key, made by `make` on first use; not found if the
    /// workspace does not exist.
    pub(crate) fn sealed_data_key(&self, make: &dyn Fn() -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        self.store
            .workspace_data_key(self.tenant, make)?
            .ok_or_else(|| Error::not_found(ObjectKind::Workspace, self.tenant.workspace_id()))
    }

    /// Stores `source` with its `pipelines` in one transaction. Inside it, before the commit,
    /// each pipeline as stored is checked: as many as asked, each destination and connection
    /// admitted, then `linked` (the stored destination and connection, and the pipeline
    /// asked for) says whether they are wired as asked. A breach found there reaches the
    /// audit chain once the store call has returned.
    pub(crate) fn insert_source_with_pipelines(
        &self,
        audited: &Tenant,
        source: &EndpointRow,
        pipelines: &[Pipeline],
        linked: &dyn Fn(&Pipeline, &Pipeline) -> Result<()>,
    ) -> Result<Vec<Pipeline>> {
        let check = |made: &[Pipeline]| -> Result<()> {
            if made.len() != pipelines.len() {
                return Err(Error::Storage(StorageError::new(
                    "storage made a different number of pipelines than asked",
                )));
            }
            for (made, asked) in made.iter().zip(pipelines) {
                self.guard.admit(self.tenant, &made.destination)?;
                self.guard.admit(self.tenant, &made.connection)?;
                linked(made, asked)?;
            }
            Ok(())
        };
        let made = self
            .store
            .insert_source_with_pipelines(audited, source, pipelines, &|made| {
                inside_store_transaction(|| check(made))
            });
        self.guard.flush();
        made
    }

    /// Stores a new source or destination (no rows come back).
    pub(crate) fn insert_endpoint(&self, audited: &Tenant, row: &EndpointRow) -> Result<()> {
        self.store.insert_endpoint(audited, row)
    }

    /// The tenant's source or destination `id`.
    pub(crate) fn endpoint(&self, kind: EndpointKind, id: Uuid) -> Result<EndpointRow> {
        let row = self.store.get_endpoint(self.tenant, kind, id)?;
        self.not_found_unless(row, kind.object_kind(), id, |r| {
            r.kind == kind && r.id == id
        })
    }

    /// Up to `limit` of the tenant's sources or destinations, after `after`, without their
    /// secrets.
    pub(crate) fn endpoints(
        &self,
        kind: EndpointKind,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<EndpointRow<()>>> {
        let rows = self.store.list_endpoints(self.tenant, kind, after, limit)?;
        self.guard.admit_all(self.tenant, rows)
    }

    /// [`TenantRows::endpoints`] with their sealed secrets (a merge moves them).
    pub(crate) fn sealed_endpoints(
        &self,
        kind: EndpointKind,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<EndpointRow>> {
        let rows = self
            .store
            .list_sealed_endpoints(self.tenant, kind, after, limit)?;
        self.guard.admit_all(self.tenant, rows)
    }

    /// Applies `patch` to the tenant's source or destination `id`.
    pub(crate) fn update_endpoint(
        &self,
        audited: &Tenant,
        kind: EndpointKind,
        id: Uuid,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> Result<EndpointRow> {
        let row = self.store.update_endpoint(audited, kind, id, patch, now)?;
        self.not_found_unless(row, kind.object_kind(), id, |r| {
            r.kind == kind && r.id == id
        })
    }

    /// Deletes the tenant's source or destination `id`.
    pub(crate) fn delete_endpoint(
        &self,
        audited: &Tenant,
        kind: EndpointKind,
        id: Uuid,
    ) -> Result<()> {
        if self.store.delete_endpoint(audited, kind, id)? {
            Ok(())
        } else {
            Err(Error::not_found(kind.object_kind(), id))
        }
    }

    /// Stores a new connection (no rows come back).
    pub(crate) fn insert_connection(&self, audited: &Tenant, row: &Connection) -> Result<()> {
        self.store.insert_connection(audited, row)
    }

    /// The tenant's connection `id`.
    pub(crate) fn connection(&self, id: ConnectionId) -> Result<Connection> {
        let row = self.store.get_connection(self.tenant, id)?;
        self.not_found_unless(row, ObjectKind::Connection, id, |c| c.id == id)
    }

    /// Up to `limit` of the tenant's connections, after `after`.
    pub(crate) fn connections(
        &self,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<Connection>> {
        let rows = self.store.list_connections(self.tenant, after, limit)?;
        self.guard.admit_all(self.tenant, rows)
    }

    /// Applies `update` to the tenant's connection `id`.
    pub(crate) fn update_connection(
        &self,
        audited: &Tenant,
        id: ConnectionId,
        update: &ConnectionUpdate,
        now: Timestamp,
    ) -> Result<Connection> {
        let row = self.store.update_connection(audited, id, update, now)?;
        self.not_found_unless(row, ObjectKind::Connection, id, |c| c.id == id)
    }

    /// Deletes the tenant's connection `id` with its sync runs.
    pub(crate) fn delete_connection(&self, audited: &Tenant, id: ConnectionId) -> Result<()> {
        if self.store.delete_connection(audited, id)? {
            Ok(())
        } else {
            Err(Error::not_found(ObjectKind::Connection, id))
        }
    }

    /// Stores a new sync run (no rows come back).
    pub(crate) fn insert_sync_run(&self, audited: &Tenant, row: &SyncRun) -> Result<()> {
        self.store.insert_sync_run(audited, row)
    }

    /// The tenant's sync run `id`.
    pub(crate) fn sync_run(&self, id: SyncRunId) -> Result<SyncRun> {
        let row = self.store.get_sync_run(self.tenant, id)?;
        self.not_found_unless(row, ObjectKind::SyncRun, id, |r| r.id == id)
    }

    /// Up to `limit` runs of the tenant's connection `connection`, before `before`, each
    /// admitted, then checked to be a run of `connection` (`other` is the error otherwise).
    fn sync_runs_checked(
        &self,
        connection: ConnectionId,
        before: Option<Keyset>,
        limit: usize,
        other: impl FnOnce() -> Error,
    ) -> Result<Vec<SyncRun>> {
        let rows = self
            .store
            .list_sync_runs(self.tenant, connection, before, limit)?;
        let rows = self.guard.admit_all(self.tenant, rows)?;
        if rows.iter().any(|r| r.connection_id != connection) {
            return Err(other());
        }
        Ok(rows)
    }

    /// Up to `limit` runs of the tenant's connection `connection`, before `before`; a run of
    /// another connection is a storage error (the workspace's own listing).
    pub(crate) fn sync_runs(
        &self,
        connection: ConnectionId,
        before: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<SyncRun>> {
        self.sync_runs_checked(connection, before, limit, || {
            Error::Storage(StorageError::new(
                "storage returned a sync run of another connection",
            ))
        })
    }

    /// [`TenantRows::sync_runs`] for a merge, read by the organization: a run of another
    /// connection is an isolation breach of the organization (its actor, no workspace).
    pub(crate) fn sync_runs_to_merge(
        &self,
        connection: ConnectionId,
        before: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<SyncRun>> {
        self.sync_runs_checked(connection, before, limit, || {
            self.guard.breach(
                ObjectKind::SyncRun,
                self.tenant.org_id(),
                None,
                self.tenant.actor(),
            )
        })
    }

    /// Ends the tenant's run `id`; `None` if it had already ended.
    pub(crate) fn finish_sync_run(
        &self,
        audited: &Tenant,
        id: SyncRunId,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        let row = self.store.finish_sync_run(audited, id, finish)?;
        match self.guard.admit_opt(self.tenant, row)? {
            Some(run) if run.id == id => Ok(Some(run)),
            Some(_) => Err(Error::not_found(ObjectKind::SyncRun, id)),
            None => Ok(None),
        }
    }

    /// The tenant's dashboard figures, its connections and latest runs admitted.
    pub(crate) fn activity(&self, since: Timestamp) -> Result<WorkspaceActivity> {
        let activity = self.store.workspace_activity(self.tenant, since)?;
        let connections = self.guard.admit_all(self.tenant, activity.connections)?;
        let latest_runs = self.guard.admit_all(self.tenant, activity.latest_runs)?;
        Ok(WorkspaceActivity {
            connections,
            latest_runs,
            ..activity
        })
    }
}

/// Calls about one organization, each checked against it.
pub(crate) struct OrgRows<'a> {
    store: &'a dyn Store,
    guard: &'a Guard,
    org: &'a OrgCtx,
}

impl OrgRows<'_> {
    /// The isolation-breach error of a `kind` row of another organization.
    fn breach(&self, kind: ObjectKind) -> Error {
        self.guard
            .breach(kind, self.org.org_id(), None, self.org.actor())
    }

    /// Fails closed unless every row of `rows` is the organization's (by `owner`).
    fn all_owned<T>(
        &self,
        rows: Vec<T>,
        kind: ObjectKind,
        owner: impl Fn(&T) -> OrgId,
    ) -> Result<Vec<T>> {
        if rows.iter().any(|r| owner(r) != self.org.org_id()) {
            return Err(self.breach(kind));
        }
        Ok(rows)
    }

    fn admit_workspace(
        &self,
        row: Option<Workspace>,
        is: impl FnOnce(&Workspace) -> bool,
    ) -> Result<Option<Workspace>> {
        Ok(self.guard.admit_org_opt(self.org, row)?.filter(is))
    }

    // The organization itself.

    /// Stores the new organization of this handle with its first keys (no rows come back).
    pub(crate) fn insert_organization(
        &self,
        org: &Organization,
        first_key: &OrgKeyRow,
        signing_key: &SigningKeyRow,
    ) -> Result<()> {
        self.store
            .insert_organization(self.org, org, first_key, signing_key)
    }

    /// Replaces the organization's settings; not found if it has gone.
    pub(crate) fn update_settings(
        &self,
        audited: &OrgCtx,
        settings: &OrgSettings,
    ) -> Result<Organization> {
        let org = self
            .store
            .update_org_settings(audited, settings)?
            .ok_or_else(|| Error::not_found(ObjectKind::Organization, self.org.org_id()))?;
        if org.id != self.org.org_id() {
            return Err(self.breach(ObjectKind::Organization));
        }
        Ok(org)
    }

    /// Stores a new access key (no rows come back).
    pub(crate) fn insert_org_key(&self, audited: &OrgCtx, row: &OrgKeyRow) -> Result<()> {
        self.store.insert_org_key(audited, row)
    }

    /// The organization's access keys, oldest first.
    pub(crate) fn org_keys(&self) -> Result<Vec<OrgKeyRow>> {
        let rows = self.store.list_org_keys(self.org)?;
        self.all_owned(rows, ObjectKind::Organization, |r| r.org_id)
    }

    /// Revokes the organization's key `id`.
    pub(crate) fn revoke_org_key(
        &self,
        audited: &OrgCtx,
        id: OrgKeyId,
        now: Timestamp,
    ) -> Result<OrgKeyRow> {
        let row = self
            .store
            .revoke_org_key(audited, id, now)?
            .ok_or_else(|| Error::not_found(ObjectKind::OrgKey, id))?;
        if row.org_id != self.org.org_id() {
            return Err(self.breach(ObjectKind::Organization));
        }
        Ok(row)
    }

    /// Makes `new` the organization's signer (no rows come back).
    pub(crate) fn rotate_signing_key(
        &self,
        audited: &OrgCtx,
        new: &SigningKeyRow,
        retire_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        self.store.rotate_signing_key(audited, new, retire_at, now)
    }

    /// Retires the organization's signing key `kid` at `at`; `false` if it has none such.
    pub(crate) fn retire_signing_key(
        &self,
        audited: &OrgCtx,
        kid: &str,
        at: Timestamp,
    ) -> Result<bool> {
        self.store.retire_signing_key(audited, kid, at)
    }

    /// The organization's signing keys, newest first.
    pub(crate) fn signing_keys(&self) -> Result<Vec<SigningKeyRow>> {
        let rows = self.store.list_signing_keys(self.org)?;
        self.all_owned(rows, ObjectKind::Organization, |r| r.org_id)
    }

    // Its workspaces.

    /// Gets or creates the workspace of `candidate`'s external id; an isolation breach if
    /// storage returns another organization's or another external id's.
    pub(crate) fn get_or_create_workspace(
        &self,
        audited: &OrgCtx,
        candidate: &Workspace,
        update: &WorkspaceUpdate,
    ) -> Result<GetOrCreated> {
        let GetOrCreated { workspace, created } = self
            .store
            .get_or_create_workspace(audited, candidate, update)?;
        let workspace = self.guard.admit_org(self.org, workspace)?;
        if workspace.external_id != candidate.external_id {
            return Err(self.breach(ObjectKind::Workspace));
        }
        Ok(GetOrCreated { workspace, created })
    }

    /// The organization's workspace with this external id (tombstones included).
    pub(crate) fn workspace_by_external_id(
        &self,
        external_id: &ExternalId,
    ) -> Result<Option<Workspace>> {
        let found = self.store.find_workspace(self.org, external_id)?;
        self.admit_workspace(found, |w| w.external_id == *external_id)
    }

    /// The organization's workspace `id` (tombstones included).
    pub(crate) fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        let found = self.store.get_workspace(self.org, id)?;
        self.admit_workspace(found, |w| w.id == id)
    }

    /// Up to `limit` of the organization's live workspaces matching `filter`, after `after`.
    pub(crate) fn workspaces(
        &self,
        filter: &WorkspaceFilter,
        after: Option<&ExternalId>,
        limit: usize,
    ) -> Result<Vec<Workspace>> {
        self.store
            .list_workspaces(self.org, filter, after, limit)?
            .into_iter()
            .map(|w| self.guard.admit_org(self.org, w))
            .collect()
    }

    /// The organization's live workspaces counted by status.
    pub(crate) fn count_workspaces(&self) -> Result<Vec<StatusCount>> {
        let counts = self.store.count_workspaces(self.org)?;
        self.all_owned(counts, ObjectKind::Workspace, |c| c.org_id)
    }

    /// The organization's workspaces created since `since`, counted by the hour.
    pub(crate) fn count_workspace_creations(&self, since: Timestamp) -> Result<Vec<CreationCount>> {
        let counts = self.store.count_workspace_creations(self.org, since)?;
        self.all_owned(counts, ObjectKind::Workspace, |c| c.org_id)
    }

    /// Applies `update` to the organization's live workspace `id`; `None` if there is none.
    /// `written` runs once the store's call has returned, before the row is checked (a
    /// refused row may still have been written).
    pub(crate) fn update_workspace(
        &self,
        audited: &OrgCtx,
        id: WorkspaceId,
        update: &WorkspaceUpdate,
        now: Timestamp,
        written: impl FnOnce(),
    ) -> Result<Option<Workspace>> {
        let updated = self.store.update_workspace(audited, id, update, now)?;
        written();
        self.admit_workspace(updated, |w| w.id == id)
    }

    /// Makes the live workspace `id` a tombstone; the tombstone, or `None` if there was no
    /// live workspace `id`. `written` runs as for [`OrgRows::update_workspace`].
    pub(crate) fn delete_workspace(
        &self,
        audited: &OrgCtx,
        id: WorkspaceId,
        at: Timestamp,
        merged_into: Option<WorkspaceId>,
        written: impl FnOnce(),
    ) -> Result<Option<Workspace>> {
        let deleted = self.store.delete_workspace(audited, id, at, merged_into)?;
        written();
        self.admit_workspace(deleted, |w| w.id == id && w.is_deleted())
    }

    /// Purges the workspace `id`; `false` if there is none (no rows come back).
    pub(crate) fn purge_workspace(&self, audited: &OrgCtx, id: WorkspaceId) -> Result<bool> {
        self.store.purge_workspace(audited, id)
    }

    /// Merges the workspace of `from` into that of `into` (no rows come back).
    pub(crate) fn merge_workspace(
        &self,
        audited: &OrgCtx,
        from: &Tenant,
        into: &Tenant,
        rows: &MergeRows,
        at: Timestamp,
    ) -> Result<bool> {
        self.store.merge_workspace(audited, from, into, rows, at)
    }

    /// Up to `limit` of the organization's tombstones deleted at or before `before`, each
    /// checked as it is taken (the organization's, and deleted by then): a caller that acts
    /// on each in turn acts on none after the first that fails.
    pub(crate) fn deleted_workspaces(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<impl ExactSizeIterator<Item = Result<Workspace>> + '_> {
        let batch = self
            .store
            .list_deleted_workspaces(self.org, before, limit)?;
        Ok(batch.into_iter().map(move |tombstone| {
            let tombstone = self.guard.admit_org(self.org, tombstone)?;
            if tombstone.deleted_at.is_none_or(|at| at > before) {
                return Err(self.breach(ObjectKind::Workspace));
            }
            Ok(tombstone)
        }))
    }

    /// Revokes every token of the workspace `id` issued until `at`; not found if there is no
    /// such workspace.
    pub(crate) fn revoke_workspace_tokens(
        &self,
        audited: &OrgCtx,
        id: WorkspaceId,
        at: Timestamp,
    ) -> Result<Workspace> {
        let updated = self.store.revoke_workspace_tokens(audited, id, at)?;
        self.admit_workspace(updated, |w| w.id == id)?
            .ok_or_else(|| Error::not_found(ObjectKind::Workspace, id))
    }

    // Its catalog.

    /// Creates the tag `name` (tags carry no owner: nothing to check).
    pub(crate) fn create_tag(
        &self,
        audited: &OrgCtx,
        name: &Tag,
        now: Timestamp,
    ) -> Result<TagInfo> {
        self.store.create_tag(audited, name, now)
    }

    /// The organization's tags (tags carry no owner: nothing to check).
    pub(crate) fn tags(&self) -> Result<Vec<TagInfo>> {
        self.store.list_tags(self.org)
    }

    /// Renames a tag; `false` if there is none.
    pub(crate) fn rename_tag(&self, audited: &OrgCtx, from: &Tag, to: &Tag) -> Result<bool> {
        self.store.rename_tag(audited, from, to)
    }

    /// Deletes a tag; `false` if there is none.
    pub(crate) fn delete_tag(&self, audited: &OrgCtx, name: &Tag) -> Result<bool> {
        self.store.delete_tag(audited, name)
    }

    /// Stores a new template (no rows come back).
    pub(crate) fn insert_template(&self, audited: &OrgCtx, row: &TemplateRow) -> Result<()> {
        self.store.insert_template(audited, row)
    }

    /// Replaces a template; `false` if there is none.
    pub(crate) fn replace_template(&self, audited: &OrgCtx, row: &TemplateRow) -> Result<bool> {
        self.store.replace_template(audited, row)
    }

    /// Deletes a template; `false` if there is none.
    pub(crate) fn delete_template(
        &self,
        audited: &OrgCtx,
        kind: TemplateKind,
        id: Uuid,
    ) -> Result<bool> {
        self.store.delete_template(audited, kind, id)
    }

    /// `row`, if it is the organization's template of `kind`; else fails closed.
    fn template_checked(&self, kind: TemplateKind, row: TemplateRow) -> Result<TemplateRow> {
        if row.org_id == self.org.org_id() && row.kind == kind {
            Ok(row)
        } else {
            Err(self.breach(template_object_kind(kind)))
        }
    }

    /// The organization's templates of `kind`, oldest first.
    pub(crate) fn templates(&self, kind: TemplateKind) -> Result<Vec<TemplateRow>> {
        self.store
            .list_templates(self.org, kind)?
            .into_iter()
            .map(|row| self.template_checked(kind, row))
            .collect()
    }

    /// The organization's template `id` of `kind`.
    pub(crate) fn template(&self, kind: TemplateKind, id: Uuid) -> Result<Option<TemplateRow>> {
        match self.store.get_template(self.org, kind, id)? {
            Some(row) if row.id == id => self.template_checked(kind, row).map(Some),
            Some(row) => self.template_checked(kind, row).map(|_| None),
            None => Ok(None),
        }
    }

    // Its audit chain.

    /// Appends `draft` to the organization's chain, alone.
    pub(crate) fn append_audit(&self, draft: &AuditDraft) -> Result<AuditEvent> {
        self.store.append_audit(self.org, draft)
    }

    /// Up to `limit` of the organization's events matching `filter`, in chain order, after
    /// `after`.
    pub(crate) fn audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let events = self.store.list_audit(self.org, filter, after, limit)?;
        self.all_owned(events, ObjectKind::Organization, |e| e.org_id)
    }

    /// Up to `limit` of the organization's events matching `filter`, newest first, before
    /// `before`.
    pub(crate) fn audit_events_newest(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let events = self
            .store
            .list_audit_newest(self.org, filter, before, limit)?;
        self.all_owned(events, ObjectKind::Organization, |e| e.org_id)
    }

    /// Up to `limit` of the organization's events, in chain order, after `after`, **as
    /// stored**: for the chain's verification only, which checks each event's organization
    /// and links itself and reports the first that fails as a broken link.
    pub(crate) fn audit_chain_unchecked(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        self.store
            .list_audit(self.org, &AuditFilter::default(), after, limit)
    }
}
