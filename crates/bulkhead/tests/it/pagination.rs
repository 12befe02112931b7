//! Keyset pagination of every list: page sizes, cursors, order, and the limits of both.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use bulkhead::{Cursor, MAX_PAGE_LIMIT, Page, SourceId, SyncOutcome, WorkspaceFilter};
use common::{Db, assert_invalid, id_set, new_source, pipeline, workspace};

/// Pages of `limit` through sources: the sizes of the pages and every id, in list order.
fn page_through_sources(ws: &bulkhead::WorkspaceScope, limit: u32) -> (Vec<usize>, Vec<SourceId>) {
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    let mut page = Page::first(limit);
    loop {
        let paged = ws.list_sources(&page).unwrap();
        sizes.push(paged.items.len());
        ids.extend(paged.items.iter().map(|s| s.id));
        match paged.next {
            Some(cursor) => page = Page::after(cursor, limit),
            None => return (sizes, ids),
        }
    }
}

#[test]
fn sources_page_in_creation_order_without_duplicates() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let created: Vec<SourceId> = (0..7)
        .map(|i| {
            db.tick();
            ws.create_source(new_source(&format!("source {i}")))
                .unwrap()
                .id
        })
        .collect();

    let (sizes, ids) = page_through_sources(&ws, 3);

    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(
        ids, created,
        "the union of the pages is every source, oldest first"
    );
}

#[test]
fn rows_created_in_the_same_millisecond_page_without_duplicates_or_gaps() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    // The clock does not move: every source has the same creation time, so only the id orders
    // them and the cursor must carry it.
    let mut created: Vec<SourceId> = (0..7)
        .map(|i| {
            ws.create_source(new_source(&format!("source {i}")))
                .unwrap()
                .id
        })
        .collect();
    created.sort();

    for limit in [1, 2, 3, 6, 7] {
        let (sizes, ids) = page_through_sources(&ws, limit);
        assert_eq!(sizes.iter().sum::<usize>(), 7, "pages of {limit}");
        assert_eq!(ids, created, "pages of {limit}");
    }
}

#[test]
fn exact_multiple_of_the_limit_ends_without_an_empty_page() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    for i in 0..6 {
        db.tick();
        ws.create_source(new_source(&format!("source {i}")))
            .unwrap();
    }

    let (sizes, ids) = page_through_sources(&ws, 3);

    assert_eq!(sizes, [3, 3]);
    assert_eq!(ids.len(), 6);
}

#[test]
fn destinations_and_connections_page_in_creation_order() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let made: Vec<_> = (0..5)
        .map(|i| pipeline(&db, &ws, &format!("pipeline {i}")))
        .collect();

    let destinations = common::all_pages(2, |p| ws.list_destinations(p));
    let connections = common::all_pages(2, |p| ws.list_connections(p));

    let expected_destinations: Vec<_> = made.iter().map(|(_, d, _)| d.id).collect();
    let expected_connections: Vec<_> = made.iter().map(|(_, _, c)| c.id).collect();
    assert_eq!(
        destinations.iter().map(|d| d.id).collect::<Vec<_>>(),
        expected_destinations
    );
    assert_eq!(
        connections.iter().map(|c| c.id).collect::<Vec<_>>(),
        expected_connections
    );
}

#[test]
fn cursor_survives_a_round_trip_through_text() {
    let db = Db::new();
    let org = db.org("Acme");
    let ws = workspace(&org, "cust-1");
    for i in 0..4 {
        db.tick();
        ws.create_source(new_source(&format!("source {i}")))
            .unwrap();
    }
    let long_id = "x".repeat(255);
    for text in [long_id.as_str(), "y"] {
        org.get_or_create_workspace(&common::ext(text)).unwrap();
    }

    let first = ws.list_sources(&Page::first(2)).unwrap();
    let cursor = first.next.clone().unwrap();
    let parsed: Cursor = cursor.to_string().parse().unwrap();
    assert_eq!(parsed, cursor);
    assert_eq!(
        ws.list_sources(&Page::after(parsed, 2)).unwrap(),
        ws.list_sources(&Page::after(cursor, 2)).unwrap()
    );

    // A workspace cursor after a 255-byte external id is the longest there is.
    let filter = WorkspaceFilter::default();
    let page = org.list_workspaces(&filter, &Page::first(2)).unwrap();
    assert_eq!(page.items[1].external_id.as_str(), long_id);
    let text = page.next.unwrap().to_string();
    let rest = org
        .list_workspaces(&filter, &Page::after(text.parse().unwrap(), 2))
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].external_id.as_str(), "y");
    assert!(rest.next.is_none());
}

#[test]
fn page_limit_of_0_or_101_is_invalid_input_naming_limit() {
    let db = Db::new();
    let org = db.org("Acme");
    let ws = workspace(&org, "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let filter = WorkspaceFilter::default();

    for limit in [0, MAX_PAGE_LIMIT + 1, u32::MAX] {
        let page = Page::first(limit);
        assert_invalid(ws.list_sources(&page), "limit");
        assert_invalid(ws.list_destinations(&page), "limit");
        assert_invalid(ws.list_connections(&page), "limit");
        assert_invalid(ws.list_sync_runs(connection.id, &page), "limit");
        assert_invalid(org.list_workspaces(&filter, &page), "limit");
    }
    for limit in [1, MAX_PAGE_LIMIT] {
        let page = Page::first(limit);
        ws.list_sources(&page).unwrap();
        ws.list_destinations(&page).unwrap();
        ws.list_connections(&page).unwrap();
        ws.list_sync_runs(connection.id, &page).unwrap();
        org.list_workspaces(&filter, &page).unwrap();
    }
}

#[test]
fn garbage_cursor_is_invalid_input_naming_cursor() {
    let too_long = "A".repeat(1000);
    for text in [
        "",
        "garbage!",
        "not a cursor",
        "AQ",
        "Aw",
        "/////",
        "AgA",
        too_long.as_str(),
    ] {
        assert_invalid(text.parse::<Cursor>(), "cursor");
    }
}

#[test]
fn cursor_of_another_kind_of_list_is_invalid_input_naming_cursor() {
    let db = Db::new();
    let org = db.org("Acme");
    let ws = workspace(&org, "cust-1");
    workspace(&org, "cust-2");
    for i in 0..2 {
        db.tick();
        ws.create_source(new_source(&format!("source {i}")))
            .unwrap();
    }
    let filter = WorkspaceFilter::default();
    let workspace_cursor = org
        .list_workspaces(&filter, &Page::first(1))
        .unwrap()
        .next
        .unwrap();
    let source_cursor = ws.list_sources(&Page::first(1)).unwrap().next.unwrap();

    assert_invalid(
        ws.list_sources(&Page::after(workspace_cursor.clone(), 10)),
        "cursor",
    );
    assert_invalid(
        ws.list_connections(&Page::after(workspace_cursor, 10)),
        "cursor",
    );
    assert_invalid(
        org.list_workspaces(&filter, &Page::after(source_cursor, 10)),
        "cursor",
    );
}

#[test]
fn sync_history_is_newest_first_and_paginates() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    let (_, _, other) = pipeline(&db, &ws, "other");
    let mut started = Vec::new();
    for i in 0..5 {
        let run = ws.start_sync(connection.id).unwrap();
        started.push(run.id);
        db.tick();
        ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: i, bytes: i })
            .unwrap();
        db.tick();
        // Another connection's history interleaves in time and must not show up (each of
        // its runs ends before the next starts: one running run per connection).
        let noise = ws.start_sync(other.id).unwrap();
        db.tick();
        ws.finish_sync(noise.id, SyncOutcome::Cancelled).unwrap();
    }

    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    let mut page = Page::first(2);
    loop {
        let paged = ws.list_sync_runs(connection.id, &page).unwrap();
        sizes.push(paged.items.len());
        seen.extend(paged.items);
        match paged.next {
            Some(cursor) => page = Page::after(cursor, 2),
            None => break,
        }
    }

    assert_eq!(sizes, [2, 2, 1]);
    id_set(&seen, |r| r.id);
    let newest_first: Vec<_> = started.iter().rev().copied().collect();
    assert_eq!(seen.iter().map(|r| r.id).collect::<Vec<_>>(), newest_first);
    assert!(seen.windows(2).all(|w| w[0].started_at > w[1].started_at));
    assert!(seen.iter().all(|r| r.connection_id == connection.id));
}

#[test]
fn sync_runs_started_in_the_same_millisecond_page_without_duplicates_or_gaps() {
    let db = Db::new();
    let ws = workspace(&db.org("Acme"), "cust-1");
    let (_, _, connection) = pipeline(&db, &ws, "p");
    // The clock does not move: only the id orders the runs, newest (highest) first. Each
    // run ends before the next starts (one running run per connection); ending does not
    // move `started_at`.
    let mut started: Vec<_> = (0..7)
        .map(|_| {
            let run = ws.start_sync(connection.id).unwrap();
            ws.finish_sync(run.id, SyncOutcome::Cancelled).unwrap();
            run.id
        })
        .collect();
    started.sort();
    started.reverse();

    for limit in [1, 2, 3, 7] {
        let seen = common::all_pages(limit, |p| ws.list_sync_runs(connection.id, p));
        assert_eq!(
            seen.iter().map(|r| r.id).collect::<Vec<_>>(),
            started,
            "pages of {limit}"
        );
    }
}
