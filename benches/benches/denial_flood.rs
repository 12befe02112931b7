//! A write of one organization (renaming a source: a guarded read, then one transaction on
//! SQLite's single writer with its audit event) measured while nothing else runs, and while
//! another thread, on the other core, sends *another* organization's traffic as fast as it
//! can: a revoked scoped token replayed (the attack of the security review's M1), the same
//! requests with a valid token (any read load), and audited writes (what each refusal cost
//! before refusals were coalesced). Refusals are audited at most once per actor, action and
//! reason a minute, so the replay flood costs reads and CPU, like valid traffic, not writes.
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

/// One flood: a call repeated on the other core while the write is measured.
type Flood = Box<dyn Fn() + Send + Sync>;

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

    let valid = flooder
        .scoped_token(&ScopedTokenRequest::new("valid".parse().unwrap()))
        .unwrap();
    let flooder_workspace = valid.workspace_id;

    let mut group = c.benchmark_group("denial_flood");
    group.bench_function("other_org_write_quiet", |b| b.iter(&mut rename));

    // Each flood runs on the other core while the write is measured.
    let replays = Arc::new(AtomicU64::new(0));
    let floods: [(&str, Flood); 3] = [
        // The attack: a revoked token replayed; refused, audited once a minute.
        ("other_org_write_during_refused_token_flood", {
            let (engine, token) = (fx.engine.clone(), revoked.token.expose().to_owned());
            let replays = Arc::clone(&replays);
            Box::new(move || {
                match engine.authenticate(&token) {
                    Err(Error::InvalidToken { .. }) => {}
                    other => panic!("the revoked token was not refused: {other:?}"),
                }
                replays.fetch_add(1, Ordering::Relaxed);
            })
        }),
        // The same traffic with a valid token: what any read load costs on two cores.
        ("other_org_write_during_valid_token_flood", {
            let (engine, token) = (fx.engine.clone(), valid.token.expose().to_owned());
            Box::new(move || {
                black_box(engine.authenticate(&token).unwrap());
            })
        }),
        // What each refusal cost before coalescing: one audited write of the flooder's.
        ("other_org_write_during_write_flood", {
            let flooder = flooder.clone();
            let names: [bulkhead::Name; 2] = ["w a".parse().unwrap(), "w b".parse().unwrap()];
            let n = AtomicU64::new(0);
            Box::new(move || {
                let i = usize::from(n.fetch_add(1, Ordering::Relaxed).is_multiple_of(2));
                let update = bulkhead::WorkspaceUpdate {
                    name: Some(names[i].clone()),
                    ..bulkhead::WorkspaceUpdate::default()
                };
                black_box(
                    flooder
                        .update_workspace(flooder_workspace, &update)
                        .unwrap(),
                );
            })
        }),
    ];
    for (name, flood) in floods {
        let stop = Arc::new(AtomicBool::new(false));
        let flood: Arc<dyn Fn() + Send + Sync> = Arc::from(flood);
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    flood();
                }
            })
        };
        group.bench_function(name, |b| b.iter(&mut rename));
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
    }
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
