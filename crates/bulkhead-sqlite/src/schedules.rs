//! The scheduler's due times on SQLite (see `bulkhead_core::schedules`).
//!
//! `sched_connection` (migration 10) holds, for each active scheduled connection, its ids,
//! its schedule's text and its next due time, ids and times only. Like the job queue's
//! tables, the guard lets a SELECT read it only in system mode, and a write outside system
//! mode touch only the current workspace's rows. The writes of connections and workspaces
//! keep it in their transactions: [`schedule_connection`] sets or removes a connection's row,
//! and triggers remove it when the connection is paused or deleted. The tick reads it through
//! the index on `due_at`.

use bulkhead_core::schedules::{DueSchedule, ScheduleStore};
use bulkhead_core::{
    ConnectionId, Error, OrgId, Result, Schedule, StorageError, Tenant, Timestamp, WorkspaceId,
};
use rusqlite::{OptionalExtension, Row, params};
use uuid::Uuid;

use crate::guard::Db;
use crate::{Ctx, SqliteStore};

/// `SELECT` of the columns [`due_row`] decodes, from `sched_connection`: a literal, so that
/// statements built on it with `concat!` stay fixed text.
macro_rules! select_schedule {
    () => {
        "SELECT org_id, workspace_id, connection_id, schedule, due_at FROM sched_connection"
    };
}

fn due_row(row: &Row<'_>) -> Result<DueSchedule> {
    let bad =
        |what: &str| Error::Storage(StorageError::new(format!("bad {what} in sched_connection")));
    let uuid = |i: usize| -> Result<Uuid> { row.get(i).ctx("could not read a scheduled row") };
    let text: String = row.get(3).ctx("could not read a schedule")?;
    Ok(DueSchedule {
        org_id: OrgId::from_uuid(uuid(0)?).map_err(|_| bad("org_id"))?,
        workspace_id: WorkspaceId::from_uuid(uuid(1)?).map_err(|_| bad("workspace_id"))?,
        connection_id: ConnectionId::from_uuid(uuid(2)?).map_err(|_| bad("connection_id"))?,
        schedule: Schedule::parse(&text).map_err(|_| bad("schedule"))?,
        due_at: Timestamp::from_unix_millis(row.get(4).ctx("could not read a due time")?),
    })
}

/// Sets the due time of the connection `id` of `workspace` (in `org`) for `schedule` set at
/// `now`, or removes it when the schedule is manual or the connection does not run (`runs`
/// false). In the caller's transaction, inside the workspace.
pub(crate) fn schedule_connection(
    tx: &Db<'_>,
    (org, workspace): (OrgId, WorkspaceId),
    id: ConnectionId,
    schedule: &Schedule,
    runs: bool,
    now: Timestamp,
) -> Result<()> {
    match schedule.first_due(now).filter(|_| runs) {
        Some(due) => tx
            .prepare_cached(
                "INSERT INTO sched_connection (workspace_id, connection_id, org_id, schedule,
                 due_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (workspace_id, connection_id)
                 DO UPDATE SET schedule = excluded.schedule, due_at = excluded.due_at",
            )
            .ctx("could not prepare a schedule's write")?
            .execute(params![
                workspace.as_uuid(),
                id.as_uuid(),
                org.as_uuid(),
                schedule.as_text(),
                due.unix_millis(),
            ])
            .ctx("could not store a connection's due time")?,
        None => tx
            .prepare_cached(
                "DELETE FROM sched_connection WHERE workspace_id = ?1 AND connection_id = ?2",
            )
            .ctx("could not prepare a schedule's removal")?
            .execute(params![workspace.as_uuid(), id.as_uuid()])
            .ctx("could not remove a connection's due time")?,
    };
    Ok(())
}

/// Removes the due times of the workspace's connections (the workspace was deleted), in the
/// caller's transaction, inside the workspace.
pub(crate) fn unschedule_workspace(tx: &Db<'_>, workspace: WorkspaceId) -> Result<()> {
    let _scope = tx.tenant(workspace);
    tx.prepare_cached("DELETE FROM sched_connection WHERE workspace_id = ?1")
        .ctx("could not prepare a schedule's removal")?
        .execute(params![workspace.as_uuid()])
        .ctx("could not remove a workspace's due times")?;
    Ok(())
}

/// Gives each scheduled, active connection of a database from before migration 10 its first
/// due time from `now`. Runs in that migration's transaction, on the unrestricted connection.
pub(crate) fn backfill(tx: &rusqlite::Transaction<'_>, now: Timestamp) -> Result<()> {
    /// A scheduled connection: workspace id, id, organization id, schedule.
    type Scheduled = (Vec<u8>, Vec<u8>, Vec<u8>, String);
    let rows: Vec<Scheduled> = tx
        .prepare(
            "SELECT workspace_id, id, org_id, schedule FROM connections
             WHERE status = 'active' AND schedule <> 'manual'",
        )
        .ctx("could not prepare the schedules' backfill")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .ctx("could not read the scheduled connections")?
        .collect::<rusqlite::Result<_>>()
        .ctx("could not read a scheduled connection")?;
    for (workspace, id, org, text) in rows {
        // A stored schedule that no longer parses is left unscheduled, as the engine would
        // refuse it.
        let Some(due) = Schedule::parse(&text).ok().and_then(|s| s.first_due(now)) else {
            continue;
        };
        tx.execute(
            "INSERT INTO sched_connection (workspace_id, connection_id, org_id, schedule, due_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![workspace, id, org, text, due.unix_millis()],
        )
        .ctx("could not store a connection's first due time")?;
    }
    Ok(())
}

/// The compare-and-set of one row, in the caller's system-mode transaction.
fn advance(db: &Db<'_>, row: &DueSchedule, next: Option<Timestamp>) -> Result<bool> {
    let changed = match next {
        Some(next) => db
            .prepare_cached(
                "UPDATE sched_connection SET due_at = ?5
                 WHERE workspace_id = ?1 AND connection_id = ?2 AND org_id = ?3
                   AND schedule = ?4 AND due_at = ?6",
            )
            .ctx("could not prepare a schedule's advance")?
            .execute(params![
                row.workspace_id.as_uuid(),
                row.connection_id.as_uuid(),
                row.org_id.as_uuid(),
                row.schedule.as_text(),
                next.unix_millis(),
                row.due_at.unix_millis(),
            ]),
        None => db
            .prepare_cached(
                "DELETE FROM sched_connection
                 WHERE workspace_id = ?1 AND connection_id = ?2 AND org_id = ?3
                   AND schedule = ?4 AND due_at = ?5",
            )
            .ctx("could not prepare a schedule's removal")?
            .execute(params![
                row.workspace_id.as_uuid(),
                row.connection_id.as_uuid(),
                row.org_id.as_uuid(),
                row.schedule.as_text(),
                row.due_at.unix_millis(),
            ]),
    }
    .ctx("could not advance a schedule")?;
    Ok(changed == 1)
}

impl ScheduleStore for SqliteStore {
    fn due_schedules(
        &self,
        org: Option<OrgId>,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueSchedule>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool.read_system(|db| match org {
            None => db.query_all(
                "SELECT s.org_id, s.workspace_id, s.connection_id, s.schedule, s.due_at
                 FROM sched_connection AS s JOIN workspaces AS w ON w.id = s.workspace_id
                 WHERE s.due_at <= ?1 AND w.org_id = s.org_id AND w.status = 'active'
                   AND w.deleted_at IS NULL
                 ORDER BY s.due_at LIMIT ?2",
                params![now.unix_millis(), limit],
                due_row,
            ),
            Some(org) => db.query_all(
                "SELECT s.org_id, s.workspace_id, s.connection_id, s.schedule, s.due_at
                 FROM sched_connection AS s JOIN workspaces AS w ON w.id = s.workspace_id
                 WHERE s.org_id = ?3 AND s.due_at <= ?1 AND w.org_id = s.org_id
                   AND w.status = 'active' AND w.deleted_at IS NULL
                 ORDER BY s.due_at LIMIT ?2",
                params![now.unix_millis(), limit, org.as_uuid()],
                due_row,
            ),
        })
    }

    fn advance_schedule(&self, row: &DueSchedule, next: Option<Timestamp>) -> Result<bool> {
        self.pool.write_system(|db| advance(db, row, next))
    }

    fn advance_schedules(&self, moves: &[(DueSchedule, Option<Timestamp>)]) -> Result<Vec<bool>> {
        if moves.is_empty() {
            return Ok(Vec::new());
        }
        self.pool.write_system(|db| {
            moves
                .iter()
                .map(|(row, next)| advance(db, row, *next))
                .collect()
        })
    }

    fn schedule_of(&self, tenant: &Tenant, id: ConnectionId) -> Result<Option<DueSchedule>> {
        self.pool.read_system(|db| {
            db.prepare_cached(concat!(
                select_schedule!(),
                " WHERE workspace_id = ?1 AND connection_id = ?2 AND org_id = ?3"
            ))
            .ctx("could not prepare a read of a schedule")?
            .query_row(
                params![
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    tenant.org_id().as_uuid()
                ],
                |r| Ok(due_row(r)),
            )
            .optional()
            .ctx("could not read a schedule")?
            .transpose()
        })
    }
}
