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

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::engine::Inner;
use crate::error::{Error, ObjectKind, Result, TokenRejection};
use crate::guard::Tenant;
use crate::ids::{OrgKeyId, WorkspaceId};
use crate::model::{Workspace, WorkspaceStatus};

use crate::time::Timestamp;

/// How often a scope reads its credential again.
pub(crate) const RECHECK: Duration = Duration::from_secs(60);
/// The most revoked tokens and workspaces remembered; past it, the oldest knowledge is
/// dropped and the stored state (read within [`RECHECK`]) still refuses them.
const MAX_REMEMBERED: usize = 100_000;

/// A scope's credential.
#[derive(Debug)]
pub(crate) enum Credential {
    /// The operator: no credential.
    Operator,
    /// An org access key.
    OrgKey {
        id: OrgKeyId,
        /// SHA-256 of the key, to read it again.
        hash: [u8; 32],
        expires_at: Option<Timestamp>,
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
            Credential::OrgKey { hash, .. } => match inner.store.find_org_key(hash)? {
                Some(row) if row.hash == *hash && row.is_usable(now) => Ok(()),
                _ => Err(Error::InvalidOrgKey { hint: "" }),
            },
            Credential::Token {
                jti,
                kid,
                issued_at,
                tenant,
                ..
            } => {
                let workspace_id = tenant.workspace_id();
                let not_found = || Error::not_found(ObjectKind::Workspace, workspace_id);
                let state = inner
                    .store
                    .load_token_state(tenant, jti, kid)?
                    .ok_or_else(not_found)?;
                let workspace = inner.guard.admit(tenant, state.workspace)?;
                if workspace.is_deleted() {
                    return Err(not_found());
                }
                check_token_state(
                    &workspace,
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

/// What this engine revoked: org keys, tokens, every token of a workspace until a time,
/// signing keys. In memory; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    /// Whether anything was revoked: the common case (nothing) costs one atomic load a call.
    any: AtomicBool,
    org_keys: RwLock<HashSet<OrgKeyId>>,
    /// By `jti`: until when `authenticate` would accept the token (for pruning).
    tokens: RwLock<HashMap<String, Timestamp>>,
    /// Every token of the workspace issued until this time.
    workspaces: RwLock<HashMap<WorkspaceId, Timestamp>>,
    kids: RwLock<HashSet<String>>,
}

impl Revocations {
    fn note(&self) {
        self.any.store(true, Ordering::Release);
    }

    pub(crate) fn revoke_org_key(&self, id: OrgKeyId) {
        self.org_keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id);
        self.note();
    }

    pub(crate) fn revoke_token(&self, jti: &str, accepted_until: Timestamp, now: Timestamp) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_REMEMBERED {
            tokens.retain(|_, until| *until >= now);
            if tokens.len() >= MAX_REMEMBERED {
                tokens.clear();
            }
        }
        tokens.insert(jti.to_owned(), accepted_until);
        drop(tokens);
        self.note();
    }

    pub(crate) fn revoke_all(&self, workspace: WorkspaceId, at: Timestamp) {
        let mut workspaces = self.workspaces.write().unwrap_or_else(|e| e.into_inner());
        if workspaces.len() >= MAX_REMEMBERED {
            workspaces.clear();
        }
        workspaces.insert(workspace, at);
        drop(workspaces);
        self.note();
    }

    pub(crate) fn retire_key(&self, kid: &str) {
        let mut kids = self.kids.write().unwrap_or_else(|e| e.into_inner());
        if kids.len() >= MAX_REMEMBERED {
            kids.clear();
        }
        kids.insert(kid.to_owned());
        drop(kids);
        self.note();
    }

    fn org_key_revoked(&self, id: OrgKeyId) -> bool {
        self.any.load(Ordering::Acquire)
            && self
                .org_keys
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&id)
    }

    fn token_revoked(&self, jti: &str, workspace: WorkspaceId, issued_at: i64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        if self
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(jti)
        {
            return true;
        }
        // As `authenticate`: `iat` has whole seconds, so a token of the revocation's second
        // is refused too.
        self.workspaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&workspace)
            .is_some_and(|after| issued_at.saturating_mul(1000) <= after.unix_millis())
    }

    fn key_retired(&self, kid: &str) -> bool {
        self.any.load(Ordering::Acquire)
            && self
                .kids
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(kid)
    }
}
