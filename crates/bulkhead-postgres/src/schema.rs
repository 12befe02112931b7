//! The schema, its Row Level Security policies, and the migrations that make them.
//!
//! Migrations run as the **owner** role, each in its own transaction under an advisory lock
//! (two processes starting at once apply a migration once). Queries run as the **restricted**
//! role, which owns nothing, has no `BYPASSRLS`, and is granted row access only; see
//! [`grant`].
//!
//! The schema means what the SQLite schema of `bulkhead-sqlite` means (same tables, columns,
//! keys and checks; times are milliseconds since the epoch in `bigint`, ids are `uuid`, sealed
//! values `bytea`; ordered text is `COLLATE "C"`, the byte order SQLite uses). The tenant
//! tables (`sources`, `destinations`, `connections`, `sync_runs`, `revoked_tokens`) have
//! primary and unique keys that all start with `workspace_id`, and reference each other by
//! keys that include it, so Citus can distribute them by `workspace_id` as they are; the
//! organization-level tables are small reference tables.
//!
//! # Policies
//!
//! Every table with tenant or organization rows has Row Level Security enabled **and forced**
//! (so the owner is held to it too). The policies read transaction-local settings that each
//! call sets with `set_config(..., true)` (see [`crate::pool`]); an unset setting is `''`,
//! which `NULLIF` turns into `NULL`, which matches no row:
//!
//! - tenant tables: `workspace_id = bulkhead.workspace_id`, for select, insert, update and
//!   delete, as `USING` and `WITH CHECK`;
//! - `workspaces`: the rows of `bulkhead.org_id`, and only the one of `bulkhead.workspace_id`
//!   when that is set;
//! - `organizations`: the row of `bulkhead.org_id`; an operator listing
//!   (`bulkhead.operator = 'list'`) may read every row, and write none;
//! - `org_keys`, `signing_keys`, `tags`, templates: the rows of `bulkhead.org_id`; a
//!   credential lookup may read the one key it names by hash (`bulkhead.key_hash`) or `kid`
//!   (`bulkhead.kid`), and record the use of the one org key it names (`bulkhead.key_id`);
//! - the job queue (migration 6, see [`crate::jobs`]): `sync_queue` is a tenant table; the
//!   scheduler's counters `sched_org` and `sched_workspace` are rows of `bulkhead.org_id` (a
//!   workspace's only to itself while `bulkhead.workspace_id` is set); a claim
//!   (`bulkhead.queue = 'claim'`) may read all three, ids and counters only, and write none.

use bulkhead_core::{Result, StorageError};
use postgres::Client;

use crate::Ctx;

/// The tables whose rows belong to one workspace (distributed by `workspace_id`).
pub const TENANT_TABLES: [&str; 7] = [
    "sources",
    "destinations",
    "connections",
    "sync_runs",
    "revoked_tokens",
    "sync_queue",
    "sched_connection",
];

/// The tables whose rows belong to one organization, or to none (Citus reference tables).
pub const REFERENCE_TABLES: [&str; 13] = [
    "bulkhead_migrations",
    "bulkhead_meta",
    "organizations",
    "workspaces",
    "org_keys",
    "signing_keys",
    "tags",
    "source_templates",
    "connection_templates",
    "audit_log",
    "sched_global",
    "sched_org",
    "sched_workspace",
];

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
    migration!("0002_audit_log"),
    migration!("0003_workspace_lifecycle"),
    migration!("0004_one_running_sync"),
    migration!("0005_workspaces_created_index"),
    migration!("0006_job_queue"),
    SCHEDULES,
    migration!("0008_worker_keys"),
];

/// The statements of a migration file under `migrations/`: its text after the leading `--`
/// lines that say what the migration does. The statements are exactly the text each
/// migration has always run.
const fn statements(file: &'static str) -> &'static str {
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

/// The scheduler (`bulkhead_core::schedules`): each active scheduled connection's next due
/// time, ids and times only. A tenant table (its key starts with `workspace_id`, it
/// references its connection and goes with it), with the tenant policies, plus one for the
/// tick: with `bulkhead.operator = 'scheduler'` a transaction reads every row and moves or
/// removes one, and inserts none. Existing scheduled connections are backfilled in the same
/// transaction ([`backfill_schedules`]).
const SCHEDULES: &str = migration!("0007_schedules");

/// Gives each active scheduled connection its first due time from now, in the migration
/// that made `sched_connection`, as the owner (lifting the policies for itself inside this
/// transaction only, as migration 4 does).
fn backfill_schedules(tx: &mut postgres::Transaction<'_>) -> Result<()> {
    use bulkhead_core::{Clock, Schedule, SystemClock};
    tx.batch_execute(
        "ALTER TABLE connections NO FORCE ROW LEVEL SECURITY;
         ALTER TABLE sched_connection NO FORCE ROW LEVEL SECURITY;",
    )
    .ctx("could not start the schedules' backfill")?;
    let now = SystemClock.now();
    let rows = tx
        .query(
            "SELECT workspace_id, id, org_id, schedule FROM connections
             WHERE status = 'active' AND schedule <> 'manual'",
            &[],
        )
        .ctx("could not read the scheduled connections")?;
    for row in rows {
        let text: String = row.try_get(3).ctx("could not read a schedule")?;
        // A stored schedule that no longer parses stays unscheduled, as the engine would
        // refuse it.
        let Some(due) = Schedule::parse(&text).ok().and_then(|s| s.first_due(now)) else {
            continue;
        };
        let (workspace, id, org): (uuid::Uuid, uuid::Uuid, uuid::Uuid) = (
            row.try_get(0).ctx("could not read a connection")?,
            row.try_get(1).ctx("could not read a connection")?,
            row.try_get(2).ctx("could not read a connection")?,
        );
        tx.execute(
            "INSERT INTO sched_connection (workspace_id, connection_id, org_id, schedule, due_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&workspace, &id, &org, &text, &due.unix_millis()],
        )
        .ctx("could not store a connection's first due time")?;
    }
    tx.batch_execute(
        "ALTER TABLE connections FORCE ROW LEVEL SECURITY;
         ALTER TABLE sched_connection FORCE ROW LEVEL SECURITY;",
    )
    .ctx("could not end the schedules' backfill")
}

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Checks that `name` is a plain lower-case SQL identifier (it is written into DDL).
pub(crate) fn check_identifier(field: &'static str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(bulkhead_core::Error::invalid_input(
            field,
            format!(
                "`{name}` is not a plain identifier: use 1 to 63 of a-z, 0-9 and _, not starting with a digit"
            ),
        ))
    }
}

/// Brings the schema `schema` up to [`SCHEMA_VERSION`], as the owner on `client`, creating the
/// schema if it does not exist, and grants the restricted role `app` its rights ([`grant`]),
/// all under the schema's migration lock (concurrent grants on one table can fail with
/// "tuple concurrently updated"). Returns the version.
pub(crate) fn migrate(client: &mut Client, schema: &str, app: &str) -> Result<i64> {
    check_identifier("schema", schema)?;
    check_identifier("restricted role", app)?;
    for index in 0..=MIGRATIONS.len() {
        let mut tx = client.transaction().ctx("could not start a migration")?;
        // One migrating process per schema at a time, whatever the schema's state.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('bulkhead migrations: ' || $1::text))",
            &[&schema],
        )
        .ctx("could not take the migration lock")?;
        // `CREATE SCHEMA IF NOT EXISTS` needs the right to create schemas even when the
        // schema exists, which an owner given its schema by `provision` does not have.
        let exists = tx
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .ctx("could not look up the schema")?
            .is_some();
        if !exists {
            tx.batch_execute(&format!("CREATE SCHEMA {schema}"))
                .ctx("could not create the schema")?;
        }
        tx.batch_execute(&format!(
            "SET LOCAL search_path = {schema};
             CREATE TABLE IF NOT EXISTS bulkhead_migrations (
                 version    bigint NOT NULL PRIMARY KEY,
                 applied_at bigint NOT NULL
             );"
        ))
        .ctx("could not create the migrations table")?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM bulkhead_migrations",
                &[],
            )
            .ctx("could not read the schema version")?
            .try_get(0)
            .ctx("could not read the schema version")?;
        if current > SCHEMA_VERSION {
            return Err(newer(current));
        }
        let Some(sql) = MIGRATIONS.get(index) else {
            tx.batch_execute(&grants(schema, app))
                .ctx("could not grant the restricted role its rights")?;
            tx.commit().ctx("could not commit")?;
            return Ok(current);
        };
        let version = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        if current >= version {
            tx.commit().ctx("could not commit")?;
            continue;
        }
        tx.batch_execute(sql)
            .ctx(format_args!("migration {version} failed"))?;
        if *sql == SCHEDULES {
            backfill_schedules(&mut tx)?;
        }
        tx.execute(
            "INSERT INTO bulkhead_migrations (version, applied_at)
             VALUES ($1, extract(epoch FROM now())::bigint)",
            &[&version],
        )
        .ctx("could not record a migration")?;
        tx.commit().ctx("could not commit a migration")?;
        tracing::info!(target: "bulkhead::postgres", version, schema, "applied migration");
    }
    Ok(SCHEMA_VERSION)
}

fn newer(current: i64) -> bulkhead_core::Error {
    StorageError::new(format!(
        "the database has schema version {current}, newer than this build of bulkhead understands ({SCHEMA_VERSION}); upgrade bulkhead"
    ))
    .into()
}

/// What the restricted role `app` gets in `schema` (both checked identifiers): use of the
/// schema, select, insert, update and delete on its tables (reading the migrations only,
/// appending to the audit log only), and numbers from its sequences (fencing tokens).
/// Nothing else: it cannot create, alter or own anything, so it cannot turn a policy off.
fn grants(schema: &str, app: &str) -> String {
    format!(
        "GRANT USAGE ON SCHEMA {schema} TO {app};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app};
         REVOKE INSERT, UPDATE, DELETE ON {schema}.bulkhead_migrations FROM {app};
         REVOKE UPDATE, DELETE ON {schema}.audit_log FROM {app};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {app};"
    )
}

/// The schema version as the restricted role sees it; an error when the schema is missing,
/// older or newer than this build.
pub(crate) fn check_version(client: &mut Client) -> Result<i64> {
    let current: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM bulkhead_migrations",
            &[],
        )
        .map_err(|e| {
            StorageError::with_source(
                "could not read the schema version (is the schema migrated? connect once with the owner's URL)",
                e,
            )
        })?
        .try_get(0)
        .ctx("could not read the schema version")?;
    if current > SCHEMA_VERSION {
        return Err(newer(current));
    }
    if current < SCHEMA_VERSION {
        return Err(StorageError::new(format!(
            "the database has schema version {current}, older than this build ({SCHEMA_VERSION}); connect once with the owner's URL to migrate it"
        ))
        .into());
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use postgres::NoTls;

    use super::*;
    use crate::test_server::{APP, OWNER};

    /// A new schema of the test server migrated to `version` as its owner, holding an
    /// organization, its workspace, a source and a destination (ids ending `01` to `04`):
    /// an administrator's client (a superuser, past the policies, its `search_path` on the
    /// schema), the owner's client, and the schema's name.
    fn schema_at(version: usize) -> (Client, Client, String) {
        let server = crate::test_server::server();
        let schema = format!(
            "bhm_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let mut admin = Client::connect(server.admin_url(), NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"))
            .unwrap();
        let mut owner = Client::connect(&server.url_for(OWNER), NoTls).unwrap();
        let mut tx = owner.transaction().unwrap();
        tx.batch_execute(&format!(
            "SET LOCAL search_path = {schema};
             CREATE TABLE bulkhead_migrations (
                 version bigint NOT NULL PRIMARY KEY, applied_at bigint NOT NULL)"
        ))
        .unwrap();
        for (index, sql) in MIGRATIONS.iter().take(version).enumerate() {
            tx.batch_execute(sql).unwrap();
            let version = i64::try_from(index).unwrap() + 1;
            tx.execute(
                "INSERT INTO bulkhead_migrations VALUES ($1, 0)",
                &[&version],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, src, dst) = (id(1), id(2), id(3), id(4));
        admin
            .batch_execute(&format!(
                "SET search_path = {schema};
                 INSERT INTO organizations (id, name, created_at) VALUES ({org}, 'Acme', 5);
                 INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
                     VALUES ({ws}, {org}, 'cust-1', 'cust-1', 'active', 6, 7);
                 INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
                     VALUES ({ws}, {src}, {org}, 's', 'faker', '{{}}', 8, 8);
                 INSERT INTO destinations (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
                     VALUES ({ws}, {dst}, {org}, 'd', 'dev-null', '{{}}', 8, 8);"
            ))
            .unwrap();
        (admin, owner, schema)
    }

    /// The connections [`insert_runs`] makes: `c` and `k`, ids ending `05` and `06`.
    const C: u8 = 0x05;
    const K: u8 = 0x06;

    /// As the administrator (a superuser, past the policies): two manual connections of the
    /// [`schema_at`] workspace, [`C`] and [`K`], and one sync run per entry of `runs`, `(id,
    /// connection, status, started_at)`, with a row and a byte synced if it succeeded.
    fn insert_runs(admin: &mut Client, schema: &str, runs: &[(u8, u8, &str, i64)]) {
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, src, dst, c, k) = (id(1), id(2), id(3), id(4), id(C), id(K));
        let values: Vec<String> = runs
            .iter()
            .map(|&(run, connection, status, started)| {
                let synced = u8::from(status == "succeeded");
                let (run, connection) = (id(run), id(connection));
                format!(
                    "({ws}, {run}, {org}, {connection}, '{status}', {started}, {synced}, {synced})"
                )
            })
            .collect();
        admin
            .batch_execute(&format!(
                "SET search_path = {schema};
                 INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
                     VALUES ({ws}, {c}, {org}, 'c', {src}, {dst}, 'active', 'manual', 9, 9),
                            ({ws}, {k}, {org}, 'k', {src}, {dst}, 'active', 'manual', 9, 9);
                 INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
                     VALUES {};",
                values.join(", ")
            ))
            .unwrap();
    }

    /// A schema from before the one-running-sync rule (version 3) may hold several running
    /// runs of one connection: migrating, as the owner (held to the policies by FORCE),
    /// ends all but the latest as cancelled, keeps the others as they were, restores FORCE,
    /// and then the database refuses a second running run.
    #[test]
    fn version_3_schema_with_duplicate_running_runs_migrates() {
        let (mut admin, mut owner, schema) = schema_at(3);
        insert_runs(
            &mut admin,
            &schema,
            &[
                (0x10, C, "running", 10),
                (0x11, C, "running", 12),
                (0x12, C, "running", 12),
                (0x13, C, "succeeded", 13),
                (0x14, K, "running", 11),
            ],
        );
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, k) = (id(1), id(2), id(K));

        assert_eq!(migrate(&mut owner, &schema, APP).unwrap(), SCHEMA_VERSION);

        let runs: Vec<(String, String, bool)> = admin
            .query(
                "SELECT right(id::text, 2), status, finished_at IS NOT NULL FROM sync_runs ORDER BY id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
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
        let forced: bool = admin
            .query_one(
                "SELECT relforcerowsecurity FROM pg_class
                 WHERE oid = to_regclass($1)",
                &[&format!("{schema}.sync_runs")],
            )
            .unwrap()
            .get(0);
        assert!(
            forced,
            "the migration left sync_runs without FORCE ROW LEVEL SECURITY"
        );
        let second = admin.execute(
            &format!(
                "INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
                 VALUES ({ws}, {r}, {org}, {k}, 'running', 14, 0, 0)",
                r = id(0x15)
            ),
            &[],
        );
        assert!(second.is_err(), "a second running run was stored");
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }

    /// A schema from before the queue (version 5) may hold pending runs, which nothing would
    /// run, and several live runs of one connection: migrating ends every pending run and
    /// all but the latest live run of a connection as cancelled, and then the database
    /// refuses a second live (pending or running) run.
    #[test]
    fn version_5_schema_with_pending_and_duplicate_live_runs_migrates() {
        let (mut admin, mut owner, schema) = schema_at(5);
        insert_runs(
            &mut admin,
            &schema,
            &[
                (0x10, C, "pending", 10),
                (0x11, C, "running", 12),
                (0x12, C, "succeeded", 13),
                (0x13, K, "pending", 11),
            ],
        );
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, c) = (id(1), id(2), id(C));

        assert_eq!(migrate(&mut owner, &schema, APP).unwrap(), SCHEMA_VERSION);

        let runs: Vec<(String, String)> = admin
            .query(
                "SELECT right(id::text, 2), status FROM sync_runs ORDER BY id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let expect = |id: &str, status: &str| (id.to_owned(), status.to_owned());
        assert_eq!(
            runs,
            vec![
                // Pending beside a later running run, and pending with no queue row.
                expect("10", "cancelled"),
                expect("11", "running"),
                expect("12", "succeeded"),
                expect("13", "cancelled"),
            ]
        );
        let pending = admin.execute(
            &format!(
                "INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
                 VALUES ({ws}, {r}, {org}, {c}, 'pending', 14, 0, 0)",
                r = id(0x15)
            ),
            &[],
        );
        assert!(
            pending.is_err(),
            "a pending run was stored beside a running one"
        );
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }

    /// A schema from before the scheduler (version 6) gets a due time for each active
    /// scheduled connection when it is migrated, from the migration's time, and none for a
    /// manual or inactive one.
    #[test]
    fn version_6_schema_gets_due_times_for_its_scheduled_connections() {
        let (mut admin, mut owner, schema) = schema_at(6);
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, src, dst) = (id(1), id(2), id(3), id(4));
        admin
            .batch_execute(&format!(
                "SET search_path = {schema};
                 INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
                     VALUES ({ws}, {c5}, {org}, 'cron', {src}, {dst}, 'active', '0 * * * *', 9, 9),
                            ({ws}, {c6}, {org}, 'manual', {src}, {dst}, 'active', 'manual', 9, 9),
                            ({ws}, {c7}, {org}, 'paused', {src}, {dst}, 'inactive', '0 * * * *', 9, 9),
                            ({ws}, {c8}, {org}, 'every', {src}, {dst}, 'active', 'every 2 hours', 9, 9);",
                c5 = id(5),
                c6 = id(6),
                c7 = id(7),
                c8 = id(8),
            ))
            .unwrap();

        let before = bulkhead_core::Clock::now(&bulkhead_core::SystemClock).unix_millis();
        assert_eq!(migrate(&mut owner, &schema, APP).unwrap(), SCHEMA_VERSION);
        let after = bulkhead_core::Clock::now(&bulkhead_core::SystemClock).unix_millis();

        let rows: Vec<(String, String, i64)> = admin
            .query(
                "SELECT right(connection_id::text, 2), schedule, due_at FROM sched_connection
                 ORDER BY connection_id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        let (id5, text, due) = &rows[0];
        assert_eq!((id5.as_str(), text.as_str()), ("05", "0 * * * *"));
        // The next whole hour after the migration ran.
        assert_eq!(due % 3_600_000, 0);
        assert!(*due > before && *due <= after + 3_600_000, "{rows:?}");
        let (id8, text, due) = &rows[1];
        assert_eq!((id8.as_str(), text.as_str()), ("08", "every 2 hours"));
        assert!(
            *due >= before + 7_200_000 && *due <= after + 7_200_000,
            "{rows:?}"
        );
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
}
