//! The organization's catalog: `/api/v1/integrations/templates/...` (org key or access token;
//! a scoped token is refused with 401), in the shapes of the reference's sections 1.2 and 1.3
//! (snake_case, lists as `{data: [...]}`).
//!
//! | method, path under `/api/v1/integrations/templates` | answer |
//! | --- | --- |
//! | `GET /sources?tags=&tags=&tags_mode=all\|any` | `{data: [source template]}` |
//! | `POST /sources` | source template |
//! | `GET, PATCH /sources/{id}` | source template |
//! | `DELETE /sources/{id}` | `{id, deleted_at}` |
//! | `POST /sources/{id}/tags` `{tag}` | source template |
//! | `DELETE /sources/{id}/tags/{tag_name}` | source template |
//! | the same six under `/connections` | connection template |
//! | `GET /tags`, `POST /tags` `{name}` | `{data: [tag]}`, tag |
//! | `PUT /tags/{name}` `{name}` | tag (renamed on every template and workspace selection) |
//! | `DELETE /tags/{name}` | `{id, deleted_at}` (detached from every template) |
//!
//! A list's `tags_mode` defaults to `all` (the reference's default for these lists; tokens
//! default to `any`); no `tags` lists everything. `use_global=false` is accepted, `true` is a
//! 400 (Bulkhead has no global templates); any other parameter is a 400 naming it.
//!
//! **Tags** are identified by their name: a tag's `id` is its name, and it has no `updated_at`
//! of its own (its `created_at` is given for both). Adding a tag to a template needs the tag
//! to exist (`POST /tags` first: a 400 naming `tag` otherwise); adding one the template has
//! already changes nothing; removing one it does not carry is a 404. Adding and removing read
//! the template and write its whole tag set through the engine: two concurrent changes to one
//! template's tags are last-writer-wins.
//!
//! **Source templates.** `connector_name` is the connector (`actor_definition_id` and
//! `source_definition_id` are accepted as its aliases: Bulkhead has no connector definition
//! ids, a connector is a name such as `stripe`); `partial_default_config` is the default
//! configuration (secret fields answered masked), `user_config_spec` its JSON-Schema spec
//! (secret fields marked `"airbyte_secret": true`), `name` defaults to the connector. Not
//! supported, and refused with a 422 naming the field rather than ignored: `customization`,
//! a `mode` other than `REPLICATION`, cloning (`original_source_template_id`; a clone could
//! not carry the sealed secrets), and `propagate: true` on a patch (sources made from a
//! template keep their configuration; the new spec applies to their next update).
//!
//! **Connection templates** describe the destination a workspace's new source is connected
//! to: `destination_name`, `destination_connector` (alias `destination_definition_id`),
//! `destination_config`, an optional `destination_spec`, `cron_expression` (five fields,
//! `minute hour day month weekday`; Quartz expressions are refused with a 400; absent or
//! `null` means the connections run only when started), `name` (the connections' name;
//! defaults to `destination_name`) and `tags`. Not supported, refused with a 422 naming the
//! field: `data_hosting_type` other than `user_hosted`, `non_breaking_changes_preference`
//! other than `ignore`, and `sync_on_create: true` (Bulkhead does not start a sync when it
//! makes a connection; the answer says `false`).

use std::collections::BTreeSet;
use std::fmt::Display;
use std::str::FromStr;

use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use bulkhead::{
    Clock, ConfigSpec, ConnectionTemplate, ConnectionTemplateId, ConnectionTemplateUpdate,
    ConnectorConfig, Error, Name, NewConnectionTemplate, NewSourceTemplate, ObjectKind, OrgId,
    OrgScope, Schedule, SourceTemplate, SourceTemplateId, SourceTemplateUpdate, SystemClock, Tag,
    TagInfo, TagMode, TagSelection, Timestamp,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::OrgAuth;
use crate::blocking;
use crate::extract::{Json, path_id};
use crate::openapi::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use crate::problem::{Problem, field_as};
use crate::wire::Deleted;

/// `{data: [...]}`: the catalog's lists are not paged.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct List<T> {
    /// Every item, in the list's order.
    data: Vec<T>,
}

/// A 422 for a field Bulkhead knows but does not support.
fn unsupported(field: &'static str, why: &str) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported-field",
        "unsupported field",
    )
    .field(field)
    .detail(format!("unsupported {field}: {why}"))
}

/// A text field: `null` or absent is `None`; another type is a 400 naming the field.
pub(crate) fn text(field: &'static str, value: Option<Value>) -> Result<Option<String>, Problem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Problem::invalid(
            field,
            format!("invalid {field}: must be a string"),
        )),
    }
}

/// A list of texts, as [`text`].
fn texts(field: &'static str, value: Option<Value>) -> Result<Option<Vec<String>>, Problem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(Problem::invalid(
                    field,
                    format!("invalid {field}: must be a list of strings"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(Problem::invalid(
            field,
            format!("invalid {field}: must be a list of strings"),
        )),
    }
}

/// A boolean field, as [`text`].
fn flag(field: &'static str, value: Option<Value>) -> Result<Option<bool>, Problem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(Problem::invalid(
            field,
            format!("invalid {field}: must be true or false"),
        )),
    }
}

/// A field that must be present.
fn required<T>(field: &'static str, value: Option<T>) -> Result<T, Problem> {
    value.ok_or_else(|| Problem::invalid(field, format!("invalid {field}: is required")))
}

fn name(field: &'static str, text: &str) -> Result<Name, Problem> {
    Name::parse_field(field, text).map_err(|e| field_as(e, field))
}

fn config(field: &'static str, value: Value) -> Result<ConnectorConfig, Problem> {
    ConnectorConfig::new(value).map_err(|e| field_as(e, field))
}

fn spec(field: &'static str, value: Value) -> Result<ConfigSpec, Problem> {
    ConfigSpec::parse(value).map_err(|e| field_as(e, field))
}

fn tag(field: &'static str, text: &str) -> Result<Tag, Problem> {
    text.parse().map_err(|e| field_as(e, field))
}

fn tag_set(field: &'static str, names: &[String]) -> Result<BTreeSet<Tag>, Problem> {
    names.iter().map(|n| tag(field, n)).collect()
}

/// Source or connection templates: what the shared handlers need of each.
pub(crate) trait Kind: Send + Sync + 'static {
    type Id: FromStr + Display + Serialize + Copy + Send + 'static;
    type Template: Send + 'static;
    type Response: Serialize + From<Self::Template>;
    type New: Send + 'static;
    type Create: DeserializeOwned + Send;
    type Update: Send + 'static;
    type Patch: DeserializeOwned + Send;
    /// `source_template_id`: the id's name in problems.
    const ID_FIELD: &'static str;
    /// `partial_default_config`: the configuration's name in requests (the engine says
    /// `config`).
    const CONFIG_FIELD: &'static str;
    /// `user_config_spec`: the spec's name in requests (the engine says `spec`).
    const SPEC_FIELD: &'static str;
    fn parse_create(body: Self::Create) -> Result<Self::New, Problem>;
    fn parse_patch(body: Self::Patch) -> Result<Self::Update, Problem>;
    fn list(org: &OrgScope, filter: Option<&TagSelection>)
    -> bulkhead::Result<Vec<Self::Template>>;
    fn create(org: &OrgScope, new: Self::New) -> bulkhead::Result<Self::Template>;
    fn get(org: &OrgScope, id: Self::Id) -> bulkhead::Result<Self::Template>;
    fn update(
        org: &OrgScope,
        id: Self::Id,
        update: &Self::Update,
    ) -> bulkhead::Result<Self::Template>;
    fn delete(org: &OrgScope, id: Self::Id) -> bulkhead::Result<()>;
    fn tags(template: &Self::Template) -> &BTreeSet<Tag>;
    /// An update that replaces the tags only.
    fn retag(tags: BTreeSet<Tag>) -> Self::Update;
}

/// The query of a template list.
#[derive(Debug, PartialEq)]
struct ListQuery {
    filter: Option<TagSelection>,
}

impl ListQuery {
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
        let mut tags = BTreeSet::new();
        let mut mode = None;
        let mut global = None;
        for (key, value) in pairs {
            match key.as_str() {
                "tags" => {
                    tags.insert(tag("tags", &value)?);
                }
                "tags_mode" if mode.is_none() => {
                    mode = Some(
                        value
                            .parse::<TagMode>()
                            .map_err(|e| field_as(e, "tags_mode"))?,
                    );
                }
                "use_global" if global.is_none() => {
                    global = Some(match value.as_str() {
                        "false" => false,
                        "true" => {
                            return Err(Problem::invalid(
                                "use_global",
                                "invalid use_global: Bulkhead has no global templates",
                            ));
                        }
                        _ => {
                            return Err(Problem::invalid(
                                "use_global",
                                "invalid use_global: must be `true` or `false`",
                            ));
                        }
                    });
                }
                "tags_mode" | "use_global" => {
                    return Err(Problem::invalid(
                        key.clone(),
                        format!("invalid {key}: given more than once"),
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
        let mode = mode.unwrap_or(TagMode::All);
        Ok(Self {
            filter: (!tags.is_empty()).then(|| TagSelection::new(tags, mode)),
        })
    }
}

/// `GET .../{plural}`: the organization's templates, oldest first, those the tags select.
pub(crate) async fn list<K: Kind>(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<List<K::Response>>, Problem> {
    let query = ListQuery::parse(uri.query())?;
    let templates = blocking(move || K::list(&org, query.filter.as_ref())).await?;
    Ok(axum::Json(List {
        data: templates.into_iter().map(Into::into).collect(),
    }))
}

/// `POST .../{plural}`: a new template.
pub(crate) async fn create<K: Kind>(
    OrgAuth(org): OrgAuth,
    Json(body): Json<K::Create>,
) -> Result<axum::Json<K::Response>, Problem> {
    let new = K::parse_create(body)?;
    let template = blocking(move || K::create(&org, new))
        .await
        .map_err(engine_fields::<K>)?;
    Ok(axum::Json(template.into()))
}

/// A problem of the engine with its field named as the request names it.
fn engine_fields<K: Kind>(problem: Problem) -> Problem {
    problem
        .rename_field("config", K::CONFIG_FIELD)
        .rename_field("spec", K::SPEC_FIELD)
}

/// `GET .../{plural}/{id}`: another organization's template is not found, like a missing one.
pub(crate) async fn get_one<K: Kind>(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<K::Response>, Problem> {
    let id: K::Id = path_id(K::ID_FIELD, &id)?;
    let template = blocking(move || K::get(&org, id)).await?;
    Ok(axum::Json(template.into()))
}

/// `PATCH .../{plural}/{id}`: the fields given change, the others stay.
pub(crate) async fn patch<K: Kind>(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
    Json(body): Json<K::Patch>,
) -> Result<axum::Json<K::Response>, Problem> {
    let id: K::Id = path_id(K::ID_FIELD, &id)?;
    let update = K::parse_patch(body)?;
    let template = blocking(move || K::update(&org, id, &update))
        .await
        .map_err(engine_fields::<K>)?;
    Ok(axum::Json(template.into()))
}

/// `DELETE .../{plural}/{id}`: `{id, deleted_at}`. What was made from it stays.
pub(crate) async fn remove<K: Kind>(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<Deleted<K::Id>>, Problem> {
    let id: K::Id = path_id(K::ID_FIELD, &id)?;
    blocking(move || K::delete(&org, id)).await?;
    Ok(axum::Json(Deleted {
        id,
        deleted_at: SystemClock.now(),
    }))
}

/// The body of `POST .../{id}/tags`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TemplateTagBody)]
pub(crate) struct TagBody {
    /// The tag's name; the tag must exist.
    tag: String,
}

/// `POST .../{plural}/{id}/tags` `{tag}`: the template with the tag added.
pub(crate) async fn add_tag<K: Kind>(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
    Json(body): Json<TagBody>,
) -> Result<axum::Json<K::Response>, Problem> {
    let id: K::Id = path_id(K::ID_FIELD, &id)?;
    let tag = tag("tag", &body.tag)?;
    let template = blocking(move || {
        let template = K::get(&org, id)?;
        if K::tags(&template).contains(&tag) {
            return Ok(template);
        }
        let mut tags = K::tags(&template).clone();
        tags.insert(tag);
        K::update(&org, id, &K::retag(tags))
    })
    .await
    .map_err(|p| p.rename_field("tags", "tag"))?;
    Ok(axum::Json(template.into()))
}

/// `DELETE .../{plural}/{id}/tags/{tag_name}`: the template without the tag; a tag it does
/// not carry is not found.
pub(crate) async fn remove_tag<K: Kind>(
    OrgAuth(org): OrgAuth,
    Path((id, tag_name)): Path<(String, String)>,
) -> Result<axum::Json<K::Response>, Problem> {
    let id: K::Id = path_id(K::ID_FIELD, &id)?;
    let tag = tag("tag_name", &tag_name)?;
    let template = blocking(move || {
        let template = K::get(&org, id)?;
        let mut tags = K::tags(&template).clone();
        if !tags.remove(&tag) {
            return Err(Error::not_found(ObjectKind::Tag, &tag));
        }
        K::update(&org, id, &K::retag(tags))
    })
    .await?;
    Ok(axum::Json(template.into()))
}

// ---------------------------------------------------------------------------------------------
// Source templates
// ---------------------------------------------------------------------------------------------

/// Source templates.
pub(crate) struct Sources;

/// A source template.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SourceTemplate)]
pub(crate) struct SourceTemplateResponse {
    /// The template.
    #[schema(value_type = String, format = "uuid")]
    id: SourceTemplateId,
    /// Its organization.
    #[schema(value_type = String, format = "uuid")]
    organization_id: OrgId,
    /// Its display name.
    name: String,
    /// Always `null`: Bulkhead keeps no icons.
    icon: Option<String>,
    /// The connector its sources run (`stripe`).
    connector_name: String,
    /// The JSON Schema of the configuration a customer fills in (secret fields marked
    /// `"airbyte_secret": true`).
    #[schema(value_type = Object)]
    user_config_spec: Value,
    /// The configuration the organization set, merged under the customer's (secret fields
    /// masked).
    #[schema(value_type = Object)]
    partial_default_config: ConnectorConfig,
    /// Always `null`: Bulkhead templates have no stream customization.
    #[schema(value_type = Option<Object>)]
    customization: Option<Value>,
    /// Its tags.
    #[schema(value_type = Vec<String>)]
    tags: Vec<Tag>,
    /// Always `REPLICATION`.
    #[schema(value_type = String, example = "REPLICATION")]
    mode: &'static str,
    /// Always `false`.
    is_experimental: bool,
    /// When it was made.
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: Timestamp,
    /// When it last changed.
    #[schema(value_type = crate::openapi::Timestamp)]
    updated_at: Timestamp,
}

impl From<SourceTemplate> for SourceTemplateResponse {
    fn from(t: SourceTemplate) -> Self {
        Self {
            id: t.id,
            organization_id: t.org_id,
            name: t.name.as_str().to_owned(),
            icon: None,
            connector_name: t.connector.as_str().to_owned(),
            user_config_spec: t.spec.as_value().clone(),
            partial_default_config: t.default_config,
            customization: None,
            tags: t.tags.into_iter().collect(),
            mode: "REPLICATION",
            is_experimental: false,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// The body of `POST /sources`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSourceTemplate {
    /// Its display name; the connector's name when absent.
    #[schema(value_type = Option<String>)]
    name: Option<Value>,
    /// The connector its sources run (`stripe`); `actor_definition_id` and
    /// `source_definition_id` are taken as its aliases.
    #[serde(alias = "actor_definition_id", alias = "source_definition_id")]
    #[schema(value_type = String)]
    connector_name: Option<Value>,
    /// The default configuration; `{}` when absent.
    #[schema(value_type = Option<Object>)]
    partial_default_config: Option<Value>,
    /// The JSON Schema of the configuration (secret fields marked
    /// `"airbyte_secret": true`); empty when absent.
    #[schema(value_type = Option<Object>)]
    user_config_spec: Option<Value>,
    /// Its tags; each must exist.
    #[schema(value_type = Option<Vec<String>>)]
    tags: Option<Value>,
    /// Only `null`: no stream customization (a 422 otherwise).
    #[schema(value_type = Option<Object>)]
    customization: Option<Value>,
    /// Only `REPLICATION` (a 422 otherwise).
    #[schema(value_type = Option<String>)]
    mode: Option<Value>,
    /// Only `null`: Bulkhead does not clone templates (a 422 otherwise).
    #[schema(value_type = Option<String>, format = "uuid")]
    original_source_template_id: Option<Value>,
}

/// The body of `PATCH /sources/{id}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchSourceTemplate {
    /// A new display name.
    #[schema(value_type = Option<String>)]
    name: Option<Value>,
    /// A new default configuration, replacing the stored one whole.
    #[schema(value_type = Option<Object>)]
    partial_default_config: Option<Value>,
    /// A new configuration spec.
    #[schema(value_type = Option<Object>)]
    user_config_spec: Option<Value>,
    /// The new tag set, replacing the stored one; each must exist.
    #[schema(value_type = Option<Vec<String>>)]
    tags: Option<Value>,
    /// Only `false`: sources made from the template keep their configuration (a 422
    /// otherwise).
    #[schema(value_type = Option<bool>)]
    propagate: Option<Value>,
    /// Only `null` (a 422 otherwise).
    #[schema(value_type = Option<Object>)]
    customization: Option<Value>,
    /// Only `REPLICATION` (a 422 otherwise).
    #[schema(value_type = Option<String>)]
    mode: Option<Value>,
}

/// Refuses what a source template cannot hold.
fn source_unsupported(customization: Option<&Value>, mode: Option<&str>) -> Result<(), Problem> {
    if customization.is_some_and(|v| !v.is_null()) {
        return Err(unsupported(
            "customization",
            "Bulkhead templates have no stream customization; leave it out",
        ));
    }
    if mode.is_some_and(|m| m != "REPLICATION") {
        return Err(unsupported(
            "mode",
            "Bulkhead templates are `REPLICATION` templates only",
        ));
    }
    Ok(())
}

impl Kind for Sources {
    type Id = SourceTemplateId;
    type Template = SourceTemplate;
    type Response = SourceTemplateResponse;
    type New = NewSourceTemplate;
    type Create = CreateSourceTemplate;
    type Update = SourceTemplateUpdate;
    type Patch = PatchSourceTemplate;
    const ID_FIELD: &'static str = "source_template_id";
    const CONFIG_FIELD: &'static str = "partial_default_config";
    const SPEC_FIELD: &'static str = "user_config_spec";

    fn parse_create(body: CreateSourceTemplate) -> Result<NewSourceTemplate, Problem> {
        if body
            .original_source_template_id
            .is_some_and(|v| !v.is_null())
        {
            return Err(unsupported(
                "original_source_template_id",
                "Bulkhead does not clone templates (a clone could not carry the sealed \
                 secrets); create one with its own fields",
            ));
        }
        source_unsupported(
            body.customization.as_ref(),
            text("mode", body.mode)?.as_deref(),
        )?;
        let connector_text = required(
            "connector_name",
            text("connector_name", body.connector_name)?,
        )?;
        let connector = connector_text
            .parse()
            .map_err(|e| field_as(e, "connector_name"))?;
        Ok(NewSourceTemplate {
            name: name(
                "name",
                text("name", body.name)?
                    .as_deref()
                    .unwrap_or(&connector_text),
            )?,
            connector,
            default_config: config(
                "partial_default_config",
                body.partial_default_config
                    .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
            )?,
            spec: match body.user_config_spec {
                Some(value) => spec("user_config_spec", value)?,
                None => ConfigSpec::empty(),
            },
            tags: tag_set("tags", &texts("tags", body.tags)?.unwrap_or_default())?,
        })
    }

    fn parse_patch(body: PatchSourceTemplate) -> Result<SourceTemplateUpdate, Problem> {
        source_unsupported(
            body.customization.as_ref(),
            text("mode", body.mode)?.as_deref(),
        )?;
        if flag("propagate", body.propagate)? == Some(true) {
            return Err(unsupported(
                "propagate",
                "sources made from a template keep their configuration; the new spec applies \
                 to their next update",
            ));
        }
        Ok(SourceTemplateUpdate {
            name: text("name", body.name)?
                .map(|n| name("name", &n))
                .transpose()?,
            default_config: body
                .partial_default_config
                .map(|c| config("partial_default_config", c))
                .transpose()?,
            spec: body
                .user_config_spec
                .map(|s| spec("user_config_spec", s))
                .transpose()?,
            tags: texts("tags", body.tags)?
                .map(|t| tag_set("tags", &t))
                .transpose()?,
        })
    }

    fn list(
        org: &OrgScope,
        filter: Option<&TagSelection>,
    ) -> bulkhead::Result<Vec<SourceTemplate>> {
        org.list_source_templates(filter)
    }

    fn create(org: &OrgScope, new: NewSourceTemplate) -> bulkhead::Result<SourceTemplate> {
        org.create_source_template(new)
    }

    fn get(org: &OrgScope, id: SourceTemplateId) -> bulkhead::Result<SourceTemplate> {
        org.get_source_template(id)
    }

    fn update(
        org: &OrgScope,
        id: SourceTemplateId,
        update: &SourceTemplateUpdate,
    ) -> bulkhead::Result<SourceTemplate> {
        org.update_source_template(id, update)
    }

    fn delete(org: &OrgScope, id: SourceTemplateId) -> bulkhead::Result<()> {
        org.delete_source_template(id)
    }

    fn tags(template: &SourceTemplate) -> &BTreeSet<Tag> {
        &template.tags
    }

    fn retag(tags: BTreeSet<Tag>) -> SourceTemplateUpdate {
        SourceTemplateUpdate {
            tags: Some(tags),
            ..SourceTemplateUpdate::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connection templates
// ---------------------------------------------------------------------------------------------

/// Connection templates.
pub(crate) struct Connections;

/// A connection template.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ConnectionTemplate)]
pub(crate) struct ConnectionTemplateResponse {
    /// The template.
    #[schema(value_type = String, format = "uuid")]
    id: ConnectionTemplateId,
    /// Its organization.
    #[schema(value_type = String, format = "uuid")]
    organization_id: OrgId,
    /// The name of the connections made from it.
    name: String,
    /// Always `null`: Bulkhead keeps no icons.
    icon: Option<String>,
    /// The name of the destination a workspace's new source is connected to.
    destination_name: String,
    /// The destination's connector.
    destination_connector: String,
    /// The destination's configuration (secret fields masked).
    #[schema(value_type = Object)]
    destination_config: ConnectorConfig,
    /// The JSON Schema of the destination's configuration.
    #[schema(value_type = Object)]
    destination_spec: Value,
    /// The connections' schedule (five cron fields); `null` when the connections run only
    /// when started or at an interval.
    cron_expression: Option<String>,
    /// The connections' interval (`every 6 hours`), when a host set one through the library;
    /// absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    basic_timing: Option<String>,
    /// Always `user_hosted`.
    #[schema(value_type = String, example = "user_hosted")]
    data_hosting_type: &'static str,
    /// Always `ignore`.
    #[schema(value_type = String, example = "ignore")]
    non_breaking_changes_preference: &'static str,
    /// Always `false`: Bulkhead does not start a sync when it makes a connection.
    sync_on_create: bool,
    /// Its tags.
    #[schema(value_type = Vec<String>)]
    tags: Vec<Tag>,
    /// When it was made.
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: Timestamp,
    /// When it last changed.
    #[schema(value_type = crate::openapi::Timestamp)]
    updated_at: Timestamp,
}

impl From<ConnectionTemplate> for ConnectionTemplateResponse {
    fn from(t: ConnectionTemplate) -> Self {
        Self {
            id: t.id,
            organization_id: t.org_id,
            name: t.name.as_str().to_owned(),
            icon: None,
            destination_name: t.destination_name.as_str().to_owned(),
            destination_connector: t.destination_connector.as_str().to_owned(),
            destination_config: t.destination_config,
            destination_spec: t.destination_spec.as_value().clone(),
            cron_expression: match &t.schedule {
                Schedule::Cron(cron) => Some(cron.as_str().to_owned()),
                Schedule::Manual | Schedule::Interval(_) => None,
            },
            basic_timing: match &t.schedule {
                Schedule::Interval(every) => Some(every.as_str().to_owned()),
                Schedule::Manual | Schedule::Cron(_) => None,
            },
            data_hosting_type: "user_hosted",
            non_breaking_changes_preference: "ignore",
            sync_on_create: false,
            tags: t.tags.into_iter().collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// The body of `POST /connections`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateConnectionTemplate {
    /// The connections' name; `destination_name` when absent.
    #[schema(value_type = Option<String>)]
    name: Option<Value>,
    /// The destination's name.
    #[schema(value_type = String)]
    destination_name: Option<Value>,
    /// The destination's connector; `destination_definition_id` is taken as its alias.
    #[serde(alias = "destination_definition_id")]
    #[schema(value_type = String)]
    destination_connector: Option<Value>,
    /// The destination's configuration.
    #[schema(value_type = Object)]
    destination_config: Option<Value>,
    /// The JSON Schema of the destination's configuration; empty when absent.
    #[schema(value_type = Option<Object>)]
    destination_spec: Option<Value>,
    /// Five cron fields (`minute hour day month weekday`; Quartz expressions are a 400);
    /// absent or `null`, the connections run only when started.
    #[schema(value_type = Option<String>)]
    cron_expression: Option<Value>,
    /// Its tags; each must exist.
    #[schema(value_type = Option<Vec<String>>)]
    tags: Option<Value>,
    /// Only `user_hosted` (a 422 otherwise).
    #[schema(value_type = Option<String>)]
    data_hosting_type: Option<Value>,
    /// Only `ignore` (a 422 otherwise).
    #[schema(value_type = Option<String>)]
    non_breaking_changes_preference: Option<Value>,
    /// Only `false` (a 422 otherwise).
    #[schema(value_type = Option<bool>)]
    sync_on_create: Option<Value>,
}

/// The body of `PATCH /connections/{id}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchConnectionTemplate {
    /// A new name for the connections made from now on.
    #[schema(value_type = Option<String>)]
    name: Option<Value>,
    /// A new destination name.
    #[schema(value_type = Option<String>)]
    destination_name: Option<Value>,
    /// A new destination configuration, replacing the stored one whole.
    #[schema(value_type = Option<Object>)]
    destination_config: Option<Value>,
    /// A new destination configuration spec.
    #[schema(value_type = Option<Object>)]
    destination_spec: Option<Value>,
    /// Absent keeps the schedule; `null` makes it manual.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    cron_expression: Option<Value>,
    /// The new tag set, replacing the stored one; each must exist.
    #[schema(value_type = Option<Vec<String>>)]
    tags: Option<Value>,
    /// Only `ignore` (a 422 otherwise).
    #[schema(value_type = Option<String>)]
    non_breaking_changes_preference: Option<Value>,
    /// Only `false` (a 422 otherwise).
    #[schema(value_type = Option<bool>)]
    sync_on_create: Option<Value>,
}

/// A field that is present, `null` included (`Some(Value::Null)`), as opposed to absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The schedule a `cron_expression` value names: `null` is manual.
fn schedule(value: Value) -> Result<Schedule, Problem> {
    match value {
        Value::Null => Ok(Schedule::Manual),
        Value::String(text) => text
            .parse()
            .map(Schedule::Cron)
            .map_err(|e| field_as(e, "cron_expression")),
        _ => Err(Problem::invalid(
            "cron_expression",
            "invalid cron_expression: must be a string or null",
        )),
    }
}

/// Refuses what a connection template cannot do.
fn connection_unsupported(
    hosting: Option<&str>,
    preference: Option<&str>,
    sync_on_create: Option<bool>,
) -> Result<(), Problem> {
    if hosting.is_some_and(|h| h != "user_hosted") {
        return Err(unsupported(
            "data_hosting_type",
            "Bulkhead hosts no destinations; only `user_hosted` templates exist",
        ));
    }
    if preference.is_some_and(|p| p != "ignore") {
        return Err(unsupported(
            "non_breaking_changes_preference",
            "Bulkhead does not propagate schema changes; only `ignore` is supported",
        ));
    }
    if sync_on_create == Some(true) {
        return Err(unsupported(
            "sync_on_create",
            "Bulkhead does not start a sync when it makes a connection; send `false` or leave \
             it out",
        ));
    }
    Ok(())
}

impl Kind for Connections {
    type Id = ConnectionTemplateId;
    type Template = ConnectionTemplate;
    type Response = ConnectionTemplateResponse;
    type New = NewConnectionTemplate;
    type Create = CreateConnectionTemplate;
    type Update = ConnectionTemplateUpdate;
    type Patch = PatchConnectionTemplate;
    const ID_FIELD: &'static str = "connection_template_id";
    const CONFIG_FIELD: &'static str = "destination_config";
    const SPEC_FIELD: &'static str = "destination_spec";

    fn parse_create(body: CreateConnectionTemplate) -> Result<NewConnectionTemplate, Problem> {
        connection_unsupported(
            text("data_hosting_type", body.data_hosting_type)?.as_deref(),
            text(
                "non_breaking_changes_preference",
                body.non_breaking_changes_preference,
            )?
            .as_deref(),
            flag("sync_on_create", body.sync_on_create)?,
        )?;
        let destination_name = name(
            "destination_name",
            &required(
                "destination_name",
                text("destination_name", body.destination_name)?,
            )?,
        )?;
        Ok(NewConnectionTemplate {
            name: match text("name", body.name)? {
                Some(n) => name("name", &n)?,
                None => destination_name.clone(),
            },
            destination_name,
            destination_connector: required(
                "destination_connector",
                text("destination_connector", body.destination_connector)?,
            )?
            .parse()
            .map_err(|e| field_as(e, "destination_connector"))?,
            destination_config: config(
                "destination_config",
                required("destination_config", body.destination_config)?,
            )?,
            destination_spec: match body.destination_spec {
                Some(value) => spec("destination_spec", value)?,
                None => ConfigSpec::empty(),
            },
            schedule: schedule(body.cron_expression.unwrap_or(Value::Null))?,
            tags: tag_set("tags", &texts("tags", body.tags)?.unwrap_or_default())?,
        })
    }

    fn parse_patch(body: PatchConnectionTemplate) -> Result<ConnectionTemplateUpdate, Problem> {
        connection_unsupported(
            None,
            text(
                "non_breaking_changes_preference",
                body.non_breaking_changes_preference,
            )?
            .as_deref(),
            flag("sync_on_create", body.sync_on_create)?,
        )?;
        Ok(ConnectionTemplateUpdate {
            name: text("name", body.name)?
                .map(|n| name("name", &n))
                .transpose()?,
            destination_name: text("destination_name", body.destination_name)?
                .map(|n| name("destination_name", &n))
                .transpose()?,
            destination_config: body
                .destination_config
                .map(|c| config("destination_config", c))
                .transpose()?,
            destination_spec: body
                .destination_spec
                .map(|s| spec("destination_spec", s))
                .transpose()?,
            schedule: body.cron_expression.map(schedule).transpose()?,
            tags: texts("tags", body.tags)?
                .map(|t| tag_set("tags", &t))
                .transpose()?,
        })
    }

    fn list(
        org: &OrgScope,
        filter: Option<&TagSelection>,
    ) -> bulkhead::Result<Vec<ConnectionTemplate>> {
        org.list_connection_templates(filter)
    }

    fn create(org: &OrgScope, new: NewConnectionTemplate) -> bulkhead::Result<ConnectionTemplate> {
        org.create_connection_template(new)
    }

    fn get(org: &OrgScope, id: ConnectionTemplateId) -> bulkhead::Result<ConnectionTemplate> {
        org.get_connection_template(id)
    }

    fn update(
        org: &OrgScope,
        id: ConnectionTemplateId,
        update: &ConnectionTemplateUpdate,
    ) -> bulkhead::Result<ConnectionTemplate> {
        org.update_connection_template(id, update)
    }

    fn delete(org: &OrgScope, id: ConnectionTemplateId) -> bulkhead::Result<()> {
        org.delete_connection_template(id)
    }

    fn tags(template: &ConnectionTemplate) -> &BTreeSet<Tag> {
        &template.tags
    }

    fn retag(tags: BTreeSet<Tag>) -> ConnectionTemplateUpdate {
        ConnectionTemplateUpdate {
            tags: Some(tags),
            ..ConnectionTemplateUpdate::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------------------------

/// A tag: its `id` is its name.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TemplateTag)]
pub(crate) struct TagResponse {
    /// Its name: a tag is identified by its name.
    #[schema(value_type = String)]
    id: Tag,
    /// Its name.
    #[schema(value_type = String)]
    name: Tag,
    /// Its organization.
    #[schema(value_type = String, format = "uuid")]
    organization_id: OrgId,
    /// When it was made.
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: Timestamp,
    /// The same as `created_at`: a tag has no update time of its own.
    #[schema(value_type = crate::openapi::Timestamp)]
    updated_at: Timestamp,
}

impl TagResponse {
    fn new(info: TagInfo, organization_id: OrgId) -> Self {
        Self {
            id: info.name.clone(),
            name: info.name,
            organization_id,
            created_at: info.created_at,
            updated_at: info.created_at,
        }
    }
}

/// The body of `POST /tags` and `PUT /tags/{name}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TemplateTagName)]
pub(crate) struct TagNameBody {
    /// The tag's name (its new name for a rename).
    name: String,
}

/// The answer to a tag's delete: `{id, deleted_at}`, the id the tag's name.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeletedTag {
    /// The tag's name.
    #[schema(value_type = String)]
    id: Tag,
    /// When.
    #[schema(value_type = crate::openapi::Timestamp)]
    deleted_at: Timestamp,
}

/// List the organization's tags
///
/// Every tag of the organization, by name. Takes no query parameter. Not paged.
#[utoipa::path(
    get,
    path = "/api/v1/integrations/templates/tags",
    tag = "templates",
    operation_id = "list_template_tags",
    responses(
        (status = 200, description = "The tags.", body = List<TagResponse>),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn list_tags(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<List<TagResponse>>, Problem> {
    if let Some(query) = uri.query().filter(|q| !q.is_empty()) {
        let key = query.split(['=', '&']).next().unwrap_or(query).to_owned();
        return Err(Problem::invalid(
            key.clone(),
            format!("unknown query parameter `{key}`"),
        ));
    }
    let org_id = org.org_id();
    let tags = blocking(move || org.list_tags()).await?;
    Ok(axum::Json(List {
        data: tags
            .into_iter()
            .map(|t| TagResponse::new(t, org_id))
            .collect(),
    }))
}

/// Create a tag
///
/// A new tag of the organization; one it has already is a 409.
#[utoipa::path(
    post,
    path = "/api/v1/integrations/templates/tags",
    tag = "templates",
    operation_id = "create_template_tag",
    request_body = TagNameBody,
    responses(
        (status = 200, description = "The new tag.", body = TagResponse),
        BadRequest, Unauthorized, Conflict, PayloadTooLarge, UnsupportedMediaType, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn create_tag(
    OrgAuth(org): OrgAuth,
    Json(body): Json<TagNameBody>,
) -> Result<axum::Json<TagResponse>, Problem> {
    let name = tag("name", &body.name)?;
    let org_id = org.org_id();
    let made = blocking(move || org.create_tag(&name)).await?;
    Ok(axum::Json(TagResponse::new(made, org_id)))
}

/// Rename a tag
///
/// Renames the tag on every template and in every workspace's selection.
#[utoipa::path(
    put,
    path = "/api/v1/integrations/templates/tags/{name}",
    tag = "templates",
    operation_id = "rename_template_tag",
    params(("name" = String, Path, description = "The tag's name.")),
    request_body = TagNameBody,
    responses(
        (status = 200, description = "The tag under its new name.", body = TagResponse),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType,
        Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn rename_tag(
    OrgAuth(org): OrgAuth,
    Path(from): Path<String>,
    Json(body): Json<TagNameBody>,
) -> Result<axum::Json<TagResponse>, Problem> {
    let from = tag("name", &from)?;
    let to = tag("name", &body.name)?;
    let org_id = org.org_id();
    let renamed = blocking(move || {
        if from != to {
            org.rename_tag(&from, &to)?;
        }
        org.list_tags()?
            .into_iter()
            .find(|t| t.name == to)
            .ok_or_else(|| Error::not_found(ObjectKind::Tag, &to))
    })
    .await?;
    Ok(axum::Json(TagResponse::new(renamed, org_id)))
}

/// Delete a tag
///
/// Answers `{id, deleted_at}`, the id the tag's name. The tag leaves every template
/// (workspaces that selected it keep the name, which now matches nothing).
#[utoipa::path(
    delete,
    path = "/api/v1/integrations/templates/tags/{name}",
    tag = "templates",
    operation_id = "delete_template_tag",
    params(("name" = String, Path, description = "The tag's name.")),
    responses(
        (status = 200, description = "The tag is deleted.", body = DeletedTag),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn delete_tag(
    OrgAuth(org): OrgAuth,
    Path(name): Path<String>,
) -> Result<axum::Json<DeletedTag>, Problem> {
    let name = tag("name", &name)?;
    let id = name.clone();
    blocking(move || org.delete_tag(&name)).await?;
    Ok(axum::Json(DeletedTag {
        id,
        deleted_at: SystemClock.now(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn list_query_repeats_tags_and_defaults_to_all() {
        let q = ListQuery::parse(Some("tags=a&tags=b&use_global=false")).unwrap();
        let filter = q.filter.unwrap();
        assert_eq!(filter.mode, TagMode::All);
        assert_eq!(filter.tags.len(), 2);
        let any = ListQuery::parse(Some("tags=a&tags_mode=any")).unwrap();
        assert_eq!(any.filter.unwrap().mode, TagMode::Any);
        assert_eq!(ListQuery::parse(None).unwrap().filter, None);
    }

    #[test]
    fn list_query_names_the_bad_parameter() {
        for (query, field) in [
            ("tags_mode=some", "tags_mode"),
            ("tags_mode=any&tags_mode=all", "tags_mode"),
            ("use_global=true", "use_global"),
            ("use_global=1", "use_global"),
            ("tag=a", "tag"),
            ("tags=", "tags"),
        ] {
            let err = ListQuery::parse(Some(query)).unwrap_err();
            let body = serde_json::to_value(&err).unwrap();
            assert_eq!(body["field"], field, "{query}");
        }
    }
}
