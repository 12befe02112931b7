//! The price of the guard on reads: a source read through `WorkspaceScope` against the same
//! row read by a hand-written rusqlite prepared statement and decoded into the same struct,
//! and a page of 50 sources against the same hand-written list query.
//!
//! The guarded path runs on the store's pool connection, which carries the L3 guard (TEMP
//! views, triggers and an authorizer); the hand-written baseline uses a plain connection to
//! the same file: that is the honest baseline, what a host without Bulkhead would write.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;
use std::time::Duration;

use bulkhead::{ConnectorConfig, Page, Source, Timestamp};
use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "id, org_id, workspace_id, name, connector, config, created_at, \
                       updated_at, template_id";

fn decode(r: &Row<'_>) -> rusqlite::Result<Source> {
    Ok(Source {
        id: bulkhead::SourceId::from_uuid(r.get(0)?).unwrap(),
        org_id: bulkhead::OrgId::from_uuid(r.get(1)?).unwrap(),
        workspace_id: bulkhead::WorkspaceId::from_uuid(r.get(2)?).unwrap(),
        name: r.get::<_, String>(3)?.parse().unwrap(),
        connector: r.get::<_, String>(4)?.parse().unwrap(),
        config: ConnectorConfig::from_json(&r.get::<_, String>(5)?).unwrap(),
        created_at: Timestamp::from_unix_millis(r.get(6)?),
        updated_at: Timestamp::from_unix_millis(r.get(7)?),
        template_id: r
            .get::<_, Option<uuid::Uuid>>(8)?
            .map(|id| bulkhead::SourceTemplateId::from_uuid(id).unwrap()),
    })
}

fn hand_written_get(conn: &Connection, workspace: &uuid::Uuid, id: &uuid::Uuid) -> Option<Source> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sources WHERE workspace_id = ?1 AND id = ?2"
        ))
        .unwrap();
    stmt.query_row(params![workspace, id], decode)
        .optional()
        .unwrap()
}

/// The list the store runs (first page: `limit + 1` rows to know whether there is a next
/// page), on the base table.
fn hand_written_list(conn: &Connection, workspace: &uuid::Uuid, limit: usize) -> Vec<Source> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sources WHERE workspace_id = ?1 \
             ORDER BY created_at, id LIMIT ?2"
        ))
        .unwrap();
    let mut rows: Vec<Source> = stmt
        .query_map(params![workspace, limit as i64 + 1], decode)
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows.truncate(limit);
    rows
}

fn reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let fx = bulkhead_benches::fixture(&path, 50).unwrap();
    let target = fx.sources[25];
    let raw = Connection::open(&path).unwrap();
    // The same hand-written query on a connection tuned like the store's (QPSG keeps a cached
    // plan instead of re-preparing on every new binding): the strictest baseline.
    let tuned = Connection::open(&path).unwrap();
    tuned
        .set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .unwrap();
    let ws = *fx.workspace_id.as_uuid();
    assert_eq!(
        fx.scope.get_source(target).unwrap(),
        hand_written_get(&raw, &ws, target.as_uuid()).unwrap()
    );
    assert_eq!(
        fx.scope.list_sources(&Page::first(50)).unwrap().items,
        hand_written_list(&raw, &ws, 50)
    );

    let mut group = c.benchmark_group("get_source");
    group.bench_function("guarded", |b| {
        b.iter(|| black_box(fx.scope.get_source(black_box(target)).unwrap()))
    });
    group.bench_function("hand_written_rusqlite", |b| {
        b.iter(|| black_box(hand_written_get(&raw, &ws, black_box(target.as_uuid())).unwrap()))
    });
    group.bench_function("hand_written_rusqlite_qpsg", |b| {
        b.iter(|| black_box(hand_written_get(&tuned, &ws, black_box(target.as_uuid())).unwrap()))
    });
    group.finish();

    let mut group = c.benchmark_group("list_50_sources");
    group.bench_function("guarded", |b| {
        b.iter(|| black_box(fx.scope.list_sources(&Page::first(50)).unwrap()))
    });
    group.bench_function("hand_written_rusqlite", |b| {
        b.iter(|| black_box(hand_written_list(&raw, &ws, black_box(50))))
    });
    group.bench_function("hand_written_rusqlite_qpsg", |b| {
        b.iter(|| black_box(hand_written_list(&tuned, &ws, black_box(50))))
    });
    group.finish();
    assert_eq!(fx.engine.isolation_breaches(), 0);
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
    targets = reads
}
criterion_main!(benches);
