//! A proptest state-machine model of tenancy: several organizations with several workspaces
//! each, and random operations on them, checked against a reference after every step.
//!
//! The reference ([`Reference`], state [`World`]) knows which object belongs to which
//! workspace, what is alive and what was deleted, and so what every operation must answer:
//! success, not found, permission denied or conflict. Objects are named by [`Handle`]s, small
//! numbers chosen when the step that creates them is generated; the system under test maps
//! them to the real ids the engine hands out, and keeps the last value the engine returned
//! for each.
//!
//! Steps (see [`Step`]): raw sources and destinations created by the organization (raw
//! creation is the organization's alone), sources from templates through a workspace token
//! (which bring a destination and a connection per matching connection template, reusing the
//! workspace's destination of a template), connections, sync runs started and finished, get,
//! update and delete of any object — the actor's own or one of another workspace or
//! organization, by an organization's scope or a scoped token —, ids that never existed,
//! listings walked page by page with random limits, tokens expired (the clock moved past
//! their expiry plus the leeway: refused as expired, a new one works), tokens revoked (one, or
//! all of a workspace's), tokens revoked by the wrong organization, another organization's
//! workspace addressed by id, workspaces deleted and recreated under their external id, and
//! workspaces made inactive and active again.
//!
//! After every step ([`StateMachineTest::check_invariants`]):
//! - each workspace's view (every page of every list, including each connection's sync
//!   runs, with a page limit that changes from step to step) equals the model's objects of
//!   that workspace, value for value;
//! - no row of another tenant appears in any result;
//! - each organization's workspace listing equals its workspaces;
//! - with a dump, the whole store equals the model (so a failed or refused operation left
//!   nothing behind and changed nothing), and the union of all tenant views equals the store;
//! - every isolation breach the engine counted was reported to a caller as
//!   [`Error::IsolationBreach`] (and over a correct store there is none).
//!
//! Over a leaky store ([`Harness::is_leaky`]) the guard alone must keep these: a listing or a
//! foreign lookup may be refused as a breach instead of answering (the view is then checked
//! object by object through lookups of the workspace's own ids), never answered with a foreign
//! row, and an operation that should succeed must still succeed.
//!
//! Run it with [`run`]: `BULKHEAD_PROPTEST_CASES` sets the number of cases (default
//! [`DEFAULT_CASES`]; 0 or anything but a whole number fails the test), each a sequence of 1
//! to [`MAX_STEPS`] steps.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bulkhead_core::{
    Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, ConnectorUpdate, Destination,
    DestinationId, Error, IssuedToken, OrgScope, Result, ScopedTokenRequest, Source, SourceId,
    SyncOutcome, SyncRun, SyncRunId, TokenRejection, Workspace, WorkspaceId, WorkspaceScope,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use uuid::Uuid;

use crate::conformance::{
    Catalog, Harness, LEEWAY, StoredRow, TenantObject, View, all_pages, all_workspaces, any_of,
    ext, from_template, install_catalog, new_connection, new_org, raw_destination, raw_source,
    view_of,
};

/// Cases run by default (each a fresh store).
pub const DEFAULT_CASES: u32 = 256;

/// The longest sequence of steps in a case.
pub const MAX_STEPS: usize = 50;

/// How many cases to run: `BULKHEAD_PROPTEST_CASES`, else [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    cases_or(DEFAULT_CASES)
}

/// How many cases to run: `BULKHEAD_PROPTEST_CASES`, else `default`.
///
/// # Panics
///
/// If the variable is set to anything but a whole number from 1: zero cases would pass
/// proving nothing, and a typo would silently run the default.
pub fn cases_or(default: u32) -> u32 {
    let value = match std::env::var("BULKHEAD_PROPTEST_CASES") {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(value)) => Some(value.to_string_lossy().into_owned()),
    };
    cases_from(value.as_deref(), default).unwrap_or_else(|e| panic!("{e}"))
}

/// The number of cases `value` (of `BULKHEAD_PROPTEST_CASES`) asks for, else `default`; an
/// error for zero or for text that is not a whole number.
fn cases_from(value: Option<&str>, default: u32) -> Result<u32, String> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<u32>() {
        Ok(0) => Err(
            "BULKHEAD_PROPTEST_CASES is 0: zero cases would prove nothing; set it to 1 or more, \
             or unset it for the default"
                .to_owned(),
        ),
        Ok(cases) => Ok(cases),
        Err(e) => Err(format!(
            "BULKHEAD_PROPTEST_CASES is `{value}`, not a number of cases ({e}); set it to a \
             whole number from 1, or unset it for the default"
        )),
    }
}

/// `None` for the refusal of a token that was revoked or has expired; any other error fails
/// the test.
#[track_caller]
fn no_longer_valid<T>(e: Error) -> Option<T> {
    match e {
        Error::InvalidToken {
            reason: bulkhead_core::TokenRejection::Revoked,
            ..
        }
        | Error::TokenExpired { .. } => None,
        other => panic!("expected a revoked or expired token, got {other:?}"),
    }
}

/// An adapter under test: how to make a fresh harness for each case.
pub trait Adapter: 'static {
    /// A harness over a new, empty store.
    fn harness() -> Harness;
}

/// Runs the model against adapter `A`: [`cases`] sequences of 1 to [`MAX_STEPS`] steps.
/// Panics with the smallest failing sequence found.
pub fn run<A: Adapter>() {
    run_cases::<A>(cases());
}

/// [`run`] with `cases` cases: for an adapter whose every call crosses a network, a smaller
/// default keeps `cargo test` short (`BULKHEAD_PROPTEST_CASES` still overrides it; pass
/// [`cases_or`]).
pub fn run_cases<A: Adapter>(cases: u32) {
    assert!(cases > 0, "a model run of zero cases proves nothing");
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    };
    RUN.with(|r| r.set((false, 0)));
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(
        &Reference::sequential_strategy(1..=MAX_STEPS),
        |(initial, steps, seen)| {
            IsolationTest::<A>::test_sequential(config.clone(), initial, steps, seen);
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("the isolation model failed: {e}");
    }
    let (leaky, breaches) = RUN.with(Cell::get);
    assert!(
        !leaky || breaches > 0,
        "the leaky store never leaked a row to the guard: the model did not exercise it"
    );
    if std::env::var_os("BULKHEAD_MODEL_STATS").is_some() {
        eprintln!("{breaches:>8}  isolation breaches refused by the guard");
        let stats = STATS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (what, count) in stats.iter() {
            eprintln!("{count:>8}  {what}");
        }
    }
}

thread_local! {
    /// Of the cases run by [`run`] on this thread: whether the store leaks, and how many
    /// breaches the guard refused in all.
    static RUN: Cell<(bool, u64)> = const { Cell::new((false, 0)) };
}

/// How often each kind of step met each expected answer, printed by [`run`] when
/// `BULKHEAD_MODEL_STATS` is set (to see what the generated sequences exercise).
static STATS: std::sync::Mutex<BTreeMap<String, u64>> = std::sync::Mutex::new(BTreeMap::new());

fn count(step: &Step, expect: Expect) {
    if std::env::var_os("BULKHEAD_MODEL_STATS").is_none() {
        return;
    }
    let name = format!("{step:?}");
    let name = name.split([' ', '{']).next().unwrap_or_default();
    let via = match step {
        Step::CreateConnection { actor, .. }
        | Step::StartSync { actor, .. }
        | Step::FinishSync { actor, .. }
        | Step::Get { actor, .. }
        | Step::Update { actor, .. }
        | Step::Delete { actor, .. }
        | Step::List { actor, .. }
        | Step::ListSyncRuns { actor, .. }
        | Step::GuessId { actor, .. } => format!(" via {:?}", actor.via),
        _ => String::new(),
    };
    *STATS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(format!("{name}{via} -> {expect:?}"))
        .or_default() += 1;
}

// ---------------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------------

/// The name of an object in the model.
pub type Handle = u32;

/// Handles reserved by each step that may create objects: a source from a template makes
/// the source, then a destination and a connection per connection template (two).
const STRIDE: Handle = 8;

/// The kind of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A source.
    Source,
    /// A destination.
    Destination,
    /// A connection.
    Connection,
    /// A sync run.
    SyncRun,
}

/// Through which scope a step acts on its workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The organization's scope of the workspace (every operation).
    Org,
    /// A scoped token of the workspace (the default operations: no delete, no sync, no raw
    /// creation), authenticated for the step.
    Token,
}

/// Who acts: a workspace (by index), through one of its scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The workspace's index.
    pub ws: usize,
    /// Which scope.
    pub via: Via,
}

/// One operation of a sequence. Workspaces and organizations are indices; objects are
/// handles, of the actor's workspace or any other, alive or deleted.
#[derive(Clone, Debug)]
pub enum Step {
    /// The organization creates a raw source in `ws`, handle `at`.
    CreateSource {
        /// The workspace.
        ws: usize,
        /// The new handle.
        at: Handle,
    },
    /// The organization creates a raw destination in `ws`, handle `at`.
    CreateDestination {
        /// The workspace.
        ws: usize,
        /// The new handle.
        at: Handle,
    },
    /// `ws`'s token creates a source from source template `template` of organization `org`
    /// (its own, or another's).
    CreateFromTemplate {
        /// The workspace.
        ws: usize,
        /// The template's organization.
        org: usize,
        /// The template (0 `stripe`, 1 `hubspot`).
        template: usize,
        /// The first handle of what it makes.
        at: Handle,
    },
    /// A connection from `source` to `destination`.
    CreateConnection {
        /// Who asks.
        actor: Actor,
        /// The source's handle.
        source: Handle,
        /// The destination's handle.
        destination: Handle,
        /// The new handle.
        at: Handle,
    },
    /// A sync run of `connection`.
    StartSync {
        /// Who asks.
        actor: Actor,
        /// The connection's handle.
        connection: Handle,
        /// The new handle.
        at: Handle,
    },
    /// The end of `run`: 0 succeeded, 1 failed, 2 cancelled.
    FinishSync {
        /// Who asks.
        actor: Actor,
        /// The run's handle.
        run: Handle,
        /// How it ended.
        outcome: u8,
    },
    /// A lookup of `target` by id.
    Get {
        /// Who asks.
        actor: Actor,
        /// The object.
        target: Handle,
    },
    /// A rename of `target` (and for a connection, a status switch).
    Update {
        /// Who asks.
        actor: Actor,
        /// The object (not a sync run).
        target: Handle,
    },
    /// A deletion of `target`.
    Delete {
        /// Who asks.
        actor: Actor,
        /// The object (not a sync run).
        target: Handle,
    },
    /// A listing of the actor's objects of `kind`, walked in pages of `limit`.
    List {
        /// Who asks.
        actor: Actor,
        /// Sources, destinations or connections.
        kind: Kind,
        /// The page size.
        limit: u32,
    },
    /// A listing of `connection`'s sync runs, walked in pages of `limit`.
    ListSyncRuns {
        /// Who asks.
        actor: Actor,
        /// The connection's handle.
        connection: Handle,
        /// The page size.
        limit: u32,
    },
    /// A lookup of an id that never existed.
    GuessId {
        /// Who asks.
        actor: Actor,
        /// The kind looked up.
        kind: Kind,
        /// The id.
        id: u128,
    },
    /// The clock moves past every token's expiry plus the leeway: each is refused as
    /// expired, and a new one works.
    ExpireTokens,
    /// The organization revokes `ws`'s token (or, with `all`, all of them): it is refused,
    /// and a new one works.
    RevokeToken {
        /// The workspace.
        ws: usize,
        /// Revoke every token of the workspace.
        all: bool,
    },
    /// Organization `org` tries to revoke a token of `ws`, another organization's.
    RevokeForeignToken {
        /// The organization that tries.
        org: usize,
        /// The workspace whose token it is.
        ws: usize,
    },
    /// Organization `org` addresses `ws`, another organization's workspace, by id (get,
    /// scope, update, revoke all, reveal, delete).
    ForeignWorkspace {
        /// The organization that tries.
        org: usize,
        /// The workspace.
        ws: usize,
    },
    /// The organization deletes `ws` (its objects become deleted handles), then recreates
    /// it under the same external id.
    DeleteWorkspace {
        /// The workspace.
        ws: usize,
    },
    /// The organization makes `ws` inactive (its token and a scope made from it before are
    /// refused; the organization's scope only reads), then active again (the token works,
    /// and every object is as before but for connections paused and resumed).
    PauseWorkspace {
        /// The workspace.
        ws: usize,
    },
}

/// An object of the model, alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// A source in workspace `ws`.
    Source {
        /// Its workspace.
        ws: usize,
    },
    /// A destination in `ws`, made from connection template `template` (0 or 1) or raw.
    Destination {
        /// Its workspace.
        ws: usize,
        /// Its connection template.
        template: Option<usize>,
    },
    /// A connection in `ws`.
    Connection {
        /// Its workspace.
        ws: usize,
        /// Its source.
        source: Handle,
        /// Its destination.
        destination: Handle,
        /// Whether it is active.
        active: bool,
    },
    /// A sync run in `ws`.
    SyncRun {
        /// Its workspace.
        ws: usize,
        /// Its connection.
        connection: Handle,
        /// Whether it has ended.
        finished: bool,
    },
}

impl Object {
    /// Its workspace.
    pub fn ws(&self) -> usize {
        match *self {
            Self::Source { ws }
            | Self::Destination { ws, .. }
            | Self::Connection { ws, .. }
            | Self::SyncRun { ws, .. } => ws,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Source { .. } => Kind::Source,
            Self::Destination { .. } => Kind::Destination,
            Self::Connection { .. } => Kind::Connection,
            Self::SyncRun { .. } => Kind::SyncRun,
        }
    }
}

/// What the last step must answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Success.
    Ok,
    /// Not found (a foreign, deleted or unknown id).
    NotFound,
    /// Permission denied (an operation the scope does not grant, a template it does not see).
    Denied,
    /// A conflict (an object in use, a run already ended, an inactive connection).
    Conflict,
    /// A sync of the connection is already running.
    Running,
}

/// The reference state: the layout, every live object, every deleted one, and what the last
/// step must answer.
#[derive(Clone, Debug)]
pub struct World {
    /// Number of organizations.
    pub orgs: usize,
    /// Workspaces per organization; workspace `w` belongs to organization `w / per_org`.
    pub per_org: usize,
    /// The live objects.
    pub objects: BTreeMap<Handle, Object>,
    /// The deleted objects, by kind.
    pub ghosts: BTreeMap<Handle, Kind>,
    /// The first handle not yet reserved.
    pub next: Handle,
    /// What the last step must answer.
    pub expect: Expect,
    /// The handles the last step created (a raw object, a connection, a run, a source from a
    /// template).
    pub made: Vec<Handle>,
    /// For a source from a template: per applied connection template, its index, the
    /// destination's handle (maybe an existing one, reused) and the new connection's.
    pub pipelines: Vec<(usize, Handle, Handle)>,
}

/// The source templates (by index) a workspace sees, by its index in its organization: the
/// first selects `production` (stripe), the second `premium` (hubspot), the third nothing (so
/// sees all).
fn sees_source_template(slot: usize, template: usize) -> bool {
    match slot % 3 {
        0 => template == 0,
        1 => template == 1,
        _ => true,
    }
}

/// The connection templates (by index, in catalog order) that apply to a workspace: `s3`
/// carries `production`, `warehouse` carries `production` and `premium`.
fn applied_connection_templates(slot: usize) -> &'static [usize] {
    match slot % 3 {
        1 => &[1],
        _ => &[0, 1],
    }
}

impl World {
    fn new(orgs: usize, per_org: usize) -> Self {
        Self {
            orgs,
            per_org,
            objects: BTreeMap::new(),
            ghosts: BTreeMap::new(),
            next: 0,
            expect: Expect::Ok,
            made: Vec::new(),
            pipelines: Vec::new(),
        }
    }

    /// Number of workspaces.
    pub fn workspaces(&self) -> usize {
        self.orgs * self.per_org
    }

    /// The organization of workspace `ws`.
    pub fn org_of(&self, ws: usize) -> usize {
        ws / self.per_org
    }

    /// Workspace `ws`'s index inside its organization.
    pub fn slot_of(&self, ws: usize) -> usize {
        ws % self.per_org
    }

    /// The kind of a handle, alive or deleted.
    pub fn kind_of(&self, handle: Handle) -> Option<Kind> {
        self.objects
            .get(&handle)
            .map(Object::kind)
            .or_else(|| self.ghosts.get(&handle).copied())
    }

    /// Every handle of `kind`, alive or deleted.
    fn handles(&self, kind: Kind) -> Vec<Handle> {
        let mut out: Vec<Handle> = self
            .objects
            .iter()
            .filter(|(_, o)| o.kind() == kind)
            .map(|(h, _)| *h)
            .collect();
        out.extend(
            self.ghosts
                .iter()
                .filter(|(_, k)| **k == kind)
                .map(|(h, _)| *h),
        );
        out
    }

    /// Whether the connection `connection` has a run that has not finished.
    fn running(&self, connection: Handle) -> bool {
        self.objects.values().any(|o| {
            matches!(o, Object::SyncRun { connection: c, finished: false, .. } if *c == connection)
        })
    }

    /// The live object `handle` if it is in `ws`.
    fn own(&self, handle: Handle, ws: usize) -> Option<&Object> {
        self.objects.get(&handle).filter(|o| o.ws() == ws)
    }

    fn add(&mut self, handle: Handle, object: Object) {
        self.objects.insert(handle, object);
    }

    fn remove(&mut self, handle: Handle) {
        if let Some(object) = self.objects.remove(&handle) {
            self.ghosts.insert(handle, object.kind());
        }
    }

    fn free(&self, at: Handle) -> bool {
        (at..at.saturating_add(STRIDE)).all(|h| self.kind_of(h).is_none())
    }

    fn in_use(&self, handle: Handle) -> bool {
        self.objects.values().any(|o| {
            matches!(o, Object::Connection { source, destination, .. }
                if *source == handle || *destination == handle)
        })
    }

    fn step(mut self, step: &Step) -> Self {
        self.made.clear();
        self.pipelines.clear();
        self.expect = Expect::Ok;
        if let Some(at) = step.creates() {
            self.next = self.next.max(at.saturating_add(STRIDE));
        }
        match *step {
            Step::CreateSource { ws, at } => {
                self.add(at, Object::Source { ws });
                self.made.push(at);
            }
            Step::CreateDestination { ws, at } => {
                self.add(at, Object::Destination { ws, template: None });
                self.made.push(at);
            }
            Step::CreateFromTemplate {
                ws,
                org,
                template,
                at,
            } => {
                if org != self.org_of(ws) || !sees_source_template(self.slot_of(ws), template) {
                    self.expect = Expect::Denied;
                    return self;
                }
                self.add(at, Object::Source { ws });
                self.made.push(at);
                for (k, &ct) in applied_connection_templates(self.slot_of(ws))
                    .iter()
                    .enumerate()
                {
                    let offset = Handle::try_from(2 * k).unwrap_or(0);
                    let existing = self.objects.iter().find_map(|(h, o)| {
                        (*o == Object::Destination {
                            ws,
                            template: Some(ct),
                        })
                        .then_some(*h)
                    });
                    let destination = existing.unwrap_or(at + 1 + offset);
                    if existing.is_none() {
                        self.add(
                            destination,
                            Object::Destination {
                                ws,
                                template: Some(ct),
                            },
                        );
                    }
                    let connection = at + 2 + offset;
                    self.add(
                        connection,
                        Object::Connection {
                            ws,
                            source: at,
                            destination,
                            active: true,
                        },
                    );
                    self.pipelines.push((ct, destination, connection));
                }
            }
            Step::CreateConnection {
                actor,
                source,
                destination,
                at,
            } => {
                if self.own(source, actor.ws).is_none() || self.own(destination, actor.ws).is_none()
                {
                    self.expect = Expect::NotFound;
                } else {
                    self.add(
                        at,
                        Object::Connection {
                            ws: actor.ws,
                            source,
                            destination,
                            active: true,
                        },
                    );
                    self.made.push(at);
                }
            }
            Step::StartSync {
                actor,
                connection,
                at,
            } => {
                self.expect = match (actor.via, self.own(connection, actor.ws)) {
                    (Via::Token, _) => Expect::Denied,
                    (_, None) => Expect::NotFound,
                    (_, Some(Object::Connection { active: false, .. })) => Expect::Conflict,
                    (_, Some(_)) if self.running(connection) => Expect::Running,
                    (_, Some(_)) => Expect::Ok,
                };
                if self.expect == Expect::Ok {
                    self.add(
                        at,
                        Object::SyncRun {
                            ws: actor.ws,
                            connection,
                            finished: false,
                        },
                    );
                    self.made.push(at);
                }
            }
            Step::FinishSync { actor, run, .. } => {
                self.expect = match (actor.via, self.own(run, actor.ws)) {
                    (Via::Token, _) => Expect::Denied,
                    (_, None) => Expect::NotFound,
                    (_, Some(Object::SyncRun { finished: true, .. })) => Expect::Conflict,
                    (_, Some(_)) => Expect::Ok,
                };
                if let (Expect::Ok, Some(Object::SyncRun { finished, .. })) =
                    (self.expect, self.objects.get_mut(&run))
                {
                    *finished = true;
                }
            }
            Step::Get { actor, target } => {
                if self.own(target, actor.ws).is_none() {
                    self.expect = Expect::NotFound;
                }
            }
            Step::Update { actor, target } => {
                let kind = self.kind_of(target);
                self.expect = if actor.via == Via::Token && kind == Some(Kind::Destination) {
                    Expect::Denied
                } else if self.own(target, actor.ws).is_none() {
                    Expect::NotFound
                } else {
                    Expect::Ok
                };
                if let (Expect::Ok, Some(Object::Connection { active, .. })) =
                    (self.expect, self.objects.get_mut(&target))
                {
                    *active = !*active;
                }
            }
            Step::Delete { actor, target } => {
                self.expect = if actor.via == Via::Token {
                    Expect::Denied
                } else if self.own(target, actor.ws).is_none() {
                    Expect::NotFound
                } else if self.in_use(target) {
                    Expect::Conflict
                } else {
                    Expect::Ok
                };
                if self.expect == Expect::Ok {
                    let runs: Vec<Handle> = self
                        .objects
                        .iter()
                        .filter(|(_, o)| matches!(o, Object::SyncRun { connection, .. } if *connection == target))
                        .map(|(h, _)| *h)
                        .collect();
                    for run in runs {
                        self.remove(run);
                    }
                    self.remove(target);
                }
            }
            Step::List { .. } => {}
            Step::ListSyncRuns {
                actor, connection, ..
            } => {
                if self.own(connection, actor.ws).is_none() {
                    self.expect = Expect::NotFound;
                }
            }
            Step::GuessId { .. } => self.expect = Expect::NotFound,
            Step::ExpireTokens
            | Step::RevokeToken { .. }
            | Step::RevokeForeignToken { .. }
            | Step::ForeignWorkspace { .. }
            | Step::PauseWorkspace { .. } => {}
            Step::DeleteWorkspace { ws } => {
                let doomed: Vec<Handle> = self
                    .objects
                    .iter()
                    .filter(|(_, o)| o.ws() == ws)
                    .map(|(h, _)| *h)
                    .collect();
                for handle in doomed {
                    self.remove(handle);
                }
            }
        }
        self
    }

    /// Whether `step` still makes sense here (after shrinking removed earlier steps).
    fn allows(&self, step: &Step) -> bool {
        let n = self.workspaces();
        let actor_ok = |a: &Actor| a.ws < n;
        let is = |h: Handle, kind: Kind| self.kind_of(h) == Some(kind);
        if let Some(at) = step.creates()
            && !self.free(at)
        {
            return false;
        }
        match *step {
            Step::CreateSource { ws, .. } | Step::CreateDestination { ws, .. } => ws < n,
            Step::CreateFromTemplate {
                ws, org, template, ..
            } => ws < n && org < self.orgs && template < 2,
            Step::CreateConnection {
                actor,
                source,
                destination,
                ..
            } => actor_ok(&actor) && is(source, Kind::Source) && is(destination, Kind::Destination),
            Step::StartSync {
                actor, connection, ..
            }
            | Step::ListSyncRuns {
                actor, connection, ..
            } => actor_ok(&actor) && is(connection, Kind::Connection),
            Step::FinishSync { actor, run, .. } => actor_ok(&actor) && is(run, Kind::SyncRun),
            Step::Get { actor, target } => actor_ok(&actor) && self.kind_of(target).is_some(),
            Step::Update { actor, target } | Step::Delete { actor, target } => {
                actor_ok(&actor) && self.kind_of(target).is_some_and(|k| k != Kind::SyncRun)
            }
            Step::List { actor, kind, .. } => actor_ok(&actor) && kind != Kind::SyncRun,
            Step::GuessId { actor, .. } => actor_ok(&actor),
            Step::ExpireTokens => true,
            Step::RevokeToken { ws, .. }
            | Step::DeleteWorkspace { ws }
            | Step::PauseWorkspace { ws } => ws < n,
            Step::RevokeForeignToken { org, ws } | Step::ForeignWorkspace { org, ws } => {
                ws < n && org < self.orgs && org != self.org_of(ws)
            }
        }
    }
}

impl Step {
    /// The first handle this step reserves, if it may create objects.
    fn creates(&self) -> Option<Handle> {
        match *self {
            Self::CreateSource { at, .. }
            | Self::CreateDestination { at, .. }
            | Self::CreateFromTemplate { at, .. }
            | Self::CreateConnection { at, .. }
            | Self::StartSync { at, .. } => Some(at),
            _ => None,
        }
    }
}

/// The reference state machine of the model.
#[derive(Debug)]
pub struct Reference;

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![Just(Via::Org), Just(Via::Token)]
}

impl ReferenceStateMachine for Reference {
    type State = World;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<World> {
        (2..=3usize, 2..=3usize)
            .prop_map(|(orgs, per_org)| World::new(orgs, per_org))
            .boxed()
    }

    fn transitions(world: &World) -> BoxedStrategy<Step> {
        let n = world.workspaces();
        let orgs = world.orgs;
        let per_org = world.per_org;
        let at = world.next;
        let actor = move || (0..n, via()).prop_map(|(ws, via)| Actor { ws, via });
        let owners: Arc<BTreeMap<Handle, usize>> =
            Arc::new(world.objects.iter().map(|(h, o)| (*h, o.ws())).collect());
        // An actor for `target`: usually its owner, else anyone (a deleted object has none).
        let actor_for = {
            let owners = Arc::clone(&owners);
            move |target: Handle, own: bool, ws: usize, via: Via| Actor {
                ws: match owners.get(&target) {
                    Some(owner) if own => *owner,
                    _ => ws,
                },
                via,
            }
        };
        let mut options: Vec<(u32, BoxedStrategy<Step>)> = vec![
            (
                5,
                (0..n)
                    .prop_map(move |ws| Step::CreateSource { ws, at })
                    .boxed(),
            ),
            (
                4,
                (0..n)
                    .prop_map(move |ws| Step::CreateDestination { ws, at })
                    .boxed(),
            ),
            (
                8,
                (0..n, proptest::bool::weighted(0.15), 0..2usize)
                    .prop_map(move |(ws, foreign, template)| {
                        let own = ws / per_org;
                        let org = if foreign { (own + 1) % orgs } else { own };
                        Step::CreateFromTemplate {
                            ws,
                            org,
                            template,
                            at,
                        }
                    })
                    .boxed(),
            ),
            (
                3,
                (
                    actor(),
                    prop_oneof![
                        Just(Kind::Source),
                        Just(Kind::Destination),
                        Just(Kind::Connection)
                    ],
                    1..=5u32,
                )
                    .prop_map(|(actor, kind, limit)| Step::List { actor, kind, limit })
                    .boxed(),
            ),
            (
                2,
                (
                    actor(),
                    prop_oneof![
                        Just(Kind::Source),
                        Just(Kind::Destination),
                        Just(Kind::Connection),
                        Just(Kind::SyncRun)
                    ],
                    any::<u128>(),
                )
                    .prop_map(|(actor, kind, id)| Step::GuessId { actor, kind, id })
                    .boxed(),
            ),
            (1, Just(Step::ExpireTokens).boxed()),
            (
                2,
                (0..n, any::<bool>())
                    .prop_map(|(ws, all)| Step::RevokeToken { ws, all })
                    .boxed(),
            ),
            (
                1,
                (0..n, 1..orgs)
                    .prop_map(move |(ws, shift)| Step::RevokeForeignToken {
                        org: (ws / per_org + shift) % orgs,
                        ws,
                    })
                    .boxed(),
            ),
            (
                1,
                (0..n, 1..orgs)
                    .prop_map(move |(ws, shift)| Step::ForeignWorkspace {
                        org: (ws / per_org + shift) % orgs,
                        ws,
                    })
                    .boxed(),
            ),
            (
                1,
                (0..n).prop_map(|ws| Step::DeleteWorkspace { ws }).boxed(),
            ),
            (1, (0..n).prop_map(|ws| Step::PauseWorkspace { ws }).boxed()),
        ];

        let own_bias = || proptest::bool::weighted(0.7);
        let sources = world.handles(Kind::Source);
        let destinations = world.handles(Kind::Destination);
        let connections = world.handles(Kind::Connection);
        let runs = world.handles(Kind::SyncRun);
        let mut targets: Vec<Handle> = sources.clone();
        targets.extend(&destinations);
        targets.extend(&connections);
        let mut all = targets.clone();
        all.extend(&runs);

        if !sources.is_empty() && !destinations.is_empty() {
            let by_ws: Arc<BTreeMap<usize, Vec<Handle>>> = {
                let mut map: BTreeMap<usize, Vec<Handle>> = BTreeMap::new();
                for h in &destinations {
                    if let Some(o) = world.objects.get(h) {
                        map.entry(o.ws()).or_default().push(*h);
                    }
                }
                Arc::new(map)
            };
            let owners = Arc::clone(&owners);
            let actor_for = actor_for.clone();
            let destinations = destinations.clone();
            options.push((
                6,
                (
                    proptest::sample::select(sources.clone()),
                    any::<Index>(),
                    own_bias(),
                    0..n,
                    via(),
                )
                    .prop_map(move |(source, pick, own, ws, via)| {
                        let actor = actor_for(source, own, ws, via);
                        let local = owners.get(&source).and_then(|o| by_ws.get(o));
                        let destination = match local {
                            Some(local) if own => *pick.get(local),
                            _ => *pick.get(&destinations),
                        };
                        Step::CreateConnection {
                            actor,
                            source,
                            destination,
                            at,
                        }
                    })
                    .boxed(),
            ));
        }
        if !connections.is_empty() {
            let start_actor = actor_for.clone();
            options.push((
                5,
                (
                    proptest::sample::select(connections.clone()),
                    own_bias(),
                    0..n,
                    proptest::bool::weighted(0.85),
                )
                    .prop_map(move |(connection, own, ws, org)| Step::StartSync {
                        actor: start_actor(
                            connection,
                            own,
                            ws,
                            if org { Via::Org } else { Via::Token },
                        ),
                        connection,
                        at,
                    })
                    .boxed(),
            ));
            let list_actor = actor_for.clone();
            options.push((
                2,
                (
                    proptest::sample::select(connections),
                    own_bias(),
                    0..n,
                    via(),
                    1..=5u32,
                )
                    .prop_map(
                        move |(connection, own, ws, via, limit)| Step::ListSyncRuns {
                            actor: list_actor(connection, own, ws, via),
                            connection,
                            limit,
                        },
                    )
                    .boxed(),
            ));
        }
        if !runs.is_empty() {
            let actor_for = actor_for.clone();
            options.push((
                4,
                (
                    proptest::sample::select(runs),
                    own_bias(),
                    0..n,
                    proptest::bool::weighted(0.85),
                    0..3u8,
                )
                    .prop_map(move |(run, own, ws, org, outcome)| Step::FinishSync {
                        actor: actor_for(run, own, ws, if org { Via::Org } else { Via::Token }),
                        run,
                        outcome,
                    })
                    .boxed(),
            ));
        }
        if !all.is_empty() {
            let actor_for = actor_for.clone();
            options.push((
                8,
                (
                    proptest::sample::select(all),
                    proptest::bool::weighted(0.5),
                    0..n,
                    via(),
                )
                    .prop_map(move |(target, own, ws, via)| Step::Get {
                        actor: actor_for(target, own, ws, via),
                        target,
                    })
                    .boxed(),
            ));
        }
        if !targets.is_empty() {
            let update_actor = actor_for.clone();
            options.push((
                4,
                (
                    proptest::sample::select(targets.clone()),
                    proptest::bool::weighted(0.6),
                    0..n,
                    via(),
                )
                    .prop_map(move |(target, own, ws, via)| Step::Update {
                        actor: update_actor(target, own, ws, via),
                        target,
                    })
                    .boxed(),
            ));
            options.push((
                3,
                (
                    proptest::sample::select(targets),
                    proptest::bool::weighted(0.6),
                    0..n,
                    proptest::bool::weighted(0.85),
                )
                    .prop_map(move |(target, own, ws, org)| Step::Delete {
                        actor: actor_for(target, own, ws, if org { Via::Org } else { Via::Token }),
                        target,
                    })
                    .boxed(),
            ));
        }
        Union::new_weighted(options).boxed()
    }

    fn apply(world: World, step: &Step) -> World {
        world.step(step)
    }

    fn preconditions(world: &World, step: &Step) -> bool {
        world.allows(step)
    }
}

// ---------------------------------------------------------------------------------------------
// The system under test
// ---------------------------------------------------------------------------------------------

/// A value the engine returned, as last seen.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Source(Source),
    Destination(Destination),
    Connection(Connection),
    SyncRun(SyncRun),
}

impl Seen {
    fn row(&self) -> StoredRow {
        match self {
            Self::Source(o) => o.stored_row(),
            Self::Destination(o) => o.stored_row(),
            Self::Connection(o) => o.stored_row(),
            Self::SyncRun(o) => o.stored_row(),
        }
    }
}

/// One organization of the system under test.
struct OrgState {
    scope: OrgScope,
    catalog: Catalog,
}

/// One workspace of the system under test.
struct WsState {
    org: usize,
    slot: usize,
    external_id: String,
    record: Workspace,
    /// The organization's scope of it.
    full: WorkspaceScope,
    token: IssuedToken,
}

impl WsState {
    fn id(&self) -> WorkspaceId {
        self.record.id
    }
}

/// The engine under test, and what it has answered so far.
pub struct Sut {
    h: Harness,
    orgs: Vec<OrgState>,
    workspaces: Vec<WsState>,
    ids: BTreeMap<Handle, Uuid>,
    seen: BTreeMap<Handle, Seen>,
    steps: u64,
}

impl fmt::Debug for Sut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sut")
            .field("harness", &self.h)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

fn token_request(slot: usize, external_id: &str) -> ScopedTokenRequest {
    let request = ScopedTokenRequest::new(ext(external_id));
    match slot % 3 {
        0 => request
            .source_tags(any_of(&["production"]))
            .connection_tags(any_of(&["production"])),
        1 => request
            .source_tags(any_of(&["premium"]))
            .connection_tags(any_of(&["premium"])),
        _ => request,
    }
}

impl Sut {
    fn new(h: Harness, world: &World) -> Self {
        let mut orgs = Vec::new();
        for o in 0..world.orgs {
            let (scope, _) = new_org(&h, &format!("org-{o}"));
            let catalog = install_catalog(&h, &scope);
            orgs.push(OrgState { scope, catalog });
        }
        let mut sut = Self {
            h,
            orgs,
            workspaces: Vec::new(),
            ids: BTreeMap::new(),
            seen: BTreeMap::new(),
            steps: 0,
        };
        for ws in 0..world.workspaces() {
            let (org, slot) = (world.org_of(ws), world.slot_of(ws));
            // The same external ids in every organization: they are unique per organization.
            let external_id = format!("cust-{slot}");
            let state = sut.mint_workspace(org, slot, &external_id, true);
            sut.workspaces.push(state);
        }
        sut
    }

    /// Gets or creates the workspace through a scoped-token request, with its scopes.
    fn mint_workspace(&self, org: usize, slot: usize, external_id: &str, new: bool) -> WsState {
        let scope = &self.orgs[org].scope;
        let token = scope
            .scoped_token(&token_request(slot, external_id))
            .unwrap();
        assert_eq!(token.workspace_created, new);
        let record = scope.get_workspace(token.workspace_id).unwrap();
        let full = scope.workspace(token.workspace_id).unwrap();
        WsState {
            org,
            slot,
            external_id: external_id.to_owned(),
            record,
            full,
            token,
        }
    }

    /// A new token for workspace `ws`, replacing its current one; it must work.
    fn remint(&mut self, ws: usize) {
        let state = &self.workspaces[ws];
        let scope = &self.orgs[state.org].scope;
        let token = scope
            .scoped_token(&token_request(state.slot, &state.external_id))
            .unwrap();
        assert_eq!(token.workspace_id, state.id());
        assert!(!token.workspace_created);
        let record = scope.get_workspace(state.id()).unwrap();
        self.h.engine().authenticate(token.token.expose()).unwrap();
        let state = &mut self.workspaces[ws];
        state.token = token;
        state.record = record;
    }

    /// The scope `actor` acts through (a token is authenticated for the step).
    fn scope(&self, actor: Actor) -> WorkspaceScope {
        let ws = &self.workspaces[actor.ws];
        match actor.via {
            Via::Org => ws.full.clone(),
            Via::Token => self
                .h
                .engine()
                .authenticate(ws.token.token.expose())
                .unwrap(),
        }
    }

    fn id(&self, handle: Handle) -> Uuid {
        *self
            .ids
            .get(&handle)
            .expect("a handle of the model has an id")
    }

    /// Checks `result` against `expect`: the value on success, `None` on the expected error.
    /// Over a leaky store, an expected not-found may come as a refused breach, and so may the
    /// answer of a read (`read`); it is counted.
    #[track_caller]
    fn outcome<T: fmt::Debug>(&self, expect: Expect, read: bool, result: Result<T>) -> Option<T> {
        match (expect, result) {
            (Expect::Ok, Ok(value)) => Some(value),
            (Expect::NotFound, Err(e)) if e.is_not_found() => None,
            (Expect::Denied, Err(Error::PermissionDenied { .. }))
            | (Expect::Conflict, Err(Error::Conflict { .. }))
            | (Expect::Running, Err(Error::SyncAlreadyRunning { .. })) => None,
            (Expect::NotFound, Err(Error::IsolationBreach { .. }))
            | (Expect::Ok, Err(Error::IsolationBreach { .. }))
                if self.h.is_leaky() && (read || expect == Expect::NotFound) =>
            {
                self.h.note_breach();
                None
            }
            (expect, other) => panic!("expected {expect:?}, got {other:?}"),
        }
    }

    fn record(&mut self, handle: Handle, seen: Seen) {
        let id = seen.row().id;
        if let Some(old) = self.ids.insert(handle, id) {
            assert_eq!(old, id, "handle {handle} changed its id");
        }
        self.seen.insert(handle, seen);
    }

    fn apply(&mut self, world: &World, step: &Step) {
        self.steps += 1;
        self.h.tick();
        let expect = world.expect;
        count(step, expect);
        match *step {
            Step::CreateSource { ws, at } => {
                let made = self.workspaces[ws]
                    .full
                    .create_source(raw_source(&format!("s{at}")));
                let made = self.outcome(expect, false, made).unwrap();
                self.record(at, Seen::Source(made));
            }
            Step::CreateDestination { ws, at } => {
                let made = self.workspaces[ws]
                    .full
                    .create_destination(raw_destination(&format!("d{at}")));
                let made = self.outcome(expect, false, made).unwrap();
                self.record(at, Seen::Destination(made));
            }
            Step::CreateFromTemplate {
                ws,
                org,
                template,
                at,
            } => self.create_from_template(world, ws, org, template, at),
            Step::CreateConnection {
                actor,
                source,
                destination,
                at,
            } => {
                let request = new_connection(
                    &format!("c{at}"),
                    SourceId::from_uuid(self.id(source)).unwrap(),
                    DestinationId::from_uuid(self.id(destination)).unwrap(),
                );
                let made = self.scope(actor).create_connection(request);
                if let Some(made) = self.outcome(expect, false, made) {
                    self.record(at, Seen::Connection(made));
                }
            }
            Step::StartSync {
                actor,
                connection,
                at,
            } => {
                let id = ConnectionId::from_uuid(self.id(connection)).unwrap();
                let made = self.scope(actor).start_sync(id);
                if let Some(made) = self.outcome(expect, false, made) {
                    self.record(at, Seen::SyncRun(made));
                }
            }
            Step::FinishSync {
                actor,
                run,
                outcome,
            } => {
                let id = SyncRunId::from_uuid(self.id(run)).unwrap();
                let outcome = match outcome {
                    0 => SyncOutcome::Succeeded {
                        rows: 10,
                        bytes: 100,
                    },
                    1 => SyncOutcome::Failed {
                        error: "connector crashed".to_owned(),
                        rows: 1,
                        bytes: 2,
                    },
                    _ => SyncOutcome::Cancelled,
                };
                let done = self.scope(actor).finish_sync(id, outcome);
                if let Some(done) = self.outcome(expect, false, done) {
                    assert!(done.status.is_finished());
                    self.record(run, Seen::SyncRun(done));
                }
            }
            Step::Get { actor, target } => {
                let got = self.get(&self.scope(actor), world, target);
                if let Some(got) = self.outcome(expect, true, got) {
                    assert_eq!(Some(&got), self.seen.get(&target));
                }
            }
            Step::Update { actor, target } => self.update(world, actor, target),
            Step::Delete { actor, target } => self.delete(world, actor, target),
            Step::List { actor, kind, limit } => {
                let scope = self.scope(actor);
                let listed: Result<Vec<Seen>> = match kind {
                    Kind::Source => all_pages(limit, |p| scope.list_sources(p))
                        .map(|v| v.into_iter().map(Seen::Source).collect()),
                    Kind::Destination => all_pages(limit, |p| scope.list_destinations(p))
                        .map(|v| v.into_iter().map(Seen::Destination).collect()),
                    _ => all_pages(limit, |p| scope.list_connections(p))
                        .map(|v| v.into_iter().map(Seen::Connection).collect()),
                };
                if let Some(listed) = self.outcome(expect, true, listed) {
                    let ws = self.workspaces[actor.ws].id();
                    let expected: Vec<&Seen> = self
                        .seen
                        .values()
                        .filter(|s| s.row().workspace_id == ws && kind_of_seen(s) == kind)
                        .collect();
                    assert_same(&listed.iter().collect::<Vec<_>>(), &expected);
                }
            }
            Step::ListSyncRuns {
                actor,
                connection,
                limit,
            } => {
                let scope = self.scope(actor);
                let id = ConnectionId::from_uuid(self.id(connection)).unwrap();
                let listed = all_pages(limit, |p| scope.list_sync_runs(id, p));
                if let Some(listed) = self.outcome(expect, true, listed) {
                    let listed: Vec<Seen> = listed.into_iter().map(Seen::SyncRun).collect();
                    let expected: Vec<&Seen> = self
                        .seen
                        .values()
                        .filter(|s| matches!(s, Seen::SyncRun(r) if r.connection_id == id))
                        .collect();
                    assert_same(&listed.iter().collect::<Vec<_>>(), &expected);
                }
            }
            Step::GuessId { actor, kind, id } => {
                let scope = self.scope(actor);
                let id = Uuid::from_u128(id);
                let got = match kind {
                    Kind::Source => scope
                        .get_source(SourceId::from_uuid(id).unwrap())
                        .map(|_| ()),
                    Kind::Destination => scope
                        .get_destination(DestinationId::from_uuid(id).unwrap())
                        .map(|_| ()),
                    Kind::Connection => scope
                        .get_connection(ConnectionId::from_uuid(id).unwrap())
                        .map(|_| ()),
                    Kind::SyncRun => scope
                        .get_sync_run(SyncRunId::from_uuid(id).unwrap())
                        .map(|_| ()),
                };
                self.outcome(expect, true, got);
            }
            Step::ExpireTokens => self.expire_tokens(),
            Step::RevokeToken { ws, all } => self.revoke_token(ws, all),
            Step::RevokeForeignToken { org, ws } => {
                let token = self.workspaces[ws].token.token.expose().to_owned();
                match self.orgs[org].scope.revoke_token(&token) {
                    Err(Error::InvalidToken {
                        reason: TokenRejection::Organization,
                        ..
                    }) => {}
                    other => panic!("another organization revoked a token: {other:?}"),
                }
                self.h.engine().authenticate(&token).unwrap();
            }
            Step::ForeignWorkspace { org, ws } => self.foreign_workspace(org, ws),
            Step::DeleteWorkspace { ws } => self.delete_workspace(ws),
            Step::PauseWorkspace { ws } => self.pause_workspace(ws),
        }
    }

    /// Looks `target` up by id through `scope`, as the kind the model knows it by.
    fn get(&self, scope: &WorkspaceScope, world: &World, target: Handle) -> Result<Seen> {
        let id = self.id(target);
        Ok(match world.kind_of(target) {
            Some(Kind::Source) => Seen::Source(scope.get_source(SourceId::from_uuid(id)?)?),
            Some(Kind::Destination) => {
                Seen::Destination(scope.get_destination(DestinationId::from_uuid(id)?)?)
            }
            Some(Kind::Connection) => {
                Seen::Connection(scope.get_connection(ConnectionId::from_uuid(id)?)?)
            }
            _ => Seen::SyncRun(scope.get_sync_run(SyncRunId::from_uuid(id)?)?),
        })
    }

    fn create_from_template(
        &mut self,
        world: &World,
        ws: usize,
        org: usize,
        template: usize,
        at: Handle,
    ) {
        let scope = self.scope(Actor {
            ws,
            via: Via::Token,
        });
        let template = self.orgs[org].catalog.source_templates()[template].clone();
        let made = scope.create_source_from_template(from_template(&template, &format!("t{at}")));
        let Some(made) = self.outcome(world.expect, false, made) else {
            return;
        };
        assert_eq!(made.destinations.len(), world.pipelines.len());
        assert_eq!(made.connections.len(), world.pipelines.len());
        self.record(at, Seen::Source(made.source.clone()));
        let catalog = &self.orgs[self.workspaces[ws].org].catalog;
        let cts: Vec<_> = catalog
            .connection_templates()
            .iter()
            .map(|t| t.id)
            .collect();
        for &(ct, destination, connection) in &world.pipelines {
            let k = made
                .destinations
                .iter()
                .position(|d| d.template_id == Some(cts[ct]))
                .expect("a pipeline per applied connection template");
            let (d, c) = (&made.destinations[k], &made.connections[k]);
            assert_eq!(c.source_id, made.source.id);
            assert_eq!(c.destination_id, d.id);
            if let Some(reused) = self.seen.get(&destination) {
                assert_eq!(
                    reused,
                    &Seen::Destination(d.clone()),
                    "a reused destination"
                );
            }
            self.record(destination, Seen::Destination(d.clone()));
            self.record(connection, Seen::Connection(c.clone()));
        }
    }

    fn update(&mut self, world: &World, actor: Actor, target: Handle) {
        let scope = self.scope(actor);
        let id = self.id(target);
        let name = format!("renamed-{}", self.steps);
        let rename = ConnectorUpdate {
            name: Some(name.parse().unwrap()),
            config: None,
        };
        let updated = match world.kind_of(target) {
            Some(Kind::Source) => scope
                .update_source(SourceId::from_uuid(id).unwrap(), &rename)
                .map(Seen::Source),
            Some(Kind::Destination) => scope
                .update_destination(DestinationId::from_uuid(id).unwrap(), &rename)
                .map(Seen::Destination),
            _ => {
                let active = match world.objects.get(&target) {
                    Some(Object::Connection { active, .. }) => *active,
                    _ => true,
                };
                let update = ConnectionUpdate {
                    name: Some(name.parse().unwrap()),
                    status: Some(if active {
                        ConnectionStatus::Active
                    } else {
                        ConnectionStatus::Inactive
                    }),
                    schedule: None,
                };
                scope
                    .update_connection(ConnectionId::from_uuid(id).unwrap(), &update)
                    .map(Seen::Connection)
            }
        };
        if let Some(updated) = self.outcome(world.expect, false, updated) {
            let renamed = match &updated {
                Seen::Source(s) => s.name.as_str(),
                Seen::Destination(d) => d.name.as_str(),
                Seen::Connection(c) => c.name.as_str(),
                Seen::SyncRun(_) => "",
            };
            assert_eq!(renamed, name);
            self.record(target, updated);
        }
    }

    fn delete(&mut self, world: &World, actor: Actor, target: Handle) {
        let scope = self.scope(actor);
        let id = self.id(target);
        let deleted = match world.kind_of(target) {
            Some(Kind::Source) => scope.delete_source(SourceId::from_uuid(id).unwrap()),
            Some(Kind::Destination) => {
                scope.delete_destination(DestinationId::from_uuid(id).unwrap())
            }
            _ => scope.delete_connection(ConnectionId::from_uuid(id).unwrap()),
        };
        if self.outcome(world.expect, false, deleted).is_some() {
            let connection = ConnectionId::from_uuid(id).unwrap();
            self.seen.remove(&target);
            self.seen
                .retain(|_, s| !matches!(s, Seen::SyncRun(r) if r.connection_id == connection));
        }
    }

    fn expire_tokens(&mut self) {
        let last = self
            .workspaces
            .iter()
            .map(|w| w.token.expires_at)
            .max()
            .unwrap();
        self.h
            .clock
            .set(last.plus(LEEWAY).plus(Duration::from_millis(1)));
        for ws in 0..self.workspaces.len() {
            let old = self.workspaces[ws].token.token.expose().to_owned();
            assert!(
                matches!(
                    self.h.engine().authenticate(&old),
                    Err(Error::TokenExpired { .. })
                ),
                "a token past its expiry and the leeway was accepted"
            );
            self.remint(ws);
            assert!(matches!(
                self.h.engine().authenticate(&old),
                Err(Error::TokenExpired { .. })
            ));
        }
    }

    fn revoke_token(&mut self, ws: usize, all: bool) {
        let state = &self.workspaces[ws];
        let scope = &self.orgs[state.org].scope;
        let old = state.token.token.expose().to_owned();
        if all {
            scope.revoke_all_tokens(state.id()).unwrap();
            // Tokens minted in the second of the revocation are refused too.
            self.h.tick();
        } else {
            scope.revoke_token(&old).unwrap();
        }
        let refused = self.h.engine().authenticate(&old);
        assert!(
            matches!(
                refused,
                Err(Error::InvalidToken {
                    reason: TokenRejection::Revoked,
                    ..
                })
            ),
            "a revoked token: {refused:?}"
        );
        self.remint(ws);
    }

    fn foreign_workspace(&mut self, org: usize, ws: usize) {
        let scope = &self.orgs[org].scope;
        let state = &self.workspaces[ws];
        let id = state.id();
        self.h.assert_not_found(scope.get_workspace(id));
        self.h.assert_not_found(scope.workspace(id));
        self.h.assert_not_found(scope.update_workspace(
            id,
            &bulkhead_core::WorkspaceUpdate {
                status: Some(bulkhead_core::WorkspaceStatus::Inactive),
                ..bulkhead_core::WorkspaceUpdate::default()
            },
        ));
        self.h.assert_not_found(scope.revoke_all_tokens(id));
        let source = self
            .seen
            .values()
            .find_map(|s| match s {
                Seen::Source(s) if s.workspace_id == id => Some(s.id),
                _ => None,
            })
            .unwrap_or_else(|| SourceId::from_uuid(Uuid::new_v4()).unwrap());
        self.h
            .assert_not_found(scope.reveal_source_config(id, source));
        self.h.assert_not_found(scope.delete_workspace(id));
        let owner = &self.orgs[state.org].scope;
        assert_eq!(owner.get_workspace(id).unwrap(), state.record);
        self.h
            .engine()
            .authenticate(state.token.token.expose())
            .unwrap();
    }

    fn delete_workspace(&mut self, ws: usize) {
        let (org, slot) = (self.workspaces[ws].org, self.workspaces[ws].slot);
        let old = self.workspaces[ws].id();
        let old_token = self.workspaces[ws].token.token.expose().to_owned();
        let scope = &self.orgs[org].scope;
        // The token's scope, if the token still works (it may be revoked or expired).
        let by_token = match self.h.engine().authenticate(&old_token) {
            Ok(scope) => Some(scope),
            Err(bulkhead_core::Error::IsolationBreach { .. }) => {
                self.h.note_breach();
                None
            }
            Err(e) => no_longer_valid(e),
        };
        scope.delete_workspace(old).unwrap();
        self.h
            .assert_not_found(self.h.engine().authenticate(&old_token));
        self.h.assert_not_found(scope.get_workspace(old));
        // Scopes made before the deletion fail closed at once, before the purge.
        let old_full = &self.workspaces[ws].full;
        for stale in std::iter::once(old_full).chain(by_token.as_ref()) {
            self.h
                .assert_not_found(stale.list_sources(&bulkhead_core::Page::first(5)));
            self.h
                .assert_not_found(stale.list_connections(&bulkhead_core::Page::first(5)));
        }
        // A tombstone until purged: its external id answers "deleted", then starts afresh.
        let external_id = self.workspaces[ws].external_id.clone();
        assert!(matches!(
            scope.get_or_create_workspace(&ext(&external_id)),
            Err(bulkhead_core::Error::WorkspaceDeleted { .. })
        ));
        scope.purge_workspace(old).unwrap();
        self.seen.retain(|_, s| s.row().workspace_id != old);
        let external_id = self.workspaces[ws].external_id.clone();
        let state = self.mint_workspace(org, slot, &external_id, true);
        assert_ne!(state.id(), old);
        self.workspaces[ws] = state;
    }

    fn pause_workspace(&mut self, ws: usize) {
        let id = self.workspaces[ws].id();
        let org = self.workspaces[ws].org;
        let token = self.workspaces[ws].token.token.expose().to_owned();
        // The token's scope, if the token still works (it may be revoked or expired).
        let by_token = match self.h.engine().authenticate(&token) {
            Ok(scope) => Some(scope),
            Err(Error::IsolationBreach { .. }) => {
                self.h.note_breach();
                None
            }
            Err(e) => no_longer_valid(e),
        };
        let status = |status| bulkhead_core::WorkspaceUpdate {
            status: Some(status),
            ..bulkhead_core::WorkspaceUpdate::default()
        };
        let inactive = |result: Result<()>| matches!(result, Err(Error::WorkspaceInactive { workspace_id }) if workspace_id == id);
        let scope = &self.orgs[org].scope;
        scope
            .update_workspace(id, &status(bulkhead_core::WorkspaceStatus::Inactive))
            .unwrap();
        if let Some(stale) = &by_token {
            assert!(inactive(self.h.engine().authenticate(&token).map(drop)));
            assert!(inactive(
                stale.list_sources(&bulkhead_core::Page::first(5)).map(drop)
            ));
        }
        let full = self.workspaces[ws].full.clone();
        self.h
            .answer(full.list_sources(&bulkhead_core::Page::first(5)));
        assert!(inactive(
            full.create_source(crate::conformance::raw_source("paused"))
                .map(drop)
        ));
        let record = scope
            .update_workspace(id, &status(bulkhead_core::WorkspaceStatus::Active))
            .unwrap();
        self.workspaces[ws].record = record;
        // Pausing and resuming rewrote the workspace's connections: take their new values.
        let connections: Vec<(Handle, ConnectionId)> = self
            .seen
            .iter()
            .filter_map(|(h, s)| match s {
                Seen::Connection(c) if c.workspace_id == id => Some((*h, c.id)),
                _ => None,
            })
            .collect();
        for (handle, connection) in connections {
            if let Some(now) = self.h.answer(full.get_connection(connection)) {
                self.seen.insert(handle, Seen::Connection(now));
            }
        }
        if by_token.is_some() {
            self.h.engine().authenticate(&token).unwrap();
        }
    }

    /// The invariants of the module docs.
    fn check(&self, world: &World) {
        let limit = u32::try_from(self.steps % 5).unwrap_or(0) + 1;
        let mut union = BTreeSet::new();
        let mut complete = true;
        for (i, ws) in self.workspaces.iter().enumerate() {
            // The model and the system under test agree on what is alive where.
            let handles: BTreeSet<Handle> = world
                .objects
                .iter()
                .filter(|(_, o)| o.ws() == i)
                .map(|(h, _)| *h)
                .collect();
            let expected: BTreeMap<Uuid, &Seen> = self
                .seen
                .iter()
                .filter(|(_, s)| s.row().workspace_id == ws.id())
                .map(|(_, s)| (s.row().id, s))
                .collect();
            let seen_handles: BTreeSet<Handle> = self
                .seen
                .iter()
                .filter(|(_, s)| s.row().workspace_id == ws.id())
                .map(|(h, _)| *h)
                .collect();
            assert_eq!(
                handles, seen_handles,
                "workspace {i}: model and engine disagree"
            );
            match view_of(&self.h, &ws.full, limit) {
                Some(view) => {
                    let listed = seen_of(&view);
                    assert_eq!(
                        listed.keys().collect::<Vec<_>>(),
                        expected.keys().collect::<Vec<_>>(),
                        "workspace {i}: its view holds other ids than the model's"
                    );
                    for (id, value) in &listed {
                        assert_eq!(Some(&value), expected.get(id), "workspace {i}: {id}");
                    }
                    union.extend(view.rows());
                }
                None => {
                    // A leaky store made the guard refuse a listing: check the view object
                    // by object instead.
                    complete = false;
                    for handle in &handles {
                        if let Some(got) = self.h.answer(self.get(&ws.full, world, *handle)) {
                            assert_eq!(Some(&got), self.seen.get(handle));
                        }
                    }
                }
            }
        }
        for (o, org) in self.orgs.iter().enumerate() {
            let mut records: Vec<&Workspace> = self
                .workspaces
                .iter()
                .filter(|w| w.org == o)
                .map(|w| &w.record)
                .collect();
            records.sort_by(|a, b| a.external_id.cmp(&b.external_id));
            match self.h.answer(all_workspaces(&org.scope, limit)) {
                Some(listed) => {
                    assert_eq!(listed.iter().collect::<Vec<_>>(), records);
                    union.extend(listed.iter().map(TenantObject::stored_row));
                }
                None => complete = false,
            }
        }
        if let Some(stored) = self.h.stored() {
            let mut model: BTreeSet<StoredRow> = self.seen.values().map(Seen::row).collect();
            model.extend(self.workspaces.iter().map(|w| w.record.stored_row()));
            assert_eq!(stored, model, "the store holds other rows than the model");
            if complete {
                assert_eq!(
                    union, stored,
                    "the union of tenant views is not the whole store"
                );
            }
        }
        self.h.check_breaches();
    }
}

fn kind_of_seen(seen: &Seen) -> Kind {
    match seen {
        Seen::Source(_) => Kind::Source,
        Seen::Destination(_) => Kind::Destination,
        Seen::Connection(_) => Kind::Connection,
        Seen::SyncRun(_) => Kind::SyncRun,
    }
}

fn seen_of(view: &View) -> BTreeMap<Uuid, Seen> {
    let mut out = BTreeMap::new();
    for s in &view.sources {
        out.insert(*s.id.as_uuid(), Seen::Source(s.clone()));
    }
    for d in &view.destinations {
        out.insert(*d.id.as_uuid(), Seen::Destination(d.clone()));
    }
    for c in &view.connections {
        out.insert(*c.id.as_uuid(), Seen::Connection(c.clone()));
    }
    for r in view.sync_runs.values().flatten() {
        out.insert(*r.id.as_uuid(), Seen::SyncRun(r.clone()));
    }
    out
}

/// Asserts two collections hold the same values, whatever their order.
#[track_caller]
fn assert_same(listed: &[&Seen], expected: &[&Seen]) {
    let key = |s: &&Seen| s.row();
    let mut listed = listed.to_vec();
    let mut expected = expected.to_vec();
    listed.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(listed, expected);
}

/// The model's state machine test, over the stores of adapter `A`.
#[derive(Debug)]
pub struct IsolationTest<A>(PhantomData<A>);

impl<A: Adapter> StateMachineTest for IsolationTest<A> {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(world: &World) -> Sut {
        Sut::new(A::harness(), world)
    }

    fn apply(mut sut: Sut, world: &World, step: Step) -> Sut {
        sut.apply(world, &step);
        sut
    }

    fn check_invariants(sut: &Sut, world: &World) {
        sut.check(world);
    }

    fn teardown(sut: Sut, _: World) {
        let breaches = sut.h.engine().isolation_breaches();
        let leaky = sut.h.is_leaky();
        RUN.with(|r| {
            let (_, total) = r.get();
            r.set((leaky, total + breaches));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::cases_from;

    #[test]
    fn proptest_cases_come_from_the_variable_or_the_default() {
        assert_eq!(cases_from(None, 64), Ok(64));
        assert_eq!(cases_from(Some("1"), 64), Ok(1));
        assert_eq!(cases_from(Some(" 1000 "), 64), Ok(1000));
    }

    /// Zero cases would prove nothing, and a value that is not a number would silently run the
    /// default: both are refused, naming the variable.
    #[test]
    fn zero_or_unparsable_proptest_cases_are_refused() {
        for value in ["0", " 0 ", "", "ten", "-1", "1.5", "4294967296"] {
            let err = cases_from(Some(value), 64).unwrap_err();
            assert!(err.contains("BULKHEAD_PROPTEST_CASES"), "{value:?}: {err}");
        }
    }
}
