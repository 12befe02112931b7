//! The adapter conformance suite: the storage contract of `bulkhead_core::store`, checked end
//! to end through the [`Engine`].
//!
//! Every test is a plain function `fn(factory: &dyn Fn() -> Harness)`, named for the property
//! it proves; an adapter runs them all with [`conformance_tests!`](crate::conformance_tests)
//! (and the fault sweeps with [`fault_injection_tests!`](crate::fault_injection_tests)):
//!
//! ```no_run
//! use std::sync::Arc;
//! use bulkhead_testkit::conformance::Harness;
//! # fn open_my_store() -> Arc<dyn bulkhead_core::Store> { unimplemented!() }
//!
//! /// A fresh, empty store of the adapter for each test.
//! fn harness() -> Harness {
//!     Harness::new(open_my_store())
//! }
//!
//! bulkhead_testkit::conformance_tests!(harness);
//! ```
//!
//! A [`Harness`] is an engine over the adapter's store with a manual clock, plus what the
//! adapter can offer besides: a `dump` of every stored tenant row, read around the engine
//! (without it, the checks that compare tenant views with the whole store are skipped, and say
//! so on stderr); a way to close and reopen the store; a [`Faults`] switch when the store is a
//! [`FaultyStore`](crate::wrappers::FaultyStore); and whether the store deliberately leaks (a
//! [`LeakyStore`](crate::wrappers::LeakyStore)), with the switch of its organization-level
//! leaks (templates, keys, audit events), which one test turns on. Over a leaky store, a call that meets a
//! foreign row may fail with [`Error::IsolationBreach`] instead of answering; the suite then
//! accepts that refusal where it expected an answer or not-found, counts it, and checks the
//! count against [`Engine::isolation_breaches`] when the harness is dropped. It never accepts
//! a foreign row.
//!
//! **Fault injection.** [`fault_injection_tests!`](crate::fault_injection_tests) sweeps N over
//! every write call of the operations that write several rows: a source from a template with
//! matching connection templates (source, destinations, connections), deleting a workspace, a
//! scoped-token request that creates or retags a workspace, rotating the master key. For each
//! N, on a fresh store, the operation fails with the injected fault, nothing it did is left
//! (the dump and the tenant views are as before), and the same operation then succeeds. The
//! [`FaultyStore`](crate::wrappers::FaultyStore) fails whole store calls, and the SQLite store
//! makes each of these operations' rows in one call, one transaction (a source with its
//! destinations and connections, a workspace with everything in it); so the sweep covers every
//! store write call the engine makes during the operation (for a source from a template: the
//! workspace's data key, then the source with its pipelines) and proves the engine leaves no
//! half-done state across calls. Atomicity inside one call is the adapter's to prove (the
//! `bulkhead` crate's `tests/faults.rs` aborts SQLite statements halfway through a
//! transaction).

use std::any::Any;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulkhead_core::{AuditEvent, AuditFilter, ConnectionId, DestinationId, SourceFromTemplate};
use bulkhead_core::{
    Clock, ConfigSpec, Connection, ConnectionStatus, ConnectionTemplate, ConnectionUpdate,
    ConnectorConfig, ConnectorUpdate, Destination, Engine, EngineConfig, Error, ExternalId,
    IssuedToken, ManualClock, MasterKey, NewConnection, NewConnectionTemplate, NewDestination,
    NewSource, NewSourceFromTemplate, NewSourceTemplate, OrgId, OrgKeySecret, OrgScope, Page,
    Paged, Result, SECRET_MASK, Schedule, ScopedTokenRequest, Source, SourceId, SourceTemplate,
    Store, SyncOutcome, SyncRun, SyncRunId, SyncStatus, Tag, TagMode, TagSelection, Timestamp,
    TokenRejection, Workspace, WorkspaceFilter, WorkspaceId, WorkspaceScope, WorkspaceStatus,
    WorkspaceUpdate,
};
use uuid::Uuid;

use crate::wrappers::Faults;

mod dashboard;
mod hardening;
mod sync_runs;
mod template_secrets;
mod worker_keys;
pub use dashboard::*;
pub use hardening::*;
pub use sync_runs::*;
pub use template_secrets::template_secrets_never_reach_a_customer_in_clear;
pub use worker_keys::*;

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

/// Where every harness clock starts: 2026-01-01T00:00:00Z.
pub const START: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);

/// The token leeway of every harness engine.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// The kind of a stored tenant row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowKind {
    /// A workspace (its `workspace_id` is its own id).
    Workspace,
    /// A source.
    Source,
    /// A destination.
    Destination,
    /// A connection.
    Connection,
    /// A sync run.
    SyncRun,
}

/// One stored tenant row, as a dump sees it: whose it is, not what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoredRow {
    /// Its kind.
    pub kind: RowKind,
    /// Its id.
    pub id: Uuid,
    /// Its organization.
    pub org_id: OrgId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
}

/// A tenant object, and the row it is stored as.
pub trait TenantObject {
    /// The row this object is stored as.
    fn stored_row(&self) -> StoredRow;
}

impl TenantObject for Workspace {
    fn stored_row(&self) -> StoredRow {
        StoredRow {
            kind: RowKind::Workspace,
            id: *self.id.as_uuid(),
            org_id: self.org_id,
            workspace_id: self.id,
        }
    }
}

impl TenantObject for Source {
    fn stored_row(&self) -> StoredRow {
        StoredRow {
            kind: RowKind::Source,
            id: *self.id.as_uuid(),
            org_id: self.org_id,
            workspace_id: self.workspace_id,
        }
    }
}

impl TenantObject for Destination {
    fn stored_row(&self) -> StoredRow {
        StoredRow {
            kind: RowKind::Destination,
            id: *self.id.as_uuid(),
            org_id: self.org_id,
            workspace_id: self.workspace_id,
        }
    }
}

impl TenantObject for Connection {
    fn stored_row(&self) -> StoredRow {
        StoredRow {
            kind: RowKind::Connection,
            id: *self.id.as_uuid(),
            org_id: self.org_id,
            workspace_id: self.workspace_id,
        }
    }
}

impl TenantObject for SyncRun {
    fn stored_row(&self) -> StoredRow {
        StoredRow {
            kind: RowKind::SyncRun,
            id: *self.id.as_uuid(),
            org_id: self.org_id,
            workspace_id: self.workspace_id,
        }
    }
}

/// An engine over one adapter's store, with a manual clock, and what the adapter offers
/// besides (see the module docs). Build one with [`Harness::new`] and the `with_*` methods.
pub struct Harness {
    // `None` only while reopening.
    engine: Option<Engine>,
    /// The store under `engine`, for [`Harness::another_engine`]; `None` only while
    /// reopening (so that the old store closes first).
    store: Option<Arc<dyn Store>>,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// Every stored tenant row (workspaces, sources, destinations, connections, sync runs),
    /// read around the engine and its tenants; `None` where the adapter cannot offer it (an
    /// in-memory database, reachable only through the store).
    pub dump: Option<Box<dyn Fn() -> Vec<StoredRow>>>,
    /// Every byte the database holds, read around the engine (see
    /// [`Harness::with_raw_bytes`]); `None` where the adapter cannot offer it.
    raw_bytes: Option<Box<dyn Fn() -> Vec<u8>>>,
    reopen: Option<Box<dyn Fn() -> Arc<dyn Store>>>,
    faults: Option<Arc<Faults>>,
    leaky: bool,
    org_leaks: Option<Box<dyn Fn(bool)>>,
    master_key: Arc<MasterKey>,
    breaches_seen: Cell<u64>,
    // Dropped last: the engine and its store may need it (a temporary directory).
    keep: Vec<Box<dyn Any>>,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("engine", &self.engine)
            .field("dump", &self.dump.is_some())
            .field("reopen", &self.reopen.is_some())
            .field("faults", &self.faults.is_some())
            .field("leaky", &self.leaky)
            .field("org_leaks", &self.org_leaks.is_some())
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// An engine over `store`, with a new random master key, a manual clock at [`START`] and
    /// the token leeway [`LEEWAY`].
    pub fn new(store: Arc<dyn Store>) -> Self {
        let clock = Arc::new(ManualClock::new(START));
        let master_key = Arc::new(MasterKey::generate().unwrap());
        let engine = engine_on(Arc::clone(&store), &clock, &master_key);
        Self {
            engine: Some(engine),
            store: Some(store),
            clock,
            dump: None,
            raw_bytes: None,
            reopen: None,
            faults: None,
            leaky: false,
            org_leaks: None,
            master_key,
            breaches_seen: Cell::new(0),
            keep: Vec::new(),
        }
    }

    /// Adds the dump of every stored tenant row.
    pub fn with_dump(mut self, dump: impl Fn() -> Vec<StoredRow> + 'static) -> Self {
        self.dump = Some(Box::new(dump));
        self
    }

    /// Adds a reader of every byte the database holds, as the adapter can read it around the
    /// engine: for a file, the file and its journal; for a server, every stored row as text.
    /// The checks that no secret is stored in clear search it.
    pub fn with_raw_bytes(mut self, read: impl Fn() -> Vec<u8> + 'static) -> Self {
        self.raw_bytes = Some(Box::new(read));
        self
    }

    /// Every byte the database holds now, or `None` without [`Harness::with_raw_bytes`].
    pub fn raw_bytes(&self) -> Option<Vec<u8>> {
        self.raw_bytes.as_ref().map(|read| read())
    }

    /// Adds a way to open the same database again (after the engine over it is dropped).
    pub fn with_reopen(mut self, open: impl Fn() -> Arc<dyn Store> + 'static) -> Self {
        self.reopen = Some(Box::new(open));
        self
    }

    /// Says the store is a `FaultyStore` driven by `faults`.
    pub fn with_faults(mut self, faults: Arc<Faults>) -> Self {
        self.faults = Some(faults);
        self
    }

    /// Says the store leaks on purpose: refusals by the guard are accepted (and counted).
    pub fn leaky(mut self) -> Self {
        self.leaky = true;
        self
    }

    /// Adds the switch of a leaky store's organization-level leaks (templates, keys, audit
    /// events: [`LeakyStore::leak_org_rows`](crate::wrappers::LeakyStore::leak_org_rows)),
    /// which are off until a test switches them on.
    pub fn with_org_leaks(mut self, switch: impl Fn(bool) + 'static) -> Self {
        self.org_leaks = Some(Box::new(switch));
        self
    }

    /// Switches the store's organization-level leaks on or off; `false` (and nothing done)
    /// where the harness has no such switch.
    pub fn leak_org_rows(&self, on: bool) -> bool {
        match &self.org_leaks {
            Some(switch) => {
                switch(on);
                true
            }
            None => false,
        }
    }

    /// Keeps `value` alive as long as the harness (after the engine is gone).
    pub fn keep_alive(mut self, value: impl Any) -> Self {
        self.keep.push(Box::new(value));
        self
    }

    /// Whether the store leaks on purpose.
    pub fn is_leaky(&self) -> bool {
        self.leaky
    }

    /// The fault switch of a `FaultyStore` harness.
    pub fn faults(&self) -> Option<&Faults> {
        self.faults.as_deref()
    }

    /// Whether [`Harness::reopen`] is supported.
    pub fn can_reopen(&self) -> bool {
        self.reopen.is_some()
    }

    /// The engine under test.
    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("the harness has an engine")
    }

    /// The store under the engine.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.store.as_ref().expect("the harness has a store")
    }

    /// A second engine on the same store, clock and master key: what another process on the
    /// same database would be (its own caches, the engine's in-memory state, its own view of
    /// what changed).
    pub fn another_engine(&self) -> Engine {
        let store = self.store.as_ref().expect("the harness has a store");
        engine_on(Arc::clone(store), &self.clock, &self.master_key)
    }

    /// Drops the engine, closing its store (the caller must have dropped every scope first),
    /// and opens a new one on the same database, with the same master key and clock.
    pub fn reopen(&mut self) {
        self.check_breaches();
        let open = self.reopen.as_ref().expect("this harness cannot reopen");
        self.engine = None;
        self.store = None;
        let store = open();
        self.engine = Some(engine_on(Arc::clone(&store), &self.clock, &self.master_key));
        self.store = Some(store);
        self.breaches_seen.set(0);
    }

    /// Every stored tenant row, or `None` without a dump.
    pub fn stored(&self) -> Option<BTreeSet<StoredRow>> {
        self.dump.as_ref().map(|dump| dump().into_iter().collect())
    }

    /// Moves the clock one second on.
    pub fn tick(&self) {
        self.clock.advance(Duration::from_secs(1));
    }

    /// What the clock reads.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The answer of a call that should answer; `None` where a leaky store made the guard
    /// refuse it (counted). Anything else fails the test.
    #[track_caller]
    pub fn answer<T>(&self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(Error::IsolationBreach { .. }) if self.leaky => {
                self.note_breach();
                None
            }
            Err(e) => panic!("expected an answer, got the error `{e}` ({e:?})"),
        }
    }

    /// Asserts the call failed with not-found (or, over a leaky store, was refused by the
    /// guard, which is counted).
    #[track_caller]
    pub fn assert_not_found<T: fmt::Debug>(&self, result: Result<T>) {
        match result {
            Err(e) if e.is_not_found() => {}
            Err(Error::IsolationBreach { .. }) if self.leaky => self.note_breach(),
            other => panic!("expected not found, got {other:?}"),
        }
    }

    /// Counts one refusal by the guard that the test has seen.
    pub fn note_breach(&self) {
        self.breaches_seen.set(self.breaches_seen.get() + 1);
    }

    /// Asserts every breach the engine counted was seen by the test as an
    /// [`Error::IsolationBreach`] (none at all over a correct store).
    #[track_caller]
    pub fn check_breaches(&self) {
        let Some(engine) = &self.engine else {
            return;
        };
        assert_eq!(
            engine.isolation_breaches(),
            self.breaches_seen.get(),
            "the engine counted a different number of isolation breaches than the calls reported"
        );
        if !self.leaky {
            assert_eq!(engine.isolation_breaches(), 0, "a correct store breached");
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.check_breaches();
        }
    }
}

/// An engine over `store` with `clock` and `master_key`, the leeway [`LEEWAY`].
pub fn engine_on(
    store: Arc<dyn Store>,
    clock: &Arc<ManualClock>,
    master_key: &Arc<MasterKey>,
) -> Engine {
    Engine::new(
        store,
        EngineConfig {
            clock: Arc::clone(clock) as Arc<dyn Clock>,
            master_key: Arc::clone(master_key),
            token_leeway: LEEWAY,
        },
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// An external id from text.
pub fn ext(text: &str) -> ExternalId {
    text.parse().unwrap()
}

/// A tag selection matching any of `tags`.
pub fn any_of(tags: &[&str]) -> TagSelection {
    TagSelection::parse(tags.iter().copied(), TagMode::Any).unwrap()
}

/// A new organization named `name`, logged in with its first key.
pub fn new_org(h: &Harness, name: &str) -> (OrgScope, OrgKeySecret) {
    let (_, key) = h.engine().create_organization(name).unwrap();
    (h.engine().authenticate_org(key.expose()).unwrap(), key)
}

/// The templates every fixture organization has: two source templates and two connection
/// templates, selected by the tags `production` and `premium`.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Source template `stripe`, tagged `production`; its spec marks `api_key` secret.
    pub stripe: SourceTemplate,
    /// Source template `hubspot`, tagged `premium`.
    pub hubspot: SourceTemplate,
    /// Connection template to `s3`, tagged `production`.
    pub s3: ConnectionTemplate,
    /// Connection template to `warehouse`, tagged `production` and `premium`.
    pub warehouse: ConnectionTemplate,
}

impl Catalog {
    /// The source templates, in creation order.
    pub fn source_templates(&self) -> [&SourceTemplate; 2] {
        [&self.stripe, &self.hubspot]
    }

    /// The connection templates, in creation order.
    pub fn connection_templates(&self) -> [&ConnectionTemplate; 2] {
        [&self.s3, &self.warehouse]
    }
}

fn tag(name: &str) -> Tag {
    name.parse().unwrap()
}

/// Creates the fixture catalog in `org` (the clock moves a second between templates, so they
/// list in creation order).
pub fn install_catalog(h: &Harness, org: &OrgScope) -> Catalog {
    for name in ["production", "premium"] {
        org.create_tag(&tag(name)).unwrap();
    }
    let spec = ConfigSpec::from_json(
        r#"{"type": "object", "required": ["account_id", "api_key"],
            "properties": {"account_id": {"type": "string"},
                           "api_key": {"type": "string", "airbyte_secret": true},
                           "start_date": {"type": "string"}}}"#,
    )
    .unwrap();
    let source_template = |name: &str, connector: &str, tag_name: &str| {
        h.tick();
        org.create_source_template(NewSourceTemplate {
            name: name.parse().unwrap(),
            connector: connector.parse().unwrap(),
            default_config: ConnectorConfig::from_json(r#"{"start_date": "2024-01-01"}"#).unwrap(),
            spec: spec.clone(),
            tags: [tag(tag_name)].into(),
        })
        .unwrap()
    };
    let stripe = source_template("Stripe", "stripe", "production");
    let hubspot = source_template("HubSpot", "hubspot", "premium");
    let connection_template = |name: &str, connector: &str, tags: &[&str]| {
        h.tick();
        org.create_connection_template(NewConnectionTemplate {
            name: name.parse().unwrap(),
            destination_name: format!("{name} destination").parse().unwrap(),
            destination_connector: connector.parse().unwrap(),
            destination_config: ConnectorConfig::from_json(r#"{"bucket": "exports"}"#).unwrap(),
            destination_spec: ConfigSpec::empty(),
            schedule: Schedule::Cron("0 * * * *".parse().unwrap()),
            tags: tags.iter().map(|t| tag(t)).collect(),
        })
        .unwrap()
    };
    let s3 = connection_template("To S3", "s3", &["production"]);
    let warehouse = connection_template("To warehouse", "warehouse", &["production", "premium"]);
    h.tick();
    Catalog {
        stripe,
        hubspot,
        s3,
        warehouse,
    }
}

/// A customer's configuration for a source from the fixture templates, with a secret.
pub fn template_config(account: &str) -> ConnectorConfig {
    ConnectorConfig::new(serde_json::json!({
        "account_id": account,
        "api_key": format!("sk_live_{account}"),
    }))
    .unwrap()
}

/// A request for a source from `template`.
pub fn from_template(template: &SourceTemplate, name: &str) -> NewSourceFromTemplate {
    NewSourceFromTemplate {
        template_id: template.id,
        name: name.parse().unwrap(),
        config: template_config(name),
    }
}

/// A raw source (organization access only).
pub fn raw_source(name: &str) -> NewSource {
    NewSource {
        name: name.parse().unwrap(),
        connector: "postgres".parse().unwrap(),
        config: ConnectorConfig::new(serde_json::json!({ "database": name })).unwrap(),
    }
}

/// A raw destination (organization access only).
pub fn raw_destination(name: &str) -> NewDestination {
    NewDestination {
        name: name.parse().unwrap(),
        connector: "bigquery".parse().unwrap(),
        config: ConnectorConfig::new(serde_json::json!({ "dataset": name })).unwrap(),
    }
}

/// A manual connection from `source` to `destination`.
pub fn new_connection(name: &str, source: SourceId, destination: DestinationId) -> NewConnection {
    NewConnection {
        name: name.parse().unwrap(),
        source_id: source,
        destination_id: destination,
        schedule: Schedule::Manual,
    }
}

/// The organization's scope of the workspace for `external_id`, created if needed.
pub fn workspace(org: &OrgScope, external_id: &str) -> WorkspaceScope {
    let ws = org.get_or_create_workspace(&ext(external_id)).unwrap();
    org.workspace(ws.workspace.id).unwrap()
}

/// A scoped token for `external_id` (default operations), and the scope it authenticates to.
pub fn token_scope(
    h: &Harness,
    org: &OrgScope,
    external_id: &str,
) -> (IssuedToken, WorkspaceScope) {
    let issued = org
        .scoped_token(&ScopedTokenRequest::new(ext(external_id)))
        .unwrap();
    let scope = h.engine().authenticate(issued.token.expose()).unwrap();
    (issued, scope)
}

/// A raw source, a raw destination and a connection between them, made in `ws` (an
/// organization's scope).
pub fn pipeline(ws: &WorkspaceScope, name: &str) -> (Source, Destination, Connection) {
    let source = ws.create_source(raw_source(name)).unwrap();
    let destination = ws.create_destination(raw_destination(name)).unwrap();
    let connection = ws
        .create_connection(new_connection(name, source.id, destination.id))
        .unwrap();
    (source, destination, connection)
}

/// Every item of a listing, page by page with `limit`, checking the pages: none larger than
/// the limit, every page before the last full, a cursor exactly when more items follow.
pub fn all_pages<T>(
    limit: u32,
    mut fetch: impl FnMut(&Page) -> Result<Paged<T>>,
) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut page = Page::first(limit);
    for _ in 0..100_000 {
        let got = fetch(&page)?;
        let n = got.items.len();
        assert!(
            n <= limit as usize,
            "a page of limit {limit} holds {n} items"
        );
        items.extend(got.items);
        match got.next {
            Some(cursor) => {
                assert_eq!(n, limit as usize, "a page before the last is not full");
                page = Page::after(cursor, limit);
            }
            None => return Ok(items),
        }
    }
    panic!("a listing did not end after 100000 pages")
}

/// Everything one workspace sees, every list read to its end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// Its sources, oldest first.
    pub sources: Vec<Source>,
    /// Its destinations, oldest first.
    pub destinations: Vec<Destination>,
    /// Its connections, oldest first.
    pub connections: Vec<Connection>,
    /// The sync runs of each of its connections, newest first.
    pub sync_runs: BTreeMap<ConnectionId, Vec<SyncRun>>,
}

impl View {
    /// Reads the view of `ws` (which needs every read operation) in pages of `limit`.
    pub fn read(ws: &WorkspaceScope, limit: u32) -> Result<Self> {
        let sources = all_pages(limit, |p| ws.list_sources(p))?;
        let destinations = all_pages(limit, |p| ws.list_destinations(p))?;
        let connections = all_pages(limit, |p| ws.list_connections(p))?;
        let mut sync_runs = BTreeMap::new();
        for c in &connections {
            sync_runs.insert(c.id, all_pages(limit, |p| ws.list_sync_runs(c.id, p))?);
        }
        Ok(Self {
            sources,
            destinations,
            connections,
            sync_runs,
        })
    }

    /// The rows of everything in the view.
    pub fn rows(&self) -> BTreeSet<StoredRow> {
        let mut rows = BTreeSet::new();
        rows.extend(self.sources.iter().map(TenantObject::stored_row));
        rows.extend(self.destinations.iter().map(TenantObject::stored_row));
        rows.extend(self.connections.iter().map(TenantObject::stored_row));
        rows.extend(
            self.sync_runs
                .values()
                .flatten()
                .map(TenantObject::stored_row),
        );
        rows
    }

    /// Asserts every row in the view belongs to `ws`'s workspace and organization, and no id
    /// appears twice.
    #[track_caller]
    pub fn assert_own(&self, org: OrgId, ws: WorkspaceId) {
        let rows = self.rows();
        let count = self.sources.len()
            + self.destinations.len()
            + self.connections.len()
            + self.sync_runs.values().map(Vec::len).sum::<usize>();
        assert_eq!(rows.len(), count, "an id appears twice in a listing");
        for row in rows {
            assert_eq!(
                (row.org_id, row.workspace_id),
                (org, ws),
                "a listing of workspace {ws} holds a foreign row {row:?}"
            );
        }
    }
}

impl View {
    /// The view of `ws` read object by object: each row the dump holds in its workspace, looked
    /// up by id through `ws` (so it must be found, and be that row), in list order. `None`
    /// without a dump, or where a lookup was refused (counted).
    pub fn look_up(h: &Harness, ws: &WorkspaceScope) -> Option<Self> {
        let rows = h.stored()?;
        let mut view = Self::default();
        let mut runs = Vec::new();
        let own = rows
            .into_iter()
            .filter(|r| r.org_id == ws.org_id() && r.workspace_id == ws.workspace_id());
        for row in own {
            match row.kind {
                RowKind::Workspace => continue,
                RowKind::Source => view
                    .sources
                    .push(h.answer(SourceId::from_uuid(row.id).and_then(|id| ws.get_source(id)))?),
                RowKind::Destination => view.destinations.push(h.answer(
                    DestinationId::from_uuid(row.id).and_then(|id| ws.get_destination(id)),
                )?),
                RowKind::Connection => view.connections.push(h.answer(
                    ConnectionId::from_uuid(row.id).and_then(|id| ws.get_connection(id)),
                )?),
                RowKind::SyncRun => runs.push(
                    h.answer(SyncRunId::from_uuid(row.id).and_then(|id| ws.get_sync_run(id)))?,
                ),
            }
        }
        let found: BTreeSet<StoredRow> = view
            .rows()
            .into_iter()
            .chain(runs.iter().map(TenantObject::stored_row))
            .collect();
        let wanted: BTreeSet<StoredRow> = h
            .stored()?
            .into_iter()
            .filter(|r| r.workspace_id == ws.workspace_id() && r.kind != RowKind::Workspace)
            .collect();
        assert_eq!(found, wanted, "a lookup by id answered with another row");
        view.sources
            .sort_by_key(|s| (s.created_at, *s.id.as_uuid()));
        view.destinations
            .sort_by_key(|d| (d.created_at, *d.id.as_uuid()));
        view.connections
            .sort_by_key(|c| (c.created_at, *c.id.as_uuid()));
        for c in &view.connections {
            view.sync_runs.insert(c.id, Vec::new());
        }
        runs.sort_by_key(|r| std::cmp::Reverse((r.started_at, *r.id.as_uuid())));
        for run in runs {
            view.sync_runs
                .entry(run.connection_id)
                .or_default()
                .push(run);
        }
        Some(view)
    }
}

/// Reads `ws`'s view, every listing to its end. Where a leaky store made the guard refuse a
/// listing (counted), the view is read object by object instead ([`View::look_up`]); `None`
/// only where that is not possible either (no dump).
pub fn view_of(h: &Harness, ws: &WorkspaceScope, limit: u32) -> Option<View> {
    let view = match h.answer(View::read(ws, limit)) {
        Some(view) => view,
        None => View::look_up(h, ws)?,
    };
    view.assert_own(ws.org_id(), ws.workspace_id());
    Some(view)
}

/// Every workspace of the organization, in pages of `limit`.
pub fn all_workspaces(org: &OrgScope, limit: u32) -> Result<Vec<Workspace>> {
    all_pages(limit, |p| {
        org.list_workspaces(&WorkspaceFilter::default(), p)
    })
}

#[track_caller]
fn assert_denied<T: fmt::Debug>(result: Result<T>) {
    assert!(
        matches!(result, Err(Error::PermissionDenied { .. })),
        "expected permission denied, got {result:?}"
    );
}

#[track_caller]
fn assert_conflict<T: fmt::Debug>(result: Result<T>) {
    assert!(
        matches!(result, Err(Error::Conflict { .. })),
        "expected a conflict, got {result:?}"
    );
}

#[track_caller]
fn assert_token_rejected<T: fmt::Debug>(result: Result<T>, reason: TokenRejection) {
    match result {
        Err(Error::InvalidToken { reason: got, .. }) if got == reason => {}
        other => panic!("expected an invalid token ({reason:?}), got {other:?}"),
    }
}

fn skipped(test: &str, what: &str) {
    eprintln!("{test}: skipped, the harness has no {what}");
}

// ---------------------------------------------------------------------------------------------
// Organizations and org keys
// ---------------------------------------------------------------------------------------------

/// An org key opens its own organization's scope, and no other.
pub fn org_key_opens_its_own_organization(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, acme_key) = new_org(&h, "Acme");
    let (globex, globex_key) = new_org(&h, "Globex");
    assert_ne!(acme.org_id(), globex.org_id());
    let again = h.engine().authenticate_org(acme_key.expose()).unwrap();
    assert_eq!(again.org_id(), acme.org_id());
    let again = h.engine().authenticate_org(globex_key.expose()).unwrap();
    assert_eq!(again.org_id(), globex.org_id());
    let ids: BTreeSet<OrgId> = h
        .engine()
        .organizations()
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, [acme.org_id(), globex.org_id()].into());
}

/// A wrong, revoked or expired org key is refused alike; the other keys keep working.
pub fn wrong_revoked_and_expired_org_keys_are_refused(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, first) = new_org(&h, "Acme");
    let mut wrong = first.expose().to_owned();
    let last = if wrong.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(wrong.len() - 1.., last);
    let invalid = |key: &str| {
        assert!(matches!(
            h.engine().authenticate_org(key),
            Err(Error::InvalidOrgKey { .. })
        ));
    };
    invalid(&wrong);

    let (second, second_key) = org.create_key(None).unwrap();
    assert!(h.engine().authenticate_org(second_key.expose()).is_ok());
    org.revoke_key(second.id).unwrap();
    invalid(second_key.expose());

    let expires = h.now().plus(Duration::from_secs(60));
    let (_, third_key) = org.create_key(Some(expires)).unwrap();
    assert!(h.engine().authenticate_org(third_key.expose()).is_ok());
    h.clock.advance(Duration::from_secs(61));
    invalid(third_key.expose());

    assert!(h.engine().authenticate_org(first.expose()).is_ok());
}

/// An organization cannot revoke (or see) another organization's keys.
pub fn another_organizations_org_key_is_not_found(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, acme_key) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let acme_keys = acme.list_keys().unwrap();
    assert_eq!(acme_keys.len(), 1);
    let globex_keys = globex.list_keys().unwrap();
    assert!(globex_keys.iter().all(|k| k.id != acme_keys[0].id));
    h.assert_not_found(globex.revoke_key(acme_keys[0].id));
    assert!(h.engine().authenticate_org(acme_key.expose()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Scoped tokens and workspaces
// ---------------------------------------------------------------------------------------------

/// Scoped tokens for one external id all get the one workspace, created by the first.
pub fn scoped_token_gets_or_creates_one_workspace_per_external_id(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let request = ScopedTokenRequest::new(ext("cust-1"));
    let first = org.scoped_token(&request).unwrap();
    assert!(first.workspace_created);
    let second = org.scoped_token(&request).unwrap();
    assert!(!second.workspace_created);
    assert_eq!(first.workspace_id, second.workspace_id);
    let got = org.get_or_create_workspace(&ext("cust-1")).unwrap();
    assert!(!got.created);
    assert_eq!(got.workspace.id, first.workspace_id);
    let all = all_workspaces(&org, 10).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].external_id, ext("cust-1"));
    assert_eq!(all[0].org_id, org.org_id());
}

/// External ids are exact, case-sensitive, and unique per organization only.
pub fn external_ids_are_per_organization_and_case_sensitive(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let lower = acme.get_or_create_workspace(&ext("cust-1")).unwrap();
    let upper = acme.get_or_create_workspace(&ext("Cust-1")).unwrap();
    let other = globex.get_or_create_workspace(&ext("cust-1")).unwrap();
    assert!(lower.created && upper.created && other.created);
    let ids: BTreeSet<WorkspaceId> = [lower.workspace.id, upper.workspace.id, other.workspace.id]
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(
        acme.workspace_by_external_id(&ext("cust-1")).unwrap().id,
        lower.workspace.id
    );
    assert_eq!(
        globex.workspace_by_external_id(&ext("cust-1")).unwrap().id,
        other.workspace.id
    );
    h.assert_not_found(acme.workspace_by_external_id(&ext("CUST-1")));
    h.assert_not_found(globex.workspace_by_external_id(&ext("Cust-1")));
}

/// A scoped-token request stores its tag selections on the workspace; one without keeps them.
pub fn scoped_token_request_stores_the_tag_selection(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    install_catalog(&h, &org);
    let issued = org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-1"))
                .source_tags(any_of(&["production"]))
                .connection_tags(any_of(&["premium"])),
        )
        .unwrap();
    let ws = org.get_workspace(issued.workspace_id).unwrap();
    assert_eq!(ws.source_tags, any_of(&["production"]));
    assert_eq!(ws.connection_tags, any_of(&["premium"]));

    org.scoped_token(&ScopedTokenRequest::new(ext("cust-1")))
        .unwrap();
    let kept = org.get_workspace(issued.workspace_id).unwrap();
    assert_eq!(kept.source_tags, any_of(&["production"]));

    org.scoped_token(&ScopedTokenRequest::new(ext("cust-1")).source_tags(any_of(&["premium"])))
        .unwrap();
    let changed = org.get_workspace(issued.workspace_id).unwrap();
    assert_eq!(changed.source_tags, any_of(&["premium"]));
    assert_eq!(changed.connection_tags, any_of(&["premium"]));
}

/// A scoped token authenticates to its own workspace and sees nothing of another.
pub fn scoped_token_reaches_its_own_workspace_only(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, mine) = token_scope(&h, &org, "cust-1");
    assert_eq!(mine.workspace_id(), issued.workspace_id);
    assert_eq!(mine.org_id(), org.org_id());
    assert!(mine.token_id().is_some());
    let theirs = workspace(&org, "cust-2");
    let (source, _, _) = pipeline(&theirs, "theirs");
    h.assert_not_found(mine.get_source(source.id));
    if let Some(view) = view_of(&h, &mine, 10) {
        assert_eq!(view, View::default());
    }
    assert_eq!(mine.workspace().unwrap().external_id, ext("cust-1"));
}

/// A token is accepted until its expiry plus the leeway, refused after; a new one works.
pub fn expired_scoped_token_is_refused_and_a_new_one_works(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, _) = token_scope(&h, &org, "cust-1");
    h.clock.set(issued.expires_at.plus(LEEWAY));
    assert!(h.engine().authenticate(issued.token.expose()).is_ok());
    h.clock.advance(Duration::from_millis(1));
    assert!(matches!(
        h.engine().authenticate(issued.token.expose()),
        Err(Error::TokenExpired { .. })
    ));
    let (fresh, scope) = token_scope(&h, &org, "cust-1");
    assert_eq!(fresh.workspace_id, issued.workspace_id);
    assert_eq!(scope.workspace_id(), issued.workspace_id);
}

/// A revoked token is refused; another token of the same workspace still works.
pub fn revoked_scoped_token_is_refused_and_the_others_still_work(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (revoked, _) = token_scope(&h, &org, "cust-1");
    let (kept, _) = token_scope(&h, &org, "cust-1");
    org.revoke_token(revoked.token.expose()).unwrap();
    assert_token_rejected(
        h.engine().authenticate(revoked.token.expose()),
        TokenRejection::Revoked,
    );
    assert!(h.engine().authenticate(kept.token.expose()).is_ok());
}

/// "Revoke all" refuses every token issued until then; tokens minted later work.
pub fn revoking_all_tokens_refuses_the_earlier_ones_only(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (old, _) = token_scope(&h, &org, "cust-1");
    let (other, _) = token_scope(&h, &org, "cust-2");
    h.tick();
    org.revoke_all_tokens(old.workspace_id).unwrap();
    h.tick();
    assert_token_rejected(
        h.engine().authenticate(old.token.expose()),
        TokenRejection::Revoked,
    );
    assert!(h.engine().authenticate(other.token.expose()).is_ok());
    let (_, fresh) = token_scope(&h, &org, "cust-1");
    assert_eq!(fresh.workspace_id(), old.workspace_id);
}

/// An organization cannot revoke, or revoke all of, another organization's tokens.
pub fn another_organizations_tokens_cannot_be_revoked(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let (issued, _) = token_scope(&h, &acme, "cust-1");
    assert_token_rejected(
        globex.revoke_token(issued.token.expose()),
        TokenRejection::Organization,
    );
    h.assert_not_found(globex.revoke_all_tokens(issued.workspace_id));
    h.tick();
    assert!(h.engine().authenticate(issued.token.expose()).is_ok());
}
/// A token whose header `kid` no engine makes (a NUL or another control character, empty,
/// longer than 64 bytes, outside base64url) is an invalid token (unknown key) on every store,
/// never a storage error: the `kid` is checked before any lookup. PostgreSQL refuses a NUL in
/// `text`, so before the check such a token from anyone turned into a storage error there.
pub fn kid_that_no_engine_makes_is_an_unknown_key(factory: &dyn Fn() -> Harness) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (issued, _) = token_scope(&h, &acme, "cust-1");
    let token = issued.token.expose();
    let mut parts = token.split('.');
    let (_, claims, signature) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    let long = "k".repeat(65);
    let huge = "k".repeat(2_000);
    for kid in [
        r"\u0000",
        r"abc\u0000",
        r"\u0001",
        r"\n",
        "",
        long.as_str(),
        huge.as_str(),
        "kid with spaces",
        r"\u00e9",
        "'; SELECT 1; --",
    ] {
        let header = format!(
            r#"{{"alg":"HS256","typ":"{}","kid":"{kid}"}}"#,
            bulkhead_core::token::TOKEN_TYPE
        );
        let forged = format!(
            "{}.{claims}.{signature}",
            URL_SAFE_NO_PAD.encode(header.as_bytes())
        );
        assert_token_rejected(h.engine().verify_token(&forged), TokenRejection::UnknownKey);
        assert_token_rejected(h.engine().authenticate(&forged), TokenRejection::UnknownKey);
    }
    // The engine still answers.
    assert!(h.engine().authenticate(token).is_ok());
}

/// A token of a deleted workspace is refused; its external id answers "workspace deleted"
/// until the workspace is purged, then starts a new workspace.
pub fn token_of_a_deleted_workspace_is_refused(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, _) = token_scope(&h, &org, "cust-1");
    org.delete_workspace(issued.workspace_id).unwrap();
    h.assert_not_found(h.engine().authenticate(issued.token.expose()));
    h.assert_not_found(org.get_workspace(issued.workspace_id));
    h.assert_not_found(org.workspace(issued.workspace_id));
    for result in [
        org.scoped_token(&ScopedTokenRequest::new(ext("cust-1")))
            .map(|_| ()),
        org.get_or_create_workspace(&ext("cust-1")).map(|_| ()),
        org.workspace_by_external_id(&ext("cust-1")).map(|_| ()),
    ] {
        assert!(
            matches!(&result, Err(Error::WorkspaceDeleted { external_id }) if external_id == "cust-1"),
            "{result:?}"
        );
    }
    assert!(
        all_workspaces(&org, 10)
            .unwrap()
            .iter()
            .all(|w| w.id != issued.workspace_id)
    );
    org.purge_workspace(issued.workspace_id).unwrap();
    let (fresh, _) = token_scope(&h, &org, "cust-1");
    assert!(fresh.workspace_created);
    assert_ne!(fresh.workspace_id, issued.workspace_id);
}

/// An inactive workspace refuses its tokens and gets no new ones.
pub fn inactive_workspace_refuses_its_tokens(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (issued, _) = token_scope(&h, &org, "cust-1");
    let update = WorkspaceUpdate {
        status: Some(WorkspaceStatus::Inactive),
        ..WorkspaceUpdate::default()
    };
    org.update_workspace(issued.workspace_id, &update).unwrap();
    assert!(matches!(
        h.engine().authenticate(issued.token.expose()),
        Err(Error::WorkspaceInactive { .. })
    ));
    assert!(matches!(
        org.scoped_token(&ScopedTokenRequest::new(ext("cust-1"))),
        Err(Error::WorkspaceInactive { .. })
    ));
}

/// Making a workspace inactive pauses its active connections and leaves the organization a
/// scope that only reads; making it active again resumes exactly the connections it paused.
pub fn inactive_workspace_pauses_its_connections_and_resumes_them(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, running) = pipeline(&ws, "running");
    let (_, _, stopped) = pipeline(&ws, "stopped");
    ws.update_connection(
        stopped.id,
        &ConnectionUpdate {
            status: Some(ConnectionStatus::Inactive),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap();
    let other = workspace(&org, "cust-2");
    let (_, _, elsewhere) = pipeline(&other, "elsewhere");
    let status = |update| WorkspaceUpdate {
        status: Some(update),
        ..WorkspaceUpdate::default()
    };

    org.update_workspace(ws.workspace_id(), &status(WorkspaceStatus::Inactive))
        .unwrap();
    let read_only = org.workspace(ws.workspace_id()).unwrap();
    // Behind a leaky store a listing may be refused (a counted breach): the view is then read
    // by id, and only without a dump is there nothing to compare.
    let statuses = |scope: &WorkspaceScope| -> Option<BTreeMap<ConnectionId, ConnectionStatus>> {
        view_of(&h, scope, 10).map(|view| {
            view.connections
                .into_iter()
                .map(|c| (c.id, c.status))
                .collect()
        })
    };
    let check = |got: Option<BTreeMap<ConnectionId, ConnectionStatus>>,
                 expected: &[(ConnectionId, ConnectionStatus)]| {
        if let Some(got) = got {
            assert_eq!(got, expected.iter().copied().collect());
        }
    };
    check(
        statuses(&read_only),
        &[
            (running.id, ConnectionStatus::Inactive),
            (stopped.id, ConnectionStatus::Inactive),
        ],
    );
    assert!(matches!(
        read_only.start_sync(running.id),
        Err(Error::WorkspaceInactive { .. })
    ));
    assert!(matches!(
        read_only.create_source(raw_source("new")),
        Err(Error::WorkspaceInactive { .. })
    ));
    // Another workspace's connections are untouched.
    check(
        statuses(&other),
        &[(elsewhere.id, ConnectionStatus::Active)],
    );

    org.update_workspace(ws.workspace_id(), &status(WorkspaceStatus::Active))
        .unwrap();
    let active = org.workspace(ws.workspace_id()).unwrap();
    check(
        statuses(&active),
        &[
            (running.id, ConnectionStatus::Active),
            (stopped.id, ConnectionStatus::Inactive),
        ],
    );
    active.start_sync(running.id).unwrap();
    let audit = all_audit(&org);
    let updates = actions(&audit)
        .into_iter()
        .filter(|a| *a == "workspace.update")
        .count();
    assert_eq!(updates, 2);
}

/// One call purges every workspace deleted at least the retention period ago, and no other;
/// each purge is audited and frees the external id.
pub fn purging_deleted_workspaces_respects_the_retention(factory: &dyn Fn() -> Harness) {
    const DAY: Duration = Duration::from_secs(86_400);
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Globex");
    let old = workspace(&org, "old");
    let recent = workspace(&org, "recent");
    let live = workspace(&org, "live");
    let foreign = workspace(&other, "old");
    org.delete_workspace(old.workspace_id()).unwrap();
    other.delete_workspace(foreign.workspace_id()).unwrap();
    h.clock.advance(10 * DAY);
    org.delete_workspace(recent.workspace_id()).unwrap();

    assert_eq!(org.purge_deleted_workspaces(7 * DAY).unwrap(), 1);
    assert!(
        !org.get_or_create_workspace(&ext("old"))
            .unwrap()
            .workspace
            .is_deleted()
    );
    assert!(matches!(
        org.get_or_create_workspace(&ext("recent")),
        Err(Error::WorkspaceDeleted { .. })
    ));
    assert!(matches!(
        other.get_or_create_workspace(&ext("old")),
        Err(Error::WorkspaceDeleted { .. })
    ));
    assert_eq!(
        org.get_workspace(live.workspace_id()).unwrap().id,
        live.workspace_id()
    );

    h.clock.advance(8 * DAY);
    assert_eq!(org.purge_deleted_workspaces(7 * DAY).unwrap(), 1);
    assert!(org.get_or_create_workspace(&ext("recent")).unwrap().created);
    assert_eq!(org.purge_deleted_workspaces(Duration::ZERO).unwrap(), 0);
    let audit = all_audit(&org);
    let got = actions(&audit);
    assert_eq!(got.iter().filter(|a| **a == "workspace.delete").count(), 2);
    assert_eq!(got.iter().filter(|a| **a == "workspace.purge").count(), 2);
    assert!(org.verify_audit().unwrap().is_intact());
}

/// An organization's workspaces list in pages by external id, without another's.
pub fn workspaces_list_in_pages_by_external_id(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let names = ["d", "a", "c-2", "b", "c-1", "e", "C"];
    for name in names {
        acme.get_or_create_workspace(&ext(name)).unwrap();
    }
    globex.get_or_create_workspace(&ext("a")).unwrap();
    let mut expected: Vec<&str> = names.to_vec();
    expected.sort_unstable();
    for limit in 1..=8 {
        let Some(all) = h.answer(all_workspaces(&acme, limit)) else {
            continue;
        };
        let got: Vec<&str> = all.iter().map(|w| w.external_id.as_str()).collect();
        assert_eq!(got, expected, "limit {limit}");
        assert!(all.iter().all(|w| w.org_id == acme.org_id()));
    }
    let filter = WorkspaceFilter {
        external_id_prefix: Some("c-".to_owned()),
        status: None,
        name_contains: None,
    };
    if let Some(page) = h.answer(acme.list_workspaces(&filter, &Page::first(10))) {
        let got: Vec<&str> = page.items.iter().map(|w| w.external_id.as_str()).collect();
        assert_eq!(got, ["c-1", "c-2"]);
    }
}

/// The name filter matches a substring of the display name ignoring the case of ASCII letters
/// only (so both adapters agree whatever their locale), takes `%` and `_` literally, pages
/// like the whole list, combines with the status filter, and never reaches another
/// organization's workspaces.
pub fn workspaces_filter_by_name_contains_ignoring_ascii_case(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let names = [
        ("a", "Alpha Corp"),
        ("b", "beta CORP"),
        ("c", "Gamma"),
        ("d", "Ünïcode corp"),
        ("e", "50% off_sale"),
    ];
    for (external_id, name) in names {
        let id = acme
            .get_or_create_workspace(&ext(external_id))
            .unwrap()
            .workspace
            .id;
        let rename = WorkspaceUpdate {
            name: Some(name.parse().unwrap()),
            ..WorkspaceUpdate::default()
        };
        acme.update_workspace(id, &rename).unwrap();
    }
    let theirs = globex.get_or_create_workspace(&ext("a")).unwrap().workspace;
    let rename = WorkspaceUpdate {
        name: Some("Alpha Corp".parse().unwrap()),
        ..WorkspaceUpdate::default()
    };
    globex.update_workspace(theirs.id, &rename).unwrap();
    let b = acme.workspace_by_external_id(&ext("b")).unwrap();
    acme.update_workspace(
        b.id,
        &WorkspaceUpdate {
            status: Some(WorkspaceStatus::Inactive),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();

    let matching = |text: &str, status: Option<WorkspaceStatus>, limit: u32| {
        let filter = WorkspaceFilter {
            name_contains: Some(text.to_owned()),
            status,
            ..WorkspaceFilter::default()
        };
        h.answer(all_pages(limit, |p| acme.list_workspaces(&filter, p)))
            .map(|all| {
                assert!(all.iter().all(|w| w.org_id == acme.org_id()));
                all.iter()
                    .map(|w| w.external_id.as_str().to_owned())
                    .collect::<Vec<_>>()
            })
    };
    for limit in [1, 2, 10] {
        if let Some(got) = matching("corp", None, limit) {
            assert_eq!(got, ["a", "b", "d"], "limit {limit}");
        }
    }
    let cases: [(&str, Option<WorkspaceStatus>, &[&str]); 9] = [
        ("CoRp", None, &["a", "b", "d"]),
        ("corp", Some(WorkspaceStatus::Active), &["a", "d"]),
        ("corp", Some(WorkspaceStatus::Inactive), &["b"]),
        ("ha c", None, &["a"]),
        ("Ünï", None, &["d"]),
        // Only ASCII letters fold: `Ï` does not match `ï`.
        ("ÜNÏ", None, &[]),
        ("%", None, &["e"]),
        ("f_s", None, &["e"]),
        ("", None, &["a", "b", "c", "d", "e"]),
    ];
    for (text, status, expected) in cases {
        if let Some(got) = matching(text, status, 10) {
            assert_eq!(got, expected, "name_contains {text:?}, status {status:?}");
        }
    }
    for bad in ["x\u{7}y".to_owned(), "x".repeat(256)] {
        let filter = WorkspaceFilter {
            name_contains: Some(bad),
            ..WorkspaceFilter::default()
        };
        assert!(matches!(
            acme.list_workspaces(&filter, &Page::first(10)),
            Err(Error::InvalidInput { .. })
        ));
    }
}

/// Another organization's workspace id is not found by any organization call, and nothing in
/// it changes.
pub fn foreign_workspace_id_is_not_found_by_another_organization(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let theirs = workspace(&acme, "cust-1");
    let (source, destination, _) = pipeline(&theirs, "p");
    let before_ws = acme.get_workspace(theirs.workspace_id()).unwrap();
    let before = h.stored();
    let id = theirs.workspace_id();

    h.assert_not_found(globex.get_workspace(id));
    h.assert_not_found(globex.workspace(id));
    h.assert_not_found(globex.workspace_by_external_id(&ext("cust-1")));
    let rename = WorkspaceUpdate {
        name: Some("mine now".parse().unwrap()),
        status: Some(WorkspaceStatus::Inactive),
        ..WorkspaceUpdate::default()
    };
    h.assert_not_found(globex.update_workspace(id, &rename));
    h.assert_not_found(globex.revoke_all_tokens(id));
    h.assert_not_found(globex.reveal_source_config(id, source.id));
    h.assert_not_found(globex.reveal_destination_config(id, destination.id));
    h.assert_not_found(globex.delete_workspace(id));

    assert_eq!(h.stored(), before);
    assert_eq!(acme.get_workspace(id).unwrap(), before_ws);
    assert_eq!(theirs.get_source(source.id).unwrap(), source);
}

// ---------------------------------------------------------------------------------------------
// Sources, destinations, connections, sync runs
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Templates and secrets
// ---------------------------------------------------------------------------------------------

/// A workspace sees exactly the templates its tag selections match (none selected: all).
pub fn workspace_sees_only_the_templates_its_tags_select(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let scope = |ext_id: &str, tags: Option<&[&str]>| {
        let mut request = ScopedTokenRequest::new(ext(ext_id));
        if let Some(tags) = tags {
            request = request
                .source_tags(any_of(tags))
                .connection_tags(any_of(tags));
        }
        let issued = org.scoped_token(&request).unwrap();
        h.engine().authenticate(issued.token.expose()).unwrap()
    };
    let seen = |ws: &WorkspaceScope| {
        let sources: Vec<Uuid> = ws
            .source_templates()
            .unwrap()
            .iter()
            .map(|t| *t.id.as_uuid())
            .collect();
        let connections: Vec<Uuid> = ws
            .connection_templates()
            .unwrap()
            .iter()
            .map(|t| *t.id.as_uuid())
            .collect();
        (sources, connections)
    };
    let stripe = *catalog.stripe.id.as_uuid();
    let hubspot = *catalog.hubspot.id.as_uuid();
    let s3 = *catalog.s3.id.as_uuid();
    let warehouse = *catalog.warehouse.id.as_uuid();
    let production = scope("prod", Some(&["production"]));
    let premium = scope("premium", Some(&["premium"]));
    let everything = scope("all", None);
    assert_eq!(seen(&production), (vec![stripe], vec![s3, warehouse]));
    assert_eq!(seen(&premium), (vec![hubspot], vec![warehouse]));
    assert_eq!(
        seen(&everything),
        (vec![stripe, hubspot], vec![s3, warehouse])
    );
}

/// A source from a template brings a destination and a connection for each matching
/// connection template; a second source reuses the destinations.
pub fn source_from_template_makes_destinations_once_and_connections_each_time(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let issued = org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-1"))
                .source_tags(any_of(&["production"]))
                .connection_tags(any_of(&["production"])),
        )
        .unwrap();
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    let first = ws
        .create_source_from_template(from_template(&catalog.stripe, "first"))
        .unwrap();
    assert_eq!(first.destinations.len(), 2);
    assert_eq!(first.connections.len(), 2);
    let templates: BTreeSet<_> = first
        .destinations
        .iter()
        .map(|d| d.template_id.unwrap())
        .collect();
    assert_eq!(templates, [catalog.s3.id, catalog.warehouse.id].into());
    for (destination, connection) in first.destinations.iter().zip(&first.connections) {
        assert_eq!(connection.source_id, first.source.id);
        assert_eq!(connection.destination_id, destination.id);
        assert_eq!(connection.workspace_id, ws.workspace_id());
    }
    h.tick();
    let second = ws
        .create_source_from_template(from_template(&catalog.stripe, "second"))
        .unwrap();
    let ids = |made: &bulkhead_core::SourceFromTemplate| -> BTreeSet<DestinationId> {
        made.destinations.iter().map(|d| d.id).collect()
    };
    assert_eq!(ids(&first), ids(&second));
    assert!(
        second
            .connections
            .iter()
            .all(|c| c.source_id == second.source.id)
    );
    if let Some(view) = view_of(&h, &ws, 3) {
        assert_eq!(view.sources.len(), 2);
        assert_eq!(view.destinations.len(), 2);
        assert_eq!(view.connections.len(), 4);
    }
}

/// A template the workspace does not select, or of another organization, is not available,
/// and nothing is stored.
pub fn template_not_selected_or_of_another_organization_is_not_available(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let acme_catalog = install_catalog(&h, &acme);
    let globex_catalog = install_catalog(&h, &globex);
    let issued = acme
        .scoped_token(&ScopedTokenRequest::new(ext("cust-1")).source_tags(any_of(&["production"])))
        .unwrap();
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    let before = h.stored();
    assert_denied(ws.create_source_from_template(from_template(&acme_catalog.hubspot, "x")));
    assert_denied(ws.create_source_from_template(from_template(&globex_catalog.stripe, "x")));
    let full = acme.workspace(issued.workspace_id).unwrap();
    assert_denied(full.create_source_from_template(from_template(&globex_catalog.stripe, "x")));
    assert_eq!(h.stored(), before);
    if let Some(view) = view_of(&h, &ws, 10) {
        assert_eq!(view, View::default());
    }
}

/// Secret fields are masked on every read and revealed only to the workspace's organization.
pub fn secrets_are_masked_and_revealed_only_to_the_organization(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let catalog = install_catalog(&h, &acme);
    let (issued, ws) = token_scope(&h, &acme, "cust-1");
    let made = ws
        .create_source_from_template(from_template(&catalog.stripe, "acct"))
        .unwrap();
    assert_eq!(made.source.config.as_map()["api_key"], SECRET_MASK);
    let read = ws.get_source(made.source.id).unwrap();
    assert_eq!(read.config.as_map()["api_key"], SECRET_MASK);
    assert_eq!(read.config.as_map()["start_date"], "2024-01-01");
    let revealed = acme
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["api_key"], "sk_live_acct");
    h.assert_not_found(globex.reveal_source_config(issued.workspace_id, made.source.id));
    let sibling = workspace(&acme, "cust-2");
    h.assert_not_found(acme.reveal_source_config(sibling.workspace_id(), made.source.id));
}

/// Rotating the master key keeps every secret, token and template usable.
pub fn master_key_rotation_keeps_every_secret_readable(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let (issued, ws) = token_scope(&h, &org, "cust-1");
    let made = ws
        .create_source_from_template(from_template(&catalog.stripe, "acct"))
        .unwrap();
    let resealed = h
        .engine()
        .rotate_master_key(MasterKey::generate().unwrap())
        .unwrap();
    assert!(
        resealed >= 2,
        "the data key and the signing key: {resealed}"
    );
    let org = h.engine().authenticate_org(key.expose()).unwrap();
    let revealed = org
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["api_key"], "sk_live_acct");
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    ws.create_source_from_template(from_template(&catalog.stripe, "after"))
        .unwrap();
    token_scope(&h, &org, "cust-2");
}

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

/// Every list walks page by page, with any limit, through exactly the workspace's rows, in
/// order, even when several rows share a creation time.
pub fn lists_walk_every_page_without_gaps_or_duplicates(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let other = workspace(&org, "cust-2");
    pipeline(&other, "noise");
    let mut made = Vec::new();
    for i in 0..7 {
        // Pairs share a creation time: the id breaks the tie.
        if i % 2 == 0 {
            h.tick();
        }
        made.push(pipeline(&ws, &format!("p{i}")));
    }
    let connection = made[0].2.id;
    let mut runs = Vec::new();
    for i in 0..6 {
        if i % 2 == 0 {
            h.tick();
        }
        // One run at a time per connection: each ends before the next starts.
        let run = ws.start_sync(connection).unwrap();
        runs.push(ws.finish_sync(run.id, SyncOutcome::Cancelled).unwrap());
    }
    let by_time = |at: Timestamp, id: Uuid| (at, id);
    let mut sources: Vec<_> = made.iter().map(|m| m.0.clone()).collect();
    sources.sort_by_key(|s| by_time(s.created_at, *s.id.as_uuid()));
    let mut destinations: Vec<_> = made.iter().map(|m| m.1.clone()).collect();
    destinations.sort_by_key(|d| by_time(d.created_at, *d.id.as_uuid()));
    let mut connections: Vec<_> = made.iter().map(|m| m.2.clone()).collect();
    connections.sort_by_key(|c| by_time(c.created_at, *c.id.as_uuid()));
    runs.sort_by_key(|r| std::cmp::Reverse(by_time(r.started_at, *r.id.as_uuid())));
    for limit in 1..=8 {
        let Some(view) = view_of(&h, &ws, limit) else {
            continue;
        };
        assert_eq!(view.sources, sources, "limit {limit}");
        assert_eq!(view.destinations, destinations, "limit {limit}");
        assert_eq!(view.connections, connections, "limit {limit}");
        assert_eq!(view.sync_runs[&connection], runs, "limit {limit}");
    }
}

/// A page limit outside 1 to 100 is invalid input.
pub fn page_limit_outside_1_to_100_is_invalid_input(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    for limit in [0, 101] {
        assert!(matches!(
            ws.list_sources(&Page::first(limit)),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            org.list_workspaces(&WorkspaceFilter::default(), &Page::first(limit)),
            Err(Error::InvalidInput { .. })
        ));
    }
}

/// A cursor taken from another workspace's listing moves a listing but never widens it.
pub fn cursor_of_another_workspace_never_widens_a_listing(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let mine = workspace(&org, "cust-1");
    let theirs = workspace(&org, "cust-2");
    let (my_source, _, _) = pipeline(&mine, "mine");
    h.tick();
    let (a, _, _) = pipeline(&theirs, "a");
    let (b, _, _) = pipeline(&theirs, "b");
    // Same time: listed by id.
    let (their_first, their_second) = if a.id.as_uuid() < b.id.as_uuid() {
        (a, b)
    } else {
        (b, a)
    };
    // The cursor past their first source. Behind a leaky store their listing meets my source
    // and is refused (counted): the cursor it would have returned is made from the position.
    let position = created_cursor(&their_first);
    let cursor = match h.answer(theirs.list_sources(&Page::first(1))) {
        Some(first) => {
            assert_eq!(first.items, std::slice::from_ref(&their_first));
            let cursor = first.next.unwrap();
            assert_eq!(cursor, position);
            cursor
        }
        None => position,
    };
    if let Some(page) = h.answer(mine.list_sources(&Page::after(cursor, 10))) {
        assert!(
            page.items
                .iter()
                .all(|s| s.workspace_id == mine.workspace_id()),
            "{page:?}"
        );
    }
    if let Some(page) = h.answer(mine.list_sources(&Page::first(10))) {
        assert_eq!(page.items, std::slice::from_ref(&my_source));
    }
    // Whatever the listings did, their sources stay out of reach and mine in it.
    for theirs in [&their_first, &their_second] {
        h.assert_not_found(mine.get_source(theirs.id));
    }
    assert_eq!(mine.get_source(my_source.id).unwrap(), my_source);
}

/// The cursor a listing ordered by creation returns after `source`.
fn created_cursor(source: &Source) -> bulkhead_core::Cursor {
    use base64::Engine as _;
    let mut bytes = vec![1];
    bytes.extend_from_slice(&source.created_at.unix_millis().to_be_bytes());
    bytes.extend_from_slice(source.id.as_uuid().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------------------------

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

/// What was stored survives closing and reopening the store (needs a reopen).
pub fn data_survives_close_and_reopen(factory: &dyn Fn() -> Harness) {
    let mut h = factory();
    if !h.can_reopen() {
        return skipped("data_survives_close_and_reopen", "reopen");
    }
    let (org, key) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let (issued, ws) = token_scope(&h, &org, "cust-1");
    let made = ws
        .create_source_from_template(from_template(&catalog.stripe, "acct"))
        .unwrap();
    let full = org.workspace(issued.workspace_id).unwrap();
    let run = full.start_sync(made.connections[0].id).unwrap();
    let view = view_of(&h, &ws, 2);
    let stored = h.stored();
    drop((org, ws, full));

    h.reopen();

    assert_eq!(h.stored(), stored);
    let org = h.engine().authenticate_org(key.expose()).unwrap();
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    if let (Some(before), Some(after)) = (view, view_of(&h, &ws, 2)) {
        assert_eq!(before, after);
    }
    assert_eq!(ws.get_sync_run(run.id).unwrap(), run);
    let revealed = org
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["api_key"], "sk_live_acct");
}

/// Expands to one `#[test]` per conformance test, each calling it with `$factory` (an
/// expression usable as `&dyn Fn() -> Harness` once borrowed, such as a function's name).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            org_key_opens_its_own_organization,
            wrong_revoked_and_expired_org_keys_are_refused,
            another_organizations_org_key_is_not_found,
            a_worker_key_is_listed_with_its_role_and_its_creation_audited,
            a_worker_key_and_an_org_key_each_make_a_worker_of_their_organization,
            a_worker_key_opens_no_organization_scope,
            a_worker_key_is_no_scoped_token,
            a_revoked_or_expired_worker_key_is_refused_and_its_worker_stops,
            a_worker_key_expiring_in_the_past_is_invalid_input,
            a_worker_keys_role_is_stored_for_every_process,
            workspace_creations_are_counted_by_hour_within_the_organization,
            latest_audit_events_are_the_chain_backwards_within_the_organization,
            scoped_token_gets_or_creates_one_workspace_per_external_id,
            external_ids_are_per_organization_and_case_sensitive,
            scoped_token_request_stores_the_tag_selection,
            scoped_token_reaches_its_own_workspace_only,
            expired_scoped_token_is_refused_and_a_new_one_works,
            revoked_scoped_token_is_refused_and_the_others_still_work,
            revoking_all_tokens_refuses_the_earlier_ones_only,
            another_organizations_tokens_cannot_be_revoked,
            kid_that_no_engine_makes_is_an_unknown_key,
            token_of_a_deleted_workspace_is_refused,
            inactive_workspace_refuses_its_tokens,
            inactive_workspace_pauses_its_connections_and_resumes_them,
            purging_deleted_workspaces_respects_the_retention,
            merging_a_duplicate_moves_everything_into_the_target,
            merging_is_refused_within_one_workspace_deleted_ones_and_other_organizations,
            merging_into_an_inactive_workspace_pauses_the_moved_connections,
            merging_from_an_inactive_workspace_resumes_the_connections_it_paused,
            workspaces_list_in_pages_by_external_id,
            workspaces_filter_by_name_contains_ignoring_ascii_case,
            foreign_workspace_id_is_not_found_by_another_organization,
            source_create_read_update_delete,
            destination_create_read_update_delete,
            connection_create_read_update_delete,
            connection_to_a_foreign_source_or_destination_is_not_found,
            endpoint_used_by_a_connection_cannot_be_deleted,
            sync_run_starts_and_finishes_once,
            deleting_a_connection_deletes_its_sync_runs,
            a_second_start_while_a_run_is_running_is_refused,
            overview_counts_the_last_seven_days_and_recent_runs_span_connections,
            concurrent_starts_of_one_connection_let_exactly_one_win,
            new_sync_runs_carry_job_numbers_that_find_them_in_their_workspace_only,
            scoped_token_is_limited_to_its_operations,
            workspace_sees_only_the_templates_its_tags_select,
            source_from_template_makes_destinations_once_and_connections_each_time,
            template_not_selected_or_of_another_organization_is_not_available,
            secrets_are_masked_and_revealed_only_to_the_organization,
            master_key_rotation_keeps_every_secret_readable,
            lists_walk_every_page_without_gaps_or_duplicates,
            page_limit_outside_1_to_100_is_invalid_input,
            cursor_of_another_workspace_never_widens_a_listing,
            foreign_ids_are_not_found_for_every_kind_and_operation,
            random_ids_are_not_found,
            lists_hold_exactly_the_workspaces_own_rows,
            union_of_tenant_views_is_everything_stored,
            deleting_then_purging_a_workspace_removes_its_rows_and_no_others,
            data_survives_close_and_reopen,
            every_change_is_audited_in_a_chain_that_verifies,
            denied_calls_are_audited,
            isolation_breaches_are_audited_in_the_callers_chain,
            organization_rows_of_another_organization_are_refused,
            audit_events_filter_page_and_hold_no_secret,
            template_secrets_never_reach_a_customer_in_clear,
            replayed_refused_tokens_are_audited_once_a_minute,
            refusals_of_different_kinds_are_each_audited,
            retiring_a_signing_key_refuses_its_tokens_in_every_process,
            retiring_a_rotated_out_key_keeps_the_signer,
            a_token_living_longer_than_its_organization_allows_is_refused,
            a_scope_from_a_token_stops_with_its_token,
            an_org_scope_stops_with_its_org_key,
            a_revocation_in_another_process_reaches_a_scope_within_a_minute,
            reveals_and_token_issuance_are_audited,
            concurrent_token_issuances_are_each_audited_and_the_chains_verify,
            a_breach_in_a_customers_template_read_names_the_token,
        );
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$name(&$factory)
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------------

/// Runs `op` once per write call it makes, failing that call, on a fresh harness each time.
///
/// First the writes are counted on a fresh harness (and the operation must make at least
/// `min_writes`); then for each N: a fresh harness and fixture, `before = snapshot`, arm at N,
/// the operation must fail with exactly the injected fault, `snapshot` must equal `before`
/// (no partial state), and once disarmed the same operation must succeed, after which
/// `check_done` runs.
fn sweep<F>(
    factory: &dyn Fn() -> Harness,
    min_writes: u64,
    setup: impl Fn(&Harness) -> F,
    op: impl Fn(&Harness, &F) -> Result<()>,
    snapshot: impl Fn(&Harness, &F) -> String,
    check_done: impl Fn(&Harness, &F),
) {
    let writes = {
        let h = factory();
        let faults = h.faults().expect("fault tests need a harness with faults");
        let fixture = setup(&h);
        faults.count_writes();
        op(&h, &fixture).unwrap();
        let writes = faults.writes();
        faults.disarm();
        check_done(&h, &fixture);
        writes
    };
    assert!(
        writes >= min_writes,
        "the operation made {writes} write calls, expected at least {min_writes}"
    );
    for n in 1..=writes {
        let h = factory();
        let faults = h.faults().unwrap();
        let fixture = setup(&h);
        let before = snapshot(&h, &fixture);
        faults.arm(n);
        match op(&h, &fixture) {
            Err(Error::Storage(e)) if e.message() == Faults::message(n) => {}
            other => panic!("write {n} of {writes}: expected the injected fault, got {other:?}"),
        }
        faults.disarm();
        assert_eq!(
            snapshot(&h, &fixture),
            before,
            "a fault at write {n} of {writes} left partial state"
        );
        op(&h, &fixture).unwrap_or_else(|e| panic!("after a fault at write {n}: {e}"));
        check_done(&h, &fixture);
    }
}

/// What a fault test compares before and after: the dump when there is one, and each given
/// tenant view.
fn state(h: &Harness, org: &OrgScope, workspaces: &[WorkspaceId]) -> String {
    let mut text = format!("{:#?}\n", h.stored());
    let all = all_workspaces(org, 100).unwrap();
    text.push_str(&format!("{all:#?}\n"));
    for id in workspaces {
        match org.workspace(*id) {
            Ok(ws) => text.push_str(&format!("{:#?}\n", View::read(&ws, 100).unwrap())),
            Err(e) => text.push_str(&format!("{e}\n")),
        }
    }
    text
}

/// The fixture of a fault test: an organization with the catalog, a workspace selecting
/// `production` (so a stripe source brings two pipelines), and its token.
struct FaultFixture {
    org: OrgScope,
    catalog: Catalog,
    issued: IssuedToken,
}

fn fault_fixture(h: &Harness) -> FaultFixture {
    let (org, _) = new_org(h, "Acme");
    let catalog = install_catalog(h, &org);
    let issued = org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-1"))
                .source_tags(any_of(&["production"]))
                .connection_tags(any_of(&["production"])),
        )
        .unwrap();
    let ws = org.workspace(issued.workspace_id).unwrap();
    pipeline(&ws, "existing");
    FaultFixture {
        org,
        catalog,
        issued,
    }
}

/// A fault at any write call of creating a source from a template (with two matching
/// connection templates: the data key, then the source with its destinations and connections)
/// stores no source, destination or connection, and the call then succeeds.
///
/// The data key a failed call may have stored stays: it is the workspace's, made once on
/// first use whatever the call, and invisible in every view.
pub fn fault_at_any_write_of_a_source_from_template_stores_nothing(factory: &dyn Fn() -> Harness) {
    sweep(
        factory,
        2,
        fault_fixture,
        |h, f| {
            let ws = h.engine().authenticate(f.issued.token.expose())?;
            let made = ws.create_source_from_template(from_template(&f.catalog.stripe, "new"))?;
            assert_eq!(made.connections.len(), 2);
            Ok(())
        },
        |h, f| state(h, &f.org, &[f.issued.workspace_id]),
        |_, f| {
            let ws = f.org.workspace(f.issued.workspace_id).unwrap();
            let view = View::read(&ws, 100).unwrap();
            assert_eq!(view.sources.len(), 2);
            assert_eq!(view.destinations.len(), 3);
            assert_eq!(view.connections.len(), 3);
            let made = view
                .sources
                .iter()
                .find(|s| s.name.as_str() == "new")
                .unwrap();
            let revealed = f
                .org
                .reveal_source_config(f.issued.workspace_id, made.id)
                .unwrap();
            assert_eq!(revealed.as_map()["api_key"], "sk_live_new");
        },
    );
}

/// A fault at any write call of deleting a workspace leaves the workspace whole (rows, data
/// key, tokens), and the deletion then succeeds.
pub fn fault_at_any_write_of_deleting_a_workspace_keeps_it_whole(factory: &dyn Fn() -> Harness) {
    sweep(
        factory,
        1,
        |h| {
            let f = fault_fixture(h);
            let ws = h.engine().authenticate(f.issued.token.expose()).unwrap();
            ws.create_source_from_template(from_template(&f.catalog.stripe, "kept"))
                .unwrap();
            f
        },
        |_, f| f.org.delete_workspace(f.issued.workspace_id),
        |h, f| {
            let mut text = state(h, &f.org, &[f.issued.workspace_id]);
            // The data key is still there: the secret still opens.
            let ws = f.org.workspace(f.issued.workspace_id).unwrap();
            let view = View::read(&ws, 100).unwrap();
            for source in &view.sources {
                let revealed = f
                    .org
                    .reveal_source_config(f.issued.workspace_id, source.id)
                    .unwrap();
                text.push_str(&format!("{revealed:?}\n"));
            }
            let token = h.engine().authenticate(f.issued.token.expose()).map(|_| ());
            text.push_str(&format!("{token:?}\n"));
            text
        },
        |h, f| {
            h.assert_not_found(f.org.get_workspace(f.issued.workspace_id));
            h.assert_not_found(h.engine().authenticate(f.issued.token.expose()));
            // A tombstone: its rows wait for the purge.
            if let Some(stored) = h.stored() {
                assert!(
                    stored
                        .iter()
                        .any(|r| r.workspace_id == f.issued.workspace_id)
                );
            }
        },
    );
}

/// A fault at any write call of purging a deleted workspace (one transaction: the data key,
/// then every row) leaves the tombstone whole, and the purge then succeeds.
pub fn fault_at_any_write_of_purging_a_workspace_keeps_it_whole(factory: &dyn Fn() -> Harness) {
    sweep(
        factory,
        1,
        |h| {
            let f = fault_fixture(h);
            let ws = h.engine().authenticate(f.issued.token.expose()).unwrap();
            ws.create_source_from_template(from_template(&f.catalog.stripe, "kept"))
                .unwrap();
            f.org.delete_workspace(f.issued.workspace_id).unwrap();
            f
        },
        |_, f| f.org.purge_workspace(f.issued.workspace_id),
        |h, f| {
            let mut text = format!("{:?}\n", h.stored());
            let deleted = f.org.get_or_create_workspace(&ext("cust-1")).map(|_| ());
            text.push_str(&format!("{deleted:?}\n"));
            text
        },
        |h, f| {
            h.assert_not_found(f.org.purge_workspace(f.issued.workspace_id));
            if let Some(stored) = h.stored() {
                assert!(
                    stored
                        .iter()
                        .all(|r| r.workspace_id != f.issued.workspace_id)
                );
            }
        },
    );
}

/// A fault at any write call of a scoped-token request with tags (the get-or-create of the
/// workspace with its new selection, then any signing-key write) creates no workspace and
/// changes no selection, and the request then succeeds.
pub fn fault_at_any_write_of_a_scoped_token_request_with_tags_changes_nothing(
    factory: &dyn Fn() -> Harness,
) {
    let request = |external_id: &str| {
        ScopedTokenRequest::new(ext(external_id))
            .source_tags(any_of(&["premium"]))
            .connection_tags(any_of(&["premium"]))
    };
    for external_id in ["cust-1", "cust-new"] {
        sweep(
            factory,
            1,
            fault_fixture,
            |h, f| {
                let issued = f.org.scoped_token(&request(external_id))?;
                h.engine().authenticate(issued.token.expose()).unwrap();
                Ok(())
            },
            |h, f| state(h, &f.org, &[f.issued.workspace_id]),
            |_, f| {
                let ws = f.org.workspace_by_external_id(&ext(external_id)).unwrap();
                assert_eq!(ws.source_tags, any_of(&["premium"]));
                assert_eq!(ws.connection_tags, any_of(&["premium"]));
            },
        );
    }
}

/// A fault at any write call of rotating the master key (re-sealing every data key, signing
/// key and template secret, and the new check value, in one store call) keeps the old key in
/// force: every secret opens, tokens verify, templates apply; the rotation then succeeds and
/// the same holds under the new key.
pub fn fault_at_any_write_of_rotating_the_master_key_keeps_the_old_key(
    factory: &dyn Fn() -> Harness,
) {
    struct Fixture {
        base: FaultFixture,
        source: Source,
    }
    let usable = |h: &Harness, f: &Fixture| -> String {
        let ws = h
            .engine()
            .authenticate(f.base.issued.token.expose())
            .unwrap();
        assert_eq!(ws.get_source(f.source.id).unwrap(), f.source);
        let revealed = f
            .base
            .org
            .reveal_source_config(f.base.issued.workspace_id, f.source.id)
            .unwrap();
        assert_eq!(revealed.as_map()["api_key"], "sk_live_acct");
        let templates: Vec<_> = ws
            .source_templates()
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        format!(
            "{templates:?}\n{}",
            state(h, &f.base.org, &[f.base.issued.workspace_id])
        )
    };
    sweep(
        factory,
        1,
        |h| {
            let base = fault_fixture(h);
            let ws = h.engine().authenticate(base.issued.token.expose()).unwrap();
            let source = ws
                .create_source_from_template(from_template(&base.catalog.stripe, "acct"))
                .unwrap()
                .source;
            Fixture { base, source }
        },
        |h, _| {
            h.engine()
                .rotate_master_key(MasterKey::generate()?)
                .map(|_| ())
        },
        usable,
        |h, f| {
            usable(h, f);
            let ws = h
                .engine()
                .authenticate(f.base.issued.token.expose())
                .unwrap();
            ws.create_source_from_template(from_template(&f.base.catalog.stripe, "after"))
                .unwrap();
            token_scope(h, &f.base.org, "cust-2");
        },
    );
}

/// Expands to one `#[test]` per fault-injection test, each calling it with `$factory`, whose
/// harnesses must carry [`Faults`] (a `FaultyStore`).
#[macro_export]
macro_rules! fault_injection_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            fault_at_any_write_of_a_source_from_template_stores_nothing,
            fault_at_any_write_of_deleting_a_workspace_keeps_it_whole,
            fault_at_any_write_of_purging_a_workspace_keeps_it_whole,
            fault_at_any_write_of_a_merge_changes_nothing,
            fault_at_any_write_of_a_scoped_token_request_with_tags_changes_nothing,
            fault_at_any_write_of_rotating_the_master_key_keeps_the_old_key,
            a_minter_makes_no_store_call_per_token_until_something_changes,
            panics_inside_store_calls_leave_the_engine_serving,
        );
    };
}

/// Panics inside store calls, more of them in a row than a pool has connections (8 by
/// default), leave the engine serving: each call that panicked stored nothing, and the next
/// calls (again more than a pool holds) succeed, with an audit chain that still verifies.
/// Most panics come from the pipelines' `check`, which the store runs inside its transaction,
/// so each unwinds through the adapter while it holds a connection and an open transaction;
/// the others from the data key's `make`, which the adapters run between two transactions.
/// Needs a harness with faults.
pub fn panics_inside_store_calls_leave_the_engine_serving(factory: &dyn Fn() -> Harness) {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    const CALLS: usize = 12;
    let h = factory();
    let faults = h.faults().expect("a harness with faults");
    let f = fault_fixture(&h);
    // A workspace without a data key yet (a stripe source brings one): its calls panic in
    // `make`; the fixture's, once it has a key, in `check`.
    let fresh = f
        .org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-2"))
                .source_tags(any_of(&["production"]))
                .connection_tags(any_of(&["production"])),
        )
        .unwrap();
    let keyed = h.engine().authenticate(f.issued.token.expose()).unwrap();
    keyed
        .create_source_from_template(from_template(&f.catalog.stripe, "before"))
        .unwrap();
    let fresh_ws = h.engine().authenticate(fresh.token.expose()).unwrap();
    let workspaces = [f.issued.workspace_id, fresh.workspace_id];
    let before = state(&h, &f.org, &workspaces);

    faults.panic_inside(true);
    for i in 0..CALLS + 2 {
        let ws = if i < CALLS { &keyed } else { &fresh_ws };
        let name = format!("panicked-{i}");
        let call = catch_unwind(AssertUnwindSafe(|| {
            ws.create_source_from_template(from_template(&f.catalog.stripe, &name))
        }));
        assert!(call.is_err(), "call {i} did not panic: {call:?}");
    }
    faults.panic_inside(false);
    assert_eq!(faults.panics(), CALLS as u64 + 2);
    assert_eq!(
        state(&h, &f.org, &workspaces),
        before,
        "a call that panicked stored something"
    );

    for i in 0..CALLS {
        let ws = if i % 2 == 0 { &keyed } else { &fresh_ws };
        let made = ws
            .create_source_from_template(from_template(&f.catalog.stripe, &format!("after-{i}")))
            .unwrap();
        assert_eq!(made.connections.len(), 2);
        ws.list_sources(&Page::first(100)).unwrap();
    }
    for (id, ws) in workspaces.iter().zip([&keyed, &fresh_ws]) {
        let sources = ws.list_sources(&Page::first(100)).unwrap().items;
        for source in sources.iter().filter(|s| s.template_id.is_some()) {
            let revealed = f.org.reveal_source_config(*id, source.id).unwrap();
            assert_eq!(
                revealed.as_map()["api_key"],
                format!("sk_live_{}", source.name.as_str())
            );
        }
    }
    assert!(f.org.verify_audit().unwrap().is_intact());
}

/// The `kid` in the header of `token`.
fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// A [`bulkhead_core::TokenMinter`] makes no store call at all per token while nothing
/// changes (the reason it exists), and each token authenticates to exactly its workspace
/// with the requested operations and lifetime and a `jti` of its own. A change made through
/// the same engine is seen by the next mint: a deactivated workspace gets no token until it
/// is active again, a rotated signing key signs the next token, a deleted workspace gets
/// none. Needs a harness with faults (which counts the store calls).
pub fn a_minter_makes_no_store_call_per_token_until_something_changes(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let faults = h.faults().expect("a harness with faults");
    let (org, _) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Other");
    let theirs = other
        .scoped_token(&ScopedTokenRequest::new(ext("cust-1")))
        .unwrap();
    let operations = bulkhead_core::OperationSet::read_only();
    let request = ScopedTokenRequest::new(ext("cust-1"))
        .ttl(Duration::from_secs(90))
        .operations(operations);
    let minter = org.token_minter(&request).unwrap();
    let workspace = org.workspace_by_external_id(&ext("cust-1")).unwrap();
    assert_eq!(minter.workspace_id(), workspace.id);
    assert_ne!(workspace.id, theirs.workspace_id);

    faults.count_writes();
    let tokens: Vec<IssuedToken> = (0..20).map(|_| minter.mint().unwrap()).collect();
    assert_eq!(
        (faults.reads(), faults.writes()),
        (0, 0),
        "minting called the store"
    );
    let jtis: BTreeSet<&str> = tokens.iter().map(|t| t.token_id.as_str()).collect();
    assert_eq!(jtis.len(), tokens.len(), "a jti repeats");
    for issued in &tokens {
        assert_eq!(issued.workspace_id, workspace.id);
        assert!(!issued.workspace_created);
        let claims = h.engine().verify_token(issued.token.expose()).unwrap();
        assert_eq!(claims.workspace_id, workspace.id);
        assert_eq!(claims.org_id, org.org_id());
        assert_eq!(claims.operations, operations);
        assert_eq!(claims.expires_at - claims.issued_at, 90);
        assert_eq!(claims.token_id, issued.token_id);
        assert_eq!(issued.expires_at, claims.expiry());
        let scope = h.engine().authenticate(issued.token.expose()).unwrap();
        assert_eq!(scope.workspace_id(), workspace.id);
    }

    let status = |status| WorkspaceUpdate {
        status: Some(status),
        ..WorkspaceUpdate::default()
    };
    org.update_workspace(workspace.id, &status(WorkspaceStatus::Inactive))
        .unwrap();
    match minter.mint() {
        Err(Error::WorkspaceInactive { workspace_id }) => assert_eq!(workspace_id, workspace.id),
        other => panic!("expected an inactive workspace, got {other:?}"),
    }
    org.update_workspace(workspace.id, &status(WorkspaceStatus::Active))
        .unwrap();
    let again = minter.mint().unwrap();
    h.engine().authenticate(again.token.expose()).unwrap();

    let rotated = org.rotate_signing_key().unwrap();
    assert_ne!(kid_of(again.token.expose()), rotated.kid);
    let after = minter.mint().unwrap();
    assert_eq!(kid_of(after.token.expose()), rotated.kid);
    h.engine().authenticate(after.token.expose()).unwrap();

    org.delete_workspace(workspace.id).unwrap();
    assert!(
        matches!(minter.mint(), Err(Error::NotFound { .. })),
        "a deleted workspace got a token"
    );
    // The other organization's workspace was never touched.
    h.engine().authenticate(theirs.token.expose()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------------------

/// Every event of the organization's audit chain, oldest first.
pub fn all_audit(org: &OrgScope) -> Vec<AuditEvent> {
    all_pages(100, |p| org.audit_events(&AuditFilter::default(), p)).unwrap()
}

fn actions(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.draft.action.as_str()).collect()
}

/// A busy organization: every change is in its chain, in order, by who made it, with a
/// sequence of 1, 2, 3, …; the chain verifies; the other organization's chain holds none of it.
pub fn every_change_is_audited_in_a_chain_that_verifies(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Globex");
    let catalog = install_catalog(&h, &org);
    let request = ScopedTokenRequest {
        source_tags: Some(any_of(&["production"])),
        ..ScopedTokenRequest::new(ext("cust-1"))
    };
    let issued = org.scoped_token(&request).unwrap();
    let customer = h.engine().authenticate(issued.token.expose()).unwrap();
    customer
        .create_source_from_template(from_template(&catalog.stripe, "billing"))
        .unwrap();
    let ws = org.workspace(issued.workspace_id).unwrap();
    let (source, destination, connection) = pipeline(&ws, "raw");
    let run = ws.start_sync(connection.id).unwrap();
    ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: 3, bytes: 4 })
        .unwrap();
    ws.update_connection(
        connection.id,
        &ConnectionUpdate {
            name: Some("renamed".parse().unwrap()),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap();
    ws.delete_connection(connection.id).unwrap();
    ws.delete_source(source.id).unwrap();
    ws.delete_destination(destination.id).unwrap();
    org.revoke_all_tokens(issued.workspace_id).unwrap();
    let (new_key, _) = org.create_key(None).unwrap();
    org.revoke_key(new_key.id).unwrap();
    org.rotate_signing_key().unwrap();
    org.update_workspace(
        issued.workspace_id,
        &WorkspaceUpdate {
            name: Some("Customer One".parse().unwrap()),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();

    let events = all_audit(&org);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert!(events.iter().all(|e| e.org_id == org.org_id()));
    let got = actions(&events);
    for expected in [
        "organization.create",
        "tag.create",
        "source_template.create",
        "connection_template.create",
        "workspace.create",
        "source.create_from_template",
        "source.create",
        "destination.create",
        "connection.create",
        "sync.start",
        "sync.finish",
        "connection.update",
        "connection.delete",
        "source.delete",
        "destination.delete",
        "workspace.revoke_tokens",
        "org_key.create",
        "org_key.revoke",
        "signing_key.rotate",
        "workspace.update",
    ] {
        assert!(got.contains(&expected), "no `{expected}` event in {got:?}");
    }
    // In the order the calls were made.
    let position = |action: &str| got.iter().position(|a| *a == action).unwrap();
    assert!(position("workspace.create") < position("source.create_from_template"));
    assert!(position("sync.start") < position("sync.finish"));
    assert!(position("connection.delete") < position("source.delete"));
    // Who: the customer's token, or the org key (by its public prefix).
    let from_template = &events[position("source.create_from_template")];
    assert_eq!(
        from_template.draft.actor,
        format!("token:{}", issued.token_id)
    );
    assert_eq!(from_template.draft.workspace_id, Some(issued.workspace_id));
    let raw = &events[position("source.create")];
    assert_eq!(raw.draft.actor, format!("org-key:{}", key.prefix()));
    assert_eq!(raw.draft.target, format!("source:{}", source.id));
    assert!(events.iter().all(|e| e.draft.outcome == "ok"));

    let verified = org.verify_audit().unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    assert_eq!(verified.verified, events.len() as u64);

    let theirs = all_audit(&other);
    assert_eq!(actions(&theirs), ["organization.create"]);
    assert!(other.verify_audit().unwrap().is_intact());
}

/// An isolation breach is an event of the caller's chain: `isolation.breach`, denied, by
/// who made the call, in the caller's workspace, with the kind of object as its target and
/// none of the foreign rows' ids; the chain still verifies, and the other organization's
/// chain holds nothing of it. Over a correct store there is no breach and no such event;
/// over a leaky one, listing meets the neighbours' rows.
pub fn isolation_breaches_are_audited_in_the_callers_chain(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Other");
    let (issued, scope) = token_scope(&h, &org, "cust-1");
    let neighbour = workspace(&org, "cust-2");
    let foreign = workspace(&other, "cust-1");
    let mine = org
        .workspace(issued.workspace_id)
        .unwrap()
        .create_source(raw_source("mine"))
        .unwrap();
    let theirs = [
        neighbour.create_source(raw_source("neighbour")).unwrap(),
        foreign.create_source(raw_source("foreign")).unwrap(),
    ];
    let before = all_audit(&org).len();

    let listed = h.answer(scope.list_sources(&Page::first(10)));
    let breaches: Vec<AuditEvent> = all_audit(&org)
        .into_iter()
        .filter(|e| e.draft.action == "isolation.breach")
        .collect();
    match listed {
        Some(page) => {
            assert_eq!(page.items, vec![mine]);
            assert!(breaches.is_empty(), "{breaches:?}");
            assert_eq!(all_audit(&org).len(), before, "a read wrote an event");
        }
        None => {
            assert_eq!(breaches.len(), 1, "{breaches:?}");
            let event = &breaches[0];
            assert_eq!(event.draft.actor, format!("token:{}", issued.token_id));
            assert_eq!(event.draft.workspace_id, Some(issued.workspace_id));
            assert_eq!(event.draft.target, "source");
            assert_eq!(event.draft.outcome, "denied: isolation breach");
            let text = format!("{event:?}");
            for source in &theirs {
                assert!(!text.contains(&source.id.to_string()), "{text}");
                assert!(!text.contains(&source.workspace_id.to_string()), "{text}");
            }
            assert!(!text.contains(&other.org_id().to_string()), "{text}");
        }
    }
    assert!(org.verify_audit().unwrap().is_intact());
    assert!(
        all_audit(&other)
            .iter()
            .all(|e| e.draft.action != "isolation.breach"),
        "the other organization's chain holds the breach"
    );
}

/// `token` with the `kid` of its header replaced (so its signature no longer matters: the key
/// is looked up first).
fn with_kid(token: &str, kid: &str) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (header, rest) = token.split_once('.').unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&engine.decode(header).unwrap()).unwrap();
    header["kid"] = serde_json::Value::String(kid.to_owned());
    let header = engine.encode(serde_json::to_vec(&header).unwrap());
    format!("{header}.{rest}")
}

/// While `leaking`, asserts the call was refused as an isolation breach (and counts it);
/// otherwise returns its answer.
#[track_caller]
fn refused_while<T: fmt::Debug>(h: &Harness, leaking: bool, result: Result<T>) -> Option<T> {
    if !leaking {
        return Some(result.unwrap());
    }
    match result {
        Err(Error::IsolationBreach { .. }) => {
            h.note_breach();
            None
        }
        other => panic!("expected an isolation breach, got {other:?}"),
    }
}

/// Organization-level reads that meet another organization's rows (its audit events, access
/// keys, signing keys or templates) are refused as isolation breaches, counted, and hand the
/// caller none of those rows; the audit chain does not verify with another organization's
/// event in it; a lookup of a `kid` that answers with another key verifies no token. Over a
/// correct store the same calls answer with the organization's own rows. Over a leaky store
/// the organization-level leaks are switched on once both organizations' rows exist, then off
/// again, and everything answers as before.
pub fn organization_rows_of_another_organization_are_refused(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, globex_key) = new_org(&h, "Globex");
    let ours = install_catalog(&h, &acme);
    let theirs = install_catalog(&h, &globex);
    let (issued, _) = token_scope(&h, &acme, "cust-1");
    let unknown_kid = with_kid(issued.token.expose(), "no-such-kid");
    assert_token_rejected(
        h.engine().authenticate(&unknown_kid),
        TokenRejection::UnknownKey,
    );
    let globex_key_id = globex.list_keys().unwrap()[0].id;
    // Both organizations' events pass through the store once: a leaky one leaks the rows it
    // has seen.
    let own_events = all_audit(&acme);
    assert!(
        all_audit(&globex)
            .iter()
            .all(|e| e.org_id == globex.org_id())
    );

    let check = |leaking: bool| {
        if let Some(page) = refused_while(
            &h,
            leaking,
            acme.audit_events(&AuditFilter::default(), &Page::first(100)),
        ) {
            // The chain read before, then the refusals' own events, if any: all Acme's.
            assert_eq!(page.items.get(..own_events.len()), Some(&own_events[..]));
            assert!(page.items.iter().all(|e| e.org_id == acme.org_id()));
        }
        match acme.verify_audit() {
            Ok(verified) => assert_eq!(verified.is_intact(), !leaking, "{verified:?}"),
            Err(Error::IsolationBreach { .. }) if leaking => h.note_breach(),
            Err(e) => panic!("expected the chain verified, got {e:?}"),
        }
        if let Some(keys) = refused_while(&h, leaking, acme.list_keys()) {
            assert_eq!(keys.len(), 1);
            assert_ne!(keys[0].id, globex_key_id);
        }
        if let Some(keys) = refused_while(&h, leaking, acme.signing_keys()) {
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0].kid, kid_of(issued.token.expose()));
        }
        if let Some(templates) = refused_while(&h, leaking, acme.list_source_templates(None)) {
            let ids: Vec<Uuid> = templates.iter().map(|t| *t.id.as_uuid()).collect();
            let expected: Vec<Uuid> = ours
                .source_templates()
                .iter()
                .map(|t| *t.id.as_uuid())
                .collect();
            assert_eq!(ids, expected);
        }
        if let Some(templates) = refused_while(&h, leaking, acme.list_connection_templates(None)) {
            let ids: Vec<Uuid> = templates.iter().map(|t| *t.id.as_uuid()).collect();
            let expected: Vec<Uuid> = ours
                .connection_templates()
                .iter()
                .map(|t| *t.id.as_uuid())
                .collect();
            assert_eq!(ids, expected);
        }
        h.assert_not_found(acme.get_source_template(theirs.stripe.id));
        h.assert_not_found(acme.get_connection_template(theirs.s3.id));
        h.assert_not_found(acme.revoke_key(globex_key_id));
        assert!(h.engine().authenticate_org(globex_key.expose()).is_ok());
        match h.engine().authenticate(&unknown_kid) {
            Err(Error::InvalidToken {
                reason: TokenRejection::UnknownKey,
                ..
            }) => {}
            Err(Error::IsolationBreach { .. }) if leaking => h.note_breach(),
            other => panic!("expected an unknown key, got {other:?}"),
        }
    };
    let leaking = h.leak_org_rows(true);
    check(leaking);
    if leaking {
        // The same calls without the leaks answer as over a correct store: the refusals were
        // the leaked rows'.
        h.leak_org_rows(false);
        check(false);
    }
    let breaches = h.engine().isolation_breaches();
    assert!(
        if leaking {
            breaches >= 5
        } else {
            breaches == 0
        },
        "{breaches}"
    );
}

/// Refused calls are audited as denied, with who tried; a call that fails changes nothing and
/// writes nothing.
pub fn denied_calls_are_audited(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    // A token without the operation.
    let issued = org
        .scoped_token(&ScopedTokenRequest {
            operations: Some(bulkhead_core::OperationSet::parse(["sources:read"]).unwrap()),
            ..ScopedTokenRequest::new(ext("cust-1"))
        })
        .unwrap();
    let scope = h.engine().authenticate(issued.token.expose()).unwrap();
    assert_denied(scope.list_connections(&Page::first(10)));
    // A revoked token.
    org.revoke_token(issued.token.expose()).unwrap();
    assert_token_rejected(
        h.engine().authenticate(issued.token.expose()),
        TokenRejection::Revoked,
    );
    // A revoked org key.
    let (second, second_key) = org.create_key(None).unwrap();
    org.revoke_key(second.id).unwrap();
    assert!(matches!(
        h.engine().authenticate_org(second_key.expose()),
        Err(Error::InvalidOrgKey { .. })
    ));
    // The creation rate limit.
    org.update_settings(&bulkhead_core::OrgSettings {
        workspace_creation_burst: 1,
        workspace_creation_rate: 1,
        ..org.reload().unwrap().settings
    })
    .unwrap();
    org.get_or_create_workspace(&ext("cust-2")).unwrap();
    assert!(matches!(
        org.get_or_create_workspace(&ext("cust-3")),
        Err(Error::RateLimited { .. })
    ));
    // A failing change (a conflict) writes no event.
    let ws = workspace(&org, "cust-1");
    let (source, _, _) = pipeline(&ws, "busy");
    let before = all_audit(&org).len();
    assert_conflict(ws.delete_source(source.id));
    assert_eq!(all_audit(&org).len(), before);

    let events = all_audit(&org);
    let denied: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|e| e.draft.outcome.starts_with("denied"))
        .map(|e| {
            (
                e.draft.action.as_str(),
                e.draft.actor.as_str(),
                e.draft.outcome.as_str(),
            )
        })
        .collect();
    let token = format!("token:{}", issued.token_id);
    assert!(
        denied.contains(&(
            "connections:read",
            token.as_str(),
            "denied: operation not granted by the token"
        )),
        "{denied:?}"
    );
    assert!(
        denied.contains(&("token.use", token.as_str(), "denied: revoked")),
        "{denied:?}"
    );
    let second_actor = format!("org-key:{}", second_key.prefix());
    assert!(
        denied.contains(&(
            "org_key.use",
            second_actor.as_str(),
            "denied: revoked or expired org key"
        )),
        "{denied:?}"
    );
    let first_actor = format!("org-key:{}", key.prefix());
    assert!(
        denied.contains(&(
            "workspace.create",
            first_actor.as_str(),
            "denied: rate limited"
        )),
        "{denied:?}"
    );
    assert!(org.verify_audit().unwrap().is_intact());
}

/// Events are listed by workspace, action and time range, in pages; no secret, key or token
/// ever appears in one.
pub fn audit_events_filter_page_and_hold_no_secret(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let (first, _) = token_scope(&h, &org, "cust-1");
    h.tick();
    let middle = h.now();
    let second = org
        .scoped_token(&ScopedTokenRequest {
            source_tags: Some(any_of(&["production"])),
            ..ScopedTokenRequest::new(ext("cust-2"))
        })
        .unwrap();
    let other = h.engine().authenticate(second.token.expose()).unwrap();
    other
        .create_source_from_template(from_template(&catalog.stripe, "billing"))
        .unwrap();
    let ws = org.workspace(second.workspace_id).unwrap();
    for n in 0..5 {
        ws.create_source(raw_source(&format!("s{n}"))).unwrap();
    }

    let filtered = |filter: AuditFilter| all_pages(2, |p| org.audit_events(&filter, p)).unwrap();
    let of_second = filtered(AuditFilter {
        workspace_id: Some(second.workspace_id),
        ..AuditFilter::default()
    });
    assert!(!of_second.is_empty());
    assert!(
        of_second
            .iter()
            .all(|e| e.draft.workspace_id == Some(second.workspace_id))
    );
    let creates = filtered(AuditFilter {
        action: Some("source.create".to_owned()),
        ..AuditFilter::default()
    });
    assert_eq!(creates.len(), 5);
    let since = filtered(AuditFilter {
        from: Some(middle),
        ..AuditFilter::default()
    });
    assert!(since.iter().all(|e| e.draft.at >= middle));
    assert!(
        since
            .iter()
            .all(|e| e.draft.workspace_id != Some(first.workspace_id))
    );
    let before = filtered(AuditFilter {
        until: Some(middle),
        ..AuditFilter::default()
    });
    assert_eq!(before.len() + since.len(), all_audit(&org).len());
    assert!(matches!(
        org.audit_events(
            &AuditFilter {
                from: Some(middle),
                until: Some(Timestamp::from_unix_millis(0)),
                ..AuditFilter::default()
            },
            &Page::first(10)
        ),
        Err(Error::InvalidInput { .. })
    ));

    let secrets = [
        key.expose().to_owned(),
        first.token.expose().to_owned(),
        second.token.expose().to_owned(),
        "sk_live_billing".to_owned(),
    ];
    for event in all_audit(&org) {
        let text = format!("{event:?}");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret in {text}");
        }
    }
}

/// Fills `org`'s audit chain with a busy day of `rounds` customers (workspaces, tokens,
/// pipelines, syncs, a denial each), using `authenticate` for the customers' tokens. For the
/// adapters' tamper tests, which then edit the stored events directly.
pub fn busy_audit_log(
    org: &OrgScope,
    rounds: usize,
    authenticate: &dyn Fn(&str) -> Result<WorkspaceScope>,
) {
    for n in 0..rounds {
        let issued = org
            .scoped_token(&ScopedTokenRequest {
                operations: Some(bulkhead_core::OperationSet::parse(["sources:read"]).unwrap()),
                ..ScopedTokenRequest::new(ext(&format!("busy-{n}")))
            })
            .unwrap();
        let customer = authenticate(issued.token.expose()).unwrap();
        assert_denied(customer.list_connections(&Page::first(10)));
        let ws = org.workspace(issued.workspace_id).unwrap();
        let (_, _, connection) = pipeline(&ws, &format!("p{n}"));
        let run = ws.start_sync(connection.id).unwrap();
        ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: 1, bytes: 1 })
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Merging duplicate workspaces
// ---------------------------------------------------------------------------------------------

/// Two workspaces of one customer: `dup` and `main`, each with a source from the `stripe`
/// template (so both have the destination of each `production` connection template), and
/// `dup` with a raw pipeline that ran twice.
struct Duplicates {
    org: OrgScope,
    dup: IssuedToken,
    main: IssuedToken,
    dup_source: SourceFromTemplate,
    raw_connection: Connection,
    runs: Vec<SyncRunId>,
}

fn duplicates(h: &Harness) -> Duplicates {
    let (org, _) = new_org(h, "Acme");
    let catalog = install_catalog(h, &org);
    let request = |external_id: &str| ScopedTokenRequest {
        source_tags: Some(any_of(&["production"])),
        connection_tags: Some(any_of(&["production"])),
        ..ScopedTokenRequest::new(ext(external_id))
    };
    let dup = org.scoped_token(&request("acme-corp")).unwrap();
    let main = org.scoped_token(&request("ACME-CORP-1")).unwrap();
    let dup_scope = h.engine().authenticate(dup.token.expose()).unwrap();
    let dup_source = dup_scope
        .create_source_from_template(from_template(&catalog.stripe, "dup-billing"))
        .unwrap();
    h.engine()
        .authenticate(main.token.expose())
        .unwrap()
        .create_source_from_template(from_template(&catalog.stripe, "main-billing"))
        .unwrap();
    let ws = org.workspace(dup.workspace_id).unwrap();
    let (_, _, raw_connection) = pipeline(&ws, "raw");
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = ws.start_sync(raw_connection.id).unwrap();
        ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: 5, bytes: 6 })
            .unwrap();
        runs.push(run.id);
        h.tick();
    }
    Duplicates {
        org,
        dup,
        main,
        dup_source,
        raw_connection,
        runs,
    }
}

/// Merging moves sources, destinations, connections and sync history to the target, keeps
/// the secrets readable under it, leaves a tombstone whose external id (and a new token for it)
/// reaches the target, and is audited.
pub fn merging_a_duplicate_moves_everything_into_the_target(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let d = duplicates(&h);
    let (org, from, into) = (&d.org, d.dup.workspace_id, d.main.workspace_id);
    let before = h.stored();

    // Behind a leaky store, reading the duplicate meets foreign rows: the merge is refused
    // (a counted breach) before anything is written.
    let Some(report) = h.answer(org.merge_workspaces(from, into)) else {
        if let (Some(before), Some(after)) = (before, h.stored()) {
            assert_eq!(before, after);
        }
        return;
    };
    assert_eq!(
        (
            report.sources,
            report.destinations,
            report.destinations_reused,
            report.connections,
            report.sync_runs
        ),
        // The template source and the raw one; the raw destination (the template destination
        // is `main`'s already); the template connection and the raw one; two runs.
        (
            2,
            1,
            d.dup_source.destinations.len() as u64,
            1 + d.dup_source.connections.len() as u64,
            2
        )
    );

    // Everything is `main`'s now, under the same ids.
    let target = org.workspace(into).unwrap();
    let source = target.get_source(d.dup_source.source.id).unwrap();
    assert_eq!(source.workspace_id, into);
    let revealed = org.reveal_source_config(into, source.id).unwrap();
    assert_eq!(revealed.as_map()["api_key"], "sk_live_dup-billing");
    let moved = target.get_connection(d.raw_connection.id).unwrap();
    assert_eq!(moved.workspace_id, into);
    let runs: Vec<SyncRunId> = all_pages(10, |p| target.list_sync_runs(moved.id, p))
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(runs.len(), 2);
    assert!(d.runs.iter().all(|r| runs.contains(r)));
    // The template connection now uses `main`'s destination of that template.
    for connection in &d.dup_source.connections {
        let moved = target.get_connection(connection.id).unwrap();
        let destination = target.get_destination(moved.destination_id).unwrap();
        assert_eq!(destination.workspace_id, into);
        assert_ne!(moved.destination_id, connection.destination_id);
    }

    // The duplicate is a tombstone: gone, its token refused, its external id leads to `main`.
    h.assert_not_found(org.get_workspace(from));
    h.assert_not_found(h.engine().authenticate(d.dup.token.expose()));
    assert_eq!(
        org.workspace_by_external_id(&ext("acme-corp")).unwrap().id,
        into
    );
    let again = org
        .scoped_token(&ScopedTokenRequest::new(ext("acme-corp")))
        .unwrap();
    assert_eq!(again.workspace_id, into);
    assert!(!again.workspace_created);
    let scope = h.engine().authenticate(again.token.expose()).unwrap();
    assert_eq!(scope.workspace_id(), into);
    assert!(scope.get_source(d.dup_source.source.id).is_ok());

    // Every stored row of the duplicate moved: same ids, now `main`'s.
    if let (Some(before), Some(after)) = (before, h.stored()) {
        assert!(
            after
                .iter()
                .all(|r| r.workspace_id != from || r.kind == RowKind::Workspace)
        );
        let moved_ids: BTreeSet<Uuid> = before
            .iter()
            .filter(|r| r.workspace_id == from && r.kind != RowKind::Workspace)
            .map(|r| r.id)
            .collect();
        let reused: BTreeSet<Uuid> = d
            .dup_source
            .destinations
            .iter()
            .map(|x| *x.id.as_uuid())
            .collect();
        for id in &moved_ids {
            let now = after.iter().find(|r| r.id == *id);
            if reused.contains(id) {
                assert!(now.is_none(), "a reused destination stays behind");
            } else {
                assert_eq!(now.map(|r| r.workspace_id), Some(into), "row {id}");
            }
        }
    }
    let audit = all_audit(org);
    let merge = audit
        .iter()
        .find(|e| e.draft.action == "workspace.merge")
        .unwrap();
    assert_eq!(merge.draft.workspace_id, Some(from));
    assert!(org.verify_audit().unwrap().is_intact());
}

/// A merge into itself, of a deleted workspace, or across organizations is refused and
/// changes nothing.
pub fn merging_is_refused_within_one_workspace_deleted_ones_and_other_organizations(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let d = duplicates(&h);
    let (other, _) = new_org(&h, "Globex");
    let theirs = workspace(&other, "acme-corp");
    let before = h.stored();
    assert!(matches!(
        d.org
            .merge_workspaces(d.dup.workspace_id, d.dup.workspace_id),
        Err(Error::InvalidInput { .. })
    ));
    h.assert_not_found(
        d.org
            .merge_workspaces(d.dup.workspace_id, theirs.workspace_id()),
    );
    h.assert_not_found(other.merge_workspaces(theirs.workspace_id(), d.dup.workspace_id));
    if let (Some(before), Some(after)) = (&before, h.stored()) {
        assert_eq!(*before, after);
    }
    d.org.delete_workspace(d.dup.workspace_id).unwrap();
    h.assert_not_found(
        d.org
            .merge_workspaces(d.dup.workspace_id, d.main.workspace_id),
    );
    h.assert_not_found(
        d.org
            .merge_workspaces(d.main.workspace_id, d.dup.workspace_id),
    );
}

/// A workspace with a connection that may run and one its customer stopped.
struct RunningAndStopped {
    workspace: WorkspaceId,
    running: ConnectionId,
    stopped: ConnectionId,
}

fn running_and_stopped(org: &OrgScope, external_id: &str) -> RunningAndStopped {
    let ws = workspace(org, external_id);
    let (_, _, running) = pipeline(&ws, &format!("{external_id}-running"));
    let (_, _, stopped) = pipeline(&ws, &format!("{external_id}-stopped"));
    ws.update_connection(
        stopped.id,
        &ConnectionUpdate {
            status: Some(ConnectionStatus::Inactive),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap();
    RunningAndStopped {
        workspace: ws.workspace_id(),
        running: running.id,
        stopped: stopped.id,
    }
}

fn set_workspace_status(org: &OrgScope, id: WorkspaceId, status: WorkspaceStatus) {
    org.update_workspace(
        id,
        &WorkspaceUpdate {
            status: Some(status),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();
}

impl RunningAndStopped {
    /// Asserts both connections are in workspace `ws` with these statuses (each read by id: a
    /// leaky store answers those from the workspace itself).
    #[track_caller]
    fn expect(
        &self,
        h: &Harness,
        org: &OrgScope,
        ws: WorkspaceId,
        running: ConnectionStatus,
        stopped: ConnectionStatus,
    ) {
        let scope = org.workspace(ws).unwrap();
        for (id, status) in [(self.running, running), (self.stopped, stopped)] {
            if let Some(c) = h.answer(scope.get_connection(id)) {
                assert_eq!((c.workspace_id, c.status), (ws, status), "connection {id}");
            }
        }
    }

    /// Merges this workspace into `into`; `false` where a leaky store made the guard refuse
    /// the merge (counted), after checking that it changed nothing: the connections are still
    /// here, with the statuses `before`.
    #[track_caller]
    fn merge_into(
        &self,
        h: &Harness,
        org: &OrgScope,
        into: WorkspaceId,
        before: (ConnectionStatus, ConnectionStatus),
    ) -> bool {
        if h.answer(org.merge_workspaces(self.workspace, into))
            .is_some()
        {
            return true;
        }
        self.expect(h, org, self.workspace, before.0, before.1);
        false
    }
}

/// Merging into an inactive workspace pauses the moved connections that may run (from an
/// active workspace, or paused by an inactive one) as the target's own: nothing in the target
/// runs, and making it active again resumes them, never the connections their customer
/// stopped.
pub fn merging_into_an_inactive_workspace_pauses_the_moved_connections(
    factory: &dyn Fn() -> Harness,
) {
    use ConnectionStatus::{Active, Inactive};
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let into = workspace(&org, "main").workspace_id();
    let from_active = running_and_stopped(&org, "dup-active");
    let from_inactive = running_and_stopped(&org, "dup-inactive");
    set_workspace_status(&org, from_inactive.workspace, WorkspaceStatus::Inactive);
    set_workspace_status(&org, into, WorkspaceStatus::Inactive);

    let mut moved = Vec::new();
    for (dup, before) in [
        (&from_active, (Active, Inactive)),
        (&from_inactive, (Inactive, Inactive)),
    ] {
        if dup.merge_into(&h, &org, into, before) {
            moved.push(dup);
        }
    }
    // Behind a leaky store the guard refuses both merges (reading `from` meets the other
    // workspaces' rows); a correct store merges both.
    assert!(h.is_leaky() || moved.len() == 2);
    for dup in &moved {
        dup.expect(&h, &org, into, Inactive, Inactive);
        assert!(matches!(
            org.workspace(into).unwrap().start_sync(dup.running),
            Err(Error::WorkspaceInactive { .. })
        ));
    }
    set_workspace_status(&org, into, WorkspaceStatus::Active);
    for dup in &moved {
        dup.expect(&h, &org, into, Active, Inactive);
    }
}

/// Merging an inactive workspace into an active one resumes the connections the merged
/// workspace paused (they are the target's, and the target runs), not the ones their customer
/// stopped; pausing and resuming the target afterwards treats them as its own.
pub fn merging_from_an_inactive_workspace_resumes_the_connections_it_paused(
    factory: &dyn Fn() -> Harness,
) {
    use ConnectionStatus::{Active, Inactive};
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let into = workspace(&org, "main").workspace_id();
    let dup = running_and_stopped(&org, "dup");
    set_workspace_status(&org, dup.workspace, WorkspaceStatus::Inactive);
    dup.expect(&h, &org, dup.workspace, Inactive, Inactive);

    // Behind a leaky store the guard refuses the merge: `merge_into` checked it changed nothing.
    if dup.merge_into(&h, &org, into, (Inactive, Inactive)) {
        dup.expect(&h, &org, into, Active, Inactive);
        let run = org
            .workspace(into)
            .unwrap()
            .start_sync(dup.running)
            .unwrap();
        assert_eq!(run.connection_id, dup.running);
        set_workspace_status(&org, into, WorkspaceStatus::Inactive);
        dup.expect(&h, &org, into, Inactive, Inactive);
        set_workspace_status(&org, into, WorkspaceStatus::Active);
        dup.expect(&h, &org, into, Active, Inactive);
    } else {
        assert!(h.is_leaky());
    }
}

/// A fault at any write call of a merge (the target's data key, the merge's transaction)
/// changes nothing, and the merge then succeeds.
pub fn fault_at_any_write_of_a_merge_changes_nothing(factory: &dyn Fn() -> Harness) {
    sweep(
        factory,
        1,
        duplicates,
        |_, d| {
            d.org
                .merge_workspaces(d.dup.workspace_id, d.main.workspace_id)
                .map(|_| ())
        },
        |h, d| {
            let mut text = format!("{:?}\n", h.stored());
            for ws in [d.dup.workspace_id, d.main.workspace_id] {
                let view = View::read(&d.org.workspace(ws).unwrap(), 100).unwrap();
                text.push_str(&format!("{view:?}\n"));
            }
            text
        },
        |h, d| {
            h.assert_not_found(d.org.get_workspace(d.dup.workspace_id));
            let revealed = d
                .org
                .reveal_source_config(d.main.workspace_id, d.dup_source.source.id)
                .unwrap();
            assert_eq!(revealed.as_map()["api_key"], "sk_live_dup-billing");
        },
    );
}
