//! What every scope of an engine shares: the guarded storage, the clock, the guard, the caches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::audit::Actor;
use crate::crypto::keys::{
    SigningKeyRow, looks_like_org_key, looks_like_worker_key, signing_key_aad,
};
use crate::crypto::secrets::data_key_aad;
use crate::crypto::vault::{DataKey, MasterKey, random_token};
use crate::engine::denials::{Decision, Denials, outcome_reason};
use crate::engine::fresh::Fresh;
use crate::engine::guard::Guard;
use crate::engine::meter::{Event, Meter};
use crate::engine::revocations::Revocations;
use crate::engine::rows::{JobRows, OrgRows, Storage, TenantRows};
use crate::error::{Error, ObjectKind, Result, TokenRejection};
use crate::model::ids::{OrgId, WorkspaceId};
use crate::model::objects::Organization;
use crate::model::operations::OperationSet;
use crate::model::time::{Clock, Timestamp};
use crate::port::tenant::{OrgCtx, Tenant};
use crate::token::{self, KeyMaterial, ScopedClaims};

/// How long an unsealed signing key is kept in memory before it is read again, so a rotation
/// made by another process is seen within this time.
pub(crate) const KEY_CACHE_TTL: Duration = Duration::from_secs(60);
/// The most signing keys kept in memory; past it the cache starts over.
const KEY_CACHE_MAX: usize = 10_000;

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

/// What every scope shares: the storage (reached only through its guarded handles), the
/// clock, the guard, the keys.
#[derive(Debug)]
pub(crate) struct Inner {
    /// The store, behind guarded handles (see [`crate::engine::rows`]).
    pub(crate) storage: Storage,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) guard: Guard,
    /// The workspace-creation rate limit and the counters, per organization, in memory.
    pub(crate) meter: Meter,
    /// The refusals audited in the last minute, by kind (see [`crate::engine::denials`]).
    pub(super) denials: Denials,
    /// What this engine revoked, which scopes check on every call (see
    /// [`crate::engine::credential`]).
    pub(crate) revocations: Revocations,
    pub(super) master_key: RwLock<Arc<MasterKey>>,
    pub(crate) leeway: Duration,
    pub(super) keys: RwLock<HashMap<String, Arc<LoadedKey>>>,
    /// Issuer and audience of organizations, for offline verification, fresh for
    /// [`KEY_CACHE_TTL`] like the keys.
    pub(super) audiences: RwLock<HashMap<OrgId, Arc<CachedAudience>>>,
    /// Counts the changes made through this engine that a [`crate::TokenMinter`] must not
    /// outlive: settings, signing keys, a workspace's status or existence.
    pub(super) generation: AtomicU64,
    /// Workspaces this engine has deleted (until they are purged) or made inactive (until
    /// they are active again): a [`crate::WorkspaceScope`] made before checks here on every
    /// call, so it fails closed at once instead of reaching its workspace's rows.
    pub(super) retired: RwLock<HashMap<WorkspaceId, Retired>>,
    /// Whether `retired` has any entry: the common case (none) costs one atomic load a call.
    pub(super) any_retired: AtomicBool,
    /// The organization as the scoped-token flow last read it, fresh like a minter's.
    pub(crate) mint_orgs: Fresh<OrgId, Arc<Organization>>,
    /// The organization's signer as the scoped-token flow last loaded it, fresh like a
    /// minter's.
    pub(crate) mint_signers: Fresh<OrgId, Arc<LoadedKey>>,
    /// How jobs run (see [`crate::port::jobs`]); changed by [`crate::Engine::set_job_settings`].
    pub(crate) job_settings: RwLock<crate::port::jobs::JobSettings>,
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
    pub(super) issuer: String,
    pub(super) audience: String,
    /// The longest token lifetime, in seconds.
    pub(super) max_ttl_secs: i64,
    loaded_at: Timestamp,
}

impl Inner {
    /// The guarded handle for calls inside `tenant`'s workspace.
    pub(crate) fn tenant_rows<'a>(&'a self, tenant: &'a Tenant) -> TenantRows<'a> {
        self.storage.tenant(&self.guard, tenant)
    }

    /// The guarded handle for the job queue's calls inside `tenant`'s workspace;
    /// [`Error::NoJobQueue`] if the store has no queue.
    pub(crate) fn job_rows<'a>(&'a self, tenant: &'a Tenant) -> Result<JobRows<'a>> {
        self.storage.jobs(&self.guard, tenant)
    }

    /// The guarded handle for calls about the organization `org`.
    pub(crate) fn org_rows<'a>(&'a self, org: &'a OrgCtx) -> OrgRows<'a> {
        self.storage.org(&self.guard, org)
    }

    /// The organization `id` for a scope of it acting as `actor` (see
    /// [`Storage::organization`]).
    pub(crate) fn organization(&self, id: OrgId, actor: &Actor) -> Result<Organization> {
        self.storage.organization(&self.guard, id, actor)
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The current master key (it changes only by [`crate::Engine::rotate_master_key`]).
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
        let sealed = self.tenant_rows(tenant).sealed_data_key(&make)?;
        DataKey::from_bytes(&master.open(&sealed, &aad)?)
    }

    /// Appends a denial to the organization's audit chain: `ctx` carries the refused call's
    /// draft, which is marked denied for `reason`. Coalesced: at most one event per (actor,
    /// action, reason) a minute, the rest counted (see [`crate::engine::denials`]). A failure to
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
        if let Err(e) = self.org_rows(ctx).append_audit(&written) {
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
            _ => match self.storage.system().find_signing_key(kid)? {
                Some(row) => self.load_key(&row)?,
                None => return Ok(None),
            },
        };
        Ok(key.retire_at.is_none_or(|at| now < at).then_some(key))
    }

    /// The organization's issuer and audience, from the cache while fresh.
    pub(super) fn audience_of(&self, org_id: OrgId, now: Timestamp) -> Result<Arc<CachedAudience>> {
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
            .storage
            .system()
            .get_organization(org_id)?
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
        if looks_like_worker_key(token) {
            return Err(crate::engine::worker_key_refused("authenticate"));
        }
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

/// The operations an organization has in its own workspaces: all of them.
pub(crate) fn org_operations() -> OperationSet {
    OperationSet::all()
}
