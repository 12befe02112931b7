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

use bulkhead::Page;
use bulkhead_benches::{Paired, hand_written_get, hand_written_list};
use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::Connection;

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

    // The targets' ratios, measured side by side (see `Paired`).
    let get = Paired::measure(
        41,
        2_000,
        || drop(black_box(fx.scope.get_source(black_box(target)).unwrap())),
        || {
            drop(black_box(
                hand_written_get(&tuned, &ws, black_box(target.as_uuid())).unwrap(),
            ))
        },
    );
    println!(
        "{}",
        get.report("get_source: guarded / hand_written_rusqlite_qpsg")
    );
    let list = Paired::measure(
        41,
        200,
        || drop(black_box(fx.scope.list_sources(&Page::first(50)).unwrap())),
        || drop(black_box(hand_written_list(&tuned, &ws, black_box(50)))),
    );
    println!(
        "{}",
        list.report("list_50_sources: guarded / hand_written_rusqlite_qpsg")
    );
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
