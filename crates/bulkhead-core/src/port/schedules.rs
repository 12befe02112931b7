//! The scheduler's storage port: each scheduled connection's next due time.
//!
//! A connection whose [`Schedule`] is cron or an interval, and which is active, has one row:
//! its ids, its schedule's text and when it is due next. The adapter keeps the row in the
//! same transaction as the write that changes what it depends on:
//!
//! - creating a scheduled connection (directly, from a template, or moved by a merge) sets
//!   it to [`Schedule::first_due`] of the write's time;
//! - setting a connection's schedule or status sets it again (or removes it, when the
//!   schedule is manual or the connection inactive); a rename leaves it;
//! - a workspace made active again sets it for each connection it resumes;
//! - pausing a connection (by itself or with its workspace), deleting it, and deleting its
//!   workspace remove it.
//!
//! The tick ([`crate::Engine::tick_schedules`]) reads the due rows across tenants, oldest due
//! first and bounded, through an index on the due time; it moves them past now with a
//! compare-and-set each, all in one transaction ([`ScheduleStore::advance_schedules`]),
//! before it queues their jobs, so two engines ticking at once queue a due time once.

use std::fmt;

use crate::error::Result;
use crate::model::ids::{ConnectionId, OrgId, WorkspaceId};
use crate::model::schedule::Schedule;
use crate::model::time::Timestamp;
use crate::port::tenant::Tenant;

/// A scheduled connection's row: ids, schedule, next due time. No configuration, no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueSchedule {
    /// Its organization.
    pub org_id: OrgId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// The connection.
    pub connection_id: ConnectionId,
    /// Its schedule as stored (cron or interval).
    pub schedule: Schedule,
    /// When it is due.
    pub due_at: Timestamp,
}

/// The scheduler's storage port. A [`crate::Store`] that has one returns it from
/// [`crate::store::SystemStore::schedules`].
pub trait ScheduleStore: Send + Sync + fmt::Debug {
    /// Up to `limit` rows due at `now` (`due_at <= now`), oldest due first, of active
    /// workspaces that are not deleted; only the organization `org`'s when given. The only
    /// cross-tenant read of the scheduler.
    fn due_schedules(
        &self,
        org: Option<OrgId>,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueSchedule>>;

    /// Moves `row` to be due at `next`, or removes it when `next` is `None`, if it is still
    /// as read (same schedule, same due time); `false`, changing nothing, if another tick or
    /// a write moved it since.
    fn advance_schedule(&self, row: &DueSchedule, next: Option<Timestamp>) -> Result<bool>;

    /// [`ScheduleStore::advance_schedule`] for each of `moves`, in one transaction: whether
    /// each one moved, in order.
    fn advance_schedules(&self, moves: &[(DueSchedule, Option<Timestamp>)]) -> Result<Vec<bool>>;

    /// The row of the tenant's connection `id`, if it is scheduled.
    fn schedule_of(&self, tenant: &Tenant, id: ConnectionId) -> Result<Option<DueSchedule>>;
}
