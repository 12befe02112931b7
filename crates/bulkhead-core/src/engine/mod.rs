//! The [`Engine`]: the entry point that authenticates callers and hands out scopes.

mod catalog;
mod credential;
mod denials;
mod fresh;
pub mod guard;
pub(crate) mod meter;
pub(crate) mod org;
mod revocations;
mod rows;
pub(crate) mod scheduler;
mod shared;
pub(crate) mod token_cache;
pub(crate) mod worker;
pub(crate) mod workspace;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::audit::Actor;
use crate::crypto::keys::{
    self, KeyRole, OrgKeyRow, OrgKeySecret, hash_org_key, looks_like_org_key,
    looks_like_worker_key, signing_key_aad,
};
use crate::crypto::secrets::{SealedSecrets, data_key_aad, template_secret_aad};
use crate::crypto::vault::MasterKey;
use crate::engine::credential::{Credential, Held, check_token_state};
use crate::engine::denials::Denials;
use crate::engine::fresh::Fresh;
use crate::engine::guard::Guard;
use crate::engine::meter::{Event, Meter};
use crate::engine::org::OrgScope;
use crate::engine::revocations::Revocations;
use crate::engine::rows::Storage;
use crate::engine::shared::Inner;
use crate::engine::worker::Worker;
use crate::engine::workspace::WorkspaceScope;
use crate::error::{Error, Result, TokenRejection};
use crate::model::ids::OrgId;
use crate::model::names::Name;
use crate::model::objects::{OrgSettings, Organization};
use crate::model::time::Clock;
use crate::port::store::SealedItem;
use crate::port::tenant::{OrgCtx, Tenant};
use crate::token::{self, ScopedClaims};

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

/// The refusal of a worker key by every way in but the job protocol; `operation` names the
/// way it tried.
pub(crate) fn worker_key_refused(operation: &str) -> Error {
    Error::PermissionDenied {
        operation: operation.to_owned(),
        reason: "this is a worker key: it may only claim, heartbeat and complete jobs (the \
                 job protocol); organization calls need an org key, and a customer's calls a \
                 scoped token"
            .to_owned(),
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
    pub fn new(store: Arc<dyn crate::port::store::Store>, config: EngineConfig) -> Result<Self> {
        // From here on the store is reached only through guarded handles (see `rows`).
        let storage = Storage::new(store);
        let stored = storage
            .system()
            .master_key_check(&config.master_key.check_value()?)?;
        config.master_key.verify_check_value(&stored)?;
        Ok(Self {
            inner: Arc::new(Inner {
                guard: Guard::new(storage.audit_port(), Arc::clone(&config.clock)),
                storage,
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
                job_settings: RwLock::new(crate::port::jobs::JobSettings::default()),
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
        let (secret, key_row) = keys::new_org_key(org.id, now, None, KeyRole::Organization)?;
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
            .org_rows(&ctx)
            .insert_organization(&org, &key_row, &signing)?;
        Ok((org, secret))
    }

    /// Every organization in the store, oldest first. An operator's listing: it shows names
    /// and ids, no tenant data.
    pub fn organizations(&self) -> Result<Vec<Organization>> {
        self.inner.storage.system().list_organizations()
    }

    /// The scope of the organization whose access key this is. A wrong, revoked or expired
    /// key gets the same answer: "invalid or expired org key".
    ///
    /// A worker key (see [`OrgScope::create_worker_key`]) is refused with
    /// [`Error::PermissionDenied`], saying it serves the job protocol only: by its text at
    /// once, and by its stored role should its text ever say otherwise.
    pub fn authenticate_org(&self, key: &str) -> Result<OrgScope> {
        if looks_like_worker_key(key) {
            return Err(worker_key_refused("organization access"));
        }
        if !looks_like_org_key(key) {
            let hint = if key.split('.').count() == 3 {
                " (this looks like a scoped token; organization calls need an org access key)"
            } else {
                ""
            };
            return Err(Error::InvalidOrgKey { hint });
        }
        let (row, credential) = self.usable_key(key, &[KeyRole::Organization], "")?;
        self.org_scope(row.org_id, Actor::OrgKey(row.prefix), credential)
    }

    /// A worker of the organization whose worker key (or org key) this is: it may claim that
    /// organization's jobs, heartbeat and complete them, and nothing else (see [`Worker`]).
    /// `name` identifies it to operators. Its claims and completions are audited with the key
    /// as actor (`worker-key:<prefix>`, or `org-key:<prefix>` for an org key).
    ///
    /// An org key is accepted too: it holds the organization's full power, the job protocol
    /// included ([`OrgScope::worker`]), so accepting it grants nothing new, and a worker
    /// deployed with an org key keeps working while it moves to a worker key. A wrong, revoked
    /// or expired key is refused like [`Engine::authenticate_org`] refuses one, and the
    /// worker stops once its key is revoked or expires.
    pub fn authenticate_worker(&self, key: &str, name: &str) -> Result<Worker> {
        const HINT: &str = " (or worker key)";
        if !looks_like_worker_key(key) && !looks_like_org_key(key) {
            let hint = if key.split('.').count() == 3 {
                " (this looks like a scoped token; a worker needs a worker key or an org key)"
            } else {
                HINT
            };
            return Err(Error::InvalidOrgKey { hint });
        }
        let (row, credential) =
            self.usable_key(key, &[KeyRole::Worker, KeyRole::Organization], HINT)?;
        let actor = match row.role {
            KeyRole::Organization => Actor::OrgKey(row.prefix),
            KeyRole::Worker => Actor::WorkerKey(row.prefix),
        };
        // The worker keeps this scope to itself: nothing of `Worker` hands it out, so a worker
        // key reaches the organization only through the job protocol.
        let org = self.org_scope(row.org_id, actor, credential)?;
        Worker::new(Arc::clone(&self.inner), name, Some(org))
    }

    /// The stored row of the key `key` if it works now and has one of the `roles`, with the
    /// credential a scope made from it holds; its last use recorded (at most once a
    /// [`KEY_TOUCH_INTERVAL`]). A key that is known but revoked, expired or of another role is
    /// audited in its organization's chain (`org_key.use`, denied) and refused.
    fn usable_key(
        &self,
        key: &str,
        roles: &[KeyRole],
        hint: &'static str,
    ) -> Result<(OrgKeyRow, Arc<Held>)> {
        let invalid = || Error::InvalidOrgKey { hint };
        let now = self.inner.now();
        let hash = hash_org_key(key);
        let row = self
            .inner
            .storage
            .system()
            .find_org_key(&hash)?
            .ok_or_else(invalid)?;
        let refusal = if !row.is_usable(now) {
            Some(("revoked or expired org key", invalid()))
        } else if !roles.contains(&row.role) {
            Some((
                "worker key outside the job protocol",
                worker_key_refused("organization access"),
            ))
        } else {
            None
        };
        if let Some((reason, err)) = refusal {
            // The key is known, so is its organization: the refusal goes into its chain.
            let actor = match row.role {
                KeyRole::Organization => Actor::OrgKey(row.prefix.clone()),
                KeyRole::Worker => Actor::WorkerKey(row.prefix.clone()),
            };
            let ctx = OrgCtx::new(row.org_id).with_actor(actor).audited(
                now,
                "org_key.use",
                None,
                format!("org_key:{}", row.id),
            );
            self.inner.audit_denial(&ctx, reason);
            return Err(err);
        }
        if row
            .last_used_at
            .is_none_or(|at| now >= at.plus(KEY_TOUCH_INTERVAL))
        {
            self.inner.storage.system().touch_org_key(row.id, now)?;
        }
        let credential = Held::new(
            Credential::OrgKey {
                id: row.id,
                hash: row.hash,
                expires_at: row.expires_at,
                role: row.role,
            },
            now,
        );
        Ok((row, credential))
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
            .tenant_rows(&tenant)
            .token_state(&claims.token_id, kid)?;
        let workspace = state.workspace;
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
        let org = self.inner.organization(org_id, &actor)?;
        Ok(OrgScope::new(
            Arc::clone(&self.inner),
            OrgCtx::new(org_id).with_actor(actor),
            org,
            credential,
        ))
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
            .storage
            .system()
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
