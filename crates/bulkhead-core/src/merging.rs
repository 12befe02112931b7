//! Merging duplicate workspaces (the seed's "Multiple Workspaces for Same Customer"): the
//! organization moves everything of one workspace into another, in one transaction.

use serde::Serialize;

use crate::error::{Error, ObjectKind, Result};
use crate::guard::Tenant;
use crate::ids::{DestinationId, WorkspaceId};
use crate::model::{Connection, SyncRun};
use crate::org::OrgScope;
use crate::secrets::workspace_secret_aad;
use crate::store::{EndpointKind, EndpointRow, MergeRows};

/// Rows read at a time from the merged workspace.
const BATCH: usize = 500;

/// What [`OrgScope::merge_workspaces`] moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// The workspace merged away: now a tombstone whose external id resolves to `into`.
    pub from: WorkspaceId,
    /// The workspace that received everything.
    pub into: WorkspaceId,
    /// Sources moved.
    pub sources: u64,
    /// Destinations moved.
    pub destinations: u64,
    /// Destinations not moved because `into` already had the destination of the same
    /// connection template (a workspace has one per template); their connections now use
    /// `into`'s.
    pub destinations_reused: u64,
    /// Connections moved.
    pub connections: u64,
    /// Sync runs moved.
    pub sync_runs: u64,
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl OrgScope {
    /// Merges the workspace `from` into the workspace `into`, both of this organization and
    /// live: `from`'s sources, destinations, connections and sync history move to `into`
    /// (keeping their ids), their secrets re-sealed under `into`'s data key; `from` becomes a
    /// tombstone whose external id resolves to `into` (a scoped token for it reaches `into`),
    /// and its tokens are refused. One transaction, audited as `workspace.merge`.
    ///
    /// A destination of `from` made from a connection template of which `into` already has
    /// the destination is not moved: its connections use `into`'s. A merge racing another
    /// change of `from` is refused (conflict) and changes nothing.
    ///
    /// Either workspace may be inactive. Moved connections keep what their customer chose and
    /// take `into`'s status the way `into`'s own connections do (an inactive workspace pauses
    /// its active connections and, made active again, resumes exactly those):
    ///
    /// - into an inactive workspace, a connection that was active, or inactive only because
    ///   `from` was inactive, is paused by `into`: it does not run, and making `into` active
    ///   resumes it;
    /// - into an active workspace, a connection that `from`'s deactivation paused is active
    ///   again: it is `into`'s now, and `into` runs;
    /// - a connection its customer made inactive stays inactive in both cases, and no change
    ///   of `into`'s status resumes it.
    ///
    /// The statuses are read inside the merge's transaction (see
    /// [`ConnectionState::merged_into`](crate::store::ConnectionState::merged_into)).
    pub fn merge_workspaces(&self, from: WorkspaceId, into: WorkspaceId) -> Result<MergeReport> {
        if from == into {
            return Err(Error::invalid_input(
                "into",
                "is the workspace being merged; merge into another workspace",
            ));
        }
        self.get_workspace(from)?;
        self.get_workspace(into)?;
        let org_id = self.org_id();
        let from_tenant = Tenant::new(org_id, from).with_actor(self.org.actor().clone());
        let into_tenant = Tenant::new(org_id, into).with_actor(self.org.actor().clone());

        let sources = self.read_endpoints(&from_tenant, EndpointKind::Source)?;
        let destinations = self.read_endpoints(&from_tenant, EndpointKind::Destination)?;
        let connections = self.read_connections(&from_tenant)?;
        let mut sync_runs = Vec::new();
        for connection in &connections {
            sync_runs.extend(self.read_sync_runs(&from_tenant, connection)?);
        }
        let from_counts = [
            count(sources.len()),
            count(destinations.len()),
            count(connections.len()),
            count(sync_runs.len()),
        ];

        // One destination per connection template per workspace: `into`'s wins.
        let existing: Vec<EndpointRow> =
            self.read_endpoints(&into_tenant, EndpointKind::Destination)?;
        let mut reused = std::collections::BTreeMap::new();
        let mut moved_destinations = Vec::new();
        for destination in destinations {
            let twin = destination.template_id.and_then(|template| {
                existing
                    .iter()
                    .find(|d| d.template_id == Some(template))
                    .map(|d| d.id)
            });
            match twin {
                Some(twin) => {
                    reused.insert(destination.id, DestinationId::from_uuid(twin)?);
                }
                None => moved_destinations.push(destination),
            }
        }

        // Secrets were sealed for `from` (the workspace is in the associated data): open them
        // with its data key and seal them again with `into`'s.
        let needs_keys = sources
            .iter()
            .chain(&moved_destinations)
            .any(|r| !r.secrets.is_empty());
        let keys = if needs_keys {
            Some((
                self.inner.data_key(&from_tenant)?,
                self.inner.data_key(&into_tenant)?,
            ))
        } else {
            None
        };
        let mut endpoints = Vec::with_capacity(sources.len() + moved_destinations.len());
        for row in sources.into_iter().chain(moved_destinations) {
            let secrets = match &keys {
                Some((from_key, into_key)) if !row.secrets.is_empty() => {
                    row.secrets.map_sealed(|pointer, sealed| {
                        let plain =
                            from_key.open(sealed, &workspace_secret_aad(from, row.id, pointer))?;
                        into_key.seal(&plain, &workspace_secret_aad(into, row.id, pointer))
                    })?
                }
                _ => row.secrets.clone(),
            };
            endpoints.push(EndpointRow {
                workspace_id: into,
                secrets,
                ..row
            });
        }
        let moved_sources = endpoints
            .iter()
            .filter(|r| r.kind == EndpointKind::Source)
            .count();
        let connections: Vec<Connection> = connections
            .into_iter()
            .map(|c| Connection {
                workspace_id: into,
                destination_id: reused
                    .get(c.destination_id.as_uuid())
                    .copied()
                    .unwrap_or(c.destination_id),
                ..c
            })
            .collect();
        let sync_runs: Vec<SyncRun> = sync_runs
            .into_iter()
            .map(|r| SyncRun {
                workspace_id: into,
                ..r
            })
            .collect();
        let report = MergeReport {
            from,
            into,
            sources: count(moved_sources),
            destinations: count(endpoints.len() - moved_sources),
            destinations_reused: count(reused.len()),
            connections: count(connections.len()),
            sync_runs: count(sync_runs.len()),
        };
        let rows = MergeRows {
            endpoints,
            connections,
            sync_runs,
            from_counts,
        };
        let ctx = self.audit_as(
            "workspace.merge",
            Some(from),
            format!("workspace:{from}->workspace:{into}"),
        );
        let merged = self.store()?.merge_workspace(
            &ctx,
            &from_tenant,
            &into_tenant,
            &rows,
            self.inner.now(),
        )?;
        self.inner.changed();
        if !merged {
            return Err(Error::not_found(ObjectKind::Workspace, from));
        }
        self.inner
            .set_retired(from, Some(crate::engine::Retired::Deleted));
        tracing::info!(target: "bulkhead::workspace", org = %org_id, from = %from, into = %into, "workspaces merged");
        Ok(report)
    }

    fn read_endpoints(&self, tenant: &Tenant, kind: EndpointKind) -> Result<Vec<EndpointRow>> {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let batch = self.store()?.list_endpoints(tenant, kind, after, BATCH)?;
            let batch = self.inner.guard.admit_all(tenant, batch)?;
            let n = batch.len();
            after = batch.last().map(|r| (r.created_at, r.id));
            rows.extend(batch);
            if n < BATCH {
                return Ok(rows);
            }
        }
    }

    fn read_connections(&self, tenant: &Tenant) -> Result<Vec<Connection>> {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let batch = self.store()?.list_connections(tenant, after, BATCH)?;
            let batch = self.inner.guard.admit_all(tenant, batch)?;
            let n = batch.len();
            after = batch.last().map(|c| (c.created_at, *c.id.as_uuid()));
            rows.extend(batch);
            if n < BATCH {
                return Ok(rows);
            }
        }
    }

    fn read_sync_runs(&self, tenant: &Tenant, connection: &Connection) -> Result<Vec<SyncRun>> {
        let mut rows = Vec::new();
        let mut before = None;
        loop {
            let batch = self
                .store()?
                .list_sync_runs(tenant, connection.id, before, BATCH)?;
            let batch = self.inner.guard.admit_all(tenant, batch)?;
            if batch.iter().any(|r| r.connection_id != connection.id) {
                return Err(self.breach(ObjectKind::SyncRun));
            }
            let n = batch.len();
            before = batch.last().map(|r| (r.started_at, *r.id.as_uuid()));
            rows.extend(batch);
            if n < BATCH {
                return Ok(rows);
            }
        }
    }
}
