//! The core of Bulkhead: the model, the isolation guard, the storage port.
//!
//! This crate knows no database. Storage adapters implement [`Store`]; the [`Engine`] hands
//! out an [`OrgScope`] for an organization and a [`WorkspaceScope`] for one workspace, and
//! checks every row storage returns against the scope's tenant (see [`guard`]). Most users
//! want the `bulkhead` facade crate, which opens an engine on SQLite.
//!
//! ```
//! use bulkhead_core::{ExternalId, Page};
//! let id: ExternalId = "cust_abc123".parse()?;
//! assert_eq!(Page::first(50).limit(), 50);
//! # let _ = id;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod engine;
mod error;
pub mod guard;
mod ids;
mod model;
mod org;
mod page;
mod scope;
pub mod store;
mod time;
mod values;

pub use engine::Engine;
pub use error::{Error, ObjectKind, Result, StorageError};
pub use guard::{OrgCtx, Tenant};
pub use ids::{ConnectionId, DestinationId, ExternalId, OrgId, SourceId, SyncRunId, WorkspaceId};
pub use model::{
    Connection, ConnectionStatus, ConnectionUpdate, ConnectorUpdate, Destination, NewConnection,
    NewDestination, NewSource, Organization, Source, SyncOutcome, SyncRun, SyncStatus, Workspace,
    WorkspaceStatus,
};
pub use org::{GetOrCreated, OrgScope};
pub use page::{Cursor, MAX_PAGE_LIMIT, Page, Paged, Position};
pub use scope::WorkspaceScope;
pub use store::{Store, WorkspaceFilter, WorkspaceUpdate};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use values::{Connector, ConnectorConfig, CronExpr, Name, Schedule};
