//! A storage error at a write point leaves no partial state, and the engine keeps working.
//!
//! Faults are injected from outside the engine: a raw SQLite connection to the same file adds a
//! permanent trigger that aborts the statement (`RAISE(ABORT, 'injected fault')`). `AFTER`
//! triggers fire once the row is written, so they prove the write is rolled back, not just
//! never made.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::fmt;

use bulkhead::{
    ConnectorConfig, ConnectorUpdate, Error, Page, Result, SyncOutcome, SyncStatus, WorkspaceFilter,
};
use common::{
    Contents, Db, all_workspaces, ext, new_connection, new_source, pipeline, raw_connection,
    workspace,
};

/// Adds the trigger `name` that aborts every `event` (`BEFORE DELETE ON connections`).
fn inject_fault(db: &Db, name: &str, event: &str) {
    raw_connection(&db.path)
        .execute_batch(&format!(
            "CREATE TRIGGER {name} {event} BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
        ))
        .unwrap();
}

fn remove_fault(db: &Db, name: &str) {
    raw_connection(&db.path)
        .execute_batch(&format!("DROP TRIGGER {name};"))
        .unwrap();
}

/// Rows of `table` in the whole file, counted outside the engine.
fn raw_count(db: &Db, table: &str) -> i64 {
    raw_connection(&db.path)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[track_caller]
fn assert_injected_storage_error<T: fmt::Debug>(result: Result<T>) {
    match result {
        Err(Error::Storage(e)) => {
            assert!(e.message().contains("injected fault"), "{e}");
        }
        other => panic!("expected the injected storage error, got {other:?}"),
    }
}

#[test]
fn storage_error_in_the_middle_of_deleting_a_connection_leaves_it_and_its_sync_runs() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    for _ in 0..3 {
        let run = ws.start_sync(connection.id).unwrap();
        db.tick();
        ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: 1, bytes: 1 })
            .unwrap();
        db.tick();
    }
    let before = Contents::read(&ws);
    assert_eq!(before.sync_runs[0].len(), 3);
    // The sync runs are deleted first, then the connection: the fault hits the second delete.
    inject_fault(&db, "fail_delete", "BEFORE DELETE ON connections");

    assert_injected_storage_error(ws.delete_connection(connection.id));

    assert_eq!(Contents::read(&ws), before);
    assert_eq!(raw_count(&db, "sync_runs"), 3);
    remove_fault(&db, "fail_delete");
    ws.delete_connection(connection.id).unwrap();
    assert!(ws.get_connection(connection.id).unwrap_err().is_not_found());
    assert_eq!(raw_count(&db, "sync_runs"), 0);
}

#[test]
fn storage_error_while_creating_a_connection_stores_nothing() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (source, destination, _) = pipeline(&db, &ws, "p");
    let before = Contents::read(&ws);
    inject_fault(&db, "fail_insert", "AFTER INSERT ON connections");

    let request = new_connection("second", source.id, destination.id);
    assert_injected_storage_error(ws.create_connection(request.clone()));

    assert_eq!(Contents::read(&ws), before);
    assert_eq!(raw_count(&db, "connections"), 1);
    remove_fault(&db, "fail_insert");
    let made = ws.create_connection(request).unwrap();
    assert_eq!(ws.get_connection(made.id).unwrap(), made);
}

#[test]
fn storage_error_while_starting_a_sync_stores_nothing() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    inject_fault(&db, "fail_run", "AFTER INSERT ON sync_runs");

    assert_injected_storage_error(ws.start_sync(connection.id));

    let history = ws.list_sync_runs(connection.id, &Page::first(10)).unwrap();
    assert!(history.items.is_empty(), "{history:?}");
    assert_eq!(raw_count(&db, "sync_runs"), 0);
    remove_fault(&db, "fail_run");
    ws.start_sync(connection.id).unwrap();
}

#[test]
fn storage_error_while_finishing_a_sync_leaves_it_running() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let run = ws.start_sync(connection.id).unwrap();
    db.tick();
    inject_fault(&db, "fail_finish", "AFTER UPDATE ON sync_runs");

    let outcome = SyncOutcome::Succeeded { rows: 5, bytes: 50 };
    assert_injected_storage_error(ws.finish_sync(run.id, outcome.clone()));

    assert_eq!(ws.get_sync_run(run.id).unwrap(), run);
    remove_fault(&db, "fail_finish");
    let finished = ws.finish_sync(run.id, outcome).unwrap();
    assert_eq!(finished.status, SyncStatus::Succeeded);
}

#[test]
fn storage_error_while_updating_a_source_keeps_its_old_values() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let source = ws.create_source(new_source("original")).unwrap();
    db.tick();
    inject_fault(&db, "fail_update", "AFTER UPDATE ON sources");

    let update = ConnectorUpdate {
        name: Some("renamed".parse().unwrap()),
        config: Some(ConnectorConfig::from_json(r#"{"account_id": "new"}"#).unwrap()),
    };
    assert_injected_storage_error(ws.update_source(source.id, &update));

    assert_eq!(ws.get_source(source.id).unwrap(), source);
    remove_fault(&db, "fail_update");
    let updated = ws.update_source(source.id, &update).unwrap();
    assert_eq!(updated.name.as_str(), "renamed");
}

#[test]
fn storage_error_while_deleting_a_source_keeps_it() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let source = ws.create_source(new_source("kept")).unwrap();
    inject_fault(&db, "fail_delete_source", "BEFORE DELETE ON sources");

    assert_injected_storage_error(ws.delete_source(source.id));

    assert_eq!(ws.get_source(source.id).unwrap(), source);
    remove_fault(&db, "fail_delete_source");
    ws.delete_source(source.id).unwrap();
}

#[test]
fn storage_error_while_creating_a_workspace_creates_none() {
    let db = Db::new();
    let org = db.org("Acme");
    inject_fault(&db, "fail_workspace", "AFTER INSERT ON workspaces");

    assert_injected_storage_error(org.get_or_create_workspace(&ext("cust-1")));

    assert!(all_workspaces(&org, &WorkspaceFilter::default(), 100).is_empty());
    assert!(
        org.workspace_by_external_id(&ext("cust-1"))
            .unwrap_err()
            .is_not_found()
    );
    remove_fault(&db, "fail_workspace");
    assert!(org.get_or_create_workspace(&ext("cust-1")).unwrap().created);
}
