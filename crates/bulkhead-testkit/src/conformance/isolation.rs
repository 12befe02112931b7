//! Isolation: another workspace's or organization's object is not found, for every kind and
//! operation; lists and tenant views hold exactly their own rows.

use std::collections::BTreeSet;

use bulkhead_core::{
    ConnectionId, ConnectionStatus, ConnectionUpdate, ConnectorUpdate, DestinationId, Page,
    SourceId, SyncOutcome, SyncRunId, WorkspaceId,
};
use uuid::Uuid;

use super::{
    Harness, RowKind, StoredRow, TenantObject, all_workspaces, assert_conflict, from_template,
    install_catalog, new_org, pipeline, skipped, token_scope, view_of, workspace,
};

/// Every lookup, update or delete of another workspace's object (a sibling in the same
/// organization or one of another organization), by an organization's scope or by a scoped
/// token, is not found, and changes nothing.
pub fn foreign_ids_are_not_found_for_every_kind_and_operation(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let victim = workspace(&acme, "victim");
    let (source, destination, connection) = pipeline(&victim, "p");
    let run = victim.start_sync(connection.id).unwrap();
    let victim_view = view_of(&h, &victim, 10);
    let before = h.stored();

    let sibling = workspace(&acme, "sibling");
    let stranger = workspace(&globex, "victim");
    let (_, sibling_token) = token_scope(&h, &acme, "sibling");
    let (_, stranger_token) = token_scope(&h, &globex, "victim");
    let rename = ConnectorUpdate {
        name: Some("stolen".parse().unwrap()),
        config: None,
    };
    let off = ConnectionUpdate {
        status: Some(ConnectionStatus::Inactive),
        ..ConnectionUpdate::default()
    };
    for scope in [&sibling, &stranger, &sibling_token, &stranger_token] {
        h.assert_not_found(scope.get_source(source.id));
        h.assert_not_found(scope.get_destination(destination.id));
        h.assert_not_found(scope.get_connection(connection.id));
        h.assert_not_found(scope.get_sync_run(run.id));
        h.assert_not_found(scope.list_sync_runs(connection.id, &Page::first(10)));
        h.assert_not_found(scope.update_source(source.id, &rename));
        h.assert_not_found(scope.update_connection(connection.id, &off));
        if scope.token_id().is_none() {
            h.assert_not_found(scope.update_destination(destination.id, &rename));
            h.assert_not_found(scope.delete_connection(connection.id));
            h.assert_not_found(scope.delete_source(source.id));
            h.assert_not_found(scope.delete_destination(destination.id));
            h.assert_not_found(scope.start_sync(connection.id));
            h.assert_not_found(scope.finish_sync(run.id, SyncOutcome::Cancelled));
        }
    }
    let after_view = view_of(&h, &victim, 10);
    if let (Some(before), Some(after)) = (victim_view, after_view) {
        assert_eq!(before, after);
    }
    let mut after = h.stored();
    if let Some(rows) = after.as_mut() {
        rows.retain(|r| r.kind != RowKind::Workspace || r.id != *sibling.workspace_id().as_uuid());
        rows.retain(|r| r.kind != RowKind::Workspace || r.id != *stranger.workspace_id().as_uuid());
    }
    assert_eq!(after, before);
    assert_eq!(victim.get_sync_run(run.id).unwrap(), run);
}

/// Ids that never existed are not found, for every kind.
pub fn random_ids_are_not_found(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    pipeline(&ws, "p");
    let id = Uuid::new_v4();
    h.assert_not_found(ws.get_source(SourceId::from_uuid(id).unwrap()));
    h.assert_not_found(ws.get_destination(DestinationId::from_uuid(id).unwrap()));
    h.assert_not_found(ws.get_connection(ConnectionId::from_uuid(id).unwrap()));
    h.assert_not_found(ws.get_sync_run(SyncRunId::from_uuid(id).unwrap()));
    h.assert_not_found(org.get_workspace(WorkspaceId::from_uuid(id).unwrap()));
}

/// Each workspace's lists hold exactly its own rows, among several workspaces of several
/// organizations.
pub fn lists_hold_exactly_the_workspaces_own_rows(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let mut expected = Vec::new();
    for org_name in ["Acme", "Globex"] {
        let (org, _) = new_org(&h, org_name);
        for (i, ext_id) in ["a", "b", "c"].into_iter().enumerate() {
            let ws = workspace(&org, ext_id);
            let mut rows = BTreeSet::new();
            for p in 0..=i {
                let (s, d, c) = pipeline(&ws, &format!("{ext_id}{p}"));
                let run = ws.start_sync(c.id).unwrap();
                rows.extend([
                    s.stored_row(),
                    d.stored_row(),
                    c.stored_row(),
                    run.stored_row(),
                ]);
            }
            expected.push((ws, rows));
        }
    }
    for (ws, rows) in &expected {
        if let Some(view) = view_of(&h, ws, 2) {
            assert_eq!(&view.rows(), rows);
        }
    }
}

/// The union of every tenant's view is everything stored: no row is invisible to its owner,
/// and none is stored outside a tenant (needs a dump).
pub fn union_of_tenant_views_is_everything_stored(factory: &dyn Fn() -> Harness) {
    let h = factory();
    if h.dump.is_none() {
        return skipped("union_of_tenant_views_is_everything_stored", "dump");
    }
    let mut orgs = Vec::new();
    for org_name in ["Acme", "Globex"] {
        let (org, _) = new_org(&h, org_name);
        let catalog = install_catalog(&h, &org);
        let mut made = BTreeSet::new();
        for ext_id in ["a", "b"] {
            let (_, token) = token_scope(&h, &org, ext_id);
            token
                .create_source_from_template(from_template(&catalog.stripe, ext_id))
                .unwrap();
            let full = org.workspace(token.workspace_id()).unwrap();
            let (_, _, c) = pipeline(&full, ext_id);
            full.start_sync(c.id).unwrap();
            made.insert(token.workspace_id());
        }
        orgs.push((org, made));
    }
    let mut union = BTreeSet::new();
    for (org, made) in &orgs {
        // Behind a leaky store the listing meets the other organization's workspaces and is
        // refused (counted): the workspaces made above are then read by id.
        let workspaces = match h.answer(all_workspaces(org, 1)) {
            Some(listed) => {
                let ids: BTreeSet<WorkspaceId> = listed.iter().map(|w| w.id).collect();
                assert_eq!(&ids, made);
                listed
            }
            None => made
                .iter()
                .map(|id| org.get_workspace(*id).unwrap())
                .collect(),
        };
        for w in workspaces {
            assert_eq!(w.org_id, org.org_id());
            union.insert(w.stored_row());
            // With a dump, a view is always read: by its listings, or object by object.
            let view = view_of(&h, &org.workspace(w.id).unwrap(), 2).unwrap();
            union.extend(view.rows());
        }
    }
    assert_eq!(Some(union), h.stored());
}

/// Deleting a workspace deletes everything in it, and nothing of any other workspace.
pub fn deleting_then_purging_a_workspace_removes_its_rows_and_no_others(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let doomed = workspace(&org, "doomed");
    let kept = workspace(&org, "kept");
    let (source, _, connection) = pipeline(&doomed, "p");
    doomed.start_sync(connection.id).unwrap();
    pipeline(&kept, "p");
    let kept_view = view_of(&h, &kept, 10);
    let before = h.stored();
    // A live workspace is not purged.
    assert_conflict(org.purge_workspace(doomed.workspace_id()));
    org.delete_workspace(doomed.workspace_id()).unwrap();
    h.assert_not_found(org.get_workspace(doomed.workspace_id()));
    h.assert_not_found(org.workspace(doomed.workspace_id()));
    h.assert_not_found(org.reveal_source_config(doomed.workspace_id(), source.id));
    // A tombstone keeps its rows until it is purged.
    if let (Some(before), Some(after)) = (&before, h.stored()) {
        assert_eq!(*before, after);
    }
    h.assert_not_found(org.delete_workspace(doomed.workspace_id()));
    org.purge_workspace(doomed.workspace_id()).unwrap();
    if let (Some(before), Some(after)) = (kept_view, view_of(&h, &kept, 10)) {
        assert_eq!(before, after);
    }
    if let (Some(before), Some(after)) = (before, h.stored()) {
        let expected: BTreeSet<StoredRow> = before
            .into_iter()
            .filter(|r| r.workspace_id != doomed.workspace_id())
            .collect();
        assert_eq!(after, expected);
    }
    h.assert_not_found(org.delete_workspace(doomed.workspace_id()));
    h.assert_not_found(org.purge_workspace(doomed.workspace_id()));
}
