//! A small driver for profilers (`valgrind --tool=callgrind`, `perf`): runs one operation of
//! the benches `N` times on the bench fixture and prints the time per call.
//!
//! ```text
//! cargo build --release -p bulkhead-benches --example profile_driver
//! valgrind --tool=callgrind target/release/examples/profile_driver list 3000
//! ```
//!
//! Operations: `get`, `list` (guarded), `raw_list` (hand-written, plain connection, two
//! columns), `raw_list_full` (the guarded list's baseline in `benches/guarded_read.rs`),
//! `verify`, `authenticate`, `mint`. `QPSG=1` turns on SQLite's query planner stability
//! guarantee on the plain connection (for `raw_list`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a profiling driver: a failure here is a broken driver, not a library bug"
)]

use std::hint::black_box;
use std::time::Instant;

use bulkhead::{Page, ScopedTokenRequest};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().expect("an operation");
    let n: usize = args.next().map_or(3000, |v| v.parse().expect("a count"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.db");
    let fx = bulkhead_benches::fixture(&path, 50).unwrap();
    let request = ScopedTokenRequest::new("bench-customer".parse().unwrap());
    let token = fx
        .org
        .scoped_token(&request)
        .unwrap()
        .token
        .expose()
        .to_owned();
    let raw = rusqlite::Connection::open(&path).unwrap();
    if std::env::var_os("QPSG").is_some() {
        raw.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .unwrap();
    }
    let ws = *fx.workspace_id.as_uuid();
    let started = Instant::now();
    for _ in 0..n {
        match what.as_str() {
            "get" => drop(black_box(fx.scope.get_source(fx.sources[25]).unwrap())),
            "list" => drop(black_box(fx.scope.list_sources(&Page::first(50)).unwrap())),
            "raw_list" => {
                let mut stmt = raw
                    .prepare_cached(
                        "SELECT id, config FROM sources WHERE workspace_id = ?1 \
                         ORDER BY created_at, id LIMIT ?2",
                    )
                    .unwrap();
                let rows: Vec<(Vec<u8>, String)> = stmt
                    .query_map(rusqlite::params![ws, 51_i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                drop(black_box(rows));
            }
            "raw_list_full" => drop(black_box(bulkhead_benches::hand_written_list(
                &raw, &ws, 50,
            ))),
            "verify" => drop(black_box(fx.engine.verify_token(&token).unwrap())),
            "authenticate" => drop(black_box(fx.engine.authenticate(&token).unwrap())),
            "mint" => drop(black_box(fx.org.scoped_token(&request).unwrap())),
            other => panic!("unknown operation `{other}`"),
        }
    }
    let per_call = started.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64;
    println!("{what}: {per_call:.2} µs per call over {n} calls");
}
