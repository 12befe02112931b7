//! The L2 guard alone stops a leak.
//!
//! The store under the engine is [`MemoryStore::leaky`]: a storage adapter with the classic
//! tenancy bug, and no database under it, so no L3 either (its module docs list every leak and
//! the switches that add more: [`Leak`], [`OrgLeaks`], [`TenantLeaks`], [`TokenLookup`]).
//!
//! These tests show that every such read reaching a scope, or `Engine::authenticate`, fails
//! closed with [`Error::IsolationBreach`], hands the caller none of the other tenant's data
//! (and no token, template or secret), and is counted by [`Engine::isolation_breaches`]; both
//! when the foreign workspace is in another organization (the org check) and when it is a
//! sibling in the caller's own organization (the workspace check). The [`OrgLeaks`] fail closed
//! as a caller would expect of a correct store: an invalid org key, or not found. Another
//! workspace's data key fails closed without the guard: it is sealed bound to its organization
//! and workspace, so it does not open as the caller's ([`Error::Crypto`]), and nothing is
//! revealed or sealed with it. Control tests show the same store gives correct answers while
//! only the caller's own rows exist, so the failures are caused by the foreign rows, not by the
//! stub.
//!
//! (These tests were `bulkhead-core/tests/leaky_store.rs`, with the store inline.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead_core::audit::{AuditEvent, AuditFilter};
use bulkhead_core::store::EndpointRow;
use bulkhead_core::{
    Algorithm, Clock, ConfigSpec, Connection, ConnectionStatus, ConnectionTemplate,
    ConnectionUpdate, ConnectorConfig, ConnectorUpdate, Cursor, Destination, Engine, EngineConfig,
    Error, ExternalId, IssuedToken, Jwks, ManualClock, MasterKey, Name, NewConnection,
    NewConnectionTemplate, NewDestination, NewSource, NewSourceFromTemplate, NewSourceTemplate,
    ObjectKind, OrgScope, OrgSettings, Page, Result, SECRET_MASK, Schedule, ScopedTokenRequest,
    Source, SourceFromTemplate, SourceId, SourceTemplate, SourceTemplateUpdate, Store, SyncOutcome,
    SyncRun, SyncRunId, SyncStatus, Tag, TagMode, TagSelection, Timestamp, TokenRejection,
    Workspace, WorkspaceFilter, WorkspaceId, WorkspaceScope, WorkspaceUpdate,
};
use bulkhead_core::{ConnectionId, DestinationId};
use bulkhead_testkit::memory::{Leak, MemoryStore, OrgLeaks, TenantLeaks, TokenLookup};

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
    /// The store under `engine`, to change how it leaks and to look at its rows.
    store: Arc<MemoryStore>,
    /// The scope of A's organization (org 1), from its org access key.
    org_a: OrgScope,
    /// The scope of org 2 (B's organization unless B is A's sibling), from its org access key.
    org2: OrgScope,
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

fn new_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_unix_millis(
        1_700_000_000_000,
    )))
}

/// An engine over `store`, with a fresh master key.
fn engine_over(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Engine {
    Engine::new(
        store,
        EngineConfig {
            clock,
            master_key: Arc::new(MasterKey::generate().unwrap()),
            token_leeway: Duration::from_secs(30),
        },
    )
    .unwrap()
}

/// `token` with its `sub` (workspace id) replaced by `workspace`, signed again with the HS256
/// `secret` of its own key: what an organization, which holds its signing secret, can make.
fn resign_with_subject(token: &str, secret: &[u8], workspace: WorkspaceId) -> String {
    let mut parts = token.split('.');
    let (header, payload) = (parts.next().unwrap(), parts.next().unwrap());
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"] = serde_json::Value::String(workspace.to_string());
    let input = format!(
        "{header}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let signature = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn is_breach<T>(result: &Result<T>) -> bool {
    matches!(result, Err(Error::IsolationBreach { .. }))
}

fn is_revoked(result: Result<WorkspaceScope>) -> bool {
    matches!(
        result,
        Err(Error::InvalidToken {
            reason: TokenRejection::Revoked,
            ..
        })
    )
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
        let clock = new_clock();
        let store = Arc::new(MemoryStore::leaky(leak));
        let engine = engine_over(store.clone(), clock.clone());

        let (org1, key1) = engine.create_organization("Org One").unwrap();
        let (org2, key2) = engine.create_organization("Org Two").unwrap();
        let org_a = engine.authenticate_org(key1.expose()).unwrap();
        assert_eq!(org_a.org_id(), org1.id);
        let org2_scope = engine.authenticate_org(key2.expose()).unwrap();
        assert_eq!(org2_scope.org_id(), org2.id);
        let org_b = match neighbour {
            Neighbour::OtherOrg => org2_scope.clone(),
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
            store,
            org_a,
            org2: org2_scope,
            a,
            a_rows,
            b_workspace,
            b,
            b_rows,
        }
    }

    /// Text that identifies B or its objects, or another organization's keys; none of it may
    /// reach A.
    fn b_data(&self) -> Vec<String> {
        let b = &self.b_rows;
        let own_org = self.org_a.org_id();
        let t = self.store.tables();
        let foreign_keys = t
            .org_keys
            .iter()
            .filter(|k| k.org_id != own_org)
            .map(|k| k.prefix.clone())
            .chain(
                t.signing_keys
                    .iter()
                    .filter(|k| k.org_id != own_org)
                    .map(|k| k.kid.clone()),
            );
        let mut data = vec![
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
            self.org2.org_id().to_string(),
            self.org2.organization().name.to_string(),
        ];
        data.extend(foreign_keys);
        data
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
        self.assert_reveals_nothing_of_b(&err);
    }

    /// Asserts that the text of `err` names nothing of B's (see [`World::b_data`]).
    #[track_caller]
    fn assert_reveals_nothing_of_b(&self, err: &Error) {
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
    let clock = new_clock();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::leaky(Leak::Everything));
    let engine = engine_over(store, clock.clone());
    let (org1, _) = engine.create_organization("Org One").unwrap();
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

/// The dashboard reads each workspace's connections and latest runs with the leaky
/// `workspace_activity`, which returns every tenant's: the overview fails closed, and the
/// breach is counted in the organization's stats. The leaky counts by status, carrying another
/// organization's `org_id`, fail closed too.
#[test]
fn foreign_rows_in_the_dashboard_are_refused() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let before = w.org_a.stats().isolation_breaches;
        w.assert_refused(ObjectKind::Connection, || {
            w.org_a
                .workspace_overview(&WorkspaceFilter::default(), &Page::first(10))
        });
        assert_eq!(w.org_a.stats().isolation_breaches, before + 1);
        // Counting by status is an organization-level read, correct in this mode.
        let expected = match neighbour {
            Neighbour::OtherOrg => 1,
            Neighbour::SameOrg => 2,
        };
        assert_eq!(w.org_a.workspace_stats().unwrap().total, expected);
    }
    let w = World::build(Leak::TenantAndOrgRows, Neighbour::OtherOrg);
    w.assert_refused(ObjectKind::Workspace, || w.org_a.workspace_stats());
    w.assert_refused(ObjectKind::Workspace, || w.org_a.workspace_creations(24));
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

/// A merge reads the rows it moves (with their sealed secrets) through the guard: with the
/// leaky listing handing it B's rows too, A's merge into another of its organization's
/// workspaces fails closed before it writes, and every row stays where it was.
#[test]
fn a_merge_that_reads_foreign_rows_is_refused_and_moves_nothing() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        tick(&w.clock);
        let into = w
            .org_a
            .get_or_create_workspace(&ext("cust-c"))
            .unwrap()
            .workspace;
        let before = w.store.tables().endpoints.clone();
        w.assert_refused(ObjectKind::Source, || {
            w.org_a
                .merge_workspaces(w.a_rows.source.workspace_id, into.id)
        });
        assert_eq!(w.store.tables().endpoints, before);
    }
}

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

// ---------------------------------------------------------------------------------------------
// Organization level (second mode)
// ---------------------------------------------------------------------------------------------

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
                ..WorkspaceUpdate::default()
            },
        )
    });
    // Revoking B's tokens reads B through the guard first, so the leaky write never runs.
    tick(&w.clock);
    w.assert_refused(ObjectKind::Workspace, || w.org_a.revoke_all_tokens(b_id));
    assert_eq!(w.b.workspace().unwrap(), w.b_workspace);
    // So does deleting B: the leaky delete, which matches the id in any organization, never
    // runs, and B keeps its rows.
    w.assert_refused(ObjectKind::Workspace, || w.org_a.delete_workspace(b_id));
    assert_eq!(w.b.workspace().unwrap(), w.b_workspace);
    assert_eq!(w.b.get_source(w.b_rows.source.id).unwrap(), w.b_rows.source);
    // No scope on B is ever handed out to org 1.
    w.assert_refused(ObjectKind::Workspace, || w.org_a.workspace(b_id));
    // Org 1's own workspace is still served.
    assert_eq!(
        w.org_a.get_workspace(w.a.workspace_id()).unwrap().id,
        w.a.workspace_id()
    );
}

// ---------------------------------------------------------------------------------------------
// Credentials and scoped tokens
// ---------------------------------------------------------------------------------------------

/// With one organization and its one workspace, the leaky store, in its leakiest mode and with
/// either way of losing the tenant in `load_token_state`, serves every credential path
/// correctly: access keys, signing keys, the JWKS, minting, authenticating and revoking scoped
/// tokens. So the refusals below come from the foreign rows.
#[test]
fn credential_paths_are_correct_when_only_own_rows_exist() {
    for lookup in [TokenLookup::Newest, TokenLookup::IdOnly] {
        let clock = new_clock();
        let store = Arc::new(MemoryStore::leaky(Leak::Everything));
        store.set_token_lookup(lookup);
        let engine = engine_over(store.clone(), clock.clone());
        let (org, key) = engine.create_organization("Org One").unwrap();
        let org_a = engine.authenticate_org(key.expose()).unwrap();
        assert_eq!(org_a.org_id(), org.id);

        // Access keys.
        let keys = org_a.list_keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].prefix, key.prefix());
        assert!(keys[0].last_used_at.is_some());
        tick(&clock);
        let (second, second_secret) = org_a.create_key(None).unwrap();
        assert_eq!(
            org_a
                .list_keys()
                .unwrap()
                .iter()
                .map(|k| k.id)
                .collect::<Vec<_>>(),
            vec![keys[0].id, second.id]
        );
        assert_eq!(
            engine
                .authenticate_org(second_secret.expose())
                .unwrap()
                .org_id(),
            org.id
        );
        assert!(org_a.revoke_key(second.id).unwrap().revoked_at.is_some());
        assert!(matches!(
            engine.authenticate_org(second_secret.expose()),
            Err(Error::InvalidOrgKey { .. })
        ));

        // Signing keys.
        let signing = org_a.signing_keys().unwrap();
        assert_eq!(signing.len(), 1);
        assert_eq!(signing[0].algorithm, Algorithm::Hs256);
        assert_eq!(signing[0].retire_at, None);
        assert_eq!(org_a.jwks().unwrap(), Jwks::default());
        assert!(
            !org_a
                .reveal_hs256_secret(&signing[0].kid)
                .unwrap()
                .expose()
                .is_empty()
        );

        // Minting and authenticating.
        tick(&clock);
        let first = org_a
            .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
            .unwrap();
        assert!(first.workspace_created);
        let scope = engine.authenticate(first.token.expose()).unwrap();
        assert_eq!(scope.org_id(), org.id);
        assert_eq!(scope.workspace_id(), first.workspace_id);
        assert_eq!(scope.token_id(), Some(first.token_id.as_str()));
        assert_eq!(scope.workspace().unwrap().external_id, ext("cust-a"));
        let again = org_a
            .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
            .unwrap();
        assert_eq!(again.workspace_id, first.workspace_id);
        assert!(!again.workspace_created);

        // Revoking one token, then all of them.
        org_a.revoke_token(first.token.expose()).unwrap();
        assert!(is_revoked(engine.authenticate(first.token.expose())));
        engine.authenticate(again.token.expose()).unwrap();
        tick(&clock);
        let revoked_all = org_a.revoke_all_tokens(again.workspace_id).unwrap();
        assert_eq!(revoked_all.tokens_valid_after, Some(clock.now()));
        assert!(is_revoked(engine.authenticate(again.token.expose())));

        // A switch to EdDSA: a new signer, the old key retiring, one public key in the JWKS.
        tick(&clock);
        org_a
            .update_settings(&OrgSettings {
                token_algorithm: Algorithm::EdDsa,
                ..OrgSettings::default()
            })
            .unwrap();
        let signing = org_a.signing_keys().unwrap();
        assert_eq!(
            signing
                .iter()
                .map(|k| (k.algorithm, k.retire_at.is_none()))
                .collect::<Vec<_>>(),
            vec![(Algorithm::EdDsa, true), (Algorithm::Hs256, false)]
        );
        let jwks = org_a.jwks().unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].kid, signing[0].kid);
        tick(&clock);
        let third = org_a
            .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
            .unwrap();
        assert_eq!(
            engine
                .authenticate(third.token.expose())
                .unwrap()
                .workspace_id(),
            first.workspace_id
        );

        assert_eq!(engine.isolation_breaches(), 0);
    }
}

/// A's own token, minted by its organization.
fn token_for_a(w: &World) -> IssuedToken {
    let issued = w
        .org_a
        .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
        .unwrap();
    assert_eq!(issued.workspace_id, w.a.workspace_id());
    issued
}

/// The leaky `load_token_state` answers A's token with B's workspace row: authenticating
/// fails closed, once counted, and hands out no scope (on A or on B).
#[test]
fn token_state_of_another_workspace_is_refused() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantRows, neighbour);
        let issued = token_for_a(&w);
        w.assert_refused(ObjectKind::Workspace, || {
            w.engine.authenticate(issued.token.expose())
        });
        // The token itself is sound: the offline checks, which read no workspace, pass.
        let claims = w.engine.verify_token(issued.token.expose()).unwrap();
        assert_eq!(claims.workspace_id, w.a.workspace_id());
    }
}

/// An organization holds its own HS256 secret, so it can sign a token naming any workspace id:
/// here B's, in org 2. A store whose token lookup matches the workspace id but not the
/// organization finds B; the guard refuses it.
#[test]
fn token_naming_another_orgs_workspace_is_refused() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    w.store.set_token_lookup(TokenLookup::IdOnly);
    let issued = token_for_a(&w);
    // The id-only lookup is right for A's own token.
    let scope = w.engine.authenticate(issued.token.expose()).unwrap();
    assert_eq!(
        (scope.org_id(), scope.workspace_id()),
        (w.org_a.org_id(), w.a.workspace_id())
    );

    let kid = w.org_a.signing_keys().unwrap()[0].kid.clone();
    let secret = w.org_a.reveal_hs256_secret(&kid).unwrap();
    let forged = resign_with_subject(issued.token.expose(), secret.expose(), w.b_workspace.id);
    let claims = w.engine.verify_token(&forged).unwrap();
    assert_eq!(
        (claims.org_id, claims.workspace_id),
        (w.org_a.org_id(), w.b_workspace.id)
    );
    w.assert_refused(ObjectKind::Workspace, || w.engine.authenticate(&forged));
}

/// The leaky get-or-create matches the external id in any organization and ignoring case: the
/// scoped-token flow gets B's workspace (org 2's `cust-b`, or the sibling `cust-b` for
/// `CUST-B`) and mints nothing.
#[test]
fn scoped_token_for_a_workspace_found_elsewhere_is_refused() {
    for neighbour in NEIGHBOURS {
        let w = World::build(Leak::TenantAndOrgRows, neighbour);
        let asked = match neighbour {
            // Only the guard's organization check can stop this one.
            Neighbour::OtherOrg => "cust-b",
            // B is org 1's own: only the external-id check can stop this one.
            Neighbour::SameOrg => "CUST-B",
        };
        w.assert_refused(ObjectKind::Workspace, || {
            w.org_a.scoped_token(&ScopedTokenRequest::new(ext(asked)))
        });
        // A's own customer still gets a token for A's workspace.
        let issued = token_for_a(&w);
        assert!(!issued.workspace_created);
    }
}

/// The leaky key listings return every organization's keys: the organization's key list,
/// signing keys, JWKS, HS256 secrets and its signer all fail closed instead of showing (or
/// using) org 2's.
#[test]
fn another_orgs_keys_are_refused() {
    let w = World::build(Leak::Everything, Neighbour::OtherOrg);
    // Org 2 gets a second access key and an EdDSA signer next to its HS256 key, so the leaky
    // listings hold org 2's key prefixes, an HS256 secret and a public key.
    tick(&w.clock);
    w.org2.create_key(None).unwrap();
    w.org2
        .update_settings(&OrgSettings {
            token_algorithm: Algorithm::EdDsa,
            ..OrgSettings::default()
        })
        .unwrap();
    let org2_hs256 = w
        .store
        .tables()
        .signing_keys
        .iter()
        .find(|k| k.org_id == w.org2.org_id() && k.algorithm == Algorithm::Hs256)
        .unwrap()
        .kid
        .clone();
    assert_eq!(w.engine.isolation_breaches(), 0);

    w.assert_refused(ObjectKind::Organization, || w.org_a.list_keys());
    w.assert_refused(ObjectKind::Organization, || w.org_a.signing_keys());
    w.assert_refused(ObjectKind::Organization, || w.org_a.jwks());
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a.reveal_hs256_secret(&org2_hs256)
    });
    // The signer is picked from the same listing: no token is minted either.
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a
            .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
    });
}

/// `list_audit` answers with every organization's events: listing org 1's events fails closed
/// (one counted breach each time, none of org 2's events or data reaching the caller), from the
/// start or past a cursor, and org 1's chain does not verify with org 2's events in it. Without
/// the leak, both read org 1's own chain.
#[test]
fn another_orgs_audit_events_are_refused() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    // This store chains only the events appended on their own: denials. A revoked key's use is
    // one, in its organization's chain; org 1 gets two, org 2 three (so that org 2 has events
    // past org 1's first, where the cursor below points).
    let denied_key_use = |org: &OrgScope| {
        let (info, secret) = org.create_key(None).unwrap();
        org.revoke_key(info.id).unwrap();
        assert!(matches!(
            w.engine.authenticate_org(secret.expose()),
            Err(Error::InvalidOrgKey { .. })
        ));
    };
    for org in [&w.org_a, &w.org_a, &w.org2, &w.org2, &w.org2] {
        denied_key_use(org);
    }
    let own = w
        .org_a
        .audit_events(&AuditFilter::default(), &Page::first(100))
        .unwrap()
        .items;
    assert!(own.len() > 1 && own.iter().all(|e| e.org_id == w.org_a.org_id()));
    assert!(w.org_a.verify_audit().unwrap().is_intact());
    let cursor = w
        .org_a
        .audit_events(&AuditFilter::default(), &Page::first(1))
        .unwrap()
        .next
        .unwrap();
    w.store.set_org_leaks(OrgLeaks {
        audit_of_every_org: true,
        ..OrgLeaks::default()
    });

    w.assert_refused(ObjectKind::Organization, || {
        w.org_a
            .audit_events(&AuditFilter::default(), &Page::first(100))
    });
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a
            .audit_events(&AuditFilter::default(), &Page::after(cursor, 100))
    });
    // Newest first too, from the newest and from a cursor.
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a
            .latest_audit_events(&AuditFilter::default(), &Page::first(100))
    });
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a.latest_audit_events(
            &AuditFilter::default(),
            &Page::after(Cursor::after_sequence(u64::MAX), 100),
        )
    });
    // Verification never takes org 2's events for org 1's: the chain is reported broken (or
    // the read refused as a breach, counted).
    let breaches = w.engine.isolation_breaches();
    match w.org_a.verify_audit() {
        Ok(verified) => {
            assert!(!verified.is_intact(), "{verified:?}");
            assert_eq!(w.engine.isolation_breaches(), breaches);
        }
        Err(Error::IsolationBreach { .. }) => {
            assert_eq!(w.engine.isolation_breaches(), breaches + 1);
        }
        Err(e) => panic!("expected a broken chain or a breach, got {e:?}"),
    }

    w.store.set_org_leaks(OrgLeaks::default());
    let after = w
        .org_a
        .audit_events(&AuditFilter::default(), &Page::first(100))
        .unwrap()
        .items;
    assert!(after.iter().all(|e| e.org_id == w.org_a.org_id()));
    assert_eq!(after.get(..own.len()), Some(&own[..]));
    assert!(w.org_a.verify_audit().unwrap().is_intact());
}

// ---------------------------------------------------------------------------------------------
// Organization rows and org keys (switched-on leaks)
// ---------------------------------------------------------------------------------------------

/// A made-up org key: the right prefix and 43 base64url characters (256 bits), which no
/// organization has.
fn made_up_org_key() -> String {
    let key = format!("bh_org_{}", URL_SAFE_NO_PAD.encode([0x5a_u8; 32]));
    assert_eq!(key.len(), "bh_org_".len() + 43);
    key
}

/// `find_org_key` ignores the hash and returns org 1's key for any key at all: a made-up key
/// gets no scope (and touches no key), and neither does org 2's real key, which would otherwise
/// open org 1. Org 1's own key, the row the leak happens to return, still works.
#[test]
fn org_key_lookup_ignoring_the_hash_gives_no_scope() {
    let clock = new_clock();
    let store = Arc::new(MemoryStore::leaky(Leak::TenantRows));
    let engine = engine_over(store.clone(), clock.clone());
    let (org1, key1) = engine.create_organization("Org One").unwrap();
    let (org2, key2) = engine.create_organization("Org Two").unwrap();
    engine.authenticate_org(key1.expose()).unwrap();
    engine.authenticate_org(key2.expose()).unwrap();
    store.set_org_leaks(OrgLeaks {
        key_of_any_hash: true,
        ..OrgLeaks::default()
    });
    // Past the touch interval, so a key that were taken for the made-up one would be touched.
    clock.advance(Duration::from_secs(120));
    let org1_key_before = store.tables().org_keys[0].clone();
    assert_eq!(org1_key_before.org_id, org1.id);

    let made_up = made_up_org_key();
    let result = engine.authenticate_org(&made_up);
    assert!(
        matches!(result, Err(Error::InvalidOrgKey { .. })),
        "a made-up org key got {:?}",
        result.map(|scope| scope.org_id())
    );
    assert_eq!(store.tables().org_keys[0], org1_key_before);

    let result = engine.authenticate_org(key2.expose());
    assert!(
        matches!(result, Err(Error::InvalidOrgKey { .. })),
        "org 2's key, answered with org 1's row, got {:?} (org 2 is {})",
        result.map(|scope| scope.org_id()),
        org2.id
    );

    // Control: org 1's key is the row the leak returns, and it is right for that key.
    assert_eq!(
        engine.authenticate_org(key1.expose()).unwrap().org_id(),
        org1.id
    );
    assert_eq!(engine.isolation_breaches(), 0);
}

/// `revoke_org_key` matches the key id in any organization: org 1 revoking org 2's key id gets
/// "not found", as for any key id it does not have, and org 2's key keeps working.
#[test]
fn revoking_another_orgs_key_is_not_found_and_leaves_it_working() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    tick(&w.clock);
    let (org2_key, org2_secret) = w.org2.create_key(None).unwrap();
    w.store.set_org_leaks(OrgLeaks {
        revoke_by_id_only: true,
        ..OrgLeaks::default()
    });

    let err = w.org_a.revoke_key(org2_key.id).unwrap_err();
    match &err {
        Error::NotFound {
            kind: ObjectKind::OrgKey,
            id,
        } => assert_eq!(*id, org2_key.id.to_string()),
        other => panic!("expected org key {} not found, got {other:?}", org2_key.id),
    }
    w.assert_reveals_nothing_of_b(&err);

    // Org 2's key was not revoked, and still opens org 2.
    let stored = w
        .store
        .tables()
        .org_keys
        .iter()
        .find(|k| k.id == org2_key.id)
        .cloned()
        .unwrap();
    assert_eq!(stored.revoked_at, None);
    assert_eq!(
        w.engine
            .authenticate_org(org2_secret.expose())
            .unwrap()
            .org_id(),
        w.org2.org_id()
    );

    // Control: the id-only write is right for org 1's own key.
    tick(&w.clock);
    let (own, own_secret) = w.org_a.create_key(None).unwrap();
    assert!(w.org_a.revoke_key(own.id).unwrap().revoked_at.is_some());
    assert!(matches!(
        w.engine.authenticate_org(own_secret.expose()),
        Err(Error::InvalidOrgKey { .. })
    ));
    assert_eq!(w.engine.isolation_breaches(), 0);
}

/// `update_org_settings` writes and returns org 2's row (the newest organization) whoever
/// calls: org 1's update is refused and hands org 1 nothing of org 2's row.
///
/// The leaky write itself has already replaced org 2's settings by the time the engine sees the
/// row it returns: the engine trusts the store's writes inside its transaction and checks what
/// comes back, so that write is not asserted on either way.
#[test]
fn settings_update_returning_another_org_is_refused() {
    let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
    w.store.set_org_leaks(OrgLeaks {
        settings_of_newest_org: true,
        ..OrgLeaks::default()
    });
    let settings = OrgSettings {
        issuer: "org-one-issuer".to_owned(),
        audience: "org-one-audience".to_owned(),
        ..OrgSettings::default()
    };
    w.assert_refused(ObjectKind::Organization, || {
        w.org_a.update_settings(&settings)
    });
}

/// `get_organization` returns org 2 (the newest organization) for any id: verifying org 1's
/// token finds no organization, instead of checking it against org 2's issuer and audience,
/// whether those would accept it (the same as org 1's) or reject it while naming org 2's.
#[test]
fn token_verification_treats_another_orgs_row_as_not_found() {
    let org2_settings = [
        OrgSettings::default(),
        OrgSettings {
            issuer: "org-two-issuer".to_owned(),
            audience: "org-two-audience".to_owned(),
            ..OrgSettings::default()
        },
    ];
    for settings in org2_settings {
        let w = World::build(Leak::TenantRows, Neighbour::OtherOrg);
        w.org2.update_settings(&settings).unwrap();
        let a_token = token_for_a(&w);
        let b_token = w
            .org2
            .scoped_token(&ScopedTokenRequest::new(ext("cust-b")))
            .unwrap();
        w.store.set_org_leaks(OrgLeaks {
            newest_org: true,
            ..OrgLeaks::default()
        });

        let err = w.engine.verify_token(a_token.token.expose()).unwrap_err();
        match &err {
            Error::NotFound {
                kind: ObjectKind::Organization,
                id,
            } => assert_eq!(*id, w.org_a.org_id().to_string()),
            other => panic!("expected organization not found, got {other:?}"),
        }
        w.assert_reveals_nothing_of_b(&err);
        if settings != OrgSettings::default() {
            // Org 2's own issuer and audience, which org 1 must not learn.
            let text = format!("{err} / {err:?}");
            for value in [&settings.issuer, &settings.audience] {
                assert!(!text.contains(value.as_str()), "`{text}` names `{value}`");
            }
        }

        // Control: for org 2's own token the leak returns the right row.
        assert_eq!(
            w.engine
                .verify_token(b_token.token.expose())
                .unwrap()
                .workspace_id,
            w.b_workspace.id
        );
    }
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
        is_breach(&w.a.get_source(b.source.id)),
        is_breach(&w.a.list_sources(&page)),
        is_breach(&w.a.get_destination(b.destination.id)),
        is_breach(&w.a.list_destinations(&page)),
        is_breach(&w.a.get_connection(b.connection.id)),
        is_breach(&w.a.list_connections(&page)),
        is_breach(&w.a.get_sync_run(b.run.id)),
        is_breach(&w.a.list_sync_runs(w.a_rows.connection.id, &page)),
        is_breach(&w.a.workspace()),
        is_breach(&w.org_a.list_workspaces(&WorkspaceFilter::default(), &page)),
        is_breach(&w.org_a.workspace(w.b_workspace.id)),
    ];
    assert!(refused.iter().all(|r| *r));
    // One per refused call, even for lists holding several foreign rows.
    assert_eq!(w.engine.isolation_breaches(), refused.len() as u64);

    // The count lives in the engine and is shared by its clones.
    let clone = w.engine.clone();
    assert!(is_breach(&w.a.get_source(b.source.id)));
    assert_eq!(clone.isolation_breaches(), refused.len() as u64 + 1);
}

// ---------------------------------------------------------------------------------------------
// Templates, tags and sealed secrets
// ---------------------------------------------------------------------------------------------

/// The spec of the test source templates: the customer's `/api_key` and the template's own
/// `/webhook_secret` are secret.
const SOURCE_SPEC: &str = r#"{
    "type": "object",
    "required": ["account", "api_key"],
    "properties": {
        "account": {"type": "string"},
        "api_key": {"type": "string", "airbyte_secret": true},
        "webhook_secret": {"type": "string", "airbyte_secret": true}
    }
}"#;

/// The spec of the test connection templates' destinations: `/access_key` is secret.
const DESTINATION_SPEC: &str = r#"{
    "type": "object",
    "required": ["bucket", "access_key"],
    "properties": {
        "bucket": {"type": "string"},
        "access_key": {"type": "string", "airbyte_secret": true}
    }
}"#;

fn tag(text: &str) -> Tag {
    text.parse().unwrap()
}

/// Selects the templates carrying any of `tags`.
fn selection<'a>(tags: impl IntoIterator<Item = &'a Tag>) -> TagSelection {
    TagSelection::new(tags.into_iter().cloned(), TagMode::Any)
}

/// An organization's catalog, made through its own scope: the tag `label`, and a source
/// template and a connection template carrying it, each holding a secret of its own.
struct Catalog {
    tag: Tag,
    source_template: SourceTemplate,
    connection_template: ConnectionTemplate,
    /// The secret in the source template's default configuration (`/webhook_secret`).
    template_secret: String,
    /// The secret in the connection template's destination configuration (`/access_key`).
    destination_secret: String,
}

fn make_catalog(org: &OrgScope, clock: &ManualClock, label: &str) -> Catalog {
    let tag = tag(label);
    tick(clock);
    org.create_tag(&tag).unwrap();
    let template_secret = format!("whsec_{label}_template");
    tick(clock);
    let source_template = org
        .create_source_template(NewSourceTemplate {
            name: name(&format!("{label} payments template")),
            connector: "stripe".parse().unwrap(),
            default_config: ConnectorConfig::from_json(&format!(
                r#"{{"account":"{label}-acct","webhook_secret":"{template_secret}"}}"#
            ))
            .unwrap(),
            spec: ConfigSpec::from_json(SOURCE_SPEC).unwrap(),
            tags: BTreeSet::from([tag.clone()]),
        })
        .unwrap();
    assert_eq!(
        source_template.default_config.as_map()["webhook_secret"],
        SECRET_MASK
    );
    let destination_secret = format!("AKIA_{label}_destination");
    tick(clock);
    let connection_template = org
        .create_connection_template(NewConnectionTemplate {
            name: name(&format!("{label} nightly")),
            destination_name: name(&format!("{label} lake")),
            destination_connector: "s3".parse().unwrap(),
            destination_config: ConnectorConfig::from_json(&format!(
                r#"{{"bucket":"{label}-lake","access_key":"{destination_secret}"}}"#
            ))
            .unwrap(),
            destination_spec: ConfigSpec::from_json(DESTINATION_SPEC).unwrap(),
            schedule: Schedule::Manual,
            tags: BTreeSet::from([tag.clone()]),
        })
        .unwrap();
    assert_eq!(
        connection_template.destination_config.as_map()["access_key"],
        SECRET_MASK
    );
    Catalog {
        tag,
        source_template,
        connection_template,
        template_secret,
        destination_secret,
    }
}

/// The customer `external_id` of `org`, selecting the templates tagged `tag`: its workspace
/// and the scope of a scoped token minted for it. (The leaky `load_token_state` returns the
/// newest workspace, so this is right only for the workspace made last.)
fn customer(
    engine: &Engine,
    org: &OrgScope,
    clock: &ManualClock,
    external_id: &str,
    tag: &Tag,
) -> (Workspace, WorkspaceScope) {
    tick(clock);
    let issued = org
        .scoped_token(
            &ScopedTokenRequest::new(ext(external_id))
                .source_tags(selection([tag]))
                .connection_tags(selection([tag])),
        )
        .unwrap();
    let scope = engine.authenticate(issued.token.expose()).unwrap();
    assert_eq!(scope.workspace_id(), issued.workspace_id);
    (org.get_workspace(issued.workspace_id).unwrap(), scope)
}

/// A request for a source from `template`, with the customer's secret `api_key`.
fn from_template(
    template: &SourceTemplate,
    source_name: &str,
    api_key: &str,
) -> NewSourceFromTemplate {
    NewSourceFromTemplate {
        template_id: template.id,
        name: name(source_name),
        config: ConnectorConfig::from_json(&format!(r#"{{"api_key":"{api_key}"}}"#)).unwrap(),
    }
}

/// What a workspace made from its organization's templates.
struct Made {
    made: SourceFromTemplate,
    /// The customer's secret in the source's configuration (`/api_key`).
    secret: String,
}

/// Makes a source from `catalog`'s source template in `scope`, which sees `catalog` only: the
/// source, and the destination and connection of its connection template.
fn make_source(
    scope: &WorkspaceScope,
    catalog: &Catalog,
    clock: &ManualClock,
    label: &str,
) -> Made {
    let secret = format!("sk_live_{label}_customer");
    tick(clock);
    let made = scope
        .create_source_from_template(from_template(
            &catalog.source_template,
            &format!("{label} payments"),
            &secret,
        ))
        .unwrap();
    assert_eq!(made.source.workspace_id, scope.workspace_id());
    assert_eq!(made.source.config.as_map()["api_key"], SECRET_MASK);
    assert_eq!(made.source.config.as_map()["webhook_secret"], SECRET_MASK);
    assert_eq!(made.destinations.len(), 1);
    assert_eq!(
        made.destinations[0].template_id,
        Some(catalog.connection_template.id)
    );
    assert_eq!(
        made.destinations[0].config.as_map()["access_key"],
        SECRET_MASK
    );
    assert_eq!(made.connections.len(), 1);
    assert_eq!(made.connections[0].source_id, made.source.id);
    assert_eq!(made.connections[0].destination_id, made.destinations[0].id);
    Made { made, secret }
}

/// Org 1 with workspace A, org 2, and workspace B (in org 2, or in org 1 as A's sibling). Each
/// workspace's organization has a catalog labelled for it (`alpha` for A, `bravo` for B; both
/// in org 1 when B is A's sibling), each workspace selects its own catalog only, and each made
/// a source from it, with the destination and connection of its connection template. So both
/// workspaces hold secrets sealed with their own data keys, and both catalogs hold secrets
/// sealed under the master key.
///
/// Unlike [`World`], B is made first and A last: the leaky `load_workspace` and
/// `load_token_state` return the newest workspace, so A's own workspace reads (and its token)
/// are right, and the only leak a test meets is the one it is about.
struct TemplateWorld {
    engine: Engine,
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    /// Org 1, A's organization.
    org_a: OrgScope,
    /// Org 2, whether or not B is in it.
    org2: OrgScope,
    /// B's organization: org 2, or org 1 when B is A's sibling.
    org_b: OrgScope,
    a_catalog: Catalog,
    b_catalog: Catalog,
    /// A's scope, from a scoped token.
    a: WorkspaceScope,
    a_made: Made,
    b_workspace: Workspace,
    b_made: Made,
}

impl TemplateWorld {
    fn build(neighbour: Neighbour) -> Self {
        let clock = new_clock();
        let store = Arc::new(MemoryStore::leaky(Leak::TenantRows));
        let engine = engine_over(store.clone(), clock.clone());
        let (_, key1) = engine.create_organization("Org One").unwrap();
        let (_, key2) = engine.create_organization("Org Two").unwrap();
        let org_a = engine.authenticate_org(key1.expose()).unwrap();
        let org2 = engine.authenticate_org(key2.expose()).unwrap();
        let org_b = match neighbour {
            Neighbour::OtherOrg => org2.clone(),
            Neighbour::SameOrg => org_a.clone(),
        };
        let a_catalog = make_catalog(&org_a, &clock, "alpha");
        let b_catalog = make_catalog(&org_b, &clock, "bravo");

        let (b_workspace, b) = customer(&engine, &org_b, &clock, "cust-b", &b_catalog.tag);
        let b_made = make_source(&b, &b_catalog, &clock, "bravo");
        let (_, a) = customer(&engine, &org_a, &clock, "cust-a", &a_catalog.tag);
        let a_made = make_source(&a, &a_catalog, &clock, "alpha");

        assert_eq!(
            engine.isolation_breaches(),
            0,
            "the fixture itself breached"
        );
        Self {
            engine,
            clock,
            store,
            org_a,
            org2,
            org_b,
            a_catalog,
            b_catalog,
            a,
            a_made,
            b_workspace,
            b_made,
        }
    }

    /// Text that identifies B, its objects, its catalog or another organization; none of it
    /// may reach A.
    fn b_data(&self) -> Vec<String> {
        let made = &self.b_made.made;
        let catalog = &self.b_catalog;
        let mut data = vec![
            self.b_workspace.id.to_string(),
            self.b_workspace.external_id.to_string(),
            made.source.id.to_string(),
            made.source.name.to_string(),
            made.destinations[0].id.to_string(),
            made.destinations[0].name.to_string(),
            made.connections[0].id.to_string(),
            "bravo-acct".to_owned(),
            "bravo-lake".to_owned(),
            catalog.source_template.id.to_string(),
            catalog.source_template.name.to_string(),
            catalog.connection_template.id.to_string(),
            catalog.connection_template.name.to_string(),
            self.org2.org_id().to_string(),
            self.org2.organization().name.to_string(),
        ];
        data.extend(self.b_secrets());
        data
    }

    /// B's secrets, and its catalog's.
    fn b_secrets(&self) -> Vec<String> {
        vec![
            self.b_made.secret.clone(),
            self.b_catalog.template_secret.clone(),
            self.b_catalog.destination_secret.clone(),
        ]
    }

    /// A's secrets, and its catalog's.
    fn a_secrets(&self) -> Vec<String> {
        vec![
            self.a_made.secret.clone(),
            self.a_catalog.template_secret.clone(),
            self.a_catalog.destination_secret.clone(),
        ]
    }

    /// Runs `call` and asserts it was refused as a breach on a `kind`, counted exactly once,
    /// with an error naming nothing of B's; returns the error.
    #[track_caller]
    fn assert_refused<T: fmt::Debug>(
        &self,
        kind: ObjectKind,
        call: impl FnOnce() -> Result<T>,
    ) -> Error {
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
        self.assert_names_none(&err, &self.b_data());
        err
    }

    /// Asserts that neither the text nor the `Debug` of `err` holds any of `texts`.
    #[track_caller]
    fn assert_names_none(&self, err: &Error, texts: &[String]) {
        let text = format!("{err} / {err:?}");
        for t in texts {
            assert!(
                !text.contains(t.as_str()),
                "the error `{text}` reveals `{t}`"
            );
        }
    }

    /// A's source and destination rows as stored, and A's connections.
    fn a_rows_in_store(&self) -> (Vec<EndpointRow>, Vec<Connection>) {
        let ws = self.a.workspace_id();
        let t = self.store.tables();
        (
            t.endpoints
                .iter()
                .filter(|r| r.workspace_id == ws)
                .cloned()
                .collect(),
            t.connections
                .iter()
                .filter(|c| c.workspace_id == ws)
                .cloned()
                .collect(),
        )
    }

    /// Asserts that the stored configurations and templates hold none of the secrets in clear.
    #[track_caller]
    fn assert_secrets_sealed_at_rest(&self) {
        let t = self.store.tables();
        let stored: Vec<String> = t
            .endpoints
            .iter()
            .map(|r| format!("{} {:?}", r.config.to_json(), r.secrets))
            .chain(
                t.templates
                    .iter()
                    .map(|r| format!("{} {}", r.body, r.secrets.to_stored())),
            )
            .collect();
        for secret in self.a_secrets().iter().chain(&self.b_secrets()) {
            for text in &stored {
                assert!(
                    !text.contains(secret.as_str()),
                    "`{secret}` is stored in clear"
                );
            }
        }
    }
}

/// The leaky store, with every catalog and data-key leak switched on, answers the catalog and
/// secret paths correctly while only one organization has templates and one workspace holds
/// secrets (org 2 exists, with neither): tags, templates, sources from templates reusing
/// their destination, reveals, updates of secrets, tag renames and deletes, a master key
/// rotation (which re-seals data keys, signing keys and template secrets) and deleting the
/// workspace. So the refusals and crypto failures below come from the foreign rows.
#[test]
fn catalog_paths_are_correct_when_only_own_rows_exist() {
    let clock = new_clock();
    let store = Arc::new(MemoryStore::leaky(Leak::TenantAndOrgRows));
    let engine = engine_over(store.clone(), clock.clone());
    let (_, key1) = engine.create_organization("Org One").unwrap();
    engine.create_organization("Org Two").unwrap();
    let org_a = engine.authenticate_org(key1.expose()).unwrap();
    store.set_org_leaks(OrgLeaks {
        templates_of_every_org: true,
        ..OrgLeaks::default()
    });
    store.set_tenant_leaks(TenantLeaks {
        first_data_key: true,
    });

    // Tags and templates.
    let catalog = make_catalog(&org_a, &clock, "alpha");
    tick(&clock);
    org_a.create_tag(&tag("beta")).unwrap();
    assert_eq!(
        org_a
            .list_tags()
            .unwrap()
            .iter()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>(),
        vec![tag("alpha"), tag("beta")]
    );
    assert!(matches!(
        org_a.create_tag(&tag("alpha")),
        Err(Error::Conflict { .. })
    ));
    assert_eq!(
        org_a.list_source_templates(None).unwrap(),
        vec![catalog.source_template.clone()]
    );
    assert_eq!(
        org_a
            .list_source_templates(Some(&selection([&tag("beta")])))
            .unwrap(),
        vec![]
    );
    assert_eq!(
        org_a
            .get_source_template(catalog.source_template.id)
            .unwrap(),
        catalog.source_template
    );
    assert_eq!(
        org_a.list_connection_templates(None).unwrap(),
        vec![catalog.connection_template.clone()]
    );
    assert_eq!(
        org_a
            .get_connection_template(catalog.connection_template.id)
            .unwrap(),
        catalog.connection_template
    );

    // A customer's workspace sees its templates and makes sources from them; the second
    // source reuses the first one's destination.
    let (a_workspace, a) = customer(&engine, &org_a, &clock, "cust-a", &catalog.tag);
    assert_eq!(
        a.source_templates().unwrap(),
        vec![catalog.source_template.clone()]
    );
    assert_eq!(
        a.connection_templates().unwrap(),
        vec![catalog.connection_template.clone()]
    );
    let first = make_source(&a, &catalog, &clock, "alpha");
    tick(&clock);
    let second = a
        .create_source_from_template(from_template(
            &catalog.source_template,
            "alpha second",
            "sk_live_alpha_second",
        ))
        .unwrap();
    assert_eq!(second.destinations, first.made.destinations);
    assert_eq!(second.connections[0].source_id, second.source.id);
    assert_eq!(
        second.connections[0].destination_id,
        first.made.destinations[0].id
    );
    assert_eq!(
        a.list_destinations(&Page::first(10)).unwrap().items,
        first.made.destinations
    );

    // Reveals: the customer's secret and the template's, the destination's.
    let reveal_source = |id: SourceId| org_a.reveal_source_config(a_workspace.id, id).unwrap();
    let revealed = reveal_source(first.made.source.id);
    assert_eq!(revealed.as_map()["api_key"], first.secret.as_str());
    assert_eq!(
        revealed.as_map()["webhook_secret"],
        catalog.template_secret.as_str()
    );
    assert_eq!(revealed.as_map()["account"], "alpha-acct");
    assert_eq!(
        reveal_source(second.source.id).as_map()["api_key"],
        "sk_live_alpha_second"
    );
    let destination = org_a
        .reveal_destination_config(a_workspace.id, first.made.destinations[0].id)
        .unwrap();
    assert_eq!(
        destination.as_map()["access_key"],
        catalog.destination_secret.as_str()
    );
    assert_eq!(
        a.get_source(first.made.source.id).unwrap().config.as_map()["api_key"],
        SECRET_MASK
    );

    // A new secret through the customer's scope; the masked template secret is kept.
    tick(&clock);
    let updated = a
        .update_source(
            first.made.source.id,
            &ConnectorUpdate {
                name: None,
                config: Some(
                    ConnectorConfig::from_json(
                        r#"{"account":"alpha-acct","api_key":"sk_live_alpha_rotated"}"#,
                    )
                    .unwrap(),
                ),
            },
        )
        .unwrap();
    assert_eq!(updated.config.as_map()["api_key"], SECRET_MASK);
    let revealed = reveal_source(first.made.source.id);
    assert_eq!(revealed.as_map()["api_key"], "sk_live_alpha_rotated");
    assert_eq!(
        revealed.as_map()["webhook_secret"],
        catalog.template_secret.as_str()
    );

    // Template updates and tag renames reach the workspace; a deleted tag matches nothing.
    tick(&clock);
    let renamed = org_a
        .update_source_template(
            catalog.source_template.id,
            &SourceTemplateUpdate {
                name: Some(name("alpha payments v2")),
                ..SourceTemplateUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(a.source_templates().unwrap(), vec![renamed.clone()]);
    org_a.rename_tag(&tag("alpha"), &tag("gamma")).unwrap();
    assert_eq!(
        org_a.get_workspace(a_workspace.id).unwrap().source_tags,
        selection([&tag("gamma")])
    );
    assert_eq!(
        a.source_templates().unwrap()[0].tags,
        BTreeSet::from([tag("gamma")])
    );
    assert!(matches!(
        org_a.rename_tag(&tag("gamma"), &tag("beta")),
        Err(Error::Conflict { .. })
    ));
    org_a.delete_tag(&tag("gamma")).unwrap();
    assert_eq!(a.source_templates().unwrap(), vec![]);
    assert_eq!(a.connection_templates().unwrap(), vec![]);
    assert!(
        org_a
            .get_source_template(catalog.source_template.id)
            .unwrap()
            .tags
            .is_empty()
    );

    // A new master key: data keys, signing keys and template secrets are re-sealed under it.
    let kid = org_a.signing_keys().unwrap()[0].kid.clone();
    let hs256 = org_a.reveal_hs256_secret(&kid).unwrap().expose().to_vec();
    let resealed = engine
        .rotate_master_key(MasterKey::generate().unwrap())
        .unwrap();
    // One data key, a signing key per organization, two templates.
    assert_eq!(resealed, 5);
    assert_eq!(
        reveal_source(second.source.id).as_map()["api_key"],
        "sk_live_alpha_second"
    );
    assert_eq!(org_a.reveal_hs256_secret(&kid).unwrap().expose(), hs256);
    org_a
        .update_workspace(
            a_workspace.id,
            &WorkspaceUpdate {
                source_tags: Some(TagSelection::default()),
                ..WorkspaceUpdate::default()
            },
        )
        .unwrap();
    tick(&clock);
    let third = a
        .create_source_from_template(from_template(
            &renamed,
            "alpha third",
            "sk_live_alpha_third",
        ))
        .unwrap();
    let revealed = reveal_source(third.source.id);
    assert_eq!(
        revealed.as_map()["webhook_secret"],
        catalog.template_secret.as_str()
    );
    assert_eq!(revealed.as_map()["api_key"], "sk_live_alpha_third");
    // Past the key cache: a token's signing key is unsealed under the new master key.
    clock.advance(Duration::from_secs(120));
    let issued = org_a
        .scoped_token(&ScopedTokenRequest::new(ext("cust-a")))
        .unwrap();
    assert_eq!(
        engine
            .authenticate(issued.token.expose())
            .unwrap()
            .workspace_id(),
        a_workspace.id
    );

    // Deleting templates, then the workspace with everything in it.
    org_a
        .delete_source_template(catalog.source_template.id)
        .unwrap();
    org_a
        .delete_connection_template(catalog.connection_template.id)
        .unwrap();
    assert_eq!(org_a.list_source_templates(None).unwrap(), vec![]);
    assert_eq!(org_a.list_connection_templates(None).unwrap(), vec![]);
    assert!(
        org_a
            .get_source_template(catalog.source_template.id)
            .unwrap_err()
            .is_not_found()
    );
    org_a.delete_workspace(a_workspace.id).unwrap();
    assert!(
        org_a
            .get_workspace(a_workspace.id)
            .unwrap_err()
            .is_not_found()
    );
    // A tombstone until purged: the rows are still there.
    assert!(!store.tables().workspaces.is_empty());
    org_a.purge_workspace(a_workspace.id).unwrap();
    {
        let t = store.tables();
        assert!(t.workspaces.is_empty());
        assert!(t.endpoints.is_empty());
        assert!(t.connections.is_empty());
        assert!(t.data_keys.is_empty());
    }
    assert_eq!(engine.isolation_breaches(), 0);
}

/// (a) `list_templates` and `get_template` answer with every organization's templates: every
/// organization-level and workspace-level template read fails closed, a source is never made
/// from org 2's template, and no error names anything of org 2's catalog.
#[test]
fn another_orgs_templates_are_refused() {
    let w = TemplateWorld::build(Neighbour::OtherOrg);
    let b = &w.b_catalog;
    w.store.set_org_leaks(OrgLeaks {
        templates_of_every_org: true,
        ..OrgLeaks::default()
    });
    let a_rows = w.a_rows_in_store();

    // Organization level. A filter only org 1's template matches does not help: every row is
    // checked before any is filtered.
    w.assert_refused(ObjectKind::SourceTemplate, || {
        w.org_a.list_source_templates(None)
    });
    w.assert_refused(ObjectKind::SourceTemplate, || {
        w.org_a
            .list_source_templates(Some(&selection([&w.a_catalog.tag])))
    });
    w.assert_refused(ObjectKind::SourceTemplate, || {
        w.org_a.get_source_template(b.source_template.id)
    });
    w.assert_refused(ObjectKind::ConnectionTemplate, || {
        w.org_a.list_connection_templates(None)
    });
    w.assert_refused(ObjectKind::ConnectionTemplate, || {
        w.org_a.get_connection_template(b.connection_template.id)
    });
    // Writes read the template through the check first: org 2's is never changed.
    w.assert_refused(ObjectKind::SourceTemplate, || {
        w.org_a.update_source_template(
            b.source_template.id,
            &SourceTemplateUpdate {
                name: Some(name("taken over")),
                ..SourceTemplateUpdate::default()
            },
        )
    });
    w.assert_refused(ObjectKind::SourceTemplate, || {
        w.org_a.delete_source_template(b.source_template.id)
    });

    // Workspace level: A selects only its own catalog, yet org 2's rows fail the whole call.
    w.assert_refused(ObjectKind::SourceTemplate, || w.a.source_templates());
    w.assert_refused(ObjectKind::ConnectionTemplate, || {
        w.a.connection_templates()
    });

    // A source from org 2's template: refused, as a breach or as a template A does not see,
    // and never made.
    tick(&w.clock);
    let before = w.engine.isolation_breaches();
    let result = w.a.create_source_from_template(from_template(
        &b.source_template,
        "alpha from bravo",
        "sk_live_alpha_stolen",
    ));
    let err = match result {
        Err(err @ Error::IsolationBreach { .. }) => {
            assert!(matches!(
                err,
                Error::IsolationBreach {
                    kind: ObjectKind::SourceTemplate
                }
            ));
            assert_eq!(w.engine.isolation_breaches(), before + 1);
            err
        }
        Err(err @ Error::PermissionDenied { .. }) => {
            assert_eq!(
                err.to_string(),
                "permission denied for `sources:create`: template not available to this workspace"
            );
            err
        }
        other => panic!("a source from org 2's template: {other:?}"),
    };
    w.assert_names_none(&err, &w.b_data());
    // From A's own template: org 2's connection templates are listed with A's, and fail the
    // call before anything is stored.
    w.assert_refused(ObjectKind::ConnectionTemplate, || {
        w.a.create_source_from_template(from_template(
            &w.a_catalog.source_template,
            "alpha second",
            "sk_live_alpha_second",
        ))
    });
    assert_eq!(w.a_rows_in_store(), a_rows);

    // Control: a lookup of org 1's own template by id gets the right row despite the leak.
    assert_eq!(
        w.org_a
            .get_source_template(w.a_catalog.source_template.id)
            .unwrap(),
        w.a_catalog.source_template
    );
    // Org 2's catalog is as it was.
    w.store.set_org_leaks(OrgLeaks::default());
    assert_eq!(
        w.org2.get_source_template(b.source_template.id).unwrap(),
        b.source_template
    );
    assert_eq!(
        w.org2.list_source_templates(None).unwrap(),
        vec![b.source_template.clone()]
    );
}

/// (b) `insert_source_with_pipelines` looks up the destination of each connection template
/// without the workspace: once A also selects its sibling B's connection template, the lookup
/// answers with B's destination of it (the oldest), and making a source fails closed with
/// nothing of B's. (Only a sibling shares connection templates with A, so this leak cannot
/// reach another organization.)
///
/// By the time the engine checks what the leaky store returned, the store has committed A's
/// new source, A's own destination of B's template, and A's connections from the new source,
/// one of them to B's destination (a row of A's naming B's destination): the engine checks
/// rows after the store's transaction, as for the leaky updates above, so those rows are not
/// asserted on either way.
#[test]
fn pipeline_destination_of_another_workspace_is_refused() {
    let w = TemplateWorld::build(Neighbour::SameOrg);
    // Control: with A's own connection template, the template-only lookup finds A's own
    // destination, which a second source reuses.
    tick(&w.clock);
    let again =
        w.a.create_source_from_template(from_template(
            &w.a_catalog.source_template,
            "alpha second",
            "sk_live_alpha_second",
        ))
        .unwrap();
    assert_eq!(again.destinations, w.a_made.made.destinations);

    w.org_a
        .update_workspace(
            w.a.workspace_id(),
            &WorkspaceUpdate {
                connection_tags: Some(selection([&w.a_catalog.tag, &w.b_catalog.tag])),
                ..WorkspaceUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        w.a.connection_templates().unwrap(),
        vec![
            w.a_catalog.connection_template.clone(),
            w.b_catalog.connection_template.clone()
        ]
    );
    tick(&w.clock);
    let stored_before = {
        let t = w.store.tables();
        (t.endpoints.len(), t.connections.len())
    };
    w.assert_refused(ObjectKind::Destination, || {
        w.a.create_source_from_template(from_template(
            &w.a_catalog.source_template,
            "alpha third",
            "sk_live_alpha_third",
        ))
    });
    // The guard ran before the store's commit: nothing of the refused call was kept, so no
    // connection of A's points at B's destination.
    let stored_after = {
        let t = w.store.tables();
        (t.endpoints.len(), t.connections.len())
    };
    assert_eq!(stored_after, stored_before, "the refused call stored rows");
    // The breach was found inside the store's transaction; it reached A's audit chain once
    // the store call returned (appending inside it would have deadlocked this store).
    let breaches: Vec<AuditEvent> = w
        .org_a
        .audit_events(&AuditFilter::default(), &Page::first(100))
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.draft.action == "isolation.breach")
        .collect();
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(breaches[0].draft.target, "destination");
    assert_eq!(breaches[0].draft.workspace_id, Some(w.a.workspace_id()));
    assert_eq!(breaches[0].draft.outcome, "denied: isolation breach");
    assert!(w.org_a.verify_audit().unwrap().is_intact());
    assert!(
        !w.store.tables().connections.iter().any(|c| {
            c.workspace_id == w.a.workspace_id()
                && w.b_made
                    .made
                    .destinations
                    .iter()
                    .any(|d| d.id == c.destination_id)
        }),
        "a connection of A's points at B's destination"
    );
    // B's destination is as it was.
    let b_destination = &w.b_made.made.destinations[0];
    let stored = w
        .store
        .tables()
        .endpoints
        .iter()
        .find(|r| r.id == *b_destination.id.as_uuid())
        .cloned()
        .unwrap();
    assert_eq!(
        (stored.workspace_id, &stored.name, &stored.config),
        (
            b_destination.workspace_id,
            &b_destination.name,
            &b_destination.config
        )
    );
}

/// (c) `workspace_data_key` answers A with the first data key stored, B's. A data key is
/// sealed bound to its organization and workspace, so B's does not open as A's: revealing
/// A's secrets fails with a crypto error (naming no secret of A's or B's), and nothing is
/// sealed with B's key for A: neither a new source nor a new secret is stored.
#[test]
fn another_workspaces_data_key_does_not_open() {
    for neighbour in NEIGHBOURS {
        let w = TemplateWorld::build(neighbour);
        w.store.set_tenant_leaks(TenantLeaks {
            first_data_key: true,
        });
        assert_eq!(w.store.tables().data_keys[0].workspace_id, w.b_workspace.id);
        let a_ws = w.a.workspace_id();
        let a_source = w.a_made.made.source.id;
        let a_rows = w.a_rows_in_store();
        let secrets: Vec<String> = w
            .a_secrets()
            .into_iter()
            .chain(w.b_secrets())
            .chain([
                "sk_live_alpha_second".to_owned(),
                "sk_live_alpha_rotated".to_owned(),
            ])
            .collect();
        let assert_crypto = |result: Result<String>| match result {
            Err(err @ Error::Crypto { .. }) => w.assert_names_none(&err, &secrets),
            other => panic!("expected a crypto error, got {other:?}"),
        };

        // Reveals.
        assert_crypto(
            w.org_a
                .reveal_source_config(a_ws, a_source)
                .map(|c| c.to_json()),
        );
        assert_crypto(
            w.org_a
                .reveal_destination_config(a_ws, w.a_made.made.destinations[0].id)
                .map(|c| c.to_json()),
        );
        // Seals: a new source with a secret, a new secret for A's source.
        tick(&w.clock);
        assert_crypto(
            w.a.create_source_from_template(from_template(
                &w.a_catalog.source_template,
                "alpha second",
                "sk_live_alpha_second",
            ))
            .map(|made| format!("{made:?}")),
        );
        assert_crypto(
            w.a.update_source(
                a_source,
                &ConnectorUpdate {
                    name: None,
                    config: Some(
                        ConnectorConfig::from_json(
                            r#"{"account":"alpha-acct","api_key":"sk_live_alpha_rotated"}"#,
                        )
                        .unwrap(),
                    ),
                },
            )
            .map(|source| format!("{source:?}")),
        );
        assert_eq!(w.a_rows_in_store(), a_rows);
        // The AAD stopped these, not the guard: nothing was counted.
        assert_eq!(w.engine.isolation_breaches(), 0);

        // Control: with the lookup right again, each workspace's key opens its own secrets.
        w.store.set_tenant_leaks(TenantLeaks::default());
        let revealed = w.org_a.reveal_source_config(a_ws, a_source).unwrap();
        assert_eq!(revealed.as_map()["api_key"], w.a_made.secret.as_str());
        assert_eq!(
            revealed.as_map()["webhook_secret"],
            w.a_catalog.template_secret.as_str()
        );
        let revealed = w
            .org_b
            .reveal_source_config(w.b_workspace.id, w.b_made.made.source.id)
            .unwrap();
        assert_eq!(revealed.as_map()["api_key"], w.b_made.secret.as_str());
        w.assert_secrets_sealed_at_rest();
    }
}

/// (d) The leaky `get_endpoint` answers by id only: A's organization revealing B's source or
/// destination through A's workspace is refused as a breach, so B's sealed secrets are never
/// opened, and no error names them. The secrets are sealed at rest too.
#[test]
fn revealing_another_workspaces_secrets_is_refused() {
    for neighbour in NEIGHBOURS {
        let w = TemplateWorld::build(neighbour);
        let b = &w.b_made.made;
        let a_ws = w.a.workspace_id();
        w.assert_refused(ObjectKind::Source, || {
            w.org_a.reveal_source_config(a_ws, b.source.id)
        });
        w.assert_refused(ObjectKind::Destination, || {
            w.org_a
                .reveal_destination_config(a_ws, b.destinations[0].id)
        });
        w.assert_refused(ObjectKind::Source, || w.a.get_source(b.source.id));
        // An update sending B's masked secret back would keep it: refused before any sealing.
        w.assert_refused(ObjectKind::Source, || {
            w.a.update_source(
                b.source.id,
                &ConnectorUpdate {
                    name: None,
                    config: Some(b.source.config.clone()),
                },
            )
        });
        w.assert_secrets_sealed_at_rest();

        // Control: A's own secrets are revealed to A's organization.
        let revealed = w
            .org_a
            .reveal_source_config(a_ws, w.a_made.made.source.id)
            .unwrap();
        assert_eq!(revealed.as_map()["api_key"], w.a_made.secret.as_str());
        let revealed = w
            .org_a
            .reveal_destination_config(a_ws, w.a_made.made.destinations[0].id)
            .unwrap();
        assert_eq!(
            revealed.as_map()["access_key"],
            w.a_catalog.destination_secret.as_str()
        );
    }
}
