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
//!   and the connection `f` gets, which runs a [`Sql`] statement with [`Param`]s.
//!
//! This crate has no database driver. Each adapter keeps its pool, its migrations, its
//! database-level isolation (SQLite's authorizer, views and triggers; PostgreSQL's roles and
//! row policies) and the statements whose SQL really differs.
#![forbid(unsafe_code)]

pub mod columns;
mod conn;
pub mod dialect;
pub mod org;
pub mod statements;
pub mod system;
pub mod tenant;

pub use conn::{Access, Mode, Param, SqlConn, SqlPool, SystemCall};
pub use dialect::Sql;

#[doc(hidden)]
pub use bulkhead_core as __core;
#[doc(hidden)]
pub use uuid as __uuid;
