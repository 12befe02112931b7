#![doc = include_str!("../../../README.md")]
//!
//! # This crate
//!
//! The facade: [`Engine`] (opened on a SQLite file with [`Engine::open`], or over any
//! [`store::Store`] with [`Engine::with_store`]), [`Config`], and the model, scopes and errors
//! of `bulkhead-core`, re-exported. Cargo features:
//!
//! - `sqlite` (default): the embedded SQLite store of `bulkhead-sqlite`, with SQLite compiled
//!   in (rusqlite's `bundled`), and [`Engine::open`].
//! - `postgres`: the PostgreSQL store of `bulkhead-postgres`, with Row Level Security, and
//!   `Engine::connect_postgres`.

mod config;

use std::sync::Arc;

pub use bulkhead_core::{
    Actor, Algorithm, AllowedOrigin, AuditEvent, AuditFilter, AuditVerification, BrokenLink,
    ClaimedJob, Clock, ConfigSpec, Connection, ConnectionId, ConnectionOverview, ConnectionStatus,
    ConnectionTemplate, ConnectionTemplateId, ConnectionTemplateUpdate, ConnectionUpdate,
    Connector, ConnectorConfig, ConnectorUpdate, CronExpr, Cursor, Destination, DestinationId,
    Error, ExternalId, FencingToken, GetOrCreated, HourCount, Interval, IntervalUnit, IssuedToken,
    Job, JobLimits, JobSettings, JobStatus, Jwk, Jwks, KeyRole, LastRun, Lease, MAX_CREATION_HOURS,
    MAX_PAGE_LIMIT, MAX_RECENT_RUNS, ManualClock, MasterKey, Name, NewConnection,
    NewConnectionTemplate, NewDestination, NewSource, NewSourceFromTemplate, NewSourceTemplate,
    ORG_KEY_PREFIX, ObjectKind, Operation, OperationSet, OrgId, OrgKeyId, OrgKeyInfo, OrgKeySecret,
    OrgScope, OrgSettings, OrgStats, Organization, Page, Paged, Reaped, Result, RevealedSecret,
    SECRET_MASK, Schedule, ScopedClaims, ScopedToken, ScopedTokenRequest, SigningKeyInfo, Source,
    SourceFromTemplate, SourceId, SourceTemplate, SourceTemplateId, SourceTemplateUpdate,
    StorageError, SyncOutcome, SyncRun, SyncRunId, SyncStatus, SystemClock, Tag, TagInfo, TagMode,
    TagSelection, Ticked, Timestamp, TokenCache, TokenMinter, TokenRejection, WORKER_KEY_PREFIX,
    Worker, Workspace, WorkspaceFilter, WorkspaceId, WorkspaceOverview, WorkspaceScope,
    WorkspaceStats, WorkspaceStatus, WorkspaceUpdate, merge,
};
pub use config::{Config, default_key_file};

/// The storage port, for those who write or wrap a storage adapter.
pub mod store {
    pub use bulkhead_core::guard::{OrgCtx, Tenant};
    pub use bulkhead_core::jobs::{
        ClaimRequest, JobStore, LeaseRow, QueueRow, QueueSnapshot, QueueState, ReapPolicy,
        SchedCounter,
    };
    pub use bulkhead_core::schedules::{DueSchedule, ScheduleStore};
    pub use bulkhead_core::store::*;
}

/// The SQLite store's own settings.
#[cfg(feature = "sqlite")]
pub mod sqlite {
    pub use bulkhead_sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore, Synchronous};
}

/// The PostgreSQL store's own settings, and the role set-up.
#[cfg(feature = "postgres")]
pub mod postgres {
    pub use bulkhead_postgres::{
        PgOptions, PostgresStore, REFERENCE_TABLES, Roles, SCHEMA_VERSION, TENANT_TABLES, provision,
    };
}

/// The tenancy engine: the entry point that hands out scopes.
///
/// Nothing reaches tenant data without a scope: an [`OrgScope`] for a whole organization, a
/// [`WorkspaceScope`] for one workspace. Cheap to clone; clones share the store.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: bulkhead_core::Engine,
}

impl Engine {
    /// Opens the SQLite database at `path` (created if missing, migrated to the current
    /// schema) with the master key `config` names. A database sealed under another master key
    /// is refused.
    #[cfg(feature = "sqlite")]
    pub fn open(path: impl AsRef<std::path::Path>, config: Config) -> Result<Self> {
        let path = path.as_ref();
        let master_key = config.master_key(Some(path))?;
        let store = bulkhead_sqlite::SqliteStore::open(path, &config.sqlite)?;
        Self::build(Arc::new(store), &config, master_key)
    }

    /// Connects to PostgreSQL as the restricted role at `url` (a `postgresql://` URL), on the
    /// schema and pool of `config.postgres`, migrating the schema first as the owner when
    /// `config.postgres.owner_url` is set. The master key must be given in `config`. A role
    /// that is a superuser, has `BYPASSRLS` or owns the tables is refused: Row Level Security
    /// would not hold it. See the README's "Scaling out".
    #[cfg(feature = "postgres")]
    pub fn connect_postgres(url: &str, config: Config) -> Result<Self> {
        let master_key = config.master_key(None)?;
        let store = bulkhead_postgres::PostgresStore::connect(url, &config.postgres)?;
        Self::build(Arc::new(store), &config, master_key)
    }

    /// How jobs run now (see [`bulkhead_core::Engine::job_settings`]).
    pub fn job_settings(&self) -> JobSettings {
        self.inner.job_settings()
    }

    /// Changes how jobs run (see [`bulkhead_core::Engine::set_job_settings`]).
    pub fn set_job_settings(&self, settings: JobSettings) -> Result<()> {
        self.inner.set_job_settings(settings)
    }

    /// **Operator access**: a worker of every organization (see
    /// [`bulkhead_core::Engine::worker`]).
    pub fn worker(&self, name: &str) -> Result<Worker> {
        self.inner.worker(name)
    }

    /// Reaps expired leases now (see [`bulkhead_core::Engine::reap_jobs`]).
    pub fn reap_jobs(&self) -> Result<Reaped> {
        self.inner.reap_jobs()
    }

    /// Due schedules handled by one tick at most (see [`bulkhead_core::Engine::TICK_BATCH`]).
    pub const TICK_BATCH: usize = bulkhead_core::Engine::TICK_BATCH;

    /// Queues a job for each schedule due now (see
    /// [`bulkhead_core::Engine::tick_schedules`]). Every worker's claim does this first; this
    /// is for a host whose workers claim rarely.
    pub fn tick_schedules(&self) -> Result<Ticked> {
        self.inner.tick_schedules()
    }

    /// An engine over any storage adapter. The master key must be given in `config`.
    pub fn with_store(store: Arc<dyn store::Store>, config: Config) -> Result<Self> {
        let master_key = config.master_key(None)?;
        Self::build(store, &config, master_key)
    }

    fn build(
        store: Arc<dyn store::Store>,
        config: &Config,
        master_key: Arc<MasterKey>,
    ) -> Result<Self> {
        let inner = bulkhead_core::Engine::new(
            store,
            bulkhead_core::EngineConfig {
                clock: config.clock(),
                master_key,
                token_leeway: config.token_leeway,
            },
        )?;
        Ok(Self { inner })
    }

    /// Creates an organization named `name` (1 to 255 characters) with default token
    /// settings. Returns it and its first org access key, shown only now.
    pub fn create_organization(&self, name: &str) -> Result<(Organization, OrgKeySecret)> {
        self.inner.create_organization(name)
    }

    /// Creates an organization with the given token settings (for example EdDSA tokens).
    pub fn create_organization_with(
        &self,
        name: &str,
        settings: OrgSettings,
    ) -> Result<(Organization, OrgKeySecret)> {
        self.inner.create_organization_with(name, settings)
    }

    /// Every organization, oldest first: an operator's listing with no tenant data.
    pub fn organizations(&self) -> Result<Vec<Organization>> {
        self.inner.organizations()
    }

    /// The scope of the organization whose access key this is. A wrong, revoked or expired
    /// key gets one answer: "invalid or expired org key"; a worker key is refused
    /// ([`Error::PermissionDenied`]): it serves the job protocol only.
    pub fn authenticate_org(&self, key: &str) -> Result<OrgScope> {
        self.inner.authenticate_org(key)
    }

    /// A worker of the organization whose worker key (or org key) this is, named `name`: the
    /// job protocol and nothing else (see [`bulkhead_core::Engine::authenticate_worker`]).
    pub fn authenticate_worker(&self, key: &str, name: &str) -> Result<Worker> {
        self.inner.authenticate_worker(key, name)
    }

    /// Verifies a scoped token and returns the scope of its one workspace, limited to the
    /// operations it grants.
    pub fn authenticate(&self, token: &str) -> Result<WorkspaceScope> {
        self.inner.authenticate(token)
    }

    /// Verifies a scoped token without using it (signature, claims, expiry, issuer,
    /// audience).
    pub fn verify_token(&self, token: &str) -> Result<ScopedClaims> {
        self.inner.verify_token(token)
    }

    /// **Operator access**: the scope of organization `org_id`, without any credential.
    ///
    /// For the process that owns the database, which can read the file anyway: the
    /// `bulkhead` command line uses it to make a new key for an organization that lost all of
    /// its own. Everything else uses [`Engine::authenticate_org`].
    pub fn operator_org_scope(&self, org_id: OrgId) -> Result<OrgScope> {
        self.inner.operator_org_scope(org_id)
    }

    /// Re-seals everything sealed under the current master key under `new`, in one
    /// transaction, and switches this engine to it. Workspace secret fields are not touched
    /// (their data keys are re-sealed). Stop every other process using the database first.
    pub fn rotate_master_key(&self, new: MasterKey) -> Result<u64> {
        self.inner.rotate_master_key(new)
    }

    /// How many rows of a foreign tenant the guard has refused since this engine started.
    /// Anything but zero is a bug in a storage adapter.
    pub fn isolation_breaches(&self) -> u64 {
        self.inner.isolation_breaches()
    }
}
