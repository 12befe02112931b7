//! Fault injection: the sweep that fails each write call of an operation in turn, the sweeps of
//! the operations that write several rows, and panics inside store calls.

use bulkhead_core::{
    Error, IssuedToken, MasterKey, OrgScope, Page, Result, ScopedTokenRequest, Source, WorkspaceId,
};

use super::{
    Catalog, Harness, View, all_workspaces, any_of, ext, from_template, install_catalog, new_org,
    pipeline, token_scope,
};
use crate::wrappers::Faults;

/// Runs `op` once per write call it makes, failing that call, on a fresh harness each time.
///
/// First the writes are counted on a fresh harness (and the operation must make at least
/// `min_writes`); then for each N: a fresh harness and fixture, `before = snapshot`, arm at N,
/// the operation must fail with exactly the injected fault, `snapshot` must equal `before`
/// (no partial state), and once disarmed the same operation must succeed, after which
/// `check_done` runs.
pub(super) fn sweep<F>(
    factory: &dyn Fn() -> Harness,
    min_writes: u64,
    setup: impl Fn(&Harness) -> F,
    op: impl Fn(&Harness, &F) -> Result<()>,
    snapshot: impl Fn(&Harness, &F) -> String,
    check_done: impl Fn(&Harness, &F),
) {
    let writes = {
        let h = factory();
        let faults = h.faults().expect("fault tests need a harness with faults");
        let fixture = setup(&h);
        faults.count_writes();
        op(&h, &fixture).unwrap();
        let writes = faults.writes();
        faults.disarm();
        check_done(&h, &fixture);
        writes
    };
    assert!(
        writes >= min_writes,
        "the operation made {writes} write calls, expected at least {min_writes}"
    );
    for n in 1..=writes {
        let h = factory();
        let faults = h.faults().unwrap();
        let fixture = setup(&h);
        let before = snapshot(&h, &fixture);
        faults.arm(n);
        match op(&h, &fixture) {
            Err(Error::Storage(e)) if e.message() == Faults::message(n) => {}
            other => panic!("write {n} of {writes}: expected the injected fault, got {other:?}"),
        }
        faults.disarm();
        assert_eq!(
            snapshot(&h, &fixture),
            before,
            "a fault at write {n} of {writes} left partial state"
        );
        op(&h, &fixture).unwrap_or_else(|e| panic!("after a fault at write {n}: {e}"));
        check_done(&h, &fixture);
    }
}

/// What a fault test compares before and after: the dump when there is one, and each given
/// tenant view.
fn state(h: &Harness, org: &OrgScope, workspaces: &[WorkspaceId]) -> String {
    let mut text = format!("{:#?}\n", h.stored());
    let all = all_workspaces(org, 100).unwrap();
    text.push_str(&format!("{all:#?}\n"));
    for id in workspaces {
        match org.workspace(*id) {
            Ok(ws) => text.push_str(&format!("{:#?}\n", View::read(&ws, 100).unwrap())),
            Err(e) => text.push_str(&format!("{e}\n")),
        }
    }
    text
}

/// The fixture of a fault test: an organization with the catalog, a workspace selecting
/// `production` (so a stripe source brings two pipelines), and its token.
struct FaultFixture {
    org: OrgScope,
    catalog: Catalog,
    issued: IssuedToken,
}

fn fault_fixture(h: &Harness) -> FaultFixture {
    let (org, _) = new_org(h, "Acme");
    let catalog = install_catalog(h, &org);
    let issued = org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-1"))
                .source_tags(any_of(&["production"]))
                .connection_tags(any_of(&["production"])),
        )
        .unwrap();
    let ws = org.workspace(issued.workspace_id).unwrap();
    pipeline(&ws, "existing");
    FaultFixture {
        org,
        catalog,
        issued,
    }
}

/// A fault at any write call of creating a source from a template (with two matching
/// connection templates: the data key, then the source with its destinations and connections)
/// stores no source, destination or connection, and the call then succeeds.
///
/// The data key a failed call may have stored stays: it is the workspace's, made once on
/// first use whatever the call, and invisible in every view.
pub fn fault_at_any_write_of_a_source_from_template_stores_nothing(factory: &dyn Fn() -> Harness) {
    sweep(
        factory,
        2,
        fault_fixture,
        |h, f| {
            let ws = h.engine().authenticate(f.issued.token.expose())?;
            let made = ws.create_source_from_template(from_template(&f.catalog.stripe, "new"))?;
            assert_eq!(made.connections.len(), 2);
            Ok(())
        },
        |h, f| state(h, &f.org, &[f.issued.workspace_id]),
        |_, f| {
            let ws = f.org.workspace(f.issued.workspace_id).unwrap();
            let view = View::read(&ws, 100).unwrap();
            assert_eq!(view.sources.len(), 2);
            assert_eq!(view.destinations.len(), 3);
            assert_eq!(view.connections.len(), 3);
            let made = view
                .sources
                .iter()
                .find(|s| s.name.as_str() == "new")
                .unwrap();
            let revealed = f
                .org
                .reveal_source_config(f.issued.workspace_id, made.id)
                .unwrap();
            assert_eq!(revealed.as_map()["api_key"], "sk_live_new");
        },
    );
}

/// A fault at any write call of deleting a workspace leaves the workspace whole (rows, data
/// key, tokens), and the deletion then succeeds.
pub fn fault_at_any_write_of_deleting_a_workspace_keeps_it_whole(factory: &dyn Fn() -> Harness) {
    sweep(
        factory,
        1,
        |h| {
            let f = fault_fixture(h);
            let ws = h.engine().authenticate(f.issued.token.expose()).unwrap();
            ws.create_source_from_template(from_template(&f.catalog.stripe, "kept"))
                .unwrap();
            f
        },
        |_, f| f.org.delete_workspace(f.issued.workspace_id),
        |h, f| {
            let mut text = state(h, &f.org, &[f.issued.workspace_id]);
            // The data key is still there: the secret still opens.
            let ws = f.org.workspace(f.issued.workspace_id).unwrap();
            let view = View::read(&ws, 100).unwrap();
            for source in &view.sources {
                let revealed = f
                    .org
                    .reveal_source_config(f.issued.workspace_id, source.id)
                    .unwrap();
                text.push_str(&format!("{revealed:?}\n"));
            }
            let token = h.engine().authenticate(f.issued.token.expose()).map(|_| ());
            text.push_str(&format!("{token:?}\n"));
            text
        },
        |h, f| {
            h.assert_not_found(f.org.get_workspace(f.issued.workspace_id));
            h.assert_not_found(h.engine().authenticate(f.issued.token.expose()));
            // A tombstone: its rows wait for the purge.
            if let Some(stored) = h.stored() {
                assert!(
                    stored
                        .iter()
                        .any(|r| r.workspace_id == f.issued.workspace_id)
                );
            }
        },
    );
}

/// A fault at any write call of purging a deleted workspace (one transaction: the data key,
/// then every row) leaves the tombstone whole, and the purge then succeeds.
pub fn fault_at_any_write_of_purging_a_workspace_keeps_it_whole(factory: &dyn Fn() -> Harness) {
    sweep(
        factory,
        1,
        |h| {
            let f = fault_fixture(h);
            let ws = h.engine().authenticate(f.issued.token.expose()).unwrap();
            ws.create_source_from_template(from_template(&f.catalog.stripe, "kept"))
                .unwrap();
            f.org.delete_workspace(f.issued.workspace_id).unwrap();
            f
        },
        |_, f| f.org.purge_workspace(f.issued.workspace_id),
        |h, f| {
            let mut text = format!("{:?}\n", h.stored());
            let deleted = f.org.get_or_create_workspace(&ext("cust-1")).map(|_| ());
            text.push_str(&format!("{deleted:?}\n"));
            text
        },
        |h, f| {
            h.assert_not_found(f.org.purge_workspace(f.issued.workspace_id));
            if let Some(stored) = h.stored() {
                assert!(
                    stored
                        .iter()
                        .all(|r| r.workspace_id != f.issued.workspace_id)
                );
            }
        },
    );
}

/// A fault at any write call of a scoped-token request with tags (the get-or-create of the
/// workspace with its new selection, then any signing-key write) creates no workspace and
/// changes no selection, and the request then succeeds.
pub fn fault_at_any_write_of_a_scoped_token_request_with_tags_changes_nothing(
    factory: &dyn Fn() -> Harness,
) {
    let request = |external_id: &str| {
        ScopedTokenRequest::new(ext(external_id))
            .source_tags(any_of(&["premium"]))
            .connection_tags(any_of(&["premium"]))
    };
    for external_id in ["cust-1", "cust-new"] {
        sweep(
            factory,
            1,
            fault_fixture,
            |h, f| {
                let issued = f.org.scoped_token(&request(external_id))?;
                h.engine().authenticate(issued.token.expose()).unwrap();
                Ok(())
            },
            |h, f| state(h, &f.org, &[f.issued.workspace_id]),
            |_, f| {
                let ws = f.org.workspace_by_external_id(&ext(external_id)).unwrap();
                assert_eq!(ws.source_tags, any_of(&["premium"]));
                assert_eq!(ws.connection_tags, any_of(&["premium"]));
            },
        );
    }
}

/// A fault at any write call of rotating the master key (re-sealing every data key, signing
/// key and template secret, and the new check value, in one store call) keeps the old key in
/// force: every secret opens, tokens verify, templates apply; the rotation then succeeds and
/// the same holds under the new key.
pub fn fault_at_any_write_of_rotating_the_master_key_keeps_the_old_key(
    factory: &dyn Fn() -> Harness,
) {
    struct Fixture {
        base: FaultFixture,
        source: Source,
    }
    let usable = |h: &Harness, f: &Fixture| -> String {
        let ws = h
            .engine()
            .authenticate(f.base.issued.token.expose())
            .unwrap();
        assert_eq!(ws.get_source(f.source.id).unwrap(), f.source);
        let revealed = f
            .base
            .org
            .reveal_source_config(f.base.issued.workspace_id, f.source.id)
            .unwrap();
        assert_eq!(revealed.as_map()["api_key"], "sk_live_acct");
        let templates: Vec<_> = ws
            .source_templates()
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        format!(
            "{templates:?}\n{}",
            state(h, &f.base.org, &[f.base.issued.workspace_id])
        )
    };
    sweep(
        factory,
        1,
        |h| {
            let base = fault_fixture(h);
            let ws = h.engine().authenticate(base.issued.token.expose()).unwrap();
            let source = ws
                .create_source_from_template(from_template(&base.catalog.stripe, "acct"))
                .unwrap()
                .source;
            Fixture { base, source }
        },
        |h, _| {
            h.engine()
                .rotate_master_key(MasterKey::generate()?)
                .map(|_| ())
        },
        usable,
        |h, f| {
            usable(h, f);
            let ws = h
                .engine()
                .authenticate(f.base.issued.token.expose())
                .unwrap();
            ws.create_source_from_template(from_template(&f.base.catalog.stripe, "after"))
                .unwrap();
            token_scope(h, &f.base.org, "cust-2");
        },
    );
}

/// Panics inside store calls, more of them in a row than a pool has connections (8 by
/// default), leave the engine serving: each call that panicked stored nothing, and the next
/// calls (again more than a pool holds) succeed, with an audit chain that still verifies.
/// Most panics come from the pipelines' `check`, which the store runs inside its transaction,
/// so each unwinds through the adapter while it holds a connection and an open transaction;
/// the others from the data key's `make`, which the adapters run between two transactions.
/// Needs a harness with faults.
pub fn panics_inside_store_calls_leave_the_engine_serving(factory: &dyn Fn() -> Harness) {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    const CALLS: usize = 12;
    let h = factory();
    let faults = h.faults().expect("a harness with faults");
    let f = fault_fixture(&h);
    // A workspace without a data key yet (a stripe source brings one): its calls panic in
    // `make`; the fixture's, once it has a key, in `check`.
    let fresh = f
        .org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-2"))
                .source_tags(any_of(&["production"]))
                .connection_tags(any_of(&["production"])),
        )
        .unwrap();
    let keyed = h.engine().authenticate(f.issued.token.expose()).unwrap();
    keyed
        .create_source_from_template(from_template(&f.catalog.stripe, "before"))
        .unwrap();
    let fresh_ws = h.engine().authenticate(fresh.token.expose()).unwrap();
    let workspaces = [f.issued.workspace_id, fresh.workspace_id];
    let before = state(&h, &f.org, &workspaces);

    faults.panic_inside(true);
    for i in 0..CALLS + 2 {
        let ws = if i < CALLS { &keyed } else { &fresh_ws };
        let name = format!("panicked-{i}");
        let call = catch_unwind(AssertUnwindSafe(|| {
            ws.create_source_from_template(from_template(&f.catalog.stripe, &name))
        }));
        assert!(call.is_err(), "call {i} did not panic: {call:?}");
    }
    faults.panic_inside(false);
    assert_eq!(faults.panics(), CALLS as u64 + 2);
    assert_eq!(
        state(&h, &f.org, &workspaces),
        before,
        "a call that panicked stored something"
    );

    for i in 0..CALLS {
        let ws = if i % 2 == 0 { &keyed } else { &fresh_ws };
        let made = ws
            .create_source_from_template(from_template(&f.catalog.stripe, &format!("after-{i}")))
            .unwrap();
        assert_eq!(made.connections.len(), 2);
        ws.list_sources(&Page::first(100)).unwrap();
    }
    for (id, ws) in workspaces.iter().zip([&keyed, &fresh_ws]) {
        let sources = ws.list_sources(&Page::first(100)).unwrap().items;
        for source in sources.iter().filter(|s| s.template_id.is_some()) {
            let revealed = f.org.reveal_source_config(*id, source.id).unwrap();
            assert_eq!(
                revealed.as_map()["api_key"],
                format!("sk_live_{}", source.name.as_str())
            );
        }
    }
    assert!(f.org.verify_audit().unwrap().is_intact());
}
