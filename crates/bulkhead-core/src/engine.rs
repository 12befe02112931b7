//! The [`Engine`]: the entry point that hands out scopes.

use std::sync::Arc;

use crate::error::{Error, ObjectKind, Result};
use crate::guard::{Guard, OrgCtx};
use crate::ids::OrgId;
use crate::model::Organization;
use crate::org::OrgScope;
use crate::store::Store;
use crate::time::{Clock, Timestamp};
use crate::values::Name;

/// What every scope shares: the store, the clock and the guard.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) guard: Guard,
}

impl Inner {
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// The tenancy engine over one store. Cheap to clone; clones share everything.
///
/// Nothing reaches tenant data without a scope: an [`OrgScope`] for the whole organization, a
/// [`crate::WorkspaceScope`] for one workspace.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// An engine over `store`, reading time from `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                guard: Guard::default(),
            }),
        }
    }

    /// Creates an organization named `name`.
    pub fn create_organization(&self, name: &str) -> Result<Organization> {
        let org = Organization {
            id: OrgId::random(),
            name: Name::parse_field("name", name)?,
            created_at: self.inner.now(),
        };
        self.inner.store.insert_organization(&org)?;
        Ok(org)
    }

    /// Every organization in the store, oldest first. An operator's listing: it shows names
    /// and ids, no tenant data.
    pub fn organizations(&self) -> Result<Vec<Organization>> {
        self.inner.store.list_organizations()
    }

    /// **Operator access**: the scope of organization `org_id`, without any credential.
    ///
    /// This is for the process that owns the database (the `bulkhead` command line, a host's
    /// own admin code), which can read the file anyway. Org access keys replace it for
    /// everything else.
    pub fn operator_org_scope(&self, org_id: OrgId) -> Result<OrgScope> {
        match self.inner.store.get_organization(org_id)? {
            Some(org) if org.id == org_id => Ok(OrgScope::new(
                Arc::clone(&self.inner),
                OrgCtx::new(org_id),
                org,
            )),
            Some(_) => Err(self
                .inner
                .guard
                .breach(ObjectKind::Organization, org_id, None)),
            None => Err(Error::not_found(ObjectKind::Organization, org_id)),
        }
    }

    /// How many rows of a foreign tenant the guard has refused since this engine started.
    /// Anything but zero is a bug in a storage adapter.
    pub fn isolation_breaches(&self) -> u64 {
        self.inner.guard.breaches()
    }
}
