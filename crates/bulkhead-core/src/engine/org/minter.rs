//! [`TokenMinter`]: scoped tokens for one workspace, minted without a database read each.
//!
//! [`OrgScope::scoped_token`] takes the organization and its signing key from caches as
//! fresh as a minter's, but reads the workspace and appends its `token.issue` audit event in
//! one write transaction every time; that commit costs twenty to thirty times the signing
//! (`benches/README.md`, "Session 7"). A host that hands out many
//! tokens for the same workspace (one per session of each of the customer's users) makes a
//! minter once and mints from it. [`OrgScope::scoped_token`] is itself a minter used once,
//! so both write the same tokens.
//!
//! A minter keeps what it read for at most a minute (`KEY_CACHE_TTL`, the minute for which a
//! verifier caches a signing key), never past its key's retirement, and never past a change
//! made through the same [`crate::Engine`] to the organization's settings or signing keys
//! or to any workspace's status or existence; then it reads again, and refuses to mint for
//! a workspace that is no longer active. A change made by another process is seen within
//! that minute. A token it mints in that minute for a workspace another process has just
//! deactivated or deleted is still refused by [`crate::Engine::authenticate`], which reads
//! the workspace on every call. A token it mints in that minute with a key another process
//! has just rotated out may outlive the key's retirement (which allows for tokens of the
//! longest lifetime minted at the rotation): it is then refused up to that minute, less the
//! leeway, before its `exp`. Refused early, never accepted late.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::vault::random_bytes;
use crate::engine::meter::Event;
use crate::engine::org::OrgScope;
use crate::engine::shared::LoadedKey;
use crate::error::{Error, Result};
use crate::model::ids::WorkspaceId;
use crate::model::objects::OrgSettings;
use crate::model::operations::OperationSet;
use crate::model::origin::AllowedOrigin;
use crate::model::time::Timestamp;
use crate::token::MintTemplate;
use crate::token::request::{IssuedToken, ScopedToken};

/// What every token of a minter grants, as requested.
#[derive(Clone, Debug)]
pub(crate) struct MintGrant {
    /// The lifetime; `None` is the organization's default at the time of minting.
    pub(crate) ttl: Option<Duration>,
    pub(crate) operations: OperationSet,
    /// The `origin` claim, if any.
    pub(crate) origin: Option<AllowedOrigin>,
}

impl MintGrant {
    /// The lifetime in seconds, checked against `settings`.
    pub(crate) fn ttl_secs(&self, settings: &OrgSettings) -> Result<i64> {
        let ttl = self.ttl.unwrap_or(settings.default_token_ttl);
        if ttl.as_secs() == 0 || ttl > settings.max_token_ttl {
            return Err(Error::invalid_input(
                "ttl",
                format!(
                    "is {} s; this organization allows 1 to {} s",
                    ttl.as_secs(),
                    settings.max_token_ttl.as_secs()
                ),
            ));
        }
        Ok(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
    }
}

/// What a minter read, and until when it may use it.
pub(crate) struct Prepared {
    /// [`crate::engine::shared::Inner::generation`] when it was read.
    pub(crate) generation: u64,
    /// It is read again from this time on.
    pub(crate) fresh_until: Timestamp,
    pub(crate) ttl_secs: i64,
    pub(crate) template: MintTemplate<Arc<LoadedKey>>,
}

/// Mints scoped tokens for one workspace, each like the one [`OrgScope::scoped_token`] would
/// mint for the same request, without reading the database for each (see the module docs
/// for how current it stays). Made by [`OrgScope::token_minter`]; can be shared between
/// threads.
///
/// Every token has its own `jti`: a random 96-bit prefix drawn when the minter is made,
/// followed by a counter, so that tokens stay unique without a system call each.
pub struct TokenMinter {
    scope: OrgScope,
    workspace_id: WorkspaceId,
    grant: MintGrant,
    /// The base64url of the 12 random bytes every `jti` of this minter starts with.
    jti_prefix: String,
    minted: AtomicU64,
    current: RwLock<Arc<Prepared>>,
}

impl TokenMinter {
    /// A minter from what the scoped-token flow read, after `generation` (see
    /// [`OrgScope::prepare_mint`]).
    pub(crate) fn new(
        scope: OrgScope,
        generation: u64,
        org: &crate::model::objects::Organization,
        workspace: &crate::model::objects::Workspace,
        grant: MintGrant,
        jti_prefix: String,
    ) -> Result<Self> {
        let prepared = scope.prepare_mint(generation, org, workspace, &grant)?;
        Ok(Self {
            scope,
            workspace_id: workspace.id,
            grant,
            jti_prefix,
            minted: AtomicU64::new(0),
            current: RwLock::new(Arc::new(prepared)),
        })
    }

    /// The one workspace its tokens grant.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// A new token, valid from now for the requested lifetime.
    ///
    /// Fails with [`Error::WorkspaceInactive`] or [`Error::NotFound`] once the workspace is
    /// inactive or deleted (as far as this minter has read), and with the error of
    /// [`OrgScope::scoped_token`] when the organization's settings no longer allow the
    /// requested lifetime.
    pub fn mint(&self) -> Result<IssuedToken> {
        // No store call per token, but the org key that made the minter must still hold.
        self.scope.live()?;
        let inner = &self.scope.inner;
        let now = inner.now();
        let prepared = self.prepared(now)?;
        let issued_at = now.unix_millis().div_euclid(1000);
        let expires_at = issued_at.saturating_add(prepared.ttl_secs);
        let jti = self.next_jti();
        let token = prepared.template.mint(issued_at, expires_at, &jti)?;
        let org_id = self.scope.org.org_id();
        tracing::info!(target: "bulkhead::token", org = %org_id, workspace = %self.workspace_id, jti = %jti, "scoped token issued");
        inner.meter.record(org_id, Event::TokenIssued);
        Ok(IssuedToken {
            token: ScopedToken::new(token),
            workspace_id: self.workspace_id,
            expires_at: Timestamp::from_unix_millis(expires_at.saturating_mul(1000)),
            token_id: jti,
            workspace_created: false,
        })
    }

    /// What was read, read again first if it is no longer current.
    fn prepared(&self, now: Timestamp) -> Result<Arc<Prepared>> {
        let current = Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()));
        if now < current.fresh_until && current.generation == self.scope.inner.generation() {
            return Ok(current);
        }
        // The generation first: a change made while the rest is read is seen next time.
        let generation = self.scope.inner.generation();
        let org = self.scope.reload()?;
        let workspace = self.scope.get_workspace(self.workspace_id)?;
        let fresh = Arc::new(
            self.scope
                .prepare_mint(generation, &org, &workspace, &self.grant)?,
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// The prefix and the count of tokens minted so far, as base64url.
    fn next_jti(&self) -> String {
        jti(
            &self.jti_prefix,
            self.minted.fetch_add(1, Ordering::Relaxed),
        )
    }
}

/// A new minter's `jti` prefix: 12 random bytes, as base64url.
pub(crate) fn jti_prefix() -> Result<String> {
    let mut prefix = [0u8; 12];
    random_bytes(&mut prefix)?;
    Ok(URL_SAFE_NO_PAD.encode(prefix))
}

/// The `jti` of the `n`-th token (from 0) of the minter with `prefix`.
pub(crate) fn jti(prefix: &str, n: u64) -> String {
    let mut jti = String::with_capacity(prefix.len() + 11);
    jti.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(n.to_be_bytes(), &mut jti);
    jti
}

impl fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMinter")
            .field("org_id", &self.scope.org.org_id())
            .field("workspace_id", &self.workspace_id)
            .field("operations", &self.grant.operations)
            .field("ttl", &self.grant.ttl)
            .field("allowed_origin", &self.grant.origin)
            .finish_non_exhaustive()
    }
}
