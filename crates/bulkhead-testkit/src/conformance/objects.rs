//! Sources, destinations, connections and sync runs: create, read, update, delete, and what
//! refers to what.

use bulkhead_core::{
    ConnectionStatus, ConnectionUpdate, ConnectorConfig, ConnectorUpdate, Page, Schedule,
    SyncOutcome, SyncRun, SyncStatus,
};

use super::{
    Harness, RowKind, View, assert_conflict, assert_denied, new_connection, new_org, pipeline,
    raw_destination, raw_source, token_scope, view_of, workspace,
};

/// A source is created, read, listed, updated and deleted.
pub fn source_create_read_update_delete(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let source = ws.create_source(raw_source("orders")).unwrap();
    assert_eq!(source.workspace_id, ws.workspace_id());
    assert_eq!(source.org_id, org.org_id());
    assert_eq!(ws.get_source(source.id).unwrap(), source);
    if let Some(view) = view_of(&h, &ws, 10) {
        assert_eq!(view.sources, std::slice::from_ref(&source));
    }
    h.tick();
    let update = ConnectorUpdate {
        name: Some("renamed".parse().unwrap()),
        config: Some(ConnectorConfig::new(serde_json::json!({"database": "other"})).unwrap()),
    };
    let updated = ws.update_source(source.id, &update).unwrap();
    assert_eq!(updated.name.as_str(), "renamed");
    assert_eq!(updated.config.as_map()["database"], "other");
    assert!(updated.updated_at > source.updated_at);
    assert_eq!(ws.get_source(source.id).unwrap(), updated);
    ws.delete_source(source.id).unwrap();
    h.assert_not_found(ws.get_source(source.id));
    h.assert_not_found(ws.delete_source(source.id));
}

/// A destination is created, read, listed, updated and deleted.
pub fn destination_create_read_update_delete(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let destination = ws.create_destination(raw_destination("lake")).unwrap();
    assert_eq!(ws.get_destination(destination.id).unwrap(), destination);
    if let Some(view) = view_of(&h, &ws, 10) {
        assert_eq!(view.destinations, std::slice::from_ref(&destination));
    }
    let update = ConnectorUpdate {
        name: Some("renamed".parse().unwrap()),
        config: None,
    };
    let updated = ws.update_destination(destination.id, &update).unwrap();
    assert_eq!(updated.name.as_str(), "renamed");
    assert_eq!(updated.config, destination.config);
    assert_eq!(ws.get_destination(destination.id).unwrap(), updated);
    ws.delete_destination(destination.id).unwrap();
    h.assert_not_found(ws.get_destination(destination.id));
}

/// A connection is created between the workspace's own objects, read, updated and deleted.
pub fn connection_create_read_update_delete(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (source, destination, connection) = pipeline(&ws, "p");
    assert_eq!(connection.source_id, source.id);
    assert_eq!(connection.destination_id, destination.id);
    assert_eq!(connection.status, ConnectionStatus::Active);
    assert_eq!(ws.get_connection(connection.id).unwrap(), connection);
    let update = ConnectionUpdate {
        name: Some("renamed".parse().unwrap()),
        status: Some(ConnectionStatus::Inactive),
        schedule: Some(Schedule::Cron("*/5 * * * *".parse().unwrap())),
    };
    let updated = ws.update_connection(connection.id, &update).unwrap();
    assert_eq!(updated.status, ConnectionStatus::Inactive);
    assert_eq!(updated.name.as_str(), "renamed");
    assert_eq!(ws.get_connection(connection.id).unwrap(), updated);
    ws.delete_connection(connection.id).unwrap();
    h.assert_not_found(ws.get_connection(connection.id));
    ws.delete_source(source.id).unwrap();
    ws.delete_destination(destination.id).unwrap();
    if let Some(view) = view_of(&h, &ws, 10) {
        assert_eq!(view, View::default());
    }
}

/// A connection naming another workspace's source or destination is refused as not found, and
/// nothing is stored.
pub fn connection_to_a_foreign_source_or_destination_is_not_found(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let mine = workspace(&acme, "cust-1");
    let sibling = workspace(&acme, "cust-2");
    let stranger = workspace(&globex, "cust-1");
    let (source, destination, _) = pipeline(&mine, "mine");
    let before_view = view_of(&h, &mine, 10);
    for other in [&sibling, &stranger] {
        let (their_source, their_destination, _) = pipeline(other, "theirs");
        let before = h.stored();
        h.assert_not_found(mine.create_connection(new_connection(
            "x",
            their_source.id,
            destination.id,
        )));
        h.assert_not_found(mine.create_connection(new_connection(
            "x",
            source.id,
            their_destination.id,
        )));
        h.assert_not_found(other.create_connection(new_connection(
            "x",
            source.id,
            their_destination.id,
        )));
        assert_eq!(h.stored(), before);
    }
    if let (Some(before), Some(after)) = (before_view, view_of(&h, &mine, 10)) {
        assert_eq!(before, after);
    }
}

/// A source or destination still used by a connection cannot be deleted.
pub fn endpoint_used_by_a_connection_cannot_be_deleted(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (source, destination, connection) = pipeline(&ws, "p");
    assert_conflict(ws.delete_source(source.id));
    assert_conflict(ws.delete_destination(destination.id));
    assert_eq!(ws.get_source(source.id).unwrap(), source);
    ws.delete_connection(connection.id).unwrap();
    ws.delete_source(source.id).unwrap();
    ws.delete_destination(destination.id).unwrap();
}

/// A sync run starts running, finishes once, and an inactive connection starts none.
pub fn sync_run_starts_and_finishes_once(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    let run = ws.start_sync(connection.id).unwrap();
    assert_eq!(run.status, SyncStatus::Running);
    assert_eq!(run.connection_id, connection.id);
    assert_eq!(ws.get_sync_run(run.id).unwrap(), run);
    h.tick();
    let done = ws
        .finish_sync(
            run.id,
            SyncOutcome::Succeeded {
                rows: 10,
                bytes: 99,
            },
        )
        .unwrap();
    assert_eq!(done.status, SyncStatus::Succeeded);
    assert_eq!((done.rows_synced, done.bytes_synced), (10, 99));
    assert_eq!(done.finished_at, Some(h.now()));
    assert_conflict(ws.finish_sync(run.id, SyncOutcome::Cancelled));
    assert_eq!(ws.get_sync_run(run.id).unwrap(), done);

    let failed = ws.start_sync(connection.id).unwrap();
    let failed = ws
        .finish_sync(
            failed.id,
            SyncOutcome::Failed {
                error: "boom".to_owned(),
                rows: 1,
                bytes: 2,
            },
        )
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("boom"));

    let off = ConnectionUpdate {
        status: Some(ConnectionStatus::Inactive),
        ..ConnectionUpdate::default()
    };
    ws.update_connection(connection.id, &off).unwrap();
    assert_conflict(ws.start_sync(connection.id));
}

/// Deleting a connection deletes its sync history with it.
pub fn deleting_a_connection_deletes_its_sync_runs(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    let (_, _, kept) = pipeline(&ws, "kept");
    // One run at a time per connection: each ends before the next starts, the last runs on.
    let runs: Vec<SyncRun> = (0..3)
        .map(|i| {
            let run = ws.start_sync(connection.id).unwrap();
            if i < 2 {
                ws.finish_sync(run.id, SyncOutcome::Cancelled).unwrap();
            }
            run
        })
        .collect();
    let kept_run = ws.start_sync(kept.id).unwrap();
    ws.delete_connection(connection.id).unwrap();
    for run in &runs {
        h.assert_not_found(ws.get_sync_run(run.id));
    }
    h.assert_not_found(ws.list_sync_runs(connection.id, &Page::first(10)));
    assert_eq!(ws.get_sync_run(kept_run.id).unwrap(), kept_run);
    if let Some(stored) = h.stored() {
        let runs: Vec<_> = stored
            .iter()
            .filter(|r| r.kind == RowKind::SyncRun)
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].id, *kept_run.id.as_uuid());
    }
}

/// Raw sources and destinations are the organization's alone; a scoped token's default
/// operations include no delete and no sync.
pub fn scoped_token_is_limited_to_its_operations(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, token) = token_scope(&h, &org, "cust-1");
    let full = org.workspace(issued.workspace_id).unwrap();
    let (source, destination, connection) = pipeline(&full, "p");
    let run = full.start_sync(connection.id).unwrap();
    let before = h.stored();
    assert_denied(token.create_source(raw_source("raw")));
    assert_denied(token.create_destination(raw_destination("raw")));
    assert_denied(token.delete_source(source.id));
    assert_denied(token.delete_destination(destination.id));
    assert_denied(token.delete_connection(connection.id));
    assert_denied(token.start_sync(connection.id));
    assert_denied(token.finish_sync(run.id, SyncOutcome::Cancelled));
    assert_denied(token.update_destination(destination.id, &ConnectorUpdate::default()));
    assert_eq!(h.stored(), before);
    assert_eq!(token.get_source(source.id).unwrap(), source);
    assert_eq!(token.get_sync_run(run.id).unwrap(), run);
}
