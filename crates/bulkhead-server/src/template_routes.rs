//! The organization's source and connection template handlers as the router and the OpenAPI
//! document see them: for each kind, seven thin handlers that carry the `#[utoipa::path]`
//! annotation and call the generic handler of [`crate::templates`] for that kind. An
//! annotation needs one concrete function per route; the behaviour stays in one place.

/// Declares `mod $module` with the annotated `list`, `create`, `get`, `patch`, `delete`,
/// `add_tag` and `remove_tag` of the kind `$kind`; the literals are its paths and names.
macro_rules! template_handlers {
    (
        $(#[$doc:meta])*
        mod $module:ident: $kind:ty, $response:ty, $create:ty, $patch:ty {
            collection: $collection:literal,
            item: $item:literal,
            tags: $tags:literal,
            tag_item: $tag_item:literal,
            one: $one:literal,
            words: $words:literal,
        }
    ) => {
        $(#[$doc])*
        pub(crate) mod $module {
            use axum::extract::Path;
            use axum::http::Uri;

            use crate::auth::OrgAuth;
            use crate::extract::Json;
            use crate::openapi::{
                BadRequest, Conflict, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
                UnsupportedMediaType, Unprocessable,
            };
            use crate::problem::Problem;
            use crate::templates::{self as generic, List, TagBody};
            use crate::wire::Deleted;

            #[utoipa::path(
                get,
                path = $collection,
                tag = "templates",
                operation_id = concat!("list_", $one, "s"),
                summary = concat!("List ", $words, "s"),
                description = concat!(
                    "The organization's ", $words, "s, oldest first, those the tags select ",
                    "(all of them without `tags`). Not paged.",
                ),
                params(
                    ("tags" = Option<Vec<String>>, Query, description = "Only templates with these tags (repeat the parameter for several)."),
                    ("tags_mode" = Option<crate::openapi::TagMode>, Query, description = "How `tags` match: `all` of them (the default) or `any`."),
                    ("use_global" = Option<bool>, Query, description = "Only `false`: Bulkhead has no global templates."),
                ),
                responses(
                    (status = 200, description = concat!("The ", $words, "s."), body = List<$response>),
                    BadRequest, Unauthorized, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
            )]
            pub(crate) async fn list(
                auth: OrgAuth,
                uri: Uri,
            ) -> Result<axum::Json<List<$response>>, Problem> {
                generic::list::<$kind>(auth, uri).await
            }

            #[utoipa::path(
                post,
                path = $collection,
                tag = "templates",
                operation_id = concat!("create_", $one),
                summary = concat!("Create a ", $words),
                description = concat!(
                    "A new ", $words, " of the organization. A field Bulkhead knows but ",
                    "does not support, at a value that asks for it, is a 422 naming the field.",
                ),
                request_body = $create,
                responses(
                    (status = 200, description = concat!("The new ", $words, "."), body = $response),
                    BadRequest, Unauthorized, Conflict, PayloadTooLarge, UnsupportedMediaType,
                    Unprocessable, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
            )]
            pub(crate) async fn create(
                auth: OrgAuth,
                body: Json<$create>,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::create::<$kind>(auth, body).await
            }

            #[utoipa::path(
                get,
                path = $item,
                tag = "templates",
                operation_id = concat!("get_", $one),
                summary = concat!("Get a ", $words),
                description = concat!(
                    "Another organization's ", $words, " is not found, like a missing one.",
                ),
                params(("id" = String, Path, format = "uuid", description = concat!("The ", $words, "."))),
                responses(
                    (status = 200, description = concat!("The ", $words, "."), body = $response),
                    BadRequest, Unauthorized, NotFound, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
            )]
            pub(crate) async fn get(
                auth: OrgAuth,
                id: Path<String>,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::get_one::<$kind>(auth, id).await
            }

            #[utoipa::path(
                patch,
                path = $item,
                tag = "templates",
                operation_id = concat!("patch_", $one),
                summary = concat!("Update a ", $words),
                description = "The fields given change, the others stay.",
                params(("id" = String, Path, format = "uuid", description = concat!("The ", $words, "."))),
                request_body = $patch,
                responses(
                    (status = 200, description = concat!("The ", $words, " as it is now."), body = $response),
                    BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge,
                    UnsupportedMediaType, Unprocessable, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
            )]
            pub(crate) async fn patch(
                auth: OrgAuth,
                id: Path<String>,
                body: Json<$patch>,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::patch::<$kind>(auth, id, body).await
            }

            #[utoipa::path(
                delete,
                path = $item,
                tag = "templates",
                operation_id = concat!("delete_", $one),
                summary = concat!("Delete a ", $words),
                description = "200 `{id, deleted_at}`. What was made from it stays.",
                params(("id" = String, Path, format = "uuid", description = concat!("The ", $words, "."))),
                responses(
                    (status = 200, description = concat!("The ", $words, " is deleted."), body = Deleted<String>),
                    BadRequest, Unauthorized, NotFound, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
            )]
            pub(crate) async fn delete(
                auth: OrgAuth,
                id: Path<String>,
            ) -> Result<axum::Json<Deleted<<$kind as generic::Kind>::Id>>, Problem> {
                generic::remove::<$kind>(auth, id).await
            }

            #[utoipa::path(
                post,
                path = $tags,
                tag = "templates",
                operation_id = concat!("add_", $one, "_tag"),
                summary = concat!("Tag a ", $words),
                description = concat!(
                    "Adds an existing tag (`POST /api/v1/integrations/templates/tags` first: ",
                    "a 400 naming `tag` otherwise); a tag the template has already changes ",
                    "nothing. Last writer wins between two concurrent changes of one ",
                    "template's tags.",
                ),
                params(("id" = String, Path, format = "uuid", description = concat!("The ", $words, "."))),
                request_body = TagBody,
                responses(
                    (status = 200, description = concat!("The ", $words, " with the tag."), body = $response),
                    BadRequest, Unauthorized, NotFound, PayloadTooLarge,
                    UnsupportedMediaType, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
            )]
            pub(crate) async fn add_tag(
                auth: OrgAuth,
                id: Path<String>,
                body: Json<TagBody>,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::add_tag::<$kind>(auth, id, body).await
            }

            #[utoipa::path(
                delete,
                path = $tag_item,
                tag = "templates",
                operation_id = concat!("remove_", $one, "_tag"),
                summary = concat!("Untag a ", $words),
                description = "The template without the tag; a tag it does not carry is not found.",
                params(
                    ("id" = String, Path, format = "uuid", description = concat!("The ", $words, ".")),
                    ("tag_name" = String, Path, description = "The tag's name."),
                ),
                responses(
                    (status = 200, description = concat!("The ", $words, " without the tag."), body = $response),
                    BadRequest, Unauthorized, NotFound, Unavailable,
                ),
                security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
            )]
            pub(crate) async fn remove_tag(
                auth: OrgAuth,
                ids: Path<(String, String)>,
            ) -> Result<axum::Json<$response>, Problem> {
                generic::remove_tag::<$kind>(auth, ids).await
            }
        }
    };
}

template_handlers! {
    /// `/api/v1/integrations/templates/sources` and below.
    mod sources: crate::templates::Sources,
        crate::templates::SourceTemplateResponse,
        crate::templates::CreateSourceTemplate,
        crate::templates::PatchSourceTemplate {
        collection: "/api/v1/integrations/templates/sources",
        item: "/api/v1/integrations/templates/sources/{id}",
        tags: "/api/v1/integrations/templates/sources/{id}/tags",
        tag_item: "/api/v1/integrations/templates/sources/{id}/tags/{tag_name}",
        one: "source_template",
        words: "source template",
    }
}

template_handlers! {
    /// `/api/v1/integrations/templates/connections` and below.
    mod connections: crate::templates::Connections,
        crate::templates::ConnectionTemplateResponse,
        crate::templates::CreateConnectionTemplate,
        crate::templates::PatchConnectionTemplate {
        collection: "/api/v1/integrations/templates/connections",
        item: "/api/v1/integrations/templates/connections/{id}",
        tags: "/api/v1/integrations/templates/connections/{id}/tags",
        tag_item: "/api/v1/integrations/templates/connections/{id}/tags/{tag_name}",
        one: "connection_template",
        words: "connection template",
    }
}
