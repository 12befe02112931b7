//! Scoped tokens through the public API: round trips, every RFC 8725 refusal, rotation,
//! revocation, expiry on the injected clock, interop with `jsonwebtoken`, operations, the
//! scoped-token flow and the token cache.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::sync::Barrier;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead::{
    Algorithm, Engine, Error, IssuedToken, OperationSet, OrgScope, OrgSettings, ScopedTokenRequest,
    TagMode, TagSelection, Timestamp, TokenCache, TokenRejection, WorkspaceFilter, WorkspaceStatus,
    WorkspaceUpdate,
};
use common::{
    Db, START, all_workspaces, assert_invalid, assert_token_rejected, ext, issue, new_source,
};
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde_json::{Value, json};

/// The `typ` header of every scoped token.
const TYP: &str = "bulkhead-scoped+jwt";
/// The engine's leeway in the tests' configuration (the default).
const LEEWAY: Duration = Duration::from_secs(30);
/// The default lifetime of a scoped token.
const DEFAULT_TTL: Duration = Duration::from_secs(20 * 60);
/// The default maximum lifetime of a scoped token.
const MAX_TTL: Duration = Duration::from_secs(60 * 60);

// ---------------------------------------------------------------------------------------------
// Reading and forging tokens by hand.

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Part `index` of `token` (0 header, 1 claims), decoded as JSON.
fn part(token: &str, index: usize) -> Value {
    let text = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    part(token, 0)
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}

/// `d` before `t`.
fn before(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp::from_unix_millis(t.unix_millis() - i64::try_from(d.as_millis()).unwrap())
}

fn secs(t: Timestamp) -> i64 {
    t.unix_millis().div_euclid(1000)
}

/// A header of exactly `alg`, the scoped-token `typ` and `kid`, as JSON text.
fn header(alg: &str, kid: &str) -> String {
    format!(r#"{{"alg":"{alg}","typ":"{TYP}","kid":"{kid}"}}"#)
}

/// `header.claims.signature`, each part base64url-encoded.
fn assemble(header: &str, claims: &str, signature: &[u8]) -> String {
    format!("{}.{}.{}", b64(header), b64(claims), b64(signature))
}

/// A token of `header` and `claims` (JSON text, used as given) signed with HMAC-SHA256 under
/// `secret`.
fn sign_hs256(secret: &[u8], header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// Claims as `(name, raw JSON)` pairs written out in order, so a test can drop a claim, give
/// it another JSON type or repeat it.
#[derive(Clone)]
struct Claims(Vec<(String, String)>);

impl Claims {
    /// The claims of a genuine token.
    fn of(token: &str) -> Self {
        let Value::Object(map) = part(token, 1) else {
            panic!("the claims are not an object")
        };
        Self(map.into_iter().map(|(k, v)| (k, v.to_string())).collect())
    }

    /// Replaces `name` (which must be there) with the raw JSON `value`.
    fn set(mut self, name: &str, value: impl Into<String>) -> Self {
        let slot = self.0.iter_mut().find(|(k, _)| k == name).unwrap();
        slot.1 = value.into();
        self
    }

    fn set_str(self, name: &str, value: &str) -> Self {
        self.set(name, Value::from(value).to_string())
    }

    fn remove(mut self, name: &str) -> Self {
        let before = self.0.len();
        self.0.retain(|(k, _)| k != name);
        assert_eq!(self.0.len(), before - 1);
        self
    }

    /// Adds `name` again (or for the first time) at the end.
    fn push(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.push((name.to_owned(), value.into()));
        self
    }

    fn int(&self, name: &str) -> i64 {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .parse()
            .unwrap()
    }

    fn json(&self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// The organization's current HS256 signer: its `kid` and its secret.
fn hs256_signer(org: &OrgScope) -> (String, Vec<u8>) {
    let keys = org.signing_keys().unwrap();
    let signer = keys.iter().find(|k| k.retire_at.is_none()).unwrap();
    assert_eq!(signer.algorithm, Algorithm::Hs256);
    let secret = org.reveal_hs256_secret(&signer.kid).unwrap();
    (signer.kid.clone(), secret.expose().to_vec())
}

/// An HS256 organization with one genuine token, and what it takes to forge more.
struct Forge {
    db: Db,
    org: OrgScope,
    issued: IssuedToken,
    kid: String,
    secret: Vec<u8>,
}

impl Forge {
    fn new() -> Self {
        let db = Db::new();
        let org = db.org("Acme");
        let issued = issue(&org, "customer-1");
        let (kid, secret) = hs256_signer(&org);
        Self {
            db,
            org,
            issued,
            kid,
            secret,
        }
    }

    fn token(&self) -> &str {
        self.issued.token.expose()
    }

    fn claims(&self) -> Claims {
        Claims::of(self.token())
    }

    /// `claims` under a correct header, properly signed with the organization's key.
    fn sign(&self, claims: &Claims) -> String {
        sign_hs256(&self.secret, &header("HS256", &self.kid), &claims.json())
    }

    /// Asserts both `authenticate` and `verify_token` refuse `token` for `reason`.
    #[track_caller]
    fn assert_refused(&self, token: &str, reason: TokenRejection) {
        assert_refused(&self.db.engine, token, reason);
    }
}

#[track_caller]
fn assert_refused(engine: &Engine, token: &str, reason: TokenRejection) {
    assert_token_rejected(engine.authenticate(token), reason);
    assert_token_rejected(engine.verify_token(token), reason);
}

#[track_caller]
fn assert_expired<T: std::fmt::Debug>(result: bulkhead::Result<T>, expected: Timestamp) {
    match result {
        Err(Error::TokenExpired { expired_at }) => assert_eq!(expired_at, expected),
        other => panic!("expected an expired token, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips.

fn assert_round_trip(db: &Db, org: &OrgScope, alg: &str) {
    let ops = OperationSet::parse(["workspace:read", "sources:read", "sources:create"]).unwrap();
    let issued = org
        .scoped_token(&ScopedTokenRequest::new(ext("customer-1")).operations(ops))
        .unwrap();
    let token = issued.token.expose();
    assert_eq!(header_of(token)["alg"], alg);

    let scope = db.engine.authenticate(token).unwrap();
    assert_eq!(scope.workspace_id(), issued.workspace_id);
    assert_eq!(scope.org_id(), org.org_id());
    assert_eq!(scope.operations(), ops);
    assert_eq!(scope.token_id(), Some(issued.token_id.as_str()));
    assert_eq!(scope.workspace().unwrap().external_id, ext("customer-1"));

    let claims = db.engine.verify_token(token).unwrap();
    assert_eq!(claims.workspace_id, issued.workspace_id);
    assert_eq!(claims.org_id, org.org_id());
    assert_eq!(claims.external_id, ext("customer-1"));
    assert_eq!(claims.operations, ops);
    assert_eq!(claims.issuer, "bulkhead");
    assert_eq!(claims.audience, "bulkhead-workspace");
    assert_eq!(claims.issued_at, secs(START));
    assert_eq!(claims.expires_at, secs(START.plus(DEFAULT_TTL)));
    assert_eq!(claims.expiry(), issued.expires_at);
    assert_eq!(claims.token_id, issued.token_id);
}

#[test]
fn hs256_token_round_trips_to_its_workspace_with_exactly_its_operations() {
    let db = Db::new();
    let org = db.org("Acme");
    assert_round_trip(&db, &org, "HS256");
}

#[test]
fn eddsa_token_round_trips_to_its_workspace_with_exactly_its_operations() {
    let db = Db::new();
    let org = db.eddsa_org("Edwards");
    assert_round_trip(&db, &org, "EdDSA");
}

/// A token minted with an allowed origin (a widget's) carries it as the signed `origin`
/// claim to the verified claims and to the scope, by both algorithms and from a minter; a
/// token minted without one has no `origin` claim at all and no origin.
#[test]
fn allowed_origin_round_trips_as_the_origin_claim_and_a_plain_token_has_none() {
    let db = Db::new();
    for org in [db.org("Acme"), db.eddsa_org("Edwards")] {
        let origin: bulkhead::AllowedOrigin = "https://App.Example.com:443".parse().unwrap();
        let request = ScopedTokenRequest::new(ext("customer-1")).allowed_origin(origin.clone());
        let minted = org.token_minter(&request).unwrap().mint().unwrap();
        for issued in [org.scoped_token(&request).unwrap(), minted] {
            let token = issued.token.expose();
            assert_eq!(part(token, 1)["origin"], "https://app.example.com");
            let claims = db.engine.verify_token(token).unwrap();
            assert_eq!(claims.allowed_origin.as_ref(), Some(&origin));
            let scope = db.engine.authenticate(token).unwrap();
            assert_eq!(
                scope.allowed_origin().map(|o| o.as_str()),
                Some("https://app.example.com")
            );
        }

        let plain = org
            .scoped_token(&ScopedTokenRequest::new(ext("customer-1")))
            .unwrap();
        let token = plain.token.expose();
        assert!(part(token, 1).get("origin").is_none());
        assert_eq!(db.engine.verify_token(token).unwrap().allowed_origin, None);
        assert_eq!(
            db.engine.authenticate(token).unwrap().allowed_origin(),
            None
        );
        // A scope the organization makes has no origin either.
        let ws = org.workspace(plain.workspace_id).unwrap();
        assert_eq!(ws.allowed_origin(), None);
    }
}

/// An `origin` claim that is not an origin in a browser's form refuses a correctly signed
/// token: the claim is checked like every other.
#[test]
fn forged_origin_claim_that_is_not_an_origin_is_refused() {
    let forge = Forge::new();
    for value in [
        json!(null),
        json!("https://evil.example/"),
        json!("*"),
        json!(7),
    ] {
        let claims = forge.claims().push("origin", value.to_string());
        forge.assert_refused(&forge.sign(&claims), TokenRejection::Malformed);
    }
    let claims = forge
        .claims()
        .push("origin", json!("https://app.example.com").to_string());
    let scope = forge.db.engine.authenticate(&forge.sign(&claims)).unwrap();
    assert_eq!(
        scope.allowed_origin().map(|o| o.as_str()),
        Some("https://app.example.com")
    );
}

#[test]
fn hand_forged_token_with_genuine_claims_and_key_is_accepted() {
    // The control for every refusal below: the forging helpers make tokens the engine
    // accepts, so a refusal comes from the one thing a test changes.
    let f = Forge::new();
    let forged = f.sign(&f.claims());
    let scope = f.db.engine.authenticate(&forged).unwrap();
    assert_eq!(scope.workspace_id(), f.issued.workspace_id);
    assert_eq!(
        f.db.engine.verify_token(&forged).unwrap(),
        f.db.engine.verify_token(f.token()).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 8725: every refusal, each its own test.

#[test]
fn alg_none_is_rejected() {
    let f = Forge::new();
    let claims = f.claims().json();
    let none = header("none", &f.kid);
    f.assert_refused(&assemble(&none, &claims, b""), TokenRejection::Algorithm);
    // Even carrying a signature that verifies under the real key.
    f.assert_refused(
        &sign_hs256(&f.secret, &none, &claims),
        TokenRejection::Algorithm,
    );
}

#[test]
fn alg_capitalised_none_is_rejected() {
    let f = Forge::new();
    let claims = f.claims().json();
    for alg in ["None", "NONE", "nOnE"] {
        let none = header(alg, &f.kid);
        f.assert_refused(&assemble(&none, &claims, b""), TokenRejection::Algorithm);
        f.assert_refused(&assemble(&none, &claims, b"x"), TokenRejection::Algorithm);
        f.assert_refused(
            &sign_hs256(&f.secret, &none, &claims),
            TokenRejection::Algorithm,
        );
    }
}

#[test]
fn other_algorithm_names_are_rejected() {
    let f = Forge::new();
    let claims = f.claims().json();
    for alg in ["hs256", "HS384", "HS512", "RS256", "ES256", "eddsa", ""] {
        let forged = sign_hs256(&f.secret, &header(alg, &f.kid), &claims);
        f.assert_refused(&forged, TokenRejection::Algorithm);
    }
}

#[test]
fn hs256_token_keyed_with_the_public_key_of_an_eddsa_org_is_rejected() {
    // The classic confusion attack: take the public key from the JWKS, use it as an HMAC
    // secret, and claim `HS256` for the EdDSA key's `kid`.
    let db = Db::new();
    let org = db.eddsa_org("Edwards");
    let issued = issue(&org, "customer-1");
    let jwks = org.jwks().unwrap();
    assert_eq!(jwks.keys.len(), 1);
    let jwk = &jwks.keys[0];
    assert_eq!(jwk.kid, kid_of(issued.token.expose()));
    let public = URL_SAFE_NO_PAD.decode(&jwk.x).unwrap();
    assert_eq!(public.len(), 32);

    let claims = Claims::of(issued.token.expose()).json();
    let hs256 = header("HS256", &jwk.kid);
    for secret in [public.as_slice(), jwk.x.as_bytes()] {
        let forged = sign_hs256(secret, &hs256, &claims);
        assert_refused(&db.engine, &forged, TokenRejection::Algorithm);
    }
    // The genuine token still works: the refusal is the forgery's.
    db.engine.authenticate(issued.token.expose()).unwrap();
}

#[test]
fn eddsa_token_for_the_kid_of_an_hs256_org_is_rejected() {
    let f = Forge::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let attacker = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let eddsa = header("EdDSA", &f.kid);
    let claims = f.claims().json();
    let input = format!("{}.{}", b64(&eddsa), b64(&claims));
    let signature = attacker.sign(input.as_bytes());
    // A real EdDSA signature, valid under the attacker's own public key.
    UnparsedPublicKey::new(&ED25519, attacker.public_key().as_ref())
        .verify(input.as_bytes(), signature.as_ref())
        .unwrap();
    let forged = format!("{input}.{}", b64(signature));
    f.assert_refused(&forged, TokenRejection::Algorithm);
    // Nor with the HMAC of the real secret under an EdDSA header.
    f.assert_refused(
        &sign_hs256(&f.secret, &eddsa, &claims),
        TokenRejection::Algorithm,
    );
}

#[test]
fn stripped_signature_is_rejected() {
    for eddsa in [false, true] {
        let db = Db::new();
        let org = if eddsa {
            db.eddsa_org("Edwards")
        } else {
            db.org("Acme")
        };
        let token = issue(&org, "customer-1").token.expose().to_owned();
        let unsigned = token.rsplit_once('.').unwrap().0;
        assert_refused(
            &db.engine,
            &format!("{unsigned}."),
            TokenRejection::Signature,
        );
        assert_refused(&db.engine, unsigned, TokenRejection::Malformed);
    }
}

#[test]
fn tampered_claims_with_the_original_signature_are_rejected() {
    let f = Forge::new();
    let other = issue(&f.org, "customer-2");
    let signature = f.token().rsplit_once('.').unwrap().1.to_owned();
    let tampered = [
        f.claims().set_str("sub", &other.workspace_id.to_string()),
        f.claims().set_str("ext", "customer-2"),
        f.claims()
            .set("ops", serde_json::to_string(&OperationSet::all()).unwrap()),
        f.claims()
            .set("exp", (f.claims().int("exp") + 86_400).to_string()),
    ];
    for claims in tampered {
        let token = format!(
            "{}.{}.{signature}",
            b64(header("HS256", &f.kid)),
            b64(claims.json())
        );
        f.assert_refused(&token, TokenRejection::Signature);
    }
}

#[test]
fn tampered_eddsa_claims_with_the_original_signature_are_rejected() {
    let db = Db::new();
    let org = db.eddsa_org("Edwards");
    let issued = issue(&org, "customer-1");
    let other = issue(&org, "customer-2");
    let (head, rest) = issued.token.expose().split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let claims = Claims::of(issued.token.expose()).set_str("sub", &other.workspace_id.to_string());
    let token = format!("{head}.{}.{signature}", b64(claims.json()));
    assert_refused(&db.engine, &token, TokenRejection::Signature);
}

#[test]
fn wrong_typ_is_rejected() {
    let f = Forge::new();
    for typ in [
        "JWT",
        "at+jwt",
        "BULKHEAD-SCOPED+JWT",
        "bulkhead-scoped+jwt ",
        "",
    ] {
        let head = format!(r#"{{"alg":"HS256","typ":"{typ}","kid":"{}"}}"#, f.kid);
        let forged = sign_hs256(&f.secret, &head, &f.claims().json());
        f.assert_refused(&forged, TokenRejection::Type);
    }
}

#[test]
fn missing_typ_is_rejected() {
    let f = Forge::new();
    let head = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, f.kid);
    let forged = sign_hs256(&f.secret, &head, &f.claims().json());
    f.assert_refused(&forged, TokenRejection::Malformed);
}

#[test]
fn wrong_aud_is_rejected() {
    let f = Forge::new();
    let forged = f.sign(&f.claims().set_str("aud", "another-audience"));
    f.assert_refused(&forged, TokenRejection::Audience);
}

#[test]
fn wrong_iss_is_rejected() {
    let f = Forge::new();
    let forged = f.sign(&f.claims().set_str("iss", "somebody-else"));
    f.assert_refused(&forged, TokenRejection::Issuer);
}

#[test]
fn missing_exp_is_rejected() {
    let f = Forge::new();
    let forged = f.sign(&f.claims().remove("exp"));
    f.assert_refused(&forged, TokenRejection::Malformed);
}

#[test]
fn exp_as_a_string_is_rejected() {
    let f = Forge::new();
    let exp = f.claims().int("exp");
    let forged = f.sign(&f.claims().set("exp", format!("\"{exp}\"")));
    f.assert_refused(&forged, TokenRejection::Malformed);
}

#[test]
fn exp_of_another_json_type_is_rejected_never_read_as_absent() {
    let f = Forge::new();
    let exp = f.claims().int("exp");
    for value in [
        "null".to_owned(),
        format!("{exp}.5"),
        "true".to_owned(),
        format!("[{exp}]"),
    ] {
        let forged = f.sign(&f.claims().set("exp", value));
        f.assert_refused(&forged, TokenRejection::Malformed);
    }
}

#[test]
fn duplicate_exp_is_rejected() {
    let f = Forge::new();
    let exp = f.claims().int("exp");
    for second in [exp, exp + 86_400, exp - 86_400] {
        let forged = f.sign(&f.claims().push("exp", second.to_string()));
        f.assert_refused(&forged, TokenRejection::Malformed);
    }
}

#[test]
fn duplicate_header_key_is_rejected() {
    let f = Forge::new();
    let head = format!(
        r#"{{"alg":"HS256","typ":"{TYP}","kid":"{}","alg":"HS256"}}"#,
        f.kid
    );
    let forged = sign_hs256(&f.secret, &head, &f.claims().json());
    f.assert_refused(&forged, TokenRejection::Malformed);
}

#[test]
fn unknown_claim_is_rejected() {
    let f = Forge::new();
    let forged = f.sign(&f.claims().push("admin", "true"));
    f.assert_refused(&forged, TokenRejection::Malformed);
}

#[test]
fn unknown_crit_is_rejected() {
    let f = Forge::new();
    for crit in [r#"["exp"]"#, r#"["b64"]"#, "[]", "null"] {
        let head = format!(
            r#"{{"alg":"HS256","typ":"{TYP}","kid":"{}","crit":{crit}}}"#,
            f.kid
        );
        let forged = sign_hs256(&f.secret, &head, &f.claims().json());
        f.assert_refused(&forged, TokenRejection::UnsupportedHeader);
    }
}

#[test]
fn unknown_header_parameter_is_rejected() {
    let f = Forge::new();
    let head = format!(
        r#"{{"alg":"HS256","typ":"{TYP}","kid":"{}","jku":"https://attacker.example/jwks"}}"#,
        f.kid
    );
    let forged = sign_hs256(&f.secret, &head, &f.claims().json());
    f.assert_refused(&forged, TokenRejection::Malformed);
}

#[test]
fn unknown_kid_is_rejected() {
    let f = Forge::new();
    for kid in ["unknown-kid", "", "../../etc/passwd"] {
        let forged = sign_hs256(&f.secret, &header("HS256", kid), &f.claims().json());
        f.assert_refused(&forged, TokenRejection::UnknownKey);
    }
}

#[test]
fn oversized_token_is_rejected_even_when_properly_signed() {
    let f = Forge::new();
    // Grow the `jti` until the signed token crosses the 4096-byte cap; the last one under it
    // is accepted, so the refusal is the size, not the long claim.
    let mut last_fitting = None;
    let mut first_over = None;
    for n in 2_000..3_500 {
        let token = f.sign(&f.claims().set_str("jti", &"j".repeat(n)));
        if token.len() <= 4096 {
            last_fitting = Some(token);
        } else {
            first_over = Some(token);
            break;
        }
    }
    let (fits, over) = (last_fitting.unwrap(), first_over.unwrap());
    assert!(fits.len() >= 4093, "{}", fits.len());
    f.db.engine.authenticate(&fits).unwrap();
    f.assert_refused(&over, TokenRejection::TooLarge);
    f.assert_refused(&"a".repeat(1 << 20), TokenRejection::TooLarge);
}

#[test]
fn non_base64url_characters_are_rejected() {
    let f = Forge::new();
    let token = f.token();
    let (head, rest) = token.split_once('.').unwrap();
    let mut bad = vec![
        format!("{token}="),
        format!("{token}=="),
        format!("{token}\n"),
    ];
    for c in ['+', '/', '=', ' ', '\t', 'é', '%', '"'] {
        bad.push(format!("{}{c}", &token[..token.len() - 1]));
        bad.push(format!("{head}{c}.{rest}"));
    }
    for forged in bad {
        f.assert_refused(&forged, TokenRejection::Malformed);
    }
}

#[test]
fn wrong_number_of_parts_is_rejected() {
    let f = Forge::new();
    let token = f.token();
    for forged in [
        String::new(),
        ".".to_owned(),
        "..".to_owned(),
        "...".to_owned(),
        format!("{token}."),
        format!("{token}.{}", b64("x")),
        token.split('.').next().unwrap().to_owned(),
    ] {
        f.assert_refused(&forged, TokenRejection::Malformed);
    }
}

#[test]
fn token_signed_by_one_org_claiming_another_orgs_workspace_is_rejected() {
    let f = Forge::new();
    let victim = f.db.org("Victim");
    let theirs = issue(&victim, "victim-customer");
    let forged = f.sign(
        &f.claims()
            .set_str("org", &victim.org_id().to_string())
            .set_str("sub", &theirs.workspace_id.to_string())
            .set_str("ext", "victim-customer"),
    );
    f.assert_refused(&forged, TokenRejection::Organization);
    assert_token_rejected(victim.revoke_token(&forged), TokenRejection::Organization);
}

#[test]
fn token_signed_by_one_org_claiming_only_another_org_is_rejected() {
    // `org` changed, `sub` still the signer's own workspace.
    let f = Forge::new();
    let other = f.db.org("Other");
    let forged = f.sign(&f.claims().set_str("org", &other.org_id().to_string()));
    f.assert_refused(&forged, TokenRejection::Organization);
}

#[test]
fn token_claiming_another_orgs_kid_does_not_verify() {
    let f = Forge::new();
    let victim = f.db.org("Victim");
    let (victim_kid, _) = hs256_signer(&victim);
    let theirs = issue(&victim, "victim-customer");
    let claims = Claims::of(theirs.token.expose()).json();
    let forged = sign_hs256(&f.secret, &header("HS256", &victim_kid), &claims);
    f.assert_refused(&forged, TokenRejection::Signature);
}

#[test]
fn another_orgs_token_cannot_be_revoked_by_an_org() {
    let f = Forge::new();
    let other = f.db.org("Other");
    assert_token_rejected(other.revoke_token(f.token()), TokenRejection::Organization);
    f.db.engine.authenticate(f.token()).unwrap();
}

#[test]
fn workspace_of_another_org_cannot_be_revoked_wholesale() {
    let f = Forge::new();
    let other = f.db.org("Other");
    let err = other.revoke_all_tokens(f.issued.workspace_id).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    f.db.engine.authenticate(f.token()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Expiry, on the injected clock.

#[test]
fn expired_token_beyond_the_leeway_is_refused_with_its_expiry() {
    let f = Forge::new();
    let last_ok = f.issued.expires_at.plus(LEEWAY);
    f.db.clock.set(last_ok.plus(Duration::from_millis(1)));
    assert_expired(f.db.engine.authenticate(f.token()), f.issued.expires_at);
    assert_expired(f.db.engine.verify_token(f.token()), f.issued.expires_at);
    f.db.clock.advance(Duration::from_secs(86_400));
    assert_expired(f.db.engine.authenticate(f.token()), f.issued.expires_at);
}

#[test]
fn expired_token_within_the_leeway_is_accepted() {
    let f = Forge::new();
    for at in [
        f.issued.expires_at,
        f.issued.expires_at.plus(Duration::from_secs(1)),
        f.issued.expires_at.plus(LEEWAY),
    ] {
        f.db.clock.set(at);
        f.db.engine.authenticate(f.token()).unwrap();
        f.db.engine.verify_token(f.token()).unwrap();
    }
}

#[test]
fn expiry_follows_the_injected_clock_not_the_system_clock() {
    // Minted and checked in 2001: long expired by the system clock, valid by the engine's.
    let db = Db::new();
    let org = db.org("Acme");
    let past = Timestamp::from_unix_millis(1_000_000_000_000);
    db.clock.set(past);
    let issued = issue(&org, "customer-1");
    assert_eq!(issued.expires_at, past.plus(DEFAULT_TTL));
    db.clock.set(past.plus(DEFAULT_TTL));
    db.engine.authenticate(issued.token.expose()).unwrap();
    db.clock.set(
        past.plus(DEFAULT_TTL)
            .plus(LEEWAY)
            .plus(Duration::from_secs(1)),
    );
    assert_expired(
        db.engine.authenticate(issued.token.expose()),
        issued.expires_at,
    );
}

#[test]
fn token_issued_in_the_future_is_refused() {
    let f = Forge::new();
    f.db.clock
        .set(before(START, LEEWAY + Duration::from_millis(1)));
    f.assert_refused(f.token(), TokenRejection::NotYetValid);
}

#[test]
fn token_issued_after_it_expires_is_refused() {
    let f = Forge::new();
    let iat = f.claims().int("iat");
    let forged = f.sign(&f.claims().set("exp", (iat - 1).to_string()));
    f.assert_refused(&forged, TokenRejection::NotYetValid);
}

// ---------------------------------------------------------------------------------------------
// Rotation.

#[test]
fn rotated_key_signs_new_tokens_with_a_new_kid() {
    let db = Db::new();
    let org = db.org("Acme");
    let (old_kid, _) = hs256_signer(&org);
    let before = issue(&org, "customer-1");
    assert_eq!(kid_of(before.token.expose()), old_kid);

    db.tick();
    let rotated_at = db.now();
    let new = org.rotate_signing_key().unwrap();
    assert_ne!(new.kid, old_kid);
    assert_eq!(new.algorithm, Algorithm::Hs256);
    assert_eq!(new.retire_at, None);

    let after = issue(&org, "customer-1");
    assert_eq!(kid_of(after.token.expose()), new.kid);
    db.engine.authenticate(after.token.expose()).unwrap();

    let keys = org.signing_keys().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, [new.kid.as_str(), old_kid.as_str()], "newest first");
    // Retired the millisecond after the last instant a token of the old key can be accepted.
    let last_accepted = rotated_at.plus(MAX_TTL).plus(LEEWAY);
    assert_eq!(
        keys[1].retire_at,
        Some(last_accepted.plus(Duration::from_millis(1)))
    );
}

#[test]
fn old_tokens_keep_authenticating_after_rotation_until_they_expire() {
    let db = Db::new();
    let org = db.org("Acme");
    let old = issue(&org, "customer-1");
    db.clock.advance(Duration::from_secs(10 * 60));
    org.rotate_signing_key().unwrap();

    db.engine.authenticate(old.token.expose()).unwrap();
    db.clock.set(old.expires_at.plus(LEEWAY));
    let scope = db.engine.authenticate(old.token.expose()).unwrap();
    assert_eq!(scope.workspace_id(), old.workspace_id);
    db.engine.verify_token(old.token.expose()).unwrap();
}

#[test]
fn token_minted_just_before_rotation_with_the_max_ttl_lives_out_its_leeway() {
    // The tightest case: minted at the rotation instant with the maximum TTL, so its last
    // valid instant (exp + leeway) is the old key's retirement time.
    let db = Db::new();
    let org = db.org("Acme");
    let old = org
        .scoped_token(&ScopedTokenRequest::new(ext("customer-1")).ttl(MAX_TTL))
        .unwrap();
    org.rotate_signing_key().unwrap();
    db.clock.set(old.expires_at.plus(LEEWAY));
    db.engine.authenticate(old.token.expose()).unwrap();
}

#[test]
fn retired_key_verifies_nothing() {
    let db = Db::new();
    let org = db.org("Acme");
    let (old_kid, old_secret) = hs256_signer(&org);
    let template = Claims::of(issue(&org, "customer-1").token.expose());
    let old = org
        .scoped_token(&ScopedTokenRequest::new(ext("customer-1")).ttl(MAX_TTL))
        .unwrap();
    let new = org.rotate_signing_key().unwrap();
    let retire_at = org.signing_keys().unwrap()[1].retire_at.unwrap();
    assert!(retire_at > old.expires_at.plus(LEEWAY));

    // A token forged with the old key and fresh times: accepted while the key verifies...
    let fresh = |jti: &str| {
        let now = secs(db.now());
        let claims = template
            .clone()
            .set("iat", now.to_string())
            .set("exp", (now + 600).to_string())
            .set_str("jti", jti);
        sign_hs256(&old_secret, &header("HS256", &old_kid), &claims.json())
    };
    db.clock.set(before(retire_at, Duration::from_millis(1)));
    db.engine.authenticate(&fresh("before-retirement")).unwrap();

    // ...and refused from its retirement on, as is the genuine old token (expired by then
    // too, but the unknown key is found first).
    db.clock.set(retire_at);
    assert_refused(
        &db.engine,
        &fresh("at-retirement"),
        TokenRejection::UnknownKey,
    );
    db.clock.advance(Duration::from_secs(1));
    assert_refused(
        &db.engine,
        &fresh("after-retirement"),
        TokenRejection::UnknownKey,
    );
    assert_refused(&db.engine, old.token.expose(), TokenRejection::UnknownKey);
    let listed: Vec<String> = org
        .signing_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&new.kid));
    assert!(
        org.reveal_hs256_secret(&old_kid)
            .unwrap_err()
            .is_not_found()
    );

    // The next rotation deletes it; it stays refused.
    let newest = org.rotate_signing_key().unwrap();
    let listed: Vec<String> = org
        .signing_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(listed, [newest.kid, new.kid]);
    assert_refused(
        &db.engine,
        &fresh("after-deletion"),
        TokenRejection::UnknownKey,
    );
}

#[test]
fn signer_is_listed_first_even_when_rotated_in_the_same_millisecond() {
    let db = Db::new();
    let org = db.org("Acme");
    for _ in 0..8 {
        let new = org.rotate_signing_key().unwrap();
        let keys = org.signing_keys().unwrap();
        assert_eq!(keys[0].kid, new.kid, "the signer comes first");
        assert!(keys[1..].iter().all(|k| k.retire_at.is_some()));
    }
}

#[test]
fn rotation_is_seen_by_another_engine_on_the_same_file() {
    let db = Db::new();
    let org = db.org("Acme");
    let other = db.open_another_engine();
    let old = issue(&org, "customer-1");
    other.authenticate(old.token.expose()).unwrap();
    org.rotate_signing_key().unwrap();
    let new = issue(&org, "customer-1");
    other.authenticate(new.token.expose()).unwrap();
    other.authenticate(old.token.expose()).unwrap();
}

#[test]
fn eddsa_rotation_publishes_both_keys_until_retirement() {
    let db = Db::new();
    let org = db.eddsa_org("Edwards");
    let old = issue(&org, "customer-1");
    db.tick();
    let new = org.rotate_signing_key().unwrap();
    assert_eq!(new.algorithm, Algorithm::EdDsa);
    let kids: Vec<String> = org
        .jwks()
        .unwrap()
        .keys
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, [new.kid.clone(), kid_of(old.token.expose())]);
    let retire_at = org.signing_keys().unwrap()[1].retire_at.unwrap();
    db.clock.set(retire_at);
    let kids: Vec<String> = org
        .jwks()
        .unwrap()
        .keys
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, [new.kid]);
}

// ---------------------------------------------------------------------------------------------
// Revocation.

#[test]
fn revoke_all_refuses_earlier_tokens_and_not_later_ones() {
    let db = Db::new();
    let org = db.org("Acme");
    let early = issue(&org, "customer-1");
    db.tick();
    org.revoke_all_tokens(early.workspace_id).unwrap();
    assert_token_rejected(
        db.engine.authenticate(early.token.expose()),
        TokenRejection::Revoked,
    );
    db.tick();
    let later = issue(&org, "customer-1");
    assert_eq!(later.workspace_id, early.workspace_id);
    db.engine.authenticate(later.token.expose()).unwrap();
    assert_token_rejected(
        db.engine.authenticate(early.token.expose()),
        TokenRejection::Revoked,
    );
}

#[test]
fn revoke_all_refuses_a_token_minted_in_the_same_instant() {
    // Minted, then revoked, with no time passing in between: the token was issued "until
    // now" and must go.
    let db = Db::new();
    let org = db.org("Acme");
    let early = issue(&org, "customer-1");
    org.revoke_all_tokens(early.workspace_id).unwrap();
    assert_token_rejected(
        db.engine.authenticate(early.token.expose()),
        TokenRejection::Revoked,
    );
}

#[test]
fn revoke_all_leaves_other_workspaces_alone() {
    let db = Db::new();
    let org = db.org("Acme");
    let one = issue(&org, "customer-1");
    let two = issue(&org, "customer-2");
    db.tick();
    org.revoke_all_tokens(one.workspace_id).unwrap();
    db.engine.authenticate(two.token.expose()).unwrap();
}

#[test]
fn revoke_token_refuses_that_token_only() {
    let db = Db::new();
    let org = db.org("Acme");
    let revoked = issue(&org, "customer-1");
    let kept = issue(&org, "customer-1");
    assert_eq!(revoked.workspace_id, kept.workspace_id);
    org.revoke_token(revoked.token.expose()).unwrap();
    assert_token_rejected(
        db.engine.authenticate(revoked.token.expose()),
        TokenRejection::Revoked,
    );
    db.engine.authenticate(kept.token.expose()).unwrap();
    // Revoking twice is fine, and the revocation survives another engine.
    org.revoke_token(revoked.token.expose()).unwrap();
    assert_token_rejected(
        db.open_another_engine()
            .authenticate(revoked.token.expose()),
        TokenRejection::Revoked,
    );
}

#[test]
fn token_revoked_within_its_leeway_stays_refused() {
    // Past `exp` but within the leeway a token still authenticates, so revoking it then must
    // take effect.
    let db = Db::new();
    let org = db.org("Acme");
    let issued = issue(&org, "customer-1");
    db.clock
        .set(issued.expires_at.plus(Duration::from_secs(10)));
    db.engine.authenticate(issued.token.expose()).unwrap();
    org.revoke_token(issued.token.expose()).unwrap();
    assert_token_rejected(
        db.engine.authenticate(issued.token.expose()),
        TokenRejection::Revoked,
    );
}

#[test]
fn revocation_outlives_pruning_until_the_token_is_past_its_leeway() {
    // Revoking a second token prunes the deny-list; a token still inside its leeway must not
    // be pruned back to life.
    let db = Db::new();
    let org = db.org("Acme");
    let first = org
        .scoped_token(&ScopedTokenRequest::new(ext("customer-1")).ttl(Duration::from_secs(60)))
        .unwrap();
    let second = issue(&org, "customer-1");
    org.revoke_token(first.token.expose()).unwrap();
    db.clock.set(first.expires_at.plus(Duration::from_secs(10)));
    org.revoke_token(second.token.expose()).unwrap();
    assert_token_rejected(
        db.engine.authenticate(first.token.expose()),
        TokenRejection::Revoked,
    );
}

// ---------------------------------------------------------------------------------------------
// Interop with `jsonwebtoken`.

fn expected_claims(issued: &IssuedToken, org: &OrgScope, external_id: &str) -> Value {
    json!({
        "iss": "bulkhead",
        "aud": "bulkhead-workspace",
        "sub": issued.workspace_id.to_string(),
        "org": org.org_id().to_string(),
        "ext": external_id,
        "ops": OperationSet::scoped_default(),
        "iat": secs(START),
        "exp": secs(issued.expires_at),
        "jti": issued.token_id,
    })
}

/// A `jsonwebtoken` validation of `alg` with our audience and issuer; `exp` is required but
/// checked by the test (the library reads the system clock, the tokens the manual one).
fn validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&["bulkhead-workspace"]);
    validation.set_issuer(&["bulkhead"]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.validate_exp = false;
    validation
}

#[test]
fn jsonwebtoken_verifies_an_hs256_token_with_the_revealed_secret() {
    let f = Forge::new();
    let key = jsonwebtoken::DecodingKey::from_secret(&f.secret).unwrap();
    let data =
        jsonwebtoken::decode::<Value>(f.token(), &key, &validation(jsonwebtoken::Algorithm::HS256))
            .unwrap();
    assert_eq!(data.header.alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(data.header.typ.as_deref(), Some(TYP));
    assert_eq!(data.header.kid.as_deref(), Some(f.kid.as_str()));
    assert_eq!(
        data.claims,
        expected_claims(&f.issued, &f.org, "customer-1")
    );
    assert_eq!(data.claims["exp"], secs(START.plus(DEFAULT_TTL)));

    // It really checks: another secret, or another audience, fails.
    let wrong = jsonwebtoken::DecodingKey::from_secret(b"another secret").unwrap();
    let err = jsonwebtoken::decode::<Value>(
        f.token(),
        &wrong,
        &validation(jsonwebtoken::Algorithm::HS256),
    )
    .unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
    let mut other_aud = validation(jsonwebtoken::Algorithm::HS256);
    other_aud.set_audience(&["someone-else"]);
    let err = jsonwebtoken::decode::<Value>(f.token(), &key, &other_aud).unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidAudience
    );
}

#[test]
fn jsonwebtoken_verifies_an_eddsa_token_with_the_jwks() {
    let db = Db::new();
    let org = db.eddsa_org("Edwards");
    let issued = issue(&org, "customer-1");
    let token = issued.token.expose();
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&serde_json::to_string(&org.jwks().unwrap()).unwrap()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &validation(jsonwebtoken::Algorithm::EdDSA))
            .unwrap();
    assert_eq!(data.header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(data.header.typ.as_deref(), Some(TYP));
    assert_eq!(data.claims, expected_claims(&issued, &org, "customer-1"));

    // Another organization's JWKS does not verify it.
    let stranger = db.eddsa_org("Stranger");
    let theirs: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&serde_json::to_string(&stranger.jwks().unwrap()).unwrap()).unwrap();
    let wrong = jsonwebtoken::DecodingKey::from_jwk(&theirs.keys[0]).unwrap();
    let err =
        jsonwebtoken::decode::<Value>(token, &wrong, &validation(jsonwebtoken::Algorithm::EdDSA))
            .unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
}

#[test]
fn hs256_org_publishes_an_empty_jwks() {
    let db = Db::new();
    let org = db.org("Acme");
    assert!(org.jwks().unwrap().keys.is_empty());
}

#[test]
fn token_minted_by_jsonwebtoken_with_the_revealed_secret_authenticates() {
    let f = Forge::new();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some(TYP.to_owned());
    header.kid = Some(f.kid.clone());
    let now = secs(f.db.now());
    let claims = json!({
        "iss": "bulkhead",
        "aud": "bulkhead-workspace",
        "sub": f.issued.workspace_id.to_string(),
        "org": f.org.org_id().to_string(),
        "ext": "customer-1",
        "ops": ["sources:read"],
        "iat": now,
        "exp": now + 300,
        "jti": "minted-by-jsonwebtoken",
    });
    let key = jsonwebtoken::EncodingKey::from_secret(&f.secret).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();

    let scope = f.db.engine.authenticate(&token).unwrap();
    assert_eq!(scope.workspace_id(), f.issued.workspace_id);
    assert_eq!(
        scope.operations(),
        OperationSet::parse(["sources:read"]).unwrap()
    );
    assert_eq!(scope.token_id(), Some("minted-by-jsonwebtoken"));
    // The library's default `typ` (`JWT`) is not ours.
    header.typ = Some("JWT".to_owned());
    let plain = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    f.assert_refused(&plain, TokenRejection::Type);
}

// ---------------------------------------------------------------------------------------------
// Operations.

/// An untagged source template: every workspace without a tag selection sees it.
fn billing_template(org: &bulkhead::OrgScope) -> bulkhead::SourceTemplate {
    org.create_source_template(bulkhead::NewSourceTemplate {
        name: "Billing".parse().unwrap(),
        connector: "stripe".parse().unwrap(),
        default_config: bulkhead::ConnectorConfig::from_json("{}").unwrap(),
        spec: bulkhead::ConfigSpec::empty(),
        tags: Default::default(),
    })
    .unwrap()
}

fn from_template(template: &bulkhead::SourceTemplate) -> bulkhead::NewSourceFromTemplate {
    bulkhead::NewSourceFromTemplate {
        template_id: template.id,
        name: "billing".parse().unwrap(),
        config: bulkhead::ConnectorConfig::from_json(r#"{"account_id": "acct_1"}"#).unwrap(),
    }
}

#[test]
fn token_cannot_create_raw_sources_outside_templates() {
    let db = Db::new();
    let org = db.org("Acme");
    let scope = db
        .engine
        .authenticate(issue(&org, "customer-1").token.expose())
        .unwrap();
    match scope.create_source(new_source("billing")) {
        Err(Error::PermissionDenied { operation, reason }) => {
            assert_eq!(operation, "sources:create");
            assert!(reason.contains("templates"), "{reason}");
        }
        other => panic!("expected permission denied, got {other:?}"),
    }
    assert!(
        scope
            .list_sources(&bulkhead::Page::first(10))
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn default_token_creates_sources_but_cannot_delete_them() {
    let db = Db::new();
    let org = db.org("Acme");
    let scope = db
        .engine
        .authenticate(issue(&org, "customer-1").token.expose())
        .unwrap();
    assert_eq!(scope.operations(), OperationSet::scoped_default());
    let template = billing_template(&org);
    let source = scope
        .create_source_from_template(from_template(&template))
        .unwrap()
        .source;
    match scope.delete_source(source.id) {
        Err(Error::PermissionDenied { operation, .. }) => assert_eq!(operation, "sources:delete"),
        other => panic!("expected permission denied, got {other:?}"),
    }
    assert_eq!(scope.get_source(source.id).unwrap(), source, "not deleted");
}

#[test]
fn narrowed_token_cannot_create_sources() {
    let db = Db::new();
    let org = db.org("Acme");
    let ops = OperationSet::parse(["sources:read"]).unwrap();
    let issued = org
        .scoped_token(&ScopedTokenRequest::new(ext("customer-1")).operations(ops))
        .unwrap();
    let scope = db.engine.authenticate(issued.token.expose()).unwrap();
    assert_eq!(scope.operations(), ops);
    let template = billing_template(&org);
    match scope.create_source_from_template(from_template(&template)) {
        Err(Error::PermissionDenied { operation, .. }) => assert_eq!(operation, "sources:create"),
        other => panic!("expected permission denied, got {other:?}"),
    }
    // The raw path, outside templates, is the organization's alone.
    match scope.create_source(new_source("billing")) {
        Err(Error::PermissionDenied { operation, .. }) => assert_eq!(operation, "sources:create"),
        other => panic!("expected permission denied, got {other:?}"),
    }
    assert!(
        scope
            .list_sources(&bulkhead::Page::first(10))
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn org_workspace_scope_has_every_operation() {
    let db = Db::new();
    let org = db.org("Acme");
    let issued = issue(&org, "customer-1");
    let scope = org.workspace(issued.workspace_id).unwrap();
    assert_eq!(scope.operations(), OperationSet::all());
    assert_eq!(scope.token_id(), None);
    let source = scope.create_source(new_source("billing")).unwrap();
    scope.delete_source(source.id).unwrap();
}

#[test]
fn org_level_operation_cannot_be_requested() {
    for name in [
        "keys:manage",
        "templates:write",
        "workspaces:read",
        "settings:write",
    ] {
        assert_invalid(OperationSet::parse(["sources:read", name]), "operations");
    }
}

#[test]
fn empty_operation_set_is_refused() {
    let db = Db::new();
    let org = db.org("Acme");
    let request = ScopedTokenRequest::new(ext("customer-1")).operations(OperationSet::empty());
    assert_invalid(org.scoped_token(&request), "operations");
}

#[test]
fn signed_token_carrying_an_org_level_operation_is_refused() {
    let f = Forge::new();
    let forged = f.sign(&f.claims().set("ops", r#"["sources:read","keys:manage"]"#));
    f.assert_refused(&forged, TokenRejection::Malformed);
}

#[test]
fn org_key_is_refused_where_a_scoped_token_is_expected() {
    let db = Db::new();
    let (_, key) = db.engine.create_organization("Acme").unwrap();
    match db.engine.authenticate(key.expose()) {
        Err(Error::PermissionDenied { reason, .. }) => {
            assert!(reason.contains("use a scoped token"), "{reason}");
        }
        other => panic!("expected permission denied, got {other:?}"),
    }
}

#[test]
fn scoped_token_is_refused_where_an_org_key_is_expected() {
    let f = Forge::new();
    match f.db.engine.authenticate_org(f.token()) {
        Err(err @ Error::InvalidOrgKey { hint }) => {
            assert!(hint.contains("scoped token"), "{hint}");
            assert!(
                err.to_string().contains("looks like a scoped token"),
                "{err}"
            );
        }
        other => panic!("expected an invalid org key, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The scoped-token flow.

#[test]
fn same_external_id_gets_the_same_workspace_created_once() {
    let db = Db::new();
    let org = db.org("Acme");
    let first = issue(&org, "customer-unique-id-123");
    db.tick();
    let second = issue(&org, "customer-unique-id-123");
    assert!(first.workspace_created);
    assert!(!second.workspace_created);
    assert_eq!(second.workspace_id, first.workspace_id);
    assert_ne!(second.token_id, first.token_id);
    assert_ne!(second.token, first.token);
}

fn tags(names: &[&str], mode: TagMode) -> TagSelection {
    TagSelection::parse(names.iter().copied(), mode).unwrap()
}

#[test]
fn tag_selection_is_stored_on_the_workspace() {
    let db = Db::new();
    let org = db.org("Acme");
    let request = ScopedTokenRequest::new(ext("customer-1"))
        .source_tags(tags(&["production"], TagMode::Any))
        .connection_tags(tags(&["premium", "eu"], TagMode::All));
    org.scoped_token(&request).unwrap();
    let ws = org.workspace_by_external_id(&ext("customer-1")).unwrap();
    assert_eq!(ws.source_tags, tags(&["production"], TagMode::Any));
    assert_eq!(ws.connection_tags, tags(&["premium", "eu"], TagMode::All));
}

#[test]
fn request_without_tags_keeps_the_stored_selection() {
    let db = Db::new();
    let org = db.org("Acme");
    let request = ScopedTokenRequest::new(ext("customer-1"))
        .source_tags(tags(&["production"], TagMode::Any))
        .connection_tags(tags(&["premium"], TagMode::All));
    org.scoped_token(&request).unwrap();
    issue(&org, "customer-1");
    let ws = org.workspace_by_external_id(&ext("customer-1")).unwrap();
    assert_eq!(ws.source_tags, tags(&["production"], TagMode::Any));
    assert_eq!(ws.connection_tags, tags(&["premium"], TagMode::All));
}

#[test]
fn request_with_new_tags_replaces_the_stored_selection() {
    let db = Db::new();
    let org = db.org("Acme");
    let first = ScopedTokenRequest::new(ext("customer-1"))
        .source_tags(tags(&["production"], TagMode::Any))
        .connection_tags(tags(&["premium"], TagMode::All));
    org.scoped_token(&first).unwrap();
    let second = ScopedTokenRequest::new(ext("customer-1"))
        .source_tags(tags(&["staging", "beta"], TagMode::All));
    org.scoped_token(&second).unwrap();
    let ws = org.workspace_by_external_id(&ext("customer-1")).unwrap();
    assert_eq!(ws.source_tags, tags(&["staging", "beta"], TagMode::All));
    assert_eq!(
        ws.connection_tags,
        tags(&["premium"], TagMode::All),
        "the selection not named is kept"
    );
}

#[test]
fn repeating_a_request_with_the_same_tags_leaves_the_workspace_untouched() {
    let db = Db::new();
    let org = db.org("Acme");
    let request = ScopedTokenRequest::new(ext("customer-1"))
        .source_tags(tags(&["production"], TagMode::Any))
        .connection_tags(tags(&["premium"], TagMode::All));
    org.scoped_token(&request).unwrap();
    let before = org.workspace_by_external_id(&ext("customer-1")).unwrap();
    db.tick();
    org.scoped_token(&request).unwrap();
    let after = org.workspace_by_external_id(&ext("customer-1")).unwrap();
    assert_eq!(
        after, before,
        "an unchanged selection must not be written again"
    );
    db.tick();
    org.scoped_token(
        &request
            .clone()
            .source_tags(tags(&["staging"], TagMode::Any)),
    )
    .unwrap();
    let changed = org.workspace_by_external_id(&ext("customer-1")).unwrap();
    assert!(
        changed.updated_at > before.updated_at,
        "a changed selection is written"
    );
}

#[test]
fn default_ttl_is_twenty_minutes() {
    let db = Db::new();
    let org = db.org("Acme");
    let issued = issue(&org, "customer-1");
    assert_eq!(issued.expires_at, db.now().plus(DEFAULT_TTL));
    let claims = db.engine.verify_token(issued.token.expose()).unwrap();
    assert_eq!(claims.expires_at - claims.issued_at, 20 * 60);
}

#[test]
fn explicit_ttl_is_honoured() {
    let db = Db::new();
    let org = db.org("Acme");
    for ttl in [Duration::from_secs(1), Duration::from_secs(90), MAX_TTL] {
        let issued = org
            .scoped_token(&ScopedTokenRequest::new(ext("customer-1")).ttl(ttl))
            .unwrap();
        assert_eq!(issued.expires_at, db.now().plus(ttl));
    }
}

#[test]
fn org_default_ttl_is_used() {
    let db = Db::new();
    let org = db.org_with(
        "Acme",
        OrgSettings {
            default_token_ttl: Duration::from_secs(300),
            ..OrgSettings::default()
        },
    );
    assert_eq!(
        issue(&org, "customer-1").expires_at,
        db.now().plus(Duration::from_secs(300))
    );
}

#[test]
fn ttl_over_the_org_maximum_is_refused_and_creates_nothing() {
    let db = Db::new();
    let org = db.org("Acme");
    for ttl in [MAX_TTL + Duration::from_secs(1), Duration::ZERO] {
        let request = ScopedTokenRequest::new(ext("customer-1")).ttl(ttl);
        assert_invalid(org.scoped_token(&request), "ttl");
    }
    assert!(matches!(
        org.workspace_by_external_id(&ext("customer-1")),
        Err(Error::ExternalIdNotFound { .. })
    ));
}

fn deactivate(org: &OrgScope, issued: &IssuedToken) {
    let update = WorkspaceUpdate {
        status: Some(WorkspaceStatus::Inactive),
        ..WorkspaceUpdate::default()
    };
    org.update_workspace(issued.workspace_id, &update).unwrap();
}

#[test]
fn inactive_workspace_gets_no_new_token() {
    let db = Db::new();
    let org = db.org("Acme");
    let issued = issue(&org, "customer-1");
    deactivate(&org, &issued);
    match org.scoped_token(&ScopedTokenRequest::new(ext("customer-1"))) {
        Err(Error::WorkspaceInactive { workspace_id }) => {
            assert_eq!(workspace_id, issued.workspace_id);
        }
        other => panic!("expected an inactive workspace, got {other:?}"),
    }
}

#[test]
fn inactive_workspace_refuses_its_tokens() {
    let db = Db::new();
    let org = db.org("Acme");
    let issued = issue(&org, "customer-1");
    deactivate(&org, &issued);
    match db.engine.authenticate(issued.token.expose()) {
        Err(Error::WorkspaceInactive { workspace_id }) => {
            assert_eq!(workspace_id, issued.workspace_id);
        }
        other => panic!("expected an inactive workspace, got {other:?}"),
    }
}

#[test]
fn scopes_made_before_a_deactivation_follow_it_and_the_reactivation() {
    let db = Db::new();
    let org = db.org("Acme");
    let issued = issue(&org, "customer-1");
    let by_token = db.engine.authenticate(issued.token.expose()).unwrap();
    let by_org = org.workspace(issued.workspace_id).unwrap();
    let source = by_org.create_source(new_source("before")).unwrap();
    let inactive = |result: bulkhead::Result<_>| matches!(result, Err(Error::WorkspaceInactive { workspace_id }) if workspace_id == issued.workspace_id);

    deactivate(&org, &issued);
    // The token's scope is refused altogether, as the token now is.
    assert!(inactive(by_token.get_source(source.id).map(|_| ())));
    assert!(inactive(
        by_token
            .list_sources(&bulkhead::Page::first(10))
            .map(|_| ())
    ));
    // The organization's scope reads and makes no change.
    assert_eq!(by_org.get_source(source.id).unwrap(), source);
    assert!(inactive(
        by_org.create_source(new_source("after")).map(|_| ())
    ));
    assert!(inactive(by_org.delete_source(source.id)));

    org.update_workspace(
        issued.workspace_id,
        &WorkspaceUpdate {
            status: Some(WorkspaceStatus::Active),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();
    assert_eq!(by_token.get_source(source.id).unwrap(), source);
    by_org.create_source(new_source("again")).unwrap();
}

#[test]
fn racing_requests_for_one_new_external_id_make_one_workspace() {
    const THREADS: usize = 16;
    let db = Db::new();
    let org = db.org("Acme");
    let barrier = Barrier::new(THREADS);
    let issued: Vec<IssuedToken> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let org = org.clone();
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    issue(&org, "racer")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = issued[0].workspace_id;
    assert!(issued.iter().all(|t| t.workspace_id == first));
    assert_eq!(issued.iter().filter(|t| t.workspace_created).count(), 1);
    assert_eq!(
        all_workspaces(&org, &WorkspaceFilter::default(), 10).len(),
        1
    );
    for token in &issued {
        db.engine.authenticate(token.token.expose()).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The token cache.

const MARGIN: Duration = Duration::from_secs(60);

#[test]
fn cache_returns_the_same_token_while_more_than_the_margin_is_left() {
    let db = Db::new();
    let org = db.org("Acme");
    let cache = TokenCache::new(10, MARGIN);
    let request = ScopedTokenRequest::new(ext("customer-1"));
    let first = cache.get_or_mint(&org, &request).unwrap();
    db.clock
        .set(before(first.expires_at, MARGIN + Duration::from_millis(1)));
    assert_eq!(cache.get_or_mint(&org, &request).unwrap(), first);
    assert_eq!(cache.len(), 1);
}

#[test]
fn cache_mints_a_new_token_once_the_margin_is_reached() {
    let db = Db::new();
    let org = db.org("Acme");
    let cache = TokenCache::new(10, MARGIN);
    let request = ScopedTokenRequest::new(ext("customer-1"));
    let first = cache.get_or_mint(&org, &request).unwrap();
    db.clock.set(before(first.expires_at, MARGIN));
    let second = cache.get_or_mint(&org, &request).unwrap();
    assert_ne!(second.token, first.token);
    assert!(second.expires_at > first.expires_at);
    assert_eq!(cache.get_or_mint(&org, &request).unwrap(), second);
    db.engine.authenticate(second.token.expose()).unwrap();
}

#[test]
fn cache_keeps_external_ids_and_operations_apart() {
    let db = Db::new();
    let org = db.org("Acme");
    let cache = TokenCache::new(10, MARGIN);
    let one = ScopedTokenRequest::new(ext("customer-1"));
    let two = ScopedTokenRequest::new(ext("customer-2"));
    let narrow = one
        .clone()
        .operations(OperationSet::parse(["sources:read"]).unwrap());
    let a = cache.get_or_mint(&org, &one).unwrap();
    let b = cache.get_or_mint(&org, &two).unwrap();
    let c = cache.get_or_mint(&org, &narrow).unwrap();
    assert_ne!(a.token, b.token);
    assert_ne!(a.workspace_id, b.workspace_id);
    assert_ne!(a.token, c.token);
    assert_eq!(a.workspace_id, c.workspace_id);
    let scope = db.engine.authenticate(c.token.expose()).unwrap();
    assert_eq!(
        scope.operations(),
        OperationSet::parse(["sources:read"]).unwrap()
    );
    assert_eq!(cache.len(), 3);
}

#[test]
fn cache_keeps_organizations_apart() {
    let db = Db::new();
    let one = db.org("One");
    let two = db.org("Two");
    let cache = TokenCache::new(10, MARGIN);
    let request = ScopedTokenRequest::new(ext("customer-1"));
    let a = cache.get_or_mint(&one, &request).unwrap();
    let b = cache.get_or_mint(&two, &request).unwrap();
    assert_ne!(a.workspace_id, b.workspace_id);
    assert_eq!(
        db.engine.authenticate(b.token.expose()).unwrap().org_id(),
        two.org_id()
    );
}

#[test]
fn cache_is_bounded() {
    let db = Db::new();
    let org = db.org("Acme");
    let cache = TokenCache::new(2, MARGIN);
    let mut last = None;
    for customer in ["customer-1", "customer-2", "customer-3"] {
        let request = ScopedTokenRequest::new(ext(customer));
        last = Some((request.clone(), cache.get_or_mint(&org, &request).unwrap()));
        db.tick();
    }
    assert_eq!(cache.len(), 2);
    let (request, newest) = last.unwrap();
    assert_eq!(
        cache.get_or_mint(&org, &request).unwrap(),
        newest,
        "the newest token is kept"
    );
    assert_eq!(cache.len(), 2);
}

#[test]
fn invalidated_customer_gets_a_new_token() {
    let db = Db::new();
    let org = db.org("Acme");
    let cache = TokenCache::new(10, MARGIN);
    let request = ScopedTokenRequest::new(ext("customer-1"));
    let other = ScopedTokenRequest::new(ext("customer-2"));
    let first = cache.get_or_mint(&org, &request).unwrap();
    let kept = cache.get_or_mint(&org, &other).unwrap();
    cache.invalidate(org.org_id(), &ext("customer-1"));
    assert_eq!(cache.len(), 1);
    assert_ne!(
        cache.get_or_mint(&org, &request).unwrap().token,
        first.token
    );
    assert_eq!(cache.get_or_mint(&org, &other).unwrap(), kept);
    cache.clear();
    assert!(cache.is_empty());
}

/// `verify_token` is offline like the keys: an audience change made by this engine applies
/// at once, one made by another engine (another process) within the key cache's minute, while
/// `authenticate` always reads the current value.
#[test]
fn verify_token_follows_an_audience_change_at_once_here_and_within_a_minute_elsewhere() {
    let db = Db::new();
    let org = db.org("Acme");
    let issued = org
        .scoped_token(&bulkhead::ScopedTokenRequest::new(ext("cust-1")))
        .unwrap();
    let token = issued.token.expose();
    db.engine.verify_token(token).unwrap();

    let other = db.open_another_engine();
    let elsewhere = other.operator_org_scope(org.org_id()).unwrap();
    elsewhere
        .update_settings(&bulkhead::OrgSettings {
            audience: "another-audience".to_owned(),
            ..elsewhere.reload().unwrap().settings
        })
        .unwrap();
    assert_token_rejected(other.verify_token(token), TokenRejection::Audience);
    assert_token_rejected(
        db.engine.authenticate(token).map(|_| ()),
        TokenRejection::Audience,
    );
    // Still cached here.
    db.engine.verify_token(token).unwrap();
    db.clock.advance(Duration::from_secs(61));
    assert_token_rejected(db.engine.verify_token(token), TokenRejection::Audience);
}

// ---------------------------------------------------------------------------------------------
// TokenMinter: the scoped-token flow once, then tokens without reading the database.

#[test]
fn minter_checks_its_request_like_the_scoped_token_flow_and_creates_nothing_on_refusal() {
    let db = Db::new();
    let org = db.org("Acme");
    for ttl in [MAX_TTL + Duration::from_secs(1), Duration::ZERO] {
        let request = ScopedTokenRequest::new(ext("customer-1")).ttl(ttl);
        assert_invalid(org.token_minter(&request), "ttl");
    }
    let request = ScopedTokenRequest::new(ext("customer-1")).operations(OperationSet::empty());
    assert_invalid(org.token_minter(&request), "operations");
    assert!(matches!(
        org.workspace_by_external_id(&ext("customer-1")),
        Err(Error::ExternalIdNotFound { .. })
    ));
    // It gets or creates the workspace and stores the tags, as the flow does.
    let request =
        ScopedTokenRequest::new(ext("customer-1")).source_tags(tags(&["premium"], TagMode::Any));
    let minter = org.token_minter(&request).unwrap();
    let workspace = org.workspace_by_external_id(&ext("customer-1")).unwrap();
    assert_eq!(minter.workspace_id(), workspace.id);
    assert_eq!(workspace.source_tags, tags(&["premium"], TagMode::Any));
    let issued = minter.mint().unwrap();
    assert_eq!(issued.expires_at, db.now().plus(DEFAULT_TTL));
    assert_eq!(
        db.engine
            .verify_token(issued.token.expose())
            .unwrap()
            .operations,
        OperationSet::scoped_default()
    );
    // An inactive workspace gets no minter.
    deactivate(&org, &issued);
    assert!(matches!(
        org.token_minter(&ScopedTokenRequest::new(ext("customer-1"))),
        Err(Error::WorkspaceInactive { .. })
    ));
}

#[test]
fn minter_follows_the_clock_and_changes_of_settings_made_here() {
    let db = Db::new();
    let org = db.org("Acme");
    let minter = org
        .token_minter(&ScopedTokenRequest::new(ext("customer-1")).ttl(Duration::from_secs(600)))
        .unwrap();
    let first = minter.mint().unwrap();
    db.clock.advance(Duration::from_secs(5));
    let later = minter.mint().unwrap();
    assert_eq!(
        later.expires_at,
        first.expires_at.plus(Duration::from_secs(5))
    );

    let settings = org.reload().unwrap().settings;
    org.update_settings(&OrgSettings {
        audience: "another-audience".to_owned(),
        ..settings.clone()
    })
    .unwrap();
    let after = minter.mint().unwrap();
    assert_eq!(
        db.engine
            .verify_token(after.token.expose())
            .unwrap()
            .audience,
        "another-audience"
    );
    db.engine.authenticate(after.token.expose()).unwrap();

    // A maximum lowered below the minter's lifetime: refused, not shortened.
    org.update_settings(&OrgSettings {
        audience: "another-audience".to_owned(),
        max_token_ttl: Duration::from_secs(300),
        default_token_ttl: Duration::from_secs(300),
        ..settings
    })
    .unwrap();
    assert_invalid(minter.mint(), "ttl");
}

#[test]
fn minter_sees_another_process_within_a_minute_and_its_tokens_are_refused_meanwhile() {
    let db = Db::new();
    let org = db.org("Acme");
    let minter = org
        .token_minter(&ScopedTokenRequest::new(ext("customer-1")))
        .unwrap();
    let workspace_id = minter.workspace_id();
    let other = db.open_another_engine();
    other
        .operator_org_scope(org.org_id())
        .unwrap()
        .update_workspace(
            workspace_id,
            &WorkspaceUpdate {
                status: Some(WorkspaceStatus::Inactive),
                ..WorkspaceUpdate::default()
            },
        )
        .unwrap();
    // Within the minute this minter has not read again; authenticate reads the workspace.
    let stale = minter.mint().unwrap();
    assert!(matches!(
        db.engine.authenticate(stale.token.expose()),
        Err(Error::WorkspaceInactive { .. })
    ));
    db.clock.advance(Duration::from_secs(61));
    assert!(matches!(
        minter.mint(),
        Err(Error::WorkspaceInactive { workspace_id: id }) if id == workspace_id
    ));
}

#[test]
fn minter_shared_between_threads_never_repeats_a_jti_and_hides_its_key() {
    let db = Db::new();
    let org = db.org("Acme");
    let minter = org
        .token_minter(&ScopedTokenRequest::new(ext("customer-1")))
        .unwrap();
    let jtis: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..250)
                        .map(|_| minter.mint().unwrap().token_id)
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<String>>()
    });
    let distinct: std::collections::BTreeSet<&String> = jtis.iter().collect();
    assert_eq!(distinct.len(), 1000);
    // A second minter for the same workspace draws another prefix.
    let second = org
        .token_minter(&ScopedTokenRequest::new(ext("customer-1")))
        .unwrap();
    assert!(!distinct.contains(&second.mint().unwrap().token_id));

    let issued = minter.mint().unwrap();
    let kid = kid_of(issued.token.expose());
    let secret = org.reveal_hs256_secret(&kid).unwrap();
    let debug = format!("{minter:?}");
    assert!(
        debug.contains(&minter.workspace_id().to_string()),
        "{debug}"
    );
    for hidden in [
        b64(secret.expose()),
        String::from_utf8_lossy(secret.expose()).into_owned(),
        issued.token.expose().to_owned(),
    ] {
        assert!(!debug.contains(&hidden), "{debug}");
    }
}
