//! One writer and a few readers on one database file.
//!
//! SQLite allows one writer at a time anyway; giving it one connection behind a mutex turns
//! waiting on the database lock into waiting on a cheap in-process lock, and `BEGIN IMMEDIATE`
//! plus the busy timeout handles writers in other processes. Readers run in parallel under WAL.
//! Readers are `query_only`, so a read path that tries to write fails instead of writing.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bulkhead_core::Result;
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::Ctx;

/// How hard SQLite works to make a commit durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=NORMAL`: under WAL, a commit survives a crash of the process; a power
    /// loss may roll back the last commits, never corrupt the file. The default.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is synced to disk before it returns.
    Full,
}

/// Settings of a SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Durability of commits.
    pub synchronous: Synchronous,
    /// How long a call waits for a lock held by another process before it fails.
    pub busy_timeout: Duration,
    /// Number of reader connections (at least 1).
    pub readers: usize,
    /// Prepared statements cached per connection.
    pub statement_cache: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            readers: 4,
            statement_cache: 64,
        }
    }
}

pub(crate) struct Pool {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn configure(conn: &Connection, options: &SqliteOptions) -> Result<()> {
    conn.busy_timeout(options.busy_timeout)
        .ctx("could not set the busy timeout")?;
    let sync = match options.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .ctx("could not set synchronous")?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .ctx("could not enable foreign keys")?;
    // Deleted content is overwritten, so a deleted workspace's sealed data key does not
    // linger in free pages of the file (crypto-shredding relies on it being gone).
    conn.pragma_update(None, "secure_delete", "ON")
        .ctx("could not enable secure delete")?;
    conn.set_prepared_statement_cache_capacity(options.statement_cache);
    Ok(())
}

impl Pool {
    /// Opens the writer (switching the file to WAL) and the readers.
    pub(crate) fn open(
        path: &Path,
        options: &SqliteOptions,
        setup: impl FnOnce(&mut Connection) -> Result<()>,
    ) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut writer = Connection::open_with_flags(path, flags)
            .ctx(format_args!("could not open `{}`", path.display()))?;
        configure(&writer, options)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .ctx("could not switch to WAL")?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(target: "bulkhead::sqlite", mode, "WAL is not available; readers will wait for the writer");
        }
        setup(&mut writer)?;
        let readers = (0..options.readers.max(1))
            .map(|_| {
                let conn = Connection::open_with_flags(path, flags)
                    .ctx(format_args!("could not open `{}`", path.display()))?;
                configure(&conn, options)?;
                conn.pragma_update(None, "query_only", "ON")
                    .ctx("could not make a reader read-only")?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a reader: the first free one, else waits for one in turn.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        for reader in &self.readers {
            if let Some(conn) = reader.try_lock() {
                return f(&conn);
            }
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let len = self.readers.len().max(1);
        match self.readers.get(start % len) {
            Some(reader) => f(&reader.lock()),
            None => f(&self.writer.lock()),
        }
    }

    /// Runs `f` in an `IMMEDIATE` transaction on the writer; commits if `f` succeeds, rolls back
    /// (by dropping the transaction) if it fails, so a failed call leaves nothing behind.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("could not start a write transaction")?;
        let value = f(&tx)?;
        tx.commit().ctx("could not commit")?;
        Ok(value)
    }
}
