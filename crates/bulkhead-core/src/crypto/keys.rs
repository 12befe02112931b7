//! Credentials at rest: org access keys and signing keys.
//!
//! **Org access keys** are `bh_org_` followed by 256 random bits in base64url. The key is
//! shown once, when made; the database keeps its SHA-256 and a short public prefix
//! (`bh_org_` and 8 more characters) that lets people tell keys apart in listings. Looking a
//! key up by its hash needs no constant-time comparison: the hash of a 256-bit secret reveals
//! nothing an attacker can steer.
//!
//! Every key has a [`KeyRole`], stored with it: an **org key** (`bh_org_`) has the
//! organization's full power; a **worker key** (`bh_wkr_`, made by
//! `OrgScope::create_worker_key`) has only the job protocol (`Engine::authenticate_worker`),
//! and every other way in refuses it. The stored role decides; the prefix only lets a person,
//! a secret scanner or the HTTP server tell the kinds apart without a lookup, and is bound to
//! the role because the stored hash covers it.
//!
//! **Signing keys** sign scoped tokens. Each has a random `kid`; its secret (an HMAC key or an
//! Ed25519 PKCS#8 document) is sealed under the master key with associated data
//! `org id || kid`, so it opens only as that organization's key of that id.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use serde::Serialize;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::crypto::vault::random_bytes;
use crate::error::{Error, Result};
use crate::model::algorithm::Algorithm;
use crate::model::ids::{OrgId, OrgKeyId};
use crate::model::time::Timestamp;

/// The text every org access key starts with.
pub const ORG_KEY_PREFIX: &str = "bh_org_";
/// The text every worker key starts with (see [`KeyRole::Worker`]).
pub const WORKER_KEY_PREFIX: &str = "bh_wkr_";
/// Characters of an org access key kept as its public prefix (the same for a worker key,
/// whose prefix text is as long).
const PUBLIC_PREFIX_CHARS: usize = ORG_KEY_PREFIX.len() + 8;

/// What an organization's access key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// The organization's full power: workspaces, templates, keys, settings, tokens, and the
    /// job protocol. Its text begins [`ORG_KEY_PREFIX`].
    Organization,
    /// The job protocol only: claim a job, heartbeat it, complete it
    /// (`Engine::authenticate_worker`). Refused everywhere else. Its text begins
    /// [`WORKER_KEY_PREFIX`].
    Worker,
}

impl KeyRole {
    /// How it is stored and shown: `organization` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Worker => "worker",
        }
    }

    /// The text its keys begin with.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Organization => ORG_KEY_PREFIX,
            Self::Worker => WORKER_KEY_PREFIX,
        }
    }
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyRole {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "organization" => Ok(Self::Organization),
            "worker" => Ok(Self::Worker),
            _ => Err(Error::invalid_input(
                "role",
                format!("`{text}` is not a key role; use `organization` or `worker`"),
            )),
        }
    }
}

/// An org access key or a worker key in clear. Shown once; `Debug` and `Display` never print
/// it.
#[derive(Clone, PartialEq, Eq)]
pub struct OrgKeySecret(String);

impl OrgKeySecret {
    /// The key itself, to hand to the organization. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key's public prefix.
    pub fn prefix(&self) -> &str {
        self.0.get(..PUBLIC_PREFIX_CHARS).unwrap_or(&self.0)
    }
}

impl fmt::Debug for OrgKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgKeySecret({}…)", self.prefix())
    }
}

/// A new key of `role`: the secret (shown once) and the row to store.
pub(crate) fn new_org_key(
    org_id: OrgId,
    now: Timestamp,
    expires_at: Option<Timestamp>,
    role: KeyRole,
) -> Result<(OrgKeySecret, OrgKeyRow)> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes)?;
    let secret = OrgKeySecret(format!(
        "{}{}",
        role.prefix(),
        URL_SAFE_NO_PAD.encode(bytes)
    ));
    let row = OrgKeyRow {
        id: OrgKeyId::random(),
        org_id,
        prefix: secret.prefix().to_owned(),
        hash: hash_org_key(secret.expose()),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
        role,
    };
    Ok((secret, row))
}

/// The stored hash of an org access key.
pub fn hash_org_key(key: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
    out
}

/// Whether `text` has the shape of an org access key (not whether it is valid).
pub(crate) fn looks_like_org_key(text: &str) -> bool {
    text.starts_with(ORG_KEY_PREFIX)
}

/// Whether `text` has the shape of a worker key (not whether it is valid).
pub(crate) fn looks_like_worker_key(text: &str) -> bool {
    text.starts_with(WORKER_KEY_PREFIX)
}

/// An org access key as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgKeyRow {
    /// Its id.
    pub id: OrgKeyId,
    /// Its organization.
    pub org_id: OrgId,
    /// Its public prefix.
    pub prefix: String,
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last used (recorded at most once a minute).
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// What it may do.
    pub role: KeyRole,
}

impl OrgKeyRow {
    /// Whether the key works at `now`.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// What an organization sees of one of its access keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrgKeyInfo {
    /// Its id (for revoking it).
    pub id: OrgKeyId,
    /// Its public prefix.
    pub prefix: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// What it may do: `organization` (an org key) or `worker` (a worker key).
    pub role: KeyRole,
}

impl From<OrgKeyRow> for OrgKeyInfo {
    fn from(row: OrgKeyRow) -> Self {
        Self {
            id: row.id,
            prefix: row.prefix,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            role: row.role,
        }
    }
}

/// A signing key as stored: its secret is sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    /// Its id, the token header's `kid`.
    pub kid: String,
    /// Its organization.
    pub org_id: OrgId,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The secret, sealed under the master key.
    pub sealed_secret: Vec<u8>,
    /// The Ed25519 public key (EdDSA only).
    pub public_key: Option<Vec<u8>>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops verifying, once a newer key has replaced it; `None` for the signer.
    pub retire_at: Option<Timestamp>,
}

impl fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("org_id", &self.org_id)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("retire_at", &self.retire_at)
            .finish_non_exhaustive()
    }
}

impl SigningKeyRow {
    /// Whether the key still verifies at `now`.
    pub fn is_current(&self, now: Timestamp) -> bool {
        self.retire_at.is_none_or(|at| now < at)
    }
}

/// The associated data that binds a sealed signing secret to its organization and `kid`.
pub(crate) fn signing_key_aad(org_id: OrgId, kid: &str) -> Vec<u8> {
    let mut aad = b"bulkhead/signing-key/v1/".to_vec();
    aad.extend_from_slice(org_id.as_uuid().as_bytes());
    aad.extend_from_slice(kid.as_bytes());
    aad
}

/// What an organization sees of one of its signing keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SigningKeyInfo {
    /// Its id, the token header's `kid`.
    pub kid: String,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops verifying; `None` for the current signer.
    pub retire_at: Option<Timestamp>,
}

impl From<&SigningKeyRow> for SigningKeyInfo {
    fn from(row: &SigningKeyRow) -> Self {
        Self {
            kid: row.kid.clone(),
            algorithm: row.algorithm,
            created_at: row.created_at,
            retire_at: row.retire_at,
        }
    }
}

/// A signing secret revealed to its organization (HS256), for verifying tokens elsewhere.
/// `Debug` never prints it, and its bytes are zeroed when it is dropped.
pub struct RevealedSecret(Zeroizing<Vec<u8>>);

impl RevealedSecret {
    pub(crate) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl ZeroizeOnDrop for RevealedSecret {}

impl fmt::Debug for RevealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RevealedSecret(..)")
    }
}

/// One public key of a JWKS (RFC 7517, `OKP`/`Ed25519` per RFC 8037).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: &'static str,
    /// `Ed25519`.
    pub crv: &'static str,
    /// The public key, base64url.
    pub x: String,
    /// The key id.
    pub kid: String,
    /// `EdDSA`.
    pub alg: &'static str,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// A JSON Web Key Set: the public keys that verify an organization's EdDSA tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    pub(crate) fn ed25519(kid: &str, public_key: &[u8]) -> Self {
        Self {
            kty: "OKP",
            crv: "Ed25519",
            x: URL_SAFE_NO_PAD.encode(public_key),
            kid: kid.to_owned(),
            alg: "EdDSA",
            use_: "sig",
        }
    }
}

/// Parses an optional expiry given in whole seconds from now.
pub(crate) fn check_key_expiry(now: Timestamp, expires_at: Option<Timestamp>) -> Result<()> {
    match expires_at {
        Some(at) if at <= now => Err(Error::invalid_input(
            "expires_at",
            format!("is {at}, which is not in the future"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_key_has_prefix_and_256_bits() {
        let (secret, row) = new_org_key(
            OrgId::random(),
            Timestamp::from_unix_millis(0),
            None,
            KeyRole::Organization,
        )
        .unwrap();
        assert!(secret.expose().starts_with("bh_org_"));
        let encoded = &secret.expose()[ORG_KEY_PREFIX.len()..];
        assert_eq!(URL_SAFE_NO_PAD.decode(encoded).unwrap().len(), 32);
        assert_eq!(row.prefix, secret.prefix());
        assert_eq!(row.hash, hash_org_key(secret.expose()));
        assert!(!format!("{secret:?} {row:?}").contains(encoded));
    }

    #[test]
    fn revoked_or_expired_keys_are_not_usable() {
        let now = Timestamp::from_unix_millis(1_000);
        let (_, mut row) = new_org_key(
            OrgId::random(),
            now,
            Some(now.plus(std::time::Duration::from_secs(1))),
            KeyRole::Worker,
        )
        .unwrap();
        assert!(row.is_usable(now));
        assert!(!row.is_usable(Timestamp::from_unix_millis(2_000)));
        row.expires_at = None;
        row.revoked_at = Some(now);
        assert!(!row.is_usable(now));
    }

    #[test]
    fn worker_key_has_its_own_prefix_and_role() {
        let (secret, row) = new_org_key(
            OrgId::random(),
            Timestamp::from_unix_millis(0),
            None,
            KeyRole::Worker,
        )
        .unwrap();
        assert!(secret.expose().starts_with(WORKER_KEY_PREFIX));
        assert!(looks_like_worker_key(secret.expose()));
        assert!(!looks_like_org_key(secret.expose()));
        assert_eq!(row.role, KeyRole::Worker);
        assert_eq!(row.prefix.len(), PUBLIC_PREFIX_CHARS);
        for role in [KeyRole::Organization, KeyRole::Worker] {
            assert_eq!(role.as_str().parse::<KeyRole>().unwrap(), role);
        }
        assert!(matches!(
            "admin".parse::<KeyRole>(),
            Err(Error::InvalidInput { .. })
        ));
    }
}
