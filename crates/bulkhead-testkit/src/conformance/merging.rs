//! Merging duplicate workspaces: everything moves into the target, within one organization,
//! with connections paused or resumed as the workspaces' status says.

use std::collections::BTreeSet;

use bulkhead_core::{
    Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, Error, IssuedToken, OrgScope,
    ScopedTokenRequest, SourceFromTemplate, SyncOutcome, SyncRunId, WorkspaceId, WorkspaceStatus,
    WorkspaceUpdate,
};
use uuid::Uuid;

use super::faults::sweep;
use super::{
    Harness, RowKind, View, all_audit, all_pages, any_of, ext, from_template, install_catalog,
    new_org, pipeline, workspace,
};

/// Two workspaces of one customer: `dup` and `main`, each with a source from the `stripe`
/// template (so both have the destination of each `production` connection template), and
/// `dup` with a raw pipeline that ran twice.
struct Duplicates {
    org: OrgScope,
    dup: IssuedToken,
    main: IssuedToken,
    dup_source: SourceFromTemplate,
    raw_connection: Connection,
    runs: Vec<SyncRunId>,
}

fn duplicates(h: &Harness) -> Duplicates {
    let (org, _) = new_org(h, "Acme");
    let catalog = install_catalog(h, &org);
    let request = |external_id: &str| ScopedTokenRequest {
        source_tags: Some(any_of(&["production"])),
        connection_tags: Some(any_of(&["production"])),
        ..ScopedTokenRequest::new(ext(external_id))
    };
    let dup = org.scoped_token(&request("acme-corp")).unwrap();
    let main = org.scoped_token(&request("ACME-CORP-1")).unwrap();
    let dup_scope = h.engine().authenticate(dup.token.expose()).unwrap();
    let dup_source = dup_scope
        .create_source_from_template(from_template(&catalog.stripe, "dup-billing"))
        .unwrap();
    h.engine()
        .authenticate(main.token.expose())
        .unwrap()
        .create_source_from_template(from_template(&catalog.stripe, "main-billing"))
        .unwrap();
    let ws = org.workspace(dup.workspace_id).unwrap();
    let (_, _, raw_connection) = pipeline(&ws, "raw");
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = ws.start_sync(raw_connection.id).unwrap();
        ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: 5, bytes: 6 })
            .unwrap();
        runs.push(run.id);
        h.tick();
    }
    Duplicates {
        org,
        dup,
        main,
        dup_source,
        raw_connection,
        runs,
    }
}

/// Merging moves sources, destinations, connections and sync history to the target, keeps
/// the secrets readable under it, leaves a tombstone whose external id (and a new token for it)
/// reaches the target, and is audited.
pub fn merging_a_duplicate_moves_everything_into_the_target(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let d = duplicates(&h);
    let (org, from, into) = (&d.org, d.dup.workspace_id, d.main.workspace_id);
    let before = h.stored();

    // Behind a leaky store, reading the duplicate meets foreign rows: the merge is refused
    // (a counted breach) before anything is written.
    let Some(report) = h.answer(org.merge_workspaces(from, into)) else {
        if let (Some(before), Some(after)) = (before, h.stored()) {
            assert_eq!(before, after);
        }
        return;
    };
    assert_eq!(
        (
            report.sources,
            report.destinations,
            report.destinations_reused,
            report.connections,
            report.sync_runs
        ),
        // The template source and the raw one; the raw destination (the template destination
        // is `main`'s already); the template connection and the raw one; two runs.
        (
            2,
            1,
            d.dup_source.destinations.len() as u64,
            1 + d.dup_source.connections.len() as u64,
            2
        )
    );

    // Everything is `main`'s now, under the same ids.
    let target = org.workspace(into).unwrap();
    let source = target.get_source(d.dup_source.source.id).unwrap();
    assert_eq!(source.workspace_id, into);
    let revealed = org.reveal_source_config(into, source.id).unwrap();
    assert_eq!(revealed.as_map()["api_key"], "sk_live_dup-billing");
    let moved = target.get_connection(d.raw_connection.id).unwrap();
    assert_eq!(moved.workspace_id, into);
    let runs: Vec<SyncRunId> = all_pages(10, |p| target.list_sync_runs(moved.id, p))
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(runs.len(), 2);
    assert!(d.runs.iter().all(|r| runs.contains(r)));
    // The template connection now uses `main`'s destination of that template.
    for connection in &d.dup_source.connections {
        let moved = target.get_connection(connection.id).unwrap();
        let destination = target.get_destination(moved.destination_id).unwrap();
        assert_eq!(destination.workspace_id, into);
        assert_ne!(moved.destination_id, connection.destination_id);
    }

    // The duplicate is a tombstone: gone, its token refused, its external id leads to `main`.
    h.assert_not_found(org.get_workspace(from));
    h.assert_not_found(h.engine().authenticate(d.dup.token.expose()));
    assert_eq!(
        org.workspace_by_external_id(&ext("acme-corp")).unwrap().id,
        into
    );
    let again = org
        .scoped_token(&ScopedTokenRequest::new(ext("acme-corp")))
        .unwrap();
    assert_eq!(again.workspace_id, into);
    assert!(!again.workspace_created);
    let scope = h.engine().authenticate(again.token.expose()).unwrap();
    assert_eq!(scope.workspace_id(), into);
    assert!(scope.get_source(d.dup_source.source.id).is_ok());

    // Every stored row of the duplicate moved: same ids, now `main`'s.
    if let (Some(before), Some(after)) = (before, h.stored()) {
        assert!(
            after
                .iter()
                .all(|r| r.workspace_id != from || r.kind == RowKind::Workspace)
        );
        let moved_ids: BTreeSet<Uuid> = before
            .iter()
            .filter(|r| r.workspace_id == from && r.kind != RowKind::Workspace)
            .map(|r| r.id)
            .collect();
        let reused: BTreeSet<Uuid> = d
            .dup_source
            .destinations
            .iter()
            .map(|x| *x.id.as_uuid())
            .collect();
        for id in &moved_ids {
            let now = after.iter().find(|r| r.id == *id);
            if reused.contains(id) {
                assert!(now.is_none(), "a reused destination stays behind");
            } else {
                assert_eq!(now.map(|r| r.workspace_id), Some(into), "row {id}");
            }
        }
    }
    let audit = all_audit(org);
    let merge = audit
        .iter()
        .find(|e| e.draft.action == "workspace.merge")
        .unwrap();
    assert_eq!(merge.draft.workspace_id, Some(from));
    assert!(org.verify_audit().unwrap().is_intact());
}

/// A merge into itself, of a deleted workspace, or across organizations is refused and
/// changes nothing.
pub fn merging_is_refused_within_one_workspace_deleted_ones_and_other_organizations(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let d = duplicates(&h);
    let (other, _) = new_org(&h, "Globex");
    let theirs = workspace(&other, "acme-corp");
    let before = h.stored();
    assert!(matches!(
        d.org
            .merge_workspaces(d.dup.workspace_id, d.dup.workspace_id),
        Err(Error::InvalidInput { .. })
    ));
    h.assert_not_found(
        d.org
            .merge_workspaces(d.dup.workspace_id, theirs.workspace_id()),
    );
    h.assert_not_found(other.merge_workspaces(theirs.workspace_id(), d.dup.workspace_id));
    if let (Some(before), Some(after)) = (&before, h.stored()) {
        assert_eq!(*before, after);
    }
    d.org.delete_workspace(d.dup.workspace_id).unwrap();
    h.assert_not_found(
        d.org
            .merge_workspaces(d.dup.workspace_id, d.main.workspace_id),
    );
    h.assert_not_found(
        d.org
            .merge_workspaces(d.main.workspace_id, d.dup.workspace_id),
    );
}

/// A workspace with a connection that may run and one its customer stopped.
struct RunningAndStopped {
    workspace: WorkspaceId,
    running: ConnectionId,
    stopped: ConnectionId,
}

fn running_and_stopped(org: &OrgScope, external_id: &str) -> RunningAndStopped {
    let ws = workspace(org, external_id);
    let (_, _, running) = pipeline(&ws, &format!("{external_id}-running"));
    let (_, _, stopped) = pipeline(&ws, &format!("{external_id}-stopped"));
    ws.update_connection(
        stopped.id,
        &ConnectionUpdate {
            status: Some(ConnectionStatus::Inactive),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap();
    RunningAndStopped {
        workspace: ws.workspace_id(),
        running: running.id,
        stopped: stopped.id,
    }
}

fn set_workspace_status(org: &OrgScope, id: WorkspaceId, status: WorkspaceStatus) {
    org.update_workspace(
        id,
        &WorkspaceUpdate {
            status: Some(status),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();
}

impl RunningAndStopped {
    /// Asserts both connections are in workspace `ws` with these statuses (each read by id: a
    /// leaky store answers those from the workspace itself).
    #[track_caller]
    fn expect(
        &self,
        h: &Harness,
        org: &OrgScope,
        ws: WorkspaceId,
        running: ConnectionStatus,
        stopped: ConnectionStatus,
    ) {
        let scope = org.workspace(ws).unwrap();
        for (id, status) in [(self.running, running), (self.stopped, stopped)] {
            if let Some(c) = h.answer(scope.get_connection(id)) {
                assert_eq!((c.workspace_id, c.status), (ws, status), "connection {id}");
            }
        }
    }

    /// Merges this workspace into `into`; `false` where a leaky store made the guard refuse
    /// the merge (counted), after checking that it changed nothing: the connections are still
    /// here, with the statuses `before`.
    #[track_caller]
    fn merge_into(
        &self,
        h: &Harness,
        org: &OrgScope,
        into: WorkspaceId,
        before: (ConnectionStatus, ConnectionStatus),
    ) -> bool {
        if h.answer(org.merge_workspaces(self.workspace, into))
            .is_some()
        {
            return true;
        }
        self.expect(h, org, self.workspace, before.0, before.1);
        false
    }
}

/// Merging into an inactive workspace pauses the moved connections that may run (from an
/// active workspace, or paused by an inactive one) as the target's own: nothing in the target
/// runs, and making it active again resumes them, never the connections their customer
/// stopped.
pub fn merging_into_an_inactive_workspace_pauses_the_moved_connections(
    factory: &dyn Fn() -> Harness,
) {
    use ConnectionStatus::{Active, Inactive};
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let into = workspace(&org, "main").workspace_id();
    let from_active = running_and_stopped(&org, "dup-active");
    let from_inactive = running_and_stopped(&org, "dup-inactive");
    set_workspace_status(&org, from_inactive.workspace, WorkspaceStatus::Inactive);
    set_workspace_status(&org, into, WorkspaceStatus::Inactive);

    let mut moved = Vec::new();
    for (dup, before) in [
        (&from_active, (Active, Inactive)),
        (&from_inactive, (Inactive, Inactive)),
    ] {
        if dup.merge_into(&h, &org, into, before) {
            moved.push(dup);
        }
    }
    // Behind a leaky store the guard refuses both merges (reading `from` meets the other
    // workspaces' rows); a correct store merges both.
    assert!(h.is_leaky() || moved.len() == 2);
    for dup in &moved {
        dup.expect(&h, &org, into, Inactive, Inactive);
        assert!(matches!(
            org.workspace(into).unwrap().start_sync(dup.running),
            Err(Error::WorkspaceInactive { .. })
        ));
    }
    set_workspace_status(&org, into, WorkspaceStatus::Active);
    for dup in &moved {
        dup.expect(&h, &org, into, Active, Inactive);
    }
}

/// Merging an inactive workspace into an active one resumes the connections the merged
/// workspace paused (they are the target's, and the target runs), not the ones their customer
/// stopped; pausing and resuming the target afterwards treats them as its own.
pub fn merging_from_an_inactive_workspace_resumes_the_connections_it_paused(
    factory: &dyn Fn() -> Harness,
) {
    use ConnectionStatus::{Active, Inactive};
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let into = workspace(&org, "main").workspace_id();
    let dup = running_and_stopped(&org, "dup");
    set_workspace_status(&org, dup.workspace, WorkspaceStatus::Inactive);
    dup.expect(&h, &org, dup.workspace, Inactive, Inactive);

    // Behind a leaky store the guard refuses the merge: `merge_into` checked it changed nothing.
    if dup.merge_into(&h, &org, into, (Inactive, Inactive)) {
        dup.expect(&h, &org, into, Active, Inactive);
        let run = org
            .workspace(into)
            .unwrap()
            .start_sync(dup.running)
            .unwrap();
        assert_eq!(run.connection_id, dup.running);
        set_workspace_status(&org, into, WorkspaceStatus::Inactive);
        dup.expect(&h, &org, into, Inactive, Inactive);
        set_workspace_status(&org, into, WorkspaceStatus::Active);
        dup.expect(&h, &org, into, Active, Inactive);
    } else {
        assert!(h.is_leaky());
    }
}

/// A fault at any write call of a merge (the target's data key, the merge's transaction)
/// changes nothing, and the merge then succeeds.
pub fn fault_at_any_write_of_a_merge_changes_nothing(factory: &dyn Fn() -> Harness) {
    sweep(
        factory,
        1,
        duplicates,
        |_, d| {
            d.org
                .merge_workspaces(d.dup.workspace_id, d.main.workspace_id)
                .map(|_| ())
        },
        |h, d| {
            let mut text = format!("{:?}\n", h.stored());
            for ws in [d.dup.workspace_id, d.main.workspace_id] {
                let view = View::read(&d.org.workspace(ws).unwrap(), 100).unwrap();
                text.push_str(&format!("{view:?}\n"));
            }
            text
        },
        |h, d| {
            h.assert_not_found(d.org.get_workspace(d.dup.workspace_id));
            let revealed = d
                .org
                .reveal_source_config(d.main.workspace_id, d.dup_source.source.id)
                .unwrap();
            assert_eq!(revealed.as_map()["api_key"], "sk_live_dup-billing");
        },
    );
}
