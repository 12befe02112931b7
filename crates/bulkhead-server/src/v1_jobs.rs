//! The Airbyte public API v1 jobs and organizations routes, under `/v1` and `/api/public/v1`
//! (`shared/reference/airbyte-http-api.md`, sections 2.2 and 2.3).
//!
//! **Jobs are sync runs, run by workers.** `POST /jobs` with `jobType: "sync"` queues a sync
//! of the connection ([`WorkspaceScope::queue_sync`]): the job answers `pending` and runs
//! when a worker claims it (`bulkhead worker`, or the job protocol of
//! [`crate::job_protocol`]), `running` while a worker holds it, `incomplete` after a lost
//! attempt while it waits for its retry. A second start while a job of that connection is
//! pending or running is a 409 whose type ends `try-again-later` (the engine's database keeps
//! one live run per connection, so two concurrent starts cannot both win). `reset`, `refresh`
//! and `clear` are a 422: Bulkhead runs syncs only. `DELETE /jobs/{jobId}` cancels a job in
//! any live state (200 with the job, status `cancelled`; a worker holding it loses its
//! lease); a job that has ended is a 409 `state-conflict`. `GET /jobs/{jobId}` and `GET
//! /jobs` read them.
//!
//! **Job ids.** A job id is the job number the run's id carries
//! ([`SyncRunId::job_number`]): an integer from 1 to 2^53 - 1 (a JavaScript number holds it
//! exactly), mapped back to the run's id with no lookup. Runs started before job numbers
//! existed have none and are not listed here (they stay readable through the library).
//! Job numbers are random, unique within a workspace; with an organization credential a job
//! is looked up workspace by workspace, and in the astronomically unlikely case that two
//! workspaces of one organization hold the same number, the first in external-id order wins.
//!
//! **Credentials** as for connections ([`crate::v1_connections`]): an org key or an access
//! token reaches every workspace of its organization, a scoped token its own workspace (a
//! job or connection elsewhere is a 404 identical to a missing one), with the operations the
//! token holds (`syncs:trigger`, `syncs:read`).
//!
//! **Lists.** `GET /jobs` takes `connectionId`, `workspaceIds` (repeated or comma-joined),
//! `status`, `jobType`, `orderBy` (`createdAt` or `updatedAt`, `ASC` or `DESC`, as
//! `createdAt|ASC`, the default), `createdAtStart`, `createdAtEnd`, `updatedAtStart` and
//! `updatedAtEnd` (RFC 3339, inclusive; a job's `updatedAt` is its end, or its start while it
//! runs), `limit` (1 to 100, default 20) and `offset`; any other parameter is a 400 naming it. A `connectionId` or a
//! workspace the credential does not reach matches nothing. The list is gathered from every
//! connection's history in the workspaces reached, then filtered, sorted and cut.
//!
//! **Organizations.** `GET /organizations` (org key or access token) answers the credential's
//! own organization: `{data: [{organizationId, organizationName, email}]}`. Bulkhead keeps
//! no organization email; the SDK requires the field, so it is `""`.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use bulkhead::{
    ConnectionId, Error, Job, MAX_PAGE_LIMIT, ObjectKind, OrgId, Page, SyncRun, SyncRunId,
    Timestamp, WorkspaceId, WorkspaceScope,
};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{AnyAuth, Caller, OrgAuth};
use crate::extract::{Json, path_id};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType,
};
use crate::problem::Problem;
use crate::v1::Prefix;
use crate::v1_connectors::{find, reached};

/// The default page size of the jobs list.
const DEFAULT_LIMIT: u32 = 20;

/// The most ids one `workspaceIds` filter may name.
const MAX_WORKSPACE_IDS: usize = 100;

/// `JobResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobResponse {
    /// The job: an integer from 1 to 2^53 - 1.
    #[schema(value_type = i64, minimum = 1)]
    job_id: u64,
    /// Where it is in its life.
    #[schema(value_type = crate::openapi::JobStatus)]
    status: &'static str,
    /// Always `sync`.
    #[schema(value_type = crate::openapi::JobType)]
    job_type: &'static str,
    /// When it started (RFC 3339, UTC).
    #[schema(value_type = crate::openapi::Timestamp)]
    start_time: String,
    /// The connection it syncs.
    #[schema(value_type = String, format = "uuid")]
    connection_id: ConnectionId,
    /// When the job ended; absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = crate::openapi::Timestamp, required = false)]
    last_updated_at: Option<String>,
    /// ISO 8601 (`PT1M30S`), from start to end; absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false, example = "PT1M30S")]
    duration: Option<String>,
    /// Bytes it moved.
    bytes_synced: u64,
    /// Rows it moved.
    rows_synced: u64,
}

impl JobResponse {
    /// The answer for `job`, if its run has a job number.
    fn of(job: &Job) -> Option<Self> {
        Self::of_run(&job.run, job.status.as_str())
    }

    /// The answer for `run` in `status`, if the run has a job number.
    fn of_run(run: &SyncRun, status: &'static str) -> Option<Self> {
        Some(Self {
            job_id: run.id.job_number()?,
            status,
            job_type: "sync",
            start_time: run.started_at.to_string(),
            connection_id: run.connection_id,
            last_updated_at: run.finished_at.map(|t| t.to_string()),
            duration: run.finished_at.map(|end| {
                iso_duration(
                    end.unix_millis()
                        .saturating_sub(run.started_at.unix_millis()),
                )
            }),
            bytes_synced: run.bytes_synced,
            rows_synced: run.rows_synced,
        })
    }
}

/// `millis` as an ISO 8601 duration: `PT0S`, `PT1.5S`, `PT2H3M4S`.
fn iso_duration(millis: i64) -> String {
    let millis = millis.max(0);
    let (secs, frac) = (millis / 1000, millis % 1000);
    let (hours, minutes, seconds) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::from("PT");
    if hours > 0 {
        out.push_str(&format!("{hours}H"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}M"));
    }
    if seconds > 0 || frac > 0 || (hours == 0 && minutes == 0) {
        if frac > 0 {
            let frac = format!("{frac:03}");
            out.push_str(&format!("{seconds}.{}S", frac.trim_end_matches('0')));
        } else {
            out.push_str(&format!("{seconds}S"));
        }
    }
    out
}

/// The answer for a job: every run the engine starts now carries a job number.
pub(crate) fn job_of(job: &Job) -> Result<JobResponse, Problem> {
    JobResponse::of(job).ok_or_else(no_number)
}

/// The answer for a run that has ended (its status is its job's).
pub(crate) fn ended_job_of(run: &SyncRun) -> Result<JobResponse, Problem> {
    JobResponse::of_run(run, run.status.as_str()).ok_or_else(no_number)
}

fn no_number() -> Problem {
    tracing::error!(target: "bulkhead::server", "a sync run without a job number reached a jobs route");
    Problem::internal()
}

/// `JobCreateRequest`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = JobCreateRequest)]
pub(crate) struct CreateJob {
    /// The connection to sync.
    #[schema(format = "uuid")]
    connection_id: String,
    /// Only `sync`: the other types are a 422.
    #[schema(value_type = crate::openapi::JobType)]
    job_type: String,
}

/// Checks a requested job type: `sync` passes; the other Airbyte job types are a 422.
fn sync_only(job_type: &str) -> Result<(), Problem> {
    match job_type {
        "sync" => Ok(()),
        "reset" | "refresh" | "clear" => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported-job-type",
            "unsupported job type",
        )
        .field("jobType")
        .detail(format!(
            "invalid jobType: Bulkhead runs `sync` jobs only; `{job_type}` is not supported"
        ))),
        _ => Err(Problem::invalid(
            "jobType",
            "invalid jobType: must be one of `sync`, `reset`, `refresh`, `clear`",
        )),
    }
}

/// The workspace of the connection `id` as `caller` reaches it. A scoped token is its own
/// workspace (the engine then finds the connection there or not), so a token that may start
/// syncs needs no right to read connections.
fn connection_workspace(caller: &Caller, id: ConnectionId) -> bulkhead::Result<WorkspaceScope> {
    match caller {
        Caller::Workspace(ws) => Ok(WorkspaceScope::clone(ws)),
        Caller::Org(_) => find(caller, ObjectKind::Connection, id, |ws| {
            ws.get_connection(id)
        })
        .map(|(ws, _)| ws),
    }
}

/// Start a job
///
/// Queues a sync of the connection (`jobType: "sync"`), answered `pending`: a worker runs it.
/// A second start while a job of that connection is pending or running is a 409 whose type
/// ends `try-again-later`. `reset`, `refresh` and `clear` are a 422: Bulkhead runs syncs
/// only. A scoped token needs `syncs:trigger`.
#[utoipa::path(
    post,
    path = "/jobs",
    tag = "jobs",
    operation_id = "create_job",
    request_body = CreateJob,
    responses(
        (status = 200, description = "The job, pending.", body = JobResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
        UnsupportedMediaType, Unprocessable, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn create(
    auth: AnyAuth,
    Json(body): Json<CreateJob>,
) -> Result<axum::Json<JobResponse>, Problem> {
    let connection_id: ConnectionId = path_id("connectionId", &body.connection_id)?;
    sync_only(&body.job_type)?;
    let job = auth
        .run(move |caller| {
            let ws = connection_workspace(&caller, connection_id)?;
            ws.queue_sync(connection_id)
        })
        .await?;
    Ok(axum::Json(job_of(&job)?))
}

/// The run of the job id in the path, or a problem: not an integer is a 400, an integer no
/// job can have is a 404 like a missing job.
pub(crate) fn job_id(raw: &str) -> Result<SyncRunId, Problem> {
    let number: u64 = raw.parse().map_err(|_| {
        Problem::invalid(
            "jobId",
            "invalid jobId: is not a job id (a positive integer)",
        )
    })?;
    SyncRunId::from_job_number(number)
        .map_err(|_| Problem::from(Error::not_found(ObjectKind::SyncRun, number)))
}

/// The job `id` and its workspace, as `caller` reaches it.
fn locate(caller: &Caller, id: SyncRunId) -> bulkhead::Result<(WorkspaceScope, Job)> {
    find(caller, ObjectKind::SyncRun, id, |ws| ws.job(id))
}

/// Get a job
///
/// A job of a workspace the credential reaches; another tenant's is not found, like a
/// missing one. Takes no query parameter.
#[utoipa::path(
    get,
    path = "/jobs/{jobId}",
    tag = "jobs",
    operation_id = "get_job",
    params(("jobId" = i64, Path, minimum = 1, description = "The job.")),
    responses(
        (status = 200, description = "The job.", body = JobResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn get_job(
    auth: AnyAuth,
    Path(raw): Path<String>,
    uri: Uri,
) -> Result<axum::Json<JobResponse>, Problem> {
    let id = job_id(&raw)?;
    no_query(uri.query())?;
    let (_, job) = auth.run(move |caller| locate(&caller, id)).await?;
    Ok(axum::Json(job_of(&job)?))
}

/// Cancel a job
///
/// Cancels a job that is pending, running or incomplete, answering 200 with it (status
/// `cancelled`); a worker holding it loses its lease. A job that has ended is a 409
/// `state-conflict`.
#[utoipa::path(
    delete,
    path = "/jobs/{jobId}",
    tag = "jobs",
    operation_id = "cancel_job",
    params(("jobId" = i64, Path, minimum = 1, description = "The job.")),
    responses(
        (status = 200, description = "The job, cancelled.", body = JobResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn cancel(
    auth: AnyAuth,
    Path(raw): Path<String>,
) -> Result<axum::Json<JobResponse>, Problem> {
    let id = job_id(&raw)?;
    let cancelled = auth
        .run(move |caller| {
            let (ws, job) = locate(&caller, id)?;
            if job.status.is_finished() {
                return Ok(Err(not_running(&job.run)));
            }
            Ok(match ws.cancel_job(id) {
                Ok(job) => Ok(job),
                // It ended between the read and the cancel.
                Err(Error::Conflict { .. }) => Err(match ws.get_sync_run(id) {
                    Ok(run) => not_running(&run),
                    Err(err) => Problem::from(err),
                }),
                Err(err) => Err(Problem::from(err)),
            })
        })
        .await??;
    Ok(axum::Json(job_of(&cancelled)?))
}

/// The 409 for cancelling a job that has ended.
fn not_running(run: &SyncRun) -> Problem {
    Problem::new(StatusCode::CONFLICT, "state-conflict", "state conflict")
        .detail(format!("the job is not running: it ended {}", run.status))
}

/// A get takes no query parameters.
fn no_query(query: Option<&str>) -> Result<(), Problem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
    match pairs.first() {
        None => Ok(()),
        Some((key, _)) => Err(Problem::invalid(
            key.clone(),
            format!("unknown query parameter `{key}`"),
        )),
    }
}

/// What `orderBy` sorts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OrderField {
    CreatedAt,
    UpdatedAt,
}

/// The query of `GET /v1/jobs`.
#[derive(Debug, PartialEq)]
struct JobsQuery {
    connection_id: Option<ConnectionId>,
    workspace_ids: Vec<WorkspaceId>,
    status: Option<String>,
    job_type: Option<String>,
    order: (OrderField, bool),
    /// `createdAtStart` and `createdAtEnd`, both inclusive.
    created: (Option<Timestamp>, Option<Timestamp>),
    /// `updatedAtStart` and `updatedAtEnd`, both inclusive.
    updated: (Option<Timestamp>, Option<Timestamp>),
    limit: u32,
    offset: u32,
}

/// The job statuses of the API (a closed set: the SDK refuses any other).
pub(crate) const STATUSES: [&str; 7] = [
    "pending",
    "queued",
    "running",
    "incomplete",
    "failed",
    "succeeded",
    "cancelled",
];

/// The job types of the API.
pub(crate) const JOB_TYPES: [&str; 4] = ["sync", "reset", "refresh", "clear"];

impl JobsQuery {
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
        let mut parsed = Self {
            connection_id: None,
            workspace_ids: Vec::new(),
            status: None,
            job_type: None,
            order: (OrderField::CreatedAt, true),
            created: (None, None),
            updated: (None, None),
            limit: DEFAULT_LIMIT,
            offset: 0,
        };
        let mut seen = BTreeSet::new();
        for (key, value) in pairs {
            if key != "workspaceIds" && !seen.insert(key.clone()) {
                return Err(Problem::invalid(
                    key.clone(),
                    format!("invalid {key}: given more than once"),
                ));
            }
            match key.as_str() {
                "connectionId" => parsed.connection_id = Some(path_id("connectionId", &value)?),
                "workspaceIds" => {
                    for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let id: WorkspaceId = path_id("workspaceIds", id)?;
                        if !parsed.workspace_ids.contains(&id) {
                            parsed.workspace_ids.push(id);
                        }
                        if parsed.workspace_ids.len() > MAX_WORKSPACE_IDS {
                            return Err(Problem::invalid(
                                "workspaceIds",
                                format!("invalid workspaceIds: at most {MAX_WORKSPACE_IDS} ids"),
                            ));
                        }
                    }
                }
                "status" if STATUSES.contains(&value.as_str()) => parsed.status = Some(value),
                "status" => {
                    return Err(Problem::invalid(
                        "status",
                        format!("invalid status: must be one of {}", STATUSES.join(", ")),
                    ));
                }
                "jobType" if JOB_TYPES.contains(&value.as_str()) => parsed.job_type = Some(value),
                "jobType" => {
                    return Err(Problem::invalid(
                        "jobType",
                        format!("invalid jobType: must be one of {}", JOB_TYPES.join(", ")),
                    ));
                }
                "orderBy" => parsed.order = order_by(&value)?,
                "limit" => {
                    parsed.limit = value
                        .parse()
                        .ok()
                        .filter(|l| (1..=MAX_PAGE_LIMIT).contains(l))
                        .ok_or_else(|| {
                            Problem::invalid(
                                "limit",
                                format!(
                                    "invalid limit: must be an integer from 1 to {MAX_PAGE_LIMIT}"
                                ),
                            )
                        })?;
                }
                "offset" => {
                    parsed.offset = value.parse().map_err(|_| {
                        Problem::invalid("offset", "invalid offset: must be an integer from 0")
                    })?;
                }
                "createdAtStart" | "createdAtEnd" | "updatedAtStart" | "updatedAtEnd" => {
                    let at = rfc3339_millis(&value).ok_or_else(|| {
                        Problem::invalid(
                            key.clone(),
                            format!(
                                "invalid {key}: must be an RFC 3339 date-time such as `2024-01-01T00:00:00Z`"
                            ),
                        )
                    })?;
                    let at = Some(Timestamp::from_unix_millis(at));
                    match key.as_str() {
                        "createdAtStart" => parsed.created.0 = at,
                        "createdAtEnd" => parsed.created.1 = at,
                        "updatedAtStart" => parsed.updated.0 = at,
                        _ => parsed.updated.1 = at,
                    }
                }
                _ => {
                    return Err(Problem::invalid(
                        key.clone(),
                        format!("unknown query parameter `{key}`"),
                    ));
                }
            }
        }
        Ok(parsed)
    }

    /// Whether `run` passes the filters (the connection and workspaces are applied when
    /// gathering).
    fn keeps(&self, job: &Job) -> bool {
        let run = &job.run;
        let within = |at: Timestamp, (start, end): (Option<Timestamp>, Option<Timestamp>)| {
            start.is_none_or(|s| at >= s) && end.is_none_or(|e| at <= e)
        };
        run.id.job_number().is_some()
            && within(run.started_at, self.created)
            && within(updated_at(run), self.updated)
            && self.job_type.as_deref().is_none_or(|t| t == "sync")
            && self
                .status
                .as_deref()
                .is_none_or(|s| s == job.status.as_str())
    }

    /// Orders two jobs as `orderBy` asks, the job number breaking ties.
    fn compare(&self, a: &Job, b: &Job) -> Ordering {
        let key = |job: &Job| -> (Timestamp, u64) {
            let r = &job.run;
            let at = match self.order.0 {
                OrderField::CreatedAt => r.started_at,
                OrderField::UpdatedAt => updated_at(r),
            };
            (at, r.id.job_number().unwrap_or_default())
        };
        let ordering = key(a).cmp(&key(b));
        if self.order.1 {
            ordering
        } else {
            ordering.reverse()
        }
    }

    /// The link to the list at `offset`, under the configured public URL (never the
    /// request's `Host`; a bare path without one).
    fn link(&self, public_url: Option<&str>, path: &str, offset: u32) -> Option<String> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(id) = self.connection_id {
            query.push(("connectionId", id.to_string()));
        }
        if !self.workspace_ids.is_empty() {
            let ids: Vec<String> = self.workspace_ids.iter().map(ToString::to_string).collect();
            query.push(("workspaceIds", ids.join(",")));
        }
        if let Some(status) = &self.status {
            query.push(("status", status.clone()));
        }
        if let Some(job_type) = &self.job_type {
            query.push(("jobType", job_type.clone()));
        }
        for (name, at) in [
            ("createdAtStart", self.created.0),
            ("createdAtEnd", self.created.1),
            ("updatedAtStart", self.updated.0),
            ("updatedAtEnd", self.updated.1),
        ] {
            if let Some(at) = at {
                query.push((name, at.to_string()));
            }
        }
        let field = match self.order.0 {
            OrderField::CreatedAt => "createdAt",
            OrderField::UpdatedAt => "updatedAt",
        };
        let direction = if self.order.1 { "ASC" } else { "DESC" };
        query.push(("orderBy", format!("{field}|{direction}")));
        query.push(("limit", self.limit.to_string()));
        query.push(("offset", offset.to_string()));
        let query = serde_urlencoded::to_string(&query).ok()?;
        Some(format!("{}{path}?{query}", public_url.unwrap_or_default()))
    }
}

/// When a run last changed: its end, or its start while it runs.
fn updated_at(run: &SyncRun) -> Timestamp {
    run.finished_at.unwrap_or(run.started_at)
}

/// Milliseconds since the Unix epoch of an RFC 3339 date-time
/// (`2024-01-01T00:00:00Z`, `2024-01-01T01:00:00.5+01:00`); `None` if it is not one.
pub(crate) fn rfc3339_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = text.get(from..from + len)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let at = |i: usize| bytes.get(i).copied();
    if at(4) != Some(b'-')
        || at(7) != Some(b'-')
        || !matches!(at(10), Some(b'T' | b't'))
        || at(13) != Some(b':')
        || at(16) != Some(b':')
    {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Fractional seconds, to the millisecond.
    let mut i = 19;
    let mut millis = 0;
    if at(i) == Some(b'.') {
        let start = i + 1;
        i = start;
        while at(i).is_some_and(|b| b.is_ascii_digit()) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = text.get(start..i)?;
        let padded = format!("{frac:0<3}");
        millis = padded.get(..3)?.parse::<i64>().ok()?;
    }
    let offset_minutes = match text.get(i..)? {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && matches!(at(i + 3), Some(b':')) => {
            let sign = match at(i) {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let (h, m) = (digits(i + 1, 2)?, digits(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

/// `orderBy`: `createdAt` or `updatedAt`, then `|ASC` or `|DESC` (ascending when absent).
fn order_by(value: &str) -> Result<(OrderField, bool), Problem> {
    let (field, direction) = value.split_once('|').unwrap_or((value, "ASC"));
    let field = match field {
        "createdAt" => OrderField::CreatedAt,
        "updatedAt" => OrderField::UpdatedAt,
        _ => {
            return Err(Problem::invalid(
                "orderBy",
                "invalid orderBy: must be `createdAt` or `updatedAt`, then `|ASC` or `|DESC`",
            ));
        }
    };
    let ascending = match direction {
        "ASC" => true,
        "DESC" => false,
        _ => {
            return Err(Problem::invalid(
                "orderBy",
                "invalid orderBy: the direction must be `ASC` or `DESC`",
            ));
        }
    };
    Ok((field, ascending))
}

/// `JobsResponse`: `{data, next?, previous?}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct JobsResponse {
    /// The jobs of this page.
    data: Vec<JobResponse>,
    /// The link to the following page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    next: Option<String>,
    /// The link to the page before, absent on the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    previous: Option<String>,
}

/// Every run with a job number of the connection `id` in `ws`, oldest page first.
fn history(ws: &WorkspaceScope, id: ConnectionId, out: &mut Vec<Job>) -> bulkhead::Result<()> {
    let mut page = Page::first(MAX_PAGE_LIMIT);
    loop {
        let paged = ws.list_sync_runs(id, &page)?;
        for run in paged.items {
            out.push(ws.job_of(run)?);
        }
        match paged.next {
            Some(cursor) => page = Page::after(cursor, MAX_PAGE_LIMIT),
            None => return Ok(()),
        }
    }
}

/// Every run the query's connection and workspaces select that `caller` reaches.
fn gather(caller: &Caller, query: &JobsQuery) -> bulkhead::Result<Vec<Job>> {
    let mut runs = Vec::new();
    if let Some(id) = query.connection_id {
        let ws = match connection_workspace(caller, id) {
            Ok(ws) => ws,
            Err(Error::NotFound { .. }) => return Ok(runs),
            Err(other) => return Err(other),
        };
        if !query.workspace_ids.is_empty() && !query.workspace_ids.contains(&ws.workspace_id()) {
            return Ok(runs);
        }
        return match history(&ws, id, &mut runs) {
            Ok(()) => Ok(runs),
            // A scoped token's connection elsewhere: nothing, like a missing one.
            Err(Error::NotFound { .. }) => Ok(Vec::new()),
            Err(other) => Err(other),
        };
    }
    for ws in reached(caller, &query.workspace_ids)? {
        let mut page = Page::first(MAX_PAGE_LIMIT);
        loop {
            let paged = ws.list_connections(&page)?;
            for connection in &paged.items {
                history(&ws, connection.id, &mut runs)?;
            }
            match paged.next {
                Some(cursor) => page = Page::after(cursor, MAX_PAGE_LIMIT),
                None => break,
            }
        }
    }
    Ok(runs)
}

/// List jobs
///
/// An offset page of the jobs the credential reaches, gathered from every connection's
/// history in the workspaces reached, then filtered, sorted and cut. A scoped token reaches
/// its own workspace only (and needs `syncs:read`); a `connectionId` or a workspace the
/// credential does not reach matches nothing. Any other query parameter is a 400 naming it.
#[utoipa::path(
    get,
    path = "/jobs",
    tag = "jobs",
    operation_id = "list_jobs",
    params(
        ("connectionId" = Option<String>, Query, format = "uuid", description = "Only the jobs of this connection."),
        ("workspaceIds" = Option<Vec<String>>, Query, description = "Only these workspaces (at most 100): uuids, repeated or comma-joined."),
        ("status" = Option<crate::openapi::JobStatus>, Query, description = "Only jobs in this status."),
        ("jobType" = Option<crate::openapi::JobType>, Query, description = "Only jobs of this type (Bulkhead's jobs are all `sync`)."),
        ("orderBy" = Option<String>, Query, pattern = "^(createdAt|updatedAt)(\\|(ASC|DESC))?$", description = "`createdAt` or `updatedAt`, then `|ASC` (the default) or `|DESC`; `createdAt|ASC` when absent."),
        ("createdAtStart" = Option<crate::openapi::Timestamp>, Query, description = "Only jobs started at or after this time (RFC 3339)."),
        ("createdAtEnd" = Option<crate::openapi::Timestamp>, Query, description = "Only jobs started at or before this time (RFC 3339)."),
        ("updatedAtStart" = Option<crate::openapi::Timestamp>, Query, description = "Only jobs last updated (ended, or started while running) at or after this time."),
        ("updatedAtEnd" = Option<crate::openapi::Timestamp>, Query, description = "Only jobs last updated at or before this time."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, 20 by default."),
        ("offset" = Option<u32>, Query, minimum = 0, description = "How many to skip, 0 by default."),
    ),
    responses(
        (status = 200, description = "A page of jobs.", body = JobsResponse),
        BadRequest, Unauthorized, Forbidden, Conflict, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = []), ("scoped_token" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    axum::Extension(Prefix(prefix)): axum::Extension<Prefix>,
    auth: AnyAuth,
    uri: Uri,
) -> Result<axum::Json<JobsResponse>, Problem> {
    let query = JobsQuery::parse(uri.query())?;
    let (query, runs) = auth
        .run(move |caller| {
            let mut runs = gather(&caller, &query)?;
            runs.retain(|r| query.keeps(r));
            runs.sort_by(|a, b| query.compare(a, b));
            Ok((query, runs))
        })
        .await?;
    let skip = usize::try_from(query.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let more = runs.len() > skip.saturating_add(take);
    let data = runs
        .iter()
        .skip(skip)
        .take(take)
        .filter_map(JobResponse::of)
        .collect();
    let public_url = state.config.public_url.as_deref();
    let path = format!("{prefix}/jobs");
    Ok(axum::Json(JobsResponse {
        data,
        next: more
            .then(|| query.link(public_url, &path, query.offset.saturating_add(query.limit)))
            .flatten(),
        previous: (query.offset > 0)
            .then(|| query.link(public_url, &path, query.offset.saturating_sub(query.limit)))
            .flatten(),
    }))
}

/// `OrganizationResponse`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrganizationResponse {
    /// The organization.
    #[schema(value_type = String, format = "uuid")]
    organization_id: OrgId,
    /// Its name.
    organization_name: String,
    /// Always `""`: Bulkhead keeps no organization email; the SDK requires a string.
    #[schema(value_type = String, example = "")]
    email: &'static str,
}

/// `OrganizationsResponse`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrganizationsResponse {
    /// The credential's own organization, alone.
    data: Vec<OrganizationResponse>,
}

/// List organizations
///
/// The credential's own organization (Bulkhead's credentials belong to one). Takes no query
/// parameter.
#[utoipa::path(
    get,
    path = "/organizations",
    tag = "organizations",
    operation_id = "list_organizations",
    responses(
        (status = 200, description = "The organization.", body = OrganizationsResponse),
        BadRequest, Unauthorized,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn organizations(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<OrganizationsResponse>, Problem> {
    no_query(uri.query())?;
    let organization = org.organization();
    Ok(axum::Json(OrganizationsResponse {
        data: vec![OrganizationResponse {
            organization_id: organization.id,
            organization_name: organization.name.as_str().to_owned(),
            email: "",
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(iso_duration(0), "PT0S");
        assert_eq!(iso_duration(1500), "PT1.5S");
        assert_eq!(iso_duration(60_000), "PT1M");
        assert_eq!(iso_duration((2 * 3600 + 3 * 60 + 4) * 1000), "PT2H3M4S");
        assert_eq!(iso_duration(-5), "PT0S");
    }

    #[test]
    fn rfc3339_date_times_parse_to_epoch_millis() {
        assert_eq!(rfc3339_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_millis("2026-01-01T00:00:00Z"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            rfc3339_millis("2026-01-01T01:00:00.5+01:00"),
            Some(1_767_225_600_500)
        );
        assert_eq!(
            rfc3339_millis("2025-12-31T23:00:00.123456-01:00"),
            Some(1_767_225_600_123)
        );
        assert_eq!(
            rfc3339_millis("2024-02-29T12:00:00z"),
            Some(1_709_208_000_000)
        );
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01 00:00:00Z",
            "20x4-01-01T00:00:00Z",
        ] {
            assert_eq!(rfc3339_millis(bad), None, "{bad}");
        }
        // What the engine writes parses back.
        let at = Timestamp::from_unix_millis(1_767_225_600_123);
        assert_eq!(rfc3339_millis(&at.to_string()), Some(at.unix_millis()));
    }

    #[test]
    fn order_by_takes_a_field_and_a_direction() {
        assert_eq!(
            order_by("createdAt|ASC").unwrap(),
            (OrderField::CreatedAt, true)
        );
        assert_eq!(
            order_by("updatedAt|DESC").unwrap(),
            (OrderField::UpdatedAt, false)
        );
        assert_eq!(
            order_by("createdAt").unwrap(),
            (OrderField::CreatedAt, true)
        );
        for bad in ["jobId|ASC", "createdAt|UP", "", "createdAt|"] {
            assert!(order_by(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jobs_query_refuses_unknown_and_bad_parameters() {
        for query in [
            "workspaceId=x",
            "includeDeleted=false",
            "status=weird",
            "jobType=backfill",
            "connectionId=nope",
            "limit=0",
            "limit=101",
            "offset=-1",
            "orderBy=name|ASC",
            "createdAtStart=2024-01-01",
            "createdAtEnd=yesterday",
            "updatedAtStart=2024-13-01T00:00:00Z",
            "status=running&status=failed",
        ] {
            assert!(JobsQuery::parse(Some(query)).is_err(), "{query}");
        }
        let a = WorkspaceId::random();
        let b = WorkspaceId::random();
        let repeated =
            JobsQuery::parse(Some(&format!("workspaceIds={a}&workspaceIds={b}"))).unwrap();
        let joined = JobsQuery::parse(Some(&format!("workspaceIds={a},{b}"))).unwrap();
        assert_eq!(repeated, joined);
        assert_eq!(repeated.workspace_ids, vec![a, b]);
    }
}
