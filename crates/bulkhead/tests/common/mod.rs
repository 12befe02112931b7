//! Shared setup for the integration tests: a fresh database file, a manual clock, builders for
//! the objects of a workspace, and readers that collect every page of a list.
//!
//! Only the public API of `bulkhead` is used here, except [`raw_connection`], which opens the
//! database file directly for fault injection.
#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

use std::collections::BTreeSet;
use std::fmt;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bulkhead::{
    Config, Connection, ConnectionId, ConnectorConfig, Destination, DestinationId, Engine, Error,
    ExternalId, ManualClock, NewConnection, NewDestination, NewSource, ObjectKind, OrgScope, Page,
    Paged, Result, Schedule, Source, SourceId, SyncOutcome, SyncRun, SyncRunId, Timestamp,
    Workspace, WorkspaceFilter, WorkspaceId, WorkspaceScope,
};

/// Where every test clock starts: 2026-01-01T00:00:00Z.
pub(crate) const START: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);

/// A fresh database file in its own temporary directory, with an engine open on it.
pub(crate) struct Db {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) engine: Engine,
}

impl Db {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bulkhead.db");
        // The key file next to the database is where `Engine::open` looks by default, so
        // every engine and process a test opens on this file finds the same master key.
        bulkhead::MasterKey::create_file(&bulkhead::default_key_file(&path)).unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let engine = Engine::open(&path, config(&clock)).unwrap();
        Self {
            dir,
            path,
            clock,
            engine,
        }
    }

    /// A second, independent engine on the same file and clock.
    pub(crate) fn open_another_engine(&self) -> Engine {
        Engine::open(&self.path, config(&self.clock)).unwrap()
    }

    /// Drops the engine (closing the file, once no scope holds it) and opens a new one.
    pub(crate) fn reopen(self) -> Self {
        let Self {
            dir,
            path,
            clock,
            engine,
        } = self;
        drop(engine);
        let engine = Engine::open(&path, config(&clock)).unwrap();
        Self {
            dir,
            path,
            clock,
            engine,
        }
    }

    /// Moves the clock one second forward, so the next object sorts after the previous one.
    pub(crate) fn tick(&self) {
        self.clock.advance(Duration::from_secs(1));
    }

    /// What the clock reads now.
    pub(crate) fn now(&self) -> Timestamp {
        bulkhead::Clock::now(&*self.clock)
    }

    /// A new organization named `name`, and its scope.
    pub(crate) fn org(&self, name: &str) -> OrgScope {
        let (_, key) = self.engine.create_organization(name).unwrap();
        self.engine.authenticate_org(key.expose()).unwrap()
    }
}

/// The configuration every test engine uses: defaults, with `clock`.
pub(crate) fn config(clock: &Arc<ManualClock>) -> Config {
    Config::default().with_clock(Arc::clone(clock) as Arc<dyn bulkhead::Clock>)
}

/// A raw SQLite connection to `path`, outside the engine: only for fault injection.
pub(crate) fn raw_connection(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

pub(crate) fn ext(text: &str) -> ExternalId {
    text.parse().unwrap()
}

/// The scope of the workspace for `external_id` in `org`, created if needed.
pub(crate) fn workspace(org: &OrgScope, external_id: &str) -> WorkspaceScope {
    let ws = org.get_or_create_workspace(&ext(external_id)).unwrap();
    org.workspace(ws.workspace.id).unwrap()
}

pub(crate) fn new_source(name: &str) -> NewSource {
    NewSource {
        name: name.parse().unwrap(),
        connector: "stripe".parse().unwrap(),
        config: ConnectorConfig::new(serde_json::json!({ "account_id": name })).unwrap(),
    }
}

pub(crate) fn new_destination(name: &str) -> NewDestination {
    NewDestination {
        name: name.parse().unwrap(),
        connector: "s3".parse().unwrap(),
        config: ConnectorConfig::new(serde_json::json!({ "bucket": name })).unwrap(),
    }
}

pub(crate) fn new_connection(
    name: &str,
    source_id: SourceId,
    destination_id: DestinationId,
) -> NewConnection {
    NewConnection {
        name: name.parse().unwrap(),
        source_id,
        destination_id,
        schedule: Schedule::Cron("0 * * * *".parse().unwrap()),
    }
}

/// A source, a destination and an active connection between them, one second apart.
pub(crate) fn pipeline(
    db: &Db,
    ws: &WorkspaceScope,
    name: &str,
) -> (Source, Destination, Connection) {
    let source = ws
        .create_source(new_source(&format!("{name} source")))
        .unwrap();
    db.tick();
    let destination = ws
        .create_destination(new_destination(&format!("{name} destination")))
        .unwrap();
    db.tick();
    let connection = ws
        .create_connection(new_connection(name, source.id, destination.id))
        .unwrap();
    db.tick();
    (source, destination, connection)
}

/// Every item of a paged list, following `next` cursors with pages of `limit`.
pub(crate) fn all_pages<T>(limit: u32, mut list: impl FnMut(&Page) -> Result<Paged<T>>) -> Vec<T> {
    let mut page = Page::first(limit);
    let mut items = Vec::new();
    loop {
        let paged = list(&page).unwrap();
        assert!(
            paged.items.len() <= usize::try_from(limit).unwrap(),
            "a page holds more items than its limit"
        );
        items.extend(paged.items);
        match paged.next {
            Some(cursor) => page = Page::after(cursor, limit),
            None => return items,
        }
    }
}

/// The ids of `items`, as a set; fails if an id appears twice.
pub(crate) fn id_set<T, I: Ord + fmt::Debug + Hash + Copy>(
    items: &[T],
    id: impl Fn(&T) -> I,
) -> BTreeSet<I> {
    let set: BTreeSet<I> = items.iter().map(&id).collect();
    assert_eq!(set.len(), items.len(), "a list returned an id twice");
    set
}

/// Everything a workspace holds, read through its scope: what "unchanged" is compared on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Contents {
    pub(crate) workspace: Workspace,
    pub(crate) sources: Vec<Source>,
    pub(crate) destinations: Vec<Destination>,
    pub(crate) connections: Vec<Connection>,
    /// The sync history of each connection, in the order of `connections`.
    pub(crate) sync_runs: Vec<Vec<SyncRun>>,
}

impl Contents {
    pub(crate) fn read(ws: &WorkspaceScope) -> Self {
        let connections = all_pages(2, |p| ws.list_connections(p));
        let sync_runs = connections
            .iter()
            .map(|c| all_pages(2, |p| ws.list_sync_runs(c.id, p)))
            .collect();
        Self {
            workspace: ws.workspace().unwrap(),
            sources: all_pages(2, |p| ws.list_sources(p)),
            destinations: all_pages(2, |p| ws.list_destinations(p)),
            connections,
            sync_runs,
        }
    }

    pub(crate) fn source_ids(&self) -> BTreeSet<SourceId> {
        id_set(&self.sources, |s| s.id)
    }

    pub(crate) fn destination_ids(&self) -> BTreeSet<DestinationId> {
        id_set(&self.destinations, |d| d.id)
    }

    pub(crate) fn connection_ids(&self) -> BTreeSet<ConnectionId> {
        id_set(&self.connections, |c| c.id)
    }

    pub(crate) fn sync_run_ids(&self) -> BTreeSet<SyncRunId> {
        let runs: Vec<&SyncRun> = self.sync_runs.iter().flatten().collect();
        id_set(&runs, |r| r.id)
    }
}

/// What one customer was given when the world was built: the ids it must see, and only those.
pub(crate) struct Customer {
    pub(crate) scope: WorkspaceScope,
    pub(crate) sources: BTreeSet<SourceId>,
    pub(crate) destinations: BTreeSet<DestinationId>,
    pub(crate) connections: BTreeSet<ConnectionId>,
    pub(crate) sync_runs: BTreeSet<SyncRunId>,
    /// A source no connection uses (deletable by its owner).
    pub(crate) unused_source: SourceId,
    /// A destination no connection uses (deletable by its owner).
    pub(crate) unused_destination: DestinationId,
    /// A connection with a finished run and a running one.
    pub(crate) busy_connection: ConnectionId,
    /// A sync run still running (finishable by its owner).
    pub(crate) running_run: SyncRunId,
}

impl Customer {
    pub(crate) fn id(&self) -> WorkspaceId {
        self.scope.workspace_id()
    }
}

/// Two organizations: A and B in org 1, C in org 2, each with sources, destinations,
/// connections and sync runs.
pub(crate) struct World {
    pub(crate) org1: OrgScope,
    pub(crate) org2: OrgScope,
    pub(crate) a: Customer,
    pub(crate) b: Customer,
    pub(crate) c: Customer,
}

impl World {
    pub(crate) fn build(db: &Db) -> Self {
        let org1 = db.org("Org one");
        let org2 = db.org("Org two");
        let a = populate(db, workspace(&org1, "customer-a"), "A");
        let b = populate(db, workspace(&org1, "customer-b"), "B");
        let c = populate(db, workspace(&org2, "customer-c"), "C");
        Self {
            org1,
            org2,
            a,
            b,
            c,
        }
    }
}

/// Fills `ws`: three sources (one unused), two destinations (one unused), two connections,
/// and three sync runs (succeeded, running, failed).
pub(crate) fn populate(db: &Db, ws: WorkspaceScope, tag: &str) -> Customer {
    let (s1, d1, c1) = pipeline(db, &ws, &format!("{tag} one"));
    let s2 = ws
        .create_source(new_source(&format!("{tag} two source")))
        .unwrap();
    db.tick();
    let c2 = ws
        .create_connection(new_connection(&format!("{tag} two"), s2.id, d1.id))
        .unwrap();
    db.tick();
    let unused_source = ws
        .create_source(new_source(&format!("{tag} unused")))
        .unwrap();
    db.tick();
    let unused_destination = ws
        .create_destination(new_destination(&format!("{tag} unused")))
        .unwrap();
    db.tick();
    let r1 = ws.start_sync(c1.id).unwrap();
    db.tick();
    ws.finish_sync(
        r1.id,
        SyncOutcome::Succeeded {
            rows: 10,
            bytes: 800,
        },
    )
    .unwrap();
    db.tick();
    let r2 = ws.start_sync(c1.id).unwrap();
    db.tick();
    let r3 = ws.start_sync(c2.id).unwrap();
    db.tick();
    ws.finish_sync(
        r3.id,
        SyncOutcome::Failed {
            error: format!("{tag}: credentials expired"),
            rows: 1,
            bytes: 2,
        },
    )
    .unwrap();
    db.tick();
    Customer {
        scope: ws,
        sources: [s1.id, s2.id, unused_source.id].into(),
        destinations: [d1.id, unused_destination.id].into(),
        connections: [c1.id, c2.id].into(),
        sync_runs: [r1.id, r2.id, r3.id].into(),
        unused_source: unused_source.id,
        unused_destination: unused_destination.id,
        busy_connection: c1.id,
        running_run: r2.id,
    }
}

/// Asserts `result` is [`Error::NotFound`] for the object `kind` with id `id`.
#[track_caller]
pub(crate) fn assert_not_found<T: fmt::Debug>(
    result: Result<T>,
    kind: ObjectKind,
    id: impl fmt::Display,
) {
    let err = result.expect_err("a foreign or missing id must not be found");
    assert!(err.is_not_found(), "expected not found, got {err:?}");
    match err {
        Error::NotFound {
            kind: got_kind,
            id: got_id,
        } => {
            assert_eq!(got_kind, kind);
            assert_eq!(got_id, id.to_string());
        }
        other => panic!("expected Error::NotFound, got {other:?}"),
    }
}

/// Asserts `result` is [`Error::InvalidInput`] naming `field`.
#[track_caller]
pub(crate) fn assert_invalid<T: fmt::Debug>(result: Result<T>, field: &str) {
    match result {
        Err(Error::InvalidInput { field: got, reason }) => {
            assert_eq!(got, field, "wrong field named (reason: {reason})");
        }
        other => panic!("expected invalid {field}, got {other:?}"),
    }
}

/// Asserts `result` is [`Error::Conflict`].
#[track_caller]
pub(crate) fn assert_conflict<T: fmt::Debug>(result: Result<T>) {
    match result {
        Err(Error::Conflict { .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Every workspace of `org` matching `filter`, in list order, read with pages of `limit`.
pub(crate) fn all_workspaces(
    org: &OrgScope,
    filter: &WorkspaceFilter,
    limit: u32,
) -> Vec<Workspace> {
    all_pages(limit, |p| org.list_workspaces(filter, p))
}

/// Credential helpers, for the token, org key and secrets-at-rest tests.
impl Db {
    /// A new organization named `name` with `settings`, and its scope.
    pub(crate) fn org_with(&self, name: &str, settings: bulkhead::OrgSettings) -> OrgScope {
        let (_, key) = self
            .engine
            .create_organization_with(name, settings)
            .unwrap();
        self.engine.authenticate_org(key.expose()).unwrap()
    }

    /// A new organization that signs its tokens with EdDSA, and its scope.
    pub(crate) fn eddsa_org(&self, name: &str) -> OrgScope {
        self.org_with(
            name,
            bulkhead::OrgSettings {
                token_algorithm: bulkhead::Algorithm::EdDsa,
                ..bulkhead::OrgSettings::default()
            },
        )
    }
}

/// A scoped token with default options for the customer `external_id` of `org`.
pub(crate) fn issue(org: &OrgScope, external_id: &str) -> bulkhead::IssuedToken {
    org.scoped_token(&bulkhead::ScopedTokenRequest::new(ext(external_id)))
        .unwrap()
}

/// Asserts `result` is [`Error::InvalidToken`] for `reason`.
#[track_caller]
pub(crate) fn assert_token_rejected<T: fmt::Debug>(
    result: Result<T>,
    reason: bulkhead::TokenRejection,
) {
    match result {
        Err(Error::InvalidToken {
            reason: got,
            detail,
        }) => assert_eq!(got, reason, "refused for another reason: {detail}"),
        other => panic!("expected a token refused as {reason:?}, got {other:?}"),
    }
}

/// Template, tag and secret helpers, for the template and sealed-secret tests.
pub(crate) mod catalog {
    use std::collections::BTreeSet;

    use bulkhead::{
        ConfigSpec, ConnectorConfig, NewConnectionTemplate, NewSourceTemplate, OrgScope, Schedule,
        ScopedTokenRequest, Tag, TagMode, TagSelection, WorkspaceScope,
    };

    use super::{Db, ext};

    pub(crate) fn tag(name: &str) -> Tag {
        name.parse().unwrap()
    }

    pub(crate) fn tags(names: &[&str]) -> BTreeSet<Tag> {
        names.iter().map(|n| tag(n)).collect()
    }

    /// A selection of `names` matched with `mode`.
    pub(crate) fn select(names: &[&str], mode: TagMode) -> TagSelection {
        TagSelection::parse(names.iter().copied(), mode).unwrap()
    }

    /// Creates each tag of `names` in `org`.
    pub(crate) fn create_tags(org: &OrgScope, names: &[&str]) {
        for name in names {
            org.create_tag(&tag(name)).unwrap();
        }
    }

    pub(crate) fn json_config(value: serde_json::Value) -> ConnectorConfig {
        ConnectorConfig::new(value).unwrap()
    }

    pub(crate) fn spec(value: serde_json::Value) -> ConfigSpec {
        ConfigSpec::parse(value).unwrap()
    }

    pub(crate) fn cron(text: &str) -> Schedule {
        Schedule::Cron(text.parse().unwrap())
    }

    /// A source template request for the `stripe` connector.
    pub(crate) fn source_template(
        name: &str,
        default_config: serde_json::Value,
        spec_value: serde_json::Value,
        tag_names: &[&str],
    ) -> NewSourceTemplate {
        NewSourceTemplate {
            name: name.parse().unwrap(),
            connector: "stripe".parse().unwrap(),
            default_config: json_config(default_config),
            spec: spec(spec_value),
            tags: tags(tag_names),
        }
    }

    /// A source template request with an empty default and spec.
    pub(crate) fn plain_source_template(name: &str, tag_names: &[&str]) -> NewSourceTemplate {
        source_template(
            name,
            serde_json::json!({}),
            serde_json::json!({"type": "object"}),
            tag_names,
        )
    }

    /// A connection template request for an `s3` destination.
    pub(crate) fn connection_template(
        name: &str,
        destination_name: &str,
        destination_config: serde_json::Value,
        destination_spec: serde_json::Value,
        schedule: Schedule,
        tag_names: &[&str],
    ) -> NewConnectionTemplate {
        NewConnectionTemplate {
            name: name.parse().unwrap(),
            destination_name: destination_name.parse().unwrap(),
            destination_connector: "s3".parse().unwrap(),
            destination_config: json_config(destination_config),
            destination_spec: spec(destination_spec),
            schedule,
            tags: tags(tag_names),
        }
    }

    /// A connection template request with an empty destination spec, hourly.
    pub(crate) fn plain_connection_template(
        name: &str,
        tag_names: &[&str],
    ) -> NewConnectionTemplate {
        connection_template(
            name,
            &format!("{name} destination"),
            serde_json::json!({ "bucket": name }),
            serde_json::json!({"type": "object"}),
            cron("0 * * * *"),
            tag_names,
        )
    }

    /// The customer's side: a scoped token for `external_id` (storing the selections given)
    /// and the scope it authenticates to.
    pub(crate) fn customer(
        db: &Db,
        org: &OrgScope,
        external_id: &str,
        source_tags: Option<TagSelection>,
        connection_tags: Option<TagSelection>,
    ) -> (bulkhead::IssuedToken, WorkspaceScope) {
        let mut request = ScopedTokenRequest::new(ext(external_id));
        if let Some(selection) = source_tags {
            request = request.source_tags(selection);
        }
        if let Some(selection) = connection_tags {
            request = request.connection_tags(selection);
        }
        let issued = org.scoped_token(&request).unwrap();
        let scope = db.engine.authenticate(issued.token.expose()).unwrap();
        (issued, scope)
    }

    /// Rows of `table` in the whole file, counted outside the engine.
    pub(crate) fn raw_rows(db: &Db, table: &str) -> i64 {
        super::raw_connection(&db.path)
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }
}
