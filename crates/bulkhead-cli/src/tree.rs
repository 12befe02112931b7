//! The organization tree, drawn like the seed's "Workspace Architecture" diagram:
//!
//! ```text
//! Organization: Acme Corp (org 6f1c…)
//! └── Customer Workspace customer-a (workspace 0b9e…)
//!     ├── Source templates seen with tags production (any): Stripe, PostgreSQL
//!     ├── Connection templates seen with tags production (any): S3 bucket
//!     ├── Source: Stripe {account_id: acct_demo_a, api_key: **********}
//!     ├── Destination: S3 bucket {bucket: acme-exports, secret_access_key: **********}
//!     └── Connection: S3 bucket (Stripe → S3 bucket, active, every 6 hours, last sync succeeded: 1200 rows)
//! ```
//!
//! Configurations are shown as stored: secret fields masked. The detailed form (`workspaces
//! show`) adds ids, connectors, times and the full last sync.

use bulkhead::{ConnectorConfig, Organization, SyncRun, SyncStatus, TagSelection, WorkspaceStatus};
use serde_json::Value;

use crate::inspect::{ConnectionDetail, SeenTemplate, WorkspaceDetail};

/// A labelled node with children.
struct Node {
    label: String,
    children: Vec<Node>,
}

impl Node {
    fn leaf(label: String) -> Self {
        Self {
            label,
            children: Vec::new(),
        }
    }
}

/// How much a tree shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Names, statuses and schedules, as in the seed's diagram.
    Summary,
    /// Also ids, connectors, times and the full latest sync run.
    Full,
}

/// The organization and its workspaces.
pub(crate) fn organization(org: &Organization, workspaces: &[WorkspaceDetail]) -> Vec<String> {
    render(&Node {
        label: format!("Organization: {} (org {})", org.name, org.id),
        children: workspaces
            .iter()
            .map(|w| workspace_node(w, Detail::Summary))
            .collect(),
    })
}

/// One workspace and what it holds.
pub(crate) fn workspace(detail: &WorkspaceDetail, level: Detail) -> Vec<String> {
    render(&workspace_node(detail, level))
}

fn workspace_node(detail: &WorkspaceDetail, level: Detail) -> Node {
    let w = &detail.workspace;
    let mut facts = vec![format!("workspace {}", w.id)];
    if w.name.as_str() != w.external_id.as_str() {
        facts.push(format!("name `{}`", w.name));
    }
    if level == Detail::Full || w.status != WorkspaceStatus::Active {
        facts.push(w.status.to_string());
    }
    if level == Detail::Full {
        facts.push(format!("created {}", w.created_at));
    }
    let mut children = vec![
        Node::leaf(format!(
            "Source templates seen with {}: {}",
            selection_text(&w.source_tags),
            names(&detail.source_templates)
        )),
        Node::leaf(format!(
            "Connection templates seen with {}: {}",
            selection_text(&w.connection_tags),
            names(&detail.connection_templates)
        )),
    ];
    for s in &detail.sources {
        children.push(Node::leaf(match level {
            Detail::Summary => format!("Source: {} {}", s.name, config_text(&s.config)),
            Detail::Full => format!(
                "Source: {} ({}, source {}) {}",
                s.name,
                s.connector,
                s.id,
                config_text(&s.config)
            ),
        }));
    }
    for d in &detail.destinations {
        children.push(Node::leaf(match level {
            Detail::Summary => format!("Destination: {} {}", d.name, config_text(&d.config)),
            Detail::Full => format!(
                "Destination: {} ({}, destination {}) {}",
                d.name,
                d.connector,
                d.id,
                config_text(&d.config)
            ),
        }));
    }
    for c in &detail.connections {
        children.push(connection_node(c, detail, level));
    }
    if detail.sources.is_empty() && detail.destinations.is_empty() && detail.connections.is_empty()
    {
        children.push(Node::leaf(
            "(empty: no sources, destinations or connections)".to_owned(),
        ));
    }
    Node {
        label: format!(
            "Customer Workspace {} ({})",
            w.external_id,
            facts.join(", ")
        ),
        children,
    }
}

/// `tags a, b (any)`, or `no tag filter` for an empty selection (which matches everything).
pub(crate) fn selection_text(selection: &TagSelection) -> String {
    if selection.tags.is_empty() {
        return "no tag filter".to_owned();
    }
    let tags: Vec<&str> = selection.tags.iter().map(|t| t.as_str()).collect();
    format!("tags {} ({})", tags.join(", "), selection.mode)
}

fn names<Id>(templates: &[SeenTemplate<Id>]) -> String {
    if templates.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    names.join(", ")
}

/// A configuration as `{key: value, …}`, top-level fields in key order; text values bare,
/// others as JSON. Secret fields read as the mask, as stored.
pub(crate) fn config_text(config: &ConnectorConfig) -> String {
    let fields: Vec<String> = config
        .as_map()
        .iter()
        .map(|(key, value)| match value {
            Value::String(text) => format!("{key}: {text}"),
            other => format!("{key}: {other}"),
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn connection_node(c: &ConnectionDetail, ws: &WorkspaceDetail, level: Detail) -> Node {
    let conn = &c.connection;
    // Both ends live in the same workspace; their names come from what was read.
    let source = ws
        .sources
        .iter()
        .find(|s| s.id == conn.source_id)
        .map_or_else(|| "?".to_owned(), |s| s.name.to_string());
    let destination = ws
        .destinations
        .iter()
        .find(|d| d.id == conn.destination_id)
        .map_or_else(|| "?".to_owned(), |d| d.name.to_string());
    match level {
        Detail::Summary => Node::leaf(format!(
            "Connection: {} ({source} → {destination}, {}, {}, {})",
            conn.name,
            conn.status,
            conn.schedule,
            sync_summary(c.latest_sync_run.as_ref())
        )),
        Detail::Full => Node {
            label: format!("Connection: {} (connection {})", conn.name, conn.id),
            children: vec![
                Node::leaf(format!("from source {source} to destination {destination}")),
                Node::leaf(format!("{}, {}", conn.status, conn.schedule)),
                Node::leaf(sync_full(c.latest_sync_run.as_ref())),
            ],
        },
    }
}

fn sync_summary(run: Option<&SyncRun>) -> String {
    let Some(run) = run else {
        return "never synced".to_owned();
    };
    match run.status {
        SyncStatus::Succeeded => format!("last sync succeeded: {} rows", run.rows_synced),
        SyncStatus::Failed => format!(
            "last sync failed: {}",
            run.error.as_deref().unwrap_or("no error recorded")
        ),
        SyncStatus::Cancelled => "last sync cancelled".to_owned(),
        SyncStatus::Pending | SyncStatus::Running => {
            format!("last sync {} since {}", run.status, run.started_at)
        }
    }
}

fn sync_full(run: Option<&SyncRun>) -> String {
    let Some(run) = run else {
        return "Last sync: never synced".to_owned();
    };
    let mut facts = vec![run.status.to_string()];
    if run.status.is_finished() {
        facts.push(format!("{} rows", run.rows_synced));
        facts.push(format!("{} bytes", run.bytes_synced));
    }
    if let Some(error) = &run.error {
        facts.push(format!("error: {error}"));
    }
    facts.push(format!("started {}", run.started_at));
    if let Some(finished) = run.finished_at {
        facts.push(format!("finished {finished}"));
    }
    format!("Last sync: {} (sync run {})", facts.join(", "), run.id)
}

fn render(root: &Node) -> Vec<String> {
    let mut lines = vec![root.label.clone()];
    render_children(&root.children, "", &mut lines);
    lines
}

fn render_children(children: &[Node], prefix: &str, lines: &mut Vec<String>) {
    let count = children.len();
    for (i, child) in children.iter().enumerate() {
        let (branch, next) = if i + 1 == count {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        lines.push(format!("{prefix}{branch}{}", child.label));
        render_children(&child.children, &format!("{prefix}{next}"), lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_text_shows_text_bare_and_other_values_as_json() {
        let config = ConnectorConfig::new(serde_json::json!({
            "api_key": "**********", "port": 5432, "nested": {"a": true}, "host": "db"
        }))
        .unwrap();
        assert_eq!(
            config_text(&config),
            r#"{api_key: **********, host: db, nested: {"a":true}, port: 5432}"#
        );
        assert_eq!(config_text(&ConnectorConfig::default()), "{}");
    }

    #[test]
    fn selection_text_names_tags_and_mode() {
        let selection = TagSelection::parse(["b", "a"], bulkhead::TagMode::All).unwrap();
        assert_eq!(selection_text(&selection), "tags a, b (all)");
        assert_eq!(selection_text(&TagSelection::default()), "no tag filter");
    }

    #[test]
    fn nested_children_draw_continuation_bars() {
        let tree = Node {
            label: "root".to_owned(),
            children: vec![
                Node {
                    label: "a".to_owned(),
                    children: vec![Node::leaf("a1".to_owned()), Node::leaf("a2".to_owned())],
                },
                Node {
                    label: "b".to_owned(),
                    children: vec![Node::leaf("b1".to_owned())],
                },
            ],
        };
        assert_eq!(
            render(&tree),
            vec![
                "root",
                "├── a",
                "│   ├── a1",
                "│   └── a2",
                "└── b",
                "    └── b1",
            ]
        );
    }
}
