//! The organization's workspaces: `/api/v1/workspaces` (org key or access token; a scoped
//! token is refused with 401), in the shapes of the reference's section 1.2.
//!
//! | method, path | answer |
//! | --- | --- |
//! | `GET /api/v1/workspaces?name_contains=&external_id_prefix=&status=&limit=&cursor=` | `{data: [workspace], next}` |
//! | `GET /api/v1/workspaces/stats` | `{active_count, inactive_count, total_count}` |
//! | `GET /api/v1/workspaces/overview?name_contains=&external_id_prefix=&status=&limit=&cursor=` | `{data: [overview], next}` (with `rows_7d`, `bytes_7d`: the last 7 days' runs) |
//! | `GET /api/v1/workspaces/{id}` | workspace |
//! | `PATCH` or `PUT /api/v1/workspaces/{id}` `{name?, status?}` | workspace |
//! | `DELETE /api/v1/workspaces/{id}` | 200 `{id, deleted_at}` |
//!
//! Lists page by cursor (`next` is the link to the following page, `null` on the last),
//! ordered by external id; `name_contains` matches a substring of the name ignoring the case
//! of ASCII letters, `external_id_prefix` the start of the external id exactly, both in the
//! store's query. Any other query parameter, a repeated one, a
//! status other than `active`/`inactive`, a limit outside 1 to 100 or a cursor this list did
//! not make is a 400 naming the parameter.
//!
//! `status: "inactive"` deactivates the workspace through the engine: its connections pause
//! and its scoped tokens are refused until `status: "active"` resumes exactly the
//! connections it paused. `DELETE` makes the workspace a tombstone at once (the engine's
//! delete): it is then not found (404) here, its tokens are refused (401), and asking a
//! scoped token for its external id answers 410 until the organization purges it.
//! `cache_enabled` (Airbyte's cache) does not exist in Bulkhead: answered `null`, and a
//! value other than `null` in an update is a 422 naming it.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use bulkhead::{
    Clock, LastRun, MAX_PAGE_LIMIT, Name, OrgScope, SystemClock, WorkspaceFilter, WorkspaceId,
    WorkspaceOverview, WorkspaceStatus, WorkspaceUpdate,
};
use serde::{Deserialize, Serialize};

use crate::auth::OrgAuth;
use crate::embedded::page;
use crate::extract::{Json, path_id};
use crate::openapi::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::problem::{Problem, field_as};
use crate::templates::text;
use crate::wire::{Deleted, Page, WorkspaceItem, next_link};
use crate::{AppState, blocking};

/// The query of a workspace list: filters and a cursor page.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ListQuery {
    name_contains: Option<String>,
    external_id_prefix: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl ListQuery {
    /// Parses the query string; an unknown, repeated or malformed parameter is a 400 naming
    /// it.
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
        let mut parsed = Self::default();
        let mut seen = BTreeSet::new();
        for (key, value) in pairs {
            if !seen.insert(key.clone()) {
                return Err(Problem::invalid(
                    key.clone(),
                    format!("invalid {key}: given more than once"),
                ));
            }
            match key.as_str() {
                "name_contains" => parsed.name_contains = Some(value),
                "external_id_prefix" => {
                    // An external id is at most 255 characters without control characters:
                    // a longer or stranger prefix matches nothing, and is refused instead.
                    if value.chars().count() > 255 || value.chars().any(char::is_control) {
                        return Err(Problem::invalid(
                            "external_id_prefix",
                            "invalid external_id_prefix: at most 255 characters, no control \
                             characters",
                        ));
                    }
                    parsed.external_id_prefix = Some(value);
                }
                "status" => {
                    value
                        .parse::<WorkspaceStatus>()
                        .map_err(|e| field_as(e, "status"))?;
                    parsed.status = Some(value);
                }
                "limit" => {
                    parsed.limit = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|l| (1..=MAX_PAGE_LIMIT).contains(l))
                            .ok_or_else(|| {
                                Problem::invalid(
                                    "limit",
                                    format!(
                                        "invalid limit: must be an integer from 1 to {MAX_PAGE_LIMIT}"
                                    ),
                                )
                            })?,
                    );
                }
                "cursor" => parsed.cursor = Some(value),
                _ => {
                    return Err(Problem::invalid(
                        key.clone(),
                        format!("unknown query parameter `{key}`"),
                    ));
                }
            }
        }
        Ok(parsed)
    }

    /// The engine's filter.
    fn filter(&self) -> Result<WorkspaceFilter, Problem> {
        Ok(WorkspaceFilter {
            status: self
                .status
                .as_deref()
                .map(|s| s.parse().map_err(|e| field_as(e, "status")))
                .transpose()?,
            name_contains: self.name_contains.clone(),
            external_id_prefix: self.external_id_prefix.clone(),
        })
    }

    /// The filters again, for the `next` link.
    fn carried(&self) -> Vec<(&str, &str)> {
        let mut extra = Vec::new();
        if let Some(text) = &self.name_contains {
            extra.push(("name_contains", text.as_str()));
        }
        if let Some(prefix) = &self.external_id_prefix {
            extra.push(("external_id_prefix", prefix.as_str()));
        }
        if let Some(status) = &self.status {
            extra.push(("status", status.as_str()));
        }
        extra
    }
}

/// Runs `list` over the page the query asks for and answers `{data, next}` for `path`.
async fn listed<T, U, F>(
    state: &AppState,
    uri: &Uri,
    path: &str,
    list: F,
) -> Result<axum::Json<Page<U>>, Problem>
where
    T: Send + 'static,
    U: From<T>,
    F: FnOnce(&WorkspaceFilter, &bulkhead::Page) -> bulkhead::Result<bulkhead::Paged<T>>
        + Send
        + 'static,
{
    let query = ListQuery::parse(uri.query())?;
    let filter = query.filter()?;
    let page = page(query.limit, query.cursor.as_deref())?;
    let limit = page.limit();
    let paged = blocking(move || list(&filter, &page)).await?;
    Ok(axum::Json(Page {
        next: next_link(
            state.config.public_url.as_deref(),
            path,
            limit,
            paged.next.as_ref(),
            &query.carried(),
        ),
        data: paged.items.into_iter().map(U::from).collect(),
    }))
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
        ("name_contains" = Option<String>, Query, description = "Only workspaces whose name contains this text (ASCII letters in either case)."),
        ("external_id_prefix" = Option<String>, Query, description = "Only workspaces whose external id starts with this text (exact, case-sensitive)."),
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
    uri: Uri,
) -> Result<axum::Json<Page<WorkspaceItem>>, Problem> {
    listed(&state, &uri, "/api/v1/workspaces", move |filter, page| {
        org.list_workspaces(filter, page)
    })
    .await
}

/// Get one of the organization's workspaces
///
/// One live workspace of the organization; another organization's, or a deleted one, is not
/// found.
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

/// `GET /api/v1/workspaces/stats`: how many live workspaces, by status.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WorkspaceStats)]
pub(crate) struct Stats {
    /// Active workspaces.
    active_count: u64,
    /// Inactive workspaces.
    inactive_count: u64,
    /// All live workspaces (deleted ones are not counted).
    total_count: u64,
}

/// Count the organization's workspaces
///
/// How many live workspaces the organization has, by status. Takes no query parameter.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/stats",
    tag = "workspaces",
    operation_id = "organization_workspace_stats",
    responses(
        (status = 200, description = "The counts.", body = Stats),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn stats(OrgAuth(org): OrgAuth, uri: Uri) -> Result<axum::Json<Stats>, Problem> {
    no_query(&uri)?;
    let stats = blocking(move || org.workspace_stats()).await?;
    Ok(axum::Json(Stats {
        active_count: stats.active,
        inactive_count: stats.inactive,
        total_count: stats.total,
    }))
}

/// Refuses any query parameter on a route that takes none.
fn no_query(uri: &Uri) -> Result<(), Problem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
    match pairs.into_iter().next() {
        None => Ok(()),
        Some((key, _)) => Err(Problem::invalid(
            key.clone(),
            format!("unknown query parameter `{key}`"),
        )),
    }
}

/// One workspace of the overview: the engine's `WorkspaceOverview` (counts of sources and
/// connections, each connection with its latest run, rows and bytes synced) and the latest
/// run of any of its connections as `last_sync` (`null` if none ever ran).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WorkspaceOverviewItem)]
pub(crate) struct OverviewItem {
    /// The workspace, its counts and each connection with its latest run.
    #[serde(flatten)]
    #[schema(value_type = crate::openapi::WorkspaceOverview)]
    overview: WorkspaceOverview,
    /// The latest run of any of its connections; `null` if none ever ran.
    #[schema(value_type = Option<crate::openapi::LastRun>)]
    last_sync: Option<LastRun>,
}

impl From<WorkspaceOverview> for OverviewItem {
    fn from(overview: WorkspaceOverview) -> Self {
        Self {
            last_sync: overview.last_run().cloned(),
            overview,
        }
    }
}

/// Overview of the organization's workspaces
///
/// A page of the organization's live workspaces with their sources, connections and sync
/// status, ordered by external id; the same filters and cursor pages as the workspace list.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/overview",
    tag = "workspaces",
    operation_id = "organization_workspace_overview",
    params(
        ("name_contains" = Option<String>, Query, description = "Only workspaces whose name contains this text (ASCII letters in either case)."),
        ("external_id_prefix" = Option<String>, Query, description = "Only workspaces whose external id starts with this text (exact, case-sensitive)."),
        ("status" = Option<crate::openapi::WorkspaceStatus>, Query, description = "Only workspaces in this status."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, 20 by default."),
        ("cursor" = Option<String>, Query, description = "Where the page starts: the `cursor` of the previous page's `next` link."),
    ),
    responses(
        (status = 200, description = "A page of workspace overviews.", body = Page<OverviewItem>),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn overview(
    State(state): State<AppState>,
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<Page<OverviewItem>>, Problem> {
    listed(
        &state,
        &uri,
        "/api/v1/workspaces/overview",
        move |filter, page| org.workspace_overview(filter, page),
    )
    .await
}

/// The body of `PATCH` (or `PUT`) `/api/v1/workspaces/{id}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OrganizationWorkspaceUpdate)]
pub(crate) struct UpdateBody {
    /// A new display name; absent keeps it.
    #[schema(value_type = Option<String>)]
    name: Option<serde_json::Value>,
    /// `inactive` deactivates the workspace (its connections pause, its scoped tokens are
    /// refused), `active` resumes what it paused; absent keeps it.
    #[schema(value_type = Option<crate::openapi::WorkspaceStatus>)]
    status: Option<serde_json::Value>,
    /// Only `null`: Bulkhead has no workspace cache.
    #[schema(value_type = Option<bool>)]
    cache_enabled: Option<serde_json::Value>,
}

/// Update one of the organization's workspaces
///
/// A new name, or the status `active`/`inactive` (deactivate or reactivate through the
/// engine); the fields absent stay. `cache_enabled` other than `null` is a 422.
#[utoipa::path(
    patch,
    path = "/api/v1/workspaces/{workspace_id}",
    tag = "workspaces",
    operation_id = "patch_organization_workspace",
    params(("workspace_id" = String, Path, format = "uuid", description = "The workspace.")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The workspace as it is now.", body = WorkspaceItem),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType,
        Unprocessable, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn patch(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> Result<axum::Json<WorkspaceItem>, Problem> {
    update(org, &id, body).await
}

/// Update one of the organization's workspaces (`PUT`)
///
/// A new name, or the status `active`/`inactive` (deactivate or reactivate through the
/// engine); the fields absent stay, as with `PATCH` (`PUT` is the reference's method).
/// `cache_enabled` other than `null` is a 422.
#[utoipa::path(
    put,
    path = "/api/v1/workspaces/{workspace_id}",
    tag = "workspaces",
    operation_id = "put_organization_workspace",
    params(("workspace_id" = String, Path, format = "uuid", description = "The workspace.")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The workspace as it is now.", body = WorkspaceItem),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType,
        Unprocessable, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn put(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> Result<axum::Json<WorkspaceItem>, Problem> {
    update(org, &id, body).await
}

/// What `PATCH` and `PUT` do.
async fn update(
    org: OrgScope,
    id: &str,
    body: UpdateBody,
) -> Result<axum::Json<WorkspaceItem>, Problem> {
    let id: WorkspaceId = path_id("workspace_id", id)?;
    if body.cache_enabled.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported-field",
            "unsupported field",
        )
        .field("cache_enabled")
        .detail("invalid cache_enabled: Bulkhead has no workspace cache; leave it out"));
    }
    let update = WorkspaceUpdate {
        name: text("name", body.name)?
            .map(|n| n.parse::<Name>().map_err(|e| field_as(e, "name")))
            .transpose()?,
        status: text("status", body.status)?
            .map(|s| s.parse().map_err(|e| field_as(e, "status")))
            .transpose()?,
        ..WorkspaceUpdate::default()
    };
    Ok(axum::Json(updated(org, id, update).await?.into()))
}

/// Applies `update` to the workspace `id` and answers it; an empty update (every field left
/// out) only reads it, so it writes nothing and audits nothing. Shared with the v1 `PATCH`.
pub(crate) async fn updated(
    org: OrgScope,
    id: WorkspaceId,
    update: WorkspaceUpdate,
) -> Result<bulkhead::Workspace, Problem> {
    blocking(move || {
        if update.is_empty() {
            org.get_workspace(id)
        } else {
            org.update_workspace(id, &update)
        }
    })
    .await
}

/// Delete one of the organization's workspaces
///
/// The workspace becomes a tombstone at once: it is then not found here, its scoped tokens
/// are refused, and asking a scoped token for its external id answers 410 until the
/// organization purges it. Answers 200 `{id, deleted_at}` (the reference's answer).
#[utoipa::path(
    delete,
    path = "/api/v1/workspaces/{workspace_id}",
    tag = "workspaces",
    operation_id = "delete_organization_workspace",
    params(("workspace_id" = String, Path, format = "uuid", description = "The workspace.")),
    responses(
        (status = 200, description = "The workspace is deleted.", body = Deleted<String>),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn delete(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<Deleted<WorkspaceId>>, Problem> {
    let id: WorkspaceId = path_id("workspace_id", &id)?;
    blocking(move || org.delete_workspace(id)).await?;
    Ok(axum::Json(Deleted {
        id,
        deleted_at: SystemClock.now(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn list_query_takes_the_filters_and_a_page() {
        let q = ListQuery::parse(Some(
            "name_contains=a%20b&status=inactive&limit=5&cursor=AmMy",
        ))
        .unwrap();
        assert_eq!(q.name_contains.as_deref(), Some("a b"));
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.filter().unwrap().status, Some(WorkspaceStatus::Inactive));
        assert_eq!(
            q.carried(),
            vec![("name_contains", "a b"), ("status", "inactive")]
        );
        assert_eq!(ListQuery::parse(None).unwrap(), ListQuery::default());
    }

    #[test]
    fn list_query_names_the_bad_parameter() {
        for (query, field) in [
            ("status=deleted", "status"),
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=x", "limit"),
            ("name_contains=a&name_contains=b", "name_contains"),
            ("workspace_id=x", "workspace_id"),
        ] {
            let err = ListQuery::parse(Some(query)).unwrap_err();
            let body = serde_json::to_value(&err).unwrap();
            assert_eq!(body["field"], field, "{query}");
        }
    }
}
