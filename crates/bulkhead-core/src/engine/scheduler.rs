//! The scheduler's tick: due schedules become jobs (see [`crate::port::schedules`]).
//!
//! A tick reads at most [`Engine::TICK_BATCH`] due rows (oldest due first, through the due
//! time's index), and for each one:
//!
//! 1. moves its due time past now ([`Schedule::due_after`]: missed fires collapse into one
//!    job) with a compare-and-set, so of two engines ticking at once one queues it (the
//!    batch's moves in one transaction);
//! 2. queues the sync through [`WorkspaceScope::queue_sync`], the path a manual start takes
//!    (the guard checks the rows, the job is audited `sync.queue` with the actor `system`);
//!    a connection that already has a live job is skipped (the due time has moved on: the
//!    running job stands for this fire), and one that is gone or inactive loses its row.
//!
//! **Where it runs.** [`Worker::claim`](crate::Worker::claim) ticks before it claims, like it
//! reaps: whoever runs workers runs the schedules, with no leader and no extra process. An
//! organization's worker ticks only its organization's schedules. When nothing is due a tick
//! is one read of the index (see `benches/README.md`). [`Engine::tick_schedules`] ticks on
//! demand, for a host whose workers claim rarely.
//!
//! A failure between the compare-and-set and the queuing (a crash) loses that one fire; the
//! schedule fires again at its next due time. It never makes two jobs of one fire.

use std::collections::HashMap;
use std::sync::Arc;

use crate::audit::Actor;
use crate::engine::Engine;
use crate::engine::credential::Held;
use crate::engine::org::OrgScope;
use crate::engine::shared::Inner;
use crate::engine::workspace::WorkspaceScope;
use crate::error::{Error, Result};
use crate::model::ids::{ConnectionId, OrgId};
use crate::model::schedule::Schedule;
use crate::model::time::Timestamp;
use crate::port::schedules::DueSchedule;
use crate::port::tenant::OrgCtx;

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ticked {
    /// Jobs queued.
    pub queued: u64,
    /// Due connections skipped because they had a live job (their due time moved on).
    pub skipped: u64,
    /// Rows removed: the connection was gone, inactive, or no longer scheduled.
    pub cleared: u64,
    /// Whether the tick read a full batch: more may be due now.
    pub more: bool,
}

impl Engine {
    /// Due rows one tick handles at most.
    pub const TICK_BATCH: usize = 256;

    /// Queues a job for each schedule that is due now (at most [`Engine::TICK_BATCH`]; see
    /// [`crate::port::schedules`]). [`Error::NoJobQueue`] if the store has no queue or keeps
    /// no due times.
    pub fn tick_schedules(&self) -> Result<Ticked> {
        self.inner.tick(None, self.inner.now())
    }
}

impl WorkspaceScope {
    /// When the connection `id` of this workspace is next due to sync by its schedule;
    /// `None` if it is manual or inactive (or its workspace is). Another workspace's id is
    /// not found.
    pub fn next_scheduled_sync(&self, id: ConnectionId) -> Result<Option<Timestamp>> {
        self.require(crate::model::operations::Operation::ReadConnections)?;
        self.fetch_connection(id)?;
        Ok(self.rows().schedule(id)?.map(|row| row.due_at))
    }
}

impl Inner {
    /// One tick at `now`, over the organization `org`'s schedules or every one.
    pub(crate) fn tick(self: &Arc<Self>, org: Option<OrgId>, now: Timestamp) -> Result<Ticked> {
        let system = self.storage.system();
        let schedules = system.schedules()?;
        system.jobs()?;
        let due = schedules.due(&self.guard, org, now, Engine::TICK_BATCH, &Actor::System)?;
        let mut ticked = Ticked {
            more: due.len() >= Engine::TICK_BATCH,
            ..Ticked::default()
        };
        let mut moves = Vec::with_capacity(due.len());
        for row in due {
            if row.due_at > now {
                continue;
            }
            let next = row.schedule.due_after(row.due_at, now);
            moves.push((row, next));
        }
        let moved = schedules.advance_all(&moves)?;
        let mut orgs: HashMap<OrgId, OrgScope> = HashMap::new();
        let mut pending = moves
            .iter()
            .zip(moved)
            .filter_map(|((row, next), moved)| moved.then_some((row, *next)));
        while let Some((row, next)) = pending.next() {
            match self.queue_due(&mut orgs, row) {
                Ok(()) => ticked.queued += 1,
                Err(Error::SyncAlreadyRunning { .. }) => ticked.skipped += 1,
                Err(
                    Error::NotFound { .. }
                    | Error::Conflict { .. }
                    | Error::WorkspaceInactive { .. },
                ) => {
                    // Gone, or inactive: it has nothing due. Remove the row if it is still
                    // the one just moved (a write since may have set it again).
                    let moved = DueSchedule {
                        due_at: next.unwrap_or(row.due_at),
                        ..row.clone()
                    };
                    if next.is_none() || schedules.advance(&moved, None)? {
                        ticked.cleared += 1;
                    }
                }
                Err(e) => {
                    // Give this fire and the ones not reached back for the next tick, then
                    // report.
                    for (row, next) in std::iter::once((row, next)).chain(pending) {
                        if let Some(next) = next {
                            let moved = DueSchedule {
                                due_at: next,
                                ..row.clone()
                            };
                            let _ = schedules.advance(&moved, Some(row.due_at));
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(ticked)
    }

    /// Queues the due connection's sync as the system actor, through the path a manual start
    /// takes. `orgs` keeps the organizations' scopes of this tick.
    fn queue_due(
        self: &Arc<Self>,
        orgs: &mut HashMap<OrgId, OrgScope>,
        row: &DueSchedule,
    ) -> Result<()> {
        if matches!(row.schedule, Schedule::Manual) {
            return Err(Error::conflict("the connection is not scheduled"));
        }
        let scope = match orgs.get(&row.org_id) {
            Some(scope) => scope.clone(),
            None => {
                let org = self.organization(row.org_id, &Actor::System)?;
                let scope = OrgScope::new(
                    Arc::clone(self),
                    OrgCtx::new(row.org_id).with_actor(Actor::System),
                    org,
                    Held::operator(),
                );
                orgs.insert(row.org_id, scope.clone());
                scope
            }
        };
        scope
            .workspace(row.workspace_id)?
            .queue_sync(row.connection_id)
            .map(|_| ())
    }
}
