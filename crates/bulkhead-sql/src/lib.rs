//! What Bulkhead's two SQL storage adapters (`bulkhead-sqlite`, `bulkhead-postgres`) share,
//! written once: between `bulkhead-core`, which knows no database, and the adapters, which
//! each know one.
//!
//! - [`columns`]: the column lists (`*_columns!`) and the row decoders, over a small
//!   [`Columns`](columns::Columns) trait each adapter implements for its driver's row.
//! - [`dialect`] and [`statements`]: every shared statement written once, as SQLite reads it;
//!   [`sql!`] makes the PostgreSQL text from it at compile time (placeholders, and the names of
//!   SQLite's guard views), so both are `&'static str` and SQL text never contains data.
//! - [`SqlPool`] and [`SqlConn`]: the one entry point both pools give, `run(Access, Mode, f)`,
//!   and the connection `f` gets, which runs a [`Sql`] statement with [`Param`]s and decodes
//!   rows through `Columns`. Each adapter implements them over its own pool.
//! - The port's bodies, once: [`tenant`], [`org`], [`system`], [`audit`] (the audit chain
//!   too) and most of [`workspace`]. A macro per trait (`tenant_store!`, `org_store!`,
//!   `system_store!`, `audit_store!`; `workspace_methods!` for the shared part of
//!   `WorkspaceStore`) implements it for an adapter's store by calling them on its pool: the
//!   port's traits belong to core and the stores to the adapters, so a generic impl here is
//!   not allowed, and the macros keep each signature written once.
//!
//! This crate has no database driver. Each adapter keeps its pool, its migrations, its
//! database-level isolation (SQLite's authorizer, views and triggers; PostgreSQL's roles and
//! row policies), the few hooks the shared bodies call ([`SqlConn`]'s audit lock and schedule
//! writes) and the methods whose SQL really differs: get-or-create, the workspace listing,
//! update, purge and merge, the catalog (tags and templates), the master-key rotation, the job
//! queue and the scheduler.
#![forbid(unsafe_code)]

pub mod audit;
pub mod columns;
mod conn;
pub mod dialect;
pub mod org;
pub mod statements;
pub mod system;
pub mod tenant;
pub mod workspace;

pub use conn::{Access, Mode, Param, SqlConn, SqlPool, SystemCall};
pub use dialect::Sql;

#[doc(hidden)]
pub use bulkhead_core as __core;
#[doc(hidden)]
pub use uuid as __uuid;
