//! Planted faults: a queue and a scheduler port that answer with rows they should not, and
//! the handles' answers to them (the errors, the breach count, the breach's audit event).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::audit::{AuditDraft, AuditEvent, AuditFilter};
use crate::model::objects::SyncStatus;
use crate::model::schedule::Schedule;
use crate::model::time::ManualClock;
use crate::port::jobs::{QueueSnapshot, QueueState};
use crate::port::store::AuditStore;

/// The guard's breach events, by the organization whose chain they were appended to.
#[derive(Debug, Default)]
struct Chain(Mutex<Vec<(OrgId, AuditDraft)>>);

impl Chain {
    fn events(&self) -> Vec<(OrgId, AuditDraft)> {
        self.0.lock().unwrap().clone()
    }
}

impl AuditStore for Chain {
    fn append_audit(&self, org: &OrgCtx, draft: &AuditDraft) -> Result<AuditEvent> {
        self.0.lock().unwrap().push((org.org_id(), draft.clone()));
        Ok(AuditEvent {
            org_id: org.org_id(),
            seq: 1,
            draft: draft.clone(),
            prev_hash: [0; 32],
            hash: [0; 32],
        })
    }

    fn list_audit(
        &self,
        _: &OrgCtx,
        _: &AuditFilter,
        _: Option<u64>,
        _: usize,
    ) -> Result<Vec<AuditEvent>> {
        Ok(Vec::new())
    }

    fn list_audit_newest(
        &self,
        _: &OrgCtx,
        _: &AuditFilter,
        _: Option<u64>,
        _: usize,
    ) -> Result<Vec<AuditEvent>> {
        Ok(Vec::new())
    }
}

/// A queue and a scheduler that answer every read with what the test planted, whoever asks.
#[derive(Debug, Default)]
struct Planted {
    queue_row: Option<QueueRow>,
    completed: Option<SyncRun>,
    claimed: Option<LeaseRow>,
    due: Vec<DueSchedule>,
    schedule: Option<DueSchedule>,
    moved: Vec<bool>,
}

impl JobStore for Planted {
    fn enqueue(&self, _: &Tenant, _: &SyncRun, _: u32) -> Result<()> {
        Ok(())
    }
    fn claim(&self, _: &ClaimRequest<'_>) -> Result<Option<LeaseRow>> {
        Ok(self.claimed.clone())
    }
    fn heartbeat(&self, _: &Tenant, _: SyncRunId, _: u64, _: Timestamp) -> Result<bool> {
        Ok(true)
    }
    fn complete(
        &self,
        _: &Tenant,
        _: SyncRunId,
        _: u64,
        _: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        Ok(self.completed.clone())
    }
    fn reap(&self, _: &ReapPolicy) -> Result<Reaped> {
        Ok(Reaped::default())
    }
    fn queue_row(&self, _: &Tenant, _: SyncRunId) -> Result<Option<QueueRow>> {
        Ok(self.queue_row.clone())
    }
    fn set_org_limits(&self, _: &OrgCtx, _: &JobLimits) -> Result<()> {
        Ok(())
    }
    fn set_workspace_limits(&self, _: &OrgCtx, _: WorkspaceId, _: &JobLimits) -> Result<()> {
        Ok(())
    }
    fn snapshot(&self) -> Result<QueueSnapshot> {
        Ok(QueueSnapshot::default())
    }
}

impl ScheduleStore for Planted {
    fn due_schedules(&self, _: Option<OrgId>, _: Timestamp, _: usize) -> Result<Vec<DueSchedule>> {
        Ok(self.due.clone())
    }
    fn advance_schedule(&self, _: &DueSchedule, _: Option<Timestamp>) -> Result<bool> {
        Ok(true)
    }
    fn advance_schedules(&self, _: &[(DueSchedule, Option<Timestamp>)]) -> Result<Vec<bool>> {
        Ok(self.moved.clone())
    }
    fn schedule_of(&self, _: &Tenant, _: ConnectionId) -> Result<Option<DueSchedule>> {
        Ok(self.schedule.clone())
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn guard() -> (Arc<Chain>, Guard) {
    let chain = Arc::new(Chain::default());
    let store: Arc<dyn AuditStore> = Arc::<Chain>::clone(&chain);
    let guard = Guard::new(store, Arc::new(ManualClock::new(at(1_000))));
    (chain, guard)
}

fn tenant() -> Tenant {
    Tenant::new(OrgId::random(), WorkspaceId::random()).with_actor(Actor::Operator)
}

/// A sibling workspace of `tenant`'s, and a workspace of another organization.
fn neighbours(tenant: &Tenant) -> [(OrgId, WorkspaceId); 2] {
    [
        (tenant.org_id(), WorkspaceId::random()),
        (OrgId::random(), WorkspaceId::random()),
    ]
}

fn queue_row(owner: (OrgId, WorkspaceId), job_id: SyncRunId) -> QueueRow {
    QueueRow {
        job_id,
        org_id: owner.0,
        workspace_id: owner.1,
        connection_id: ConnectionId::random(),
        state: QueueState::Running,
        attempt: 1,
        max_attempts: 3,
        run_at: at(0),
        lease_token: Some(7),
        lease_until: Some(at(60_000)),
    }
}

fn run(owner: (OrgId, WorkspaceId), id: SyncRunId) -> SyncRun {
    SyncRun {
        id,
        org_id: owner.0,
        workspace_id: owner.1,
        connection_id: ConnectionId::random(),
        status: SyncStatus::Succeeded,
        started_at: at(0),
        finished_at: Some(at(10)),
        rows_synced: 0,
        bytes_synced: 0,
        error: None,
    }
}

fn due(owner: (OrgId, WorkspaceId), connection_id: ConnectionId) -> DueSchedule {
    DueSchedule {
        org_id: owner.0,
        workspace_id: owner.1,
        connection_id,
        schedule: Schedule::parse("every 15 minutes").unwrap(),
        due_at: at(0),
    }
}

fn owner(tenant: &Tenant) -> (OrgId, WorkspaceId) {
    (tenant.org_id(), tenant.workspace_id())
}

/// One breach event, on `org`'s chain, about `workspace`, by the operator.
fn assert_breach_event(event: &(OrgId, AuditDraft), org: OrgId, workspace: Option<WorkspaceId>) {
    assert_eq!(event.0, org);
    assert_eq!(event.1.action, "isolation.breach");
    assert_eq!(event.1.workspace_id, workspace);
    assert_eq!(event.1.actor, "operator");
    assert!(event.1.outcome.starts_with("denied"), "{}", event.1.outcome);
}

#[test]
fn a_queue_row_is_the_tenants_job_asked_for_or_a_breach() {
    let (chain, guard) = guard();
    let tenant = tenant();
    let id = SyncRunId::random_job();
    let ask = |planted: Option<QueueRow>| {
        let jobs = Planted {
            queue_row: planted,
            ..Planted::default()
        };
        let rows = JobRows {
            jobs: &jobs,
            guard: &guard,
            tenant: &tenant,
        };
        rows.queue_row(id)
    };
    assert_eq!(ask(None).unwrap(), None);
    let own = queue_row(owner(&tenant), id);
    assert_eq!(ask(Some(own.clone())).unwrap(), Some(own));
    assert_eq!(guard.breaches(), 0);

    let foreign = neighbours(&tenant)
        .into_iter()
        .map(|o| queue_row(o, id))
        .chain([queue_row(owner(&tenant), SyncRunId::random_job())]);
    for (n, row) in foreign.enumerate() {
        assert!(matches!(
            ask(Some(row)),
            Err(Error::IsolationBreach {
                kind: ObjectKind::SyncRun
            })
        ));
        assert_eq!(guard.breaches(), n as u64 + 1);
    }
    let events = chain.events();
    assert_eq!(events.len(), 3);
    for event in &events {
        assert_breach_event(event, tenant.org_id(), Some(tenant.workspace_id()));
    }
}

#[test]
fn a_completed_run_is_admitted_and_the_one_asked_for() {
    let (chain, guard) = guard();
    let tenant = tenant();
    let id = SyncRunId::random_job();
    let finish = SyncFinish {
        status: SyncStatus::Succeeded,
        finished_at: at(10),
        rows_synced: 0,
        bytes_synced: 0,
        error: None,
    };
    let complete = |planted: Option<SyncRun>| {
        let jobs = Planted {
            completed: planted,
            ..Planted::default()
        };
        let rows = JobRows {
            jobs: &jobs,
            guard: &guard,
            tenant: &tenant,
        };
        rows.complete(&tenant, id, 7, &finish)
    };
    // Fenced: nothing came back.
    assert_eq!(complete(None).unwrap(), None);
    let own = run(owner(&tenant), id);
    assert_eq!(complete(Some(own.clone())).unwrap(), Some(own));
    // The tenant's own run, but not the one asked for: not found, no breach.
    assert!(matches!(
        complete(Some(run(owner(&tenant), SyncRunId::random_job()))),
        Err(Error::NotFound {
            kind: ObjectKind::SyncRun,
            ..
        })
    ));
    assert_eq!(guard.breaches(), 0);
    // Another tenant's: the guard's breach.
    for (n, other) in neighbours(&tenant).into_iter().enumerate() {
        assert!(matches!(
            complete(Some(run(other, id))),
            Err(Error::IsolationBreach {
                kind: ObjectKind::SyncRun
            })
        ));
        assert_eq!(guard.breaches(), n as u64 + 1);
    }
    for event in &chain.events() {
        assert_breach_event(event, tenant.org_id(), Some(tenant.workspace_id()));
    }
}

#[test]
fn a_due_time_is_the_tenants_connection_asked_for_or_a_breach() {
    let (chain, guard) = guard();
    let tenant = tenant();
    let id = ConnectionId::random();
    let ask = |planted: Option<DueSchedule>| {
        let schedules = Planted {
            schedule: planted,
            ..Planted::default()
        };
        schedule_of(&schedules, &guard, &tenant, id)
    };
    assert_eq!(ask(None).unwrap(), None);
    let own = due(owner(&tenant), id);
    assert_eq!(ask(Some(own.clone())).unwrap(), Some(own));
    let foreign = neighbours(&tenant)
        .into_iter()
        .map(|o| due(o, id))
        .chain([due(owner(&tenant), ConnectionId::random())]);
    for (n, row) in foreign.enumerate() {
        assert!(matches!(
            ask(Some(row)),
            Err(Error::IsolationBreach {
                kind: ObjectKind::Connection
            })
        ));
        assert_eq!(guard.breaches(), n as u64 + 1);
    }
    for event in &chain.events() {
        assert_breach_event(event, tenant.org_id(), Some(tenant.workspace_id()));
    }
}

fn claim_request(org: Option<OrgId>) -> ClaimRequest<'static> {
    ClaimRequest {
        org,
        worker: "w",
        now: at(0),
        lease_until: at(60_000),
        reap: ReapPolicy {
            now: at(0),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(2),
        },
        org_max_running: 1,
        workspace_max_running: 1,
    }
}

#[test]
fn an_organizations_claim_returns_only_its_jobs() {
    let (chain, guard) = guard();
    let mine = OrgId::random();
    let theirs = LeaseRow {
        job_id: SyncRunId::random_job(),
        org_id: OrgId::random(),
        workspace_id: WorkspaceId::random(),
        connection_id: ConnectionId::random(),
        token: 7,
        attempt: 1,
        lease_until: at(60_000),
    };
    let jobs = Planted {
        claimed: Some(theirs.clone()),
        ..Planted::default()
    };
    let all = AllJobs { jobs: &jobs };
    // The host's worker claims every organization's jobs.
    assert_eq!(
        all.claim(&guard, &claim_request(None), &Actor::Operator)
            .unwrap(),
        Some(theirs.clone())
    );
    // An organization's worker only its own: the claim is refused, the breach recorded
    // against the claiming organization.
    assert!(matches!(
        all.claim(&guard, &claim_request(Some(mine)), &Actor::Operator),
        Err(Error::IsolationBreach {
            kind: ObjectKind::SyncRun
        })
    ));
    let mut own = theirs;
    own.org_id = mine;
    let jobs = Planted {
        claimed: Some(own.clone()),
        ..Planted::default()
    };
    let all = AllJobs { jobs: &jobs };
    assert_eq!(
        all.claim(&guard, &claim_request(Some(mine)), &Actor::Operator)
            .unwrap(),
        Some(own)
    );
    assert_eq!(guard.breaches(), 1);
    let events = chain.events();
    assert_eq!(events.len(), 1);
    assert_breach_event(&events[0], mine, None);
}

#[test]
fn an_organizations_due_scan_returns_only_its_rows() {
    let (chain, guard) = guard();
    let mine = (OrgId::random(), WorkspaceId::random());
    let theirs = (OrgId::random(), WorkspaceId::random());
    let schedules = Planted {
        due: vec![
            due(mine, ConnectionId::random()),
            due(theirs, ConnectionId::random()),
        ],
        ..Planted::default()
    };
    let all = AllSchedules {
        schedules: &schedules,
    };
    // The host's tick scans every organization's.
    assert_eq!(
        all.due(&guard, None, at(0), 10, &Actor::System)
            .unwrap()
            .len(),
        2
    );
    assert!(matches!(
        all.due(&guard, Some(mine.0), at(0), 10, &Actor::System),
        Err(Error::IsolationBreach {
            kind: ObjectKind::Connection
        })
    ));
    assert_eq!(guard.breaches(), 1);
    // Recorded, as the tick always has, against the foreign row's organization and workspace.
    let events = chain.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, theirs.0);
    assert_eq!(events[0].1.workspace_id, Some(theirs.1));
    assert_eq!(events[0].1.actor, "system");
}

#[test]
fn a_batch_of_moves_answered_with_another_count_is_a_storage_error() {
    let row = due(
        (OrgId::random(), WorkspaceId::random()),
        ConnectionId::random(),
    );
    let moves = [(row.clone(), Some(at(1))), (row, None)];
    let schedules = Planted {
        moved: vec![true],
        ..Planted::default()
    };
    let all = AllSchedules {
        schedules: &schedules,
    };
    assert!(matches!(all.advance_all(&moves), Err(Error::Storage(_))));
    let schedules = Planted {
        moved: vec![true, false],
        ..Planted::default()
    };
    let all = AllSchedules {
        schedules: &schedules,
    };
    assert_eq!(all.advance_all(&moves).unwrap(), [true, false]);
}
