//! Sync runs as jobs: at most one running run per connection, decided by the database, and
//! the job number every new run's id carries (the Airbyte API's integer `jobId`).

use std::sync::{Arc, Barrier};

use bulkhead_core::{Error, Page, SyncOutcome, SyncRunId, SyncStatus};

use super::{Harness, new_org, pipeline, workspace};

/// How many threads race to start one connection's sync.
const RACERS: usize = 8;

/// A second start of a connection while its run is running is refused with
/// [`Error::SyncAlreadyRunning`] and stores nothing; once the run ends a new one starts, and
/// other connections are never held up.
pub fn a_second_start_while_a_run_is_running_is_refused(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    let (_, _, other) = pipeline(&ws, "other");

    let first = ws.start_sync(connection.id).unwrap();
    h.tick();
    let before = h.stored();
    match ws.start_sync(connection.id) {
        Err(Error::SyncAlreadyRunning { connection_id }) => {
            assert_eq!(connection_id, connection.id);
        }
        other => panic!("expected a sync already running, got {other:?}"),
    }
    assert_eq!(h.stored(), before, "a refused start stored something");
    let history = ws.list_sync_runs(connection.id, &Page::first(10)).unwrap();
    assert_eq!(history.items, vec![first.clone()]);

    // Another connection of the workspace starts meanwhile.
    let other_run = ws.start_sync(other.id).unwrap();
    assert_eq!(other_run.status, SyncStatus::Running);

    // Every way a run ends frees the connection.
    for outcome in [
        SyncOutcome::Cancelled,
        SyncOutcome::Succeeded { rows: 1, bytes: 2 },
        SyncOutcome::Failed {
            error: "boom".to_owned(),
            rows: 0,
            bytes: 0,
        },
    ] {
        let running = ws
            .list_sync_runs(connection.id, &Page::first(1))
            .unwrap()
            .items;
        let running = running.first().unwrap();
        assert_eq!(running.status, SyncStatus::Running);
        ws.finish_sync(running.id, outcome).unwrap();
        h.tick();
        let next = ws.start_sync(connection.id).unwrap();
        assert_eq!(next.status, SyncStatus::Running);
    }
    let history = ws.list_sync_runs(connection.id, &Page::first(10)).unwrap();
    assert_eq!(history.items.len(), 4);
    assert_eq!(
        history
            .items
            .iter()
            .filter(|r| r.status == SyncStatus::Running)
            .count(),
        1
    );
}

/// Threads that start one connection's sync at the same moment: exactly one wins, every
/// other gets [`Error::SyncAlreadyRunning`], and one run is stored.
pub fn concurrent_starts_of_one_connection_let_exactly_one_win(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    for round in 0..3 {
        let barrier = Arc::new(Barrier::new(RACERS));
        let handles: Vec<_> = (0..RACERS)
            .map(|_| {
                let ws = ws.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    ws.start_sync(connection.id)
                })
            })
            .collect();
        let mut won = Vec::new();
        for handle in handles {
            match handle.join().unwrap() {
                Ok(run) => won.push(run),
                Err(Error::SyncAlreadyRunning { .. }) => {}
                Err(other) => panic!("round {round}: unexpected error {other}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: {won:?}");
        let running: Vec<_> = ws
            .list_sync_runs(connection.id, &Page::first(100))
            .unwrap()
            .items
            .into_iter()
            .filter(|r| r.status == SyncStatus::Running)
            .collect();
        assert_eq!(running, won, "round {round}");
        let winner = won.first().unwrap();
        ws.finish_sync(winner.id, SyncOutcome::Cancelled).unwrap();
        h.tick();
    }
    let history = ws.list_sync_runs(connection.id, &Page::first(100)).unwrap();
    assert_eq!(history.items.len(), 3);
}

/// A new run's id carries a job number, and that number alone gives back the id: its own
/// workspace finds the run by it, another workspace (of the organization or of another one)
/// gets not-found, exactly as for a missing number.
pub fn new_sync_runs_carry_job_numbers_that_find_them_in_their_workspace_only(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let ws = workspace(&acme, "cust-1");
    let sibling = workspace(&acme, "cust-2");
    let foreign = workspace(&globex, "cust-1");
    let (_, _, connection) = pipeline(&ws, "p");
    pipeline(&sibling, "p");
    pipeline(&foreign, "p");

    let run = ws.start_sync(connection.id).unwrap();
    let number = run.id.job_number().expect("a new run carries a job number");
    assert!((1..=SyncRunId::MAX_JOB_NUMBER).contains(&number));
    let id = SyncRunId::from_job_number(number).unwrap();
    assert_eq!(id, run.id);
    assert_eq!(h.answer(ws.get_sync_run(id)), Some(run.clone()));
    for other in [&sibling, &foreign] {
        h.assert_not_found(other.get_sync_run(id));
        h.assert_not_found(other.finish_sync(id, SyncOutcome::Cancelled));
    }
    // A number no run has is not found the same way.
    let missing = SyncRunId::from_job_number(if number == 1 { 2 } else { number - 1 }).unwrap();
    h.assert_not_found(ws.get_sync_run(missing));
    // The foreign attempts changed nothing.
    assert_eq!(h.answer(ws.get_sync_run(id)), Some(run));

    let finished = ws.finish_sync(id, SyncOutcome::Cancelled).unwrap();
    assert_eq!(finished.id.job_number(), Some(number));
    assert_eq!(finished.status, SyncStatus::Cancelled);
}
