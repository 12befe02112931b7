//! A model-based property test of the scheduler (see `bulkhead_core::schedules`), run by every
//! adapter that has a job queue.
//!
//! [`run`] drives random sequences over two organizations (two workspaces and one, two
//! connections each) against a reference model: schedules set (manual, cron, interval),
//! connections paused and resumed, workspaces made inactive and active again or deleted,
//! clock jumps, ticks, and claims (each claim ticks first, an organization's worker its own
//! organization only) completed at once. Each tick must queue and skip exactly what the model
//! says, and after every step:
//!
//! - every connection's due time is the model's (set from the schedule when it is set or
//!   resumed, moved past now by a tick, none when manual, paused or in a retired workspace),
//!   and the store's due listing holds exactly the model's rows, nothing else;
//! - no connection has more than one live job, and each has one exactly when the model says.
//!
//! `BULKHEAD_PROPTEST_CASES=N` runs N cases.

use std::collections::BTreeMap;
use std::time::Duration;

use bulkhead_core::{
    Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, Error, OrgScope, Page, Schedule,
    SyncOutcome, Timestamp, WorkspaceId, WorkspaceScope, WorkspaceStatus, WorkspaceUpdate,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::conformance::{Harness, new_connection, new_org, pipeline, workspace};
use crate::model::{Adapter, cases_or};

/// Workspaces of each organization.
const WORKSPACES: [usize; 2] = [2, 1];
/// Connections per workspace.
const CONNECTIONS: usize = 2;
const MAX_STEPS: usize = 60;
const DEFAULT_CASES: u32 = 24;
const SCHEDULES: [&str; 5] = [
    "manual",
    "*/7 * * * *",
    "0 */2 * * *",
    "every 13 minutes",
    "every 1 hour",
];

#[derive(Clone, Debug)]
enum Op {
    /// Sets connection `.0`'s schedule to `SCHEDULES[.1]`.
    Schedule(usize, usize),
    /// Pauses (`false`) or resumes (`true`) connection `.0`.
    Status(usize, bool),
    /// Makes workspace `.0` inactive (`false`) or active (`true`).
    Workspace(usize, bool),
    /// Deletes workspace `.0`.
    Delete(usize),
    /// Moves the clock `.0` minutes on.
    Advance(u64),
    /// `Engine::tick_schedules`.
    Tick,
    /// A claim by organization `.0`'s worker, or the engine's (`None`), completed at once.
    Claim(Option<usize>),
}

fn op() -> impl Strategy<Value = Op> {
    let connections = WORKSPACES.iter().sum::<usize>() * CONNECTIONS;
    let workspaces = WORKSPACES.iter().sum::<usize>();
    prop_oneof![
        3 => (0..connections, 0..SCHEDULES.len()).prop_map(|(c, s)| Op::Schedule(c, s)),
        2 => (0..connections, any::<bool>()).prop_map(|(c, on)| Op::Status(c, on)),
        2 => (0..workspaces, any::<bool>()).prop_map(|(w, on)| Op::Workspace(w, on)),
        1 => (0..workspaces).prop_map(Op::Delete),
        4 => prop_oneof![1u64..20, 20u64..400].prop_map(Op::Advance),
        3 => Just(Op::Tick),
        3 => prop_oneof![Just(None), (0..WORKSPACES.len()).prop_map(Some)].prop_map(Op::Claim),
    ]
}

/// One connection as the model sees it.
struct Conn {
    id: ConnectionId,
    ws: usize,
    schedule: Schedule,
    active: bool,
    paused_by_workspace: bool,
    due: Option<Timestamp>,
    live: bool,
}

struct Ws {
    id: WorkspaceId,
    org: usize,
    active: bool,
    deleted: bool,
}

struct World<'h> {
    h: &'h Harness,
    orgs: Vec<OrgScope>,
    workspaces: Vec<Ws>,
    connections: Vec<Conn>,
}

impl<'h> World<'h> {
    fn new(h: &'h Harness) -> Self {
        let mut orgs = Vec::new();
        let mut workspaces = Vec::new();
        let mut connections = Vec::new();
        for (o, count) in WORKSPACES.iter().enumerate() {
            let (org, _) = new_org(h, &format!("org {o}"));
            for w in 0..*count {
                let ws = workspace(&org, &format!("cust-{w}"));
                let (source, destination, _) = pipeline(&ws, "seed");
                for c in 0..CONNECTIONS {
                    let made: Connection = ws
                        .create_connection(new_connection(
                            &format!("c{c}"),
                            source.id,
                            destination.id,
                        ))
                        .unwrap();
                    connections.push(Conn {
                        id: made.id,
                        ws: workspaces.len(),
                        schedule: Schedule::Manual,
                        active: true,
                        paused_by_workspace: false,
                        due: None,
                        live: false,
                    });
                }
                workspaces.push(Ws {
                    id: ws.workspace_id(),
                    org: o,
                    active: true,
                    deleted: false,
                });
            }
            orgs.push(org);
        }
        Self {
            h,
            orgs,
            workspaces,
            connections,
        }
    }

    fn now(&self) -> Timestamp {
        self.h.now()
    }

    fn scope(&self, w: usize) -> Result<WorkspaceScope, Error> {
        let ws = &self.workspaces[w];
        self.orgs[ws.org].workspace(ws.id)
    }

    fn runs(&self, c: &Conn) -> bool {
        let ws = &self.workspaces[c.ws];
        c.active && ws.active && !ws.deleted
    }

    /// The model's tick over organization `org`'s connections (or every one): (queued,
    /// skipped).
    fn tick_model(&mut self, org: Option<usize>) -> (u64, u64) {
        let now = self.now();
        let (mut queued, mut skipped) = (0, 0);
        for i in 0..self.connections.len() {
            let c = &self.connections[i];
            let ws = &self.workspaces[c.ws];
            if org.is_some_and(|o| o != ws.org) || ws.deleted || !ws.active {
                continue;
            }
            let Some(due) = c.due.filter(|d| *d <= now) else {
                continue;
            };
            let next = c.schedule.due_after(due, now);
            let c = &mut self.connections[i];
            c.due = next;
            if c.live {
                skipped += 1;
            } else {
                c.live = true;
                queued += 1;
            }
        }
        (queued, skipped)
    }

    fn step(&mut self, op: &Op) {
        let now = self.now();
        match *op {
            Op::Schedule(c, s) => {
                let schedule = Schedule::parse(SCHEDULES[s]).unwrap();
                let w = self.connections[c].ws;
                let result = self.scope(w).and_then(|ws| {
                    ws.update_connection(
                        self.connections[c].id,
                        &ConnectionUpdate {
                            schedule: Some(schedule.clone()),
                            ..ConnectionUpdate::default()
                        },
                    )
                });
                let ws = &self.workspaces[w];
                if ws.deleted || !ws.active {
                    assert!(result.is_err(), "a retired workspace's connection changed");
                    return;
                }
                result.unwrap();
                let runs = self.runs(&self.connections[c]);
                let conn = &mut self.connections[c];
                conn.schedule = schedule;
                conn.due = conn.schedule.first_due(now).filter(|_| runs);
            }
            Op::Status(c, on) => {
                let w = self.connections[c].ws;
                let status = if on {
                    ConnectionStatus::Active
                } else {
                    ConnectionStatus::Inactive
                };
                let result = self.scope(w).and_then(|ws| {
                    ws.update_connection(
                        self.connections[c].id,
                        &ConnectionUpdate {
                            status: Some(status),
                            ..ConnectionUpdate::default()
                        },
                    )
                });
                let ws = &self.workspaces[w];
                if ws.deleted || !ws.active {
                    assert!(result.is_err(), "a retired workspace's connection changed");
                    return;
                }
                result.unwrap();
                let conn = &mut self.connections[c];
                conn.active = on;
                conn.due = conn.schedule.first_due(now).filter(|_| on);
            }
            Op::Workspace(w, on) => {
                let ws = &self.workspaces[w];
                let status = if on {
                    WorkspaceStatus::Active
                } else {
                    WorkspaceStatus::Inactive
                };
                let result = self.orgs[ws.org].update_workspace(
                    ws.id,
                    &WorkspaceUpdate {
                        status: Some(status),
                        ..WorkspaceUpdate::default()
                    },
                );
                if ws.deleted {
                    assert!(result.is_err(), "a deleted workspace was updated");
                    return;
                }
                result.unwrap();
                self.workspaces[w].active = on;
                for conn in self.connections.iter_mut().filter(|c| c.ws == w) {
                    if !on && conn.active {
                        conn.active = false;
                        conn.paused_by_workspace = true;
                        conn.due = None;
                    } else if on && conn.paused_by_workspace {
                        conn.active = true;
                        conn.paused_by_workspace = false;
                        conn.due = conn.schedule.first_due(now);
                    }
                }
            }
            Op::Delete(w) => {
                let ws = &self.workspaces[w];
                let result = self.orgs[ws.org].delete_workspace(ws.id);
                if ws.deleted {
                    assert!(result.is_err(), "a workspace was deleted twice");
                    return;
                }
                result.unwrap();
                self.workspaces[w].deleted = true;
                for conn in self.connections.iter_mut().filter(|c| c.ws == w) {
                    conn.due = None;
                    conn.live = false;
                }
            }
            Op::Advance(minutes) => self.h.clock.advance(Duration::from_secs(minutes * 60)),
            Op::Tick => {
                let ticked = self.h.engine().tick_schedules().unwrap();
                let expected = self.tick_model(None);
                assert_eq!((ticked.queued, ticked.skipped), expected, "{ticked:?}");
            }
            Op::Claim(org) => {
                let worker = match org {
                    Some(o) => self.orgs[o].worker("model").unwrap(),
                    None => self.h.engine().worker("model").unwrap(),
                };
                self.tick_model(org);
                let claimable = self.connections.iter().any(|c| {
                    let ws = &self.workspaces[c.ws];
                    c.live && ws.active && !ws.deleted && org.is_none_or(|o| o == ws.org)
                });
                let claimed = worker.claim().unwrap();
                assert_eq!(claimed.is_some(), claimable, "a claim's answer");
                if let Some(job) = claimed {
                    let c = self
                        .connections
                        .iter_mut()
                        .find(|c| c.id == job.connection.id)
                        .expect("a claimed job of a known connection");
                    assert!(c.live, "claimed a job the model does not have");
                    worker
                        .complete(&job.lease, SyncOutcome::Succeeded { rows: 1, bytes: 1 })
                        .unwrap();
                    c.live = false;
                }
            }
        }
    }

    fn check(&self) {
        let far = Timestamp::from_unix_millis(i64::MAX / 2);
        let store = self.h.store().schedules().expect("a store with due times");
        let listed: BTreeMap<ConnectionId, Timestamp> = store
            .due_schedules(None, far, 1000)
            .unwrap()
            .into_iter()
            .map(|r| (r.connection_id, r.due_at))
            .collect();
        let expected: BTreeMap<ConnectionId, Timestamp> = self
            .connections
            .iter()
            .filter_map(|c| c.due.map(|d| (c.id, d)))
            .collect();
        assert_eq!(listed, expected, "the store's due rows");
        for c in &self.connections {
            if self.workspaces[c.ws].deleted {
                continue;
            }
            let ws = self.scope(c.ws).unwrap();
            assert_eq!(ws.next_scheduled_sync(c.id).unwrap(), c.due, "due time");
            let live = ws
                .list_sync_runs(c.id, &Page::first(100))
                .unwrap()
                .items
                .iter()
                .filter(|r| !r.status.is_finished())
                .count();
            assert_eq!(live, usize::from(c.live), "live jobs of a connection");
        }
    }
}

/// Runs the scheduler model against adapter `A` (`DEFAULT_CASES` sequences unless
/// `BULKHEAD_PROPTEST_CASES` says otherwise).
pub fn run<A: Adapter>() {
    let cases = cases_or(DEFAULT_CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..=MAX_STEPS), |ops| {
        let h = A::harness();
        let mut world = World::new(&h);
        for op in &ops {
            world.step(op);
            world.check();
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("the scheduler model failed: {e}");
    }
}
