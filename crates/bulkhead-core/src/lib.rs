//! The core of Bulkhead: the model, the isolation guard, the storage port.
//!
//! This crate knows no database. Storage adapters implement [`Store`]; the [`Engine`] hands
//! out an [`OrgScope`] for an organization and a [`WorkspaceScope`] for one workspace, and
//! checks every row storage returns against the scope's tenant (see [`guard`]). Every change
//! is an event of the organization's tamper-evident [`audit`] chain, written by the adapter in
//! the change's own transaction. Most users want the `bulkhead` facade crate, which opens an
//! engine on SQLite (or PostgreSQL).
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
mod cache;
mod catalog;
pub mod columns;
mod credential;
mod denials;
mod engine;
mod error;
mod fresh;
mod grant;
pub mod guard;
mod ids;
pub mod jobs;
pub mod keys;
mod merging;
mod meter;
mod minter;
mod model;
mod ops;
mod org;
mod origin;
mod overview;
mod page;
mod scope;
pub mod secrets;
mod spec;
pub mod store;
mod tags;
mod templates;
mod time;
pub mod token;
mod values;
mod vault;
mod worker;

pub use audit::{Actor, AuditDraft, AuditEvent, AuditFilter, AuditVerification, BrokenLink};
pub use cache::TokenCache;
pub use engine::{Engine, EngineConfig};
pub use error::{Error, ObjectKind, Result, StorageError, TokenRejection};
pub use grant::{IssuedToken, ScopedToken, ScopedTokenRequest};
pub use guard::{OrgCtx, Tenant};
pub use ids::{
    ConnectionId, ConnectionTemplateId, DestinationId, ExternalId, OrgId, OrgKeyId, SourceId,
    SourceTemplateId, SyncRunId, WorkspaceId,
};
pub use jobs::{
    ClaimedJob, FencingToken, Job, JobLimits, JobSettings, JobStatus, JobStore, Lease, Reaped,
};
pub use keys::{
    Jwk, Jwks, ORG_KEY_PREFIX, OrgKeyInfo, OrgKeySecret, RevealedSecret, SigningKeyInfo,
};
pub use merging::MergeReport;
pub use meter::OrgStats;
pub use minter::TokenMinter;
pub use model::{
    Connection, ConnectionStatus, ConnectionUpdate, ConnectorUpdate, Destination, NewConnection,
    NewDestination, NewSource, OrgSettings, Organization, Source, SyncOutcome, SyncRun, SyncStatus,
    Workspace, WorkspaceStatus,
};
pub use ops::{Operation, OperationSet};
pub use org::{GetOrCreated, OrgScope};
pub use origin::AllowedOrigin;
pub use overview::{
    ConnectionOverview, HourCount, LastRun, MAX_CREATION_HOURS, MAX_RECENT_RUNS, RECENT,
    WorkspaceOverview, WorkspaceStats,
};
pub use page::{Cursor, MAX_PAGE_LIMIT, Page, Paged, Position};
pub use scope::WorkspaceScope;
pub use spec::{ConfigSpec, SECRET_MASK, merge};
pub use store::{Store, WorkspaceFilter, WorkspaceUpdate};
pub use tags::{Tag, TagMode, TagSelection};
pub use templates::{
    ConnectionTemplate, ConnectionTemplateUpdate, NewConnectionTemplate, NewSourceFromTemplate,
    NewSourceTemplate, SourceFromTemplate, SourceTemplate, SourceTemplateUpdate, TagInfo,
};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use token::{Algorithm, ScopedClaims};
pub use values::{Connector, ConnectorConfig, CronExpr, Name, Schedule};
pub use vault::MasterKey;
pub use worker::Worker;
