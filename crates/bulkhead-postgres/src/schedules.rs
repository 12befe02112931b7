//! The scheduler's due times on PostgreSQL (see `bulkhead_core::schedules`).
//!
//! `sched_connection` is a tenant table (the tenant policies) that the tick reads and moves
//! across tenants under `bulkhead.operator = 'scheduler'` ([`Scope::Scheduler`]), which lets
//! it see and change that table only. The writes of connections and workspaces keep it in
//! their transactions ([`schedule_connection`], [`unschedule_workspace`]); deleting a
//! connection removes its row by the foreign key. Rows of inactive or deleted workspaces are
//! removed when the workspace changes, so the due query needs no join.

use bulkhead_core::schedules::{DueSchedule, ScheduleStore};
use bulkhead_core::{
    ConnectionId, Error, OrgId, Result, Schedule, StorageError, Tenant, Timestamp, WorkspaceId,
};
use postgres::Row;

use crate::pool::{Scope, Tx};
use crate::{Ctx, PostgresStore};

fn due_row(row: &Row) -> Result<DueSchedule> {
    let bad =
        |what: &str| Error::Storage(StorageError::new(format!("bad {what} in sched_connection")));
    let uuid =
        |i: usize| -> Result<uuid::Uuid> { row.try_get(i).ctx("could not read a scheduled row") };
    let text: String = row.try_get(3).ctx("could not read a schedule")?;
    Ok(DueSchedule {
        org_id: OrgId::from_uuid(uuid(0)?).map_err(|_| bad("org_id"))?,
        workspace_id: WorkspaceId::from_uuid(uuid(1)?).map_err(|_| bad("workspace_id"))?,
        connection_id: ConnectionId::from_uuid(uuid(2)?).map_err(|_| bad("connection_id"))?,
        schedule: Schedule::parse(&text).map_err(|_| bad("schedule"))?,
        due_at: Timestamp::from_unix_millis(row.try_get(4).ctx("could not read a due time")?),
    })
}

/// Sets the due time of the connection `id` of `workspace` (in `org`) for `schedule` set at
/// `now`, or removes it when the schedule is manual or the connection does not run (`runs`
/// false). In the caller's transaction, with the workspace's scope set.
pub(crate) fn schedule_connection(
    tx: &mut Tx<'_>,
    (org, workspace): (OrgId, WorkspaceId),
    id: ConnectionId,
    schedule: &Schedule,
    runs: bool,
    now: Timestamp,
) -> Result<()> {
    match schedule.first_due(now).filter(|_| runs) {
        Some(due) => tx.execute(
            "INSERT INTO sched_connection (workspace_id, connection_id, org_id, schedule, due_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (workspace_id, connection_id)
             DO UPDATE SET schedule = excluded.schedule, due_at = excluded.due_at",
            &[
                workspace.as_uuid(),
                id.as_uuid(),
                org.as_uuid(),
                &schedule.as_text(),
                &due.unix_millis(),
            ],
        )?,
        None => tx.execute(
            "DELETE FROM sched_connection WHERE workspace_id = $1 AND connection_id = $2",
            &[workspace.as_uuid(), id.as_uuid()],
        )?,
    };
    Ok(())
}

/// Removes the due times of the workspace's connections (it was paused or deleted), in the
/// caller's transaction, with the workspace's scope set.
pub(crate) fn unschedule_workspace(tx: &mut Tx<'_>, workspace: WorkspaceId) -> Result<()> {
    tx.execute(
        "DELETE FROM sched_connection WHERE workspace_id = $1",
        &[workspace.as_uuid()],
    )?;
    Ok(())
}

/// The compare-and-set of one row, in the caller's transaction with the scheduler's scope.
fn advance(tx: &mut Tx<'_>, row: &DueSchedule, next: Option<Timestamp>) -> Result<bool> {
    let text = row.schedule.as_text();
    let changed = match next {
        Some(next) => tx.execute(
            "UPDATE sched_connection SET due_at = $5
             WHERE workspace_id = $1 AND connection_id = $2 AND org_id = $3
               AND schedule = $4 AND due_at = $6",
            &[
                row.workspace_id.as_uuid(),
                row.connection_id.as_uuid(),
                row.org_id.as_uuid(),
                &text,
                &next.unix_millis(),
                &row.due_at.unix_millis(),
            ],
        ),
        None => tx.execute(
            "DELETE FROM sched_connection
             WHERE workspace_id = $1 AND connection_id = $2 AND org_id = $3
               AND schedule = $4 AND due_at = $5",
            &[
                row.workspace_id.as_uuid(),
                row.connection_id.as_uuid(),
                row.org_id.as_uuid(),
                &text,
                &row.due_at.unix_millis(),
            ],
        ),
    }?;
    Ok(changed == 1)
}

impl ScheduleStore for PostgresStore {
    fn due_schedules(
        &self,
        org: Option<OrgId>,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueSchedule>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool.read(Scope::Scheduler, |tx| match org {
            None => tx.query_all(
                "SELECT org_id, workspace_id, connection_id, schedule, due_at
                 FROM sched_connection WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
                &[&now.unix_millis(), &limit],
                due_row,
            ),
            Some(org) => tx.query_all(
                "SELECT org_id, workspace_id, connection_id, schedule, due_at
                 FROM sched_connection WHERE org_id = $3 AND due_at <= $1
                 ORDER BY due_at LIMIT $2",
                &[&now.unix_millis(), &limit, org.as_uuid()],
                due_row,
            ),
        })
    }

    fn advance_schedule(&self, row: &DueSchedule, next: Option<Timestamp>) -> Result<bool> {
        self.pool
            .write(Scope::Scheduler, |tx| advance(tx, row, next))
    }

    fn advance_schedules(&self, moves: &[(DueSchedule, Option<Timestamp>)]) -> Result<Vec<bool>> {
        if moves.is_empty() {
            return Ok(Vec::new());
        }
        self.pool.write(Scope::Scheduler, |tx| {
            moves
                .iter()
                .map(|(row, next)| advance(tx, row, *next))
                .collect()
        })
    }

    fn schedule_of(&self, tenant: &Tenant, id: ConnectionId) -> Result<Option<DueSchedule>> {
        self.pool.read(Scope::tenant(tenant), |tx| {
            tx.query_first(
                "SELECT org_id, workspace_id, connection_id, schedule, due_at
                 FROM sched_connection
                 WHERE workspace_id = $1 AND connection_id = $2 AND org_id = $3",
                &[
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    tenant.org_id().as_uuid(),
                ],
                due_row,
            )
        })
    }
}
