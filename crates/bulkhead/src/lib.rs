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

mod config;

use std::sync::Arc;

pub use bulkhead_core::{
    Clock, Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, Connector,
    ConnectorConfig, ConnectorUpdate, CronExpr, Cursor, Destination, DestinationId, Error,
    ExternalId, GetOrCreated, MAX_PAGE_LIMIT, ManualClock, Name, NewConnection, NewDestination,
    NewSource, ObjectKind, OrgId, OrgScope, Organization, Page, Paged, Result, Schedule, Source,
    SourceId, StorageError, SyncOutcome, SyncRun, SyncRunId, SyncStatus, SystemClock, Timestamp,
    Workspace, WorkspaceFilter, WorkspaceId, WorkspaceScope, WorkspaceStatus, WorkspaceUpdate,
};
pub use config::Config;

/// The storage port, for those who write or wrap a storage adapter.
pub mod store {
    pub use bulkhead_core::guard::{OrgCtx, Tenant};
    pub use bulkhead_core::store::*;
}

/// The SQLite store's own settings.
#[cfg(feature = "sqlite")]
pub mod sqlite {
    pub use bulkhead_sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore, Synchronous};
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
    /// schema).
    #[cfg(feature = "sqlite")]
    pub fn open(path: impl AsRef<std::path::Path>, config: Config) -> Result<Self> {
        let store = bulkhead_sqlite::SqliteStore::open(path, &config.sqlite)?;
        Ok(Self::with_store(Arc::new(store), config))
    }

    /// An engine over any storage adapter.
    pub fn with_store(store: Arc<dyn store::Store>, config: Config) -> Self {
        Self {
            inner: bulkhead_core::Engine::new(store, config.clock),
        }
    }

    /// Creates an organization named `name` (1 to 255 characters).
    pub fn create_organization(&self, name: &str) -> Result<Organization> {
        self.inner.create_organization(name)
    }

    /// Every organization, oldest first: an operator's listing with no tenant data.
    pub fn organizations(&self) -> Result<Vec<Organization>> {
        self.inner.organizations()
    }

    /// **Operator access**: the scope of organization `org_id`, without any credential.
    ///
    /// For the process that owns the database (the `bulkhead` command line, a host's own
    /// admin code), which can read the file anyway. Org access keys replace it everywhere
    /// else.
    pub fn operator_org_scope(&self, org_id: OrgId) -> Result<OrgScope> {
        self.inner.operator_org_scope(org_id)
    }

    /// How many rows of a foreign tenant the guard has refused since this engine started.
    /// Anything but zero is a bug in a storage adapter.
    pub fn isolation_breaches(&self) -> u64 {
        self.inner.isolation_breaches()
    }
}
