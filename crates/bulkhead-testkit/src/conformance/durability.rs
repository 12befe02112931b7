//! Durability: what was stored survives closing and reopening the store.

use super::{Harness, from_template, install_catalog, new_org, skipped, token_scope, view_of};

/// What was stored survives closing and reopening the store (needs a reopen).
pub fn data_survives_close_and_reopen(factory: &dyn Fn() -> Harness) {
    let mut h = factory();
    if !h.can_reopen() {
        return skipped("data_survives_close_and_reopen", "reopen");
    }
    let (org, key) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let (issued, ws) = token_scope(&h, &org, "cust-1");
    let made = ws
        .create_source_from_template(from_template(&catalog.stripe, "acct"))
        .unwrap();
    let full = org.workspace(issued.workspace_id).unwrap();
    let run = full.start_sync(made.connections[0].id).unwrap();
    let view = view_of(&h, &ws, 2);
    let stored = h.stored();
    drop((org, ws, full));

    h.reopen();

    assert_eq!(h.stored(), stored);
    let org = h.engine().authenticate_org(key.expose()).unwrap();
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    if let (Some(before), Some(after)) = (view, view_of(&h, &ws, 2)) {
        assert_eq!(before, after);
    }
    assert_eq!(ws.get_sync_run(run.id).unwrap(), run);
    let revealed = org
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["api_key"], "sk_live_acct");
}
