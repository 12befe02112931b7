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
    let first = pool.run(Scope::None, seen).unwrap();
    // Fails on its first statement (pipelined with BEGIN and the settings), on a later one,
    // on a statement the server cannot even prepare, and on a write.
    for case in 0..4 {
        let (org, ws) = tenant();
        let failed = pool.run(Scope::Workspace(org, ws), |tx| {
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
        let next = pool.run(Scope::Org(other_org), seen).unwrap();
        assert_eq!(next.org, other_org.to_string(), "case {case}");
        assert_eq!(next.workspace, "", "case {case}");
        assert_eq!(
            next.pid, first.pid,
            "case {case}: the same pooled connection"
        );
        let none = pool.run(Scope::None, seen).unwrap();
        assert_eq!((none.org.as_str(), none.workspace.as_str()), ("", ""));
    }
}

#[test]
fn a_call_that_panics_loses_its_connection_and_nothing_of_it_reaches_the_next_call() {
    let (store, _admin) = store();
    let pool = &store.pool;
    let (org, ws) = tenant();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        pool.run::<()>(Scope::Workspace(org, ws), |tx| {
            seen(tx)?;
            panic!("mid-call");
        })
    }));
    assert!(panicked.is_err());
    // The pool of one made a new connection, which has nothing set.
    let next = pool.run(Scope::None, seen).unwrap();
    assert_eq!((next.org.as_str(), next.workspace.as_str()), ("", ""));
}

#[test]
fn every_statement_of_a_call_runs_in_one_transaction_after_its_settings() {
    let (store, _admin) = store();
    let (org, ws) = tenant();
    let (a, b) = store
        .pool
        .run(Scope::Workspace(org, ws), |tx| {
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
    let next = store.pool.run(Scope::None, seen).unwrap();
    assert_ne!(next.transaction, a.transaction);
}

/// A read-only call returns before its `COMMIT` is answered, but the `COMMIT` is on its way:
/// the connection does not sit in a transaction until its next call.
#[test]
fn a_read_only_call_does_not_leave_its_connection_in_a_transaction() {
    let (store, mut admin) = store();
    let (org, ws) = tenant();
    let call = store.pool.run(Scope::Workspace(org, ws), seen).unwrap();
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
        .run(Scope::Workspace(other_org, other_ws), seen)
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
        .run(Scope::Workspace(org, ws), |_| Ok(()))
        .unwrap();
    let next = store.pool.run(Scope::None, seen).unwrap();
    assert_eq!((next.org.as_str(), next.workspace.as_str()), ("", ""));
}

#[test]
fn only_selects_that_call_no_writing_function_are_reads() {
    for sql in [
        "SELECT id FROM sources WHERE workspace_id = $1",
        "  select 1",
        "SELECT\nid FROM sources FOR UPDATE",
    ] {
        assert!(reads_only(sql), "{sql}");
    }
    for sql in [
        "INSERT INTO sources VALUES ($1)",
        "UPDATE sources SET name = $2",
        "DELETE FROM sources",
        "WITH x AS (DELETE FROM sources RETURNING id) SELECT id FROM x",
        "SELECT set_config('bulkhead.workspace_id', $1, false)",
        "SELECT nextval('s')",
        "SELECT pg_notify('c', 'x')",
        "SELECTED",
        "",
    ] {
        assert!(!reads_only(sql), "{sql}");
    }
}
