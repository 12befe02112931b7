//! Reading an organization's workspaces back through the API, whole: every page of every list.
//!
//! `workspaces show` and the demo both print what they read here, so what they show is what a
//! scope returns, never what a command remembers having written.

use std::collections::BTreeSet;

use bulkhead::{
    Connection, ConnectionTemplateId, Destination, MAX_PAGE_LIMIT, Name, OrgScope, Page, Paged,
    Result, Source, SourceTemplateId, SyncRun, Tag, Workspace, WorkspaceFilter, WorkspaceScope,
};
use serde::Serialize;

/// A template a workspace sees: its id, name and tags.
#[derive(Debug, Serialize)]
pub(crate) struct SeenTemplate<Id> {
    pub(crate) id: Id,
    pub(crate) name: Name,
    pub(crate) tags: BTreeSet<Tag>,
}

/// A workspace and everything in it.
#[derive(Debug, Serialize)]
pub(crate) struct WorkspaceDetail {
    pub(crate) workspace: Workspace,
    /// The source templates its source tag selection matches.
    pub(crate) source_templates: Vec<SeenTemplate<SourceTemplateId>>,
    /// The connection templates its connection tag selection matches.
    pub(crate) connection_templates: Vec<SeenTemplate<ConnectionTemplateId>>,
    pub(crate) sources: Vec<Source>,
    pub(crate) destinations: Vec<Destination>,
    pub(crate) connections: Vec<ConnectionDetail>,
}

/// A connection and its latest sync run.
#[derive(Debug, Serialize)]
pub(crate) struct ConnectionDetail {
    #[serde(flatten)]
    pub(crate) connection: Connection,
    /// The newest sync run, if the connection ever ran.
    pub(crate) latest_sync_run: Option<SyncRun>,
}

/// Every item of a paged list, fetching pages of the largest size until the last.
pub(crate) fn all<T>(mut fetch: impl FnMut(&Page) -> Result<Paged<T>>) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut page = Page::first(MAX_PAGE_LIMIT);
    loop {
        let paged = fetch(&page)?;
        items.extend(paged.items);
        match paged.next {
            Some(cursor) => page = Page::after(cursor, MAX_PAGE_LIMIT),
            None => return Ok(items),
        }
    }
}

/// Every workspace of the organization, ordered by external id.
pub(crate) fn workspaces(org: &OrgScope) -> Result<Vec<Workspace>> {
    let filter = WorkspaceFilter::default();
    all(|page| org.list_workspaces(&filter, page))
}

/// The workspace behind `scope`, with the templates it sees, all its sources, destinations
/// and connections, and each connection's latest sync run.
pub(crate) fn workspace_detail(scope: &WorkspaceScope) -> Result<WorkspaceDetail> {
    let workspace = scope.workspace()?;
    let source_templates = scope
        .source_templates()?
        .into_iter()
        .map(|t| SeenTemplate {
            id: t.id,
            name: t.name,
            tags: t.tags,
        })
        .collect();
    let connection_templates = scope
        .connection_templates()?
        .into_iter()
        .map(|t| SeenTemplate {
            id: t.id,
            name: t.name,
            tags: t.tags,
        })
        .collect();
    let sources = all(|page| scope.list_sources(page))?;
    let destinations = all(|page| scope.list_destinations(page))?;
    let connections = all(|page| scope.list_connections(page))?
        .into_iter()
        .map(|connection| {
            // Sync history is newest first: the first item of a one-item page is the latest.
            let latest_sync_run = scope
                .list_sync_runs(connection.id, &Page::first(1))?
                .items
                .into_iter()
                .next();
            Ok(ConnectionDetail {
                connection,
                latest_sync_run,
            })
        })
        .collect::<Result<_>>()?;
    Ok(WorkspaceDetail {
        workspace,
        source_templates,
        connection_templates,
        sources,
        destinations,
        connections,
    })
}
