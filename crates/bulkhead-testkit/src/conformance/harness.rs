//! The [`Harness`]: an engine over one adapter's store with a manual clock, and what the adapter
//! offers besides (a dump of its tenant rows, its raw bytes, a reopen, faults, leaks).

use std::any::Any;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bulkhead_core::{
    Clock, Connection, Destination, Engine, EngineConfig, Error, ManualClock, MasterKey, OrgId,
    Result, Source, Store, SyncRun, Timestamp, Workspace, WorkspaceId,
};
use uuid::Uuid;

use crate::wrappers::Faults;

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
