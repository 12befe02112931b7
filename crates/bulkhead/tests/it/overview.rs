//! The organization's dashboard: `workspace_overview` and `workspace_stats`, on a seeded set
//! of workspaces that includes another organization's, which is never counted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use bulkhead::{
    ConnectionStatus, LastRun, OrgScope, Page, SyncOutcome, SyncStatus, WorkspaceFilter,
    WorkspaceOverview, WorkspaceStats, WorkspaceStatus, WorkspaceUpdate,
};
use common::{Db, all_pages, assert_invalid, new_source, pipeline, workspace};

struct Seeded {
    db: Db,
    org: OrgScope,
    other: OrgScope,
    /// alpha's connections' latest runs, in connection order.
    alpha_latest: Vec<Option<LastRun>>,
}

/// Org "Acme": `alpha` (active; two pipelines, three runs), `beta` (inactive; one source),
/// `gamma` (active, empty). Org "Other": `alpha` with a pipeline and a large run.
fn seed() -> Seeded {
    let db = Db::new();
    let org = db.org("Acme");
    let other = db.org("Other");

    let alpha = workspace(&org, "alpha");
    let (_, _, c1) = pipeline(&db, &alpha, "one");
    let (_, _, c2) = pipeline(&db, &alpha, "two");
    let run1 = alpha.start_sync(c1.id).unwrap();
    db.tick();
    alpha
        .finish_sync(
            run1.id,
            SyncOutcome::Succeeded {
                rows: 10,
                bytes: 100,
            },
        )
        .unwrap();
    db.tick();
    let run2 = alpha.start_sync(c1.id).unwrap();
    db.tick();
    let run2 = alpha
        .finish_sync(
            run2.id,
            SyncOutcome::Failed {
                error: "boom".to_owned(),
                rows: 5,
                bytes: 50,
            },
        )
        .unwrap();
    db.tick();
    let run3 = alpha.start_sync(c2.id).unwrap();
    db.tick();

    let beta = workspace(&org, "beta");
    beta.create_source(new_source("beta source")).unwrap();
    org.update_workspace(
        beta.workspace_id(),
        &WorkspaceUpdate {
            status: Some(WorkspaceStatus::Inactive),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();
    workspace(&org, "gamma");

    let foreign = workspace(&other, "alpha");
    let (_, _, fc) = pipeline(&db, &foreign, "foreign");
    let frun = foreign.start_sync(fc.id).unwrap();
    db.tick();
    foreign
        .finish_sync(
            frun.id,
            SyncOutcome::Succeeded {
                rows: 1_000_000,
                bytes: 9_000_000,
            },
        )
        .unwrap();

    Seeded {
        db,
        org,
        other,
        alpha_latest: vec![Some(LastRun::from(&run2)), Some(LastRun::from(&run3))],
    }
}

fn overview(org: &OrgScope, filter: &WorkspaceFilter) -> Vec<WorkspaceOverview> {
    all_pages(100, |p| org.workspace_overview(filter, p))
}

fn numbers(w: &WorkspaceOverview) -> (&str, WorkspaceStatus, u64, u64, u64, u64) {
    (
        w.external_id.as_str(),
        w.status,
        w.sources,
        w.connections,
        w.rows_synced,
        w.bytes_synced,
    )
}

#[test]
fn overview_numbers_are_exact_and_never_count_another_organization() {
    let s = seed();
    let all = overview(&s.org, &WorkspaceFilter::default());
    assert_eq!(
        all.iter().map(numbers).collect::<Vec<_>>(),
        vec![
            ("alpha", WorkspaceStatus::Active, 2, 2, 15, 150),
            ("beta", WorkspaceStatus::Inactive, 1, 0, 0, 0),
            ("gamma", WorkspaceStatus::Active, 0, 0, 0, 0),
        ]
    );
    let foreign = overview(&s.other, &WorkspaceFilter::default());
    assert_eq!(
        foreign.iter().map(numbers).collect::<Vec<_>>(),
        vec![("alpha", WorkspaceStatus::Active, 1, 1, 1_000_000, 9_000_000)]
    );
    assert_ne!(all[0].workspace_id, foreign[0].workspace_id);
    assert_eq!(s.db.engine.isolation_breaches(), 0);
}

#[test]
fn latest_run_of_each_connection_is_the_last_started() {
    let s = seed();
    let all = overview(&s.org, &WorkspaceFilter::default());
    let alpha = &all[0];
    assert_eq!(
        alpha
            .latest_runs
            .iter()
            .map(|c| (c.name.as_str(), c.status))
            .collect::<Vec<_>>(),
        vec![
            ("one", ConnectionStatus::Active),
            ("two", ConnectionStatus::Active)
        ]
    );
    let latest: Vec<Option<LastRun>> = alpha
        .latest_runs
        .iter()
        .map(|c| c.last_run.clone())
        .collect();
    assert_eq!(latest, s.alpha_latest);
    let one = latest[0].as_ref().unwrap();
    assert_eq!(one.status, SyncStatus::Failed);
    assert!(one.finished_at.is_some_and(|f| f > one.started_at));
    let two = latest[1].as_ref().unwrap();
    assert_eq!((two.status, two.finished_at), (SyncStatus::Running, None));
    // The workspace's last sync is the most recently started run of any connection.
    assert_eq!(alpha.last_run(), Some(two));
    assert!(all[1].latest_runs.is_empty() && all[1].last_run().is_none());
}

#[test]
fn overview_pages_and_filters_like_the_workspace_list() {
    let s = seed();
    let first = s
        .org
        .workspace_overview(&WorkspaceFilter::default(), &Page::first(2))
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|w| w.external_id.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    let next = first.next.clone().unwrap();
    let second = s
        .org
        .workspace_overview(&WorkspaceFilter::default(), &Page::after(next, 2))
        .unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|w| w.external_id.as_str())
            .collect::<Vec<_>>(),
        ["gamma"]
    );
    assert!(second.next.is_none());
    // The cursors are those of `list_workspaces`.
    let listed = s
        .org
        .list_workspaces(&WorkspaceFilter::default(), &Page::first(2))
        .unwrap();
    assert_eq!(listed.next, first.next);

    let inactive = overview(
        &s.org,
        &WorkspaceFilter {
            status: Some(WorkspaceStatus::Inactive),
            ..WorkspaceFilter::default()
        },
    );
    assert_eq!(
        inactive.iter().map(numbers).collect::<Vec<_>>(),
        vec![("beta", WorkspaceStatus::Inactive, 1, 0, 0, 0)]
    );
    let prefixed = overview(
        &s.org,
        &WorkspaceFilter {
            external_id_prefix: Some("al".to_owned()),
            status: Some(WorkspaceStatus::Active),
            name_contains: None,
        },
    );
    assert_eq!(
        prefixed.iter().map(numbers).collect::<Vec<_>>(),
        vec![("alpha", WorkspaceStatus::Active, 2, 2, 15, 150)]
    );
    assert_invalid(
        s.org
            .workspace_overview(&WorkspaceFilter::default(), &Page::first(0)),
        "limit",
    );
}

#[test]
fn workspace_stats_are_exact_per_organization() {
    let s = seed();
    assert_eq!(
        s.org.workspace_stats().unwrap(),
        WorkspaceStats {
            active: 2,
            inactive: 1,
            total: 3
        }
    );
    assert_eq!(
        s.other.workspace_stats().unwrap(),
        WorkspaceStats {
            active: 1,
            inactive: 0,
            total: 1
        }
    );
    let empty = s.db.org("Empty");
    assert_eq!(empty.workspace_stats().unwrap(), WorkspaceStats::default());
}
