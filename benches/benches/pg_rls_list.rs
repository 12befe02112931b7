//! The price of Row Level Security on PostgreSQL: a page of 50 sources read as the restricted
//! role under the policies, against the same query run by a role the policies do not hold
//! (the server's superuser) with its plain `WHERE workspace_id = $1`.
//!
//! Both sides run the same steps (a transaction that sets the tenant with `set_config(...,
//! true)`, the prepared list query, commit) on a connection of their own, so the ratio is the
//! policies' price alone. Two more rows put it in context: the same query without the
//! transaction (what a host without Bulkhead would send) and the full guarded call through
//! `WorkspaceScope::list_sources`.
//!
//! The server is the testkit's throw-away one (or `BULKHEAD_PG_URL`), on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;
use std::time::Duration;

use bulkhead::postgres::{PgOptions, Roles, provision};
use bulkhead::{Config, ConnectorConfig, Engine, MasterKey, Page, Source, Timestamp};
use bulkhead_benches::Paired;
use bulkhead_testkit::conformance::raw_source;
use bulkhead_testkit::pg::PgServer;
use criterion::{Criterion, criterion_group, criterion_main};
use postgres::{Client, NoTls, Row, Statement};

const SCHEMA: &str = "bench_rls";
const WORKSPACES: usize = 20;
const SOURCES: usize = 50;
const LIST: &str = "SELECT id, org_id, workspace_id, name, connector, config, created_at, \
                    updated_at, template_id FROM sources WHERE workspace_id = $1 \
                    ORDER BY created_at, id LIMIT $2";
const SET: &str = "SELECT set_config('bulkhead.org_id', $1, true), \
                   set_config('bulkhead.workspace_id', $2, true)";

fn decode(r: &Row) -> Source {
    Source {
        id: bulkhead::SourceId::from_uuid(r.get(0)).unwrap(),
        org_id: bulkhead::OrgId::from_uuid(r.get(1)).unwrap(),
        workspace_id: bulkhead::WorkspaceId::from_uuid(r.get(2)).unwrap(),
        name: r.get::<_, String>(3).parse().unwrap(),
        connector: r.get::<_, String>(4).parse().unwrap(),
        config: ConnectorConfig::from_stored(r.get::<_, String>(5)).unwrap(),
        created_at: Timestamp::from_unix_millis(r.get(6)),
        updated_at: Timestamp::from_unix_millis(r.get(7)),
        template_id: r
            .get::<_, Option<uuid::Uuid>>(8)
            .map(|id| bulkhead::SourceTemplateId::from_uuid(id).unwrap()),
    }
}

/// A connection with its two prepared statements.
struct Reader {
    client: Client,
    set: Statement,
    list: Statement,
}

impl Reader {
    fn new(url: &str) -> Self {
        let mut client = Client::connect(url, NoTls).unwrap();
        client
            .batch_execute(&format!("SET search_path = {SCHEMA}"))
            .unwrap();
        let set = client.prepare(SET).unwrap();
        let list = client.prepare(LIST).unwrap();
        Self { client, set, list }
    }

    /// What every call of the store does: a transaction that sets the tenant, the query,
    /// commit (the list asks for one row more, to know whether there is a next page).
    fn list_in_tenant(&mut self, org: &str, ws: &str, ws_id: &uuid::Uuid) -> Vec<Source> {
        let mut tx = self.client.transaction().unwrap();
        tx.execute(&self.set, &[&org, &ws]).unwrap();
        let rows = tx
            .query(&self.list, &[ws_id, &(SOURCES as i64 + 1)])
            .unwrap();
        tx.commit().unwrap();
        rows.iter().take(SOURCES).map(decode).collect()
    }

    /// The query alone, one round trip.
    fn list_plain(&mut self, ws_id: &uuid::Uuid) -> Vec<Source> {
        let rows = self
            .client
            .query(&self.list, &[ws_id, &(SOURCES as i64 + 1)])
            .unwrap();
        rows.iter().take(SOURCES).map(decode).collect()
    }
}

fn rls(c: &mut Criterion) {
    let server = PgServer::shared();
    let roles = Roles::default();
    provision(server.admin_url(), &roles).unwrap();
    let mut admin = Client::connect(server.admin_url(), NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA} AUTHORIZATION {}",
            roles.owner
        ))
        .unwrap();

    let mut config = Config::default().with_master_key(MasterKey::generate().unwrap());
    config.postgres = PgOptions {
        schema: SCHEMA.to_owned(),
        owner_url: Some(server.url_for(&roles.owner)),
        pool_size: 2,
        ..PgOptions::default()
    };
    let engine = Engine::connect_postgres(&server.url_for(&roles.app), config).unwrap();
    let (org, key) = engine.create_organization("Bench").unwrap();
    let org_scope = engine.authenticate_org(key.expose()).unwrap();
    let mut workspaces = Vec::new();
    for w in 0..WORKSPACES {
        let ws = org_scope
            .get_or_create_workspace(&format!("customer-{w}").parse().unwrap())
            .unwrap()
            .workspace
            .id;
        let scope = org_scope.workspace(ws).unwrap();
        for s in 0..SOURCES {
            scope
                .create_source(raw_source(&format!("source-{s}")))
                .unwrap();
        }
        workspaces.push(ws);
    }
    admin
        .batch_execute(&format!("ANALYZE {SCHEMA}.sources"))
        .unwrap();
    let ws = workspaces[WORKSPACES / 2];
    let scope = org_scope.workspace(ws).unwrap();
    let (org_text, ws_text, ws_id) = (org.id.to_string(), ws.to_string(), *ws.as_uuid());

    let mut restricted = Reader::new(&server.url_for(&roles.app));
    let mut superuser = Reader::new(server.admin_url());
    let expected = scope.list_sources(&Page::first(50)).unwrap().items;
    assert_eq!(expected.len(), SOURCES);
    assert_eq!(
        restricted.list_in_tenant(&org_text, &ws_text, &ws_id),
        expected
    );
    assert_eq!(
        superuser.list_in_tenant(&org_text, &ws_text, &ws_id),
        expected
    );
    assert_eq!(superuser.list_plain(&ws_id), expected);
    // The restricted role outside a tenant sees nothing: the policies are on.
    assert!(restricted.list_plain(&ws_id).is_empty());

    let mut group = c.benchmark_group("pg_list_50_sources");
    group.bench_function("rls_restricted_role", |b| {
        b.iter(|| black_box(restricted.list_in_tenant(&org_text, &ws_text, black_box(&ws_id))))
    });
    group.bench_function("plain_where_superuser", |b| {
        b.iter(|| black_box(superuser.list_in_tenant(&org_text, &ws_text, black_box(&ws_id))))
    });
    group.bench_function("plain_where_superuser_query_only", |b| {
        b.iter(|| black_box(superuser.list_plain(black_box(&ws_id))))
    });
    group.bench_function("guarded_engine", |b| {
        b.iter(|| black_box(scope.list_sources(&Page::first(50)).unwrap()))
    });
    group.finish();

    // The target's ratio, measured side by side (see `Paired`), in batches long enough
    // (about a quarter of a second) that the other side's server process is awake again
    // after its first few calls.
    let paired = Paired::measure(
        21,
        1_000,
        || drop(black_box(scope.list_sources(&Page::first(50)).unwrap())),
        || drop(black_box(superuser.list_plain(black_box(&ws_id)))),
    );
    println!(
        "{}",
        paired.report("pg_list_50_sources: guarded_engine / plain_where_superuser_query_only")
    );
    assert_eq!(engine.isolation_breaches(), 0);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = rls
}
criterion_main!(benches);
