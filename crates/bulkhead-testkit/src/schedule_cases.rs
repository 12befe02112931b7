//! Behaviours of the scheduler (see `bulkhead_core::schedules`) that every adapter must show,
//! one function each, run by the adapter's tests on a fresh [`Harness`] over any
//! [`bulkhead_core::Store`].
//!
//! Two groups: the **due times** (`due_*` functions) need only the store's scheduler port
//! ([`bulkhead_core::store::SystemStore::schedules`]); the **tick** (`tick_*` functions) needs its job queue
//! too ([`bulkhead_core::store::SystemStore::jobs`]).

use std::time::Duration;

use bulkhead_core::audit::AuditFilter;
use bulkhead_core::{
    Connection, ConnectionStatus, ConnectionUpdate, Engine, Error, JobStatus, NewConnection, Page,
    Schedule, SyncStatus, Timestamp, WorkspaceScope, WorkspaceStatus, WorkspaceUpdate,
};

use crate::conformance::{
    Harness, START, install_catalog, new_org, raw_destination, raw_source, workspace,
};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A connection of `ws` with `schedule`.
fn scheduled(ws: &WorkspaceScope, name: &str, schedule: &str) -> Connection {
    let source = ws.create_source(raw_source(name)).unwrap();
    let destination = ws.create_destination(raw_destination(name)).unwrap();
    ws.create_connection(NewConnection {
        name: name.parse().unwrap(),
        source_id: source.id,
        destination_id: destination.id,
        schedule: Schedule::parse(schedule).unwrap(),
    })
    .unwrap()
}

fn set_schedule(ws: &WorkspaceScope, c: &Connection, schedule: &str) -> Connection {
    ws.update_connection(
        c.id,
        &ConnectionUpdate {
            schedule: Some(Schedule::parse(schedule).unwrap()),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap()
}

fn set_status(ws: &WorkspaceScope, c: &Connection, status: ConnectionStatus) {
    ws.update_connection(
        c.id,
        &ConnectionUpdate {
            status: Some(status),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap();
}

fn workspace_status(status: WorkspaceStatus) -> WorkspaceUpdate {
    WorkspaceUpdate {
        status: Some(status),
        ..WorkspaceUpdate::default()
    }
}

fn live_jobs(ws: &WorkspaceScope, c: &Connection) -> usize {
    ws.list_sync_runs(c.id, &Page::first(100))
        .unwrap()
        .items
        .iter()
        .filter(|r| !r.status.is_finished())
        .count()
}

// ---------------------------------------------------------------------------------------
// Due times: need the scheduler's port only.

/// A connection's due time is set when it is created, and again when its schedule or status
/// is set: the next cron minute, or one interval from now; a rename keeps it; manual or
/// inactive has none; deleting the connection removes it.
pub fn due_times_follow_the_connection_s_schedule_and_status(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    h.clock.set(at("2026-01-01T00:07:30Z"));
    let c = scheduled(&ws, "c", "*/15 * * * *");
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(at("2026-01-01T00:15:00Z"))
    );
    h.clock.set(at("2026-01-01T00:09:00Z"));
    ws.update_connection(
        c.id,
        &ConnectionUpdate {
            name: Some("renamed".parse().unwrap()),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap();
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(at("2026-01-01T00:15:00Z"))
    );
    set_schedule(&ws, &c, "every 2 hours");
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(at("2026-01-01T02:09:00Z"))
    );
    set_schedule(&ws, &c, "manual");
    assert_eq!(ws.next_scheduled_sync(c.id).unwrap(), None);
    set_schedule(&ws, &c, "0 3 * * *");
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(at("2026-01-01T03:00:00Z"))
    );
    set_status(&ws, &c, ConnectionStatus::Inactive);
    assert_eq!(ws.next_scheduled_sync(c.id).unwrap(), None);
    h.clock.set(at("2026-01-02T05:00:00Z"));
    set_status(&ws, &c, ConnectionStatus::Active);
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(at("2026-01-03T03:00:00Z"))
    );
    let manual = scheduled(&ws, "m", "manual");
    assert_eq!(ws.next_scheduled_sync(manual.id).unwrap(), None);
    ws.delete_connection(c.id).unwrap();
    assert!(matches!(
        ws.next_scheduled_sync(c.id),
        Err(Error::NotFound { .. })
    ));
}

/// A workspace made inactive pauses its connections and their due times go; made active
/// again, each resumed connection is due from then. Connections made from templates get
/// their template's schedule and a due time.
pub fn due_times_pause_and_resume_with_their_workspace(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let c = scheduled(&ws, "c", "every 30 minutes");
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(START.plus(Duration::from_secs(1800)))
    );
    org.update_workspace(
        ws.workspace_id(),
        &workspace_status(WorkspaceStatus::Inactive),
    )
    .unwrap();
    let read = org.workspace(ws.workspace_id()).unwrap();
    assert_eq!(read.next_scheduled_sync(c.id).unwrap(), None);
    h.clock.advance(Duration::from_secs(3 * 3600));
    org.update_workspace(
        ws.workspace_id(),
        &workspace_status(WorkspaceStatus::Active),
    )
    .unwrap();
    let ws = org.workspace(ws.workspace_id()).unwrap();
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(START.plus(Duration::from_secs(3 * 3600 + 1800)))
    );
    // A connection from a template: the catalog's connection template is hourly.
    let catalog = install_catalog(h, &org);
    let made = ws
        .create_source_from_template(crate::conformance::from_template(
            catalog.source_templates()[0],
            "acct",
        ))
        .unwrap();
    assert!(made.connections.iter().any(|c| c.schedule.is_scheduled()));
    for connection in &made.connections {
        assert_eq!(
            ws.next_scheduled_sync(connection.id).unwrap(),
            connection.schedule.first_due(connection.created_at),
        );
    }
}

/// A connection's due time is its workspace's: another workspace's connection id, of this
/// organization or another, is not found.
pub fn due_times_are_seen_by_their_own_workspace_only(h: &Harness) {
    let (acme, _) = new_org(h, "Acme");
    let (other, _) = new_org(h, "Other");
    let mine = workspace(&acme, "cust-1");
    let sibling = workspace(&acme, "cust-2");
    let theirs = workspace(&other, "cust-1");
    let c = scheduled(&mine, "c", "0 * * * *");
    assert!(mine.next_scheduled_sync(c.id).unwrap().is_some());
    for ws in [&sibling, &theirs] {
        assert!(matches!(
            ws.next_scheduled_sync(c.id),
            Err(Error::NotFound { .. })
        ));
    }
}

/// The store's due listing (the tick's only cross-tenant read) returns the rows due at the
/// time asked, oldest due first, bounded, of every organization or of one; the
/// compare-and-set moves a row only while it is as read.
pub fn due_rows_list_oldest_first_bounded_and_by_organization(h: &Harness) {
    let (acme, _) = new_org(h, "Acme");
    let (other, _) = new_org(h, "Other");
    let acme_ws = workspace(&acme, "cust-1");
    let other_ws = workspace(&other, "cust-1");
    let a1 = scheduled(&acme_ws, "a1", "every 3 minutes");
    let a2 = scheduled(&acme_ws, "a2", "every 1 minute");
    let b1 = scheduled(&other_ws, "b1", "every 2 minutes");
    scheduled(&other_ws, "later", "every 1 day");
    let store = h.store().schedules().expect("the store keeps due times");
    let minutes = |n: u64| START.plus(Duration::from_secs(60 * n));
    let ids = |rows: &[bulkhead_core::DueSchedule]| {
        rows.iter().map(|r| r.connection_id).collect::<Vec<_>>()
    };
    assert!(store.due_schedules(None, START, 10).unwrap().is_empty());
    let due = store.due_schedules(None, minutes(3), 10).unwrap();
    assert_eq!(ids(&due), [a2.id, b1.id, a1.id]);
    assert_eq!(due[1].org_id, other.org_id());
    assert_eq!(due[1].workspace_id, other_ws.workspace_id());
    assert_eq!(due[1].due_at, minutes(2));
    assert_eq!(due[1].schedule.as_text(), "every 2 minutes");
    assert_eq!(
        ids(&store.due_schedules(None, minutes(3), 2).unwrap()),
        [a2.id, b1.id]
    );
    assert_eq!(
        ids(&store
            .due_schedules(Some(acme.org_id()), minutes(3), 10)
            .unwrap()),
        [a2.id, a1.id]
    );
    // Moved once; the same read cannot move it again.
    let row = &due[0];
    assert!(store.advance_schedule(row, Some(minutes(4))).unwrap());
    assert!(!store.advance_schedule(row, Some(minutes(5))).unwrap());
    assert_eq!(
        acme_ws.next_scheduled_sync(a2.id).unwrap(),
        Some(minutes(4))
    );
    // A schedule changed since the read is not moved by it either.
    let b1_row = &due[1];
    set_schedule(&other_ws, &b1, "every 7 minutes");
    assert!(!store.advance_schedule(b1_row, None).unwrap());
    assert!(other_ws.next_scheduled_sync(b1.id).unwrap().is_some());
    // A batch moves each row that is as read, and says which.
    let a1_row = due[2].clone();
    let moved = store
        .advance_schedules(&[
            (row.clone(), Some(minutes(9))),
            (a1_row, None),
            (b1_row.clone(), Some(minutes(9))),
        ])
        .unwrap();
    assert_eq!(moved, [false, true, false]);
    assert_eq!(acme_ws.next_scheduled_sync(a1.id).unwrap(), None);
    assert_eq!(
        acme_ws.next_scheduled_sync(a2.id).unwrap(),
        Some(minutes(4))
    );
    assert!(store.advance_schedules(&[]).unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// The tick: needs the job queue too.

/// Before its due time a tick queues nothing; 35 minutes after it, one job (the missed fires
/// collapse), audited `sync.queue` as `system`, and the due time moves to the first fire
/// past now; a second tick queues nothing.
pub fn tick_queues_one_job_per_due_connection_and_collapses_missed_fires(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let c = scheduled(&ws, "c", "*/10 * * * *");
    let manual = scheduled(&ws, "m", "manual");
    let engine = h.engine();
    h.clock.set(at("2026-01-01T00:09:59Z"));
    assert_eq!(engine.tick_schedules().unwrap().queued, 0);
    assert_eq!(live_jobs(&ws, &c), 0);
    h.clock.set(at("2026-01-01T00:45:00Z"));
    let ticked = engine.tick_schedules().unwrap();
    assert_eq!((ticked.queued, ticked.skipped, ticked.more), (1, 0, false));
    let runs = ws.list_sync_runs(c.id, &Page::first(10)).unwrap().items;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, SyncStatus::Pending);
    assert_eq!(ws.job(runs[0].id).unwrap().status, JobStatus::Pending);
    assert_eq!(live_jobs(&ws, &manual), 0);
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(at("2026-01-01T00:50:00Z"))
    );
    assert_eq!(engine.tick_schedules().unwrap().queued, 0);
    let events = org
        .audit_events(
            &AuditFilter {
                action: Some("sync.queue".to_owned()),
                ..AuditFilter::default()
            },
            &Page::first(10),
        )
        .unwrap()
        .items;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].draft.actor, "system");
    assert_eq!(events[0].draft.workspace_id, Some(ws.workspace_id()));
}

/// A due connection that still has a live job gets no second one (not an error): the tick
/// skips it and its due time moves on.
pub fn tick_skips_a_connection_with_a_live_job_and_moves_its_due_time(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let c = scheduled(&ws, "c", "every 1 hour");
    let manual = ws.queue_sync(c.id).unwrap();
    h.clock.advance(Duration::from_secs(3600));
    let ticked = h.engine().tick_schedules().unwrap();
    assert_eq!((ticked.queued, ticked.skipped), (0, 1));
    assert_eq!(live_jobs(&ws, &c), 1);
    assert_eq!(
        ws.next_scheduled_sync(c.id).unwrap(),
        Some(START.plus(Duration::from_secs(2 * 3600)))
    );
    // Once the live job ends, the next due time makes a job again.
    ws.cancel_job(manual.run.id).unwrap();
    h.clock.advance(Duration::from_secs(3600));
    assert_eq!(h.engine().tick_schedules().unwrap().queued, 1);
    assert_eq!(live_jobs(&ws, &c), 1);
}

/// Paused, manual and deleted connections, and inactive or deleted workspaces, have nothing
/// due: a clock jump far past every due time queues only the active scheduled connection of
/// the active workspace.
pub fn tick_queues_nothing_for_paused_manual_deleted_or_retired(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let paused_ws = workspace(&org, "cust-2");
    let deleted_ws = workspace(&org, "cust-3");
    let runs = scheduled(&ws, "runs", "every 5 minutes");
    let paused = scheduled(&ws, "paused", "every 5 minutes");
    let made_manual = scheduled(&ws, "manual", "every 5 minutes");
    let deleted = scheduled(&ws, "deleted", "every 5 minutes");
    let in_paused_ws = scheduled(&paused_ws, "p", "every 5 minutes");
    scheduled(&deleted_ws, "d", "every 5 minutes");
    set_status(&ws, &paused, ConnectionStatus::Inactive);
    set_schedule(&ws, &made_manual, "manual");
    ws.delete_connection(deleted.id).unwrap();
    org.update_workspace(
        paused_ws.workspace_id(),
        &workspace_status(WorkspaceStatus::Inactive),
    )
    .unwrap();
    org.delete_workspace(deleted_ws.workspace_id()).unwrap();
    h.clock.advance(Duration::from_secs(24 * 3600));
    let ticked = h.engine().tick_schedules().unwrap();
    assert_eq!(ticked.queued, 1);
    assert_eq!(live_jobs(&ws, &runs), 1);
    assert_eq!(live_jobs(&ws, &paused), 0);
    assert_eq!(live_jobs(&ws, &made_manual), 0);
    // The paused workspace, active again, is due one interval after it resumed.
    org.update_workspace(
        paused_ws.workspace_id(),
        &workspace_status(WorkspaceStatus::Active),
    )
    .unwrap();
    let paused_ws = org.workspace(paused_ws.workspace_id()).unwrap();
    assert_eq!(h.engine().tick_schedules().unwrap().queued, 0);
    h.clock.advance(Duration::from_secs(300));
    assert_eq!(h.engine().tick_schedules().unwrap().queued, 1);
    assert_eq!(live_jobs(&paused_ws, &in_paused_ws), 1);
}

/// A worker's claim ticks first, so workers alone run the schedules: the due job is claimed
/// at once. An organization's worker ticks only its own organization's schedules.
pub fn tick_runs_inside_a_worker_s_claim(h: &Harness) {
    let (acme, _) = new_org(h, "Acme");
    let (other, _) = new_org(h, "Other");
    let acme_ws = workspace(&acme, "cust-1");
    let other_ws = workspace(&other, "cust-1");
    let a = scheduled(&acme_ws, "a", "every 10 minutes");
    let b = scheduled(&other_ws, "b", "every 10 minutes");
    h.clock.advance(Duration::from_secs(600));
    let claimed = acme.worker("w").unwrap().claim().unwrap().unwrap();
    assert_eq!(claimed.connection.id, a.id);
    assert_eq!(live_jobs(&other_ws, &b), 0);
    let claimed = other.worker("w").unwrap().claim().unwrap().unwrap();
    assert_eq!(claimed.connection.id, b.id);
}

/// One tick handles at most [`Engine::TICK_BATCH`] due connections, oldest due first, and
/// says when more are due; the next tick takes the rest.
pub fn tick_is_bounded_per_call(h: &Harness) {
    let (org, _) = new_org(h, "Acme");
    let ws = workspace(&org, "cust-1");
    let source = ws.create_source(raw_source("s")).unwrap();
    let destination = ws.create_destination(raw_destination("d")).unwrap();
    let extra = 3;
    let total = Engine::TICK_BATCH + extra;
    let mut first = None;
    for i in 0..total {
        // The first one is due earliest.
        let schedule = if i == 0 {
            "every 1 minute"
        } else {
            "every 2 minutes"
        };
        let c = ws
            .create_connection(NewConnection {
                name: format!("c{i}").parse().unwrap(),
                source_id: source.id,
                destination_id: destination.id,
                schedule: Schedule::parse(schedule).unwrap(),
            })
            .unwrap();
        first.get_or_insert(c);
    }
    h.clock.advance(Duration::from_secs(120));
    let ticked = h.engine().tick_schedules().unwrap();
    assert_eq!(ticked.queued, Engine::TICK_BATCH as u64);
    assert!(ticked.more);
    assert_eq!(live_jobs(&ws, &first.unwrap()), 1);
    let ticked = h.engine().tick_schedules().unwrap();
    assert_eq!(ticked.queued, extra as u64);
    assert!(!ticked.more);
}

/// Expands to one `#[test]` per case of this module, each calling it with a new harness from
/// `$harness` (an expression evaluated once per test, such as `support::plain()`), so that
/// every adapter runs the same list.
#[macro_export]
macro_rules! schedule_case_tests {
    ($harness:expr) => {
        $crate::schedule_case_tests!(@each $harness;
            due_times_follow_the_connection_s_schedule_and_status,
            due_times_pause_and_resume_with_their_workspace,
            due_times_are_seen_by_their_own_workspace_only,
            due_rows_list_oldest_first_bounded_and_by_organization,
            tick_queues_one_job_per_due_connection_and_collapses_missed_fires,
            tick_skips_a_connection_with_a_live_job_and_moves_its_due_time,
            tick_queues_nothing_for_paused_manual_deleted_or_retired,
            tick_runs_inside_a_worker_s_claim,
            tick_is_bounded_per_call,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::schedule_cases::$name(&$harness)
            }
        )*
    };
}

#[cfg(test)]
mod run_list {
    /// Every case of this file is on the list of [`schedule_case_tests!`], and the list names only cases.
    #[test]
    fn every_case_is_on_the_run_list() {
        crate::run_lists::check(include_str!("schedule_cases.rs"), "schedule_case_tests");
    }
}
