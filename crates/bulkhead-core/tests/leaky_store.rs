//! The L2 guard alone stops a leak.
//!
//! `LeakyStore` below is a storage adapter with the classic tenancy bug: its tenant reads
//! forget the tenant (`get_*` and `update_*` match on id only, `list_*` return every row of the
//! kind, `load_workspace` returns the newest workspace of any organization), and in a second
//! mode its organization-level reads forget the organization too. There is no database under
//! it, so no L3 either. These tests show that every such read reaching a scope fails closed with
//! [`Error::IsolationBreach`], hands the caller none of the other tenant's data, and is counted
//! by [`Engine::isolation_breaches`]; both when the foreign workspace is in another
//! organization (the org check) and when it is a sibling in the caller's own organization (the
//! workspace check). A control test shows the same store gives correct answers while only the
//! caller's own rows exist, so the failures are caused by the foreign rows, not by the stub.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bulkhead_core::store::{After, EndpointKind, EndpointRow, SyncFinish};
use bulkhead_core::{
    Connection, ConnectionStatus, ConnectionUpdate, ConnectorConfig, ConnectorUpdate, Destination,
    Engine, Error, ExternalId, ManualClock, Name, NewConnection, NewDestination, NewSource,
    ObjectKind, OrgCtx, OrgId, OrgScope, Organization, Page, Result, Schedule, Source, SourceId,
    Store, SyncOutcome, SyncRun, SyncRunId, SyncStatus, Tenant, Timestamp, Workspace,
    WorkspaceFilter, WorkspaceId, WorkspaceScope, WorkspaceUpdate,
};
use bulkhead_core::{ConnectionId, DestinationId};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The leaky store
// ---------------------------------------------------------------------------------------------

/// Which reads of [`LeakyStore`] ignore their scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leak {
    /// Tenant reads ignore the tenant; organization-level reads are correct.
    TenantRows,
    /// Tenant reads ignore the tenant, and organization-level reads ignore the organization.
    TenantAndOrgRows,
}

#[derive(Debug, Default)]
struct Tables {
    organizations: Vec<Organization>,
    workspaces: Vec<Workspace>,
    endpoints: Vec<EndpointRow>,
    connections: Vec<Connection>,
    sync_runs: Vec<SyncRun>,
}

/// An in-memory store that is correct for organizations, workspace creation and writes, and
/// deliberately forgets the tenant on reads (see the module docs).
#[derive(Debug)]
struct LeakyStore {
    leak: Leak,
    tables: Mutex<Tables>,
}

impl LeakyStore {
    fn new(leak: Leak) -> Self {
        Self {
            leak,
            tables: Mutex::new(Tables::default()),
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap()
    }

    /// Whether an organization-level read should keep this workspace: every workspace when
    /// organization reads leak, else only the organization's own.
    fn org_sees(&self, org: &OrgCtx, w: &Workspace) -> bool {
        self.leak == Leak::TenantAndOrgRows || w.org_id == org.org_id()
    }
}

fn apply_connector_update(row: &mut EndpointRow, update: &ConnectorUpdate, now: Timestamp) {
    if let Some(name) = &update.name {
        row.name = name.clone();
    }
    if let Some(config) = &update.config {
        row.config = config.clone();
    }
    row.updated_at = now;
}

impl Store for LeakyStore {
    fn insert_organization(&self, org: &Organization) -> Result<()> {
        self.tables().organizations.push(org.clone());
        Ok(())
    }

    fn get_organization(&self, id: OrgId) -> Result<Option<Organization>> {
        Ok(self
            .tables()
            .organizations
            .iter()
            .find(|o| o.id == id)
            .cloned())
    }

    fn list_organizations(&self) -> Result<Vec<Organization>> {
        Ok(self.tables().organizations.clone())
    }

    // Correct in both modes: the fixture needs it to make workspaces.
    fn get_or_create_workspace(
        &self,
        org: &OrgCtx,
        candidate: &Workspace,
    ) -> Result<(Workspace, bool)> {
        let mut t = self.tables();
        if let Some(found) = t
            .workspaces
            .iter()
            .find(|w| w.org_id == org.org_id() && w.external_id == candidate.external_id)
        {
            return Ok((found.clone(), false));
        }
        t.workspaces.push(candidate.clone());
        Ok((candidate.clone(), true))
    }

    fn get_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<Option<Workspace>> {
        Ok(self
            .tables()
            .workspaces
            .iter()
            .find(|w| w.id == id && self.org_sees(org, w))
            .cloned())
    }

    fn find_workspace(&self, org: &OrgCtx, external_id: &ExternalId) -> Result<Option<Workspace>> {
        Ok(self
            .tables()
            .workspaces
            .iter()
            .find(|w| w.external_id == *external_id && self.org_sees(org, w))
            .cloned())
    }

    fn list_workspaces(
        &self,
        org: &OrgCtx,
        filter: &WorkspaceFilter,
        after: Option<&ExternalId>,
        limit: usize,
    ) -> Result<Vec<Workspace>> {
        let mut rows: Vec<Workspace> = self
            .tables()
            .workspaces
            .iter()
            .filter(|w| self.org_sees(org, w))
            .filter(|w| {
                filter
                    .external_id_prefix
                    .as_deref()
                    .is_none_or(|p| w.external_id.as_str().starts_with(p))
            })
            .filter(|w| filter.status.is_none_or(|s| w.status == s))
            .filter(|w| after.is_none_or(|a| w.external_id > *a))
            .cloned()
            .collect();
        rows.sort_by(|x, y| x.external_id.cmp(&y.external_id));
        rows.truncate(limit);
        Ok(rows)
    }

    fn update_workspace(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        update: &WorkspaceUpdate,
        now: Timestamp,
    ) -> Result<Option<Workspace>> {
        let leak = self.leak;
        let mut t = self.tables();
        let Some(w) = t
            .workspaces
            .iter_mut()
            .find(|w| w.id == id && (leak == Leak::TenantAndOrgRows || w.org_id == org.org_id()))
        else {
            return Ok(None);
        };
        if let Some(name) = &update.name {
            w.name = name.clone();
        }
        if let Some(status) = update.status {
            w.status = status;
        }
        w.updated_at = now;
        Ok(Some(w.clone()))
    }

    // LEAK: `SELECT * FROM workspaces ORDER BY created_at DESC LIMIT 1`, no tenant.
    fn load_workspace(&self, _tenant: &Tenant) -> Result<Option<Workspace>> {
        Ok(self.tables().workspaces.last().cloned())
    }

    fn insert_endpoint(&self, _tenant: &Tenant, row: &EndpointRow) -> Result<()> {
        self.tables().endpoints.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_endpoint(
        &self,
        _tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
    ) -> Result<Option<EndpointRow>> {
        Ok(self
            .tables()
            .endpoints
            .iter()
            .find(|r| r.kind == kind && r.id == id)
            .cloned())
    }

    // LEAK: every row of the kind.
    fn list_endpoints(
        &self,
        _tenant: &Tenant,
        kind: EndpointKind,
        after: After,
        limit: usize,
    ) -> Result<Vec<EndpointRow>> {
        let mut rows: Vec<EndpointRow> = self
            .tables()
            .endpoints
            .iter()
            .filter(|r| r.kind == kind)
            .filter(|r| after.is_none_or(|a| (r.created_at, r.id) > a))
            .cloned()
            .collect();
        rows.sort_by_key(|r| (r.created_at, r.id));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only (and so writes another tenant's row).
    fn update_endpoint(
        &self,
        _tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
        update: &ConnectorUpdate,
        now: Timestamp,
    ) -> Result<Option<EndpointRow>> {
        let mut t = self.tables();
        let Some(row) = t
            .endpoints
            .iter_mut()
            .find(|r| r.kind == kind && r.id == id)
        else {
            return Ok(None);
        };
        apply_connector_update(row, update, now);
        Ok(Some(row.clone()))
    }

    // Correct: a delete returns no row the guard could check.
    fn delete_endpoint(&self, tenant: &Tenant, kind: EndpointKind, id: Uuid) -> Result<bool> {
        let mut t = self.tables();
        let in_use = t.connections.iter().any(|c| {
            c.workspace_id == tenant.workspace_id()
                && match kind {
                    EndpointKind::Source => *c.source_id.as_uuid() == id,
                    EndpointKind::Destination => *c.destination_id.as_uuid() == id,
                }
        });
        if in_use {
            return Err(Error::conflict("in use by a connection"));
        }
        // LEAK: deletes by id only, whoever owns the row.
        let before = t.endpoints.len();
        t.endpoints.retain(|r| !(r.kind == kind && r.id == id));
        Ok(t.endpoints.len() != before)
    }

    fn insert_connection(&self, _tenant: &Tenant, row: &Connection) -> Result<()> {
        self.tables().connections.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_connection(&self, _tenant: &Tenant, id: ConnectionId) -> Result<Option<Connection>> {
        Ok(self
            .tables()
            .connections
            .iter()
            .find(|c| c.id == id)
            .cloned())
    }

    // LEAK: every connection.
    fn list_connections(
        &self,
        _tenant: &Tenant,
        after: After,
        limit: usize,
    ) -> Result<Vec<Connection>> {
        let mut rows: Vec<Connection> = self
            .tables()
            .connections
            .iter()
            .filter(|c| after.is_none_or(|a| (c.created_at, *c.id.as_uuid()) > a))
            .cloned()
            .collect();
        rows.sort_by_key(|c| (c.created_at, *c.id.as_uuid()));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only.
    fn update_connection(
        &self,
        _tenant: &Tenant,
        id: ConnectionId,
        update: &ConnectionUpdate,
        now: Timestamp,
    ) -> Result<Option<Connection>> {
        let mut t = self.tables();
        let Some(c) = t.connections.iter_mut().find(|c| c.id == id) else {
            return Ok(None);
        };
        if let Some(name) = &update.name {
            c.name = name.clone();
        }
        if let Some(status) = update.status {
            c.status = status;
        }
        if let Some(schedule) = &update.schedule {
            c.schedule = schedule.clone();
        }
        c.updated_at = now;
        Ok(Some(c.clone()))
    }

    // Correct: a delete returns no row the guard could check.
    // LEAK: deletes by id only, whoever owns the row.
    fn delete_connection(&self, _tenant: &Tenant, id: ConnectionId) -> Result<bool> {
        let mut t = self.tables();
        let before = t.connections.len();
        t.connections.retain(|c| c.id != id);
        let deleted = t.connections.len() != before;
        if deleted {
            t.sync_runs.retain(|r| r.connection_id != id);
        }
        Ok(deleted)
    }

    fn insert_sync_run(&self, _tenant: &Tenant, row: &SyncRun) -> Result<()> {
        self.tables().sync_runs.push(row.clone());
        Ok(())
    }

    // LEAK: matches on id only.
    fn get_sync_run(&self, _tenant: &Tenant, id: SyncRunId) -> Result<Option<SyncRun>> {
        Ok(self.tables().sync_runs.iter().find(|r| r.id == id).cloned())
    }

    // LEAK: every run, of every connection of every tenant, newest first.
    fn list_sync_runs(
        &self,
        _tenant: &Tenant,
        _connection: ConnectionId,
        before: After,
        limit: usize,
    ) -> Result<Vec<SyncRun>> {
        let mut rows: Vec<SyncRun> = self
            .tables()
            .sync_runs
            .iter()
            .filter(|r| before.is_none_or(|b| (r.started_at, *r.id.as_uuid()) < b))
            .cloned()
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse((r.started_at, *r.id.as_uuid())));
        rows.truncate(limit);
        Ok(rows)
    }

    // LEAK: matches on id only.
    fn finish_sync_run(
        &self,
        _tenant: &Tenant,
        id: SyncRunId,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        let mut t = self.tables();
        let Some(r) = t
            .sync_runs
            .iter_mut()
            .find(|r| r.id == id && !r.status.is_finished())
        else {
            return Ok(None);
        };
        r.status = finish.status;
        r.finished_at = Some(finish.finished_at);
        r.rows_synced = finish.rows_synced;
        r.bytes_synced = finish.bytes_synced;
        r.error.clone_from(&finish.error);
        Ok(Some(r.clone()))
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

/// Where the foreign workspace B lives.
#[derive(Clone, Copy, Debug)]
enum Neighbour {
    /// In another organization: the guard's organization check must stop it.
    OtherOrg,
    /// In A's own organization: only the guard's workspace check can stop it.
    SameOrg,
}

const NEIGHBOURS: [Neighbour; 2] = [Neighbour::OtherOrg, Neighbour::SameOrg];

/// One workspace's objects, made through its own scope.
struct Rows {
    source: Source,
    destination: Destination,
    connection: Connection,
    run: SyncRun,
    /// A credential inside the source's configuration.
    secret: String,
}

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    /// The scope of A's organization (org 1).
    org_a: OrgScope,
    /// Workspace A, the caller in every test.
    a: WorkspaceScope,
    a_rows: Rows,
    /// Workspace B, the other tenant, created after A.
    b_workspace: Workspace,
    /// B's own scope, for writing more of B's rows.
    b: WorkspaceScope,
    b_rows: Rows,
}

fn name(text: &str) -> Name {
    text.parse().unwrap()
}

fn ext(text: &str) -> ExternalId {
    text.parse().unwrap()
}

fn tick(clock: &ManualClock) {
    clock.advance(Duration::from_secs(1));
}

/// Makes a source, a destination, a connection between them and one running sync, in `scope`.
fn seed(scope: &WorkspaceScope, clock: &ManualClock, tag: &str) -> Rows {
    let secret = format!("sk_live_{tag}_5ecret");
    tick(clock);
    let source = scope
        .create_source(NewSource {
            name: name(&format!("{tag} billing source")),
            connector: "stripe".parse().unwrap(),
            config: ConnectorConfig::from_json(&format!(r#"{{"api_key":"{secret}"}}"#)).unwrap(),
        })
        .unwrap();
    tick(clock);
    let destination = scope
        .create_destination(NewDestination {
            name: name(&format!("{tag} warehouse")),
            connector: "s3".parse().unwrap(),
            config: ConnectorConfig::from_json(&format!(r#"{{"bucket":"{tag}-bucket"}}"#)).unwrap(),
        })
        .unwrap();
    tick(clock);
    let connection = scope
        .create_connection(NewConnection {
            name: name(&format!("{tag} pipeline")),
            source_id: source.id,
            destination_id: destination.id,
            schedule: Schedule::Manual,
        })
        .unwrap();
    tick(clock);
    let run = scope.start_sync(connection.id).unwrap();
    Rows {
        source,
        destination,
        connection,
        run,
        secret,
    }
}

impl World {
    /// Org 1 with workspace A, org 2, and workspace B (in org 2 or in org 1); both workspaces
    /// hold a source, a destination, a connection and a sync run. B is created last.
    fn build(leak: Leak, neighbour: Neighbour) -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            1_700_000_000_000,
        )));
        let store: Arc<dyn Store> = Arc::new(LeakyStore::new(leak));
        let engine = Engine::new(store, clock.clone());

        let org1 = engine.create_organization("Org One").unwrap();
        let org2 = engine.create_organization("Org Two").unwrap();
        let org_a = engine.operator_org_scope(org1.id).unwrap();
        let org_b = match neighbour {
            Neighbour::OtherOrg => engine.operator_org_scope(org2.id).unwrap(),
            Neighbour::SameOrg => org_a.clone(),
        };

        tick(&clock);
        let a_workspace = org_a
            .get_or_create_workspace(&ext("cust-a"))
            .unwrap()
            .workspace;
        let a = org_a.workspace(a_workspace.id).unwrap();
        let a_rows = seed(&a, &clock, "alpha");

        tick(&clock);
        let b_workspace = org_b
            .get_or_create_workspace(&ext("cust-b"))
            .unwrap()
            .workspace;
        let b = org_b.workspace(b_workspace.id).unwrap();
        let b_rows = seed(&b, &clock, "bravo");

        assert_eq!(
            engine.isolation_breaches(),
            0,
            "the fixture itself breached"
        );
        Self {
            engine,
            clock,
            org_a,
            a,
            a_rows,
            b_workspace,
            b,
            b_rows,
        }
    }

    /// Text that identifies B or its objects; none of it may reach A.
    fn b_data(&self) -> Vec<String> {
        let b = &self.b_rows;
        vec![
            self.b_workspace.id.to_string(),
            self.b_workspace.external_id.to_string(),
            b.source.id.to_string(),
            b.source.name.to_string(),
            b.secret.clone(),
            b.destination.id.to_string(),
            b.destination.name.to_string(),
            "bravo-bucket".to_owned(),
            b.connection.id.to_string(),
            b.connection.name.to_string(),
            b.run.id.to_string(),
        ]
    }

    /// Runs `call` and asserts it was refused as a breach on a `kind`: an
    /// `Error::IsolationBreach` (no value at all, so none of B's data), counted exactly once, and
    /// whose error text names nothing of B's.
    #[track_caller]
    fn assert_refused<T: fmt::Debug>(&self, kind: ObjectKind, call: impl FnOnce() -> Result<T>) {
        let before = self.engine.isolation_breaches();
        let result = call();
        let after = self.engine.isolation_breaches();
        let err = match result {
            Err(err @ Error::IsolationBreach { kind: k }) if k == kind => err,
            other => panic!("expected an isolation breach on a {kind}, got {other:?}"),
        };
        assert_eq!(
            after,
            before + 1,
            "a refused call must be counted exactly once"
        );
        let text = format!("{err} / {err:?}");
        for foreign in self.b_data() {
            assert!(
                !text.contains(&foreign),
                "the error `{text}` reveals `{foreign}` of B"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Control
// ---------------------------------------------------------------------------------------------

/// With only A's own rows in the store (another organization exists, with no workspace), the
/// leaky store, in its leakiest mode, answers every call correctly and the guard refuses
/// nothing. So the refusals in the other tests come from the foreign rows.
#[test]
fn leaky_store_gives_correct_results_when_only_own_rows_exist() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
        1_700_000_000_000,
    )));
    let store: Arc<dyn Store> = Arc::new(LeakyStore::new(Leak::TenantAndOrgRows));
    let engine = Engine::new(store, clock.clone());
    let org1 = engine.create_organization("Org One").unwrap();
    engine.create_organization("Org Two").unwrap();
    let org_a = engine.operator_org_scope(org1.id).unwrap();
    let a_workspace = org_a
        .get_or_create_workspace(&ext("cust-a"))
        .unwrap()
        .workspace;
    let a = org_a.workspace(a_workspace.id).unwrap();
    let rows = seed(&a, &clock, "alpha");

    // Organization level.
    let listed = org_a
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(10))
        .unwrap();
    assert_eq!(listed.items, vec![a_workspace.clone()]);
    assert_eq!(listed.next, None);
    assert_eq!(org_a.get_workspace(a_workspace.id).unwrap(), a_workspace);
    assert_eq!(
        org_a.workspace_by_external_id(&ext("cust-a")).unwrap(),
        a_workspace
    );
    assert!(
        org_a
            .get_workspace(WorkspaceId::random())
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(a.workspace().unwrap(), a_workspace);

    // Gets.
    assert_eq!(a.get_source(rows.source.id).unwrap(), rows.source);
    assert_eq!(
        a.get_destination(rows.destination.id).unwrap(),
        rows.destination
    );
    assert_eq!(
        a.get_connection(rows.connection.id).unwrap(),
        rows.connection
    );
    assert_eq!(a.get_sync_run(rows.run.id).unwrap(), rows.run);
    assert!(a.get_source(SourceId::random()).unwrap_err().is_not_found());
    assert!(
        a.get_destination(DestinationId::random())
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        a.get_connection(ConnectionId::random())
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        a.get_sync_run(SyncRunId::random())
            .unwrap_err()
            .is_not_found()
    );

    // Lists.
    let page = Page::first(10);
    assert_eq!(
        a.list_sources(&page).unwrap().items,
        vec![rows.source.clone()]
    );
    assert_eq!(
        a.list_destinations(&page).unwrap().items,
        vec![rows.destination.clone()]
    );
    assert_eq!(
        a.list_connections(&page).unwrap().items,
        vec![rows.connection.clone()]
    );
    assert_eq!(
        a.list_sync_runs(rows.connection.id, &page).unwrap().items,
        vec![rows.run.clone()]
    );

    // Pagination through the stub's keyset handling.
    tick(&clock);
    let second = a
        .create_source(NewSource {
            name: name("alpha second source"),
            connector: "postgres".parse().unwrap(),
            config: ConnectorConfig::from_json("{}").unwrap(),
        })
        .unwrap();
    let first_page = a.list_sources(&Page::first(1)).unwrap();
    assert_eq!(first_page.items, vec![rows.source.clone()]);
    let next = first_page.next.expect("a second page");
    let second_page = a.list_sources(&Page::after(next, 1)).unwrap();
    assert_eq!(second_page.items, vec![second]);
    assert_eq!(second_page.next, None);

    // Updates.
    tick(&clock);
    let renamed = a
        .update_source(
            rows.source.id,
            &ConnectorUpdate {
                name: Some(name("alpha renamed")),
                config: None,
            },
        )
        .unwrap();
    assert_eq!(renamed.name, name("alpha renamed"));
    assert_eq!(renamed.workspace_id, a.workspace_id());
    let paused = a
        .update_connection(
            rows.connection.id,
            &ConnectionUpdate {
                status: Some(ConnectionStatus::Inactive),
                ..ConnectionUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(paused.status, ConnectionStatus::Inactive);
    let finished = a
        .finish_sync(rows.run.id, SyncOutcome::Succeeded { rows: 7, bytes: 70 })
        .unwrap();
    assert_eq!(finished.status, SyncStatus::Succeeded);
    assert_eq!(finished.rows_synced, 7);

    assert_eq!(engine.isolation_breaches(), 0);
}

/// In the tenant-only mode the organization-level reads are correct, so an organization sees
/// exactly its own workspaces even while B exists; the org-level refusals below come from the
/// second mode's leak, not from the stub.
#[test]
fn org_reads_are_correct_in_the_tenant_only_mode() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    let listed = w
        .org_a
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(10))
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![w.a.workspace_id()]
    );
    assert!(
        w.org_a
            .get_workspace(w.b_workspace.id)
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(w.engine.isolation_breaches(), 0);
}

// ---------------------------------------------------------------------------------------------
// Workspace level: every leaky read is refused
// ---------------------------------------------------------------------------------------------

#[test]
fn foreign_source_is_refused_by_id_and_in_lists() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let b_source = w.b_rows.source.id;
        w.assert_refused(ObjectKind::Source, || w.a.get_source(b_source));
        // A's own source comes first in the leaky listing; the whole call still fails.
        w.assert_refused(ObjectKind::Source, || w.a.list_sources(&Page::first(50)));
        // A's own source by id is still served.
        assert_eq!(w.a.get_source(w.a_rows.source.id).unwrap(), w.a_rows.source);
    }
}

#[test]
fn foreign_destination_is_refused_by_id_and_in_lists() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let b_destination = w.b_rows.destination.id;
        w.assert_refused(ObjectKind::Destination, || {
            w.a.get_destination(b_destination)
        });
        w.assert_refused(ObjectKind::Destination, || {
            w.a.list_destinations(&Page::first(50))
        });
        assert_eq!(
            w.a.get_destination(w.a_rows.destination.id).unwrap(),
            w.a_rows.destination
        );
    }
}

#[test]
fn foreign_connection_is_refused_by_id_and_in_lists() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let b_connection = w.b_rows.connection.id;
        w.assert_refused(ObjectKind::Connection, || w.a.get_connection(b_connection));
        w.assert_refused(ObjectKind::Connection, || {
            w.a.list_connections(&Page::first(50))
        });
        // Starting a sync resolves the connection through the guard first.
        w.assert_refused(ObjectKind::Connection, || w.a.start_sync(b_connection));
        assert_eq!(
            w.a.get_connection(w.a_rows.connection.id).unwrap(),
            w.a_rows.connection
        );
    }
}

#[test]
fn foreign_sync_run_is_refused_by_id_and_in_lists() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let b_run = w.b_rows.run.id;
        w.assert_refused(ObjectKind::SyncRun, || w.a.get_sync_run(b_run));
        // A's own connection: the leaky listing returns B's run alongside A's.
        let a_connection = w.a_rows.connection.id;
        w.assert_refused(ObjectKind::SyncRun, || {
            w.a.list_sync_runs(a_connection, &Page::first(50))
        });
        // B's connection: refused already when the connection is resolved.
        let b_connection = w.b_rows.connection.id;
        w.assert_refused(ObjectKind::Connection, || {
            w.a.list_sync_runs(b_connection, &Page::first(50))
        });
        assert_eq!(w.a.get_sync_run(w.a_rows.run.id).unwrap(), w.a_rows.run);
    }
}

#[test]
fn foreign_workspace_row_is_refused() {
    for neighbour in NEIGHBOURS {
        // The leaky `load_workspace` returns the newest workspace: B.
        let w = World::build(Leak::TenantRows, neighbour);
        w.assert_refused(ObjectKind::Workspace, || w.a.workspace());
    }
}

/// The leaky updates write whatever row has the id; the guard cannot undo that write (see the
/// report), but the foreign row they return never reaches A.
#[test]
fn foreign_rows_returned_by_updates_are_refused() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        tick(&w.clock);
        let b = &w.b_rows;
        let rename = ConnectorUpdate {
            name: Some(name("renamed by a")),
            config: None,
        };
        w.assert_refused(ObjectKind::Source, || {
            w.a.update_source(b.source.id, &rename)
        });
        w.assert_refused(ObjectKind::Destination, || {
            w.a.update_destination(b.destination.id, &rename)
        });
        w.assert_refused(ObjectKind::Connection, || {
            w.a.update_connection(
                b.connection.id,
                &ConnectionUpdate {
                    name: Some(name("renamed by a")),
                    ..ConnectionUpdate::default()
                },
            )
        });
        // Finishing reads the run through the guard before writing, so this one never writes.
        w.assert_refused(ObjectKind::SyncRun, || {
            w.a.finish_sync(b.run.id, SyncOutcome::Cancelled)
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Organization level (second mode)
// ---------------------------------------------------------------------------------------------

/// The leaky store's writes match on id only, so the only thing between A and B's rows is the
/// guarded read the engine makes before every write by id: B's rows must come out unchanged.
#[test]
fn foreign_writes_are_refused_before_they_reach_storage() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        tick(&w.clock);
        let b = &w.b_rows;
        let rename = ConnectorUpdate {
            name: Some(name("renamed by a")),
            config: None,
        };
        w.assert_refused(ObjectKind::Source, || {
            w.a.update_source(b.source.id, &rename)
        });
        w.assert_refused(ObjectKind::Source, || w.a.delete_source(b.source.id));
        w.assert_refused(ObjectKind::Destination, || {
            w.a.delete_destination(b.destination.id)
        });
        w.assert_refused(ObjectKind::Connection, || {
            w.a.delete_connection(b.connection.id)
        });
        w.assert_refused(ObjectKind::Source, || {
            w.a.create_connection(NewConnection {
                name: name("a to b's source"),
                source_id: b.source.id,
                destination_id: w.a_rows.destination.id,
                schedule: Schedule::Manual,
            })
        });
        assert_eq!(w.b.get_source(b.source.id).unwrap(), b.source);
        assert_eq!(
            w.b.get_destination(b.destination.id).unwrap(),
            b.destination
        );
        assert_eq!(w.b.get_connection(b.connection.id).unwrap(), b.connection);
        assert_eq!(w.b.get_sync_run(b.run.id).unwrap(), b.run);
        // Nothing new was stored for A: its only connection is the one it made itself.
        assert_eq!(
            w.a.get_connection(w.a_rows.connection.id).unwrap(),
            w.a_rows.connection
        );
    }
}

#[test]
fn org_reads_returning_another_orgs_workspace_are_refused() {
    let w = World::build(Leak::TenantAndOrgRows, Neighbour::OtherOrg);
    let b_id = w.b_workspace.id;
    w.assert_refused(ObjectKind::Workspace, || {
        w.org_a
            .list_workspaces(&WorkspaceFilter::default(), &Page::first(50))
    });
    w.assert_refused(ObjectKind::Workspace, || w.org_a.get_workspace(b_id));
    w.assert_refused(ObjectKind::Workspace, || {
        w.org_a.workspace_by_external_id(&ext("cust-b"))
    });
    w.assert_refused(ObjectKind::Workspace, || {
        w.org_a.update_workspace(
            b_id,
            &WorkspaceUpdate {
                name: Some(name("taken over")),
                status: None,
            },
        )
    });
    // No scope on B is ever handed out to org 1.
    w.assert_refused(ObjectKind::Workspace, || w.org_a.workspace(b_id));
    // Org 1's own workspace is still served.
    assert_eq!(
        w.org_a.get_workspace(w.a.workspace_id()).unwrap().id,
        w.a.workspace_id()
    );
}

// ---------------------------------------------------------------------------------------------
// Counting
// ---------------------------------------------------------------------------------------------

#[test]
fn isolation_breaches_counts_each_refused_call_exactly() {
    let w = World::build(Leak::TenantAndOrgRows, Neighbour::OtherOrg);
    let b = &w.b_rows;
    let page = Page::first(50);
    assert_eq!(w.engine.isolation_breaches(), 0);

    // More foreign rows, so a listing returns several of them.
    tick(&w.clock);
    w.b.create_source(NewSource {
        name: name("bravo second source"),
        connector: "postgres".parse().unwrap(),
        config: ConnectorConfig::from_json("{}").unwrap(),
    })
    .unwrap();
    w.b.start_sync(b.connection.id).unwrap();

    // Successful calls count nothing.
    w.a.get_source(w.a_rows.source.id).unwrap();
    w.a.get_sync_run(w.a_rows.run.id).unwrap();
    assert_eq!(w.engine.isolation_breaches(), 0);

    let refused = [
        w.a.get_source(b.source.id).is_err(),
        w.a.list_sources(&page).is_err(),
        w.a.get_destination(b.destination.id).is_err(),
        w.a.list_destinations(&page).is_err(),
        w.a.get_connection(b.connection.id).is_err(),
        w.a.list_connections(&page).is_err(),
        w.a.get_sync_run(b.run.id).is_err(),
        w.a.list_sync_runs(w.a_rows.connection.id, &page).is_err(),
        w.a.workspace().is_err(),
        w.org_a
            .list_workspaces(&WorkspaceFilter::default(), &page)
            .is_err(),
        w.org_a.workspace(w.b_workspace.id).is_err(),
    ];
    assert!(refused.iter().all(|r| *r));
    // One per refused call, even for lists holding several foreign rows.
    assert_eq!(w.engine.isolation_breaches(), refused.len() as u64);

    // The count lives in the engine and is shared by its clones.
    let clone = w.engine.clone();
    assert!(w.a.get_source(b.source.id).is_err());
    assert_eq!(clone.isolation_breaches(), refused.len() as u64 + 1);
}
