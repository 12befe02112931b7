//! What is written stays written: closing the engine and opening the file again loses nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use bulkhead::{
    ConnectionStatus, ConnectionUpdate, Engine, Organization, Schedule, Workspace, WorkspaceFilter,
    WorkspaceStatus, WorkspaceUpdate,
};
use common::{Contents, Db, World, all_workspaces, ext, new_source};

/// Everything the database holds, read through the public API: each organization, each of
/// its workspaces, and each workspace's contents.
fn everything(engine: &Engine) -> Vec<(Organization, Vec<(Workspace, Contents)>)> {
    engine
        .organizations()
        .unwrap()
        .into_iter()
        .map(|org| {
            let scope = engine.operator_org_scope(org.id).unwrap();
            let workspaces = all_workspaces(&scope, &WorkspaceFilter::default(), 2)
                .into_iter()
                .map(|w| {
                    let contents = Contents::read(&scope.workspace(w.id).unwrap());
                    (w, contents)
                })
                .collect();
            (org, workspaces)
        })
        .collect()
}

/// The world, plus the states a fresh world lacks: an inactive workspace, a renamed one, an
/// inactive connection with a manual schedule.
fn build_varied_world(db: &Db) {
    let world = World::build(db);
    let off = WorkspaceUpdate {
        status: Some(WorkspaceStatus::Inactive),
        ..Default::default()
    };
    world.org1.update_workspace(world.b.id(), &off).unwrap();
    let rename = WorkspaceUpdate {
        name: Some("Customer C, renamed".parse().unwrap()),
        ..Default::default()
    };
    world.org2.update_workspace(world.c.id(), &rename).unwrap();
    let pause = ConnectionUpdate {
        status: Some(ConnectionStatus::Inactive),
        schedule: Some(Schedule::Manual),
        ..Default::default()
    };
    let connection = *world.a.connections.iter().next().unwrap();
    world.a.scope.update_connection(connection, &pause).unwrap();
    db.org("Empty org");
}

#[test]
fn closing_and_reopening_keeps_everything() {
    let db = Db::new();
    build_varied_world(&db);
    let before = everything(&db.engine);
    assert_eq!(before.len(), 3, "three organizations");
    assert_eq!(before.iter().map(|(_, w)| w.len()).sum::<usize>(), 3);

    let db = db.reopen();
    let after = everything(&db.engine);

    assert_eq!(after, before);
}

#[test]
fn dropping_the_engine_and_its_scopes_closes_the_database() {
    let db = Db::new();
    build_varied_world(&db);
    let wal = db.path.with_file_name("bulkhead.db-wal");
    assert!(wal.exists(), "the engine writes through a write-ahead log");

    let Db {
        dir, path, engine, ..
    } = db;
    drop(engine);

    // SQLite checkpoints and removes the log when the last connection to the file closes: no
    // engine, scope or pooled connection outlives the engine.
    assert!(!wal.exists(), "a connection to the database is still open");
    assert!(path.exists());
    drop(dir);
}

#[test]
fn get_or_create_after_reopening_returns_the_stored_workspace() {
    let db = Db::new();
    let org_id = db.org("Acme").org_id();
    let made = db
        .engine
        .operator_org_scope(org_id)
        .unwrap()
        .get_or_create_workspace(&ext("cust-1"))
        .unwrap();
    assert!(made.created);

    let db = db.reopen();
    let org = db.engine.operator_org_scope(org_id).unwrap();
    let again = org.get_or_create_workspace(&ext("cust-1")).unwrap();

    assert!(!again.created);
    assert_eq!(again.workspace, made.workspace);
}

#[test]
fn writes_after_reopening_list_after_the_stored_rows() {
    let db = Db::new();
    let org_id = db.org("Acme").org_id();
    let ws = common::workspace(&db.engine.operator_org_scope(org_id).unwrap(), "cust-1");
    let old = ws.create_source(new_source("before")).unwrap();
    let ws_id = ws.workspace_id();
    drop(ws);

    let db = db.reopen();
    db.tick();
    let ws = db
        .engine
        .operator_org_scope(org_id)
        .unwrap()
        .workspace(ws_id)
        .unwrap();
    let new = ws.create_source(new_source("after")).unwrap();

    let listed = common::all_pages(1, |p| ws.list_sources(p));
    assert_eq!(listed, [old, new]);
}

#[test]
fn two_engines_on_one_file_see_each_others_writes() {
    let db = Db::new();
    let org = db.org("Acme");
    let ws = common::workspace(&org, "cust-1");
    let other = db.open_another_engine();
    let other_ws = other
        .operator_org_scope(org.org_id())
        .unwrap()
        .workspace(ws.workspace_id())
        .unwrap();

    let source = other_ws
        .create_source(new_source("from the other"))
        .unwrap();

    assert_eq!(ws.get_source(source.id).unwrap(), source);
    assert_eq!(everything(&db.engine), everything(&other));
}
