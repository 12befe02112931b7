//! The [`Engine`]: the entry point that authenticates callers and hands out scopes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::audit::Actor;
use crate::credential::{Credential, Held, Revocations, check_token_state};
use crate::denials::{Decision, Denials, outcome_reason};
use crate::error::{Error, ObjectKind, Result, TokenRejection};
use crate::fresh::Fresh;
use crate::guard::{Guard, OrgCtx, Tenant};
use crate::ids::{OrgId, WorkspaceId};
use crate::keys::{
    self, OrgKeySecret, SigningKeyRow, hash_org_key, looks_like_org_key, signing_key_aad,
};
use crate::meter::{Event, Meter};
use crate::model::{OrgSettings, Organization};
use crate::ops::OperationSet;
use crate::org::OrgScope;
use crate::scope::WorkspaceScope;
use crate::secrets::{SealedSecrets, data_key_aad, template_secret_aad};
use crate::store::{SealedItem, Store};
use crate::time::{Clock, Timestamp};
use crate::token::{self, KeyMaterial, ScopedClaims};
use crate::values::Name;
use crate::vault::{DataKey, MasterKey, random_token};

/// How long an unsealed signing key is kept in memory before it is read again, so a rotation
/// made by another process is seen within this time.
pub(crate) const KEY_CACHE_TTL: Duration = Duration::from_secs(60);
/// The most signing keys kept in memory; past it the cache starts over.
const KEY_CACHE_MAX: usize = 10_000;
/// `last_used_at` of an org key is written at most this often.
const KEY_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// How an [`Engine`] runs, besides its store.
#[derive(Debug)]
pub struct EngineConfig {
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// The master key that seals every secret at rest.
    pub master_key: Arc<MasterKey>,
    /// Clock skew tolerated when checking a token's `exp` and `iat`.
    pub token_leeway: Duration,
}

/// A signing key, unsealed and ready, as the engine caches it. Holds key material of one
/// organization and is found only by its `kid`, then checked against the token's `org`.
#[derive(Debug)]
pub(crate) struct LoadedKey {
    pub(crate) kid: String,
    pub(crate) org_id: OrgId,
    pub(crate) material: KeyMaterial,
    pub(crate) retire_at: Option<Timestamp>,
    loaded_at: Timestamp,
}

impl token::VerifyingKey for LoadedKey {
    fn material(&self) -> &KeyMaterial {
        &self.material
    }
}

/// What every scope shares: the store, the clock, the guard, the keys.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) guard: Guard,
    /// The workspace-creation rate limit and the counters, per organization, in memory.
    pub(crate) meter: Meter,
    /// The refusals audited in the last minute, by kind (see [`crate::denials`]).
    denials: Denials,
    /// What this engine revoked, which scopes check on every call (see
    /// [`crate::credential`]).
    pub(crate) revocations: Revocations,
    master_key: RwLock<Arc<MasterKey>>,
    pub(crate) leeway: Duration,
    keys: RwLock<HashMap<String, Arc<LoadedKey>>>,
    /// Issuer and audience of organizations, for offline verification, fresh for
    /// [`KEY_CACHE_TTL`] like the keys.
    audiences: RwLock<HashMap<OrgId, Arc<CachedAudience>>>,
    /// Counts the changes made through this engine that a [`crate::TokenMinter`] must not
    /// outlive: settings, signing keys, a workspace's status or existence.
    generation: AtomicU64,
    /// Workspaces this engine has deleted (until they are purged) or made inactive (until
    /// they are active again): a [`crate::WorkspaceScope`] made before checks here on every
    /// call, so it fails closed at once instead of reaching its workspace's rows.
    retired: RwLock<HashMap<WorkspaceId, Retired>>,
    /// Whether `retired` has any entry: the common case (none) costs one atomic load a call.
    any_retired: AtomicBool,
    /// The organization as the scoped-token flow last read it, fresh like a minter's.
    pub(crate) mint_orgs: Fresh<OrgId, Arc<Organization>>,
    /// The organization's signer as the scoped-token flow last loaded it, fresh like a
    /// minter's.
    pub(crate) mint_signers: Fresh<OrgId, Arc<LoadedKey>>,
    /// How jobs run (see [`crate::jobs`]); changed by [`Engine::set_job_settings`].
    pub(crate) job_settings: RwLock<crate::jobs::JobSettings>,
}

/// What became of a workspace after a scope of it was made; see [`Inner::retired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retired {
    /// Deleted (a tombstone, or merged into another workspace).
    Deleted,
    /// Made inactive.
    Inactive,
}

/// An organization's issuer and audience as read at `loaded_at`.
#[derive(Debug)]
pub(crate) struct CachedAudience {
    issuer: String,
    audience: String,
    /// The longest token lifetime, in seconds.
    max_ttl_secs: i64,
    loaded_at: Timestamp,
}

impl Inner {
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The current master key (it changes only by [`Engine::rotate_master_key`]).
    pub(crate) fn master_key(&self) -> Arc<MasterKey> {
        Arc::clone(&self.master_key.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The tenant workspace's data key, made (and stored sealed) on first use.
    pub(crate) fn data_key(&self, tenant: &Tenant) -> Result<DataKey> {
        let master = self.master_key();
        let aad = data_key_aad(tenant.org_id(), tenant.workspace_id());
        let make = || -> Result<Vec<u8>> {
            let (_, bytes) = DataKey::generate()?;
            master.seal(&bytes, &aad)
        };
        let sealed = self
            .store
            .workspace_data_key(tenant, &make)?
            .ok_or_else(|| Error::not_found(ObjectKind::Workspace, tenant.workspace_id()))?;
        DataKey::from_bytes(&master.open(&sealed, &aad)?)
    }

    /// Appends a denial to the organization's audit chain: `ctx` carries the refused call's
    /// draft, which is marked denied for `reason`. Coalesced: at most one event per (actor,
    /// action, reason) a minute, the rest counted (see [`crate::denials`]). A failure to
    /// append is logged, never turned into the caller's error: the call is refused either
    /// way.
    pub(crate) fn audit_denial(&self, ctx: &OrgCtx, reason: &str) {
        let Some(draft) = ctx.audit() else {
            return;
        };
        let org = ctx.org_id();
        let not_logged =
            match self
                .denials
                .admit(org, &draft.actor, &draft.action, reason, self.now())
            {
                Decision::Write { not_logged } => not_logged,
                Decision::Coalesce => {
                    self.meter.record(org, Event::DenialNotLogged);
                    return;
                }
            };
        let written = draft.clone().denied(&outcome_reason(reason, not_logged));
        if let Err(e) = self.store.append_audit(ctx, &written) {
            self.denials
                .forget(org, &draft.actor, &draft.action, reason);
            tracing::error!(target: "bulkhead::audit", org = %org, action = %draft.action, error = %e, "could not audit a denial");
        }
    }

    pub(crate) fn leeway_ms(&self) -> i64 {
        i64::try_from(self.leeway.as_millis()).unwrap_or(i64::MAX)
    }

    /// Unseals `row` and caches it.
    pub(crate) fn load_key(&self, row: &SigningKeyRow) -> Result<Arc<LoadedKey>> {
        let secret = self
            .master_key()
            .open(&row.sealed_secret, &signing_key_aad(row.org_id, &row.kid))?;
        let material = KeyMaterial::from_secret(row.algorithm, &secret)?;
        let loaded = Arc::new(LoadedKey {
            kid: row.kid.clone(),
            org_id: row.org_id,
            material,
            retire_at: row.retire_at,
            loaded_at: self.now(),
        });
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= KEY_CACHE_MAX {
            keys.clear();
        }
        keys.insert(row.kid.clone(), Arc::clone(&loaded));
        Ok(loaded)
    }

    /// The current (not retired) signing key `kid`, from the cache while fresh.
    pub(crate) fn key_by_kid(&self, kid: &str, now: Timestamp) -> Result<Option<Arc<LoadedKey>>> {
        let cached = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .cloned();
        let key = match cached {
            Some(key) if now < key.loaded_at.plus(KEY_CACHE_TTL) => key,
            _ => match self.store.find_signing_key(kid)? {
                Some(row) if row.kid == kid => self.load_key(&row)?,
                _ => return Ok(None),
            },
        };
        Ok(key.retire_at.is_none_or(|at| now < at).then_some(key))
    }

    /// The organization's issuer and audience, from the cache while fresh.
    fn audience_of(&self, org_id: OrgId, now: Timestamp) -> Result<Arc<CachedAudience>> {
        let cached = self
            .audiences
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&org_id)
            .cloned();
        if let Some(cached) = cached
            && now < cached.loaded_at.plus(KEY_CACHE_TTL)
        {
            return Ok(cached);
        }
        let org = self
            .store
            .get_organization(org_id)?
            .filter(|org| org.id == org_id)
            .ok_or_else(|| Error::not_found(ObjectKind::Organization, org_id))?;
        let loaded = Arc::new(CachedAudience {
            issuer: org.settings.issuer,
            audience: org.settings.audience,
            max_ttl_secs: i64::try_from(org.settings.max_token_ttl.as_secs()).unwrap_or(i64::MAX),
            loaded_at: now,
        });
        let mut audiences = self.audiences.write().unwrap_or_else(|e| e.into_inner());
        if audiences.len() >= KEY_CACHE_MAX {
            audiences.clear();
        }
        audiences.insert(org_id, Arc::clone(&loaded));
        Ok(loaded)
    }

    /// The count of minter-relevant changes so far (see [`Inner::changed`]).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Notes a change of settings, signing keys, or a workspace's status or existence, so
    /// that every [`crate::TokenMinter`] of this engine reads again before its next token.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Notes that `workspace` was deleted or made inactive (`Some`), or is active again or
    /// purged (`None`), through this engine; see [`Inner::retired`].
    pub(crate) fn set_retired(&self, workspace: WorkspaceId, state: Option<Retired>) {
        let mut retired = self.retired.write().unwrap_or_else(|e| e.into_inner());
        match state {
            Some(state) => {
                retired.insert(workspace, state);
            }
            None => {
                retired.remove(&workspace);
            }
        }
        self.any_retired
            .store(!retired.is_empty(), Ordering::Release);
    }

    /// Whether this engine deleted `workspace` or made it inactive since it was last active.
    pub(crate) fn retired(&self, workspace: WorkspaceId) -> Option<Retired> {
        if !self.any_retired.load(Ordering::Acquire) {
            return None;
        }
        self.retired
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&workspace)
            .copied()
    }

    /// Drops the organization's issuer and audience from the cache (after a settings change).
    pub(crate) fn forget_audience(&self, org_id: OrgId) {
        self.changed();
        self.audiences
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&org_id);
    }

    /// Drops the organization's keys from the cache (after a rotation).
    pub(crate) fn forget_keys(&self, org_id: OrgId) {
        self.changed();
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, key| key.org_id != org_id);
    }

    /// A new signing key of `algorithm` for `org_id`, sealed.
    pub(crate) fn new_signing_key(
        &self,
        org_id: OrgId,
        algorithm: token::Algorithm,
    ) -> Result<SigningKeyRow> {
        let kid = random_token(16)?;
        let (_, secret, public_key) = KeyMaterial::generate(algorithm)?;
        let sealed_secret = self
            .master_key()
            .seal(&secret, &signing_key_aad(org_id, &kid))?;
        Ok(SigningKeyRow {
            kid,
            org_id,
            algorithm,
            sealed_secret,
            public_key,
            created_at: self.now(),
            retire_at: None,
        })
    }

    /// Steps 1 to 5 of the token profile and the organization check: a verified token of the
    /// organization whose key signed it, before any database lookup of its workspace.
    pub(crate) fn verify_signature(&self, token: &str) -> Result<ScopedClaims> {
        self.verify_signature_at(token, self.now())
            .map(|(claims, _)| claims)
    }

    /// [`Inner::verify_signature`] at the time `now`, with the key that signed it.
    pub(crate) fn verify_signature_at(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<(ScopedClaims, Arc<LoadedKey>)> {
        if looks_like_org_key(token) {
            return Err(Error::PermissionDenied {
                operation: "authenticate".to_owned(),
                reason: "this is an org key: use a scoped token for customer operations".to_owned(),
            });
        }
        let (key, claims) = token::verify(token, |_, kid| self.key_by_kid(kid, now))?;
        if claims.org_id != key.org_id {
            return Err(Error::invalid_token(
                TokenRejection::Organization,
                "the token claims another organization than the one whose key signed it",
            ));
        }
        Ok((claims, key))
    }
}

/// Checks `iss` and `aud` against an organization's current values.
pub(crate) fn check_issuer_audience(
    claims: &ScopedClaims,
    issuer: &str,
    audience: &str,
) -> Result<()> {
    if claims.issuer != issuer {
        return Err(Error::invalid_token(
            TokenRejection::Issuer,
            format!("the issuer is `{}`, not `{issuer}`", claims.issuer),
        ));
    }
    if claims.audience != audience {
        return Err(Error::invalid_token(
            TokenRejection::Audience,
            format!("the audience is `{}`, not `{audience}`", claims.audience),
        ));
    }
    Ok(())
}

/// The tenancy engine over one store. Cheap to clone; clones share everything.
///
/// Nothing reaches tenant data without a scope: an [`OrgScope`] for the whole organization
/// (from an org access key), a [`WorkspaceScope`] for one workspace (from a scoped token).
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Engine {
    /// An engine over `store`. Fails if the store's secrets were sealed under another master
    /// key; a new store is bound to this master key.
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Result<Self> {
        let stored = store.master_key_check(&config.master_key.check_value()?)?;
        config.master_key.verify_check_value(&stored)?;
        Ok(Self {
            inner: Arc::new(Inner {
                guard: Guard::new(Arc::clone(&store), Arc::clone(&config.clock)),
                store,
                clock: config.clock,
                meter: Meter::default(),
                denials: Denials::default(),
                revocations: Revocations::default(),
                master_key: RwLock::new(config.master_key),
                leeway: config.token_leeway,
                keys: RwLock::new(HashMap::new()),
                audiences: RwLock::new(HashMap::new()),
                generation: AtomicU64::new(0),
                retired: RwLock::new(HashMap::new()),
                any_retired: AtomicBool::new(false),
                mint_orgs: Fresh::default(),
                mint_signers: Fresh::default(),
                job_settings: RwLock::new(crate::jobs::JobSettings::default()),
            }),
        })
    }

    /// Creates an organization named `name` with default settings. Returns it and its first
    /// org access key, which is shown only now.
    pub fn create_organization(&self, name: &str) -> Result<(Organization, OrgKeySecret)> {
        self.create_organization_with(name, OrgSettings::default())
    }

    /// Creates an organization with the given token settings (for example EdDSA tokens).
    pub fn create_organization_with(
        &self,
        name: &str,
        settings: OrgSettings,
    ) -> Result<(Organization, OrgKeySecret)> {
        settings.validate()?;
        let now = self.inner.now();
        let org = Organization {
            id: OrgId::random(),
            name: Name::parse_field("name", name)?,
            created_at: now,
            settings,
        };
        let (secret, key_row) = keys::new_org_key(org.id, now, None)?;
        let signing = self
            .inner
            .new_signing_key(org.id, org.settings.token_algorithm)?;
        let ctx = OrgCtx::new(org.id).audited(
            now,
            "organization.create",
            None,
            format!("organization:{}", org.id),
        );
        self.inner
            .store
            .insert_organization(&ctx, &org, &key_row, &signing)?;
        Ok((org, secret))
    }

    /// Every organization in the store, oldest first. An operator's listing: it shows names
    /// and ids, no tenant data.
    pub fn organizations(&self) -> Result<Vec<Organization>> {
        self.inner.store.list_organizations()
    }

    /// The scope of the organization whose access key this is. A wrong, revoked or expired
    /// key gets the same answer: "invalid or expired org key".
    pub fn authenticate_org(&self, key: &str) -> Result<OrgScope> {
        if !looks_like_org_key(key) {
            let hint = if key.split('.').count() == 3 {
                " (this looks like a scoped token; organization calls need an org access key)"
            } else {
                ""
            };
            return Err(Error::InvalidOrgKey { hint });
        }
        let invalid = || Error::InvalidOrgKey { hint: "" };
        let now = self.inner.now();
        let hash = hash_org_key(key);
        let row = self
            .inner
            .store
            .find_org_key(&hash)?
            .filter(|row| row.hash == hash)
            .ok_or_else(invalid)?;
        if !row.is_usable(now) {
            // The key is known, so is its organization: the refusal goes into its chain.
            let ctx = OrgCtx::new(row.org_id)
                .with_actor(Actor::OrgKey(row.prefix.clone()))
                .audited(now, "org_key.use", None, format!("org_key:{}", row.id));
            self.inner.audit_denial(&ctx, "revoked or expired org key");
            return Err(invalid());
        }
        if row
            .last_used_at
            .is_none_or(|at| now >= at.plus(KEY_TOUCH_INTERVAL))
        {
            self.inner.store.touch_org_key(row.id, now)?;
        }
        let credential = Held::new(
            Credential::OrgKey {
                id: row.id,
                hash: row.hash,
                expires_at: row.expires_at,
            },
            now,
        );
        self.org_scope(row.org_id, Actor::OrgKey(row.prefix), credential)
    }

    /// Verifies a scoped token and returns the scope of its one workspace, limited to the
    /// operations it grants.
    ///
    /// Offline checks first (shape, header, key, signature, claims, expiry), then one read:
    /// the workspace must exist in the token's organization and be active, the key that
    /// signed the token must still be current as stored (not retired by any process), the
    /// token must not live longer than the organization allows, must not predate the
    /// workspace's "revoke all" time, and its `jti` must not be revoked.
    ///
    /// A refusal after the signature verified (expired, revoked, wrong issuer or audience,
    /// inactive or missing workspace) counts as an invalid token of the signing organization
    /// ([`OrgScope::stats`]).
    pub fn authenticate(&self, token: &str) -> Result<WorkspaceScope> {
        let (claims, key) = self.inner.verify_signature_at(token, self.inner.now())?;
        let (org_id, workspace_id) = (claims.org_id, claims.workspace_id);
        let jti = claims.token_id.clone();
        self.authenticate_verified(claims, &key.kid)
            .inspect_err(|e| {
                let reason = match e {
                    Error::InvalidToken { reason, .. } => match reason {
                        TokenRejection::Revoked => "revoked",
                        TokenRejection::Audience => "wrong audience",
                        TokenRejection::Issuer => "wrong issuer",
                        TokenRejection::NotYetValid => "not yet valid",
                        TokenRejection::UnknownKey => "signing key retired",
                        TokenRejection::Lifetime => "lifetime too long",
                        _ => "invalid token",
                    },
                    Error::TokenExpired { .. } => "expired",
                    Error::WorkspaceInactive { .. } => "workspace inactive",
                    Error::NotFound { .. } => "workspace not found",
                    _ => return,
                };
                self.inner.meter.record(org_id, Event::InvalidToken);
                // The signature verified: the organization is known, so the refusal goes into its
                // chain (under the token's id, never the token). Built only on refusal: this is
                // every request's path.
                let target = format!("token:{jti}");
                let ctx = OrgCtx::new(org_id)
                    .with_actor(Actor::Token(jti.clone()))
                    .audited(self.inner.now(), "token.use", Some(workspace_id), target);
                self.inner.audit_denial(&ctx, reason);
            })
    }

    fn authenticate_verified(&self, claims: ScopedClaims, kid: &str) -> Result<WorkspaceScope> {
        let now = self.inner.now();
        token::check_times(&claims, now, self.inner.leeway_ms())?;
        // A breach found here is the token holder's.
        let tenant = Tenant::new(claims.org_id, claims.workspace_id)
            .with_actor(Actor::Token(claims.token_id.clone()));
        let state = self
            .inner
            .store
            .load_token_state(&tenant, &claims.token_id, kid)?
            .ok_or_else(|| Error::not_found(ObjectKind::Workspace, claims.workspace_id))?;
        let workspace = self.inner.guard.admit(&tenant, state.workspace)?;
        if workspace.is_deleted() {
            return Err(Error::not_found(ObjectKind::Workspace, claims.workspace_id));
        }
        token::check_lifetime(&claims, state.max_ttl_secs)?;
        check_issuer_audience(&claims, &state.issuer, &state.audience)?;
        check_token_state(
            &workspace,
            state.signing_key,
            state.revoked,
            claims.issued_at,
            now,
        )?;
        let credential = Held::new(
            Credential::Token {
                jti: claims.token_id.clone(),
                kid: kid.to_owned(),
                issued_at: claims.issued_at,
                expires_at: claims.expiry(),
                accepted_until: claims.expiry().plus(self.inner.leeway),
                tenant: tenant.duplicate(),
            },
            now,
        );
        Ok(WorkspaceScope::new(
            Arc::clone(&self.inner),
            tenant.with_actor(Actor::Token(claims.token_id.clone())),
            claims.operations,
            Some(claims.token_id),
            credential,
        )
        .with_allowed_origin(claims.allowed_origin))
    }

    /// Verifies a scoped token without using it: signature, claims, expiry, issuer and
    /// audience, but not whether its workspace still exists or it was revoked.
    ///
    /// Offline, like the signing keys: the organization's issuer, audience and longest token
    /// lifetime, and its signing keys, are cached for a minute, so a change of them made by
    /// another process (a key retired with [`OrgScope::retire_signing_key`], say) reaches this
    /// one's `verify_token` within that minute (this process's own changes at once);
    /// [`Engine::authenticate`] always reads them from the database. A token that lives
    /// longer than its organization's longest lifetime is refused
    /// ([`TokenRejection::Lifetime`]).
    pub fn verify_token(&self, token: &str) -> Result<ScopedClaims> {
        let now = self.inner.now();
        let (claims, _) = self.inner.verify_signature_at(token, now)?;
        token::check_times(&claims, now, self.inner.leeway_ms())?;
        let expected = self.inner.audience_of(claims.org_id, now)?;
        token::check_lifetime(&claims, expected.max_ttl_secs)?;
        check_issuer_audience(&claims, &expected.issuer, &expected.audience)?;
        Ok(claims)
    }

    /// **Operator access**: the scope of organization `org_id`, without any credential.
    ///
    /// For the process that owns the database, which can read the file anyway: the
    /// `bulkhead` command line uses it to list organizations' keys and to make a new key for
    /// an organization that lost all of its own. Everything else uses
    /// [`Engine::authenticate_org`].
    pub fn operator_org_scope(&self, org_id: OrgId) -> Result<OrgScope> {
        self.org_scope(org_id, Actor::Operator, Held::operator())
    }

    fn org_scope(&self, org_id: OrgId, actor: Actor, credential: Arc<Held>) -> Result<OrgScope> {
        match self.inner.store.get_organization(org_id)? {
            Some(org) if org.id == org_id => Ok(OrgScope::new(
                Arc::clone(&self.inner),
                OrgCtx::new(org_id).with_actor(actor),
                org,
                credential,
            )),
            Some(_) => Err(self
                .inner
                .guard
                .breach(ObjectKind::Organization, org_id, None, &actor)),
            None => Err(Error::not_found(ObjectKind::Organization, org_id)),
        }
    }

    /// Re-seals everything sealed under the current master key (workspace data keys, signing
    /// keys, template secrets) under `new`, in one transaction, and switches this engine to
    /// `new`. Secret fields of workspaces are not touched: they are sealed with the data keys.
    /// Returns how many values were re-sealed.
    ///
    /// Stop every other process using the database first, and let this engine's calls in
    /// flight finish: others hold the old key and would fail to open what is now sealed under
    /// the new one (or seal new values under the old).
    pub fn rotate_master_key(&self, new: MasterKey) -> Result<u64> {
        // Held for the whole rotation: no call of this engine seals or opens anything under
        // the old key while its values move to the new one.
        let mut current = self
            .inner
            .master_key
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let old = Arc::clone(&current);
        let new = Arc::new(new);
        let check = new.check_value()?;
        let move_over = |sealed: &[u8], aad: &[u8]| new.seal(&old.open(sealed, aad)?, aad);
        let count = self
            .inner
            .store
            .reseal_all(&check, &mut |item| match item {
                SealedItem::DataKey {
                    org_id,
                    workspace_id,
                    sealed,
                } => move_over(sealed, &data_key_aad(org_id, workspace_id)),
                SealedItem::SigningKey {
                    org_id,
                    kid,
                    sealed,
                } => move_over(sealed, &signing_key_aad(org_id, kid)),
                SealedItem::TemplateSecrets {
                    org_id,
                    template_id,
                    stored,
                } => Ok(SealedSecrets::from_stored(stored)?
                    .map_sealed(|pointer, sealed| {
                        move_over(sealed, &template_secret_aad(org_id, template_id, pointer))
                    })?
                    .to_stored()
                    .into_bytes()),
            })?;
        *current = new;
        Ok(count)
    }

    /// How many rows of a foreign tenant the guard has refused since this engine started.
    /// Anything but zero is a bug in a storage adapter.
    pub fn isolation_breaches(&self) -> u64 {
        self.inner.guard.breaches()
    }
}

/// The operations an organization has in its own workspaces: all of them.
pub(crate) fn org_operations() -> OperationSet {
    OperationSet::all()
}
