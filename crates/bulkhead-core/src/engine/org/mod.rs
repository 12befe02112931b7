//! [`OrgScope`]: what an organization may do with its workspaces.

mod audit;
mod catalog;
pub(crate) mod lifecycle;
pub(crate) mod minter;
pub(crate) mod overview;

use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditDraft;
use crate::crypto::keys::{
    self, Jwk, Jwks, KeyRole, OrgKeyInfo, OrgKeySecret, RevealedSecret, SigningKeyInfo,
    SigningKeyRow, check_key_expiry, signing_key_aad,
};
use crate::engine::credential::Held;
use crate::engine::meter::Event;
use crate::engine::org::minter::{MintGrant, Prepared, TokenMinter, jti, jti_prefix};
use crate::engine::rows::{OrgRows, TenantRows};
use crate::engine::shared::{Inner, KEY_CACHE_TTL, LoadedKey, Retired, org_operations};
use crate::engine::workspace::WorkspaceScope;
use crate::error::{Error, ObjectKind, Result, TokenRejection};
use crate::model::algorithm::Algorithm;
use crate::model::ids::{ExternalId, OrgId, OrgKeyId, WorkspaceId};
use crate::model::names::Name;
use crate::model::objects::{GetOrCreated, OrgSettings, Organization, Workspace, WorkspaceStatus};
use crate::model::operations::OperationSet;
use crate::model::page::{Page, Paged, Position, paginate};
use crate::model::time::Timestamp;
use crate::port::store::{WorkspaceFilter, WorkspaceUpdate};
use crate::port::tenant::{OrgCtx, Tenant};
use crate::token::request::{IssuedToken, ScopedTokenRequest};
use crate::token::{FixedClaims, MintTemplate};

/// Access to one organization: its workspaces, and a [`WorkspaceScope`] for any of them.
#[derive(Debug)]
pub struct OrgScope {
    pub(crate) inner: Arc<Inner>,
    pub(crate) org: OrgCtx,
    organization: Organization,
    /// The org key it was made from, checked before every store call (see
    /// [`crate::engine::credential`]).
    pub(crate) credential: Arc<Held>,
}

/// What a scoped-token request records as issued (see [`OrgScope::scoped_token`]).
#[derive(Clone, Copy, Debug)]
enum Issuance {
    /// One token.
    Token,
    /// A [`TokenMinter`].
    Minter,
}

impl Clone for OrgScope {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            org: self.org.duplicate(),
            organization: self.organization.clone(),
            credential: Arc::clone(&self.credential),
        }
    }
}

impl OrgScope {
    pub(crate) fn new(
        inner: Arc<Inner>,
        org: OrgCtx,
        organization: Organization,
        credential: Arc<Held>,
    ) -> Self {
        Self {
            inner,
            org,
            organization,
            credential,
        }
    }

    /// Fails once the org key this scope was made from is revoked or expired (see
    /// [`crate::engine::credential`] for how soon).
    pub(crate) fn live(&self) -> Result<()> {
        self.credential.check(&self.inner)
    }

    /// The guarded handle for the organization's rows, once the scope's credential still
    /// holds: every storage call of an organization's scope goes through here or
    /// [`OrgScope::tenant_rows`] (see [`crate::engine::rows`]).
    pub(crate) fn rows(&self) -> Result<OrgRows<'_>> {
        self.live()?;
        Ok(self.inner.org_rows(&self.org))
    }

    /// The guarded handle for the rows of `tenant`, a workspace of the organization, once the
    /// scope's credential still holds.
    pub(crate) fn tenant_rows<'a>(&'a self, tenant: &'a Tenant) -> Result<TenantRows<'a>> {
        self.live()?;
        Ok(self.inner.tenant_rows(tenant))
    }

    /// The engine's current time.
    pub(crate) fn now(&self) -> Timestamp {
        self.inner.now()
    }

    /// The organization's id.
    pub fn org_id(&self) -> OrgId {
        self.org.org_id()
    }

    /// The organization, as it was when the scope was made.
    pub fn organization(&self) -> &Organization {
        &self.organization
    }

    /// The workspace of the customer `external_id`, created (active, named after the external
    /// id) if the organization has none. Race-free: concurrent calls with one external id, from
    /// any number of threads or processes, get one workspace.
    ///
    /// Creating a workspace is rate limited per organization (see
    /// [`OrgSettings::workspace_creation_rate`]): past the burst, a new external id fails with
    /// [`Error::RateLimited`], while existing workspaces are always returned.
    pub fn get_or_create_workspace(&self, external_id: &ExternalId) -> Result<GetOrCreated> {
        let org = self.reload()?;
        self.get_or_create_with(
            &org.settings,
            external_id,
            &WorkspaceUpdate::default(),
            None,
        )
    }

    /// Get-or-create that also applies `update` (tag selections) in the same transaction,
    /// under the organization's workspace-creation rate limit.
    fn get_or_create_with(
        &self,
        settings: &OrgSettings,
        external_id: &ExternalId,
        update: &WorkspaceUpdate,
        issuance: Option<AuditDraft>,
    ) -> Result<GetOrCreated> {
        let org_id = self.org.org_id();
        let meter = &self.inner.meter;
        // A creation is reserved before the call that may create; when the bucket is empty
        // only an existing workspace may be served, so look first.
        let reserved = match meter.take(org_id, settings, self.inner.now()) {
            Ok(()) => true,
            Err(retry_after) => {
                let exists = self
                    .rows()?
                    .workspace_by_external_id(external_id)?
                    .is_some();
                if !exists {
                    meter.record(org_id, Event::RateLimited);
                    self.inner.audit_denial(
                        &self.org.audited(
                            self.inner.now(),
                            "workspace.create",
                            None,
                            format!("external_id:{external_id}"),
                        ),
                        "rate limited",
                    );
                    tracing::warn!(target: "bulkhead::workspace", org = %org_id, retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX), "workspace creation rate limited");
                    return Err(Error::RateLimited { retry_after });
                }
                false
            }
        };
        let result = self.create_or_get(external_id, update, issuance);
        match &result {
            Ok(GetOrCreated { created: true, .. }) if !reserved => {
                // Seen existing, gone, and created in between: owed to the bucket.
                meter.charge(org_id, settings, self.inner.now());
            }
            Ok(GetOrCreated { created: true, .. }) => {}
            _ if reserved => meter.give_back(org_id, settings),
            _ => {}
        }
        if let Ok(GetOrCreated { created: true, .. }) = &result {
            meter.record(org_id, Event::WorkspaceCreated);
        }
        result
    }

    fn create_or_get(
        &self,
        external_id: &ExternalId,
        update: &WorkspaceUpdate,
        issuance: Option<AuditDraft>,
    ) -> Result<GetOrCreated> {
        let now = self.inner.now();
        let candidate = Workspace {
            id: WorkspaceId::random(),
            org_id: self.org.org_id(),
            external_id: external_id.clone(),
            name: match &update.name {
                Some(name) => name.clone(),
                None => Name::parse_field("name", external_id.as_str())?,
            },
            status: update.status.unwrap_or(WorkspaceStatus::Active),
            source_tags: update.source_tags.clone().unwrap_or_default(),
            connection_tags: update.connection_tags.clone().unwrap_or_default(),
            tokens_valid_after: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            merged_into: None,
        };
        // Audited when it creates (or, with `update`, changes) the workspace.
        let mut audited = self.org.audited(
            now,
            "workspace.create",
            Some(candidate.id),
            format!("external_id:{external_id}"),
        );
        if let Some(issuance) = issuance {
            audited = audited.with_issuance(issuance);
        }
        let GetOrCreated { workspace, created } = self
            .rows()?
            .get_or_create_workspace(&audited, &candidate, update)?;
        if created {
            tracing::info!(target: "bulkhead::workspace", org = %self.org.org_id(), workspace = %workspace.id, "workspace created");
        }
        if workspace.is_deleted() {
            // A merged customer's external id leads to the workspace it was merged into.
            let target = self.resolve_tombstone(&workspace)?;
            let target = if update.changes(&target) {
                self.update_workspace(target.id, update)?
            } else {
                target
            };
            return Ok(GetOrCreated {
                workspace: target,
                created: false,
            });
        }
        Ok(GetOrCreated { workspace, created })
    }

    /// What a tombstone's external id answers: the workspace it was merged into, or "deleted".
    fn resolve_tombstone(&self, tombstone: &Workspace) -> Result<Workspace> {
        match tombstone.merged_into {
            Some(target) => self.get_workspace(target),
            None => Err(Error::WorkspaceDeleted {
                external_id: tombstone.external_id.to_string(),
            }),
        }
    }

    /// The workspace of the customer `external_id`: for a customer merged into another
    /// workspace, that one; for a deleted one (until purged), [`Error::WorkspaceDeleted`].
    pub fn workspace_by_external_id(&self, external_id: &ExternalId) -> Result<Workspace> {
        let workspace = self
            .rows()?
            .workspace_by_external_id(external_id)?
            .ok_or_else(|| Error::ExternalIdNotFound {
                external_id: external_id.to_string(),
            })?;
        if workspace.is_deleted() {
            return self.resolve_tombstone(&workspace);
        }
        Ok(workspace)
    }

    /// The live workspace `id` of this organization; another organization's, or a deleted
    /// one, is not found.
    pub fn get_workspace(&self, id: WorkspaceId) -> Result<Workspace> {
        self.get_any_workspace(id)?
            .filter(|w| !w.is_deleted())
            .ok_or_else(|| Error::not_found(ObjectKind::Workspace, id))
    }

    /// The workspace `id` of this organization, live or a tombstone, through the guard.
    pub(crate) fn get_any_workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        self.rows()?.workspace(id)
    }

    /// A page of the organization's workspaces matching `filter`, ordered by external id.
    ///
    /// [`WorkspaceFilter::name_contains`] is at most 255 characters without control
    /// characters (invalid input otherwise); it matches names ignoring the case of ASCII
    /// letters, in the store's query.
    pub fn list_workspaces(
        &self,
        filter: &WorkspaceFilter,
        page: &Page,
    ) -> Result<Paged<Workspace>> {
        let limit = page.checked_limit()?;
        let lowered;
        let filter = match filter.name_contains.as_deref() {
            None => filter,
            Some(text) => {
                lowered = WorkspaceFilter {
                    name_contains: Some(name_needle(text)?),
                    ..filter.clone()
                };
                &lowered
            }
        };
        let after = match page.cursor().map(|c| c.position()) {
            None => None,
            Some(Position::ExternalId(ext)) => Some(ext),
            Some(Position::Created { .. } | Position::Sequence(_)) => {
                return Err(Error::invalid_input(
                    "cursor",
                    "belongs to another kind of list",
                ));
            }
        };
        let rows = self
            .rows()?
            .workspaces(filter, after, limit.saturating_add(1))?;
        Ok(paginate(rows, limit, |w| {
            Position::ExternalId(w.external_id.clone())
        }))
    }

    /// Renames the workspace `id` or changes its status. Making it inactive pauses its
    /// connections (they become inactive) and refuses its tokens and scopes; making it active
    /// again resumes exactly the connections it paused.
    pub fn update_workspace(&self, id: WorkspaceId, update: &WorkspaceUpdate) -> Result<Workspace> {
        // Read through the guard first: an id outside the organization never reaches a write.
        self.get_workspace(id)?;
        let now = self.inner.now();
        let audited =
            self.org
                .audited(now, "workspace.update", Some(id), format!("workspace:{id}"));
        let updated = self
            .rows()?
            .update_workspace(&audited, id, update, now, || self.inner.changed())?
            .ok_or_else(|| Error::not_found(ObjectKind::Workspace, id))?;
        if update.status.is_some() {
            let retired =
                (updated.status == WorkspaceStatus::Inactive).then_some(Retired::Inactive);
            self.inner.set_retired(id, retired);
        }
        Ok(updated)
    }

    /// A scope confined to the workspace `id` of this organization, with every workspace
    /// operation. For an inactive workspace the scope only reads: every change fails with
    /// [`Error::WorkspaceInactive`] until the workspace is active again. A deleted workspace
    /// is not found.
    pub fn workspace(&self, id: WorkspaceId) -> Result<WorkspaceScope> {
        let workspace = self.get_workspace(id)?;
        let active = workspace.status == WorkspaceStatus::Active;
        Ok(WorkspaceScope::new(
            Arc::clone(&self.inner),
            Tenant::new(self.org.org_id(), workspace.id).with_actor(self.org.actor().clone()),
            if active {
                org_operations()
            } else {
                OperationSet::read_only()
            },
            None,
            Arc::clone(&self.credential),
        )
        .inactive(!active))
    }

    /// The organization as stored now (its settings may have changed since this scope was
    /// made).
    pub fn reload(&self) -> Result<Organization> {
        self.live()?;
        self.inner.organization(self.org.org_id(), self.org.actor())
    }

    /// The organization of one call that makes the change `action` on `target`, to be
    /// audited.
    pub(crate) fn audit_as(
        &self,
        action: &str,
        workspace: Option<WorkspaceId>,
        target: impl Into<String>,
    ) -> OrgCtx {
        self.org
            .audited(self.inner.now(), action, workspace, target)
    }

    /// Appends the event `action` on `target` to the organization's chain, alone: for what
    /// changes nothing stored but must leave a trace (a secret revealed, a token issued). A
    /// failure is the caller's error, so nothing is handed out unaudited.
    pub(crate) fn audit_event(
        &self,
        action: &str,
        workspace: Option<WorkspaceId>,
        target: impl Into<String>,
    ) -> Result<()> {
        let ctx = self.audit_as(action, workspace, target);
        if let Some(draft) = ctx.audit() {
            self.live()?;
            self.inner.org_rows(&ctx).append_audit(draft)?;
        }
        Ok(())
    }

    /// Replaces the organization's token settings. A new algorithm takes effect through a new
    /// signing key, made at once; tokens of the old key keep working until it retires.
    pub fn update_settings(&self, settings: &OrgSettings) -> Result<Organization> {
        settings.validate()?;
        let before = self.reload()?;
        let audited = self.org.audited(
            self.inner.now(),
            "organization.update_settings",
            None,
            format!("organization:{}", self.org.org_id()),
        );
        let org = self.rows()?.update_settings(&audited, settings)?;
        self.inner.forget_audience(org.id);
        if before.settings.token_algorithm != settings.token_algorithm {
            self.rotate_signing_key()?;
        }
        Ok(org)
    }

    /// Makes a new org access key, optionally expiring at `expires_at`. The secret is shown
    /// only now.
    pub fn create_key(&self, expires_at: Option<Timestamp>) -> Result<(OrgKeyInfo, OrgKeySecret)> {
        self.create_key_of(KeyRole::Organization, expires_at, "org_key.create")
    }

    /// Makes a new **worker key** (`bh_wkr_…`), optionally expiring at `expires_at`: a key of
    /// this organization whose only power is the job protocol
    /// ([`crate::Engine::authenticate_worker`]: claim this organization's jobs, heartbeat and
    /// complete them). Every other way in refuses it with [`Error::PermissionDenied`]. It is
    /// listed, revoked and expires like any key. The secret is shown only now. Audited
    /// (`worker_key.create`).
    pub fn create_worker_key(
        &self,
        expires_at: Option<Timestamp>,
    ) -> Result<(OrgKeyInfo, OrgKeySecret)> {
        self.create_key_of(KeyRole::Worker, expires_at, "worker_key.create")
    }

    fn create_key_of(
        &self,
        role: KeyRole,
        expires_at: Option<Timestamp>,
        action: &str,
    ) -> Result<(OrgKeyInfo, OrgKeySecret)> {
        let now = self.inner.now();
        check_key_expiry(now, expires_at)?;
        let (secret, row) = keys::new_org_key(self.org.org_id(), now, expires_at, role)?;
        let audited = self
            .org
            .audited(now, action, None, format!("org_key:{}", row.id));
        self.rows()?.insert_org_key(&audited, &row)?;
        Ok((row.into(), secret))
    }

    /// The organization's access keys, org keys and worker keys (prefixes, roles and dates,
    /// never the keys), oldest first.
    pub fn list_keys(&self) -> Result<Vec<OrgKeyInfo>> {
        let rows = self.rows()?.org_keys()?;
        Ok(rows.into_iter().map(OrgKeyInfo::from).collect())
    }

    /// Revokes the access key `id` (an org key or a worker key); it stops working at once.
    pub fn revoke_key(&self, id: OrgKeyId) -> Result<OrgKeyInfo> {
        // Read through the org check first: another organization's key id never reaches a
        // write.
        if !self.list_keys()?.iter().any(|k| k.id == id) {
            return Err(Error::not_found(ObjectKind::OrgKey, id));
        }
        let now = self.inner.now();
        let row = self.rows()?.revoke_org_key(
            &self
                .org
                .audited(now, "org_key.revoke", None, format!("org_key:{id}")),
            id,
            now,
        )?;
        self.inner.revocations.revoke_org_key(id);
        Ok(row.into())
    }

    /// The organization's signing keys, newest first: the signer (no retirement time), then
    /// older keys that still verify until they retire.
    pub fn signing_keys(&self) -> Result<Vec<SigningKeyInfo>> {
        Ok(self
            .current_signing_keys()?
            .iter()
            .map(SigningKeyInfo::from)
            .collect())
    }

    fn current_signing_keys(&self) -> Result<Vec<SigningKeyRow>> {
        let now = self.inner.now();
        let rows = self.rows()?.signing_keys()?;
        Ok(rows.into_iter().filter(|r| r.is_current(now)).collect())
    }

    /// Makes a new signing key (of the organization's algorithm) the signer. Older keys keep
    /// verifying until their last token can have expired (the maximum TTL plus the leeway),
    /// then retire and are deleted.
    pub fn rotate_signing_key(&self) -> Result<SigningKeyInfo> {
        let org = self.reload()?;
        let now = self.inner.now();
        let row = self
            .inner
            .new_signing_key(org.id, org.settings.token_algorithm)?;
        // A token is accepted through `exp` plus the leeway inclusive (`token::check_times`),
        // and a key stops verifying at `retire_at` itself: retire one millisecond later, so the
        // old key's last token is refused as expired before its key goes.
        let retire_at = now
            .plus(org.settings.max_token_ttl)
            .plus(self.inner.leeway)
            .plus(Duration::from_millis(1));
        let audited = self.org.audited(
            now,
            "signing_key.rotate",
            None,
            format!("signing_key:{}", row.kid),
        );
        self.rows()?
            .rotate_signing_key(&audited, &row, retire_at, now)?;
        self.inner.forget_keys(org.id);
        Ok(SigningKeyInfo::from(&row))
    }

    /// Retires the signing key `kid` at once, for a key that may have leaked: from now on
    /// [`crate::Engine::authenticate`] refuses its tokens in every process (it reads the key's
    /// state with the workspace), and [`crate::Engine::verify_token`] in this process at once
    /// and in others within the minute they cache keys. Retiring the current signer first
    /// makes a new one (a rotation), which is returned; tokens already minted with the
    /// retired key stop working, so the organization's customers need new ones.
    ///
    /// Not found for a key the organization does not have or that has already retired.
    pub fn retire_signing_key(&self, kid: &str) -> Result<Option<SigningKeyInfo>> {
        let not_found = || Error::not_found(ObjectKind::SigningKey, kid);
        if !crate::token::is_plausible_kid(kid) {
            return Err(not_found());
        }
        let org = self.reload()?;
        let row = self
            .current_signing_keys()?
            .into_iter()
            .find(|r| r.kid == kid)
            .ok_or_else(not_found)?;
        let signer = if row.retire_at.is_none() {
            Some(self.rotate_signing_key()?)
        } else {
            None
        };
        let now = self.inner.now();
        let ctx = self.audit_as("signing_key.retire", None, format!("signing_key:{kid}"));
        let retired = self.rows()?.retire_signing_key(&ctx, kid, now);
        self.inner.forget_keys(org.id);
        self.inner.revocations.retire_key(kid);
        if !retired? {
            return Err(not_found());
        }
        tracing::warn!(target: "bulkhead::keys", org = %org.id, kid = %kid, "signing key retired at once");
        Ok(signer)
    }

    /// The public keys of the organization's current EdDSA signing keys, as a JWKS
    /// (RFC 7517). Empty for an organization that signs with HS256 only.
    pub fn jwks(&self) -> Result<Jwks> {
        Ok(Jwks {
            keys: self
                .current_signing_keys()?
                .iter()
                .filter(|r| r.algorithm == Algorithm::EdDsa)
                .filter_map(|r| r.public_key.as_deref().map(|pk| Jwk::ed25519(&r.kid, pk)))
                .collect(),
        })
    }

    /// The secret of the HS256 signing key `kid`, so another service of the organization can
    /// verify its tokens with any JWT library. Handle it like the org key. Audited
    /// (`signing_key.reveal`): if the event cannot be written, nothing is revealed.
    pub fn reveal_hs256_secret(&self, kid: &str) -> Result<RevealedSecret> {
        let row = self
            .current_signing_keys()?
            .into_iter()
            .find(|r| r.kid == kid && r.algorithm == Algorithm::Hs256)
            .ok_or_else(|| Error::not_found(ObjectKind::SigningKey, format!("{kid}` (HS256) `")))?;
        let secret = self
            .inner
            .master_key()
            .open(&row.sealed_secret, &signing_key_aad(row.org_id, &row.kid))?;
        let secret = RevealedSecret::new(secret);
        self.audit_event("signing_key.reveal", None, format!("signing_key:{kid}"))?;
        Ok(secret)
    }

    /// The current signer: the newest key without a retirement time, of the organization's
    /// algorithm. Made on first use for an organization that has none.
    fn signer(&self, org: &Organization) -> Result<Arc<LoadedKey>> {
        let active = self
            .current_signing_keys()?
            .into_iter()
            .find(|r| r.retire_at.is_none() && r.algorithm == org.settings.token_algorithm);
        let row = match active {
            Some(row) => row,
            None => {
                self.rotate_signing_key()?;
                self.current_signing_keys()?
                    .into_iter()
                    .find(|r| r.retire_at.is_none())
                    .ok_or_else(|| Error::crypto("no signing key after rotation"))?
            }
        };
        match self.inner.key_by_kid(&row.kid, self.inner.now())? {
            Some(key) if key.org_id == org.id => Ok(key),
            _ => self.inner.load_key(&row),
        }
    }

    /// [`OrgScope::reload`] for the scoped-token flow: what it returned after the engine's
    /// generation was `generation`, for as long as a minter would keep it (see
    /// [`crate::engine::fresh`]).
    fn reload_for_mint(&self, generation: u64) -> Result<Arc<Organization>> {
        let now = self.inner.now();
        if let Some(org) = self.inner.mint_orgs.get(&self.org_id(), generation, now) {
            // What the read would have checked first: the org key still holds.
            self.live()?;
            return Ok(org);
        }
        let org = Arc::new(self.reload()?);
        self.inner.mint_orgs.put(
            self.org_id(),
            generation,
            now.plus(KEY_CACHE_TTL),
            Arc::clone(&org),
        );
        Ok(org)
    }

    /// [`OrgScope::signer`] for the scoped-token flow: the signer it returned after the
    /// engine's generation was `generation`, for as long as a minter would keep it (a minute,
    /// never past the key's retirement; see [`crate::engine::fresh`]).
    fn signer_for_mint(&self, generation: u64, org: &Organization) -> Result<Arc<LoadedKey>> {
        let now = self.inner.now();
        if let Some(key) = self.inner.mint_signers.get(&org.id, generation, now)
            && key.org_id == org.id
        {
            return Ok(key);
        }
        let key = self.signer(org)?;
        let fresh_until = now.plus(KEY_CACHE_TTL);
        let fresh_until = key.retire_at.map_or(fresh_until, |at| at.min(fresh_until));
        self.inner
            .mint_signers
            .put(org.id, generation, fresh_until, Arc::clone(&key));
        Ok(key)
    }

    /// The scoped-token flow: gets or creates the workspace of `request.external_id`
    /// (race-free), stores the tag selections on it, and mints a token for that one workspace.
    ///
    /// Audited (`token.issue`, target `token:<jti>`, never the token) in the same transaction
    /// as the workspace's creation or new tag selection: a request that fails leaves neither.
    /// A refusal found before that transaction (an inactive workspace, the rate limit, a bad
    /// lifetime) writes no issuance.
    pub fn scoped_token(&self, request: &ScopedTokenRequest) -> Result<IssuedToken> {
        let (minter, created) = self.minter_for(request, Issuance::Token)?;
        let issued = minter.mint()?;
        Ok(IssuedToken {
            workspace_created: created,
            ..issued
        })
    }

    /// Does what [`OrgScope::scoped_token`] does up to the minting (get or create the
    /// workspace, store its tag selections, check the lifetime and the operations) and
    /// returns a [`TokenMinter`] that mints tokens like that one, for that workspace, without
    /// a database read per token. See [`TokenMinter`] for how current it stays.
    ///
    /// Making a minter is audited (`token_minter.create`, target `token_minter:<prefix>`,
    /// the prefix every `jti` it mints starts with), like [`OrgScope::scoped_token`]'s
    /// issuance. The tokens it mints are counted ([`OrgScope::stats`]) and logged (`tracing`,
    /// target `bulkhead::token`), not audited one by one: a minter exists to mint without a
    /// database call.
    pub fn token_minter(&self, request: &ScopedTokenRequest) -> Result<TokenMinter> {
        self.minter_for(request, Issuance::Minter)
            .map(|(minter, _)| minter)
    }

    fn minter_for(
        &self,
        request: &ScopedTokenRequest,
        issuance: Issuance,
    ) -> Result<(TokenMinter, bool)> {
        // Read before anything the minter keeps: a change after this point is seen.
        let generation = self.inner.generation();
        let org = self.reload_for_mint(generation)?;
        let grant = MintGrant {
            ttl: request.ttl,
            operations: request
                .operations
                .unwrap_or_else(OperationSet::scoped_default),
            origin: request.allowed_origin.clone(),
        };
        // Checked before the workspace is made: a bad request creates nothing.
        grant.ttl_secs(&org.settings)?;
        if grant.operations.is_empty() {
            return Err(Error::invalid_input("operations", "must not be empty"));
        }
        let update = WorkspaceUpdate {
            source_tags: request.source_tags.clone(),
            connection_tags: request.connection_tags.clone(),
            ..WorkspaceUpdate::default()
        };
        // Recorded with the workspace's change, unless the workspace is inactive (then no
        // token is issued: `prepare_mint` refuses it).
        let jti_prefix = jti_prefix()?;
        let draft = match issuance {
            Issuance::Token => self.org.audit_draft(
                self.inner.now(),
                "token.issue",
                format!("token:{}", jti(&jti_prefix, 0)),
            ),
            Issuance::Minter => self.org.audit_draft(
                self.inner.now(),
                "token_minter.create",
                format!("token_minter:{jti_prefix}"),
            ),
        };
        let GetOrCreated { workspace, created } =
            self.get_or_create_with(&org.settings, &request.external_id, &update, Some(draft))?;
        let minter = TokenMinter::new(
            self.clone(),
            generation,
            &org,
            &workspace,
            grant,
            jti_prefix,
        )?;
        Ok((minter, created))
    }

    /// What a [`TokenMinter`] needs to mint for `workspace` now: refuses a workspace that is
    /// not active, checks the lifetime against the current settings, loads the signer.
    /// `generation` is the engine's generation read before `org` and `workspace` were.
    pub(crate) fn prepare_mint(
        &self,
        generation: u64,
        org: &Organization,
        workspace: &Workspace,
        grant: &MintGrant,
    ) -> Result<Prepared> {
        if workspace.status != WorkspaceStatus::Active {
            return Err(Error::WorkspaceInactive {
                workspace_id: workspace.id,
            });
        }
        let ttl_secs = grant.ttl_secs(&org.settings)?;
        let key = self.signer_for_mint(generation, org)?;
        let fixed = FixedClaims {
            issuer: &org.settings.issuer,
            audience: &org.settings.audience,
            workspace_id: workspace.id,
            org_id: org.id,
            external_id: &workspace.external_id,
            operations: grant.operations,
            origin: grant.origin.as_ref(),
        };
        let fresh_until = self.inner.now().plus(KEY_CACHE_TTL);
        let fresh_until = key.retire_at.map_or(fresh_until, |at| at.min(fresh_until));
        Ok(Prepared {
            generation,
            fresh_until,
            ttl_secs,
            template: MintTemplate::new(&key.kid.clone(), key, &fixed)?,
        })
    }

    /// Revokes one scoped token of this organization until it expires. The token must verify
    /// (signature and organization); an expired one needs no revoking and is accepted as is.
    pub fn revoke_token(&self, token: &str) -> Result<()> {
        let claims = self.inner.verify_signature(token)?;
        if claims.org_id != self.org.org_id() {
            return Err(Error::invalid_token(
                TokenRejection::Organization,
                "the token belongs to another organization",
            ));
        }
        // `authenticate` accepts a token until `exp` plus the leeway, so it stays on the
        // deny-list (and is not pruned) until then, not just until `exp`.
        let accepted_until = claims.expiry().plus(self.inner.leeway);
        let now = self.inner.now();
        if accepted_until < now {
            return Ok(());
        }
        let workspace = self.get_workspace(claims.workspace_id)?;
        let tenant = Tenant::new(self.org.org_id(), workspace.id)
            .with_actor(self.org.actor().clone())
            .audited(now, "token.revoke", format!("token:{}", claims.token_id));
        self.tenant_rows(&tenant)?
            .revoke_token(&tenant, &claims.token_id, accepted_until, now)?;
        // Scopes this engine made from the token stop at once.
        self.inner
            .revocations
            .revoke_token(&claims.token_id, accepted_until, now);
        Ok(())
    }

    /// Revokes every token of the workspace `id` issued until now. Tokens minted afterwards
    /// work. (Token times have whole seconds: a token minted in the same second as the
    /// revocation is refused too, which fails closed.)
    pub fn revoke_all_tokens(&self, id: WorkspaceId) -> Result<Workspace> {
        self.get_workspace(id)?;
        let now = self.inner.now();
        let updated = self.rows()?.revoke_workspace_tokens(
            &self.org.audited(
                now,
                "workspace.revoke_tokens",
                Some(id),
                format!("workspace:{id}"),
            ),
            id,
            now,
        )?;
        // Scopes this engine made from those tokens stop at once.
        self.inner.revocations.revoke_all(id, now);
        Ok(updated)
    }
}

/// The text a name filter looks for, as the store gets it: checked, ASCII-lowercased.
fn name_needle(text: &str) -> Result<String> {
    let chars = text.chars().count();
    if chars > 255 {
        return Err(Error::invalid_input(
            "name_contains",
            format!("is {chars} characters long; the limit is 255"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            "name_contains",
            "must not contain control characters",
        ));
    }
    Ok(text.to_ascii_lowercase())
}
