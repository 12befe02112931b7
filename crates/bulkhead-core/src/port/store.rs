//! The storage port: what the engine needs from a database, one method per use case.
//!
//! Adapters (`bulkhead-sqlite`, `bulkhead-postgres`) implement the port in six parts, split by
//! what a call runs against: [`SystemStore`] (no tenant: the operator's and the credential
//! lookups, the master key, the cross-tenant job and schedule ports), [`OrgStore`] (the
//! organization itself), [`WorkspaceStore`] (its workspaces as rows), [`CatalogStore`] (its
//! tags and templates), [`AuditStore`] (its audit chain) and [`TenantStore`] (inside one
//! workspace). [`Store`] is the six together, and every type that implements them is one; the
//! engine holds an `Arc<dyn Store>`, its guard only the [`AuditStore`] it appends breaches to.
//! The contract every adapter keeps:
//!
//! - every method that reads or writes tenant rows takes `&Tenant` (or `&OrgCtx` for
//!   organization-level rows) and confines itself to it, with the tenant's ids as bound
//!   parameters, never as text inside SQL;
//! - a lookup of an id outside the tenant returns `None` (or the not-found error), exactly like
//!   a missing id;
//! - each method is one transaction: it either happens whole or not at all;
//! - references inside a request (a connection's source) are resolved inside the same tenant;
//! - a write whose `OrgCtx` or `Tenant` carries an audit draft ([`OrgCtx::audit`]) appends it
//!   to the organization's audit chain ([`crate::audit::next_event`]) in its transaction when
//!   it changes something, and not otherwise; appends of one organization are serialized.
//!
//! The engine does not trust the adapter to keep the first rule: it checks every returned row
//! (see [`crate::guard`]). The calls without a context are all in [`SystemStore`]:
//! organization lookups (`get_organization`, `list_organizations`) are the operator's and
//! return no tenant rows; credential lookups (`find_org_key`, `find_signing_key`) find a key by
//! its hash or id before any tenant is known, and return no tenant rows either.
//!
//! A new required method is also listed, tagged read or write, in `store_methods!` (in
//! `port/methods.rs`), from which testkit's store wrappers forward it; a unit test there fails
//! to compile until the list matches these traits.

use std::collections::BTreeSet;
use std::fmt;

use uuid::Uuid;

use crate::audit::{AuditDraft, AuditEvent, AuditFilter};
use crate::crypto::keys::{OrgKeyRow, SigningKeyRow};
use crate::crypto::secrets::SealedSecrets;
use crate::error::{ObjectKind, Result};
use crate::model::ids::{ConnectionId, ExternalId, OrgId, OrgKeyId, SyncRunId, WorkspaceId};
use crate::model::names::{Connector, ConnectorConfig, Name};
use crate::model::objects::{
    Connection, ConnectionStatus, ConnectionUpdate, GetOrCreated, OrgSettings, Organization,
    SyncRun, Workspace, WorkspaceStatus,
};
use crate::model::tags::{Tag, TagSelection};
use crate::model::templates::TagInfo;
use crate::model::time::Timestamp;
use crate::port::tenant::{OrgCtx, Tenant};

use crate::port::jobs::JobStore;
/// The end of a sync run, as stored (defined with the job queue, which ends runs too).
pub use crate::port::jobs::SyncFinish;
use crate::port::schedules::ScheduleStore;

/// Sources and destinations are stored alike; this says which one a call is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// A source (table `sources`).
    Source,
    /// A destination (table `destinations`).
    Destination,
}

impl EndpointKind {
    /// The kind of object, for errors.
    pub fn object_kind(self) -> ObjectKind {
        match self {
            Self::Source => ObjectKind::Source,
            Self::Destination => ObjectKind::Destination,
        }
    }
}

/// A stored source or destination.
///
/// `S` is what the row carries of its secrets: [`SealedSecrets`] as a read of one row, a merge
/// or a write sees it; `()` in a page of a listing ([`TenantStore::list_endpoints`]), which
/// never needs them, so that a listed row cannot be mistaken for one holding its secrets.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointRow<S = SealedSecrets> {
    /// Source or destination.
    pub kind: EndpointKind,
    /// Its id.
    pub id: Uuid,
    /// The organization of its workspace.
    pub org_id: OrgId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its display name.
    pub name: Name,
    /// Its connector.
    pub connector: Connector,
    /// Its configuration, secret fields masked.
    pub config: ConnectorConfig,
    /// Its secret fields, sealed with the workspace's data key (or `()` where not read).
    pub secrets: S,
    /// The template it was made from (a source template for a source, a connection template
    /// for a destination). A workspace holds at most one destination per connection template.
    pub template_id: Option<Uuid>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl<S> EndpointRow<S> {
    /// The same row with `secrets` in place of what it carried.
    pub fn with_secrets<T>(self, secrets: T) -> EndpointRow<T> {
        EndpointRow {
            kind: self.kind,
            id: self.id,
            org_id: self.org_id,
            workspace_id: self.workspace_id,
            name: self.name,
            connector: self.connector,
            config: self.config,
            secrets,
            template_id: self.template_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Changes to a stored source or destination; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    /// A new name.
    pub name: Option<Name>,
    /// A new configuration (masked) with its sealed secrets, replacing both.
    pub config: Option<(ConnectorConfig, SealedSecrets)>,
}

/// Source templates or connection templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    /// Table `source_templates`.
    Source,
    /// Table `connection_templates`.
    Connection,
}

/// A stored template. Its kind-specific fields travel as JSON text in `body`, which the engine
/// writes and reads; storage keeps it as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateRow {
    /// Source or connection template.
    pub kind: TemplateKind,
    /// Its id.
    pub id: Uuid,
    /// Its organization.
    pub org_id: OrgId,
    /// Its display name.
    pub name: Name,
    /// Its tags; every one must exist in the organization.
    pub tags: BTreeSet<Tag>,
    /// The kind-specific fields, as JSON.
    pub body: String,
    /// Its secret fields, sealed with the master key.
    pub secrets: SealedSecrets,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// One value sealed under the master key, as [`SystemStore::reseal_all`] hands it over.
#[derive(Clone, Copy, Debug)]
pub enum SealedItem<'a> {
    /// The sealed data key of a workspace.
    DataKey {
        /// The workspace's organization.
        org_id: OrgId,
        /// The workspace.
        workspace_id: WorkspaceId,
        /// The sealed key.
        sealed: &'a [u8],
    },
    /// The sealed secret of a signing key.
    SigningKey {
        /// The key's organization.
        org_id: OrgId,
        /// The key's id.
        kid: &'a str,
        /// The sealed secret.
        sealed: &'a [u8],
    },
    /// The sealed secrets of a template, in their stored form.
    TemplateSecrets {
        /// The template's organization.
        org_id: OrgId,
        /// The template.
        template_id: Uuid,
        /// [`SealedSecrets::to_stored`] text.
        stored: &'a str,
    },
}

/// Which workspaces an organization-level listing returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkspaceFilter {
    /// Only external ids that start with this text (exact, case-sensitive).
    pub external_id_prefix: Option<String>,
    /// Only workspaces with this status.
    pub status: Option<WorkspaceStatus>,
    /// Only workspaces whose display name contains this text, ignoring the case of ASCII
    /// letters (other characters compare exactly, so both adapters agree whatever their
    /// locale). An adapter matches it in its query, never after loading the rows: the engine
    /// passes it lowercased (ASCII) and at most 255 characters long, without control
    /// characters.
    pub name_contains: Option<String>,
}

/// Changes to a workspace; `None` keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkspaceUpdate {
    /// A new display name.
    pub name: Option<Name>,
    /// A new status.
    pub status: Option<WorkspaceStatus>,
    /// A new selection of source template tags.
    pub source_tags: Option<TagSelection>,
    /// A new selection of connection template tags.
    pub connection_tags: Option<TagSelection>,
}

impl WorkspaceUpdate {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether applying the update to `workspace` would change it.
    pub fn changes(&self, workspace: &Workspace) -> bool {
        self.name.as_ref().is_some_and(|n| *n != workspace.name)
            || self.status.is_some_and(|s| s != workspace.status)
            || self
                .source_tags
                .as_ref()
                .is_some_and(|t| *t != workspace.source_tags)
            || self
                .connection_tags
                .as_ref()
                .is_some_and(|t| *t != workspace.connection_tags)
    }
}

/// What authenticating a scoped token needs from storage, read in one go.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenState {
    /// The token's workspace.
    pub workspace: Workspace,
    /// The organization's current issuer and audience.
    pub issuer: String,
    /// See `issuer`.
    pub audience: String,
    /// Whether the token's `jti` is on the deny-list.
    pub revoked: bool,
    /// The organization's longest token lifetime, in seconds.
    pub max_ttl_secs: i64,
    /// The organization's signing key named by the token's `kid`: `None` if it has none (any
    /// more), else its retirement time, if any.
    pub signing_key: Option<Option<Timestamp>>,
}

/// What the organization's dashboard shows of one workspace, read in one go inside it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkspaceActivity {
    /// How many sources it has.
    pub sources: u64,
    /// Its connections, oldest first.
    pub connections: Vec<Connection>,
    /// The latest run (by start time, then id) of each of its connections that ran.
    pub latest_runs: Vec<SyncRun>,
    /// Rows moved by all of its runs.
    pub rows_synced: u64,
    /// Bytes moved by all of its runs.
    pub bytes_synced: u64,
    /// Rows moved by its runs started at or after the `since` of the call.
    pub rows_since: u64,
    /// Bytes moved by its runs started at or after the `since` of the call.
    pub bytes_since: u64,
}

/// How many workspaces of an organization have one status, as storage counts them; the owner
/// is the stored `org_id`, so the engine can check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusCount {
    /// The organization the counted rows belong to.
    pub org_id: OrgId,
    /// The status.
    pub status: WorkspaceStatus,
    /// How many workspaces have it.
    pub count: u64,
}

/// How many workspaces of an organization were created in one hour, as storage counts them;
/// the owner is the stored `org_id`, so the engine can check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreationCount {
    /// The organization the counted rows belong to.
    pub org_id: OrgId,
    /// The start of the hour: `created_at` rounded down to a whole hour since the Unix epoch.
    pub hour: Timestamp,
    /// How many workspaces were created in it.
    pub count: u64,
}

/// Everything a merge moves into its target workspace, already rewritten by the engine: the
/// target's workspace id on every row, secrets re-sealed under the target's data key,
/// connections pointing at the target's destinations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergeRows {
    /// Sources, then destinations.
    pub endpoints: Vec<EndpointRow>,
    /// Connections.
    pub connections: Vec<Connection>,
    /// Sync runs.
    pub sync_runs: Vec<SyncRun>,
    /// How many rows the merged workspace had when the engine read them. Different counts
    /// inside the merge's transaction mean it changed meanwhile: the merge is refused (a
    /// conflict) and changes nothing.
    pub from_counts: RowCounts,
}

/// How many rows of each kind a workspace holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    /// Its sources.
    pub sources: u64,
    /// Its destinations.
    pub destinations: u64,
    /// Its connections.
    pub connections: u64,
    /// Its sync runs.
    pub sync_runs: u64,
}

/// How a stored connection may run: its status, and whether its workspace's deactivation (not
/// its customer) made it inactive (the `paused_by_workspace` column), so that making the
/// workspace active again resumes exactly the connections it paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionState {
    /// Whether it may run.
    pub status: ConnectionStatus,
    /// Whether it is inactive only because its workspace is.
    pub paused_by_workspace: bool,
}

impl ConnectionState {
    /// The state a connection in this state takes when a merge moves it into a workspace whose
    /// status is `into`; the adapters apply it inside the merge's transaction, with the states
    /// and the status read there.
    ///
    /// What the customer chose survives the move, and the target decides whether the workspace
    /// pauses it: a connection its customer made inactive stays inactive (and is never resumed
    /// by a workspace); one that was active, or was paused only by the merged workspace, is
    /// active in an active target and paused by the target in an inactive one (so making the
    /// target active again resumes it, as for the target's own connections).
    pub fn merged_into(self, into: WorkspaceStatus) -> Self {
        let chosen = if self.paused_by_workspace {
            ConnectionStatus::Active
        } else {
            self.status
        };
        match (chosen, into) {
            (ConnectionStatus::Active, WorkspaceStatus::Inactive) => Self {
                status: ConnectionStatus::Inactive,
                paused_by_workspace: true,
            },
            (status, _) => Self {
                status,
                paused_by_workspace: false,
            },
        }
    }
}

/// A destination and the connection to it, as made from one connection template.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// The destination.
    pub destination: EndpointRow,
    /// The connection from the new source to it.
    pub connection: Connection,
}

/// A keyset position in a listing ordered by time then id: a row's time (its `created_at`, or
/// a sync run's `started_at`) and its id. A page goes on after it (before it, newest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keyset {
    /// The row's time.
    pub at: Timestamp,
    /// Its id.
    pub id: Uuid,
}

/// Calls that run before any tenant is known, or across all of them: the master-key check,
/// the operator's listing, the credential lookups and the master-key rotation. Each one is a
/// named exception to "every call runs for one tenant"; there are no others. It also hands out
/// the job queue's and the scheduler's ports, if the store has them: they serve every tenant
/// (each of their calls names the one it is for, or runs for the whole queue).
pub trait SystemStore: Send + Sync + fmt::Debug {
    /// Returns the master-key check value stored in the database, storing `candidate` first
    /// if there is none (a new database), in one transaction.
    fn master_key_check(&self, candidate: &[u8]) -> Result<Vec<u8>>;

    /// The organization with this id (operator lookup).
    fn get_organization(&self, id: OrgId) -> Result<Option<Organization>>;

    /// Every organization, oldest first (operator listing).
    fn list_organizations(&self) -> Result<Vec<Organization>>;

    /// The access key with this SHA-256 (credential lookup, any organization).
    fn find_org_key(&self, hash: &[u8; 32]) -> Result<Option<OrgKeyRow>>;

    /// Records that key `id` was used at `now`.
    fn touch_org_key(&self, id: OrgKeyId, now: Timestamp) -> Result<()>;

    /// The signing key with this `kid` (credential lookup, any organization).
    fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRow>>;

    /// Re-seals every value sealed under the master key (data keys, signing keys, template
    /// secrets) with `reseal`, and stores `check` as the new master-key check value, in one
    /// transaction. Returns how many values were re-sealed.
    fn reseal_all(
        &self,
        check: &[u8],
        reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
    ) -> Result<u64>;

    /// The job queue's port, if this store has one (see [`crate::port::jobs`]). Ending a run
    /// ([`TenantStore::finish_sync_run`]) or deleting it must remove its queue row in the same
    /// transaction.
    fn jobs(&self) -> Option<&dyn JobStore> {
        None
    }

    /// The scheduler's port, if this store keeps due times (see [`crate::port::schedules`]).
    /// A store that has one keeps each scheduled connection's due time in the transactions
    /// that write connections and workspaces, as that module says.
    fn schedules(&self) -> Option<&dyn ScheduleStore> {
        None
    }
}

/// Calls about an organization itself (`&OrgCtx`): its creation, settings, access keys and
/// signing keys.
pub trait OrgStore: Send + Sync + fmt::Debug {
    /// Stores a new organization with its first access key and first signing key, together;
    /// `ctx` names the new organization and carries its first audit event.
    fn insert_organization(
        &self,
        ctx: &OrgCtx,
        org: &Organization,
        first_key: &OrgKeyRow,
        signing_key: &SigningKeyRow,
    ) -> Result<()>;

    /// Replaces the organization's settings; `None` if there is no such organization.
    fn update_org_settings(
        &self,
        org: &OrgCtx,
        settings: &OrgSettings,
    ) -> Result<Option<Organization>>;

    /// Stores a new access key of the organization.
    fn insert_org_key(&self, org: &OrgCtx, row: &OrgKeyRow) -> Result<()>;

    /// The organization's access keys, oldest first.
    fn list_org_keys(&self, org: &OrgCtx) -> Result<Vec<OrgKeyRow>>;

    /// Marks the organization's key `id` revoked at `now` (keeping an earlier revocation);
    /// `None` if there is none.
    fn revoke_org_key(
        &self,
        org: &OrgCtx,
        id: OrgKeyId,
        now: Timestamp,
    ) -> Result<Option<OrgKeyRow>>;

    /// Makes `new` the organization's signer, in one transaction: keys without a retirement
    /// time get `retire_at`, keys retired before `now` are deleted, `new` is stored.
    fn rotate_signing_key(
        &self,
        org: &OrgCtx,
        new: &SigningKeyRow,
        retire_at: Timestamp,
        now: Timestamp,
    ) -> Result<()>;

    /// Retires the organization's signing key `kid` at `at` (or keeps an earlier retirement
    /// time); `false` if the organization has no such key retiring after `at`.
    fn retire_signing_key(&self, org: &OrgCtx, kid: &str, at: Timestamp) -> Result<bool>;

    /// The organization's signing keys, newest first.
    fn list_signing_keys(&self, org: &OrgCtx) -> Result<Vec<SigningKeyRow>>;
}

/// Calls about an organization's workspaces as rows (`&OrgCtx`): get or create, list, count,
/// update, delete (a tombstone), purge, merge, and revoking every token of one.
pub trait WorkspaceStore: Send + Sync + fmt::Debug {
    /// Returns the organization's workspace with `candidate.external_id`, inserting
    /// `candidate` first if there is none, and applying `update` to an existing one, in one
    /// transaction; `true` when it was inserted. Concurrent callers with one external id get
    /// one workspace. An existing tombstone is returned as it is, never updated. When `org`
    /// carries an issuance event ([`OrgCtx::issuance_for`]), it is appended in that
    /// transaction in every case, about the workspace returned (so such a call always writes).
    fn get_or_create_workspace(
        &self,
        org: &OrgCtx,
        candidate: &Workspace,
        update: &WorkspaceUpdate,
    ) -> Result<GetOrCreated>;

    /// The organization's workspace with this id.
    fn get_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<Option<Workspace>>;

    /// The organization's workspace with this external id (exact match).
    fn find_workspace(&self, org: &OrgCtx, external_id: &ExternalId) -> Result<Option<Workspace>>;

    /// Up to `limit` of the organization's live workspaces (no tombstones) matching `filter`,
    /// ordered by external id, after `after`.
    fn list_workspaces(
        &self,
        org: &OrgCtx,
        filter: &WorkspaceFilter,
        after: Option<&ExternalId>,
        limit: usize,
    ) -> Result<Vec<Workspace>>;

    /// The organization's live workspaces (no tombstones) counted by status, one row per
    /// status that occurs, each with the `org_id` of the rows it counts.
    fn count_workspaces(&self, org: &OrgCtx) -> Result<Vec<StatusCount>>;

    /// The organization's workspaces created at or after `since` (tombstones included: they
    /// were created), counted by the hour of their `created_at` (rounded down to a whole hour
    /// since the Unix epoch), one row per hour that has any, oldest first, each with the
    /// `org_id` of the rows it counts. Counted in the database: an organization may have
    /// hundreds of thousands of workspaces.
    fn count_workspace_creations(
        &self,
        org: &OrgCtx,
        since: Timestamp,
    ) -> Result<Vec<CreationCount>>;

    /// Applies `update` to the organization's live workspace `id`; `None` if there is none
    /// (or it is a tombstone). A status change pauses or resumes its connections in the same
    /// transaction: making it inactive makes its active connections inactive and remembers
    /// them; making it active again makes exactly those active again.
    fn update_workspace(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        update: &WorkspaceUpdate,
        now: Timestamp,
    ) -> Result<Option<Workspace>>;

    /// Purges the organization's workspace `id`: deletes it and everything in it, in one
    /// transaction that destroys its sealed data key first; `false` if there is none.
    fn purge_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<bool>;

    /// Makes the organization's live workspace `id` a tombstone deleted at `at` (merged into
    /// `merged_into`, if given); its rows stay until it is purged. `None` if there is no live
    /// workspace `id`.
    fn delete_workspace(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        at: Timestamp,
        merged_into: Option<WorkspaceId>,
    ) -> Result<Option<Workspace>>;

    /// Merges the workspace of `from` into the workspace of `into` (both live, of `org`), in
    /// one transaction: deletes `from`'s sources, destinations, connections and sync runs,
    /// inserts `rows` into `into`, and makes `from` a tombstone merged into `into` at `at`,
    /// without its data key. `false` (nothing changed) if either is not a live workspace of
    /// `org`; a conflict (nothing changed) if `from`'s row counts differ from
    /// `rows.from_counts`. Each moved connection is stored in the state
    /// [`ConnectionState::merged_into`] gives, from its state in `from` and `into`'s status,
    /// both as read inside the transaction (a status in `rows` is what the engine read
    /// before it, and may be older).
    fn merge_workspace(
        &self,
        org: &OrgCtx,
        from: &Tenant,
        into: &Tenant,
        rows: &MergeRows,
        at: Timestamp,
    ) -> Result<bool>;

    /// Up to `limit` of the organization's tombstones deleted at or before `before`, oldest
    /// first.
    fn list_deleted_workspaces(
        &self,
        org: &OrgCtx,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Workspace>>;

    /// Sets the workspace's `tokens_valid_after` to `at`, unless it is already later.
    fn revoke_workspace_tokens(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        at: Timestamp,
    ) -> Result<Option<Workspace>>;
}

/// Calls about an organization's catalog (`&OrgCtx`): tags, source and connection templates.
pub trait CatalogStore: Send + Sync + fmt::Debug {
    /// Creates the organization's tag `name`; a conflict if it exists.
    fn create_tag(&self, org: &OrgCtx, name: &Tag, now: Timestamp) -> Result<TagInfo>;

    /// The organization's tags, by name.
    fn list_tags(&self, org: &OrgCtx) -> Result<Vec<TagInfo>>;

    /// Renames the tag `from` to `to` on the tag, every template and every workspace
    /// selection of the organization, in one transaction; `false` if `from` does not exist,
    /// a conflict if `to` does.
    fn rename_tag(&self, org: &OrgCtx, from: &Tag, to: &Tag) -> Result<bool>;

    /// Deletes the tag and detaches it from every template of the organization; workspace
    /// selections keep the name (which then matches nothing). `false` if it does not exist.
    fn delete_tag(&self, org: &OrgCtx, name: &Tag) -> Result<bool>;

    /// Stores a new template; invalid input if one of its tags does not exist.
    fn insert_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<()>;

    /// The organization's templates of `kind`, oldest first.
    fn list_templates(&self, org: &OrgCtx, kind: TemplateKind) -> Result<Vec<TemplateRow>>;

    /// The organization's template `id` of `kind`.
    fn get_template(
        &self,
        org: &OrgCtx,
        kind: TemplateKind,
        id: Uuid,
    ) -> Result<Option<TemplateRow>>;

    /// Replaces the organization's template `row.id` (name, tags, body, secrets, updated
    /// time); `false` if there is none.
    fn replace_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<bool>;

    /// Deletes the organization's template; `false` if there is none.
    fn delete_template(&self, org: &OrgCtx, kind: TemplateKind, id: Uuid) -> Result<bool>;
}

/// Calls about an organization's audit chain (`&OrgCtx`): a denial appended on its own, and
/// the listings.
pub trait AuditStore: Send + Sync + fmt::Debug {
    /// Appends `draft` to the organization's audit chain on its own (a denial, which changes
    /// nothing else), and returns it as stored.
    fn append_audit(&self, org: &OrgCtx, draft: &AuditDraft) -> Result<AuditEvent>;

    /// Up to `limit` of the organization's audit events matching `filter`, in chain order,
    /// after sequence number `after`.
    fn list_audit(
        &self,
        org: &OrgCtx,
        filter: &AuditFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>>;

    /// Up to `limit` of the organization's audit events matching `filter`, newest first,
    /// before sequence number `before` (from the newest when `None`).
    fn list_audit_newest(
        &self,
        org: &OrgCtx,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>>;
}

/// Calls inside one workspace (`&Tenant`): its token state, data key, sources and
/// destinations, connections and sync runs.
pub trait TenantStore: Send + Sync + fmt::Debug {
    /// The tenant's own workspace row.
    fn load_workspace(&self, tenant: &Tenant) -> Result<Option<Workspace>>;

    /// The tenant's workspace, its organization's issuer, audience and longest token
    /// lifetime, whether `jti` is revoked, and the state of the organization's signing key
    /// `kid`: everything `authenticate` reads, in one query.
    fn load_token_state(&self, tenant: &Tenant, jti: &str, kid: &str)
    -> Result<Option<TokenState>>;

    /// Puts `jti` on the tenant's deny-list until `expires_at`, and drops entries of the
    /// tenant that expired before `now`.
    fn revoke_token(
        &self,
        tenant: &Tenant,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<()>;

    /// The tenant workspace's sealed data key, storing one made by `make` first if it has
    /// none (race-free: concurrent callers get one key). `None` if the workspace does not
    /// exist.
    fn workspace_data_key(
        &self,
        tenant: &Tenant,
        make: &dyn Fn() -> Result<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>>;

    /// Stores a new source and, for each pipeline, its destination (unless the workspace
    /// already has the destination of that connection template, which is then used instead)
    /// and its connection from the source, all in one transaction. Each pipeline's
    /// destination as stored and its connection as stored (with that destination's id) are
    /// handed to `check` before the commit; if `check` fails, nothing is stored. Returns them.
    fn insert_source_with_pipelines(
        &self,
        tenant: &Tenant,
        source: &EndpointRow,
        pipelines: &[Pipeline],
        check: &dyn Fn(&[Pipeline]) -> Result<()>,
    ) -> Result<Vec<Pipeline>>;

    /// Stores a new source or destination.
    fn insert_endpoint(&self, tenant: &Tenant, row: &EndpointRow) -> Result<()>;

    /// The tenant's source or destination with this id.
    fn get_endpoint(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
    ) -> Result<Option<EndpointRow>>;

    /// Up to `limit` of the tenant's sources or destinations, oldest first, after `after`,
    /// without their secrets (a page of a listing never shows them, so it does not read them).
    fn list_endpoints(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<EndpointRow<()>>>;

    /// [`TenantStore::list_endpoints`] with each row's sealed secrets, for a merge that moves
    /// them to another workspace.
    fn list_sealed_endpoints(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<EndpointRow>>;

    /// Applies `update` to the tenant's source or destination `id`; `None` if there is none.
    fn update_endpoint(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> Result<Option<EndpointRow>>;

    /// Deletes the tenant's source or destination `id`; `false` if there is none. Fails with a
    /// conflict, deleting nothing, while a connection still uses it.
    fn delete_endpoint(&self, tenant: &Tenant, kind: EndpointKind, id: Uuid) -> Result<bool>;

    /// Stores a new connection. Its source and destination must be the tenant's own: an id
    /// from elsewhere fails with not-found, storing nothing.
    fn insert_connection(&self, tenant: &Tenant, row: &Connection) -> Result<()>;

    /// The tenant's connection with this id.
    fn get_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<Option<Connection>>;

    /// Up to `limit` of the tenant's connections, oldest first, after `after`.
    fn list_connections(
        &self,
        tenant: &Tenant,
        after: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<Connection>>;

    /// Applies `update` to the tenant's connection `id`; `None` if there is none.
    fn update_connection(
        &self,
        tenant: &Tenant,
        id: ConnectionId,
        update: &ConnectionUpdate,
        now: Timestamp,
    ) -> Result<Option<Connection>>;

    /// Deletes the tenant's connection `id` and its sync runs, together; `false` if there is
    /// none.
    fn delete_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<bool>;

    /// Stores a new sync run of one of the tenant's connections (not-found otherwise). A
    /// running row while the connection already has a running run is not stored:
    /// [`Error::SyncAlreadyRunning`](crate::Error::SyncAlreadyRunning), decided by the
    /// database (a unique index on the running runs of a connection), not by a read before
    /// the write, so concurrent callers cannot both succeed.
    fn insert_sync_run(&self, tenant: &Tenant, row: &SyncRun) -> Result<()>;

    /// The tenant's sync run with this id.
    fn get_sync_run(&self, tenant: &Tenant, id: SyncRunId) -> Result<Option<SyncRun>>;

    /// Up to `limit` runs of the tenant's connection, newest first, before `before`.
    fn list_sync_runs(
        &self,
        tenant: &Tenant,
        connection: ConnectionId,
        before: Option<Keyset>,
        limit: usize,
    ) -> Result<Vec<SyncRun>>;

    /// The tenant's dashboard figures: its number of sources, its connections, the latest run
    /// of each connection, the rows and bytes of all of its runs and of those started at or
    /// after `since`, read in one transaction inside the tenant.
    fn workspace_activity(&self, tenant: &Tenant, since: Timestamp) -> Result<WorkspaceActivity>;

    /// Ends the tenant's run `id` if it is still pending or running; `None` otherwise.
    fn finish_sync_run(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>>;
}

/// What the engine needs from a database: the six parts of the port together. See the module
/// docs for the contract. Every type that implements the six parts is a `Store`.
pub trait Store:
    SystemStore + OrgStore + WorkspaceStore + CatalogStore + AuditStore + TenantStore
{
}

impl<T> Store for T where
    T: SystemStore + OrgStore + WorkspaceStore + CatalogStore + AuditStore + TenantStore
{
}

#[cfg(test)]
mod tests {
    use super::ConnectionState;
    use crate::model::objects::{ConnectionStatus, WorkspaceStatus};

    const ACTIVE: ConnectionState = ConnectionState {
        status: ConnectionStatus::Active,
        paused_by_workspace: false,
    };
    const STOPPED: ConnectionState = ConnectionState {
        status: ConnectionStatus::Inactive,
        paused_by_workspace: false,
    };
    const PAUSED: ConnectionState = ConnectionState {
        status: ConnectionStatus::Inactive,
        paused_by_workspace: true,
    };

    #[test]
    fn a_merge_into_an_active_workspace_resumes_what_the_merged_one_paused() {
        let into = WorkspaceStatus::Active;
        assert_eq!(ACTIVE.merged_into(into), ACTIVE);
        assert_eq!(PAUSED.merged_into(into), ACTIVE);
        assert_eq!(STOPPED.merged_into(into), STOPPED);
    }

    #[test]
    fn a_merge_into_an_inactive_workspace_pauses_what_may_run() {
        let into = WorkspaceStatus::Inactive;
        assert_eq!(ACTIVE.merged_into(into), PAUSED);
        assert_eq!(PAUSED.merged_into(into), PAUSED);
        assert_eq!(STOPPED.merged_into(into), STOPPED);
    }
}
