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

/// The overview's recent figures (`rows_7d`, `bytes_7d`) count only the runs started in the
/// last seven days, while the all-time totals count every run; and the workspace's recent
/// runs come newest first across its connections, never another workspace's.
pub fn overview_counts_the_last_seven_days_and_recent_runs_span_connections(
    factory: &dyn Fn() -> Harness,
) {
    use std::time::Duration;

    use bulkhead_core::WorkspaceFilter;

    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let other = workspace(&org, "cust-2");
    let (_, _, a) = pipeline(&ws, "a");
    let (_, _, b) = pipeline(&ws, "b");
    let (_, _, foreign) = pipeline(&other, "f");
    let run = |conn, rows, bytes| {
        let started = ws.start_sync(conn).unwrap();
        h.tick();
        ws.finish_sync(started.id, SyncOutcome::Succeeded { rows, bytes })
            .unwrap();
        h.tick();
        started
    };
    let old = run(a.id, 1_000, 10_000);
    // Eight days later: the first run falls out of the last seven days.
    h.clock.advance(Duration::from_secs(8 * 24 * 60 * 60));
    let recent_a = run(a.id, 5, 50);
    let recent_b = run(b.id, 7, 70);
    let started = other.start_sync(foreign.id).unwrap();
    other
        .finish_sync(
            started.id,
            SyncOutcome::Succeeded {
                rows: 99,
                bytes: 99,
            },
        )
        .unwrap();

    if h.is_leaky() {
        // The store hands out the other workspace's rows: the guard refuses them, or what
        // comes back is this workspace's alone.
        match org.workspace_overview(&WorkspaceFilter::default(), &Page::first(10)) {
            Ok(_) => {}
            Err(Error::IsolationBreach { .. }) => h.note_breach(),
            Err(err) => panic!("{err:?}"),
        }
        match org.recent_sync_runs(ws.workspace_id(), 30) {
            Ok(runs) => assert!(runs.iter().all(|r| r.workspace_id == ws.workspace_id())),
            Err(Error::IsolationBreach { .. }) => h.note_breach(),
            Err(err) => panic!("{err:?}"),
        }
        return;
    }
    let overview = org
        .workspace_overview(&WorkspaceFilter::default(), &Page::first(10))
        .unwrap();
    let mine = overview
        .items
        .iter()
        .find(|o| o.workspace_id == ws.workspace_id())
        .unwrap();
    assert_eq!((mine.rows_synced, mine.bytes_synced), (1_012, 10_120));
    assert_eq!((mine.rows_7d, mine.bytes_7d), (12, 120));

    let runs = org.recent_sync_runs(ws.workspace_id(), 30).unwrap();
    let ids: Vec<SyncRunId> = runs.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![recent_b.id, recent_a.id, old.id]);
    assert_eq!(
        org.recent_sync_runs(ws.workspace_id(), 1).unwrap().len(),
        1,
        "the limit holds across connections"
    );
    let (beta, _) = new_org(&h, "Beta");
    assert!(
        matches!(
            beta.recent_sync_runs(ws.workspace_id(), 30),
            Err(Error::NotFound { .. })
        ),
        "another organization's workspace is not found"
    );
}
