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
use crate::openapi::{
    BadRequest, Conflict, Gone, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    Unavailable, UnsupportedMediaType,
};
use crate::problem::{Problem, field_as};
use crate::{AppState, blocking};

/// The prefix a v1 router is mounted under (`/v1` or `/api/public/v1`), for its links.
#[derive(Clone, Copy)]
pub(crate) struct Prefix(pub(crate) &'static str);

/// The default page size of v1 lists.
const DEFAULT_LIMIT: u32 = 20;

/// The most ids one `workspaceIds` filter may name.
const MAX_WORKSPACE_IDS: usize = 100;

/// `{"available": true}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Health)]
pub(crate) struct HealthResponse {
    /// Always `true`: the server answers.
    available: bool,
}

/// Check the server answers
///
/// 200 while the server answers; no credential.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    operation_id = "health",
    responses((status = 200, description = "The server answers.", body = HealthResponse)),
)]
pub(crate) async fn health() -> axum::Json<HealthResponse> {
    axum::Json(HealthResponse { available: true })
}

/// `WorkspaceResponse`, plus the external id, organization, status and creation time
/// Bulkhead keeps (the SDK ignores fields it does not know).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspaceResponse {
    /// The workspace.
    #[schema(value_type = String, format = "uuid")]
    workspace_id: WorkspaceId,
    /// Its display name.
    name: String,
    /// Always `auto`: Bulkhead has one region.
    #[schema(value_type = String, example = "auto")]
    data_residency: &'static str,
    /// Always `{}`: no notifications (the SDK requires the field).
    #[schema(value_type = Object)]
    notifications: serde_json::Map<String, serde_json::Value>,
    /// The customer's id in the host's system.
    external_id: String,
    /// Its organization.
    #[schema(value_type = String, format = "uuid")]
    organization_id: OrgId,
    /// Whether it is in use.
    #[schema(value_type = crate::openapi::WorkspaceStatus)]
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
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ListResponse<T> {
    /// The items of this page.
    data: Vec<T>,
    /// The link to the following page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    next: Option<String>,
    /// The link to the page before, absent on the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
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

/// The query parameters [`ListQuery::parse`] takes, for the document.
impl utoipa::IntoParams for ListQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaFormat, Type};
        use utoipa::openapi::{Required, Schema};
        let param = |name: &str, description: &str, schema: Schema| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        let integer = |min: u32, max: Option<u32>, default: u32| {
            Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(min))
                    .maximum(max)
                    .default(Some(default.into()))
                    .build(),
            )
        };
        let uuid = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uuid".to_owned())))
            .build();
        vec![
            param(
                "workspaceIds",
                "Only these workspaces (at most 100): repeated or comma-joined. One the \
                 credential does not reach matches nothing.",
                Schema::Array(ArrayBuilder::new().items(uuid).build()),
            ),
            param(
                "includeDeleted",
                "Only `false`: Bulkhead does not list deleted workspaces.",
                Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::Boolean)
                        .enum_values(Some([false]))
                        .build(),
                ),
            ),
            param(
                "limit",
                "Page size.",
                integer(1, Some(MAX_PAGE_LIMIT), DEFAULT_LIMIT),
            ),
            param("offset", "How many to skip.", integer(0, None, 0)),
        ]
    }
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

/// List workspaces
///
/// An offset page of the organization's live workspaces, ordered by external id.
#[utoipa::path(
    get,
    path = "/workspaces",
    tag = "workspaces",
    operation_id = "list_workspaces",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of workspaces.", body = ListResponse<WorkspaceResponse>),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
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
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateWorkspace {
    /// Its display name.
    name: String,
    /// The customer's id in the host's system, unique in the organization; the name when
    /// absent.
    external_id: Option<String>,
    /// The credential's organization, when given; another is a 400.
    #[schema(format = "uuid")]
    organization_id: Option<String>,
    /// Only `{}` or `null`: Bulkhead sends no notifications.
    #[schema(value_type = Option<Object>)]
    notifications: Option<serde_json::Value>,
    /// Accepted and ignored: Bulkhead has one region.
    #[schema(value_type = Option<String>)]
    #[expect(
        dead_code,
        reason = "accepted for compatibility, Bulkhead has one region"
    )]
    region_id: Option<serde_json::Value>,
}

/// Create a workspace
///
/// A new workspace. Its external id is `externalId`, or its name; an external id the
/// organization already uses is a 409 (a create never returns an existing workspace).
#[utoipa::path(
    post,
    path = "/workspaces",
    tag = "workspaces",
    operation_id = "create_workspace",
    request_body = CreateWorkspace,
    responses(
        (status = 200, description = "The new workspace.", body = WorkspaceResponse),
        BadRequest, Unauthorized, Conflict, PayloadTooLarge, UnsupportedMediaType,
        TooManyRequests, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
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

/// Get a workspace
///
/// Another organization's workspace is not found, like a missing one.
#[utoipa::path(
    get,
    path = "/workspaces/{workspaceId}",
    tag = "workspaces",
    operation_id = "get_workspace",
    params(("workspaceId" = String, Path, format = "uuid", description = "The workspace.")),
    responses(
        (status = 200, description = "The workspace.", body = WorkspaceResponse),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn get_workspace(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<WorkspaceResponse>, Problem> {
    let id: WorkspaceId = path_id("workspaceId", &id)?;
    let workspace = blocking(move || org.get_workspace(id)).await?;
    Ok(axum::Json(workspace.into()))
}

/// `WorkspaceUpdateRequest`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PatchWorkspace {
    /// Its new name.
    name: Option<String>,
    /// Only `{}` or `null`: Bulkhead sends no notifications.
    #[schema(value_type = Option<Object>)]
    notifications: Option<serde_json::Value>,
    /// Accepted and ignored: Bulkhead has one region.
    #[schema(value_type = Option<String>)]
    #[expect(
        dead_code,
        reason = "accepted for compatibility, Bulkhead has one region"
    )]
    region_id: Option<serde_json::Value>,
}

/// Update a workspace
///
/// A new name.
#[utoipa::path(
    patch,
    path = "/workspaces/{workspaceId}",
    tag = "workspaces",
    operation_id = "update_workspace",
    params(("workspaceId" = String, Path, format = "uuid", description = "The workspace.")),
    request_body = PatchWorkspace,
    responses(
        (status = 200, description = "The workspace.", body = WorkspaceResponse),
        BadRequest, Unauthorized, NotFound, Gone, PayloadTooLarge, UnsupportedMediaType,
        Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
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
    let workspace = crate::workspaces::updated(org, id, update).await?;
    Ok(axum::Json(workspace.into()))
}

/// Delete a workspace
///
/// 204 with no body (the SDK wants exactly that).
#[utoipa::path(
    delete,
    path = "/workspaces/{workspaceId}",
    tag = "workspaces",
    operation_id = "delete_workspace",
    params(("workspaceId" = String, Path, format = "uuid", description = "The workspace.")),
    responses(
        (status = 204, description = "The workspace is deleted."),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
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
