//! Authenticate + get one source with 1,000,000 workspaces in the organization (1% of them
//! with 10 sources each) against the same with 1,000 workspaces, in the same run.
//!
//! The databases are built once and cached under `target/bench-data/` (keyed by workspace
//! count, schema version and layout), see `bulkhead_benches::many_workspaces`. The measured
//! workspaces, their sources, the organization and its keys are made through the engine; the
//! bulk is raw SQL in large transactions. Each iteration takes the next of the
//! `MEASURED` workspaces in turn: authenticate its scoped token, read one of its sources.
//!
//! `BULKHEAD_BENCH_WORKSPACES` replaces the large count (default 1,000,000). The peak
//! resident memory (VmHWM) and the database bytes per workspace are printed and written to
//! `target/bench-data/many_workspaces-<count>.txt`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use bulkhead::{Page, ScopedTokenRequest, SourceId};
use bulkhead_benches::{
    MEASURED, ManyWorkspaces, SOURCES_EACH, database_bytes, many_workspaces, measured_external_id,
    peak_rss_kib,
};
use criterion::{Criterion, criterion_group, criterion_main};

struct Measured {
    db: ManyWorkspaces,
    workspaces: usize,
    tokens: Vec<String>,
    sources: Vec<Vec<SourceId>>,
}

fn prepare(workspaces: usize) -> Measured {
    let db = many_workspaces(workspaces).unwrap();
    let mut tokens = Vec::with_capacity(MEASURED);
    let mut sources = Vec::with_capacity(MEASURED);
    for n in 0..MEASURED {
        let request = ScopedTokenRequest::new(measured_external_id(n).parse().unwrap());
        let issued = db.org.scoped_token(&request).unwrap();
        assert!(!issued.workspace_created, "measured workspaces exist");
        let scope = db.engine.authenticate(issued.token.expose()).unwrap();
        let page = scope
            .list_sources(&Page::first(SOURCES_EACH as u32))
            .unwrap();
        assert_eq!(page.items.len(), SOURCES_EACH);
        sources.push(page.items.iter().map(|s| s.id).collect());
        tokens.push(issued.token.expose().to_owned());
    }
    Measured {
        db,
        workspaces,
        tokens,
        sources,
    }
}

fn report(m: &Measured) -> String {
    let bytes = database_bytes(&m.db.path);
    let mut out = String::new();
    let _ = writeln!(out, "workspaces: {}", m.workspaces);
    let _ = writeln!(out, "database: {}", m.db.path.display());
    let _ = writeln!(out, "database bytes: {bytes}");
    let _ = writeln!(
        out,
        "database bytes per workspace: {:.1}",
        bytes as f64 / m.workspaces as f64
    );
    let _ = match m.db.built_in {
        Some(secs) => writeln!(out, "built in this run: {secs:.1} s"),
        None => writeln!(out, "built in this run: no (cached)"),
    };
    out
}

fn many(c: &mut Criterion) {
    let large: usize = std::env::var("BULKHEAD_BENCH_WORKSPACES")
        .ok()
        .map(|v| v.parse().expect("BULKHEAD_BENCH_WORKSPACES is a count"))
        .unwrap_or(1_000_000);
    let small = prepare(1_000);
    let big = prepare(large);
    let rss_before = peak_rss_kib();

    let mut group = c.benchmark_group("authenticate_get_source");
    for m in [&small, &big] {
        let mut i = 0usize;
        group.bench_function(format!("{}_workspaces", m.workspaces), |b| {
            b.iter(|| {
                i = (i + 1) % MEASURED;
                let scope = m.db.engine.authenticate(black_box(&m.tokens[i])).unwrap();
                black_box(scope.get_source(m.sources[i][i % SOURCES_EACH]).unwrap())
            })
        });
    }
    group.finish();

    let mut text = String::new();
    for m in [&small, &big] {
        text.push_str(&report(m));
        assert_eq!(m.db.engine.isolation_breaches(), 0);
    }
    let _ = writeln!(
        text,
        "peak RSS (VmHWM) after opening both: {} KiB; at the end: {} KiB",
        rss_before.unwrap_or(0),
        peak_rss_kib().unwrap_or(0)
    );
    println!("{text}");
    let out = bulkhead_benches::bench_data_dir().join(format!("many_workspaces-{large}.txt"));
    let _ = std::fs::write(out, text);
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
    targets = many
}
criterion_main!(benches);
