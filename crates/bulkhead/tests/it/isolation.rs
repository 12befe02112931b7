//! No call of one workspace's scope returns, changes or deletes another workspace's rows, and no
//! organization reaches another's workspaces. World: A and B in org 1, C in org 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::BTreeSet;

use bulkhead::{
    ConnectionStatus, ConnectionUpdate, ConnectorConfig, ConnectorUpdate, Error, ObjectKind, Page,
    Schedule, SyncOutcome, WorkspaceFilter, WorkspaceId, WorkspaceStatus, WorkspaceUpdate,
};
use common::{
    Contents, Customer, Db, World, all_workspaces, assert_not_found, ext, new_connection,
};

/// Asserts each list of `customer`'s scope holds exactly the customer's ids.
fn assert_lists_hold_exactly_own_rows(customer: &Customer) {
    let seen = Contents::read(&customer.scope);
    assert_eq!(seen.source_ids(), customer.sources);
    assert_eq!(seen.destination_ids(), customer.destinations);
    assert_eq!(seen.connection_ids(), customer.connections);
    assert_eq!(seen.sync_run_ids(), customer.sync_runs);
    assert_eq!(seen.workspace.id, customer.id());
    for source in &seen.sources {
        assert_eq!(source.workspace_id, customer.id());
        assert_eq!(source.org_id, customer.scope.org_id());
    }
    for connection in &seen.connections {
        assert_eq!(connection.workspace_id, customer.id());
        assert!(customer.sources.contains(&connection.source_id));
        assert!(customer.destinations.contains(&connection.destination_id));
    }
    for run in seen.sync_runs.iter().flatten() {
        assert_eq!(run.workspace_id, customer.id());
        assert!(customer.connections.contains(&run.connection_id));
    }
}

#[test]
fn every_list_of_a_workspace_returns_exactly_its_own_rows() {
    let db = Db::new();
    let world = World::build(&db);

    for customer in [&world.a, &world.b, &world.c] {
        assert_lists_hold_exactly_own_rows(customer);
    }
    assert_eq!(db.engine.isolation_breaches(), 0);
}

#[test]
fn a_fresh_workspace_sees_empty_lists_beside_busy_neighbours() {
    let db = Db::new();
    let world = World::build(&db);

    let empty = common::workspace(&world.org1, "customer-new");
    let seen = Contents::read(&empty);

    assert!(seen.sources.is_empty());
    assert!(seen.destinations.is_empty());
    assert!(seen.connections.is_empty());
    assert_eq!(db.engine.isolation_breaches(), 0);
}

#[test]
fn every_get_of_a_foreign_id_is_not_found() {
    let db = Db::new();
    let world = World::build(&db);
    let a = &world.a.scope;

    for foreign in [&world.b, &world.c] {
        for &id in &foreign.sources {
            assert_not_found(a.get_source(id), ObjectKind::Source, id);
        }
        for &id in &foreign.destinations {
            assert_not_found(a.get_destination(id), ObjectKind::Destination, id);
        }
        for &id in &foreign.connections {
            assert_not_found(a.get_connection(id), ObjectKind::Connection, id);
            assert_not_found(
                a.list_sync_runs(id, &Page::first(10)),
                ObjectKind::Connection,
                id,
            );
        }
        for &id in &foreign.sync_runs {
            assert_not_found(a.get_sync_run(id), ObjectKind::SyncRun, id);
        }
    }
    // The owner does find them: the ids are real.
    for &id in &world.b.sources {
        assert_eq!(world.b.scope.get_source(id).unwrap().id, id);
    }
    for &id in &world.b.sync_runs {
        assert_eq!(world.b.scope.get_sync_run(id).unwrap().id, id);
    }
    assert_eq!(db.engine.isolation_breaches(), 0);
}

#[test]
fn foreign_not_found_is_indistinguishable_from_missing() {
    let db = Db::new();
    let world = World::build(&db);
    let a = &world.a.scope;
    let foreign = *world.b.sources.first().unwrap();
    let missing = bulkhead::SourceId::random();

    let foreign_err = a.get_source(foreign).unwrap_err();
    let missing_err = a.get_source(missing).unwrap_err();
    assert!(foreign_err.is_not_found(), "{foreign_err:?}");
    assert!(missing_err.is_not_found(), "{missing_err:?}");

    assert_eq!(
        foreign_err.to_string().replace(&foreign.to_string(), "ID"),
        missing_err.to_string().replace(&missing.to_string(), "ID"),
    );
}

#[test]
fn foreign_source_cannot_be_updated_or_deleted() {
    let db = Db::new();
    let world = World::build(&db);
    let a = &world.a.scope;
    for foreign in [&world.b, &world.c] {
        let before = Contents::read(&foreign.scope);
        db.tick();

        for &id in &foreign.sources {
            let update = ConnectorUpdate {
                name: Some("hijacked".parse().unwrap()),
                config: Some(ConnectorConfig::from_json(r#"{"account_id": "evil"}"#).unwrap()),
            };
            assert_not_found(a.update_source(id, &update), ObjectKind::Source, id);
            assert_not_found(a.delete_source(id), ObjectKind::Source, id);
        }

        assert_eq!(Contents::read(&foreign.scope), before);
    }
    assert_lists_hold_exactly_own_rows(&world.a);
}

#[test]
fn foreign_destination_cannot_be_updated_or_deleted() {
    let db = Db::new();
    let world = World::build(&db);
    let a = &world.a.scope;
    for foreign in [&world.b, &world.c] {
        let before = Contents::read(&foreign.scope);
        db.tick();

        for &id in &foreign.destinations {
            let update = ConnectorUpdate {
                name: Some("hijacked".parse().unwrap()),
                config: Some(ConnectorConfig::from_json(r#"{"bucket": "evil"}"#).unwrap()),
            };
            assert_not_found(
                a.update_destination(id, &update),
                ObjectKind::Destination,
                id,
            );
            assert_not_found(a.delete_destination(id), ObjectKind::Destination, id);
        }

        assert_eq!(Contents::read(&foreign.scope), before);
    }
    assert_lists_hold_exactly_own_rows(&world.a);
}

#[test]
fn foreign_connection_cannot_be_updated_deleted_or_started() {
    let db = Db::new();
    let world = World::build(&db);
    let a = &world.a.scope;
    for foreign in [&world.b, &world.c] {
        let before = Contents::read(&foreign.scope);
        db.tick();

        for &id in &foreign.connections {
            let update = ConnectionUpdate {
                name: Some("hijacked".parse().unwrap()),
                status: Some(ConnectionStatus::Inactive),
                schedule: Some(Schedule::Manual),
            };
            assert_not_found(a.update_connection(id, &update), ObjectKind::Connection, id);
            assert_not_found(a.start_sync(id), ObjectKind::Connection, id);
            assert_not_found(a.delete_connection(id), ObjectKind::Connection, id);
        }

        assert_eq!(Contents::read(&foreign.scope), before);
    }
    assert_lists_hold_exactly_own_rows(&world.a);
}

#[test]
fn foreign_sync_run_cannot_be_finished() {
    let db = Db::new();
    let world = World::build(&db);
    let a = &world.a.scope;
    for foreign in [&world.b, &world.c] {
        let before = Contents::read(&foreign.scope);
        db.tick();

        for &id in &foreign.sync_runs {
            let outcomes = [
                SyncOutcome::Succeeded { rows: 1, bytes: 1 },
                SyncOutcome::Failed {
                    error: "hijacked".to_owned(),
                    rows: 0,
                    bytes: 0,
                },
                SyncOutcome::Cancelled,
            ];
            for outcome in outcomes {
                assert_not_found(a.finish_sync(id, outcome), ObjectKind::SyncRun, id);
            }
        }

        assert_eq!(Contents::read(&foreign.scope), before);
        // The owner can still finish its running run: the foreign attempts did not.
        let run = foreign
            .scope
            .finish_sync(foreign.running_run, SyncOutcome::Cancelled)
            .unwrap();
        assert_eq!(run.status, bulkhead::SyncStatus::Cancelled);
    }
}

#[test]
fn connection_naming_a_foreign_source_or_destination_is_not_found_and_stores_nothing() {
    let db = Db::new();
    let world = World::build(&db);
    let a = &world.a;
    let own_source = a.unused_source;
    let own_destination = a.unused_destination;
    let before = [&world.a, &world.b, &world.c].map(|c| Contents::read(&c.scope));

    for foreign in [&world.b, &world.c] {
        for &source in &foreign.sources {
            let request = new_connection("smuggled source", source, own_destination);
            assert_not_found(
                a.scope.create_connection(request),
                ObjectKind::Source,
                source,
            );
        }
        for &destination in &foreign.destinations {
            let request = new_connection("smuggled destination", own_source, destination);
            assert_not_found(
                a.scope.create_connection(request),
                ObjectKind::Destination,
                destination,
            );
        }
    }

    let after = [&world.a, &world.b, &world.c].map(|c| Contents::read(&c.scope));
    assert_eq!(after, before);
    // The same request with A's own ids is accepted: the refusals were about ownership.
    a.scope
        .create_connection(new_connection("own", own_source, own_destination))
        .unwrap();
}

#[test]
fn cursor_from_another_workspace_never_widens_a_listing() {
    let db = Db::new();
    let world = World::build(&db);
    let foreign_cursor = world
        .b
        .scope
        .list_sources(&Page::first(1))
        .unwrap()
        .next
        .expect("B has more than one source");
    let foreign_connection_cursor = world
        .c
        .scope
        .list_connections(&Page::first(1))
        .unwrap()
        .next
        .expect("C has more than one connection");

    let sources = world
        .a
        .scope
        .list_sources(&Page::after(foreign_cursor, 100))
        .unwrap();
    let connections = world
        .a
        .scope
        .list_connections(&Page::after(foreign_connection_cursor, 100))
        .unwrap();

    let source_ids: BTreeSet<_> = sources.items.iter().map(|s| s.id).collect();
    assert!(source_ids.is_subset(&world.a.sources), "{source_ids:?}");
    let connection_ids: BTreeSet<_> = connections.items.iter().map(|c| c.id).collect();
    assert!(connection_ids.is_subset(&world.a.connections));
}

#[test]
fn workspace_of_another_organization_is_not_found() {
    let db = Db::new();
    let world = World::build(&db);

    for foreign in [world.a.id(), world.b.id()] {
        assert_not_found(
            world.org2.workspace(foreign),
            ObjectKind::Workspace,
            foreign,
        );
        assert_not_found(
            world.org2.get_workspace(foreign),
            ObjectKind::Workspace,
            foreign,
        );
    }
    assert_not_found(
        world.org1.workspace(world.c.id()),
        ObjectKind::Workspace,
        world.c.id(),
    );
    let missing = WorkspaceId::random();
    assert_not_found(
        world.org1.workspace(missing),
        ObjectKind::Workspace,
        missing,
    );
    // The owner reaches its own.
    assert_eq!(
        world.org1.workspace(world.a.id()).unwrap().workspace_id(),
        world.a.id()
    );
}

#[test]
fn workspace_of_another_organization_cannot_be_updated() {
    let db = Db::new();
    let world = World::build(&db);
    let before = world.org1.get_workspace(world.a.id()).unwrap();
    db.tick();

    let update = WorkspaceUpdate {
        name: Some("hijacked".parse().unwrap()),
        status: Some(WorkspaceStatus::Inactive),
        ..WorkspaceUpdate::default()
    };
    assert_not_found(
        world.org2.update_workspace(world.a.id(), &update),
        ObjectKind::Workspace,
        world.a.id(),
    );

    assert_eq!(world.org1.get_workspace(world.a.id()).unwrap(), before);
}

#[test]
fn external_id_of_another_organization_is_not_found() {
    let db = Db::new();
    let world = World::build(&db);

    let err = world
        .org2
        .workspace_by_external_id(&ext("customer-a"))
        .unwrap_err();

    assert!(err.is_not_found());
    assert!(matches!(err, Error::ExternalIdNotFound { .. }), "{err:?}");
}

#[test]
fn organization_lists_only_its_own_workspaces() {
    let db = Db::new();
    let world = World::build(&db);
    let ids = |org: &bulkhead::OrgScope| -> BTreeSet<WorkspaceId> {
        all_workspaces(org, &WorkspaceFilter::default(), 1)
            .into_iter()
            .map(|w| {
                assert_eq!(w.org_id, org.org_id());
                w.id
            })
            .collect()
    };

    assert_eq!(ids(&world.org1), [world.a.id(), world.b.id()].into());
    assert_eq!(ids(&world.org2), [world.c.id()].into());
    let customer_prefix = WorkspaceFilter {
        external_id_prefix: Some("customer-".to_owned()),
        status: None,
        name_contains: None,
    };
    let org2_customers = all_workspaces(&world.org2, &customer_prefix, 100);
    assert_eq!(org2_customers.len(), 1);
    assert_eq!(org2_customers[0].id, world.c.id());
}

#[test]
fn workspace_cursor_from_another_organization_never_widens_a_listing() {
    let db = Db::new();
    let world = World::build(&db);
    let first = world
        .org1
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(1))
        .unwrap();
    let cursor = first.next.expect("org 1 has two workspaces");

    let page = world
        .org2
        .list_workspaces(&WorkspaceFilter::default(), &Page::after(cursor, 100))
        .unwrap();

    for workspace in page.items {
        assert_eq!(workspace.org_id, world.org2.org_id());
    }
}

#[test]
fn operator_scope_of_an_unknown_organization_is_not_found() {
    let db = Db::new();
    let _world = World::build(&db);
    let unknown = bulkhead::OrgId::random();

    assert_not_found(
        db.engine.operator_org_scope(unknown),
        ObjectKind::Organization,
        unknown,
    );
}

#[test]
fn scope_of_a_workspace_sent_to_another_thread_stays_in_its_workspace() {
    let db = Db::new();
    let world = World::build(&db);
    let a = world.a.scope.clone();
    let b_sources = world.b.sources.clone();

    let seen = std::thread::spawn(move || {
        for &id in &b_sources {
            assert!(a.get_source(id).unwrap_err().is_not_found());
        }
        Contents::read(&a)
    })
    .join()
    .unwrap();

    assert_eq!(seen.source_ids(), world.a.sources);
    assert_eq!(seen.workspace.id, world.a.id());
}

#[test]
fn scopes_used_in_parallel_each_see_only_their_own_rows() {
    const WORKSPACES: usize = 8;
    const ROUNDS: usize = 20;
    let db = Db::new();
    let org = db.org("Acme");
    let scopes: Vec<_> = (0..WORKSPACES)
        .map(|i| common::workspace(&org, &format!("parallel-{i}")))
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(WORKSPACES));

    let handles: Vec<_> = scopes
        .into_iter()
        .map(|ws| {
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut mine = BTreeSet::new();
                for round in 0..ROUNDS {
                    let source = ws
                        .create_source(common::new_source(&format!("round {round}")))
                        .unwrap();
                    assert_eq!(source.workspace_id, ws.workspace_id());
                    mine.insert(source.id);
                    // Lists and gets go through the shared reader pool while other workspaces
                    // write: each must still see exactly its own rows.
                    let listed = common::all_pages(7, |p| ws.list_sources(p));
                    assert_eq!(common::id_set(&listed, |s| s.id), mine);
                    assert_eq!(ws.get_source(source.id).unwrap(), source);
                }
                (ws.workspace_id(), mine)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let mut all = BTreeSet::new();
    for (_, mine) in &results {
        assert_eq!(mine.len(), ROUNDS);
        all.extend(mine.iter().copied());
    }
    assert_eq!(all.len(), WORKSPACES * ROUNDS, "no source id is shared");
    assert_eq!(db.engine.isolation_breaches(), 0);
}

#[test]
fn schema_refuses_rows_that_link_two_workspaces() {
    let db = Db::new();
    let world = World::build(&db);
    let raw = common::raw_connection(&db.path);
    raw.pragma_update(None, "foreign_keys", "ON").unwrap();
    let a = world.a.id();
    let org = world.a.scope.org_id();
    let b_source = *world.b.sources.first().unwrap();
    let a_destination = *world.a.destinations.first().unwrap();
    let b_connection = *world.b.connections.first().unwrap();
    let id = bulkhead::ConnectionId::random();

    // Below the engine, the composite foreign keys through `workspace_id` refuse a row of A that
    // names B's source, or a sync run of A that names B's connection.
    let connection = raw.execute(
        "INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, \
         status, schedule, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'smuggled', ?4, ?5, 'active', 'manual', 0, 0)",
        rusqlite::params![
            a.as_uuid(),
            id.as_uuid(),
            org.as_uuid(),
            b_source.as_uuid(),
            a_destination.as_uuid()
        ],
    );
    let run = raw.execute(
        "INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, \
         rows_synced, bytes_synced) VALUES (?1, ?2, ?3, ?4, 'running', 0, 0, 0)",
        rusqlite::params![
            a.as_uuid(),
            bulkhead::SyncRunId::random().as_uuid(),
            org.as_uuid(),
            b_connection.as_uuid()
        ],
    );

    for result in [connection, run] {
        let err = result.expect_err("the schema must refuse a cross-workspace reference");
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    }
    assert_lists_hold_exactly_own_rows(&world.a);
}
