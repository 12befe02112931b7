//! Jobs: the syncs the engine hands to workers, and the storage port of the queue.
//!
//! **A job is a sync run.** Queuing a sync ([`crate::engine::workspace::WorkspaceScope::queue_sync`]) stores a
//! sync run with status `pending` (a tenant row like every other, so `/v1/jobs`, the
//! dashboard and [`crate::engine::workspace::WorkspaceScope::list_sync_runs`] show it) and, in the same
//! transaction, a row of the **queue**: a cross-tenant table of ids and counters only (the job's
//! id, organization, workspace, connection, state, attempt, lease), never a configuration or a
//! secret. The job's id is the run's id, so its Airbyte job number is the run's.
//!
//! A job's [`JobStatus`] maps onto Airbyte's: `pending` (queued, first attempt), `running`
//! (a worker holds its lease), `incomplete` (an attempt was lost, it waits for its retry),
//! `succeeded`, `failed`, `cancelled`. The run's stored status is `pending` for both `pending`
//! and `incomplete` (the run has not ended; the queue row knows the attempt).
//!
//! **One live job per connection**: the run's unique index covers `pending` and `running`
//! runs, so a second start (queued or recorded by [`crate::engine::workspace::WorkspaceScope::start_sync`])
//! while one is live is [`crate::Error::SyncAlreadyRunning`].
//!
//! **Workers** ([`crate::engine::worker::Worker`]) claim with a lease: the claim picks, in one storage
//! transaction (on SQLite and on PostgreSQL, where many worker processes may claim at
//! once), the organization whose virtual time is lowest, then its workspace whose
//! virtual time is lowest, then that workspace's oldest ready job (two-level start-time fair
//! queuing: each claim adds `1 / weight` to the org's and the workspace's virtual time; an org
//! or workspace that had nothing queued re-enters at the lowest virtual time of those that
//! have, so idling banks no credit). An organization or workspace at its concurrency cap is
//! skipped, as is a workspace that is inactive or deleted: none of its jobs is claimable.
//!
//! **Fencing.** Each claim takes a [`FencingToken`] from a global counter that only grows. A
//! heartbeat or completion carries it, and storage accepts it only while the job is running
//! under that very token: a worker that woke after its lease expired (and the job was given
//! to a newer attempt, or cancelled) gets [`crate::Error::LeaseLost`] and must stop.
//!
//! **Schedules** make jobs too: a connection's cron or interval schedule keeps a due time in
//! the store, and the scheduler's tick (every claim runs one first, see
//! [`crate::port::schedules`]) queues a job for each due connection through the same path as
//! [`crate::engine::workspace::WorkspaceScope::queue_sync`].
//!
//! **Expired leases** go back to the queue with attempt + 1 after a backoff
//! (`backoff_base · 2^(attempt − 1)`, at most `backoff_max`), until `max_attempts` lost
//! attempts end the job `failed`. Every claim first reaps expired leases and promotes the
//! retries that are due, so no separate process is needed; [`crate::Engine::reap_jobs`] does
//! it on demand.

use std::fmt;
use std::time::Duration;

use crate::error::Result;
use crate::model::ids::{ConnectionId, OrgId, SyncRunId, WorkspaceId};
use crate::model::objects::{Connection, Destination, Source, SyncRun, SyncStatus};
use crate::model::time::Timestamp;
use crate::port::tenant::{OrgCtx, Tenant};

/// The end of a sync run, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncFinish {
    /// The final status (succeeded, failed or cancelled).
    pub status: SyncStatus,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Rows moved.
    pub rows_synced: u64,
    /// Bytes moved.
    pub bytes_synced: u64,
    /// The error of a failed run.
    pub error: Option<String>,
}

/// How the engine runs jobs: lease length, attempts, backoff, and the concurrency caps that
/// apply where an organization or workspace has none of its own ([`JobLimits`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSettings {
    /// How long a claim (or a heartbeat) holds a job.
    pub lease: Duration,
    /// How many attempts a job gets before a lost lease ends it `failed` (at least 1).
    pub max_attempts: u32,
    /// The wait before the first retry of a lost attempt.
    pub backoff_base: Duration,
    /// The longest wait before a retry.
    pub backoff_max: Duration,
    /// Jobs of one organization running at once.
    pub org_max_running: u32,
    /// Jobs of one workspace running at once.
    pub workspace_max_running: u32,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            max_attempts: 3,
            backoff_base: Duration::from_secs(15),
            backoff_max: Duration::from_secs(3600),
            org_max_running: 16,
            workspace_max_running: 2,
        }
    }
}

impl JobSettings {
    /// Checks the settings, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        use crate::error::Error;
        if self.lease.is_zero() {
            return Err(Error::invalid_input("lease", "must be longer than zero"));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid_input("max_attempts", "must be at least 1"));
        }
        if self.backoff_max < self.backoff_base {
            return Err(Error::invalid_input(
                "backoff_max",
                "must be at least backoff_base",
            ));
        }
        if self.org_max_running == 0 {
            return Err(Error::invalid_input(
                "org_max_running",
                "must be at least 1",
            ));
        }
        if self.workspace_max_running == 0 {
            return Err(Error::invalid_input(
                "workspace_max_running",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The share and the cap of one organization, or of one workspace inside its organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobLimits {
    /// Its share of claims against its siblings (1 to [`JobLimits::MAX_WEIGHT`]): with weight
    /// 2 it gets twice the claims of a sibling with weight 1 while both have jobs queued.
    pub weight: u32,
    /// Its jobs running at once; `None` takes the engine's [`JobSettings`].
    pub max_running: Option<u32>,
}

impl JobLimits {
    /// The largest weight.
    pub const MAX_WEIGHT: u32 = 1000;

    /// Checks the limits, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        use crate::error::Error;
        if self.weight == 0 || self.weight > Self::MAX_WEIGHT {
            return Err(Error::invalid_input(
                "weight",
                format!("must be between 1 and {}", Self::MAX_WEIGHT),
            ));
        }
        if self.max_running == Some(0) {
            return Err(Error::invalid_input("max_running", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            weight: 1,
            max_running: None,
        }
    }
}

/// Where a job is in its life, as Airbyte names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Queued for its first attempt.
    Pending,
    /// A worker holds its lease.
    Running,
    /// An attempt was lost (its lease expired); it waits for its retry.
    Incomplete,
    /// Ended without error.
    Succeeded,
    /// Ended with an error, or ran out of attempts.
    Failed,
    /// Stopped before it ended.
    Cancelled,
}

impl JobStatus {
    /// Its name in the Airbyte API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Incomplete => "incomplete",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the job has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job: its sync run, and where it stands in the queue while it is live.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// The sync run it is (its id is the job's id).
    pub run: SyncRun,
    /// Its status.
    pub status: JobStatus,
    /// Attempts started so far (0 until first claimed); `None` once it has ended.
    pub attempt: Option<u32>,
    /// When it may be claimed next, while it waits.
    pub run_at: Option<Timestamp>,
}

impl Job {
    /// The job of `run` given its queue row, if it has one.
    pub(crate) fn of(run: SyncRun, queue: Option<&QueueRow>) -> Self {
        let status = match (run.status, queue) {
            (SyncStatus::Succeeded, _) => JobStatus::Succeeded,
            (SyncStatus::Failed, _) => JobStatus::Failed,
            (SyncStatus::Cancelled, _) => JobStatus::Cancelled,
            (SyncStatus::Running, _) => JobStatus::Running,
            (SyncStatus::Pending, Some(q)) if q.state == QueueState::Running => JobStatus::Running,
            (SyncStatus::Pending, Some(q)) if q.attempt > 0 => JobStatus::Incomplete,
            (SyncStatus::Pending, _) => JobStatus::Pending,
        };
        let waiting = queue.filter(|q| q.state != QueueState::Running);
        Self {
            status,
            attempt: queue.map(|q| q.attempt),
            run_at: waiting.map(|q| q.run_at),
            run,
        }
    }
}

/// The number a claim takes from a global counter that only grows: the proof that a worker
/// still holds a job. Not a secret (it grants nothing without the worker's credential).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(u64);

impl FencingToken {
    /// The token numbered `n` (as storage hands it out).
    pub fn new(n: u64) -> Self {
        Self(n)
    }

    /// Its number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A worker's hold on one job. Made only by a claim: a worker cannot make one for a job it
/// was not given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub(crate) row: LeaseRow,
}

impl Lease {
    /// The job (its sync run's id).
    pub fn job_id(&self) -> SyncRunId {
        self.row.job_id
    }
    /// The job's organization.
    pub fn org_id(&self) -> OrgId {
        self.row.org_id
    }
    /// The job's workspace.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.row.workspace_id
    }
    /// The job's connection.
    pub fn connection_id(&self) -> ConnectionId {
        self.row.connection_id
    }
    /// The fencing token of this attempt.
    pub fn token(&self) -> FencingToken {
        FencingToken(self.row.token)
    }
    /// Which attempt this is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.row.attempt
    }
    /// When the lease runs out unless a heartbeat extends it.
    pub fn until(&self) -> Timestamp {
        self.row.lease_until
    }
}

/// What a claim hands a worker: the lease, the job, and what it needs to run it, with the
/// source's and destination's configurations opened (secrets included; the claim is
/// audited as `job.claim`). Its `Debug` output leaves the configurations out.
#[derive(Clone)]
pub struct ClaimedJob {
    /// The worker's hold on the job.
    pub lease: Lease,
    /// The job's sync run (status running).
    pub run: SyncRun,
    /// The connection to sync.
    pub connection: Connection,
    /// Its source, configuration opened.
    pub source: Source,
    /// Its destination, configuration opened.
    pub destination: Destination,
}

impl fmt::Debug for ClaimedJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimedJob")
            .field("lease", &self.lease)
            .field("run", &self.run)
            .field("connection", &self.connection.id)
            .field("source", &self.source.id)
            .field("destination", &self.destination.id)
            .finish_non_exhaustive()
    }
}

/// What a reaping pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Expired attempts put back to wait for a retry.
    pub retried: u64,
    /// Jobs ended `failed` for running out of attempts.
    pub failed: u64,
}

// ---------------------------------------------------------------------------------------
// The storage port.

/// Where a live job stands in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueState {
    /// Waiting for its retry time (a lost attempt's backoff).
    Scheduled,
    /// Ready to be claimed.
    Queued,
    /// Held by a worker's lease.
    Running,
}

impl QueueState {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Running => "running",
        }
    }

    /// The state named `s`, as stored.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(Self::Scheduled),
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            _ => None,
        }
    }
}

/// A live job's row in the queue: ids and counters only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRow {
    /// The job (its sync run's id).
    pub job_id: SyncRunId,
    /// Its organization.
    pub org_id: OrgId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its connection.
    pub connection_id: ConnectionId,
    /// Where it stands.
    pub state: QueueState,
    /// Attempts started so far.
    pub attempt: u32,
    /// Attempts it may have.
    pub max_attempts: u32,
    /// When it may be claimed (scheduled, queued).
    pub run_at: Timestamp,
    /// The fencing token of its current attempt, while running.
    pub lease_token: Option<u64>,
    /// When its lease runs out, while running.
    pub lease_until: Option<Timestamp>,
}

/// A claim as storage sees it.
#[derive(Clone, Debug)]
pub struct ClaimRequest<'a> {
    /// Only this organization's jobs (a worker of one organization), or every one.
    pub org: Option<OrgId>,
    /// The claiming worker's name (kept on the row for operators).
    pub worker: &'a str,
    /// The time now.
    pub now: Timestamp,
    /// When the lease runs out.
    pub lease_until: Timestamp,
    /// The reaping that runs first, in the same transaction.
    pub reap: ReapPolicy,
    /// The org cap where an organization has none of its own.
    pub org_max_running: u32,
    /// The workspace cap where a workspace has none of its own.
    pub workspace_max_running: u32,
}

/// How expired leases are reaped.
#[derive(Clone, Copy, Debug)]
pub struct ReapPolicy {
    /// The time now: a lease with `lease_until < now` has expired.
    pub now: Timestamp,
    /// The wait before the first retry.
    pub backoff_base: Duration,
    /// The longest wait.
    pub backoff_max: Duration,
}

impl ReapPolicy {
    /// When a job whose attempt number `attempt` was lost may run again.
    pub fn retry_at(&self, attempt: u32) -> Timestamp {
        let exponent = attempt.saturating_sub(1).min(30);
        let wait = self
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_max);
        self.now.plus(wait)
    }

    /// The error a job ended with after losing its last attempt.
    pub fn out_of_attempts(attempts: u32) -> String {
        format!("the worker's lease expired on each of its {attempts} attempts")
    }
}

/// A claim's result as storage returns it; the engine turns it into a [`Lease`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRow {
    /// The job.
    pub job_id: SyncRunId,
    /// Its organization.
    pub org_id: OrgId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its connection.
    pub connection_id: ConnectionId,
    /// The fencing token taken for this attempt.
    pub token: u64,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// When the lease runs out.
    pub lease_until: Timestamp,
}

/// The scheduler's counters of one organization or workspace, for checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedCounter {
    /// The organization's or the workspace's id.
    pub id: uuid::Uuid,
    /// Jobs queued (ready).
    pub queued: u64,
    /// Jobs running.
    pub running: u64,
}

/// The whole queue, ids and counters only: for operators and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Every live job's row.
    pub rows: Vec<QueueRow>,
    /// Every organization's counters.
    pub orgs: Vec<SchedCounter>,
    /// Every workspace's counters.
    pub workspaces: Vec<SchedCounter>,
}

/// The storage port of the queue. A [`crate::Store`] that has one returns it from
/// [`crate::store::SystemStore::jobs`].
///
/// The tenant calls take a [`Tenant`] (the engine made it from a scope or from a lease), and
/// write the tenant's audit draft in their transaction. `claim` and `reap` are the only
/// cross-tenant calls: they read and write the queue's ids and counters, and the runs of the
/// jobs they move, each in its own workspace.
pub trait JobStore: Send + Sync + fmt::Debug {
    /// Stores the pending run `run` of one of the tenant's connections (not found
    /// otherwise) and its queue row (state queued, attempt 0, ready now), together.
    /// [`crate::Error::SyncAlreadyRunning`] while the connection has a live run.
    fn enqueue(&self, tenant: &Tenant, run: &SyncRun, max_attempts: u32) -> Result<()>;

    /// Reaps expired leases (as [`JobStore::reap`]), makes due retries ready, then claims the
    /// fairest ready job (see the module docs) for `request.worker`, marking its run
    /// `running`; `None` if no job is claimable. The claim itself is one transaction; the
    /// reaping and promotion before it may be the same one (SQLite) or short ones of their
    /// own (PostgreSQL, so that concurrent claims never wait for each other's reaping).
    fn claim(&self, request: &ClaimRequest<'_>) -> Result<Option<LeaseRow>>;

    /// Extends the lease of the tenant's job `id` to `until` (never shortening it), if the
    /// job is running under `token`; `false` otherwise (fenced). A lease that ran out but was
    /// not reaped yet still holds: no other attempt has the job.
    fn heartbeat(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        token: u64,
        until: Timestamp,
    ) -> Result<bool>;

    /// Ends the tenant's job `id` as `finish` says and removes it from the queue, if it is
    /// running under `token`; `None` otherwise (fenced), changing nothing.
    fn complete(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        token: u64,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>>;

    /// Puts every running job whose lease ran out before `policy.now` back to wait for a
    /// retry (run back to pending), or ends it `failed` when it has had all its attempts.
    fn reap(&self, policy: &ReapPolicy) -> Result<Reaped>;

    /// The queue row of the tenant's job `id`, while it is live.
    fn queue_row(&self, tenant: &Tenant, id: SyncRunId) -> Result<Option<QueueRow>>;

    /// Sets the organization's weight and cap.
    fn set_org_limits(&self, org: &OrgCtx, limits: &JobLimits) -> Result<()>;

    /// Sets the weight and cap of the organization's workspace `workspace`.
    fn set_workspace_limits(
        &self,
        org: &OrgCtx,
        workspace: WorkspaceId,
        limits: &JobLimits,
    ) -> Result<()>;

    /// The whole queue, for checks.
    fn snapshot(&self) -> Result<QueueSnapshot>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let policy = ReapPolicy {
            now: Timestamp::from_unix_millis(0),
            backoff_base: Duration::from_secs(15),
            backoff_max: Duration::from_secs(100),
        };
        assert_eq!(policy.retry_at(1).unix_millis(), 15_000);
        assert_eq!(policy.retry_at(2).unix_millis(), 30_000);
        assert_eq!(policy.retry_at(3).unix_millis(), 60_000);
        assert_eq!(policy.retry_at(4).unix_millis(), 100_000);
        assert_eq!(policy.retry_at(u32::MAX).unix_millis(), 100_000);
    }

    #[test]
    fn settings_and_limits_name_the_bad_field() {
        let bad = JobSettings {
            max_attempts: 0,
            ..JobSettings::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("max_attempts")
        );
        let bad = JobLimits {
            weight: 0,
            max_running: None,
        };
        assert!(bad.validate().unwrap_err().to_string().contains("weight"));
        assert!(JobSettings::default().validate().is_ok());
    }
}
