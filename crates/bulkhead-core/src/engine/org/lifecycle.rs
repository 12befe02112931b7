//! Merging duplicate workspaces (the seed's "Multiple Workspaces for Same Customer"): the
//! organization moves everything of one workspace into another, in one transaction.

use serde::Serialize;

use crate::crypto::secrets::workspace_secret_aad;
use crate::engine::org::OrgScope;
use crate::engine::shared::Retired;
use crate::error::{Error, ObjectKind, Result};
use crate::model::ids::{DestinationId, WorkspaceId};
use crate::model::objects::{Connection, SyncRun};
use crate::port::store::{EndpointKind, EndpointRow, Keyset, MergeRows, RowCounts};
use crate::port::tenant::Tenant;

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
    /// [`ConnectionState::merged_into`](crate::port::store::ConnectionState::merged_into)).
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
        let from_counts = RowCounts {
            sources: count(sources.len()),
            destinations: count(destinations.len()),
            connections: count(connections.len()),
            sync_runs: count(sync_runs.len()),
        };

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
        let merged = self.rows()?.merge_workspace(
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
            .set_retired(from, Some(crate::engine::shared::Retired::Deleted));
        tracing::info!(target: "bulkhead::workspace", org = %org_id, from = %from, into = %into, "workspaces merged");
        Ok(report)
    }

    fn read_endpoints(&self, tenant: &Tenant, kind: EndpointKind) -> Result<Vec<EndpointRow>> {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let batch = self
                .tenant_rows(tenant)?
                .sealed_endpoints(kind, after, BATCH)?;
            let n = batch.len();
            after = batch.last().map(|r| Keyset {
                at: r.created_at,
                id: r.id,
            });
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
            let batch = self.tenant_rows(tenant)?.connections(after, BATCH)?;
            let n = batch.len();
            after = batch.last().map(|c| Keyset {
                at: c.created_at,
                id: *c.id.as_uuid(),
            });
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
            let batch =
                self.tenant_rows(tenant)?
                    .sync_runs_to_merge(connection.id, before, BATCH)?;
            let n = batch.len();
            before = batch.last().map(|r| Keyset {
                at: r.started_at,
                id: *r.id.as_uuid(),
            });
            rows.extend(batch);
            if n < BATCH {
                return Ok(rows);
            }
        }
    }
}

impl OrgScope {
    /// Deletes the workspace `id`: it becomes a tombstone at once (invisible, its tokens and
    /// scopes refused, its external id answering [`Error::WorkspaceDeleted`]) and keeps its
    /// rows until [`OrgScope::purge_workspace`] or [`OrgScope::purge_deleted_workspaces`]
    /// removes them.
    pub fn delete_workspace(&self, id: WorkspaceId) -> Result<()> {
        self.get_workspace(id)?;
        let ctx = self.audit_as("workspace.delete", Some(id), format!("workspace:{id}"));
        let deleted = self
            .rows()?
            .delete_workspace(&ctx, id, self.inner.now(), None, || self.inner.changed())?;
        match deleted {
            Some(_) => {
                self.inner.set_retired(id, Some(Retired::Deleted));
                tracing::info!(target: "bulkhead::workspace", org = %self.org.org_id(), workspace = %id, "workspace deleted (tombstone)");
                Ok(())
            }
            _ => Err(Error::not_found(ObjectKind::Workspace, id)),
        }
    }

    /// Purges the deleted workspace `id`: destroys its data key first, then its sources,
    /// destinations, connections, sync runs and revoked tokens, and the tombstone, in one
    /// transaction; its external id is free again. A live workspace must be deleted first
    /// (conflict).
    ///
    /// Crypto-shredding, and what it covers: the sealed data key leaves the **live
    /// database** (the SQLite store overwrites deleted bytes and checkpoints its WAL after a
    /// purge, so neither the database file nor its `-wal` holds it). A copy of the database
    /// made before the purge (a file backup, a `pg_dump`) still holds the sealed data key,
    /// which the same master key opens: such copies become unreadable only once the master
    /// key is rotated ([`crate::Engine::rotate_master_key`]) and the old one destroyed. On
    /// PostgreSQL the old row version also stays in the table until `VACUUM` reclaims it, and
    /// in WAL archives and replicas for as long as they are kept.
    pub fn purge_workspace(&self, id: WorkspaceId) -> Result<()> {
        match self.get_any_workspace(id)? {
            None => return Err(Error::not_found(ObjectKind::Workspace, id)),
            Some(w) if !w.is_deleted() => {
                return Err(Error::conflict(format!(
                    "workspace `{id}` is not deleted; delete it before purging it"
                )));
            }
            Some(_) => {}
        }
        let ctx = self.audit_as("workspace.purge", Some(id), format!("workspace:{id}"));
        let purged = self.rows()?.purge_workspace(&ctx, id)?;
        self.inner.changed();
        if purged {
            // Its rows are gone; a scope made before stays refused as not found, reads and
            // writes alike (remembered for the life of the engine: a workspace id is never
            // used again, so the entry costs only its memory).
            self.inner.set_retired(id, Some(Retired::Deleted));
            tracing::info!(target: "bulkhead::workspace", org = %self.org.org_id(), workspace = %id, "workspace purged");
            Ok(())
        } else {
            Err(Error::not_found(ObjectKind::Workspace, id))
        }
    }

    /// Purges every workspace deleted at least `retention` ago, in one call (each in a
    /// transaction of its own). Returns how many were purged.
    pub fn purge_deleted_workspaces(&self, retention: std::time::Duration) -> Result<u64> {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let before = crate::model::time::Timestamp::from_unix_millis(
            self.inner.now().unix_millis().saturating_sub(retention_ms),
        );
        let mut purged = 0u64;
        loop {
            let rows = self.rows()?;
            let batch = rows.deleted_workspaces(before, 100)?;
            let count = batch.len();
            for tombstone in batch {
                self.purge_workspace(tombstone?.id)?;
                purged += 1;
            }
            if count < 100 {
                return Ok(purged);
            }
        }
    }
}
