//! Scoped token mint, HS256, against `jsonwebtoken::encode` of the same header and claims
//! with the same secret:
//!
//! - `TokenMinter::mint`: a new token (new `iat`, `exp` and `jti`) for a workspace whose
//!   minter was made before the measurement; no database read;
//! - `OrgScope::scoped_token` for a workspace that exists: one write transaction (the
//!   workspace read and the `token.issue` audit event appended, committed before the token is
//!   returned), the organization and its signer from the engine's caches, then the signing;
//! - `sqlite_audit_append_alone`: the floor of any audited issuance on SQLite, one audit
//!   event appended by hand-written rusqlite statements in a transaction of its own (`BEGIN
//!   IMMEDIATE`, the chain's last event, SHA-256, the insert, `COMMIT`) on a file configured
//!   like the store's (WAL, `synchronous=NORMAL`), with the same table and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;
use std::time::Duration;

use bulkhead::ScopedTokenRequest;
use bulkhead_benches::token_parts;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use rusqlite::{Connection, OptionalExtension, params};

/// A database with the store's `audit_log` table and index, configured like the store's
/// writer (WAL, `synchronous=NORMAL`).
fn audit_floor_db(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .unwrap();
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         CREATE TABLE audit_log (
             org_id BLOB NOT NULL, seq INTEGER NOT NULL CHECK (seq > 0), at INTEGER NOT NULL,
             actor TEXT NOT NULL, action TEXT NOT NULL, workspace_id BLOB, target TEXT NOT NULL,
             outcome TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL,
             PRIMARY KEY (org_id, seq)
         ) STRICT, WITHOUT ROWID;
         CREATE INDEX audit_log_by_workspace ON audit_log (org_id, workspace_id, seq);",
    )
    .unwrap();
    conn
}

/// Appends one `token.issue` event to the chain of `org` in a transaction of its own.
fn append_alone(conn: &mut Connection, org: &[u8; 16], workspace: &[u8; 16], n: u64) {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let last: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT seq, hash FROM audit_log WHERE org_id = ?1 ORDER BY seq DESC LIMIT 1",
        )
        .unwrap()
        .query_row(params![&org[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .unwrap();
    let (seq, prev) = last.map_or((1, vec![0; 32]), |(seq, hash)| (seq + 1, hash));
    let target = format!("token:{n:016x}");
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    digest.update(&prev);
    digest.update(target.as_bytes());
    let hash = digest.finish();
    tx.prepare_cached(
        "INSERT INTO audit_log (org_id, seq, at, actor, action, workspace_id, target, outcome,
         prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .unwrap()
    .execute(params![
        &org[..],
        seq,
        1_700_000_000_000_i64,
        "org_key:bh_org_abcd",
        "token.issue",
        &workspace[..],
        target,
        "ok",
        prev,
        hash.as_ref(),
    ])
    .unwrap();
    tx.commit().unwrap();
}

fn mint(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let fx = bulkhead_benches::fixture(&dir.path().join("bench.db"), 0).unwrap();
    let request = ScopedTokenRequest::new("bench-customer".parse().unwrap());
    let issued = fx.org.scoped_token(&request).unwrap();
    assert!(!issued.workspace_created);
    let parts = token_parts(issued.token.expose()).unwrap();
    let secret = fx.org.reveal_hs256_secret(&parts.kid).unwrap();
    let key = EncodingKey::from_secret(secret.expose()).unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("bulkhead-scoped+jwt".to_owned());
    header.kid = Some(parts.kid.clone());
    let claims = parts.claims.clone();
    // jsonwebtoken's token verifies in Bulkhead: same header, same claims, same key.
    let theirs = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    fx.engine.verify_token(&theirs).unwrap();

    let minter = fx.org.token_minter(&request).unwrap();
    fx.engine
        .authenticate(minter.mint().unwrap().token.expose())
        .unwrap();

    let mut group = c.benchmark_group("mint_hs256");
    group.bench_function("bulkhead_token_minter_mint", |b| {
        b.iter(|| black_box(minter.mint().unwrap()))
    });
    group.bench_function("bulkhead_scoped_token_existing_workspace", |b| {
        b.iter(|| black_box(fx.org.scoped_token(black_box(&request)).unwrap()))
    });
    let mut floor = audit_floor_db(&dir.path().join("audit-floor.db"));
    let mut n = 0_u64;
    group.bench_function("sqlite_audit_append_alone", |b| {
        b.iter(|| {
            n += 1;
            append_alone(&mut floor, &[7; 16], &[9; 16], n);
        })
    });
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| black_box(jsonwebtoken::encode(&header, black_box(&claims), &key).unwrap()))
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
    targets = mint
}
criterion_main!(benches);
