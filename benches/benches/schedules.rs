//! The scheduler's tick (issue 17) on SQLite over many scheduled connections.
//!
//! Seeds `BULKHEAD_SCHED_CONNECTIONS` (default 100,000) connections, 10 organizations × 100
//! workspaces, each `every 2 days`, created one second apart on a manual clock, so their due
//! times spread over the seeding span. Then:
//!
//! - **None due**: the clock after the last creation and before the first due time;
//!   `Engine::tick_schedules` timed `BULKHEAD_SCHED_IDLE` times (default 2000). Baseline in
//!   the same run: the same query on a bare rusqlite table of as many rows with the same
//!   index (`SELECT … WHERE due_at <= ?1 ORDER BY due_at LIMIT 256`), same pragmas.
//! - **A batch due**: the clock moved so that exactly [`Engine::TICK_BATCH`] (256) are due,
//!   `BULKHEAD_SCHED_BATCHES` times (default 20); each tick queues 256 jobs. Baseline in the
//!   same run: 256 `WorkspaceScope::queue_sync` calls on other connections, the path the tick
//!   takes for each job, without the tick's read and compare-and-set.
//!
//! `cargo bench -p bulkhead-benches --bench schedules`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "bench setup: a failure here is a broken bench, not a library bug"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead::{
    Config, ConnectionId, ConnectorConfig, Engine, ExternalId, ManualClock, MasterKey,
    NewConnection, NewDestination, NewSource, Schedule, Timestamp, WorkspaceScope,
};
use rusqlite::{Connection, params};

const ORGS: usize = 10;
const WORKSPACES_PER_ORG: usize = 100;
const START: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);
const TWO_DAYS: u64 = 2 * 24 * 3600;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map_or(default, |v| v.parse().expect("a whole number"))
}

fn at(seconds: u64) -> Timestamp {
    START.plus(Duration::from_secs(seconds))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The connection `i` (created at second `i`) and its workspace.
struct Seeded {
    connections: Vec<(usize, ConnectionId)>,
    workspaces: Vec<WorkspaceScope>,
}

fn seed(engine: &Engine, clock: &ManualClock, total: usize) -> Seeded {
    let per_ws = total.div_ceil(ORGS * WORKSPACES_PER_ORG).max(1);
    let config = |k: &str| ConnectorConfig::new(serde_json::json!({ "name": k })).unwrap();
    let mut workspaces = Vec::new();
    let mut connections = Vec::with_capacity(total);
    let schedule = Schedule::parse("every 2 days").unwrap();
    let mut made = 0;
    'orgs: for o in 0..ORGS {
        let (_, key) = engine.create_organization(&format!("org-{o}")).unwrap();
        let org = engine.authenticate_org(key.expose()).unwrap();
        for w in 0..WORKSPACES_PER_ORG {
            let ws = org
                .get_or_create_workspace(&format!("ws-{w}").parse::<ExternalId>().unwrap())
                .unwrap();
            let ws = org.workspace(ws.workspace.id).unwrap();
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
            for _ in 0..per_ws {
                if made == total {
                    workspaces.push(ws);
                    break 'orgs;
                }
                clock.set(at(made as u64));
                let c = ws
                    .create_connection(NewConnection {
                        name: format!("c{made}").parse().unwrap(),
                        source_id: source.id,
                        destination_id: destination.id,
                        schedule: schedule.clone(),
                    })
                    .unwrap();
                connections.push((workspaces.len(), c.id));
                made += 1;
            }
            workspaces.push(ws);
        }
    }
    Seeded {
        connections,
        workspaces,
    }
}

/// The baseline of the idle tick: the due query on a bare table of `rows` rows.
fn bare_due_table(path: &Path, rows: usize) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE due (workspace_id BLOB NOT NULL, connection_id BLOB NOT NULL,
             org_id BLOB NOT NULL, schedule TEXT NOT NULL, due_at INTEGER NOT NULL,
             PRIMARY KEY (workspace_id, connection_id)) STRICT, WITHOUT ROWID;
         CREATE INDEX due_at ON due (due_at);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut insert = tx
            .prepare("INSERT INTO due VALUES (?1, ?2, ?3, 'every 2 days', ?4)")
            .unwrap();
        for i in 0..rows {
            let id = uuid::Uuid::new_v4();
            insert
                .execute(params![
                    uuid::Uuid::new_v4(),
                    id,
                    uuid::Uuid::new_v4(),
                    at(TWO_DAYS + i as u64).unix_millis()
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    conn
}

fn main() {
    let total = env("BULKHEAD_SCHED_CONNECTIONS", 100_000);
    let idle_runs = env("BULKHEAD_SCHED_IDLE", 2000);
    let batches = env("BULKHEAD_SCHED_BATCHES", 20);
    let batch = Engine::TICK_BATCH;
    assert!(
        total >= batch * (2 * batches + 1),
        "BULKHEAD_SCHED_CONNECTIONS must be at least {}",
        batch * (2 * batches + 1)
    );
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let engine = Engine::open(
        dir.path().join("bulkhead.db"),
        Config::default()
            .with_master_key(MasterKey::generate().unwrap())
            .with_clock(Arc::clone(&clock) as Arc<dyn bulkhead::Clock>),
    )
    .unwrap();

    let seeding = Instant::now();
    let seeded = seed(&engine, &clock, total);
    let seeding = seeding.elapsed();
    println!(
        "seeded {total} scheduled connections in {} workspaces in {:.1} s",
        seeded.workspaces.len(),
        seeding.as_secs_f64()
    );

    // None due: after the last creation, before the first due time (second 2 days).
    clock.set(at(total as u64 + 60));
    assert_eq!(engine.tick_schedules().unwrap().queued, 0);
    let mut idle = Vec::with_capacity(idle_runs);
    for _ in 0..idle_runs {
        let t = Instant::now();
        let ticked = engine.tick_schedules().unwrap();
        idle.push(t.elapsed());
        assert_eq!(ticked.queued, 0);
    }
    idle.sort();
    let bare = bare_due_table(&dir.path().join("bare.db"), total);
    let now = at(total as u64 + 60).unix_millis();
    let mut bare_times = Vec::with_capacity(idle_runs);
    for _ in 0..idle_runs {
        let t = Instant::now();
        let rows: Vec<(uuid::Uuid, i64)> = bare
            .prepare_cached(
                "SELECT connection_id, due_at FROM due WHERE due_at <= ?1 ORDER BY due_at LIMIT 256",
            )
            .unwrap()
            .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        bare_times.push(t.elapsed());
        assert!(rows.is_empty());
    }
    bare_times.sort();
    println!(
        "tick, none due: median {:.1} µs, p99 {:.1} µs; bare indexed due query: median {:.1} µs, p99 {:.1} µs; ratio {:.2}",
        micros(percentile(&idle, 0.5)),
        micros(percentile(&idle, 0.99)),
        micros(percentile(&bare_times, 0.5)),
        micros(percentile(&bare_times, 0.99)),
        micros(percentile(&idle, 0.5)) / micros(percentile(&bare_times, 0.5)),
    );

    // A batch due: connection i is due at second 2 days + i; moving the clock to the end of
    // the k-th window of 256 seconds makes exactly 256 due.
    let mut ticks = Vec::with_capacity(batches);
    for k in 0..batches {
        clock.set(at(TWO_DAYS + ((k + 1) * batch) as u64 - 1));
        let t = Instant::now();
        let ticked = engine.tick_schedules().unwrap();
        ticks.push(t.elapsed());
        assert_eq!(ticked.queued, batch as u64, "window {k}");
    }
    ticks.sort();
    // Baseline: the same number of queue_sync calls on connections no tick has touched.
    let mut direct = Vec::with_capacity(batches);
    let untouched = &seeded.connections[total - batches * batch..];
    for chunk in untouched.chunks(batch) {
        let t = Instant::now();
        for (ws, id) in chunk {
            seeded.workspaces[*ws].queue_sync(*id).unwrap();
        }
        direct.push(t.elapsed());
    }
    direct.sort();
    println!(
        "tick, {batch} due: median {:.2} ms, max {:.2} ms ({:.1} µs a job); {batch} queue_sync calls: median {:.2} ms, max {:.2} ms; ratio {:.2}",
        percentile(&ticks, 0.5).as_secs_f64() * 1e3,
        ticks.last().unwrap().as_secs_f64() * 1e3,
        micros(percentile(&ticks, 0.5)) / batch as f64,
        percentile(&direct, 0.5).as_secs_f64() * 1e3,
        direct.last().unwrap().as_secs_f64() * 1e3,
        micros(percentile(&ticks, 0.5)) / micros(percentile(&direct, 0.5)),
    );
}
