//! The seed's Embedded API: `/api/v1/embedded/...`.
//!
//! `POST scoped-token` takes an org key (so does `POST widget-token`, in [`crate::widget`]);
//! every other route takes the scoped token it returns and reaches only that token's
//! workspace. A `workspace_id` in a query or body that is not the token's is answered like a
//! missing workspace (404): there is no existence oracle.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bulkhead::{
    AllowedOrigin, Clock, Connection, ConnectorConfig, ConnectorUpdate, Cursor, Destination, Error,
    ExternalId, Name, NewSourceFromTemplate, ObjectKind, OperationSet, OrgId, OrgScope,
    ScopedToken, ScopedTokenRequest, SourceId, SourceTemplateId, SystemClock, Tag, TagMode,
    TagSelection, Timestamp, WorkspaceId, WorkspaceScope,
};
use serde::{Deserialize, Serialize};

use crate::auth::{OrgAuth, ScopedAuth};
use crate::extract::{Json, Query, path_id};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, Gone, NotFound, PayloadTooLarge, TooManyRequests,
    Unauthorized, Unavailable, UnsupportedMediaType,
};
use crate::problem::{Problem, field_as};
use crate::wire::{Deleted, Page, SourceItem, SourceTemplateItem, next_link};
use crate::{AppState, blocking};

/// The body of `POST /api/v1/embedded/scoped-token`.
///
/// The customer's id is `external_id` (the seed's spelling) or any of the aliases Airbyte's
/// generations used. `allowed_origin` binds the token to one browser origin (the widget's
/// host page, see [`crate::widget`]); `widget-token` requires it, here it is optional.
/// `region_id` is accepted and ignored (Bulkhead has one region); any other unknown field is
/// refused.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopedTokenBody {
    /// The customer's id in the host's system: its workspace is found or made by it. Also
    /// taken as `workspace_name`, `external_user_id`, `externalUserId` or `customer_name`.
    #[serde(
        alias = "workspace_name",
        alias = "external_user_id",
        alias = "externalUserId",
        alias = "customer_name"
    )]
    external_id: String,
    /// The tags of the source templates the workspace sees; the workspace keeps its own
    /// when absent.
    selected_source_template_tags: Option<Vec<String>>,
    /// `any` (the default) or `all`; needs `selected_source_template_tags`.
    #[schema(value_type = Option<crate::openapi::TagMode>)]
    selected_source_template_tags_mode: Option<String>,
    /// The tags of the connection templates a new source's connections come from.
    selected_connection_template_tags: Option<Vec<String>>,
    /// `any` (the default) or `all`; needs `selected_connection_template_tags`.
    #[schema(value_type = Option<crate::openapi::TagMode>)]
    selected_connection_template_tags_mode: Option<String>,
    /// The token's lifetime in seconds, within the organization's maximum.
    expires_in: Option<u64>,
    /// Operation names (`sources:read`); the seed's default set when absent.
    operations: Option<Vec<String>>,
    /// The org key's organization, when given; another is a 400.
    #[schema(format = "uuid")]
    organization_id: Option<String>,
    /// The browser origin (`https://app.example.com`) the token is bound to, for a widget's
    /// host page; optional here, required by `widget-token`. Read as any JSON value, so that a
    /// mistyped one is refused naming this field.
    #[serde(alias = "allowedOrigin")]
    #[schema(value_type = Option<String>)]
    pub(crate) allowed_origin: Option<serde_json::Value>,
    /// Accepted and ignored: Bulkhead has one region.
    #[expect(
        dead_code,
        reason = "accepted for compatibility, Bulkhead has one region"
    )]
    region_id: Option<serde_json::Value>,
}

/// A scoped token for one customer's workspace.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ScopedTokenResponse {
    /// The scoped token (a JWT): the bearer credential of the customer's routes.
    #[schema(value_type = String)]
    pub(crate) token: ScopedToken,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    /// The customer's workspace.
    #[schema(value_type = String, format = "uuid")]
    workspace_id: WorkspaceId,
    /// The organization.
    #[schema(value_type = String, format = "uuid")]
    organization_id: OrgId,
    /// The customer's id, as stored.
    external_id: String,
    /// Whether this request made the workspace.
    workspace_created: bool,
    /// When the token expires.
    #[schema(value_type = crate::openapi::Timestamp)]
    expires_at: Timestamp,
    /// Seconds the token lives.
    expires_in: u64,
    /// The token's id, for revocation and audit.
    token_id: String,
    /// The browser origin the token is bound to, when the request named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    allowed_origin: Option<AllowedOrigin>,
}

/// The tags of one selection field and its `_mode`, or `None` to keep the workspace's.
fn selection(
    field: &'static str,
    mode_field: &'static str,
    tags: Option<Vec<String>>,
    mode: Option<String>,
) -> Result<Option<TagSelection>, Problem> {
    let mode = match mode {
        None => TagMode::Any,
        Some(mode) => mode.parse().map_err(|e| field_as(e, mode_field))?,
    };
    let Some(tags) = tags else {
        return Ok(None);
    };
    let tags = tags
        .iter()
        .map(|t| t.parse::<Tag>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| field_as(e, field))?;
    Ok(Some(TagSelection::new(tags, mode)))
}

/// Get a scoped token for a customer
///
/// Gets or creates the customer's workspace (by `external_id`), stores its tag selections
/// when given, and mints a scoped token for it: the seed's call, as its curl sends it.
#[utoipa::path(
    post,
    path = "/api/v1/embedded/scoped-token",
    tag = "embedded",
    operation_id = "create_scoped_token",
    request_body = ScopedTokenBody,
    responses(
        (status = 200, description = "The scoped token.", body = ScopedTokenResponse),
        BadRequest, Unauthorized, Conflict, Gone, PayloadTooLarge, UnsupportedMediaType,
        TooManyRequests, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn scoped_token(
    State(state): State<AppState>,
    OrgAuth(org): OrgAuth,
    Json(body): Json<ScopedTokenBody>,
) -> Result<axum::Json<ScopedTokenResponse>, Problem> {
    issue(&state, org, body).await.map(axum::Json)
}

/// Checks `body` whole (nothing is written for a bad one), then runs the scoped-token flow.
pub(crate) async fn issue(
    state: &AppState,
    org: OrgScope,
    body: ScopedTokenBody,
) -> Result<ScopedTokenResponse, Problem> {
    let external_id = ExternalId::new(body.external_id).map_err(|e| field_as(e, "external_id"))?;
    if body.selected_source_template_tags.is_none()
        && body.selected_source_template_tags_mode.is_some()
    {
        return Err(Problem::invalid(
            "selected_source_template_tags_mode",
            "invalid selected_source_template_tags_mode: needs selected_source_template_tags",
        ));
    }
    if body.selected_connection_template_tags.is_none()
        && body.selected_connection_template_tags_mode.is_some()
    {
        return Err(Problem::invalid(
            "selected_connection_template_tags_mode",
            "invalid selected_connection_template_tags_mode: needs selected_connection_template_tags",
        ));
    }
    if let Some(given) = &body.organization_id
        && path_id::<OrgId>("organization_id", given)? != org.org_id()
    {
        return Err(Problem::invalid(
            "organization_id",
            "invalid organization_id: is not the organization of this org key",
        ));
    }
    let mut request = ScopedTokenRequest::new(external_id);
    request.source_tags = selection(
        "selected_source_template_tags",
        "selected_source_template_tags_mode",
        body.selected_source_template_tags,
        body.selected_source_template_tags_mode,
    )?;
    request.connection_tags = selection(
        "selected_connection_template_tags",
        "selected_connection_template_tags_mode",
        body.selected_connection_template_tags,
        body.selected_connection_template_tags_mode,
    )?;
    request.ttl = body.expires_in.map(Duration::from_secs);
    if let Some(names) = &body.operations {
        request.operations = Some(
            OperationSet::parse(names.iter().map(String::as_str))
                .map_err(|e| field_as(e, "operations"))?,
        );
    }
    request.allowed_origin = match &body.allowed_origin {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(origin)) => Some(
            AllowedOrigin::parse_field("allowed_origin", origin)
                .map_err(|e| field_as(e, "allowed_origin"))?,
        ),
        Some(_) => {
            return Err(Problem::invalid(
                "allowed_origin",
                "invalid allowed_origin: must be a string like `https://app.example.com`",
            ));
        }
    };
    let allowed_origin = request.allowed_origin.clone();
    let external_id = request.external_id.as_str().to_owned();
    let organization_id = org.org_id();
    let engine = state.engine.clone();
    let (issued, lifetime) = blocking(move || {
        let issued = org.scoped_token(&request)?;
        // The lifetime the token has, from its own claims: the organization's default is
        // read by the engine, and the scope may be older than a change of it.
        let claims = engine.verify_token(issued.token.expose())?;
        let lifetime =
            u64::try_from(claims.expires_at.saturating_sub(claims.issued_at)).unwrap_or(0);
        Ok((issued, lifetime))
    })
    .await
    .map_err(|p| p.rename_field("ttl", "expires_in"))?;
    Ok(ScopedTokenResponse {
        token: issued.token,
        token_type: "Bearer",
        workspace_id: issued.workspace_id,
        organization_id,
        external_id,
        workspace_created: issued.workspace_created,
        expires_at: issued.expires_at,
        expires_in: lifetime,
        token_id: issued.token_id,
        allowed_origin,
    })
}

/// What a scoped token grants.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenInfo {
    /// The organization.
    #[schema(value_type = String, format = "uuid")]
    organization_id: OrgId,
    /// The token's workspace.
    #[schema(value_type = String, format = "uuid")]
    workspace_id: WorkspaceId,
    /// The workspace's name.
    workspace_name: String,
    /// The customer's id.
    external_id: String,
    /// The operations the token allows (`sources:read`, ...).
    #[schema(value_type = Vec<String>)]
    operations: OperationSet,
    /// The origin a widget's token is bound to; absent for any other token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    allowed_origin: Option<AllowedOrigin>,
}

/// Describe the scoped token in the request
///
/// Its organization, workspace, customer and operations.
#[utoipa::path(
    get,
    path = "/api/v1/embedded/scoped-token/info",
    tag = "embedded",
    operation_id = "get_scoped_token_info",
    responses(
        (status = 200, description = "What the token grants.", body = TokenInfo),
        Unauthorized, Conflict, Unavailable,
    ),
    security(("scoped_token" = [])),
)]
pub(crate) async fn token_info(auth: ScopedAuth) -> Result<axum::Json<TokenInfo>, Problem> {
    let (operations, allowed_origin, workspace) = auth
        .run(move |ws| {
            let workspace = ws.workspace()?;
            Ok((ws.operations(), ws.allowed_origin().cloned(), workspace))
        })
        .await?;
    Ok(axum::Json(TokenInfo {
        organization_id: workspace.org_id,
        workspace_id: workspace.id,
        workspace_name: workspace.name.as_str().to_owned(),
        external_id: workspace.external_id.as_str().to_owned(),
        operations,
        allowed_origin,
    }))
}

/// The workspace a request names (`workspace_id`), if it names one: a 400 when it is not an
/// id.
fn named_workspace(named: Option<&str>) -> Result<Option<WorkspaceId>, Problem> {
    named.map(|n| path_id("workspace_id", n)).transpose()
}

/// Fails as not found when a request names a workspace that is not the token's.
fn own_workspace(ws: &WorkspaceScope, named: Option<WorkspaceId>) -> bulkhead::Result<()> {
    match named {
        Some(id) if id != ws.workspace_id() => Err(Error::not_found(ObjectKind::Workspace, id)),
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkspaceQuery {
    workspace_id: Option<String>,
}

/// List the source templates the workspace sees
///
/// The organization's source templates whose tags the workspace's selection allows, with
/// the configuration spec a customer fills in.
#[utoipa::path(
    get,
    path = "/api/v1/embedded/source-templates",
    tag = "embedded",
    operation_id = "embedded_list_source_templates",
    params(("workspace_id" = Option<String>, Query, format = "uuid", description = "The token's own workspace; any other is not found.")),
    responses(
        (status = 200, description = "The templates, in one page (`next` is null).", body = Page<SourceTemplateItem>),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    ),
    security(("scoped_token" = [])),
)]
pub(crate) async fn source_templates(
    auth: ScopedAuth,
    Query(query): Query<WorkspaceQuery>,
) -> Result<axum::Json<Page<SourceTemplateItem>>, Problem> {
    let named = named_workspace(query.workspace_id.as_deref())?;
    let templates = auth
        .run(move |ws| {
            own_workspace(&ws, named)?;
            ws.source_templates()
        })
        .await?;
    Ok(axum::Json(Page {
        data: templates.into_iter().map(Into::into).collect(),
        next: None,
    }))
}

/// A new source from a template.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSourceBody {
    /// The template, one the workspace sees (required, or its legacy name).
    #[schema(format = "uuid")]
    source_template_id: Option<String>,
    /// The widget's legacy name for the same id.
    #[schema(format = "uuid")]
    source_config_template_id: Option<String>,
    /// Its name; the template's when absent.
    name: Option<String>,
    /// The token's own workspace, when given; any other is not found.
    #[schema(format = "uuid")]
    workspace_id: Option<String>,
    /// The customer's part of the configuration, checked against the template's spec.
    #[schema(value_type = Option<Object>)]
    source_config: Option<serde_json::Value>,
}

/// A new source, with what its connection templates made.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedSource {
    #[serde(flatten)]
    source: SourceItem,
    /// The destinations the workspace's connection templates made for it.
    #[schema(value_type = Vec<Object>)]
    destinations: Vec<Destination>,
    /// The connections from the source to those destinations.
    #[schema(value_type = Vec<Object>)]
    connections: Vec<Connection>,
}

/// Create a source from a template
///
/// A source from a template the workspace sees, with the destinations and connections the
/// workspace's connection templates make. Secret fields are masked in the answer.
#[utoipa::path(
    post,
    path = "/api/v1/embedded/sources",
    tag = "embedded",
    operation_id = "embedded_create_source",
    request_body = CreateSourceBody,
    responses(
        (status = 200, description = "The source, its destinations and connections.", body = CreatedSource),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        UnsupportedMediaType, TooManyRequests, Unavailable,
    ),
    security(("scoped_token" = [])),
)]
pub(crate) async fn create_source(
    auth: ScopedAuth,
    Json(body): Json<CreateSourceBody>,
) -> Result<axum::Json<CreatedSource>, Problem> {
    let named = named_workspace(body.workspace_id.as_deref())?;
    let template = match (&body.source_template_id, &body.source_config_template_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::invalid(
                "source_config_template_id",
                "invalid source_config_template_id: differs from source_template_id",
            ));
        }
        (Some(id), _) | (None, Some(id)) => id.clone(),
        (None, None) => {
            return Err(Problem::invalid(
                "source_template_id",
                "invalid source_template_id: is required",
            ));
        }
    };
    let template_id: SourceTemplateId = path_id("source_template_id", &template)?;
    let config = ConnectorConfig::new(
        body.source_config
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
    )
    .map_err(|e| field_as(e, "source_config"))?;
    let name = body
        .name
        .map(|n| n.parse::<Name>().map_err(|e| field_as(e, "name")))
        .transpose()?;
    let made = auth
        .run(move |ws| {
            own_workspace(&ws, named)?;
            // Without a name, the source takes its template's.
            let name = match name {
                Some(name) => name,
                None => ws
                    .source_templates()?
                    .into_iter()
                    .find(|t| t.id == template_id)
                    .map(|t| t.name)
                    .ok_or_else(|| Error::not_found(ObjectKind::SourceTemplate, template_id))?,
            };
            ws.create_source_from_template(NewSourceFromTemplate {
                template_id,
                name,
                config,
            })
        })
        .await
        .map_err(|p| p.rename_field("config", "source_config"))?;
    Ok(axum::Json(CreatedSource {
        source: made.source.into(),
        destinations: made.destinations,
        connections: made.connections,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    workspace_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The default page size of list routes.
const DEFAULT_LIMIT: u32 = 20;

/// A page request from `limit` and `cursor`.
pub(crate) fn page(limit: Option<u32>, cursor: Option<&str>) -> Result<bulkhead::Page, Problem> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    Ok(match cursor {
        None => bulkhead::Page::first(limit),
        Some(text) => bulkhead::Page::after(
            text.parse::<Cursor>().map_err(|e| field_as(e, "cursor"))?,
            limit,
        ),
    })
}

/// List the workspace's sources
///
/// A page of the workspace's sources, oldest first; `next` links to the following page.
#[utoipa::path(
    get,
    path = "/api/v1/embedded/sources",
    tag = "embedded",
    operation_id = "embedded_list_sources",
    params(
        ("workspace_id" = Option<String>, Query, format = "uuid", description = "The token's own workspace; any other is not found."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, 20 by default."),
        ("cursor" = Option<String>, Query, description = "Where the page starts: the `cursor` of the previous page's `next` link."),
    ),
    responses(
        (status = 200, description = "A page of sources.", body = Page<SourceItem>),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    ),
    security(("scoped_token" = [])),
)]
pub(crate) async fn list_sources(
    State(state): State<AppState>,
    auth: ScopedAuth,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Page<SourceItem>>, Problem> {
    let named = named_workspace(query.workspace_id.as_deref())?;
    let page = page(query.limit, query.cursor.as_deref())?;
    let limit = page.limit();
    let paged = auth
        .run(move |ws| {
            own_workspace(&ws, named)?;
            ws.list_sources(&page)
        })
        .await?;
    Ok(axum::Json(Page {
        next: next_link(
            state.config.public_url.as_deref(),
            "/api/v1/embedded/sources",
            limit,
            paged.next.as_ref(),
            &[],
        ),
        data: paged.items.into_iter().map(Into::into).collect(),
    }))
}

/// Get one of the workspace's sources
#[utoipa::path(
    get,
    path = "/api/v1/embedded/sources/{source_id}",
    tag = "embedded",
    operation_id = "embedded_get_source",
    params(("source_id" = String, Path, format = "uuid", description = "The source.")),
    responses(
        (status = 200, description = "The source, secrets masked.", body = SourceItem),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    ),
    security(("scoped_token" = [])),
)]
pub(crate) async fn get_source(
    auth: ScopedAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<SourceItem>, Problem> {
    let id: SourceId = path_id("source_id", &id)?;
    let source = auth.run(move |ws| ws.get_source(id)).await?;
    Ok(axum::Json(source.into()))
}

/// A new name or configuration for a source.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateSourceBody {
    /// Its new name.
    name: Option<String>,
    /// Its new configuration, replacing the old one whole; send a masked secret back as it
    /// was answered to keep it.
    #[schema(value_type = Option<Object>)]
    source_config: Option<serde_json::Value>,
}

/// Update one of the workspace's sources
///
/// A new name or configuration (the configuration replaces the old one whole; send the
/// mask back to keep a secret).
#[utoipa::path(
    put,
    path = "/api/v1/embedded/sources/{source_id}",
    tag = "embedded",
    operation_id = "embedded_update_source",
    params(("source_id" = String, Path, format = "uuid", description = "The source.")),
    request_body = UpdateSourceBody,
    responses(
        (status = 200, description = "The source, secrets masked.", body = SourceItem),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        UnsupportedMediaType, Unavailable,
    ),
    security(("scoped_token" = [])),
)]
pub(crate) async fn update_source(
    auth: ScopedAuth,
    Path(id): Path<String>,
    Json(body): Json<UpdateSourceBody>,
) -> Result<axum::Json<SourceItem>, Problem> {
    let id: SourceId = path_id("source_id", &id)?;
    let update = ConnectorUpdate {
        name: body
            .name
            .map(|n| n.parse::<Name>().map_err(|e| field_as(e, "name")))
            .transpose()?,
        config: body
            .source_config
            .map(|c| ConnectorConfig::new(c).map_err(|e| field_as(e, "source_config")))
            .transpose()?,
    };
    let source = auth
        .run(move |ws| ws.update_source(id, &update))
        .await
        .map_err(|p| p.rename_field("config", "source_config"))?;
    Ok(axum::Json(source.into()))
}

/// Delete one of the workspace's sources
///
/// Answers `{id, deleted_at}`; a source a connection uses is a 409.
#[utoipa::path(
    delete,
    path = "/api/v1/embedded/sources/{source_id}",
    tag = "embedded",
    operation_id = "embedded_delete_source",
    params(("source_id" = String, Path, format = "uuid", description = "The source.")),
    responses(
        (status = 200, description = "The source is deleted.", body = Deleted<String>),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    ),
    security(("scoped_token" = [])),
)]
pub(crate) async fn delete_source(
    auth: ScopedAuth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: SourceId = path_id("source_id", &id)?;
    auth.run(move |ws| ws.delete_source(id)).await?;
    Ok(axum::Json(Deleted {
        id,
        deleted_at: SystemClock.now(),
    })
    .into_response())
}
