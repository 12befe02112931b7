//! Get-or-create is race-free on PostgreSQL: two processes, each with its own engine on one
//! schema, racing get-or-create for the same external ids make one workspace each; and so do
//! threads with an engine each.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bulkhead::{Config, Engine, ExternalId, MasterKey, OrgId, Page, WorkspaceFilter, WorkspaceId};

const CHILD_ENV: &str = "BULKHEAD_PG_RACE_CHILD";
const PROCESS_TEST: &str = "processes_racing_get_or_create_make_one_workspace_per_external_id";
const IDS: usize = 50;
const CHILDREN: usize = 2;
/// Marks the lines a child reports on stdout, among libtest's own.
const REPORT: &str = "bulkhead-race";
const PATIENCE: Duration = Duration::from_secs(60);

fn try_engine(schema: &str, key: &str) -> bulkhead::Result<Engine> {
    let mut config = Config::default().with_master_key(MasterKey::from_base64(key, "key")?);
    config.postgres.schema = schema.to_owned();
    config.postgres.owner_url = Some(support::server().url_for(support::OWNER));
    config.postgres.pool_size = 4;
    Engine::connect_postgres(&support::server().url_for(support::APP), config)
}

fn engine(schema: &str, key: &str) -> Engine {
    try_engine(schema, key).unwrap()
}

fn workspace_count(engine: &Engine, org_id: OrgId) -> usize {
    let org = engine.operator_org_scope(org_id).unwrap();
    let page = org
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(100))
        .unwrap();
    assert!(page.next.is_none());
    page.items.len()
}

#[test]
fn processes_racing_get_or_create_make_one_workspace_per_external_id() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        race_child(&spec);
        return;
    }
    let schema = support::Schema::new();
    let key = MasterKey::generate().unwrap().export_base64();
    let engine = engine(&schema.name, &key);
    let (org, _) = engine.create_organization("Acme").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    let mut children: Vec<Child> = (0..CHILDREN)
        .map(|n| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", PROCESS_TEST, "--nocapture"])
                // The children use this process's server, not one of their own.
                .env("BULKHEAD_PG_URL", support::server().admin_url())
                .env(
                    CHILD_ENV,
                    format!("{}|{}|{}|{key}|{n}", dir.display(), schema.name, org.id),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Start both at once: each child connects, says it is ready, and waits for `go`.
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
        assert_eq!(report.len(), IDS, "child {n} reported:\n{stdout}");
        reports.push(report);
    }
    for i in 0..IDS {
        let name = format!("race-{i}");
        let per_child: Vec<&(WorkspaceId, bool)> = reports.iter().map(|r| &r[&name]).collect();
        assert!(
            per_child.iter().all(|(id, _)| *id == per_child[0].0),
            "{name}: the processes got different workspaces: {per_child:?}"
        );
        let created = per_child.iter().filter(|(_, created)| *created).count();
        assert_eq!(created, 1, "{name} was created {created} times");
    }
    assert_eq!(workspace_count(&engine, org.id), IDS);
}

/// Parses a child's `bulkhead-race <external id> <workspace id> <created>` lines.
fn parse_report(stdout: &str) -> BTreeMap<String, (WorkspaceId, bool)> {
    let mut report = BTreeMap::new();
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.first() != Some(&REPORT) {
            continue;
        }
        assert_eq!(fields.len(), 4, "malformed report line `{line}`");
        let previous = report.insert(
            fields[1].to_owned(),
            (fields[2].parse().unwrap(), fields[3].parse().unwrap()),
        );
        assert!(previous.is_none(), "{} reported twice", fields[1]);
    }
    report
}

/// The child's side: connect, wait for the start, get-or-create every id, report.
fn race_child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let [dir, schema, org_id, key, n] = parts[..] else {
        panic!("malformed {CHILD_ENV} `{spec}`");
    };
    let dir = Path::new(dir);
    let engine = engine(schema, key);
    let org = engine.operator_org_scope(org_id.parse().unwrap()).unwrap();

    std::fs::write(dir.join(format!("ready-{n}")), b"").unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !dir.join("go").exists() {
        assert!(Instant::now() < deadline, "the parent never said go");
        thread::sleep(Duration::from_millis(1));
    }
    for i in 0..IDS {
        let name = format!("race-{i}");
        let id: ExternalId = name.parse().unwrap();
        let got = org.get_or_create_workspace(&id).unwrap();
        println!("{REPORT} {name} {} {}", got.workspace.id, got.created);
    }
}

#[test]
fn threads_with_an_engine_each_racing_get_or_create_make_one_workspace() {
    const THREADS: usize = 8;
    let schema = support::Schema::new();
    let key = MasterKey::generate().unwrap().export_base64();
    let first = engine(&schema.name, &key);
    let (org, _) = first.create_organization("Acme").unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let results: Vec<(WorkspaceId, bool)> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let (schema, key, org_id) = (schema.name.clone(), key.clone(), org.id);
            thread::spawn(move || {
                // Every engine connects (and checks the schema) at once; a failure is reported
                // after the barrier, so the other threads never wait for a thread that died.
                let engine = try_engine(&schema, &key);
                barrier.wait();
                let scope = engine.unwrap().operator_org_scope(org_id).unwrap();
                let got = scope
                    .get_or_create_workspace(&"customer-1".parse().unwrap())
                    .unwrap();
                (got.workspace.id, got.created)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert!(
        results.iter().all(|(id, _)| *id == results[0].0),
        "{results:?}"
    );
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    assert_eq!(workspace_count(&first, org.id), 1);
}
