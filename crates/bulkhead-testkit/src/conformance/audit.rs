//! The audit log: every change and every denial in a chain that verifies, within its
//! organization, filtered and paged, holding no secret.

use std::fmt;

use bulkhead_core::{
    AuditEvent, AuditFilter, ConnectionUpdate, Error, OrgScope, Page, Result, ScopedTokenRequest,
    SyncOutcome, Timestamp, TokenRejection, WorkspaceScope, WorkspaceUpdate,
};
use uuid::Uuid;

use super::{
    Harness, actions, all_audit, all_pages, any_of, assert_conflict, assert_denied,
    assert_token_rejected, ext, from_template, install_catalog, kid_of, new_org, pipeline,
    raw_source, token_scope, workspace,
};

/// A busy organization: every change is in its chain, in order, by who made it, with a
/// sequence of 1, 2, 3, …; the chain verifies; the other organization's chain holds none of it.
pub fn every_change_is_audited_in_a_chain_that_verifies(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Globex");
    let catalog = install_catalog(&h, &org);
    let request = ScopedTokenRequest {
        source_tags: Some(any_of(&["production"])),
        ..ScopedTokenRequest::new(ext("cust-1"))
    };
    let issued = org.scoped_token(&request).unwrap();
    let customer = h.engine().authenticate(issued.token.expose()).unwrap();
    customer
        .create_source_from_template(from_template(&catalog.stripe, "billing"))
        .unwrap();
    let ws = org.workspace(issued.workspace_id).unwrap();
    let (source, destination, connection) = pipeline(&ws, "raw");
    let run = ws.start_sync(connection.id).unwrap();
    ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: 3, bytes: 4 })
        .unwrap();
    ws.update_connection(
        connection.id,
        &ConnectionUpdate {
            name: Some("renamed".parse().unwrap()),
            ..ConnectionUpdate::default()
        },
    )
    .unwrap();
    ws.delete_connection(connection.id).unwrap();
    ws.delete_source(source.id).unwrap();
    ws.delete_destination(destination.id).unwrap();
    org.revoke_all_tokens(issued.workspace_id).unwrap();
    let (new_key, _) = org.create_key(None).unwrap();
    org.revoke_key(new_key.id).unwrap();
    org.rotate_signing_key().unwrap();
    org.update_workspace(
        issued.workspace_id,
        &WorkspaceUpdate {
            name: Some("Customer One".parse().unwrap()),
            ..WorkspaceUpdate::default()
        },
    )
    .unwrap();

    let events = all_audit(&org);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert!(events.iter().all(|e| e.org_id == org.org_id()));
    let got = actions(&events);
    for expected in [
        "organization.create",
        "tag.create",
        "source_template.create",
        "connection_template.create",
        "workspace.create",
        "source.create_from_template",
        "source.create",
        "destination.create",
        "connection.create",
        "sync.start",
        "sync.finish",
        "connection.update",
        "connection.delete",
        "source.delete",
        "destination.delete",
        "workspace.revoke_tokens",
        "org_key.create",
        "org_key.revoke",
        "signing_key.rotate",
        "workspace.update",
    ] {
        assert!(got.contains(&expected), "no `{expected}` event in {got:?}");
    }
    // In the order the calls were made.
    let position = |action: &str| got.iter().position(|a| *a == action).unwrap();
    assert!(position("workspace.create") < position("source.create_from_template"));
    assert!(position("sync.start") < position("sync.finish"));
    assert!(position("connection.delete") < position("source.delete"));
    // Who: the customer's token, or the org key (by its public prefix).
    let from_template = &events[position("source.create_from_template")];
    assert_eq!(
        from_template.draft.actor,
        format!("token:{}", issued.token_id)
    );
    assert_eq!(from_template.draft.workspace_id, Some(issued.workspace_id));
    let raw = &events[position("source.create")];
    assert_eq!(raw.draft.actor, format!("org-key:{}", key.prefix()));
    assert_eq!(raw.draft.target, format!("source:{}", source.id));
    assert!(events.iter().all(|e| e.draft.outcome == "ok"));

    let verified = org.verify_audit().unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    assert_eq!(verified.verified, events.len() as u64);

    let theirs = all_audit(&other);
    assert_eq!(actions(&theirs), ["organization.create"]);
    assert!(other.verify_audit().unwrap().is_intact());
}

/// An isolation breach is an event of the caller's chain: `isolation.breach`, denied, by
/// who made the call, in the caller's workspace, with the kind of object as its target and
/// none of the foreign rows' ids; the chain still verifies, and the other organization's
/// chain holds nothing of it. Over a correct store there is no breach and no such event;
/// over a leaky one, listing meets the neighbours' rows.
pub fn isolation_breaches_are_audited_in_the_callers_chain(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, _) = new_org(&h, "Acme");
    let (other, _) = new_org(&h, "Other");
    let (issued, scope) = token_scope(&h, &org, "cust-1");
    let neighbour = workspace(&org, "cust-2");
    let foreign = workspace(&other, "cust-1");
    let mine = org
        .workspace(issued.workspace_id)
        .unwrap()
        .create_source(raw_source("mine"))
        .unwrap();
    let theirs = [
        neighbour.create_source(raw_source("neighbour")).unwrap(),
        foreign.create_source(raw_source("foreign")).unwrap(),
    ];
    let before = all_audit(&org).len();

    let listed = h.answer(scope.list_sources(&Page::first(10)));
    let breaches: Vec<AuditEvent> = all_audit(&org)
        .into_iter()
        .filter(|e| e.draft.action == "isolation.breach")
        .collect();
    match listed {
        Some(page) => {
            assert_eq!(page.items, vec![mine]);
            assert!(breaches.is_empty(), "{breaches:?}");
            assert_eq!(all_audit(&org).len(), before, "a read wrote an event");
        }
        None => {
            assert_eq!(breaches.len(), 1, "{breaches:?}");
            let event = &breaches[0];
            assert_eq!(event.draft.actor, format!("token:{}", issued.token_id));
            assert_eq!(event.draft.workspace_id, Some(issued.workspace_id));
            assert_eq!(event.draft.target, "source");
            assert_eq!(event.draft.outcome, "denied: isolation breach");
            let text = format!("{event:?}");
            for source in &theirs {
                assert!(!text.contains(&source.id.to_string()), "{text}");
                assert!(!text.contains(&source.workspace_id.to_string()), "{text}");
            }
            assert!(!text.contains(&other.org_id().to_string()), "{text}");
        }
    }
    assert!(org.verify_audit().unwrap().is_intact());
    assert!(
        all_audit(&other)
            .iter()
            .all(|e| e.draft.action != "isolation.breach"),
        "the other organization's chain holds the breach"
    );
}

/// `token` with the `kid` of its header replaced (so its signature no longer matters: the key
/// is looked up first).
fn with_kid(token: &str, kid: &str) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (header, rest) = token.split_once('.').unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&engine.decode(header).unwrap()).unwrap();
    header["kid"] = serde_json::Value::String(kid.to_owned());
    let header = engine.encode(serde_json::to_vec(&header).unwrap());
    format!("{header}.{rest}")
}

/// While `leaking`, asserts the call was refused as an isolation breach (and counts it);
/// otherwise returns its answer.
#[track_caller]
fn refused_while<T: fmt::Debug>(h: &Harness, leaking: bool, result: Result<T>) -> Option<T> {
    if !leaking {
        return Some(result.unwrap());
    }
    match result {
        Err(Error::IsolationBreach { .. }) => {
            h.note_breach();
            None
        }
        other => panic!("expected an isolation breach, got {other:?}"),
    }
}

/// Organization-level reads that meet another organization's rows (its audit events, access
/// keys, signing keys or templates) are refused as isolation breaches, counted, and hand the
/// caller none of those rows; the audit chain does not verify with another organization's
/// event in it; a lookup of a `kid` that answers with another key verifies no token. Over a
/// correct store the same calls answer with the organization's own rows. Over a leaky store
/// the organization-level leaks are switched on once both organizations' rows exist, then off
/// again, and everything answers as before.
pub fn organization_rows_of_another_organization_are_refused(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (acme, _) = new_org(&h, "Acme");
    let (globex, globex_key) = new_org(&h, "Globex");
    let ours = install_catalog(&h, &acme);
    let theirs = install_catalog(&h, &globex);
    let (issued, _) = token_scope(&h, &acme, "cust-1");
    let unknown_kid = with_kid(issued.token.expose(), "no-such-kid");
    assert_token_rejected(
        h.engine().authenticate(&unknown_kid),
        TokenRejection::UnknownKey,
    );
    let globex_key_id = globex.list_keys().unwrap()[0].id;
    // Both organizations' events pass through the store once: a leaky one leaks the rows it
    // has seen.
    let own_events = all_audit(&acme);
    assert!(
        all_audit(&globex)
            .iter()
            .all(|e| e.org_id == globex.org_id())
    );

    let check = |leaking: bool| {
        if let Some(page) = refused_while(
            &h,
            leaking,
            acme.audit_events(&AuditFilter::default(), &Page::first(100)),
        ) {
            // The chain read before, then the refusals' own events, if any: all Acme's.
            assert_eq!(page.items.get(..own_events.len()), Some(&own_events[..]));
            assert!(page.items.iter().all(|e| e.org_id == acme.org_id()));
        }
        match acme.verify_audit() {
            Ok(verified) => assert_eq!(verified.is_intact(), !leaking, "{verified:?}"),
            Err(Error::IsolationBreach { .. }) if leaking => h.note_breach(),
            Err(e) => panic!("expected the chain verified, got {e:?}"),
        }
        if let Some(keys) = refused_while(&h, leaking, acme.list_keys()) {
            assert_eq!(keys.len(), 1);
            assert_ne!(keys[0].id, globex_key_id);
        }
        if let Some(keys) = refused_while(&h, leaking, acme.signing_keys()) {
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0].kid, kid_of(issued.token.expose()));
        }
        if let Some(templates) = refused_while(&h, leaking, acme.list_source_templates(None)) {
            let ids: Vec<Uuid> = templates.iter().map(|t| *t.id.as_uuid()).collect();
            let expected: Vec<Uuid> = ours
                .source_templates()
                .iter()
                .map(|t| *t.id.as_uuid())
                .collect();
            assert_eq!(ids, expected);
        }
        if let Some(templates) = refused_while(&h, leaking, acme.list_connection_templates(None)) {
            let ids: Vec<Uuid> = templates.iter().map(|t| *t.id.as_uuid()).collect();
            let expected: Vec<Uuid> = ours
                .connection_templates()
                .iter()
                .map(|t| *t.id.as_uuid())
                .collect();
            assert_eq!(ids, expected);
        }
        h.assert_not_found(acme.get_source_template(theirs.stripe.id));
        h.assert_not_found(acme.get_connection_template(theirs.s3.id));
        h.assert_not_found(acme.revoke_key(globex_key_id));
        assert!(h.engine().authenticate_org(globex_key.expose()).is_ok());
        match h.engine().authenticate(&unknown_kid) {
            Err(Error::InvalidToken {
                reason: TokenRejection::UnknownKey,
                ..
            }) => {}
            Err(Error::IsolationBreach { .. }) if leaking => h.note_breach(),
            other => panic!("expected an unknown key, got {other:?}"),
        }
    };
    let leaking = h.leak_org_rows(true);
    check(leaking);
    if leaking {
        // The same calls without the leaks answer as over a correct store: the refusals were
        // the leaked rows'.
        h.leak_org_rows(false);
        check(false);
    }
    let breaches = h.engine().isolation_breaches();
    assert!(
        if leaking {
            breaches >= 5
        } else {
            breaches == 0
        },
        "{breaches}"
    );
}

/// Refused calls are audited as denied, with who tried; a call that fails changes nothing and
/// writes nothing.
pub fn denied_calls_are_audited(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    // A token without the operation.
    let issued = org
        .scoped_token(&ScopedTokenRequest {
            operations: Some(bulkhead_core::OperationSet::parse(["sources:read"]).unwrap()),
            ..ScopedTokenRequest::new(ext("cust-1"))
        })
        .unwrap();
    let scope = h.engine().authenticate(issued.token.expose()).unwrap();
    assert_denied(scope.list_connections(&Page::first(10)));
    // A revoked token.
    org.revoke_token(issued.token.expose()).unwrap();
    assert_token_rejected(
        h.engine().authenticate(issued.token.expose()),
        TokenRejection::Revoked,
    );
    // A revoked org key.
    let (second, second_key) = org.create_key(None).unwrap();
    org.revoke_key(second.id).unwrap();
    assert!(matches!(
        h.engine().authenticate_org(second_key.expose()),
        Err(Error::InvalidOrgKey { .. })
    ));
    // The creation rate limit.
    org.update_settings(&bulkhead_core::OrgSettings {
        workspace_creation_burst: 1,
        workspace_creation_rate: 1,
        ..org.reload().unwrap().settings
    })
    .unwrap();
    org.get_or_create_workspace(&ext("cust-2")).unwrap();
    assert!(matches!(
        org.get_or_create_workspace(&ext("cust-3")),
        Err(Error::RateLimited { .. })
    ));
    // A failing change (a conflict) writes no event.
    let ws = workspace(&org, "cust-1");
    let (source, _, _) = pipeline(&ws, "busy");
    let before = all_audit(&org).len();
    assert_conflict(ws.delete_source(source.id));
    assert_eq!(all_audit(&org).len(), before);

    let events = all_audit(&org);
    let denied: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|e| e.draft.outcome.starts_with("denied"))
        .map(|e| {
            (
                e.draft.action.as_str(),
                e.draft.actor.as_str(),
                e.draft.outcome.as_str(),
            )
        })
        .collect();
    let token = format!("token:{}", issued.token_id);
    assert!(
        denied.contains(&(
            "connections:read",
            token.as_str(),
            "denied: operation not granted by the token"
        )),
        "{denied:?}"
    );
    assert!(
        denied.contains(&("token.use", token.as_str(), "denied: revoked")),
        "{denied:?}"
    );
    let second_actor = format!("org-key:{}", second_key.prefix());
    assert!(
        denied.contains(&(
            "org_key.use",
            second_actor.as_str(),
            "denied: revoked or expired org key"
        )),
        "{denied:?}"
    );
    let first_actor = format!("org-key:{}", key.prefix());
    assert!(
        denied.contains(&(
            "workspace.create",
            first_actor.as_str(),
            "denied: rate limited"
        )),
        "{denied:?}"
    );
    assert!(org.verify_audit().unwrap().is_intact());
}

/// Events are listed by workspace, action and time range, in pages; no secret, key or token
/// ever appears in one.
pub fn audit_events_filter_page_and_hold_no_secret(factory: &dyn Fn() -> Harness) {
    let h = factory();
    let (org, key) = new_org(&h, "Acme");
    let catalog = install_catalog(&h, &org);
    let (first, _) = token_scope(&h, &org, "cust-1");
    h.tick();
    let middle = h.now();
    let second = org
        .scoped_token(&ScopedTokenRequest {
            source_tags: Some(any_of(&["production"])),
            ..ScopedTokenRequest::new(ext("cust-2"))
        })
        .unwrap();
    let other = h.engine().authenticate(second.token.expose()).unwrap();
    other
        .create_source_from_template(from_template(&catalog.stripe, "billing"))
        .unwrap();
    let ws = org.workspace(second.workspace_id).unwrap();
    for n in 0..5 {
        ws.create_source(raw_source(&format!("s{n}"))).unwrap();
    }

    let filtered = |filter: AuditFilter| all_pages(2, |p| org.audit_events(&filter, p)).unwrap();
    let of_second = filtered(AuditFilter {
        workspace_id: Some(second.workspace_id),
        ..AuditFilter::default()
    });
    assert!(!of_second.is_empty());
    assert!(
        of_second
            .iter()
            .all(|e| e.draft.workspace_id == Some(second.workspace_id))
    );
    let creates = filtered(AuditFilter {
        action: Some("source.create".to_owned()),
        ..AuditFilter::default()
    });
    assert_eq!(creates.len(), 5);
    let since = filtered(AuditFilter {
        from: Some(middle),
        ..AuditFilter::default()
    });
    assert!(since.iter().all(|e| e.draft.at >= middle));
    assert!(
        since
            .iter()
            .all(|e| e.draft.workspace_id != Some(first.workspace_id))
    );
    let before = filtered(AuditFilter {
        until: Some(middle),
        ..AuditFilter::default()
    });
    assert_eq!(before.len() + since.len(), all_audit(&org).len());
    assert!(matches!(
        org.audit_events(
            &AuditFilter {
                from: Some(middle),
                until: Some(Timestamp::from_unix_millis(0)),
                ..AuditFilter::default()
            },
            &Page::first(10)
        ),
        Err(Error::InvalidInput { .. })
    ));

    let secrets = [
        key.expose().to_owned(),
        first.token.expose().to_owned(),
        second.token.expose().to_owned(),
        "sk_live_billing".to_owned(),
    ];
    for event in all_audit(&org) {
        let text = format!("{event:?}");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret in {text}");
        }
    }
}

/// Fills `org`'s audit chain with a busy day of `rounds` customers (workspaces, tokens,
/// pipelines, syncs, a denial each), using `authenticate` for the customers' tokens. For the
/// adapters' tamper tests, which then edit the stored events directly.
pub fn busy_audit_log(
    org: &OrgScope,
    rounds: usize,
    authenticate: &dyn Fn(&str) -> Result<WorkspaceScope>,
) {
    for n in 0..rounds {
        let issued = org
            .scoped_token(&ScopedTokenRequest {
                operations: Some(bulkhead_core::OperationSet::parse(["sources:read"]).unwrap()),
                ..ScopedTokenRequest::new(ext(&format!("busy-{n}")))
            })
            .unwrap();
        let customer = authenticate(issued.token.expose()).unwrap();
        assert_denied(customer.list_connections(&Page::first(10)));
        let ws = org.workspace(issued.workspace_id).unwrap();
        let (_, _, connection) = pipeline(&ws, &format!("p{n}"));
        let run = ws.start_sync(connection.id).unwrap();
        ws.finish_sync(run.id, SyncOutcome::Succeeded { rows: 1, bytes: 1 })
            .unwrap();
    }
}
