//! The job queue on SQLite (see `bulkhead_core::jobs`).
//!
//! The queue tables (`sync_queue`, `sched_org`, `sched_workspace`, `sched_global`, migration
//! 9) hold ids and counters only; the guard lets a SELECT read them only in system mode and
//! lets a write outside system mode touch only the current workspace's queue rows and the
//! current organization's counters. The counters follow the queue rows by triggers, and a run
//! that ends or is deleted leaves the queue by trigger, so no code path (a cancel, a
//! connection deleted with its runs, a purge) can leave them wrong.
//!
//! A claim is one `IMMEDIATE` transaction on the one writer, so it needs no row locks and
//! its fairness is exact: reap expired leases, make due retries ready, then take the
//! organization with the least virtual time (under its cap), its active workspace with the
//! least virtual time (under its cap), and that workspace's oldest ready job. Each level's
//! virtual time grows by `VTIME_UNIT / weight` per claim.

use bulkhead_core::jobs::{
    ClaimRequest, JobLimits, JobStore, LeaseRow, QueueRow, QueueSnapshot, QueueState, ReapPolicy,
    Reaped, SchedCounter,
};
use bulkhead_core::store::SyncFinish;
use bulkhead_core::{
    ConnectionId, Error, ObjectKind, OrgCtx, OrgId, Result, StorageError, SyncRun, SyncRunId,
    SyncStatus, Tenant, Timestamp, WorkspaceId,
};
use rusqlite::{OptionalExtension, Row, params};
use uuid::Uuid;

use crate::guard::Db;
use crate::rows::{self, sql_count, sync_run_columns};
use crate::store::insert_sync_run_row;
use crate::{Ctx, SqliteStore, audit};

/// What one claim adds to the virtual time of an organization or workspace of weight 1.
const VTIME_UNIT: i64 = 1_000_000;

/// Expired leases reaped by one claim at most (the rest by the next ones).
const REAP_BATCH: i64 = 100;

/// `SELECT` of the columns [`queue_row`] decodes, from `sync_queue`: a literal, so that
/// statements built on it with `concat!` stay fixed text.
macro_rules! select_queue {
    () => {
        "SELECT id, org_id, workspace_id, connection_id, state, attempt, \
         max_attempts, run_at, lease_token, lease_until FROM sync_queue"
    };
}

fn queue_row(row: &Row<'_>) -> rusqlite::Result<QueueRow> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Blob,
            format!("bad {what} in sync_queue").into(),
        )
    };
    let state: String = row.get(4)?;
    Ok(QueueRow {
        job_id: SyncRunId::from_uuid(row.get(0)?).map_err(|_| bad(0, "id"))?,
        org_id: OrgId::from_uuid(row.get(1)?).map_err(|_| bad(1, "org_id"))?,
        workspace_id: WorkspaceId::from_uuid(row.get(2)?).map_err(|_| bad(2, "workspace_id"))?,
        connection_id: ConnectionId::from_uuid(row.get(3)?).map_err(|_| bad(3, "connection_id"))?,
        state: QueueState::parse(&state).ok_or_else(|| bad(4, "state"))?,
        attempt: row.get(5)?,
        max_attempts: row.get(6)?,
        run_at: Timestamp::from_unix_millis(row.get(7)?),
        lease_token: row
            .get::<_, Option<i64>>(8)?
            .map(|t| u64::try_from(t).map_err(|_| bad(8, "lease_token")))
            .transpose()?,
        lease_until: row
            .get::<_, Option<i64>>(9)?
            .map(Timestamp::from_unix_millis),
    })
}

fn token_param(token: u64) -> Result<i64> {
    i64::try_from(token).map_err(|_| Error::invalid_input("token", "is not a fencing token"))
}

fn inconsistent(what: &str) -> Error {
    Error::Storage(StorageError::new(format!(
        "the job queue is inconsistent: {what}"
    )))
}

/// Puts expired leases back (or ends their jobs `failed`), in the caller's transaction,
/// which is in system mode.
fn reap_in(db: &Db<'_>, policy: &ReapPolicy) -> Result<Reaped> {
    let expired = db
        .prepare_cached(concat!(
            select_queue!(),
            " WHERE state = 'running' AND lease_until < ?1
             ORDER BY lease_until, id LIMIT ?2"
        ))
        .ctx("could not prepare the reaper's query")?
        .query_map(params![policy.now.unix_millis(), REAP_BATCH], queue_row)
        .ctx("could not find expired leases")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx("could not read an expired lease")?;
    let mut reaped = Reaped::default();
    for row in expired {
        let token = row.lease_token.map(token_param).transpose()?;
        let _org = db.org(row.org_id);
        let _tenant = db.tenant(row.workspace_id);
        if row.attempt >= row.max_attempts {
            // The run's end removes the queue row (trigger `sync_runs_ended`).
            let ended = db
                .prepare_cached(
                    "UPDATE sync_runs SET status = 'failed', finished_at = ?3, error = ?4
                     WHERE workspace_id = ?1 AND id = ?2 AND status = 'running'",
                )
                .ctx("could not prepare the reaper's update")?
                .execute(params![
                    row.workspace_id.as_uuid(),
                    row.job_id.as_uuid(),
                    policy.now.unix_millis(),
                    ReapPolicy::out_of_attempts(row.attempt),
                ])
                .ctx("could not end a job out of attempts")?;
            if ended != 1 {
                return Err(inconsistent("a running job's run is not running"));
            }
            reaped.failed += 1;
        } else {
            let moved = db
                .prepare_cached(
                    "UPDATE sync_queue SET state = 'scheduled', run_at = ?3, lease_token = NULL,
                     lease_until = NULL, worker = NULL
                     WHERE id = ?1 AND lease_token = ?2 AND state = 'running'",
                )
                .ctx("could not prepare the reaper's update")?
                .execute(params![
                    row.job_id.as_uuid(),
                    token,
                    policy.retry_at(row.attempt).unix_millis()
                ])
                .ctx("could not put an expired job back")?;
            let paused = db
                .prepare_cached(
                    "UPDATE sync_runs SET status = 'pending'
                     WHERE workspace_id = ?1 AND id = ?2 AND status = 'running'",
                )
                .ctx("could not prepare the reaper's update")?
                .execute(params![row.workspace_id.as_uuid(), row.job_id.as_uuid()])
                .ctx("could not put an expired job's run back")?;
            if moved != 1 || paused != 1 {
                return Err(inconsistent("a running job's run is not running"));
            }
            reaped.retried += 1;
        }
    }
    Ok(reaped)
}

/// One candidate of a level: its id and virtual time.
struct Candidate {
    id: Uuid,
    vtime: i64,
}

fn candidate(row: &Row<'_>) -> rusqlite::Result<Candidate> {
    Ok(Candidate {
        id: row.get(0)?,
        vtime: row.get(1)?,
    })
}

/// The claim's body, in its transaction, in system mode.
fn claim_in(db: &Db<'_>, request: &ClaimRequest<'_>) -> Result<Option<LeaseRow>> {
    reap_in(db, &request.reap)?;
    db.prepare_cached(
        "UPDATE sync_queue SET state = 'queued' WHERE state = 'scheduled' AND run_at <= ?1",
    )
    .ctx("could not prepare the promotion of due retries")?
    .execute(params![request.now.unix_millis()])
    .ctx("could not make due retries ready")?;
    let org_cap = i64::from(request.org_max_running);
    let ws_cap = i64::from(request.workspace_max_running);
    let orgs = match request.org {
        Some(org) => db
            .prepare_cached(
                "SELECT id, vtime FROM sched_org
                 WHERE id = ?2 AND queued > 0 AND running < coalesce(cap, ?1)",
            )
            .ctx("could not prepare the claim")?
            .query_map(params![org_cap, org.as_uuid()], candidate)
            .ctx("could not pick an organization")?
            .collect::<rusqlite::Result<Vec<_>>>(),
        None => db
            .prepare_cached(
                "SELECT id, vtime FROM sched_org
                 WHERE queued > 0 AND running < coalesce(cap, ?1) ORDER BY vtime, id",
            )
            .ctx("could not prepare the claim")?
            .query_map(params![org_cap], candidate)
            .ctx("could not pick an organization")?
            .collect::<rusqlite::Result<Vec<_>>>(),
    }
    .ctx("could not read an organization's counters")?;
    for org in orgs {
        let workspace = db
            .prepare_cached(
                "SELECT s.id, s.vtime FROM sched_workspace AS s
                 JOIN workspaces AS w ON w.id = s.id
                 WHERE s.org_id = ?1 AND s.queued > 0 AND s.running < coalesce(s.cap, ?2)
                   AND w.org_id = ?1 AND w.status = 'active' AND w.deleted_at IS NULL
                 ORDER BY s.vtime, s.id LIMIT 1",
            )
            .ctx("could not prepare the claim")?
            .query_row(params![org.id, ws_cap], candidate)
            .optional()
            .ctx("could not pick a workspace")?;
        let Some(workspace) = workspace else {
            continue;
        };
        let job = db
            .prepare_cached(concat!(
                select_queue!(),
                " WHERE workspace_id = ?1 AND state = 'queued' ORDER BY run_at, id LIMIT 1"
            ))
            .ctx("could not prepare the claim")?
            .query_row(params![workspace.id], queue_row)
            .optional()
            .ctx("could not pick a job")?
            .ok_or_else(|| inconsistent("a workspace counted as queued has no ready job"))?;
        return take(db, request, &org, &workspace, &job).map(Some);
    }
    Ok(None)
}

/// Gives `job` to the claiming worker and charges its organization and workspace.
fn take(
    db: &Db<'_>,
    request: &ClaimRequest<'_>,
    org: &Candidate,
    workspace: &Candidate,
    job: &QueueRow,
) -> Result<LeaseRow> {
    let token: i64 = db
        .prepare_cached(
            "UPDATE sched_global SET last_token = last_token + 1, org_floor = ?1
             WHERE id = 1 RETURNING last_token",
        )
        .ctx("could not prepare the claim")?
        .query_row(params![org.vtime], |r| r.get(0))
        .ctx("could not take a fencing token")?;
    let attempt: u32 = db
        .prepare_cached(
            "UPDATE sync_queue SET state = 'running', attempt = attempt + 1, lease_token = ?2,
             lease_until = ?3, worker = ?4 WHERE id = ?1 AND state = 'queued'
             RETURNING attempt",
        )
        .ctx("could not prepare the claim")?
        .query_row(
            params![
                job.job_id.as_uuid(),
                token,
                request.lease_until.unix_millis(),
                request.worker
            ],
            |r| r.get(0),
        )
        .ctx("could not lease a job")?;
    db.prepare_cached("UPDATE sched_workspace SET vtime = vtime + ?2 / weight WHERE id = ?1")
        .ctx("could not prepare the claim")?
        .execute(params![workspace.id, VTIME_UNIT])
        .ctx("could not charge a workspace")?;
    db.prepare_cached(
        "UPDATE sched_org SET vtime = vtime + ?2 / weight, ws_floor = ?3 WHERE id = ?1",
    )
    .ctx("could not prepare the claim")?
    .execute(params![org.id, VTIME_UNIT, workspace.vtime])
    .ctx("could not charge an organization")?;
    let _org = db.org(job.org_id);
    let _tenant = db.tenant(job.workspace_id);
    let started = db
        .prepare_cached(
            "UPDATE sync_runs SET status = 'running'
             WHERE workspace_id = ?1 AND id = ?2 AND status = 'pending'",
        )
        .ctx("could not prepare the claim")?
        .execute(params![job.workspace_id.as_uuid(), job.job_id.as_uuid()])
        .ctx("could not start a job's run")?;
    if started != 1 {
        return Err(inconsistent("a queued job's run is not pending"));
    }
    Ok(LeaseRow {
        job_id: job.job_id,
        org_id: job.org_id,
        workspace_id: job.workspace_id,
        connection_id: job.connection_id,
        token: u64::try_from(token).map_err(|_| inconsistent("a negative fencing token"))?,
        attempt,
        lease_until: request.lease_until,
    })
}

/// The counters `sql` reads (`SELECT id, queued, running FROM <table> ORDER BY id`).
fn counters(db: &Db<'_>, sql: &'static str) -> Result<Vec<SchedCounter>> {
    db.prepare_cached(sql)
        .ctx("could not prepare a read of the counters")?
        .query_map([], |r| {
            Ok(SchedCounter {
                id: r.get(0)?,
                queued: r.get::<_, i64>(1)?.try_into().unwrap_or(u64::MAX),
                running: r.get::<_, i64>(2)?.try_into().unwrap_or(u64::MAX),
            })
        })
        .ctx("could not read the counters")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx("could not read a counter")
}

impl JobStore for SqliteStore {
    fn enqueue(&self, tenant: &Tenant, run: &SyncRun, max_attempts: u32) -> Result<()> {
        self.pool.write_tenant(tenant, |tx| {
            let found = tx
                .prepare_cached("SELECT 1 FROM t_connections WHERE workspace_id = ?1 AND id = ?2")
                .ctx("could not prepare a lookup")?
                .query_row(
                    params![tenant.workspace_id().as_uuid(), run.connection_id.as_uuid()],
                    |_| Ok(()),
                )
                .optional()
                .ctx("could not look up a connection")?;
            if found.is_none() {
                return Err(Error::not_found(ObjectKind::Connection, run.connection_id));
            }
            if !insert_sync_run_row(tx, tenant, run)? {
                return Err(Error::SyncAlreadyRunning {
                    connection_id: run.connection_id,
                });
            }
            tx.prepare_cached(
                "INSERT INTO sync_queue (id, org_id, workspace_id, connection_id, state, attempt,
                 max_attempts, run_at) VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?6)",
            )
            .ctx("could not prepare an insert")?
            .execute(params![
                run.id.as_uuid(),
                tenant.org_id().as_uuid(),
                tenant.workspace_id().as_uuid(),
                run.connection_id.as_uuid(),
                max_attempts,
                run.started_at.unix_millis(),
            ])
            .ctx("could not queue the job")?;
            audit::append_if(tx, tenant.org_id(), tenant.audit())
        })
    }

    fn claim(&self, request: &ClaimRequest<'_>) -> Result<Option<LeaseRow>> {
        self.pool.write_system(|db| claim_in(db, request))
    }

    fn heartbeat(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        token: u64,
        until: Timestamp,
    ) -> Result<bool> {
        let token = token_param(token)?;
        self.pool.write_tenant(tenant, |tx| {
            let extended = tx
                .prepare_cached(
                    "UPDATE sync_queue SET lease_until = max(lease_until, ?4)
                     WHERE workspace_id = ?1 AND id = ?2 AND lease_token = ?3
                       AND state = 'running' AND org_id = ?5",
                )
                .ctx("could not prepare a heartbeat")?
                .execute(params![
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    token,
                    until.unix_millis(),
                    tenant.org_id().as_uuid(),
                ])
                .ctx("could not extend a lease")?;
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
        self.pool.write_tenant(tenant, |tx| {
            let removed = tx
                .prepare_cached(
                    "DELETE FROM sync_queue WHERE workspace_id = ?1 AND id = ?2
                     AND lease_token = ?3 AND state = 'running' AND org_id = ?4",
                )
                .ctx("could not prepare a completion")?
                .execute(params![
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    token,
                    tenant.org_id().as_uuid(),
                ])
                .ctx("could not complete a job")?;
            if removed != 1 {
                return Ok(None);
            }
            let run = tx
                .query_first(
                    concat!(
                        "UPDATE sync_runs SET status = ?3, finished_at = ?4, rows_synced = ?5,",
                        " bytes_synced = ?6, error = ?7",
                        " WHERE workspace_id = ?1 AND id = ?2 AND status = 'running'",
                        " RETURNING ",
                        sync_run_columns!()
                    ),
                    params![
                        tenant.workspace_id().as_uuid(),
                        id.as_uuid(),
                        finish.status.as_str(),
                        finish.finished_at.unix_millis(),
                        sql_count(finish.rows_synced),
                        sql_count(finish.bytes_synced),
                        finish.error.as_deref(),
                    ],
                    rows::sync_run,
                )?
                .ok_or_else(|| inconsistent("a running job's run is not running"))?;
            audit::append_if(tx, tenant.org_id(), tenant.audit())?;
            Ok(Some(run))
        })
    }

    fn reap(&self, policy: &ReapPolicy) -> Result<Reaped> {
        self.pool.write_system(|db| reap_in(db, policy))
    }

    fn queue_row(&self, tenant: &Tenant, id: SyncRunId) -> Result<Option<QueueRow>> {
        self.pool.read_system(|db| {
            db.prepare_cached(concat!(
                select_queue!(),
                " WHERE workspace_id = ?1 AND id = ?2 AND org_id = ?3"
            ))
            .ctx("could not prepare a read of the queue")?
            .query_row(
                params![
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    tenant.org_id().as_uuid()
                ],
                queue_row,
            )
            .optional()
            .ctx("could not read the queue")
        })
    }

    fn set_org_limits(&self, org: &OrgCtx, limits: &JobLimits) -> Result<()> {
        self.pool.write_org(org.org_id(), |tx| {
            tx.prepare_cached(
                "INSERT INTO sched_org (id, weight, cap) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET weight = excluded.weight, cap = excluded.cap",
            )
            .ctx("could not prepare the limits")?
            .execute(params![
                org.org_id().as_uuid(),
                limits.weight,
                limits.max_running
            ])
            .ctx("could not store the limits")?;
            audit::append_if(tx, org.org_id(), org.audit())
        })
    }

    fn set_workspace_limits(
        &self,
        org: &OrgCtx,
        workspace: WorkspaceId,
        limits: &JobLimits,
    ) -> Result<()> {
        self.pool.write_org(org.org_id(), |tx| {
            let mine = tx
                .prepare_cached("SELECT 1 FROM o_workspaces WHERE id = ?1")
                .ctx("could not prepare a lookup")?
                .query_row(params![workspace.as_uuid()], |_| Ok(()))
                .optional()
                .ctx("could not look up a workspace")?;
            if mine.is_none() {
                return Err(Error::not_found(ObjectKind::Workspace, workspace));
            }
            tx.prepare_cached(
                "INSERT INTO sched_workspace (id, org_id, weight, cap) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET weight = excluded.weight, cap = excluded.cap",
            )
            .ctx("could not prepare the limits")?
            .execute(params![
                workspace.as_uuid(),
                org.org_id().as_uuid(),
                limits.weight,
                limits.max_running
            ])
            .ctx("could not store the limits")?;
            audit::append_if(tx, org.org_id(), org.audit())
        })
    }

    fn snapshot(&self) -> Result<QueueSnapshot> {
        self.pool.read_system(|db| {
            let rows = db
                .prepare_cached(concat!(select_queue!(), " ORDER BY id"))
                .ctx("could not prepare a read of the queue")?
                .query_map([], queue_row)
                .ctx("could not read the queue")?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx("could not read a queue row")?;
            Ok(QueueSnapshot {
                rows,
                orgs: counters(db, "SELECT id, queued, running FROM sched_org ORDER BY id")?,
                workspaces: counters(
                    db,
                    "SELECT id, queued, running FROM sched_workspace ORDER BY id",
                )?,
            })
        })
    }
}

/// Queues again, in `into`, a pending run a merge moved there (its queue row left with the
/// merged workspace's runs): a fresh first attempt.
pub(crate) fn requeue_moved(tx: &Db<'_>, into: &Tenant, run: &SyncRun) -> Result<()> {
    if run.status != SyncStatus::Pending {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO sync_queue (id, org_id, workspace_id, connection_id, state, attempt,
         max_attempts, run_at) VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?6)",
    )
    .ctx("could not prepare an insert")?
    .execute(params![
        run.id.as_uuid(),
        into.org_id().as_uuid(),
        into.workspace_id().as_uuid(),
        run.connection_id.as_uuid(),
        bulkhead_core::JobSettings::default().max_attempts,
        run.started_at.unix_millis(),
    ])
    .ctx("could not queue a moved job")?;
    Ok(())
}
