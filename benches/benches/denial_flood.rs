//! A write of one organization (renaming a source: one transaction on SQLite's single
//! writer, with its audit event) measured while nothing else runs, and while another thread
//! replays a revoked scoped token of *another* organization as fast as it can. Refusals are
//! audited coalesced (at most one event per actor, action and reason a minute), so the flood
//! costs reads and CPU, never writes: the ratio shows what is left.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bulkhead::{AuditFilter, ConnectorUpdate, Error, Page, ScopedTokenRequest};
use criterion::{Criterion, criterion_group, criterion_main};

fn denial_flood(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let fx = bulkhead_benches::fixture(&dir.path().join("bench.db"), 1).unwrap();
    let source = fx.sources[0];
    let names: [bulkhead::Name; 2] = ["Source a".parse().unwrap(), "Source b".parse().unwrap()];
    let mut n = 0usize;
    let mut rename = move || {
        n += 1;
        let update = ConnectorUpdate {
            name: Some(names[n % 2].clone()),
            config: None,
        };
        black_box(fx.scope.update_source(source, &update).unwrap());
    };

    // The attacker's organization and its revoked token.
    let (_, key) = fx.engine.create_organization("Flooder").unwrap();
    let flooder = fx.engine.authenticate_org(key.expose()).unwrap();
    let revoked = flooder
        .scoped_token(&ScopedTokenRequest::new("replayer".parse().unwrap()))
        .unwrap();
    flooder.revoke_token(revoked.token.expose()).unwrap();

    let mut group = c.benchmark_group("denial_flood");
    group.bench_function("other_org_write_quiet", |b| b.iter(&mut rename));

    let stop = Arc::new(AtomicBool::new(false));
    let replays = Arc::new(AtomicU64::new(0));
    let flood = {
        let (engine, token) = (fx.engine.clone(), revoked.token.expose().to_owned());
        let (stop, replays) = (Arc::clone(&stop), Arc::clone(&replays));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match engine.authenticate(&token) {
                    Err(Error::InvalidToken { .. }) => {}
                    other => panic!("the revoked token was not refused: {other:?}"),
                }
                replays.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    group.bench_function("other_org_write_during_flood", |b| b.iter(&mut rename));
    stop.store(true, Ordering::Relaxed);
    flood.join().unwrap();
    group.finish();

    let events = flooder
        .audit_events(
            &AuditFilter {
                action: Some("token.use".to_owned()),
                ..AuditFilter::default()
            },
            &Page::first(100),
        )
        .unwrap()
        .items
        .len();
    eprintln!(
        "denial_flood: {} replays of a revoked token wrote {events} audit event(s)",
        replays.load(Ordering::Relaxed)
    );
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
    targets = denial_flood
}
criterion_main!(benches);
