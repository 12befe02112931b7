//! [`OrgScope`]: what an organization may do with its workspaces.

use std::sync::Arc;

use crate::engine::Inner;
use crate::error::{Error, ObjectKind, Result};
use crate::guard::{OrgCtx, Tenant};
use crate::ids::{ExternalId, OrgId, WorkspaceId};
use crate::model::{Organization, Workspace, WorkspaceStatus};
use crate::page::{Page, Paged, Position, paginate};
use crate::scope::WorkspaceScope;
use crate::store::{WorkspaceFilter, WorkspaceUpdate};
use crate::values::Name;

/// Access to one organization: its workspaces, and a [`WorkspaceScope`] for any of them.
#[derive(Debug)]
pub struct OrgScope {
    inner: Arc<Inner>,
    org: OrgCtx,
    organization: Organization,
}

/// The result of [`OrgScope::get_or_create_workspace`].
#[derive(Clone, Debug, PartialEq)]
pub struct GetOrCreated {
    /// The workspace for the external id.
    pub workspace: Workspace,
    /// Whether this call created it.
    pub created: bool,
}

impl Clone for OrgScope {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            org: self.org.duplicate(),
            organization: self.organization.clone(),
        }
    }
}

impl OrgScope {
    pub(crate) fn new(inner: Arc<Inner>, org: OrgCtx, organization: Organization) -> Self {
        Self {
            inner,
            org,
            organization,
        }
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
    pub fn get_or_create_workspace(&self, external_id: &ExternalId) -> Result<GetOrCreated> {
        let now = self.inner.now();
        let candidate = Workspace {
            id: WorkspaceId::random(),
            org_id: self.org.org_id(),
            external_id: external_id.clone(),
            name: Name::parse_field("name", external_id.as_str())?,
            status: WorkspaceStatus::Active,
            created_at: now,
            updated_at: now,
        };
        let (workspace, created) = self
            .inner
            .store
            .get_or_create_workspace(&self.org, &candidate)?;
        let workspace = self.inner.guard.admit_org(&self.org, workspace)?;
        if workspace.external_id != *external_id {
            return Err(self
                .inner
                .guard
                .breach(ObjectKind::Workspace, self.org.org_id(), None));
        }
        if created {
            tracing::info!(target: "bulkhead::workspace", org = %self.org.org_id(), workspace = %workspace.id, "workspace created");
        }
        Ok(GetOrCreated { workspace, created })
    }

    /// The workspace of the customer `external_id`.
    pub fn workspace_by_external_id(&self, external_id: &ExternalId) -> Result<Workspace> {
        let found = self.inner.store.find_workspace(&self.org, external_id)?;
        self.inner
            .guard
            .admit_org_opt(&self.org, found)?
            .filter(|w| w.external_id == *external_id)
            .ok_or_else(|| Error::ExternalIdNotFound {
                external_id: external_id.to_string(),
            })
    }

    /// The workspace `id` of this organization; another organization's is not found.
    pub fn get_workspace(&self, id: WorkspaceId) -> Result<Workspace> {
        let found = self.inner.store.get_workspace(&self.org, id)?;
        self.inner
            .guard
            .admit_org_opt(&self.org, found)?
            .filter(|w| w.id == id)
            .ok_or_else(|| Error::not_found(ObjectKind::Workspace, id))
    }

    /// A page of the organization's workspaces matching `filter`, ordered by external id.
    pub fn list_workspaces(
        &self,
        filter: &WorkspaceFilter,
        page: &Page,
    ) -> Result<Paged<Workspace>> {
        let limit = page.checked_limit()?;
        let after = match page.cursor().map(|c| c.position()) {
            None => None,
            Some(Position::ExternalId(ext)) => Some(ext),
            Some(Position::Created { .. }) => {
                return Err(Error::invalid_input(
                    "cursor",
                    "belongs to another kind of list",
                ));
            }
        };
        let rows =
            self.inner
                .store
                .list_workspaces(&self.org, filter, after, limit.saturating_add(1))?;
        let rows = rows
            .into_iter()
            .map(|w| self.inner.guard.admit_org(&self.org, w))
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(rows, limit, |w| {
            Position::ExternalId(w.external_id.clone())
        }))
    }

    /// Renames the workspace `id` or changes its status.
    pub fn update_workspace(&self, id: WorkspaceId, update: &WorkspaceUpdate) -> Result<Workspace> {
        // Read through the guard first: an id outside the organization never reaches a write.
        self.get_workspace(id)?;
        let now = self.inner.now();
        let updated = self
            .inner
            .store
            .update_workspace(&self.org, id, update, now)?;
        self.inner
            .guard
            .admit_org_opt(&self.org, updated)?
            .filter(|w| w.id == id)
            .ok_or_else(|| Error::not_found(ObjectKind::Workspace, id))
    }

    /// A scope confined to the workspace `id` of this organization.
    pub fn workspace(&self, id: WorkspaceId) -> Result<WorkspaceScope> {
        let workspace = self.get_workspace(id)?;
        Ok(WorkspaceScope::new(
            Arc::clone(&self.inner),
            Tenant::new(self.org.org_id(), workspace.id),
        ))
    }
}
