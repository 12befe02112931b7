//! The engine side of jobs (see [`crate::port::jobs`]): queuing a sync from a workspace, limits
//! from an organization, and the [`Worker`], which may do nothing but the job protocol.

use std::fmt;
use std::sync::Arc;

use crate::audit::Actor;
use crate::engine::Engine;
use crate::engine::credential::Held;
use crate::engine::org::OrgScope;
use crate::engine::shared::Inner;
use crate::engine::workspace::{Endpoint, WorkspaceScope};
use crate::error::{Error, ObjectKind, Result};
use crate::model::ids::{ConnectionId, OrgId, SyncRunId, WorkspaceId};
use crate::model::objects::{
    ConnectionStatus, Destination, Source, SyncOutcome, SyncRun, SyncStatus,
};
use crate::model::operations::Operation;
use crate::model::time::Timestamp;
use crate::port::jobs::{
    ClaimRequest, ClaimedJob, FencingToken, Job, JobLimits, JobSettings, JobStatus, Lease,
    LeaseRow, QueueRow, QueueState, ReapPolicy, Reaped,
};
use crate::port::store::SyncFinish;
use crate::port::tenant::{OrgCtx, Tenant};

impl Inner {
    pub(crate) fn job_settings(&self) -> JobSettings {
        self.job_settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn reap_policy(&self, settings: &JobSettings, now: Timestamp) -> ReapPolicy {
        ReapPolicy {
            now,
            backoff_base: settings.backoff_base,
            backoff_max: settings.backoff_max,
        }
    }
}

impl Engine {
    /// How jobs run now.
    pub fn job_settings(&self) -> JobSettings {
        self.inner.job_settings()
    }

    /// Changes how jobs run (lease, attempts, backoff, default caps), for the claims that
    /// follow. Refused, naming the field, if a value is out of range.
    pub fn set_job_settings(&self, settings: JobSettings) -> Result<()> {
        settings.validate()?;
        *self
            .inner
            .job_settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = settings;
        Ok(())
    }

    /// **Operator access**: a worker of every organization, for the process that owns the
    /// database (the host's own worker pool). Its claims are fair across organizations, then
    /// across each organization's workspaces. `name` identifies it to operators.
    pub fn worker(&self, name: &str) -> Result<Worker> {
        Worker::new(Arc::clone(&self.inner), name, None)
    }

    /// Puts the jobs whose lease ran out back to wait for a retry, or ends them `failed`
    /// once out of attempts. Every claim does this first; this is for a host that wants it
    /// done while no worker claims.
    pub fn reap_jobs(&self) -> Result<Reaped> {
        let settings = self.inner.job_settings();
        let policy = self.inner.reap_policy(&settings, self.inner.now());
        self.inner.storage.system().jobs()?.reap(&policy)
    }
}

impl OrgScope {
    /// A worker of this organization: it claims this organization's jobs only (fairly across
    /// its workspaces) and may do nothing but the job protocol. It holds this scope's org key
    /// and stops working once the key is revoked. `name` identifies it to operators.
    pub fn worker(&self, name: &str) -> Result<Worker> {
        self.live()?;
        Worker::new(Arc::clone(&self.inner), name, Some(self.clone()))
    }

    /// Sets this organization's share of claims against other organizations and its cap on
    /// running jobs (audited `jobs.limits`).
    pub fn set_job_limits(&self, limits: JobLimits) -> Result<()> {
        limits.validate()?;
        let ctx = self.audit_as(
            "jobs.limits",
            None,
            format!("organization:{}", self.org_id()),
        );
        self.inner.org_rows(&self.org).set_job_limits(&ctx, &limits)
    }

    /// Sets the share of claims of the workspace `id` against its organization's other
    /// workspaces, and its cap on running jobs (audited `jobs.limits`). Another
    /// organization's workspace is not found.
    pub fn set_workspace_job_limits(&self, id: WorkspaceId, limits: JobLimits) -> Result<()> {
        limits.validate()?;
        self.get_workspace(id)?;
        let ctx = self.audit_as("jobs.limits", Some(id), format!("workspace:{id}"));
        self.inner
            .org_rows(&self.org)
            .set_workspace_job_limits(&ctx, id, &limits)
    }
}

impl WorkspaceScope {
    /// Queues a sync of the connection `connection_id`: a job, whose sync run is stored now
    /// with status `pending` and run by the next worker that claims it. Refused (conflict)
    /// for an inactive connection, and with [`Error::SyncAlreadyRunning`] while the
    /// connection has a pending or running run (queued, or recorded by
    /// [`WorkspaceScope::start_sync`]). Audited `sync.queue`.
    pub fn queue_sync(&self, connection_id: ConnectionId) -> Result<Job> {
        self.require(Operation::TriggerSyncs)?;
        let jobs = self.inner.job_rows(&self.tenant)?;
        let connection = self.fetch_connection(connection_id)?;
        if connection.status != ConnectionStatus::Active {
            return Err(Error::conflict(format!(
                "connection `{connection_id}` is inactive; activate it before starting a sync"
            )));
        }
        let now = self.inner.now();
        let run = SyncRun {
            id: SyncRunId::random_job(),
            org_id: self.tenant.org_id(),
            workspace_id: self.tenant.workspace_id(),
            connection_id,
            status: SyncStatus::Pending,
            started_at: now,
            finished_at: None,
            rows_synced: 0,
            bytes_synced: 0,
            error: None,
        };
        let settings = self.inner.job_settings();
        jobs.enqueue(
            &self.audited("sync.queue", ObjectKind::SyncRun, run.id),
            &run,
            settings.max_attempts,
        )?;
        Ok(Job {
            run,
            status: JobStatus::Pending,
            attempt: Some(0),
            run_at: Some(now),
        })
    }

    /// The job `id` of this workspace (its sync run and where it stands in the queue); any
    /// other id is not found.
    pub fn job(&self, id: SyncRunId) -> Result<Job> {
        self.job_of(self.get_sync_run(id)?)
    }

    /// The job of `run`, a sync run of this workspace already read (from
    /// [`WorkspaceScope::list_sync_runs`], say): an ended run is its own answer; a live one
    /// reads where it stands in the queue. A run of another workspace (read through another
    /// scope) is not found here, like any id of another workspace.
    pub fn job_of(&self, run: SyncRun) -> Result<Job> {
        let id = run.id;
        if run.org_id != self.tenant.org_id() || run.workspace_id != self.tenant.workspace_id() {
            return Err(Error::not_found(ObjectKind::SyncRun, id));
        }
        if run.status.is_finished() {
            return Ok(Job::of(run, None));
        }
        let row = self.inner.job_rows(&self.tenant)?.queue_row(id)?;
        Ok(Job::of(run, row.as_ref()))
    }

    /// Cancels the job `id` in whatever state it is (pending, incomplete or running): its run
    /// ends `cancelled` and it leaves the queue; a worker holding it is refused at its next
    /// heartbeat or completion ([`Error::LeaseLost`]). A job that has ended is a conflict.
    pub fn cancel_job(&self, id: SyncRunId) -> Result<Job> {
        let run = self.finish_sync(id, SyncOutcome::Cancelled)?;
        Ok(Job::of(run, None))
    }
}

/// A worker: claims jobs with a lease, heartbeats, completes. It can do nothing else: it
/// reads no workspace but the one of a job it holds, and only what the job needs.
///
/// Made by [`Engine::authenticate_worker`] from a worker key (or an org key), by
/// [`OrgScope::worker`] (one organization's jobs) or by [`Engine::worker`] (every
/// organization's, for the host's own process). The organization scope it keeps is its own:
/// nothing here hands it out, so a worker key reaches nothing but the job protocol.
pub struct Worker {
    inner: Arc<Inner>,
    name: String,
    /// The organization it works for, if only one.
    org: Option<OrgScope>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("org_id", &self.org.as_ref().map(OrgScope::org_id))
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// The longest worker name.
    pub const MAX_NAME_CHARS: usize = 100;

    pub(crate) fn new(inner: Arc<Inner>, name: &str, org: Option<OrgScope>) -> Result<Self> {
        let chars = name.chars().count();
        if chars == 0 || chars > Self::MAX_NAME_CHARS {
            return Err(Error::invalid_input(
                "name",
                format!("must be 1 to {} characters", Self::MAX_NAME_CHARS),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self {
            inner,
            name: name.to_owned(),
            org,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The organization it works for, if only one.
    pub fn org_id(&self) -> Option<OrgId> {
        self.org.as_ref().map(OrgScope::org_id)
    }

    /// Fails once the worker's key (worker key or org key) no longer holds.
    fn live(&self) -> Result<()> {
        match &self.org {
            Some(org) => org.live(),
            None => Ok(()),
        }
    }

    /// Who the worker acts as, in the audit chain.
    fn actor(&self) -> Actor {
        match &self.org {
            Some(org) => org.org.actor().clone(),
            None => Actor::Operator,
        }
    }

    /// The organization scope a job of `org_id` is opened with.
    fn org_scope(&self, org_id: OrgId) -> Result<OrgScope> {
        match &self.org {
            Some(org) if org.org_id() == org_id => Ok(org.clone()),
            Some(_) => Err(Error::not_found(ObjectKind::Organization, org_id)),
            None => {
                let org = self.inner.organization(org_id, &Actor::Operator)?;
                Ok(OrgScope::new(
                    Arc::clone(&self.inner),
                    OrgCtx::new(org_id).with_actor(Actor::Operator),
                    org,
                    Held::operator(),
                ))
            }
        }
    }

    /// The tenant of the job a lease holds, if this worker may hold it.
    fn tenant_of(&self, lease: &Lease) -> Result<Tenant> {
        if let Some(org) = self.org_id()
            && lease.org_id() != org
        {
            return Err(Error::not_found(ObjectKind::SyncRun, lease.job_id()));
        }
        Ok(Tenant::new(lease.org_id(), lease.workspace_id()).with_actor(self.actor()))
    }

    /// Queues the jobs of the schedules that are due (this worker's organization's, or every
    /// one for the host's worker; see [`crate::Engine::tick_schedules`]), then claims the
    /// fairest ready job (see [`crate::port::jobs`]), or `None` if no job is claimable now. The job comes with a lease for the engine's [`JobSettings::lease`], its fencing
    /// token, and its source's and destination's configurations opened (audited
    /// `job.claim`). If opening them fails, the error is returned and the job goes back to
    /// the queue when its lease runs out.
    pub fn claim(&self) -> Result<Option<ClaimedJob>> {
        self.live()?;
        let jobs = self.inner.storage.system().jobs()?;
        let settings = self.inner.job_settings();
        let now = self.inner.now();
        // Due schedules first (see `crate::engine::scheduler`): whoever runs workers runs the
        // schedules. A failing tick must not stop the claims: it is logged, and the next
        // claim ticks again.
        if self.inner.storage.system().schedules().is_ok()
            && let Err(e) = self.inner.tick(self.org_id(), now)
        {
            tracing::warn!(target: "bulkhead::scheduler", error = %e, "the scheduler's tick failed");
        }
        let request = ClaimRequest {
            org: self.org_id(),
            worker: &self.name,
            now,
            lease_until: now.plus(settings.lease),
            reap: self.inner.reap_policy(&settings, now),
            org_max_running: settings.org_max_running,
            workspace_max_running: settings.workspace_max_running,
        };
        let Some(row) = jobs.claim(&self.inner.guard, &request, &self.actor())? else {
            return Ok(None);
        };
        self.open(Lease { row }).map(Some)
    }

    fn open(&self, lease: Lease) -> Result<ClaimedJob> {
        let org = self.org_scope(lease.org_id())?;
        let workspace = org.workspace(lease.workspace_id())?;
        let run = workspace.get_sync_run(lease.job_id())?;
        let connection = workspace.fetch_connection(lease.connection_id())?;
        let source_row = workspace.fetch_endpoint_row::<Source>(connection.source_id)?;
        let source_config = workspace.reveal_row(&source_row)?;
        let mut source = Source::from_row(source_row)?;
        source.config = source_config;
        let destination_row =
            workspace.fetch_endpoint_row::<Destination>(connection.destination_id)?;
        let destination_config = workspace.reveal_row(&destination_row)?;
        let mut destination = Destination::from_row(destination_row)?;
        destination.config = destination_config;
        org.audit_event(
            "job.claim",
            Some(lease.workspace_id()),
            format!("sync run:{}", lease.job_id()),
        )?;
        Ok(ClaimedJob {
            lease,
            run,
            connection,
            source,
            destination,
        })
    }

    /// The lease a claim of this worker's organization handed out on the job `job_id` of the
    /// workspace `workspace_id` with fencing `token`, for a worker that kept only those ids
    /// and the token (the HTTP protocol). [`Error::LeaseLost`] if the job is not running under
    /// `token` (any more: it was reaped and retried, ended or cancelled); a job that is not
    /// in that workspace of this organization is not found. Only an organization's worker
    /// ([`OrgScope::worker`]) can do this: the host's own workers keep their [`Lease`]s.
    pub fn lease(
        &self,
        workspace_id: WorkspaceId,
        job_id: SyncRunId,
        token: FencingToken,
    ) -> Result<Lease> {
        self.live()?;
        let Some(org_id) = self.org_id() else {
            return Err(Error::invalid_input(
                "worker",
                "only an organization's worker finds a lease by its token",
            ));
        };
        let tenant = Tenant::new(org_id, workspace_id).with_actor(self.actor());
        match self.inner.job_rows(&tenant)?.queue_row(job_id)? {
            Some(QueueRow {
                state: QueueState::Running,
                lease_token: Some(held),
                lease_until: Some(lease_until),
                connection_id,
                attempt,
                ..
            }) if held == token.get() => Ok(Lease {
                row: LeaseRow {
                    job_id,
                    org_id,
                    workspace_id,
                    connection_id,
                    token: held,
                    attempt,
                    lease_until,
                },
            }),
            Some(_) => Err(Error::LeaseLost { job_id }),
            // Off the queue: the job ended (its lease is lost), or there is no such job here.
            None => {
                self.org_scope(org_id)?
                    .workspace(workspace_id)?
                    .get_sync_run(job_id)?;
                Err(Error::LeaseLost { job_id })
            }
        }
    }

    /// Extends `lease` by the engine's [`JobSettings::lease`] from now. Refused with
    /// [`Error::LeaseLost`] if the job is no longer running under the lease's fencing token
    /// (it was reaped and retried, ended or cancelled): the worker must stop.
    pub fn heartbeat(&self, lease: &mut Lease) -> Result<()> {
        self.live()?;
        let tenant = self.tenant_of(lease)?;
        let settings = self.inner.job_settings();
        let now = self.inner.now();
        let until = now.plus(settings.lease);
        if self
            .inner
            .job_rows(&tenant)?
            .heartbeat(lease.job_id(), lease.row.token, until)?
        {
            lease.row.lease_until = until;
            Ok(())
        } else {
            Err(Error::LeaseLost {
                job_id: lease.job_id(),
            })
        }
    }

    /// Ends the job `lease` holds as `outcome` says (audited `sync.finish`). Refused with
    /// [`Error::LeaseLost`], changing nothing, if the job is no longer running under the
    /// lease's fencing token.
    pub fn complete(&self, lease: &Lease, outcome: SyncOutcome) -> Result<SyncRun> {
        self.live()?;
        let finish = finish_of(outcome, self.inner.now())?;
        let tenant = self.tenant_of(lease)?.audited(
            self.inner.now(),
            "sync.finish",
            format!("{}:{}", ObjectKind::SyncRun, lease.job_id()),
        );
        self.inner
            .job_rows(&tenant)?
            .complete(&tenant, lease.job_id(), lease.row.token, &finish)?
            .ok_or(Error::LeaseLost {
                job_id: lease.job_id(),
            })
    }
}

/// The stored end of a run from a worker's outcome, checked.
fn finish_of(outcome: SyncOutcome, now: Timestamp) -> Result<SyncFinish> {
    fn count(field: &'static str, n: u64) -> Result<u64> {
        if i64::try_from(n).is_err() {
            return Err(Error::invalid_input(field, "is larger than 2^63 - 1"));
        }
        Ok(n)
    }
    Ok(match outcome {
        SyncOutcome::Succeeded { rows, bytes } => SyncFinish {
            status: SyncStatus::Succeeded,
            finished_at: now,
            rows_synced: count("rows", rows)?,
            bytes_synced: count("bytes", bytes)?,
            error: None,
        },
        SyncOutcome::Failed { error, rows, bytes } => {
            if error.chars().count() > SyncOutcome::MAX_ERROR_CHARS {
                return Err(Error::invalid_input(
                    "error",
                    format!("is longer than {} characters", SyncOutcome::MAX_ERROR_CHARS),
                ));
            }
            SyncFinish {
                status: SyncStatus::Failed,
                finished_at: now,
                rows_synced: count("rows", rows)?,
                bytes_synced: count("bytes", bytes)?,
                error: Some(error),
            }
        }
        SyncOutcome::Cancelled => SyncFinish {
            status: SyncStatus::Cancelled,
            finished_at: now,
            rows_synced: 0,
            bytes_synced: 0,
            error: None,
        },
    })
}
