//! Versioned migrations, applied in order when a database is opened.
//!
//! Each migration runs in its own `IMMEDIATE` transaction together with the row that records
//! it, so two processes opening one new file apply it once, and a failed migration leaves the
//! previous version intact. A database newer than this build is refused, not downgraded.
//!
//! Schema rules (DESIGN section 8): every tenant table carries `org_id` and `workspace_id`,
//! its primary key is `(workspace_id, id)`, every unique key includes `workspace_id`, and
//! references between tenant rows are composite foreign keys that include `workspace_id`, so
//! the database itself cannot link rows of two workspaces.

use bulkhead_core::{Result, StorageError};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::Ctx;

/// The migrations, in order; `MIGRATIONS[n]` takes the schema to version `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the foundation.
    "
    CREATE TABLE organizations (
        id          BLOB    NOT NULL PRIMARY KEY,
        name        TEXT    NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE workspaces (
        id          BLOB    NOT NULL PRIMARY KEY,
        org_id      BLOB    NOT NULL REFERENCES organizations (id),
        external_id TEXT    NOT NULL,
        name        TEXT    NOT NULL,
        status      TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        UNIQUE (org_id, external_id),
        UNIQUE (org_id, id)
    ) STRICT;

    CREATE TABLE sources (
        workspace_id BLOB    NOT NULL,
        id           BLOB    NOT NULL,
        org_id       BLOB    NOT NULL,
        name         TEXT    NOT NULL,
        connector    TEXT    NOT NULL,
        config       TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX sources_by_created ON sources (workspace_id, created_at, id);

    CREATE TABLE destinations (
        workspace_id BLOB    NOT NULL,
        id           BLOB    NOT NULL,
        org_id       BLOB    NOT NULL,
        name         TEXT    NOT NULL,
        connector    TEXT    NOT NULL,
        config       TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX destinations_by_created ON destinations (workspace_id, created_at, id);

    CREATE TABLE connections (
        workspace_id   BLOB    NOT NULL,
        id             BLOB    NOT NULL,
        org_id         BLOB    NOT NULL,
        name           TEXT    NOT NULL,
        source_id      BLOB    NOT NULL,
        destination_id BLOB    NOT NULL,
        status         TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
        schedule       TEXT    NOT NULL,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id),
        FOREIGN KEY (workspace_id, source_id) REFERENCES sources (workspace_id, id),
        FOREIGN KEY (workspace_id, destination_id) REFERENCES destinations (workspace_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX connections_by_created ON connections (workspace_id, created_at, id);
    CREATE INDEX connections_by_source ON connections (workspace_id, source_id);
    CREATE INDEX connections_by_destination ON connections (workspace_id, destination_id);

    CREATE TABLE sync_runs (
        workspace_id  BLOB    NOT NULL,
        id            BLOB    NOT NULL,
        org_id        BLOB    NOT NULL,
        connection_id BLOB    NOT NULL,
        status        TEXT    NOT NULL
            CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
        started_at    INTEGER NOT NULL,
        finished_at   INTEGER,
        rows_synced   INTEGER NOT NULL CHECK (rows_synced >= 0),
        bytes_synced  INTEGER NOT NULL CHECK (bytes_synced >= 0),
        error         TEXT,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id),
        FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX sync_runs_by_connection
        ON sync_runs (workspace_id, connection_id, started_at, id);
    ",
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database on `conn` up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS bulkhead_migrations (
            version    INTEGER NOT NULL PRIMARY KEY,
            applied_at INTEGER NOT NULL
        ) STRICT",
    )
    .ctx("could not create the migrations table")?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("could not start a migration")?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM bulkhead_migrations",
                [],
                |r| r.get(0),
            )
            .ctx("could not read the schema version")?;
        if current > SCHEMA_VERSION {
            return Err(StorageError::new(format!(
                "the database has schema version {current}, newer than this build of bulkhead understands ({SCHEMA_VERSION}); upgrade bulkhead"
            ))
            .into());
        }
        if current >= version {
            continue;
        }
        tx.execute_batch(sql)
            .ctx(format_args!("migration {version} failed"))?;
        tx.execute(
            "INSERT INTO bulkhead_migrations (version, applied_at) VALUES (?1, unixepoch())",
            params![version],
        )
        .ctx("could not record a migration")?;
        tx.commit().ctx("could not commit a migration")?;
        tracing::info!(target: "bulkhead::sqlite", version, "applied migration");
    }
    Ok(SCHEMA_VERSION)
}
