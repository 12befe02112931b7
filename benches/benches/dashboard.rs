//! The dashboard's workspaces page at 100,000 workspaces: its data call,
//! `GET /api/v1/workspaces/overview?limit=25` with the organization's key, answered by
//! `bulkhead_server::router` in this process (no socket: the router is called as a tower
//! service), for the first page and for a deep page (the one that starts 90% of the way
//! through the list, by the cursor the list itself hands out).
//!
//! Side by side, in the same run: the plain workspace list of the same page
//! (`GET /api/v1/workspaces?limit=25`), which reads the same rows without the per-workspace
//! activity, so the cost of the page's figures is a ratio, and the first page against the
//! deep one says whether depth costs anything (a cursor page should not).
//!
//! The database is the cached one of `many_workspaces` (1% of the workspaces with 10
//! sources each). `BULKHEAD_BENCH_DASHBOARD_WORKSPACES` replaces the count (default 100,000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bulkhead_benches::many_workspaces;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt as _;

/// Rows of the page, as the dashboard asks for them.
const LIMIT: usize = 25;

struct Setup {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    key: String,
    /// The cursor of the deep page.
    deep: String,
}

async fn get(app: &axum::Router, key: &str, uri: &str) -> serde_json::Value {
    let request = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The `cursor` query value of a `next` link.
fn cursor_of(next: &serde_json::Value) -> Option<String> {
    let next = next.as_str()?;
    next.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("cursor="))
        .map(str::to_owned)
}

fn setup() -> Setup {
    let workspaces: usize = std::env::var("BULKHEAD_BENCH_DASHBOARD_WORKSPACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let db = many_workspaces(workspaces).unwrap();
    let key = std::fs::read_to_string(db.path.with_extension("orgkey"))
        .unwrap()
        .trim()
        .to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = bulkhead_server::router(db.engine.clone(), bulkhead_server::ServerConfig::default());
    // Walk the plain list in pages of 100 to the cursor 90% of the way in.
    let deep = rt.block_on(async {
        let mut cursor: Option<String> = None;
        for _ in 0..(workspaces * 9 / 10 / 100) {
            let uri = match &cursor {
                None => "/api/v1/workspaces?limit=100".to_owned(),
                Some(c) => format!("/api/v1/workspaces?limit=100&cursor={c}"),
            };
            let page = get(&app, &key, &uri).await;
            cursor = cursor_of(&page["next"]);
        }
        cursor.expect("a cursor 90% of the way in")
    });
    Setup { rt, app, key, deep }
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let first = format!("/api/v1/workspaces/overview?limit={LIMIT}");
    let deep = format!(
        "/api/v1/workspaces/overview?limit={LIMIT}&cursor={}",
        s.deep
    );
    let plain_first = format!("/api/v1/workspaces?limit={LIMIT}");
    let plain_deep = format!("/api/v1/workspaces?limit={LIMIT}&cursor={}", s.deep);
    for uri in [&first, &deep] {
        let page = s.rt.block_on(get(&s.app, &s.key, uri));
        assert_eq!(page["data"].as_array().unwrap().len(), LIMIT, "{uri}");
    }
    let mut group = c.benchmark_group("dashboard");
    for (name, uri) in [
        ("overview_first_page", &first),
        ("overview_deep_page", &deep),
        ("list_first_page", &plain_first),
        ("list_deep_page", &plain_deep),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| s.rt.block_on(get(&s.app, &s.key, uri)));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
