//! Scoped tokens: a strict JWT profile (RFC 7519, checked as RFC 8725 advises).
//!
//! ```text
//! header  {"alg":"HS256"|"EdDSA","typ":"bulkhead-scoped+jwt","kid":"…"}
//! claims  {"iss","aud","sub" (workspace id),"org","ext" (external id),"ops","iat","exp","jti"}
//! ```
//!
//! Any JWT library can read these tokens. Reading them here is strict, in this order, and the
//! first failure refuses the token:
//!
//! 1. at most [`MAX_TOKEN_BYTES`], only base64url characters and exactly two dots;
//! 2. the header decodes to exactly `alg`, `typ`, `kid` (duplicate or unknown keys refused;
//!    `crit` refused), `typ` is `bulkhead-scoped+jwt`, `alg` is `HS256` or `EdDSA` (never
//!    `none`);
//! 3. the `kid` is looked up (by the engine) among current signing keys, and `alg` must be that
//!    key's algorithm: a token cannot choose how it is verified;
//! 4. the signature verifies (HMAC compared in constant time by `ring::hmac::verify`);
//! 5. only then are the claims decoded, strictly: every claim present, of its JSON type (an
//!    `exp` that is a string is malformed, not absent), no duplicates, no unknown claims;
//! 6. the engine checks `org` against the key's organization, `iss`/`aud` against the
//!    organization's settings, and `exp`/`iat` against its clock with a small leeway.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, Result, TokenRejection};
use crate::ids::{ExternalId, OrgId, WorkspaceId};
use crate::ops::OperationSet;
use crate::time::Timestamp;
use crate::vault::random_bytes;

/// The `typ` header of every scoped token.
pub const TOKEN_TYPE: &str = "bulkhead-scoped+jwt";
/// The largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// A signing algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Algorithm {
    /// HMAC with SHA-256: fast, verified only by holders of the secret.
    #[default]
    Hs256,
    /// Ed25519 signatures: anyone with the organization's JWKS can verify.
    EdDsa,
}

impl Algorithm {
    /// The JWT name: `HS256` or `EdDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
        }
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "hs256" => Ok(Self::Hs256),
            "eddsa" => Ok(Self::EdDsa),
            _ => Err(Error::invalid_input(
                "algorithm",
                format!("is `{s}`; use `HS256` or `EdDSA`"),
            )),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The key material of one signing key, ready to sign and verify.
pub(crate) enum KeyMaterial {
    Hs256(hmac::Key),
    EdDsa(Ed25519KeyPair),
}

impl KeyMaterial {
    /// A new random key: the material, the secret bytes to seal, and the public key (EdDSA).
    pub(crate) fn generate(alg: Algorithm) -> Result<(Self, Vec<u8>, Option<Vec<u8>>)> {
        match alg {
            Algorithm::Hs256 => {
                let mut secret = vec![0u8; 32];
                random_bytes(&mut secret)?;
                let key = Self::from_secret(alg, &secret)?;
                Ok((key, secret, None))
            }
            Algorithm::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| Error::crypto("could not generate an Ed25519 key"))?;
                let secret = pkcs8.as_ref().to_vec();
                let key = Self::from_secret(alg, &secret)?;
                let public = match &key {
                    Self::EdDsa(pair) => Some(pair.public_key().as_ref().to_vec()),
                    Self::Hs256(_) => None,
                };
                Ok((key, secret, public))
            }
        }
    }

    /// Loads the material from its (unsealed) secret bytes.
    pub(crate) fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self> {
        match alg {
            Algorithm::Hs256 => Ok(Self::Hs256(hmac::Key::new(hmac::HMAC_SHA256, secret))),
            Algorithm::EdDsa => Ed25519KeyPair::from_pkcs8(secret)
                .map(Self::EdDsa)
                .map_err(|_| Error::crypto("a stored Ed25519 key is not valid")),
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Hs256(_) => Algorithm::Hs256,
            Self::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Hs256(key) => hmac::sign(key, message).as_ref().to_vec(),
            Self::EdDsa(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hs256(key) => hmac::verify(key, message, signature).is_ok(),
            Self::EdDsa(pair) => UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref())
                .verify(message, signature)
                .is_ok(),
        }
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyMaterial({})", self.algorithm())
    }
}

/// The verified content of a scoped token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScopedClaims {
    /// `iss`: who minted it.
    pub issuer: String,
    /// `aud`: who it is for.
    pub audience: String,
    /// `sub`: the one workspace it grants.
    pub workspace_id: WorkspaceId,
    /// `org`: the workspace's organization.
    pub org_id: OrgId,
    /// `ext`: the customer's external id.
    pub external_id: ExternalId,
    /// `ops`: what it may do.
    pub operations: OperationSet,
    /// `iat`, in seconds since the epoch.
    pub issued_at: i64,
    /// `exp`, in seconds since the epoch.
    pub expires_at: i64,
    /// `jti`: its unique id, for revocation.
    pub token_id: String,
}

impl ScopedClaims {
    /// `exp` as a timestamp.
    pub fn expiry(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.expires_at.saturating_mul(1000))
    }
}

/// Fields are borrowed from the decoded JSON where it has no escapes (no allocation).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    typ: Cow<'a, str>,
    #[serde(borrow)]
    kid: Cow<'a, str>,
    #[serde(default, skip_serializing)]
    crit: Option<IgnoredAny>,
}

/// The claims as decoded, borrowing from the JSON where it can; see [`RawClaims`] for the
/// owned form that is signed.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct BorrowedClaims<'a> {
    #[serde(borrow)]
    iss: Cow<'a, str>,
    #[serde(borrow)]
    aud: Cow<'a, str>,
    #[serde(borrow)]
    sub: Cow<'a, str>,
    #[serde(borrow)]
    org: Cow<'a, str>,
    #[serde(borrow)]
    ext: Cow<'a, str>,
    #[serde(borrow)]
    ops: Vec<Cow<'a, str>>,
    iat: i64,
    exp: i64,
    #[serde(borrow)]
    jti: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaims {
    iss: String,
    aud: String,
    sub: String,
    org: String,
    ext: String,
    ops: Vec<String>,
    iat: i64,
    exp: i64,
    jti: String,
}

fn malformed(detail: impl fmt::Display) -> Error {
    Error::invalid_token(TokenRejection::Malformed, format!("malformed: {detail}"))
}

/// Reads JSON of the one exact form this crate writes (`serde_json` output of [`Header`] and
/// [`RawClaims`]: fields in declaration order, no whitespace, strings without escapes or
/// control characters). Anything else is `None`, and the strict `serde_json` decoder (which
/// refuses unknown and duplicate fields) decides. On the canonical form both decoders give
/// the same values; a test checks that.
struct Canonical<'a> {
    rest: &'a [u8],
}

impl<'a> Canonical<'a> {
    fn new(json: &'a [u8]) -> Self {
        Self { rest: json }
    }

    fn literal(&mut self, text: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(text)?;
        Some(())
    }

    fn string(&mut self) -> Option<&'a str> {
        self.literal(b"\"")?;
        let end = self.rest.iter().position(|&b| b == b'"')?;
        let (body, rest) = self.rest.split_at(end);
        if body.iter().any(|&b| b == b'\\' || b < 0x20) {
            return None;
        }
        self.rest = rest.get(1..)?;
        std::str::from_utf8(body).ok()
    }

    /// A JSON integer: an optional minus, no leading zero, no fraction or exponent.
    fn integer(&mut self) -> Option<i64> {
        let negative = self.rest.first() == Some(&b'-');
        let digits_from = usize::from(negative);
        let len = self
            .rest
            .get(digits_from..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let digits = self.rest.get(digits_from..digits_from + len)?;
        if digits.is_empty() || (digits.len() > 1 && digits.first() == Some(&b'0')) {
            return None;
        }
        let mut value: i64 = 0;
        for &d in digits {
            value = value.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
        }
        self.rest = self.rest.get(digits_from + len..)?;
        if matches!(self.rest.first(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(if negative {
            value.checked_neg()?
        } else {
            value
        })
    }

    fn end(&self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }

    fn header(json: &'a [u8]) -> Option<Header<'a>> {
        let mut c = Self::new(json);
        c.literal(b"{\"alg\":")?;
        let alg = c.string()?;
        c.literal(b",\"typ\":")?;
        let typ = c.string()?;
        c.literal(b",\"kid\":")?;
        let kid = c.string()?;
        c.literal(b"}")?;
        c.end()?;
        Some(Header {
            alg: Cow::Borrowed(alg),
            typ: Cow::Borrowed(typ),
            kid: Cow::Borrowed(kid),
            crit: None,
        })
    }

    fn claims(json: &'a [u8]) -> Option<BorrowedClaims<'a>> {
        let mut c = Self::new(json);
        let field = |c: &mut Self, name: &[u8]| -> Option<&'a str> {
            c.literal(name)?;
            c.string()
        };
        let iss = field(&mut c, b"{\"iss\":")?;
        let aud = field(&mut c, b",\"aud\":")?;
        let sub = field(&mut c, b",\"sub\":")?;
        let org = field(&mut c, b",\"org\":")?;
        let ext = field(&mut c, b",\"ext\":")?;
        c.literal(b",\"ops\":[")?;
        let mut ops = Vec::new();
        if c.literal(b"]").is_none() {
            loop {
                ops.push(Cow::Borrowed(c.string()?));
                if c.literal(b"]").is_some() {
                    break;
                }
                c.literal(b",")?;
            }
        }
        c.literal(b",\"iat\":")?;
        let iat = c.integer()?;
        c.literal(b",\"exp\":")?;
        let exp = c.integer()?;
        let jti = field(&mut c, b",\"jti\":")?;
        c.literal(b"}")?;
        c.end()?;
        Some(BorrowedClaims {
            iss: Cow::Borrowed(iss),
            aud: Cow::Borrowed(aud),
            sub: Cow::Borrowed(sub),
            org: Cow::Borrowed(org),
            ext: Cow::Borrowed(ext),
            ops,
            iat,
            exp,
            jti: Cow::Borrowed(jti),
        })
    }
}

/// The bytes a token may hold: base64url characters and the dot, as a table (one load a byte
/// instead of a chain of comparisons; this check runs over every byte of every token).
#[allow(
    clippy::indexing_slicing,
    reason = "a constant evaluation: an index out of bounds fails the build, never a call"
)]
const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0u8;
    loop {
        table[b as usize] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
        if b == u8::MAX {
            break;
        }
        b += 1;
    }
    table
};

fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES.get(usize::from(b)).copied().unwrap_or(false)
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format_args!("the {what} is not base64url")))
}

/// Signs `claims` with `key`, whose id is `kid`.
pub(crate) fn encode(kid: &str, key: &KeyMaterial, claims: &ScopedClaims) -> Result<String> {
    let header = Header {
        alg: Cow::Borrowed(key.algorithm().as_str()),
        typ: Cow::Borrowed(TOKEN_TYPE),
        kid: Cow::Borrowed(kid),
        crit: None,
    };
    let raw = RawClaims {
        iss: claims.issuer.clone(),
        aud: claims.audience.clone(),
        sub: claims.workspace_id.to_string(),
        org: claims.org_id.to_string(),
        ext: claims.external_id.as_str().to_owned(),
        ops: claims
            .operations
            .iter()
            .map(|op| op.as_str().to_owned())
            .collect(),
        iat: claims.issued_at,
        exp: claims.expires_at,
        jti: claims.token_id.clone(),
    };
    let header = serde_json::to_vec(&header).map_err(|e| Error::crypto(e.to_string()))?;
    let raw = serde_json::to_vec(&raw).map_err(|e| Error::crypto(e.to_string()))?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(raw));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::invalid_input(
            "token",
            format!(
                "would be {} bytes, over the {MAX_TOKEN_BYTES}-byte cap",
                token.len()
            ),
        ));
    }
    Ok(token)
}

/// A token whose shape and header passed the checks, not yet verified.
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: String,
    signing_input: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

/// Steps 1 and 2 of the module docs.
pub(crate) fn parse(token: &str) -> Result<Parsed<'_>> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::invalid_token(
            TokenRejection::TooLarge,
            format!(
                "the token is {} bytes; the cap is {MAX_TOKEN_BYTES}",
                token.len()
            ),
        ));
    }
    if !token.bytes().all(is_token_byte) {
        return Err(malformed(
            "a token holds only base64url characters and two dots",
        ));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("a token has three parts separated by dots"));
    };
    let signing_input = token
        .get(..header.len() + 1 + payload.len())
        .ok_or_else(|| malformed("bad part lengths"))?;
    let header_json = b64(header, "header")?;
    let header: Header<'_> = match Canonical::header(&header_json) {
        Some(header) => header,
        None => serde_json::from_slice(&header_json)
            .map_err(|e| malformed(format_args!("header: {e}")))?,
    };
    if header.typ != TOKEN_TYPE {
        return Err(Error::invalid_token(
            TokenRejection::Type,
            format!(
                "the type is `{}`; a scoped token has type `{TOKEN_TYPE}`",
                header.typ
            ),
        ));
    }
    if header.crit.is_some() {
        return Err(Error::invalid_token(
            TokenRejection::UnsupportedHeader,
            "the `crit` header names extensions this verifier does not support",
        ));
    }
    let alg = match header.alg.as_ref() {
        "HS256" => Algorithm::Hs256,
        "EdDSA" => Algorithm::EdDsa,
        other => {
            return Err(Error::invalid_token(
                TokenRejection::Algorithm,
                format!("the algorithm `{other}` is not allowed; only HS256 and EdDSA are"),
            ));
        }
    };
    Ok(Parsed {
        alg,
        kid: header.kid.into_owned(),
        signing_input,
        payload,
        signature: b64(signature, "signature")?,
    })
}

impl Parsed<'_> {
    /// Steps 3 (algorithm against the key), 4 and 5 of the module docs.
    pub(crate) fn verify(&self, key: &KeyMaterial) -> Result<ScopedClaims> {
        if self.alg != key.algorithm() {
            return Err(Error::invalid_token(
                TokenRejection::Algorithm,
                format!(
                    "the token says `{}` but its key is `{}`",
                    self.alg,
                    key.algorithm()
                ),
            ));
        }
        if !key.verify(self.signing_input.as_bytes(), &self.signature) {
            return Err(Error::invalid_token(
                TokenRejection::Signature,
                "the signature does not verify",
            ));
        }
        let json = b64(self.payload, "payload")?;
        let raw: BorrowedClaims<'_> = match Canonical::claims(&json) {
            Some(raw) => raw,
            None => {
                serde_json::from_slice(&json).map_err(|e| malformed(format_args!("claims: {e}")))?
            }
        };
        let operations = OperationSet::parse(raw.ops.iter().map(AsRef::as_ref))
            .map_err(|e| malformed(format_args!("claims: {e}")))?;
        Ok(ScopedClaims {
            issuer: raw.iss.into_owned(),
            audience: raw.aud.into_owned(),
            workspace_id: raw
                .sub
                .parse()
                .map_err(|e| malformed(format_args!("claims: `sub`: {e}")))?,
            org_id: raw
                .org
                .parse()
                .map_err(|e| malformed(format_args!("claims: `org`: {e}")))?,
            external_id: ExternalId::new(raw.ext.into_owned())
                .map_err(|e| malformed(format_args!("claims: `ext`: {e}")))?,
            operations,
            issued_at: raw.iat,
            expires_at: raw.exp,
            token_id: raw.jti.into_owned(),
        })
    }
}

/// Step 6, the time part: `exp` and `iat` against `now` with `leeway_ms`.
pub(crate) fn check_times(claims: &ScopedClaims, now: Timestamp, leeway_ms: i64) -> Result<()> {
    let now = now.unix_millis();
    let exp = claims.expires_at.saturating_mul(1000);
    let iat = claims.issued_at.saturating_mul(1000);
    if iat > exp {
        return Err(Error::invalid_token(
            TokenRejection::NotYetValid,
            "the token was issued after it expires",
        ));
    }
    if now > exp.saturating_add(leeway_ms) {
        return Err(Error::TokenExpired {
            expired_at: claims.expiry(),
        });
    }
    if iat > now.saturating_add(leeway_ms) {
        return Err(Error::invalid_token(
            TokenRejection::NotYetValid,
            "the token was issued in the future; check the clocks",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical decoder agrees with `serde_json` on everything this crate writes, and
    /// hands anything else to `serde_json`.
    #[test]
    fn canonical_decoding_agrees_with_serde_and_declines_every_other_form() {
        let key = KeyMaterial::generate(Algorithm::Hs256).unwrap().0;
        for ext in [
            "cust-1",
            "Kundé 北京",
            "quote\"inside",
            "back\\slash",
            "slash/ok",
        ] {
            let mut c = claims();
            c.external_id = ExternalId::new(ext).unwrap();
            c.issued_at = -5;
            let token = encode("kid-1", &key, &c).unwrap();
            let mut parts = token.split('.');
            let header = b64(parts.next().unwrap(), "header").unwrap();
            let payload = b64(parts.next().unwrap(), "payload").unwrap();
            let by_serde: Header<'_> = serde_json::from_slice(&header).unwrap();
            assert_eq!(Canonical::header(&header), Some(by_serde));
            let by_serde: BorrowedClaims<'_> = serde_json::from_slice(&payload).unwrap();
            match Canonical::claims(&payload) {
                Some(fast) => assert_eq!(fast, by_serde, "{ext}"),
                // Escaped strings are serde's to decode.
                None => assert!(ext.contains(['"', '\\']), "{ext}"),
            }
            assert_eq!(parse(&token).unwrap().verify(&key).unwrap(), c);
        }
        let canonical = r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":["sources:read"],"iat":1,"exp":2,"jti":"j"}"#;
        assert!(Canonical::claims(canonical.as_bytes()).is_some());
        for other in [
            r#"{ "iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}"#,
            r#"{"aud":"a","iss":"i","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}"#,
            r#"{"iss":"i","iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}"#,
            r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j","x":1}"#,
            r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":01,"exp":2,"jti":"j"}"#,
            r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1.5,"exp":2,"jti":"j"}"#,
            r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":99999999999999999999,"jti":"j"}"#,
            r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[,],"iat":1,"exp":2,"jti":"j"}"#,
            r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}x"#,
            r#"{"iss":"\u0069","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}"#,
        ] {
            assert_eq!(Canonical::claims(other.as_bytes()), None, "{other}");
        }
        assert_eq!(
            Canonical::header(br#"{"typ":"x","alg":"HS256","kid":"k"}"#),
            None
        );
        assert_eq!(
            Canonical::header(br#"{"alg":"HS256","typ":"x","kid":"k","crit":[]}"#),
            None
        );
    }

    fn claims() -> ScopedClaims {
        ScopedClaims {
            issuer: "bulkhead".into(),
            audience: "bulkhead-workspace".into(),
            workspace_id: WorkspaceId::random(),
            org_id: OrgId::random(),
            external_id: "cust-1".parse().unwrap(),
            operations: OperationSet::scoped_default(),
            issued_at: 1_000,
            expires_at: 2_200,
            token_id: "jti-1".into(),
        }
    }

    #[test]
    fn both_algorithms_round_trip() {
        for alg in [Algorithm::Hs256, Algorithm::EdDsa] {
            let (key, _, _) = KeyMaterial::generate(alg).unwrap();
            let claims = claims();
            let token = encode("kid-1", &key, &claims).unwrap();
            let parsed = parse(&token).unwrap();
            assert_eq!(parsed.kid, "kid-1");
            assert_eq!(parsed.alg, alg);
            assert_eq!(parsed.verify(&key).unwrap(), claims);
        }
    }

    #[test]
    fn another_key_of_the_same_algorithm_does_not_verify() {
        let (key, _, _) = KeyMaterial::generate(Algorithm::Hs256).unwrap();
        let (other, _, _) = KeyMaterial::generate(Algorithm::Hs256).unwrap();
        let token = encode("kid-1", &key, &claims()).unwrap();
        let err = parse(&token).unwrap().verify(&other).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidToken {
                reason: TokenRejection::Signature,
                ..
            }
        ));
    }

    #[test]
    fn expiry_and_leeway() {
        let c = claims();
        let at = |s: i64| Timestamp::from_unix_millis(s * 1000);
        assert!(check_times(&c, at(2_200), 0).is_ok());
        assert!(matches!(
            check_times(&c, at(2_231), 30_000),
            Err(Error::TokenExpired { .. })
        ));
        assert!(check_times(&c, at(2_229), 30_000).is_ok());
        assert!(
            check_times(&c, at(900), 30_000).is_err(),
            "issued in the future"
        );
    }
}
