//! Row Level Security proven below the engine: raw SQL as the restricted role, on a schema
//! holding two workspaces' rows made through the engine. And the schema's shape checked from
//! the catalog: every tenant table's keys include `workspace_id` (Citus can distribute it
//! as it is), every table is classified, and every policy is there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeSet;

use bulkhead::{Config, Engine, MasterKey, WorkspaceId};
use bulkhead_postgres::{PgOptions, PostgresStore, REFERENCE_TABLES, TENANT_TABLES};
use bulkhead_testkit::conformance::raw_source;
use postgres::{Client, GenericClient};
use support::{APP, OWNER, Schema, admin, connect_as, server};
use uuid::Uuid;

/// A schema with organization `Acme` and two workspaces, `a` (2 sources) and `b` (3).
struct Fixture {
    schema: Schema,
    org: Uuid,
    a: WorkspaceId,
    b: WorkspaceId,
}

fn fixture() -> Fixture {
    let schema = Schema::new();
    let mut config = Config::default().with_master_key(MasterKey::generate().unwrap());
    config.postgres = schema.options();
    let engine = Engine::connect_postgres(&server().url_for(APP), config).unwrap();
    let (org, key) = engine.create_organization("Acme").unwrap();
    let scope = engine.authenticate_org(key.expose()).unwrap();
    let mut ids = Vec::new();
    for (name, sources) in [("a", 2), ("b", 3)] {
        let ws = scope
            .get_or_create_workspace(&name.parse().unwrap())
            .unwrap()
            .workspace
            .id;
        for n in 0..sources {
            scope
                .workspace(ws)
                .unwrap()
                .create_source(raw_source(&format!("{name}-{n}")))
                .unwrap();
        }
        ids.push(ws);
    }
    Fixture {
        schema,
        org: *org.id.as_uuid(),
        a: ids[0],
        b: ids[1],
    }
}

fn count(client: &mut impl GenericClient, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// Sets the tenant of the open transaction, as the store does.
fn enter(client: &mut impl GenericClient, org: Uuid, ws: WorkspaceId) {
    client
        .execute(
            "SELECT set_config('bulkhead.org_id', $1, true), set_config('bulkhead.workspace_id', $2, true)",
            &[&org.to_string(), &ws.to_string()],
        )
        .unwrap();
}

fn sql_state(err: &postgres::Error) -> String {
    err.code().map(|c| c.code().to_owned()).unwrap_or_default()
}

#[test]
fn with_no_workspace_set_the_restricted_role_sees_no_row_of_any_table() {
    let f = fixture();
    let mut admin = admin(&f.schema.name);
    let mut app = connect_as(APP, &f.schema.name);
    // The superuser sees what is there, so the zeros below are the policies' doing.
    assert_eq!(count(&mut admin, "SELECT count(*) FROM sources"), 5);
    for table in TENANT_TABLES.iter().chain(&REFERENCE_TABLES[2..]) {
        let seen = count(&mut app, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(seen, 0, "{table}: {seen} rows seen with no workspace set");
    }
    // Nor inside a transaction that set nothing, nor after one that set a tenant committed.
    let mut tx = app.transaction().unwrap();
    assert_eq!(count(&mut tx, "SELECT count(*) FROM sources"), 0);
    enter(&mut tx, f.org, f.a);
    assert_eq!(count(&mut tx, "SELECT count(*) FROM sources"), 2);
    tx.commit().unwrap();
    assert_eq!(count(&mut app, "SELECT count(*) FROM sources"), 0);
}

#[test]
fn with_workspace_a_set_raw_sql_sees_only_a() {
    let f = fixture();
    let mut app = connect_as(APP, &f.schema.name);
    let mut tx = app.transaction().unwrap();
    enter(&mut tx, f.org, f.a);
    // No WHERE at all: the policy alone restricts.
    let owners: Vec<Uuid> = tx
        .query("SELECT workspace_id FROM sources", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(owners, vec![*f.a.as_uuid(); 2]);
    // Asking for B's rows by name finds nothing.
    let b_rows: i64 = tx
        .query_one(
            "SELECT count(*) FROM sources WHERE workspace_id = $1",
            &[f.b.as_uuid()],
        )
        .unwrap()
        .get(0);
    assert_eq!(b_rows, 0);
    // The workspaces table shows only A's own row while a workspace is set.
    let workspaces: Vec<Uuid> = tx
        .query("SELECT id FROM workspaces", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(workspaces, vec![*f.a.as_uuid()]);
}

#[test]
fn inserts_and_updates_with_another_workspaces_id_are_refused_by_the_policy() {
    let f = fixture();
    let mut app = connect_as(APP, &f.schema.name);

    let mut tx = app.transaction().unwrap();
    enter(&mut tx, f.org, f.a);
    let err = tx
        .execute(
            "INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
             VALUES ($1, $2, $3, 'x', 'postgres', '{}', 0, 0)",
            &[f.b.as_uuid(), &Uuid::new_v4(), &f.org],
        )
        .unwrap_err();
    assert_eq!(sql_state(&err), "42501", "{err:?}");
    assert!(format!("{err:?}").contains("row-level security"), "{err:?}");
    drop(tx);

    // Moving one of A's rows to B is refused (WITH CHECK).
    let mut tx = app.transaction().unwrap();
    enter(&mut tx, f.org, f.a);
    let err = tx
        .execute("UPDATE sources SET workspace_id = $1", &[f.b.as_uuid()])
        .unwrap_err();
    assert_eq!(sql_state(&err), "42501", "{err:?}");
    drop(tx);

    // Updating or deleting B's rows by name changes nothing.
    let mut tx = app.transaction().unwrap();
    enter(&mut tx, f.org, f.a);
    let updated = tx
        .execute(
            "UPDATE sources SET name = 'taken' WHERE workspace_id = $1",
            &[f.b.as_uuid()],
        )
        .unwrap();
    let deleted = tx
        .execute(
            "DELETE FROM sources WHERE workspace_id = $1",
            &[f.b.as_uuid()],
        )
        .unwrap();
    assert_eq!((updated, deleted), (0, 0));
    tx.commit().unwrap();

    // With no workspace set, an insert is refused even for a real workspace.
    let err = app
        .execute(
            "INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
             VALUES ($1, $2, $3, 'x', 'postgres', '{}', 0, 0)",
            &[f.a.as_uuid(), &Uuid::new_v4(), &f.org],
        )
        .unwrap_err();
    assert_eq!(sql_state(&err), "42501", "{err:?}");

    let mut admin = admin(&f.schema.name);
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM sources WHERE name <> 'taken'"
        ),
        5
    );
}

#[test]
fn the_restricted_role_cannot_turn_the_policies_off() {
    let f = fixture();
    let mut app = connect_as(APP, &f.schema.name);
    for sql in [
        "ALTER TABLE sources DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE sources NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_select ON sources",
        "CREATE POLICY everything ON sources FOR SELECT USING (true)",
        "ALTER TABLE sources OWNER TO bulkhead_app",
    ] {
        let err = app.batch_execute(sql).unwrap_err();
        assert_eq!(sql_state(&err), "42501", "{sql}: {err:?}");
    }
    // Asking the server to skip the policies is an error for a role they apply to.
    let err = app
        .batch_execute("SET row_security = off; SELECT * FROM sources")
        .unwrap_err();
    assert_eq!(sql_state(&err), "42501", "{err:?}");
    app.batch_execute("RESET row_security").unwrap();
    // Nor can it make a view of its own in the schema.
    let err = app
        .batch_execute("CREATE VIEW everything AS SELECT * FROM sources")
        .unwrap_err();
    assert_eq!(sql_state(&err), "42501", "{err:?}");
}

#[test]
fn views_without_security_invoker_do_not_read_around_the_policies() {
    let f = fixture();
    // A view made by the owner, without security_invoker: it reads as the owner, whom the
    // forced policies hold too.
    let mut owner = connect_as(OWNER, &f.schema.name);
    owner
        .batch_execute(
            "CREATE VIEW all_sources AS SELECT * FROM sources;
             GRANT SELECT ON all_sources TO bulkhead_app;",
        )
        .unwrap();
    let mut app = connect_as(APP, &f.schema.name);
    assert_eq!(count(&mut app, "SELECT count(*) FROM all_sources"), 0);
    let mut tx = app.transaction().unwrap();
    enter(&mut tx, f.org, f.a);
    assert_eq!(count(&mut tx, "SELECT count(*) FROM all_sources"), 2);
    drop(tx);
    // A temporary view of the restricted role's own reads as itself.
    app.batch_execute("CREATE TEMP VIEW mine AS SELECT * FROM sources")
        .unwrap();
    assert_eq!(count(&mut app, "SELECT count(*) FROM mine"), 0);
    // And the owner itself sees nothing without a workspace.
    assert_eq!(count(&mut owner, "SELECT count(*) FROM sources"), 0);
    owner.batch_execute("DROP VIEW all_sources").unwrap();
}

/// The columns of a constraint or index, by name.
fn key_columns(client: &mut Client, schema: &str) -> Vec<(String, String, String, Vec<String>)> {
    // (table, name, kind, columns) of every primary key, unique constraint and unique index.
    client
        .query(
            "SELECT c.relname::text, i.relname::text,
                    CASE WHEN x.indisprimary THEN 'primary key' ELSE 'unique' END,
                    array_agg(a.attname::text ORDER BY k.ord)
               FROM pg_index x
               JOIN pg_class c ON c.oid = x.indrelid
               JOIN pg_class i ON i.oid = x.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE n.nspname = $1 AND x.indisunique
              GROUP BY 1, 2, 3",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[test]
fn every_key_of_a_tenant_table_includes_workspace_id_so_citus_can_distribute_it() {
    let f = fixture();
    let mut admin = admin(&f.schema.name);
    let schema = f.schema.name.as_str();

    // Every table is either a tenant table or a reference table: a new table must be sorted.
    let tables: BTreeSet<String> = admin
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let known: BTreeSet<String> = TENANT_TABLES
        .iter()
        .chain(&REFERENCE_TABLES)
        .map(|t| (*t).to_owned())
        .collect();
    assert_eq!(tables, known);

    let keys = key_columns(&mut admin, schema);
    let tenant_keys: Vec<_> = keys
        .iter()
        .filter(|(table, ..)| TENANT_TABLES.contains(&table.as_str()))
        .collect();
    for table in TENANT_TABLES {
        assert!(
            tenant_keys
                .iter()
                .any(|(t, _, kind, _)| t == table && kind == "primary key"),
            "{table} has no primary key"
        );
    }
    for (table, name, kind, columns) in &tenant_keys {
        assert!(
            columns.iter().any(|c| c == "workspace_id"),
            "{kind} {name} of {table} is {columns:?}, without workspace_id"
        );
    }

    // Every foreign key between tenant tables includes workspace_id on both sides.
    let foreign: Vec<(String, String, Vec<String>, Vec<String>)> = admin
        .query(
            "SELECT c.relname::text, r.relname::text,
                    (SELECT array_agg(attname::text) FROM pg_attribute
                      WHERE attrelid = k.conrelid AND attnum = ANY (k.conkey)),
                    (SELECT array_agg(attname::text) FROM pg_attribute
                      WHERE attrelid = k.confrelid AND attnum = ANY (k.confkey))
               FROM pg_constraint k
               JOIN pg_class c ON c.oid = k.conrelid
               JOIN pg_class r ON r.oid = k.confrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND k.contype = 'f'",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let mut between_tenants = 0;
    for (from, to, from_cols, to_cols) in &foreign {
        if TENANT_TABLES.contains(&from.as_str()) && TENANT_TABLES.contains(&to.as_str()) {
            between_tenants += 1;
            assert!(
                from_cols.iter().any(|c| c == "workspace_id")
                    && to_cols.iter().any(|c| c == "workspace_id"),
                "{from} {from_cols:?} -> {to} {to_cols:?} leaves out workspace_id"
            );
        }
        // A tenant table may reference a reference table; a reference table never references
        // a distributed one.
        if REFERENCE_TABLES.contains(&from.as_str()) {
            assert!(
                REFERENCE_TABLES.contains(&to.as_str()),
                "reference table {from} references tenant table {to}"
            );
        }
    }
    // connections -> sources, connections -> destinations, sync_runs -> connections,
    // sync_queue -> sync_runs, sched_connection -> connections.
    assert_eq!(between_tenants, 5, "{foreign:?}");
}

#[test]
fn row_level_security_is_enabled_forced_and_complete_on_every_table_with_rows_of_someone() {
    let f = fixture();
    let mut admin = admin(&f.schema.name);
    let schema = f.schema.name.as_str();
    let flags: Vec<(String, bool, bool)> = admin
        .query(
            "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let unguarded = ["bulkhead_migrations", "bulkhead_meta"];
    for (table, enabled, forced) in &flags {
        if unguarded.contains(&table.as_str()) {
            continue;
        }
        assert!(
            *enabled && *forced,
            "{table}: enabled {enabled}, forced {forced}"
        );
    }
    for table in TENANT_TABLES {
        let commands: BTreeSet<String> = admin
            .query(
                "SELECT cmd::text FROM pg_policies WHERE schemaname = $1 AND tablename = $2
                   AND qual LIKE '%bulkhead.workspace_id%' OR (schemaname = $1 AND tablename = $2
                   AND with_check LIKE '%bulkhead.workspace_id%')",
                &[&schema, &table],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let expected: BTreeSet<String> = ["SELECT", "INSERT", "UPDATE", "DELETE"]
            .map(str::to_owned)
            .into();
        assert_eq!(commands, expected, "{table}");
    }
    // The tables without RLS hold no tenant's or organization's rows.
    let meta: Vec<String> = admin
        .query("SELECT key FROM bulkhead_meta", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(meta, ["master_key_check"]);
}

#[test]
fn roles_that_policies_would_not_hold_are_refused() {
    let f = fixture();
    let options = PgOptions {
        schema: f.schema.name.clone(),
        ..PgOptions::default()
    };
    // The superuser.
    let err = PostgresStore::connect(server().admin_url(), &options).unwrap_err();
    assert!(err.to_string().contains("superuser"), "{err}");
    // The owner of the tables.
    let err = PostgresStore::connect(&server().url_for(OWNER), &options).unwrap_err();
    assert!(err.to_string().contains("owns"), "{err}");
    // The owner's URL given as the restricted one too.
    let err = PostgresStore::connect(
        &server().url_for(OWNER),
        &PgOptions {
            owner_url: Some(server().url_for(OWNER)),
            ..options.clone()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("same role"), "{err}");
    // The restricted role itself is accepted.
    PostgresStore::connect(&server().url_for(APP), &options).unwrap();
}

#[test]
fn a_schema_that_was_never_migrated_says_how_to_migrate_it() {
    // Not named like the pooled test schemas, which another test may clean up.
    let name = format!("never_migrated_{}", std::process::id());
    let mut admin = Client::connect(server().admin_url(), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {name} AUTHORIZATION {OWNER}; GRANT USAGE ON SCHEMA {name} TO {APP}"
        ))
        .unwrap();
    let options = PgOptions {
        schema: name.clone(),
        ..PgOptions::default()
    };
    let err = PostgresStore::connect(&server().url_for(APP), &options).unwrap_err();
    admin
        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
        .unwrap();
    assert!(err.to_string().contains("owner's URL"), "{err}");
}

#[test]
fn bad_settings_name_the_field_and_secrets_stay_out_of_debug() {
    let err = PostgresStore::connect(
        "postgresql://bulkhead_app@127.0.0.1:1/postgres",
        &PgOptions {
            schema: "Robert'); DROP TABLE students;--".to_owned(),
            ..PgOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("invalid schema"), "{err}");

    let err = PostgresStore::connect("postgresql://[not a url", &PgOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid PostgreSQL URL"),
        "{err}"
    );

    let options = PgOptions {
        owner_url: Some("postgresql://owner:hunter2@db/app".to_owned()),
        ..PgOptions::default()
    };
    let shown = format!("{options:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// The job queue's tables under the policies: a workspace sees and writes only its own queue
/// row and counters; the claim scope (`bulkhead.queue = 'claim'`) reads every queue row and
/// counter, and nothing else, and writes none of them.
#[test]
fn the_queue_is_a_tenant_table_and_the_claim_scope_only_reads_ids_and_counters() {
    use bulkhead_testkit::conformance::pipeline;
    let schema = Schema::new();
    let mut config = Config::default().with_master_key(MasterKey::generate().unwrap());
    config.postgres = schema.options();
    let engine = Engine::connect_postgres(&server().url_for(APP), config).unwrap();
    let (org, key) = engine.create_organization("Acme").unwrap();
    let scope = engine.authenticate_org(key.expose()).unwrap();
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let id = scope
            .get_or_create_workspace(&name.parse().unwrap())
            .unwrap()
            .workspace
            .id;
        let ws = scope.workspace(id).unwrap();
        let (_, _, connection) = pipeline(&ws, name);
        ws.queue_sync(connection.id).unwrap();
        ids.push(id);
    }
    let (org, a, b) = (*org.id.as_uuid(), ids[0], ids[1]);
    let mut app = connect_as(APP, &schema.name);

    let mut tx = app.transaction().unwrap();
    enter(&mut tx, org, a);
    assert_eq!(count(&mut tx, "SELECT count(*) FROM sync_queue"), 1);
    assert_eq!(count(&mut tx, "SELECT count(*) FROM sched_workspace"), 1);
    let moved = tx
        .execute(
            "UPDATE sync_queue SET attempt = 2 WHERE workspace_id = $1",
            &[b.as_uuid()],
        )
        .unwrap();
    assert_eq!(moved, 0, "b's queue row changed from a");
    let err = tx
        .execute(
            "UPDATE sync_queue SET workspace_id = $1 WHERE workspace_id = $2",
            &[b.as_uuid(), a.as_uuid()],
        )
        .unwrap_err();
    assert_eq!(sql_state(&err), "42501", "{err}");
    drop(tx);

    let mut tx = app.transaction().unwrap();
    tx.execute("SELECT set_config('bulkhead.queue', 'claim', true)", &[])
        .unwrap();
    assert_eq!(count(&mut tx, "SELECT count(*) FROM sync_queue"), 2);
    assert_eq!(count(&mut tx, "SELECT count(*) FROM sched_workspace"), 2);
    assert_eq!(count(&mut tx, "SELECT count(*) FROM sched_org"), 1);
    for table in ["sync_runs", "connections", "sources", "workspaces"] {
        let seen = count(&mut tx, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(seen, 0, "{table}: {seen} rows seen by a claim");
    }
    for write in [
        "UPDATE sync_queue SET attempt = 2",
        "DELETE FROM sync_queue",
        "UPDATE sched_workspace SET vtime = 7",
        "UPDATE sched_org SET queued = 0",
        "DELETE FROM sched_org",
    ] {
        assert_eq!(tx.execute(write, &[]).unwrap(), 0, "{write} from a claim");
    }
    drop(tx);
    drop(engine);
}
