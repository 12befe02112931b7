//! What the organization's dashboard reads: workspace creations counted by hour, in the
//! database, and the audit log newest first, within the organization only.

use std::time::Duration;

use bulkhead_core::{AuditFilter, Error, HourCount, MAX_CREATION_HOURS, Page, Timestamp};

use super::{Harness, new_org, workspace};

/// One hour in milliseconds.
const HOUR: i64 = 3_600_000;

/// Workspaces are counted in the hour they were created in, one entry an hour with zeros
/// included, the current hour last; deleted workspaces still count (they were created), an
/// hour before the range does not, and another organization's creations never show.
pub fn workspace_creations_are_counted_by_hour_within_the_organization(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Globex");
    // Ten minutes into an hour, well after the harness's start.
    let start = (h.now().unix_millis() / HOUR + 2) * HOUR;
    h.clock
        .set(Timestamp::from_unix_millis(start + 10 * 60 * 1000));

    let early = workspace(&org, "cust-early");
    h.clock.advance(Duration::from_secs(3600));
    workspace(&org, "cust-1");
    workspace(&org, "cust-2");
    h.clock.advance(Duration::from_secs(2 * 3600));
    workspace(&org, "cust-3");
    for i in 0..3 {
        workspace(&other, &format!("globex-{i}"));
    }
    org.delete_workspace(early.workspace_id()).unwrap();
    let now_hour = start + 3 * HOUR;

    let hours = |from: i64, counts: &[u64]| -> Vec<HourCount> {
        counts
            .iter()
            .zip(0..)
            .map(|(&count, i)| HourCount {
                hour: Timestamp::from_unix_millis(from + i * HOUR),
                count,
            })
            .collect()
    };
    if let Some(counts) = h.answer(org.workspace_creations(4)) {
        assert_eq!(counts, hours(start, &[1, 2, 0, 1]));
    }
    if let Some(counts) = h.answer(org.workspace_creations(2)) {
        assert_eq!(counts, hours(now_hour - HOUR, &[0, 1]));
    }
    if let Some(counts) = h.answer(org.workspace_creations(24)) {
        assert_eq!(counts.len(), 24);
        assert_eq!(counts.last().map(|c| c.hour.unix_millis()), Some(now_hour));
        assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 4);
    }
    if let Some(counts) = h.answer(other.workspace_creations(3)) {
        assert_eq!(counts, hours(now_hour - 2 * HOUR, &[0, 0, 3]));
    }
    for bad in [0, MAX_CREATION_HOURS + 1] {
        match org.workspace_creations(bad) {
            Err(Error::InvalidInput { .. }) => {}
            other => panic!("expected invalid input for {bad} hours, got {other:?}"),
        }
    }
}

/// The audit log newest first is the chain backwards, page after page, the organization's
/// events only, filtered like the log in chain order.
pub fn latest_audit_events_are_the_chain_backwards_within_the_organization(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Globex");
    for i in 0..5 {
        workspace(&org, &format!("cust-{i}"));
        workspace(&other, &format!("globex-{i}"));
    }
    let everything = AuditFilter::default();
    let Some(all) = h.answer(org.audit_events(&everything, &Page::first(100))) else {
        return;
    };
    let mut expected: Vec<u64> = all.items.iter().map(|e| e.seq).collect();
    expected.reverse();
    assert!(expected.len() >= 5, "{expected:?}");

    let mut got = Vec::new();
    let mut page = Page::first(3);
    loop {
        let Some(paged) = h.answer(org.latest_audit_events(&everything, &page)) else {
            return;
        };
        assert!(paged.items.iter().all(|e| e.org_id == org.org_id()));
        got.extend(paged.items.iter().map(|e| e.seq));
        match paged.next {
            Some(cursor) => page = Page::after(cursor, 3),
            None => break,
        }
    }
    assert_eq!(got, expected);

    let created = AuditFilter {
        action: Some("workspace.create".to_owned()),
        ..AuditFilter::default()
    };
    if let Some(paged) = h.answer(org.latest_audit_events(&created, &Page::first(100))) {
        assert_eq!(paged.items.len(), 5);
        assert!(
            paged
                .items
                .iter()
                .all(|e| e.draft.action == "workspace.create")
        );
        assert!(paged.items.windows(2).all(|w| w[0].seq > w[1].seq));
    }
}
