//! Get-or-create throughput on SQLite: a customer whose workspace exists (a read on a
//! reader connection), and a new customer every call (one write transaction).
//!
//! The organization's workspace-creation rate limit (default: burst 100, 10 a second) is
//! raised to its maximum, `OrgSettings::MAX_CREATION_LIMIT`, so the bench measures the store,
//! not the limiter.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;
use std::time::Duration;

use bulkhead::{ExternalId, OrgSettings};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn get_or_create(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let fx = bulkhead_benches::fixture(&dir.path().join("bench.db"), 0).unwrap();
    let (_, key) = fx
        .engine
        .create_organization_with(
            "Bench unlimited",
            OrgSettings {
                workspace_creation_burst: OrgSettings::MAX_CREATION_LIMIT,
                workspace_creation_rate: OrgSettings::MAX_CREATION_LIMIT,
                ..OrgSettings::default()
            },
        )
        .unwrap();
    let org = fx.engine.authenticate_org(key.expose()).unwrap();
    let existing: ExternalId = "bench-customer".parse().unwrap();
    assert!(org.get_or_create_workspace(&existing).unwrap().created);
    assert!(!org.get_or_create_workspace(&existing).unwrap().created);

    let mut group = c.benchmark_group("get_or_create");
    group.throughput(Throughput::Elements(1));
    group.bench_function("existing", |b| {
        b.iter(|| black_box(org.get_or_create_workspace(black_box(&existing)).unwrap()))
    });
    let mut n: u64 = 0;
    group.bench_function("new", |b| {
        b.iter_batched(
            || {
                n += 1;
                format!("new-{n:09}").parse::<ExternalId>().unwrap()
            },
            |id| {
                let made = org.get_or_create_workspace(&id).unwrap();
                debug_assert!(made.created);
                black_box(made)
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
    println!("get_or_create: {n} workspaces created");
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
    targets = get_or_create
}
criterion_main!(benches);
