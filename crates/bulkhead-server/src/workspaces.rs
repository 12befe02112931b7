//! The organization's workspaces: `/api/v1/workspaces` (org key).

use axum::extract::{Path, State};
use bulkhead::{WorkspaceFilter, WorkspaceId, WorkspaceStatus};
use serde::Deserialize;

use crate::auth::OrgAuth;
use crate::embedded::page;
use crate::extract::{Query, path_id};
use crate::openapi::{BadRequest, NotFound, Unauthorized, Unavailable};
use crate::problem::{Problem, field_as};
use crate::wire::{Page, WorkspaceItem, next_link};
use crate::{AppState, blocking};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
    status: Option<String>,
}

/// List the organization's workspaces
///
/// A page of the organization's live workspaces, ordered by external id; `next` links to
/// the following page.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces",
    tag = "workspaces",
    operation_id = "list_organization_workspaces",
    params(
        ("status" = Option<crate::openapi::WorkspaceStatus>, Query, description = "Only workspaces in this status."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, 20 by default."),
        ("cursor" = Option<String>, Query, description = "Where the page starts: the `cursor` of the previous page's `next` link."),
    ),
    responses(
        (status = 200, description = "A page of workspaces.", body = Page<WorkspaceItem>),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    OrgAuth(org): OrgAuth,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Page<WorkspaceItem>>, Problem> {
    let mut filter = WorkspaceFilter::default();
    if let Some(status) = &query.status {
        filter.status = Some(
            status
                .parse::<WorkspaceStatus>()
                .map_err(|e| field_as(e, "status"))?,
        );
    }
    let page = page(query.limit, query.cursor.as_deref())?;
    let limit = page.limit();
    let paged = blocking(move || org.list_workspaces(&filter, &page)).await?;
    let status: Vec<(&str, &str)> = query
        .status
        .as_deref()
        .map(|s| ("status", s))
        .into_iter()
        .collect();
    Ok(axum::Json(Page {
        next: next_link(
            state.config.public_url.as_deref(),
            "/api/v1/workspaces",
            limit,
            paged.next.as_ref(),
            &status,
        ),
        data: paged.items.into_iter().map(Into::into).collect(),
    }))
}

/// Get one of the organization's workspaces
///
/// One live workspace of the organization; another organization's is not found.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{workspace_id}",
    tag = "workspaces",
    operation_id = "get_organization_workspace",
    params(("workspace_id" = String, Path, format = "uuid", description = "The workspace.")),
    responses(
        (status = 200, description = "The workspace.", body = WorkspaceItem),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn get(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<WorkspaceItem>, Problem> {
    let id: WorkspaceId = path_id("workspace_id", &id)?;
    let workspace = blocking(move || org.get_workspace(id)).await?;
    Ok(axum::Json(workspace.into()))
}
