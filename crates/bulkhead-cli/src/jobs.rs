//! `bulkhead jobs …`: start, list and cancel a customer's sync jobs, as the organization.
//!
//! `start` queues a sync of one connection, or of every connection of the workspace; the jobs
//! wait for a worker (`bulkhead worker`). A connection with a job already queued or running is
//! skipped with a note, not an error, when all are started; named alone it is the engine's
//! conflict.

use bulkhead::{ConnectionId, Error, ExternalId, Job, OrgScope, Page, SyncRunId, WorkspaceScope};
use serde::Serialize;

use crate::args::JobsCommand;
use crate::db::Ctx;
use crate::error::CliError;
use crate::output;

/// One job, as the commands print it.
#[derive(Serialize)]
struct JobLine {
    id: SyncRunId,
    /// The number the HTTP API's `/v1/jobs` routes name it by.
    job_number: Option<u64>,
    connection_id: ConnectionId,
    status: String,
    attempt: Option<u32>,
    started_at: String,
    rows: u64,
    bytes: u64,
    error: Option<String>,
}

impl From<&Job> for JobLine {
    fn from(job: &Job) -> Self {
        Self {
            id: job.run.id,
            job_number: job.run.id.job_number(),
            connection_id: job.run.connection_id,
            status: job.status.to_string(),
            attempt: job.attempt,
            started_at: job.run.started_at.to_string(),
            rows: job.run.rows_synced,
            bytes: job.run.bytes_synced,
            error: job.run.error.clone(),
        }
    }
}

fn workspace(org: &OrgScope, external_id: &str) -> Result<WorkspaceScope, CliError> {
    let external_id: ExternalId = external_id.parse()?;
    let workspace = org.workspace_by_external_id(&external_id)?;
    Ok(org.workspace(workspace.id)?)
}

fn print(ctx: &Ctx, jobs: &[Job]) -> Result<(), CliError> {
    let lines: Vec<JobLine> = jobs.iter().map(JobLine::from).collect();
    if ctx.json {
        return output::json(&lines);
    }
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.connection_id.to_string(),
                j.status.clone(),
                j.attempt.map_or_else(String::new, |a| a.to_string()),
                j.rows.to_string(),
                j.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::lines(output::table(
        &["job", "connection", "status", "attempt", "rows", "error"],
        &rows,
    ))
}

pub(crate) fn run(ctx: &Ctx, command: JobsCommand) -> Result<(), CliError> {
    let engine = ctx.open()?;
    let org = ctx.org(&engine)?;
    match command {
        JobsCommand::Start {
            external_id,
            connection,
        } => {
            let ws = workspace(&org, &external_id)?;
            let jobs = match connection {
                Some(id) => vec![ws.queue_sync(id.parse()?)?],
                None => {
                    let mut jobs = Vec::new();
                    let mut page = Page::first(bulkhead::MAX_PAGE_LIMIT);
                    loop {
                        let connections = ws.list_connections(&page)?;
                        for connection in &connections.items {
                            match ws.queue_sync(connection.id) {
                                Ok(job) => jobs.push(job),
                                Err(Error::SyncAlreadyRunning { .. }) => output::note(&format!(
                                    "connection {} already has a job queued or running",
                                    connection.id
                                )),
                                Err(Error::Conflict { .. }) => output::note(&format!(
                                    "connection {} is inactive: not started",
                                    connection.id
                                )),
                                Err(e) => return Err(e.into()),
                            }
                        }
                        match connections.next {
                            Some(cursor) => page = Page::after(cursor, bulkhead::MAX_PAGE_LIMIT),
                            None => break,
                        }
                    }
                    jobs
                }
            };
            print(ctx, &jobs)
        }
        JobsCommand::List { external_id, limit } => {
            let ws = workspace(&org, &external_id)?;
            let runs = org.recent_sync_runs(ws.workspace_id(), usize::from(limit))?;
            let jobs = runs
                .iter()
                .map(|run| ws.job(run.id))
                .collect::<Result<Vec<_>, _>>()?;
            print(ctx, &jobs)
        }
        JobsCommand::Cancel {
            external_id,
            job_id,
        } => {
            let ws = workspace(&org, &external_id)?;
            let job = ws.cancel_job(job_id.parse()?)?;
            print(ctx, &[job])
        }
    }
}
