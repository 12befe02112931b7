//! A model-based property test of the job queue (see `bulkhead_core::jobs`), run by every
//! adapter that has one.
//!
//! [`run`] drives random sequences of queue operations over two organizations (three and two
//! workspaces, two connections each) against a reference model: enqueues, claims by a worker
//! of every organization and by a worker of the first one, heartbeats and completions with
//! fresh and stale leases, cancels, worker crashes (a lease dropped), clock jumps past
//! leases, explicit reaping, workspace deactivation, reactivation and deletion. Each call's
//! answer must be the one the model expects, and after every step:
//!
//! - no job is lost: every live job of the model has exactly one queue row, in the model's
//!   state, attempt and lease, and the queue holds nothing else;
//! - none is completed twice, and a stale fencing token never wins (a heartbeat or completion
//!   is accepted exactly when the model says its lease is the job's current one);
//! - no job has two live leases: tokens only grow, and a job has one current token;
//! - the scheduler's counters equal the counts recomputed from the rows, and no organization
//!   or workspace runs more jobs than its cap;
//! - a claim returns a job exactly when the model has a claimable one, and only such a job
//!   (active, undeleted workspace, under the caps).
//!
//! [`run_fairness`] checks the fairness bound: random organizations, workspaces and backlogs
//! (one noisy workspace with many jobs), one worker draining; every workspace's first job is
//! claimed within about one claim per active workspace.
//!
//! `BULKHEAD_PROPTEST_CASES=N` runs N cases per test.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bulkhead_core::jobs::{QueueRow, QueueState};
use bulkhead_core::{
    ConnectionId, Engine, Error, JobSettings, Lease, OrgScope, SyncOutcome, SyncRunId, SyncStatus,
    Worker, WorkspaceId, WorkspaceStatus, WorkspaceUpdate,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::conformance::{Harness, new_connection, new_org, pipeline, workspace};
use crate::model::{Adapter, cases_or};

/// Workspaces per organization.
const WORKSPACES: [usize; 2] = [3, 2];
/// Connections per workspace.
const CONNECTIONS: usize = 2;
/// Steps of one case, at most.
const MAX_STEPS: usize = 80;

fn settings() -> JobSettings {
    JobSettings {
        lease: Duration::from_secs(10),
        max_attempts: 3,
        backoff_base: Duration::from_secs(5),
        backoff_max: Duration::from_secs(8),
        org_max_running: 3,
        workspace_max_running: 2,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Enqueue(u8, u8),
    /// By the worker of every organization (false) or the first organization's (true).
    Claim(bool),
    Heartbeat(u8),
    Complete(u8, bool),
    Cancel(u8),
    Advance(u8),
    Reap,
    Crash(u8),
    Deactivate(u8),
    Activate(u8),
    Delete(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<u8>()).prop_map(|(w, c)| Op::Enqueue(w, c)),
        8 => any::<bool>().prop_map(Op::Claim),
        4 => any::<u8>().prop_map(Op::Heartbeat),
        4 => (any::<u8>(), any::<bool>()).prop_map(|(l, ok)| Op::Complete(l, ok)),
        1 => any::<u8>().prop_map(Op::Cancel),
        // Mostly within a lease, often past one (10 s), sometimes past a backoff too.
        5 => prop_oneof![Just(2u8), Just(6), Just(11), Just(16)].prop_map(Op::Advance),
        1 => Just(Op::Reap),
        1 => any::<u8>().prop_map(Op::Crash),
        1 => any::<u8>().prop_map(Op::Deactivate),
        1 => any::<u8>().prop_map(Op::Activate),
        1 => any::<u8>().prop_map(Op::Delete),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Active,
    Inactive,
    Deleted,
}

struct Ws {
    org: usize,
    id: WorkspaceId,
    connections: Vec<ConnectionId>,
    status: Status,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Queued,
    Scheduled,
    Running,
    Done,
}

#[derive(Clone, Debug)]
struct MJob {
    ws: usize,
    connection: ConnectionId,
    state: State,
    attempt: u32,
    run_at: i64,
    token: Option<u64>,
    lease_until: i64,
}

struct Model {
    now: i64,
    settings: JobSettings,
    workspaces: Vec<Ws>,
    jobs: BTreeMap<SyncRunId, MJob>,
    completed: BTreeSet<SyncRunId>,
    last_token: u64,
}

impl Model {
    fn running_in(&self, pred: impl Fn(&MJob) -> bool) -> usize {
        self.jobs
            .values()
            .filter(|j| j.state == State::Running && pred(j))
            .count()
    }

    /// What a claim does before it picks: reap, then promote due retries.
    fn reap(&mut self) {
        let now = self.now;
        let settings = self.settings.clone();
        for job in self.jobs.values_mut() {
            if job.state == State::Running && job.lease_until < now {
                job.token = None;
                if job.attempt >= settings.max_attempts {
                    job.state = State::Done;
                } else {
                    let exponent = job.attempt.saturating_sub(1);
                    let wait = settings
                        .backoff_base
                        .saturating_mul(1 << exponent)
                        .min(settings.backoff_max);
                    job.state = State::Scheduled;
                    job.run_at = now + i64::try_from(wait.as_millis()).unwrap();
                }
            }
        }
    }

    fn promote(&mut self) {
        let now = self.now;
        for job in self.jobs.values_mut() {
            if job.state == State::Scheduled && job.run_at <= now {
                job.state = State::Queued;
            }
        }
    }

    /// The jobs a claim may return (after reaping and promoting).
    fn claimable(&self, only_org: Option<usize>) -> BTreeSet<SyncRunId> {
        let org_cap = self.settings.org_max_running as usize;
        let ws_cap = self.settings.workspace_max_running as usize;
        self.jobs
            .iter()
            .filter(|(_, j)| j.state == State::Queued)
            .filter(|(_, j)| {
                let ws = &self.workspaces[j.ws];
                ws.status == Status::Active
                    && only_org.is_none_or(|o| o == ws.org)
                    && self.running_in(|r| self.workspaces[r.ws].org == ws.org) < org_cap
                    && self.running_in(|r| r.ws == j.ws) < ws_cap
            })
            .map(|(id, _)| *id)
            .collect()
    }

    fn is_current(&self, lease: &Lease) -> bool {
        self.jobs
            .get(&lease.job_id())
            .is_some_and(|j| j.state == State::Running && j.token == Some(lease.token().get()))
    }
}

struct World<'h> {
    h: &'h Harness,
    orgs: Vec<OrgScope>,
    workers: [Worker; 2],
    leases: Vec<Lease>,
    model: Model,
}

fn engine(h: &Harness) -> &Engine {
    h.engine()
}

fn pick<T>(items: &[T], i: u8) -> Option<&T> {
    if items.is_empty() {
        None
    } else {
        items.get(usize::from(i) % items.len())
    }
}

impl<'h> World<'h> {
    fn new(h: &'h Harness) -> Self {
        engine(h).set_job_settings(settings()).unwrap();
        let mut orgs = Vec::new();
        let mut workspaces = Vec::new();
        for (o, count) in WORKSPACES.iter().enumerate() {
            let (org, _) = new_org(h, &format!("org {o}"));
            for w in 0..*count {
                let ws = workspace(&org, &format!("ws-{o}-{w}"));
                let connections = (0..CONNECTIONS)
                    .map(|c| pipeline(&ws, &format!("p{c}")).2.id)
                    .collect();
                workspaces.push(Ws {
                    org: o,
                    id: ws.workspace_id(),
                    connections,
                    status: Status::Active,
                });
            }
            orgs.push(org);
        }
        let workers = [
            engine(h).worker("all").unwrap(),
            orgs[0].worker("first").unwrap(),
        ];
        World {
            h,
            orgs,
            workers,
            leases: Vec::new(),
            model: Model {
                now: h.now().unix_millis(),
                settings: settings(),
                workspaces,
                jobs: BTreeMap::new(),
                completed: BTreeSet::new(),
                last_token: 0,
            },
        }
    }

    fn org_of(&self, ws: usize) -> &OrgScope {
        &self.orgs[self.model.workspaces[ws].org]
    }

    fn job_index(&self, i: u8) -> Option<SyncRunId> {
        let ids: Vec<SyncRunId> = self.model.jobs.keys().copied().collect();
        pick(&ids, i).copied()
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Enqueue(w, c) => self.enqueue(w, c),
            Op::Claim(first_only) => self.claim(first_only),
            Op::Heartbeat(l) => self.heartbeat(l),
            Op::Complete(l, ok) => self.complete(l, ok),
            Op::Cancel(j) => self.cancel(j),
            Op::Advance(secs) => {
                self.h.clock.advance(Duration::from_secs(u64::from(secs)));
                self.model.now = self.h.now().unix_millis();
            }
            Op::Reap => {
                let reaped = engine(self.h).reap_jobs().unwrap();
                let before = self.live_running_expired();
                self.model.reap();
                assert_eq!(reaped.retried + reaped.failed, before, "reaped count");
            }
            Op::Crash(l) => {
                if !self.leases.is_empty() {
                    let i = usize::from(l) % self.leases.len();
                    self.leases.swap_remove(i);
                }
            }
            Op::Deactivate(w) => self.set_status(w, Status::Inactive),
            Op::Activate(w) => self.set_status(w, Status::Active),
            Op::Delete(w) => self.set_status(w, Status::Deleted),
        }
    }

    fn live_running_expired(&self) -> u64 {
        self.model
            .jobs
            .values()
            .filter(|j| j.state == State::Running && j.lease_until < self.model.now)
            .count() as u64
    }

    fn enqueue(&mut self, w: u8, c: u8) {
        let ws_index = usize::from(w) % self.model.workspaces.len();
        let ws = &self.model.workspaces[ws_index];
        let connection = *pick(&ws.connections, c).unwrap();
        let live = self
            .model
            .jobs
            .values()
            .any(|j| j.connection == connection && j.state != State::Done);
        let status = ws.status;
        let result = self
            .org_of(ws_index)
            .workspace(ws.id)
            .and_then(|scope| scope.queue_sync(connection));
        match (status, live, result) {
            (Status::Deleted, _, Err(Error::NotFound { .. })) => {}
            (Status::Inactive, _, Err(Error::WorkspaceInactive { .. })) => {}
            (Status::Active, true, Err(Error::SyncAlreadyRunning { .. })) => {}
            (Status::Active, false, Ok(job)) => {
                assert_eq!(job.run.status, SyncStatus::Pending);
                self.model.jobs.insert(
                    job.run.id,
                    MJob {
                        ws: ws_index,
                        connection,
                        state: State::Queued,
                        attempt: 0,
                        run_at: self.model.now,
                        token: None,
                        lease_until: 0,
                    },
                );
            }
            (status, live, other) => {
                panic!("enqueue in a {status:?} workspace (live job: {live}) answered {other:?}")
            }
        }
    }

    fn claim(&mut self, first_only: bool) {
        self.model.reap();
        self.model.promote();
        let claimable = self.model.claimable(first_only.then_some(0));
        let worker = &self.workers[usize::from(first_only)];
        let claimed = worker.claim().unwrap();
        match claimed {
            None => assert!(
                claimable.is_empty(),
                "no job claimed while {claimable:?} were claimable"
            ),
            Some(claimed) => {
                let id = claimed.lease.job_id();
                assert!(
                    claimable.contains(&id),
                    "claimed {id}, not one of the claimable {claimable:?}"
                );
                let token = claimed.lease.token().get();
                assert!(token > self.model.last_token, "fencing tokens only grow");
                self.model.last_token = token;
                assert_eq!(claimed.run.id, id);
                assert_eq!(claimed.run.status, SyncStatus::Running);
                let job = self.model.jobs.get_mut(&id).unwrap();
                assert_eq!(claimed.connection.id, job.connection);
                assert_eq!(claimed.source.id, claimed.connection.source_id);
                assert_eq!(claimed.destination.id, claimed.connection.destination_id);
                job.state = State::Running;
                job.attempt += 1;
                assert_eq!(claimed.lease.attempt(), job.attempt);
                job.token = Some(token);
                job.lease_until = claimed.lease.until().unix_millis();
                self.leases.push(claimed.lease);
            }
        }
    }

    fn worker_for(&self, lease: &Lease) -> &Worker {
        // The first organization's worker for its own jobs, half the time by token parity.
        let ws = self
            .model
            .workspaces
            .iter()
            .find(|w| w.id == lease.workspace_id())
            .unwrap();
        if ws.org == 0 && lease.token().get().is_multiple_of(2) {
            &self.workers[1]
        } else {
            &self.workers[0]
        }
    }

    fn heartbeat(&mut self, l: u8) {
        if self.leases.is_empty() {
            return;
        }
        let i = usize::from(l) % self.leases.len();
        let mut lease = self.leases[i].clone();
        let current = self.model.is_current(&lease);
        let result = self.worker_for(&lease).heartbeat(&mut lease);
        match (current, result) {
            (true, Ok(())) => {
                let job = self.model.jobs.get_mut(&lease.job_id()).unwrap();
                job.lease_until = job.lease_until.max(lease.until().unix_millis());
                self.leases[i] = lease;
            }
            (false, Err(Error::LeaseLost { job_id })) => assert_eq!(job_id, lease.job_id()),
            (current, other) => panic!("heartbeat (current: {current}) answered {other:?}"),
        }
    }

    fn complete(&mut self, l: u8, ok: bool) {
        if self.leases.is_empty() {
            return;
        }
        let i = usize::from(l) % self.leases.len();
        let lease = self.leases[i].clone();
        let current = self.model.is_current(&lease);
        let outcome = if ok {
            SyncOutcome::Succeeded { rows: 3, bytes: 7 }
        } else {
            SyncOutcome::Failed {
                error: "the source timed out".to_owned(),
                rows: 0,
                bytes: 0,
            }
        };
        let result = self.worker_for(&lease).complete(&lease, outcome);
        match (current, result) {
            (true, Ok(run)) => {
                assert_eq!(run.id, lease.job_id());
                let expected = if ok {
                    SyncStatus::Succeeded
                } else {
                    SyncStatus::Failed
                };
                assert_eq!(run.status, expected);
                assert!(
                    self.model.completed.insert(lease.job_id()),
                    "job {} completed twice",
                    lease.job_id()
                );
                let job = self.model.jobs.get_mut(&lease.job_id()).unwrap();
                job.state = State::Done;
                job.token = None;
                self.leases.swap_remove(i);
            }
            (false, Err(Error::LeaseLost { job_id })) => assert_eq!(job_id, lease.job_id()),
            (current, other) => panic!("completion (current: {current}) answered {other:?}"),
        }
    }

    fn cancel(&mut self, j: u8) {
        let Some(id) = self.job_index(j) else {
            return;
        };
        let job = self.model.jobs[&id].clone();
        let ws = &self.model.workspaces[job.ws];
        let result = self
            .org_of(job.ws)
            .workspace(ws.id)
            .and_then(|scope| scope.cancel_job(id));
        match (ws.status, job.state, result) {
            (Status::Deleted, _, Err(Error::NotFound { .. })) => {}
            (Status::Inactive, _, Err(Error::WorkspaceInactive { .. })) => {}
            (Status::Active, State::Done, Err(Error::Conflict { .. })) => {}
            (Status::Active, state, Ok(cancelled)) if state != State::Done => {
                assert_eq!(cancelled.run.status, SyncStatus::Cancelled);
                let job = self.model.jobs.get_mut(&id).unwrap();
                job.state = State::Done;
                job.token = None;
            }
            (status, state, other) => {
                panic!("cancel of a {state:?} job in a {status:?} workspace answered {other:?}")
            }
        }
    }

    fn set_status(&mut self, w: u8, to: Status) {
        let index = usize::from(w) % self.model.workspaces.len();
        let ws = &self.model.workspaces[index];
        if ws.status == Status::Deleted || ws.status == to {
            return;
        }
        let org = self.org_of(index);
        match to {
            Status::Deleted => org.delete_workspace(ws.id).unwrap(),
            Status::Active | Status::Inactive => {
                let status = if to == Status::Active {
                    WorkspaceStatus::Active
                } else {
                    WorkspaceStatus::Inactive
                };
                org.update_workspace(
                    ws.id,
                    &WorkspaceUpdate {
                        status: Some(status),
                        ..WorkspaceUpdate::default()
                    },
                )
                .unwrap();
            }
        }
        self.model.workspaces[index].status = to;
    }

    /// The invariants, checked against the store's whole queue.
    fn check(&self) {
        let snapshot = self
            .h
            .store()
            .jobs()
            .expect("the store has a job queue")
            .snapshot()
            .unwrap();
        let rows: BTreeMap<SyncRunId, &QueueRow> =
            snapshot.rows.iter().map(|r| (r.job_id, r)).collect();
        assert_eq!(rows.len(), snapshot.rows.len(), "a job with two queue rows");
        for (id, job) in &self.model.jobs {
            let row = rows.get(id);
            if job.state == State::Done {
                assert!(row.is_none(), "ended job {id} still queued: {row:?}");
                continue;
            }
            let row = row.unwrap_or_else(|| panic!("live job {id} lost from the queue"));
            let state = match job.state {
                State::Queued => QueueState::Queued,
                State::Scheduled => QueueState::Scheduled,
                State::Running => QueueState::Running,
                State::Done => unreachable!(),
            };
            // Expired but not yet reaped, and due but not yet promoted, are what the model
            // says too: both happen only at a claim or a reap.
            assert_eq!(row.state, state, "state of job {id}");
            assert_eq!(row.attempt, job.attempt, "attempt of job {id}");
            assert_eq!(row.lease_token, job.token, "lease of job {id}");
            assert_eq!(row.max_attempts, self.model.settings.max_attempts);
            assert_eq!(row.workspace_id, self.model.workspaces[job.ws].id);
            if job.state == State::Running {
                assert_eq!(
                    row.lease_until.map(|t| t.unix_millis()),
                    Some(job.lease_until)
                );
            } else {
                assert_eq!(row.run_at.unix_millis(), job.run_at, "run_at of job {id}");
            }
        }
        for id in rows.keys() {
            assert!(
                self.model.jobs.contains_key(id),
                "queue row {id} of no job the model knows"
            );
        }
        // One current lease per job: the leases held that the model calls current name
        // distinct jobs.
        let mut current = BTreeSet::new();
        for lease in &self.leases {
            if self.model.is_current(lease) {
                assert!(current.insert(lease.job_id()), "two live leases on one job");
            }
        }
        // Counters equal the rows, and caps hold.
        let mut by_ws: BTreeMap<uuid::Uuid, (u64, u64)> = BTreeMap::new();
        let mut by_org: BTreeMap<uuid::Uuid, (u64, u64)> = BTreeMap::new();
        for row in &snapshot.rows {
            for (map, key) in [
                (&mut by_ws, *row.workspace_id.as_uuid()),
                (&mut by_org, *row.org_id.as_uuid()),
            ] {
                let entry = map.entry(key).or_default();
                match row.state {
                    QueueState::Queued => entry.0 += 1,
                    QueueState::Running => entry.1 += 1,
                    QueueState::Scheduled => {}
                }
            }
        }
        for (counters, recount, cap) in [
            (
                &snapshot.workspaces,
                &by_ws,
                self.model.settings.workspace_max_running,
            ),
            (&snapshot.orgs, &by_org, self.model.settings.org_max_running),
        ] {
            for counter in counters {
                let (queued, running) = recount.get(&counter.id).copied().unwrap_or_default();
                assert_eq!(
                    (counter.queued, counter.running),
                    (queued, running),
                    "counters of {}",
                    counter.id
                );
                assert!(
                    running <= u64::from(cap),
                    "{} runs over its cap",
                    counter.id
                );
            }
            for id in recount.keys() {
                assert!(counters.iter().any(|c| c.id == *id), "no counters for {id}");
            }
        }
    }
}

/// Cases of [`run`] by default: CI-sized; `BULKHEAD_PROPTEST_CASES` asks for more.
pub const DEFAULT_CASES: u32 = 64;

/// Runs the queue model against adapter `A` ([`DEFAULT_CASES`] cases, or
/// `BULKHEAD_PROPTEST_CASES`; see the module docs).
pub fn run<A: Adapter>() {
    run_cases::<A>(cases_or(DEFAULT_CASES));
}

/// [`run`] with `cases` cases.
pub fn run_cases<A: Adapter>(cases: u32) {
    assert!(cases > 0, "a model run of zero cases proves nothing");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 1024,
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
        panic!("the queue model failed: {e}");
    }
}

/// One fairness case: per organization, each workspace's backlog (the first organization's
/// first workspace is the noisy one).
fn backlogs() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (
        20usize..=60,
        proptest::collection::vec(proptest::collection::vec(1usize..=3, 1..=4), 1..=3),
    )
        .prop_map(|(noisy, mut orgs)| {
            orgs[0][0] = noisy;
            orgs
        })
}

/// Runs the fairness check against adapter `A` (16 cases, or `BULKHEAD_PROPTEST_CASES`; see
/// the module docs): with
/// every backlog queued and one worker claiming and completing, the first job of every
/// workspace is claimed within `orgs × workspaces of its org + orgs` claims, however big the
/// noisy workspace's backlog.
pub fn run_fairness<A: Adapter>() {
    let mut runner = TestRunner::new(Config {
        cases: cases_or(16),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&backlogs(), |orgs| {
        let h = A::harness();
        engine(&h)
            .set_job_settings(JobSettings {
                org_max_running: 100,
                workspace_max_running: 100,
                ..JobSettings::default()
            })
            .unwrap();
        let worker = engine(&h).worker("drain").unwrap();
        let mut first_claim: BTreeMap<WorkspaceId, usize> = BTreeMap::new();
        let mut bound: BTreeMap<WorkspaceId, usize> = BTreeMap::new();
        let mut total = 0;
        for (o, backlog) in orgs.iter().enumerate() {
            let (org, _) = new_org(&h, &format!("org {o}"));
            for (w, jobs) in backlog.iter().enumerate() {
                let ws = workspace(&org, &format!("ws-{o}-{w}"));
                bound.insert(ws.workspace_id(), orgs.len() * backlog.len() + orgs.len());
                let (source, destination, first) = pipeline(&ws, "p0");
                for c in 0..*jobs {
                    let connection = if c == 0 {
                        first.id
                    } else {
                        ws.create_connection(new_connection(
                            &format!("p{c}"),
                            source.id,
                            destination.id,
                        ))
                        .unwrap()
                        .id
                    };
                    ws.queue_sync(connection).unwrap();
                    total += 1;
                }
            }
        }
        for position in 1..=total {
            let claimed = worker.claim().unwrap().expect("a job is queued");
            first_claim
                .entry(claimed.lease.workspace_id())
                .or_insert(position);
            worker
                .complete(&claimed.lease, SyncOutcome::Succeeded { rows: 1, bytes: 1 })
                .unwrap();
        }
        assert!(worker.claim().unwrap().is_none(), "the queue is drained");
        for (ws, limit) in &bound {
            let at = first_claim[ws];
            prop_assert!(
                at <= *limit,
                "workspace {ws} first claimed at {at}, after the bound {limit} ({orgs:?})"
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("the fairness check failed: {e}");
    }
}
