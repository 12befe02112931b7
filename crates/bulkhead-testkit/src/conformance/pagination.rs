//! Pagination: every list walked page by page without gaps or duplicates, limits, and cursors that
//! never widen a listing.

use bulkhead_core::{Error, Page, Source, SyncOutcome, Timestamp, WorkspaceFilter};
use uuid::Uuid;

use super::{Harness, new_org, pipeline, view_of, workspace};

/// Every list walks page by page, with any limit, through exactly the workspace's rows, in
/// order, even when several rows share a creation time.
pub fn lists_walk_every_page_without_gaps_or_duplicates(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    let other = workspace(&org, "cust-2");
    pipeline(&other, "noise");
    let mut made = Vec::new();
    for i in 0..7 {
        // Pairs share a creation time: the id breaks the tie.
        if i % 2 == 0 {
            h.tick();
        }
        made.push(pipeline(&ws, &format!("p{i}")));
    }
    let connection = made[0].2.id;
    let mut runs = Vec::new();
    for i in 0..6 {
        if i % 2 == 0 {
            h.tick();
        }
        // One run at a time per connection: each ends before the next starts.
        let run = ws.start_sync(connection).unwrap();
        runs.push(ws.finish_sync(run.id, SyncOutcome::Cancelled).unwrap());
    }
    let by_time = |at: Timestamp, id: Uuid| (at, id);
    let mut sources: Vec<_> = made.iter().map(|m| m.0.clone()).collect();
    sources.sort_by_key(|s| by_time(s.created_at, *s.id.as_uuid()));
    let mut destinations: Vec<_> = made.iter().map(|m| m.1.clone()).collect();
    destinations.sort_by_key(|d| by_time(d.created_at, *d.id.as_uuid()));
    let mut connections: Vec<_> = made.iter().map(|m| m.2.clone()).collect();
    connections.sort_by_key(|c| by_time(c.created_at, *c.id.as_uuid()));
    runs.sort_by_key(|r| std::cmp::Reverse(by_time(r.started_at, *r.id.as_uuid())));
    for limit in 1..=8 {
        let Some(view) = view_of(&h, &ws, limit) else {
            continue;
        };
        assert_eq!(view.sources, sources, "limit {limit}");
        assert_eq!(view.destinations, destinations, "limit {limit}");
        assert_eq!(view.connections, connections, "limit {limit}");
        assert_eq!(view.sync_runs[&connection], runs, "limit {limit}");
    }
}

/// A page limit outside 1 to 100 is invalid input.
pub fn page_limit_outside_1_to_100_is_invalid_input(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let ws = workspace(&org, "cust-1");
    for limit in [0, 101] {
        assert!(matches!(
            ws.list_sources(&Page::first(limit)),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            org.list_workspaces(&WorkspaceFilter::default(), &Page::first(limit)),
            Err(Error::InvalidInput { .. })
        ));
    }
}

/// A cursor taken from another workspace's listing moves a listing but never widens it.
pub fn cursor_of_another_workspace_never_widens_a_listing(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let mine = workspace(&org, "cust-1");
    let theirs = workspace(&org, "cust-2");
    let (my_source, _, _) = pipeline(&mine, "mine");
    h.tick();
    let (a, _, _) = pipeline(&theirs, "a");
    let (b, _, _) = pipeline(&theirs, "b");
    // Same time: listed by id.
    let (their_first, their_second) = if a.id.as_uuid() < b.id.as_uuid() {
        (a, b)
    } else {
        (b, a)
    };
    // The cursor past their first source. Behind a leaky store their listing meets my source
    // and is refused (counted): the cursor it would have returned is made from the position.
    let position = created_cursor(&their_first);
    let cursor = match h.answer(theirs.list_sources(&Page::first(1))) {
        Some(first) => {
            assert_eq!(first.items, std::slice::from_ref(&their_first));
            let cursor = first.next.unwrap();
            assert_eq!(cursor, position);
            cursor
        }
        None => position,
    };
    if let Some(page) = h.answer(mine.list_sources(&Page::after(cursor, 10))) {
        assert!(
            page.items
                .iter()
                .all(|s| s.workspace_id == mine.workspace_id()),
            "{page:?}"
        );
    }
    if let Some(page) = h.answer(mine.list_sources(&Page::first(10))) {
        assert_eq!(page.items, std::slice::from_ref(&my_source));
    }
    // Whatever the listings did, their sources stay out of reach and mine in it.
    for theirs in [&their_first, &their_second] {
        h.assert_not_found(mine.get_source(theirs.id));
    }
    assert_eq!(mine.get_source(my_source.id).unwrap(), my_source);
}

/// The cursor a listing ordered by creation returns after `source`.
fn created_cursor(source: &Source) -> bulkhead_core::Cursor {
    use base64::Engine as _;
    let mut bytes = vec![1];
    bytes.extend_from_slice(&source.created_at.unix_millis().to_be_bytes());
    bytes.extend_from_slice(source.id.as_uuid().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .parse()
        .unwrap()
}
