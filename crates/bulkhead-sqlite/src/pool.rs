//! One writer and a few readers on one database file.
//!
//! SQLite allows one writer at a time anyway; giving it one connection behind a mutex turns
//! waiting on the database lock into waiting on a cheap in-process lock, and `BEGIN IMMEDIATE`
//! plus the busy timeout handles writers in other processes. Readers run in parallel under WAL.
//! Readers are `query_only`, so a read path that tries to write fails instead of writing.
//!
//! Every connection carries the isolation guard ([`crate::guard`]), and the adapter's code
//! sees a connection only as a [`Db`]. The `*_tenant` methods run their closure inside the
//! tenant's workspace and leave it when the closure returns, on success and on error.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bulkhead_core::{OrgId, Result, Tenant};
use parking_lot::Mutex;
use rusqlite::config::DbConfig;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::Ctx;
use crate::guard::{self, Db, Guard};

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

/// A connection and its guard.
pub(crate) struct Slot {
    conn: Connection,
    guard: Guard,
}

impl Slot {
    fn db(&self) -> Db<'_> {
        Db::new(&self.conn, &self.guard)
    }
}

pub(crate) struct Pool {
    writer: Mutex<Slot>,
    /// Empty for an in-memory database, whose one connection is also the reader.
    readers: Vec<Mutex<Slot>>,
    next_reader: AtomicUsize,
    /// Writes of [`Pool::write_grouped`] waiting for the writer (see there).
    grouped: Mutex<Vec<GroupedWrite>>,
}

/// One caller's write of a group commit.
struct GroupedWrite {
    /// Runs the write inside the group's transaction; returns whether it succeeded and what
    /// to do once the transaction's fate is known.
    run: RunWrite,
    /// Hands the caller an error instead, for a write the group could not run.
    abandon: Delivery,
}

/// Runs a grouped write: whether it succeeded, and how to hand its outcome over.
type RunWrite = Box<dyn FnOnce(&Db<'_>) -> (bool, Delivery) + Send>;
/// Hands a grouped write's outcome to its caller: called with `Ok(())` once the group
/// committed, or with the transaction's error.
type Delivery = Box<dyn FnOnce(Result<()>) + Send>;

/// Where a grouped write's caller finds its result.
type Outcome<T> = std::sync::Arc<Mutex<Option<Result<T>>>>;

/// Runs one savepoint statement (cached: a group runs them for every write).
fn savepoint(conn: &Connection, sql: &'static str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(|_| ())
        .ctx("could not run a grouped write's savepoint")
}

/// A storage error with `message`.
fn storage(message: impl Into<String>) -> bulkhead_core::Error {
    bulkhead_core::Error::Storage(bulkhead_core::StorageError::new(message))
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
    // The query planner stability guarantee: a cached statement keeps its plan instead of
    // being re-prepared whenever its bound values change (the bundled SQLite has STAT4). That
    // keeps reads fast, and it keeps every preparation going through the adapter's own
    // statement mark, which the L3 authorizer relies on to tell a SELECT from a write.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .ctx("could not enable the query planner stability guarantee")?;
    conn.set_prepared_statement_cache_capacity(options.statement_cache);
    Ok(())
}

/// Guards the writer once `setup` (the migrations) has run on it.
fn writer(
    mut conn: Connection,
    setup: impl FnOnce(&mut Connection) -> Result<()>,
) -> Result<Mutex<Slot>> {
    setup(&mut conn)?;
    let guard = guard::install(&mut conn, false)?;
    Ok(Mutex::new(Slot { conn, guard }))
}

/// Creates the database file at `path`, empty, readable and writable by its owner only (0600,
/// whatever the umask: the mode is set on the open file after it is created), if nothing is
/// there yet. SQLite, which would create it 0644 less the umask, then opens it, and gives
/// the `-wal` and `-shm` files it makes beside it the database file's permissions: they hold
/// the same data (tenant names, configurations, the audit log). An existing file keeps its
/// mode, chosen by whoever made it. A URI (`file:…`) is left to SQLite.
fn create_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        if path.as_os_str().as_encoded_bytes().starts_with(b"file:") {
            return Ok(());
        }
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(file) => file
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .ctx(format_args!("could not make `{}` private", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).ctx(format_args!("could not create `{}`", path.display()));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Pool {
    /// Opens the writer (switching the file to WAL) and the readers, creating the file
    /// private first if it does not exist ([`create_private`]).
    pub(crate) fn open(
        path: &Path,
        options: &SqliteOptions,
        setup: impl FnOnce(&mut Connection) -> Result<()>,
    ) -> Result<Self> {
        create_private(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags)
            .ctx(format_args!("could not open `{}`", path.display()))?;
        configure(&conn, options)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .ctx("could not switch to WAL")?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(target: "bulkhead::sqlite", mode, "WAL is not available; readers will wait for the writer");
        }
        let writer = writer(conn, setup)?;
        let readers = (0..options.readers.max(1))
            .map(|_| {
                let mut conn = Connection::open_with_flags(path, flags)
                    .ctx(format_args!("could not open `{}`", path.display()))?;
                configure(&conn, options)?;
                let guard = guard::install(&mut conn, true)?;
                Ok(Mutex::new(Slot { conn, guard }))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
            grouped: Mutex::new(Vec::new()),
        })
    }

    /// Opens a private in-memory database: one connection, writer and reader at once (an
    /// in-memory database belongs to the connection that made it), without WAL.
    pub(crate) fn open_in_memory(
        options: &SqliteOptions,
        setup: impl FnOnce(&mut Connection) -> Result<()>,
    ) -> Result<Self> {
        let conn = Connection::open_in_memory().ctx("could not open an in-memory database")?;
        configure(&conn, options)?;
        Ok(Self {
            writer: writer(conn, setup)?,
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
            grouped: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` on a reader in no workspace and no organization: the guard's own tests.
    #[cfg(test)]
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        self.with_reader(|slot| f(&slot.db()))
    }

    /// Runs `f` on a reader inside the organization `org`: the `o_` views show its rows.
    pub(crate) fn read_org<T>(
        &self,
        org: OrgId,
        f: impl FnOnce(&Db<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_reader(|slot| {
            let db = slot.db();
            let _org = db.org(org);
            f(&db)
        })
    }

    /// Runs `f` on a reader in system mode (see [`Db::system`]).
    pub(crate) fn read_system<T>(&self, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        self.with_reader(|slot| {
            let db = slot.db();
            let _system = db.system();
            f(&db)
        })
    }

    /// Runs `f` on a reader inside the tenant's workspace: for reads of tenant tables only
    /// (the `o_` views show nothing here; see [`Pool::read_tenant_row`]).
    pub(crate) fn read_tenant<T>(
        &self,
        tenant: &Tenant,
        f: impl FnOnce(&Db<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_reader(|slot| {
            let db = slot.db();
            let _scope = db.tenant(tenant.workspace_id());
            f(&db)
        })
    }

    /// [`Pool::read_tenant`] that also enters the tenant's organization, for the tenant reads
    /// of its own workspace row. Setting the organization costs a lock, so the hot reads of
    /// tenant tables above go without it.
    pub(crate) fn read_tenant_row<T>(
        &self,
        tenant: &Tenant,
        f: impl FnOnce(&Db<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_reader(|slot| {
            let db = slot.db();
            let _org = db.org(tenant.org_id());
            let _scope = db.tenant(tenant.workspace_id());
            f(&db)
        })
    }

    /// Runs `f` on a reader: the first free one, else waits for one in turn; on the writer
    /// when there are no readers.
    fn with_reader<T>(&self, f: impl FnOnce(&Slot) -> Result<T>) -> Result<T> {
        for reader in &self.readers {
            if let Some(slot) = reader.try_lock() {
                return f(&slot);
            }
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let len = self.readers.len().max(1);
        match self.readers.get(start % len) {
            Some(reader) => f(&reader.lock()),
            None => f(&self.writer.lock()),
        }
    }

    /// Runs `f` in an `IMMEDIATE` transaction on the writer, outside any workspace and
    /// organization (the other `write_*` methods, and organization-level writes that enter a
    /// workspace themselves where they touch tenant rows, build on it); commits if
    /// `f` succeeds, rolls back (by dropping the transaction) if it fails, so a failed call
    /// leaves nothing behind.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        let mut slot = self.writer.lock();
        let Slot { conn, guard } = &mut *slot;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("could not start a write transaction")?;
        let value = f(&Db::new(&tx, guard))?;
        tx.commit().ctx("could not commit")?;
        Ok(value)
    }

    /// Runs `f` like [`Pool::write_org`] (an `IMMEDIATE` transaction on the writer, inside
    /// the organization `org`), possibly in one transaction with other callers' grouped
    /// writes (group commit): each caller's `f` runs in a savepoint of its own, so a failed
    /// `f` leaves nothing behind and does not touch the others, and every caller gets its
    /// result only once the shared transaction has committed (or the commit's error).
    ///
    /// Callers queue their write, then wait for the writer; whoever gets it first runs every
    /// queued write, commits once and hands each caller its outcome, so the others find
    /// theirs done when they get the writer in turn. Under concurrency, N writes cost one
    /// commit; alone, a write costs what [`Pool::write_org`] costs. Writes run in the order
    /// they were queued, one after the other on the one writer connection, so a write sees
    /// every earlier write of its group (the audit chain's next event links to the previous
    /// one as always).
    pub(crate) fn write_grouped<T: Send + 'static>(
        &self,
        org: OrgId,
        f: impl FnOnce(&Db<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let outcome: Outcome<T> = std::sync::Arc::new(Mutex::new(None));
        let mine = std::sync::Arc::clone(&outcome);
        let abandoned = std::sync::Arc::clone(&outcome);
        let write = GroupedWrite {
            run: Box::new(move |db: &Db<'_>| {
                let result = {
                    let _org = db.org(org);
                    f(db)
                };
                let ok = result.is_ok();
                let delivery: Delivery = Box::new(move |committed: Result<()>| {
                    *mine.lock() = Some(committed.and(result));
                });
                (ok, delivery)
            }),
            abandon: Box::new(move |committed: Result<()>| {
                *abandoned.lock() =
                    Some(committed.and(Err(storage("a grouped write did not run"))));
            }),
        };
        self.grouped.lock().push(write);
        let mut slot = self.writer.lock();
        if let Some(done) = outcome.lock().take() {
            return done;
        }
        let writes = std::mem::take(&mut *self.grouped.lock());
        let Slot { conn, guard } = &mut *slot;
        let committed = Self::run_group(conn, guard, writes);
        drop(slot);
        // Our own write was queued before we took the writer, so the group just run held it;
        // an empty outcome here would be a bug in this function, never a silent success.
        outcome
            .lock()
            .take()
            .unwrap_or_else(|| committed.and(Err(storage("a grouped write was lost"))))
    }

    /// Runs `writes` in one `IMMEDIATE` transaction, each in a savepoint, commits, and
    /// delivers each outcome; returns the transaction's own result.
    fn run_group(conn: &mut Connection, guard: &Guard, writes: Vec<GroupedWrite>) -> Result<()> {
        let mut deliveries: Vec<Delivery> = Vec::with_capacity(writes.len());
        // Alone, a write needs no savepoint: if it fails, the transaction is rolled back.
        let alone = writes.len() == 1;
        let mut pending = writes.into_iter();
        let committed = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("could not start a write transaction")?;
            for GroupedWrite { run, abandon } in pending.by_ref() {
                if !alone && let Err(e) = savepoint(&tx, "SAVEPOINT bulkhead_grouped") {
                    deliveries.push(abandon);
                    return Err(e);
                }
                let (ok, delivery) = run(&Db::new(&tx, guard));
                deliveries.push(delivery);
                if alone {
                    if !ok {
                        // Dropping the transaction rolls it back; the write's own error is
                        // what its caller gets.
                        return Ok(());
                    }
                } else if ok {
                    savepoint(&tx, "RELEASE bulkhead_grouped")?;
                } else {
                    // A write that failed is undone on its own; the others stay.
                    savepoint(&tx, "ROLLBACK TO bulkhead_grouped")?;
                    savepoint(&tx, "RELEASE bulkhead_grouped")?;
                }
            }
            tx.commit().ctx("could not commit")
        })();
        deliveries.extend(pending.map(|w| w.abandon));
        for delivery in deliveries {
            delivery(match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(storage(format!("a grouped write failed: {e}"))),
            });
        }
        committed
    }

    /// Runs `f` like [`Pool::write`], inside the tenant's workspace (and its organization).
    pub(crate) fn write_tenant<T>(
        &self,
        tenant: &Tenant,
        f: impl FnOnce(&Db<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write(|db| {
            let _org = db.org(tenant.org_id());
            let _scope = db.tenant(tenant.workspace_id());
            f(db)
        })
    }

    /// Runs `f` like [`Pool::write`], inside the organization `org`.
    pub(crate) fn write_org<T>(
        &self,
        org: OrgId,
        f: impl FnOnce(&Db<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write(|db| {
            let _org = db.org(org);
            f(db)
        })
    }

    /// Runs `f` like [`Pool::write`], in system mode (see [`Db::system`]).
    pub(crate) fn write_system<T>(&self, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        self.write(|db| {
            let _system = db.system();
            f(db)
        })
    }

    /// Copies every page of the WAL into the database file and empties the WAL: the
    /// checkpoint `PRAGMA wal_checkpoint(TRUNCATE)` runs, called through the C API (the
    /// guard's authorizer refuses every PRAGMA statement). With `secure_delete`, a purge
    /// overwrote the deleted rows' bytes in its new pages, but the old pages stay in the
    /// database file until a checkpoint, and older frames holding them stay in the WAL until
    /// it is reset: after this, neither file holds them.
    ///
    /// Runs on the writer, so no write of this store happens meanwhile; it waits (up to the
    /// busy timeout) for readers still on an older snapshot. It does nothing on an in-memory
    /// database, which has no WAL.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        let slot = self.writer.lock();
        slot.conn
            .wal_checkpoint_v2(Some(rusqlite::MAIN_DB), CheckpointMode::TRUNCATE)
            .ctx("could not checkpoint the WAL")?;
        Ok(())
    }

    /// Runs `f` on the writer's connection itself, for tests that need raw SQL.
    #[cfg(test)]
    pub(crate) fn with_writer<T>(&self, f: impl FnOnce(&Slot) -> T) -> T {
        f(&self.writer.lock())
    }
}

#[cfg(test)]
impl Slot {
    pub(crate) fn guarded(&self) -> (Db<'_>, &Guard) {
        (self.db(), &self.guard)
    }
}
