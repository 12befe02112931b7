//! `bulkhead templates …`: the organization's source and connection templates.
//!
//! Template secrets (fields a spec marks `"airbyte_secret": true`) are sealed under the master
//! key when a template is created; everything printed here shows them masked.

use std::collections::BTreeSet;

use bulkhead::{
    ConfigSpec, ConnectionTemplate, ConnectionTemplateId, ConnectorConfig, NewConnectionTemplate,
    NewSourceTemplate, OrgScope, Schedule, SourceTemplate, SourceTemplateId, Tag, TagSelection,
};
use serde::Serialize;

use crate::args::{
    ConnectionTemplatesCommand, SourceTemplatesCommand, TagFilterArgs, TemplatesCommand,
};
use crate::db::Ctx;
use crate::error::CliError;
use crate::{input, output, token};

#[derive(Serialize)]
struct SourceTemplateList {
    source_templates: Vec<SourceTemplate>,
}

#[derive(Serialize)]
struct ConnectionTemplateList {
    connection_templates: Vec<ConnectionTemplate>,
}

/// `templates … delete --json`.
#[derive(Serialize)]
struct Deleted {
    deleted: String,
}

pub(crate) fn run(ctx: &Ctx, command: TemplatesCommand) -> Result<(), CliError> {
    let engine = ctx.open()?;
    let org = ctx.org(&engine)?;
    match command {
        TemplatesCommand::Sources(command) => sources(ctx, &org, command),
        TemplatesCommand::Connections(command) => connections(ctx, &org, command),
    }
}

/// The tags of a new template: the words of `--tags`, without empty ones.
fn tag_set(tags: Option<&[String]>) -> Result<BTreeSet<Tag>, CliError> {
    Ok(token::non_empty(tags.unwrap_or_default())
        .map(str::parse)
        .collect::<Result<_, _>>()?)
}

/// The filter of a listing, if `--tags` was given.
fn filter(args: &TagFilterArgs) -> Result<Option<TagSelection>, CliError> {
    args.tags
        .as_deref()
        .map(|tags| token::selection(tags, args.tags_mode.as_deref()))
        .transpose()
}

/// The spec in the file `arg`, or `{"type": "object"}`.
fn spec(arg: Option<&str>, what: &str) -> Result<ConfigSpec, CliError> {
    match arg {
        Some(arg) => Ok(ConfigSpec::from_json(&input::read(arg, what)?)?),
        None => Ok(ConfigSpec::empty()),
    }
}

/// The configuration in the file `arg`, or `{}`.
fn config(arg: Option<&str>, what: &str) -> Result<ConnectorConfig, CliError> {
    match arg {
        Some(arg) => Ok(ConnectorConfig::from_json(&input::read(arg, what)?)?),
        None => Ok(ConnectorConfig::default()),
    }
}

/// `a, b`, or `-` for none.
pub(crate) fn joined<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let words: Vec<String> = items.into_iter().map(|t| t.to_string()).collect();
    if words.is_empty() {
        "-".to_owned()
    } else {
        words.join(", ")
    }
}

fn sources(ctx: &Ctx, org: &OrgScope, command: SourceTemplatesCommand) -> Result<(), CliError> {
    match command {
        SourceTemplatesCommand::Create {
            name,
            connector,
            tags,
            spec: spec_arg,
            config: config_arg,
        } => {
            input::one_stdin(&[
                ("--spec", spec_arg.as_deref()),
                ("--config", config_arg.as_deref()),
            ])?;
            let template = org.create_source_template(NewSourceTemplate {
                name: name.parse()?,
                connector: connector.parse()?,
                default_config: config(config_arg.as_deref(), "--config")?,
                spec: spec(spec_arg.as_deref(), "--spec")?,
                tags: tag_set(tags.as_deref())?,
            })?;
            if ctx.json {
                return output::json(&template);
            }
            output::lines([
                format!(
                    "created source template {} (template {})",
                    template.name, template.id
                ),
                format!("  connector: {}", template.connector),
                format!("  tags: {}", joined(&template.tags)),
                format!(
                    "  secret fields: {}",
                    joined(template.spec.secret_pointers())
                ),
                format!("  default config: {}", template.default_config.to_json()),
            ])
        }
        SourceTemplatesCommand::List(args) => {
            let templates = org.list_source_templates(filter(&args)?.as_ref())?;
            if ctx.json {
                return output::json(&SourceTemplateList {
                    source_templates: templates,
                });
            }
            if templates.is_empty() {
                return output::lines(["no source templates".to_owned()]);
            }
            let rows: Vec<Vec<String>> = templates
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.name.to_string(),
                        t.connector.to_string(),
                        joined(&t.tags),
                        joined(t.spec.secret_pointers()),
                    ]
                })
                .collect();
            output::lines(output::table(
                &["TEMPLATE ID", "NAME", "CONNECTOR", "TAGS", "SECRET FIELDS"],
                &rows,
            ))
        }
        SourceTemplatesCommand::Delete { id } => {
            let id: SourceTemplateId = id.parse()?;
            org.delete_source_template(id)?;
            if ctx.json {
                return output::json(&Deleted {
                    deleted: id.to_string(),
                });
            }
            output::lines([format!(
                "deleted source template {id}; sources made from it stay"
            )])
        }
    }
}

fn connections(
    ctx: &Ctx,
    org: &OrgScope,
    command: ConnectionTemplatesCommand,
) -> Result<(), CliError> {
    match command {
        ConnectionTemplatesCommand::Create {
            name,
            destination_name,
            destination_connector,
            destination_config,
            destination_spec,
            schedule,
            tags,
        } => {
            input::one_stdin(&[
                ("--destination-config", destination_config.as_deref()),
                ("--destination-spec", destination_spec.as_deref()),
            ])?;
            let template = org.create_connection_template(NewConnectionTemplate {
                name: name.parse()?,
                destination_name: destination_name.parse()?,
                destination_connector: destination_connector.parse()?,
                destination_config: config(destination_config.as_deref(), "--destination-config")?,
                destination_spec: spec(destination_spec.as_deref(), "--destination-spec")?,
                schedule: Schedule::parse(&schedule)?,
                tags: tag_set(tags.as_deref())?,
            })?;
            if ctx.json {
                return output::json(&template);
            }
            output::lines([
                format!(
                    "created connection template {} (template {})",
                    template.name, template.id
                ),
                format!(
                    "  destination: {} ({})",
                    template.destination_name, template.destination_connector
                ),
                format!("  schedule: {}", template.schedule),
                format!("  tags: {}", joined(&template.tags)),
                format!(
                    "  secret fields: {}",
                    joined(template.destination_spec.secret_pointers())
                ),
                format!(
                    "  destination config: {}",
                    template.destination_config.to_json()
                ),
            ])
        }
        ConnectionTemplatesCommand::List(args) => {
            let templates = org.list_connection_templates(filter(&args)?.as_ref())?;
            if ctx.json {
                return output::json(&ConnectionTemplateList {
                    connection_templates: templates,
                });
            }
            if templates.is_empty() {
                return output::lines(["no connection templates".to_owned()]);
            }
            let rows: Vec<Vec<String>> = templates
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.name.to_string(),
                        format!("{} ({})", t.destination_name, t.destination_connector),
                        t.schedule.as_text().to_owned(),
                        joined(&t.tags),
                        joined(t.destination_spec.secret_pointers()),
                    ]
                })
                .collect();
            output::lines(output::table(
                &[
                    "TEMPLATE ID",
                    "NAME",
                    "DESTINATION",
                    "SCHEDULE",
                    "TAGS",
                    "SECRET FIELDS",
                ],
                &rows,
            ))
        }
        ConnectionTemplatesCommand::Delete { id } => {
            let id: ConnectionTemplateId = id.parse()?;
            org.delete_connection_template(id)?;
            if ctx.json {
                return output::json(&Deleted {
                    deleted: id.to_string(),
                });
            }
            output::lines([format!(
                "deleted connection template {id}; destinations and connections made from it \
                 stay"
            )])
        }
    }
}
