//! The price of the guard on reads: a source read through `WorkspaceScope` against the same
//! row read by a hand-written rusqlite prepared statement and decoded into the same struct.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;

use bulkhead::{ConnectorConfig, Page, Source, Timestamp};
use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, OptionalExtension, params};

fn hand_written_get(conn: &Connection, workspace: &uuid::Uuid, id: &uuid::Uuid) -> Option<Source> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, org_id, workspace_id, name, connector, config, created_at, updated_at, \
             template_id FROM sources WHERE workspace_id = ?1 AND id = ?2",
        )
        .unwrap();
    stmt.query_row(params![workspace, id], |r| {
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
    })
    .optional()
    .unwrap()
}

fn reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let fx = bulkhead_benches::fixture(&path, 50).unwrap();
    let target = fx.sources[25];
    let raw = Connection::open(&path).unwrap();
    let ws = *fx.workspace_id.as_uuid();

    let mut group = c.benchmark_group("get_source");
    group.bench_function("guarded", |b| {
        b.iter(|| black_box(fx.scope.get_source(black_box(target)).unwrap()))
    });
    group.bench_function("hand_written_rusqlite", |b| {
        b.iter(|| black_box(hand_written_get(&raw, &ws, black_box(target.as_uuid())).unwrap()))
    });
    group.finish();

    let mut group = c.benchmark_group("list_50_sources");
    group.bench_function("guarded", |b| {
        b.iter(|| black_box(fx.scope.list_sources(&Page::first(50)).unwrap()))
    });
    group.finish();
    assert_eq!(fx.engine.isolation_breaches(), 0);
}

criterion_group!(benches, reads);
criterion_main!(benches);
