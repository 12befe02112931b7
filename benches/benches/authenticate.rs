//! `Engine::authenticate` (verify, then one read: the workspace row, the organization's
//! issuer and audience, and the revocation check) against `Engine::verify_token` alone, on
//! the same HS256 token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;
use std::time::Duration;

use bulkhead::ScopedTokenRequest;
use criterion::{Criterion, criterion_group, criterion_main};

fn authenticate(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let fx = bulkhead_benches::fixture(&dir.path().join("bench.db"), 0).unwrap();
    let issued = fx
        .org
        .scoped_token(&ScopedTokenRequest::new("bench-customer".parse().unwrap()))
        .unwrap();
    let token = issued.token.expose().to_owned();
    fx.engine.authenticate(&token).unwrap();

    let mut group = c.benchmark_group("authenticate_hs256");
    group.bench_function("bulkhead_authenticate", |b| {
        b.iter(|| black_box(fx.engine.authenticate(black_box(&token)).unwrap()))
    });
    group.bench_function("bulkhead_verify_token", |b| {
        b.iter(|| black_box(fx.engine.verify_token(black_box(&token)).unwrap()))
    });
    group.finish();
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
    targets = authenticate
}
criterion_main!(benches);
