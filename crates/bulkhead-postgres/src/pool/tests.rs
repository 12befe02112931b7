//! The pipelined call on a real server: one connection (a pool of one), so every call below
//! runs on the connection the call before it used, and what a call leaves behind is what the
//! next one would see.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use super::*;
use crate::test_server::{APP, OWNER};
use crate::{PgOptions, PostgresStore};

/// A store on a schema of its own, with a pool of one connection.
fn store() -> (PostgresStore, Client) {
    let server = crate::test_server::server();
    let schema = format!("bhp_{}_{}", std::process::id(), Uuid::new_v4().simple());
    let mut admin = Client::connect(server.admin_url(), NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"))
        .unwrap();
    let options = PgOptions {
        schema,
        owner_url: Some(server.url_for(OWNER)),
        pool_size: 1,
        pool_wait: Duration::from_secs(5),
        ..PgOptions::default()
    };
    let store = PostgresStore::connect(&server.url_for(APP), &options).unwrap();
    (store, admin)
}

fn tenant() -> (OrgId, WorkspaceId) {
    (
        OrgId::from_uuid(Uuid::new_v4()).unwrap(),
        WorkspaceId::from_uuid(Uuid::new_v4()).unwrap(),
    )
}

/// What a statement sees: the organization and workspace settings, the backend, and its
/// transaction's start (microseconds).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    org: String,
    workspace: String,
    pid: i32,
    transaction: i64,
}

const SEEN: &str = "SELECT coalesce(current_setting('bulkhead.org_id', true), ''), \
     coalesce(current_setting('bulkhead.workspace_id', true), ''), pg_backend_pid(), \
     (extract(epoch FROM transaction_timestamp()) * 1000000)::bigint";

fn seen(tx: &mut Tx<'_>) -> Result<Seen> {
    tx.query_one(SEEN, &[], |r| {
        Ok(Seen {
            org: r.get(0),
            workspace: r.get(1),
            pid: r.get(2),
            transaction: r.get(3),
        })
    })
}

fn unit(_: &Row) -> Result<()> {
    Ok(())
}

#[test]
fn a_call_that_fails_leaves_no_setting_to_the_next_call_on_its_connection() {
    let (store, _admin) = store();
    let pool = &store.pool;
    let first = pool.read(Scope::None, seen).unwrap();
    // Fails on its first statement (pipelined with BEGIN and the settings), on a later one,
    // on a statement the server cannot even prepare, and on a write.
    for case in 0..4 {
        let (org, ws) = tenant();
        let call = |f| {
            if case == 3 {
                pool.write(Scope::Workspace(org, ws), f)
            } else {
                pool.read(Scope::Workspace(org, ws), f)
            }
        };
        let failed = call(|tx: &mut Tx<'_>| {
            if case > 0 {
                let seen = seen(tx)?;
                assert_eq!(
                    (seen.org, seen.workspace),
                    (org.to_string(), ws.to_string())
                );
            }
            match case {
                0 | 1 => tx.query_one("SELECT 1 / 0", &[], unit),
                2 => tx.query_one("SELECT * FROM no_such_table", &[], unit),
                _ => tx
                    .execute(
                        "INSERT INTO bulkhead_meta (key, value) VALUES (NULL, NULL)",
                        &[],
                    )
                    .map(drop),
            }
        });
        assert!(failed.is_err(), "case {case}");
        let (other_org, _) = tenant();
        let next = pool.read(Scope::Org(other_org), seen).unwrap();
        assert_eq!(next.org, other_org.to_string(), "case {case}");
        assert_eq!(next.workspace, "", "case {case}");
        assert_eq!(
            next.pid, first.pid,
            "case {case}: the same pooled connection"
        );
        let none = pool.read(Scope::None, seen).unwrap();
        assert_eq!((none.org.as_str(), none.workspace.as_str()), ("", ""));
    }
}

#[test]
fn a_call_that_panics_loses_its_connection_and_nothing_of_it_reaches_the_next_call() {
    let (store, _admin) = store();
    let pool = &store.pool;
    let (org, ws) = tenant();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        pool.read::<()>(Scope::Workspace(org, ws), |tx| {
            seen(tx)?;
            panic!("mid-call");
        })
    }));
    assert!(panicked.is_err());
    // The pool of one made a new connection, which has nothing set.
    let next = pool.read(Scope::None, seen).unwrap();
    assert_eq!((next.org.as_str(), next.workspace.as_str()), ("", ""));
}

#[test]
fn every_statement_of_a_call_runs_in_one_transaction_after_its_settings() {
    let (store, _admin) = store();
    let (org, ws) = tenant();
    let (a, b) = store
        .pool
        .read(Scope::Workspace(org, ws), |tx| {
            let a = seen(tx)?;
            tx.set_scope(Scope::Org(org))?;
            let b = seen(tx)?;
            Ok((a, b))
        })
        .unwrap();
    assert_eq!(
        (a.org.clone(), a.workspace),
        (org.to_string(), ws.to_string())
    );
    assert_eq!((b.org, b.workspace), (org.to_string(), String::new()));
    assert_eq!(a.transaction, b.transaction);
    let next = store.pool.read(Scope::None, seen).unwrap();
    assert_ne!(next.transaction, a.transaction);
}

/// A read-only call returns before its `COMMIT` is answered, but the `COMMIT` is on its way:
/// the connection does not sit in a transaction until its next call.
#[test]
fn a_read_only_call_does_not_leave_its_connection_in_a_transaction() {
    let (store, mut admin) = store();
    let (org, ws) = tenant();
    let call = store.pool.read(Scope::Workspace(org, ws), seen).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state: Option<String> = admin
            .query_one(
                "SELECT state FROM pg_stat_activity WHERE pid = $1",
                &[&call.pid],
            )
            .unwrap()
            .get(0);
        if state.as_deref() == Some("idle") {
            break;
        }
        assert!(Instant::now() < deadline, "still {state:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (other_org, other_ws) = tenant();
    let next = store
        .pool
        .read(Scope::Workspace(other_org, other_ws), seen)
        .unwrap();
    assert_eq!(
        (next.org, next.workspace, next.pid),
        (other_org.to_string(), other_ws.to_string(), call.pid)
    );
}

#[test]
fn a_call_that_runs_nothing_sends_nothing() {
    let (store, _admin) = store();
    let (org, ws) = tenant();
    store
        .pool
        .read(Scope::Workspace(org, ws), |_| Ok(()))
        .unwrap();
    let next = store.pool.read(Scope::None, seen).unwrap();
    assert_eq!((next.org.as_str(), next.workspace.as_str()), ("", ""));
}

/// The error and its sources, one line.
fn chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A call stated as a read runs in a read-only transaction: PostgreSQL refuses every way a
/// statement can write, not just the ones that look like writes, and nothing is written.
/// Each statement does write in a call stated as a write, so the refusal is the read's.
#[test]
fn a_read_that_would_write_is_refused_by_postgresql_and_writes_nothing() {
    let (store, mut admin) = store();
    let schema = store.schema.clone();
    admin
        .batch_execute(&format!(
            "CREATE SEQUENCE {schema}.bump;
             GRANT USAGE ON SEQUENCE {schema}.bump TO {APP};
             CREATE FUNCTION {schema}.innocent(k text) RETURNS int LANGUAGE sql AS
                 $$ INSERT INTO {schema}.bulkhead_meta (key, value) VALUES (k, 'x'); SELECT 1 $$;
             GRANT EXECUTE ON FUNCTION {schema}.innocent(text) TO {APP};"
        ))
        .unwrap();
    let count = |admin: &mut Client, key: &str| -> i64 {
        admin
            .query_one(
                &format!("SELECT count(*) FROM {schema}.bulkhead_meta WHERE key = $1"),
                &[&key],
            )
            .unwrap()
            .get(0)
    };
    const STATEMENTS: [(&str, &str); 5] = [
        (
            "insert",
            "INSERT INTO bulkhead_meta (key, value) VALUES ($1, 'x') RETURNING 1",
        ),
        (
            "with",
            "WITH w AS (INSERT INTO bulkhead_meta (key, value) VALUES ($1, 'x') RETURNING key) \
             SELECT 1 FROM w",
        ),
        ("function", "SELECT innocent($1)"),
        (
            "nextval",
            "SELECT 1 FROM (SELECT nextval('bump'), $1::text) AS n",
        ),
        (
            "lock",
            "SELECT 1 FROM bulkhead_meta WHERE key <> $1 LIMIT 1 FOR UPDATE",
        ),
    ];
    for (name, sql) in STATEMENTS {
        let key = format!("read-{name}");
        let refused = store
            .pool
            .read(Scope::None, |tx| tx.query_all(sql, &[&key], unit))
            .unwrap_err();
        assert!(
            chain(&refused).contains("read-only transaction"),
            "{name}: {}",
            chain(&refused)
        );
        assert_eq!(count(&mut admin, &key), 0, "{name}");
        let key = format!("write-{name}");
        store
            .pool
            .write(Scope::None, |tx| tx.query_all(sql, &[&key], unit))
            .unwrap();
        if name != "nextval" && name != "lock" {
            assert_eq!(count(&mut admin, &key), 1, "{name}");
        }
    }
    let bumped: i64 = admin
        .query_one(
            &format!("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {schema}.bump"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(bumped, 1, "one nextval, the write's");
}

/// A read's `COMMIT` that fails (here a deferred unique constraint on a temporary table, the
/// one thing a read-only transaction may write) is found by the next call on the
/// connection: that call still gets its own tenant and its own rows, not the error, and the
/// connection is closed after it, so the call after that runs on a new one.
#[test]
fn a_deferred_commit_that_fails_reaches_neither_the_next_call_nor_the_pool() {
    let (store, _admin) = store();
    let pool = &store.pool;
    let before = pool
        .write(Scope::None, |tx| {
            tx.execute(
                "CREATE TEMPORARY TABLE twice (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)",
                &[],
            )?;
            seen(tx)
        })
        .unwrap();
    let (org, ws) = tenant();
    let failing = pool
        .read(Scope::Workspace(org, ws), |tx| {
            tx.execute("INSERT INTO pg_temp.twice VALUES (1), (1)", &[])?;
            seen(tx)
        })
        .unwrap();
    assert_eq!(failing.pid, before.pid);
    assert_eq!(failing.workspace, ws.to_string());
    let (other_org, other_ws) = tenant();
    let next = pool
        .read(Scope::Workspace(other_org, other_ws), seen)
        .unwrap();
    assert_eq!(
        (next.org, next.workspace, next.pid),
        (other_org.to_string(), other_ws.to_string(), before.pid),
        "the call that found the failed COMMIT ran on the same connection, with its tenant"
    );
    assert_ne!(next.transaction, failing.transaction);
    let after = pool.read(Scope::None, seen).unwrap();
    assert_ne!(after.pid, before.pid, "the connection was not pooled again");
    assert_eq!((after.org.as_str(), after.workspace.as_str()), ("", ""));
    // The temporary table went with its connection.
    let gone = pool
        .read(Scope::None, |tx| {
            tx.query_one("SELECT to_regclass('pg_temp.twice') IS NULL", &[], |r| {
                Ok(r.get::<_, bool>(0))
            })
        })
        .unwrap();
    assert!(gone);
}

/// The server closes a pooled connection between two calls (a restart, an administrator, an
/// idle timeout): the next call on it fails with a storage error instead of hanging or
/// answering with what the dead connection had, the pool drops it, and the call after that
/// runs on a new connection with nothing set.
#[test]
fn a_connection_the_server_closed_fails_one_call_and_is_replaced() {
    let (store, mut admin) = store();
    let pool = &store.pool;
    let (org, ws) = tenant();
    let read = pool.read(Scope::Workspace(org, ws), seen).unwrap();
    let ended: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&read.pid])
        .unwrap()
        .get(0);
    assert!(ended);
    let deadline = Instant::now() + Duration::from_secs(5);
    while admin
        .query_opt(
            "SELECT 1 FROM pg_stat_activity WHERE pid = $1",
            &[&read.pid],
        )
        .unwrap()
        .is_some()
    {
        assert!(Instant::now() < deadline, "the backend is still there");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (other_org, other_ws) = tenant();
    let failed = pool.read(Scope::Workspace(other_org, other_ws), seen);
    assert!(matches!(failed, Err(Error::Storage(_))), "{failed:?}");
    let next = pool.read(Scope::None, seen).unwrap();
    assert_ne!(next.pid, read.pid);
    assert_eq!((next.org.as_str(), next.workspace.as_str()), ("", ""));
    let write = pool
        .write(Scope::Workspace(other_org, other_ws), seen)
        .unwrap();
    assert_eq!(
        (write.org, write.workspace, write.pid),
        (other_org.to_string(), other_ws.to_string(), next.pid)
    );
}
