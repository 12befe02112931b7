//! [`MemoryStore`]: the storage port in memory, with no database under it.
//!
//! A reference for what the port's scope rules mean, and a store the engine runs on in tests
//! (and benches) that need no file: its rows are `Vec`s in one mutex ([`MemoryStore::tables`],
//! which a test may read; [`MemoryStore::dump`] for the harness), each call one critical
//! section, so a call happens whole or not at all. It keeps every call inside its tenant or
//! organization, and the isolation [`model`](crate::model) runs on it (this module's unit
//! test). It is small rather than complete: writes do not append audit events, merges are
//! refused (a conflict), a listing of the audit chain ignores its filter, and references inside
//! a request (a connection's source) are not checked. So it does not run the adapters'
//! conformance suite.
//!
//! [`MemoryStore::leaky`] makes it the classic tenancy bug instead, which
//! `tests/guard_alone.rs` uses to show that the engine's guard alone stops a leak: its tenant
//! reads forget the tenant (`get_*` and `update_*` match on id only, `list_*` return every row
//! of the kind, `load_workspace` and `load_token_state` return a workspace of any organization,
//! as [`TokenLookup`] says), and so do its tenant reads of secrets and pipelines:
//! `workspace_data_key` matches the workspace id without its organization, and
//! `insert_source_with_pipelines` looks up the destination it connects a new source to by its
//! connection template, not in the tenant's workspace. [`Leak`] says what else forgets its
//! scope: the organization-level workspace reads (including the get-or-create behind the
//! scoped-token flow) and the listings of an organization's access keys and signing keys.
//! Its credential lookups (by key hash, by `kid`), its organization rows, its catalog (tags,
//! templates), its re-sealing under a new master key and its writes of credentials are correct
//! unless a test switches on one of the [`OrgLeaks`] (an org-key lookup that ignores the hash,
//! a key revocation that ignores the organization, a settings write and an organization read
//! that answer with another organization's row, template reads that answer with every
//! organization's templates, an audit listing that answers with every organization's events)
//! or the [`TenantLeaks`] (a data-key lookup that returns the first key stored, whoever's).
//! These switches leak in a correct store too.
//!
//! Each leak is written where the correct query is, as the `WHERE` clause it forgets; the
//! comments marked LEAK name it.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bulkhead_core::audit::{AuditDraft, AuditEvent, AuditFilter};
use bulkhead_core::keys::{OrgKeyRow, SigningKeyRow};
use bulkhead_core::secrets::SealedSecrets;
use bulkhead_core::store::{
    AuditStore, CatalogStore, CreationCount, EndpointKind, EndpointPatch, EndpointRow, Keyset,
    MergeRows, OrgStore, Pipeline, SealedItem, StatusCount, SyncFinish, SystemStore, TemplateKind,
    TemplateRow, TenantStore, TokenState, WorkspaceActivity, WorkspaceStore,
};
use bulkhead_core::{
    Connection, ConnectionId, ConnectionUpdate, DestinationId, Error, ExternalId, GetOrCreated,
    OrgCtx, OrgId, OrgKeyId, OrgSettings, Organization, Result, SyncRun, SyncRunId, SyncStatus,
    Tag, TagInfo, Tenant, Timestamp, Workspace, WorkspaceFilter, WorkspaceId, WorkspaceUpdate,
};
use uuid::Uuid;

use crate::conformance::{RowKind, StoredRow, TenantObject};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which reads of a leaky [`MemoryStore`] ignore their scope. Each mode leaks what the one
/// before it leaks, and more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leak {
    /// Tenant reads ignore the tenant; organization-level reads are correct.
    TenantRows,
    /// Tenant reads ignore the tenant, and organization-level workspace reads (and the
    /// get-or-create of the scoped-token flow) ignore the organization.
    TenantAndOrgRows,
    /// Everything `TenantAndOrgRows` leaks, and the listings of an organization's access keys
    /// and signing keys return every organization's.
    Everything,
}

impl Leak {
    /// Whether organization-level workspace reads ignore the organization.
    fn org_rows(self) -> bool {
        self != Self::TenantRows
    }

    /// Whether the key listings ignore the organization.
    fn key_rows(self) -> bool {
        self == Self::Everything
    }
}

/// How the leaky `load_token_state` forgets the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenLookup {
    /// `… FROM workspaces ORDER BY created_at DESC LIMIT 1`: the newest workspace of any
    /// organization, whatever the token names.
    Newest,
    /// `… FROM workspaces WHERE id = ?` without `AND org_id = ?`: the workspace with the
    /// token's id, in whichever organization has it.
    IdOnly,
}

/// Leaks of the organization and org-key rows, each independent of [`Leak`] and off until a
/// test switches it on with [`MemoryStore::set_org_leaks`] (the fixture needs these rows right
/// to build its organizations and log them in).
#[derive(Clone, Copy, Debug, Default)]
pub struct OrgLeaks {
    /// `find_org_key` lost its `WHERE hash = ?`: it returns the oldest org key (org 1's first),
    /// whatever the hash.
    pub key_of_any_hash: bool,
    /// `revoke_org_key` lost its `AND org_id = ?`: it revokes, and returns, the key with the id
    /// in whichever organization has it.
    pub revoke_by_id_only: bool,
    /// `update_org_settings` lost its `WHERE id = ?` and picks the newest organization: it
    /// writes the settings to that one's row and returns it, whoever called.
    pub settings_of_newest_org: bool,
    /// `get_organization` lost its `WHERE id = ?`: it returns the newest organization, whatever
    /// the id.
    pub newest_org: bool,
    /// `list_templates` and `get_template` lost their `org_id = ?`: the listing returns every
    /// organization's templates of the kind, the lookup matches the template id in whichever
    /// organization has it.
    pub templates_of_every_org: bool,
    /// `list_audit` lost its `org_id = ?`: it returns every organization's events after the
    /// sequence number.
    pub audit_of_every_org: bool,
}

/// Leaks of tenant rows beyond what [`Leak`] does, off until a test switches them on with
/// [`MemoryStore::set_tenant_leaks`] (the fixtures need data keys right to seal their secrets).
#[derive(Clone, Copy, Debug, Default)]
pub struct TenantLeaks {
    /// `workspace_data_key` lost its `WHERE workspace_id = ?`: it returns the first data key
    /// stored, whoever's (and makes one for the tenant only while none is stored at all).
    pub first_data_key: bool,
}

/// A workspace's data key, sealed under the master key (the `sealed_dek` column).
#[derive(Debug)]
pub struct DataKeyRow {
    /// The workspace's organization.
    pub org_id: OrgId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The data key, sealed under the master key.
    pub sealed: Vec<u8>,
}

/// An entry of the deny-list of scoped tokens.
#[derive(Debug)]
pub struct RevokedToken {
    /// The token's workspace.
    pub workspace_id: WorkspaceId,
    /// The token's `jti`.
    pub jti: String,
    /// When the token expires (and the entry may go).
    pub expires_at: Timestamp,
}

/// The rows of a [`MemoryStore`], one `Vec` a table, in insertion order.
#[derive(Debug, Default)]
pub struct Tables {
    /// The master-key check value, once stored.
    pub master_key_check: Option<Vec<u8>>,
    /// Organizations.
    pub organizations: Vec<Organization>,
    /// Organization access keys.
    pub org_keys: Vec<OrgKeyRow>,
    /// Signing keys.
    pub signing_keys: Vec<SigningKeyRow>,
    /// Workspaces, tombstones included.
    pub workspaces: Vec<Workspace>,
    /// The deny-list of scoped tokens.
    pub revoked_tokens: Vec<RevokedToken>,
    /// Sources and destinations.
    pub endpoints: Vec<EndpointRow>,
    /// Connections.
    pub connections: Vec<Connection>,
    /// Sync runs.
    pub sync_runs: Vec<SyncRun>,
    /// Tags, with their organization.
    pub tags: Vec<(OrgId, TagInfo)>,
    /// Source and connection templates.
    pub templates: Vec<TemplateRow>,
    /// Workspace data keys.
    pub data_keys: Vec<DataKeyRow>,
    /// Every organization's audit events, in the order appended.
    pub audit: Vec<AuditEvent>,
}

/// A store in memory (see the module docs): correct from [`MemoryStore::new`], leaky from
/// [`MemoryStore::leaky`].
#[derive(Debug)]
pub struct MemoryStore {
    /// `None`: every call keeps to its scope.
    leak: Option<Leak>,
    token_lookup: Mutex<TokenLookup>,
    org_leaks: Mutex<OrgLeaks>,
    tenant_leaks: Mutex<TenantLeaks>,
    tables: Mutex<Tables>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// Every stored tenant row, as the conformance harness's dump sees it (whose it is).
    pub fn dump(&self) -> Vec<StoredRow> {
        let t = self.tables();
        let endpoints = t.endpoints.iter().map(|r| StoredRow {
            kind: match r.kind {
                EndpointKind::Source => RowKind::Source,
                EndpointKind::Destination => RowKind::Destination,
            },
            id: r.id,
            org_id: r.org_id,
            workspace_id: r.workspace_id,
        });
        t.workspaces
            .iter()
            .map(TenantObject::stored_row)
            .chain(endpoints)
            .chain(t.connections.iter().map(TenantObject::stored_row))
            .chain(t.sync_runs.iter().map(TenantObject::stored_row))
            .collect()
    }

    /// An empty store whose every call keeps to its tenant or organization.
    pub fn new() -> Self {
        Self::with_leak(None)
    }

    /// An empty store with the classic tenancy bug: its tenant reads (and some of its tenant
    /// writes) forget the tenant, and `leak` says what else forgets its scope. The
    /// [`OrgLeaks`] and [`TenantLeaks`] are off until switched on.
    pub fn leaky(leak: Leak) -> Self {
        Self::with_leak(Some(leak))
    }

    fn with_leak(leak: Option<Leak>) -> Self {
        Self {
            leak,
            token_lookup: Mutex::new(TokenLookup::Newest),
            org_leaks: Mutex::new(OrgLeaks::default()),
            tenant_leaks: Mutex::new(TenantLeaks::default()),
            tables: Mutex::new(Tables::default()),
        }
    }

    /// The stored rows, locked, for a test to look at (or change) them.
    pub fn tables(&self) -> MutexGuard<'_, Tables> {
        lock(&self.tables)
    }

    /// Sets how a leaky store's `load_token_state` forgets the tenant
    /// ([`TokenLookup::Newest`] at first).
    pub fn set_token_lookup(&self, lookup: TokenLookup) {
        *lock(&self.token_lookup) = lookup;
    }

    /// Switches the [`OrgLeaks`] (all off at first). They leak in a correct store too.
    pub fn set_org_leaks(&self, leaks: OrgLeaks) {
        *lock(&self.org_leaks) = leaks;
    }

    fn org_leaks(&self) -> OrgLeaks {
        *lock(&self.org_leaks)
    }

    /// Switches the [`TenantLeaks`] (all off at first). They leak in a correct store too.
    pub fn set_tenant_leaks(&self, leaks: TenantLeaks) {
        *lock(&self.tenant_leaks) = leaks;
    }

    fn tenant_leaks(&self) -> TenantLeaks {
        *lock(&self.tenant_leaks)
    }

    /// Whether tenant reads forget the tenant (every leaky mode).
    fn leaks_tenant_rows(&self) -> bool {
        self.leak.is_some()
    }

    /// Whether a tenant call should see a row of `org_id`'s workspace `workspace_id`: any row
    /// when tenant reads leak, else only the tenant's own.
    fn tenant_sees(&self, tenant: &Tenant, org_id: OrgId, workspace_id: WorkspaceId) -> bool {
        self.leaks_tenant_rows()
            || (org_id == tenant.org_id() && workspace_id == tenant.workspace_id())
    }

    /// Whether a template read should keep `row`: every organization's while the template leak
    /// is on, else only the caller's.
    fn org_sees_template(&self, org: &OrgCtx, row: &TemplateRow) -> bool {
        self.org_leaks().templates_of_every_org || row.org_id == org.org_id()
    }

    /// Whether an organization-level read should keep this workspace: every workspace when
    /// organization reads leak, else only the organization's own.
    fn org_sees(&self, org: &OrgCtx, w: &Workspace) -> bool {
        self.leak.is_some_and(Leak::org_rows) || w.org_id == org.org_id()
    }

    /// Whether a key listing should keep a key of `owner`.
    fn org_sees_key(&self, org: &OrgCtx, owner: OrgId) -> bool {
        self.leak.is_some_and(Leak::key_rows) || owner == org.org_id()
    }
}

fn apply_endpoint_patch(row: &mut EndpointRow, patch: &EndpointPatch, now: Timestamp) {
    if let Some(name) = &patch.name {
        row.name = name.clone();
    }
    if let Some((config, secrets)) = &patch.config {
        row.config = config.clone();
        row.secrets = secrets.clone();
    }
    row.updated_at = now;
}

/// Fails with invalid input unless every tag of `tags` exists in the organization `org`.
fn check_tags_exist(t: &Tables, org: OrgId, tags: &BTreeSet<Tag>) -> Result<()> {
    match tags.iter().find(|tag| {
        !t.tags
            .iter()
            .any(|(o, info)| *o == org && info.name == **tag)
    }) {
        Some(missing) => Err(Error::invalid_input(
            "tags",
            format!("tag `{missing}` does not exist"),
        )),
        None => Ok(()),
    }
}

fn apply_workspace_update(w: &mut Workspace, update: &WorkspaceUpdate, now: Timestamp) {
    if let Some(name) = &update.name {
        w.name = name.clone();
    }
    if let Some(status) = update.status {
        w.status = status;
    }
    if let Some(tags) = &update.source_tags {
        w.source_tags = tags.clone();
    }
    if let Some(tags) = &update.connection_tags {
        w.connection_tags = tags.clone();
    }
    w.updated_at = now;
}

impl SystemStore for MemoryStore {
    fn master_key_check(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        Ok(self
            .tables()
            .master_key_check
            .get_or_insert_with(|| candidate.to_vec())
            .clone())
    }

    fn get_organization(&self, id: OrgId) -> Result<Option<Organization>> {
        let newest = self.org_leaks().newest_org;
        let t = self.tables();
        if newest {
            // LEAK (when switched on): the newest organization, whatever the id.
            return Ok(t.organizations.last().cloned());
        }
        Ok(t.organizations.iter().find(|o| o.id == id).cloned())
    }

    fn list_organizations(&self) -> Result<Vec<Organization>> {
        Ok(self.tables().organizations.clone())
    }

    fn find_org_key(&self, hash: &[u8; 32]) -> Result<Option<OrgKeyRow>> {
        let any_hash = self.org_leaks().key_of_any_hash;
        // LEAK (when switched on): the oldest key, whatever the hash.
        Ok(self
            .tables()
            .org_keys
            .iter()
            .find(|k| any_hash || k.hash == *hash)
            .cloned())
    }

    fn touch_org_key(&self, id: OrgKeyId, now: Timestamp) -> Result<()> {
        if let Some(k) = self.tables().org_keys.iter_mut().find(|k| k.id == id) {
            k.last_used_at = Some(now);
        }
        Ok(())
    }

    fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRow>> {
        Ok(self
            .tables()
            .signing_keys
            .iter()
            .find(|k| k.kid == kid)
            .cloned())
    }

    // One transaction: every value is re-sealed before any is stored, so a failure stores
    // nothing.
    fn reseal_all(
        &self,
        check: &[u8],
        reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
    ) -> Result<u64> {
        let mut t = self.tables();
        let data_keys = t
            .data_keys
            .iter()
            .map(|k| {
                reseal(SealedItem::DataKey {
                    org_id: k.org_id,
                    workspace_id: k.workspace_id,
                    sealed: &k.sealed,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let signing_keys = t
            .signing_keys
            .iter()
            .map(|k| {
                reseal(SealedItem::SigningKey {
                    org_id: k.org_id,
                    kid: &k.kid,
                    sealed: &k.sealed_secret,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let template_secrets = t
            .templates
            .iter()
            .map(|r| {
                let new = reseal(SealedItem::TemplateSecrets {
                    org_id: r.org_id,
                    template_id: r.id,
                    stored: &r.secrets.to_stored(),
                })?;
                let text = String::from_utf8(new)
                    .map_err(|_| Error::crypto("re-sealed template secrets are not text"))?;
                SealedSecrets::from_stored(&text)
            })
            .collect::<Result<Vec<_>>>()?;
        let count = data_keys.len() + signing_keys.len() + template_secrets.len();
        for (k, sealed) in t.data_keys.iter_mut().zip(data_keys) {
            k.sealed = sealed;
        }
        for (k, sealed) in t.signing_keys.iter_mut().zip(signing_keys) {
            k.sealed_secret = sealed;
        }
        for (r, secrets) in t.templates.iter_mut().zip(template_secrets) {
            r.secrets = secrets;
        }
        t.master_key_check = Some(check.to_vec());
        Ok(u64::try_from(count).unwrap_or(u64::MAX))
    }
}

impl OrgStore for MemoryStore {
    fn insert_organization(
        &self,
        _ctx: &OrgCtx,
        org: &Organization,
        first_key: &OrgKeyRow,
        signing_key: &SigningKeyRow,
    ) -> Result<()> {
        let mut t = self.tables();
        t.organizations.push(org.clone());
        t.org_keys.push(first_key.clone());
        t.signing_keys.push(signing_key.clone());
        Ok(())
    }

    fn update_org_settings(
        &self,
        org: &OrgCtx,
        settings: &OrgSettings,
    ) -> Result<Option<Organization>> {
        let newest = self.org_leaks().settings_of_newest_org;
        let mut t = self.tables();
        let found = if newest {
            // LEAK (when switched on): the newest organization, whoever called.
            t.organizations.last_mut()
        } else {
            t.organizations.iter_mut().find(|o| o.id == org.org_id())
        };
        let Some(o) = found else {
            return Ok(None);
        };
        o.settings = settings.clone();
        Ok(Some(o.clone()))
    }

    fn insert_org_key(&self, org: &OrgCtx, row: &OrgKeyRow) -> Result<()> {
        if row.org_id != org.org_id() {
            return Err(Error::conflict(
                "an org key must belong to the calling organization",
            ));
        }
        self.tables().org_keys.push(row.clone());
        Ok(())
    }

    // Correct in the first two modes; in the third, LEAK: every organization's keys.
    fn list_org_keys(&self, org: &OrgCtx) -> Result<Vec<OrgKeyRow>> {
        let mut rows: Vec<OrgKeyRow> = self
            .tables()
            .org_keys
            .iter()
            .filter(|k| self.org_sees_key(org, k.org_id))
            .cloned()
            .collect();
        rows.sort_by_key(|k| (k.created_at, *k.id.as_uuid()));
        Ok(rows)
    }

    fn revoke_org_key(
        &self,
        org: &OrgCtx,
        id: OrgKeyId,
        now: Timestamp,
    ) -> Result<Option<OrgKeyRow>> {
        let by_id_only = self.org_leaks().revoke_by_id_only;
        let mut t = self.tables();
        // LEAK (when switched on): the key with the id, in any organization.
        let Some(k) = t
            .org_keys
            .iter_mut()
            .find(|k| k.id == id && (by_id_only || k.org_id == org.org_id()))
        else {
            return Ok(None);
        };
        k.revoked_at.get_or_insert(now);
        Ok(Some(k.clone()))
    }

    fn rotate_signing_key(
        &self,
        org: &OrgCtx,
        new: &SigningKeyRow,
        retire_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        if new.org_id != org.org_id() {
            return Err(Error::conflict(
                "a signing key must belong to the calling organization",
            ));
        }
        let mut t = self.tables();
        for k in t
            .signing_keys
            .iter_mut()
            .filter(|k| k.org_id == org.org_id() && k.retire_at.is_none())
        {
            k.retire_at = Some(retire_at);
        }
        t.signing_keys
            .retain(|k| !(k.org_id == org.org_id() && k.retire_at.is_some_and(|at| at <= now)));
        t.signing_keys.push(new.clone());
        Ok(())
    }

    fn retire_signing_key(&self, org: &OrgCtx, kid: &str, at: Timestamp) -> Result<bool> {
        let mut t = self.tables();
        let key = t.signing_keys.iter_mut().find(|k| {
            k.org_id == org.org_id() && k.kid == kid && k.retire_at.is_none_or(|r| r > at)
        });
        Ok(key.map(|k| k.retire_at = Some(at)).is_some())
    }

    // Correct in the first two modes; in the third, LEAK: every organization's keys.
    fn list_signing_keys(&self, org: &OrgCtx) -> Result<Vec<SigningKeyRow>> {
        let mut rows: Vec<SigningKeyRow> = self
            .tables()
            .signing_keys
            .iter()
            .filter(|k| self.org_sees_key(org, k.org_id))
            .cloned()
            .collect();
        rows.sort_by(|x, y| {
            y.created_at
                .cmp(&x.created_at)
                .then_with(|| x.kid.cmp(&y.kid))
        });
        Ok(rows)
    }
}

impl WorkspaceStore for MemoryStore {
    // Correct in the tenant-only mode: the fixture needs it to make workspaces. In the other
    // modes, LEAK: matches the external id in every organization and ignoring case (a NOCASE
    // collation without the org filter), and applies `update` to whatever it found.
    fn get_or_create_workspace(
        &self,
        org: &OrgCtx,
        candidate: &Workspace,
        update: &WorkspaceUpdate,
    ) -> Result<GetOrCreated> {
        let org_rows = self.leak.is_some_and(Leak::org_rows);
        let mut t = self.tables();
        if let Some(found) = t.workspaces.iter_mut().find(|w| {
            if org_rows {
                w.external_id
                    .as_str()
                    .eq_ignore_ascii_case(candidate.external_id.as_str())
            } else {
                w.org_id == org.org_id() && w.external_id == candidate.external_id
            }
        }) {
            if !update.is_empty() {
                apply_workspace_update(found, update, candidate.updated_at);
            }
            return Ok(GetOrCreated {
                workspace: found.clone(),
                created: false,
            });
        }
        t.workspaces.push(candidate.clone());
        Ok(GetOrCreated {
            workspace: candidate.clone(),
            created: true,
        })
    }

    fn get_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<Option<Workspace>> {
        Ok(self
            .tables()
            .workspaces
            .iter()
            .find(|w| w.id == id && self.org_sees(org, w))
            .cloned())
    }

    fn find_workspace(&self, org: &OrgCtx, external_id: &ExternalId) -> Result<Option<Workspace>> {
        Ok(self
            .tables()
            .workspaces
            .iter()
            .find(|w| w.external_id == *external_id && self.org_sees(org, w))
            .cloned())
    }

    fn list_workspaces(
        &self,
        org: &OrgCtx,
        filter: &WorkspaceFilter,
        after: Option<&ExternalId>,
        limit: usize,
    ) -> Result<Vec<Workspace>> {
        let mut rows: Vec<Workspace> = self
            .tables()
            .workspaces
            .iter()
            .filter(|w| self.org_sees(org, w) && !w.is_deleted())
            .filter(|w| {
                filter
                    .external_id_prefix
                    .as_deref()
                    .is_none_or(|p| w.external_id.as_str().starts_with(p))
            })
            .filter(|w| filter.status.is_none_or(|s| w.status == s))
            .filter(|w| {
                filter
                    .name_contains
                    .as_deref()
                    .is_none_or(|n| w.name.as_str().to_ascii_lowercase().contains(n))
            })
            .filter(|w| after.is_none_or(|a| w.external_id > *a))
            .cloned()
            .collect();
        rows.sort_by(|x, y| x.external_id.cmp(&y.external_id));
        rows.truncate(limit);
        Ok(rows)
    }

    fn count_workspaces(&self, org: &OrgCtx) -> Result<Vec<StatusCount>> {
        let t = self.tables();
        let mut counts: Vec<StatusCount> = Vec::new();
        for w in t.workspaces.iter().filter(|w| self.org_sees(org, w)) {
            match counts
                .iter_mut()
                .find(|c| c.org_id == w.org_id && c.status == w.status)
            {
                Some(c) => c.count += 1,
                None => counts.push(StatusCount {
                    org_id: w.org_id,
                    status: w.status,
                    count: 1,
                }),
            }
        }
        Ok(counts)
    }

    fn count_workspace_creations(
        &self,
        org: &OrgCtx,
        since: Timestamp,
    ) -> Result<Vec<CreationCount>> {
        let t = self.tables();
        let mut counts: Vec<CreationCount> = Vec::new();
        for w in t.workspaces.iter().filter(|w| self.org_sees(org, w)) {
            if w.created_at < since {
                continue;
            }
            let hour = Timestamp::from_unix_millis(
                w.created_at.unix_millis().div_euclid(3_600_000) * 3_600_000,
            );
            match counts
                .iter_mut()
                .find(|c| c.org_id == w.org_id && c.hour == hour)
            {
                Some(c) => c.count += 1,
                None => counts.push(CreationCount {
                    org_id: w.org_id,
                    hour,
                    count: 1,
                }),
            }
        }
        Ok(counts)
    }

    fn update_workspace(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        update: &WorkspaceUpdate,
        now: Timestamp,
    ) -> Result<Option<Workspace>> {
        let org_rows = self.leak.is_some_and(Leak::org_rows);
        let mut t = self.tables();
        let Some(w) = t
            .workspaces
            .iter_mut()
            .find(|w| w.id == id && (org_rows || w.org_id == org.org_id()))
        else {
            return Ok(None);
        };
        apply_workspace_update(w, update, now);
        Ok(Some(w.clone()))
    }

    fn revoke_workspace_tokens(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        at: Timestamp,
    ) -> Result<Option<Workspace>> {
        let org_rows = self.leak.is_some_and(Leak::org_rows);
        let mut t = self.tables();
        let Some(w) = t
            .workspaces
            .iter_mut()
            .find(|w| w.id == id && (org_rows || w.org_id == org.org_id()))
        else {
            return Ok(None);
        };
        w.tokens_valid_after = Some(w.tokens_valid_after.map_or(at, |v| v.max(at)));
        w.updated_at = at;
        Ok(Some(w.clone()))
    }

    // Correct in the tenant-only mode; in the others, LEAK: matches the workspace id in any
    // organization, like the other organization-level workspace writes. The data key goes
    // first, then everything in the workspace.
    fn purge_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<bool> {
        let org_rows = self.leak.is_some_and(Leak::org_rows);
        let mut t = self.tables();
        if !t
            .workspaces
            .iter()
            .any(|w| w.id == id && (org_rows || w.org_id == org.org_id()))
        {
            return Ok(false);
        }
        t.data_keys.retain(|k| k.workspace_id != id);
        t.sync_runs.retain(|r| r.workspace_id != id);
        t.connections.retain(|c| c.workspace_id != id);
        t.endpoints.retain(|r| r.workspace_id != id);
        t.revoked_tokens.retain(|r| r.workspace_id != id);
        t.workspaces.retain(|w| w.id != id);
        Ok(true)
    }

    fn delete_workspace(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        at: Timestamp,
        merged_into: Option<WorkspaceId>,
    ) -> Result<Option<Workspace>> {
        let org_rows = self.leak.is_some_and(Leak::org_rows);
        let mut t = self.tables();
        let Some(w) = t
            .workspaces
            .iter_mut()
            .find(|w| w.id == id && !w.is_deleted() && (org_rows || w.org_id == org.org_id()))
        else {
            return Ok(None);
        };
        w.deleted_at = Some(at);
        w.merged_into = merged_into;
        Ok(Some(w.clone()))
    }

    fn merge_workspace(
        &self,
        _org: &OrgCtx,
        _from: &Tenant,
        _into: &Tenant,
        _rows: &MergeRows,
        _at: Timestamp,
    ) -> Result<bool> {
        Err(Error::conflict("this stub store does not merge"))
    }

    fn list_deleted_workspaces(
        &self,
        org: &OrgCtx,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Workspace>> {
        Ok(self
            .tables()
            .workspaces
            .iter()
            .filter(|w| self.org_sees(org, w) && w.deleted_at.is_some_and(|at| at <= before))
            .take(limit)
            .cloned()
            .collect())
    }
}

impl CatalogStore for MemoryStore {
    fn create_tag(&self, org: &OrgCtx, name: &Tag, now: Timestamp) -> Result<TagInfo> {
        let mut t = self.tables();
        if t.tags
            .iter()
            .any(|(o, info)| *o == org.org_id() && info.name == *name)
        {
            return Err(Error::conflict(format!("tag `{name}` already exists")));
        }
        let info = TagInfo {
            name: name.clone(),
            created_at: now,
        };
        t.tags.push((org.org_id(), info.clone()));
        Ok(info)
    }

    fn list_tags(&self, org: &OrgCtx) -> Result<Vec<TagInfo>> {
        let mut tags: Vec<TagInfo> = self
            .tables()
            .tags
            .iter()
            .filter(|(o, _)| *o == org.org_id())
            .map(|(_, info)| info.clone())
            .collect();
        tags.sort_by(|x, y| x.name.cmp(&y.name));
        Ok(tags)
    }

    fn rename_tag(&self, org: &OrgCtx, from: &Tag, to: &Tag) -> Result<bool> {
        let org_id = org.org_id();
        let mut t = self.tables();
        let exists = |t: &Tables, name: &Tag| {
            t.tags
                .iter()
                .any(|(o, info)| *o == org_id && info.name == *name)
        };
        if !exists(&t, from) {
            return Ok(false);
        }
        if from == to {
            return Ok(true);
        }
        if exists(&t, to) {
            return Err(Error::conflict(format!("tag `{to}` already exists")));
        }
        for (_, info) in t.tags.iter_mut().filter(|(o, _)| *o == org_id) {
            if info.name == *from {
                info.name = to.clone();
            }
        }
        for row in t.templates.iter_mut().filter(|r| r.org_id == org_id) {
            if row.tags.remove(from) {
                row.tags.insert(to.clone());
            }
        }
        for w in t.workspaces.iter_mut().filter(|w| w.org_id == org_id) {
            for selection in [&mut w.source_tags, &mut w.connection_tags] {
                if selection.tags.remove(from) {
                    selection.tags.insert(to.clone());
                }
            }
        }
        Ok(true)
    }

    fn delete_tag(&self, org: &OrgCtx, name: &Tag) -> Result<bool> {
        let org_id = org.org_id();
        let mut t = self.tables();
        let before = t.tags.len();
        t.tags
            .retain(|(o, info)| !(*o == org_id && info.name == *name));
        if t.tags.len() == before {
            return Ok(false);
        }
        for row in t.templates.iter_mut().filter(|r| r.org_id == org_id) {
            row.tags.remove(name);
        }
        Ok(true)
    }

    fn insert_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<()> {
        if row.org_id != org.org_id() {
            return Err(Error::conflict(
                "a template must belong to the calling organization",
            ));
        }
        let mut t = self.tables();
        check_tags_exist(&t, org.org_id(), &row.tags)?;
        t.templates.push(row.clone());
        Ok(())
    }

    // Correct unless switched on; then LEAK: every organization's templates of the kind.
    fn list_templates(&self, org: &OrgCtx, kind: TemplateKind) -> Result<Vec<TemplateRow>> {
        let mut rows: Vec<TemplateRow> = self
            .tables()
            .templates
            .iter()
            .filter(|r| r.kind == kind && self.org_sees_template(org, r))
            .cloned()
            .collect();
        rows.sort_by_key(|r| (r.created_at, r.id));
        Ok(rows)
    }

    // Correct unless switched on; then LEAK: the template with the id, in any organization.
    fn get_template(
        &self,
        org: &OrgCtx,
        kind: TemplateKind,
        id: Uuid,
    ) -> Result<Option<TemplateRow>> {
        Ok(self
            .tables()
            .templates
            .iter()
            .find(|r| r.kind == kind && r.id == id && self.org_sees_template(org, r))
            .cloned())
    }

    fn replace_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<bool> {
        let mut t = self.tables();
        check_tags_exist(&t, org.org_id(), &row.tags)?;
        let Some(stored) = t
            .templates
            .iter_mut()
            .find(|r| r.kind == row.kind && r.id == row.id && r.org_id == org.org_id())
        else {
            return Ok(false);
        };
        stored.name = row.name.clone();
        stored.tags = row.tags.clone();
        stored.body = row.body.clone();
        stored.secrets = row.secrets.clone();
        stored.updated_at = row.updated_at;
        Ok(true)
    }

    fn delete_template(&self, org: &OrgCtx, kind: TemplateKind, id: Uuid) -> Result<bool> {
        let mut t = self.tables();
        let before = t.templates.len();
        t.templates
            .retain(|r| !(r.kind == kind && r.id == id && r.org_id == org.org_id()));
        Ok(t.templates.len() != before)
    }
}

impl AuditStore for MemoryStore {
    fn append_audit(&self, org: &OrgCtx, draft: &AuditDraft) -> Result<AuditEvent> {
        let mut t = self.tables();
        let last = t
            .audit
            .iter()
            .rfind(|e| e.org_id == org.org_id())
            .map(|e| (e.seq, e.hash));
        let event = bulkhead_core::audit::next_event(org.org_id(), last, draft);
        t.audit.push(event.clone());
        Ok(event)
    }

    fn list_audit(
        &self,
        org: &OrgCtx,
        _filter: &AuditFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let every_org = self.org_leaks().audit_of_every_org;
        let t = self.tables();
        Ok(t.audit
            .iter()
            .filter(|e| (every_org || e.org_id == org.org_id()) && Some(e.seq) > after)
            .take(limit)
            .cloned()
            .collect())
    }

    fn list_audit_newest(
        &self,
        org: &OrgCtx,
        _filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let every_org = self.org_leaks().audit_of_every_org;
        let t = self.tables();
        Ok(t.audit
            .iter()
            .rev()
            .filter(|e| (every_org || e.org_id == org.org_id()) && before.is_none_or(|b| e.seq < b))
            .take(limit)
            .cloned()
            .collect())
    }
}

impl TenantStore for MemoryStore {
    // LEAK: `SELECT * FROM workspaces ORDER BY created_at DESC LIMIT 1`, no tenant.
    fn load_workspace(&self, tenant: &Tenant) -> Result<Option<Workspace>> {
        let t = self.tables();
        if self.leaks_tenant_rows() {
            return Ok(t.workspaces.last().cloned());
        }
        Ok(t.workspaces
            .iter()
            .find(|w| w.id == tenant.workspace_id() && w.org_id == tenant.org_id())
            .cloned())
    }

    // LEAK: forgets the tenant, as `token_lookup` says; the issuer, audience and deny-list are
    // those of whichever workspace it found (as a join on that row would give).
    fn load_token_state(
        &self,
        tenant: &Tenant,
        jti: &str,
        kid: &str,
    ) -> Result<Option<TokenState>> {
        let lookup = *lock(&self.token_lookup);
        let t = self.tables();
        let found = match lookup {
            _ if !self.leaks_tenant_rows() => t
                .workspaces
                .iter()
                .find(|w| w.id == tenant.workspace_id() && w.org_id == tenant.org_id()),
            TokenLookup::Newest => t.workspaces.last(),
            TokenLookup::IdOnly => t.workspaces.iter().find(|w| w.id == tenant.workspace_id()),
        };
        let Some(workspace) = found.cloned() else {
            return Ok(None);
        };
        let Some(org) = t.organizations.iter().find(|o| o.id == workspace.org_id) else {
            return Ok(None);
        };
        let revoked = t
            .revoked_tokens
            .iter()
            .any(|r| r.workspace_id == workspace.id && r.jti == jti);
        let signing_key = t
            .signing_keys
            .iter()
            .find(|k| k.kid == kid && k.org_id == workspace.org_id)
            .map(|k| k.retire_at);
        Ok(Some(TokenState {
            issuer: org.settings.issuer.clone(),
            audience: org.settings.audience.clone(),
            max_ttl_secs: i64::try_from(org.settings.max_token_ttl.as_secs()).unwrap_or(i64::MAX),
            signing_key,
            workspace,
            revoked,
        }))
    }

    fn revoke_token(
        &self,
        tenant: &Tenant,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        let ws = tenant.workspace_id();
        let mut t = self.tables();
        if !t
            .revoked_tokens
            .iter()
            .any(|r| r.workspace_id == ws && r.jti == jti)
        {
            t.revoked_tokens.push(RevokedToken {
                workspace_id: ws,
                jti: jti.to_owned(),
                expires_at,
            });
        }
        t.revoked_tokens
            .retain(|r| !(r.workspace_id == ws && r.expires_at < now));
        Ok(())
    }

    // LEAK: matches the workspace id only, not its organization (`WHERE id = ?` without
    // `AND org_id = ?`). Switched on, LEAK: the first data key stored, whoever's.
    fn workspace_data_key(
        &self,
        tenant: &Tenant,
        make: &dyn Fn() -> Result<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>> {
        let first_key = self.tenant_leaks().first_data_key;
        let ws = tenant.workspace_id();
        {
            let t = self.tables();
            if !t
                .workspaces
                .iter()
                .any(|w| self.tenant_sees(tenant, w.org_id, w.id) && w.id == ws)
            {
                return Ok(None);
            }
            let found = if first_key {
                t.data_keys.first()
            } else {
                t.data_keys.iter().find(|k| k.workspace_id == ws)
            };
            if let Some(k) = found {
                return Ok(Some(k.sealed.clone()));
            }
        }
        let candidate = make()?;
        let mut t = self.tables();
        // Race-free: a key stored meanwhile wins, as `COALESCE(sealed_dek, ?)` would have it.
        if let Some(k) = t.data_keys.iter().find(|k| k.workspace_id == ws) {
            return Ok(Some(k.sealed.clone()));
        }
        t.data_keys.push(DataKeyRow {
            org_id: tenant.org_id(),
            workspace_id: ws,
            sealed: candidate.clone(),
        });
        Ok(Some(candidate))
    }

    // The writes are correct: a destination is reused only if the tenant's own workspace has
    // one of that connection template. LEAK: the destination each connection is then made to
    // is looked up by its connection template only (`WHERE template_id = ?` without
    // `AND workspace_id = ?`): the oldest destination of the template, in whichever workspace
    // has it.
    fn insert_source_with_pipelines(
        &self,
        tenant: &Tenant,
        source: &EndpointRow,
        pipelines: &[Pipeline],
        check: &dyn Fn(&[Pipeline]) -> Result<()>,
    ) -> Result<Vec<Pipeline>> {
        let ws = tenant.workspace_id();
        if pipelines
            .iter()
            .any(|p| p.destination.template_id.is_none())
        {
            return Err(Error::conflict(
                "a pipeline destination needs its template id",
            ));
        }
        let mut t = self.tables();
        // One transaction: kept only if `check` passes.
        let (endpoints_before, connections_before) = (t.endpoints.clone(), t.connections.clone());
        t.endpoints.push(source.clone());
        let mut made = Vec::with_capacity(pipelines.len());
        for Pipeline {
            destination,
            connection,
        } in pipelines
        {
            let template = destination.template_id;
            let is_of_template =
                |r: &EndpointRow| r.kind == EndpointKind::Destination && r.template_id == template;
            if !t
                .endpoints
                .iter()
                .any(|r| is_of_template(r) && r.workspace_id == ws)
            {
                t.endpoints.push(destination.clone());
            }
            let Some(stored) = t
                .endpoints
                .iter()
                .find(|r| is_of_template(r) && self.tenant_sees(tenant, r.org_id, r.workspace_id))
                .cloned()
            else {
                t.endpoints = endpoints_before;
                t.connections = connections_before;
                return Err(Error::conflict("a pipeline destination went missing"));
            };
            let connection = Connection {
                destination_id: DestinationId::from_uuid(stored.id)?,
                ..connection.clone()
            };
            t.connections.push(connection.clone());
            made.push(Pipeline {
                destination: stored,
                connection,
            });
        }
        if let Err(e) = check(&made) {
            t.endpoints = endpoints_before;
            t.connections = connections_before;
            return Err(e);
        }
        Ok(made)
    }

    fn insert_endpoint(&self, _tenant: &Tenant, row: &EndpointRow) -> Result<()> {
        self.tables().endpoints.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_endpoint(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
    ) -> Result<Option<EndpointRow>> {
        Ok(self
            .tables()
            .endpoints
            .iter()
            .find(|r| {
                r.kind == kind && r.id == id && self.tenant_sees(tenant, r.org_id, r.workspace_id)
            })
            .cloned())
    }

    fn list_endpoints(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<EndpointRow<()>>> {
        let rows = self.list_sealed_endpoints(tenant, kind, after, limit)?;
        Ok(rows.into_iter().map(|r| r.with_secrets(())).collect())
    }

    // LEAK: every row of the kind.
    fn list_sealed_endpoints(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<EndpointRow>> {
        let mut rows: Vec<EndpointRow> = self
            .tables()
            .endpoints
            .iter()
            .filter(|r| r.kind == kind && self.tenant_sees(tenant, r.org_id, r.workspace_id))
            .filter(|r| {
                after.is_none_or(|a| {
                    Keyset {
                        at: r.created_at,
                        id: r.id,
                    } > a
                })
            })
            .cloned()
            .collect();
        rows.sort_by_key(|r| (r.created_at, r.id));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only (and so writes another tenant's row).
    fn update_endpoint(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> Result<Option<EndpointRow>> {
        let mut t = self.tables();
        let Some(row) = t.endpoints.iter_mut().find(|r| {
            r.kind == kind && r.id == id && self.tenant_sees(tenant, r.org_id, r.workspace_id)
        }) else {
            return Ok(None);
        };
        apply_endpoint_patch(row, patch, now);
        Ok(Some(row.clone()))
    }

    // Correct: a delete returns no row the guard could check.
    fn delete_endpoint(&self, tenant: &Tenant, kind: EndpointKind, id: Uuid) -> Result<bool> {
        let mut t = self.tables();
        let in_use = t.connections.iter().any(|c| {
            c.workspace_id == tenant.workspace_id()
                && match kind {
                    EndpointKind::Source => *c.source_id.as_uuid() == id,
                    EndpointKind::Destination => *c.destination_id.as_uuid() == id,
                }
        });
        if in_use {
            return Err(Error::conflict("in use by a connection"));
        }
        // LEAK: deletes by id only, whoever owns the row.
        let before = t.endpoints.len();
        t.endpoints.retain(|r| {
            !(r.kind == kind && r.id == id && self.tenant_sees(tenant, r.org_id, r.workspace_id))
        });
        Ok(t.endpoints.len() != before)
    }

    fn insert_connection(&self, _tenant: &Tenant, row: &Connection) -> Result<()> {
        self.tables().connections.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<Option<Connection>> {
        Ok(self
            .tables()
            .connections
            .iter()
            .find(|c| c.id == id && self.tenant_sees(tenant, c.org_id, c.workspace_id))
            .cloned())
    }

    // LEAK: every connection.
    fn list_connections(
        &self,
        tenant: &Tenant,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<Connection>> {
        let mut rows: Vec<Connection> = self
            .tables()
            .connections
            .iter()
            .filter(|c| self.tenant_sees(tenant, c.org_id, c.workspace_id))
            .filter(|c| {
                after.is_none_or(|a| {
                    Keyset {
                        at: c.created_at,
                        id: *c.id.as_uuid(),
                    } > a
                })
            })
            .cloned()
            .collect();
        rows.sort_by_key(|c| (c.created_at, *c.id.as_uuid()));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only.
    fn update_connection(
        &self,
        tenant: &Tenant,
        id: ConnectionId,
        update: &ConnectionUpdate,
        now: Timestamp,
    ) -> Result<Option<Connection>> {
        let mut t = self.tables();
        let Some(c) = t
            .connections
            .iter_mut()
            .find(|c| c.id == id && self.tenant_sees(tenant, c.org_id, c.workspace_id))
        else {
            return Ok(None);
        };
        if let Some(name) = &update.name {
            c.name = name.clone();
        }
        if let Some(status) = update.status {
            c.status = status;
        }
        if let Some(schedule) = &update.schedule {
            c.schedule = schedule.clone();
        }
        c.updated_at = now;
        Ok(Some(c.clone()))
    }

    // Correct: a delete returns no row the guard could check.
    // LEAK: deletes by id only, whoever owns the row.
    fn delete_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<bool> {
        let mut t = self.tables();
        let before = t.connections.len();
        t.connections
            .retain(|c| !(c.id == id && self.tenant_sees(tenant, c.org_id, c.workspace_id)));
        let deleted = t.connections.len() != before;
        if deleted {
            t.sync_runs.retain(|r| r.connection_id != id);
        }
        Ok(deleted)
    }

    fn insert_sync_run(&self, _tenant: &Tenant, row: &SyncRun) -> Result<()> {
        let mut t = self.tables();
        // The unique index on the running runs of a connection. A leaky store has none (the
        // guard tests start a second run of a connection whose first is still running).
        if !self.leaks_tenant_rows()
            && row.status == SyncStatus::Running
            && t.sync_runs
                .iter()
                .any(|r| r.connection_id == row.connection_id && r.status == SyncStatus::Running)
        {
            return Err(Error::SyncAlreadyRunning {
                connection_id: row.connection_id,
            });
        }
        t.sync_runs.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_sync_run(&self, tenant: &Tenant, id: SyncRunId) -> Result<Option<SyncRun>> {
        Ok(self
            .tables()
            .sync_runs
            .iter()
            .find(|r| r.id == id && self.tenant_sees(tenant, r.org_id, r.workspace_id))
            .cloned())
    }

    // LEAK: every run, of every connection of every tenant, newest first.
    fn list_sync_runs(
        &self,
        tenant: &Tenant,
        connection: ConnectionId,
        before: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<SyncRun>> {
        let leaks = self.leaks_tenant_rows();
        let mut rows: Vec<SyncRun> = self
            .tables()
            .sync_runs
            .iter()
            .filter(|r| {
                leaks
                    || (r.connection_id == connection
                        && self.tenant_sees(tenant, r.org_id, r.workspace_id))
            })
            .filter(|r| {
                before.is_none_or(|b| {
                    Keyset {
                        at: r.started_at,
                        id: *r.id.as_uuid(),
                    } < b
                })
            })
            .cloned()
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse((r.started_at, *r.id.as_uuid())));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only.
    // LEAK: every workspace's rows.
    fn workspace_activity(&self, tenant: &Tenant, since: Timestamp) -> Result<WorkspaceActivity> {
        let t = self.tables();
        let sees = |org_id, workspace_id| self.tenant_sees(tenant, org_id, workspace_id);
        let runs: Vec<&SyncRun> = t
            .sync_runs
            .iter()
            .filter(|r| sees(r.org_id, r.workspace_id))
            .collect();
        let recent = runs.iter().filter(|r| r.started_at >= since);
        let mut connections: Vec<Connection> = t
            .connections
            .iter()
            .filter(|c| sees(c.org_id, c.workspace_id))
            .cloned()
            .collect();
        connections.sort_by_key(|c| (c.created_at, *c.id.as_uuid()));
        let latest_runs = runs
            .iter()
            .filter(|r| {
                !runs.iter().any(|n| {
                    n.connection_id == r.connection_id
                        && (n.started_at, *n.id.as_uuid()) > (r.started_at, *r.id.as_uuid())
                })
            })
            .map(|r| SyncRun::clone(r))
            .collect();
        let sources = t
            .endpoints
            .iter()
            .filter(|e| e.kind == EndpointKind::Source && sees(e.org_id, e.workspace_id))
            .count();
        Ok(WorkspaceActivity {
            sources: u64::try_from(sources).unwrap_or(u64::MAX),
            connections,
            latest_runs,
            rows_synced: runs.iter().map(|r| r.rows_synced).sum(),
            bytes_synced: runs.iter().map(|r| r.bytes_synced).sum(),
            rows_since: recent.clone().map(|r| r.rows_synced).sum(),
            bytes_since: recent.map(|r| r.bytes_synced).sum(),
        })
    }

    fn finish_sync_run(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        let mut t = self.tables();
        let Some(r) = t.sync_runs.iter_mut().find(|r| {
            r.id == id
                && !r.status.is_finished()
                && self.tenant_sees(tenant, r.org_id, r.workspace_id)
        }) else {
            return Ok(None);
        };
        r.status = finish.status;
        r.finished_at = Some(finish.finished_at);
        r.rows_synced = finish.rows_synced;
        r.bytes_synced = finish.bytes_synced;
        r.error.clone_from(&finish.error);
        Ok(Some(r.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MemoryStore;
    use crate::conformance::Harness;
    use crate::model::{self, Adapter};

    struct Memory;

    impl Adapter for Memory {
        fn harness() -> Harness {
            let store = Arc::new(MemoryStore::new());
            let dump = Arc::clone(&store);
            Harness::new(store).with_dump(move || dump.dump())
        }
    }

    #[test]
    fn the_isolation_model_runs_on_a_correct_memory_store() {
        model::run::<Memory>();
    }
}
