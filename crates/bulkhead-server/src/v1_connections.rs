//! The Airbyte public API v1 connections routes, under `/v1` and `/api/public/v1`
//! (`shared/reference/airbyte-http-api.md`, sections 2.2 and 2.3): list, create, get, patch
//! and delete. Credentials as for sources ([`crate::v1_connectors`]): an org credential
//! reaches every workspace of its organization, a scoped token its own workspace only, and
//! what a token may do there is the engine's rule.
//!
//! Bulkhead's connection is a source, a destination, a name, a status (`active` or
//! `inactive`) and a schedule (`manual`; `cron` with a five-field cron expression, UTC, a
//! Quartz expression refused; or `basic` with an interval in `basicTiming`, which Airbyte
//! answers and Bulkhead also takes). A scheduled active connection gets a job when it is due
//! (see `bulkhead_core::schedules`). The request fields it has no counterpart for are accepted
//! only at the values that ask for nothing (the SDK's defaults): `configurations` with no
//! streams, `namespaceDefinition: "destination"`, `prefix: ""`,
//! `nonBreakingSchemaUpdatesBehavior: "ignore"`, `dataResidency: "auto"`, `tags: []`; any
//! other value is a 400 naming the field, never silently dropped.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bulkhead::{
    Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, CronExpr, DestinationId,
    Interval, Name, NewConnection, ObjectKind, Schedule, SourceId, WorkspaceId,
};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{AnyAuth, Caller};
use crate::extract::{Json, path_id};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use crate::problem::{Problem, field_as};
use crate::v1::{ListQuery, ListResponse, Prefix};
use crate::v1_connectors::{find, get_query, offset_items, reached};

/// `ConnectionScheduleResponse` and the request's `schedule`.
///
/// Airbyte's request (`AirbyteApiConnectionSchedule`) names `manual` or `cron`; its response
/// (`ConnectionScheduleResponse`) adds `basic`, a fixed interval written in `basicTiming`.
/// Bulkhead takes `basic` in requests too (`{"scheduleType": "basic", "basicTiming": "every 6
/// hours"}`: minutes, hours or days, from one minute to 365 days) and answers it as the SDK
/// reads it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ConnectionSchedule)]
pub(crate) struct ScheduleBody {
    /// `manual` (runs only when asked), `cron` or `basic` (a fixed interval).
    #[schema(example = "cron")]
    schedule_type: String,
    /// With `cron`: a five-field cron expression (`0 * * * *`), UTC; a Quartz expression is
    /// refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    cron_expression: Option<String>,
    /// With `basic`: the interval, `every N minutes`, `every N hours` or `every N days`
    /// (answered lower case, `every 6 hours`). It first fires one interval after it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "every 6 hours")]
    basic_timing: Option<String>,
}

impl From<&Schedule> for ScheduleBody {
    fn from(s: &Schedule) -> Self {
        let (schedule_type, cron_expression, basic_timing) = match s {
            Schedule::Manual => ("manual", None, None),
            Schedule::Cron(cron) => ("cron", Some(cron.as_str().to_owned()), None),
            Schedule::Interval(every) => ("basic", None, Some(every.as_str().to_owned())),
        };
        Self {
            schedule_type: schedule_type.to_owned(),
            cron_expression,
            basic_timing,
        }
    }
}

impl ScheduleBody {
    fn parse(self) -> Result<Schedule, Problem> {
        let kind = self.schedule_type.as_str();
        if !matches!(kind, "manual" | "cron" | "basic") {
            return Err(Problem::invalid(
                "schedule.scheduleType",
                "invalid schedule.scheduleType: must be `manual`, `cron` or `basic`",
            ));
        }
        if kind != "cron" && self.cron_expression.is_some() {
            return Err(Problem::invalid(
                "schedule.cronExpression",
                format!("invalid schedule.cronExpression: a {kind} schedule has none"),
            ));
        }
        if kind != "basic" && self.basic_timing.is_some() {
            return Err(Problem::invalid(
                "schedule.basicTiming",
                format!("invalid schedule.basicTiming: a {kind} schedule has none"),
            ));
        }
        match (kind, self.cron_expression, self.basic_timing) {
            ("cron", Some(text), _) => text
                .parse::<CronExpr>()
                .map(Schedule::Cron)
                .map_err(|e| field_as(e, "schedule.cronExpression")),
            ("cron", None, _) => Err(Problem::invalid(
                "schedule.cronExpression",
                "invalid schedule.cronExpression: a cron schedule needs one",
            )),
            ("basic", _, Some(text)) => text
                .parse::<Interval>()
                .map(Schedule::Interval)
                .map_err(|e| field_as(e, "schedule.basicTiming")),
            ("basic", _, None) => Err(Problem::invalid(
                "schedule.basicTiming",
                "invalid schedule.basicTiming: a basic schedule needs one, such as `every 6 hours`",
            )),
            _ => Ok(Schedule::Manual),
        }
    }
}

/// `ConnectionResponse`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionResponse {
    /// The connection.
    #[schema(value_type = String, format = "uuid")]
    connection_id: ConnectionId,
    /// Its display name.
    name: String,
    /// Where data comes from.
    #[schema(value_type = String, format = "uuid")]
    source_id: SourceId,
    /// Where data goes.
    #[schema(value_type = String, format = "uuid")]
    destination_id: DestinationId,
    /// Its workspace.
    #[schema(value_type = String, format = "uuid")]
    workspace_id: WorkspaceId,
    /// Whether it may run.
    #[schema(value_type = crate::openapi::ConnectionStatus)]
    status: ConnectionStatus,
    /// When it runs.
    schedule: ScheduleBody,
    /// No stream selection: `{"streams": []}`.
    #[schema(value_type = Object)]
    configurations: serde_json::Value,
    /// Seconds since the Unix epoch (the SDK refuses a string).
    created_at: i64,
    /// No connection tags: the SDK requires the field, `[]` satisfies it.
    #[schema(value_type = Vec<Object>)]
    tags: Vec<serde_json::Value>,
    /// Always `destination`.
    #[schema(value_type = String, example = "destination")]
    namespace_definition: &'static str,
    /// Always `""`.
    #[schema(value_type = String, example = "")]
    prefix: &'static str,
    /// Always `ignore`.
    #[schema(value_type = String, example = "ignore")]
    non_breaking_schema_updates_behavior: &'static str,
}

impl From<Connection> for ConnectionResponse {
    fn from(c: Connection) -> Self {
        Self {
            connection_id: c.id,
            name: c.name.as_str().to_owned(),
            source_id: c.source_id,
            destination_id: c.destination_id,
            workspace_id: c.workspace_id,
            status: c.status,
            schedule: (&c.schedule).into(),
            configurations: serde_json::json!({"streams": []}),
            created_at: c.created_at.unix_millis().div_euclid(1000),
            tags: Vec::new(),
            namespace_definition: "destination",
            prefix: "",
            non_breaking_schema_updates_behavior: "ignore",
        }
    }
}

/// The fields Bulkhead has no counterpart for, present in both create and patch.
struct Unsupported {
    configurations: Option<serde_json::Value>,
    data_residency: Option<String>,
    namespace_definition: Option<String>,
    namespace_format: Option<serde_json::Value>,
    prefix: Option<String>,
    non_breaking_schema_updates_behavior: Option<String>,
    tags: Option<Vec<serde_json::Value>>,
}

impl Unsupported {
    /// Refuses every value but the one that asks for nothing.
    fn check(&self) -> Result<(), Problem> {
        let refuse = |field: &str, allowed: &str| {
            Err(Problem::invalid(
                field,
                format!("invalid {field}: Bulkhead supports only {allowed}"),
            ))
        };
        if let Some(c) = &self.configurations {
            let empty = match c {
                serde_json::Value::Null => true,
                serde_json::Value::Object(map) => map.iter().all(|(k, v)| {
                    k == "streams" && (v.is_null() || v.as_array().is_some_and(|a| a.is_empty()))
                }),
                _ => false,
            };
            if !empty {
                return refuse(
                    "configurations",
                    "no stream configuration (`{\"streams\": []}`)",
                );
            }
        }
        if self.data_residency.as_deref().is_some_and(|d| d != "auto") {
            return refuse("dataResidency", "`auto`");
        }
        if self
            .namespace_definition
            .as_deref()
            .is_some_and(|n| n != "destination")
        {
            return refuse("namespaceDefinition", "`destination`");
        }
        if self.namespace_format.as_ref().is_some_and(|f| !f.is_null()) {
            return refuse("namespaceFormat", "none");
        }
        if self.prefix.as_deref().is_some_and(|p| !p.is_empty()) {
            return refuse("prefix", "`\"\"`");
        }
        if self
            .non_breaking_schema_updates_behavior
            .as_deref()
            .is_some_and(|b| b != "ignore")
        {
            return refuse("nonBreakingSchemaUpdatesBehavior", "`ignore`");
        }
        if self.tags.as_ref().is_some_and(|t| !t.is_empty()) {
            return refuse("tags", "no tags (`[]`)");
        }
        Ok(())
    }
}

/// A status from the request: `active` or `inactive`.
fn status(text: &str) -> Result<ConnectionStatus, Problem> {
    match text {
        "active" => Ok(ConnectionStatus::Active),
        "inactive" => Ok(ConnectionStatus::Inactive),
        _ => Err(Problem::invalid(
            "status",
            "invalid status: must be `active` or `inactive`",
        )),
    }
}

/// `ConnectionCreateRequest`. The fields Bulkhead has no counterpart for are taken only at
/// the values that ask for nothing; any other is a 400 naming the field.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateConnection {
    /// The source.
    #[schema(format = "uuid")]
    source_id: String,
    /// The destination, in the source's workspace.
    #[schema(format = "uuid")]
    destination_id: String,
    /// Its name; `source → destination` when absent.
    name: Option<String>,
    /// When it runs; `manual` when absent.
    schedule: Option<ScheduleBody>,
    /// `active` (the default) or `inactive`.
    #[schema(value_type = Option<crate::openapi::ConnectionStatus>)]
    status: Option<String>,
    /// Only `{"streams": []}` or `null`: no stream configuration.
    #[schema(value_type = Option<Object>)]
    configurations: Option<serde_json::Value>,
    /// Only `auto`.
    data_residency: Option<String>,
    /// Only `destination`.
    namespace_definition: Option<String>,
    /// Only `null`.
    #[schema(value_type = Option<String>)]
    namespace_format: Option<serde_json::Value>,
    /// Only `""`.
    prefix: Option<String>,
    /// Only `ignore`.
    non_breaking_schema_updates_behavior: Option<String>,
    /// Only `[]`.
    #[schema(value_type = Option<Vec<Object>>)]
    tags: Option<Vec<serde_json::Value>>,
}

/// Create a connection
///
/// A connection from a source to a destination of one workspace the credential reaches
/// (named `source → destination` when `name` is absent).
#[utoipa::path(
    post,
    path = "/connections",
    tag = "connections",
    operation_id = "create_connection",
    request_body = CreateConnection,
    responses(
        (status = 200, description = "The new connection.", body = ConnectionResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        UnsupportedMediaType, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn create(
    auth: AnyAuth,
    Json(body): Json<CreateConnection>,
) -> Result<axum::Json<ConnectionResponse>, Problem> {
    Unsupported {
        configurations: body.configurations,
        data_residency: body.data_residency,
        namespace_definition: body.namespace_definition,
        namespace_format: body.namespace_format,
        prefix: body.prefix,
        non_breaking_schema_updates_behavior: body.non_breaking_schema_updates_behavior,
        tags: body.tags,
    }
    .check()?;
    let source_id: SourceId = path_id("sourceId", &body.source_id)?;
    let destination_id: DestinationId = path_id("destinationId", &body.destination_id)?;
    let name = body
        .name
        .map(|n| n.parse::<Name>().map_err(|e| field_as(e, "name")))
        .transpose()?;
    let schedule = body.schedule.map(ScheduleBody::parse).transpose()?;
    let status = body.status.as_deref().map(status).transpose()?;
    let connection = auth
        .run(move |caller| {
            // The source's workspace; the destination must be there too (the engine checks).
            let (ws, source) = find(&caller, ObjectKind::Source, source_id, |ws| {
                ws.get_source(source_id)
            })?;
            let name = match name {
                Some(name) => name,
                None => {
                    let destination = ws.get_destination(destination_id)?;
                    format!("{} → {}", source.name.as_str(), destination.name.as_str())
                        .parse::<Name>()
                        .unwrap_or_else(|_| source.name.clone())
                }
            };
            let made = ws.create_connection(NewConnection {
                name,
                source_id,
                destination_id,
                schedule: schedule.unwrap_or_default(),
            })?;
            match status {
                Some(ConnectionStatus::Inactive) => ws.update_connection(
                    made.id,
                    &ConnectionUpdate {
                        status: Some(ConnectionStatus::Inactive),
                        ..ConnectionUpdate::default()
                    },
                ),
                _ => Ok(made),
            }
        })
        .await?;
    Ok(axum::Json(connection.into()))
}

/// List connections
///
/// An offset page of the connections the credential reaches, workspace by workspace.
#[utoipa::path(
    get,
    path = "/connections",
    tag = "connections",
    operation_id = "list_connections",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of connections.", body = ListResponse<ConnectionResponse>),
        BadRequest, Unauthorized, Forbidden, Conflict, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    axum::Extension(Prefix(prefix)): axum::Extension<Prefix>,
    auth: AnyAuth,
    uri: Uri,
) -> Result<axum::Json<ListResponse<ConnectionResponse>>, Problem> {
    let query = ListQuery::parse(uri.query())?;
    let (ids, offset, limit) = (query.workspace_ids.clone(), query.offset, query.limit);
    let (items, more) = auth
        .run(move |caller| {
            let workspaces = reached(&caller, &ids)?;
            offset_items(&workspaces, offset, limit, |ws, page| {
                ws.list_connections(page)
            })
        })
        .await?;
    Ok(axum::Json(ListResponse::new(
        items.into_iter().map(Into::into).collect(),
        more,
        &query,
        state.config.public_url.as_deref(),
        &format!("{prefix}/connections"),
    )))
}

/// The connection `id` and its workspace, as `caller` reaches it.
fn locate(
    caller: &Caller,
    id: ConnectionId,
) -> bulkhead::Result<(bulkhead::WorkspaceScope, Connection)> {
    find(caller, ObjectKind::Connection, id, |ws| {
        ws.get_connection(id)
    })
}

/// Get a connection
#[utoipa::path(
    get,
    path = "/connections/{connectionId}",
    tag = "connections",
    operation_id = "get_connection",
    params(
        ("connectionId" = String, Path, format = "uuid", description = "The connection."),
        ("includeSecretCoordinates" = Option<bool>, Query, description = "Only `false`: Bulkhead has no secret coordinates."),
    ),
    responses(
        (status = 200, description = "The connection.", body = ConnectionResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn get(
    auth: AnyAuth,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<axum::Json<ConnectionResponse>, Problem> {
    let id: ConnectionId = path_id("connectionId", &id)?;
    get_query(uri.query())?;
    let (_, connection) = auth.run(move |caller| locate(&caller, id)).await?;
    Ok(axum::Json(connection.into()))
}

/// `ConnectionPatchRequest`. The fields Bulkhead has no counterpart for are taken only at
/// the values that ask for nothing; any other is a 400 naming the field.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PatchConnection {
    /// Its new name.
    name: Option<String>,
    /// Its new schedule.
    schedule: Option<ScheduleBody>,
    /// `active` or `inactive`.
    #[schema(value_type = Option<crate::openapi::ConnectionStatus>)]
    status: Option<String>,
    /// Only `{"streams": []}` or `null`: no stream configuration.
    #[schema(value_type = Option<Object>)]
    configurations: Option<serde_json::Value>,
    /// Only `auto`.
    data_residency: Option<String>,
    /// Only `destination`.
    namespace_definition: Option<String>,
    /// Only `null`.
    #[schema(value_type = Option<String>)]
    namespace_format: Option<serde_json::Value>,
    /// Only `""`.
    prefix: Option<String>,
    /// Only `ignore`.
    non_breaking_schema_updates_behavior: Option<String>,
    /// Only `[]`.
    #[schema(value_type = Option<Vec<Object>>)]
    tags: Option<Vec<serde_json::Value>>,
}

/// Update a connection
///
/// A new name, schedule or status.
#[utoipa::path(
    patch,
    path = "/connections/{connectionId}",
    tag = "connections",
    operation_id = "patch_connection",
    params(("connectionId" = String, Path, format = "uuid", description = "The connection.")),
    request_body = PatchConnection,
    responses(
        (status = 200, description = "The connection.", body = ConnectionResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        UnsupportedMediaType, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn patch(
    auth: AnyAuth,
    Path(id): Path<String>,
    Json(body): Json<PatchConnection>,
) -> Result<axum::Json<ConnectionResponse>, Problem> {
    let id: ConnectionId = path_id("connectionId", &id)?;
    Unsupported {
        configurations: body.configurations,
        data_residency: body.data_residency,
        namespace_definition: body.namespace_definition,
        namespace_format: body.namespace_format,
        prefix: body.prefix,
        non_breaking_schema_updates_behavior: body.non_breaking_schema_updates_behavior,
        tags: body.tags,
    }
    .check()?;
    let update = ConnectionUpdate {
        name: body
            .name
            .map(|n| n.parse::<Name>().map_err(|e| field_as(e, "name")))
            .transpose()?,
        status: body.status.as_deref().map(status).transpose()?,
        schedule: body.schedule.map(ScheduleBody::parse).transpose()?,
    };
    let connection = auth
        .run(move |caller| {
            let (ws, connection) = locate(&caller, id)?;
            if update.name.is_none() && update.status.is_none() && update.schedule.is_none() {
                return Ok(connection);
            }
            ws.update_connection(id, &update)
        })
        .await?;
    Ok(axum::Json(connection.into()))
}

/// Delete a connection
///
/// 204 with no body.
#[utoipa::path(
    delete,
    path = "/connections/{connectionId}",
    tag = "connections",
    operation_id = "delete_connection",
    params(("connectionId" = String, Path, format = "uuid", description = "The connection.")),
    responses(
        (status = 204, description = "The connection is deleted."),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn delete(auth: AnyAuth, Path(id): Path<String>) -> Result<Response, Problem> {
    let id: ConnectionId = path_id("connectionId", &id)?;
    auth.run(move |caller| {
        let (ws, _) = locate(&caller, id)?;
        ws.delete_connection(id)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
