//! Jobs (issue 17) on SQLite and PostgreSQL: the fair queue's throughput beside a FIFO queue
//! on the same database, and how long quiet workspaces wait behind a noisy one.
//!
//! - **Throughput**: 10 organizations × 10 workspaces × 10 connections, every connection
//!   queued; one worker claims and completes, and each completed connection is queued again
//!   (steady state). Reported: claim + complete cycles per second (the re-enqueue is timed
//!   apart), beside a FIFO baseline measured in the same run: the same two transactions on a
//!   bare rusqlite table (River's shape: `UPDATE … WHERE id = (SELECT … ORDER BY run_at, id
//!   LIMIT 1) RETURNING`, then a delete and a history update), same pragmas (WAL,
//!   `synchronous=NORMAL`). The fair claim does more (reaping, two levels of virtual time,
//!   caps, the run's status, the configuration opened and the claim audited), so the ratio is
//!   what all of it costs. On PostgreSQL (the testkit's throw-away server, a schema of its
//!   own, the restricted role, Row Level Security) the baseline is the same FIFO shape with
//!   `FOR UPDATE SKIP LOCKED` in the subquery, on a bare table of the same server, over one
//!   `postgres` client connection.
//! - **Longest wait**: one workspace queues 10,000 jobs, then 100 quiet workspaces (10
//!   organizations, the noisy one's included) queue one each; one worker drains. Reported:
//!   the claim position of the last quiet job (FIFO by enqueue time would serve the quiet jobs
//!   at positions 10,001 to 10,100), and the median and 99th-percentile claim time with the
//!   10,000-deep backlog.
//!
//! Bounded: `BULKHEAD_JOBS_CYCLES` (default 2000) timed cycles per target, and
//! `BULKHEAD_JOBS_NOISY` (default 10000) noisy jobs. `BULKHEAD_JOBS_DB=sqlite` or `postgres`
//! runs one database only.
//!
//! `cargo bench -p bulkhead-benches --bench jobs`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bulkhead::postgres::{PgOptions, Roles, provision};
use bulkhead::{
    Config, ConnectionId, ConnectorConfig, Engine, JobSettings, MasterKey, NewConnection,
    NewDestination, NewSource, Schedule, SyncOutcome, WorkspaceId, WorkspaceScope,
};
use bulkhead_testkit::pg::PgServer;
use rusqlite::{Connection, params};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map_or(default, |v| v.parse().expect("a whole number"))
}

fn open(path: &Path) -> Engine {
    let engine = Engine::open(
        path,
        Config::default().with_master_key(MasterKey::generate().unwrap()),
    )
    .unwrap();
    uncapped(engine)
}

const OWNER: &str = "bulkhead_owner";
const APP: &str = "bulkhead_app";

/// The testkit's PostgreSQL server, with the two roles made.
fn pg_server() -> &'static PgServer {
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
    server
}

/// An engine on a new schema `bench_jobs_<name>_<pid>` of the testkit's PostgreSQL server, as
/// the restricted role.
fn open_pg(name: &str) -> Engine {
    let server = pg_server();
    let schema = format!("bench_jobs_{name}_{}", std::process::id());
    let mut admin = postgres::Client::connect(server.admin_url(), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"
        ))
        .unwrap();
    let mut config = Config::default().with_master_key(MasterKey::generate().unwrap());
    config.postgres = PgOptions {
        schema,
        owner_url: Some(server.url_for(OWNER)),
        ..PgOptions::default()
    };
    uncapped(Engine::connect_postgres(&server.url_for(APP), config).unwrap())
}

/// Drops the schemas `open_pg` made.
fn drop_pg_schemas() {
    let mut admin = postgres::Client::connect(pg_server().admin_url(), postgres::NoTls).unwrap();
    for name in ["fair", "wait", "fifo"] {
        let _ = admin.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS bench_jobs_{name}_{} CASCADE",
            std::process::id()
        ));
    }
}

fn uncapped(engine: Engine) -> Engine {
    engine
        .set_job_settings(JobSettings {
            org_max_running: 100_000,
            workspace_max_running: 100_000,
            ..JobSettings::default()
        })
        .unwrap();
    engine
}

/// `n` connections in `ws`, all between one source and one destination.
fn connections(ws: &WorkspaceScope, n: usize) -> Vec<ConnectionId> {
    let config = |k: &str| ConnectorConfig::new(serde_json::json!({ "name": k })).unwrap();
    let source = ws
        .create_source(NewSource {
            name: "source".parse().unwrap(),
            connector: "postgres".parse().unwrap(),
            config: config("s"),
        })
        .unwrap();
    let destination = ws
        .create_destination(NewDestination {
            name: "destination".parse().unwrap(),
            connector: "bigquery".parse().unwrap(),
            config: config("d"),
        })
        .unwrap();
    (0..n)
        .map(|i| {
            ws.create_connection(NewConnection {
                name: format!("c{i}").parse().unwrap(),
                source_id: source.id,
                destination_id: destination.id,
                schedule: Schedule::Manual,
            })
            .unwrap()
            .id
        })
        .collect()
}

fn per_second(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn fair_throughput(engine: &Engine, cycles: usize) -> f64 {
    let mut scopes: HashMap<WorkspaceId, WorkspaceScope> = HashMap::new();
    for o in 0..10 {
        let (_, key) = engine.create_organization(&format!("org {o}")).unwrap();
        let org = engine.authenticate_org(key.expose()).unwrap();
        for w in 0..10 {
            let id = org
                .get_or_create_workspace(&format!("ws-{w}").parse().unwrap())
                .unwrap()
                .workspace
                .id;
            let ws = org.workspace(id).unwrap();
            for c in connections(&ws, 10) {
                ws.queue_sync(c).unwrap();
            }
            scopes.insert(id, ws);
        }
    }
    let worker = engine.worker("bench").unwrap();
    let mut timed = Duration::ZERO;
    for _ in 0..cycles {
        let start = Instant::now();
        let claimed = worker.claim().unwrap().expect("a job is queued");
        worker
            .complete(&claimed.lease, SyncOutcome::Succeeded { rows: 1, bytes: 1 })
            .unwrap();
        timed += start.elapsed();
        scopes[&claimed.lease.workspace_id()]
            .queue_sync(claimed.lease.connection_id())
            .unwrap();
    }
    per_second(cycles, timed)
}

fn fifo_throughput(dir: &Path, cycles: usize) -> f64 {
    let conn = Connection::open(dir.join("fifo.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         CREATE TABLE q (id INTEGER PRIMARY KEY, ws INTEGER NOT NULL, state TEXT NOT NULL,
             run_at INTEGER NOT NULL, token INTEGER, lease_until INTEGER) STRICT;
         CREATE INDEX q_ready ON q (run_at, id) WHERE state = 'queued';
         CREATE TABLE runs (id INTEGER PRIMARY KEY, status TEXT NOT NULL,
             finished_at INTEGER) STRICT;",
    )
    .unwrap();
    for i in 0..1000i64 {
        conn.execute(
            "INSERT INTO q (id, ws, state, run_at) VALUES (?1, ?2, 'queued', ?1)",
            params![i, i / 10],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO runs (id, status) VALUES (?1, 'pending')",
            params![i],
        )
        .unwrap();
    }
    let mut token = 0i64;
    let mut next_id = 1000i64;
    let mut timed = Duration::ZERO;
    for _ in 0..cycles {
        token += 1;
        let start = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (id, ws): (i64, i64) = conn
            .prepare_cached(
                "UPDATE q SET state = 'running', token = ?1, lease_until = ?2
                 WHERE id = (SELECT id FROM q WHERE state = 'queued' ORDER BY run_at, id LIMIT 1)
                 RETURNING id, ws",
            )
            .unwrap()
            .query_row(params![token, 60_000], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        conn.prepare_cached("UPDATE runs SET status = 'running' WHERE id = ?1")
            .unwrap()
            .execute(params![id])
            .unwrap();
        conn.execute_batch("COMMIT").unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let done = conn
            .prepare_cached("DELETE FROM q WHERE id = ?1 AND token = ?2 AND state = 'running'")
            .unwrap()
            .execute(params![id, token])
            .unwrap();
        assert_eq!(done, 1);
        conn.prepare_cached("UPDATE runs SET status = 'succeeded', finished_at = 1 WHERE id = ?1")
            .unwrap()
            .execute(params![id])
            .unwrap();
        conn.execute_batch("COMMIT").unwrap();
        timed += start.elapsed();
        next_id += 1;
        conn.execute(
            "INSERT INTO q (id, ws, state, run_at) VALUES (?1, ?2, 'queued', ?1)",
            params![next_id, ws],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO runs (id, status) VALUES (?1, 'pending')",
            params![next_id],
        )
        .unwrap();
    }
    per_second(cycles, timed)
}

struct Wait {
    last_quiet: usize,
    claim_median: Duration,
    claim_p99: Duration,
}

fn longest_wait(engine: &Engine, noisy: usize) -> Wait {
    let mut quiet: Vec<(WorkspaceScope, ConnectionId)> = Vec::new();
    let mut noisy_ws = None;
    for o in 0..10 {
        let (_, key) = engine.create_organization(&format!("org {o}")).unwrap();
        let org = engine.authenticate_org(key.expose()).unwrap();
        if o == 0 {
            let id = org
                .get_or_create_workspace(&"noisy".parse().unwrap())
                .unwrap()
                .workspace
                .id;
            noisy_ws = Some(org.workspace(id).unwrap());
        }
        for w in 0..10 {
            let id = org
                .get_or_create_workspace(&format!("quiet-{w}").parse().unwrap())
                .unwrap()
                .workspace
                .id;
            let ws = org.workspace(id).unwrap();
            let c = connections(&ws, 1)[0];
            quiet.push((ws, c));
        }
    }
    let noisy_ws = noisy_ws.unwrap();
    for c in connections(&noisy_ws, noisy) {
        noisy_ws.queue_sync(c).unwrap();
    }
    let quiet_ids: std::collections::HashSet<WorkspaceId> =
        quiet.iter().map(|(ws, _)| ws.workspace_id()).collect();
    for (ws, c) in &quiet {
        ws.queue_sync(*c).unwrap();
    }
    let worker = engine.worker("bench").unwrap();
    let mut remaining = quiet_ids.len();
    let mut position = 0;
    let mut claims = Vec::new();
    let mut last_quiet = 0;
    while remaining > 0 {
        let start = Instant::now();
        let claimed = worker.claim().unwrap().expect("a job is queued");
        claims.push(start.elapsed());
        position += 1;
        if quiet_ids.contains(&claimed.lease.workspace_id()) {
            remaining -= 1;
            last_quiet = position;
        }
        worker
            .complete(&claimed.lease, SyncOutcome::Succeeded { rows: 1, bytes: 1 })
            .unwrap();
    }
    claims.sort();
    Wait {
        last_quiet,
        claim_median: claims[claims.len() / 2],
        claim_p99: claims[(claims.len() * 99 / 100).min(claims.len() - 1)],
    }
}

/// The FIFO baseline on PostgreSQL: [`fifo_throughput`]'s two transactions on a bare table
/// of the same server, the claim's subquery `FOR UPDATE SKIP LOCKED`.
fn fifo_pg_throughput(cycles: usize) -> f64 {
    let server = pg_server();
    let schema = format!("bench_jobs_fifo_{}", std::process::id());
    let mut conn = postgres::Client::connect(server.admin_url(), postgres::NoTls).unwrap();
    conn.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         SET search_path = {schema};
         CREATE TABLE q (id bigint PRIMARY KEY, ws bigint NOT NULL, state text NOT NULL,
             run_at bigint NOT NULL, token bigint, lease_until bigint);
         CREATE INDEX q_ready ON q (run_at, id) WHERE state = 'queued';
         CREATE TABLE runs (id bigint PRIMARY KEY, status text NOT NULL, finished_at bigint);
         INSERT INTO q (id, ws, state, run_at)
             SELECT i, i / 10, 'queued', i FROM generate_series(0, 999) AS i;
         INSERT INTO runs (id, status) SELECT i, 'pending' FROM generate_series(0, 999) AS i;"
    ))
    .unwrap();
    let claim = conn
        .prepare(
            "UPDATE q SET state = 'running', token = $1, lease_until = $2
             WHERE id = (SELECT id FROM q WHERE state = 'queued' ORDER BY run_at, id LIMIT 1
                         FOR UPDATE SKIP LOCKED)
             RETURNING id, ws",
        )
        .unwrap();
    let started = conn
        .prepare("UPDATE runs SET status = 'running' WHERE id = $1")
        .unwrap();
    let done = conn
        .prepare("DELETE FROM q WHERE id = $1 AND token = $2 AND state = 'running'")
        .unwrap();
    let finished = conn
        .prepare("UPDATE runs SET status = 'succeeded', finished_at = 1 WHERE id = $1")
        .unwrap();
    let requeue = conn
        .prepare("INSERT INTO q (id, ws, state, run_at) VALUES ($1, $2, 'queued', $1)")
        .unwrap();
    let new_run = conn
        .prepare("INSERT INTO runs (id, status) VALUES ($1, 'pending')")
        .unwrap();
    let mut token = 0i64;
    let mut next_id = 1000i64;
    let mut timed = Duration::ZERO;
    for _ in 0..cycles {
        token += 1;
        let start = Instant::now();
        let mut tx = conn.transaction().unwrap();
        let row = tx.query_one(&claim, &[&token, &60_000i64]).unwrap();
        let (id, ws): (i64, i64) = (row.get(0), row.get(1));
        tx.execute(&started, &[&id]).unwrap();
        tx.commit().unwrap();
        let mut tx = conn.transaction().unwrap();
        assert_eq!(tx.execute(&done, &[&id, &token]).unwrap(), 1);
        tx.execute(&finished, &[&id]).unwrap();
        tx.commit().unwrap();
        timed += start.elapsed();
        next_id += 1;
        conn.execute(&requeue, &[&next_id, &ws]).unwrap();
        conn.execute(&new_run, &[&next_id]).unwrap();
    }
    per_second(cycles, timed)
}

fn report(db: &str, fair: f64, fifo: f64, cycles: usize, wait: &Wait, noisy: usize) {
    println!(
        "jobs/{db} claim+complete: fair {fair:.0}/s, FIFO baseline {fifo:.0}/s, ratio {:.3} ({cycles} cycles each)",
        fair / fifo
    );
    println!(
        "jobs/{db} longest wait: last of 100 quiet jobs claimed at position {} with {noisy} noisy jobs queued first (FIFO: {}); claim median {:?}, p99 {:?}",
        wait.last_quiet,
        noisy + 100,
        wait.claim_median,
        wait.claim_p99
    );
}

fn main() {
    let cycles = env("BULKHEAD_JOBS_CYCLES", 2000);
    let noisy = env("BULKHEAD_JOBS_NOISY", 10_000);
    let only = std::env::var("BULKHEAD_JOBS_DB").unwrap_or_default();
    if only.is_empty() || only == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let fair = fair_throughput(&open(&dir.path().join("fair.db")), cycles);
        let fifo = fifo_throughput(dir.path(), cycles);
        let wait = longest_wait(&open(&dir.path().join("wait.db")), noisy);
        report("sqlite", fair, fifo, cycles, &wait, noisy);
    }
    if only.is_empty() || only == "postgres" {
        let fair = fair_throughput(&open_pg("fair"), cycles);
        let fifo = fifo_pg_throughput(cycles);
        let wait = longest_wait(&open_pg("wait"), noisy);
        report("postgres", fair, fifo, cycles, &wait, noisy);
        drop_pg_schemas();
    }
}
