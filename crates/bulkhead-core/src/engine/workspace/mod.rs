//! [`WorkspaceScope`]: everything one customer may do, confined to their workspace.

mod templates;

use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

use crate::crypto::secrets::SealedSecrets;
use crate::engine::credential::Held;
use crate::engine::rows::TenantRows;
use crate::engine::shared::{Inner, Retired};
use crate::error::{Error, ObjectKind, Result};
use crate::model::ids::{
    ConnectionId, ConnectionTemplateId, DestinationId, OrgId, SourceId, SourceTemplateId,
    SyncRunId, WorkspaceId,
};
use crate::model::names::{Connector, ConnectorConfig, Name};
use crate::model::objects::{
    Connection, ConnectionStatus, ConnectionUpdate, ConnectorUpdate, Destination, NewConnection,
    NewDestination, NewSource, Source, SyncOutcome, SyncRun, SyncStatus, Workspace,
};
use crate::model::operations::{Operation, OperationSet};
use crate::model::origin::AllowedOrigin;
use crate::model::page::{Page, Paged, Position, paginate};
use crate::port::store::{EndpointKind, EndpointPatch, EndpointRow, Keyset, SyncFinish};
use crate::port::tenant::{OrgCtx, Tenant};

/// Access to one workspace and nothing else.
///
/// Made only by the engine (from an [`crate::OrgScope`]); holds its tenant privately, and
/// every call it makes to storage is confined to that tenant and checked by the guard. An id
/// of another workspace's object is simply not found. A scope may be cloned and sent to other
/// threads: the tenant travels with it, never through thread-local or ambient state.
pub struct WorkspaceScope {
    pub(crate) inner: Arc<Inner>,
    pub(crate) tenant: Tenant,
    operations: OperationSet,
    token_id: Option<String>,
    /// The `origin` claim of the token it was made from, if any.
    allowed_origin: Option<AllowedOrigin>,
    /// Made by the organization for an inactive workspace: it reads, and refuses changes with
    /// "workspace inactive".
    inactive: bool,
    /// The token (or the organization's org key) it was made from, checked on every call
    /// (see [`crate::engine::credential`]).
    credential: Arc<Held>,
}

impl Clone for WorkspaceScope {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            tenant: self.tenant.duplicate(),
            operations: self.operations,
            token_id: self.token_id.clone(),
            allowed_origin: self.allowed_origin.clone(),
            inactive: self.inactive,
            credential: Arc::clone(&self.credential),
        }
    }
}

impl fmt::Debug for WorkspaceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkspaceScope")
            .field("org_id", &self.tenant.org_id())
            .field("workspace_id", &self.tenant.workspace_id())
            .field("operations", &self.operations)
            .finish_non_exhaustive()
    }
}

/// Sources and destinations share one storage shape; this maps each to it.
pub(crate) trait Endpoint: Sized {
    const KIND: EndpointKind;
    /// The operations that change and delete one.
    const UPDATE: Operation;
    const DELETE: Operation;
    type Id: Copy + fmt::Display;
    fn uuid(id: Self::Id) -> Uuid;
    fn from_row<S>(row: EndpointRow<S>) -> Result<Self>;
}

impl Endpoint for Source {
    const KIND: EndpointKind = EndpointKind::Source;
    const UPDATE: Operation = Operation::UpdateSources;
    const DELETE: Operation = Operation::DeleteSources;
    type Id = SourceId;
    fn uuid(id: SourceId) -> Uuid {
        *id.as_uuid()
    }
    fn from_row<S>(row: EndpointRow<S>) -> Result<Self> {
        Ok(Self {
            id: SourceId::from_uuid(row.id)?,
            org_id: row.org_id,
            workspace_id: row.workspace_id,
            name: row.name,
            connector: row.connector,
            config: row.config,
            template_id: row
                .template_id
                .map(SourceTemplateId::from_uuid)
                .transpose()?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Endpoint for Destination {
    const KIND: EndpointKind = EndpointKind::Destination;
    const UPDATE: Operation = Operation::UpdateDestinations;
    const DELETE: Operation = Operation::DeleteDestinations;
    type Id = DestinationId;
    fn uuid(id: DestinationId) -> Uuid {
        *id.as_uuid()
    }
    fn from_row<S>(row: EndpointRow<S>) -> Result<Self> {
        Ok(Self {
            id: DestinationId::from_uuid(row.id)?,
            org_id: row.org_id,
            workspace_id: row.workspace_id,
            name: row.name,
            connector: row.connector,
            config: row.config,
            template_id: row
                .template_id
                .map(ConnectionTemplateId::from_uuid)
                .transpose()?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn created_after(page: &Page) -> Result<Option<Keyset>> {
    match page.cursor().map(|c| c.position()) {
        None => Ok(None),
        Some(Position::Created { at, id }) => Ok(Some(Keyset { at: *at, id: *id })),
        Some(Position::ExternalId(_) | Position::Sequence(_)) => Err(Error::invalid_input(
            "cursor",
            "belongs to another kind of list",
        )),
    }
}

fn sql_count(field: &'static str, n: u64) -> Result<u64> {
    if i64::try_from(n).is_err() {
        return Err(Error::invalid_input(field, "is larger than 2^63 - 1"));
    }
    Ok(n)
}

impl WorkspaceScope {
    pub(crate) fn new(
        inner: Arc<Inner>,
        tenant: Tenant,
        operations: OperationSet,
        token_id: Option<String>,
        credential: Arc<Held>,
    ) -> Self {
        Self {
            inner,
            tenant,
            operations,
            token_id,
            allowed_origin: None,
            inactive: false,
            credential,
        }
    }

    /// Records the `origin` claim of the token the scope is made from.
    pub(crate) fn with_allowed_origin(mut self, origin: Option<AllowedOrigin>) -> Self {
        self.allowed_origin = origin;
        self
    }

    /// Marks a scope of an inactive workspace (see [`crate::OrgScope::workspace`]).
    pub(crate) fn inactive(mut self, inactive: bool) -> Self {
        self.inactive = inactive;
        self
    }

    /// What this scope may do: a token's `ops`, or every operation for a scope made by the
    /// organization.
    pub fn operations(&self) -> OperationSet {
        self.operations
    }

    /// The `jti` of the token this scope was made from; `None` for a scope made by the
    /// organization.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }

    /// The one browser origin the token this scope was made from may be used from (its
    /// `origin` claim: a widget's token); `None` for any other token and for a scope made by
    /// the organization. The engine does not see requests: a server enforces it (see
    /// `bulkhead-server`'s CORS).
    pub fn allowed_origin(&self) -> Option<&AllowedOrigin> {
        self.allowed_origin.as_ref()
    }

    /// Fails with permission denied unless the scope grants `op`; fails closed if this engine
    /// has deleted the workspace since the scope was made (not found), or made it inactive
    /// (a scope from a token is refused altogether, as its token now is; a scope of the
    /// organization only reads); and fails once the scope's credential no longer holds (its
    /// token expired or was revoked, its org key revoked; see [`crate::engine::credential`]).
    pub(crate) fn require(&self, op: Operation) -> Result<()> {
        self.credential.check(&self.inner)?;
        let workspace_id = self.tenant.workspace_id();
        match self.inner.retired(workspace_id) {
            Some(Retired::Deleted) => {
                return Err(Error::not_found(ObjectKind::Workspace, workspace_id));
            }
            Some(Retired::Inactive)
                if self.token_id.is_some() || !OperationSet::read_only().contains(op) =>
            {
                self.deny(op.as_str(), "workspace inactive");
                return Err(Error::WorkspaceInactive { workspace_id });
            }
            Some(Retired::Inactive) | None => {}
        }
        if self.operations.contains(op) {
            Ok(())
        } else if self.inactive {
            self.deny(op.as_str(), "workspace inactive");
            Err(Error::WorkspaceInactive {
                workspace_id: self.tenant.workspace_id(),
            })
        } else {
            self.inner.meter.record(
                self.tenant.org_id(),
                crate::engine::meter::Event::PermissionDenied,
            );
            self.deny(op.as_str(), "operation not granted by the token");
            Err(Error::PermissionDenied {
                operation: op.as_str().to_owned(),
                reason:
                    "the scoped token does not grant it; ask the organization for a token that does"
                        .to_owned(),
            })
        }
    }

    /// The workspace this scope is confined to.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.tenant.workspace_id()
    }

    /// The organization of the workspace.
    pub fn org_id(&self) -> OrgId {
        self.tenant.org_id()
    }

    /// The workspace row, read now.
    pub fn workspace(&self) -> Result<Workspace> {
        self.require(Operation::ReadWorkspace)?;
        self.workspace_row()
    }

    /// The guarded handle for this workspace's rows: every storage call of the scope goes
    /// through it (see [`crate::engine::rows`]).
    pub(crate) fn rows(&self) -> TenantRows<'_> {
        self.inner.tenant_rows(&self.tenant)
    }

    /// The workspace row through the guard, for the engine's own use (no operation needed).
    pub(crate) fn workspace_row(&self) -> Result<Workspace> {
        self.rows().workspace()
    }

    /// Audits the refusal of `action` in this workspace.
    fn deny(&self, action: &str, reason: &str) {
        let ws = self.tenant.workspace_id();
        let ctx = OrgCtx::new(self.tenant.org_id())
            .with_actor(self.tenant.actor().clone())
            .audited(
                self.inner.now(),
                action,
                Some(ws),
                format!("workspace:{ws}"),
            );
        self.inner.audit_denial(&ctx, reason);
    }

    /// The tenant of one call that makes the change `action` on the object `kind`:`id`.
    pub(crate) fn audited(&self, action: &str, kind: ObjectKind, id: impl fmt::Display) -> Tenant {
        self.tenant
            .audited(self.inner.now(), action, format!("{kind}:{id}"))
    }

    /// Fails unless this scope was made by the organization (not from a scoped token).
    pub(crate) fn require_org_access(&self, what: &str) -> Result<()> {
        match self.token_id {
            None => Ok(()),
            Some(_) => {
                self.inner.meter.record(
                    self.tenant.org_id(),
                    crate::engine::meter::Event::PermissionDenied,
                );
                self.deny(what, "needs organization access");
                Err(Error::PermissionDenied {
                operation: what.to_owned(),
                reason: "this needs organization access; with a scoped token, create sources from templates".to_owned(),
            })
            }
        }
    }

    fn create_endpoint<E: Endpoint>(
        &self,
        name: Name,
        connector: Connector,
        config: ConnectorConfig,
    ) -> Result<E> {
        let now = self.inner.now();
        let row = EndpointRow {
            kind: E::KIND,
            id: Uuid::new_v4(),
            org_id: self.tenant.org_id(),
            workspace_id: self.tenant.workspace_id(),
            name,
            connector,
            config,
            secrets: SealedSecrets::default(),
            template_id: None,
            created_at: now,
            updated_at: now,
        };
        let kind = E::KIND.object_kind();
        self.rows()
            .insert_endpoint(&self.audited(&format!("{kind}.create"), kind, row.id), &row)?;
        E::from_row(row)
    }

    /// The stored row of the source or destination `id`, through the guard.
    pub(crate) fn fetch_endpoint_row<E: Endpoint>(&self, id: E::Id) -> Result<EndpointRow> {
        self.rows().endpoint(E::KIND, E::uuid(id))
    }

    fn get_endpoint<E: Endpoint>(&self, id: E::Id) -> Result<E> {
        E::from_row(self.fetch_endpoint_row::<E>(id)?)
    }

    fn list_endpoints<E: Endpoint>(&self, page: &Page) -> Result<Paged<E>> {
        let limit = page.checked_limit()?;
        let rows = self
            .rows()
            .endpoints(E::KIND, created_after(page)?, limit.saturating_add(1))?;
        let page = paginate(rows, limit, |r| Position::Created {
            at: r.created_at,
            id: r.id,
        });
        Ok(Paged {
            items: page
                .items
                .into_iter()
                .map(E::from_row)
                .collect::<Result<_>>()?,
            next: page.next,
        })
    }

    /// Refuses a customer's change of a destination made from a connection template: it is
    /// the organization's (its configuration and secrets came from the template), and a scope
    /// from a token may read it, masked, but not change or delete it.
    fn require_changeable(&self, row: &EndpointRow, op: Operation) -> Result<()> {
        if row.kind != EndpointKind::Destination
            || row.template_id.is_none()
            || self.token_id.is_none()
        {
            return Ok(());
        }
        self.inner.meter.record(
            self.tenant.org_id(),
            crate::engine::meter::Event::PermissionDenied,
        );
        self.deny(op.as_str(), "destination belongs to the organization");
        Err(Error::PermissionDenied {
            operation: op.as_str().to_owned(),
            reason: "this destination was made from a connection template and belongs to the \
                     organization; ask the organization to change it"
                .to_owned(),
        })
    }

    fn update_endpoint<E: Endpoint>(&self, id: E::Id, update: &ConnectorUpdate) -> Result<E> {
        // Every write by id reads the object through the guard first (see `crate::guard`).
        let current = self.fetch_endpoint_row::<E>(id)?;
        self.require_changeable(&current, E::UPDATE)?;
        let patch = EndpointPatch {
            name: update.name.clone(),
            config: match &update.config {
                Some(config) => Some(self.seal_update(&current, config)?),
                None => None,
            },
        };
        let now = self.inner.now();
        let kind = E::KIND.object_kind();
        let row = self.rows().update_endpoint(
            &self.audited(&format!("{kind}.update"), kind, id),
            E::KIND,
            E::uuid(id),
            &patch,
            now,
        )?;
        E::from_row(row)
    }

    fn delete_endpoint<E: Endpoint>(&self, id: E::Id) -> Result<()> {
        let kind = E::KIND.object_kind();
        let current = self.fetch_endpoint_row::<E>(id)?;
        self.require_changeable(&current, E::DELETE)?;
        self.rows().delete_endpoint(
            &self.audited(&format!("{kind}.delete"), kind, id),
            E::KIND,
            E::uuid(id),
        )
    }

    /// Creates a source from a raw configuration, outside any template. Organization access
    /// only: customers (scoped tokens) create sources from the templates their workspace
    /// sees, with [`WorkspaceScope::create_source_from_template`]. A raw configuration has no
    /// spec, so none of its fields is treated as secret.
    pub fn create_source(&self, request: NewSource) -> Result<Source> {
        self.require(Operation::CreateSources)?;
        self.require_org_access("sources:create")?;
        self.create_endpoint(request.name, request.connector, request.config)
    }

    /// The source `id` of this workspace; any other id is not found.
    pub fn get_source(&self, id: SourceId) -> Result<Source> {
        self.require(Operation::ReadSources)?;
        self.get_endpoint(id)
    }

    /// A page of this workspace's sources, oldest first.
    pub fn list_sources(&self, page: &Page) -> Result<Paged<Source>> {
        self.require(Operation::ReadSources)?;
        self.list_endpoints(page)
    }

    /// Renames the source `id` or replaces its configuration.
    ///
    /// A customer (a scope from a token) who keeps a secret the organization supplied through
    /// the source's template (sending back the mask, or leaving the field out) may not change
    /// any field of the configuration that is not a secret: that would send the
    /// organization's credential elsewhere. The refusal names the field; sending a value of
    /// one's own for the organization's secret lifts it. The customer's own secrets may
    /// change.
    pub fn update_source(&self, id: SourceId, update: &ConnectorUpdate) -> Result<Source> {
        self.require(Operation::UpdateSources)?;
        self.update_endpoint(id, update)
    }

    /// Deletes the source `id`. Refused (conflict) while a connection uses it.
    pub fn delete_source(&self, id: SourceId) -> Result<()> {
        self.require(Operation::DeleteSources)?;
        self.delete_endpoint::<Source>(id)
    }

    /// Creates a destination from a raw configuration, outside any template. Organization
    /// access only; customers get destinations from connection templates. A raw configuration
    /// has no spec, so none of its fields is treated as secret.
    pub fn create_destination(&self, request: NewDestination) -> Result<Destination> {
        self.require(Operation::CreateDestinations)?;
        self.require_org_access("destinations:create")?;
        self.create_endpoint(request.name, request.connector, request.config)
    }

    /// The destination `id` of this workspace; any other id is not found.
    pub fn get_destination(&self, id: DestinationId) -> Result<Destination> {
        self.require(Operation::ReadDestinations)?;
        self.get_endpoint(id)
    }

    /// A page of this workspace's destinations, oldest first.
    pub fn list_destinations(&self, page: &Page) -> Result<Paged<Destination>> {
        self.require(Operation::ReadDestinations)?;
        self.list_endpoints(page)
    }

    /// Renames the destination `id` or replaces its configuration. A destination made from a
    /// connection template is the organization's: a scope from a token may not change it.
    pub fn update_destination(
        &self,
        id: DestinationId,
        update: &ConnectorUpdate,
    ) -> Result<Destination> {
        self.require(Operation::UpdateDestinations)?;
        self.update_endpoint(id, update)
    }

    /// Deletes the destination `id`. Refused (conflict) while a connection uses it; refused to
    /// a scope from a token for a destination made from a connection template.
    pub fn delete_destination(&self, id: DestinationId) -> Result<()> {
        self.require(Operation::DeleteDestinations)?;
        self.delete_endpoint::<Destination>(id)
    }

    /// Creates an active connection from one of this workspace's sources to one of its
    /// destinations. A source or destination id from anywhere else is not found.
    pub fn create_connection(&self, request: NewConnection) -> Result<Connection> {
        self.require(Operation::CreateConnections)?;
        // Resolved through the guard here, and again by the store inside its transaction.
        self.get_endpoint::<Source>(request.source_id)?;
        self.get_endpoint::<Destination>(request.destination_id)?;
        let now = self.inner.now();
        let row = Connection {
            id: ConnectionId::random(),
            org_id: self.tenant.org_id(),
            workspace_id: self.tenant.workspace_id(),
            name: request.name,
            source_id: request.source_id,
            destination_id: request.destination_id,
            status: ConnectionStatus::Active,
            schedule: request.schedule,
            created_at: now,
            updated_at: now,
        };
        self.rows().insert_connection(
            &self.audited("connection.create", ObjectKind::Connection, row.id),
            &row,
        )?;
        Ok(row)
    }

    /// The connection `id` of this workspace; any other id is not found.
    pub fn get_connection(&self, id: ConnectionId) -> Result<Connection> {
        self.require(Operation::ReadConnections)?;
        self.fetch_connection(id)
    }

    pub(crate) fn fetch_connection(&self, id: ConnectionId) -> Result<Connection> {
        self.rows().connection(id)
    }

    /// A page of this workspace's connections, oldest first.
    pub fn list_connections(&self, page: &Page) -> Result<Paged<Connection>> {
        self.require(Operation::ReadConnections)?;
        let limit = page.checked_limit()?;
        let rows = self
            .rows()
            .connections(created_after(page)?, limit.saturating_add(1))?;
        Ok(paginate(rows, limit, |c| Position::Created {
            at: c.created_at,
            id: *c.id.as_uuid(),
        }))
    }

    /// Renames the connection `id`, changes its status or its schedule.
    pub fn update_connection(
        &self,
        id: ConnectionId,
        update: &ConnectionUpdate,
    ) -> Result<Connection> {
        self.require(Operation::UpdateConnections)?;
        self.fetch_connection(id)?;
        let now = self.inner.now();
        self.rows().update_connection(
            &self.audited("connection.update", ObjectKind::Connection, id),
            id,
            update,
            now,
        )
    }

    /// Deletes the connection `id` together with its sync history.
    pub fn delete_connection(&self, id: ConnectionId) -> Result<()> {
        self.require(Operation::DeleteConnections)?;
        self.fetch_connection(id)?;
        self.rows().delete_connection(
            &self.audited("connection.delete", ObjectKind::Connection, id),
            id,
        )
    }

    /// Records the start of a sync run of the connection `connection_id` (status running).
    /// Refused (conflict) for an inactive connection, and with
    /// [`Error::SyncAlreadyRunning`] while another run of the connection is running: the
    /// database keeps at most one running run per connection, so of two concurrent starts
    /// exactly one wins. The new run's id carries a job number
    /// ([`SyncRunId::job_number`]), its id in the Airbyte API.
    pub fn start_sync(&self, connection_id: ConnectionId) -> Result<SyncRun> {
        self.require(Operation::TriggerSyncs)?;
        let connection = self.fetch_connection(connection_id)?;
        if connection.status != ConnectionStatus::Active {
            return Err(Error::conflict(format!(
                "connection `{connection_id}` is inactive; activate it before starting a sync"
            )));
        }
        let row = SyncRun {
            id: SyncRunId::random_job(),
            org_id: self.tenant.org_id(),
            workspace_id: self.tenant.workspace_id(),
            connection_id,
            status: SyncStatus::Running,
            started_at: self.inner.now(),
            finished_at: None,
            rows_synced: 0,
            bytes_synced: 0,
            error: None,
        };
        self.rows().insert_sync_run(
            &self.audited("sync.start", ObjectKind::SyncRun, row.id),
            &row,
        )?;
        Ok(row)
    }

    /// Records how the sync run `id` ended. Refused (conflict) if it has already ended.
    pub fn finish_sync(&self, id: SyncRunId, outcome: SyncOutcome) -> Result<SyncRun> {
        self.require(Operation::TriggerSyncs)?;
        let finish = match outcome {
            SyncOutcome::Succeeded { rows, bytes } => SyncFinish {
                status: SyncStatus::Succeeded,
                finished_at: self.inner.now(),
                rows_synced: sql_count("rows", rows)?,
                bytes_synced: sql_count("bytes", bytes)?,
                error: None,
            },
            SyncOutcome::Failed { error, rows, bytes } => {
                if error.chars().count() > SyncOutcome::MAX_ERROR_CHARS {
                    return Err(Error::invalid_input(
                        "error",
                        format!("is longer than {} characters", SyncOutcome::MAX_ERROR_CHARS),
                    ));
                }
                SyncFinish {
                    status: SyncStatus::Failed,
                    finished_at: self.inner.now(),
                    rows_synced: sql_count("rows", rows)?,
                    bytes_synced: sql_count("bytes", bytes)?,
                    error: Some(error),
                }
            }
            SyncOutcome::Cancelled => SyncFinish {
                status: SyncStatus::Cancelled,
                finished_at: self.inner.now(),
                rows_synced: 0,
                bytes_synced: 0,
                error: None,
            },
        };
        let current = self.fetch_sync_run(id)?;
        if current.status.is_finished() {
            return Err(already_finished(&current));
        }
        let row = self.rows().finish_sync_run(
            &self.audited("sync.finish", ObjectKind::SyncRun, id),
            id,
            &finish,
        )?;
        match row {
            Some(run) => Ok(run),
            // It ended between our read and our write.
            None => Err(already_finished(&self.fetch_sync_run(id)?)),
        }
    }

    /// The sync run `id` of this workspace; any other id is not found.
    pub fn get_sync_run(&self, id: SyncRunId) -> Result<SyncRun> {
        self.require(Operation::ReadSyncs)?;
        self.fetch_sync_run(id)
    }

    fn fetch_sync_run(&self, id: SyncRunId) -> Result<SyncRun> {
        self.rows().sync_run(id)
    }

    /// A page of the sync history of the connection `connection_id`, newest first.
    pub fn list_sync_runs(
        &self,
        connection_id: ConnectionId,
        page: &Page,
    ) -> Result<Paged<SyncRun>> {
        self.require(Operation::ReadSyncs)?;
        let limit = page.checked_limit()?;
        // Resolving the connection first makes a foreign connection id not-found rather than
        // an empty history.
        self.fetch_connection(connection_id)?;
        let rows =
            self.rows()
                .sync_runs(connection_id, created_after(page)?, limit.saturating_add(1))?;
        Ok(paginate(rows, limit, |r| Position::Created {
            at: r.started_at,
            id: *r.id.as_uuid(),
        }))
    }
}

fn already_finished(run: &SyncRun) -> Error {
    Error::conflict(format!(
        "sync run `{}` has already ended ({})",
        run.id, run.status
    ))
}
