//! The organization's dashboard: [`OrgScope::workspace_overview`], [`OrgScope::workspace_stats`],
//! [`OrgScope::workspace_creations`] and [`OrgScope::stats`].
//!
//! The overview reads each workspace of the page inside that workspace (one
//! [`TenantStore::workspace_activity`](crate::store::TenantStore::workspace_activity) call per workspace, at most
//! [`MAX_PAGE_LIMIT`](crate::model::page::MAX_PAGE_LIMIT) per page), so a database-level tenant guard keeps
//! confining every read to one workspace; the engine checks every returned row against it.

use std::time::Duration;

use serde::Serialize;

use crate::engine::meter::OrgStats;
use crate::engine::org::OrgScope;
use crate::error::{Error, Result};
use crate::model::ids::{ConnectionId, ExternalId, SyncRunId, WorkspaceId};
use crate::model::names::Name;
use crate::model::objects::{ConnectionStatus, SyncRun, SyncStatus, Workspace, WorkspaceStatus};
use crate::model::page::{Page, Paged};
use crate::model::time::Timestamp;
use crate::port::store::WorkspaceFilter;
use crate::port::tenant::Tenant;

/// One workspace as the organization's dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkspaceOverview {
    /// Its id.
    pub workspace_id: WorkspaceId,
    /// The host's id for the customer.
    pub external_id: ExternalId,
    /// Its display name.
    pub name: Name,
    /// Whether it is in use.
    pub status: WorkspaceStatus,
    /// How many sources it has.
    pub sources: u64,
    /// How many connections it has.
    pub connections: u64,
    /// Each connection with its latest run, oldest connection first.
    pub latest_runs: Vec<ConnectionOverview>,
    /// Rows moved by all of its runs.
    pub rows_synced: u64,
    /// Bytes moved by all of its runs.
    pub bytes_synced: u64,
    /// Rows moved by its runs started in the last 7 days ([`RECENT`]).
    pub rows_7d: u64,
    /// Bytes moved by its runs started in the last 7 days ([`RECENT`]).
    pub bytes_7d: u64,
}

/// How far back the overview's recent figures (`rows_7d`, `bytes_7d`) reach: 7 days.
pub const RECENT: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The most sync runs [`OrgScope::recent_sync_runs`] returns at once.
pub const MAX_RECENT_RUNS: usize = 100;

impl WorkspaceOverview {
    /// The most recently started run of any of its connections.
    pub fn last_run(&self) -> Option<&LastRun> {
        self.latest_runs
            .iter()
            .filter_map(|c| c.last_run.as_ref())
            .max_by_key(|r| (r.started_at, *r.id.as_uuid()))
    }
}

/// A connection and its latest run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionOverview {
    /// The connection.
    pub connection_id: ConnectionId,
    /// Its display name.
    pub name: Name,
    /// Whether it may run.
    pub status: ConnectionStatus,
    /// Its latest run (by start time), if it ever ran.
    pub last_run: Option<LastRun>,
}

/// The latest run of a connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastRun {
    /// The run.
    pub id: SyncRunId,
    /// Where it is in its life.
    pub status: SyncStatus,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended, once it has.
    pub finished_at: Option<Timestamp>,
}

impl From<&SyncRun> for LastRun {
    fn from(run: &SyncRun) -> Self {
        Self {
            id: run.id,
            status: run.status,
            started_at: run.started_at,
            finished_at: run.finished_at,
        }
    }
}

/// How many workspaces an organization has, by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkspaceStats {
    /// Active workspaces.
    pub active: u64,
    /// Inactive workspaces.
    pub inactive: u64,
    /// All of them.
    pub total: u64,
}

/// How many workspaces were created in one hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HourCount {
    /// The start of the hour.
    pub hour: Timestamp,
    /// Workspaces created in it (including ones deleted since, not ones purged).
    pub count: u64,
}

/// One hour, in milliseconds.
const HOUR_MILLIS: i64 = 3_600_000;
/// The most hours [`OrgScope::workspace_creations`] reports: 31 days.
pub const MAX_CREATION_HOURS: u32 = 31 * 24;

impl OrgScope {
    /// Workspaces created in each of the last `hours` hours (1 to [`MAX_CREATION_HOURS`]),
    /// oldest first, one entry an hour with zeros included; the last is the current hour, so
    /// far. Counted by storage (one grouped query, never a read of every workspace);
    /// workspaces deleted since still count, purged ones do not.
    pub fn workspace_creations(&self, hours: u32) -> Result<Vec<HourCount>> {
        if !(1..=MAX_CREATION_HOURS).contains(&hours) {
            return Err(Error::invalid_input(
                "hours",
                format!("must be from 1 to {MAX_CREATION_HOURS}"),
            ));
        }
        let now = self.now().unix_millis();
        let current = now.div_euclid(HOUR_MILLIS).saturating_mul(HOUR_MILLIS);
        let first = current.saturating_sub(i64::from(hours - 1).saturating_mul(HOUR_MILLIS));
        let counts = self
            .rows()?
            .count_workspace_creations(Timestamp::from_unix_millis(first))?;
        Ok((0..i64::from(hours))
            .map(|i| {
                let hour = first.saturating_add(i.saturating_mul(HOUR_MILLIS));
                HourCount {
                    hour: Timestamp::from_unix_millis(hour),
                    count: counts
                        .iter()
                        .filter(|c| c.hour.unix_millis() == hour)
                        .map(|c| c.count)
                        .fold(0, u64::saturating_add),
                }
            })
            .collect())
    }

    /// A page of the organization's workspaces matching `filter` (ordered by external id, with
    /// the cursors of [`OrgScope::list_workspaces`]), each with its numbers of sources and
    /// connections, the latest run of each connection, and the rows and bytes it synced.
    pub fn workspace_overview(
        &self,
        filter: &WorkspaceFilter,
        page: &Page,
    ) -> Result<Paged<WorkspaceOverview>> {
        let listed = self.list_workspaces(filter, page)?;
        let since = Timestamp::from_unix_millis(
            self.inner
                .now()
                .unix_millis()
                .saturating_sub(i64::try_from(RECENT.as_millis()).unwrap_or(i64::MAX)),
        );
        let items = listed
            .items
            .into_iter()
            .map(|w| self.overview_of(w, since))
            .collect::<Result<Vec<_>>>()?;
        Ok(Paged {
            items,
            next: listed.next,
        })
    }

    fn overview_of(&self, workspace: Workspace, since: Timestamp) -> Result<WorkspaceOverview> {
        let tenant = Tenant::new(self.org_id(), workspace.id).with_actor(self.org.actor().clone());
        let activity = self.tenant_rows(&tenant)?.activity(since)?;
        let connections = activity.connections;
        let runs = activity.latest_runs;
        let latest_runs = connections
            .iter()
            .map(|c| ConnectionOverview {
                connection_id: c.id,
                name: c.name.clone(),
                status: c.status,
                last_run: runs
                    .iter()
                    .filter(|r| r.connection_id == c.id)
                    .max_by_key(|r| (r.started_at, *r.id.as_uuid()))
                    .map(LastRun::from),
            })
            .collect();
        Ok(WorkspaceOverview {
            workspace_id: workspace.id,
            external_id: workspace.external_id,
            name: workspace.name,
            status: workspace.status,
            sources: activity.sources,
            connections: u64::try_from(connections.len()).unwrap_or(u64::MAX),
            latest_runs,
            rows_synced: activity.rows_synced,
            bytes_synced: activity.bytes_synced,
            rows_7d: activity.rows_since,
            bytes_7d: activity.bytes_since,
        })
    }

    /// The last `limit` (at most [`MAX_RECENT_RUNS`]) sync runs of the workspace `id` across
    /// all of its connections, newest first (by start time, then id). Read through the
    /// workspace's own scope, so every row is checked against it; another organization's
    /// workspace is not found.
    pub fn recent_sync_runs(&self, id: WorkspaceId, limit: usize) -> Result<Vec<SyncRun>> {
        let limit = limit.clamp(1, MAX_RECENT_RUNS);
        let per_connection = u32::try_from(limit).unwrap_or(crate::model::page::MAX_PAGE_LIMIT);
        let ws = self.workspace(id)?;
        let mut runs = Vec::new();
        let mut page = Page::first(crate::model::page::MAX_PAGE_LIMIT);
        loop {
            let connections = ws.list_connections(&page)?;
            for connection in &connections.items {
                // Each connection's newest `limit` runs hold the newest `limit` overall.
                runs.extend(
                    ws.list_sync_runs(connection.id, &Page::first(per_connection))?
                        .items,
                );
            }
            match connections.next {
                Some(cursor) => page = Page::after(cursor, crate::model::page::MAX_PAGE_LIMIT),
                None => break,
            }
        }
        runs.sort_by_key(|r| std::cmp::Reverse((r.started_at, *r.id.as_uuid())));
        runs.truncate(limit);
        Ok(runs)
    }

    /// How many workspaces the organization has: active, inactive, in total.
    pub fn workspace_stats(&self) -> Result<WorkspaceStats> {
        let counts = self.rows()?.count_workspaces()?;
        let mut stats = WorkspaceStats::default();
        for c in counts {
            match c.status {
                WorkspaceStatus::Active => stats.active = stats.active.saturating_add(c.count),
                WorkspaceStatus::Inactive => {
                    stats.inactive = stats.inactive.saturating_add(c.count);
                }
            }
        }
        stats.total = stats.active.saturating_add(stats.inactive);
        Ok(stats)
    }

    /// The organization's counters in this process since the engine started: workspaces
    /// created, tokens issued, denials, isolation breaches (see the `meter` notes in the
    /// README: they are in memory, per process).
    pub fn stats(&self) -> OrgStats {
        let mut stats = self.inner.meter.stats(self.org_id());
        stats.isolation_breaches = self.inner.guard.breaches_of(self.org_id());
        stats
    }
}
