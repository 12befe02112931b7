//! The Airbyte public API v1 subset, under `/v1` and `/api/public/v1`, as the `airbyte-api`
//! 1.0.1 SDK sends and reads it (`shared/reference/airbyte-http-api.md`, section 2): camelCase
//! fields, 200 with JSON for creates, gets and patches, 204 with no body for deletes,
//! offset/limit pages with `next`/`previous` links.
//!
//! So far: `GET /health`, the workspaces routes (here) and the sources and destinations routes
//! ([`crate::v1_connectors`]). Workspaces take an org key or an access token from
//! `POST /v1/applications/token`; a scoped token is refused (401).

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bulkhead::{
    Error, ExternalId, MAX_PAGE_LIMIT, Name, OrgId, OrgScope, Page, Workspace, WorkspaceFilter,
    WorkspaceId, WorkspaceStatus, WorkspaceUpdate,
};
use serde::{Deserialize, Serialize};

use crate::auth::OrgAuth;
use crate::extract::{Json, path_id};
use crate::problem::{Problem, field_as};
use crate::{AppState, blocking};

/// The prefix a v1 router is mounted under (`/v1` or `/api/public/v1`), for its links.
#[derive(Clone, Copy)]
pub(crate) struct Prefix(pub(crate) &'static str);

/// The default page size of v1 lists.
const DEFAULT_LIMIT: u32 = 20;

/// The most ids one `workspaceIds` filter may name.
const MAX_WORKSPACE_IDS: usize = 100;

/// `GET /v1/health`: 200 while the server answers (no credential).
pub(crate) async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"available": true}))
}

/// `WorkspaceResponse`, plus the external id, organization, status and creation time
/// Bulkhead keeps (the SDK ignores fields it does not know).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspaceResponse {
    workspace_id: WorkspaceId,
    name: String,
    /// Bulkhead has one region.
    data_residency: &'static str,
    /// No notifications: the SDK requires the field, `{}` satisfies it.
    notifications: serde_json::Map<String, serde_json::Value>,
    external_id: String,
    organization_id: OrgId,
    status: WorkspaceStatus,
    /// Seconds since the Unix epoch.
    created_at: i64,
}

impl From<Workspace> for WorkspaceResponse {
    fn from(w: Workspace) -> Self {
        Self {
            workspace_id: w.id,
            name: w.name.as_str().to_owned(),
            data_residency: "auto",
            notifications: serde_json::Map::new(),
            external_id: w.external_id.as_str().to_owned(),
            organization_id: w.org_id,
            status: w.status,
            created_at: w.created_at.unix_millis().div_euclid(1000),
        }
    }
}

/// `{data, next?, previous?}`: the links are absent at either end.
#[derive(Serialize)]
pub(crate) struct ListResponse<T> {
    data: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
}

impl<T> ListResponse<T> {
    /// The page `items` of the list at `path` (under the v1 prefix) asked for by `query`,
    /// with a `next` link when `more` follow and a `previous` one past the first page.
    pub(crate) fn new(
        items: Vec<T>,
        more: bool,
        query: &ListQuery,
        public_url: Option<&str>,
        path: &str,
    ) -> Self {
        let (offset, limit) = (query.offset, query.limit);
        Self {
            next: more
                .then(|| query.link(public_url, path, offset.saturating_add(limit)))
                .flatten(),
            previous: (offset > 0)
                .then(|| query.link(public_url, path, offset.saturating_sub(limit)))
                .flatten(),
            data: items,
        }
    }
}

/// The query of a v1 list: `workspaceIds` (repeated or comma-joined), `includeDeleted`,
/// `limit` (1 to 100, default 20), `offset` (default 0); at most 100 workspace ids. Any
/// other parameter is a 400 naming it, never silently ignored (a singular `workspaceId`
/// would otherwise return everything).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ListQuery {
    pub(crate) workspace_ids: Vec<WorkspaceId>,
    pub(crate) limit: u32,
    pub(crate) offset: u32,
}

impl ListQuery {
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
        let mut parsed = Self {
            workspace_ids: Vec::new(),
            limit: DEFAULT_LIMIT,
            offset: 0,
        };
        let mut seen = BTreeSet::new();
        for (key, value) in pairs {
            if key != "workspaceIds" && !seen.insert(key.clone()) {
                return Err(Problem::invalid(
                    key.clone(),
                    format!("invalid {key}: given more than once"),
                ));
            }
            match key.as_str() {
                "workspaceIds" => {
                    for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let id: WorkspaceId = path_id("workspaceIds", id)?;
                        if !parsed.workspace_ids.contains(&id) {
                            parsed.workspace_ids.push(id);
                        }
                        if parsed.workspace_ids.len() > MAX_WORKSPACE_IDS {
                            return Err(Problem::invalid(
                                "workspaceIds",
                                format!("invalid workspaceIds: at most {MAX_WORKSPACE_IDS} ids"),
                            ));
                        }
                    }
                }
                "includeDeleted" => match value.as_str() {
                    "false" => {}
                    "true" => {
                        return Err(Problem::invalid(
                            "includeDeleted",
                            "invalid includeDeleted: Bulkhead does not list deleted workspaces",
                        ));
                    }
                    _ => {
                        return Err(Problem::invalid(
                            "includeDeleted",
                            "invalid includeDeleted: must be `true` or `false`",
                        ));
                    }
                },
                "limit" => {
                    parsed.limit = value
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
                        })?;
                }
                "offset" => {
                    parsed.offset = value.parse().map_err(|_| {
                        Problem::invalid("offset", "invalid offset: must be an integer from 0")
                    })?;
                }
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

    /// The link to the list at `offset`: the configured public URL (never the request's
    /// `Host`; a bare path without one) + `path` + this query.
    fn link(&self, public_url: Option<&str>, path: &str, offset: u32) -> Option<String> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if !self.workspace_ids.is_empty() {
            let ids: Vec<String> = self.workspace_ids.iter().map(ToString::to_string).collect();
            query.push(("workspaceIds", ids.join(",")));
        }
        query.push(("includeDeleted", "false".to_owned()));
        query.push(("limit", self.limit.to_string()));
        query.push(("offset", offset.to_string()));
        let query = serde_urlencoded::to_string(&query).ok()?;
        Some(format!("{}{path}?{query}", public_url.unwrap_or_default()))
    }
}

/// One offset page of the organization's live workspaces (ordered by external id), and
/// whether more follow. With `ids`, only those (another organization's id, or a missing
/// one, is simply not there).
pub(crate) fn offset_page(
    org: &OrgScope,
    ids: &[WorkspaceId],
    offset: u32,
    limit: u32,
) -> bulkhead::Result<(Vec<Workspace>, bool)> {
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    if !ids.is_empty() {
        let mut found = Vec::new();
        for id in ids {
            match org.get_workspace(*id) {
                Ok(w) => found.push(w),
                Err(Error::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        found.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        let more = found.len() > skip.saturating_add(take);
        return Ok((found.into_iter().skip(skip).take(take).collect(), more));
    }
    // The engine pages by cursor; walk its pages to the offset.
    let mut page = Page::first(MAX_PAGE_LIMIT);
    let mut seen = 0usize;
    let mut out = Vec::new();
    loop {
        let paged = org.list_workspaces(&WorkspaceFilter::default(), &page)?;
        for w in paged.items {
            if seen >= skip {
                if out.len() == take {
                    return Ok((out, true));
                }
                out.push(w);
            }
            seen += 1;
        }
        match paged.next {
            Some(cursor) => page = Page::after(cursor, MAX_PAGE_LIMIT),
            None => return Ok((out, false)),
        }
    }
}

/// `GET /v1/workspaces`: an offset page of the organization's live workspaces.
pub(crate) async fn list_workspaces(
    State(state): State<AppState>,
    axum::Extension(Prefix(prefix)): axum::Extension<Prefix>,
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<ListResponse<WorkspaceResponse>>, Problem> {
    let query = ListQuery::parse(uri.query())?;
    let (ids, offset, limit) = (query.workspace_ids.clone(), query.offset, query.limit);
    let (items, more) = blocking(move || offset_page(&org, &ids, offset, limit)).await?;
    Ok(axum::Json(ListResponse::new(
        items.into_iter().map(Into::into).collect(),
        more,
        &query,
        state.config.public_url.as_deref(),
        &format!("{prefix}/workspaces"),
    )))
}

/// Refuses notification settings other than none: Bulkhead sends no notifications, and a
/// setting it would not honour is not silently dropped.
fn no_notifications(notifications: Option<&serde_json::Value>) -> Result<(), Problem> {
    match notifications {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(serde_json::Value::Object(map)) if map.is_empty() => Ok(()),
        Some(_) => Err(Problem::invalid(
            "notifications",
            "invalid notifications: Bulkhead sends no notifications; send `{}` or leave it out",
        )),
    }
}

/// `WorkspaceCreateRequest`, plus an optional `externalId` (the customer's id in the host's
/// system, unique in the organization; the name when absent).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateWorkspace {
    name: String,
    external_id: Option<String>,
    organization_id: Option<String>,
    notifications: Option<serde_json::Value>,
    #[expect(
        dead_code,
        reason = "accepted for compatibility, Bulkhead has one region"
    )]
    region_id: Option<serde_json::Value>,
}

/// `POST /v1/workspaces`: a new workspace. Its external id is `externalId`, or its name; an
/// external id the organization already uses is a 409 (a create never returns an existing
/// workspace).
pub(crate) async fn create_workspace(
    OrgAuth(org): OrgAuth,
    Json(body): Json<CreateWorkspace>,
) -> Result<axum::Json<WorkspaceResponse>, Problem> {
    no_notifications(body.notifications.as_ref())?;
    if let Some(given) = &body.organization_id
        && path_id::<OrgId>("organizationId", given)? != org.org_id()
    {
        return Err(Problem::invalid(
            "organizationId",
            "invalid organizationId: is not the organization of this credential",
        ));
    }
    let name: Name = body.name.parse().map_err(|e| field_as(e, "name"))?;
    let external_id = ExternalId::new(body.external_id.unwrap_or_else(|| body.name.clone()))
        .map_err(|e| field_as(e, "externalId"))?;
    let workspace = blocking(move || {
        let made = org.get_or_create_workspace(&external_id)?;
        if !made.created {
            return Err(Error::conflict(
                "the organization already has a workspace with this external id",
            ));
        }
        if made.workspace.name == name {
            return Ok(made.workspace);
        }
        let rename = WorkspaceUpdate {
            name: Some(name),
            ..WorkspaceUpdate::default()
        };
        org.update_workspace(made.workspace.id, &rename)
    })
    .await?;
    Ok(axum::Json(workspace.into()))
}

/// `GET /v1/workspaces/{workspaceId}`: another organization's workspace is not found, like a
/// missing one.
pub(crate) async fn get_workspace(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<WorkspaceResponse>, Problem> {
    let id: WorkspaceId = path_id("workspaceId", &id)?;
    let workspace = blocking(move || org.get_workspace(id)).await?;
    Ok(axum::Json(workspace.into()))
}

/// `WorkspaceUpdateRequest`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PatchWorkspace {
    name: Option<String>,
    notifications: Option<serde_json::Value>,
    #[expect(
        dead_code,
        reason = "accepted for compatibility, Bulkhead has one region"
    )]
    region_id: Option<serde_json::Value>,
}

/// `PATCH /v1/workspaces/{workspaceId}`: a new name.
pub(crate) async fn patch_workspace(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
    Json(body): Json<PatchWorkspace>,
) -> Result<axum::Json<WorkspaceResponse>, Problem> {
    let id: WorkspaceId = path_id("workspaceId", &id)?;
    no_notifications(body.notifications.as_ref())?;
    let update = WorkspaceUpdate {
        name: body
            .name
            .map(|n| n.parse::<Name>().map_err(|e| field_as(e, "name")))
            .transpose()?,
        ..WorkspaceUpdate::default()
    };
    let workspace = blocking(move || {
        if update.is_empty() {
            org.get_workspace(id)
        } else {
            org.update_workspace(id, &update)
        }
    })
    .await?;
    Ok(axum::Json(workspace.into()))
}

/// `DELETE /v1/workspaces/{workspaceId}`: 204 with no body (the SDK wants exactly that).
pub(crate) async fn delete_workspace(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: WorkspaceId = path_id("workspaceId", &id)?;
    blocking(move || org.delete_workspace(id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn workspace_ids_come_repeated_or_comma_joined() {
        let a = WorkspaceId::random();
        let b = WorkspaceId::random();
        let repeated = ListQuery::parse(Some(&format!(
            "workspaceIds={a}&workspaceIds={b}&includeDeleted=false&limit=5&offset=10"
        )))
        .unwrap();
        let joined =
            ListQuery::parse(Some(&format!("workspaceIds={a},{b}&limit=5&offset=10"))).unwrap();
        assert_eq!(repeated, joined);
        assert_eq!(repeated.workspace_ids, vec![a, b]);
        assert_eq!((repeated.limit, repeated.offset), (5, 10));
        assert_eq!(ListQuery::parse(None).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn unknown_or_bad_parameters_are_refused() {
        for query in [
            "workspaceId=x",
            "limit=0",
            "limit=101",
            "offset=-1",
            "includeDeleted=yes",
            "includeDeleted=true",
            "workspaceIds=nope",
            "limit=1&limit=2",
        ] {
            assert!(ListQuery::parse(Some(query)).is_err(), "{query}");
        }
        let many: Vec<String> = (0..=MAX_WORKSPACE_IDS)
            .map(|_| WorkspaceId::random().to_string())
            .collect();
        let query = format!("workspaceIds={}", many.join(","));
        assert!(ListQuery::parse(Some(&query)).is_err());
    }

    #[test]
    fn links_carry_the_query_under_the_public_url() {
        let a = WorkspaceId::random();
        let query = ListQuery::parse(Some(&format!("workspaceIds={a}&limit=2"))).unwrap();
        assert_eq!(
            query.link(Some("https://api.example.com"), "/v1/workspaces", 4),
            Some(format!(
                "https://api.example.com/v1/workspaces?workspaceIds={a}&includeDeleted=false&limit=2&offset=4"
            ))
        );
        assert_eq!(
            query.link(None, "/api/public/v1/workspaces", 0),
            Some(format!(
                "/api/public/v1/workspaces?workspaceIds={a}&includeDeleted=false&limit=2&offset=0"
            ))
        );
    }
}
