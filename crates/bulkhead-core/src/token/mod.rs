//! Scoped tokens: a strict JWT profile (RFC 7519, checked as RFC 8725 advises).
//!
//! ```text
//! header  {"alg":"HS256"|"EdDSA","typ":"bulkhead-scoped+jwt","kid":"…"}
//! claims  {"iss","aud","sub" (workspace id),"org","ext" (external id),"ops",
//!          "origin" (only in a widget's token),"iat","exp","jti"}
//! ```
//!
//! `origin` is the one browser origin a token handed to an embedded widget may be used from
//! (an [`crate::AllowedOrigin`]); a token without it has none. Like every claim it is
//! signed, of its JSON type when present (a string; `null` is malformed, not absent), and
//! checked: a value that is not an origin in a browser's form refuses the token.
//!
//! Any JWT library can read these tokens. Reading them here is strict, in this order, and the
//! first failure refuses the token:
//!
//! 1. at most [`MAX_TOKEN_BYTES`], exactly two dots, and each of the three parts strict
//!    unpadded base64url (so only base64url characters and the two dots); the payload is
//!    decoded here but not read;
//! 2. the header decodes to exactly `alg`, `typ`, `kid` (duplicate or unknown keys refused;
//!    `crit` refused whatever its value, `null` too), `typ` is `bulkhead-scoped+jwt`, `alg`
//!    is `HS256` or `EdDSA` (never `none`);
//! 3. the `kid` must be 1 to [`MAX_KID_BYTES`] base64url characters (every `kid` the engine
//!    makes is), else it names no key and nothing is looked up; it is then looked up (by the
//!    engine) among current signing keys, and `alg` must be that key's algorithm: a token
//!    cannot choose how it is verified;
//! 4. the signature verifies (HMAC compared in constant time by `ring::hmac::verify`);
//! 5. only then are the claims decoded, strictly: every claim present, of its JSON type (an
//!    `exp` that is a string is malformed, not absent), no duplicates, no unknown claims;
//! 6. the engine checks `org` against the key's organization, `iss`/`aud` against the
//!    organization's settings, and `exp`/`iat` against its clock with a small leeway.

pub(crate) mod request;

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use crate::model::algorithm::Algorithm;

use crate::crypto::vault::random_bytes;
use crate::error::{Error, Result, TokenRejection};
use crate::model::ids::{ExternalId, OrgId, WorkspaceId};
use crate::model::operations::OperationSet;
use crate::model::origin::AllowedOrigin;
use crate::model::time::Timestamp;

/// The `typ` header of every scoped token.
pub const TOKEN_TYPE: &str = "bulkhead-scoped+jwt";
/// The largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// The longest `kid` looked up, in bytes. The engine's are 22 (16 random bytes, base64url).
pub const MAX_KID_BYTES: usize = 64;

/// The key material of one signing key, ready to sign and verify. It holds `ring`'s keys
/// only, never the secret bytes they were made from (those are [`Zeroizing`] where this crate
/// holds them); `ring` does not zero its own keys.
pub(crate) enum KeyMaterial {
    Hs256(hmac::Key),
    EdDsa(Ed25519KeyPair),
}

/// What [`KeyMaterial::generate`] makes: the material, its secret bytes, its public key.
pub(crate) type NewKey = (KeyMaterial, Zeroizing<Vec<u8>>, Option<Vec<u8>>);

impl KeyMaterial {
    /// A new random key: the material, the secret bytes to seal (zeroed when dropped), and
    /// the public key (EdDSA).
    pub(crate) fn generate(alg: Algorithm) -> Result<NewKey> {
        match alg {
            Algorithm::Hs256 => {
                let mut secret = Zeroizing::new(vec![0u8; 32]);
                random_bytes(&mut secret)?;
                let key = Self::from_secret(alg, &secret)?;
                Ok((key, secret, None))
            }
            Algorithm::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| Error::crypto("could not generate an Ed25519 key"))?;
                let secret = Zeroizing::new(pkcs8.as_ref().to_vec());
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
    /// `origin`: the one browser origin it may be used from (a widget's token), or `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origin: Option<AllowedOrigin>,
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
    /// `Some` whenever the header has `crit`, whatever its value (`null` too).
    #[serde(default, skip_serializing, deserialize_with = "present")]
    crit: Option<IgnoredAny>,
}

/// Reads any value as present: without this, serde reads `"crit": null` as no `crit` at all.
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<IgnoredAny>, D::Error> {
    IgnoredAny::deserialize(d).map(Some)
}

/// Whether `kid` can name a signing key: 1 to [`MAX_KID_BYTES`] base64url characters. Any
/// other `kid` is refused before a lookup, so no store sees a control character or a long
/// string from an unauthenticated request (PostgreSQL refuses a NUL in text with an error).
pub(crate) fn is_plausible_kid(kid: &str) -> bool {
    (1..=MAX_KID_BYTES).contains(&kid.len()) && kid.bytes().all(|b| is_token_byte(b) && b != b'.')
}

/// The claims as decoded, borrowing from the JSON where it can.
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
    ops: Ops,
    /// Absent, or a string: `null` or another type is malformed.
    #[serde(default, deserialize_with = "some_string")]
    origin: Option<Cow<'a, str>>,
    iat: i64,
    exp: i64,
    #[serde(borrow)]
    jti: Cow<'a, str>,
}

/// A claim that is optional but, when present, a string (never `null`). Rare enough (a
/// widget's token) to be decoded owned.
fn some_string<'de, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Cow<'a, str>>, D::Error> {
    String::deserialize(d).map(|s| Some(Cow::Owned(s)))
}

/// The `ops` claim, read straight into a set: an unknown name refuses the token.
#[derive(Debug, PartialEq)]
struct Ops(OperationSet);

impl<'de> Deserialize<'de> for Ops {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Names;
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = Ops;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of operation names")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Ops, A::Error> {
                let mut set = OperationSet::empty();
                while let Some(name) = seq.next_element::<Cow<'de, str>>()? {
                    set = set.with(name.parse().map_err(serde::de::Error::custom)?);
                }
                Ok(Ops(set))
            }
        }
        d.deserialize_seq(Names)
    }
}

/// The claims as `serde_json` writes them: the tests' reference for what [`MintTemplate`]
/// writes by hand.
#[cfg(test)]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaims {
    iss: String,
    aud: String,
    sub: String,
    org: String,
    ext: String,
    ops: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    iat: i64,
    exp: i64,
    jti: String,
}

fn malformed(detail: impl fmt::Display) -> Error {
    Error::invalid_token(TokenRejection::Malformed, format!("malformed: {detail}"))
}

/// Reads JSON of the one exact form this crate writes (what `serde_json` writes for
/// [`Header`] and for the claims in the order of the module docs: fields in that order, no whitespace, strings without escapes or
/// control characters). Anything else is `None`, and the strict `serde_json` decoder (which
/// refuses unknown and duplicate fields) decides. On the canonical form both decoders give
/// the same values; a test checks that. The input is already valid UTF-8 (checked once for
/// the whole part), so strings are cut from it without another check.
struct Canonical<'a> {
    rest: &'a str,
}

impl<'a> Canonical<'a> {
    /// `None` when `json` holds an escape or a control character anywhere: then it is not
    /// the canonical form, and a string ends at the next quote.
    fn new(json: &'a str) -> Option<Self> {
        (!has_escape_or_control(json.as_bytes())).then_some(Self { rest: json })
    }

    fn literal(&mut self, text: &str) -> Option<()> {
        self.rest = self.rest.strip_prefix(text)?;
        Some(())
    }

    /// A string: everything up to the next quote (the input has no escapes, see
    /// [`Canonical::new`]).
    fn string(&mut self) -> Option<&'a str> {
        self.literal("\"")?;
        let (body, rest) = self.rest.split_once('"')?;
        self.rest = rest;
        Some(body)
    }

    /// A JSON integer: an optional minus, no leading zero, no fraction or exponent.
    fn integer(&mut self) -> Option<i64> {
        let bytes = self.rest.as_bytes();
        let negative = bytes.first() == Some(&b'-');
        let digits_from = usize::from(negative);
        let len = bytes
            .get(digits_from..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let digits = bytes.get(digits_from..digits_from + len)?;
        if digits.is_empty() || (digits.len() > 1 && digits.first() == Some(&b'0')) {
            return None;
        }
        let mut value: i64 = 0;
        for &d in digits {
            value = value.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
        }
        self.rest = self.rest.get(digits_from + len..)?;
        if matches!(self.rest.as_bytes().first(), Some(b'.' | b'e' | b'E')) {
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

    fn header(json: &'a str) -> Option<Header<'a>> {
        let mut c = Self::new(json)?;
        c.literal("{\"alg\":")?;
        let alg = c.string()?;
        c.literal(",\"typ\":")?;
        let typ = c.string()?;
        c.literal(",\"kid\":")?;
        let kid = c.string()?;
        c.literal("}")?;
        c.end()?;
        Some(Header {
            alg: Cow::Borrowed(alg),
            typ: Cow::Borrowed(typ),
            kid: Cow::Borrowed(kid),
            crit: None,
        })
    }

    /// The canonical header straight from its base64url text. Its first 48 bytes (up to
    /// `"kid"`) are one of two constants, whose encodings ([`ENCODED_HEADER_STARTS`]) are
    /// compared instead of decoded; only the rest (`:"<kid>"}`) is decoded, into `buf`. Four
    /// base64 characters decode to three bytes on their own, so decoding the rest alone gives
    /// the same bytes, and refuses the same text, as decoding the whole.
    fn encoded_header(part: &str, buf: &'a mut [u8]) -> Option<Header<'a>> {
        let (alg, rest) = ENCODED_HEADER_STARTS
            .iter()
            .find_map(|(alg, start)| Some((*alg, part.strip_prefix(start)?)))?;
        let len = decode_b64url(rest.as_bytes(), &mut *buf)?;
        let tail = std::str::from_utf8(buf.get(..len)?).ok()?;
        let kid = tail.strip_prefix(":\"")?.strip_suffix("\"}")?;
        if kid.bytes().any(ends_string) {
            return None;
        }
        Some(Header {
            alg: Cow::Borrowed(alg.as_str()),
            typ: Cow::Borrowed(TOKEN_TYPE),
            kid: Cow::Borrowed(kid),
            crit: None,
        })
    }

    /// `Some(Err(..))` for the canonical form naming an operation that does not exist.
    fn claims(json: &'a str) -> Option<Result<BorrowedClaims<'a>>> {
        let mut c = Self::new(json)?;
        let field = |c: &mut Self, name: &str| -> Option<&'a str> {
            c.literal(name)?;
            c.string()
        };
        let iss = field(&mut c, "{\"iss\":")?;
        let aud = field(&mut c, ",\"aud\":")?;
        let sub = field(&mut c, ",\"sub\":")?;
        let org = field(&mut c, ",\"org\":")?;
        let ext = field(&mut c, ",\"ext\":")?;
        c.literal(",\"ops\":[")?;
        let mut ops = OperationSet::empty();
        if c.literal("]").is_none() {
            loop {
                match c.string()?.parse() {
                    Ok(op) => ops = ops.with(op),
                    Err(e) => return Some(Err(e)),
                }
                if c.literal("]").is_some() {
                    break;
                }
                c.literal(",")?;
            }
        }
        // Optional: only a widget's token has it.
        let origin = match c.literal(",\"origin\":") {
            Some(()) => Some(Cow::Borrowed(c.string()?)),
            None => None,
        };
        c.literal(",\"iat\":")?;
        let iat = c.integer()?;
        c.literal(",\"exp\":")?;
        let exp = c.integer()?;
        let jti = field(&mut c, ",\"jti\":")?;
        c.literal("}")?;
        c.end()?;
        Some(Ok(BorrowedClaims {
            iss: Cow::Borrowed(iss),
            aud: Cow::Borrowed(aud),
            sub: Cow::Borrowed(sub),
            org: Cow::Borrowed(org),
            ext: Cow::Borrowed(ext),
            ops: Ops(ops),
            origin,
            iat,
            exp,
            jti: Cow::Borrowed(jti),
        }))
    }
}

/// The base64url encoding of the first 48 bytes of the canonical header of each algorithm:
/// `{"alg":"HS256","typ":"bulkhead-scoped+jwt","kid"` (and the same with `EdDSA`). A test
/// checks them against the encoder.
const ENCODED_HEADER_STARTS: [(Algorithm, &str); 2] = [
    (
        Algorithm::Hs256,
        "eyJhbGciOiJIUzI1NiIsInR5cCI6ImJ1bGtoZWFkLXNjb3BlZCtqd3QiLCJraWQi",
    ),
    (
        Algorithm::EdDsa,
        "eyJhbGciOiJFZERTQSIsInR5cCI6ImJ1bGtoZWFkLXNjb3BlZCtqd3QiLCJraWQi",
    ),
];

/// Whether `b` ends a canonical string: the closing quote, or a byte the canonical form does
/// not hold (an escape or a control character).
#[inline(always)]
fn ends_string(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

/// Whether any byte of `bytes` [`ends_string`] other than a quote: an escape or a control
/// character. One pass, 32 bytes at a time, branch-free within a block so that it compiles
/// to vector instructions.
fn has_escape_or_control(bytes: &[u8]) -> bool {
    let bad = |b: u8| (b == b'\\') | (b < 0x20);
    let mut chunks = bytes.chunks_exact(32);
    chunks.any(|chunk| chunk.iter().fold(false, |any, &b| any | bad(b)))
        || chunks.remainder().iter().any(|&b| bad(b))
}

/// Whether `b` may appear in a token: a base64url character or the dot.
fn is_token_byte(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter | digit | (b == b'-') | (b == b'_') | (b == b'.')
}

/// Base64url decoding tables, one per position in a group of four characters: the sextet
/// already shifted into place, or [`INVALID`] (a bit above the 24 data bits) for a byte
/// outside the alphabet.
const INVALID: u32 = 1 << 24;

#[allow(
    clippy::indexing_slicing,
    reason = "a constant evaluation: an index out of bounds fails the build, never a call"
)]
const DECODE: [[u32; 256]; 4] = {
    let mut tables = [[INVALID; 256]; 4];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < 64 {
        let c = alphabet[i] as usize;
        let sextet = i as u32;
        tables[0][c] = sextet << 18;
        tables[1][c] = sextet << 12;
        tables[2][c] = sextet << 6;
        tables[3][c] = sextet;
        i += 1;
    }
    tables
};

/// The 24 bits of four base64url characters, with [`INVALID`] set if any is outside the
/// alphabet.
#[inline(always)]
fn sextets(group: [u8; 4]) -> u32 {
    let [t0, t1, t2, t3] = &DECODE;
    let [c0, c1, c2, c3] = group.map(usize::from);
    // Every index is below 256: these lookups cannot fail, and compile without a check.
    let at = |table: &[u32; 256], c: usize| table.get(c).copied().unwrap_or(INVALID);
    at(t0, c0) | at(t1, c1) | at(t2, c2) | at(t3, c3)
}

/// Strict unpadded base64url (RFC 4648 section 5), as `base64`'s `URL_SAFE_NO_PAD` decodes
/// it: no padding, no other characters, a length that is not one more than a multiple of
/// four, and the unused bits of the last character zero. `None` for anything else, or when
/// `out` is too small. Returns the number of bytes written. (A test compares it with the
/// `base64` crate.)
///
/// Eight characters at a time are written as one eight-byte store of which six bytes count
/// (the next store overwrites the other two), while `out` has the room; then four at a time.
fn decode_b64url(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let tail = input.len() % 4;
    let len = input.len() / 4 * 3 + tail.saturating_sub(1);
    if tail == 1 || out.len() < len {
        return None;
    }
    let (body, rest) = input.split_at(input.len() - tail);
    let quad = |chunk: &[u8]| <[u8; 4]>::try_from(chunk).ok();
    let mut bad = 0;
    let (mut i, mut o) = (0, 0);
    while let (Some(src), Some(dst)) = (body.get(i..i + 8), out.get_mut(o..o + 8)) {
        let (high, low) = src.split_at(4);
        let (high, low) = (sextets(quad(high)?), sextets(quad(low)?));
        bad |= high | low;
        // An invalid bit of `low` lands in `high`'s bytes: harmless, as `bad` refuses all.
        let wide = (u64::from(high) << 40) | (u64::from(low) << 16);
        dst.copy_from_slice(&wide.to_be_bytes());
        i += 8;
        o += 6;
    }
    while let (Some(src), Some(dst)) = (body.get(i..i + 4), out.get_mut(o..o + 3)) {
        let bits = sextets(quad(src)?);
        bad |= bits;
        let [_, b0, b1, b2] = bits.to_be_bytes();
        dst.copy_from_slice(&[b0, b1, b2]);
        i += 4;
        o += 3;
    }
    if !rest.is_empty() {
        // Missing characters count as `A` (zero).
        let mut padded = [b'A'; 4];
        padded.get_mut(..tail)?.copy_from_slice(rest);
        let bits = sextets(padded);
        bad |= bits;
        // The bits of the last character that no byte holds must be zero.
        let unused = if tail == 2 { 0xFFFF } else { 0xFF };
        if bits & unused != 0 {
            return None;
        }
        let [_, b0, b1, _] = bits.to_be_bytes();
        out.get_mut(o..len)?
            .copy_from_slice([b0, b1].get(..tail - 1)?);
    }
    (bad & INVALID == 0).then_some(len)
}

/// Decodes one base64url part into `stack` when it fits (every real header and payload
/// does), into `heap` otherwise.
fn b64_into<'b>(
    part: &str,
    what: &str,
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8]> {
    // base64's bound for the output it may write: three bytes for every four characters,
    // rounded up.
    let room = part.len().div_ceil(4) * 3;
    let buf: &'b mut [u8] = if room <= stack.len() {
        stack
    } else {
        heap.resize(room, 0);
        heap
    };
    decode_b64url(part.as_bytes(), &mut *buf)
        .and_then(|len| buf.get(..len))
        .ok_or_else(|| malformed(format_args!("the {what} is not base64url")))
}

/// The decoded bytes of one part as JSON text.
fn utf8<'b>(json: &'b [u8], what: &str) -> Result<&'b str> {
    std::str::from_utf8(json).map_err(|_| malformed(format_args!("the {what} is not UTF-8")))
}

#[cfg(test)]
fn b64(part: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format_args!("the {what} is not base64url")))
}

/// The material a token is verified with: a key, or something that holds one.
pub(crate) trait VerifyingKey {
    /// The key material.
    fn material(&self) -> &KeyMaterial;
}

impl VerifyingKey for KeyMaterial {
    fn material(&self) -> &KeyMaterial {
        self
    }
}

impl<K: VerifyingKey + ?Sized> VerifyingKey for &K {
    fn material(&self) -> &KeyMaterial {
        (**self).material()
    }
}

impl<K: VerifyingKey + ?Sized> VerifyingKey for std::sync::Arc<K> {
    fn material(&self) -> &KeyMaterial {
        (**self).material()
    }
}

/// Signs `claims` with `key`, whose id is `kid`, through `serde_json`: the tests' reference
/// encoder, against which [`MintTemplate`] is checked.
#[cfg(test)]
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
        origin: claims
            .allowed_origin
            .as_ref()
            .map(|o| o.as_str().to_owned()),
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
    within_cap(token)
}

/// `token`, if it is at most [`MAX_TOKEN_BYTES`] long: a longer one would be refused by
/// every verifier, so it is never handed out.
fn within_cap(token: String) -> Result<String> {
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

/// What stays the same in every token a [`crate::TokenMinter`] mints for one workspace.
pub(crate) struct FixedClaims<'c> {
    pub(crate) issuer: &'c str,
    pub(crate) audience: &'c str,
    pub(crate) workspace_id: WorkspaceId,
    pub(crate) org_id: OrgId,
    pub(crate) external_id: &'c ExternalId,
    pub(crate) operations: OperationSet,
    /// The `origin` claim, if any.
    pub(crate) origin: Option<&'c AllowedOrigin>,
}

/// The canonical token of one workspace with everything but `iat`, `exp` and `jti` already
/// written. The claims are `{"iss":…,"ops":[…],"iat":N,"exp":N,"jti":"…"}` in this order,
/// so all but their last few bytes are fixed: the header, the dot and the fixed start of
/// the claims (as many whole three-byte groups as it has) are encoded once, and for HS256
/// the HMAC has already absorbed them (a cloned [`hmac::Context`] carries on from there). A
/// mint then writes and encodes about 70 bytes and finishes the MAC over them. The output is
/// byte for byte what `serde_json` writes for the same claims (`encode` in the tests); a
/// test checks that.
pub(crate) struct MintTemplate<K> {
    key: K,
    /// The encoded header, `.`, and the encoded whole groups of the fixed claims.
    head: String,
    /// The fixed claims' last bytes that do not fill a group (at most two).
    carry: Vec<u8>,
    /// The HMAC after `head` (HS256 only).
    mac: Option<hmac::Context>,
}

impl<K: VerifyingKey> MintTemplate<K> {
    /// The template for `fixed`, signed by `key` (whose id is `kid`).
    pub(crate) fn new(kid: &str, key: K, fixed: &FixedClaims<'_>) -> Result<Self> {
        let header = Header {
            alg: Cow::Borrowed(key.material().algorithm().as_str()),
            typ: Cow::Borrowed(TOKEN_TYPE),
            kid: Cow::Borrowed(kid),
            crit: None,
        };
        let ops: Vec<&str> = fixed.operations.iter().map(|op| op.as_str()).collect();
        // `serde_json`'s compact form of `RawClaims` up to the value of `iat`.
        let origin = match fixed.origin {
            Some(origin) => format!(",\"origin\":{}", json(origin.as_str())?),
            None => String::new(),
        };
        let claims_start = format!(
            "{{\"iss\":{},\"aud\":{},\"sub\":\"{}\",\"org\":\"{}\",\"ext\":{},\"ops\":{}{origin},\"iat\":",
            json(fixed.issuer)?,
            json(fixed.audience)?,
            fixed.workspace_id,
            fixed.org_id,
            json(fixed.external_id.as_str())?,
            json(&ops)?,
        );
        let whole = claims_start.len() / 3 * 3;
        let (grouped, carry) = claims_start.as_bytes().split_at(whole);
        let mut head = URL_SAFE_NO_PAD.encode(json(&header)?);
        head.push('.');
        URL_SAFE_NO_PAD.encode_string(grouped, &mut head);
        let mac = match key.material() {
            KeyMaterial::Hs256(secret) => {
                let mut mac = hmac::Context::with_key(secret);
                mac.update(head.as_bytes());
                Some(mac)
            }
            KeyMaterial::EdDsa(_) => None,
        };
        Ok(Self {
            key,
            head,
            carry: carry.to_vec(),
            mac,
        })
    }

    /// The token with these times and `jti`, which must be base64url (the minter's are): it
    /// is written into the JSON as it is.
    pub(crate) fn mint(&self, issued_at: i64, expires_at: i64, jti: &str) -> Result<String> {
        use std::fmt::Write as _;
        if jti.is_empty() || !jti.bytes().all(|b| is_token_byte(b) && b != b'.') {
            return Err(Error::crypto("a token id must be base64url"));
        }
        // The carried bytes, two integers of at most 20 characters, the jti and the
        // punctuation: well under the 256 bytes of the stack buffer for any base64url jti
        // of up to 150 characters; a longer one is refused as an internal error.
        let mut tail = Tail::default();
        let too_long = |_| Error::crypto("a token id too long to mint");
        tail.write_bytes(&self.carry).map_err(too_long)?;
        write!(tail, "{issued_at},\"exp\":{expires_at},\"jti\":\"{jti}\"}}").map_err(too_long)?;
        let mut token = String::with_capacity(self.head.len() + tail.len * 4 / 3 + 4 + 88);
        token.push_str(&self.head);
        URL_SAFE_NO_PAD.encode_string(tail.bytes(), &mut token);
        let signature = match &self.mac {
            Some(mac) => {
                let mut mac = mac.clone();
                mac.update(token.get(self.head.len()..).unwrap_or_default().as_bytes());
                let tag = mac.sign();
                URL_SAFE_NO_PAD.encode(tag.as_ref())
            }
            None => URL_SAFE_NO_PAD.encode(self.key.material().sign(token.as_bytes())),
        };
        token.push('.');
        token.push_str(&signature);
        within_cap(token)
    }
}

/// A small stack buffer that [`fmt::Write`] fills; writing past its end is an error.
struct Tail {
    buf: [u8; 256],
    len: usize,
}

impl Default for Tail {
    fn default() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }
}

impl Tail {
    fn write_bytes(&mut self, bytes: &[u8]) -> fmt::Result {
        let room = self
            .buf
            .get_mut(self.len..self.len + bytes.len())
            .ok_or(fmt::Error)?;
        room.copy_from_slice(bytes);
        self.len += bytes.len();
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Write for Tail {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes())
    }
}

/// `value` as `serde_json`'s compact JSON.
fn json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::crypto(e.to_string()))
}

/// Steps 1 to 5 of the module docs: checks the token's shape and header, asks `key_for` for
/// the key the header names (`alg`, `kid`; `Ok(None)` when there is none), verifies the
/// signature with it and only then decodes the claims. Returns the key with the claims.
///
/// Everything is decoded on the stack (a header or payload too large for its buffer is
/// decoded on the heap instead): this runs on every request.
pub(crate) fn verify<K: VerifyingKey>(
    token: &str,
    key_for: impl FnOnce(Algorithm, &str) -> Result<Option<K>>,
) -> Result<(K, ScopedClaims)> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::invalid_token(
            TokenRejection::TooLarge,
            format!(
                "the token is {} bytes; the cap is {MAX_TOKEN_BYTES}",
                token.len()
            ),
        ));
    }
    let three_parts = || malformed("a token has three parts separated by dots");
    // The header ends at the first dot and the signature starts after the last (both
    // searches are short); a dot in between is not base64url, so the payload refuses it.
    let (header, rest) = token.split_once('.').ok_or_else(three_parts)?;
    let (payload, signature) = rest.rsplit_once('.').ok_or_else(three_parts)?;
    let signing_input = token
        .get(..header.len() + 1 + payload.len())
        .ok_or_else(three_parts)?;

    let mut kid_buf = [0u8; 96];
    // Made only when the header is not canonical.
    let (mut header_stack, mut header_heap);
    let header: Header<'_> = match Canonical::encoded_header(header, &mut kid_buf) {
        Some(header) => header,
        None => {
            (header_stack, header_heap) = ([0u8; 256], Vec::new());
            let json = b64_into(header, "header", &mut header_stack, &mut header_heap)?;
            match std::str::from_utf8(json).ok().and_then(Canonical::header) {
                Some(header) => header,
                None => serde_json::from_slice(json)
                    .map_err(|e| malformed(format_args!("header: {e}")))?,
            }
        }
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
    // An Ed25519 signature is 64 bytes, an HMAC-SHA-256 one 32; anything longer cannot
    // verify, but is decoded (on the heap) so that it is refused as a bad signature.
    let (mut signature_stack, mut signature_heap) = ([0u8; 66], Vec::new());
    let signature = b64_into(
        signature,
        "signature",
        &mut signature_stack,
        &mut signature_heap,
    )?;

    // Decoded (every part must be base64url), not read: the claims are read only once the
    // signature verifies.
    let (mut payload_stack, mut payload_heap) = ([0u8; 768], Vec::new());
    let json = b64_into(payload, "payload", &mut payload_stack, &mut payload_heap)?;

    let unknown_key = || {
        Error::invalid_token(
            TokenRejection::UnknownKey,
            "the signing key of this token is unknown or retired",
        )
    };
    if !is_plausible_kid(&header.kid) {
        return Err(unknown_key());
    }
    let key = key_for(alg, &header.kid)?.ok_or_else(unknown_key)?;
    let material = key.material();
    if alg != material.algorithm() {
        return Err(Error::invalid_token(
            TokenRejection::Algorithm,
            format!(
                "the token says `{alg}` but its key is `{}`",
                material.algorithm()
            ),
        ));
    }
    if !material.verify(signing_input.as_bytes(), signature) {
        return Err(Error::invalid_token(
            TokenRejection::Signature,
            "the signature does not verify",
        ));
    }

    let raw = match Canonical::claims(utf8(json, "payload")?) {
        Some(raw) => raw.map_err(|e| malformed(format_args!("claims: {e}")))?,
        None => serde_json::from_slice::<BorrowedClaims<'_>>(json)
            .map_err(|e| malformed(format_args!("claims: {e}")))?,
    };
    let claims = ScopedClaims {
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
        operations: raw.ops.0,
        allowed_origin: raw
            .origin
            .map(|o| AllowedOrigin::parse_field("origin", &o))
            .transpose()
            .map_err(|e| malformed(format_args!("claims: `origin`: {e}")))?,
        issued_at: raw.iat,
        expires_at: raw.exp,
        token_id: raw.jti.into_owned(),
    };
    Ok((key, claims))
}

/// Refuses a token that lives (`exp - iat`) longer than `max_ttl_secs`, its organization's
/// longest lifetime: the engine never mints one, so it was forged with a leaked key, or
/// minted before the organization shortened its lifetime.
pub(crate) fn check_lifetime(claims: &ScopedClaims, max_ttl_secs: i64) -> Result<()> {
    let lifetime = claims.expires_at.saturating_sub(claims.issued_at);
    if lifetime > max_ttl_secs {
        return Err(Error::invalid_token(
            TokenRejection::Lifetime,
            format!(
                "the token lives {lifetime} s; its organization allows at most {max_ttl_secs} s"
            ),
        ));
    }
    Ok(())
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
mod tests;
