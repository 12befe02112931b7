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

use bulkhead_core::{Clock, Result, StorageError};
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
    // 2: credentials (org keys, signing keys, revocation), token settings, tag selections.
    "
    CREATE TABLE bulkhead_meta (
        key   TEXT NOT NULL PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT;

    ALTER TABLE organizations ADD COLUMN token_algorithm TEXT NOT NULL DEFAULT 'HS256'
        CHECK (token_algorithm IN ('HS256', 'EdDSA'));
    ALTER TABLE organizations ADD COLUMN issuer TEXT NOT NULL DEFAULT 'bulkhead';
    ALTER TABLE organizations ADD COLUMN audience TEXT NOT NULL DEFAULT 'bulkhead-workspace';
    ALTER TABLE organizations ADD COLUMN default_ttl_secs INTEGER NOT NULL DEFAULT 1200;
    ALTER TABLE organizations ADD COLUMN max_ttl_secs INTEGER NOT NULL DEFAULT 3600;

    ALTER TABLE workspaces ADD COLUMN source_tags TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE workspaces ADD COLUMN source_tags_mode TEXT NOT NULL DEFAULT 'any'
        CHECK (source_tags_mode IN ('any', 'all'));
    ALTER TABLE workspaces ADD COLUMN connection_tags TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE workspaces ADD COLUMN connection_tags_mode TEXT NOT NULL DEFAULT 'any'
        CHECK (connection_tags_mode IN ('any', 'all'));
    ALTER TABLE workspaces ADD COLUMN tokens_valid_after INTEGER;

    -- Only the SHA-256 of an org access key is stored, never the key.
    CREATE TABLE org_keys (
        id           BLOB    NOT NULL PRIMARY KEY,
        org_id       BLOB    NOT NULL REFERENCES organizations (id),
        prefix       TEXT    NOT NULL,
        hash         BLOB    NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        last_used_at INTEGER,
        revoked_at   INTEGER
    ) STRICT;
    CREATE INDEX org_keys_by_org ON org_keys (org_id, created_at);

    -- Secrets are sealed under the master key (AES-256-GCM), bound to org id and kid.
    CREATE TABLE signing_keys (
        kid           TEXT    NOT NULL PRIMARY KEY,
        org_id        BLOB    NOT NULL REFERENCES organizations (id),
        algorithm     TEXT    NOT NULL CHECK (algorithm IN ('HS256', 'EdDSA')),
        sealed_secret BLOB    NOT NULL,
        public_key    BLOB,
        created_at    INTEGER NOT NULL,
        retire_at     INTEGER
    ) STRICT;
    CREATE INDEX signing_keys_by_org ON signing_keys (org_id, created_at);

    CREATE TABLE revoked_tokens (
        workspace_id BLOB    NOT NULL,
        jti          TEXT    NOT NULL,
        org_id       BLOB    NOT NULL,
        expires_at   INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, jti),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    ) STRICT, WITHOUT ROWID;
    ",
    // 3: tags, templates, sealed secrets and per-workspace data keys.
    "
    CREATE TABLE tags (
        org_id     BLOB    NOT NULL REFERENCES organizations (id),
        name       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, name)
    ) STRICT, WITHOUT ROWID;

    -- Kind-specific fields are JSON in `body`; secret fields are sealed under the master key
    -- in `secrets` and masked in `body`.
    CREATE TABLE source_templates (
        id         BLOB    NOT NULL PRIMARY KEY,
        org_id     BLOB    NOT NULL REFERENCES organizations (id),
        name       TEXT    NOT NULL,
        tags       TEXT    NOT NULL,
        body       TEXT    NOT NULL,
        secrets    TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX source_templates_by_org ON source_templates (org_id, created_at);

    CREATE TABLE connection_templates (
        id         BLOB    NOT NULL PRIMARY KEY,
        org_id     BLOB    NOT NULL REFERENCES organizations (id),
        name       TEXT    NOT NULL,
        tags       TEXT    NOT NULL,
        body       TEXT    NOT NULL,
        secrets    TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX connection_templates_by_org ON connection_templates (org_id, created_at);

    -- The workspace's data key, sealed under the master key; NULL until first needed and
    -- after the workspace is deleted.
    ALTER TABLE workspaces ADD COLUMN sealed_dek BLOB;

    -- Secret fields are masked in `config` and sealed with the workspace's data key here.
    ALTER TABLE sources ADD COLUMN template_id BLOB;
    ALTER TABLE sources ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE destinations ADD COLUMN template_id BLOB;
    ALTER TABLE destinations ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';
    -- One destination per connection template per workspace: what sources made from
    -- templates share.
    CREATE UNIQUE INDEX destinations_by_template ON destinations (workspace_id, template_id)
        WHERE template_id IS NOT NULL;
    ",
    // 4: the workspace-creation rate limit of each organization.
    "
    ALTER TABLE organizations ADD COLUMN workspace_creation_burst INTEGER NOT NULL DEFAULT 100
        CHECK (workspace_creation_burst > 0);
    ALTER TABLE organizations ADD COLUMN workspace_creation_rate INTEGER NOT NULL DEFAULT 10
        CHECK (workspace_creation_rate > 0);
    ",
    // 5: the audit log, one hash chain per organization (see bulkhead_core::audit).
    "
    CREATE TABLE audit_log (
        org_id       BLOB    NOT NULL REFERENCES organizations (id),
        seq          INTEGER NOT NULL CHECK (seq > 0),
        at           INTEGER NOT NULL,
        actor        TEXT    NOT NULL,
        action       TEXT    NOT NULL,
        workspace_id BLOB,
        target       TEXT    NOT NULL,
        outcome      TEXT    NOT NULL,
        prev_hash    BLOB    NOT NULL,
        hash         BLOB    NOT NULL,
        PRIMARY KEY (org_id, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX audit_log_by_workspace ON audit_log (org_id, workspace_id, seq);
    ",
    // 6: workspace lifecycle: tombstones (deleted, or merged into another workspace) and the
    // connections an inactive workspace paused.
    "
    ALTER TABLE workspaces ADD COLUMN deleted_at INTEGER;
    ALTER TABLE workspaces ADD COLUMN merged_into BLOB;
    ALTER TABLE connections ADD COLUMN paused_by_workspace INTEGER NOT NULL DEFAULT 0
        CHECK (paused_by_workspace IN (0, 1));
    CREATE INDEX workspaces_deleted ON workspaces (org_id, deleted_at)
        WHERE deleted_at IS NOT NULL;
    ",
    // 7: at most one running sync per connection, kept by the database. Runs left running
    // side by side from before this rule are ended as cancelled, all but the latest.
    "
    UPDATE sync_runs SET status = 'cancelled', finished_at = unixepoch() * 1000
    WHERE status = 'running' AND EXISTS (
        SELECT 1 FROM sync_runs AS later
        WHERE later.workspace_id = sync_runs.workspace_id
          AND later.connection_id = sync_runs.connection_id
          AND later.status = 'running'
          AND (later.started_at > sync_runs.started_at
               OR (later.started_at = sync_runs.started_at AND later.id > sync_runs.id)));
    CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (workspace_id, connection_id)
        WHERE status = 'running';
    ",
    // 8: workspace creations counted by hour over a recent range (the organization's
    // dashboard) read only the rows in the range.
    "
    CREATE INDEX workspaces_created ON workspaces (org_id, created_at);
    ",
    // 9: the job queue (bulkhead_core::jobs). A job is a sync run; the queue tables hold ids
    // and counters only. At most one pending or running run per connection (a queued job
    // counts like a running run); runs left pending side by side are ended as cancelled, all
    // but the latest.
    "
    UPDATE sync_runs SET status = 'cancelled', finished_at = unixepoch() * 1000
    WHERE status IN ('pending', 'running') AND EXISTS (
        SELECT 1 FROM sync_runs AS later
        WHERE later.workspace_id = sync_runs.workspace_id
          AND later.connection_id = sync_runs.connection_id
          AND later.status IN ('pending', 'running')
          AND (later.started_at > sync_runs.started_at
               OR (later.started_at = sync_runs.started_at AND later.id > sync_runs.id)));
    -- Pending runs from before the queue had no queue row: nothing would run them.
    UPDATE sync_runs SET status = 'cancelled', finished_at = unixepoch() * 1000
    WHERE status = 'pending';
    DROP INDEX sync_runs_one_running;
    CREATE UNIQUE INDEX sync_runs_one_live ON sync_runs (workspace_id, connection_id)
        WHERE status IN ('pending', 'running');

    -- The fencing-token counter and the organizations' virtual-time floor: one row.
    CREATE TABLE sched_global (
        id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        last_token INTEGER NOT NULL CHECK (last_token >= 0),
        org_floor  INTEGER NOT NULL
    ) STRICT;
    INSERT INTO sched_global (id, last_token, org_floor) VALUES (1, 0, 0);

    CREATE TABLE sched_org (
        id       BLOB    NOT NULL PRIMARY KEY,
        weight   INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
        cap      INTEGER CHECK (cap IS NULL OR cap > 0),
        vtime    INTEGER NOT NULL DEFAULT 0,
        ws_floor INTEGER NOT NULL DEFAULT 0,
        queued   INTEGER NOT NULL DEFAULT 0 CHECK (queued >= 0),
        running  INTEGER NOT NULL DEFAULT 0 CHECK (running >= 0)
    ) STRICT;
    CREATE INDEX sched_org_ready ON sched_org (vtime, id) WHERE queued > 0;

    CREATE TABLE sched_workspace (
        id      BLOB    NOT NULL PRIMARY KEY,
        org_id  BLOB    NOT NULL,
        weight  INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
        cap     INTEGER CHECK (cap IS NULL OR cap > 0),
        vtime   INTEGER NOT NULL DEFAULT 0,
        queued  INTEGER NOT NULL DEFAULT 0 CHECK (queued >= 0),
        running INTEGER NOT NULL DEFAULT 0 CHECK (running >= 0)
    ) STRICT;
    CREATE INDEX sched_workspace_ready ON sched_workspace (org_id, vtime, id) WHERE queued > 0;

    CREATE TABLE sync_queue (
        id            BLOB    NOT NULL PRIMARY KEY,
        org_id        BLOB    NOT NULL,
        workspace_id  BLOB    NOT NULL,
        connection_id BLOB    NOT NULL,
        state         TEXT    NOT NULL CHECK (state IN ('scheduled', 'queued', 'running')),
        attempt       INTEGER NOT NULL CHECK (attempt >= 0),
        max_attempts  INTEGER NOT NULL CHECK (max_attempts > 0),
        run_at        INTEGER NOT NULL,
        lease_token   INTEGER,
        lease_until   INTEGER,
        worker        TEXT,
        CHECK ((state = 'running') = (lease_token IS NOT NULL AND lease_until IS NOT NULL))
    ) STRICT;
    CREATE UNIQUE INDEX sync_queue_one_live ON sync_queue (workspace_id, connection_id);
    CREATE INDEX sync_queue_ready ON sync_queue (workspace_id, run_at, id)
        WHERE state = 'queued';
    CREATE INDEX sync_queue_scheduled ON sync_queue (run_at) WHERE state = 'scheduled';
    CREATE INDEX sync_queue_leases ON sync_queue (lease_until) WHERE state = 'running';

    -- The counters follow the queue rows whatever writes them (a claim, a cancel, a
    -- connection or workspace deleted with its runs).
    CREATE TRIGGER sync_queue_added AFTER INSERT ON sync_queue BEGIN
        INSERT OR IGNORE INTO sched_org (id) VALUES (NEW.org_id);
        INSERT OR IGNORE INTO sched_workspace (id, org_id) VALUES (NEW.workspace_id, NEW.org_id);
        UPDATE sched_workspace SET queued = queued + (NEW.state = 'queued'),
            running = running + (NEW.state = 'running') WHERE id = NEW.workspace_id;
        UPDATE sched_org SET queued = queued + (NEW.state = 'queued'),
            running = running + (NEW.state = 'running') WHERE id = NEW.org_id;
    END;
    CREATE TRIGGER sync_queue_removed AFTER DELETE ON sync_queue BEGIN
        UPDATE sched_workspace SET queued = queued - (OLD.state = 'queued'),
            running = running - (OLD.state = 'running') WHERE id = OLD.workspace_id;
        UPDATE sched_org SET queued = queued - (OLD.state = 'queued'),
            running = running - (OLD.state = 'running') WHERE id = OLD.org_id;
    END;
    CREATE TRIGGER sync_queue_moved AFTER UPDATE OF state ON sync_queue
    WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE sched_workspace
            SET queued = queued - (OLD.state = 'queued') + (NEW.state = 'queued'),
                running = running - (OLD.state = 'running') + (NEW.state = 'running')
            WHERE id = NEW.workspace_id;
        UPDATE sched_org
            SET queued = queued - (OLD.state = 'queued') + (NEW.state = 'queued'),
                running = running - (OLD.state = 'running') + (NEW.state = 'running')
            WHERE id = NEW.org_id;
    END;
    -- Start-time fair queuing: a workspace or organization that had nothing queued re-enters
    -- at the virtual time of the last claim at its level, so idling banks no credit.
    CREATE TRIGGER sched_workspace_reenters AFTER UPDATE OF queued ON sched_workspace
    WHEN OLD.queued = 0 AND NEW.queued > 0 BEGIN
        UPDATE sched_workspace
            SET vtime = max(vtime,
                coalesce((SELECT ws_floor FROM sched_org WHERE id = NEW.org_id), vtime))
            WHERE id = NEW.id;
    END;
    CREATE TRIGGER sched_org_reenters AFTER UPDATE OF queued ON sched_org
    WHEN OLD.queued = 0 AND NEW.queued > 0 BEGIN
        UPDATE sched_org
            SET vtime = max(vtime, coalesce((SELECT org_floor FROM sched_global), vtime))
            WHERE id = NEW.id;
    END;
    -- A run that ends, however it ends, or is deleted leaves the queue.
    CREATE TRIGGER sync_runs_ended AFTER UPDATE OF status ON sync_runs
    WHEN NEW.status IN ('succeeded', 'failed', 'cancelled') BEGIN
        DELETE FROM sync_queue WHERE id = NEW.id;
    END;
    CREATE TRIGGER sync_runs_removed AFTER DELETE ON sync_runs BEGIN
        DELETE FROM sync_queue WHERE id = OLD.id;
    END;
    ",
    // 10: the scheduler (bulkhead_core::schedules): each active scheduled connection's next
    // due time, ids and times only; the tick reads it across tenants by due time. The
    // connections scheduled before this migration get their first due time from the
    // migration's time (`crate::schedules::backfill`).
    "
    CREATE TABLE sched_connection (
        workspace_id  BLOB    NOT NULL,
        connection_id BLOB    NOT NULL,
        org_id        BLOB    NOT NULL,
        schedule      TEXT    NOT NULL CHECK (schedule <> 'manual'),
        due_at        INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, connection_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX sched_connection_due ON sched_connection (due_at);
    CREATE INDEX sched_connection_org_due ON sched_connection (org_id, due_at);
    -- A connection paused (by itself or with its workspace) or deleted, however it happens,
    -- has nothing due.
    CREATE TRIGGER connections_paused_unscheduled AFTER UPDATE OF status ON connections
    WHEN NEW.status <> 'active' BEGIN
        DELETE FROM sched_connection
        WHERE workspace_id = NEW.workspace_id AND connection_id = NEW.id;
    END;
    CREATE TRIGGER connections_removed_unscheduled AFTER DELETE ON connections BEGIN
        DELETE FROM sched_connection
        WHERE workspace_id = OLD.workspace_id AND connection_id = OLD.id;
    END;
    ",
    // 11: worker keys. An organization's key has a role: `organization` (every key made
    // before, the organization's full power) or `worker` (the job protocol only; see
    // bulkhead_core::keys).
    "
    ALTER TABLE org_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'organization'
        CHECK (role IN ('organization', 'worker'));
    ",
];

/// The migration that made `sched_connection`, whose transaction also backfills it.
const SCHEDULES_MIGRATION: i64 = 10;

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
        if version == SCHEDULES_MIGRATION {
            crate::schedules::backfill(&tx, bulkhead_core::SystemClock.now())?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in memory migrated to `version`, as a release of that schema left it.
    fn database_at(version: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn.execute_batch(
            "CREATE TABLE bulkhead_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT",
        )
        .unwrap();
        for (index, sql) in MIGRATIONS.iter().take(version).enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO bulkhead_migrations VALUES (?1, 0)",
                params![i64::try_from(index).unwrap() + 1],
            )
            .unwrap();
        }
        conn
    }

    /// A database made by the first release (schema 1) keeps its rows when it is migrated,
    /// and the new columns take their documented defaults.
    #[test]
    fn version_1_database_migrates_keeping_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn.execute_batch(
            "CREATE TABLE bulkhead_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO bulkhead_migrations VALUES (1, 0);
             INSERT INTO organizations VALUES (x'01', 'Acme', 5);
             INSERT INTO workspaces VALUES (x'02', x'01', 'cust-1', 'cust-1', 'active', 6, 7);",
        )
        .unwrap();

        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);

        let (alg, ttl): (String, i64) = conn
            .query_row(
                "SELECT token_algorithm, default_ttl_secs FROM organizations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((alg.as_str(), ttl), ("HS256", 1200));
        let (burst, rate): (i64, i64) = conn
            .query_row(
                "SELECT workspace_creation_burst, workspace_creation_rate FROM organizations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((burst, rate), (100, 10));
        let (ext, tags, mode, valid_after): (String, String, String, Option<i64>) = conn
            .query_row(
                "SELECT external_id, source_tags, source_tags_mode, tokens_valid_after FROM workspaces",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(ext, "cust-1");
        assert_eq!(
            (tags.as_str(), mode.as_str(), valid_after),
            ("[]", "any", None)
        );
        // Applying again changes nothing.
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
    }

    /// A database from before the one-running-sync rule (schema 6) may hold several running
    /// runs of one connection: migrating ends all but the latest as cancelled, keeps the
    /// rest as they were, and then the database refuses a second running run.
    #[test]
    fn version_6_database_with_duplicate_running_runs_migrates() {
        let mut conn = database_at(6);
        conn.execute_batch(
            "INSERT INTO organizations (id, name, created_at) VALUES (x'01', 'Acme', 5);
             INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
                 VALUES (x'02', x'01', 'cust-1', 'cust-1', 'active', 6, 7);
             INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
                 VALUES (x'02', x'03', x'01', 's', 'faker', '{}', 8, 8);
             INSERT INTO destinations (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
                 VALUES (x'02', x'04', x'01', 'd', 'dev-null', '{}', 8, 8);
             INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
                 VALUES (x'02', x'05', x'01', 'c', x'03', x'04', 'active', 'manual', 9, 9),
                        (x'02', x'06', x'01', 'k', x'03', x'04', 'active', 'manual', 9, 9);
             INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
                 VALUES (x'02', x'10', x'01', x'05', 'running', 10, 0, 0),
                        (x'02', x'11', x'01', x'05', 'running', 12, 0, 0),
                        (x'02', x'12', x'01', x'05', 'running', 12, 0, 0),
                        (x'02', x'13', x'01', x'05', 'succeeded', 13, 1, 1),
                        (x'02', x'14', x'01', x'06', 'running', 11, 0, 0);",
        )
        .unwrap();

        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);

        let mut stmt = conn
            .prepare("SELECT hex(id), status, finished_at IS NOT NULL FROM sync_runs ORDER BY id")
            .unwrap();
        let runs: Vec<(String, String, bool)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expect =
            |id: &str, status: &str, finished: bool| (id.to_owned(), status.to_owned(), finished);
        assert_eq!(
            runs,
            vec![
                expect("10", "cancelled", true),
                expect("11", "cancelled", true),
                // The latest (by start, then id) runs on.
                expect("12", "running", false),
                expect("13", "succeeded", false),
                expect("14", "running", false),
            ]
        );
        let second = conn.execute(
            "INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
             VALUES (x'02', x'15', x'01', x'06', 'running', 14, 0, 0)",
            [],
        );
        assert!(second.is_err(), "a second running run was stored");
    }

    /// The org keys of a database from before worker keys (schema 10) keep their power: they
    /// become `organization` keys, and a role outside `organization` and `worker` is refused.
    #[test]
    fn keys_made_before_worker_keys_are_organization_keys() {
        let mut conn = database_at(10);
        conn.execute_batch(
            "INSERT INTO organizations (id, name, created_at) VALUES (x'01', 'Acme', 5);
             INSERT INTO org_keys (id, org_id, prefix, hash, created_at)
                 VALUES (x'07', x'01', 'bh_org_abcdefgh', x'08', 6);",
        )
        .unwrap();

        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);

        let role: String = conn
            .query_row("SELECT role FROM org_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(role, "organization");
        assert!(
            conn.execute("UPDATE org_keys SET role = 'admin'", [])
                .is_err(),
            "the role is one of two"
        );
    }

    /// A database from before the scheduler (schema 9) gets a due time for each active
    /// scheduled connection when it is migrated, from the migration's time, and none for a
    /// manual or inactive one.
    #[test]
    fn version_9_database_gets_due_times_for_its_scheduled_connections() {
        let mut conn = database_at(9);
        conn.execute_batch(
            "INSERT INTO organizations (id, name, created_at) VALUES (x'01', 'Acme', 5);
             INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
                 VALUES (x'02', x'01', 'cust-1', 'cust-1', 'active', 6, 7);
             INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
                 VALUES (x'02', x'03', x'01', 's', 'faker', '{}', 8, 8);
             INSERT INTO destinations (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
                 VALUES (x'02', x'04', x'01', 'd', 'dev-null', '{}', 8, 8);
             INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
                 VALUES (x'02', x'05', x'01', 'cron', x'03', x'04', 'active', '0 * * * *', 9, 9),
                        (x'02', x'06', x'01', 'manual', x'03', x'04', 'active', 'manual', 9, 9),
                        (x'02', x'07', x'01', 'paused', x'03', x'04', 'inactive', '0 * * * *', 9, 9),
                        (x'02', x'08', x'01', 'every', x'03', x'04', 'active', 'every 2 hours', 9, 9);",
        )
        .unwrap();
        let before = bulkhead_core::SystemClock.now();
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        let after = bulkhead_core::SystemClock.now();
        let mut stmt = conn
            .prepare("SELECT hex(connection_id), schedule, due_at FROM sched_connection ORDER BY 1")
            .unwrap();
        let rows: Vec<(String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        let (id, text, due) = &rows[0];
        assert_eq!((id.as_str(), text.as_str()), ("05", "0 * * * *"));
        // The next whole hour after the migration ran.
        assert_eq!(due % 3_600_000, 0);
        assert!(*due > before.unix_millis() && *due <= after.unix_millis() + 3_600_000);
        let (id, text, due) = &rows[1];
        assert_eq!((id.as_str(), text.as_str()), ("08", "every 2 hours"));
        assert!(
            *due >= before.unix_millis() + 7_200_000 && *due <= after.unix_millis() + 7_200_000
        );
    }

    #[test]
    fn newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO bulkhead_migrations VALUES (?1, 0)",
            params![SCHEMA_VERSION + 1],
        )
        .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer than this build"), "{err}");
    }
}
