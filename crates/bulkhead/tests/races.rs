//! Get-or-create is race-free: threads sharing an engine, threads with an engine each, and
//! separate processes on one database file all get one workspace per external id.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bulkhead::{
    Engine, Error, ExternalId, OrgId, OrgScope, SyncOutcome, WorkspaceFilter, WorkspaceId,
};
use common::{Db, all_workspaces, config, ext};

const THREADS: usize = 16;

/// Asserts that the results of racing get-or-creates on one external id name one workspace,
/// created exactly once, and that it is the organization's only workspace.
fn assert_one_workspace(org: &OrgScope, results: &[(WorkspaceId, bool)]) {
    assert_eq!(results.len(), THREADS);
    let ids: BTreeSet<WorkspaceId> = results.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids.len(),
        1,
        "racing callers got different workspaces: {ids:?}"
    );
    let created = results.iter().filter(|(_, created)| *created).count();
    assert_eq!(created, 1, "exactly one caller creates the workspace");
    let listed = all_workspaces(org, &WorkspaceFilter::default(), 100);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(ids.contains(&listed[0].id));
}

#[test]
fn threads_sharing_an_engine_racing_get_or_create_make_one_workspace() {
    let db = Db::new();
    let org = db.org("Acme");
    let barrier = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let org = org.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let got = org.get_or_create_workspace(&ext("cust-race")).unwrap();
                (got.workspace.id, got.created)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    assert_one_workspace(&org, &results);
}

#[test]
fn threads_with_an_engine_each_racing_get_or_create_make_one_workspace() {
    let db = Db::new();
    let org = db.org("Acme");
    let org_id = org.org_id();
    let barrier = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let path = db.path.clone();
            let config = config(&db.clock);
            thread::spawn(move || {
                // Wait at the barrier even if opening failed, so no other thread hangs.
                let opened = Engine::open(&path, config);
                barrier.wait();
                let engine = opened.unwrap();
                let org = engine.operator_org_scope(org_id).unwrap();
                let got = org.get_or_create_workspace(&ext("cust-race")).unwrap();
                (got.workspace.id, got.created)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    assert_one_workspace(&org, &results);
}

#[test]
fn threads_racing_over_many_external_ids_make_one_workspace_each() {
    const IDS: usize = 20;
    let db = Db::new();
    let org = db.org("Acme");
    let barrier = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let org = org.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                // Each thread starts at a different id, so every id is contended at some point.
                (0..IDS)
                    .map(|i| {
                        let name = format!("race-{}", (i + t) % IDS);
                        let got = org.get_or_create_workspace(&ext(&name)).unwrap();
                        (name, got.workspace.id, got.created)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut by_name: BTreeMap<String, (BTreeSet<WorkspaceId>, usize)> = BTreeMap::new();
    for handle in handles {
        for (name, id, created) in handle.join().unwrap() {
            let entry = by_name.entry(name).or_default();
            entry.0.insert(id);
            entry.1 += usize::from(created);
        }
    }

    assert_eq!(by_name.len(), IDS);
    for (name, (ids, created)) in &by_name {
        assert_eq!(ids.len(), 1, "{name} got several workspaces: {ids:?}");
        assert_eq!(*created, 1, "{name} was created {created} times");
    }
    assert_eq!(
        all_workspaces(&org, &WorkspaceFilter::default(), 100).len(),
        IDS
    );
}

#[test]
fn racing_finishes_of_one_sync_run_let_exactly_one_win() {
    let db = Db::new();
    let ws = common::workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = common::pipeline(&db, &ws, "p");
    let run = ws.start_sync(connection.id).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let ws = ws.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let rows = u64::try_from(t).unwrap();
                barrier.wait();
                ws.finish_sync(run.id, SyncOutcome::Succeeded { rows, bytes: rows })
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let mut winners = Vec::new();
    for result in results {
        match result {
            Ok(finished) => winners.push(finished),
            Err(Error::Conflict { .. }) => {}
            Err(other) => panic!("a losing finish must be a conflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one finish wins: {winners:?}");
    assert_eq!(ws.get_sync_run(run.id).unwrap(), winners[0]);
}

#[test]
fn racing_source_delete_and_connection_create_never_both_succeed() {
    const ROUNDS: usize = 20;
    let db = Db::new();
    let ws = common::workspace(&db.org("Acme"), "cust-1");
    let destination = ws
        .create_destination(common::new_destination("target"))
        .unwrap();

    for round in 0..ROUNDS {
        let source = ws
            .create_source(common::new_source(&format!("source {round}")))
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let deleter = {
            let ws = ws.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                ws.delete_source(source.id)
            })
        };
        let creator = {
            let ws = ws.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                ws.create_connection(common::new_connection("racer", source.id, destination.id))
            })
        };
        let deleted = deleter.join().unwrap();
        let created = creator.join().unwrap();

        match (deleted, created) {
            (Ok(()), Err(err)) => {
                assert!(err.is_not_found(), "round {round}: {err:?}");
                assert!(ws.get_source(source.id).unwrap_err().is_not_found());
            }
            (Err(Error::Conflict { .. }), Ok(connection)) => {
                assert_eq!(ws.get_source(source.id).unwrap().id, source.id);
                assert_eq!(ws.get_connection(connection.id).unwrap(), connection);
                ws.delete_connection(connection.id).unwrap();
            }
            other => {
                panic!("round {round}: the delete and the create both won or both lost: {other:?}")
            }
        }
    }
    let dangling = common::all_pages(100, |p| ws.list_connections(p));
    assert!(dangling.is_empty(), "{dangling:?}");
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// Set in a child process: `<directory>|<org id>|<child number>`. The database is
/// `<directory>/bulkhead.db`; the directory also holds the start line files.
const CHILD_ENV: &str = "BULKHEAD_RACE_CHILD";
/// The libtest name of the test below, which the children run.
const PROCESS_TEST: &str = "processes_racing_get_or_create_make_one_workspace_per_external_id";
const PROCESS_IDS: usize = 50;
const CHILDREN: usize = 2;
/// Marks the lines a child reports on stdout, among libtest's own.
const REPORT: &str = "bulkhead-race";
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn processes_racing_get_or_create_make_one_workspace_per_external_id() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        race_child(&spec);
        return;
    }
    let db = Db::new();
    let org = db.org("Acme");
    let dir = db.dir.path();

    let mut children: Vec<Child> = (0..CHILDREN)
        .map(|n| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", PROCESS_TEST, "--nocapture"])
                .env(CHILD_ENV, format!("{}|{}|{n}", dir.display(), org.org_id()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Start both at once: each child opens its engine, says it is ready, and waits for `go`.
    let deadline = Instant::now() + PATIENCE;
    while !(0..CHILDREN).all(|n| dir.join(format!("ready-{n}")).exists()) {
        let exited = children.iter_mut().any(|c| c.try_wait().unwrap().is_some());
        if exited || Instant::now() > deadline {
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    std::fs::write(dir.join("go"), b"").unwrap();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();

    let mut reports = Vec::new();
    for (n, output) in outputs.iter().enumerate() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child {n} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let report = parse_report(&stdout);
        assert_eq!(
            report.len(),
            PROCESS_IDS,
            "child {n} reported {} external ids:\n{stdout}",
            report.len()
        );
        reports.push(report);
    }
    for i in 0..PROCESS_IDS {
        let name = format!("race-{i}");
        let per_child: Vec<&(WorkspaceId, bool)> = reports.iter().map(|r| &r[&name]).collect();
        assert!(
            per_child.iter().all(|(id, _)| *id == per_child[0].0),
            "{name}: the processes got different workspaces: {per_child:?}"
        );
        let created = per_child.iter().filter(|(_, created)| *created).count();
        assert_eq!(created, 1, "{name} was created {created} times");
    }
    let listed = all_workspaces(&org, &WorkspaceFilter::default(), 100);
    assert_eq!(listed.len(), PROCESS_IDS);
    for workspace in listed {
        let name = workspace.external_id.as_str();
        assert_eq!(reports[0][name].0, workspace.id, "{name}");
    }
}

/// Parses a child's `bulkhead-race <external id> <workspace id> <created>` lines.
fn parse_report(stdout: &str) -> BTreeMap<String, (WorkspaceId, bool)> {
    let mut report = BTreeMap::new();
    for line in stdout.lines() {
        let mut fields = line.split(' ');
        if fields.next() != Some(REPORT) {
            continue;
        }
        let (Some(name), Some(id), Some(created), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            panic!("malformed report line `{line}`");
        };
        let previous = report.insert(
            name.to_owned(),
            (id.parse().unwrap(), created.parse().unwrap()),
        );
        assert!(previous.is_none(), "{name} reported twice");
    }
    report
}

/// The child's side: open the database, wait for the start, get-or-create every id, report.
fn race_child(spec: &str) {
    let mut parts = spec.split('|');
    let (Some(dir), Some(org_id), Some(n), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("malformed {CHILD_ENV} `{spec}`");
    };
    let dir = Path::new(dir);
    let org_id: OrgId = org_id.parse().unwrap();
    let clock = Arc::new(bulkhead::ManualClock::new(common::START));
    let engine = Engine::open(dir.join("bulkhead.db"), config(&clock)).unwrap();
    let org = engine.operator_org_scope(org_id).unwrap();

    std::fs::write(dir.join(format!("ready-{n}")), b"").unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !dir.join("go").exists() {
        assert!(Instant::now() < deadline, "the parent never said go");
        thread::sleep(Duration::from_millis(1));
    }
    for i in 0..PROCESS_IDS {
        let name = format!("race-{i}");
        let id: ExternalId = name.parse().unwrap();
        let got = org.get_or_create_workspace(&id).unwrap();
        println!("{REPORT} {name} {} {}", got.workspace.id, got.created);
    }
}
