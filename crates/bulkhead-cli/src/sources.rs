//! `bulkhead sources …`: a customer's sources, as the customer makes and sees them.
//!
//! `create` and `list` act through a scoped token for the customer's workspace, minted for the
//! one call, kept in memory and never printed: what they can do is exactly what the customer
//! can, templates and tag selection included. `reveal` is the organization's alone.

use std::time::Duration;

use bulkhead::{
    ConnectorConfig, Engine, ExternalId, NewSourceFromTemplate, OperationSet, OrgScope,
    ScopedTokenRequest, Source, SourceFromTemplate, SourceId, Workspace, WorkspaceId,
    WorkspaceScope,
};
use serde::Serialize;

use crate::args::SourcesCommand;
use crate::db::Ctx;
use crate::error::CliError;
use crate::output::{self, shell_quote};
use crate::{input, inspect};

/// The lifetime of the token a command mints for itself: enough for one call.
const TOKEN_TTL: Duration = Duration::from_secs(60);

/// `sources create --json`.
#[derive(Serialize)]
struct Created<'a> {
    workspace_id: WorkspaceId,
    external_id: &'a ExternalId,
    #[serde(flatten)]
    made: &'a SourceFromTemplate,
}

/// `sources list --json`.
#[derive(Serialize)]
struct SourceList<'a> {
    workspace_id: WorkspaceId,
    external_id: &'a ExternalId,
    sources: Vec<Source>,
}

/// `sources reveal --json`.
#[derive(Serialize)]
struct Revealed<'a> {
    workspace_id: WorkspaceId,
    source_id: SourceId,
    config: &'a ConnectorConfig,
}

pub(crate) fn run(ctx: &Ctx, command: SourcesCommand) -> Result<(), CliError> {
    let engine = ctx.open()?;
    let org = ctx.org(&engine)?;
    match command {
        SourcesCommand::Create {
            external_id,
            template,
            name,
            config,
        } => {
            let request = NewSourceFromTemplate {
                template_id: template.parse()?,
                name: name.parse()?,
                config: ConnectorConfig::from_json(&input::read(&config, "--config")?)?,
            };
            let (workspace, scope) = customer_scope(&engine, &org, &external_id, "sources:create")?;
            let made = scope.create_source_from_template(request)?;
            if ctx.json {
                return output::json(&Created {
                    workspace_id: workspace.id,
                    external_id: &workspace.external_id,
                    made: &made,
                });
            }
            output::lines(created_text(&workspace, &made))
        }
        SourcesCommand::List { external_id } => {
            let (workspace, scope) = customer_scope(&engine, &org, &external_id, "sources:read")?;
            let sources = inspect::all(|page| scope.list_sources(page))?;
            if ctx.json {
                return output::json(&SourceList {
                    workspace_id: workspace.id,
                    external_id: &workspace.external_id,
                    sources,
                });
            }
            if sources.is_empty() {
                return output::lines([format!("no sources in `{}`", workspace.external_id)]);
            }
            let rows: Vec<Vec<String>> = sources
                .iter()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        s.name.to_string(),
                        s.connector.to_string(),
                        s.config.to_json(),
                    ]
                })
                .collect();
            output::lines(output::table(
                &["SOURCE ID", "NAME", "CONNECTOR", "CONFIG"],
                &rows,
            ))
        }
        SourcesCommand::Reveal {
            external_id,
            source_id,
        } => {
            let source_id: SourceId = source_id.parse()?;
            let workspace = existing_workspace(&org, &external_id)?;
            let config = org.reveal_source_config(workspace.id, source_id)?;
            output::note(
                "SENSITIVE: this is the source's configuration with its secrets in clear; keep \
                 it out of logs, shell history and shared terminals",
            );
            if ctx.json {
                return output::json(&Revealed {
                    workspace_id: workspace.id,
                    source_id,
                    config: &config,
                });
            }
            output::json(&config)
        }
    }
}

/// The workspace of `external_id`, which must exist. A workspace is made (with its tag
/// selection) by `bulkhead token`; creating one here, with no selection, would let it see
/// every template.
fn existing_workspace(org: &OrgScope, external_id: &str) -> Result<Workspace, CliError> {
    let external_id: ExternalId = external_id.parse()?;
    org.workspace_by_external_id(&external_id)
        .map_err(|e| match e {
            e if e.is_not_found() => CliError::usage(format!(
                "{e}; `bulkhead token --external-id {} --source-tags …` creates it with the \
                 tags that select its templates",
                shell_quote(external_id.as_str())
            )),
            e => e.into(),
        })
}

/// The customer's own scope of its workspace: a scoped token granting `operation`, minted for
/// this one call and never shown. The request names no tags, so the workspace keeps the
/// selection the organization stored on it.
fn customer_scope(
    engine: &Engine,
    org: &OrgScope,
    external_id: &str,
    operation: &str,
) -> Result<(Workspace, WorkspaceScope), CliError> {
    let workspace = existing_workspace(org, external_id)?;
    let ttl = TOKEN_TTL.min(org.organization().settings.max_token_ttl);
    let issued = org.scoped_token(
        &ScopedTokenRequest::new(workspace.external_id.clone())
            .ttl(ttl)
            .operations(OperationSet::parse([operation])?),
    )?;
    if issued.workspace_id != workspace.id {
        return Err(CliError::usage(format!(
            "the workspace of `{}` changed while the command ran; run it again",
            workspace.external_id
        )));
    }
    let scope = engine.authenticate(issued.token.expose())?;
    Ok((workspace, scope))
}

fn created_text(workspace: &Workspace, made: &SourceFromTemplate) -> Vec<String> {
    let source = &made.source;
    let mut lines = vec![
        format!(
            "created source {} (source {}) in workspace `{}` ({})",
            source.name, source.id, workspace.external_id, workspace.id
        ),
        format!("  connector: {}", source.connector),
        format!(
            "  template: {}",
            source
                .template_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string())
        ),
        format!("  config: {}", source.config.to_json()),
    ];
    for d in &made.destinations {
        lines.push(format!(
            "  destination: {} (destination {}, {}), config {}",
            d.name,
            d.id,
            d.connector,
            d.config.to_json()
        ));
    }
    for c in &made.connections {
        let destination = made
            .destinations
            .iter()
            .find(|d| d.id == c.destination_id)
            .map_or_else(|| "?".to_owned(), |d| d.name.to_string());
        lines.push(format!(
            "  connection: {} (connection {}): {} → {destination}, {}, {}",
            c.name, c.id, source.name, c.status, c.schedule
        ));
    }
    if made.connections.is_empty() {
        lines.push(
            "  no connection template applies to this workspace: no destination or connection \
             was made"
                .to_owned(),
        );
    }
    lines
}
