//! The OpenAPI 3.1 document, generated from the code and served at `GET /api/v1/openapi.json`.
//!
//! Every handler carries a `#[utoipa::path(...)]` annotation (method, path, parameters, body,
//! responses, credentials) and is registered through [`crate::routes()`], a
//! [`utoipa_axum::router::OpenApiRouter`]: the router that serves the API and this document
//! are two halves of that one value, so a route cannot be served without being listed here.
//! `tests/api/openapi.rs` checks both directions.
//!
//! What this module adds around the annotations: the document's `info`, its security
//! schemes, the problem responses handlers name by type ([`BadRequest`], [`NotFound`], ...),
//! and the schemas of the library's own values (ids, times, statuses) as they go over the wire.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes,
    SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    Components, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr,
    ResponseBuilder, Schema, ServerBuilder, Tag,
};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use crate::problem::{PROBLEM_JSON, Problem};

const DESCRIPTION: &str = "\
Bulkhead's HTTP API: the Embedded API (`/api/v1/embedded/...`, `/api/v1/workspaces`, \
`/api/v1/integrations/templates/...`) and a subset of the Airbyte public API v1.

Every route listed under `/v1` is served under `/api/public/v1` too (self-managed Airbyte's \
path), with the same shapes; the document lists it once.

Credentials go in `Authorization: Bearer`. An organization's routes take an org key \
(`bh_org_...`) or an access token (`bh_at_...`) from `POST /v1/applications/token` by client \
credentials (the client id is the organization id, the secret one of its org keys). A \
customer's routes take a scoped token from `POST /api/v1/embedded/scoped-token`, and reach its \
own workspace only. The v1 sources, destinations, connections and jobs routes take all three. \
A worker key (`bh_wkr_...`) is taken by the worker protocol's three routes (`/api/v1/jobs/...`) \
only; every other route answers it with a 403 problem.

Every failure is an RFC 9457 problem (`application/problem+json`): `type`, `title`, \
`status`, `detail` and, for invalid input, the `field` at fault. Another tenant's id is not \
found, exactly like a missing one.";

/// The document before any route is added: `info`, servers, tags and security schemes.
pub(crate) fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("Bulkhead")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .build();
    let mut components = Components::new();
    // Named by reference in every problem response (`problem_response`).
    components
        .schemas
        .insert(Problem::name().into_owned(), Problem::schema());
    let bearer = |description: &str, format: Option<&str>| {
        let mut http = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(description));
        if let Some(format) = format {
            http = http.bearer_format(format);
        }
        SecurityScheme::Http(http.build())
    };
    components.add_security_scheme(
        "org_key",
        bearer(
            "An org key (`bh_org_...`): the organization, every workspace of it.",
            None,
        ),
    );
    components.add_security_scheme(
        "worker_key",
        bearer(
            "A worker key (`bh_wkr_...`): the organization's job protocol only (claim a job, \
             heartbeat it, complete it). Every other route refuses it with a 403.",
            None,
        ),
    );
    components.add_security_scheme(
        "access_token",
        bearer(
            "An access token (`bh_at_...`) from `POST /v1/applications/token`: stands for the \
             org key it was made from, for a short while.",
            None,
        ),
    );
    components.add_security_scheme(
        "scoped_token",
        bearer(
            "A scoped token from `POST /api/v1/embedded/scoped-token`: one customer's \
             workspace, the operations it grants.",
            Some("JWT"),
        ),
    );
    components.add_security_scheme(
        "dashboard_session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::session::COOKIE,
            "The dashboard's session cookie from `POST /api/v1/dashboard/session`: taken by \
             every route that takes an org key, when the request has no `Authorization` \
             header; a request that changes something carries the session's `X-CSRF-Token`.",
        ))),
    );
    components.add_security_scheme(
        "client_credentials",
        SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::ClientCredentials(ClientCredentials::new(
                "/v1/applications/token",
                Scopes::new(),
            ))],
            "Client credentials: the organization id as client id, one of its org keys as \
             client secret; the access token answered is sent as a bearer credential.",
        )),
    );
    let tag = |name: &str, description: &str| {
        let mut tag = Tag::new(name);
        tag.description = Some(description.to_owned());
        tag
    };
    OpenApiBuilder::new()
        .info(info)
        .servers(Some([ServerBuilder::new()
            .url("/")
            .description(Some(
                "this server; `/v1` routes are also under `/api/public/v1`",
            ))
            .build()]))
        .components(Some(components))
        .tags(Some([
            tag(
                "embedded",
                "The seed's Embedded API: a customer's scoped token and what it reaches.",
            ),
            tag("workspaces", "The organization's workspaces."),
            tag(
                "templates",
                "The organization's catalog: source and connection templates and their tags.",
            ),
            tag(
                "organization",
                "The organization itself: its numbers, audit log, org keys and signing keys.",
            ),
            tag("credentials", "Access tokens by client credentials."),
            tag(
                "dashboard",
                "The organization dashboard's session: sign in once, a cookie and a CSRF token.",
            ),
            tag("health", "Whether the server answers."),
            tag("sources", "Airbyte public API v1: sources."),
            tag("destinations", "Airbyte public API v1: destinations."),
            tag("connections", "Airbyte public API v1: connections."),
            tag("jobs", "Airbyte public API v1: jobs, that is sync runs."),
            tag(
                "workers",
                "The worker protocol: claim a job, heartbeat it, complete it.",
            ),
            tag(
                "organizations",
                "Airbyte public API v1: the credential's own organization.",
            ),
            tag("meta", "This document."),
        ]))
        .build()
}

/// The finished document: the routes' operations on [`base`], plus the answers every route
/// may give because of the router's own layers.
pub(crate) fn document() -> OpenApi {
    let (_, mut doc) = crate::routes().split_for_parts();
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            // The timeout layer wraps every route.
            operation
                .responses
                .responses
                .entry("408".to_owned())
                .or_insert_with(|| {
                    RefOr::T(problem_response(
                        "The request took longer than the server allows.",
                    ))
                });
            // Every route that takes an org key takes the dashboard's session cookie too
            // (`OrgAuth` and `AnyAuth` read it when there is no `Authorization` header).
            if let Some(security) = operation.security.as_mut() {
                let names = |requirement: &SecurityRequirement| -> Vec<String> {
                    serde_json::to_value(requirement)
                        .ok()
                        .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
                        .unwrap_or_default()
                };
                let takes_org_key = security
                    .iter()
                    .any(|r| names(r).iter().any(|n| n == "org_key"));
                let has_session = security
                    .iter()
                    .any(|r| names(r).iter().any(|n| n == "dashboard_session"));
                if takes_org_key && !has_session {
                    security.push(SecurityRequirement::new(
                        "dashboard_session",
                        Vec::<String>::new(),
                    ));
                }
            }
        }
    }
    doc
}

/// The operations of one path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The document as served, built once (`None` if it could not be written, which a 500 says).
static DOCUMENT_JSON: LazyLock<Option<Bytes>> =
    LazyLock::new(|| serde_json::to_vec(&document()).ok().map(Bytes::from));

/// The OpenAPI 3.1 document of this API
///
/// Generated from the handlers themselves; no credential needed.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi_document",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object),
    ),
)]
pub(crate) async fn openapi_json() -> Response {
    let Some(json) = DOCUMENT_JSON.clone() else {
        return Problem::internal().into_response();
    };
    let mut response = json.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A problem response: `application/problem+json` with the [`crate::Problem`] schema.
fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .build(),
        )
        .build()
}

/// Declares problem responses a handler names in its `responses(...)`: an uninhabited type
/// whose [`IntoResponses`] is one status with problem JSON.
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal $(, header $header:literal: $header_doc:literal)?;)+) => {
        $(
            $(#[$doc])*
            pub(crate) enum $name {}

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                    #[allow(unused_mut, reason = "only some responses have a header")]
                    let mut response = problem_response($description);
                    $(
                        response.headers.insert(
                            $header.to_owned(),
                            RefOr::T(
                                HeaderBuilder::new()
                                    .schema(Some(String::schema()))
                                    .description(Some($header_doc))
                                    .build(),
                            ),
                        );
                    )?
                    BTreeMap::from([($status.to_owned(), RefOr::T(response))])
                }
            }
        )+
    };
}

problem_responses! {
    /// 400: a body, query or path value is invalid; `field` names it.
    BadRequest = "400", "Invalid input: the problem's `field` names the body, query or path value at fault (an unknown field or query parameter included).";
    /// 401: the credential is missing, malformed, of the wrong kind for the route, or expired.
    Unauthorized = "401", "The credential is missing, malformed, revoked, expired, or not of a kind this route takes.",
        header "WWW-Authenticate": "`Bearer realm=\"bulkhead\"`";
    /// 403: the credential is good but does not allow this.
    Forbidden = "403", "The credential does not allow this (a scoped token without the operation, or an organization-only action).";
    /// 404: not found; another tenant's id answers the same.
    NotFound = "404", "Not found: a missing id and another tenant's id answer alike.";
    /// 409: a conflict with the stored state.
    Conflict = "409", "Conflict with the stored state (an external id in use, an object still in use, an inactive workspace).";
    /// 410: the workspace was deleted.
    Gone = "410", "The workspace was deleted.";
    /// 413: the body is over the server's limit.
    PayloadTooLarge = "413", "The request body is larger than the server accepts.";
    /// 415: the body is not in a content type the route takes.
    UnsupportedMediaType = "415", "The body is not sent in a content type this route takes.";
    /// 422: a field Bulkhead knows asks for something it does not support; `field` names it.
    Unprocessable = "422", "Unsupported: the problem's `field` names a field Bulkhead knows but cannot honour at the value sent (a feature it does not have).";
    /// 429: the organization's creation limit was reached.
    TooManyRequests = "429", "Rate limited: retry after the time `Retry-After` says.",
        header "Retry-After": "Seconds to wait before retrying.";
    /// 503: storage is unavailable.
    Unavailable = "503", "Storage is unavailable; retry later.";
}

/// Declares the schema of one of the library's values as it goes over the wire: an
/// uninhabited type named in a field's `#[schema(value_type = ...)]`.
macro_rules! wire_schemas {
    ($($(#[$doc:meta])* $name:ident = $schema:expr;)+) => {
        $(
            $(#[$doc])*
            pub(crate) enum $name {}

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    RefOr::T(Schema::Object($schema))
                }
            }

            impl ToSchema for $name {}
        )+
    };
}

/// A string schema with `description`.
fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

wire_schemas! {
    /// `KeyRole`: `organization` or `worker`.
    KeyRole = string("What an access key may do: `organization`, the organization's full \
                      power (an org key, `bh_org_…`), or `worker`, the job protocol only (a \
                      worker key, `bh_wkr_…`).")
        .enum_values(Some(["organization", "worker"]))
        .build();
    /// `WorkspaceStatus`: `active` or `inactive`.
    WorkspaceStatus = string("Whether the workspace is in use.")
        .enum_values(Some(["active", "inactive"]))
        .build();
    /// `ConnectionStatus`: `active` or `inactive`.
    ConnectionStatus = string("Whether the connection may run.")
        .enum_values(Some(["active", "inactive"]))
        .build();
    /// `TagMode`: `any` or `all`.
    TagMode = string("How selected tags match a template's tags: `any` of them, or `all`.")
        .enum_values(Some(["any", "all"]))
        .build();
    /// An RFC 3339 time.
    Timestamp = string("An RFC 3339 time in UTC (`2026-11-29T05:03:22.000Z`).")
        .format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime)))
        .build();
    /// `JobStatus`: the v1 API's job statuses (a closed set: the SDK refuses any other).
    JobStatus = string("Where the job is in its life. Bulkhead answers `pending`, `running`, \
                        `succeeded`, `failed` or `cancelled`; the others are Airbyte's.")
        .enum_values(Some(crate::v1_jobs::STATUSES))
        .build();
    /// `JobType`: the v1 API's job types.
    JobType = string("What the job does. Bulkhead runs `sync` jobs only; the others are \
                      refused with a 422.")
        .enum_values(Some(crate::v1_jobs::JOB_TYPES))
        .build();
    /// `LastRun`: the latest run of a connection.
    LastRun = last_run().build();
    /// `WorkspaceOverview`: a workspace as the organization's dashboard shows it.
    WorkspaceOverview = workspace_overview().build();
}

/// The statuses of a sync run, as [`bulkhead::SyncStatus`] writes them.
fn sync_status() -> ObjectBuilder {
    string("Where the run is in its life.").enum_values(Some([
        "pending",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    ]))
}

/// An id: a string in uuid format.
fn uuid(description: &str) -> ObjectBuilder {
    string(description).format(Some(SchemaFormat::Custom("uuid".to_owned())))
}

/// An RFC 3339 time, or `null` when `nullable`.
fn time(description: &str, nullable: bool) -> ObjectBuilder {
    let schema = string(description).format(Some(SchemaFormat::KnownFormat(
        utoipa::openapi::KnownFormat::DateTime,
    )));
    if nullable {
        schema.schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
    } else {
        schema
    }
}

/// A count.
fn count(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(0))
        .description(Some(description))
}

/// [`bulkhead::LastRun`] as it is serialized.
fn last_run() -> ObjectBuilder {
    ObjectBuilder::new()
        .description(Some("The latest run of a connection."))
        .property("id", uuid("The run."))
        .required("id")
        .property("status", sync_status())
        .required("status")
        .property("started_at", time("When it started.", false))
        .required("started_at")
        .property(
            "finished_at",
            time("When it ended; `null` while it runs.", true),
        )
        .required("finished_at")
}

/// [`bulkhead::WorkspaceOverview`] as it is serialized.
fn workspace_overview() -> ObjectBuilder {
    let connection = ObjectBuilder::new()
        .description(Some("A connection and its latest run."))
        .property("connection_id", uuid("The connection."))
        .required("connection_id")
        .property("name", string("Its display name."))
        .required("name")
        .property(
            "status",
            string("Whether it may run.").enum_values(Some(["active", "inactive"])),
        )
        .required("status")
        .property(
            "last_run",
            last_run()
                .description(Some(
                    "Its latest run (by start time); `null` if it never ran.",
                ))
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::Object,
                    Type::Null,
                ])),
        )
        .required("last_run");
    ObjectBuilder::new()
        .description(Some(
            "A workspace as the organization's dashboard shows it.",
        ))
        .property("workspace_id", uuid("The workspace."))
        .required("workspace_id")
        .property(
            "external_id",
            string("The customer's id in the host's system."),
        )
        .required("external_id")
        .property("name", string("Its display name."))
        .required("name")
        .property(
            "status",
            string("Whether it is in use.").enum_values(Some(["active", "inactive"])),
        )
        .required("status")
        .property("sources", count("How many sources it has."))
        .required("sources")
        .property("connections", count("How many connections it has."))
        .required("connections")
        .property(
            "latest_runs",
            utoipa::openapi::schema::ArrayBuilder::new()
                .items(connection)
                .description(Some(
                    "Each connection with its latest run, oldest connection first.",
                )),
        )
        .required("latest_runs")
        .property("rows_synced", count("Rows moved by all of its runs."))
        .required("rows_synced")
        .property("bytes_synced", count("Bytes moved by all of its runs."))
        .required("bytes_synced")
        .property(
            "rows_7d",
            count("Rows moved by its runs started in the last 7 days."),
        )
        .required("rows_7d")
        .property(
            "bytes_7d",
            count("Bytes moved by its runs started in the last 7 days."),
        )
        .required("bytes_7d")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn wire_enums_list_what_the_library_parses() {
        let values = |schema: RefOr<Schema>| match schema {
            RefOr::T(Schema::Object(object)) => object
                .enum_values
                .unwrap()
                .into_iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        for v in values(WorkspaceStatus::schema()) {
            v.parse::<bulkhead::WorkspaceStatus>().unwrap();
        }
        for v in values(TagMode::schema()) {
            v.parse::<bulkhead::TagMode>().unwrap();
        }
        assert_eq!(values(ConnectionStatus::schema()), ["active", "inactive"]);
        let sync = values(RefOr::T(Schema::Object(sync_status().build())));
        for v in &sync {
            v.parse::<bulkhead::SyncStatus>().unwrap();
        }
        // Every status a run can have is a job status the v1 API may answer.
        let jobs = values(JobStatus::schema());
        assert!(sync.iter().all(|s| jobs.contains(s)), "{sync:?} {jobs:?}");
        assert!(values(JobType::schema()).contains(&"sync".to_owned()));
    }
}
