//! The Airbyte public API v1 sources routes, under `/v1` and `/api/public/v1`
//! (`shared/reference/airbyte-http-api.md`, sections 2.2 and 2.3): list, create, get, patch,
//! put and delete, in the shapes the `airbyte-api` 1.0.1 SDK sends and reads.
//!
//! **Credentials.** An org key or an access token reaches every workspace of its
//! organization. A scoped token is taken too (the platform lets its embedded tokens use these
//! routes, section 1.1) and reaches only its own workspace: a source or workspace id outside
//! it is not found (404, like a random id), and a `workspaceIds` filter naming other
//! workspaces matches nothing there. Creating a source from a raw configuration needs
//! organization access (the engine's rule: customers create sources from templates, on the
//! Embedded API), so a scoped token's `POST /v1/sources` is a 403.
//!
//! **Shapes.** `sourceType` is the source's connector; `definitionId` is its connector name
//! too (Bulkhead has no connector definition ids). The connector of a new source is its
//! `configuration.sourceType` (what the SDK's typed models send) or else `definitionId`. The
//! configuration is echoed as stored, `sourceType` included, with the fields its template's
//! spec marks secret masked (a raw configuration has no spec, so nothing in it is masked).
//! A patch's `configuration` replaces the stored one whole; send the mask back to keep a
//! secret.
//!
//! **Cost.** The engine keeps sources per workspace, so an organization's list walks its
//! workspaces (by external id), and a get, patch or delete by id with an org credential
//! looks the source up workspace by workspace. A scoped token reads its one workspace.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bulkhead::{
    Connector, ConnectorConfig, ConnectorUpdate, Error, MAX_PAGE_LIMIT, Name, NewSource,
    ObjectKind, Page, Source, SourceId, WorkspaceId, WorkspaceScope,
};
use serde::{Deserialize, Serialize};

use crate::auth::{AnyAuth, Caller};
use crate::extract::{Json, path_id};
use crate::problem::{Problem, field_as};
use crate::v1::{ListQuery, ListResponse, Prefix, offset_page};
use crate::{AppState, blocking};

/// `SourceResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SourceResponse {
    source_id: SourceId,
    name: String,
    source_type: String,
    definition_id: String,
    workspace_id: WorkspaceId,
    configuration: ConnectorConfig,
    /// Seconds since the Unix epoch (the SDK refuses a string).
    created_at: i64,
}

impl From<Source> for SourceResponse {
    fn from(s: Source) -> Self {
        Self {
            source_id: s.id,
            name: s.name.as_str().to_owned(),
            source_type: s.connector.as_str().to_owned(),
            definition_id: s.connector.as_str().to_owned(),
            workspace_id: s.workspace_id,
            configuration: s.config,
            created_at: s.created_at.unix_millis().div_euclid(1000),
        }
    }
}

/// The workspaces `caller` reaches, narrowed to `ids` when some are given (an id it does
/// not reach is simply not there); an organization's in external-id order.
fn reached(caller: &Caller, ids: &[WorkspaceId]) -> bulkhead::Result<Vec<WorkspaceScope>> {
    match caller {
        Caller::Workspace(ws) => {
            let own = ws.workspace_id();
            Ok(if ids.is_empty() || ids.contains(&own) {
                vec![WorkspaceScope::clone(ws)]
            } else {
                Vec::new()
            })
        }
        Caller::Org(org) => {
            let (workspaces, _) = offset_page(org, ids, 0, u32::MAX)?;
            workspaces
                .into_iter()
                .map(|w| org.workspace(w.id))
                .collect()
        }
    }
}

/// One offset page of the sources of `workspaces` (each workspace's oldest first), and
/// whether more follow.
fn sources_page(
    workspaces: &[WorkspaceScope],
    offset: u32,
    limit: u32,
) -> bulkhead::Result<(Vec<Source>, bool)> {
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut seen = 0usize;
    let mut out = Vec::new();
    for ws in workspaces {
        let mut page = Page::first(MAX_PAGE_LIMIT);
        loop {
            let paged = ws.list_sources(&page)?;
            for source in paged.items {
                if seen >= skip {
                    if out.len() == take {
                        return Ok((out, true));
                    }
                    out.push(source);
                }
                seen += 1;
            }
            match paged.next {
                Some(cursor) => page = Page::after(cursor, MAX_PAGE_LIMIT),
                None => break,
            }
        }
    }
    Ok((out, false))
}

/// The workspace of the source `id` that `caller` reaches, with the source; not found
/// otherwise (another tenant's id included).
fn locate(caller: &Caller, id: SourceId) -> bulkhead::Result<(WorkspaceScope, Source)> {
    let workspaces = match caller {
        Caller::Workspace(ws) => {
            let source = ws.get_source(id)?;
            return Ok((WorkspaceScope::clone(ws), source));
        }
        Caller::Org(_) => reached(caller, &[])?,
    };
    for ws in workspaces {
        match ws.get_source(id) {
            Ok(source) => return Ok((ws, source)),
            Err(Error::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Err(Error::not_found(ObjectKind::Source, id))
}

/// The workspace `id` as `caller` reaches it; not found otherwise.
fn workspace_of(caller: &Caller, id: WorkspaceId) -> bulkhead::Result<WorkspaceScope> {
    match caller {
        Caller::Workspace(ws) if ws.workspace_id() == id => Ok(WorkspaceScope::clone(ws)),
        Caller::Workspace(_) => Err(Error::not_found(ObjectKind::Workspace, id)),
        Caller::Org(org) => org.workspace(id),
    }
}

/// `GET /v1/sources`: an offset page of the sources the credential reaches.
pub(crate) async fn list(
    State(state): State<AppState>,
    axum::Extension(Prefix(prefix)): axum::Extension<Prefix>,
    AnyAuth(caller): AnyAuth,
    uri: Uri,
) -> Result<axum::Json<ListResponse<SourceResponse>>, Problem> {
    let query = ListQuery::parse(uri.query())?;
    let (ids, offset, limit) = (query.workspace_ids.clone(), query.offset, query.limit);
    let (items, more) = blocking(move || {
        let workspaces = reached(&caller, &ids)?;
        sources_page(&workspaces, offset, limit)
    })
    .await?;
    Ok(axum::Json(ListResponse::new(
        items.into_iter().map(Into::into).collect(),
        more,
        &query,
        state.config.public_url.as_deref(),
        &format!("{prefix}/sources"),
    )))
}

/// The connector a configuration names in `sourceType`, if it names one.
fn source_type(config: &serde_json::Value) -> Result<Option<String>, Problem> {
    match config.get("sourceType") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Problem::invalid(
            "configuration.sourceType",
            "invalid configuration.sourceType: must be a string",
        )),
    }
}

/// A configuration from the request: a JSON object, stored as sent.
fn configuration(value: serde_json::Value) -> Result<ConnectorConfig, Problem> {
    ConnectorConfig::new(value).map_err(|e| field_as(e, "configuration"))
}

/// `SourceCreateRequest`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateSource {
    name: String,
    workspace_id: String,
    configuration: serde_json::Value,
    definition_id: Option<String>,
}

/// `POST /v1/sources`: a source from a raw configuration in a workspace the credential
/// reaches (organization access only).
pub(crate) async fn create(
    AnyAuth(caller): AnyAuth,
    Json(body): Json<CreateSource>,
) -> Result<axum::Json<SourceResponse>, Problem> {
    let workspace_id: WorkspaceId = path_id("workspaceId", &body.workspace_id)?;
    let name: Name = body.name.parse().map_err(|e| field_as(e, "name"))?;
    let connector = match (source_type(&body.configuration)?, body.definition_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::invalid(
                "definitionId",
                "invalid definitionId: differs from configuration.sourceType",
            ));
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => {
            return Err(Problem::invalid(
                "definitionId",
                "invalid definitionId: give it or configuration.sourceType",
            ));
        }
    };
    let connector: Connector = connector
        .parse()
        .map_err(|e| field_as(e, "configuration.sourceType"))?;
    let config = configuration(body.configuration)?;
    let source = blocking(move || {
        workspace_of(&caller, workspace_id)?.create_source(NewSource {
            name,
            connector,
            config,
        })
    })
    .await
    .map_err(|p| p.rename_field("config", "configuration"))?;
    Ok(axum::Json(source.into()))
}

/// The query of a get: only `includeSecretCoordinates=false` (Bulkhead has no secret
/// coordinates to show); anything else is a 400.
fn get_query(query: Option<&str>) -> Result<(), Problem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
    for (key, value) in pairs {
        match (key.as_str(), value.as_str()) {
            ("includeSecretCoordinates", "false") => {}
            ("includeSecretCoordinates", _) => {
                return Err(Problem::invalid(
                    "includeSecretCoordinates",
                    "invalid includeSecretCoordinates: Bulkhead has no secret coordinates; \
                     send `false` or leave it out",
                ));
            }
            _ => {
                return Err(Problem::invalid(
                    key.clone(),
                    format!("unknown query parameter `{key}`"),
                ));
            }
        }
    }
    Ok(())
}

/// `GET /v1/sources/{sourceId}`.
pub(crate) async fn get(
    AnyAuth(caller): AnyAuth,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<axum::Json<SourceResponse>, Problem> {
    let id: SourceId = path_id("sourceId", &id)?;
    get_query(uri.query())?;
    let (_, source) = blocking(move || locate(&caller, id)).await?;
    Ok(axum::Json(source.into()))
}

/// `SourcePatchRequest`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PatchSource {
    name: Option<String>,
    workspace_id: Option<String>,
    configuration: Option<serde_json::Value>,
}

/// `SourcePutRequest`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PutSource {
    name: String,
    configuration: serde_json::Value,
}

/// What a patch or put asks of the source it names.
struct Change {
    /// The workspace it names, which must be the source's own.
    workspace: Option<WorkspaceId>,
    /// The `configuration.sourceType` it sends, which must be the source's connector.
    source_type: Option<String>,
    update: ConnectorUpdate,
}

/// Applies `change` to the source `id`.
async fn update(
    caller: Caller,
    id: SourceId,
    change: Change,
) -> Result<axum::Json<SourceResponse>, Problem> {
    let Change {
        workspace,
        source_type,
        update,
    } = change;
    let source = blocking(move || {
        let (ws, source) = locate(&caller, id)?;
        if let Some(workspace) = workspace
            && workspace != source.workspace_id
        {
            return Err(Error::invalid_input(
                "workspaceId",
                "a source does not move between workspaces",
            ));
        }
        if let Some(given) = source_type
            && given != source.connector.as_str()
        {
            return Err(Error::invalid_input(
                "configuration.sourceType",
                "a source's connector does not change",
            ));
        }
        if update.name.is_none() && update.config.is_none() {
            return Ok(source);
        }
        ws.update_source(id, &update)
    })
    .await
    .map_err(|p| p.rename_field("config", "configuration"))?;
    Ok(axum::Json(source.into()))
}

/// `PATCH /v1/sources/{sourceId}`: a new name or configuration.
pub(crate) async fn patch(
    AnyAuth(caller): AnyAuth,
    Path(id): Path<String>,
    Json(body): Json<PatchSource>,
) -> Result<axum::Json<SourceResponse>, Problem> {
    let id: SourceId = path_id("sourceId", &id)?;
    let workspace = body
        .workspace_id
        .map(|w| path_id::<WorkspaceId>("workspaceId", &w))
        .transpose()?;
    let source_type = body.configuration.as_ref().map(source_type).transpose()?;
    let change = Change {
        workspace,
        source_type: source_type.flatten(),
        update: ConnectorUpdate {
            name: body
                .name
                .map(|n| n.parse::<Name>().map_err(|e| field_as(e, "name")))
                .transpose()?,
            config: body.configuration.map(configuration).transpose()?,
        },
    };
    update(caller, id, change).await
}

/// `PUT /v1/sources/{sourceId}`: a new name and configuration.
pub(crate) async fn put(
    AnyAuth(caller): AnyAuth,
    Path(id): Path<String>,
    Json(body): Json<PutSource>,
) -> Result<axum::Json<SourceResponse>, Problem> {
    let id: SourceId = path_id("sourceId", &id)?;
    let change = Change {
        workspace: None,
        source_type: source_type(&body.configuration)?,
        update: ConnectorUpdate {
            name: Some(body.name.parse::<Name>().map_err(|e| field_as(e, "name"))?),
            config: Some(configuration(body.configuration)?),
        },
    };
    update(caller, id, change).await
}

/// `DELETE /v1/sources/{sourceId}`: 204 with no body (the SDK wants exactly that); a
/// source a connection uses is a 409.
pub(crate) async fn delete(
    AnyAuth(caller): AnyAuth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: SourceId = path_id("sourceId", &id)?;
    blocking(move || {
        let (ws, _) = locate(&caller, id)?;
        ws.delete_source(id)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
