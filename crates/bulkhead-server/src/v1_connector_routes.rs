//! The v1 sources and destinations handlers as the router and the OpenAPI document see them:
//! for each kind, six thin handlers that carry the `#[utoipa::path]` annotation and call the
//! generic handler of [`crate::v1_connectors`] for that kind. An annotation needs one concrete
//! function per route; the behaviour stays in one place.

/// Declares `mod $module` with the annotated `list`, `create`, `get`, `patch`, `put` and
/// `delete` of the kind `$kind`; the literals are its paths, tag, id parameter and names.
macro_rules! connector_handlers {
    (
        $(#[$doc:meta])*
        mod $module:ident: $kind:ty, $response:ty {
            collection: $collection:literal,
            item: $item:literal,
            id: $id:literal,
            tag: $tag:literal,
            one: $one:literal,
        }
    ) => {
        $(#[$doc])*
        pub(crate) mod $module {
            use axum::extract::{Path, State};
            use axum::http::Uri;
            use axum::response::Response;

            use crate::AppState;
            use crate::auth::AnyAuth;
            use crate::extract::Json;
            use crate::openapi::{
                BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized,
                Unavailable, UnsupportedMediaType,
            };
            use crate::problem::Problem;
            use crate::v1::{ListQuery, ListResponse, Prefix};
            use crate::v1_connectors::{self as generic, CreateBody, PatchBody, PutBody};

            #[utoipa::path(
                get,
                path = $collection,
                tag = $tag,
                operation_id = concat!("list_", $tag),
                summary = concat!("List ", $tag),
                description = concat!(
                    "An offset page of the ", $tag, " the credential reaches, workspace by ",
                    "workspace (by external id), each workspace's oldest first. A scoped token ",
                    "reaches its own workspace only.",
                ),
                params(ListQuery),
                responses(
                    (status = 200, description = "A page.", body = ListResponse<$response>),
                    BadRequest, Unauthorized, Forbidden, Conflict, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
            )]
            pub(crate) async fn list(
                state: State<AppState>,
                prefix: axum::Extension<Prefix>,
                auth: AnyAuth,
                uri: Uri,
            ) -> Result<axum::Json<ListResponse<$response>>, Problem> {
                generic::list::<$kind>(state, prefix, auth, uri).await
            }

            #[utoipa::path(
                post,
                path = $collection,
                tag = $tag,
                operation_id = concat!("create_", $one),
                summary = concat!("Create a ", $one),
                description = concat!(
                    "A ", $one, " from a raw configuration in a workspace the credential ",
                    "reaches. Organization access only: a scoped token is a 403 (customers ",
                    "create sources from templates, on the Embedded API).",
                ),
                request_body = CreateBody,
                responses(
                    (status = 200, description = concat!("The new ", $one, "."), body = $response),
                    BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
                    UnsupportedMediaType, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
            )]
            pub(crate) async fn create(
                auth: AnyAuth,
                body: Json<CreateBody>,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::create::<$kind>(auth, body).await
            }

            #[utoipa::path(
                get,
                path = $item,
                tag = $tag,
                operation_id = concat!("get_", $one),
                summary = concat!("Get a ", $one),
                description = concat!(
                    "Another tenant's ", $one, " is not found, like a missing one.",
                ),
                params(
                    ($id = String, Path, format = "uuid", description = concat!("The ", $one, ".")),
                    ("includeSecretCoordinates" = Option<bool>, Query, description = "Only `false`: Bulkhead has no secret coordinates."),
                ),
                responses(
                    (status = 200, description = concat!("The ", $one, "."), body = $response),
                    BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
            )]
            pub(crate) async fn get(
                auth: AnyAuth,
                id: Path<String>,
                uri: Uri,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::get::<$kind>(auth, id, uri).await
            }

            #[utoipa::path(
                patch,
                path = $item,
                tag = $tag,
                operation_id = concat!("patch_", $one),
                summary = concat!("Update a ", $one),
                description = concat!(
                    "A new name or configuration; the configuration replaces the stored one ",
                    "whole (send the mask back to keep a secret).",
                ),
                params(($id = String, Path, format = "uuid", description = concat!("The ", $one, "."))),
                request_body = PatchBody,
                responses(
                    (status = 200, description = concat!("The ", $one, "."), body = $response),
                    BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
                    UnsupportedMediaType, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
            )]
            pub(crate) async fn patch(
                auth: AnyAuth,
                id: Path<String>,
                body: Json<PatchBody>,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::patch::<$kind>(auth, id, body).await
            }

            #[utoipa::path(
                put,
                path = $item,
                tag = $tag,
                operation_id = concat!("put_", $one),
                summary = concat!("Replace a ", $one),
                description = "A new name and configuration, both required.",
                params(($id = String, Path, format = "uuid", description = concat!("The ", $one, "."))),
                request_body = PutBody,
                responses(
                    (status = 200, description = concat!("The ", $one, "."), body = $response),
                    BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
                    UnsupportedMediaType, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
            )]
            pub(crate) async fn put(
                auth: AnyAuth,
                id: Path<String>,
                body: Json<PutBody>,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::put::<$kind>(auth, id, body).await
            }

            #[utoipa::path(
                delete,
                path = $item,
                tag = $tag,
                operation_id = concat!("delete_", $one),
                summary = concat!("Delete a ", $one),
                description = "204 with no body; one a connection uses is a 409.",
                params(($id = String, Path, format = "uuid", description = concat!("The ", $one, "."))),
                responses(
                    (status = 204, description = concat!("The ", $one, " is deleted.")),
                    BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
            )]
            pub(crate) async fn delete(auth: AnyAuth, id: Path<String>) -> Result<Response, Problem> {
                generic::delete::<$kind>(auth, id).await
            }
        }
    };
}

connector_handlers! {
    /// `/sources` and `/sources/{sourceId}`.
    mod sources: crate::v1_connectors::Sources, crate::v1_connectors::SourceResponse {
        collection: "/sources",
        item: "/sources/{sourceId}",
        id: "sourceId",
        tag: "sources",
        one: "source",
    }
}

connector_handlers! {
    /// `/destinations` and `/destinations/{destinationId}`.
    mod destinations: crate::v1_connectors::Destinations, crate::v1_connectors::DestinationResponse {
        collection: "/destinations",
        item: "/destinations/{destinationId}",
        id: "destinationId",
        tag: "destinations",
        one: "destination",
    }
}
