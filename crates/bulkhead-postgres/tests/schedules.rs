//! The scheduler's due-time cases of `bulkhead-testkit` against the PostgreSQL store (see
//! `bulkhead_testkit::schedule_cases`), on a throw-away server (or `BULKHEAD_PG_URL`). The
//! tick's cases need the job queue, which this store does not have yet; with the queue they
//! run here like on SQLite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Duration;

use bulkhead_core::{Error, NewConnection, Schedule};
use bulkhead_testkit::conformance::{
    new_connection, new_org, raw_destination, raw_source, workspace,
};
use bulkhead_testkit::schedule_cases;

macro_rules! cases {
    ($($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                schedule_cases::$name(&support::plain());
            }
        )+
    };
}

cases!(
    due_times_follow_the_connection_s_schedule_and_status,
    due_times_pause_and_resume_with_their_workspace,
    due_times_are_seen_by_their_own_workspace_only,
    due_rows_list_oldest_first_bounded_and_by_organization,
);

/// Without a job queue the tick is refused before it moves any due time.
#[test]
fn the_tick_without_a_job_queue_is_refused_and_moves_nothing() {
    let h = support::plain();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let source = ws.create_source(raw_source("s")).unwrap();
    let destination = ws.create_destination(raw_destination("d")).unwrap();
    let c = ws
        .create_connection(NewConnection {
            schedule: Schedule::parse("every 5 minutes").unwrap(),
            ..new_connection("c", source.id, destination.id)
        })
        .unwrap();
    let due = ws.next_scheduled_sync(c.id).unwrap().unwrap();
    h.clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        h.engine().tick_schedules(),
        Err(Error::NoJobQueue)
    ));
    assert_eq!(ws.next_scheduled_sync(c.id).unwrap(), Some(due));
}
