//! Requests that contradict the current state are conflicts, invalid outcomes are refused, and
//! neither changes anything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use bulkhead::{ConnectionStatus, ConnectionUpdate, ObjectKind, Page, SyncOutcome, SyncStatus};
use common::{Contents, Db, assert_conflict, assert_not_found, pipeline, workspace};

#[test]
fn deleting_a_source_used_by_a_connection_is_a_conflict_and_deletes_nothing() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (source, _, connection) = pipeline(&db, &ws, "p");
    ws.start_sync(connection.id).unwrap();
    let before = Contents::read(&ws);

    assert_conflict(ws.delete_source(source.id));

    assert_eq!(Contents::read(&ws), before);
    // Once the connection is gone, the source may go.
    ws.delete_connection(connection.id).unwrap();
    ws.delete_source(source.id).unwrap();
    assert_not_found(ws.get_source(source.id), ObjectKind::Source, source.id);
}

#[test]
fn deleting_a_destination_used_by_a_connection_is_a_conflict_and_deletes_nothing() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, destination, connection) = pipeline(&db, &ws, "p");
    let before = Contents::read(&ws);

    assert_conflict(ws.delete_destination(destination.id));

    assert_eq!(Contents::read(&ws), before);
    ws.delete_connection(connection.id).unwrap();
    ws.delete_destination(destination.id).unwrap();
    assert_not_found(
        ws.get_destination(destination.id),
        ObjectKind::Destination,
        destination.id,
    );
}

#[test]
fn deleting_a_connection_deletes_its_sync_history() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let (_, _, kept) = pipeline(&db, &ws, "kept");
    let run = ws.start_sync(connection.id).unwrap();
    let kept_run = ws.start_sync(kept.id).unwrap();

    ws.delete_connection(connection.id).unwrap();

    assert_not_found(ws.get_sync_run(run.id), ObjectKind::SyncRun, run.id);
    assert_not_found(
        ws.list_sync_runs(connection.id, &Page::first(10)),
        ObjectKind::Connection,
        connection.id,
    );
    assert_eq!(ws.get_sync_run(kept_run.id).unwrap(), kept_run);
    assert_not_found(
        ws.delete_connection(connection.id),
        ObjectKind::Connection,
        connection.id,
    );
}

#[test]
fn finishing_an_already_finished_sync_run_is_a_conflict() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let first_outcomes = [
        SyncOutcome::Succeeded {
            rows: 7,
            bytes: 700,
        },
        SyncOutcome::Failed {
            error: "timeout".to_owned(),
            rows: 1,
            bytes: 2,
        },
        SyncOutcome::Cancelled,
    ];
    for first in first_outcomes {
        let run = ws.start_sync(connection.id).unwrap();
        db.tick();
        let finished = ws.finish_sync(run.id, first).unwrap();
        assert!(finished.status.is_finished());
        db.tick();

        let again = [
            SyncOutcome::Succeeded { rows: 9, bytes: 9 },
            SyncOutcome::Failed {
                error: "late".to_owned(),
                rows: 9,
                bytes: 9,
            },
            SyncOutcome::Cancelled,
        ];
        for second in again {
            assert_conflict(ws.finish_sync(run.id, second));
        }

        assert_eq!(ws.get_sync_run(run.id).unwrap(), finished);
    }
}

#[test]
fn finishing_a_sync_run_records_its_outcome() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let run = ws.start_sync(connection.id).unwrap();
    assert_eq!(run.status, SyncStatus::Running);
    assert_eq!(run.finished_at, None);
    db.tick();

    let failed = ws
        .finish_sync(
            run.id,
            SyncOutcome::Failed {
                error: "credentials expired".to_owned(),
                rows: 3,
                bytes: 40,
            },
        )
        .unwrap();

    assert_eq!(failed.status, SyncStatus::Failed);
    assert_eq!(failed.finished_at, Some(db.now()));
    assert_eq!(failed.started_at, run.started_at);
    assert_eq!((failed.rows_synced, failed.bytes_synced), (3, 40));
    assert_eq!(failed.error.as_deref(), Some("credentials expired"));
    assert_eq!(ws.get_sync_run(run.id).unwrap(), failed);
}

#[test]
fn starting_a_sync_on_an_inactive_connection_is_a_conflict() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let off = ConnectionUpdate {
        status: Some(ConnectionStatus::Inactive),
        ..Default::default()
    };
    let inactive = ws.update_connection(connection.id, &off).unwrap();
    assert_eq!(inactive.status, ConnectionStatus::Inactive);

    assert_conflict(ws.start_sync(connection.id));

    let history = ws.list_sync_runs(connection.id, &Page::first(10)).unwrap();
    assert!(history.items.is_empty(), "{history:?}");
    let on = ConnectionUpdate {
        status: Some(ConnectionStatus::Active),
        ..Default::default()
    };
    ws.update_connection(connection.id, &on).unwrap();
    ws.start_sync(connection.id).unwrap();
}

#[test]
fn oversized_sync_error_text_is_invalid_input_and_leaves_the_run_running() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let run = ws.start_sync(connection.id).unwrap();

    let error = "e".repeat(SyncOutcome::MAX_ERROR_CHARS + 1);
    let result = ws.finish_sync(
        run.id,
        SyncOutcome::Failed {
            error,
            rows: 0,
            bytes: 0,
        },
    );

    common::assert_invalid(result, "error");
    assert_eq!(ws.get_sync_run(run.id).unwrap(), run);
    let at_limit = "e".repeat(SyncOutcome::MAX_ERROR_CHARS);
    let failed = ws
        .finish_sync(
            run.id,
            SyncOutcome::Failed {
                error: at_limit.clone(),
                rows: 0,
                bytes: 0,
            },
        )
        .unwrap();
    assert_eq!(failed.error, Some(at_limit));
}

#[test]
fn sync_counts_beyond_the_storable_range_are_invalid_input_and_leave_the_run_running() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let run = ws.start_sync(connection.id).unwrap();
    let too_many = u64::try_from(i64::MAX).unwrap() + 1;

    common::assert_invalid(
        ws.finish_sync(
            run.id,
            SyncOutcome::Succeeded {
                rows: too_many,
                bytes: 0,
            },
        ),
        "rows",
    );
    common::assert_invalid(
        ws.finish_sync(
            run.id,
            SyncOutcome::Succeeded {
                rows: 0,
                bytes: too_many,
            },
        ),
        "bytes",
    );

    assert_eq!(ws.get_sync_run(run.id).unwrap(), run);
    let most = too_many - 1;
    let finished = ws
        .finish_sync(
            run.id,
            SyncOutcome::Succeeded {
                rows: most,
                bytes: most,
            },
        )
        .unwrap();
    assert_eq!(ws.get_sync_run(run.id).unwrap(), finished);
    assert_eq!((finished.rows_synced, finished.bytes_synced), (most, most));
}
