//! The job queue on PostgreSQL (see `bulkhead_core::jobs`), for many worker processes on one
//! database.
//!
//! The queue tables (`sync_queue`, `sched_org`, `sched_workspace`, `sched_global`, and the
//! sequence `sync_queue_tokens`: migration 6) hold ids and counters only. `sync_queue` is a
//! tenant table under the same Row Level Security as the others; the counters are rows of
//! their organization. A claim reads the queue and the counters of everyone in the
//! [`Scope::Queue`] scope, which may read them and write none of them; every write happens in
//! the scope of the job's own organization or workspace, and every statement binds the
//! organization as well as the workspace. The counters follow the queue rows by triggers,
//! and a run that ends or is deleted leaves the queue (trigger, foreign key), so no code path
//! (a cancel, a connection deleted with its runs, a purge) can leave them wrong.
//!
//! **Claims do not wait for each other.** A claim picks the organization with the least
//! virtual time (under its cap), its active workspace with the least virtual time (under its
//! cap), and that workspace's oldest ready job, locking each with `FOR UPDATE SKIP LOCKED`:
//! another worker's claim in progress holds its organization's row, so a concurrent claim
//! moves on to the next organization instead of waiting, and no job is claimed twice (the
//! job row and its run are locked together, skipped when either is held). Claims of one
//! organization take turns on its row, which is what keeps their fairness exact; across
//! organizations a claim may pass one whose row another claim holds for that moment. When
//! every candidate was held, the claim tries again in a new transaction that waits for the
//! first candidate's row (holding no lock while it waits), so a worker that drains the queue
//! does not stop while jobs are left. The fencing token is a sequence number: it only
//! grows, across every process.
//!
//! **Lock order.** Every write that touches a job locks its run, then its queue row, then its
//! workspace's and its organization's counters (the triggers). A claim takes the counters
//! first but never waits for a lock (all `SKIP LOCKED`); reaping expired leases and promoting
//! due retries, which do wait, run one job per transaction, before the claim's own
//! transaction. So no two of these can wait for each other.

use std::time::{Duration, Instant};

use bulkhead_core::jobs::{
    ClaimRequest, JobLimits, JobStore, LeaseRow, QueueRow, QueueSnapshot, QueueState, ReapPolicy,
    Reaped, SchedCounter,
};
use bulkhead_core::store::SyncFinish;
use bulkhead_core::{
    ConnectionId, Error, ObjectKind, OrgCtx, OrgId, Result, StorageError, SyncRun, SyncRunId,
    SyncStatus, Tenant, Timestamp, WorkspaceId,
};
use postgres::Row;
use uuid::Uuid;

use crate::pool::{Scope, Tx};
use crate::rows::{self, sql_count, sync_run_columns};
use crate::{Ctx, PostgresStore, audit};

/// What one claim adds to the virtual time of an organization or workspace of weight 1.
const VTIME_UNIT: i64 = 1_000_000;

/// Expired leases reaped before one claim at most (the rest by the next ones).
const REAP_BATCH: i64 = 100;

/// Organizations a claim considers in one pass, least virtual time first.
const CANDIDATES: i64 = 32;

/// How long a claim keeps trying while every candidate it found was held by other claims.
const CLAIM_PATIENCE: Duration = Duration::from_secs(5);

macro_rules! queue_columns {
    () => {
        "id, org_id, workspace_id, connection_id, state, attempt, max_attempts, run_at, \
         lease_token, lease_until"
    };
}

fn bad(what: &str) -> Error {
    Error::Storage(StorageError::new(format!("bad {what} in sync_queue")))
}

fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, i: usize, name: &str) -> Result<T> {
    row.try_get(i)
        .ctx(format_args!("could not read column `{name}`"))
}

fn queue_row(row: &Row) -> Result<QueueRow> {
    let state: String = get(row, 4, "state")?;
    let count = |i: usize, name: &str| -> Result<u32> {
        u32::try_from(get::<i32>(row, i, name)?).map_err(|_| bad(name))
    };
    Ok(QueueRow {
        job_id: SyncRunId::from_uuid(get(row, 0, "id")?).map_err(|_| bad("id"))?,
        org_id: OrgId::from_uuid(get(row, 1, "org_id")?).map_err(|_| bad("org_id"))?,
        workspace_id: WorkspaceId::from_uuid(get(row, 2, "workspace_id")?)
            .map_err(|_| bad("workspace_id"))?,
        connection_id: ConnectionId::from_uuid(get(row, 3, "connection_id")?)
            .map_err(|_| bad("connection_id"))?,
        state: QueueState::parse(&state).ok_or_else(|| bad("state"))?,
        attempt: count(5, "attempt")?,
        max_attempts: count(6, "max_attempts")?,
        run_at: Timestamp::from_unix_millis(get(row, 7, "run_at")?),
        lease_token: get::<Option<i64>>(row, 8, "lease_token")?
            .map(|t| u64::try_from(t).map_err(|_| bad("lease_token")))
            .transpose()?,
        lease_until: get::<Option<i64>>(row, 9, "lease_until")?.map(Timestamp::from_unix_millis),
    })
}

fn token_param(token: u64) -> Result<i64> {
    i64::try_from(token).map_err(|_| Error::invalid_input("token", "is not a fencing token"))
}

fn count_param(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn inconsistent(what: &str) -> Error {
    Error::Storage(StorageError::new(format!(
        "the job queue is inconsistent: {what}"
    )))
}

/// A job the queue names, with its organization and workspace: whose scope writes it.
struct JobKey {
    org: OrgId,
    workspace: WorkspaceId,
    id: SyncRunId,
    state: QueueState,
}

fn job_key(row: &Row) -> Result<JobKey> {
    let state: String = get(row, 3, "state")?;
    Ok(JobKey {
        org: OrgId::from_uuid(get(row, 0, "org_id")?).map_err(|_| bad("org_id"))?,
        workspace: WorkspaceId::from_uuid(get(row, 1, "workspace_id")?)
            .map_err(|_| bad("workspace_id"))?,
        id: SyncRunId::from_uuid(get(row, 2, "id")?).map_err(|_| bad("id"))?,
        state: QueueState::parse(&state).ok_or_else(|| bad("state"))?,
    })
}

/// One candidate of a level: its id and virtual time.
struct Candidate {
    id: Uuid,
    vtime: i64,
}

fn uuid_of(row: &Row) -> Result<Uuid> {
    get(row, 0, "id")
}

/// A claim's pick in one organization (`$1`, cap `$2`; workspace cap `$3`): its row, locked,
/// and its active workspace with the least virtual time, locked unless held (skipped).
macro_rules! pick_sql {
    ($org_lock:literal) => {
        concat!(
            "SELECT o.vtime, s.id, s.vtime
             FROM (SELECT id, vtime FROM sched_org
                   WHERE id = $1 AND queued > 0 AND running < coalesce(cap, $2) ",
            $org_lock,
            ") AS o
             LEFT JOIN LATERAL (
                 SELECT s.id, s.vtime FROM sched_workspace AS s
                 JOIN workspaces AS w ON w.org_id = s.org_id AND w.id = s.id
                 WHERE s.org_id = o.id AND s.queued > 0 AND s.running < coalesce(s.cap, $3)
                   AND w.status = 'active' AND w.deleted_at IS NULL
                 ORDER BY s.vtime, s.id LIMIT 1
                 FOR UPDATE OF s SKIP LOCKED
             ) AS s ON true"
        )
    };
}

/// [`pick_sql`], skipping an organization whose row another transaction holds.
const PICK: &str = pick_sql!("FOR UPDATE SKIP LOCKED");

/// [`pick_sql`], waiting for the organization's row.
const PICK_WAITING: &str = pick_sql!("FOR UPDATE");

/// What one pass of a claim found.
enum Pass {
    Claimed(LeaseRow),
    /// Nothing claimable.
    Empty,
    /// Nothing taken, but some candidate was held by another transaction.
    Contended,
}

impl PostgresStore {
    /// The expired leases (up to [`REAP_BATCH`]) and due retries, as the claim scope sees
    /// them.
    fn due_work(&self, now: Timestamp, leases: bool) -> Result<Vec<JobKey>> {
        self.pool.read(Scope::Queue(None), |tx| {
            if leases {
                tx.query_all(
                    "(SELECT org_id, workspace_id, id, state FROM sync_queue
                      WHERE state = 'running' AND lease_until < $1
                      ORDER BY lease_until, id LIMIT $2)
                     UNION ALL
                     (SELECT org_id, workspace_id, id, state FROM sync_queue
                      WHERE state = 'scheduled' AND run_at <= $1 ORDER BY run_at, id)",
                    &[&now.unix_millis(), &REAP_BATCH],
                    job_key,
                )
            } else {
                tx.query_all(
                    "SELECT org_id, workspace_id, id, state FROM sync_queue
                     WHERE state = 'scheduled' AND run_at <= $1 ORDER BY run_at, id",
                    &[&now.unix_millis()],
                    job_key,
                )
            }
        })
    }

    /// Puts one expired lease back (or ends its job `failed`), in the job's workspace; `None`
    /// if it is no longer expired (completed, heartbeated or reaped meanwhile).
    fn reap_one(&self, key: &JobKey, policy: &ReapPolicy) -> Result<Option<bool>> {
        let (ws, id, org) = (key.workspace.as_uuid(), key.id.as_uuid(), key.org.as_uuid());
        self.pool
            .write(Scope::Workspace(key.org, key.workspace), |tx| {
                // The run first, then the queue row (the lock order of every job write).
                tx.query_first(
                    "SELECT 1 FROM sync_runs WHERE workspace_id = $1 AND id = $2 AND org_id = $3
                     FOR UPDATE",
                    &[ws, id, org],
                    |_| Ok(()),
                )?;
                let row = tx.query_first(
                    concat!(
                        "SELECT ",
                        queue_columns!(),
                        " FROM sync_queue WHERE workspace_id = $1 AND id = $2 AND org_id = $3",
                        " AND state = 'running' AND lease_until < $4 FOR UPDATE"
                    ),
                    &[ws, id, org, &policy.now.unix_millis()],
                    queue_row,
                )?;
                let Some(row) = row else {
                    return Ok(None);
                };
                if row.attempt >= row.max_attempts {
                    // The run's end removes the queue row (trigger `sync_runs_ended`).
                    let ended = tx.execute(
                        "UPDATE sync_runs SET status = 'failed', finished_at = $3, error = $4
                         WHERE workspace_id = $1 AND id = $2 AND status = 'running'",
                        &[
                            ws,
                            id,
                            &policy.now.unix_millis(),
                            &ReapPolicy::out_of_attempts(row.attempt),
                        ],
                    )?;
                    if ended != 1 {
                        return Err(inconsistent("a running job's run is not running"));
                    }
                    Ok(Some(false))
                } else {
                    let moved = tx.execute(
                        "UPDATE sync_queue SET state = 'scheduled', run_at = $4,
                         lease_token = NULL, lease_until = NULL, worker = NULL
                         WHERE workspace_id = $1 AND id = $2 AND org_id = $3
                           AND state = 'running'",
                        &[ws, id, org, &policy.retry_at(row.attempt).unix_millis()],
                    )?;
                    let paused = tx.execute(
                        "UPDATE sync_runs SET status = 'pending'
                         WHERE workspace_id = $1 AND id = $2 AND status = 'running'",
                        &[ws, id],
                    )?;
                    if moved != 1 || paused != 1 {
                        return Err(inconsistent("a running job's run is not running"));
                    }
                    Ok(Some(true))
                }
            })
    }

    /// Makes one due retry ready, in the job's workspace.
    fn promote_one(&self, key: &JobKey, now: Timestamp) -> Result<()> {
        self.pool
            .write(Scope::Workspace(key.org, key.workspace), |tx| {
                tx.execute(
                    "UPDATE sync_queue SET state = 'queued'
                     WHERE workspace_id = $1 AND id = $2 AND org_id = $3
                       AND state = 'scheduled' AND run_at <= $4",
                    &[
                        key.workspace.as_uuid(),
                        key.id.as_uuid(),
                        key.org.as_uuid(),
                        &now.unix_millis(),
                    ],
                )
            })
            .map(|_| ())
    }

    /// Reaps expired leases (at most [`REAP_BATCH`]), then makes due retries ready: what
    /// every claim does first.
    fn reap_and_promote(&self, policy: &ReapPolicy, now: Timestamp) -> Result<Reaped> {
        let mut reaped = Reaped::default();
        let work = self.due_work(policy.now, true)?;
        let mut due = Vec::new();
        for key in work {
            match key.state {
                QueueState::Running => match self.reap_one(&key, policy)? {
                    Some(true) => reaped.retried += 1,
                    Some(false) => reaped.failed += 1,
                    None => {}
                },
                QueueState::Scheduled => due.push(key),
                QueueState::Queued => {}
            }
        }
        // A lease reaped just now may be due at once (a zero backoff).
        if reaped.retried > 0 {
            due = self.due_work(now, false)?;
        }
        for key in &due {
            self.promote_one(key, now)?;
        }
        Ok(reaped)
    }

    /// One pass of a claim: one transaction. With `wait_first`, the first candidate
    /// organization's row is waited for if another claim holds it (the transaction holds no
    /// lock yet, so the wait cannot be part of a deadlock); every other lock is skipped when
    /// held.
    fn claim_pass(&self, request: &ClaimRequest<'_>, wait_first: bool) -> Result<Pass> {
        let org_cap = i32::try_from(request.org_max_running).unwrap_or(i32::MAX);
        let ws_cap = i32::try_from(request.workspace_max_running).unwrap_or(i32::MAX);
        self.pool.write(Scope::Queue(None), |tx| {
            let orgs = match request.org {
                Some(org) => tx.query_all(
                    "SELECT id FROM sched_org
                     WHERE id = $2 AND queued > 0 AND running < coalesce(cap, $1)",
                    &[&org_cap, org.as_uuid()],
                    uuid_of,
                )?,
                None => tx.query_all(
                    "SELECT id FROM sched_org
                     WHERE queued > 0 AND running < coalesce(cap, $1)
                     ORDER BY vtime, id LIMIT $2",
                    &[&org_cap, &CANDIDATES],
                    uuid_of,
                )?,
            };
            let mut contended = false;
            for (n, org_uuid) in orgs.into_iter().enumerate() {
                let org_id = OrgId::from_uuid(org_uuid).map_err(|_| bad("org_id"))?;
                tx.set_scope(Scope::Queue(Some(org_id)))?;
                // The organization's row, then its workspace with the least virtual time,
                // in one statement. Claims of this organization take turns on its row, so a
                // workspace row is held only by a moment's counter update.
                let sql = if wait_first && n == 0 {
                    PICK_WAITING
                } else {
                    PICK
                };
                let Some((org_vtime, workspace)) =
                    tx.query_first(sql, &[&org_uuid, &org_cap, &ws_cap], |row| {
                        let ws: Option<Uuid> = get(row, 1, "workspace id")?;
                        let vtime: Option<i64> = get(row, 2, "workspace vtime")?;
                        Ok((
                            get::<i64>(row, 0, "vtime")?,
                            ws.zip(vtime).map(|(id, vtime)| Candidate { id, vtime }),
                        ))
                    })?
                else {
                    contended = true;
                    continue;
                };
                let org = Candidate {
                    id: org_uuid,
                    vtime: org_vtime,
                };
                let Some(workspace) = workspace else {
                    // None eligible, or each eligible one held for a moment by a write of its
                    // counters (a completion, an enqueue): that one is worth another pass.
                    let held = tx.query_first(
                        "SELECT 1 FROM sched_workspace AS s
                         JOIN workspaces AS w ON w.org_id = s.org_id AND w.id = s.id
                         WHERE s.org_id = $1 AND s.queued > 0 AND s.running < coalesce(s.cap, $2)
                           AND w.status = 'active' AND w.deleted_at IS NULL
                         LIMIT 1",
                        &[&org_uuid, &ws_cap],
                        |_| Ok(()),
                    )?;
                    contended |= held.is_some();
                    continue;
                };
                let ws_id =
                    WorkspaceId::from_uuid(workspace.id).map_err(|_| bad("workspace_id"))?;
                tx.set_scope(Scope::Workspace(org_id, ws_id))?;
                match take(tx, request, &org, &workspace, org_id, ws_id)? {
                    Some(lease) => return Ok(Pass::Claimed(lease)),
                    // Its ready jobs are held by a cancel or a promotion in progress.
                    None => contended = true,
                }
            }
            Ok(if contended {
                Pass::Contended
            } else {
                Pass::Empty
            })
        })
    }
}

/// Gives the workspace's oldest ready job to the claiming worker and charges its
/// organization and workspace, in one statement in the job's workspace scope: the job's
/// queue row and run are locked together (skipped if either is held), the run starts, the
/// fencing token is taken. `None` if every ready job of the workspace is held.
fn take(
    tx: &mut Tx<'_>,
    request: &ClaimRequest<'_>,
    org: &Candidate,
    workspace: &Candidate,
    org_id: OrgId,
    ws_id: WorkspaceId,
) -> Result<Option<LeaseRow>> {
    // The floor moves unless another claim is moving it this moment (it then holds a value
    // as recent). The counters' triggers run after the statement, on the rows it charged.
    let taken = tx.query_first(
        "WITH j AS (
             SELECT q.id FROM sync_queue AS q
             JOIN sync_runs AS r ON r.workspace_id = q.workspace_id AND r.id = q.id
             WHERE q.workspace_id = $1 AND q.org_id = $2 AND q.state = 'queued'
               AND r.status = 'pending'
             ORDER BY q.run_at, q.id LIMIT 1
             FOR UPDATE OF q, r SKIP LOCKED
         ), q AS (
             UPDATE sync_queue AS q SET state = 'running', attempt = q.attempt + 1,
                 lease_token = nextval('sync_queue_tokens'), lease_until = $6, worker = $7
             FROM j
             WHERE q.workspace_id = $1 AND q.id = j.id AND q.org_id = $2 AND q.state = 'queued'
             RETURNING q.id, q.connection_id, q.attempt, q.lease_token
         ), r AS (
             UPDATE sync_runs AS r SET status = 'running' FROM j
             WHERE r.workspace_id = $1 AND r.id = j.id AND r.status = 'pending'
             RETURNING 1
         ), w AS (
             UPDATE sched_workspace SET vtime = vtime + $3::bigint / weight
             WHERE id = $1 AND org_id = $2 AND EXISTS (SELECT 1 FROM j) RETURNING 1
         ), g AS (
             UPDATE sched_global SET org_floor = $5
             WHERE EXISTS (SELECT 1 FROM j)
               AND id = (SELECT id FROM sched_global WHERE id = 1 AND org_floor <> $5
                         FOR UPDATE SKIP LOCKED)
             RETURNING 1
         ), o AS (
             UPDATE sched_org SET vtime = vtime + $3::bigint / weight, ws_floor = $4
             WHERE id = $2 AND EXISTS (SELECT 1 FROM j) RETURNING 1
         )
         SELECT q.id, q.connection_id, q.attempt, q.lease_token,
                (SELECT count(*) FROM r), (SELECT count(*) FROM w), (SELECT count(*) FROM o)
         FROM q",
        &[
            &workspace.id,
            &org.id,
            &VTIME_UNIT,
            &workspace.vtime,
            &org.vtime,
            &request.lease_until.unix_millis(),
            &request.worker,
        ],
        |row| {
            Ok((
                get::<Uuid>(row, 0, "id")?,
                get::<Uuid>(row, 1, "connection_id")?,
                get::<i32>(row, 2, "attempt")?,
                get::<i64>(row, 3, "lease_token")?,
                [
                    get::<i64>(row, 4, "runs started")?,
                    get::<i64>(row, 5, "workspaces charged")?,
                    get::<i64>(row, 6, "organizations charged")?,
                ],
            ))
        },
    )?;
    let Some((job_id, connection_id, attempt, token, changed)) = taken else {
        return Ok(None);
    };
    if changed != [1, 1, 1] {
        return Err(inconsistent("a queued job's run is not pending"));
    }
    Ok(Some(LeaseRow {
        job_id: SyncRunId::from_uuid(job_id).map_err(|_| bad("id"))?,
        org_id,
        workspace_id: ws_id,
        connection_id: ConnectionId::from_uuid(connection_id).map_err(|_| bad("connection_id"))?,
        token: u64::try_from(token).map_err(|_| inconsistent("a negative fencing token"))?,
        attempt: u32::try_from(attempt).map_err(|_| bad("attempt"))?,
        lease_until: request.lease_until,
    }))
}

fn counter(row: &Row) -> Result<SchedCounter> {
    Ok(SchedCounter {
        id: get(row, 0, "id")?,
        queued: u64::try_from(get::<i64>(row, 1, "queued")?).unwrap_or(u64::MAX),
        running: u64::try_from(get::<i64>(row, 2, "running")?).unwrap_or(u64::MAX),
    })
}

/// Stores the queue row of `run`, a pending run just stored in `tenant`: a first attempt,
/// ready at the run's start.
pub(crate) fn insert_queue_row(
    tx: &mut Tx<'_>,
    tenant: &Tenant,
    run: &SyncRun,
    max_attempts: u32,
) -> Result<()> {
    tx.execute(
        "INSERT INTO sync_queue (id, org_id, workspace_id, connection_id, state, attempt,
         max_attempts, run_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6)",
        &[
            run.id.as_uuid(),
            tenant.org_id().as_uuid(),
            tenant.workspace_id().as_uuid(),
            run.connection_id.as_uuid(),
            &count_param(max_attempts),
            &run.started_at.unix_millis(),
        ],
    )?;
    Ok(())
}

/// Queues again, in `into`, a pending run a merge moved there (its queue row left with the
/// merged workspace's runs): a fresh first attempt, as on SQLite.
pub(crate) fn requeue_moved(tx: &mut Tx<'_>, into: &Tenant, run: &SyncRun) -> Result<()> {
    if run.status != SyncStatus::Pending {
        return Ok(());
    }
    insert_queue_row(
        tx,
        into,
        run,
        bulkhead_core::JobSettings::default().max_attempts,
    )
}

impl JobStore for PostgresStore {
    fn enqueue(&self, tenant: &Tenant, run: &SyncRun, max_attempts: u32) -> Result<()> {
        self.pool.write(Scope::tenant(tenant), |tx| {
            let found = tx.query_first(
                "SELECT 1 FROM connections WHERE workspace_id = $1 AND id = $2 AND org_id = $3",
                &[
                    tenant.workspace_id().as_uuid(),
                    run.connection_id.as_uuid(),
                    tenant.org_id().as_uuid(),
                ],
                |_| Ok(()),
            )?;
            if found.is_none() {
                return Err(Error::not_found(ObjectKind::Connection, run.connection_id));
            }
            if !bulkhead_sql::tenant::insert_sync_run_row(tx, tenant, run)? {
                return Err(Error::SyncAlreadyRunning {
                    connection_id: run.connection_id,
                });
            }
            insert_queue_row(tx, tenant, run, max_attempts)?;
            audit::append_if(tx, tenant.org_id(), tenant.audit())
        })
    }

    fn claim(&self, request: &ClaimRequest<'_>) -> Result<Option<LeaseRow>> {
        self.reap_and_promote(&request.reap, request.now)?;
        let started = Instant::now();
        let mut wait_first = false;
        loop {
            match self.claim_pass(request, wait_first)? {
                Pass::Claimed(lease) => return Ok(Some(lease)),
                Pass::Empty => return Ok(None),
                Pass::Contended if started.elapsed() >= CLAIM_PATIENCE => return Ok(None),
                // Held by a claim or a counter update: wait for the first organization's
                // row in the next pass; if that was already done, the rows held were others
                // (a workspace's, a job's), gone in a moment.
                Pass::Contended => {
                    if wait_first {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    wait_first = true;
                }
            }
        }
    }

    fn heartbeat(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        token: u64,
        until: Timestamp,
    ) -> Result<bool> {
        let token = token_param(token)?;
        self.pool.write(Scope::tenant(tenant), |tx| {
            let extended = tx.execute(
                "UPDATE sync_queue SET lease_until = GREATEST(lease_until, $4)
                 WHERE workspace_id = $1 AND id = $2 AND lease_token = $3
                   AND state = 'running' AND org_id = $5",
                &[
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    &token,
                    &until.unix_millis(),
                    tenant.org_id().as_uuid(),
                ],
            )?;
            Ok(extended == 1)
        })
    }

    fn complete(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        token: u64,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        let token = token_param(token)?;
        let (ws, org) = (tenant.workspace_id(), tenant.org_id());
        self.pool.write(Scope::tenant(tenant), |tx| {
            // The run first, then the queue row (the lock order of every job write).
            tx.query_first(
                "SELECT 1 FROM sync_runs WHERE workspace_id = $1 AND id = $2 AND org_id = $3
                 FOR UPDATE",
                &[ws.as_uuid(), id.as_uuid(), org.as_uuid()],
                |_| Ok(()),
            )?;
            let removed = tx.execute(
                "DELETE FROM sync_queue WHERE workspace_id = $1 AND id = $2
                 AND lease_token = $3 AND state = 'running' AND org_id = $4",
                &[ws.as_uuid(), id.as_uuid(), &token, org.as_uuid()],
            )?;
            if removed != 1 {
                return Ok(None);
            }
            let run = tx
                .query_first(
                    concat!(
                        "UPDATE sync_runs SET status = $3, finished_at = $4, rows_synced = $5,",
                        " bytes_synced = $6, error = $7",
                        " WHERE workspace_id = $1 AND id = $2 AND status = 'running'",
                        " RETURNING ",
                        sync_run_columns!()
                    ),
                    &[
                        ws.as_uuid(),
                        id.as_uuid(),
                        &finish.status.as_str(),
                        &finish.finished_at.unix_millis(),
                        &sql_count(finish.rows_synced),
                        &sql_count(finish.bytes_synced),
                        &finish.error.as_deref(),
                    ],
                    rows::sync_run,
                )?
                .ok_or_else(|| inconsistent("a running job's run is not running"))?;
            audit::append_if(tx, org, tenant.audit())?;
            Ok(Some(run))
        })
    }

    fn reap(&self, policy: &ReapPolicy) -> Result<Reaped> {
        let mut reaped = Reaped::default();
        for key in self.due_work(policy.now, true)? {
            if key.state == QueueState::Running {
                match self.reap_one(&key, policy)? {
                    Some(true) => reaped.retried += 1,
                    Some(false) => reaped.failed += 1,
                    None => {}
                }
            }
        }
        Ok(reaped)
    }

    fn queue_row(&self, tenant: &Tenant, id: SyncRunId) -> Result<Option<QueueRow>> {
        self.pool.read(Scope::tenant(tenant), |tx| {
            tx.query_first(
                concat!(
                    "SELECT ",
                    queue_columns!(),
                    " FROM sync_queue WHERE workspace_id = $1 AND id = $2 AND org_id = $3"
                ),
                &[
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    tenant.org_id().as_uuid(),
                ],
                queue_row,
            )
        })
    }

    fn set_org_limits(&self, org: &OrgCtx, limits: &JobLimits) -> Result<()> {
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            tx.execute(
                "INSERT INTO sched_org (id, weight, cap) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET weight = excluded.weight, cap = excluded.cap",
                &[
                    org.org_id().as_uuid(),
                    &count_param(limits.weight),
                    &limits.max_running.map(count_param),
                ],
            )?;
            audit::append_if(tx, org.org_id(), org.audit())
        })
    }

    fn set_workspace_limits(
        &self,
        org: &OrgCtx,
        workspace: WorkspaceId,
        limits: &JobLimits,
    ) -> Result<()> {
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            let mine = tx.query_first(
                "SELECT 1 FROM workspaces WHERE org_id = $1 AND id = $2",
                &[org.org_id().as_uuid(), workspace.as_uuid()],
                |_| Ok(()),
            )?;
            if mine.is_none() {
                return Err(Error::not_found(ObjectKind::Workspace, workspace));
            }
            tx.execute(
                "INSERT INTO sched_workspace (id, org_id, weight, cap) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET weight = excluded.weight, cap = excluded.cap",
                &[
                    workspace.as_uuid(),
                    org.org_id().as_uuid(),
                    &count_param(limits.weight),
                    &limits.max_running.map(count_param),
                ],
            )?;
            audit::append_if(tx, org.org_id(), org.audit())
        })
    }

    fn snapshot(&self) -> Result<QueueSnapshot> {
        self.pool.read(Scope::Queue(None), |tx| {
            let rows = tx.query_all(
                concat!("SELECT ", queue_columns!(), " FROM sync_queue ORDER BY id"),
                &[],
                queue_row,
            )?;
            let orgs = tx.query_all(
                "SELECT id, queued, running FROM sched_org ORDER BY id",
                &[],
                counter,
            )?;
            let workspaces = tx.query_all(
                "SELECT id, queued, running FROM sched_workspace ORDER BY id",
                &[],
                counter,
            )?;
            Ok(QueueSnapshot {
                rows,
                orgs,
                workspaces,
            })
        })
    }
}
