//! The L2 guard alone stops a leak.
//!
//! `LeakyStore` below is a storage adapter with the classic tenancy bug: its tenant reads
//! forget the tenant (`get_*` and `update_*` match on id only, `list_*` return every row of the
//! kind, `load_workspace` and `load_token_state` return a workspace of any organization), in a
//! second mode its organization-level workspace reads forget the organization too (including
//! the get-or-create behind the scoped-token flow), and in a third mode so do its listings of
//! an organization's access keys and signing keys. Its credential lookups (by key hash, by
//! `kid`), its organization rows and its writes of credentials are correct, unless a test
//! switches on one of its [`OrgLeaks`] (an org-key lookup that ignores the hash, a key
//! revocation that ignores the organization, a settings write and an organization read that
//! answer with another organization's row). There is no database under it, so no L3 either.
//! These tests show that every such read reaching a scope, or `Engine::authenticate`, fails
//! closed with [`Error::IsolationBreach`], hands the caller none of the other tenant's data
//! (and no token), and is counted by [`Engine::isolation_breaches`]; both when the foreign
//! workspace is in another organization (the org check) and when it is a sibling in the
//! caller's own organization (the workspace check). The [`OrgLeaks`] fail closed as a caller
//! would expect of a correct store: an invalid org key, or not found. Control tests show the
//! same store gives correct answers while only the caller's own rows exist, so the failures are
//! caused by the foreign rows, not by the stub.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead_core::keys::{OrgKeyRow, SigningKeyRow};
use bulkhead_core::store::{After, EndpointKind, EndpointRow, SyncFinish, TokenState};
use bulkhead_core::{
    Algorithm, Clock, Connection, ConnectionStatus, ConnectionUpdate, ConnectorConfig,
    ConnectorUpdate, Destination, Engine, EngineConfig, Error, ExternalId, IssuedToken, Jwks,
    ManualClock, MasterKey, Name, NewConnection, NewDestination, NewSource, ObjectKind, OrgCtx,
    OrgId, OrgKeyId, OrgScope, OrgSettings, Organization, Page, Result, Schedule,
    ScopedTokenRequest, Source, SourceId, Store, SyncOutcome, SyncRun, SyncRunId, SyncStatus,
    Tenant, Timestamp, TokenRejection, Workspace, WorkspaceFilter, WorkspaceId, WorkspaceScope,
    WorkspaceUpdate,
};
use bulkhead_core::{ConnectionId, DestinationId};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The leaky store
// ---------------------------------------------------------------------------------------------

/// Which reads of [`LeakyStore`] ignore their scope. Each mode leaks what the one before it
/// leaks, and more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leak {
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
enum TokenLookup {
    /// `… FROM workspaces ORDER BY created_at DESC LIMIT 1`: the newest workspace of any
    /// organization, whatever the token names.
    Newest,
    /// `… FROM workspaces WHERE id = ?` without `AND org_id = ?`: the workspace with the
    /// token's id, in whichever organization has it.
    IdOnly,
}

/// Leaks of the organization and org-key rows, each independent of [`Leak`] and off until a
/// test switches it on with [`LeakyStore::set_org_leaks`] (the fixture needs these rows right
/// to build its organizations and log them in).
#[derive(Clone, Copy, Debug, Default)]
struct OrgLeaks {
    /// `find_org_key` lost its `WHERE hash = ?`: it returns the oldest org key (org 1's first),
    /// whatever the hash.
    key_of_any_hash: bool,
    /// `revoke_org_key` lost its `AND org_id = ?`: it revokes, and returns, the key with the id
    /// in whichever organization has it.
    revoke_by_id_only: bool,
    /// `update_org_settings` lost its `WHERE id = ?` and picks the newest organization: it
    /// writes the settings to that one's row and returns it, whoever called.
    settings_of_newest_org: bool,
    /// `get_organization` lost its `WHERE id = ?`: it returns the newest organization, whatever
    /// the id.
    newest_org: bool,
}

/// An entry of the deny-list of scoped tokens.
#[derive(Debug)]
struct RevokedToken {
    workspace_id: WorkspaceId,
    jti: String,
    expires_at: Timestamp,
}

#[derive(Debug, Default)]
struct Tables {
    master_key_check: Option<Vec<u8>>,
    organizations: Vec<Organization>,
    org_keys: Vec<OrgKeyRow>,
    signing_keys: Vec<SigningKeyRow>,
    workspaces: Vec<Workspace>,
    revoked_tokens: Vec<RevokedToken>,
    endpoints: Vec<EndpointRow>,
    connections: Vec<Connection>,
    sync_runs: Vec<SyncRun>,
}

/// An in-memory store that is correct for organizations, credentials, workspace creation and
/// writes, and deliberately forgets the tenant on reads (see the module docs).
#[derive(Debug)]
struct LeakyStore {
    leak: Leak,
    token_lookup: Mutex<TokenLookup>,
    org_leaks: Mutex<OrgLeaks>,
    tables: Mutex<Tables>,
}

impl LeakyStore {
    fn new(leak: Leak) -> Self {
        Self {
            leak,
            token_lookup: Mutex::new(TokenLookup::Newest),
            org_leaks: Mutex::new(OrgLeaks::default()),
            tables: Mutex::new(Tables::default()),
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap()
    }

    fn set_token_lookup(&self, lookup: TokenLookup) {
        *self.token_lookup.lock().unwrap() = lookup;
    }

    fn set_org_leaks(&self, leaks: OrgLeaks) {
        *self.org_leaks.lock().unwrap() = leaks;
    }

    fn org_leaks(&self) -> OrgLeaks {
        *self.org_leaks.lock().unwrap()
    }

    /// Whether an organization-level read should keep this workspace: every workspace when
    /// organization reads leak, else only the organization's own.
    fn org_sees(&self, org: &OrgCtx, w: &Workspace) -> bool {
        self.leak.org_rows() || w.org_id == org.org_id()
    }

    /// Whether a key listing should keep a key of `owner`.
    fn org_sees_key(&self, org: &OrgCtx, owner: OrgId) -> bool {
        self.leak.key_rows() || owner == org.org_id()
    }
}

fn apply_connector_update(row: &mut EndpointRow, update: &ConnectorUpdate, now: Timestamp) {
    if let Some(name) = &update.name {
        row.name = name.clone();
    }
    if let Some(config) = &update.config {
        row.config = config.clone();
    }
    row.updated_at = now;
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

impl Store for LeakyStore {
    fn master_key_check(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        Ok(self
            .tables()
            .master_key_check
            .get_or_insert_with(|| candidate.to_vec())
            .clone())
    }

    fn insert_organization(
        &self,
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

    fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRow>> {
        Ok(self
            .tables()
            .signing_keys
            .iter()
            .find(|k| k.kid == kid)
            .cloned())
    }

    // Correct in the tenant-only mode: the fixture needs it to make workspaces. In the other
    // modes, LEAK: matches the external id in every organization and ignoring case (a NOCASE
    // collation without the org filter), and applies `update` to whatever it found.
    fn get_or_create_workspace(
        &self,
        org: &OrgCtx,
        candidate: &Workspace,
        update: &WorkspaceUpdate,
    ) -> Result<(Workspace, bool)> {
        let leak = self.leak;
        let mut t = self.tables();
        if let Some(found) = t.workspaces.iter_mut().find(|w| {
            if leak.org_rows() {
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
            return Ok((found.clone(), false));
        }
        t.workspaces.push(candidate.clone());
        Ok((candidate.clone(), true))
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
            .filter(|w| self.org_sees(org, w))
            .filter(|w| {
                filter
                    .external_id_prefix
                    .as_deref()
                    .is_none_or(|p| w.external_id.as_str().starts_with(p))
            })
            .filter(|w| filter.status.is_none_or(|s| w.status == s))
            .filter(|w| after.is_none_or(|a| w.external_id > *a))
            .cloned()
            .collect();
        rows.sort_by(|x, y| x.external_id.cmp(&y.external_id));
        rows.truncate(limit);
        Ok(rows)
    }

    fn update_workspace(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        update: &WorkspaceUpdate,
        now: Timestamp,
    ) -> Result<Option<Workspace>> {
        let leak = self.leak;
        let mut t = self.tables();
        let Some(w) = t
            .workspaces
            .iter_mut()
            .find(|w| w.id == id && (leak.org_rows() || w.org_id == org.org_id()))
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
        let leak = self.leak;
        let mut t = self.tables();
        let Some(w) = t
            .workspaces
            .iter_mut()
            .find(|w| w.id == id && (leak.org_rows() || w.org_id == org.org_id()))
        else {
            return Ok(None);
        };
        w.tokens_valid_after = Some(w.tokens_valid_after.map_or(at, |v| v.max(at)));
        w.updated_at = at;
        Ok(Some(w.clone()))
    }

    // LEAK: `SELECT * FROM workspaces ORDER BY created_at DESC LIMIT 1`, no tenant.
    fn load_workspace(&self, _tenant: &Tenant) -> Result<Option<Workspace>> {
        Ok(self.tables().workspaces.last().cloned())
    }

    // LEAK: forgets the tenant, as `token_lookup` says; the issuer, audience and deny-list are
    // those of whichever workspace it found (as a join on that row would give).
    fn load_token_state(&self, tenant: &Tenant, jti: &str) -> Result<Option<TokenState>> {
        let lookup = *self.token_lookup.lock().unwrap();
        let t = self.tables();
        let found = match lookup {
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
        Ok(Some(TokenState {
            issuer: org.settings.issuer.clone(),
            audience: org.settings.audience.clone(),
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

    fn insert_endpoint(&self, _tenant: &Tenant, row: &EndpointRow) -> Result<()> {
        self.tables().endpoints.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_endpoint(
        &self,
        _tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
    ) -> Result<Option<EndpointRow>> {
        Ok(self
            .tables()
            .endpoints
            .iter()
            .find(|r| r.kind == kind && r.id == id)
            .cloned())
    }

    // LEAK: every row of the kind.
    fn list_endpoints(
        &self,
        _tenant: &Tenant,
        kind: EndpointKind,
        after: After,
        limit: usize,
    ) -> Result<Vec<EndpointRow>> {
        let mut rows: Vec<EndpointRow> = self
            .tables()
            .endpoints
            .iter()
            .filter(|r| r.kind == kind)
            .filter(|r| after.is_none_or(|a| (r.created_at, r.id) > a))
            .cloned()
            .collect();
        rows.sort_by_key(|r| (r.created_at, r.id));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only (and so writes another tenant's row).
    fn update_endpoint(
        &self,
        _tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
        update: &ConnectorUpdate,
        now: Timestamp,
    ) -> Result<Option<EndpointRow>> {
        let mut t = self.tables();
        let Some(row) = t
            .endpoints
            .iter_mut()
            .find(|r| r.kind == kind && r.id == id)
        else {
            return Ok(None);
        };
        apply_connector_update(row, update, now);
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
        t.endpoints.retain(|r| !(r.kind == kind && r.id == id));
        Ok(t.endpoints.len() != before)
    }

    fn insert_connection(&self, _tenant: &Tenant, row: &Connection) -> Result<()> {
        self.tables().connections.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_connection(&self, _tenant: &Tenant, id: ConnectionId) -> Result<Option<Connection>> {
        Ok(self
            .tables()
            .connections
            .iter()
            .find(|c| c.id == id)
            .cloned())
    }

    // LEAK: every connection.
    fn list_connections(
        &self,
        _tenant: &Tenant,
        after: After,
        limit: usize,
    ) -> Result<Vec<Connection>> {
        let mut rows: Vec<Connection> = self
            .tables()
            .connections
            .iter()
            .filter(|c| after.is_none_or(|a| (c.created_at, *c.id.as_uuid()) > a))
            .cloned()
            .collect();
        rows.sort_by_key(|c| (c.created_at, *c.id.as_uuid()));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only.
    fn update_connection(
        &self,
        _tenant: &Tenant,
        id: ConnectionId,
        update: &ConnectionUpdate,
        now: Timestamp,
    ) -> Result<Option<Connection>> {
        let mut t = self.tables();
        let Some(c) = t.connections.iter_mut().find(|c| c.id == id) else {
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
    fn delete_connection(&self, _tenant: &Tenant, id: ConnectionId) -> Result<bool> {
        let mut t = self.tables();
        let before = t.connections.len();
        t.connections.retain(|c| c.id != id);
        let deleted = t.connections.len() != before;
        if deleted {
            t.sync_runs.retain(|r| r.connection_id != id);
        }
        Ok(deleted)
    }

    fn insert_sync_run(&self, _tenant: &Tenant, row: &SyncRun) -> Result<()> {
        self.tables().sync_runs.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_sync_run(&self, _tenant: &Tenant, id: SyncRunId) -> Result<Option<SyncRun>> {
        Ok(self.tables().sync_runs.iter().find(|r| r.id == id).cloned())
    }

    // LEAK: every run, of every connection of every tenant, newest first.
    fn list_sync_runs(
        &self,
        _tenant: &Tenant,
        _connection: ConnectionId,
        before: After,
        limit: usize,
    ) -> Result<Vec<SyncRun>> {
        let mut rows: Vec<SyncRun> = self
            .tables()
            .sync_runs
            .iter()
            .filter(|r| before.is_none_or(|b| (r.started_at, *r.id.as_uuid()) < b))
            .cloned()
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse((r.started_at, *r.id.as_uuid())));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only.
    fn finish_sync_run(
        &self,
        _tenant: &Tenant,
        id: SyncRunId,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        let mut t = self.tables();
        let Some(r) = t
            .sync_runs
            .iter_mut()
            .find(|r| r.id == id && !r.status.is_finished())
        else {
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

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

/// Where the foreign workspace B lives.
#[derive(Clone, Copy, Debug)]
enum Neighbour {
    /// In another organization: the guard's organization check must stop it.
    OtherOrg,
    /// In A's own organization: only the guard's workspace check can stop it.
    SameOrg,
}

const NEIGHBOURS: [Neighbour; 2] = [Neighbour::OtherOrg, Neighbour::SameOrg];

/// One workspace's objects, made through its own scope.
struct Rows {
    source: Source,
    destination: Destination,
    connection: Connection,
    run: SyncRun,
    /// A credential inside the source's configuration.
    secret: String,
}

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    /// The store under `engine`, to change how it leaks and to look at its rows.
    store: Arc<LeakyStore>,
    /// The scope of A's organization (org 1), from its org access key.
    org_a: OrgScope,
    /// The scope of org 2 (B's organization unless B is A's sibling), from its org access key.
    org2: OrgScope,
    /// Workspace A, the caller in every test.
    a: WorkspaceScope,
    a_rows: Rows,
    /// Workspace B, the other tenant, created after A.
    b_workspace: Workspace,
    /// B's own scope, for writing more of B's rows.
    b: WorkspaceScope,
    b_rows: Rows,
}

fn name(text: &str) -> Name {
    text.parse().unwrap()
}

fn ext(text: &str) -> ExternalId {
    text.parse().unwrap()
}

fn tick(clock: &ManualClock) {
    clock.advance(Duration::from_secs(1));
}

fn new_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_unix_millis(
        1_700_000_000_000,
    )))
}

/// An engine over `store`, with a fresh master key.
fn engine_over(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Engine {
    Engine::new(
        store,
        EngineConfig {
            clock,
            master_key: Arc::new(MasterKey::generate().unwrap()),
            token_leeway: Duration::from_secs(30),
        },
    )
    .unwrap()
}

/// `token` with its `sub` (workspace id) replaced by `workspace`, signed again with the HS256
/// `secret` of its own key: what an organization, which holds its signing secret, can make.
fn resign_with_subject(token: &str, secret: &[u8], workspace: WorkspaceId) -> String {
    let mut parts = token.split('.');
    let (header, payload) = (parts.next().unwrap(), parts.next().unwrap());
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"] = serde_json::Value::String(workspace.to_string());
    let input = format!(
        "{header}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let signature = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn is_revoked(result: Result<WorkspaceScope>) -> bool {
    matches!(
        result,
        Err(Error::InvalidToken {
            reason: TokenRejection::Revoked,
            ..
        })
    )
}

/// Makes a source, a destination, a connection between them and one running sync, in `scope`.
fn seed(scope: &WorkspaceScope, clock: &ManualClock, tag: &str) -> Rows {
    let secret = format!("sk_live_{tag}_5ecret");
    tick(clock);
    let source = scope
        .create_source(NewSource {
            name: name(&format!("{tag} billing source")),
            connector: "stripe".parse().unwrap(),
            config: ConnectorConfig::from_json(&format!(r#"{{"api_key":"{secret}"}}"#)).unwrap(),
        })
        .unwrap();
    tick(clock);
    let destination = scope
        .create_destination(NewDestination {
            name: name(&format!("{tag} warehouse")),
            connector: "s3".parse().unwrap(),
            config: ConnectorConfig::from_json(&format!(r#"{{"bucket":"{tag}-bucket"}}"#)).unwrap(),
        })
        .unwrap();
    tick(clock);
    let connection = scope
        .create_connection(NewConnection {
            name: name(&format!("{tag} pipeline")),
            source_id: source.id,
            destination_id: destination.id,
            schedule: Schedule::Manual,
        })
        .unwrap();
    tick(clock);
    let run = scope.start_sync(connection.id).unwrap();
    Rows {
        source,
        destination,
        connection,
        run,
        secret,
    }
}

impl World {
    /// Org 1 with workspace A, org 2, and workspace B (in org 2 or in org 1); both workspaces
    /// hold a source, a destination, a connection and a sync run. B is created last.
    fn build(leak: Leak, neighbour: Neighbour) -> Self {
        let clock = new_clock();
        let store = Arc::new(LeakyStore::new(leak));
        let engine = engine_over(store.clone(), clock.clone());

        let (org1, key1) = engine.create_organization("Org One").unwrap();
        let (org2, key2) = engine.create_organization("Org Two").unwrap();
        let org_a = engine.authenticate_org(key1.expose()).unwrap();
        assert_eq!(org_a.org_id(), org1.id);
        let org2_scope = engine.authenticate_org(key2.expose()).unwrap();
        assert_eq!(org2_scope.org_id(), org2.id);
        let org_b = match neighbour {
            Neighbour::OtherOrg => org2_scope.clone(),
            Neighbour::SameOrg => org_a.clone(),
        };

        tick(&clock);
        let a_workspace = org_a
            .get_or_create_workspace(&ext("cust-a"))
            .unwrap()
            .workspace;
        let a = org_a.workspace(a_workspace.id).unwrap();
        let a_rows = seed(&a, &clock, "alpha");

        tick(&clock);
        let b_workspace = org_b
            .get_or_create_workspace(&ext("cust-b"))
            .unwrap()
            .workspace;
        let b = org_b.workspace(b_workspace.id).unwrap();
        let b_rows = seed(&b, &clock, "bravo");

        assert_eq!(
            engine.isolation_breaches(),
            0,
            "the fixture itself breached"
        );
        Self {
            engine,
            clock,
            store,
            org_a,
            org2: org2_scope,
            a,
            a_rows,
            b_workspace,
            b,
            b_rows,
        }
    }

    /// Text that identifies B or its objects, or another organization's keys; none of it may
    /// reach A.
    fn b_data(&self) -> Vec<String> {
        let b = &self.b_rows;
        let own_org = self.org_a.org_id();
        let t = self.store.tables();
        let foreign_keys = t
            .org_keys
            .iter()
            .filter(|k| k.org_id != own_org)
            .map(|k| k.prefix.clone())
            .chain(
                t.signing_keys
                    .iter()
                    .filter(|k| k.org_id != own_org)
                    .map(|k| k.kid.clone()),
            );
        let mut data = vec![
            self.b_workspace.id.to_string(),
            self.b_workspace.external_id.to_string(),
            b.source.id.to_string(),
            b.source.name.to_string(),
            b.secret.clone(),
            b.destination.id.to_string(),
            b.destination.name.to_string(),
            "bravo-bucket".to_owned(),
            b.connection.id.to_string(),
            b.connection.name.to_string(),
            b.run.id.to_string(),
            self.org2.org_id().to_string(),
            self.org2.organization().name.to_string(),
        ];
        data.extend(foreign_keys);
        data
    }

    /// Runs `call` and asserts it was refused as a breach on a `kind`: an
    /// `Error::IsolationBreach` (no value at all, so none of B's data), counted exactly once, and
    /// whose error text names nothing of B's.
    #[track_caller]
    fn assert_refused<T: fmt::Debug>(&self, kind: ObjectKind, call: impl FnOnce() -> Result<T>) {
        let before = self.engine.isolation_breaches();
        let result = call();
        let after = self.engine.isolation_breaches();
        let err = match result {
            Err(err @ Error::IsolationBreach { kind: k }) if k == kind => err,
            other => panic!("expected an isolation breach on a {kind}, got {other:?}"),
        };
        assert_eq!(
            after,
            before + 1,
            "a refused call must be counted exactly once"
        );
        self.assert_reveals_nothing_of_b(&err);
    }

    /// Asserts that the text of `err` names nothing of B's (see [`World::b_data`]).
    #[track_caller]
    fn assert_reveals_nothing_of_b(&self, err: &Error) {
        let text = format!("{err} / {err:?}");
        for foreign in self.b_data() {
            assert!(
                !text.contains(&foreign),
                "the error `{text}` reveals `{foreign}` of B"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Control
// ---------------------------------------------------------------------------------------------

/// With only A's own rows in the store (another organization exists, with no workspace), the
/// leaky store, in its leakiest mode, answers every call correctly and the guard refuses
/// nothing. So the refusals in the other tests come from the foreign rows.
#[test]
fn leaky_store_gives_correct_results_when_only_own_rows_exist() {
    let clock = new_clock();
    let store: Arc<dyn Store> = Arc::new(LeakyStore::new(Leak::Everything));
    let engine = engine_over(store, clock.clone());
    let (org1, _) = engine.create_organization("Org One").unwrap();
    engine.create_organization("Org Two").unwrap();
    let org_a = engine.operator_org_scope(org1.id).unwrap();
    let a_workspace = org_a
        .get_or_create_workspace(&ext("cust-a"))
        .unwrap()
        .workspace;
    let a = org_a.workspace(a_workspace.id).unwrap();
    let rows = seed(&a, &clock, "alpha");

    // Organization level.
    let listed = org_a
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(10))
        .unwrap();
    assert_eq!(listed.items, vec![a_workspace.clone()]);
    assert_eq!(listed.next, None);
    assert_eq!(org_a.get_workspace(a_workspace.id).unwrap(), a_workspace);
    assert_eq!(
        org_a.workspace_by_external_id(&ext("cust-a")).unwrap(),
        a_workspace
    );
    assert!(
        org_a
            .get_workspace(WorkspaceId::random())
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(a.workspace().unwrap(), a_workspace);

    // Gets.
    assert_eq!(a.get_source(rows.source.id).unwrap(), rows.source);
    assert_eq!(
        a.get_destination(rows.destination.id).unwrap(),
        rows.destination
    );
    assert_eq!(
        a.get_connection(rows.connection.id).unwrap(),
        rows.connection
    );
    assert_eq!(a.get_sync_run(rows.run.id).unwrap(), rows.run);
    assert!(a.get_source(SourceId::random()).unwrap_err().is_not_found());
    assert!(
        a.get_destination(DestinationId::random())
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        a.get_connection(ConnectionId::random())
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        a.get_sync_run(SyncRunId::random())
            .unwrap_err()
            .is_not_found()
    );

    // Lists.
    let page = Page::first(10);
    assert_eq!(
        a.list_sources(&page).unwrap().items,
        vec![rows.source.clone()]
    );
    assert_eq!(
        a.list_destinations(&page).unwrap().items,
        vec![rows.destination.clone()]
    );
    assert_eq!(
        a.list_connections(&page).unwrap().items,
        vec![rows.connection.clone()]
    );
    assert_eq!(
        a.list_sync_runs(rows.connection.id, &page).unwrap().items,
        vec![rows.run.clone()]
    );

    // Pagination through the stub's keyset handling.
    tick(&clock);
    let second = a
        .create_source(NewSource {
            name: name("alpha second source"),
            connector: "postgres".parse().unwrap(),
            config: ConnectorConfig::from_json("{}").unwrap(),
        })
        .unwrap();
    let first_page = a.list_sources(&Page::first(1)).unwrap();
    assert_eq!(first_page.items, vec![rows.source.clone()]);
    let next = first_page.next.expect("a second page");
    let second_page = a.list_sources(&Page::after(next, 1)).unwrap();
    assert_eq!(second_page.items, vec![second]);
    assert_eq!(second_page.next, None);

    // Updates.
    tick(&clock);
    let renamed = a
        .update_source(
            rows.source.id,
            &ConnectorUpdate {
                name: Some(name("alpha renamed")),
                config: None,
            },
        )
        .unwrap();
    assert_eq!(renamed.name, name("alpha renamed"));
    assert_eq!(renamed.workspace_id, a.workspace_id());
    let paused = a
        .update_connection(
            rows.connection.id,
            &ConnectionUpdate {
                status: Some(ConnectionStatus::Inactive),
                ..ConnectionUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(paused.status, ConnectionStatus::Inactive);
    let finished = a
        .finish_sync(rows.run.id, SyncOutcome::Succeeded { rows: 7, bytes: 70 })
        .unwrap();
    assert_eq!(finished.status, SyncStatus::Succeeded);
    assert_eq!(finished.rows_synced, 7);

    assert_eq!(engine.isolation_breaches(), 0);
}

/// In the tenant-only mode the organization-level reads are correct, so an organization sees
/// exactly its own workspaces even while B exists; the org-level refusals below come from the
/// second mode's leak, not from the stub.
#[test]
fn org_reads_are_correct_in_the_tenant_only_mode() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    let listed = w
        .org_a
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(10))
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![w.a.workspace_id()]
    );
    assert!(
        w.org_a
            .get_workspace(w.b_workspace.id)
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(w.engine.isolation_breaches(), 0);
}

// ---------------------------------------------------------------------------------------------
// Workspace level: every leaky read is refused
// ---------------------------------------------------------------------------------------------

#[test]
fn foreign_source_is_refused_by_id_and_in_lists() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let b_source = w.b_rows.source.id;
        w.assert_refused(ObjectKind::Source, || w.a.get_source(b_source));
        // A's own source comes first in the leaky listing; the whole call still fails.
        w.assert_refused(ObjectKind::Source, || w.a.list_sources(&Page::first(50)));
        // A's own source by id is still served.
        assert_eq!(w.a.get_source(w.a_rows.source.id).unwrap(), w.a_rows.source);
    }
}

#[test]
fn foreign_destination_is_refused_by_id_and_in_lists() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let b_destination = w.b_rows.destination.id;
        w.assert_refused(ObjectKind::Destination, || {
            w.a.get_destination(b_destination)
        });
        w.assert_refused(ObjectKind::Destination, || {
            w.a.list_destinations(&Page::first(50))
        });
        assert_eq!(
            w.a.get_destination(w.a_rows.destination.id).unwrap(),
            w.a_rows.destination
        );
    }
}

#[test]
fn foreign_connection_is_refused_by_id_and_in_lists() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let b_connection = w.b_rows.connection.id;
        w.assert_refused(ObjectKind::Connection, || w.a.get_connection(b_connection));
        w.assert_refused(ObjectKind::Connection, || {
            w.a.list_connections(&Page::first(50))
        });
        // Starting a sync resolves the connection through the guard first.
        w.assert_refused(ObjectKind::Connection, || w.a.start_sync(b_connection));
        assert_eq!(
            w.a.get_connection(w.a_rows.connection.id).unwrap(),
            w.a_rows.connection
        );
    }
}

#[test]
fn foreign_sync_run_is_refused_by_id_and_in_lists() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let b_run = w.b_rows.run.id;
        w.assert_refused(ObjectKind::SyncRun, || w.a.get_sync_run(b_run));
        // A's own connection: the leaky listing returns B's run alongside A's.
        let a_connection = w.a_rows.connection.id;
        w.assert_refused(ObjectKind::SyncRun, || {
            w.a.list_sync_runs(a_connection, &Page::first(50))
        });
        // B's connection: refused already when the connection is resolved.
        let b_connection = w.b_rows.connection.id;
        w.assert_refused(ObjectKind::Connection, || {
            w.a.list_sync_runs(b_connection, &Page::first(50))
        });
        assert_eq!(w.a.get_sync_run(w.a_rows.run.id).unwrap(), w.a_rows.run);
    }
}

#[test]
fn foreign_workspace_row_is_refused() {
    for neighbour in NEIGHBOURS {
        // The leaky `load_workspace` returns the newest workspace: B.
        let w = World::build(Leak::TenantRows, neighbour);
        w.assert_refused(ObjectKind::Workspace, || w.a.workspace());
    }
}

/// The leaky updates write whatever row has the id; the guard cannot undo that write (see the
/// report), but the foreign row they return never reaches A.
#[test]
fn foreign_rows_returned_by_updates_are_refused() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        tick(&w.clock);
        let b = &w.b_rows;
        let rename = ConnectorUpdate {
            name: Some(name("renamed by a")),
            config: None,
        };
        w.assert_refused(ObjectKind::Source, || {
            w.a.update_source(b.source.id, &rename)
        });
        w.assert_refused(ObjectKind::Destination, || {
            w.a.update_destination(b.destination.id, &rename)
        });
        w.assert_refused(ObjectKind::Connection, || {
            w.a.update_connection(
                b.connection.id,
                &ConnectionUpdate {
                    name: Some(name("renamed by a")),
                    ..ConnectionUpdate::default()
                },
            )
        });
        // Finishing reads the run through the guard before writing, so this one never writes.
        w.assert_refused(ObjectKind::SyncRun, || {
            w.a.finish_sync(b.run.id, SyncOutcome::Cancelled)
        });
    }
}

/// The leaky store's writes match on id only, so the only thing between A and B's rows is the
/// guarded read the engine makes before every write by id: B's rows must come out unchanged.
#[test]
fn foreign_writes_are_refused_before_they_reach_storage() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        tick(&w.clock);
        let b = &w.b_rows;
        let rename = ConnectorUpdate {
            name: Some(name("renamed by a")),
            config: None,
        };
        w.assert_refused(ObjectKind::Source, || {
            w.a.update_source(b.source.id, &rename)
        });
        w.assert_refused(ObjectKind::Source, || w.a.delete_source(b.source.id));
        w.assert_refused(ObjectKind::Destination, || {
            w.a.delete_destination(b.destination.id)
        });
        w.assert_refused(ObjectKind::Connection, || {
            w.a.delete_connection(b.connection.id)
        });
        w.assert_refused(ObjectKind::Source, || {
            w.a.create_connection(NewConnection {
                name: name("a to b's source"),
                source_id: b.source.id,
                destination_id: w.a_rows.destination.id,
                schedule: Schedule::Manual,
            })
        });
        assert_eq!(w.b.get_source(b.source.id).unwrap(), b.source);
        assert_eq!(
            w.b.get_destination(b.destination.id).unwrap(),
            b.destination
        );
        assert_eq!(w.b.get_connection(b.connection.id).unwrap(), b.connection);
        assert_eq!(w.b.get_sync_run(b.run.id).unwrap(), b.run);
        // Nothing new was stored for A: its only connection is the one it made itself.
        assert_eq!(
            w.a.get_connection(w.a_rows.connection.id).unwrap(),
            w.a_rows.connection
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Organization level (second mode)
// ---------------------------------------------------------------------------------------------

#[test]
fn org_reads_returning_another_orgs_workspace_are_refused() {
    let w = World::build(Leak::TenantAndOrgRows, Neighbour::OtherOrg);
    let b_id = w.b_workspace.id;
    w.assert_refused(ObjectKind::Workspace, || {
        w.org_a
            .list_workspaces(&WorkspaceFilter::default(), &Page::first(50))
    });
    w.assert_refused(ObjectKind::Workspace, || w.org_a.get_workspace(b_id));
    w.assert_refused(ObjectKind::Workspace, || {
        w.org_a.workspace_by_external_id(&ext("cust-b"))
    });
    w.assert_refused(ObjectKind::Workspace, || {
        w.org_a.update_workspace(
            b_id,
            &WorkspaceUpdate {
                name: Some(name("taken over")),
                status: None,
                ..WorkspaceUpdate::default()
            },
        )
    });
    // Revoking B's tokens reads B through the guard first, so the leaky write never runs.
    tick(&w.clock);
    w.assert_refused(ObjectKind::Workspace, || w.org_a.revoke_all_tokens(b_id));
    assert_eq!(w.b.workspace().unwrap(), w.b_workspace);
    // No scope on B is ever handed out to org 1.
    w.assert_refused(ObjectKind::Workspace, || w.org_a.workspace(b_id));
    // Org 1's own workspace is still served.
    assert_eq!(
        w.org_a.get_workspace(w.a.workspace_id()).unwrap().id,
        w.a.workspace_id()
    );
}

// ---------------------------------------------------------------------------------------------
// Credentials and scoped tokens
// ---------------------------------------------------------------------------------------------

/// With one organization and its one workspace, the leaky store, in its leakiest mode and with
/// either way of losing the tenant in `load_token_state`, serves every credential path
/// correctly: access keys, signing keys, the JWKS, minting, authenticating and revoking scoped
/// tokens. So the refusals below come from the foreign rows.
#[test]
fn credential_paths_are_correct_when_only_own_rows_exist() {
    for lookup in [TokenLookup::Newest, TokenLookup::IdOnly] {
        let clock = new_clock();
        let store = Arc::new(LeakyStore::new(Leak::Everything));
        store.set_token_lookup(lookup);
        let engine = engine_over(store.clone(), clock.clone());
        let (org, key) = engine.create_organization("Org One").unwrap();
        let org_a = engine.authenticate_org(key.expose()).unwrap();
        assert_eq!(org_a.org_id(), org.id);

        // Access keys.
        let keys = org_a.list_keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].prefix, key.prefix());
        assert!(keys[0].last_used_at.is_some());
        tick(&clock);
        let (second, second_secret) = org_a.create_key(None).unwrap();
        assert_eq!(
            org_a
                .list_keys()
                .unwrap()
                .iter()
                .map(|k| k.id)
                .collect::<Vec<_>>(),
            vec![keys[0].id, second.id]
        );
        assert_eq!(
            engine
                .authenticate_org(second_secret.expose())
                .unwrap()
                .org_id(),
            org.id
        );
        assert!(org_a.revoke_key(second.id).unwrap().revoked_at.is_some());
        assert!(matches!(
            engine.authenticate_org(second_secret.expose()),
            Err(Error::InvalidOrgKey { .. })
        ));

        // Signing keys.
        let signing = org_a.signing_keys().unwrap();
        assert_eq!(signing.len(), 1);
        assert_eq!(signing[0].algorithm, Algorithm::Hs256);
        assert_eq!(signing[0].retire_at, None);
        assert_eq!(org_a.jwks().unwrap(), Jwks::default());
        assert!(
            !org_a
                .reveal_hs256_secret(&signing[0].kid)
                .unwrap()
                .expose()
                .is_empty()
        );

        // Minting and authenticating.
        tick(&clock);
        let first = org_a
            .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
            .unwrap();
        assert!(first.workspace_created);
        let scope = engine.authenticate(first.token.expose()).unwrap();
        assert_eq!(scope.org_id(), org.id);
        assert_eq!(scope.workspace_id(), first.workspace_id);
        assert_eq!(scope.token_id(), Some(first.token_id.as_str()));
        assert_eq!(scope.workspace().unwrap().external_id, ext("cust-a"));
        let again = org_a
            .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
            .unwrap();
        assert_eq!(again.workspace_id, first.workspace_id);
        assert!(!again.workspace_created);

        // Revoking one token, then all of them.
        org_a.revoke_token(first.token.expose()).unwrap();
        assert!(is_revoked(engine.authenticate(first.token.expose())));
        engine.authenticate(again.token.expose()).unwrap();
        tick(&clock);
        let revoked_all = org_a.revoke_all_tokens(again.workspace_id).unwrap();
        assert_eq!(revoked_all.tokens_valid_after, Some(clock.now()));
        assert!(is_revoked(engine.authenticate(again.token.expose())));

        // A switch to EdDSA: a new signer, the old key retiring, one public key in the JWKS.
        tick(&clock);
        org_a
            .update_settings(&OrgSettings {
                token_algorithm: Algorithm::EdDsa,
                ..OrgSettings::default()
            })
            .unwrap();
        let signing = org_a.signing_keys().unwrap();
        assert_eq!(
            signing
                .iter()
                .map(|k| (k.algorithm, k.retire_at.is_none()))
                .collect::<Vec<_>>(),
            vec![(Algorithm::EdDsa, true), (Algorithm::Hs256, false)]
        );
        let jwks = org_a.jwks().unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].kid, signing[0].kid);
        tick(&clock);
        let third = org_a
            .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
            .unwrap();
        assert_eq!(
            engine
                .authenticate(third.token.expose())
                .unwrap()
                .workspace_id(),
            first.workspace_id
        );

        assert_eq!(engine.isolation_breaches(), 0);
    }
}

/// A's own token, minted by its organization.
fn token_for_a(w: &World) -> IssuedToken {
    let issued = w
        .org_a
        .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
        .unwrap();
    assert_eq!(issued.workspace_id, w.a.workspace_id());
    issued
}

/// The leaky `load_token_state` answers A's token with B's workspace row: authenticating
/// fails closed, once counted, and hands out no scope (on A or on B).
#[test]
fn token_state_of_another_workspace_is_refused() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let issued = token_for_a(&w);
        w.assert_refused(ObjectKind::Workspace, || {
            w.engine.authenticate(issued.token.expose())
        });
        // The token itself is sound: the offline checks, which read no workspace, pass.
        let claims = w.engine.verify_token(issued.token.expose()).unwrap();
        assert_eq!(claims.workspace_id, w.a.workspace_id());
    }
}

/// An organization holds its own HS256 secret, so it can sign a token naming any workspace id:
/// here B's, in org 2. A store whose token lookup matches the workspace id but not the
/// organization finds B; the guard refuses it.
#[test]
fn token_naming_another_orgs_workspace_is_refused() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    w.store.set_token_lookup(TokenLookup::IdOnly);
    let issued = token_for_a(&w);
    // The id-only lookup is right for A's own token.
    let scope = w.engine.authenticate(issued.token.expose()).unwrap();
    assert_eq!(
        (scope.org_id(), scope.workspace_id()),
        (w.org_a.org_id(), w.a.workspace_id())
    );

    let kid = w.org_a.signing_keys().unwrap()[0].kid.clone();
    let secret = w.org_a.reveal_hs256_secret(&kid).unwrap();
    let forged = resign_with_subject(issued.token.expose(), secret.expose(), w.b_workspace.id);
    let claims = w.engine.verify_token(&forged).unwrap();
    assert_eq!(
        (claims.org_id, claims.workspace_id),
        (w.org_a.org_id(), w.b_workspace.id)
    );
    w.assert_refused(ObjectKind::Workspace, || w.engine.authenticate(&forged));
}

/// The leaky get-or-create matches the external id in any organization and ignoring case: the
/// scoped-token flow gets B's workspace (org 2's `cust-b`, or the sibling `cust-b` for
/// `CUST-B`) and mints nothing.
#[test]
fn scoped_token_for_a_workspace_found_elsewhere_is_refused() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantAndOrgRows, neighbour);
        let asked = match neighbour {
            // Only the guard's organization check can stop this one.
            Neighbour::OtherOrg => "cust-b",
            // B is org 1's own: only the external-id check can stop this one.
            Neighbour::SameOrg => "CUST-B",
        };
        w.assert_refused(ObjectKind::Workspace, || {
            w.org_a.scoped_token(&ScopedTokenRequest::new(ext(asked)))
        });
        // A's own customer still gets a token for A's workspace.
        let issued = token_for_a(&w);
        assert!(!issued.workspace_created);
    }
}

/// The leaky key listings return every organization's keys: the organization's key list,
/// signing keys, JWKS, HS256 secrets and its signer all fail closed instead of showing (or
/// using) org 2's.
#[test]
fn another_orgs_keys_are_refused() {
    let w = World::build(Leak::Everything, Neighbour::OtherOrg);
    // Org 2 gets a second access key and an EdDSA signer next to its HS256 key, so the leaky
    // listings hold org 2's key prefixes, an HS256 secret and a public key.
    tick(&w.clock);
    w.org2.create_key(None).unwrap();
    w.org2
        .update_settings(&OrgSettings {
            token_algorithm: Algorithm::EdDsa,
            ..OrgSettings::default()
        })
        .unwrap();
    let org2_hs256 = w
        .store
        .tables()
        .signing_keys
        .iter()
        .find(|k| k.org_id == w.org2.org_id() && k.algorithm == Algorithm::Hs256)
        .unwrap()
        .kid
        .clone();
    assert_eq!(w.engine.isolation_breaches(), 0);

    w.assert_refused(ObjectKind::Organization, || w.org_a.list_keys());
    w.assert_refused(ObjectKind::Organization, || w.org_a.signing_keys());
    w.assert_refused(ObjectKind::Organization, || w.org_a.jwks());
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a.reveal_hs256_secret(&org2_hs256)
    });
    // The signer is picked from the same listing: no token is minted either.
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a
            .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
    });
}

// ---------------------------------------------------------------------------------------------
// Organization rows and org keys (switched-on leaks)
// ---------------------------------------------------------------------------------------------

/// A made-up org key: the right prefix and 43 base64url characters (256 bits), which no
/// organization has.
fn made_up_org_key() -> String {
    let key = format!("bh_org_{}", URL_SAFE_NO_PAD.encode([0x5a_u8; 32]));
    assert_eq!(key.len(), "bh_org_".len() + 43);
    key
}

/// `find_org_key` ignores the hash and returns org 1's key for any key at all: a made-up key
/// gets no scope (and touches no key), and neither does org 2's real key, which would otherwise
/// open org 1. Org 1's own key, the row the leak happens to return, still works.
#[test]
fn org_key_lookup_ignoring_the_hash_gives_no_scope() {
    let clock = new_clock();
    let store = Arc::new(LeakyStore::new(Leak::TenantRows));
    let engine = engine_over(store.clone(), clock.clone());
    let (org1, key1) = engine.create_organization("Org One").unwrap();
    let (org2, key2) = engine.create_organization("Org Two").unwrap();
    engine.authenticate_org(key1.expose()).unwrap();
    engine.authenticate_org(key2.expose()).unwrap();
    store.set_org_leaks(OrgLeaks {
        key_of_any_hash: true,
        ..OrgLeaks::default()
    });
    // Past the touch interval, so a key that were taken for the made-up one would be touched.
    clock.advance(Duration::from_secs(120));
    let org1_key_before = store.tables().org_keys[0].clone();
    assert_eq!(org1_key_before.org_id, org1.id);

    let made_up = made_up_org_key();
    let result = engine.authenticate_org(&made_up);
    assert!(
        matches!(result, Err(Error::InvalidOrgKey { .. })),
        "a made-up org key got {:?}",
        result.map(|scope| scope.org_id())
    );
    assert_eq!(store.tables().org_keys[0], org1_key_before);

    let result = engine.authenticate_org(key2.expose());
    assert!(
        matches!(result, Err(Error::InvalidOrgKey { .. })),
        "org 2's key, answered with org 1's row, got {:?} (org 2 is {})",
        result.map(|scope| scope.org_id()),
        org2.id
    );

    // Control: org 1's key is the row the leak returns, and it is right for that key.
    assert_eq!(
        engine.authenticate_org(key1.expose()).unwrap().org_id(),
        org1.id
    );
    assert_eq!(engine.isolation_breaches(), 0);
}

/// `revoke_org_key` matches the key id in any organization: org 1 revoking org 2's key id gets
/// "not found", as for any key id it does not have, and org 2's key keeps working.
#[test]
fn revoking_another_orgs_key_is_not_found_and_leaves_it_working() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    tick(&w.clock);
    let (org2_key, org2_secret) = w.org2.create_key(None).unwrap();
    w.store.set_org_leaks(OrgLeaks {
        revoke_by_id_only: true,
        ..OrgLeaks::default()
    });

    let err = w.org_a.revoke_key(org2_key.id).unwrap_err();
    match &err {
        Error::NotFound {
            kind: ObjectKind::OrgKey,
            id,
        } => assert_eq!(*id, org2_key.id.to_string()),
        other => panic!("expected org key {} not found, got {other:?}", org2_key.id),
    }
    w.assert_reveals_nothing_of_b(&err);

    // Org 2's key was not revoked, and still opens org 2.
    let stored = w
        .store
        .tables()
        .org_keys
        .iter()
        .find(|k| k.id == org2_key.id)
        .cloned()
        .unwrap();
    assert_eq!(stored.revoked_at, None);
    assert_eq!(
        w.engine
            .authenticate_org(org2_secret.expose())
            .unwrap()
            .org_id(),
        w.org2.org_id()
    );

    // Control: the id-only write is right for org 1's own key.
    tick(&w.clock);
    let (own, own_secret) = w.org_a.create_key(None).unwrap();
    assert!(w.org_a.revoke_key(own.id).unwrap().revoked_at.is_some());
    assert!(matches!(
        w.engine.authenticate_org(own_secret.expose()),
        Err(Error::InvalidOrgKey { .. })
    ));
    assert_eq!(w.engine.isolation_breaches(), 0);
}

/// `update_org_settings` writes and returns org 2's row (the newest organization) whoever
/// calls: org 1's update is refused and hands org 1 nothing of org 2's row.
///
/// The leaky write itself has already replaced org 2's settings by the time the engine sees the
/// row it returns: the engine trusts the store's writes inside its transaction and checks what
/// comes back, so that write is not asserted on either way.
#[test]
fn settings_update_returning_another_org_is_refused() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    w.store.set_org_leaks(OrgLeaks {
        settings_of_newest_org: true,
        ..OrgLeaks::default()
    });
    let settings = OrgSettings {
        issuer: "org-one-issuer".to_owned(),
        audience: "org-one-audience".to_owned(),
        ..OrgSettings::default()
    };
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a.update_settings(&settings)
    });
}

/// `get_organization` returns org 2 (the newest organization) for any id: verifying org 1's
/// token finds no organization, instead of checking it against org 2's issuer and audience,
/// whether those would accept it (the same as org 1's) or reject it while naming org 2's.
#[test]
fn token_verification_treats_another_orgs_row_as_not_found() {
    let org2_settings = [
        OrgSettings::default(),
        OrgSettings {
            issuer: "org-two-issuer".to_owned(),
            audience: "org-two-audience".to_owned(),
            ..OrgSettings::default()
        },
    ];
    for settings in org2_settings {
        let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
        w.org2.update_settings(&settings).unwrap();
        let a_token = token_for_a(&w);
        let b_token = w
            .org2
            .scoped_token(&ScopedTokenRequest::new(ext("cust-b")))
            .unwrap();
        w.store.set_org_leaks(OrgLeaks {
            newest_org: true,
            ..OrgLeaks::default()
        });

        let err = w.engine.verify_token(a_token.token.expose()).unwrap_err();
        match &err {
            Error::NotFound {
                kind: ObjectKind::Organization,
                id,
            } => assert_eq!(*id, w.org_a.org_id().to_string()),
            other => panic!("expected organization not found, got {other:?}"),
        }
        w.assert_reveals_nothing_of_b(&err);
        if settings != OrgSettings::default() {
            // Org 2's own issuer and audience, which org 1 must not learn.
            let text = format!("{err} / {err:?}");
            for value in [&settings.issuer, &settings.audience] {
                assert!(!text.contains(value.as_str()), "`{text}` names `{value}`");
            }
        }

        // Control: for org 2's own token the leak returns the right row.
        assert_eq!(
            w.engine
                .verify_token(b_token.token.expose())
                .unwrap()
                .workspace_id,
            w.b_workspace.id
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Counting
// ---------------------------------------------------------------------------------------------

#[test]
fn isolation_breaches_counts_each_refused_call_exactly() {
    let w = World::build(Leak::TenantAndOrgRows, Neighbour::OtherOrg);
    let b = &w.b_rows;
    let page = Page::first(50);
    assert_eq!(w.engine.isolation_breaches(), 0);

    // More foreign rows, so a listing returns several of them.
    tick(&w.clock);
    w.b.create_source(NewSource {
        name: name("bravo second source"),
        connector: "postgres".parse().unwrap(),
        config: ConnectorConfig::from_json("{}").unwrap(),
    })
    .unwrap();
    w.b.start_sync(b.connection.id).unwrap();

    // Successful calls count nothing.
    w.a.get_source(w.a_rows.source.id).unwrap();
    w.a.get_sync_run(w.a_rows.run.id).unwrap();
    assert_eq!(w.engine.isolation_breaches(), 0);

    let refused = [
        w.a.get_source(b.source.id).is_err(),
        w.a.list_sources(&page).is_err(),
        w.a.get_destination(b.destination.id).is_err(),
        w.a.list_destinations(&page).is_err(),
        w.a.get_connection(b.connection.id).is_err(),
        w.a.list_connections(&page).is_err(),
        w.a.get_sync_run(b.run.id).is_err(),
        w.a.list_sync_runs(w.a_rows.connection.id, &page).is_err(),
        w.a.workspace().is_err(),
        w.org_a
            .list_workspaces(&WorkspaceFilter::default(), &page)
            .is_err(),
        w.org_a.workspace(w.b_workspace.id).is_err(),
    ];
    assert!(refused.iter().all(|r| *r));
    // One per refused call, even for lists holding several foreign rows.
    assert_eq!(w.engine.isolation_breaches(), refused.len() as u64);

    // The count lives in the engine and is shared by its clones.
    let clone = w.engine.clone();
    assert!(w.a.get_source(b.source.id).is_err());
    assert_eq!(clone.isolation_breaches(), refused.len() as u64 + 1);
}
