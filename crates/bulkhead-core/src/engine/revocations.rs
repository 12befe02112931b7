//! What this engine revoked, which every scope checks on every call (see
//! [`crate::engine::credential`]).

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::ids::{OrgKeyId, WorkspaceId};

use crate::model::time::Timestamp;

/// The most revoked tokens and workspaces remembered; past it, the oldest knowledge is
/// dropped and the stored state (read within
/// [`RECHECK`](crate::engine::credential::RECHECK)) still refuses them.
const MAX_REMEMBERED: usize = 100_000;

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

    pub(in crate::engine) fn org_key_revoked(&self, id: OrgKeyId) -> bool {
        self.any.load(Ordering::Acquire)
            && self
                .org_keys
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&id)
    }

    pub(in crate::engine) fn token_revoked(
        &self,
        jti: &str,
        workspace: WorkspaceId,
        issued_at: i64,
    ) -> bool {
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

    pub(in crate::engine) fn key_retired(&self, kid: &str) -> bool {
        self.any.load(Ordering::Acquire)
            && self
                .kids
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(kid)
    }
}
