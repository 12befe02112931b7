//! The Airbyte public API v1 sources and destinations routes, under `/v1` and
//! `/api/public/v1` (`shared/reference/airbyte-http-api.md`, sections 2.2 and 2.3): list,
//! create, get, patch, put and delete, in the shapes the `airbyte-api` 1.0.1 SDK sends and
//! reads. One set of handlers serves both, through [`Kind`].
//!
//! **Credentials.** An org key or an access token reaches every workspace of its
//! organization. A scoped token is taken too (the platform lets its embedded tokens use the
//! sources routes and create destinations, section 1.1) and reaches only its own workspace: a
//! source, destination or workspace id outside it is not found (404, like a random id), and a
//! `workspaceIds` filter naming other workspaces matches nothing there. What the token may do
//! in its workspace is the engine's rule: creating from a raw configuration needs
//! organization access (customers create sources from templates, on the Embedded API), so a
//! scoped token's `POST /v1/sources` or `POST /v1/destinations` is a 403, and an operation
//! the token does not hold is a 403 too.
//!
//! **Shapes.** `sourceType` (`destinationType`) is the connector; `definitionId` is the
//! connector name too (Bulkhead has no connector definition ids). The connector of a new one
//! is its `configuration.sourceType` (`destinationType`; what the SDK's typed models send) or
//! else `definitionId`. The configuration is echoed as stored, the type included, with the
//! fields its template's spec marks secret masked (a raw configuration has no spec, so
//! nothing in it is masked). A patch's `configuration` replaces the stored one whole; send the
//! mask back to keep a secret.
//!
//! **Cost.** The engine keeps sources and destinations per workspace, so an organization's
//! list walks its workspaces (by external id), and a get, patch or delete by id with an org
//! credential looks it up workspace by workspace. A scoped token reads its one workspace.

use std::fmt::Display;
use std::str::FromStr;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bulkhead::{
    Connector, ConnectorConfig, ConnectorUpdate, Destination, DestinationId, Error, MAX_PAGE_LIMIT,
    Name, NewDestination, NewSource, ObjectKind, Page, Paged, Source, SourceId, WorkspaceId,
    WorkspaceScope,
};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{AnyAuth, Caller};
use crate::extract::{Json, path_id};
use crate::problem::{Problem, field_as};
use crate::v1::{ListQuery, ListResponse, Prefix, offset_page};

/// Sources or destinations: what the shared handlers need of each.
pub(crate) trait Kind: Send + Sync + 'static {
    type Id: FromStr + Display + Copy + Send + 'static;
    type Item: Send + 'static;
    type Response: Serialize + From<Self::Item>;
    /// `sources`: the path segment.
    const PLURAL: &'static str;
    /// `sourceId`: the id's wire name.
    const ID_FIELD: &'static str;
    /// `configuration.sourceType`: where a configuration names its connector.
    const TYPE_FIELD: &'static str;
    const OBJECT: ObjectKind;
    fn list(ws: &WorkspaceScope, page: &Page) -> bulkhead::Result<Paged<Self::Item>>;
    fn get(ws: &WorkspaceScope, id: Self::Id) -> bulkhead::Result<Self::Item>;
    fn create(
        ws: &WorkspaceScope,
        name: Name,
        connector: Connector,
        config: ConnectorConfig,
    ) -> bulkhead::Result<Self::Item>;
    fn update(
        ws: &WorkspaceScope,
        id: Self::Id,
        update: &ConnectorUpdate,
    ) -> bulkhead::Result<Self::Item>;
    fn delete(ws: &WorkspaceScope, id: Self::Id) -> bulkhead::Result<()>;
    fn workspace_id(item: &Self::Item) -> WorkspaceId;
    fn connector(item: &Self::Item) -> &Connector;
}

/// The sources routes.
pub(crate) struct Sources;

/// The destinations routes.
pub(crate) struct Destinations;

impl Kind for Sources {
    type Id = SourceId;
    type Item = Source;
    type Response = SourceResponse;
    const PLURAL: &'static str = "sources";
    const ID_FIELD: &'static str = "sourceId";
    const TYPE_FIELD: &'static str = "configuration.sourceType";
    const OBJECT: ObjectKind = ObjectKind::Source;
    fn list(ws: &WorkspaceScope, page: &Page) -> bulkhead::Result<Paged<Source>> {
        ws.list_sources(page)
    }
    fn get(ws: &WorkspaceScope, id: SourceId) -> bulkhead::Result<Source> {
        ws.get_source(id)
    }
    fn create(
        ws: &WorkspaceScope,
        name: Name,
        connector: Connector,
        config: ConnectorConfig,
    ) -> bulkhead::Result<Source> {
        ws.create_source(NewSource {
            name,
            connector,
            config,
        })
    }
    fn update(
        ws: &WorkspaceScope,
        id: SourceId,
        update: &ConnectorUpdate,
    ) -> bulkhead::Result<Source> {
        ws.update_source(id, update)
    }
    fn delete(ws: &WorkspaceScope, id: SourceId) -> bulkhead::Result<()> {
        ws.delete_source(id)
    }
    fn workspace_id(item: &Source) -> WorkspaceId {
        item.workspace_id
    }
    fn connector(item: &Source) -> &Connector {
        &item.connector
    }
}

impl Kind for Destinations {
    type Id = DestinationId;
    type Item = Destination;
    type Response = DestinationResponse;
    const PLURAL: &'static str = "destinations";
    const ID_FIELD: &'static str = "destinationId";
    const TYPE_FIELD: &'static str = "configuration.destinationType";
    const OBJECT: ObjectKind = ObjectKind::Destination;
    fn list(ws: &WorkspaceScope, page: &Page) -> bulkhead::Result<Paged<Destination>> {
        ws.list_destinations(page)
    }
    fn get(ws: &WorkspaceScope, id: DestinationId) -> bulkhead::Result<Destination> {
        ws.get_destination(id)
    }
    fn create(
        ws: &WorkspaceScope,
        name: Name,
        connector: Connector,
        config: ConnectorConfig,
    ) -> bulkhead::Result<Destination> {
        ws.create_destination(NewDestination {
            name,
            connector,
            config,
        })
    }
    fn update(
        ws: &WorkspaceScope,
        id: DestinationId,
        update: &ConnectorUpdate,
    ) -> bulkhead::Result<Destination> {
        ws.update_destination(id, update)
    }
    fn delete(ws: &WorkspaceScope, id: DestinationId) -> bulkhead::Result<()> {
        ws.delete_destination(id)
    }
    fn workspace_id(item: &Destination) -> WorkspaceId {
        item.workspace_id
    }
    fn connector(item: &Destination) -> &Connector {
        &item.connector
    }
}

/// `SourceResponse`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SourceResponse {
    /// The source.
    #[schema(value_type = String, format = "uuid")]
    source_id: SourceId,
    /// Its display name.
    name: String,
    /// The connector it runs (`stripe`).
    source_type: String,
    /// The connector too: Bulkhead has no connector definition ids.
    definition_id: String,
    /// Its workspace.
    #[schema(value_type = String, format = "uuid")]
    workspace_id: WorkspaceId,
    /// Its configuration as stored, the fields its template's spec marks secret masked.
    #[schema(value_type = Object)]
    #[serde(serialize_with = "crate::wire::as_stored")]
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

/// `DestinationResponse`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DestinationResponse {
    /// The destination.
    #[schema(value_type = String, format = "uuid")]
    destination_id: DestinationId,
    /// Its display name.
    name: String,
    /// The connector it runs (`s3`).
    destination_type: String,
    /// The connector too: Bulkhead has no connector definition ids.
    definition_id: String,
    /// Its workspace.
    #[schema(value_type = String, format = "uuid")]
    workspace_id: WorkspaceId,
    /// Echoed as stored: the SDK parses it by its `destinationType`.
    #[schema(value_type = Object)]
    #[serde(serialize_with = "crate::wire::as_stored")]
    configuration: ConnectorConfig,
    /// Seconds since the Unix epoch (the SDK refuses a string).
    created_at: i64,
}

impl From<Destination> for DestinationResponse {
    fn from(d: Destination) -> Self {
        Self {
            destination_id: d.id,
            name: d.name.as_str().to_owned(),
            destination_type: d.connector.as_str().to_owned(),
            definition_id: d.connector.as_str().to_owned(),
            workspace_id: d.workspace_id,
            configuration: d.config,
            created_at: d.created_at.unix_millis().div_euclid(1000),
        }
    }
}

/// The workspaces `caller` reaches, narrowed to `ids` when some are given (an id it does
/// not reach is simply not there); an organization's in external-id order.
pub(crate) fn reached(
    caller: &Caller,
    ids: &[WorkspaceId],
) -> bulkhead::Result<Vec<WorkspaceScope>> {
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

/// One offset page of what `list` gives in each of `workspaces` (each workspace's oldest
/// first), and whether more follow.
pub(crate) fn offset_items<T>(
    workspaces: &[WorkspaceScope],
    offset: u32,
    limit: u32,
    list: impl Fn(&WorkspaceScope, &Page) -> bulkhead::Result<Paged<T>>,
) -> bulkhead::Result<(Vec<T>, bool)> {
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut seen = 0usize;
    let mut out = Vec::new();
    // Rows still to read to fill the page and learn whether more follow: a store page no
    // larger (`?limit=20` of 25 reads 21 rows, not 25).
    let wanted = |seen: usize| {
        let left = skip
            .saturating_add(take)
            .saturating_add(1)
            .saturating_sub(seen);
        u32::try_from(left).map_or(MAX_PAGE_LIMIT, |left| left.clamp(1, MAX_PAGE_LIMIT))
    };
    for ws in workspaces {
        let mut page = Page::first(wanted(seen));
        loop {
            let paged = list(ws, &page)?;
            for item in paged.items {
                if seen >= skip {
                    if out.len() == take {
                        return Ok((out, true));
                    }
                    out.push(item);
                }
                seen += 1;
            }
            match paged.next {
                Some(cursor) => page = Page::after(cursor, wanted(seen)),
                None => break,
            }
        }
    }
    Ok((out, false))
}

/// The workspace `caller` reaches in which `get` finds the object `id` of `kind`, with the
/// object; not found otherwise (another tenant's id included).
pub(crate) fn find<T>(
    caller: &Caller,
    kind: ObjectKind,
    id: impl Display,
    get: impl Fn(&WorkspaceScope) -> bulkhead::Result<T>,
) -> bulkhead::Result<(WorkspaceScope, T)> {
    let workspaces = match caller {
        Caller::Workspace(ws) => {
            let item = get(ws)?;
            return Ok((WorkspaceScope::clone(ws), item));
        }
        Caller::Org(_) => reached(caller, &[])?,
    };
    for ws in workspaces {
        match get(&ws) {
            Ok(item) => return Ok((ws, item)),
            Err(Error::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Err(Error::not_found(kind, id))
}

/// The workspace of the `K` `id` that `caller` reaches, with it.
fn locate<K: Kind>(caller: &Caller, id: K::Id) -> bulkhead::Result<(WorkspaceScope, K::Item)> {
    find(caller, K::OBJECT, id, |ws| K::get(ws, id))
}

/// The workspace `id` as `caller` reaches it; not found otherwise.
pub(crate) fn workspace_of(caller: &Caller, id: WorkspaceId) -> bulkhead::Result<WorkspaceScope> {
    match caller {
        Caller::Workspace(ws) if ws.workspace_id() == id => Ok(WorkspaceScope::clone(ws)),
        Caller::Workspace(_) => Err(Error::not_found(ObjectKind::Workspace, id)),
        Caller::Org(org) => org.workspace(id),
    }
}

/// `GET /v1/sources` (`/v1/destinations`): an offset page of those the credential reaches.
pub(crate) async fn list<K: Kind>(
    State(state): State<AppState>,
    axum::Extension(Prefix(prefix)): axum::Extension<Prefix>,
    auth: AnyAuth,
    uri: Uri,
) -> Result<axum::Json<ListResponse<K::Response>>, Problem> {
    let query = ListQuery::parse(uri.query())?;
    let (ids, offset, limit) = (query.workspace_ids.clone(), query.offset, query.limit);
    let (items, more) = auth
        .run(move |caller| {
            let workspaces = reached(&caller, &ids)?;
            offset_items(&workspaces, offset, limit, K::list)
        })
        .await?;
    Ok(axum::Json(ListResponse::new(
        items.into_iter().map(Into::into).collect(),
        more,
        &query,
        state.config.public_url.as_deref(),
        &format!("{prefix}/{}", K::PLURAL),
    )))
}

/// The connector a configuration names in its type field (`sourceType`), if it names one.
fn connector_type<K: Kind>(config: &serde_json::Value) -> Result<Option<String>, Problem> {
    let key = K::TYPE_FIELD.trim_start_matches("configuration.");
    match config.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Problem::invalid(
            K::TYPE_FIELD,
            format!("invalid {}: must be a string", K::TYPE_FIELD),
        )),
    }
}

/// A configuration from the request: a JSON object, stored as sent.
fn configuration(value: serde_json::Value) -> Result<ConnectorConfig, Problem> {
    ConnectorConfig::new(value).map_err(|e| field_as(e, "configuration"))
}

/// `SourceCreateRequest` and `DestinationCreateRequest`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ConnectorCreateRequest)]
pub(crate) struct CreateBody {
    /// Its display name.
    name: String,
    /// The workspace, one the credential reaches.
    #[schema(format = "uuid")]
    workspace_id: String,
    /// The configuration, stored as sent; its `sourceType` (`destinationType`) names the
    /// connector.
    #[schema(value_type = Object)]
    configuration: serde_json::Value,
    /// The connector, when the configuration does not name it.
    definition_id: Option<String>,
}

/// `POST /v1/sources` (`/v1/destinations`): one from a raw configuration in a workspace the
/// credential reaches (organization access only).
pub(crate) async fn create<K: Kind>(
    auth: AnyAuth,
    Json(body): Json<CreateBody>,
) -> Result<axum::Json<K::Response>, Problem> {
    let workspace_id: WorkspaceId = path_id("workspaceId", &body.workspace_id)?;
    let name: Name = body.name.parse().map_err(|e| field_as(e, "name"))?;
    let connector = match (
        connector_type::<K>(&body.configuration)?,
        body.definition_id,
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::invalid(
                "definitionId",
                format!("invalid definitionId: differs from {}", K::TYPE_FIELD),
            ));
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => {
            return Err(Problem::invalid(
                "definitionId",
                format!("invalid definitionId: give it or {}", K::TYPE_FIELD),
            ));
        }
    };
    let connector: Connector = connector.parse().map_err(|e| field_as(e, K::TYPE_FIELD))?;
    let config = configuration(body.configuration)?;
    let item = auth
        .run(move |caller| {
            let ws = workspace_of(&caller, workspace_id)?;
            K::create(&ws, name, connector, config)
        })
        .await
        .map_err(|p| p.rename_field("config", "configuration"))?;
    Ok(axum::Json(item.into()))
}

/// The query of a get: only `includeSecretCoordinates=false` (Bulkhead has no secret
/// coordinates to show); anything else is a 400.
pub(crate) fn get_query(query: Option<&str>) -> Result<(), Problem> {
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

/// The id in the path.
fn id_of<K: Kind>(raw: &str) -> Result<K::Id, Problem> {
    path_id(K::ID_FIELD, raw)
}

/// `GET /v1/sources/{sourceId}` (`/v1/destinations/{destinationId}`).
pub(crate) async fn get<K: Kind>(
    auth: AnyAuth,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<axum::Json<K::Response>, Problem> {
    let id = id_of::<K>(&id)?;
    get_query(uri.query())?;
    let (_, item) = auth.run(move |caller| locate::<K>(&caller, id)).await?;
    Ok(axum::Json(item.into()))
}

/// `SourcePatchRequest` and `DestinationPatchRequest`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ConnectorPatchRequest)]
pub(crate) struct PatchBody {
    /// Its new name.
    name: Option<String>,
    /// Its own workspace, when given: nothing moves between workspaces.
    #[schema(format = "uuid")]
    workspace_id: Option<String>,
    /// Its new configuration, replacing the stored one whole (send the mask back to keep a
    /// secret); the connector it names must be its own.
    #[schema(value_type = Option<Object>)]
    configuration: Option<serde_json::Value>,
}

/// `SourcePutRequest` and `DestinationPutRequest`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ConnectorPutRequest)]
pub(crate) struct PutBody {
    /// Its new name.
    name: String,
    /// Its new configuration, replacing the stored one whole.
    #[schema(value_type = Object)]
    configuration: serde_json::Value,
}

/// What a patch or put asks of the one it names.
struct Change {
    /// The workspace it names, which must be its own.
    workspace: Option<WorkspaceId>,
    /// The connector its configuration names, which must be its own.
    connector: Option<String>,
    update: ConnectorUpdate,
}

/// Applies `change` to the `K` `id`.
async fn update<K: Kind>(
    auth: AnyAuth,
    id: K::Id,
    change: Change,
) -> Result<axum::Json<K::Response>, Problem> {
    let Change {
        workspace,
        connector,
        update,
    } = change;
    let item = auth
        .run(move |caller| {
            let (ws, item) = locate::<K>(&caller, id)?;
            if let Some(workspace) = workspace
                && workspace != K::workspace_id(&item)
            {
                return Err(Error::invalid_input(
                    "workspaceId",
                    "nothing moves between workspaces",
                ));
            }
            if let Some(given) = connector
                && given != K::connector(&item).as_str()
            {
                return Err(Error::invalid_input(
                    K::TYPE_FIELD,
                    "the connector does not change",
                ));
            }
            if update.name.is_none() && update.config.is_none() {
                return Ok(item);
            }
            K::update(&ws, id, &update)
        })
        .await
        .map_err(|p| p.rename_field("config", "configuration"))?;
    Ok(axum::Json(item.into()))
}

/// `PATCH /v1/sources/{sourceId}` (`/v1/destinations/{destinationId}`): a new name or
/// configuration.
pub(crate) async fn patch<K: Kind>(
    auth: AnyAuth,
    Path(id): Path<String>,
    Json(body): Json<PatchBody>,
) -> Result<axum::Json<K::Response>, Problem> {
    let id = id_of::<K>(&id)?;
    let workspace = body
        .workspace_id
        .map(|w| path_id::<WorkspaceId>("workspaceId", &w))
        .transpose()?;
    let connector = body
        .configuration
        .as_ref()
        .map(connector_type::<K>)
        .transpose()?;
    let change = Change {
        workspace,
        connector: connector.flatten(),
        update: ConnectorUpdate {
            name: body
                .name
                .map(|n| n.parse::<Name>().map_err(|e| field_as(e, "name")))
                .transpose()?,
            config: body.configuration.map(configuration).transpose()?,
        },
    };
    update::<K>(auth, id, change).await
}

/// `PUT /v1/sources/{sourceId}` (`/v1/destinations/{destinationId}`): a new name and
/// configuration.
pub(crate) async fn put<K: Kind>(
    auth: AnyAuth,
    Path(id): Path<String>,
    Json(body): Json<PutBody>,
) -> Result<axum::Json<K::Response>, Problem> {
    let id = id_of::<K>(&id)?;
    let change = Change {
        workspace: None,
        connector: connector_type::<K>(&body.configuration)?,
        update: ConnectorUpdate {
            name: Some(body.name.parse::<Name>().map_err(|e| field_as(e, "name"))?),
            config: Some(configuration(body.configuration)?),
        },
    };
    update::<K>(auth, id, change).await
}

/// `DELETE /v1/sources/{sourceId}` (`/v1/destinations/{destinationId}`): 204 with no body
/// (the SDK wants exactly that); one a connection uses is a 409.
pub(crate) async fn delete<K: Kind>(
    auth: AnyAuth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = id_of::<K>(&id)?;
    auth.run(move |caller| {
        let (ws, _) = locate::<K>(&caller, id)?;
        K::delete(&ws, id)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
