//! `bulkhead workspaces list|show|delete`: an organization's workspaces, as the organization
//! sees them with its access key.

use bulkhead::{
    Cursor, ExternalId, OrgScope, Page, WorkspaceFilter, WorkspaceId, WorkspaceOverview,
    WorkspaceStats,
};
use serde::Serialize;

use crate::args::{ListArgs, WorkspacesCommand};
use crate::db::Ctx;
use crate::error::CliError;
use crate::{inspect, output, tree};

/// One page of `workspaces list --json`: the organization's dashboard.
#[derive(Serialize)]
struct WorkspacePage {
    /// Active, inactive and total workspaces of the organization (all of them, not the page).
    stats: WorkspaceStats,
    workspaces: Vec<WorkspaceOverview>,
    /// Pass as `--after` for the next page; `null` on the last page.
    next_cursor: Option<Cursor>,
}

/// `workspaces delete --json`.
#[derive(Serialize)]
struct Deleted<'a> {
    deleted: bool,
    purged: bool,
    workspace_id: WorkspaceId,
    external_id: &'a ExternalId,
}

/// `workspaces purge --json`.
#[derive(Serialize)]
struct Purged {
    purged: u64,
}

pub(crate) fn run(ctx: &Ctx, command: WorkspacesCommand) -> Result<(), CliError> {
    let engine = ctx.open()?;
    let org = ctx.org(&engine)?;
    match command {
        WorkspacesCommand::List(args) => list(&org, args, ctx.json),
        WorkspacesCommand::Show { external_id } => show(&org, &external_id, ctx.json),
        WorkspacesCommand::Delete {
            external_id,
            purge,
            yes,
        } => delete(&org, &external_id, purge, yes, ctx.json),
        WorkspacesCommand::Purge { older_than, yes } => purge(&org, older_than, yes, ctx.json),
        WorkspacesCommand::Merge { from, into, yes } => merge(&org, &from, &into, yes, ctx.json),
    }
}

fn list(org: &OrgScope, args: ListArgs, json: bool) -> Result<(), CliError> {
    let filter = WorkspaceFilter {
        external_id_prefix: args.prefix,
        status: args.status.as_deref().map(str::parse).transpose()?,
        name_contains: None,
    };
    let page = match args.after.as_deref() {
        Some(cursor) => Page::after(cursor.parse()?, args.limit),
        None => Page::first(args.limit),
    };
    let paged = org.workspace_overview(&filter, &page)?;
    let stats = org.workspace_stats()?;
    if json {
        return output::json(&WorkspacePage {
            stats,
            workspaces: paged.items,
            next_cursor: paged.next,
        });
    }
    let summary = format!(
        "{} workspaces: {} active, {} inactive",
        stats.total, stats.active, stats.inactive
    );
    if paged.items.is_empty() {
        return output::lines(["no workspaces".to_owned(), summary]);
    }
    let rows: Vec<Vec<String>> = paged
        .items
        .iter()
        .map(|w| {
            let last_sync = match w.last_run() {
                Some(run) => format!(
                    "{} {}",
                    run.status,
                    run.finished_at.unwrap_or(run.started_at)
                ),
                None => "never".to_owned(),
            };
            vec![
                w.external_id.to_string(),
                w.status.to_string(),
                w.sources.to_string(),
                w.connections.to_string(),
                last_sync,
                w.rows_synced.to_string(),
                w.bytes_synced.to_string(),
            ]
        })
        .collect();
    let mut lines = output::table(
        &[
            "EXTERNAL ID",
            "STATUS",
            "SOURCES",
            "CONNECTIONS",
            "LAST SYNC",
            "ROWS",
            "BYTES",
        ],
        &rows,
    );
    lines.push(String::new());
    lines.push(summary);
    if let Some(next) = paged.next {
        lines.push(String::new());
        lines.push(format!("next cursor: {next} (pass --after {next})"));
    }
    output::lines(lines)
}

fn show(org: &OrgScope, external_id: &str, json: bool) -> Result<(), CliError> {
    let external_id: ExternalId = external_id.parse()?;
    let workspace = org.workspace_by_external_id(&external_id)?;
    let detail = inspect::workspace_detail(&org.workspace(workspace.id)?)?;
    if json {
        return output::json(&detail);
    }
    output::lines(tree::workspace(&detail, tree::Detail::Full))
}

fn delete(
    org: &OrgScope,
    external_id: &str,
    purge: bool,
    yes: bool,
    json: bool,
) -> Result<(), CliError> {
    let external_id: ExternalId = external_id.parse()?;
    let workspace = org.workspace_by_external_id(&external_id)?;
    if !yes {
        let what = if purge {
            "deleting and purging it destroys the workspace's data key and all its data \
             (sources, destinations, connections, sync history), irreversibly"
        } else {
            "its tokens stop working at once and its data is destroyed when it is purged"
        };
        return Err(CliError::usage(format!(
            "refusing to delete workspace `{}` ({}) without --yes: {what}",
            workspace.external_id, workspace.id
        )));
    }
    org.delete_workspace(workspace.id)?;
    if purge {
        org.purge_workspace(workspace.id)?;
    }
    if json {
        return output::json(&Deleted {
            deleted: true,
            purged: purge,
            workspace_id: workspace.id,
            external_id: &workspace.external_id,
        });
    }
    let line = if purge {
        format!(
            "deleted and purged workspace `{}` ({}): its data key is destroyed, its data is \
             gone and its tokens stop working",
            workspace.external_id, workspace.id
        )
    } else {
        format!(
            "deleted workspace `{}` ({}): its tokens stop working; its data stays until \
             `bulkhead workspaces purge --older-than DURATION --yes` removes it",
            workspace.external_id, workspace.id
        )
    };
    output::lines([line])
}

fn purge(
    org: &OrgScope,
    older_than: std::time::Duration,
    yes: bool,
    json: bool,
) -> Result<(), CliError> {
    if !yes {
        return Err(CliError::usage(
            "refusing to purge without --yes: purging destroys the data keys and all the data \
             of every workspace deleted that long ago, irreversibly",
        ));
    }
    let purged = org.purge_deleted_workspaces(older_than)?;
    if json {
        return output::json(&Purged { purged });
    }
    output::lines([format!("purged {purged} deleted workspace(s)")])
}

fn merge(org: &OrgScope, from: &str, into: &str, yes: bool, json: bool) -> Result<(), CliError> {
    let from = org.workspace_by_external_id(&from.parse()?)?;
    let into = org.workspace_by_external_id(&into.parse()?)?;
    if !yes {
        return Err(CliError::usage(format!(
            "refusing to merge workspace `{}` into `{}` without --yes: everything of `{}` moves \
             to `{}`, and `{}` is deleted (its external id then leads to `{}`)",
            from.external_id,
            into.external_id,
            from.external_id,
            into.external_id,
            from.external_id,
            into.external_id
        )));
    }
    let report = org.merge_workspaces(from.id, into.id)?;
    if json {
        return output::json(&report);
    }
    output::lines([format!(
        "merged `{}` into `{}`: {} source(s), {} destination(s) ({} reused), {} connection(s), \
         {} sync run(s)",
        from.external_id,
        into.external_id,
        report.sources,
        report.destinations,
        report.destinations_reused,
        report.connections,
        report.sync_runs
    )])
}
