//! Harnesses of the testkit over the SQLite store: a file (with a dump read by a separate
//! rusqlite connection on that file, and close/reopen), the same file behind the deliberately
//! leaky wrapper, and behind the fault-injecting wrapper.
#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulkhead_core::{OrgId, Store, WorkspaceId};
use bulkhead_sqlite::{SqliteOptions, SqliteStore};
use bulkhead_testkit::conformance::{Harness, RowKind, StoredRow};
use bulkhead_testkit::wrappers::{FaultyStore, LeakyStore};
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

/// A new database file in its own temporary directory.
fn new_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bulkhead.db");
    (dir, path)
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, &SqliteOptions::default()).unwrap()
}

/// Every tenant row in the file, read by a plain connection of its own (no tenant, no guard)
/// straight from the base tables.
pub(crate) fn dump(conn: &Connection) -> Vec<StoredRow> {
    const TABLES: [(RowKind, &str); 5] = [
        (
            RowKind::Workspace,
            "SELECT id, org_id, id FROM main.workspaces",
        ),
        (
            RowKind::Source,
            "SELECT id, org_id, workspace_id FROM main.sources",
        ),
        (
            RowKind::Destination,
            "SELECT id, org_id, workspace_id FROM main.destinations",
        ),
        (
            RowKind::Connection,
            "SELECT id, org_id, workspace_id FROM main.connections",
        ),
        (
            RowKind::SyncRun,
            "SELECT id, org_id, workspace_id FROM main.sync_runs",
        ),
    ];
    let mut rows = Vec::new();
    for (kind, sql) in TABLES {
        let mut stmt = conn.prepare_cached(sql).unwrap();
        let found = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Uuid>(0)?,
                    r.get::<_, Uuid>(1)?,
                    r.get::<_, Uuid>(2)?,
                ))
            })
            .unwrap();
        for row in found {
            let (id, org, ws) = row.unwrap();
            rows.push(StoredRow {
                kind,
                id,
                org_id: OrgId::from_uuid(org).unwrap(),
                workspace_id: WorkspaceId::from_uuid(ws).unwrap(),
            });
        }
    }
    rows
}

/// The bytes of the database file and of its `-wal` and `-shm` files, as they are now.
pub(crate) fn file_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(side) = std::fs::read(PathBuf::from(name)) {
            bytes.extend(side);
        }
    }
    bytes
}

/// A read-only connection to `path`, outside the store.
fn raw_reader(path: &Path) -> Connection {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

/// A harness over `store` on `path`, with the dump, reopen, and the directory kept alive.
fn on_file(store: Arc<dyn Store>, dir: tempfile::TempDir, path: PathBuf) -> Harness {
    let reader = raw_reader(&path);
    let file = path.clone();
    Harness::new(store)
        .with_dump(move || dump(&reader))
        .with_raw_bytes(move || file_bytes(&file))
        .with_reopen(move || Arc::new(open(&path)) as Arc<dyn Store>)
        .keep_alive(dir)
}

/// The SQLite store on a new file.
pub(crate) fn file() -> Harness {
    let (dir, path) = new_file();
    on_file(Arc::new(open(&path)), dir, path)
}

/// The SQLite store on a new file, behind [`LeakyStore`].
pub(crate) fn leaky_file() -> Harness {
    let (dir, path) = new_file();
    let store = Arc::new(LeakyStore::new(open(&path)));
    let switch = Arc::clone(&store);
    on_file(store, dir, path)
        .leaky()
        .with_org_leaks(move |on| switch.leak_org_rows(on))
}

/// The SQLite store on a new file, behind [`FaultyStore`].
pub(crate) fn faulty_file() -> Harness {
    let (dir, path) = new_file();
    let store = FaultyStore::new(open(&path));
    let faults = store.faults();
    on_file(Arc::new(store), dir, path).with_faults(faults)
}

/// The SQLite store on a private in-memory database. It has no dump (nothing but the store
/// reaches that database), so the checks of the whole store are skipped, and cannot reopen.
pub(crate) fn memory() -> Harness {
    Harness::new(Arc::new(
        SqliteStore::open_in_memory(&SqliteOptions::default()).unwrap(),
    ))
}
