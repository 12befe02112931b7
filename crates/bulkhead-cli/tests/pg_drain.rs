//! PostgreSQL, many worker processes on one queue (issue 17): four `bulkhead worker --postgres`
//! processes with four workers each drain `BULKHEAD_DRAIN_JOBS` jobs, and each job runs
//! exactly once. The default is the figure, 10,000 jobs (80 s of a debug build on the
//! project's quiet 2-core machine, about two minutes when it is loaded); a smaller
//! `BULKHEAD_DRAIN_JOBS` shortens a local run.
//!
//! At most one job per connection is live, so the jobs are those of as many connections,
//! spread over the workspaces of two organizations; the processes are two workers of each
//! organization (a worker process claims one organization's jobs), so two processes contend
//! for each organization's claims. The jobs are made through the engine, in threads. The
//! connector command saves the job document it gets on stdin to a file of its own; the test
//! then checks, from those files and from the database, that every job ran once, no job ran
//! twice, and every run ended `succeeded` with the connector's result.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use bulkhead::postgres::{Roles, provision};
use bulkhead::{Config, Engine, MasterKey};
use bulkhead_testkit::conformance::{new_connection, raw_destination, raw_source};
use bulkhead_testkit::pg::PgServer;
use postgres::{Client, NoTls};
use serde_json::Value;

const OWNER: &str = "bulkhead_owner";
const APP: &str = "bulkhead_app";
const PROCESSES: usize = 4;
const ORGS: usize = 2;
const WORKERS: usize = 4;
const WORKSPACES: usize = 40;
const SEEDERS: usize = 8;

fn job_count() -> usize {
    std::env::var("BULKHEAD_DRAIN_JOBS")
        .ok()
        .map(|v| v.parse().expect("BULKHEAD_DRAIN_JOBS is a number"))
        .unwrap_or(10_000)
}

#[test]
fn four_worker_processes_on_postgres_drain_the_queue_running_each_job_once() {
    let jobs = job_count();
    assert!(jobs > 0, "a drain of zero jobs proves nothing");
    let server = PgServer::shared();
    provision(
        server.admin_url(),
        &Roles {
            schema: "bulkhead".to_owned(),
            owner: OWNER.to_owned(),
            app: APP.to_owned(),
        },
    )
    .unwrap();
    let schema = format!("bhdrain_{}", std::process::id());
    let mut admin = Client::connect(server.admin_url(), NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("drain.key");
    MasterKey::create_file(&key_file).unwrap();
    let mut config = Config::default().with_master_key_file(&key_file);
    config.postgres.schema = schema.clone();
    config.postgres.owner_url = Some(server.url_for(OWNER));
    config.postgres.pool_size = SEEDERS;
    let app_url = server.url_for(APP);
    let engine = Engine::connect_postgres(&app_url, config).unwrap();
    let keys: Vec<_> = (0..ORGS)
        .map(|o| engine.create_organization(&format!("Drain {o}")).unwrap().1)
        .collect();
    let orgs: Vec<_> = keys
        .iter()
        .map(|key| engine.authenticate_org(key.expose()).unwrap())
        .collect();

    // The jobs: connection after connection, each queued once, through the engine.
    let seeded = std::time::Instant::now();
    let expected: BTreeSet<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..SEEDERS)
            .map(|t| {
                let orgs = &orgs;
                s.spawn(move || {
                    let mut ids = Vec::new();
                    for w in (t..WORKSPACES).step_by(SEEDERS) {
                        let n = jobs / WORKSPACES + usize::from(w < jobs % WORKSPACES);
                        if n == 0 {
                            continue;
                        }
                        let org = &orgs[w % ORGS];
                        let ws = org
                            .get_or_create_workspace(&format!("cust-{w}").parse().unwrap())
                            .unwrap();
                        let ws = org.workspace(ws.workspace.id).unwrap();
                        let source = ws.create_source(raw_source("src")).unwrap();
                        let destination = ws.create_destination(raw_destination("dst")).unwrap();
                        for c in 0..n {
                            let connection = ws
                                .create_connection(new_connection(
                                    &format!("c{c}"),
                                    source.id,
                                    destination.id,
                                ))
                                .unwrap();
                            ids.push(ws.queue_sync(connection.id).unwrap().run.id.to_string());
                        }
                    }
                    ids
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(expected.len(), jobs);
    eprintln!("seeded {jobs} jobs in {:?}", seeded.elapsed());

    // Four processes, four workers each, on the one queue.
    let records = dir.path().join("runs");
    std::fs::create_dir(&records).unwrap();
    let connector = format!(
        "cat > \"$(mktemp '{}/run.XXXXXXXXXX')\" && echo '{{\"rows\": 3, \"bytes\": 5}}'",
        records.display()
    );
    let drained = std::time::Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            Command::new(env!("CARGO_BIN_EXE_bulkhead"))
                .args([
                    "--json",
                    "worker",
                    "--exec",
                    &connector,
                    "--workers",
                    &WORKERS.to_string(),
                    "--drain",
                    "--name",
                    &format!("drain-{p}"),
                ])
                .env_remove("BULKHEAD_ORG")
                .env_remove("BULKHEAD_MASTER_KEY")
                .env_remove("BULKHEAD_PG_OWNER_URL")
                .env("BULKHEAD_POSTGRES_URL", &app_url)
                .env("BULKHEAD_PG_SCHEMA", &schema)
                .env("BULKHEAD_MASTER_KEY_FILE", &key_file)
                .env("BULKHEAD_ORG_KEY", keys[p % ORGS].expose())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("the binary runs")
        })
        .collect();
    let mut succeeded = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker process failed: {out:?}");
        let tally: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(tally["workers"], WORKERS, "{tally}");
        for other in ["failed", "stopped", "fenced"] {
            assert_eq!(tally[other], 0, "{other}: {tally}");
        }
        succeeded += tally["succeeded"].as_u64().unwrap();
    }
    eprintln!(
        "{PROCESSES} processes × {WORKERS} workers drained {jobs} jobs in {:?}",
        drained.elapsed()
    );
    assert_eq!(succeeded, jobs as u64, "jobs the workers finished");

    // Each connector run saw one job; together, every job exactly once.
    let mut ran = Vec::new();
    for entry in std::fs::read_dir(&records).unwrap() {
        let doc: Value = serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap())
            .expect("each run got one job document");
        assert_eq!(doc["job"]["attempt"], 1, "{}", doc["job"]);
        ran.push(doc["job"]["run_id"].as_str().unwrap().to_owned());
    }
    let once: BTreeSet<String> = ran.iter().cloned().collect();
    assert_eq!(once.len(), ran.len(), "a job ran twice");
    assert_eq!(once, expected, "every job ran");

    // And the database agrees: every run succeeded with the connector's result, each claimed
    // once, nothing left in the queue.
    let count = |client: &mut Client, sql: &str| -> i64 {
        client
            .query_one(&sql.replace("{s}", &schema), &[])
            .unwrap()
            .get(0)
    };
    let jobs = i64::try_from(jobs).unwrap();
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM {s}.sync_runs
             WHERE status = 'succeeded' AND rows_synced = 3 AND bytes_synced = 5"
        ),
        jobs
    );
    assert_eq!(
        count(&mut admin, "SELECT count(*) FROM {s}.sync_runs"),
        jobs
    );
    assert_eq!(count(&mut admin, "SELECT count(*) FROM {s}.sync_queue"), 0);
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM {s}.audit_log WHERE action = 'job.claim'"
        ),
        jobs,
        "claims audited"
    );
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) FROM {s}.sched_workspace WHERE queued <> 0 OR running <> 0"
        ),
        0,
        "counters back to zero"
    );
    drop(orgs);
    drop(engine);
    let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}
