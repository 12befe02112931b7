//! Scoped token verify: `Engine::verify_token` (parse, MAC or signature, claims, expiry, and
//! the issuer/audience check against the organization) against `jsonwebtoken` decoding the
//! same token with the same checks, and against raw `ring` over the same bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::hint::black_box;
use std::time::Duration;

use bulkhead::{Algorithm, OrgSettings, ScopedTokenRequest};
use bulkhead_benches::{JwtClaims, token_parts};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{DecodingKey, Validation};
use ring::{hmac, signature};

fn hs256(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let fx = bulkhead_benches::fixture(&dir.path().join("bench.db"), 0).unwrap();
    let issued = fx
        .org
        .scoped_token(&ScopedTokenRequest::new("bench-customer".parse().unwrap()))
        .unwrap();
    let token = issued.token.expose().to_owned();
    let parts = token_parts(&token).unwrap();
    let secret = fx.org.reveal_hs256_secret(&parts.kid).unwrap();

    let jwt_key = DecodingKey::from_secret(secret.expose()).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[parts.claims.iss.as_str()]);
    validation.set_audience(&[parts.claims.aud.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    let ring_key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose());

    // All three accept the token.
    fx.engine.verify_token(&token).unwrap();
    jsonwebtoken::decode::<JwtClaims>(&token, &jwt_key, &validation).unwrap();
    hmac::verify(&ring_key, &parts.signing_input, &parts.signature).unwrap();

    let mut group = c.benchmark_group("verify_hs256");
    group.bench_function("bulkhead_verify_token", |b| {
        b.iter(|| black_box(fx.engine.verify_token(black_box(&token)).unwrap()))
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            black_box(
                jsonwebtoken::decode::<JwtClaims>(black_box(&token), &jwt_key, &validation)
                    .unwrap(),
            )
        })
    });
    group.bench_function("ring_hmac_verify", |b| {
        b.iter(|| {
            hmac::verify(
                &ring_key,
                black_box(&parts.signing_input),
                black_box(&parts.signature),
            )
            .unwrap()
        })
    });
    group.finish();
}

fn eddsa(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let fx = bulkhead_benches::fixture(&dir.path().join("bench.db"), 0).unwrap();
    let (_, key) = fx
        .engine
        .create_organization_with(
            "Bench EdDSA",
            OrgSettings {
                token_algorithm: Algorithm::EdDsa,
                ..OrgSettings::default()
            },
        )
        .unwrap();
    let org = fx.engine.authenticate_org(key.expose()).unwrap();
    let issued = org
        .scoped_token(&ScopedTokenRequest::new("bench-customer".parse().unwrap()))
        .unwrap();
    let token = issued.token.expose().to_owned();
    let parts = token_parts(&token).unwrap();
    let jwks = org.jwks().unwrap();
    let jwk = jwks.keys.iter().find(|k| k.kid == parts.kid).unwrap();
    let public = bulkhead_benches::base64url(&jwk.x).unwrap();
    let ring_key = signature::UnparsedPublicKey::new(&signature::ED25519, public);

    fx.engine.verify_token(&token).unwrap();
    ring_key
        .verify(&parts.signing_input, &parts.signature)
        .unwrap();

    let mut group = c.benchmark_group("verify_eddsa");
    group.bench_function("bulkhead_verify_token", |b| {
        b.iter(|| black_box(fx.engine.verify_token(black_box(&token)).unwrap()))
    });
    group.bench_function("ring_ed25519_verify", |b| {
        b.iter(|| {
            ring_key
                .verify(black_box(&parts.signing_input), black_box(&parts.signature))
                .unwrap()
        })
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
    targets = hs256, eddsa
}
criterion_main!(benches);
