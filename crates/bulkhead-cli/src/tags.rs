//! `bulkhead tags …`: the organization's template tags.

use bulkhead::{Tag, TagInfo};
use serde::Serialize;

use crate::args::TagsCommand;
use crate::db::Ctx;
use crate::error::CliError;
use crate::output;

#[derive(Serialize)]
struct TagList {
    tags: Vec<TagInfo>,
}

/// `tags rename --json`.
#[derive(Serialize)]
struct Renamed<'a> {
    from: &'a Tag,
    to: &'a Tag,
}

/// `tags delete --json`.
#[derive(Serialize)]
struct Deleted<'a> {
    deleted: &'a Tag,
}

pub(crate) fn run(ctx: &Ctx, command: TagsCommand) -> Result<(), CliError> {
    let engine = ctx.open()?;
    let org = ctx.org(&engine)?;
    match command {
        TagsCommand::Create { name } => {
            let tag = org.create_tag(&name.parse()?)?;
            if ctx.json {
                return output::json(&tag);
            }
            output::lines([format!("created tag `{}`", tag.name)])
        }
        TagsCommand::List => {
            let tags = org.list_tags()?;
            if ctx.json {
                return output::json(&TagList { tags });
            }
            if tags.is_empty() {
                return output::lines([
                    "no tags yet; create one with `bulkhead tags create NAME`".to_owned()
                ]);
            }
            let rows: Vec<Vec<String>> = tags
                .iter()
                .map(|t| vec![t.name.to_string(), t.created_at.to_string()])
                .collect();
            output::lines(output::table(&["TAG", "CREATED"], &rows))
        }
        TagsCommand::Rename { from, to } => {
            let (from, to): (Tag, Tag) = (from.parse()?, to.parse()?);
            org.rename_tag(&from, &to)?;
            if ctx.json {
                return output::json(&Renamed {
                    from: &from,
                    to: &to,
                });
            }
            output::lines([format!(
                "renamed tag `{from}` to `{to}` on every template and workspace selection"
            )])
        }
        TagsCommand::Delete { name } => {
            let tag: Tag = name.parse()?;
            org.delete_tag(&tag)?;
            if ctx.json {
                return output::json(&Deleted { deleted: &tag });
            }
            output::lines([format!(
                "deleted tag `{tag}`; no template carries it now, and workspaces that selected \
                 it keep it in their selection, where it matches nothing"
            )])
        }
    }
}
