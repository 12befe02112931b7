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

/// The statements of the migration file `migrations/<name>.sql` (see [`statements`]).
macro_rules! migration {
    ($name:literal) => {
        statements(include_str!(concat!("../migrations/", $name, ".sql")))
    };
}

/// The migrations, in order; `MIGRATIONS[n]` takes the schema to version `n + 1`. Each is a
/// file of `migrations/`, named by its version and what it does.
const MIGRATIONS: &[&str] = &[
    migration!("0001_foundation"),
    migration!("0002_credentials"),
    migration!("0003_templates_and_secrets"),
    migration!("0004_workspace_creation_rate"),
    migration!("0005_audit_log"),
    migration!("0006_workspace_lifecycle"),
    migration!("0007_one_running_sync"),
    migration!("0008_workspaces_created_index"),
    migration!("0009_job_queue"),
    migration!("0010_schedules"),
    migration!("0011_worker_keys"),
];

/// The statements of a migration file under `migrations/` (or of a guard template under
/// `src/guard/`): its text after the leading `--` lines that say what it does. The
/// statements are exactly the text each migration has always run.
pub(crate) const fn statements(file: &'static str) -> &'static str {
    let mut rest = file.as_bytes();
    while let [b'-', b'-', ..] = rest {
        // Past the comment line and its newline.
        while let [byte, tail @ ..] = rest {
            rest = tail;
            if *byte == b'\n' {
                break;
            }
        }
    }
    file.split_at(file.len().saturating_sub(rest.len())).1
}

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

    /// An organization (id `01`) with a workspace (`02`) holding a source (`03`) and a
    /// destination (`04`), in the schema of versions 6 to 10.
    const ONE_WORKSPACE: &str =
        "INSERT INTO organizations (id, name, created_at) VALUES (x'01', 'Acme', 5);
         INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
             VALUES (x'02', x'01', 'cust-1', 'cust-1', 'active', 6, 7);
         INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
             VALUES (x'02', x'03', x'01', 's', 'faker', '{}', 8, 8);
         INSERT INTO destinations (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
             VALUES (x'02', x'04', x'01', 'd', 'dev-null', '{}', 8, 8);";

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
        conn.execute_batch(ONE_WORKSPACE).unwrap();
        conn.execute_batch(
            "INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
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
        conn.execute_batch(ONE_WORKSPACE).unwrap();
        conn.execute_batch(
            "INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
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
