//! The JSON the API answers with, in the field names of the Embedded API
//! (`shared/reference/airbyte-http-api.md`, sections 1.2 and 1.3): snake_case, RFC 3339 times,
//! lists as `{data, next}`.

use bulkhead::{
    ConnectorConfig, Cursor, OrgId, Source, SourceId, SourceTemplate, SourceTemplateId, Tag,
    TagMode, TagSelection, Timestamp, Workspace, WorkspaceId, WorkspaceStatus,
};
use serde::Serialize;

/// Writes a configuration read from storage as its stored JSON text, byte for byte what
/// serializing its map gives (see `ConnectorConfig::stored_json`), without parsing it into a
/// tree and writing the tree back: a list page echoes one per row. Secret fields are masked
/// in the stored text itself (their values are sealed apart), so nothing is revealed.
pub(crate) fn as_stored<S: serde::Serializer>(
    config: &ConnectorConfig,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match config.stored_json() {
        Some(raw) => raw.serialize(serializer),
        None => config.serialize(serializer),
    }
}

/// One page of a list: `{data, next}`, `next` a link to the following page or `null`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Page<T> {
    /// The items of this page.
    pub(crate) data: Vec<T>,
    /// The link to the following page (under the server's public URL, or a path), or
    /// `null` on the last.
    pub(crate) next: Option<String>,
}

/// The link to the page after `cursor`: `public_url` + `path` + the query, or the bare path
/// when no public URL is configured (never the request's `Host`).
pub(crate) fn next_link(
    public_url: Option<&str>,
    path: &str,
    limit: u32,
    cursor: Option<&Cursor>,
    extra: &[(&str, &str)],
) -> Option<String> {
    let cursor = cursor?.to_string();
    let mut query = form_pairs(extra);
    query.push(("limit".to_owned(), limit.to_string()));
    query.push(("cursor".to_owned(), cursor));
    let query = serde_urlencoded::to_string(&query).ok()?;
    Some(format!("{}{path}?{query}", public_url.unwrap_or_default()))
}

fn form_pairs(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `WorkspaceListItem`, plus the external id and tag selections Bulkhead keeps.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WorkspaceItem {
    /// The workspace.
    #[schema(value_type = String, format = "uuid")]
    id: WorkspaceId,
    /// Its display name.
    name: String,
    /// Its organization.
    #[schema(value_type = String, format = "uuid")]
    organization_id: OrgId,
    /// The customer's id in the host's system.
    external_id: String,
    /// Whether it is in use.
    #[schema(value_type = crate::openapi::WorkspaceStatus)]
    status: WorkspaceStatus,
    /// Always `null`: Bulkhead has no cache setting.
    cache_enabled: Option<bool>,
    /// Whether it is deleted (always `false` in a list of live workspaces).
    tombstone: bool,
    /// The tags of the source templates it sees.
    #[schema(value_type = Vec<String>)]
    selected_source_template_tags: Vec<Tag>,
    /// How those tags match.
    #[schema(value_type = crate::openapi::TagMode)]
    selected_source_template_tags_mode: TagMode,
    /// The tags of the connection templates its new sources get connections from.
    #[schema(value_type = Vec<String>)]
    selected_connection_template_tags: Vec<Tag>,
    /// How those tags match.
    #[schema(value_type = crate::openapi::TagMode)]
    selected_connection_template_tags_mode: TagMode,
    /// When it was made.
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: Timestamp,
    /// When it last changed.
    #[schema(value_type = crate::openapi::Timestamp)]
    updated_at: Timestamp,
}

impl From<Workspace> for WorkspaceItem {
    fn from(w: Workspace) -> Self {
        let tags = |s: &TagSelection| s.tags.iter().cloned().collect::<Vec<_>>();
        Self {
            id: w.id,
            name: w.name.as_str().to_owned(),
            organization_id: w.org_id,
            external_id: w.external_id.as_str().to_owned(),
            status: w.status,
            cache_enabled: None,
            tombstone: w.deleted_at.is_some(),
            selected_source_template_tags: tags(&w.source_tags),
            selected_source_template_tags_mode: w.source_tags.mode,
            selected_connection_template_tags: tags(&w.connection_tags),
            selected_connection_template_tags_mode: w.connection_tags.mode,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A source template as a workspace sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SourceTemplateItem {
    /// The template.
    #[schema(value_type = String, format = "uuid")]
    id: SourceTemplateId,
    /// Its display name.
    name: String,
    /// The connector its sources run (`stripe`).
    connector_name: String,
    /// The JSON Schema of the configuration a customer fills in.
    #[schema(value_type = Object)]
    user_config_spec: serde_json::Value,
    /// The configuration the organization set, merged under the customer's.
    #[schema(value_type = Object)]
    partial_default_config: ConnectorConfig,
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

impl From<SourceTemplate> for SourceTemplateItem {
    fn from(t: SourceTemplate) -> Self {
        Self {
            id: t.id,
            name: t.name.as_str().to_owned(),
            connector_name: t.connector.as_str().to_owned(),
            user_config_spec: t.spec.as_value().clone(),
            partial_default_config: t.default_config,
            tags: t.tags.into_iter().collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// `{id}` of the template a source was made from (`summarized_source_template`).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TemplateRef {
    /// The template.
    #[schema(value_type = String, format = "uuid")]
    id: SourceTemplateId,
}

/// A source, its secret fields masked.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SourceItem {
    /// The source.
    #[schema(value_type = String, format = "uuid")]
    id: SourceId,
    /// Its display name.
    name: String,
    /// Its workspace.
    #[schema(value_type = String, format = "uuid")]
    workspace_id: WorkspaceId,
    /// The connector it runs.
    connector_name: String,
    /// The template it was made from, if any.
    #[schema(value_type = Option<String>, format = "uuid")]
    source_template_id: Option<SourceTemplateId>,
    /// The same, as an object.
    summarized_source_template: Option<TemplateRef>,
    /// Its configuration, the fields its template's spec marks secret masked.
    #[schema(value_type = Object)]
    #[serde(serialize_with = "as_stored")]
    source_config: ConnectorConfig,
    /// When it was made.
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: Timestamp,
    /// When it last changed.
    #[schema(value_type = crate::openapi::Timestamp)]
    updated_at: Timestamp,
}

impl From<Source> for SourceItem {
    fn from(s: Source) -> Self {
        Self {
            id: s.id,
            name: s.name.as_str().to_owned(),
            workspace_id: s.workspace_id,
            connector_name: s.connector.as_str().to_owned(),
            source_template_id: s.template_id,
            summarized_source_template: s.template_id.map(|id| TemplateRef { id }),
            source_config: s.config,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// The answer to a delete: `{id, deleted_at}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Deleted<Id> {
    /// What was deleted.
    #[schema(value_type = String, format = "uuid")]
    pub(crate) id: Id,
    /// When.
    #[schema(value_type = crate::openapi::Timestamp)]
    pub(crate) deleted_at: Timestamp,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn next_link_is_a_path_or_under_the_public_url_never_the_host() {
        let cursor: Cursor = bulkhead_cursor();
        let path = next_link(
            None,
            "/api/v1/workspaces",
            2,
            Some(&cursor),
            &[("status", "active")],
        )
        .unwrap();
        assert_eq!(
            path,
            format!("/api/v1/workspaces?status=active&limit=2&cursor={cursor}")
        );
        let full = next_link(
            Some("https://api.example.com"),
            "/api/v1/workspaces",
            2,
            Some(&cursor),
            &[],
        )
        .unwrap();
        assert!(full.starts_with("https://api.example.com/api/v1/workspaces?limit=2&cursor="));
        assert_eq!(next_link(None, "/x", 2, None, &[]), None);
    }

    /// A cursor as a list call returns it (base64url text, so it needs no escaping).
    fn bulkhead_cursor() -> Cursor {
        // Tag 2 (external id) followed by the bytes of `c2`.
        "AmMy".parse().unwrap()
    }
}
