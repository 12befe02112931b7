//! Guarded handles of the job queue's and the scheduler's ports ([`crate::port::jobs`],
//! [`crate::port::schedules`]), in the style of the parent module:
//!
//! - [`JobRows`], the queue's calls inside one workspace (`&Tenant`): queuing a run, a
//!   worker's heartbeat and completion, a live job's queue row. A run that comes back is
//!   admitted against the tenant, a queue row is checked by its ids, and each is checked to
//!   be the job asked for; another tenant's job is not found (the adapter filters it out) or,
//!   if storage returns it anyway, an isolation breach;
//! - [`TenantRows::schedule`], a connection's due time, checked the same way;
//! - [`OrgRows::set_job_limits`] and [`OrgRows::set_workspace_job_limits`], an
//!   organization's shares and caps (no rows come back);
//! - [`AllJobs`] and [`AllSchedules`], reached only through [`SystemCalls::jobs`] and
//!   [`SystemCalls::schedules`] (so only from [`super::Storage::system`]): **the named
//!   exception**, the calls that run across tenants. They are the claim's candidate
//!   selection, the reaper, and the tick's due-time scan with its compare-and-set moves. They
//!   return the queue's ids and counters only, never a configuration or a secret; a claim
//!   for one organization, or a scan of one organization's due times, returns only that
//!   organization's rows, checked here.
//!
//! A store without a queue (or without due times) answers every call here with
//! [`Error::NoJobQueue`], at the point the scopes asked for the port before.

use crate::audit::Actor;
use crate::engine::guard::Guard;
use crate::engine::rows::{OrgRows, SystemCalls, TenantRows};
use crate::error::{Error, ObjectKind, Result, StorageError};
use crate::model::ids::{ConnectionId, OrgId, SyncRunId, WorkspaceId};
use crate::model::objects::SyncRun;
use crate::model::time::Timestamp;
use crate::port::jobs::{
    ClaimRequest, JobLimits, JobStore, LeaseRow, QueueRow, ReapPolicy, Reaped,
};
use crate::port::schedules::{DueSchedule, ScheduleStore};
use crate::port::store::{Store, SyncFinish};
use crate::port::tenant::{OrgCtx, Tenant};

/// The store's queue, or [`Error::NoJobQueue`].
fn queue(store: &dyn Store) -> Result<&dyn JobStore> {
    store.jobs().ok_or(Error::NoJobQueue)
}

/// The store's due times, or [`Error::NoJobQueue`].
fn due_times(store: &dyn Store) -> Result<&dyn ScheduleStore> {
    store.schedules().ok_or(Error::NoJobQueue)
}

/// The queue's calls inside one workspace, each checked against its tenant.
pub(crate) struct JobRows<'a> {
    jobs: &'a dyn JobStore,
    guard: &'a Guard,
    tenant: &'a Tenant,
}

impl<'a> JobRows<'a> {
    /// The handle for `tenant`'s jobs, or [`Error::NoJobQueue`] if the store has no queue.
    pub(crate) fn new(store: &'a dyn Store, guard: &'a Guard, tenant: &'a Tenant) -> Result<Self> {
        Ok(Self {
            jobs: queue(store)?,
            guard,
            tenant,
        })
    }
}

impl JobRows<'_> {
    /// The isolation-breach error of a queue row that is not the tenant's job asked for.
    fn breach(&self) -> Error {
        self.guard.breach(
            ObjectKind::SyncRun,
            self.tenant.org_id(),
            Some(self.tenant.workspace_id()),
            self.tenant.actor(),
        )
    }

    /// Stores the pending run `run` of one of the tenant's connections with its queue row
    /// (no rows come back).
    pub(crate) fn enqueue(&self, audited: &Tenant, run: &SyncRun, max_attempts: u32) -> Result<()> {
        self.jobs.enqueue(audited, run, max_attempts)
    }

    /// Extends the lease of the tenant's job `id` to `until` if it runs under `token`;
    /// `false` if it does not (fenced). No rows come back.
    pub(crate) fn heartbeat(&self, id: SyncRunId, token: u64, until: Timestamp) -> Result<bool> {
        self.jobs.heartbeat(self.tenant, id, token, until)
    }

    /// Ends the tenant's job `id` as `finish` says if it runs under `token`: its run,
    /// admitted and checked to be `id` (not found otherwise); `None` if the job was fenced.
    pub(crate) fn complete(
        &self,
        audited: &Tenant,
        id: SyncRunId,
        token: u64,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        let done = self.jobs.complete(audited, id, token, finish)?;
        match self.guard.admit_opt(self.tenant, done)? {
            Some(run) if run.id == id => Ok(Some(run)),
            Some(_) => Err(Error::not_found(ObjectKind::SyncRun, id)),
            None => Ok(None),
        }
    }

    /// The queue row of the tenant's job `id` while it is live; an isolation breach if
    /// storage returns another job's or another workspace's.
    pub(crate) fn queue_row(&self, id: SyncRunId) -> Result<Option<QueueRow>> {
        match self.jobs.queue_row(self.tenant, id)? {
            Some(row)
                if row.job_id != id
                    || row.org_id != self.tenant.org_id()
                    || row.workspace_id != self.tenant.workspace_id() =>
            {
                Err(self.breach())
            }
            row => Ok(row),
        }
    }
}

impl TenantRows<'_> {
    /// The due time of the tenant's connection `id`, if it is scheduled; an isolation breach
    /// if storage returns another connection's or another workspace's row.
    /// [`Error::NoJobQueue`] if the store keeps no due times.
    pub(crate) fn schedule(&self, id: ConnectionId) -> Result<Option<DueSchedule>> {
        schedule_of(due_times(self.store)?, self.guard, self.tenant, id)
    }
}

/// [`TenantRows::schedule`] against the port `schedules`.
fn schedule_of(
    schedules: &dyn ScheduleStore,
    guard: &Guard,
    tenant: &Tenant,
    id: ConnectionId,
) -> Result<Option<DueSchedule>> {
    match schedules.schedule_of(tenant, id)? {
        Some(row)
            if row.connection_id != id
                || row.workspace_id != tenant.workspace_id()
                || row.org_id != tenant.org_id() =>
        {
            Err(guard.breach(
                ObjectKind::Connection,
                tenant.org_id(),
                Some(tenant.workspace_id()),
                tenant.actor(),
            ))
        }
        row => Ok(row),
    }
}

impl OrgRows<'_> {
    /// Sets the organization's share of claims and its cap (no rows come back).
    /// [`Error::NoJobQueue`] if the store has no queue.
    pub(crate) fn set_job_limits(&self, audited: &OrgCtx, limits: &JobLimits) -> Result<()> {
        queue(self.store)?.set_org_limits(audited, limits)
    }

    /// Sets the share and cap of the organization's workspace `id` (no rows come back).
    /// [`Error::NoJobQueue`] if the store has no queue.
    pub(crate) fn set_workspace_job_limits(
        &self,
        audited: &OrgCtx,
        id: WorkspaceId,
        limits: &JobLimits,
    ) -> Result<()> {
        queue(self.store)?.set_workspace_limits(audited, id, limits)
    }
}

impl<'a> SystemCalls<'a> {
    /// The queue's cross-tenant calls, or [`Error::NoJobQueue`] if the store has no queue.
    pub(crate) fn jobs(&self) -> Result<AllJobs<'a>> {
        Ok(AllJobs {
            jobs: queue(self.store)?,
        })
    }

    /// The scheduler's cross-tenant calls, or [`Error::NoJobQueue`] if the store keeps no
    /// due times.
    pub(crate) fn schedules(&self) -> Result<AllSchedules<'a>> {
        Ok(AllSchedules {
            schedules: due_times(self.store)?,
        })
    }
}

/// **The named exception** of the queue: its calls across tenants.
#[derive(Clone, Copy)]
pub(crate) struct AllJobs<'a> {
    jobs: &'a dyn JobStore,
}

impl AllJobs<'_> {
    /// Reaps, then claims the fairest ready job of `request.org` (or of every organization):
    /// its lease's ids, or `None` if none is claimable. A claim for one organization that
    /// comes back with another's job is an isolation breach of `actor`.
    pub(crate) fn claim(
        &self,
        guard: &Guard,
        request: &ClaimRequest<'_>,
        actor: &Actor,
    ) -> Result<Option<LeaseRow>> {
        let row = self.jobs.claim(request)?;
        if let (Some(org), Some(row)) = (request.org, &row)
            && row.org_id != org
        {
            return Err(guard.breach(ObjectKind::SyncRun, org, None, actor));
        }
        Ok(row)
    }

    /// Puts the jobs whose lease ran out back to wait, or ends them `failed` (counts only).
    pub(crate) fn reap(&self, policy: &ReapPolicy) -> Result<Reaped> {
        self.jobs.reap(policy)
    }
}

/// **The named exception** of the scheduler: its calls across tenants.
#[derive(Clone, Copy)]
pub(crate) struct AllSchedules<'a> {
    schedules: &'a dyn ScheduleStore,
}

impl AllSchedules<'_> {
    /// Up to `limit` rows due at `now`, oldest due first, of the organization `org` or of
    /// every one. A scan of one organization that returns another's row is an isolation
    /// breach, recorded (as the tick always has) against the row's organization and
    /// workspace with the actor `actor`.
    pub(crate) fn due(
        &self,
        guard: &Guard,
        org: Option<OrgId>,
        now: Timestamp,
        limit: usize,
        actor: &Actor,
    ) -> Result<Vec<DueSchedule>> {
        let due = self.schedules.due_schedules(org, now, limit)?;
        if let Some(row) = due.iter().find(|row| org.is_some_and(|o| o != row.org_id)) {
            return Err(guard.breach(
                ObjectKind::Connection,
                row.org_id,
                Some(row.workspace_id),
                actor,
            ));
        }
        Ok(due)
    }

    /// Moves `row` to `next` (or removes it) if it is still as read; `false` otherwise.
    pub(crate) fn advance(&self, row: &DueSchedule, next: Option<Timestamp>) -> Result<bool> {
        self.schedules.advance_schedule(row, next)
    }

    /// Each of `moves` as [`AllSchedules::advance`], in one transaction: whether each moved,
    /// one answer a move (a storage error otherwise).
    pub(crate) fn advance_all(
        &self,
        moves: &[(DueSchedule, Option<Timestamp>)],
    ) -> Result<Vec<bool>> {
        let moved = self.schedules.advance_schedules(moves)?;
        if moved.len() != moves.len() {
            return Err(Error::Storage(StorageError::new(
                "the store answered a batch of due times with another count",
            )));
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests;
