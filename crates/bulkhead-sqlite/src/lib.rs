//! Bulkhead's storage adapter on SQLite: the embedded default.
//!
//! [`SqliteStore`] implements the storage port of `bulkhead-core` on one database file, with
//! the bundled SQLite (so the build needs no system library): versioned migrations on open,
//! WAL, `synchronous=NORMAL` unless [`Synchronous::Full`] is asked for, foreign keys on, a busy
//! timeout, one writer and a small pool of readers, cached prepared statements. The tenant's
//! ids are always bound parameters; SQL text never contains data: the statement entry points
//! take `&'static str`, as the PostgreSQL adapter's do. The one other way SQL reaches a
//! connection is the setup DDL it runs with `execute_batch` before its guard is installed
//! (the migrations, and the guard's views and triggers over a fixed table list). The
//! statements and method bodies it shares with `bulkhead-postgres` are written once in
//! `bulkhead-sql`, run on this crate's pool through the `sql` module; this crate keeps its
//! pool, its guard, its schema and the methods whose SQL is SQLite's own.
//!
//! Every connection carries the database layer of Bulkhead's isolation (DESIGN section 4,
//! L3): a `bulkhead_workspace()` function that names the workspace of the call in progress,
//! TEMP views (`t_sources`, …) that show only that workspace's rows, TEMP triggers that abort
//! any write to another workspace's rows (or to any, when no workspace is set), and an
//! authorizer that denies direct reads of the tenant tables, schema changes, `ATTACH` and
//! `PRAGMA`. So a wrong query in this crate fails instead of answering with another tenant's
//! rows, even before the core's row check sees them. The organization-level tables have views
//! and triggers of their own, keyed on `bulkhead_org()`. [`SqliteStore::open_in_memory`] gives tests the same guard without a file.
//!
//! ```
//! use bulkhead_sqlite::{SqliteOptions, SqliteStore};
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("bulkhead.db"), &SqliteOptions::default())?;
//! assert_eq!(store.schema_version(), bulkhead_sqlite::SCHEMA_VERSION);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod audit;
mod catalog;
mod guard;
mod jobs;
mod pool;
mod rows;
mod schedules;
mod schema;
mod sql;
mod store;

use std::fmt;
use std::path::{Path, PathBuf};

use bulkhead_core::{Error, Result, StorageError};

pub use pool::{SqliteOptions, Synchronous};
pub use schema::SCHEMA_VERSION;

use pool::Pool;

/// A Bulkhead store on one SQLite database file.
pub struct SqliteStore {
    path: PathBuf,
    pool: Pool,
    schema_version: i64,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it to the current
    /// schema. Data written before survives: opening an existing file never loses rows.
    pub fn open(path: impl AsRef<Path>, options: &SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut version = 0;
        let pool = Pool::open(&path, options, |conn| {
            version = schema::migrate(conn)?;
            Ok(())
        })?;
        Ok(Self {
            path,
            pool,
            schema_version: version,
        })
    }

    /// Opens a private in-memory database with the current schema, for tests and tools: one
    /// connection serves reads and writes (an in-memory database belongs to its connection),
    /// without WAL, with the same isolation guard as a file. Its [`path`](Self::path) is
    /// `:memory:`; everything is gone when the store is dropped.
    ///
    /// ```
    /// use bulkhead_sqlite::{SqliteOptions, SqliteStore};
    /// let store = SqliteStore::open_in_memory(&SqliteOptions::default())?;
    /// assert_eq!(store.schema_version(), bulkhead_sqlite::SCHEMA_VERSION);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_in_memory(options: &SqliteOptions) -> Result<Self> {
        let mut version = 0;
        let pool = Pool::open_in_memory(options, |conn| {
            version = schema::migrate(conn)?;
            Ok(())
        })?;
        Ok(Self {
            path: PathBuf::from(":memory:"),
            pool,
            schema_version: version,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> i64 {
        self.schema_version
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("schema_version", &self.schema_version)
            .finish_non_exhaustive()
    }
}

/// Adds what was being done to a rusqlite error, turning it into a storage error.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::Storage(StorageError::with_source(what, e)))
    }
}

impl<T> Ctx<T> for std::io::Result<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::Storage(StorageError::with_source(what, e)))
    }
}
