//! The dashboard's workspaces page data call (`OrgScope::workspace_overview`, a page of 25,
//! what `GET /api/v1/workspaces/overview` runs) with 100,000 workspaces in the organization:
//! the first page and a deep page (past the 50,000th workspace), against the first page with
//! 1,000 workspaces, in the same run. The page reads only its own workspaces (one activity
//! query group per workspace), so neither the count nor the depth should matter.
//!
//! The databases are the cached ones of `bulkhead_benches::many_workspaces`.
//! `BULKHEAD_BENCH_WORKSPACES` replaces the large count (default 100,000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;
use std::time::Duration;

use bulkhead::{Page, WorkspaceFilter};
use bulkhead_benches::many_workspaces;
use criterion::{Criterion, criterion_group, criterion_main};

/// The dashboard's page size.
const PAGE: u32 = 25;

/// The page that starts after the first `skip` workspaces (by external id).
fn page_after(org: &bulkhead::OrgScope, skip: usize) -> Page {
    let filter = WorkspaceFilter::default();
    let mut page = Page::first(100);
    let mut skipped = 0;
    while skipped < skip {
        let listed = org.list_workspaces(&filter, &page).unwrap();
        skipped += listed.items.len();
        page = Page::after(listed.next.expect("enough workspaces"), 100);
    }
    Page::after(page.cursor().expect("a cursor").clone(), PAGE)
}

fn overview(c: &mut Criterion) {
    let large: usize = std::env::var("BULKHEAD_BENCH_WORKSPACES")
        .ok()
        .map(|v| v.parse().expect("BULKHEAD_BENCH_WORKSPACES is a count"))
        .unwrap_or(100_000);
    let small = many_workspaces(1_000).unwrap();
    let big = many_workspaces(large).unwrap();
    let deep = page_after(&big.org, large / 2);
    let filter = WorkspaceFilter::default();

    let mut group = c.benchmark_group("dashboard_overview");
    for (name, db, page) in [
        (
            "first_page_1000_workspaces".to_owned(),
            &small,
            Page::first(PAGE),
        ),
        (
            format!("first_page_{large}_workspaces"),
            &big,
            Page::first(PAGE),
        ),
        (format!("deep_page_{large}_workspaces"), &big, deep),
    ] {
        let rows = db.org.workspace_overview(&filter, &page).unwrap();
        assert_eq!(rows.items.len(), PAGE as usize);
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    db.org
                        .workspace_overview(&filter, black_box(&page))
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
    assert_eq!(big.engine.isolation_breaches(), 0);
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
    targets = overview
}
criterion_main!(benches);
