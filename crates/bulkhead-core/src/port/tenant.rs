//! The tenant handles every port call takes: a [`Tenant`] for one workspace, an [`OrgCtx`]
//! for an organization (layer L1 of the design; see [`crate::engine::guard`]).

use crate::audit::{Actor, AuditDraft};
use crate::model::ids::{OrgId, WorkspaceId};
use crate::model::objects::{Workspace, WorkspaceStatus};
use crate::model::time::Timestamp;

/// The workspace a tenant call runs for. Made only by the engine; see the module docs.
///
/// It also says who makes the call, and may carry the [`AuditDraft`] of the change the call
/// makes: a storage adapter appends it to the organization's audit chain in the call's
/// transaction when the call changes something (see [`crate::audit`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Tenant {
    org_id: OrgId,
    workspace_id: WorkspaceId,
    actor: Actor,
    audit: Option<AuditDraft>,
}

impl Tenant {
    pub(crate) fn new(org_id: OrgId, workspace_id: WorkspaceId) -> Self {
        Self {
            org_id,
            workspace_id,
            actor: Actor::Operator,
            audit: None,
        }
    }

    /// The same tenant, acting as `actor`.
    pub(crate) fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// A second handle on the same tenant and actor, for the engine's own use (a cloned
    /// scope); without an audit draft.
    pub(crate) fn duplicate(&self) -> Self {
        Self::new(self.org_id, self.workspace_id).with_actor(self.actor.clone())
    }

    /// A handle for one call that makes the change `action` on `target`, to be audited.
    pub(crate) fn audited(&self, at: Timestamp, action: &str, target: impl Into<String>) -> Self {
        let mut tenant = self.duplicate();
        tenant.audit = Some(AuditDraft::ok(
            at,
            &self.actor,
            action,
            Some(self.workspace_id),
            target,
        ));
        tenant
    }

    /// The organization of the workspace.
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// The workspace every read and write of this call is confined to.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// Who makes the call.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The event to append to the organization's audit chain in the call's transaction, if
    /// the call changes something.
    pub fn audit(&self) -> Option<&AuditDraft> {
        self.audit.as_ref()
    }
}

/// The organization an organization-level call runs for. Made only by the engine. Like
/// [`Tenant`], it says who makes the call and may carry an audit draft.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct OrgCtx {
    org_id: OrgId,
    actor: Actor,
    audit: Option<AuditDraft>,
    issuance: Option<AuditDraft>,
}

impl OrgCtx {
    pub(crate) fn new(org_id: OrgId) -> Self {
        Self {
            org_id,
            actor: Actor::Operator,
            audit: None,
            issuance: None,
        }
    }

    /// The same handle, also carrying the issuance event of a token (see
    /// [`OrgCtx::issuance_for`]).
    pub(crate) fn with_issuance(mut self, draft: AuditDraft) -> Self {
        self.issuance = Some(draft);
        self
    }

    /// The same organization, acting as `actor`.
    pub(crate) fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    pub(crate) fn duplicate(&self) -> Self {
        Self::new(self.org_id).with_actor(self.actor.clone())
    }

    /// A handle for one call that makes the change `action` on `target` (in `workspace`, if
    /// any), to be audited.
    pub(crate) fn audited(
        &self,
        at: Timestamp,
        action: &str,
        workspace: Option<WorkspaceId>,
        target: impl Into<String>,
    ) -> Self {
        let mut org = self.duplicate();
        org.audit = Some(AuditDraft::ok(at, &self.actor, action, workspace, target));
        org
    }

    /// An event of this organization's actor: `action` on `target`, at `at`.
    pub(crate) fn audit_draft(
        &self,
        at: Timestamp,
        action: &str,
        target: impl Into<String>,
    ) -> AuditDraft {
        AuditDraft::ok(at, &self.actor, action, None, target)
    }

    /// The organization every read and write of this call is confined to.
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// Who makes the call.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The event to append to the organization's audit chain in the call's transaction, if
    /// the call changes something.
    pub fn audit(&self) -> Option<&AuditDraft> {
        self.audit.as_ref()
    }

    /// The issuance of a token (or of a token minter) for `workspace`, the workspace this
    /// call got or created: an event to append in the call's transaction **whatever the call
    /// changes** (only `WorkspaceStore::get_or_create_workspace` carries one), so that a failed
    /// request leaves neither the workspace's change nor the issuance. `None` without one, or
    /// for a live workspace that is inactive: no token is issued for it.
    pub fn issuance_for(&self, workspace: &Workspace) -> Option<AuditDraft> {
        if !workspace.is_deleted() && workspace.status != WorkspaceStatus::Active {
            return None;
        }
        self.issuance.as_ref().map(|draft| AuditDraft {
            workspace_id: Some(workspace.id),
            ..draft.clone()
        })
    }

    /// Whether the call carries an issuance event (see [`OrgCtx::issuance_for`]).
    pub fn has_issuance(&self) -> bool {
        self.issuance.is_some()
    }

    /// The same handle, audit and issuance events included, for an adapter whose write runs
    /// on another thread than the call's (SQLite's group commit) and must own what it uses.
    /// The copy stands for the same one call: the adapter writes its events once.
    pub fn clone_for_write(&self) -> Self {
        Self {
            org_id: self.org_id,
            actor: self.actor.clone(),
            audit: self.audit.clone(),
            issuance: self.issuance.clone(),
        }
    }
}
