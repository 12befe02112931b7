//! The job protocol over HTTP, for workers in other processes and languages: claim a job,
//! heartbeat it, complete it. The credential is a **worker key** (`bh_wkr_`, made by
//! `POST /api/v1/organization/keys {"role": "worker"}` or `bulkhead org keys create
//! --worker`), whose only power is these three routes; an org key, an access token or the
//! dashboard session work too (they hold the organization's whole power). Another
//! organization's job is not found. Claims and completions are audited with the key as actor
//! (`worker-key:<prefix>`).
//!
//! | method, path | answer |
//! | --- | --- |
//! | `POST /api/v1/jobs/claim` `{worker}` | `200` a [`JobDocument`] (the job, its lease and fencing token, the connection, the source and destination with their configurations opened), or `204` when no job is ready |
//! | `POST /api/v1/jobs/{jobId}/heartbeat` `{workspace_id, fencing_token}` | `200 {lease_until}`; `409 lease-lost` when the job is no longer the caller's |
//! | `POST /api/v1/jobs/{jobId}/complete` `{workspace_id, fencing_token, status, rows, bytes, error}` | `200` the job (`JobResponse`); `409 lease-lost`, nothing kept, when the job is no longer the caller's |
//!
//! A claim is fair across the organization's workspaces and audited (`job.claim`), and its
//! answer holds the configurations' secrets: it is sent with `Cache-Control: no-store`, and
//! the server logs nothing of it. The fencing token is what proves the caller still holds the
//! job: a heartbeat or completion with an older one (the lease ran out and the job went to a
//! newer attempt, or the job was cancelled) is refused, so a worker that wakes up late never
//! overwrites a newer attempt. `bulkhead worker --exec CMD` gives its command this same
//! document on stdin.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulkhead::{ClaimedJob, FencingToken, SyncOutcome, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::auth::WorkerAuth;
use crate::extract::{Json, path_id};
use crate::openapi::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use crate::problem::Problem;
use crate::v1_jobs::{JobResponse, ended_job_of, job_id};

/// A claimed job, as a worker gets it: over HTTP from `POST /api/v1/jobs/claim`, and on its
/// connector command's stdin from `bulkhead worker`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobDocument {
    /// The job and the worker's hold on it.
    pub job: JobLease,
    /// The connection to sync.
    pub connection: Named,
    /// Its source, configuration opened (secrets included).
    pub source: Endpoint,
    /// Its destination, configuration opened (secrets included).
    pub destination: Endpoint,
}

/// The job and the lease of a [`JobDocument`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobLease {
    /// The job's number (the `jobId` of the v1 jobs routes).
    #[schema(value_type = i64, minimum = 1)]
    pub id: Option<u64>,
    /// Its sync run.
    #[schema(format = "uuid")]
    pub run_id: String,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The proof of the hold: send it with every heartbeat and the completion.
    pub fencing_token: u64,
    /// When the lease runs out unless a heartbeat extends it.
    #[schema(value_type = crate::openapi::Timestamp)]
    pub lease_until: String,
    /// The job's organization.
    #[schema(format = "uuid")]
    pub organization_id: String,
    /// The job's workspace (send it with every heartbeat and the completion).
    #[schema(format = "uuid")]
    pub workspace_id: String,
}

/// An object's id and name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Named {
    /// Its id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A source or destination of a [`JobDocument`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    /// Its id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its name.
    pub name: String,
    /// The connector it runs.
    pub connector: String,
    /// Its configuration, secrets in clear.
    #[schema(value_type = Object)]
    pub configuration: serde_json::Value,
}

impl JobDocument {
    /// The document of a claimed job.
    pub fn of(job: &ClaimedJob) -> Self {
        let config = |c: &bulkhead::ConnectorConfig| {
            serde_json::to_value(c).unwrap_or(serde_json::Value::Null)
        };
        Self {
            job: JobLease {
                id: job.run.id.job_number(),
                run_id: job.run.id.to_string(),
                attempt: job.lease.attempt(),
                fencing_token: job.lease.token().get(),
                lease_until: job.lease.until().to_string(),
                organization_id: job.lease.org_id().to_string(),
                workspace_id: job.lease.workspace_id().to_string(),
            },
            connection: Named {
                id: job.connection.id.to_string(),
                name: job.connection.name.to_string(),
            },
            source: Endpoint {
                id: job.source.id.to_string(),
                name: job.source.name.to_string(),
                connector: job.source.connector.to_string(),
                configuration: config(&job.source.config),
            },
            destination: Endpoint {
                id: job.destination.id.to_string(),
                name: job.destination.name.to_string(),
                connector: job.destination.connector.to_string(),
                configuration: config(&job.destination.config),
            },
        }
    }
}

/// The body of `POST /api/v1/jobs/claim`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = JobClaimRequest)]
pub(crate) struct ClaimBody {
    /// The worker's name, for the audit log (1 to 100 characters).
    worker: String,
}

/// Claim the next job
///
/// Claims the fairest ready job of the organization for the worker: the organization's
/// workspace that has had the fewest claims (weighted), then its oldest ready job. The answer
/// holds the connection's configurations with their secrets (audited `job.claim`) and is never
/// cached. `204` when no job is ready: ask again later (with some jitter).
#[utoipa::path(
    post,
    path = "/api/v1/jobs/claim",
    tag = "workers",
    operation_id = "claim_job",
    request_body = ClaimBody,
    responses(
        (status = 200, description = "The claimed job, its lease and its configurations.", body = JobDocument),
        (status = 204, description = "No job is ready."),
        BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, Unavailable,
    ),
    security(("worker_key" = []), ("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn claim(
    auth: WorkerAuth,
    Json(body): Json<ClaimBody>,
) -> Result<Response, Problem> {
    let claimed = auth
        .run(body.worker, |worker| {
            Ok(worker.claim()?.as_ref().map(JobDocument::of))
        })
        .await?;
    Ok(match claimed {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(document) => {
            ([(header::CACHE_CONTROL, "no-store")], axum::Json(document)).into_response()
        }
    })
}

/// The hold a heartbeat or completion proves.
fn hold(workspace_id: &str, token: u64) -> Result<(WorkspaceId, FencingToken), Problem> {
    Ok((
        path_id("workspace_id", workspace_id.trim())?,
        FencingToken::new(token),
    ))
}

/// The body of `POST /api/v1/jobs/{jobId}/heartbeat`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = JobHeartbeatRequest)]
pub(crate) struct HeartbeatBody {
    /// The job's workspace, from the claim.
    #[schema(format = "uuid")]
    workspace_id: String,
    /// The fencing token of the claim.
    fencing_token: u64,
}

/// The answer to a heartbeat.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = JobHeartbeat)]
pub(crate) struct HeartbeatAnswer {
    /// The lease's new end.
    #[schema(value_type = crate::openapi::Timestamp)]
    lease_until: String,
}

/// Extend a job's lease
///
/// Extends the lease of a job the caller claimed by one lease length from now. `409` with
/// type `lease-lost` when the job is no longer held under that fencing token (its lease ran
/// out and it went to a newer attempt, or it ended or was cancelled): stop working on it.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{jobId}/heartbeat",
    tag = "workers",
    operation_id = "heartbeat_job",
    params(("jobId" = i64, Path, minimum = 1, description = "The job.")),
    request_body = HeartbeatBody,
    responses(
        (status = 200, description = "The lease's new end.", body = HeartbeatAnswer),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType,
        Unavailable,
    ),
    security(("worker_key" = []), ("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn heartbeat(
    auth: WorkerAuth,
    Path(raw): Path<String>,
    Json(body): Json<HeartbeatBody>,
) -> Result<axum::Json<HeartbeatAnswer>, Problem> {
    let id = job_id(&raw)?;
    let (workspace_id, token) = hold(&body.workspace_id, body.fencing_token)?;
    let until = auth
        .run("http".to_owned(), move |worker| {
            let mut lease = worker.lease(workspace_id, id, token)?;
            worker.heartbeat(&mut lease)?;
            Ok(lease.until())
        })
        .await?;
    Ok(axum::Json(HeartbeatAnswer {
        lease_until: until.to_string(),
    }))
}

/// The body of `POST /api/v1/jobs/{jobId}/complete`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = JobCompleteRequest)]
pub(crate) struct CompleteBody {
    /// The job's workspace, from the claim.
    #[schema(format = "uuid")]
    workspace_id: String,
    /// The fencing token of the claim.
    fencing_token: u64,
    /// `succeeded` or `failed`.
    #[schema(value_type = String, example = "succeeded")]
    status: String,
    /// Rows moved (before the error, for a failure).
    #[serde(default)]
    rows: u64,
    /// Bytes moved (before the error, for a failure).
    #[serde(default)]
    bytes: u64,
    /// Why it failed: required with `failed`, refused with `succeeded`.
    error: Option<String>,
}

/// Complete a job
///
/// Ends a job the caller claimed as `succeeded` or `failed` (audited `sync.finish`). `409`
/// with type `lease-lost`, changing nothing, when the job is no longer held under that
/// fencing token.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{jobId}/complete",
    tag = "workers",
    operation_id = "complete_job",
    params(("jobId" = i64, Path, minimum = 1, description = "The job.")),
    request_body = CompleteBody,
    responses(
        (status = 200, description = "The job as it ended.", body = JobResponse),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType,
        Unavailable,
    ),
    security(("worker_key" = []), ("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn complete(
    auth: WorkerAuth,
    Path(raw): Path<String>,
    Json(body): Json<CompleteBody>,
) -> Result<axum::Json<JobResponse>, Problem> {
    let id = job_id(&raw)?;
    let (workspace_id, token) = hold(&body.workspace_id, body.fencing_token)?;
    let outcome = match (body.status.as_str(), body.error) {
        ("succeeded", None) => SyncOutcome::Succeeded {
            rows: body.rows,
            bytes: body.bytes,
        },
        ("succeeded", Some(_)) => {
            return Err(Problem::invalid(
                "error",
                "invalid error: a succeeded job has none",
            ));
        }
        ("failed", Some(error)) => SyncOutcome::Failed {
            error,
            rows: body.rows,
            bytes: body.bytes,
        },
        ("failed", None) => {
            return Err(Problem::invalid(
                "error",
                "invalid error: a failed job needs one",
            ));
        }
        _ => {
            return Err(Problem::invalid(
                "status",
                "invalid status: must be `succeeded` or `failed`",
            ));
        }
    };
    let run = auth
        .run("http".to_owned(), move |worker| {
            let lease = worker.lease(workspace_id, id, token)?;
            worker.complete(&lease, outcome)
        })
        .await?;
    Ok(axum::Json(ended_job_of(&run)?))
}
