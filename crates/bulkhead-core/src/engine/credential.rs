//! What a scope was made from, checked on every call: a scope follows its credential.
//!
//! An [`crate::OrgScope`] is made from an org access key (or by the operator), a
//! [`crate::WorkspaceScope`] from a scoped token (or by an organization's scope, whose
//! credential it shares), and a host may keep one for a long session. So a scope checks its
//! credential before every call, not only when it is made:
//!
//! - **Without a read**, at once: a token's expiry (`exp` plus the leeway); an org key's
//!   expiry; and what this engine revoked since: the token (`OrgScope::revoke_token`), every
//!   token of its workspace (`revoke_all_tokens`), the org key (`revoke_key`), the signing key
//!   (`retire_signing_key`).
//! - **With a read, at most once a minute** ([`RECHECK`]) per scope: the credential as stored,
//!   as `authenticate` and `authenticate_org` read it (a token's revocation, its workspace's
//!   "revoke all" time, status and existence, its signing key's retirement; an org key's
//!   revocation and expiry). So a revocation made by **another process** reaches a scope of
//!   this one within a minute, and never later than the credential's own expiry.
//!
//! The operator's scopes have no credential and are not checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::crypto::keys::KeyRole;
use crate::engine::revocations::Revocations;
use crate::engine::shared::Inner;
use crate::error::{Error, Result, TokenRejection};
use crate::model::ids::OrgKeyId;
use crate::model::objects::{Workspace, WorkspaceStatus};
use crate::port::tenant::Tenant;

use crate::model::time::Timestamp;

/// How often a scope reads its credential again.
pub(crate) const RECHECK: Duration = Duration::from_secs(60);

/// A scope's credential.
#[derive(Debug)]
pub(crate) enum Credential {
    /// The operator: no credential.
    Operator,
    /// An org access key, or a worker key (its role says which; a worker key is held only by
    /// a [`crate::Worker`]).
    OrgKey {
        id: OrgKeyId,
        /// SHA-256 of the key, to read it again.
        hash: [u8; 32],
        expires_at: Option<Timestamp>,
        /// What it was accepted as; the stored row must still say so.
        role: KeyRole,
    },
    /// A scoped token.
    Token {
        jti: String,
        kid: String,
        /// `iat`, in seconds.
        issued_at: i64,
        /// `exp`.
        expires_at: Timestamp,
        /// `exp` plus the leeway: the last moment `authenticate` accepts it.
        accepted_until: Timestamp,
        /// Its one workspace.
        tenant: Tenant,
    },
}

/// A credential and when it was last read from the store; shared by a scope's clones.
#[derive(Debug)]
pub(crate) struct Held {
    credential: Credential,
    checked_at: AtomicI64,
}

impl Held {
    /// `credential`, read from the store at `now`.
    pub(crate) fn new(credential: Credential, now: Timestamp) -> Arc<Self> {
        Arc::new(Self {
            credential,
            checked_at: AtomicI64::new(now.unix_millis()),
        })
    }

    /// The operator's.
    pub(crate) fn operator() -> Arc<Self> {
        Self::new(Credential::Operator, Timestamp::from_unix_millis(0))
    }

    /// Fails if the credential no longer holds now (see the module docs).
    pub(crate) fn check(&self, inner: &Inner) -> Result<()> {
        let now = inner.now();
        self.check_known(&inner.revocations, now)?;
        let checked_at = Timestamp::from_unix_millis(self.checked_at.load(Ordering::Acquire));
        if now < checked_at.plus(RECHECK) || matches!(self.credential, Credential::Operator) {
            return Ok(());
        }
        self.check_stored(inner, now)?;
        self.checked_at.store(now.unix_millis(), Ordering::Release);
        Ok(())
    }

    /// The checks without a read.
    fn check_known(&self, revocations: &Revocations, now: Timestamp) -> Result<()> {
        match &self.credential {
            Credential::Operator => Ok(()),
            Credential::OrgKey { id, expires_at, .. } => {
                if expires_at.is_some_and(|at| now >= at) || revocations.org_key_revoked(*id) {
                    return Err(Error::InvalidOrgKey { hint: "" });
                }
                Ok(())
            }
            Credential::Token {
                jti,
                kid,
                issued_at,
                expires_at,
                accepted_until,
                tenant,
            } => {
                if now > *accepted_until {
                    return Err(Error::TokenExpired {
                        expired_at: *expires_at,
                    });
                }
                if revocations.token_revoked(jti, tenant.workspace_id(), *issued_at) {
                    return Err(Error::invalid_token(
                        TokenRejection::Revoked,
                        "this token was revoked",
                    ));
                }
                if revocations.key_retired(kid) {
                    return Err(retired());
                }
                Ok(())
            }
        }
    }

    /// The checks against the credential as stored now, as `authenticate` and
    /// `authenticate_org` make them.
    fn check_stored(&self, inner: &Inner, now: Timestamp) -> Result<()> {
        match &self.credential {
            Credential::Operator => Ok(()),
            Credential::OrgKey { hash, role, .. } => {
                match inner.storage.system().find_org_key(hash)? {
                    Some(row) if row.role == *role && row.is_usable(now) => Ok(()),
                    _ => Err(Error::InvalidOrgKey { hint: "" }),
                }
            }
            Credential::Token {
                jti,
                kid,
                issued_at,
                tenant,
                ..
            } => {
                let state = inner.tenant_rows(tenant).token_state(jti, kid)?;
                check_token_state(
                    &state.workspace,
                    state.signing_key,
                    state.revoked,
                    *issued_at,
                    now,
                )
            }
        }
    }
}

/// What `authenticate` checks of a token against its stored state (`signing_key` and
/// `revoked` as `TokenState` has them), once its workspace is admitted and live: the
/// signing key is still current as stored (a key retired by any process stops its tokens),
/// the workspace is active, and the token is not revoked, by its id or with every token of
/// its workspace. `issued_at` is the token's `iat`, in seconds.
pub(crate) fn check_token_state(
    workspace: &Workspace,
    signing_key: Option<Option<Timestamp>>,
    revoked: bool,
    issued_at: i64,
    now: Timestamp,
) -> Result<()> {
    let current = |retire_at: Option<Timestamp>| retire_at.is_none_or(|at| now < at);
    if !signing_key.is_some_and(current) {
        return Err(retired());
    }
    if workspace.status != WorkspaceStatus::Active {
        return Err(Error::WorkspaceInactive {
            workspace_id: workspace.id,
        });
    }
    // `iat` has whole seconds: a token stamped with the second of the revocation may have
    // been issued before it, so it is refused too (fails closed).
    if let Some(after) = workspace.tokens_valid_after
        && issued_at.saturating_mul(1000) <= after.unix_millis()
    {
        return Err(Error::invalid_token(
            TokenRejection::Revoked,
            format!("every token of this workspace issued before {after} was revoked"),
        ));
    }
    if revoked {
        return Err(Error::invalid_token(
            TokenRejection::Revoked,
            "this token was revoked",
        ));
    }
    Ok(())
}

fn retired() -> Error {
    Error::invalid_token(
        TokenRejection::UnknownKey,
        "the key that signed this token was retired",
    )
}
