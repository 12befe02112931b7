#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rusqlite::{ErrorCode, params};
use uuid::Uuid;

use super::*;
use crate::{SqliteOptions, SqliteStore};

const ORG: [u8; 16] = [0x01; 16];
const A: [u8; 16] = [0x0a; 16];
const B: [u8; 16] = [0x0b; 16];
const ROW: [u8; 16] = [0x42; 16];

/// One row in every tenant table, all with the id `?2` (`jti` `?4`), for workspace `?1`.
const INSERTS: [(&str, &str); 5] = [
    (
        "sources",
        "INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'stripe', '{}', 0, 0)",
    ),
    (
        "destinations",
        "INSERT INTO destinations (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 's3', '{}', 0, 0)",
    ),
    (
        "connections",
        "INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?2, ?2, 'active', 'manual', 0, 0)",
    ),
    (
        "sync_runs",
        "INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced, error)
         VALUES (?1, ?2, ?3, ?2, 'running', 0, 0, 0, ?4)",
    ),
    (
        "revoked_tokens",
        "INSERT INTO revoked_tokens (workspace_id, jti, org_id, expires_at) VALUES (?1, ?4, ?3, 0)",
    ),
];

/// A table a SELECT reads through its guard view, and the view.
struct Viewed {
    table: &'static str,
    view: &'static str,
}

fn viewed(scope: Scope) -> Vec<Viewed> {
    GUARDED
        .iter()
        .filter(|g| g.scope == scope)
        .filter_map(|g| {
            Some(Viewed {
                table: g.table,
                view: g.view?,
            })
        })
        .collect()
}

/// The tenant tables and their `t_` views.
fn tenant_tables() -> Vec<Viewed> {
    viewed(Scope::Workspace)
}

/// The organization-level tables and their `o_` views.
fn org_tables() -> Vec<Viewed> {
    viewed(Scope::Organization)
}

fn ws(id: [u8; 16]) -> WorkspaceId {
    WorkspaceId::from_uuid(Uuid::from_bytes(id)).unwrap()
}

// The probes below are fixed text or built per guarded table (`format!`), so these helpers
// take any text and go through the test-only `prepare_dynamic`.
fn run(db: &Db<'_>, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    db.prepare_dynamic(sql)?.execute(params)
}

fn names(db: &Db<'_>, sql: &str) -> rusqlite::Result<Vec<String>> {
    db.prepare_dynamic(sql)?
        .query_map([], |r| r.get(0))?
        .collect()
}

#[track_caller]
fn assert_denied<T: std::fmt::Debug>(result: rusqlite::Result<T>, what: &str) {
    match result {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == ErrorCode::AuthorizationForStatementDenied => {}
        other => panic!("`{what}` should be denied by the authorizer, got {other:?}"),
    }
}

#[track_caller]
fn assert_isolation_abort<T: std::fmt::Debug>(result: rusqlite::Result<T>, what: &str) {
    match result {
        Err(rusqlite::Error::SqliteFailure(e, Some(message)))
            if e.code == ErrorCode::ConstraintViolation
                && message.starts_with("bulkhead isolation: ") => {}
        other => panic!("`{what}` should be aborted by a guard trigger, got {other:?}"),
    }
}

/// An in-memory store with one organization, workspaces A and B, and in each a row of
/// every tenant table named after its workspace (`a`, `b`).
fn two_workspaces() -> SqliteStore {
    let store = SqliteStore::open_in_memory(&SqliteOptions::default()).unwrap();
    store.pool.with_writer(|slot| {
        let (db, _) = slot.guarded();
        let _org = db.org(org_id(ORG));
        run(
            &db,
            "INSERT INTO organizations (id, name, created_at) VALUES (?1, 'Acme', 0)",
            params![ORG],
        )
        .unwrap();
        for (id, name) in [(A, "a"), (B, "b")] {
            run(
                &db,
                "INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?3, 'active', 0, 0)",
                params![id, ORG, name],
            )
            .unwrap();
            let _scope = db.tenant(ws(id));
            for (_, sql) in INSERTS {
                run(&db, sql, params![id, ROW, ORG, name]).unwrap();
            }
        }
    });
    store
}

/// Runs `f` on the store's connection, inside `tenant` if there is one.
fn as_tenant<T>(store: &SqliteStore, tenant: Option<[u8; 16]>, f: impl FnOnce(&Db<'_>) -> T) -> T {
    store.pool.with_writer(|slot| {
        let (db, _) = slot.guarded();
        let _scope = tenant.map(|id| db.tenant(ws(id)));
        f(&db)
    })
}

#[test]
fn direct_reads_of_tenant_tables_are_denied() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for guarded in &tenant_tables() {
            let sql = format!("SELECT * FROM {}", guarded.table);
            assert_denied(db.prepare_dynamic(&sql).map(drop), &sql);
            let sql = format!("SELECT count(*) FROM main.{}", guarded.table);
            assert_denied(db.prepare_dynamic(&sql).map(drop), &sql);
        }
        let sql = "SELECT name FROM workspaces WHERE EXISTS (SELECT 1 FROM sources)";
        assert_denied(db.prepare_cached(sql).map(drop), sql);
    });
}

const OTHER_ORG: [u8; 16] = [0x02; 16];

fn org_id(id: [u8; 16]) -> OrgId {
    OrgId::from_uuid(Uuid::from_bytes(id)).unwrap()
}

/// Two organizations, each with a row in every organization-level table, named after it
/// (`acme`, `other`).
fn two_organizations() -> SqliteStore {
    let store = SqliteStore::open_in_memory(&SqliteOptions::default()).unwrap();
    store.pool.with_writer(|slot| {
        let (db, _) = slot.guarded();
        for (org, name, ws_id, seq_hash) in
            [(ORG, "acme", A, [0x11u8; 32]), (OTHER_ORG, "other", B, [0x22u8; 32])]
        {
            let _org = db.org(org_id(org));
            for sql in [
                "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, 0)",
                "INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
                 VALUES (?3, ?1, ?2, ?2, 'active', 0, 0)",
                "INSERT INTO org_keys (id, org_id, prefix, hash, created_at)
                 VALUES (?3, ?1, ?2, ?4, 0)",
                "INSERT INTO signing_keys (kid, org_id, algorithm, sealed_secret, created_at)
                 VALUES (?2, ?1, 'HS256', x'00', 0)",
                "INSERT INTO tags (org_id, name, created_at) VALUES (?1, ?2, 0)",
                "INSERT INTO source_templates (id, org_id, name, tags, body, secrets, created_at, updated_at)
                 VALUES (?3, ?1, ?2, '[]', '{}', '{}', 0, 0)",
                "INSERT INTO connection_templates (id, org_id, name, tags, body, secrets, created_at, updated_at)
                 VALUES (?3, ?1, ?2, '[]', '{}', '{}', 0, 0)",
                "INSERT INTO audit_log (org_id, seq, at, actor, action, target, outcome, prev_hash, hash)
                 VALUES (?1, 1, 0, 'operator', ?2, ?2, 'ok', ?4, ?4)",
            ] {
                let hash = seq_hash.to_vec();
                let all: [&dyn rusqlite::ToSql; 4] = [&org, &name, &ws_id, &hash];
                let mut stmt = db.prepare_cached(sql).unwrap();
                let used = stmt.parameter_count();
                stmt.execute(&all[..used]).unwrap();
            }
        }
    });
    store
}

/// A column of each organization-level table that holds the organization's name in
/// [`two_organizations`].
fn name_column(table: &str) -> &'static str {
    match table {
        "workspaces" => "external_id",
        "org_keys" => "prefix",
        "signing_keys" => "kid",
        "audit_log" => "action",
        _ => "name",
    }
}

/// Runs `f` on the store's connection inside organization `org`, if there is one.
fn as_org<T>(store: &SqliteStore, org: Option<[u8; 16]>, f: impl FnOnce(&Db<'_>) -> T) -> T {
    store.pool.with_writer(|slot| {
        let (db, _) = slot.guarded();
        let _scope = org.map(|id| db.org(org_id(id)));
        f(&db)
    })
}

#[test]
fn organization_views_show_only_the_current_organization() {
    let store = two_organizations();
    for guarded in &org_tables() {
        let sql = format!(
            "SELECT {} FROM {}",
            name_column(guarded.table),
            guarded.view
        );
        let rows = |org| as_org(&store, org, |db| names(db, &sql).unwrap());
        assert_eq!(rows(Some(ORG)), ["acme"], "{}", guarded.view);
        assert_eq!(rows(Some(OTHER_ORG)), ["other"], "{}", guarded.view);
        assert!(rows(None).is_empty(), "{}", guarded.view);
    }
}

/// Inside an organization, its tables are read only through their views: a direct read
/// (in a join, a subquery or `count(*)`) fails to compile. System mode, which only the
/// store's credential lookups and re-sealing use, may read them directly.
#[test]
fn direct_reads_of_organization_tables_are_denied_outside_system_mode() {
    let store = two_organizations();
    as_org(&store, Some(ORG), |db| {
        for guarded in &org_tables() {
            let column = name_column(guarded.table);
            for sql in [
                format!("SELECT {column} FROM {}", guarded.table),
                format!("SELECT {column} FROM main.{}", guarded.table),
                format!("SELECT count(*) FROM {}", guarded.table),
                format!(
                    "SELECT v.{column} FROM {} AS v JOIN main.{} AS t ON 1",
                    guarded.view, guarded.table
                ),
                format!(
                    "SELECT {column} FROM {} WHERE EXISTS (SELECT 1 FROM main.{})",
                    guarded.view, guarded.table
                ),
            ] {
                assert_denied(names(db, &sql), &sql);
            }
        }
        for table in SYSTEM_TABLES {
            let sql = format!("SELECT count(*) FROM {table}");
            assert_denied(db.prepare_dynamic(&sql).map(drop), &sql);
        }
        let _system = db.system();
        for guarded in &org_tables() {
            let sql = format!(
                "SELECT {} FROM {} ORDER BY 1",
                name_column(guarded.table),
                guarded.table
            );
            assert_eq!(names(db, &sql).unwrap(), ["acme", "other"], "{sql}");
        }
    });
    // System mode ends with its scope.
    as_org(&store, Some(ORG), |db| {
        assert_denied(
            names(db, "SELECT name FROM organizations"),
            "after system mode",
        );
    });
}

/// Outside system mode a write to an organization table stays in the current
/// organization: inserting, changing, moving or deleting another organization's row, or
/// any row with no organization set, aborts; the organization's own writes pass, and so
/// does system mode.
#[test]
fn writes_to_organization_tables_outside_the_current_organization_abort() {
    let store = two_organizations();
    let foreign_writes = [
        "INSERT INTO tags (org_id, name, created_at) VALUES (?1, 'planted', 0)",
        "UPDATE tags SET name = 'renamed' WHERE org_id = ?1",
        "DELETE FROM tags WHERE org_id = ?1",
        "UPDATE workspaces SET name = 'renamed' WHERE org_id = ?1",
        "UPDATE organizations SET name = 'renamed' WHERE id = ?1",
        "UPDATE org_keys SET revoked_at = 1 WHERE org_id = ?1",
        "UPDATE signing_keys SET retire_at = 1 WHERE org_id = ?1",
        "UPDATE source_templates SET name = 'renamed' WHERE org_id = ?1",
        "UPDATE connection_templates SET name = 'renamed' WHERE org_id = ?1",
        "INSERT INTO audit_log (org_id, seq, at, actor, action, target, outcome, prev_hash, hash)
         VALUES (?1, 2, 0, 'operator', 'planted', 'x', 'ok', x'00', x'00')",
    ];
    as_org(&store, Some(ORG), |db| {
        for sql in foreign_writes {
            assert_isolation_abort(run(db, sql, params![OTHER_ORG]), sql);
        }
        // Moving its own row to the other organization.
        assert_isolation_abort(
            run(
                db,
                "UPDATE tags SET org_id = ?1 WHERE org_id = ?2",
                params![OTHER_ORG, ORG],
            ),
            "move",
        );
        // Its own writes pass.
        run(
            db,
            "INSERT INTO tags (org_id, name, created_at) VALUES (?1, 'own', 0)",
            params![ORG],
        )
        .unwrap();
        assert_eq!(
            run(
                db,
                "UPDATE workspaces SET name = 'renamed' WHERE org_id = ?1",
                params![ORG]
            )
            .unwrap(),
            1
        );
    });
    as_org(&store, None, |db| {
        assert_isolation_abort(
            run(
                db,
                "INSERT INTO tags (org_id, name, created_at) VALUES (?1, 'none', 0)",
                params![ORG],
            ),
            "no organization",
        );
    });
    as_org(&store, Some(ORG), |db| {
        let _system = db.system();
        assert_eq!(
            run(
                db,
                "UPDATE org_keys SET last_used_at = 5 WHERE org_id = ?1",
                params![OTHER_ORG]
            )
            .unwrap(),
            1
        );
    });
    // Nothing of the refused writes was kept.
    as_org(&store, Some(OTHER_ORG), |db| {
        assert_eq!(names(db, "SELECT name FROM o_tags").unwrap(), ["other"]);
        assert_eq!(
            names(db, "SELECT name FROM o_workspaces").unwrap(),
            ["other"]
        );
    });
}

#[test]
fn views_show_only_the_current_workspace() {
    let store = two_workspaces();
    for guarded in &tenant_tables() {
        let sql = format!("SELECT org_id, workspace_id FROM {}", guarded.view);
        let rows = |tenant| {
            as_tenant(&store, tenant, |db| {
                db.prepare_dynamic(&sql)
                    .unwrap()
                    .query_map([], |r| r.get::<_, [u8; 16]>(1))
                    .unwrap()
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .unwrap()
            })
        };
        assert_eq!(rows(Some(A)), vec![A], "{}", guarded.view);
        assert_eq!(rows(Some(B)), vec![B], "{}", guarded.view);
        assert!(rows(None).is_empty(), "{}", guarded.view);
    }
}

/// A call that fails inside workspace A.
fn failing_call_in_a(db: &Db<'_>) -> Result<()> {
    let _scope = db.tenant(ws(A));
    assert_eq!(names(db, "SELECT name FROM t_sources").unwrap(), ["a"]);
    Err(bulkhead_core::Error::conflict("the call failed"))
}

#[test]
fn leaving_a_workspace_clears_it_even_on_error() {
    let store = two_workspaces();
    as_tenant(&store, None, |db| {
        assert!(failing_call_in_a(db).is_err());
        assert!(names(db, "SELECT name FROM t_sources").unwrap().is_empty());
    });
}

#[test]
fn cached_statements_are_not_prepared_again_when_the_tenant_changes() {
    let store = two_workspaces();
    store.pool.with_writer(|slot| {
        let (db, guard) = slot.guarded();
        let sql = "SELECT name FROM t_sources ORDER BY name";
        // Warm the cache: the first preparation runs the authorizer.
        assert!(names(&db, sql).unwrap().is_empty());
        let warmed = guard.authorizer_calls();
        assert!(warmed > 0);

        let in_a = {
            let _scope = db.tenant(ws(A));
            names(&db, sql).unwrap()
        };
        let in_b = {
            let _scope = db.tenant(ws(B));
            names(&db, sql).unwrap()
        };

        assert_eq!((in_a, in_b), (vec!["a".to_owned()], vec!["b".to_owned()]));
        assert_eq!(
            guard.authorizer_calls(),
            warmed,
            "the statement was prepared again"
        );
    });
}

#[test]
fn schema_changes_are_denied() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for sql in [
            "DROP VIEW temp.t_sources",
            "DROP VIEW t_connections",
            "CREATE TEMP VIEW x AS SELECT * FROM sources",
            "CREATE VIEW x AS SELECT * FROM sources",
            "DROP TRIGGER temp.bulkhead_guard_sources_insert",
            "DROP TRIGGER bulkhead_guard_sync_runs_delete",
            "CREATE TEMP TRIGGER x BEFORE INSERT ON main.sources BEGIN SELECT 1; END",
            "CREATE TABLE x (a)",
            "CREATE TEMP TABLE x (a)",
            "CREATE INDEX x ON sources (name)",
            "ALTER TABLE sources ADD COLUMN x",
            "DROP TABLE revoked_tokens",
            "CREATE VIRTUAL TABLE x USING fts5 (a)",
            "REINDEX sources",
            "ANALYZE",
        ] {
            assert_denied(db.prepare_cached(sql).map(drop), sql);
        }
    });
}

#[test]
fn attach_and_detach_are_denied() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for sql in [
            "ATTACH DATABASE ':memory:' AS x",
            "ATTACH DATABASE 'file:other.db?mode=ro' AS x",
            "DETACH DATABASE temp",
        ] {
            assert_denied(db.prepare_cached(sql).map(drop), sql);
        }
    });
}

#[test]
fn vacuum_into_another_file_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        let sql = "VACUUM INTO ?1";
        assert_denied(run(db, sql, params![copy.to_str().unwrap()]), sql);
    });
    assert!(!copy.exists());
}

#[test]
fn pragmas_are_denied() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for sql in [
            "PRAGMA foreign_keys = OFF",
            "PRAGMA query_only = 0",
            "PRAGMA writable_schema = ON",
            "PRAGMA trusted_schema = ON",
            "PRAGMA foreign_keys",
        ] {
            assert_denied(db.prepare_cached(sql).map(drop), sql);
        }
        // A table-valued pragma compiles its PRAGMA when it runs.
        let sql = "SELECT name FROM pragma_table_info('sources')";
        assert_denied(names(db, sql), sql);
    });
}

#[test]
fn sqlite_internal_tables_are_denied() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for sql in [
            "SELECT sql FROM sqlite_master",
            "SELECT sql FROM sqlite_temp_master",
            "SELECT name FROM temp.sqlite_schema",
            "SELECT name, payload FROM dbstat",
        ] {
            assert_denied(db.prepare_cached(sql).map(drop), sql);
        }
    });
}

#[test]
fn load_extension_is_denied() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        let err = db.prepare_cached("SELECT load_extension('x')").map(drop);
        let message = format!("{:?}", err.unwrap_err());
        assert!(
            message.contains("not authorized to use function: load_extension"),
            "{message}"
        );
    });
}

#[test]
fn insert_into_another_workspace_aborts() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for (table, sql) in INSERTS {
            assert_isolation_abort(run(db, sql, params![B, [0x43u8; 16], ORG, "x"]), table);
        }
    });
}

#[test]
fn moving_a_row_to_another_workspace_aborts() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for guarded in &tenant_tables() {
            let sql = format!(
                "UPDATE {} SET workspace_id = ?2 WHERE workspace_id = ?1",
                guarded.table
            );
            assert_isolation_abort(run(db, &sql, params![A, B]), &sql);
        }
        assert_eq!(names(db, "SELECT name FROM t_sources").unwrap(), ["a"]);
    });
}

#[test]
fn update_of_a_foreign_row_aborts() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        let sql = "UPDATE sources SET name = 'taken' WHERE workspace_id = ?1";
        assert_isolation_abort(run(db, sql, params![B]), sql);
        // Without a workspace predicate the update meets B's row too.
        let sql = "UPDATE sources SET name = 'taken'";
        assert_isolation_abort(run(db, sql, []), sql);
    });
    as_tenant(&store, Some(B), |db| {
        assert_eq!(names(db, "SELECT name FROM t_sources").unwrap(), ["b"]);
    });
}

#[test]
fn delete_of_a_foreign_row_aborts() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for guarded in tenant_tables().iter().rev() {
            let sql = format!("DELETE FROM {} WHERE workspace_id = ?1", guarded.table);
            assert_isolation_abort(run(db, &sql, params![B]), &sql);
        }
    });
    as_tenant(&store, Some(B), |db| {
        for guarded in &tenant_tables() {
            let sql = format!("SELECT count(*) FROM {}", guarded.view);
            let count: i64 = db
                .prepare_dynamic(&sql)
                .unwrap()
                .query_row([], |r| r.get(0))
                .unwrap();
            assert_eq!(count, 1, "{sql}");
        }
    });
}

#[test]
fn every_tenant_write_without_a_workspace_aborts() {
    let store = two_workspaces();
    as_tenant(&store, None, |db| {
        for (table, sql) in INSERTS {
            assert_isolation_abort(run(db, sql, params![A, [0x43u8; 16], ORG, "x"]), table);
        }
        for guarded in &tenant_tables() {
            let sql = format!(
                "UPDATE {} SET org_id = org_id WHERE workspace_id = ?1",
                guarded.table
            );
            assert_isolation_abort(run(db, &sql, params![A]), &sql);
        }
        for guarded in tenant_tables().iter().rev() {
            let sql = format!("DELETE FROM {} WHERE workspace_id = ?1", guarded.table);
            assert_isolation_abort(run(db, &sql, params![A]), &sql);
        }
    });
}

#[test]
fn writes_inside_the_workspace_pass() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        let sql =
            "UPDATE sources SET name = COALESCE(?2, name) WHERE workspace_id = ?1 RETURNING name";
        let renamed: String = db
            .prepare_cached(sql)
            .unwrap()
            .query_row(params![A, "renamed"], |r| r.get(0))
            .unwrap();
        assert_eq!(renamed, "renamed");
        for guarded in tenant_tables().iter().rev() {
            let sql = format!("DELETE FROM {} WHERE workspace_id = ?1", guarded.table);
            assert_eq!(run(db, &sql, params![A]).unwrap(), 1, "{sql}");
        }
    });
}

#[test]
fn subqueries_in_a_write_are_denied() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for sql in [
            "UPDATE sources SET name = (SELECT config FROM sources WHERE workspace_id = ?2) WHERE workspace_id = ?1",
            "UPDATE sources SET name = (SELECT name FROM t_sources) WHERE workspace_id = ?1 AND ?2",
            "UPDATE sources SET name = name WHERE workspace_id = ?1 AND ?2 RETURNING (SELECT config FROM sources LIMIT 1)",
            "UPDATE sources SET name = s.name FROM sources AS s WHERE s.workspace_id = ?2 AND sources.workspace_id = ?1",
            "DELETE FROM sources WHERE workspace_id = ?1 AND EXISTS (SELECT 1 FROM sources WHERE workspace_id = ?2)",
            "INSERT INTO revoked_tokens (workspace_id, jti, org_id, expires_at) SELECT ?1, name, org_id, 0 FROM sources WHERE workspace_id = ?2",
            "INSERT INTO revoked_tokens (workspace_id, jti, org_id, expires_at) VALUES (?1, (SELECT name FROM sources WHERE workspace_id = ?2), x'01', 0)",
        ] {
            assert_denied(run(db, sql, params![A, B]), sql);
        }
    });
}

#[test]
fn a_select_compiled_after_a_write_without_the_statement_mark_is_denied() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        // `execute_batch` compiles its statements one after the other, and only the
        // adapter's `prepare_cached` marks a statement's start.
        db.prepare_cached("SELECT 1").unwrap();
        let batch = "DELETE FROM revoked_tokens WHERE 0; SELECT name FROM t_sources;";
        assert_denied(db.conn.execute_batch(batch), batch);
    });
}

#[test]
fn readers_of_a_database_file_are_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqliteStore::open(dir.path().join("guarded.db"), &SqliteOptions::default()).unwrap();
    for sql in [
        "SELECT * FROM sources",
        "PRAGMA query_only = 0",
        "DROP VIEW t_sources",
    ] {
        let result = store.pool.read(|db| Ok(db.prepare_cached(sql).map(drop)));
        assert_denied(result.unwrap(), sql);
    }
    let read = store
        .pool
        .read(|db| Ok(names(db, "SELECT name FROM t_sources")));
    assert!(read.unwrap().unwrap().is_empty());
}

/// DIRECTONLY: a view stored in the database file (written by anyone with access to it)
/// cannot call `bulkhead_workspace()`; only the connection's own TEMP objects can.
#[test]
fn a_view_in_the_database_file_cannot_call_bulkhead_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guarded.db");
    let store = SqliteStore::open(&path, &SqliteOptions::default()).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE VIEW planted AS SELECT bulkhead_workspace() AS ws")
        .unwrap();

    let result = store
        .pool
        .read(|db| Ok(names(db, "SELECT ws FROM planted")));

    match result.unwrap() {
        Err(rusqlite::Error::SqliteFailure(_, Some(message))) => {
            assert!(
                message.contains("unsafe use of bulkhead_workspace()"),
                "{message}"
            );
        }
        other => panic!("expected the call to be refused, got {other:?}"),
    }
}

/// SQLite names a common table expression the same way as a view, so one named like a
/// guard view would pass for it and read every workspace's rows: a statement with `WITH`
/// is refused before SQLite compiles it, in any case and however it is spaced, while the
/// word inside a string, a quoted name or a comment, or as part of a longer word, is not
/// the keyword.
#[test]
fn common_table_expressions_are_refused_so_none_can_pass_for_a_guard_view() {
    let store = two_workspaces();
    as_tenant(&store, Some(A), |db| {
        for sql in [
            "WITH t_sources AS (SELECT * FROM main.sources) SELECT name FROM t_sources ORDER BY name",
            "with o_workspaces as (select * from main.workspaces) select name from o_workspaces",
            "SELECT name FROM t_sources WHERE id IN (WiTh x AS (SELECT 1) SELECT * FROM x)",
            "/* c */ WITH\nt_sources AS (SELECT * FROM main.sources) SELECT name FROM t_sources",
        ] {
            // Twice: a refused statement is not left in the cache to be taken from there.
            assert_denied(names(db, sql), sql);
            assert_denied(names(db, sql), sql);
        }
        for sql in [
            "SELECT name FROM t_sources WHERE name <> 'with'",
            "SELECT name AS \"with\" FROM t_sources -- with\n",
            "SELECT name AS without_cte /* with */ FROM t_sources",
        ] {
            assert_eq!(names(db, sql).unwrap(), ["a"], "{sql}");
        }
    });
}

fn context<'a>(action: AuthAction<'a>, accessor: Option<&'a str>) -> AuthContext<'a> {
    AuthContext {
        action,
        database_name: Some("main"),
        accessor,
    }
}

#[test]
fn reads_that_begin_a_statement_may_only_be_followed_by_an_update() {
    let start = Arc::new(AtomicBool::new(true));
    let mut authorizer = Authorizer {
        phase: Phase::Fresh,
        statement_start: Arc::clone(&start),
        system: Arc::default(),
        calls: Arc::default(),
    };
    let read = AuthAction::Read {
        table_name: "sources",
        column_name: "name",
    };
    for (next, allowed) in [
        (AuthAction::Select, false),
        (
            AuthAction::Insert {
                table_name: "sources",
            },
            false,
        ),
        (
            AuthAction::Delete {
                table_name: "sources",
            },
            false,
        ),
        (
            AuthAction::Update {
                table_name: "sources",
                column_name: "name",
            },
            true,
        ),
    ] {
        start.store(true, Ordering::Relaxed);
        assert_eq!(authorizer.judge(&context(read, None)), Authorization::Allow);
        let expected = if allowed {
            Authorization::Allow
        } else {
            Authorization::Deny
        };
        assert_eq!(authorizer.judge(&context(next, None)), expected, "{next:?}");
    }
}

/// The guard's setup DDL as [`install`] runs it, in order.
fn setup_ddl() -> String {
    let mut ddl: String = GUARDED.iter().map(Guarded::setup).collect();
    ddl.push_str(FIXED);
    ddl
}

/// `sql` one statement a line: `--` comments dropped, whitespace outside string literals
/// collapsed to one space. Statements are split where `CREATE TEMP` begins, which is every
/// statement of the guard's setup.
fn one_statement_a_line(sql: &str) -> Vec<String> {
    let mut text = String::new();
    let mut chars = sql.chars().peekable();
    let (mut quoted, mut space) = (false, false);
    while let Some(c) = chars.next() {
        if quoted {
            text.push(c);
            quoted = c != '\'';
            continue;
        }
        match c {
            '-' if chars.peek() == Some(&'-') => {
                while chars.next().is_some_and(|c| c != '\n') {}
                space = true;
            }
            c if c.is_whitespace() => space = true,
            c => {
                if space && !text.is_empty() {
                    text.push(' ');
                }
                space = false;
                text.push(c);
                quoted = c == '\'';
            }
        }
    }
    text.split("CREATE TEMP ")
        .filter(|statement| !statement.is_empty())
        .map(|statement| format!("CREATE TEMP {}", statement.trim_end()))
        .collect()
}

/// Every view and trigger the guard creates, statement by statement, is the pinned text of
/// `tests/fixtures/guard_ddl.sql` (up to whitespace and comments): a change to how the DDL
/// is written (macros, template, table list) that changes a statement fails here.
#[test]
fn setup_ddl_is_the_pinned_text() {
    let pinned: Vec<&str> = include_str!("../../tests/fixtures/guard_ddl.sql")
        .lines()
        .filter(|line| !line.starts_with("--"))
        .collect();
    assert_eq!(one_statement_a_line(&setup_ddl()), pinned);
}

#[test]
fn every_placeholder_is_filled() {
    let ddl = setup_ddl();
    assert!(!ddl.contains(['{', '}']), "{ddl}");
}

/// The lists the tests below walk hold every tenant and organization table.
#[test]
fn the_tests_walk_every_viewed_table() {
    let tenant: Vec<_> = tenant_tables().iter().map(|t| t.table).collect();
    let expected: Vec<_> = INSERTS.iter().map(|(table, _)| *table).collect();
    assert_eq!(tenant, expected);
    assert_eq!(org_tables().len(), 8);
    assert_eq!(
        tenant_tables().len() + org_tables().len(),
        GUARDED.iter().filter(|g| g.view.is_some()).count()
    );
}
