//! The seed's Embedded API: `/api/v1/embedded/...`.
//!
//! `POST scoped-token` takes an org key; every other route takes the scoped token it returns
//! and reaches only that token's workspace. A `workspace_id` in a query or body that is not
//! the token's is answered like a missing workspace (404): there is no existence oracle.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bulkhead::{
    Clock, Connection, ConnectorConfig, ConnectorUpdate, Cursor, Destination, Error, ExternalId,
    Name, NewSourceFromTemplate, ObjectKind, OperationSet, OrgId, ScopedToken, ScopedTokenRequest,
    SourceId, SourceTemplateId, SystemClock, Tag, TagMode, TagSelection, Timestamp, WorkspaceId,
    WorkspaceScope,
};
use serde::{Deserialize, Serialize};

use crate::auth::{OrgAuth, ScopedAuth};
use crate::extract::{Json, Query, path_id};
use crate::problem::{Problem, field_as};
use crate::wire::{Deleted, Page, SourceItem, SourceTemplateItem, next_link};
use crate::{AppState, blocking};

/// The body of `POST /api/v1/embedded/scoped-token`.
///
/// The customer's id is `external_id` (the seed's spelling) or any of the aliases Airbyte's
/// generations used. `region_id` is accepted and ignored (Bulkhead has one region); any
/// other unknown field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopedTokenBody {
    #[serde(
        alias = "workspace_name",
        alias = "external_user_id",
        alias = "externalUserId",
        alias = "customer_name"
    )]
    external_id: String,
    selected_source_template_tags: Option<Vec<String>>,
    selected_source_template_tags_mode: Option<String>,
    selected_connection_template_tags: Option<Vec<String>>,
    selected_connection_template_tags_mode: Option<String>,
    /// The token's lifetime in seconds, within the organization's maximum.
    expires_in: Option<u64>,
    /// Operation names (`sources:read`); the seed's default set when absent.
    operations: Option<Vec<String>>,
    organization_id: Option<String>,
    #[expect(
        dead_code,
        reason = "accepted for compatibility, Bulkhead has one region"
    )]
    region_id: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub(crate) struct ScopedTokenResponse {
    token: ScopedToken,
    token_type: &'static str,
    workspace_id: WorkspaceId,
    organization_id: OrgId,
    external_id: String,
    workspace_created: bool,
    expires_at: Timestamp,
    expires_in: u64,
    token_id: String,
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

/// `POST /api/v1/embedded/scoped-token`: gets or creates the customer's workspace, stores
/// its tag selections, and mints a scoped token for it.
pub(crate) async fn scoped_token(
    State(state): State<AppState>,
    OrgAuth(org): OrgAuth,
    Json(body): Json<ScopedTokenBody>,
) -> Result<axum::Json<ScopedTokenResponse>, Problem> {
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
    Ok(axum::Json(ScopedTokenResponse {
        token: issued.token,
        token_type: "Bearer",
        workspace_id: issued.workspace_id,
        organization_id,
        external_id,
        workspace_created: issued.workspace_created,
        expires_at: issued.expires_at,
        expires_in: lifetime,
        token_id: issued.token_id,
    }))
}

#[derive(Serialize)]
pub(crate) struct TokenInfo {
    organization_id: OrgId,
    workspace_id: WorkspaceId,
    workspace_name: String,
    external_id: String,
    operations: OperationSet,
}

/// `GET /api/v1/embedded/scoped-token/info`: what the token in the request grants.
pub(crate) async fn token_info(
    ScopedAuth(ws): ScopedAuth,
) -> Result<axum::Json<TokenInfo>, Problem> {
    let operations = ws.operations();
    let workspace = blocking(move || ws.workspace()).await?;
    Ok(axum::Json(TokenInfo {
        organization_id: workspace.org_id,
        workspace_id: workspace.id,
        workspace_name: workspace.name.as_str().to_owned(),
        external_id: workspace.external_id.as_str().to_owned(),
        operations,
    }))
}

/// Fails as not found when a request names a workspace that is not the token's.
fn own_workspace(ws: &WorkspaceScope, named: Option<&str>) -> Result<(), Problem> {
    let Some(named) = named else { return Ok(()) };
    let id: WorkspaceId = path_id("workspace_id", named)?;
    if id == ws.workspace_id() {
        Ok(())
    } else {
        Err(Error::not_found(ObjectKind::Workspace, id).into())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkspaceQuery {
    workspace_id: Option<String>,
}

/// `GET /api/v1/embedded/source-templates`: the templates the token's workspace sees.
pub(crate) async fn source_templates(
    ScopedAuth(ws): ScopedAuth,
    Query(query): Query<WorkspaceQuery>,
) -> Result<axum::Json<Page<SourceTemplateItem>>, Problem> {
    own_workspace(&ws, query.workspace_id.as_deref())?;
    let templates = blocking(move || ws.source_templates()).await?;
    Ok(axum::Json(Page {
        data: templates.into_iter().map(Into::into).collect(),
        next: None,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSourceBody {
    source_template_id: Option<String>,
    /// The widget's legacy name for the same id.
    source_config_template_id: Option<String>,
    name: Option<String>,
    workspace_id: Option<String>,
    source_config: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub(crate) struct CreatedSource {
    #[serde(flatten)]
    source: SourceItem,
    destinations: Vec<Destination>,
    connections: Vec<Connection>,
}

/// `POST /api/v1/embedded/sources`: a source from a template the workspace sees, with the
/// destinations and connections its connection templates make.
pub(crate) async fn create_source(
    ScopedAuth(ws): ScopedAuth,
    Json(body): Json<CreateSourceBody>,
) -> Result<axum::Json<CreatedSource>, Problem> {
    own_workspace(&ws, body.workspace_id.as_deref())?;
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
    let made = blocking(move || {
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

/// `GET /api/v1/embedded/sources`: a page of the workspace's sources, oldest first.
pub(crate) async fn list_sources(
    State(state): State<AppState>,
    ScopedAuth(ws): ScopedAuth,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Page<SourceItem>>, Problem> {
    own_workspace(&ws, query.workspace_id.as_deref())?;
    let page = page(query.limit, query.cursor.as_deref())?;
    let limit = page.limit();
    let paged = blocking(move || ws.list_sources(&page)).await?;
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

/// `GET /api/v1/embedded/sources/{id}`.
pub(crate) async fn get_source(
    ScopedAuth(ws): ScopedAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<SourceItem>, Problem> {
    let id: SourceId = path_id("source_id", &id)?;
    let source = blocking(move || ws.get_source(id)).await?;
    Ok(axum::Json(source.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateSourceBody {
    name: Option<String>,
    source_config: Option<serde_json::Value>,
}

/// `PUT /api/v1/embedded/sources/{id}`: a new name or configuration (replacing the old one
/// whole; send the mask back to keep a secret).
pub(crate) async fn update_source(
    ScopedAuth(ws): ScopedAuth,
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
    let source = blocking(move || ws.update_source(id, &update))
        .await
        .map_err(|p| p.rename_field("config", "source_config"))?;
    Ok(axum::Json(source.into()))
}

/// `DELETE /api/v1/embedded/sources/{id}`: `{id, deleted_at}`.
pub(crate) async fn delete_source(
    ScopedAuth(ws): ScopedAuth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: SourceId = path_id("source_id", &id)?;
    blocking(move || ws.delete_source(id)).await?;
    Ok(axum::Json(Deleted {
        id,
        deleted_at: SystemClock.now(),
    })
    .into_response())
}
