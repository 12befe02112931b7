//! Scoped token mint, HS256, against `jsonwebtoken::encode` of the same header and claims
//! with the same secret:
//!
//! - `TokenMinter::mint`: a new token (new `iat`, `exp` and `jti`) for a workspace whose
//!   minter was made before the measurement; no database read;
//! - `OrgScope::scoped_token` for a workspace that exists, which reads the organization, the
//!   workspace and the signing key, then signs.
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
