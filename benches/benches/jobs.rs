//! Jobs (issue 17) on SQLite: the fair queue's throughput beside a FIFO queue, and how long
//! quiet workspaces wait behind a noisy one.
//!
//! - **Throughput**: 10 organizations × 10 workspaces × 10 connections, every connection
//!   queued; one worker claims and completes, and each completed connection is queued again
//!   (steady state). Reported: claim + complete cycles per second (the re-enqueue is timed
//!   apart), beside a FIFO baseline measured in the same run: the same two transactions on a
//!   bare rusqlite table (River's shape: `UPDATE … WHERE id = (SELECT … ORDER BY run_at, id
//!   LIMIT 1) RETURNING`, then a delete and a history update), same pragmas (WAL,
//!   `synchronous=NORMAL`). The fair claim does more (reaping, two levels of virtual time,
//!   caps, the run's status, the configuration opened and the claim audited), so the ratio is
//!   what all of it costs.
//! - **Longest wait**: one workspace queues 10,000 jobs, then 100 quiet workspaces (10
//!   organizations, the noisy one's included) queue one each; one worker drains. Reported:
//!   the claim position of the last quiet job (FIFO by enqueue time would serve the quiet jobs
//!   at positions 10,001 to 10,100), and the median and 99th-percentile claim time with the
//!   10,000-deep backlog.
//!
//! Bounded: `BULKHEAD_JOBS_CYCLES` (default 2000) timed cycles per target, and
//! `BULKHEAD_JOBS_NOISY` (default 10000) noisy jobs.
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

use bulkhead::{
    Config, ConnectionId, ConnectorConfig, Engine, JobSettings, MasterKey, NewConnection,
    NewDestination, NewSource, Schedule, SyncOutcome, WorkspaceId, WorkspaceScope,
};
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

fn fair_throughput(dir: &Path, cycles: usize) -> f64 {
    let engine = open(&dir.join("fair.db"));
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

fn longest_wait(dir: &Path, noisy: usize) -> Wait {
    let engine = open(&dir.join("wait.db"));
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

fn main() {
    let cycles = env("BULKHEAD_JOBS_CYCLES", 2000);
    let noisy = env("BULKHEAD_JOBS_NOISY", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let fair = fair_throughput(dir.path(), cycles);
    let fifo = fifo_throughput(dir.path(), cycles);
    println!(
        "jobs/sqlite claim+complete: fair {fair:.0}/s, FIFO baseline {fifo:.0}/s, ratio {:.3} ({cycles} cycles each)",
        fair / fifo
    );
    let wait = longest_wait(dir.path(), noisy);
    println!(
        "jobs/sqlite longest wait: last of 100 quiet jobs claimed at position {} with {noisy} noisy jobs queued first (FIFO: {}); claim median {:?}, p99 {:?}",
        wait.last_quiet,
        noisy + 100,
        wait.claim_median,
        wait.claim_p99
    );
}
