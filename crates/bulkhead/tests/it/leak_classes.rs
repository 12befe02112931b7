//! One regression test per leak class that users of other tenancy libraries have reported
//! (DESIGN.md section 4, "Known leak classes"). Each test is named after its class, makes the
//! attempt through the public API (or, for the last class, through the database file itself),
//! and shows that it fails closed: a foreign row is never returned, a foreign id is not found, a
//! missing or nil tenant is refused. Each has a positive control, so an attempt that "fails"
//! only because the path itself is broken is noticed.
//!
//! Facts that only the compiler can check are listed here rather than tested at run time:
//! `WorkspaceScope`, `OrgScope` and `store::Tenant` have no public constructor (a scope comes
//! only from `Engine::authenticate`, a verified scoped token, or `OrgScope::workspace`, an org
//! key's scope); no scope has an "unscoped" method or raw SQL; ids of different kinds do not
//! mix. `leak_class_moving_a_row_to_another_tenant_by_an_update` pins the fields of every
//! update request by destructuring them exhaustively, so adding an owner field breaks its build.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead::{
    ConnectionId, ConnectionStatus, ConnectionTemplateId, ConnectionUpdate, ConnectorConfig,
    ConnectorUpdate, DestinationId, Engine, Error, NewSourceFromTemplate, ObjectKind, OrgId,
    OrgScope, Page, ScopedTokenRequest, SourceId, SourceTemplateId, SyncOutcome, SyncRunId,
    SyncStatus, TagMode, TokenCache, TokenRejection, WorkspaceFilter, WorkspaceId, WorkspaceScope,
    WorkspaceStatus, WorkspaceUpdate,
};
use common::catalog::{
    create_tags, customer, plain_connection_template, plain_source_template, select,
    source_template,
};
use common::{
    Contents, Customer, Db, World, all_pages, all_workspaces, assert_invalid, assert_not_found,
    assert_token_rejected, ext, id_set, issue, new_connection, new_destination, new_source,
    raw_connection,
};
use ring::hmac;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// The ids a customer was given when the world was built, and nothing else.
#[derive(Clone, Debug, PartialEq)]
struct Ids {
    workspace: WorkspaceId,
    sources: BTreeSet<SourceId>,
    destinations: BTreeSet<DestinationId>,
    connections: BTreeSet<ConnectionId>,
    sync_runs: BTreeSet<SyncRunId>,
}

impl Ids {
    fn of(customer: &Customer) -> Self {
        Self {
            workspace: customer.id(),
            sources: customer.sources.clone(),
            destinations: customer.destinations.clone(),
            connections: customer.connections.clone(),
            sync_runs: customer.sync_runs.clone(),
        }
    }

    /// What `contents` holds, as ids.
    fn seen(contents: &Contents) -> Self {
        Self {
            workspace: contents.workspace.id,
            sources: contents.source_ids(),
            destinations: contents.destination_ids(),
            connections: contents.connection_ids(),
            sync_runs: contents.sync_run_ids(),
        }
    }
}

/// Asserts `scope` sees exactly `expected` and that each of `foreign`'s sources, destinations,
/// connections and sync runs is not found through it.
#[track_caller]
fn assert_sees_only(scope: &WorkspaceScope, expected: &Ids, foreign: &[&Ids]) {
    assert_eq!(scope.workspace_id(), expected.workspace);
    assert_eq!(&Ids::seen(&Contents::read(scope)), expected);
    for other in foreign {
        for &id in &other.sources {
            assert_not_found(scope.get_source(id), ObjectKind::Source, id);
        }
        for &id in &other.destinations {
            assert_not_found(scope.get_destination(id), ObjectKind::Destination, id);
        }
        for &id in &other.connections {
            assert_not_found(scope.get_connection(id), ObjectKind::Connection, id);
        }
        for &id in &other.sync_runs {
            assert_not_found(scope.get_sync_run(id), ObjectKind::SyncRun, id);
        }
    }
}

/// The scope a customer's scoped token (default operations) authenticates to.
fn token_scope(engine: &Engine, org: &OrgScope, external_id: &str) -> WorkspaceScope {
    engine
        .authenticate(issue(org, external_id).token.expose())
        .unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of `token`, decoded.
fn claims_of(token: &str) -> serde_json::Map<String, Value> {
    let text = token.split('.').nth(1).unwrap();
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap() {
        Value::Object(map) => map,
        other => panic!("the claims are not an object: {other}"),
    }
}

/// An organization's current HS256 signing key, revealed as `reveal_hs256_secret` allows.
struct Signer {
    kid: String,
    secret: Vec<u8>,
}

impl Signer {
    fn of(org: &OrgScope) -> Self {
        let keys = org.signing_keys().unwrap();
        let current = keys.iter().find(|k| k.retire_at.is_none()).unwrap();
        assert_eq!(current.algorithm, bulkhead::Algorithm::Hs256);
        let secret = org.reveal_hs256_secret(&current.kid).unwrap();
        Self {
            kid: current.kid.clone(),
            secret: secret.expose().to_vec(),
        }
    }

    /// A token of `claims` under a correct header naming `kid`, signed with this key.
    fn sign_as(&self, kid: &str, claims: &serde_json::Map<String, Value>) -> String {
        let header = json!({"alg": "HS256", "typ": "bulkhead-scoped+jwt", "kid": kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string()),
            b64(Value::Object(claims.clone()).to_string())
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.secret);
        let signature = hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", b64(signature))
    }

    fn sign(&self, claims: &serde_json::Map<String, Value>) -> String {
        self.sign_as(&self.kid, claims)
    }
}

/// Asserts `result` is a token refusal of any reason but returns it, for the cases where the
/// exact reason is part of what the test pins.
#[track_caller]
fn assert_any_token_refusal<T: std::fmt::Debug>(result: bulkhead::Result<T>) -> TokenRejection {
    match result {
        Err(Error::InvalidToken { reason, .. }) => reason,
        other => panic!("expected the token to be refused, got {other:?}"),
    }
}

fn names_of(templates: &[impl HasName]) -> BTreeSet<String> {
    templates.iter().map(|t| t.name_text()).collect()
}

trait HasName {
    fn name_text(&self) -> String;
}

impl HasName for bulkhead::SourceTemplate {
    fn name_text(&self) -> String {
        self.name.as_str().to_owned()
    }
}

impl HasName for bulkhead::ConnectionTemplate {
    fn name_text(&self) -> String {
        self.name.as_str().to_owned()
    }
}

fn strings(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Context lost across threads (or pools).

/// What a worker thread saw while serving one job.
struct Served {
    thread: thread::ThreadId,
    seen: Ids,
    /// What looking up the previous job's source ids through this job's scope gave.
    leftovers: Vec<(SourceId, bool)>,
}

#[test]
fn leak_class_context_lost_across_threads() {
    let db = Db::new();
    let world = World::build(&db);
    let (a, b, c) = (Ids::of(&world.a), Ids::of(&world.b), Ids::of(&world.c));
    let a_token = token_scope(&db.engine, &world.org1, "customer-a");
    let b_token = token_scope(&db.engine, &world.org1, "customer-b");

    // A scope moved into a new thread, and a clone sent there while the original stays here:
    // each keeps its own tenant, for org-made and token-made scopes alike.
    for (scope, expected, foreign) in [
        (world.a.scope.clone(), &a, [&b, &c]),
        (a_token.clone(), &a, [&b, &c]),
        (b_token.clone(), &b, [&a, &c]),
        (world.c.scope.clone(), &c, [&a, &b]),
    ] {
        let expected_there = expected.clone();
        let foreign_there: Vec<Ids> = foreign.iter().map(|f| (*f).clone()).collect();
        let moved = scope.clone();
        thread::spawn(move || {
            let refs: Vec<&Ids> = foreign_there.iter().collect();
            assert_sees_only(&moved, &expected_there, &refs);
            // A clone made on the other thread is still the same tenant.
            assert_sees_only(&moved.clone(), &expected_there, &refs);
        })
        .join()
        .unwrap();
        assert_sees_only(&scope, expected, &foreign);
    }

    // A pool-like worker: one long-lived thread serves jobs of A, B, C, A... from a channel, the
    // way a thread pool reuses its threads. If the tenant lived in thread-local or ambient state
    // set by the first job, the next job would inherit it. The worker also tries the previous
    // job's source ids through the current scope, as code that kept "the current customer's
    // ids" in a thread-local would.
    type Job = (WorkspaceScope, mpsc::Sender<Served>);
    let (jobs, queue) = mpsc::channel::<Job>();
    let worker = thread::spawn(move || {
        let mut previous: Vec<SourceId> = Vec::new();
        for (scope, reply) in queue {
            let contents = Contents::read(&scope);
            let leftovers = previous
                .iter()
                .map(|&id| (id, scope.get_source(id).is_ok()))
                .collect();
            previous = contents.source_ids().into_iter().collect();
            reply
                .send(Served {
                    thread: thread::current().id(),
                    seen: Ids::seen(&contents),
                    leftovers,
                })
                .unwrap();
        }
    });
    let order: [(&WorkspaceScope, &Ids); 8] = [
        (&world.a.scope, &a),
        (&world.b.scope, &b),
        (&world.a.scope, &a),
        (&world.c.scope, &c),
        (&a_token, &a),
        (&b_token, &b),
        (&a_token, &a),
        (&world.a.scope, &a),
    ];
    let mut threads = std::collections::HashSet::new();
    let mut previous: Option<&Ids> = None;
    for (scope, expected) in order {
        let (reply, answer) = mpsc::channel();
        jobs.send((scope.clone(), reply)).unwrap();
        let served = answer.recv().unwrap();
        threads.insert(served.thread);
        assert_eq!(&served.seen, expected, "the worker served the wrong tenant");
        // Every source id of the previous job was tried; only the current tenant's own (when
        // the same tenant came twice) are found.
        assert_eq!(
            served.leftovers.len(),
            previous.map_or(0, |p| p.sources.len())
        );
        for (id, found) in served.leftovers {
            let own = expected.sources.contains(&id);
            assert_eq!(
                found, own,
                "source {id} of the previous job is visible to the next tenant"
            );
        }
        previous = Some(expected);
    }
    drop(jobs);
    worker.join().unwrap();
    assert_eq!(threads.len(), 1, "every job ran on the one worker thread");
    assert_eq!(db.engine.isolation_breaches(), 0);
}

// ---------------------------------------------------------------------------------------------
// Pooled connection reused by the next tenant.

const HAMMER_THREADS: usize = 8;
const HAMMER_OPS: usize = 200;

/// One tenant of the hammer: a scope and what it must see.
#[derive(Clone)]
struct Hammered {
    tag: &'static str,
    scope: WorkspaceScope,
    ids: Ids,
    unused_source: SourceId,
    busy_connection: ConnectionId,
}

/// A small deterministic generator, one per thread.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One operation of `me` through its scope, checking every result against `me` and `other`.
fn hammer_op(me: &Hammered, other: &Hammered, op: u64, stamp: &str) {
    let scope = &me.scope;
    let prefix = format!("{} ", me.tag);
    match op {
        0 => {
            let sources = all_pages(2, |p| scope.list_sources(p));
            assert_eq!(id_set(&sources, |s| s.id), me.ids.sources);
            for source in &sources {
                assert_eq!(source.workspace_id, me.ids.workspace);
                assert!(source.name.as_str().starts_with(&prefix), "{source:?}");
            }
        }
        1 => {
            let destinations = all_pages(1, |p| scope.list_destinations(p));
            assert_eq!(id_set(&destinations, |d| d.id), me.ids.destinations);
            for destination in &destinations {
                assert!(destination.name.as_str().starts_with(&prefix));
            }
        }
        2 => {
            let connections = scope.list_connections(&Page::first(100)).unwrap().items;
            assert_eq!(id_set(&connections, |c| c.id), me.ids.connections);
            for connection in &connections {
                assert!(connection.name.as_str().starts_with(&prefix));
                assert!(me.ids.sources.contains(&connection.source_id));
            }
        }
        3 => {
            let runs = all_pages(1, |p| scope.list_sync_runs(me.busy_connection, p));
            assert_eq!(runs.len(), 2);
            for run in &runs {
                assert!(me.ids.sync_runs.contains(&run.id), "{run:?}");
                assert_eq!(run.connection_id, me.busy_connection);
            }
        }
        4 => {
            for &id in &me.ids.sources {
                assert_eq!(scope.get_source(id).unwrap().id, id);
            }
        }
        5 => {
            for &id in &other.ids.sources {
                assert_not_found(scope.get_source(id), ObjectKind::Source, id);
            }
            for &id in &other.ids.sync_runs {
                assert_not_found(scope.get_sync_run(id), ObjectKind::SyncRun, id);
            }
        }
        6 => {
            let workspace = scope.workspace().unwrap();
            assert_eq!(workspace.id, me.ids.workspace);
        }
        _ => {
            // A write on the writer connection between the reads, keeping the name prefix.
            let update = ConnectorUpdate {
                name: Some(format!("{} unused {stamp}", me.tag).parse().unwrap()),
                config: None,
            };
            let updated = scope.update_source(me.unused_source, &update).unwrap();
            assert_eq!(updated.workspace_id, me.ids.workspace);
            assert_not_found(
                scope.update_source(other.unused_source, &update),
                ObjectKind::Source,
                other.unused_source,
            );
        }
    }
}

/// `HAMMER_THREADS` threads, each making `HAMMER_OPS` calls, each call for A or B at random.
fn hammer(a: &Hammered, b: &Hammered) {
    let barrier = Arc::new(Barrier::new(HAMMER_THREADS));
    let handles: Vec<_> = (0..HAMMER_THREADS)
        .map(|t| {
            let (a, b, barrier) = (a.clone(), b.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                barrier.wait();
                let mut per_tenant = [0_usize; 2];
                for i in 0..HAMMER_OPS {
                    let pick = rng.below(2);
                    let (me, other) = if pick == 0 { (&a, &b) } else { (&b, &a) };
                    per_tenant[usize::try_from(pick).unwrap()] += 1;
                    hammer_op(me, other, rng.below(8), &format!("{t}-{i}"));
                }
                per_tenant
            })
        })
        .collect();
    for handle in handles {
        let per_tenant = handle.join().unwrap();
        assert!(per_tenant.iter().all(|&n| n > 0), "both tenants were used");
    }
}

#[test]
fn leak_class_pooled_connection_reused_by_the_next_tenant() {
    let db = Db::new();
    let world = World::build(&db);
    let hammered = |tag, customer: &Customer, scope: WorkspaceScope| Hammered {
        tag,
        scope,
        ids: Ids::of(customer),
        unused_source: customer.unused_source,
        busy_connection: customer.busy_connection,
    };

    // Org-made scopes on the default pool (4 readers, 8 threads).
    hammer(
        &hammered("A", &world.a, world.a.scope.clone()),
        &hammered("B", &world.b, world.b.scope.clone()),
    );
    // Token scopes on the default pool, across organizations (A of org 1, C of org 2).
    let a_token = token_scope(&db.engine, &world.org1, "customer-a");
    let c_token = token_scope(&db.engine, &world.org2, "customer-c");
    let mut a = hammered("A", &world.a, a_token);
    let mut c = hammered("C", &world.c, c_token);
    hammer(&a, &c);
    assert_eq!(db.engine.isolation_breaches(), 0);

    // A second engine on the same file with a single reader: every read of every tenant goes
    // through the one connection and its statement cache.
    let mut config = common::config(&db.clock);
    config.sqlite.readers = 1;
    let single = Engine::open(&db.path, config).unwrap();
    a.scope = token_scope(&single, &world.org1, "customer-a");
    c.scope = token_scope(&single, &world.org2, "customer-c");
    hammer(&a, &c);
    assert_eq!(single.isolation_breaches(), 0);

    // Nothing moved: every customer still holds exactly its own ids.
    for customer in [&world.a, &world.b, &world.c] {
        assert_eq!(
            Ids::seen(&Contents::read(&customer.scope)),
            Ids::of(customer)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// No tenant, nil tenant.

/// Every textual form of the nil UUID that the UUID parser accepts.
const NIL_FORMS: [&str; 4] = [
    "00000000-0000-0000-0000-000000000000",
    "00000000000000000000000000000000",
    "{00000000-0000-0000-0000-000000000000}",
    "urn:uuid:00000000-0000-0000-0000-000000000000",
];

#[test]
fn leak_class_no_tenant_or_nil_tenant() {
    let db = Db::new();
    let world = World::build(&db);

    // The nil UUID is no id of any kind: refused when parsed, naming the field.
    for nil in NIL_FORMS {
        assert_invalid(nil.parse::<WorkspaceId>(), "workspace_id");
        assert_invalid(nil.parse::<OrgId>(), "org_id");
        assert_invalid(nil.parse::<SourceId>(), "source_id");
        assert_invalid(nil.parse::<DestinationId>(), "destination_id");
        assert_invalid(nil.parse::<ConnectionId>(), "connection_id");
        assert_invalid(nil.parse::<SyncRunId>(), "sync_run_id");
        assert_invalid(nil.parse::<SourceTemplateId>(), "template_id");
        assert_invalid(nil.parse::<ConnectionTemplateId>(), "template_id");
        let message = nil.parse::<WorkspaceId>().unwrap_err().to_string();
        assert!(message.contains("nil"), "{message}");
    }
    // Nor when it arrives in JSON (a request body).
    let nil_json = format!("\"{}\"", NIL_FORMS[0]);
    let err = serde_json::from_str::<WorkspaceId>(&nil_json).unwrap_err();
    assert!(err.to_string().contains("workspace_id"), "{err}");
    let err = serde_json::from_str::<OrgId>(&nil_json).unwrap_err();
    assert!(err.to_string().contains("org_id"), "{err}");
    let err = serde_json::from_str::<SourceId>(&nil_json).unwrap_err();
    assert!(err.to_string().contains("source_id"), "{err}");
    // A well-formed id names a workspace or nothing: an unknown one is not found.
    let unknown = WorkspaceId::random();
    assert_not_found(
        world.org1.workspace(unknown),
        ObjectKind::Workspace,
        unknown,
    );
    let unknown_org = OrgId::random();
    assert_not_found(
        db.engine.operator_org_scope(unknown_org),
        ObjectKind::Organization,
        unknown_org,
    );

    // No token at all, or what hosts pass when the header is missing.
    for empty in ["", " ", "null", "undefined", "Bearer ", "."] {
        assert_any_token_refusal(db.engine.authenticate(empty));
        assert_any_token_refusal(db.engine.verify_token(empty));
        assert!(matches!(
            db.engine.authenticate_org(empty),
            Err(Error::InvalidOrgKey { .. })
        ));
    }
    assert_token_rejected(db.engine.authenticate(""), TokenRejection::Malformed);

    // A properly signed token whose `sub` (or `org`) is nil, missing or empty: refused as
    // malformed before any lookup.
    let signer = Signer::of(&world.org1);
    let genuine = issue(&world.org1, "customer-a");
    let claims = claims_of(genuine.token.expose());
    // Control: the same claims, re-signed by hand, authenticate to A.
    let control = db.engine.authenticate(&signer.sign(&claims)).unwrap();
    assert_eq!(control.workspace_id(), world.a.id());
    for (claim, value) in [
        ("sub", json!(NIL_FORMS[0])),
        ("sub", json!(NIL_FORMS[1])),
        ("sub", json!("")),
        ("sub", Value::Null),
        ("org", json!(NIL_FORMS[0])),
        ("org", json!("")),
    ] {
        let mut forged = claims.clone();
        forged.insert(claim.to_owned(), value);
        let token = signer.sign(&forged);
        assert_token_rejected(db.engine.authenticate(&token), TokenRejection::Malformed);
        assert_token_rejected(db.engine.verify_token(&token), TokenRejection::Malformed);
    }
    for claim in ["sub", "org"] {
        let mut forged = claims.clone();
        forged.remove(claim);
        assert_token_rejected(
            db.engine.authenticate(&signer.sign(&forged)),
            TokenRejection::Malformed,
        );
    }

    // A deleted workspace is no tenant either: its scopes and tokens reach nothing, and once
    // purged a new workspace for the same external id starts empty.
    let b_token = issue(&world.org1, "customer-b");
    let b_scope = world.b.scope.clone();
    let b_token_scope = db.engine.authenticate(b_token.token.expose()).unwrap();
    world.org1.delete_workspace(world.b.id()).unwrap();
    assert_not_found(b_scope.workspace(), ObjectKind::Workspace, world.b.id());
    assert_not_found(
        db.engine.authenticate(b_token.token.expose()),
        ObjectKind::Workspace,
        world.b.id(),
    );
    // Scopes held from before the deletion (the organization's, and one from the token)
    // fail closed at once, before the purge: no read, no write, nothing stored.
    let sources_before = common::catalog::raw_rows(&db, "sources");
    for stale in [&b_scope, &b_token_scope] {
        let ws = world.b.id();
        assert_not_found(
            stale.list_sources(&Page::first(10)),
            ObjectKind::Workspace,
            ws,
        );
        assert_not_found(
            stale.list_connections(&Page::first(10)),
            ObjectKind::Workspace,
            ws,
        );
        for &id in &world.b.sources {
            assert_not_found(stale.get_source(id), ObjectKind::Workspace, ws);
        }
        assert_not_found(
            stale.create_destination(new_destination("B ghost")),
            ObjectKind::Workspace,
            ws,
        );
        assert_not_found(
            stale.delete_source(*world.b.sources.first().unwrap()),
            ObjectKind::Workspace,
            ws,
        );
    }
    assert_eq!(common::catalog::raw_rows(&db, "sources"), sources_before);
    world.org1.purge_workspace(world.b.id()).unwrap();
    assert_not_found(
        world.org1.workspace(world.b.id()),
        ObjectKind::Workspace,
        world.b.id(),
    );
    assert_not_found(
        db.engine.authenticate(b_token.token.expose()),
        ObjectKind::Workspace,
        world.b.id(),
    );
    assert_not_found(b_scope.workspace(), ObjectKind::Workspace, world.b.id());
    // Reads through the stale scope stay refused after the purge: its workspace is not found.
    let gone = world.b.id();
    assert_not_found(
        b_scope.list_sources(&Page::first(2)),
        ObjectKind::Workspace,
        gone,
    );
    assert_not_found(
        b_scope.list_destinations(&Page::first(2)),
        ObjectKind::Workspace,
        gone,
    );
    assert_not_found(
        b_scope.list_connections(&Page::first(2)),
        ObjectKind::Workspace,
        gone,
    );
    for &id in world.b.sources.iter().chain(&world.a.sources) {
        assert_not_found(b_scope.get_source(id), ObjectKind::Workspace, gone);
    }
    // Writes through it are refused as not found, like everything else, and store nothing.
    assert_not_found(
        b_scope.create_source(new_source("B ghost")),
        ObjectKind::Workspace,
        world.b.id(),
    );
    assert_not_found(
        b_scope.create_destination(new_destination("B ghost")),
        ObjectKind::Workspace,
        world.b.id(),
    );
    assert_eq!(common::catalog::raw_rows(&db, "sources"), 6);
    let reborn = common::workspace(&world.org1, "customer-b");
    assert_ne!(reborn.workspace_id(), world.b.id());
    let seen = Contents::read(&reborn);
    assert!(seen.sources.is_empty() && seen.destinations.is_empty());
    assert!(seen.connections.is_empty());
    // The old token does not reach the new workspace of the same customer.
    assert_not_found(
        db.engine.authenticate(b_token.token.expose()),
        ObjectKind::Workspace,
        world.b.id(),
    );
    assert_eq!(db.engine.isolation_breaches(), 0);
}

// ---------------------------------------------------------------------------------------------
// Unscoped associations and joins.

#[test]
fn leak_class_unscoped_associations_and_joins() {
    let db = Db::new();
    let world = World::build(&db);
    let a = &world.a.scope;
    let before = [&world.a, &world.b, &world.c].map(|c| Contents::read(&c.scope));

    for foreign in [&world.b, &world.c] {
        // A connection naming another workspace's source or destination.
        for &source in &foreign.sources {
            let request = new_connection("A smuggled", source, world.a.unused_destination);
            assert_not_found(a.create_connection(request), ObjectKind::Source, source);
        }
        for &destination in &foreign.destinations {
            let request = new_connection("A smuggled", world.a.unused_source, destination);
            assert_not_found(
                a.create_connection(request),
                ObjectKind::Destination,
                destination,
            );
        }
        // The update paths: a foreign connection, source or destination by id.
        let update = ConnectionUpdate {
            name: Some("A hijacked".parse().unwrap()),
            status: Some(ConnectionStatus::Inactive),
            schedule: Some(bulkhead::Schedule::Manual),
        };
        for &id in &foreign.connections {
            assert_not_found(a.update_connection(id, &update), ObjectKind::Connection, id);
            // The sync history joined through a foreign connection id.
            assert_not_found(
                a.list_sync_runs(id, &Page::first(10)),
                ObjectKind::Connection,
                id,
            );
            // Starting a sync of a foreign connection.
            assert_not_found(a.start_sync(id), ObjectKind::Connection, id);
        }
        let rename = ConnectorUpdate {
            name: Some("A hijacked".parse().unwrap()),
            config: Some(ConnectorConfig::new(json!({"stolen": true})).unwrap()),
        };
        for &id in &foreign.sources {
            assert_not_found(a.update_source(id, &rename), ObjectKind::Source, id);
        }
        for &id in &foreign.destinations {
            assert_not_found(
                a.update_destination(id, &rename),
                ObjectKind::Destination,
                id,
            );
        }
        // Finishing another workspace's running sync.
        assert_not_found(
            a.finish_sync(foreign.running_run, SyncOutcome::Cancelled),
            ObjectKind::SyncRun,
            foreign.running_run,
        );
    }
    let after = [&world.a, &world.b, &world.c].map(|c| Contents::read(&c.scope));
    assert_eq!(after, before, "a refused association stored something");
    assert_eq!(
        world
            .b
            .scope
            .get_sync_run(world.b.running_run)
            .unwrap()
            .status,
        SyncStatus::Running
    );

    // Controls: the same calls with A's own ids work.
    let own = a
        .create_connection(new_connection(
            "A own",
            world.a.unused_source,
            world.a.unused_destination,
        ))
        .unwrap();
    let run = a.start_sync(own.id).unwrap();
    assert_eq!(
        a.list_sync_runs(own.id, &Page::first(10)).unwrap().items,
        vec![run]
    );

    // Templates are joined through the organization: a template of another organization, or
    // of this one but outside the workspace's tag selection, is refused alike.
    create_tags(&world.org1, &["production", "premium"]);
    create_tags(&world.org2, &["production"]);
    let theirs = world
        .org2
        .create_source_template(plain_source_template("Org2 Stripe", &["production"]))
        .unwrap();
    let premium = world
        .org1
        .create_source_template(plain_source_template("Org1 premium", &["premium"]))
        .unwrap();
    let ours = world
        .org1
        .create_source_template(plain_source_template("Org1 Stripe", &["production"]))
        .unwrap();
    world
        .org1
        .create_connection_template(plain_connection_template("Org1 lake", &["production"]))
        .unwrap();
    let (_, customer_a) = customer(
        &db,
        &world.org1,
        "customer-a",
        Some(select(&["production"], TagMode::Any)),
        Some(select(&["production"], TagMode::Any)),
    );
    let (_, customer_b) = customer(
        &db,
        &world.org1,
        "customer-b",
        Some(select(&["production"], TagMode::Any)),
        Some(select(&["production"], TagMode::Any)),
    );
    let request = |template_id, name: &str| NewSourceFromTemplate {
        template_id,
        name: name.parse().unwrap(),
        config: ConnectorConfig::new(json!({})).unwrap(),
    };
    let sources_before = Contents::read(&world.a.scope).sources;
    for template in [theirs.id, premium.id, SourceTemplateId::random()] {
        match customer_a.create_source_from_template(request(template, "A smuggled")) {
            Err(Error::PermissionDenied { reason, .. }) => {
                assert_eq!(reason, "template not available to this workspace");
            }
            other => panic!("a foreign template was used: {other:?}"),
        }
    }
    assert_eq!(Contents::read(&world.a.scope).sources, sources_before);

    // The destination a connection template makes is reused inside one workspace only: B's
    // source from the same template gets B's own destination, never A's.
    let a1 = customer_a
        .create_source_from_template(request(ours.id, "A first"))
        .unwrap();
    db.tick();
    let b1 = customer_b
        .create_source_from_template(request(ours.id, "B first"))
        .unwrap();
    db.tick();
    let a2 = customer_a
        .create_source_from_template(request(ours.id, "A second"))
        .unwrap();
    assert_eq!(a1.destinations.len(), 1);
    assert_eq!(b1.destinations.len(), 1);
    assert_eq!(a2.destinations[0].id, a1.destinations[0].id, "reused in A");
    assert_ne!(b1.destinations[0].id, a1.destinations[0].id, "never across");
    assert_eq!(b1.destinations[0].workspace_id, world.b.id());
    for connection in &b1.connections {
        assert_eq!(connection.workspace_id, world.b.id());
        assert_eq!(connection.destination_id, b1.destinations[0].id);
    }
    assert_not_found(
        customer_b.get_destination(a1.destinations[0].id),
        ObjectKind::Destination,
        a1.destinations[0].id,
    );
    assert_eq!(db.engine.isolation_breaches(), 0);
}

// ---------------------------------------------------------------------------------------------
// Escape hatches: raw SQL, "unscoped", operator access.

#[test]
fn leak_class_escape_hatches() {
    let db = Db::new();
    let (_, org1_key) = db.engine.create_organization("Org one").unwrap();
    let org1 = db.engine.authenticate_org(org1_key.expose()).unwrap();
    let org2 = db.org("Org two");
    let a = common::populate(&db, common::workspace(&org1, "customer-a"), "A");
    let b = common::populate(&db, common::workspace(&org1, "customer-b"), "B");
    let c = common::populate(&db, common::workspace(&org2, "customer-c"), "C");
    let token = issue(&org1, "customer-a");

    // The two ways to a workspace scope, each bound to the workspace its credential names.
    let by_token = db.engine.authenticate(token.token.expose()).unwrap();
    let by_org = org1.workspace(a.id()).unwrap();
    assert_sees_only(&by_token, &Ids::of(&a), &[&Ids::of(&b), &Ids::of(&c)]);
    assert_sees_only(&by_org, &Ids::of(&a), &[&Ids::of(&b), &Ids::of(&c)]);
    assert_eq!(by_token.org_id(), org1.org_id());
    // Neither credential opens the other door.
    assert!(matches!(
        db.engine.authenticate(org1_key.expose()),
        Err(Error::PermissionDenied { .. })
    ));
    assert!(matches!(
        db.engine.authenticate_org(token.token.expose()),
        Err(Error::InvalidOrgKey { .. })
    ));
    // Verifying a token yields its claims, not a scope, and nothing of the workspace.
    let claims = db.engine.verify_token(token.token.expose()).unwrap();
    assert_eq!(claims.workspace_id, a.id());

    // An org scope reaches its own workspaces only, however it was made.
    for (scope, foreign) in [(&org1, c.id()), (&org2, a.id()), (&org2, b.id())] {
        assert_not_found(scope.workspace(foreign), ObjectKind::Workspace, foreign);
    }
    // Operator access is per organization too: an unknown organization is not found, and a
    // known one's scope is as confined as the org key's.
    let unknown = OrgId::random();
    assert_not_found(
        db.engine.operator_org_scope(unknown),
        ObjectKind::Organization,
        unknown,
    );
    let operator = db.engine.operator_org_scope(org2.org_id()).unwrap();
    assert_not_found(operator.workspace(a.id()), ObjectKind::Workspace, a.id());
    let operator_ids: BTreeSet<WorkspaceId> =
        all_workspaces(&operator, &WorkspaceFilter::default(), 10)
            .iter()
            .map(|w| w.id)
            .collect();
    assert_eq!(operator_ids, [c.id()].into());
    // The operator listing of organizations carries no workspace.
    assert_eq!(db.engine.organizations().unwrap().len(), 2);

    // The privileged reveal path: another organization's workspace, or a workspace paired
    // with an object of another workspace, is not found.
    let a_source = a.unused_source;
    assert_not_found(
        org2.reveal_source_config(a.id(), a_source),
        ObjectKind::Workspace,
        a.id(),
    );
    assert_not_found(
        org1.reveal_source_config(b.id(), a_source),
        ObjectKind::Source,
        a_source,
    );
    assert_not_found(
        org1.reveal_destination_config(b.id(), a.unused_destination),
        ObjectKind::Destination,
        a.unused_destination,
    );
    // Control: the pair that belongs together is revealed.
    org1.reveal_source_config(a.id(), a_source).unwrap();

    // Raw sources and destinations (outside templates) need organization access: a scoped
    // token is refused even when it grants every workspace operation, and nothing is stored.
    let every = org1
        .scoped_token(
            &ScopedTokenRequest::new(ext("customer-a")).operations(bulkhead::OperationSet::all()),
        )
        .unwrap();
    let every = db.engine.authenticate(every.token.expose()).unwrap();
    assert_eq!(every.operations(), by_org.operations());
    let before = Contents::read(&by_org);
    for result in [
        every.create_source(new_source("A raw")).map(|_| ()),
        every
            .create_destination(new_destination("A raw"))
            .map(|_| ()),
        by_token.create_source(new_source("A raw")).map(|_| ()),
    ] {
        match result {
            Err(Error::PermissionDenied { reason, .. }) => {
                assert!(reason.contains("organization access"), "{reason}");
            }
            other => panic!("a scoped token created a raw object: {other:?}"),
        }
    }
    assert_eq!(Contents::read(&by_org), before);
    // A token's scope grants no more than its operations.
    let narrow = org1
        .scoped_token(
            &ScopedTokenRequest::new(ext("customer-a"))
                .operations(bulkhead::OperationSet::parse(["sources:read"]).unwrap()),
        )
        .unwrap();
    let narrow = db.engine.authenticate(narrow.token.expose()).unwrap();
    assert!(matches!(
        narrow.list_connections(&Page::first(10)),
        Err(Error::PermissionDenied { .. })
    ));
    assert!(matches!(
        narrow.workspace(),
        Err(Error::PermissionDenied { .. })
    ));
    assert_eq!(db.engine.isolation_breaches(), 0);
}

// ---------------------------------------------------------------------------------------------
// Caches keyed without tenant.

#[test]
fn leak_class_caches_keyed_without_tenant() {
    let db = Db::new();
    let x = db.org("Org X");
    let y = db.org("Org Y");

    // The engine's signing-key cache (kid -> key). Warm it with both organizations' keys, then
    // present X's key with Y's claims, and X's key under Y's kid.
    let x_issued = issue(&x, "cust-1");
    let y_issued = issue(&y, "cust-1");
    let x_scope = db.engine.authenticate(x_issued.token.expose()).unwrap();
    let y_scope = db.engine.authenticate(y_issued.token.expose()).unwrap();
    assert_eq!(x_scope.org_id(), x.org_id());
    assert_eq!(y_scope.org_id(), y.org_id());
    let x_signer = Signer::of(&x);
    let y_signer = Signer::of(&y);
    assert_ne!(x_signer.kid, y_signer.kid);
    let y_claims = claims_of(y_issued.token.expose());
    assert_token_rejected(
        db.engine.authenticate(&x_signer.sign(&y_claims)),
        TokenRejection::Organization,
    );
    // X's key, X's `org`, but `sub` naming Y's workspace: looked up inside X only.
    let mut half = claims_of(x_issued.token.expose());
    half.insert("sub".to_owned(), json!(y_issued.workspace_id.to_string()));
    assert_not_found(
        db.engine.authenticate(&x_signer.sign(&half)),
        ObjectKind::Workspace,
        y_issued.workspace_id,
    );
    assert_token_rejected(
        db.engine
            .authenticate(&x_signer.sign_as(&y_signer.kid, &y_claims)),
        TokenRejection::Signature,
    );
    // Controls: Y's own key with Y's claims works; after X rotates (and its keys leave the
    // cache) Y's cached key still verifies only Y's tokens.
    assert_eq!(
        db.engine
            .authenticate(&y_signer.sign(&y_claims))
            .unwrap()
            .workspace_id(),
        y_issued.workspace_id
    );
    x.rotate_signing_key().unwrap();
    assert_token_rejected(
        db.engine.authenticate(&x_signer.sign(&y_claims)),
        TokenRejection::Organization,
    );
    assert_eq!(
        db.engine
            .authenticate(y_issued.token.expose())
            .unwrap()
            .org_id(),
        y.org_id()
    );

    // The host-side token cache, keyed by organization and request.
    let cache = TokenCache::new(16, Duration::from_secs(60));
    let request = ScopedTokenRequest::new(ext("cust-1"));
    let from_x = cache.get_or_mint(&x, &request).unwrap();
    let from_y = cache.get_or_mint(&y, &request).unwrap();
    assert_ne!(from_x.token, from_y.token);
    assert_ne!(from_x.workspace_id, from_y.workspace_id);
    assert_eq!(from_y.workspace_id, y_issued.workspace_id);
    let y_via_cache = db.engine.authenticate(from_y.token.expose()).unwrap();
    assert_eq!(y_via_cache.org_id(), y.org_id());
    assert_eq!(y_via_cache.workspace_id(), y_issued.workspace_id);
    // Hits stay per organization, in either order.
    assert_eq!(cache.get_or_mint(&y, &request).unwrap(), from_y);
    assert_eq!(cache.get_or_mint(&x, &request).unwrap(), from_x);
    assert_eq!(cache.len(), 2);
    // Invalidating X's customer leaves Y's entry alone, and vice versa.
    cache.invalidate(x.org_id(), &ext("cust-1"));
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.get_or_mint(&y, &request).unwrap(), from_y);
    let x_again = cache.get_or_mint(&x, &request).unwrap();
    assert_ne!(x_again.token, from_x.token);
    assert_eq!(x_again.workspace_id, from_x.workspace_id);

    // Template listings with different selections, interleaved: each workspace its own.
    create_tags(&x, &["production", "premium"]);
    for (name, tags) in [
        ("Prod", &["production"][..]),
        ("Premium", &["premium"][..]),
        ("Both", &["production", "premium"][..]),
    ] {
        x.create_source_template(plain_source_template(name, tags))
            .unwrap();
        x.create_connection_template(plain_connection_template(&format!("{name} lake"), tags))
            .unwrap();
    }
    let (_, ws_a) = customer(
        &db,
        &x,
        "tpl-a",
        Some(select(&["production"], TagMode::Any)),
        Some(select(&["production", "premium"], TagMode::All)),
    );
    let (_, ws_b) = customer(
        &db,
        &x,
        "tpl-b",
        Some(select(&["premium"], TagMode::All)),
        Some(select(&["premium"], TagMode::Any)),
    );
    let a_sources = strings(&["Prod", "Both"]);
    let b_sources = strings(&["Premium", "Both"]);
    for _ in 0..3 {
        assert_eq!(names_of(&ws_a.source_templates().unwrap()), a_sources);
        assert_eq!(names_of(&ws_b.source_templates().unwrap()), b_sources);
        assert_eq!(
            names_of(&ws_a.connection_templates().unwrap()),
            strings(&["Both lake"])
        );
        assert_eq!(
            names_of(&ws_b.connection_templates().unwrap()),
            strings(&["Premium lake", "Both lake"])
        );
    }
    // A changes its selection: A sees the change at once, B keeps its own.
    customer(
        &db,
        &x,
        "tpl-a",
        Some(select(&["premium"], TagMode::Any)),
        None,
    );
    assert_eq!(names_of(&ws_a.source_templates().unwrap()), b_sources);
    assert_eq!(names_of(&ws_b.source_templates().unwrap()), b_sources);
    customer(
        &db,
        &x,
        "tpl-b",
        Some(select(&["production"], TagMode::All)),
        None,
    );
    assert_eq!(names_of(&ws_b.source_templates().unwrap()), a_sources);
    assert_eq!(names_of(&ws_a.source_templates().unwrap()), b_sources);

    // Prepared statements cached per connection, bound to a tenant only by parameters: the
    // same statements (list, page after a cursor, get by id) for A, B, A, on one thread.
    let world = World::build(&db);
    let (a, b) = (&world.a, &world.b);
    for _ in 0..3 {
        for customer in [a, b, a, b, a] {
            let sources = all_pages(1, |p| customer.scope.list_sources(p));
            assert_eq!(id_set(&sources, |s| s.id), customer.sources);
            let runs = all_pages(1, |p| {
                customer.scope.list_sync_runs(customer.busy_connection, p)
            });
            assert_eq!(runs.len(), 2);
            assert!(runs.iter().all(|r| customer.sync_runs.contains(&r.id)));
        }
        for &id in &a.sources {
            assert_eq!(a.scope.get_source(id).unwrap().id, id);
            assert_not_found(b.scope.get_source(id), ObjectKind::Source, id);
            assert_eq!(a.scope.get_source(id).unwrap().workspace_id, a.id());
        }
    }
    assert_eq!(db.engine.isolation_breaches(), 0);
}

// ---------------------------------------------------------------------------------------------
// Queries built outside the tenant context (cursors).

#[test]
fn leak_class_queries_built_outside_the_tenant_context() {
    let db = Db::new();
    let org1 = db.org("Org one");
    let org2 = db.org("Org two");
    let a = common::workspace(&org1, "customer-a");
    let b = common::workspace(&org1, "customer-b");
    let c = common::workspace(&org2, "customer-c");

    // Interleaved creation, so another tenant's cursor points into the middle of A's rows:
    // a listing that dropped its tenant filter would return B's later rows after the cursor.
    let mut made: Vec<(char, SourceId)> = Vec::new();
    for round in 0..3 {
        for (tag, scope) in [('A', &a), ('B', &b), ('C', &c)] {
            let source = scope
                .create_source(new_source(&format!("{tag} {round}")))
                .unwrap();
            made.push((tag, source.id));
            db.tick();
        }
    }
    let a_all: Vec<SourceId> = made
        .iter()
        .filter(|(t, _)| *t == 'A')
        .map(|(_, id)| *id)
        .collect();
    for (foreign, tag) in [(&b, 'B'), (&c, 'C')] {
        let cursor = foreign
            .list_sources(&Page::first(1))
            .unwrap()
            .next
            .expect("more than one source");
        // As a host passes it around: text in a URL, parsed back.
        let cursor: bulkhead::Cursor = cursor.to_string().parse().unwrap();
        let listed = all_pages(1, |p| match p.cursor() {
            None => a.list_sources(&Page::after(cursor.clone(), 1)),
            Some(_) => a.list_sources(p),
        });
        let listed: Vec<SourceId> = listed.iter().map(|s| s.id).collect();
        // Exactly A's rows created after the foreign tenant's first row: A's rows 1 and 2.
        assert_eq!(listed, a_all[1..], "cursor of {tag}");
    }

    // The same for the sync history of a connection.
    let (_, _, a_conn) = common::pipeline(&db, &a, "A");
    let (_, _, b_conn) = common::pipeline(&db, &b, "B");
    let mut a_runs = BTreeSet::new();
    // Each run ends before its connection's next starts (one running run per connection).
    for _ in 0..3 {
        let run = a.start_sync(a_conn.id).unwrap();
        a.finish_sync(run.id, SyncOutcome::Cancelled).unwrap();
        a_runs.insert(run.id);
        db.tick();
        let run = b.start_sync(b_conn.id).unwrap();
        b.finish_sync(run.id, SyncOutcome::Cancelled).unwrap();
        db.tick();
    }
    let b_cursor = b
        .list_sync_runs(b_conn.id, &Page::first(1))
        .unwrap()
        .next
        .unwrap();
    let page = a
        .list_sync_runs(a_conn.id, &Page::after(b_cursor, 100))
        .unwrap();
    assert!(
        !page.items.is_empty(),
        "the cursor lands inside A's history"
    );
    for run in &page.items {
        assert!(a_runs.contains(&run.id), "{run:?}");
        assert_eq!(run.workspace_id, a.workspace_id());
    }
    // Workspace listings: org 2's cursor used by org 1 lists org 1's workspaces only, exactly
    // those after the position.
    common::workspace(&org2, "customer-0");
    common::workspace(&org2, "customer-z");
    let org2_cursor = org2
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(1))
        .unwrap()
        .next
        .unwrap();
    let listed = org1
        .list_workspaces(&WorkspaceFilter::default(), &Page::after(org2_cursor, 100))
        .unwrap();
    let external: Vec<String> = listed
        .items
        .iter()
        .map(|w| {
            assert_eq!(w.org_id, org1.org_id());
            w.external_id.as_str().to_owned()
        })
        .collect();
    assert_eq!(external, ["customer-a", "customer-b"]);
    assert!(listed.next.is_none());

    // Filter text is a bound value matched exactly, never SQL: wildcards and quotes match only
    // themselves, and only inside the caller's organization.
    common::workspace(&org2, "%' OR '1'='1");
    for prefix in ["%", "_", "customer_", "' OR '1'='1", "%' OR '1'='1"] {
        let filter = WorkspaceFilter {
            external_id_prefix: Some(prefix.to_owned()),
            status: None,
            name_contains: None,
        };
        assert!(
            all_workspaces(&org1, &filter, 10).is_empty(),
            "prefix {prefix:?}"
        );
    }
    let quoted = WorkspaceFilter {
        external_id_prefix: Some("%' OR".to_owned()),
        status: None,
        name_contains: None,
    };
    let org2_quoted = all_workspaces(&org2, &quoted, 10);
    assert_eq!(org2_quoted.len(), 1);
    assert_eq!(org2_quoted[0].org_id, org2.org_id());

    // A cursor of another kind of list is refused, not reinterpreted.
    let workspace_cursor = org1
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(1))
        .unwrap()
        .next
        .unwrap();
    assert_invalid(a.list_sources(&Page::after(workspace_cursor, 10)), "cursor");
    let source_cursor = b.list_sources(&Page::first(1)).unwrap().next.unwrap();
    assert_invalid(
        org1.list_workspaces(&WorkspaceFilter::default(), &Page::after(source_cursor, 10)),
        "cursor",
    );
    assert_eq!(db.engine.isolation_breaches(), 0);
}

// ---------------------------------------------------------------------------------------------
// Moving a row to another tenant by an update.

#[test]
fn leak_class_moving_a_row_to_another_tenant_by_an_update() {
    // No update request has a field that names an owner: these destructurings are exhaustive,
    // so adding `workspace_id`, `org_id`, `source_id` or `destination_id` to one of them fails
    // to compile here.
    let ConnectionUpdate {
        name: _,
        status: _,
        schedule: _,
    } = ConnectionUpdate::default();
    let ConnectorUpdate { name: _, config: _ } = ConnectorUpdate::default();
    let WorkspaceUpdate {
        name: _,
        status: _,
        source_tags: _,
        connection_tags: _,
    } = WorkspaceUpdate::default();

    let db = Db::new();
    let world = World::build(&db);
    let (a, b) = (&world.a, &world.b);
    let b_before = Contents::read(&b.scope);
    let b_source = b.scope.get_source(b.unused_source).unwrap();

    // A's source updated with a configuration copying B's, plus every owner-looking field.
    let mut copied = b_source.config.as_map().clone();
    copied.insert("workspace_id".to_owned(), json!(b.id().to_string()));
    copied.insert("org_id".to_owned(), json!(world.org2.org_id().to_string()));
    copied.insert("id".to_owned(), json!(b_source.id.to_string()));
    let update = ConnectorUpdate {
        name: Some(b_source.name.clone()),
        config: Some(ConnectorConfig::new(Value::Object(copied.clone())).unwrap()),
    };
    let updated = a.scope.update_source(a.unused_source, &update).unwrap();
    assert_eq!(updated.id, a.unused_source);
    assert_eq!(updated.workspace_id, a.id());
    assert_eq!(updated.org_id, world.org1.org_id());
    assert_eq!(updated.config.as_map(), &copied, "stored as plain data");
    assert_eq!(Contents::read(&b.scope), b_before, "B unchanged");
    assert_eq!(Ids::seen(&Contents::read(&a.scope)), Ids::of(a));
    // A connection updated every way it can be stays between A's own objects.
    let connection = *a.connections.first().unwrap();
    let moved = a
        .scope
        .update_connection(
            connection,
            &ConnectionUpdate {
                name: Some("A moved?".parse().unwrap()),
                status: Some(ConnectionStatus::Inactive),
                schedule: Some(bulkhead::Schedule::Manual),
            },
        )
        .unwrap();
    assert_eq!(moved.workspace_id, a.id());
    assert!(a.sources.contains(&moved.source_id));
    assert!(a.destinations.contains(&moved.destination_id));
    // Another organization cannot move a workspace to itself by updating it.
    assert_not_found(
        world.org2.update_workspace(
            a.id(),
            &WorkspaceUpdate {
                status: Some(WorkspaceStatus::Inactive),
                ..WorkspaceUpdate::default()
            },
        ),
        ObjectKind::Workspace,
        a.id(),
    );
    assert_eq!(db.engine.isolation_breaches(), 0);
}

/// What an `UPDATE` made outside the engine did.
#[derive(Debug)]
enum RawMove {
    Refused(String),
    Moved(usize),
}

/// `UPDATE sources SET workspace_id = to WHERE workspace_id = from AND id = id`, outside the
/// engine.
fn raw_move(
    raw: &rusqlite::Connection,
    id: SourceId,
    from: WorkspaceId,
    to: WorkspaceId,
) -> RawMove {
    match raw.execute(
        "UPDATE sources SET workspace_id = ?1 WHERE workspace_id = ?2 AND id = ?3",
        rusqlite::params![to.as_uuid(), from.as_uuid(), id.as_uuid()],
    ) {
        Ok(n) => RawMove::Moved(n),
        Err(e) => RawMove::Refused(e.to_string()),
    }
}

#[test]
fn leak_class_moving_a_row_to_another_tenant_by_raw_sql() {
    let db = Db::new();
    let world = World::build(&db);
    let (a, b, c) = (&world.a, &world.b, &world.c);
    let org1 = world.org1.org_id();

    // A source with a secret, so the move's effect on sealed data shows too.
    let template = world
        .org1
        .create_source_template(source_template(
            "Stripe",
            json!({}),
            json!({
                "type": "object",
                "properties": {"api_key": {"type": "string", "airbyte_secret": true}}
            }),
            &[],
        ))
        .unwrap();
    let secret_source = a
        .scope
        .create_source_from_template(NewSourceFromTemplate {
            template_id: template.id,
            name: "A secret".parse().unwrap(),
            config: ConnectorConfig::new(json!({"api_key": "sk_live_A"})).unwrap(),
        })
        .unwrap()
        .source;
    let a_ids = {
        let mut ids = Ids::of(a);
        ids.sources.insert(secret_source.id);
        ids
    };
    let b_ids = Ids::of(b);
    let c_ids = Ids::of(c);
    assert_sees_only(&a.scope, &a_ids, &[&b_ids, &c_ids]);

    let raw = raw_connection(&db.path);
    raw.pragma_update(None, "foreign_keys", "ON").unwrap();

    // 1. A source some connection uses: the composite foreign keys refuse the move (the
    //    connection would then link two workspaces).
    let used = *a.sources.iter().find(|&&id| id != a.unused_source).unwrap();
    match raw_move(&raw, used, a.id(), b.id()) {
        RawMove::Refused(e) => assert!(e.contains("FOREIGN KEY"), "{e}"),
        moved => panic!("a used source was moved: {moved:?}"),
    }
    // 2. Into another organization's workspace: `(org_id, workspace_id)` names no workspace.
    match raw_move(&raw, a.unused_source, a.id(), c.id()) {
        RawMove::Refused(e) => assert!(e.contains("FOREIGN KEY"), "{e}"),
        moved => panic!("a source was moved across organizations: {moved:?}"),
    }
    assert_sees_only(&a.scope, &a_ids, &[&b_ids, &c_ids]);

    // 3. An unused source into B, same organization: the schema allows it (the row is then
    //    consistently B's). This is the database edited outside the engine, not a leak; what
    //    must hold is that A stops seeing it and nobody sees a row of another tenant.
    assert!(matches!(
        raw_move(&raw, a.unused_source, a.id(), b.id()),
        RawMove::Moved(1)
    ));
    assert_not_found(
        a.scope.get_source(a.unused_source),
        ObjectKind::Source,
        a.unused_source,
    );
    let moved = b.scope.get_source(a.unused_source).unwrap();
    assert_eq!(
        (moved.org_id, moved.workspace_id),
        (org1, b.id()),
        "the moved row is consistently B's"
    );
    // 4. The secret-bearing source into B: B's organization cannot open the secret, which was
    //    sealed with A's data key and bound to A's workspace id. The mask is all B ever sees.
    assert!(matches!(
        raw_move(&raw, secret_source.id, a.id(), b.id()),
        RawMove::Moved(1)
    ));
    let seen_by_b = b.scope.get_source(secret_source.id).unwrap();
    assert_eq!(
        seen_by_b.config.as_map()["api_key"],
        json!(bulkhead::SECRET_MASK)
    );
    match world.org1.reveal_source_config(b.id(), secret_source.id) {
        Err(Error::Crypto { .. }) => {}
        Ok(config) => panic!("A's secret opened in B: {:?}", config.as_map().keys()),
        Err(other) => panic!("expected a crypto error, got {other:?}"),
    }

    // 5. Into C with foreign keys off (a careless tool): the row claims org 1 but sits in org 2's
    //    workspace. The guard refuses it: C's reads fail closed instead of returning it.
    let loose = raw_connection(&db.path);
    loose.pragma_update(None, "foreign_keys", "OFF").unwrap();
    let straddler = {
        let extra = a.scope.create_source(new_source("A straddler")).unwrap();
        extra.id
    };
    assert!(matches!(
        raw_move(&loose, straddler, a.id(), c.id()),
        RawMove::Moved(1)
    ));
    let breaches_before = db.engine.isolation_breaches();
    match c.scope.get_source(straddler) {
        Err(Error::IsolationBreach { kind }) => assert_eq!(kind, ObjectKind::Source),
        Err(e) if e.is_not_found() => {}
        Ok(row) => panic!("C was handed a row of org 1: {row:?}"),
        Err(other) => panic!("unexpected error: {other:?}"),
    }
    match c.scope.list_sources(&Page::first(100)) {
        Err(Error::IsolationBreach { kind }) => assert_eq!(kind, ObjectKind::Source),
        Ok(page) => assert!(page.items.iter().all(|s| s.id != straddler)),
        Err(other) => panic!("unexpected error: {other:?}"),
    }
    let breaches = db.engine.isolation_breaches() - breaches_before;
    println!("raw move into another organization: {breaches} breach(es) refused by the guard");

    // Whatever moved, A never sees a row of B or C, and B never sees C's.
    let a_now = Ids::seen(&Contents::read(&a.scope));
    assert!(a_now.sources.is_disjoint(&b_ids.sources));
    assert!(a_now.sources.is_disjoint(&c_ids.sources));
    assert!(!a_now.sources.contains(&a.unused_source));
    assert!(!a_now.sources.contains(&secret_source.id));
    assert!(!a_now.sources.contains(&straddler));
    let b_now = Ids::seen(&Contents::read(&b.scope));
    assert!(b_now.sources.is_disjoint(&c_ids.sources));
    assert!(!b_now.sources.contains(&straddler));
    let mut b_expected = b_ids.sources.clone();
    b_expected.extend([a.unused_source, secret_source.id]);
    assert_eq!(b_now.sources, b_expected);
}
