//! What the dashboard's workspace page needs beyond the workspace routes (org key, access
//! token or dashboard session; another organization's workspace is not found):
//!
//! | method, path | answer |
//! | --- | --- |
//! | `GET /api/v1/workspaces/{id}/runs?limit=` | `{data: [run]}`: its last runs across its connections, newest first |
//! | `POST /api/v1/workspaces/{id}/revoke-tokens` | the workspace: every scoped token issued until now is refused |
//! | `POST /api/v1/workspaces/{id}/merge` `{from_workspace_id}` or `{from_external_id}` | the merge report |
//!
//! The workspace page's audit events come from the organization's audit log route
//! (`GET /api/v1/organization/audit?workspace_id=&limit=`, newest first; the `organization`
//! module).

use axum::extract::Path;
use bulkhead::{ExternalId, MAX_RECENT_RUNS, SyncRun, SyncStatus, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::auth::OrgAuth;
use crate::blocking;
use crate::extract::{Json, Query, path_id};
use crate::openapi::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use crate::problem::{Problem, field_as};
use crate::wire::WorkspaceItem;

/// `{data}`: a list that is not paged.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct List<T> {
    /// The items.
    data: Vec<T>,
}

/// The query of `GET /api/v1/workspaces/{id}/runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    limit: Option<String>,
}

/// A limit from 1 to `max`, `default` when absent, else a 400 naming `limit`.
fn limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, Problem> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| {
                Problem::invalid(
                    "limit",
                    format!("invalid limit: must be an integer from 1 to {max}"),
                )
            }),
    }
}

/// One sync run of a workspace, as its page charts it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WorkspaceRun)]
pub(crate) struct RunItem {
    /// The run.
    #[schema(format = "uuid")]
    id: String,
    /// The connection that ran.
    #[schema(format = "uuid")]
    connection_id: String,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    status: String,
    /// When it started.
    #[schema(value_type = crate::openapi::Timestamp)]
    started_at: bulkhead::Timestamp,
    /// When it ended; `null` while it runs.
    #[schema(value_type = Option<crate::openapi::Timestamp>)]
    finished_at: Option<bulkhead::Timestamp>,
    /// How long it ran, in milliseconds; `null` while it runs.
    duration_ms: Option<u64>,
    /// Rows moved.
    rows: u64,
    /// Bytes moved.
    bytes: u64,
    /// Whether it failed (its error message stays in the job's own record).
    error: bool,
}

impl From<SyncRun> for RunItem {
    fn from(run: SyncRun) -> Self {
        let duration_ms = run.finished_at.map(|end| {
            u64::try_from(
                end.unix_millis()
                    .saturating_sub(run.started_at.unix_millis()),
            )
            .unwrap_or(0)
        });
        Self {
            id: run.id.to_string(),
            connection_id: run.connection_id.to_string(),
            status: serde_json::to_value(run.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_ms,
            rows: run.rows_synced,
            bytes: run.bytes_synced,
            error: run.status == SyncStatus::Failed || run.error.is_some(),
        }
    }
}

/// A workspace's recent sync runs
///
/// The last `limit` (30 by default, at most 100) sync runs of the workspace across all of its
/// connections, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{workspace_id}/runs",
    tag = "workspaces",
    operation_id = "workspace_recent_runs",
    params(
        ("workspace_id" = String, Path, format = "uuid", description = "The workspace."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "How many runs, 30 by default."),
    ),
    responses(
        (status = 200, description = "The runs, newest first.", body = List<RunItem>),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn recent_runs(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Result<axum::Json<List<RunItem>>, Problem> {
    let id: WorkspaceId = path_id("workspace_id", &id)?;
    let limit = limit(query.limit.as_deref(), 30, MAX_RECENT_RUNS)?;
    let runs = blocking(move || org.recent_sync_runs(id, limit)).await?;
    Ok(axum::Json(List {
        data: runs.into_iter().map(RunItem::from).collect(),
    }))
}

/// Revoke every token of a workspace
///
/// Every scoped token of the workspace issued until now is refused from now on; tokens
/// issued afterwards work. Takes no body.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{workspace_id}/revoke-tokens",
    tag = "workspaces",
    operation_id = "revoke_workspace_tokens",
    params(("workspace_id" = String, Path, format = "uuid", description = "The workspace.")),
    responses(
        (status = 200, description = "The workspace as it is now.", body = WorkspaceItem),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn revoke_tokens(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<WorkspaceItem>, Problem> {
    let id: WorkspaceId = path_id("workspace_id", &id)?;
    let workspace = blocking(move || org.revoke_all_tokens(id)).await?;
    Ok(axum::Json(workspace.into()))
}

/// The body of `POST /api/v1/workspaces/{id}/merge`: the duplicate, by id or by external id.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WorkspaceMergeRequest)]
pub(crate) struct MergeBody {
    /// The workspace to merge into this one (it becomes a tombstone).
    #[schema(format = "uuid")]
    from_workspace_id: Option<String>,
    /// Or its external id (exact, case-sensitive).
    from_external_id: Option<String>,
}

/// What a merge moved.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WorkspaceMergeReport)]
pub(crate) struct MergeAnswer {
    /// The workspace merged away.
    #[schema(format = "uuid")]
    from: String,
    /// The workspace that received everything.
    #[schema(format = "uuid")]
    into: String,
    /// Sources moved.
    sources: u64,
    /// Destinations moved.
    destinations: u64,
    /// Destinations not moved because this workspace had one of the same template.
    destinations_reused: u64,
    /// Connections moved.
    connections: u64,
    /// Sync runs moved.
    sync_runs: u64,
}

/// Merge a duplicate workspace into this one
///
/// Moves every source, destination, connection and sync run of the duplicate (named by
/// `from_workspace_id` or `from_external_id`) into the workspace of the path, in one
/// transaction; the duplicate becomes a tombstone whose external id resolves to this one.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{workspace_id}/merge",
    tag = "workspaces",
    operation_id = "merge_workspace",
    params(("workspace_id" = String, Path, format = "uuid", description = "The workspace that receives everything.")),
    request_body = MergeBody,
    responses(
        (status = 200, description = "What moved.", body = MergeAnswer),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType,
        Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn merge(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
    Json(body): Json<MergeBody>,
) -> Result<axum::Json<MergeAnswer>, Problem> {
    let into: WorkspaceId = path_id("workspace_id", &id)?;
    enum From {
        Id(WorkspaceId),
        External(ExternalId),
    }
    let from = match (body.from_workspace_id, body.from_external_id) {
        (Some(id), None) => From::Id(path_id("from_workspace_id", id.trim())?),
        (None, Some(ext)) => {
            From::External(ext.parse().map_err(|e| field_as(e, "from_external_id"))?)
        }
        _ => {
            return Err(Problem::invalid(
                "from_workspace_id",
                "give either `from_workspace_id` or `from_external_id`",
            ));
        }
    };
    let report = blocking(move || {
        let from = match from {
            From::Id(id) => id,
            From::External(ext) => org.workspace_by_external_id(&ext)?.id,
        };
        org.merge_workspaces(from, into)
    })
    .await?;
    Ok(axum::Json(MergeAnswer {
        from: report.from.to_string(),
        into: report.into.to_string(),
        sources: report.sources,
        destinations: report.destinations,
        destinations_reused: report.destinations_reused,
        connections: report.connections,
        sync_runs: report.sync_runs,
    }))
}
