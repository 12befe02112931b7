//! Templates and secrets: a workspace sees the templates its tags select, sources made from
//! them, and secrets masked for customers and readable across a master-key rotation.

use std::collections::BTreeSet;

use bulkhead_core::{DestinationId, MasterKey, SECRET_MASK, ScopedTokenRequest, WorkspaceScope};
use uuid::Uuid;

use super::{
    Harness, View, any_of, assert_denied, ext, from_template, install_catalog, new_org,
    token_scope, view_of, workspace,
};

/// A workspace sees exactly the templates its tag selections match (none selected: all).
pub fn workspace_sees_only_the_templates_its_tags_select(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let scope = |ext_id: &str, tags: Option<&[&str]>| {
        let mut request = ScopedTokenRequest::new(ext(ext_id));
        if let Some(tags) = tags {
            request = request
                .source_tags(any_of(tags))
                .connection_tags(any_of(tags));
        }
        let issued = org.scoped_token(&request).unwrap();
        h.engine().authenticate(issued.token.expose()).unwrap()
    };
    let seen = |ws: &WorkspaceScope| {
        let sources: Vec<Uuid> = ws
            .source_templates()
            .unwrap()
            .iter()
            .map(|t| *t.id.as_uuid())
            .collect();
        let connections: Vec<Uuid> = ws
            .connection_templates()
            .unwrap()
            .iter()
            .map(|t| *t.id.as_uuid())
            .collect();
        (sources, connections)
    };
    let stripe = *catalog.stripe.id.as_uuid();
    let hubspot = *catalog.hubspot.id.as_uuid();
    let s3 = *catalog.s3.id.as_uuid();
    let warehouse = *catalog.warehouse.id.as_uuid();
    let production = scope("prod", Some(&["production"]));
    let premium = scope("premium", Some(&["premium"]));
    let everything = scope("all", None);
    assert_eq!(seen(&production), (vec![stripe], vec![s3, warehouse]));
    assert_eq!(seen(&premium), (vec![hubspot], vec![warehouse]));
    assert_eq!(
        seen(&everything),
        (vec![stripe, hubspot], vec![s3, warehouse])
    );
}

/// A source from a template brings a destination and a connection for each matching
/// connection template; a second source reuses the destinations.
pub fn source_from_template_makes_destinations_once_and_connections_each_time(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let issued = org
        .scoped_token(
            &ScopedTokenRequest::new(ext("cust-1"))
                .source_tags(any_of(&["production"]))
                .connection_tags(any_of(&["production"])),
        )
        .unwrap();
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    let first = ws
        .create_source_from_template(from_template(&catalog.stripe, "first"))
        .unwrap();
    assert_eq!(first.destinations.len(), 2);
    assert_eq!(first.connections.len(), 2);
    let templates: BTreeSet<_> = first
        .destinations
        .iter()
        .map(|d| d.template_id.unwrap())
        .collect();
    assert_eq!(templates, [catalog.s3.id, catalog.warehouse.id].into());
    for (destination, connection) in first.destinations.iter().zip(&first.connections) {
        assert_eq!(connection.source_id, first.source.id);
        assert_eq!(connection.destination_id, destination.id);
        assert_eq!(connection.workspace_id, ws.workspace_id());
    }
    h.tick();
    let second = ws
        .create_source_from_template(from_template(&catalog.stripe, "second"))
        .unwrap();
    let ids = |made: &bulkhead_core::SourceFromTemplate| -> BTreeSet<DestinationId> {
        made.destinations.iter().map(|d| d.id).collect()
    };
    assert_eq!(ids(&first), ids(&second));
    assert!(
        second
            .connections
            .iter()
            .all(|c| c.source_id == second.source.id)
    );
    if let Some(view) = view_of(&h, &ws, 3) {
        assert_eq!(view.sources.len(), 2);
        assert_eq!(view.destinations.len(), 2);
        assert_eq!(view.connections.len(), 4);
    }
}

/// A template the workspace does not select, or of another organization, is not available,
/// and nothing is stored.
pub fn template_not_selected_or_of_another_organization_is_not_available(
    factory: &dyn Fn() -> Harness,
) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let acme_catalog = install_catalog(&h, &acme);
    let globex_catalog = install_catalog(&h, &globex);
    let issued = acme
        .scoped_token(&ScopedTokenRequest::new(ext("cust-1")).source_tags(any_of(&["production"])))
        .unwrap();
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    let before = h.stored();
    assert_denied(ws.create_source_from_template(from_template(&acme_catalog.hubspot, "x")));
    assert_denied(ws.create_source_from_template(from_template(&globex_catalog.stripe, "x")));
    let full = acme.workspace(issued.workspace_id).unwrap();
    assert_denied(full.create_source_from_template(from_template(&globex_catalog.stripe, "x")));
    assert_eq!(h.stored(), before);
    if let Some(view) = view_of(&h, &ws, 10) {
        assert_eq!(view, View::default());
    }
}

/// Secret fields are masked on every read and revealed only to the workspace's organization.
pub fn secrets_are_masked_and_revealed_only_to_the_organization(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, _) = new_org(&h, "Globex");
    let catalog = install_catalog(&h, &acme);
    let (issued, ws) = token_scope(&h, &acme, "cust-1");
    let made = ws
        .create_source_from_template(from_template(&catalog.stripe, "acct"))
        .unwrap();
    assert_eq!(made.source.config.as_map()["api_key"], SECRET_MASK);
    let read = ws.get_source(made.source.id).unwrap();
    assert_eq!(read.config.as_map()["api_key"], SECRET_MASK);
    assert_eq!(read.config.as_map()["start_date"], "2024-01-01");
    let revealed = acme
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["api_key"], "sk_live_acct");
    h.assert_not_found(globex.reveal_source_config(issued.workspace_id, made.source.id));
    let sibling = workspace(&acme, "cust-2");
    h.assert_not_found(acme.reveal_source_config(sibling.workspace_id(), made.source.id));
}

/// Rotating the master key keeps every secret, token and template usable.
pub fn master_key_rotation_keeps_every_secret_readable(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let (issued, ws) = token_scope(&h, &org, "cust-1");
    let made = ws
        .create_source_from_template(from_template(&catalog.stripe, "acct"))
        .unwrap();
    let resealed = h
        .engine()
        .rotate_master_key(MasterKey::generate().unwrap())
        .unwrap();
    assert!(
        resealed >= 2,
        "the data key and the signing key: {resealed}"
    );
    let org = h.engine().authenticate_org(key.expose()).unwrap();
    let revealed = org
        .reveal_source_config(issued.workspace_id, made.source.id)
        .unwrap();
    assert_eq!(revealed.as_map()["api_key"], "sk_live_acct");
    let ws = h.engine().authenticate(issued.token.expose()).unwrap();
    ws.create_source_from_template(from_template(&catalog.stripe, "after"))
        .unwrap();
    token_scope(&h, &org, "cust-2");
}
