//! The core of Bulkhead: the model, the isolation guard, the storage port.
//!
//! This crate knows no database. Storage adapters implement the six traits of the storage
//! port, by what a call runs against (`store::SystemStore`, `OrgStore`, `WorkspaceStore`,
//! `CatalogStore`, `AuditStore`, `TenantStore`), and are a [`Store`], their union; the
//! [`Engine`] hands
//! out an [`OrgScope`] for an organization and a [`WorkspaceScope`] for one workspace, and
//! checks every row storage returns against the scope's tenant (see [`guard`]). Every change
//! is an event of the organization's tamper-evident [`audit`] chain, written by the adapter in
//! the change's own transaction. Most users want the `bulkhead` facade crate, which opens an
//! engine on SQLite (or PostgreSQL).
//!
//! The source tree is layered; a module imports only from its own layer and the ones before
//! it (`tests/layers.rs` checks this, and that no modules import each other in a cycle):
//! values and objects (`model`, with `error`), sealing and credentials at rest (`crypto`),
//! the JWT profile (`token`), the audit chain's types ([`audit`]), the storage port (`port`:
//! [`store`], [`Tenant`] and [`OrgCtx`]), and the engine (`engine`: the
//! [`Engine`], its shared state, the [`guard`], the caches, and one directory per scope,
//! `engine/org/` for the [`OrgScope`] and `engine/workspace/` for the [`WorkspaceScope`]).
//!
//! ```
//! use bulkhead_core::{ExternalId, Page};
//! let id: ExternalId = "cust_abc123".parse()?;
//! assert_eq!(Page::first(50).limit(), 50);
//! # let _ = id;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod audit;
mod crypto;
mod engine;
mod error;
mod model;
mod port;
pub mod token;

pub use crypto::{keys, secrets};
pub use engine::guard;
pub use port::{jobs, schedules, store};

pub use audit::{Actor, AuditDraft, AuditEvent, AuditFilter, AuditVerification, BrokenLink};
pub use crypto::keys::{
    Jwk, Jwks, KeyRole, ORG_KEY_PREFIX, OrgKeyInfo, OrgKeySecret, RevealedSecret, SigningKeyInfo,
    WORKER_KEY_PREFIX,
};
pub use crypto::vault::MasterKey;
pub use engine::meter::OrgStats;
pub use engine::org::OrgScope;
pub use engine::org::lifecycle::MergeReport;
pub use engine::org::minter::TokenMinter;
pub use engine::org::overview::{
    ConnectionOverview, HourCount, LastRun, MAX_CREATION_HOURS, MAX_RECENT_RUNS, RECENT,
    WorkspaceOverview, WorkspaceStats,
};
pub use engine::scheduler::Ticked;
pub use engine::token_cache::TokenCache;
pub use engine::worker::Worker;
pub use engine::workspace::WorkspaceScope;
pub use engine::{Engine, EngineConfig};
pub use error::{Error, ObjectKind, Result, StorageError, TokenRejection};
pub use model::algorithm::Algorithm;
pub use model::ids::{
    ConnectionId, ConnectionTemplateId, DestinationId, ExternalId, OrgId, OrgKeyId, SourceId,
    SourceTemplateId, SyncRunId, WorkspaceId,
};
pub use model::names::{Connector, ConnectorConfig, Name};
pub use model::objects::{
    Connection, ConnectionStatus, ConnectionUpdate, ConnectorUpdate, Destination, GetOrCreated,
    NewConnection, NewDestination, NewSource, OrgSettings, Organization, Source, SyncOutcome,
    SyncRun, SyncStatus, Workspace, WorkspaceStatus,
};
pub use model::operations::{Operation, OperationSet};
pub use model::origin::AllowedOrigin;
pub use model::page::{Cursor, MAX_PAGE_LIMIT, Page, Paged, Position};
pub use model::schedule::{CronExpr, Interval, IntervalUnit, Schedule};
pub use model::spec::{ConfigSpec, SECRET_MASK, merge};
pub use model::tags::{Tag, TagMode, TagSelection};
pub use model::templates::{
    ConnectionTemplate, ConnectionTemplateUpdate, NewConnectionTemplate, NewSourceFromTemplate,
    NewSourceTemplate, SourceFromTemplate, SourceTemplate, SourceTemplateUpdate, TagInfo,
};
pub use model::time::{Clock, ManualClock, SystemClock, Timestamp};
pub use port::jobs::{
    ClaimedJob, FencingToken, Job, JobLimits, JobSettings, JobStatus, JobStore, Lease, Reaped,
};
pub use port::schedules::{DueSchedule, ScheduleStore};
pub use port::store::{Store, WorkspaceFilter, WorkspaceUpdate};
pub use port::tenant::{OrgCtx, Tenant};
pub use token::ScopedClaims;
pub use token::request::{IssuedToken, ScopedToken, ScopedTokenRequest};
